/*
 * DOC: which backend takes a new session or a new udp flow
 *
 * The one rule sessions (lb/session.c) and udp flows (lb/udp_listener.c) pick by: an ejected
 * backend's outlier trial first, when one is due; else the service's balancer over the backends
 * that accept sessions (only the primaries while the service has backups), then over the
 * backups; in panic (health/backend_health.c's panic_threshold) over every backend that is not
 * dead nor taken out by the operator, backups included, in one round. A session also leaves
 * out the backends it already tried (its retries) and those at their own max_connections; a
 * udp flow has neither. The balancer is the caller's worker's: no lock is taken here, only the
 * shared state's atomics are read.
 */
#ifndef ANYLB_LB_PICK_H
#define ANYLB_LB_PICK_H

#include "lb/runtime.h"

#include <stddef.h>
#include <stdint.h>

struct balancer;

struct pick {
	struct lb_service *svc;
	const uint16_t *tried; /* backend indexes already tried (UINT16_MAX: gone), or NULL */
	unsigned ntried;
	int limits; /* leave out backends at their max_connections */
};

/*
 * The backend for a new session or flow of p->svc, hashed by hash (maglev), from bal: its
 * index, or -1 when none may take it. *trial is set when it is its backend's outlier trial.
 */
int pick_backend(const struct pick *p, struct balancer *bal, uint64_t hash, int *trial);

/* Whether some backend p could pick has room now, in panic or not (what the queue asks). */
int pick_room(const struct pick *p);

/* Some backend of svc takes sessions, and every one that does is at its max_connections. */
int pick_all_full(const struct lb_service *svc);

#endif
