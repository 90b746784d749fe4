#include "lb/logs.h"

#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic(struct log_stream *) access_stream;

struct log_stream *logs_access(void)
{
	return atomic_load_explicit(&access_stream, memory_order_acquire);
}

static struct log_dest dest_of(const struct conf_log_dest *d)
{
	return (struct log_dest){
		.target = d->target, .format = d->format, .path = d->path, .facility = d->facility};
}

/* Can the file be appended to (or made in its directory)? 0, or -errno. */
static int writable(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	char *copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	int rc = access(dirname(copy), W_OK | X_OK) == 0 ? 0 : -errno;
	free(copy);
	return rc;
}

static int probe_one(const struct conf *c, const struct conf_log_dest *d, const char *section,
	struct conf_errs *errs)
{
	if (d->target != LOG_TARGET_FILE || d->path == NULL)
		return 0;
	int rc = writable(d->path);
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM ||
		conf_errs_add(errs, c->file, d->path_pos, "%s: cannot write the log file %s: %s",
			section, d->path, strerror(-rc)) < 0)
		return -ENOMEM;
	return -EINVAL;
}

int logs_probe(const struct conf *c, struct conf_errs *errs)
{
	int a = probe_one(c, &c->global.log, "global.log", errs);
	if (a == -ENOMEM)
		return a;
	int b = c->global.access_log ? probe_one(c, &c->global.access, "global.access_log", errs)
				     : 0;
	return b == -ENOMEM ? b : a < 0 ? a : b;
}

int logs_apply(const struct conf *c, char *why, size_t cap)
{
	struct log_dest d = dest_of(&c->global.log);
	int rc = log_configure(c->global.log_level, &d, why, cap);

	if (rc < 0)
		return rc;
	if (!c->global.access_log)
		return 0;
	struct log_stream *s = logs_access();
	if (s == NULL) {
		s = log_stream_new();
		if (s == NULL) {
			snprintf(why, cap, "out of memory for the access log");
			return -ENOMEM;
		}
		atomic_store_explicit(&access_stream, s, memory_order_release);
	}
	d = dest_of(&c->global.access);
	return log_stream_set(s, &d, why, cap);
}

void logs_reopen(void)
{
	char why[512];
	struct log_stream *s = logs_access();

	if (log_reopen(why, sizeof(why)) < 0)
		log_error("SIGUSR1: %s: the log goes on to the old file", why);
	if (s != NULL && log_stream_reopen(s, why, sizeof(why)) < 0)
		log_error("SIGUSR1: %s: the access log goes on to the old file", why);
	log_info("SIGUSR1: log files reopened");
}

void logs_close(void)
{
	struct log_stream *s = atomic_exchange(&access_stream, NULL);
	log_stream_free(s);
}
