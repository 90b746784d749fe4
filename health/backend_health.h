/*
 * DOC: the backend state machine
 *
 *     start: READY, or NOT_READY until the first verdict (initial_state: not_ready; a
 *     failed first verdict keeps it there: a note, no transition)
 *
 *                  readiness fall                       outlier: consecutive failures
 *   NOT_READY <------------------------- READY ---------------------------------> EJECTED
 *             -------------------------->     <--------------------------------- |   ^
 *                  readiness rise /             outlier: trial succeeded, or a    |   |
 *                  first verdict passed         vouching check passed             |   |
 *                                                                ejection over:   |   |
 *                                                                one trial on     v   |
 *                                                                offer (stays     +---+
 *                                                                ejected; the     trial
 *                                                                trial taken)     failed
 *
 *   any <--> DEAD        liveness fall / rise (the caller closes its sessions on entry)
 *   any <--> DRAINING    operator drain / enable; removed by a reload (for good)
 *   any <--> MAINT       operator maint / ready (over draining and the checks; not over dead)
 *
 * The state is not set by hand: it is derived from the inputs kept here (two rise/fall
 * counters, the first-verdict hold, the drain, maint and removed flags, the backend's entry in its
 * service's outlier detector) with health/state.c's precedence (dead, draining, not_ready,
 * ejected, ready), and bh_derive() is the one place that moves it. Slow start ramps the weight
 * of a backend that turned ready; a first verdict is not a return from failure and gets the
 * full weight at once.
 *
 * The operator's runtime weight (anylbctl weight) replaces the file's weight as what the
 * machine ramps towards, slow start included, and remembers the file's weight it replaced: a
 * reload that keeps that weight keeps the override, one that changes it drops it (the file
 * wins, BH_WEIGHT_DROPPED says so). Weight 0 is legal here only: the backend keeps its state
 * and takes no new session (lb/backend.h's backend_accepts()).
 *
 * The trial: an ejected backend whose ejection is over may take exactly one session. Whether
 * a trial is on offer is the outlier detector's (TRIAL and not taken); bh_trial_offered() reads
 * it, and the caller publishes that one bit for the workers.
 *
 * Pure logic, time injected (now_ms on any monotonic clock). Each event function takes one
 * event and fills a struct bh_out with what changed: the transitions (old state, new state,
 * reason) and the notes worth a log line, in the order they happened, for the caller to
 * publish first and log after. Not thread-safe: lb/backend.c calls it under the service lock.
 */
#ifndef ANYLB_HEALTH_BACKEND_HEALTH_H
#define ANYLB_HEALTH_BACKEND_HEALTH_H

#include "conf/conf.h"
#include "health/outlier.h"
#include "health/risefall.h"
#include "health/state.h"

#include <stddef.h>
#include <stdint.h>

enum backend_check { BACKEND_CHECK_LIVENESS, BACKEND_CHECK_READINESS };

/* The health of one backend: what the machine keeps between events. */
struct backend_health {
	enum backend_state state; /* derived; what the caller publishes */
	struct risefall live, ready;
	int draining;
	int maint;               /* operator maintenance: no new sessions until ready */
	int weight_set;          /* the operator's runtime weight overrides the file's */
	unsigned weight;         /* that weight, 0..BH_MAX_WEIGHT */
	unsigned weight_file;    /* the file's weight it replaced, for the reload rule */
	int removed;             /* no longer in the configuration: draining for good */
	int first_pending;       /* initial_state not_ready: the first verdict is awaited */
	size_t oidx;             /* index in the service's outlier detector; SIZE_MAX: none */
	uint64_t ready_since_ms; /* when it last turned ready (slow start) */
	unsigned eff_weight;     /* weight after slow start */
	char reason[160];        /* why it is in its state now, for logs and status */
	int reason_by;           /* enum backend_check whose result wrote reason; -1: another */
};

/*
 * Where an event happens: sc is the service's configuration the machine decides by (the
 * newest generation the monitor runs), gen the one of the generation the event comes from (a
 * check's or a session's; its settings are what reasons quote), o the service's outlier
 * detector (indexed by oidx), weight the backend's configured weight in gen.
 */
struct bh_ctx {
	const struct conf_service *sc, *gen;
	struct outlier *o;
	unsigned weight;
};

enum bh_note_kind {
	BH_TRANSITION,     /* old -> new: reason */
	BH_TRIAL_OFFER,    /* ejection over: one trial session is offered (state stays ejected) */
	BH_FIRST_FAILED,   /* the first verdict failed and the state stays: reason says it all */
	BH_WEIGHT_DROPPED, /* a reload changed the file's weight: the runtime weight is dropped */
};

struct bh_note {
	enum bh_note_kind kind;
	enum backend_state old, new;
	char reason[256]; /* room for any reason the events build, whole */
};

#define BH_MAX_NOTES 4

/* The largest weight, the file's and the operator's (conf's CONF_MAX_WEIGHT). */
#define BH_MAX_WEIGHT 1000

/* What one event changed. Zeroed by each event function. */
struct bh_out {
	struct bh_note note[BH_MAX_NOTES];
	size_t n;
	int ejected;        /* the outlier detector ejected it (counted even if the state hid it) */
	int weight_changed; /* eff_weight moved: the balancers rebuild */
};

/*
 * A new backend of sc: checks not yet run count as passing (HAProxy's convention), so the first
 * verdict decides either way; with initial_state not_ready the backend takes no session until
 * that verdict. oidx: its index in the outlier detector, SIZE_MAX while it has none.
 */
void bh_init(struct backend_health *h, const struct conf_service *sc, unsigned weight, size_t oidx);

/*
 * One active check result of c->gen's check which (its rise count is what the reason quotes;
 * whether c->gen has readiness decides which check vouches). why: the failure's reason (unused
 * when ok). Returns non-zero while the check's rise/fall counter is between its extremes (the
 * caller then runs it at fast_interval).
 */
int bh_check_result(struct backend_health *h, const struct bh_ctx *c, enum backend_check which,
	int ok, const char *why, uint64_t now_ms, struct bh_out *out);

/*
 * A session's verdict on its backend connection (ok == 0: connect refused, timed out, or a
 * reset before the first byte); was_trial: the session held the trial. While a trial is on,
 * only the trial's verdict counts.
 */
void bh_session_outcome(struct backend_health *h, const struct bh_ctx *c, int ok, int was_trial,
	const char *why, uint64_t now_ms, struct bh_out *out);

/* Is a trial session on offer for h (ejection over, trial not taken)? */
int bh_trial_offered(const struct backend_health *h, const struct bh_ctx *c);

/* A session takes the trial on offer: 1 if it got it, 0 if none was on offer. */
int bh_take_trial(struct backend_health *h, const struct bh_ctx *c);

/* The trial session ended without a verdict: the trial is on offer again. */
void bh_trial_abandoned(struct backend_health *h, const struct bh_ctx *c);

/*
 * The outlier detector's tick (outlier_tick(), called once per service by the caller) found
 * h's ejection over: one trial session is offered, the state stays ejected.
 */
void bh_ejection_over(
	struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out);

/* Time passes for h: slow start ramps its weight, in steps. */
void bh_tick(struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out);

/* Operator drain (draining 1) or enable (0), why for the transition. */
void bh_set_draining(struct backend_health *h, const struct bh_ctx *c, int draining,
	const char *why, uint64_t now_ms, struct bh_out *out);

/* Operator maintenance (maint 1) or ready (0: the checks decide again), why for the transition. */
void bh_set_maint(struct backend_health *h, const struct bh_ctx *c, int maint, const char *why,
	uint64_t now_ms, struct bh_out *out);

/*
 * The operator's runtime weight (0..BH_MAX_WEIGHT; the caller refuses others): it replaces
 * c->weight, the file's, until a reload changes the file's weight. The effective weight follows
 * at once, still under slow start's ramp while the backend ramps.
 */
void bh_set_weight(struct backend_health *h, const struct bh_ctx *c, unsigned weight,
	uint64_t now_ms, struct bh_out *out);

/* The weight h is balanced by when not ramping: the runtime weight if set, else c->weight. */
unsigned bh_weight(const struct backend_health *h, const struct bh_ctx *c);

/* A reload removed the backend: draining for good, out of the outlier detector. */
void bh_retire(
	struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out);

/*
 * What a state file or a predecessor saved of one check's rise/fall counter: its position and
 * the rise and fall it counted against (health/risefall.h; up while health >= rise).
 */
struct bh_saved_check {
	unsigned health, rise, fall;
};

/*
 * What a predecessor knew of a backend beyond its checks (the binary upgrade; a state file has
 * none of it): where its slow-start ramp was, and its entry in the outlier detector.
 */
struct bh_saved_extra {
	uint64_t ready_for_ms; /* ready since this long (the ramp); UINT64_MAX: not known */
	struct outlier_saved outlier;
};

/*
 * A saved verdict becomes the starting state (a cold restart with global.state_file, or an
 * upgrade), instead of "not checked yet": each counter takes its saved position (clamped), or,
 * when the check's rise or fall changed since, starts over from the saved up/down; the first
 * verdict is no longer awaited. A backend restored ready gets its full weight at once, as a
 * first verdict does, unless extra (NULL: nothing more) says where its slow-start ramp was;
 * extra's outlier entry is taken over too (an ejection goes on for what was left). Checks
 * confirm it from there. saved: enum backend_check, or NULL when no check had run (then only
 * extra is taken over, and a first verdict is still awaited); why: the reason.
 */
void bh_restore(struct backend_health *h, const struct bh_ctx *c,
	const struct bh_saved_check saved[2], const struct bh_saved_extra *extra, const char *why,
	uint64_t now_ms, struct bh_out *out);

/*
 * A reload: h continues under c->sc at outlier index oidx (SIZE_MAX: keeps its own). prev: the
 * health settings of the generation it had before, NULL for a backend new to the service; a
 * check whose settings changed restarts its rise/fall count from the current verdict. A runtime
 * weight stays while c->weight (the new file's) is the weight it replaced, else it is dropped
 * (BH_WEIGHT_DROPPED). Maint and drain stay.
 */
void bh_adopt(struct backend_health *h, const struct bh_ctx *c, size_t oidx,
	const struct conf_health *prev, uint64_t now_ms, struct bh_out *out);

#endif
