#include "lb/admin_token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads at most cap bytes of a regular file; a FIFO or a device never blocks the caller. */
static ssize_t read_small(
	const char *path, char *buf, size_t cap, mode_t *mode, char *why, size_t whycap)
{
	struct stat st;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		int err = errno;
		snprintf(why, whycap, "cannot read the token file %s: %s", path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int err = errno ? errno : EINVAL;
		close(fd);
		snprintf(why, whycap, "token file %s is not a regular file", path);
		return -err;
	}
	*mode = st.st_mode & 07777;
	for (;;) {
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int err = errno;
			close(fd);
			snprintf(why, whycap, "cannot read the token file %s: %s", path,
				strerror(err));
			return -err;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap)
			break;
	}
	close(fd);
	return (ssize_t)n;
}

int admin_token_read(
	const char *path, char **token, size_t *len, mode_t *mode, char *why, size_t cap)
{
	char buf[ADMIN_TOKEN_MAX + 1];
	ssize_t got = read_small(path, buf, sizeof(buf), mode, why, cap);
	int rc = 0;

	if (got < 0)
		return (int)got;
	size_t n = (size_t)got;
	if (n > ADMIN_TOKEN_MAX) {
		snprintf(why, cap, "token file %s is larger than %d bytes", path, ADMIN_TOKEN_MAX);
		rc = -EINVAL;
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0) {
		snprintf(why, cap, "token file %s is empty", path);
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			snprintf(why, cap,
				"token file %s holds a space or a character that is not printable "
				"ASCII: a bearer token cannot carry it",
				path);
			rc = -EINVAL;
			goto out;
		}
	}
	*token = malloc(n + 1);
	if (*token == NULL) {
		snprintf(why, cap, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	memcpy(*token, buf, n);
	(*token)[n] = '\0';
	*len = n;
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}
