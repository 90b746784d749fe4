/*
 * DOC: reading an operator's file (implementation)
 *
 * One open, one fstat, reads until the end, one more fstat. The buffer is sized from the first
 * fstat and grows only if the file grew, which then counts as a change anyway.
 */
#include "lib/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

const char *readfile_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	default:
		return "not a file";
	}
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int readfile_changed(const struct stat *before, const struct stat *after, size_t nread)
{
	return before->st_size != after->st_size || !same_time(&before->st_mtim, &after->st_mtim) ||
	       !same_time(&before->st_ctim, &after->st_ctim) || after->st_size < 0 ||
	       (uint64_t)after->st_size != (uint64_t)nread;
}

/* Reads to the end or to max + 1 bytes into *b (capacity *cap, grown as needed). */
static int read_all(int fd, size_t max, char **b, size_t *cap, size_t *n)
{
	for (;;) {
		if (*n == *cap) {
			if (*n > max)
				return 0; /* max + 1 bytes: too large, enough said */
			size_t ncap = *cap > max / 2 ? max + 1 : *cap * 2;
			char *nb = realloc(*b, ncap);
			if (nb == NULL)
				return -ENOMEM;
			*b = nb;
			*cap = ncap;
		}
		ssize_t got = read(fd, *b + *n, *cap - *n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		*n += (size_t)got;
	}
}

int readfile_regular(const char *path, size_t max, char **buf, size_t *len, mode_t *mode)
{
	struct stat before, after;
	size_t cap, n = 0;
	char *b = NULL;
	int rc;

	*buf = NULL;
	*len = 0;
	*mode = 0;
	/* O_NONBLOCK: a FIFO opens at once instead of waiting for a writer; refused below. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &before) < 0) {
		rc = -errno;
		goto fail;
	}
	*mode = before.st_mode;
	if (!S_ISREG(before.st_mode)) {
		rc = S_ISDIR(before.st_mode) ? -EISDIR : -EINVAL;
		goto fail;
	}
	if (before.st_size < 0 || (uint64_t)before.st_size > max) {
		rc = -EFBIG;
		goto fail;
	}
	cap = (size_t)before.st_size + 1; /* one more byte sees the end, or growth */
	b = malloc(cap);
	if (b == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = read_all(fd, max, &b, &cap, &n);
	if (rc < 0)
		goto fail;
	if (fstat(fd, &after) < 0) {
		rc = -errno;
		goto fail;
	}
	if (readfile_changed(&before, &after, n)) {
		rc = -EAGAIN;
		goto fail;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	free(b);
	close(fd);
	return rc;
}
