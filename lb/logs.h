/*
 * DOC: the process's log streams, as the configuration names them
 *
 * The main log (lib/log.c's) and the access log (lb/accesslog.c writes it) are set from
 * `global.log` and `global.access_log` at start and at every reload, and reopened on SIGUSR1
 * (logrotate's postrotate). logs_probe() is what `anylb -t`, the start and a reload check
 * first: a log file that could not be opened is an error at its `path`, before anything changed.
 */
#ifndef ANYLB_LB_LOGS_H
#define ANYLB_LB_LOGS_H

#include "conf/conf.h"

#include <stddef.h>

/* Errors at the paths of log files that cannot be written; 0, -EINVAL, or -ENOMEM. */
int logs_probe(const struct conf *c, struct conf_errs *errs);

/* Points both streams where c says. 0, or -errno with why filled (a stream that failed stays as
 * it was). Main thread. */
int logs_apply(const struct conf *c, char *why, size_t cap);

/* Reopens the files of both streams (SIGUSR1); failures are logged. Main thread. */
void logs_reopen(void);

/* The access log's stream (NULL before the first logs_apply(), or without memory). */
struct log_stream *logs_access(void);

/* Frees the access stream, at exit. */
void logs_close(void);

#endif
