/*
 * DOC: backend state
 *
 * Where a backend's state changes. Inputs arrive from four directions: active check results
 * (the monitor thread), session outcomes (the workers: passive outlier detection), time (the
 * monitor's tick: ejections ending, slow start ramping) and the operator (admin API). Each
 * input takes the service lock and hands the event to the state machine
 * (health/backend_health.h, pure), publishes the state, weight and trial offer it keeps
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

/*
 * A saved verdict (state file or upgrade; extra: what an upgrade adds, or NULL) is b's starting
 * state: health/backend_health.c's bh_restore(), published and logged as the other events are.
 * Before b's checks run.
 */
void backend_restore_health(struct lb_backend *b, const struct bh_saved_check saved[2],
	const struct bh_saved_extra *extra, const char *why, uint64_t now_ms);

/* Can a new session go to b (state only; limits are the caller's)? */
static inline int backend_accepts(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->state, memory_order_relaxed) == BACKEND_READY;
}

/*
 * The weight b's balancers give it in b's generation (lb/worker.c balancers_new and weights_cb
 * use the same rule): slow start's effective weight while the service ramps, else the weight
 * configured in that generation. What status and metrics report, so that they show what
 * balancing does, also right after a reload changed the weight.
 */
static inline unsigned backend_weight(const struct lb_backend *b)
{
	unsigned w = b->svc->conf->slow_start_ms > 0
			     ? atomic_load_explicit(&b->st->eff_weight, memory_order_relaxed)
			     : b->conf->weight;
	return w == 0 ? 1 : w;
}

static inline int backend_is_dead(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->state, memory_order_relaxed) == BACKEND_DEAD;
}

#endif
