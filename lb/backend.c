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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Slow start moves weights in this many steps: maglev rebuilds a table per step. */
#define SLOWSTART_STEPS 20
/* A certificate closer to expiry than this is worth a warning. */
#define CERT_WARN_SECONDS (14 * 24 * 3600)

/* The check that vouches for a backend's readiness: readiness if there is one, else liveness. */
static const char *vouching_name(const struct conf_health *h)
{
	return h->readiness.enabled ? "readiness" : "liveness";
}

void backend_init(struct lb_backend *b, size_t oidx)
{
	const struct conf_service *sc = b->svc->conf;
	const struct conf_health *h = &sc->health;
	int checked = h->liveness.enabled || h->readiness.enabled;

	b->st->oidx = oidx;
	/*
	 * Both counters start up at the bottom of the up range (HAProxy's fresh server): the
	 * first verdict decides, one pass keeps it up and one failure takes it down. With
	 * initial_state not_ready the backend is held out of balancing until that verdict.
	 */
	risefall_init(&b->st->live, h->liveness.rise ? h->liveness.rise : 1,
		h->liveness.fall ? h->liveness.fall : 1, 1);
	risefall_init(&b->st->ready, h->readiness.rise ? h->readiness.rise : 1,
		h->readiness.fall ? h->readiness.fall : 1, 1);
	b->st->first_pending = checked && sc->initial_state == CONF_INITIAL_NOT_READY;
	atomic_store(&b->st->state, b->st->first_pending ? BACKEND_NOT_READY : BACKEND_READY);
	atomic_store(&b->st->eff_weight, b->conf->weight);
	b->st->reason_by = -1;
	if (!checked)
		snprintf(b->st->reason, sizeof(b->st->reason), "no health checks");
	else if (b->st->first_pending)
		snprintf(b->st->reason, sizeof(b->st->reason),
			"waiting for the first %s check (initial_state: not_ready)",
			vouching_name(h));
	else
		snprintf(b->st->reason, sizeof(b->st->reason),
			"not checked yet: taken as passing (initial_state: ready)");
}

/* Is b in its service's outlier detector (not a backend a reload removed or just added)? */
static int in_outlier(const struct lb_backend *b)
{
	return b->st->oidx != SIZE_MAX;
}

/* Lock held: recounts the ready and waiting backends of the monitor's generation. */
static void service_recount(struct lb_service_state *ss)
{
	ss->nready = ss->npending = 0;
	for (size_t i = 0; i < ss->cur->conf->nbackends; i++) {
		const struct lb_backend_state *bs = ss->cur->backends[i].st;
		ss->nready += atomic_load(&bs->state) == BACKEND_READY;
		ss->npending += bs->first_pending != 0;
	}
	ss->counted = 1;
}

/*
 * Lock held. The service-level edge (relayd's "up-count crossed zero"): the last usable backend
 * went away, or the first came back; each logged once, with the census of the states on entry.
 * Not while some backend still awaits its first verdict: that is start-up, not an outage.
 */
static void service_edge(struct lb_service_state *ss)
{
	struct lb_service *svc = ss->cur;

	if (svc == NULL || ss->quiet)
		return;
	if (!ss->counted)
		service_recount(ss);
	size_t n = svc->conf->nbackends;
	if (ss->nready == 0 && ss->npending == 0 && !ss->none_logged) {
		size_t count[BACKEND_DRAINING + 1] = {0};
		char census[160];
		int len = 0;
		for (size_t i = 0; i < n; i++) {
			int st = atomic_load(&svc->backends[i].st->state);
			if (st >= 0 && st <= BACKEND_DRAINING)
				count[st]++;
		}
		census[0] = '\0';
		for (int st = 0; st <= BACKEND_DRAINING; st++) {
			if (count[st] == 0 || len < 0 || (size_t)len >= sizeof(census))
				continue;
			len += snprintf(census + len, sizeof(census) - (size_t)len, "%s%zu %s",
				len ? ", " : "", count[st],
				backend_state_name((enum backend_state)st));
		}
		log_warn("service %s: no usable backend (%zu backend%s: %s): new clients are "
			 "refused",
			svc->conf->name, n, n == 1 ? "" : "s", census);
		ss->none_logged = 1;
	} else if (ss->nready > 0 && ss->none_logged) {
		log_info("service %s: usable again (%zu of %zu backend%s ready)", svc->conf->name,
			ss->nready, n, n == 1 ? "" : "s");
		ss->none_logged = 0;
	}
}

/* Lock held: keeps the counts of service_edge() current for a change of b. */
static void service_count(struct lb_backend *b, int dready, int dpending)
{
	struct lb_service_state *ss = b->svc->st;

	if (b->svc != ss->cur || !ss->counted || (dready < 0 && ss->nready == 0) ||
		(dpending < 0 && ss->npending == 0)) {
		ss->counted = 0; /* another generation's view: recount from cur */
		return;
	}
	ss->nready = (size_t)((ptrdiff_t)ss->nready + dready);
	ss->npending = (size_t)((ptrdiff_t)ss->npending + dpending);
}

/* Lock held. */
static void backend_set_state(struct lb_backend *b, enum backend_state old, enum backend_state st,
	const char *reason, uint64_t now_ms)
{
	const struct conf_service *sc = b->svc->st->conf;

	log_msg(st == BACKEND_READY ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
		"backend %s (%s): %s -> %s: %s", b->conf->address, sc->name,
		backend_state_name(old), backend_state_name(st), reason);
	snprintf(b->st->reason, sizeof(b->st->reason), "%s", reason);
	b->st->reason_by = -1; /* the caller says when a check result wrote it */
	if (st == BACKEND_READY) {
		b->st->ready_since_ms = now_ms;
		if (sc->slow_start_ms > 0) {
			atomic_store(&b->st->eff_weight, slowstart_weight(b->conf->weight, now_ms,
								 now_ms, sc->slow_start_ms));
			atomic_fetch_add(&b->svc->st->weights_gen, 1);
		}
	}
	atomic_store(&b->st->state, (int)st);
	if ((old == BACKEND_READY) != (st == BACKEND_READY))
		service_count(b, st == BACKEND_READY ? 1 : -1, 0);
	service_edge(b->svc->st);
	if (st == BACKEND_DEAD) {
		struct lb_process *proc = b->svc->rt != NULL ? b->svc->rt->proc : NULL;
		if (proc != NULL && proc->on_dead != NULL)
			proc->on_dead(proc->on_dead_arg);
	}
}

/* Derives the state from the inputs and publishes it if it changed. Lock held. */
static void reevaluate(struct lb_backend *b, const char *reason, uint64_t now_ms)
{
	const struct conf_health *h = &b->svc->st->conf->health;
	struct backend_inputs in = {
		.live_enabled = h->liveness.enabled,
		.live_up = b->st->live.up,
		.ready_enabled = h->readiness.enabled,
		.ready_up = b->st->ready.up,
		.first_pending = b->st->first_pending,
		.ejected = in_outlier(b) &&
			   outlier_state(b->svc->st->outlier, b->st->oidx) != OUTLIER_OK,
		.draining = b->st->draining || b->st->removed,
	};
	enum backend_state st = backend_state_eval(&in);
	enum backend_state old = (enum backend_state)atomic_load(&b->st->state);

	if (st != old)
		backend_set_state(b, old, st, reason, now_ms);
}

/* Withdraws a trial on offer (the backend was restored another way). Lock held. */
static void clear_trial(struct lb_backend *b)
{
	int one = 1;
	if (atomic_compare_exchange_strong(&b->st->trial, &one, 0))
		atomic_fetch_sub(&b->svc->st->trials, 1);
}

/* Handles what the outlier detector reports. Lock held. */
static void outlier_event(
	struct lb_backend *b, enum outlier_event ev, const char *why, uint64_t now_ms)
{
	struct outlier *o = b->svc->st->outlier;
	char reason[160], d[32];

	switch (ev) {
	case OUTLIER_EV_NONE:
		return;
	case OUTLIER_EV_EJECTED:
		clear_trial(b);
		atomic_fetch_add(&b->st->ejections, 1);
		snprintf(reason, sizeof(reason), "outlier: %s; ejected for %s (ejection %u)", why,
			duration_format(
				outlier_ejected_until(o, b->st->oidx) - now_ms, d, sizeof(d)),
			outlier_ejections(o, b->st->oidx));
		break;
	case OUTLIER_EV_TRIAL:
		/* Still ejected for new sessions, but the next pick may try it once. */
		if (atomic_exchange(&b->st->trial, 1) == 0)
			atomic_fetch_add(&b->svc->st->trials, 1);
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
	if (r->cert_not_after == 0 || r->cert_not_after == b->st->cert_not_after)
		return;
	b->st->cert_not_after = r->cert_not_after;
	b->st->cert_warned = 0;
	int64_t left = r->cert_not_after - (int64_t)time(NULL);
	if (left < CERT_WARN_SECONDS) {
		log_warn("backend %s (%s): certificate expires in %lld days", b->conf->address,
			b->svc->conf->name, (long long)(left / 86400));
		b->st->cert_warned = 1;
	}
}

/* Unix milliseconds: when a check ran, for status and metrics (not for any decision). */
static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Lock held. A check result that changed no state must still leave a reason that explains the
 * state b is in now (issue 11: "not checked yet" after hundreds of passed checks, "connect
 * refused" while it now fails certificate verification). Only the check that decides the
 * current state writes it: liveness for dead, readiness for not_ready, either for ready (a
 * failure on its way to fall, or a pass); the outlier detector and the operator own ejected
 * and draining.
 */
static void explain(
	struct lb_backend *b, enum backend_check which, const struct check_result *r, int restoring)
{
	const struct conf_health *h = &b->svc->conf->health;
	const struct risefall *rf = which == BACKEND_CHECK_LIVENESS ? &b->st->live : &b->st->ready;
	const char *name = which == BACKEND_CHECK_LIVENESS ? "liveness" : "readiness";
	enum backend_state st = (enum backend_state)atomic_load(&b->st->state);
	char *out = b->st->reason;
	size_t cap = sizeof(b->st->reason);
	unsigned top = (unsigned)rf->rise + rf->fall - 1;

	switch (st) {
	case BACKEND_DEAD:
		if (which != BACKEND_CHECK_LIVENESS)
			return;
		break;
	case BACKEND_NOT_READY:
		if (which != BACKEND_CHECK_READINESS || b->st->first_pending)
			return;
		break;
	case BACKEND_READY:
		break;
	case BACKEND_EJECTED:
	case BACKEND_DRAINING:
		return;
	}
	if (st == BACKEND_READY && r->ok) {
		/* A liveness pass does not overwrite what readiness said, unless it was its own. */
		if (!restoring && b->st->reason_by != (int)which)
			return;
		snprintf(out, cap, "%s check passed", vouching_name(h));
	} else if (st == BACKEND_READY) {
		snprintf(out, cap, "%s: %.100s (%u of %u failures before %s)", name, r->reason,
			top - rf->health, (unsigned)rf->fall,
			which == BACKEND_CHECK_LIVENESS ? "dead" : "not_ready");
	} else if (r->ok) {
		snprintf(out, cap, "%s passing again (%u of %u passes before %s)", name,
			(unsigned)rf->health, (unsigned)rf->rise,
			which == BACKEND_CHECK_LIVENESS ? "alive" : "ready");
	} else {
		snprintf(out, cap, "%s: %.140s", name, r->reason);
	}
	b->st->reason_by = (int)which;
}

int backend_check_result(struct lb_backend *b, enum backend_check which,
	const struct check_result *r, uint64_t now_ms)
{
	const struct conf_health *h = &b->svc->conf->health;
	const struct conf_check *cc =
		which == BACKEND_CHECK_LIVENESS ? &h->liveness : &h->readiness;
	const char *name = which == BACKEND_CHECK_LIVENESS ? "liveness" : "readiness";
	struct risefall *rf = which == BACKEND_CHECK_LIVENESS ? &b->st->live : &b->st->ready;
	/* The check that vouches for a backend: readiness if there is one. */
	int restoring = which == BACKEND_CHECK_READINESS || !h->readiness.enabled;
	char reason[200];
	int changing;

	struct lb_check_stats *st = &b->st->checks[which];
	uint64_t us = r->duration > 0 ? (uint64_t)(r->duration * 1e6) : 0;
	uint64_t at = wall_ms();
	atomic_fetch_add(r->ok ? &st->ok : &st->failed, 1);
	atomic_fetch_add(&st->duration_sum_us, us);

	pthread_mutex_lock(&b->svc->st->lock);
	struct lb_check_last *last = &b->st->last[which];
	last->at_ms = at;
	last->duration_us = us;
	last->ok = r->ok != 0;
	snprintf(last->reason, sizeof(last->reason), "%s", r->ok ? "ok" : r->reason);
	note_certificate(b, r);
	enum backend_state before = (enum backend_state)atomic_load(&b->st->state);
	/* The first verdict of the vouching check releases a backend held by initial_state. */
	int first = b->st->first_pending && restoring;
	b->st->first_pending &= !first;
	if (first)
		service_count(b, 0, -1);
	if (risefall_feed(rf, r->ok) || first) {
		if (r->ok && first)
			snprintf(reason, sizeof(reason), "first %s check passed", name);
		else if (r->ok)
			snprintf(reason, sizeof(reason), "%s passed %u times", name, cc->rise);
		else
			snprintf(reason, sizeof(reason), "%s: %s", name, r->reason);
		reevaluate(b, reason, now_ms);
		if (first && atomic_load(&b->st->state) == BACKEND_READY &&
			b->svc->st->conf->slow_start_ms > 0) {
			/*
			 * A first verdict is not a return from failure: the full weight at once,
			 * as a backend that starts ready has it (HAProxy: no slow start at start).
			 */
			uint64_t win = b->svc->st->conf->slow_start_ms;
			b->st->ready_since_ms = now_ms > win ? now_ms - win : 0;
			atomic_store(&b->st->eff_weight, b->conf->weight);
			atomic_fetch_add(&b->svc->st->weights_gen, 1);
		}
		if (first && before == BACKEND_NOT_READY &&
			atomic_load(&b->st->state) == (int)before) {
			/* Held not_ready and still not_ready: no transition, but a verdict. */
			log_warn("backend %s (%s): first %s check failed: %s: stays %s",
				b->conf->address, b->svc->st->conf->name, name, r->reason,
				backend_state_name(before));
			snprintf(b->st->reason, sizeof(b->st->reason), "%.*s",
				(int)sizeof(b->st->reason) - 1, reason);
		}
		if (atomic_load(&b->st->state) != (int)before || first)
			b->st->reason_by = (int)which;
		if (first)
			service_edge(b->svc->st); /* the last awaited verdict may end start-up */
	}
	if (atomic_load(&b->st->state) == (int)before && !first)
		explain(b, which, r, restoring);
	if (r->ok && restoring && in_outlier(b)) {
		enum outlier_event ev =
			outlier_check_passed(b->svc->st->outlier, b->st->oidx, now_ms);
		snprintf(reason, sizeof(reason), "%s check passed", name);
		outlier_event(b, ev, reason, now_ms);
	}
	changing = risefall_changing(rf);
	pthread_mutex_unlock(&b->svc->st->lock);
	return changing;
}

void backend_session_outcome(
	struct lb_backend *b, int ok, int was_trial, const char *why, uint64_t now_ms)
{
	if (b->svc->conf->outlier.consecutive_failures == 0)
		return;
	if (ok && !was_trial) {
		/* The common case stays lock-free: nothing to forget. */
		if (atomic_load_explicit(&b->st->fail_hint, memory_order_relaxed) == 0)
			return;
		atomic_store(&b->st->fail_hint, 0);
	} else if (!ok) {
		atomic_fetch_add(&b->st->fail_hint, 1);
	}
	pthread_mutex_lock(&b->svc->st->lock);
	if (!in_outlier(b) ||
		(!was_trial && outlier_state(b->svc->st->outlier, b->st->oidx) == OUTLIER_TRIAL)) {
		/* Only the trial session's verdict counts while a trial is on. */
		pthread_mutex_unlock(&b->svc->st->lock);
		return;
	}
	enum outlier_event ev = outlier_report(b->svc->st->outlier, b->st->oidx, ok, now_ms);
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
	pthread_mutex_unlock(&b->svc->st->lock);
}

void backend_trial_abandoned(struct lb_backend *b)
{
	pthread_mutex_lock(&b->svc->st->lock);
	if (!in_outlier(b)) {
		pthread_mutex_unlock(&b->svc->st->lock);
		return;
	}
	outlier_trial_abandoned(b->svc->st->outlier, b->st->oidx);
	if (outlier_state(b->svc->st->outlier, b->st->oidx) == OUTLIER_TRIAL &&
		atomic_exchange(&b->st->trial, 1) == 0)
		atomic_fetch_add(&b->svc->st->trials, 1);
	pthread_mutex_unlock(&b->svc->st->lock);
}

int backend_take_trial(struct lb_service *svc, int (*usable)(void *arg, size_t i), void *arg)
{
	if (atomic_load_explicit(&svc->st->trials, memory_order_relaxed) == 0)
		return -1;
	for (size_t i = 0; i < svc->conf->nbackends; i++) {
		struct lb_backend *b = &svc->backends[i];
		int one = 1;
		if (atomic_load_explicit(&b->st->trial, memory_order_relaxed) == 0 ||
			!usable(arg, i))
			continue;
		if (!atomic_compare_exchange_strong(&b->st->trial, &one, 0))
			continue;
		atomic_fetch_sub(&svc->st->trials, 1);
		pthread_mutex_lock(&svc->st->lock);
		int taken = in_outlier(b) && outlier_take_trial(svc->st->outlier, b->st->oidx);
		pthread_mutex_unlock(&svc->st->lock);
		if (taken)
			return (int)i;
	}
	return -1;
}

static void tick_event(void *arg, size_t i, enum outlier_event ev)
{
	struct lb_service *svc = arg;

	for (size_t j = 0; j < svc->conf->nbackends; j++)
		if (svc->backends[j].st->oidx == i)
			outlier_event(&svc->backends[j], ev, "ejection time over", 0);
}

void backend_tick(struct lb_service *svc, uint64_t now_ms)
{
	const struct conf_service *sc = svc->conf;

	pthread_mutex_lock(&svc->st->lock);
	if (svc->st->cur != svc) {
		/*
		 * Only the monitor says which generation the service-level counts are over, and
		 * only for one it holds (here, and when it adopts one): a pointer set by whoever
		 * built a generation could outlive it.
		 */
		svc->st->cur = svc;
		svc->st->counted = 0;
		service_edge(svc->st);
	}
	outlier_tick(svc->st->outlier, now_ms, tick_event, svc);
	if (sc->slow_start_ms > 0) {
		for (size_t i = 0; i < sc->nbackends; i++) {
			struct lb_backend *b = &svc->backends[i];
			unsigned w = b->conf->weight, eff = w;
			if (atomic_load(&b->st->state) == BACKEND_READY) {
				unsigned step = w / SLOWSTART_STEPS ? w / SLOWSTART_STEPS : 1;
				eff = slowstart_weight(
					w, b->st->ready_since_ms, now_ms, sc->slow_start_ms);
				if (eff < w) {
					eff = (eff / step) * step;
					if (eff == 0)
						eff = 1;
				}
			}
			if (atomic_load(&b->st->eff_weight) != eff) {
				atomic_store(&b->st->eff_weight, eff);
				atomic_fetch_add(&svc->st->weights_gen, 1);
			}
		}
	}
	pthread_mutex_unlock(&svc->st->lock);
}

void backend_set_draining(struct lb_backend *b, int draining, const char *why, uint64_t now_ms)
{
	pthread_mutex_lock(&b->svc->st->lock);
	b->st->draining = draining;
	reevaluate(b, why, now_ms);
	pthread_mutex_unlock(&b->svc->st->lock);
}

/* Lock held: b leaves the configuration; its sessions may finish. */
static void retire(struct lb_backend *b, uint64_t now_ms)
{
	if (b->st->removed)
		return;
	clear_trial(b);
	b->st->removed = 1;
	b->st->oidx = SIZE_MAX;
	reevaluate(b, "removed from the configuration", now_ms);
}

/* Lock held: a check's settings changed: its count restarts from the current verdict. */
static void restart_count(struct risefall *rf, const struct conf_check *cc)
{
	risefall_init(rf, cc->rise ? cc->rise : 1, cc->fall ? cc->fall : 1, rf->up);
}

void backend_adopt_generation(
	struct lb_service *svc, const struct lb_service *prev, uint64_t now_ms)
{
	const struct conf_service *sc = svc->conf;
	struct lb_service_state *st = svc->st;
	size_t *from = calloc(sc->nbackends, sizeof(*from));
	struct outlier *o = NULL;

	pthread_mutex_lock(&st->lock);
	st->quiet = 1;
	if (from != NULL) {
		for (size_t j = 0; j < sc->nbackends; j++)
			from[j] = svc->backends[j].st->oidx;
		struct outlier_conf ocf = runtime_outlier_conf(sc);
		o = outlier_remap(st->outlier, &ocf, sc->nbackends, from);
	}
	if (o == NULL) {
		/* Out of memory: the old detector and indexes stay; new backends have none. */
		log_error("service %s: out of memory: outlier detection keeps the old backend set",
			sc->name);
	} else {
		outlier_free(st->outlier);
		st->outlier = o;
	}
	for (size_t k = 0; prev != NULL && k < prev->conf->nbackends; k++)
		if (runtime_backend_by_state(svc, prev->backends[k].st) == NULL)
			retire(&prev->backends[k], now_ms);
	st->conf = sc;
	for (size_t j = 0; j < sc->nbackends; j++) {
		struct lb_backend *b = &svc->backends[j];
		if (o != NULL)
			b->st->oidx = j;
		/* What balancing uses without slow start: a reloaded weight, not the first one. */
		if (sc->slow_start_ms == 0 && atomic_load(&b->st->eff_weight) != b->conf->weight) {
			atomic_store(&b->st->eff_weight, b->conf->weight);
			atomic_fetch_add(&st->weights_gen, 1);
		}
		/* Nothing left that could give the awaited verdict, or no longer asked to wait. */
		if (sc->initial_state == CONF_INITIAL_READY ||
			(!sc->health.liveness.enabled && !sc->health.readiness.enabled))
			b->st->first_pending = 0;
		if (prev != NULL && runtime_backend_by_state(prev, b->st) != NULL) {
			const struct conf_health *oh = &prev->conf->health, *nh = &sc->health;
			if (!conf_check_equal(&oh->liveness, &nh->liveness))
				restart_count(&b->st->live, &nh->liveness);
			if (!conf_check_equal(&oh->readiness, &nh->readiness))
				restart_count(&b->st->ready, &nh->readiness);
		}
		reevaluate(b, "configuration reloaded", now_ms);
	}
	st->cur = svc;
	st->counted = 0;
	st->quiet = 0;
	service_edge(st);
	pthread_mutex_unlock(&st->lock);
	free(from);
}

void backend_retire_service(struct lb_service *svc, uint64_t now_ms)
{
	pthread_mutex_lock(&svc->st->lock);
	svc->st->cur = NULL; /* no "no usable backend" for a service that is gone */
	for (size_t j = 0; j < svc->conf->nbackends; j++)
		retire(&svc->backends[j], now_ms);
	pthread_mutex_unlock(&svc->st->lock);
}
