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
 */
#ifndef ANYLB_LB_LISTENER_H
#define ANYLB_LB_LISTENER_H

#include "lb/runtime.h"

struct worker;
struct listener;

/*
 * Creates, binds and starts listening on lconf's address for svc, owned by worker w.
 * Returns NULL with the reason logged (address in use, permission, ...).
 */
struct listener *listener_new(
	struct worker *w, struct lb_service *svc, const struct conf_listen *lconf);

/*
 * Stops accepting for a while because fds or memory ran out elsewhere (a backend socket could
 * not be created); connections wait in the kernel's queue meanwhile. Counted and logged.
 */
void listener_pause_resources(struct listener *l, const char *why);

/* Stops accepting and closes the socket; queued connections not yet accepted are reset. */
void listener_close(struct listener *l);

#endif
