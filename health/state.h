/*
 * DOC: backend states
 *
 * What SPEC.md's table says a backend is, from its inputs:
 *
 *   dead       liveness check enabled and down         no new sessions, existing closed
 *   maint      operator maintenance (anylbctl maint)   no new sessions, existing kept
 *   draining   operator drain / removed on reload      no new sessions, existing kept
 *   not_ready  readiness check enabled and down,       no new sessions, existing kept
 *              or the first verdict still awaited
 *              (initial_state: not_ready)
 *   ejected    passive outlier detector (or in trial)  no new sessions, existing kept
 *   ready      otherwise                               new sessions, existing kept
 *
 * The first that applies wins, in that order: a dead backend's sessions are closed even while
 * an operator drains it or holds it in maintenance (they are broken anyway), and maint, the
 * operator's "out until I say ready", shows over a drain or a failing check. Pure.
 */
#ifndef ANYLB_HEALTH_STATE_H
#define ANYLB_HEALTH_STATE_H

enum backend_state {
	BACKEND_READY,
	BACKEND_NOT_READY,
	BACKEND_DEAD,
	BACKEND_EJECTED,
	BACKEND_DRAINING,
	BACKEND_MAINT, /* last: the values above are older than it (snapshots, metrics order) */
};

struct backend_inputs {
	int live_enabled, live_up;
	int ready_enabled, ready_up;
	int first_pending; /* initial_state not_ready and the vouching check has not run yet */
	int ejected;       /* outlier state is EJECTED or TRIAL */
	int draining;
	int maint; /* operator maintenance */
};

enum backend_state backend_state_eval(const struct backend_inputs *in);
const char *backend_state_name(enum backend_state st);

#endif
