/*
 * DOC: backend state
 *
 * Where a backend's state changes. Inputs arrive from four directions: active check results
 * (the monitor thread), session outcomes (the workers: passive outlier detection), time (the
 * monitor's tick: ejections ending, slow start ramping) and the operator (admin API: drain,
 * maint, runtime weight). Each input takes the service lock and hands the event to the state
 * machine (health/backend_health.h, pure), publishes the state, weight and trial offer it keeps
 * atomically for the workers, then logs each transition once with its reason. A backend's
 * health is set up by the runtime that creates it (bh_init).
 */
#ifndef ANYLB_LB_BACKEND_H
#define ANYLB_LB_BACKEND_H

#include "health/backend_health.h"
#include "health/check.h"
#include "lb/runtime.h"

#include <stdint.h>

/*
 * Feeds one active check result. Returns non-zero while the check's rise/fall counter is
 * between its extremes (the caller then runs it at fast_interval).
 */
int backend_check_result(struct lb_backend *b, enum backend_check which,
	const struct check_result *r, uint64_t now_ms);

/*
 * A session's verdict on its backend connection: ok == 0 for connect refused, timed out, or a
 * reset before the first byte. was_trial: this session was the backend's outlier trial.
 * Cheap (no lock) for the common case of a success on a backend with no recent failure.
 */
void backend_session_outcome(
	struct lb_backend *b, int ok, int was_trial, const char *why, uint64_t now_ms);

/*
 * If an ejected backend of svc has a trial session on offer and is usable by the caller's
 * filter, takes it and returns its index; else -1. Lock-free unless a trial is on offer.
 */
int backend_take_trial(struct lb_service *svc, int (*usable)(void *arg, size_t i), void *arg);

/*
 * A trial session ended without a verdict (our own fd shortage, its backend went dead): the
 * trial is offered again instead of being lost.
 */
void backend_trial_abandoned(struct lb_backend *b);

/* Time passes: ejections that ended become trials, slow start ramps. Monitor thread. */
void backend_tick(struct lb_service *svc, uint64_t now_ms);

/*
 * A reload: the monitor switches svc's shared state to svc's generation, whose previous one
 * was prev (the same service, NULL when the service is new). The outlier detector is rebuilt
 * for the new set of backends keeping every kept backend's history; a check whose settings
 * changed restarts its rise/fall count from the backend's current verdict; backends prev had
 * and svc has not are marked removed (state draining, for good). Monitor thread.
 */
void backend_adopt_generation(
	struct lb_service *svc, const struct lb_service *prev, uint64_t now_ms);

/* A reload removed the whole service: every backend of svc is marked removed. */
void backend_retire_service(struct lb_service *svc, uint64_t now_ms);

/* Operator drain / enable (admin API). */
void backend_set_draining(struct lb_backend *b, int draining, const char *why, uint64_t now_ms);

/* Operator maint (1) / ready (0) (admin API): the same path as a drain. */
void backend_set_maint(struct lb_backend *b, int maint, const char *why, uint64_t now_ms);

/*
 * The operator's runtime weight for b, 0..BH_MAX_WEIGHT (admin API, or a state file): published
 * at once for every worker, kept across reloads while the file keeps b's weight (bh_adopt).
 * Returns the weight b was balanced by before.
 */
unsigned backend_set_weight(struct lb_backend *b, unsigned weight, uint64_t now_ms);

/*
 * A saved verdict (state file or upgrade; extra: what an upgrade adds, or NULL) is b's starting
 * state: health/backend_health.c's bh_restore(), published and logged as the other events are.
 * Before b's checks run.
 */
void backend_restore_health(struct lb_backend *b, const struct bh_saved_check saved[2],
	const struct bh_saved_extra *extra, const char *why, uint64_t now_ms);

/* Does the operator's runtime weight 0 keep new sessions away from b, whatever its state? */
static inline int backend_weight_zero(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->runtime_weight, memory_order_relaxed) == 0;
}

/* Can a new session go to b (state and weight; limits are the caller's)? */
static inline int backend_accepts(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->state, memory_order_relaxed) == BACKEND_READY &&
	       !backend_weight_zero(b);
}

/*
 * Can a new session go to b in panic mode: anything the operator has not taken out (drain,
 * maint, weight 0) and that is not dead.
 */
static inline int backend_accepts_in_panic(const struct lb_backend *b)
{
	int st = atomic_load_explicit(&b->st->state, memory_order_relaxed);

	return st != BACKEND_DEAD && st != BACKEND_DRAINING && st != BACKEND_MAINT &&
	       !backend_weight_zero(b);
}

/* b's weight before slow start: the operator's runtime weight if set, else the file's. */
static inline unsigned backend_base_weight(const struct lb_backend *b)
{
	int rw = atomic_load_explicit(&b->st->runtime_weight, memory_order_relaxed);

	return rw >= 0 ? (unsigned)rw : b->conf->weight;
}

/*
 * The weight b's balancers give it in b's generation (lb/worker.c balancers_new and weights_cb
 * use the same rule): slow start's effective weight while the service ramps, else the
 * operator's runtime weight if there is one, else the weight configured in that generation.
 * What status and metrics report, so that they show what balancing does, also right after a
 * reload changed the weight. 0 only for a runtime weight 0 (the balancers count it as 1, and
 * backend_accepts() keeps sessions away).
 */
static inline unsigned backend_weight(const struct lb_backend *b)
{
	if (b->svc->conf->slow_start_ms > 0)
		return atomic_load_explicit(&b->st->eff_weight, memory_order_relaxed);
	return backend_base_weight(b);
}

static inline int backend_is_dead(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->state, memory_order_relaxed) == BACKEND_DEAD;
}

#endif
