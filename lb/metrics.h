/*
 * DOC: metrics, for Prometheus
 *
 * The body of GET /metrics in the Prometheus text exposition format 0.0.4: every family once,
 * with # HELP and # TYPE, its samples together, label values escaped. Names are prefixed
 * anylb_; the list, with labels and meaning, is in docs/ADMIN.md. Read from the same sources
 * as status (lb/status.h); any thread.
 */
#ifndef ANYLB_LB_METRICS_H
#define ANYLB_LB_METRICS_H

#include "lb/status.h"

#include <stddef.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The page, malloc'ed and NUL-terminated (*len without the NUL); NULL when memory ran out. */
char *metrics_text(const struct status_source *src, size_t *len);

/* Open fds of this process (entries of /proc/self/fd, less the one used to read it), or -errno. */
int metrics_open_fds(void);

#endif
