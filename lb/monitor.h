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

struct announcer;

/*
 * Creates the checks for rt (not yet running). The monitor runs the announcer (may be NULL)
 * on its loop, and owns it from now on. NULL with the reason logged on failure.
 */
struct monitor *monitor_new(struct lb_runtime *rt, struct announcer *ann);

/* Counts the monitor loop's ticks: the watchdog heartbeat checks that it moves. Any thread. */
uint64_t monitor_alive(const struct monitor *m);

/*
 * A service's backend states or listeners changed (lb_process.on_change): the announcer looks
 * at it on the monitor's loop. Any thread; not after monitor_free.
 */
void monitor_changed(struct monitor *m);

/*
 * Thread-safe: withdraws every prefix (graceful shutdown); done(arg) is then called on the
 * monitor's thread. Without an announcer done is called (on the monitor's thread) at once.
 */
void monitor_withdraw_all(struct monitor *m, void (*done)(void *arg), void *arg);

/*
 * Thread-safe (the main thread, on a reload): the monitor moves to generation rt (it takes its
 * own reference) on its thread: the services' shared state adopts rt, checks that did not
 * change keep running, changed and new ones start, removed ones stop.
 * monitor_generation() says which generation it runs.
 */
void monitor_switch(struct monitor *m, struct lb_runtime *rt);
uint64_t monitor_generation(const struct monitor *m);

/* Starts the monitor thread. 0 or -errno. */
int monitor_start(struct monitor *m);

/* Stops the thread (if running), cancels every check and frees. */
void monitor_free(struct monitor *m);

#endif
