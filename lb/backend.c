/*
 * DOC: backend state
 *
 *   READY <--> NOT_READY     readiness rise/fall
 *   any   <--> DEAD          liveness rise/fall (sessions closed on entry)
 *   READY <--> EJECTED       passive outlier detection; back through one trial session
 *   any   <--> DRAINING      operator
 *
 * The state itself is not stored by hand: health/state.c derives it from the inputs kept here
 * (two rise/fall counters, the outlier detector, the drain flag), and backend_set_state() is the
 * one setter, called only when the derived state differs from the published one.
 */
#include "lb/backend.h"

#include "health/slowstart.h"
#include "lib/duration.h"
#include "lib/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Slow start moves weights in this many steps: maglev rebuilds a table per step. */
#define SLOWSTART_STEPS 20
/* A certificate closer to expiry than this is worth a warning. */
#define CERT_WARN_SECONDS (14 * 24 * 3600)

void backend_init(struct lb_backend *b, struct lb_service *svc, size_t index)
{
	const struct conf_service *sc = svc->conf;

	b->conf = &sc->backends[index];
	b->svc = svc;
	b->index = index;
	risefall_init(&b->live, sc->health.liveness.rise ? sc->health.liveness.rise : 1,
		sc->health.liveness.fall ? sc->health.liveness.fall : 1, 1);
	risefall_init(&b->ready, sc->health.readiness.rise ? sc->health.readiness.rise : 1,
		sc->health.readiness.fall ? sc->health.readiness.fall : 1, 1);
	atomic_store(&b->state, BACKEND_READY);
	atomic_store(&b->eff_weight, b->conf->weight);
	snprintf(b->reason, sizeof(b->reason), "not checked yet");
}

static void backend_set_state(struct lb_backend *b, enum backend_state old, enum backend_state st,
	const char *reason, uint64_t now_ms)
{
	const struct conf_service *sc = b->svc->conf;

	log_msg(st == BACKEND_READY ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
		"backend %s (%s): %s -> %s: %s", b->conf->address, sc->name,
		backend_state_name(old), backend_state_name(st), reason);
	snprintf(b->reason, sizeof(b->reason), "%s", reason);
	if (st == BACKEND_READY) {
		b->ready_since_ms = now_ms;
		if (sc->slow_start_ms > 0) {
			atomic_store(&b->eff_weight, slowstart_weight(b->conf->weight, now_ms,
							     now_ms, sc->slow_start_ms));
			atomic_fetch_add(&b->svc->weights_gen, 1);
		}
	}
	atomic_store(&b->state, (int)st);
	if (st == BACKEND_DEAD) {
		struct lb_runtime *rt = b->svc->rt;
		if (rt != NULL && rt->on_dead != NULL)
			rt->on_dead(rt->on_dead_arg);
	}
}

/* Derives the state from the inputs and publishes it if it changed. Lock held. */
static void reevaluate(struct lb_backend *b, const char *reason, uint64_t now_ms)
{
	const struct conf_health *h = &b->svc->conf->health;
	struct backend_inputs in = {
		.live_enabled = h->liveness.enabled,
		.live_up = b->live.up,
		.ready_enabled = h->readiness.enabled,
		.ready_up = b->ready.up,
		.ejected = outlier_state(b->svc->outlier, b->index) != OUTLIER_OK,
		.draining = b->draining,
	};
	enum backend_state st = backend_state_eval(&in);
	enum backend_state old = (enum backend_state)atomic_load(&b->state);

	if (st != old)
		backend_set_state(b, old, st, reason, now_ms);
}

/* Withdraws a trial on offer (the backend was restored another way). Lock held. */
static void clear_trial(struct lb_backend *b)
{
	int one = 1;
	if (atomic_compare_exchange_strong(&b->trial, &one, 0))
		atomic_fetch_sub(&b->svc->trials, 1);
}

/* Handles what the outlier detector reports. Lock held. */
static void outlier_event(
	struct lb_backend *b, enum outlier_event ev, const char *why, uint64_t now_ms)
{
	struct outlier *o = b->svc->outlier;
	char reason[160], d[32];

	switch (ev) {
	case OUTLIER_EV_NONE:
		return;
	case OUTLIER_EV_EJECTED:
		clear_trial(b);
		atomic_fetch_add(&b->ejections, 1);
		snprintf(reason, sizeof(reason), "outlier: %s; ejected for %s (ejection %u)", why,
			duration_format(outlier_ejected_until(o, b->index) - now_ms, d, sizeof(d)),
			outlier_ejections(o, b->index));
		break;
	case OUTLIER_EV_TRIAL:
		/* Still ejected for new sessions, but the next pick may try it once. */
		if (atomic_exchange(&b->trial, 1) == 0)
			atomic_fetch_add(&b->svc->trials, 1);
		log_info("backend %s (%s): ejection over: offering one trial session",
			b->conf->address, b->svc->conf->name);
		return;
	case OUTLIER_EV_RESTORED:
		clear_trial(b);
		snprintf(reason, sizeof(reason), "outlier: %s", why);
		break;
	}
	reevaluate(b, reason, now_ms);
}

static void note_certificate(struct lb_backend *b, const struct check_result *r)
{
	if (r->cert_not_after == 0 || r->cert_not_after == b->cert_not_after)
		return;
	b->cert_not_after = r->cert_not_after;
	b->cert_warned = 0;
	int64_t left = r->cert_not_after - (int64_t)time(NULL);
	if (left < CERT_WARN_SECONDS) {
		log_warn("backend %s (%s): certificate expires in %lld days", b->conf->address,
			b->svc->conf->name, (long long)(left / 86400));
		b->cert_warned = 1;
	}
}

int backend_check_result(struct lb_backend *b, enum backend_check which,
	const struct check_result *r, uint64_t now_ms)
{
	const struct conf_health *h = &b->svc->conf->health;
	const struct conf_check *cc =
		which == BACKEND_CHECK_LIVENESS ? &h->liveness : &h->readiness;
	const char *name = which == BACKEND_CHECK_LIVENESS ? "liveness" : "readiness";
	struct risefall *rf = which == BACKEND_CHECK_LIVENESS ? &b->live : &b->ready;
	/* The check that vouches for a backend: readiness if there is one. */
	int restoring = which == BACKEND_CHECK_READINESS || !h->readiness.enabled;
	char reason[200];
	int changing;

	struct lb_check_stats *st = &b->checks[which];
	uint64_t us = r->duration > 0 ? (uint64_t)(r->duration * 1e6) : 0;
	atomic_fetch_add(r->ok ? &st->ok : &st->failed, 1);
	atomic_fetch_add(&st->duration_sum_us, us);
	atomic_store(&st->last_duration_us, us);

	pthread_mutex_lock(&b->svc->lock);
	note_certificate(b, r);
	if (risefall_feed(rf, r->ok)) {
		if (r->ok)
			snprintf(reason, sizeof(reason), "%s passed %u times", name, cc->rise);
		else
			snprintf(reason, sizeof(reason), "%s: %s", name, r->reason);
		reevaluate(b, reason, now_ms);
	}
	if (r->ok && restoring) {
		enum outlier_event ev = outlier_check_passed(b->svc->outlier, b->index, now_ms);
		snprintf(reason, sizeof(reason), "%s check passed", name);
		outlier_event(b, ev, reason, now_ms);
	}
	changing = risefall_changing(rf);
	pthread_mutex_unlock(&b->svc->lock);
	return changing;
}

void backend_session_outcome(
	struct lb_backend *b, int ok, int was_trial, const char *why, uint64_t now_ms)
{
	if (b->svc->conf->outlier.consecutive_failures == 0)
		return;
	if (ok && !was_trial) {
		/* The common case stays lock-free: nothing to forget. */
		if (atomic_load_explicit(&b->fail_hint, memory_order_relaxed) == 0)
			return;
		atomic_store(&b->fail_hint, 0);
	} else if (!ok) {
		atomic_fetch_add(&b->fail_hint, 1);
	}
	pthread_mutex_lock(&b->svc->lock);
	if (!was_trial && outlier_state(b->svc->outlier, b->index) == OUTLIER_TRIAL) {
		/* Only the trial session's verdict counts while a trial is on. */
		pthread_mutex_unlock(&b->svc->lock);
		return;
	}
	enum outlier_event ev = outlier_report(b->svc->outlier, b->index, ok, now_ms);
	if (ev == OUTLIER_EV_EJECTED && was_trial) {
		char reason[160];
		snprintf(reason, sizeof(reason), "trial session failed: %s", why);
		outlier_event(b, ev, reason, now_ms);
	} else if (ev == OUTLIER_EV_EJECTED) {
		char reason[160];
		snprintf(reason, sizeof(reason), "%u consecutive failures, last: %s",
			b->svc->conf->outlier.consecutive_failures, why);
		outlier_event(b, ev, reason, now_ms);
	} else {
		outlier_event(b, ev, "trial session succeeded", now_ms);
	}
	pthread_mutex_unlock(&b->svc->lock);
}

void backend_trial_abandoned(struct lb_backend *b)
{
	pthread_mutex_lock(&b->svc->lock);
	outlier_trial_abandoned(b->svc->outlier, b->index);
	if (outlier_state(b->svc->outlier, b->index) == OUTLIER_TRIAL &&
		atomic_exchange(&b->trial, 1) == 0)
		atomic_fetch_add(&b->svc->trials, 1);
	pthread_mutex_unlock(&b->svc->lock);
}

int backend_take_trial(struct lb_service *svc, int (*usable)(void *arg, size_t i), void *arg)
{
	if (atomic_load_explicit(&svc->trials, memory_order_relaxed) == 0)
		return -1;
	for (size_t i = 0; i < svc->conf->nbackends; i++) {
		struct lb_backend *b = &svc->backends[i];
		int one = 1;
		if (atomic_load_explicit(&b->trial, memory_order_relaxed) == 0 || !usable(arg, i))
			continue;
		if (!atomic_compare_exchange_strong(&b->trial, &one, 0))
			continue;
		atomic_fetch_sub(&svc->trials, 1);
		pthread_mutex_lock(&svc->lock);
		int taken = outlier_take_trial(svc->outlier, i);
		pthread_mutex_unlock(&svc->lock);
		if (taken)
			return (int)i;
	}
	return -1;
}

static void tick_event(void *arg, size_t i, enum outlier_event ev)
{
	struct lb_service *svc = arg;
	outlier_event(&svc->backends[i], ev, "ejection time over", 0);
}

void backend_tick(struct lb_service *svc, uint64_t now_ms)
{
	const struct conf_service *sc = svc->conf;

	pthread_mutex_lock(&svc->lock);
	outlier_tick(svc->outlier, now_ms, tick_event, svc);
	if (sc->slow_start_ms > 0) {
		for (size_t i = 0; i < sc->nbackends; i++) {
			struct lb_backend *b = &svc->backends[i];
			unsigned w = b->conf->weight, eff = w;
			if (atomic_load(&b->state) == BACKEND_READY) {
				unsigned step = w / SLOWSTART_STEPS ? w / SLOWSTART_STEPS : 1;
				eff = slowstart_weight(
					w, b->ready_since_ms, now_ms, sc->slow_start_ms);
				if (eff < w) {
					eff = (eff / step) * step;
					if (eff == 0)
						eff = 1;
				}
			}
			if (atomic_load(&b->eff_weight) != eff) {
				atomic_store(&b->eff_weight, eff);
				atomic_fetch_add(&svc->weights_gen, 1);
			}
		}
	}
	pthread_mutex_unlock(&svc->lock);
}

void backend_set_draining(struct lb_backend *b, int draining, const char *why, uint64_t now_ms)
{
	pthread_mutex_lock(&b->svc->lock);
	b->draining = draining;
	reevaluate(b, why, now_ms);
	pthread_mutex_unlock(&b->svc->lock);
}
