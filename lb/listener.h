/*
 * DOC: listeners
 *
 * One listening socket of one worker for one listen address of a service. Accepts until EAGAIN
 * (bounded per wake-up so one busy port cannot starve the loop), hands each fd to a new session,
 * and pauses instead of spinning when accept(2) runs out of fds or memory or when the process is
 * at global.max_connections, the way relayd does.
 *
 *   ACCEPTING --EMFILE/ENFILE/ENOBUFS/ENOMEM or global limit--> PAUSED --timer--> ACCEPTING
 *   ACCEPTING/PAUSED --listener_close--> CLOSED
 *   (prepared, not started) --listener_start--> ACCEPTING
 */
#ifndef ANYLB_LB_LISTENER_H
#define ANYLB_LB_LISTENER_H

#include "lb/runtime.h"

struct listener;
struct session_set;

/*
 * Creates, binds and starts listening on lconf's address for svc, handing accepted clients to
 * set (the session set of worker worker_id, whose loop it runs on). Returns NULL with the
 * reason logged (address in use, permission, ...).
 */
struct listener *listener_new(struct session_set *set, unsigned worker_id, struct lb_service *svc,
	const struct conf_listen *lconf);

/*
 * The two halves of listener_new, for a reload: binds on the main thread (so a failure stops
 * the reload before anything changed), then the worker starts it on its own loop. A listener
 * that was prepared but never started may be closed from any thread. NULL with *err (-errno)
 * and the reason logged when it cannot bind.
 */
struct listener *listener_prepare(const struct lb_service *svc, const struct conf_listen *lconf,
	unsigned worker_id, int *err);
void listener_start(struct listener *l, struct session_set *set);

/*
 * An upgrade's successor: like listener_new, on fd, a listening socket inherited from the
 * anylb it succeeds (lb/inherited.h), which it takes. NULL (fd closed) when memory ran out.
 */
struct listener *listener_adopt(struct session_set *set, unsigned worker_id, struct lb_service *svc,
	const struct conf_listen *lconf, int fd);

/*
 * Does another socket of type (SOCK_STREAM, SOCK_DGRAM) hold lc's address already? A bind
 * without SO_REUSEPORT tells, before a first worker binds with it (udp listeners ask too).
 * 0, -EADDRINUSE, or another -errno.
 */
int listener_probe_free(const struct conf_listen *lc, int type);

/* Logs that lc cannot be listened on (err: -errno), at lc's FILE:LINE:COL. */
void listener_log_failure(
	const struct lb_service *svc, const struct conf_listen *lconf, unsigned worker_id, int err);

/* The TCP_MAXSEG svc's listeners set (bgp.flow_handoff.mss_clamp, anycast services), or 0. */
unsigned listener_mss_clamp(const struct lb_service *svc);

/* The address it listens on. */
const struct addr *listener_addr(const struct listener *l);

/*
 * A reload kept the address: the socket stays open (no connection refused, none of the queue
 * lost) and from now on it accepts for svc, a service of the new generation. Worker thread.
 */
void listener_rebind(struct listener *l, struct lb_service *svc, const struct conf_listen *lconf);

/*
 * Stops accepting for a while because fds or memory ran out elsewhere (a backend socket could
 * not be created); connections wait in the kernel's queue meanwhile. Counted and logged.
 */
void listener_pause_resources(struct listener *l, const char *why);

/* Stops accepting and closes the socket; queued connections not yet accepted are reset. */
void listener_close(struct listener *l);

#endif
