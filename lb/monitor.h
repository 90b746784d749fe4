/*
 * DOC: the monitor thread
 *
 * Runs every active check of every backend on its own libev loop, so a slow TLS handshake or a
 * burst of check results never delays a worker, and drives time-based health (ejections ending,
 * slow start) with a tick. Results go to lb/backend.c, which publishes state changes to the
 * workers atomically.
 */
#ifndef ANYLB_LB_MONITOR_H
#define ANYLB_LB_MONITOR_H

#include "lb/runtime.h"

struct monitor;

/* Creates the checks for rt (not yet running). NULL with the reason logged on failure. */
struct monitor *monitor_new(struct lb_runtime *rt);

/* Starts the monitor thread. 0 or -errno. */
int monitor_start(struct monitor *m);

/* Stops the thread (if running), cancels every check and frees. */
void monitor_free(struct monitor *m);

#endif
