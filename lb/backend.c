/*
 * DOC: backend state, published
 *
 * The state machine is health/backend_health.c's, pure. Each input here takes the service lock,
 * hands the event to it, publishes what it keeps (the state, the effective weight and the trial
 * offer) with atomics for the workers, and only then logs the transitions it reported and
 * routes them: a backend gone dead has its sessions closed (lb_process.on_dead), and the
 * service-level edge "no usable backend" / "usable again" is looked at. The announcer reads the
 * published states (every published change bumps the service's `changes` and wakes the announcer).
 */
#include "lb/backend.h"

#include "lib/clock.h"
#include "lib/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A certificate closer to expiry than this is worth a warning. */
#define CERT_WARN_SECONDS (14 * 24 * 3600)

/* What the machine needs to know of b's service for one event. Lock held. */
static struct bh_ctx ctx_of(const struct lb_backend *b)
{
	return (struct bh_ctx){
		.sc = b->svc->st->conf,
		.gen = b->svc->conf,
		.o = b->svc->st->outlier,
		.weight = b->conf->weight,
	};
}

static void service_panic(struct lb_service_state *ss);

/* Lock held: does bs count as ready for the service (state ready, and not weight 0)? */
static int counts_ready(const struct lb_backend_state *bs, enum backend_state st)
{
	return st == BACKEND_READY && !(bs->h.weight_set && bs->h.weight == 0);
}

/* Lock held: recounts the ready and waiting backends of the monitor's generation. */
static void service_recount(struct lb_service_state *ss)
{
	ss->nready = ss->npending = 0;
	for (size_t i = 0; i < ss->cur->conf->nbackends; i++) {
		const struct lb_backend_state *bs = ss->cur->backends[i].st;
		ss->nready += counts_ready(bs, (enum backend_state)atomic_load(&bs->state));
		ss->npending += bs->h.first_pending != 0;
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
		size_t count[BACKEND_MAINT + 1] = {0};
		char census[160];
		int len = 0;
		for (size_t i = 0; i < n; i++) {
			int st = atomic_load(&svc->backends[i].st->state);
			if (st >= 0 && st <= BACKEND_MAINT)
				count[st]++;
		}
		/* 0: NAME:PORT entries without an answer yet (conf/resolved.h). */
		snprintf(census, sizeof(census), "%s", n == 0 ? "no address resolved yet" : "");
		for (int st = 0; st <= BACKEND_MAINT; st++) {
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
	service_panic(ss);
}

/*
 * Lock held. Panic mode (panic_threshold): when fewer than that share of the backends the
 * operator has not taken out (drain, maint, weight 0) are ready (and start-up is over), the
 * workers spread new sessions over every backend that is neither dead nor taken out, rather
 * than refuse nearly everyone. Published for the workers; logged once on entry and once on
 * exit.
 */
static void service_panic(struct lb_service_state *ss)
{
	const struct lb_service *svc = ss->cur;
	unsigned pct = svc->conf->panic_threshold_pct;
	size_t eligible = 0, n = svc->conf->nbackends;
	int was = atomic_load(&ss->panic), now = 0;

	if (pct > 0 && ss->npending == 0) {
		for (size_t i = 0; i < n; i++)
			eligible += backend_accepts_in_panic(&svc->backends[i]) ||
				    backend_is_dead(&svc->backends[i]);
		now = eligible > 0 && ss->nready * 100 < (size_t)pct * eligible;
	}
	if (now == was)
		return;
	atomic_store(&ss->panic, now);
	if (now && atomic_load(&ss->queue.len) > 0)
		queue_grant(&ss->queue); /* more backends to spread over */
	struct log_field f[] = {LOG_S("service", svc->conf->name),
		LOG_S("action", now ? "enter" : "exit"), LOG_N("ready", ss->nready),
		LOG_N("backends", eligible), LOG_N("threshold_pct", pct)};
	if (now)
		log_event(LOG_LEVEL_WARN, "panic", f, 5,
			"service %s: panic: %zu of %zu backends ready, below panic_threshold %u%%: "
			"new sessions go to every backend that is not dead",
			svc->conf->name, ss->nready, eligible, pct);
	else
		log_event(LOG_LEVEL_INFO, "panic", f, 5,
			"service %s: panic over: %zu of %zu backends ready (panic_threshold %u%%)",
			svc->conf->name, ss->nready, eligible, pct);
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

/* Lock held: the trial offer as the machine has it, published with the service's count. */
static void publish_offer(struct lb_backend *b, const struct bh_ctx *c)
{
	int one = 1;

	if (bh_trial_offered(&b->st->h, c)) {
		if (atomic_exchange(&b->st->trial, 1) == 0)
			atomic_fetch_add(&b->svc->st->trials, 1);
	} else if (atomic_compare_exchange_strong(&b->st->trial, &one, 0)) {
		atomic_fetch_sub(&b->svc->st->trials, 1);
	}
}

/*
 * Lock held. Publishes what the machine keeps for b after one event (state, weight, trial
 * offer), then logs each transition and note of out, in order, and routes them. first: the
 * event gave the first verdict a backend held by initial_state was waiting for.
 */
static void log_transition(
	const struct lb_backend *b, const struct conf_service *sc, const struct bh_note *n)
{
	struct log_field f[] = {LOG_S("service", sc->name), LOG_S("backend", b->conf->address),
		LOG_S("from", backend_state_name(n->old)), LOG_S("to", backend_state_name(n->new)),
		LOG_S("reason", n->reason)};

	log_event(n->new == BACKEND_READY ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "backend_state", f, 5,
		"backend %s (%s): %s -> %s: %s", b->conf->address, sc->name,
		backend_state_name(n->old), backend_state_name(n->new), n->reason);
}

static void publish(
	struct lb_backend *b, const struct bh_ctx *c, const struct bh_out *out, int first)
{
	struct lb_backend_state *bs = b->st;
	const struct conf_service *sc = b->svc->st->conf;
	enum backend_state was = (enum backend_state)atomic_load(&bs->state), st = bs->h.state;
	int dead = 0, moved = 0;

	/* Before the weights generation moves: a worker that sees it reads the new weight. */
	atomic_store(&bs->runtime_weight, bs->h.weight_set ? (int)bs->h.weight : -1);
	if (out->weight_changed) {
		atomic_store(&bs->eff_weight, bs->h.eff_weight);
		atomic_fetch_add(&b->svc->st->weights_gen, 1);
	}
	if (out->ejected)
		atomic_fetch_add(&bs->ejections, 1);
	atomic_store(&bs->state, (int)st);
	if (st != was) {
		atomic_fetch_add(&bs->state_changes, 1);
		atomic_store(&bs->state_changed_ms, clock_wall_ms());
	}
	/* Room where there was none: the oldest waiting client tries (and grants the next). */
	if (st == BACKEND_READY && was != BACKEND_READY && atomic_load(&b->svc->st->queue.len) > 0)
		queue_grant(&b->svc->st->queue);
	publish_offer(b, c);

	for (size_t i = 0; i < out->n; i++) {
		const struct bh_note *n = &out->note[i];
		switch (n->kind) {
		case BH_TRANSITION:
			log_transition(b, sc, n);
			dead |= n->new == BACKEND_DEAD;
			moved = 1;
			break;
		case BH_TRIAL_OFFER:
			log_info("backend %s (%s): ejection over: offering one trial session",
				b->conf->address, b->svc->conf->name);
			break;
		case BH_FIRST_FAILED:
			log_warn("backend %s (%s): %s", b->conf->address, sc->name, n->reason);
			break;
		case BH_WEIGHT_DROPPED:
			log_info("backend %s (%s): reload: %s", b->conf->address, sc->name,
				n->reason);
			break;
		}
	}
	if (first)
		service_count(b, 0, -1);
	if (counts_ready(bs, was) != counts_ready(bs, st))
		service_count(b, counts_ready(bs, st) ? 1 : -1, 0);
	if (moved || first)
		service_edge(b->svc->st); /* the last awaited verdict may end start-up */
	if (was != st)
		runtime_service_changed(b->svc); /* the announcer hears of the edge */
	if (dead) {
		struct lb_process *proc = b->svc->rt != NULL ? b->svc->rt->proc : NULL;
		if (proc != NULL && proc->on_dead != NULL)
			proc->on_dead(proc->on_dead_arg);
	}
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
int backend_check_result(struct lb_backend *b, enum backend_check which,
	const struct check_result *r, uint64_t now_ms)
{
	struct lb_check_stats *st = &b->st->checks[which];
	uint64_t us = r->duration > 0 ? (uint64_t)(r->duration * 1e6) : 0;
	uint64_t at = clock_wall_ms();
	struct bh_out out;
	int changing;

	atomic_fetch_add(r->ok ? &st->ok : &st->failed, 1);
	atomic_fetch_add(&st->duration_sum_us, us);
	atomic_fetch_add(&st->duration_hist[lb_bucket(lb_connect_bounds, LB_CHECK_BUCKETS,
				 r->duration > 0 ? r->duration : 0)],
		1);

	pthread_mutex_lock(&b->svc->st->lock);
	struct lb_check_last *last = &b->st->last[which];
	last->at_ms = at;
	last->duration_us = us;
	last->ok = r->ok != 0;
	snprintf(last->reason, sizeof(last->reason), "%s", r->ok ? "ok" : r->reason);
	note_certificate(b, r);
	struct bh_ctx c = ctx_of(b);
	int pending = b->st->h.first_pending;
	changing = bh_check_result(&b->st->h, &c, which, r->ok, r->reason, now_ms, &out);
	publish(b, &c, &out, pending && !b->st->h.first_pending);
	pthread_mutex_unlock(&b->svc->st->lock);
	return changing;
}

void backend_session_outcome(
	struct lb_backend *b, int ok, int was_trial, const char *why, uint64_t now_ms)
{
	struct bh_out out;

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
	struct bh_ctx c = ctx_of(b);
	bh_session_outcome(&b->st->h, &c, ok, was_trial, why, now_ms, &out);
	publish(b, &c, &out, 0);
	pthread_mutex_unlock(&b->svc->st->lock);
}

void backend_trial_abandoned(struct lb_backend *b)
{
	pthread_mutex_lock(&b->svc->st->lock);
	struct bh_ctx c = ctx_of(b);
	bh_trial_abandoned(&b->st->h, &c);
	publish_offer(b, &c);
	pthread_mutex_unlock(&b->svc->st->lock);
}

int backend_take_trial(struct lb_service *svc, int (*usable)(void *arg, size_t i), void *arg)
{
	if (atomic_load_explicit(&svc->st->trials, memory_order_relaxed) == 0)
		return -1;
	for (size_t i = 0; i < svc->conf->nbackends; i++) {
		struct lb_backend *b = &svc->backends[i];
		if (atomic_load_explicit(&b->st->trial, memory_order_relaxed) == 0 ||
			!usable(arg, i))
			continue;
		/* The offer is published under the lock only: the machine and it never differ. */
		pthread_mutex_lock(&svc->st->lock);
		struct bh_ctx c = ctx_of(b);
		int taken = bh_take_trial(&b->st->h, &c);
		publish_offer(b, &c);
		pthread_mutex_unlock(&svc->st->lock);
		if (taken)
			return (int)i;
	}
	return -1;
}

struct tick_arg {
	struct lb_service *svc;
	uint64_t now_ms;
};

/* Lock held: backend i of the outlier detector has its ejection over. */
static void tick_event(void *arg, size_t i, enum outlier_event ev)
{
	struct tick_arg *t = arg;
	struct bh_out out;

	if (ev != OUTLIER_EV_TRIAL)
		return;
	for (size_t j = 0; j < t->svc->conf->nbackends; j++) {
		struct lb_backend *b = &t->svc->backends[j];
		if (b->st->h.oidx != i)
			continue;
		struct bh_ctx c = ctx_of(b);
		bh_ejection_over(&b->st->h, &c, t->now_ms, &out);
		publish(b, &c, &out, 0);
	}
}

void backend_tick(struct lb_service *svc, uint64_t now_ms)
{
	struct tick_arg t = {.svc = svc, .now_ms = now_ms};
	struct bh_out out;

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
	outlier_tick(svc->st->outlier, now_ms, tick_event, &t);
	if (svc->conf->slow_start_ms > 0) {
		for (size_t i = 0; i < svc->conf->nbackends; i++) {
			struct lb_backend *b = &svc->backends[i];
			struct bh_ctx c = ctx_of(b);
			c.sc = svc->conf; /* the ramp of the generation the monitor runs */
			bh_tick(&b->st->h, &c, now_ms, &out);
			publish(b, &c, &out, 0);
		}
	}
	pthread_mutex_unlock(&svc->st->lock);
}

void backend_set_draining(struct lb_backend *b, int draining, const char *why, uint64_t now_ms)
{
	struct bh_out out;

	pthread_mutex_lock(&b->svc->st->lock);
	struct bh_ctx c = ctx_of(b);
	int was = b->st->h.draining;
	enum backend_state before = b->st->h.state;
	bh_set_draining(&b->st->h, &c, draining, why, now_ms, &out);
	publish(b, &c, &out, 0);
	/* A drain hidden by another state (dead) is still a change of what a state file keeps. */
	if (was != b->st->h.draining && before == b->st->h.state)
		runtime_service_changed(b->svc);
	pthread_mutex_unlock(&b->svc->st->lock);
}

void backend_set_maint(struct lb_backend *b, int maint, const char *why, uint64_t now_ms)
{
	struct bh_out out;

	pthread_mutex_lock(&b->svc->st->lock);
	struct bh_ctx c = ctx_of(b);
	int was = b->st->h.maint;
	enum backend_state before = b->st->h.state;
	bh_set_maint(&b->st->h, &c, maint, why, now_ms, &out);
	publish(b, &c, &out, 0);
	/* Maint hidden by dead is still a change of what a state file keeps. */
	if (was != b->st->h.maint && before == b->st->h.state)
		runtime_service_changed(b->svc);
	pthread_mutex_unlock(&b->svc->st->lock);
}

unsigned backend_set_weight(struct lb_backend *b, unsigned weight, uint64_t now_ms)
{
	struct lb_service_state *ss = b->svc->st;
	struct bh_out out;

	pthread_mutex_lock(&ss->lock);
	struct bh_ctx c = ctx_of(b);
	unsigned old = bh_weight(&b->st->h, &c);
	bh_set_weight(&b->st->h, &c, weight, now_ms, &out);
	publish(b, &c, &out, 0);
	/* Weight 0 counts as not ready for the service's edges and panic: count again. */
	ss->counted = 0;
	service_edge(ss);
	if (old == 0 && weight > 0 && b->st->h.state == BACKEND_READY &&
		atomic_load(&ss->queue.len) > 0)
		queue_grant(&ss->queue);
	runtime_service_changed(b->svc); /* the state file keeps it; the announcer weighs it */
	pthread_mutex_unlock(&ss->lock);
	struct lb_process *proc = b->svc->rt != NULL ? b->svc->rt->proc : NULL;
	if (proc != NULL && proc->on_weights != NULL)
		proc->on_weights(proc->on_weights_arg);
	return old;
}

void backend_restore_health(struct lb_backend *b, const struct bh_saved_check saved[2],
	const struct bh_saved_extra *extra, const char *why, uint64_t now_ms)
{
	struct bh_out out;

	pthread_mutex_lock(&b->svc->st->lock);
	struct bh_ctx c = ctx_of(b);
	int pending = b->st->h.first_pending;
	bh_restore(&b->st->h, &c, saved, extra, why, now_ms, &out);
	publish(b, &c, &out, pending && !b->st->h.first_pending);
	pthread_mutex_unlock(&b->svc->st->lock);
}

/* Lock held: b leaves the configuration; its sessions may finish. */
static void retire(struct lb_backend *b, uint64_t now_ms)
{
	struct bh_ctx c = ctx_of(b);
	struct bh_out out;

	bh_retire(&b->st->h, &c, now_ms, &out);
	publish(b, &c, &out, 0);
}

void backend_adopt_generation(
	struct lb_service *svc, const struct lb_service *prev, uint64_t now_ms)
{
	const struct conf_service *sc = svc->conf;
	struct lb_service_state *st = svc->st;
	size_t *from = calloc(sc->nbackends > 0 ? sc->nbackends : 1, sizeof(*from));
	struct outlier *o = NULL;
	struct bh_out out;

	pthread_mutex_lock(&st->lock);
	st->quiet = 1;
	if (from != NULL) {
		for (size_t j = 0; j < sc->nbackends; j++)
			from[j] = svc->backends[j].st->h.oidx;
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
	runtime_retired_prune(st);
	for (size_t k = 0; prev != NULL && k < prev->conf->nbackends; k++) {
		struct lb_backend *b = &prev->backends[k];
		if (runtime_backend_by_state(svc, b->st) != NULL)
			continue;
		retire(b, now_ms);
		if (atomic_load(&b->st->active) > 0) /* shown draining while its sessions run */
			runtime_retired_add(st, b->st, b->conf->address);
	}
	st->conf = sc;
	for (size_t j = 0; j < sc->nbackends; j++) {
		struct lb_backend *b = &svc->backends[j];
		int kept = prev != NULL && runtime_backend_by_state(prev, b->st) != NULL;
		struct bh_ctx c = ctx_of(b);
		bh_adopt(&b->st->h, &c, o != NULL ? j : SIZE_MAX, kept ? &prev->conf->health : NULL,
			now_ms, &out);
		publish(b, &c, &out, 0);
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
