/*
 * DOC: passive outlier ejection
 *
 * Real sessions report how their backend connection went: a failure is a connect refused,
 * timed out, or reset before the first byte. `consecutive_failures` failures in a row eject a
 * backend for base_ejection_time x (number of consecutive ejections), capped by
 * max_ejection_time. When the time is up the backend goes to TRIAL: it may take exactly one
 * session; success restores it (and resets the ejection count), failure ejects it again, for
 * longer. A passing active check also restores it. max_ejection_percent of the service's
 * backends may be ejected at once, but one backend always may.
 *
 * Pure logic, time injected as milliseconds on any monotonic clock. Not thread-safe: the
 * caller serialises access (lb/ holds it under a per-service lock on the rare paths only).
 */
#ifndef ANYLB_HEALTH_OUTLIER_H
#define ANYLB_HEALTH_OUTLIER_H

#include <stddef.h>
#include <stdint.h>

struct outlier_conf {
	unsigned consecutive_failures; /* 0: never eject */
	uint64_t base_ejection_ms;
	uint64_t max_ejection_ms;
	unsigned max_ejection_percent; /* 0..100 */
};

enum outlier_state {
	OUTLIER_OK,      /* takes traffic */
	OUTLIER_EJECTED, /* takes none until its ejection time is over */
	OUTLIER_TRIAL,   /* ejection over: may take one trial session */
};

/* What a call changed, for the caller to log and publish. */
enum outlier_event {
	OUTLIER_EV_NONE,
	OUTLIER_EV_EJECTED,  /* OK or TRIAL -> EJECTED */
	OUTLIER_EV_TRIAL,    /* EJECTED -> TRIAL */
	OUTLIER_EV_RESTORED, /* EJECTED or TRIAL -> OK */
};

struct outlier;

/*
 * The conf is copied. max_ejection_percent 0 turns ejection off, as consecutive_failures 0
 * does; above 100 counts as 100. Every backend starts OK with no failure counted.
 * Returns NULL when out of memory or n == 0 (or conf is NULL).
 */
struct outlier *outlier_new(const struct outlier_conf *conf, size_t n);
void outlier_free(struct outlier *o);

/*
 * The detector for a new set of backends (a configuration reload): backend j of the new set
 * continues old's backend from[j] (state, failures, ejections, deadline), or starts OK when
 * from[j] is SIZE_MAX or out of old's range. The conf may differ from old's; an ejection under
 * way keeps its deadline even if the budget is now smaller. NULL as outlier_new.
 */
struct outlier *outlier_remap(
	const struct outlier *old, const struct outlier_conf *conf, size_t n, const size_t *from);

enum outlier_state outlier_state(const struct outlier *o, size_t i);

/* Consecutive ejections of backend i (0 when it is OK and has been restored). */
unsigned outlier_ejections(const struct outlier *o, size_t i);

/* When backend i's current ejection ends (ms); only meaningful while EJECTED. */
uint64_t outlier_ejected_until(const struct outlier *o, size_t i);

/*
 * Reports one session's connection outcome on backend i (ok: connected and got past the first
 * byte or at least was not refused/reset; !ok: failure as defined above). May eject, restore.
 * OK: a success clears the failure count; the consecutive_failures-th failure ejects, unless
 * max_ejection_percent forbids it, in which case the backend stays OK and the next failure
 * tries again. EJECTED: ignored (sessions placed before the ejection still report). TRIAL:
 * once the trial is taken, the report is the trial's verdict (success restores and resets the
 * ejection count, failure ejects for longer); before that it is ignored like EJECTED's.
 */
enum outlier_event outlier_report(struct outlier *o, size_t i, int ok, uint64_t now_ms);

/*
 * Moves backends whose ejection time is over to TRIAL; calls on_event for each with
 * OUTLIER_EV_TRIAL. Returns the earliest time (ms) at which the next ejection ends, or
 * UINT64_MAX when none is ejected: the caller arms its timer for that.
 */
uint64_t outlier_tick(struct outlier *o, uint64_t now_ms,
	void (*on_event)(void *arg, size_t i, enum outlier_event ev), void *arg);

/*
 * A TRIAL backend is being given its one trial session: returns 1 and marks the trial as taken
 * (further calls return 0 until the trial's result is reported). Returns 0 otherwise.
 */
int outlier_take_trial(struct outlier *o, size_t i);

/* Is backend i's trial session on offer (TRIAL, not taken yet)? */
int outlier_trial_offered(const struct outlier *o, size_t i);

/*
 * The trial session taken with outlier_take_trial ended without a verdict (the client went
 * away before the backend connection was decided): the trial is on offer again. Without this,
 * a lost trial would leave the backend in TRIAL until an active check passes.
 */
void outlier_trial_abandoned(struct outlier *o, size_t i);

/* An active check passed: an EJECTED or TRIAL backend is restored. */
enum outlier_event outlier_check_passed(struct outlier *o, size_t i, uint64_t now_ms);

/* Failures in a row counted towards backend i's next ejection (for status and tests). */
unsigned outlier_failures(const struct outlier *o, size_t i);

/* How many backends are EJECTED or TRIAL, and how many may be at most. */
size_t outlier_ejected_count(const struct outlier *o);
size_t outlier_max_ejected(const struct outlier *o);

/*
 * Backend i's entry as a process hands it to its successor (the binary upgrade), its deadline
 * as the time left, so that the successor's clock need not be the same.
 */
struct outlier_saved {
	enum outlier_state state;
	unsigned failures;  /* in a row, towards the next ejection (OK) */
	unsigned ejections; /* consecutive ejections: the next one's length */
	uint64_t left_ms;   /* EJECTED: how long the ejection still runs */
};

/* Backend i's entry at now_ms (all zero, OK, for i out of range). */
void outlier_save(const struct outlier *o, size_t i, uint64_t now_ms, struct outlier_saved *out);

/*
 * Backend i (OK, as outlier_new or a reload left it) goes on from s at now_ms: ejected for
 * what was left, in TRIAL with its trial on offer (one that was out when the old process went
 * has no verdict coming), or OK with its failures and ejections counted. Not beyond this
 * detector's budget (its configuration may be smaller now, or ejection off): the backend stays
 * OK then. Returns OUTLIER_EV_EJECTED when it is now ejected or in trial, else NONE.
 */
enum outlier_event outlier_take_over(
	struct outlier *o, size_t i, const struct outlier_saved *s, uint64_t now_ms);

/*
 * Why backend i last changed state, a static string ("consecutive failures", "trial failed",
 * "ejection time over", "trial succeeded", "active check passed", "taken over"), or "" if it never
 * did.
 */
const char *outlier_reason(const struct outlier *o, size_t i);

#endif
