/*
 * DOC: the drain ladder (pure)
 *
 * A planned withdrawal in steps, so that no established session is reset when a site (or one
 * service) leaves the anycast set:
 *
 *   ANNOUNCED --drain(window)--> DEPREFERRED --window over--> WITHDRAWN --no session left,--> DONE
 *       ^                            |                            |        or drain_timeout
 *       +-------undrain--------------+----------------------------+-----------------------+
 *
 * DEPREFERRED: still announced, but with the BGP graceful-shutdown community (65535,0) that the
 * shipped bird.conf filter turns into an AS-path prepend, so upstreams move new flows elsewhere
 * while established ones still arrive here. WITHDRAWN: the prefixes are gone; the sessions that
 * peers forward back (the flow hand-off) are served until they end or drain_timeout passes.
 * DONE: withdrawn and quiet. A window of 0 goes straight to WITHDRAWN. Only the announcer's
 * decision is changed: a service that health withdrew stays withdrawn whatever the step says.
 *
 * Time is injected (ms, monotonic). Not thread-safe: one owner (the announcer's loop).
 */
#ifndef ANYLB_BGP_LADDER_H
#define ANYLB_BGP_LADDER_H

#include <stdint.h>

enum ladder_step { LADDER_ANNOUNCED, LADDER_DEPREFERRED, LADDER_WITHDRAWN, LADDER_DONE };

struct ladder {
	enum ladder_step step;
	uint64_t since_ms;         /* when step began */
	uint64_t window_ms;        /* DEPREFERRED's length */
	uint64_t drain_timeout_ms; /* WITHDRAWN's longest */
	char reason[96];           /* of the last transition, for logs and status */
};

/* "announced", "depreferred", "withdrawn", "done". */
const char *ladder_step_name(enum ladder_step s);

/* -1 when name is none of ladder_step_name()'s. */
int ladder_step_from_name(const char *name);

/* A ladder at ANNOUNCED. */
void ladder_init(struct ladder *l);

/*
 * Starts the ladder at now: DEPREFERRED for window_ms (0: WITHDRAWN at once), then WITHDRAWN for
 * at most drain_timeout_ms. A ladder already past ANNOUNCED keeps its step and times (a second
 * drain changes nothing). Returns 1 when the step changed.
 */
int ladder_drain(struct ladder *l, uint64_t window_ms, uint64_t drain_timeout_ms, uint64_t now_ms);

/* Back to ANNOUNCED (undrain). Returns 1 when the step changed. */
int ladder_undrain(struct ladder *l, uint64_t now_ms);

/*
 * Moves the ladder on at now: the window over, or no session left (sessions: the service's
 * active sessions) or drain_timeout over. Returns 1 when the step changed (at most one step
 * per call; call again until 0).
 */
int ladder_tick(struct ladder *l, uint64_t sessions, uint64_t now_ms);

/* When the step ends by time alone: UINT64_MAX for never. */
uint64_t ladder_deadline(const struct ladder *l);

/* Milliseconds left in the step at now (0 with no deadline). */
uint64_t ladder_left_ms(const struct ladder *l, uint64_t now_ms);

/*
 * What the mechanism should hold for a service whose policy says announced (1) or not (0):
 * 0 withdrawn, 1 announced, 2 announced de-preferred.
 */
int ladder_level(const struct ladder *l, int announced);

/*
 * Restores a ladder saved at another process's clock: step, its age and length (an upgrade
 * carries a ladder in progress). Returns 0, or -1 on an unknown step (the ladder is then
 * ANNOUNCED).
 */
int ladder_restore(struct ladder *l, int step, uint64_t age_ms, uint64_t window_ms,
	uint64_t drain_timeout_ms, uint64_t now_ms);

#endif
