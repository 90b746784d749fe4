/*
 * DOC: the announcer: the decisions
 *
 * Edges, not levels: the mechanism is told only when a policy's decision flips, plus a
 * re-assertion whenever BIRD may have forgotten (lb/announcer_poll.c: reconnect, `configure`,
 * which resets runtime enable/disable to bird.conf, repaired from the poll of `show
 * protocols`).
 *
 * Per service with an `anycast` section this file keeps a bgp/policy.c policy, feeds it the
 * service's health, applies operator overrides, and hands every announce/withdraw edge to the
 * mechanism (bgp/announce.h) chosen when the announcer was made (lb/announcer_new.c). It
 * publishes a snapshot for other threads (status, metrics) and withdraws everything at
 * shutdown, calling back once the mechanism has applied it.
 *
 * When it runs: on edges in. Every published backend transition and every listener that
 * starts or closes bumps its service's `changes` and wakes the monitor loop
 * (lb_process.on_change -> monitor_changed); announcer_evaluate() then re-reads only the
 * services whose `changes` moved (the others keep the health read last time) and feeds every
 * policy the time. Its one timer serves the policies' deadlines (an announce delay running out,
 * flaps forgotten after a quiet flap_window); the BIRD poll is the other (status, repair).
 */
#include "lb/backend.h"
#include "lb/announcer_impl.h"

#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The longest a graceful shutdown waits for BIRD to confirm the withdrawals. */
#define SHUTDOWN_WAIT 1.0

static void prefixes_text(const struct conf_anycast *ac, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ac->nprefixes && len < cap; i++)
		len += (size_t)snprintf(
			buf + len, cap - len, "%s%s", i ? ", " : "", ac->prefixes[i].text);
}

/* The answer to one of the shutdown's withdrawals came (or never will). */
static void withdrawal_done(void *arg)
{
	struct announcer *a = arg;

	if (a->pending > 0 && --a->pending == 0) {
		ev_timer_stop(a->loop, &a->shutdown_timer);
		ev_feed_event(a->loop, &a->shutdown_timer, EV_TIMER);
	}
}

/*
 * An answer to an edge from before the shutdown: nothing waits for it. Not counted as one of
 * the shutdown's, or an announcement answered late would let the shutdown go on before its
 * withdrawals are confirmed.
 */
static void edge_done(void *arg)
{
	(void)arg;
}

/* Tells the mechanism what the policy decided. */
void ann_apply(struct announcer *a, struct ann_svc *as, int announce)
{
	int shutdown = a->shutting_down;
	void (*done)(void *) = shutdown ? withdrawal_done : edge_done;

	as->applied = announce;
	if (a->mech == NULL)
		return; /* bird_protocol before attach, or out of memory there: re-asserted */
	if (atomic_load(&a->handed_over))
		return; /* the successor's now */
	if (a->mech->ops->apply(a->mech, &as->target, announce, done, a) == 1 && shutdown)
		a->pending++;
}

void announcer_service_health(const struct lb_service *svc, struct anycast_health *h)
{
	memset(h, 0, sizeof(*h));
	/* At least a socket per address (each worker has one of each while it accepts). */
	h->listeners_ok =
		atomic_load(&svc->st->listening) >= svc->conf->nlisten && svc->conf->nlisten > 0;
	for (size_t i = 0; i < svc->conf->nbackends; i++) {
		const struct lb_backend *b = &svc->backends[i];
		h->total++;
		h->total_weight += backend_base_weight(b);
		if (backend_accepts(b)) {
			h->ready++;
			h->ready_weight += backend_base_weight(b);
		}
	}
}

static void log_edge(const struct ann_svc *as, int announce)
{
	char pfx[512];

	prefixes_text(&as->svc->conf->anycast, pfx, sizeof(pfx));
	struct log_field f[] = {LOG_S("service", as->svc->conf->name),
		LOG_S("action", announce ? "announce" : "withdraw"), LOG_S("prefixes", pfx),
		LOG_S("reason", as->pol.reason)};
	log_event(announce ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "anycast", f, 4,
		"service %s: %s %s: %s", as->svc->conf->name, announce ? "announce" : "withdraw",
		pfx, as->pol.reason);
}

void ann_publish(struct announcer *a)
{
	uint64_t now = a->now_ms(a->now_arg);

	pthread_mutex_lock(&a->lock);
	a->published_ms = now;
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		as->shown.announced = anycast_announced(&as->pol); /* in_bird: route_done's */
		as->shown.state = as->pol.state;
		as->shown.override = as->pol.override;
		snprintf(as->shown.reason, sizeof(as->shown.reason), "%s", as->pol.reason);
		as->shown.flaps = as->pol.flaps;
		as->shown.delay_ms = as->pol.delay_ms;
		anycast_save(&as->pol, now, &as->saved);
	}
	pthread_mutex_unlock(&a->lock);
}

/* When as's policy changes by itself, with no new input: UINT64_MAX for never. */
static uint64_t policy_deadline(const struct ann_svc *as)
{
	const struct anycast_policy *p = &as->pol;
	uint64_t d = anycast_next_deadline(p);

	/* Announced with flaps remembered: they are forgotten after a quiet flap_window. */
	if (p->state == ANYCAST_ANNOUNCED && p->withdrew &&
		p->stable_since_ms + p->conf.flap_window_ms < d)
		d = p->stable_since_ms + p->conf.flap_window_ms;
	return d;
}

static void arm_deadline(struct announcer *a, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < a->nsvcs; i++) {
		uint64_t d = policy_deadline(&a->svcs[i]);
		if (d < next)
			next = d;
	}
	if (a->adopt_until_ms != 0 && a->adopt_until_ms < next)
		next = a->adopt_until_ms;
	ev_timer_stop(a->loop, &a->deadline);
	if (next == UINT64_MAX)
		return;
	ev_timer_set(&a->deadline, next > now_ms ? (double)(next - now_ms) / 1000.0 : 0., 0.);
	ev_timer_start(a->loop, &a->deadline);
}

/*
 * A successor's adopted service whose listeners do not all count yet (its workers are starting
 * on the sockets handed over): its decision stands until they do or the grace is over.
 */
static int adopt_waits(const struct announcer *a, const struct ann_svc *as, uint64_t now_ms)
{
	return a->adopt_until_ms != 0 && now_ms < a->adopt_until_ms && !as->h.listeners_ok;
}

/* After an adoption or a failed upgrade: every decision made true again (idempotent for both). */
static void reassert_all(struct announcer *a)
{
	if (!a->reassert)
		return;
	a->reassert = 0;
	log_info("bgp: re-asserting the decisions of %zu services (taken over, or an upgrade "
		 "failed)",
		a->nsvcs);
	for (size_t i = 0; i < a->nsvcs; i++)
		ann_apply(a, &a->svcs[i], a->svcs[i].applied);
}

void announcer_evaluate(struct announcer *a, uint64_t now_ms)
{
	int waiting = 0;

	/* Handed over: the successor decides; this one's closed listeners are no news. */
	if (a == NULL || a->shutting_down || atomic_load(&a->handed_over))
		return;
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		/* Read before the scan: a change during it moves `changes` again and wakes us. */
		uint64_t changes = atomic_load(&as->svc->st->changes);
		if (as->stale || changes != as->seen_changes) {
			as->stale = 0;
			as->seen_changes = changes;
			announcer_service_health(as->svc, &as->h);
		}
		if (adopt_waits(a, as, now_ms)) {
			waiting = 1;
			continue;
		}
		if (anycast_update(&as->pol, &as->h, now_ms)) {
			int announce = anycast_announced(&as->pol);
			log_edge(as, announce);
			ann_apply(a, as, announce);
		}
	}
	if (!waiting)
		a->adopt_until_ms = 0;
	reassert_all(a);
	arm_deadline(a, now_ms);
	ann_publish(a);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct announcer *a = container_of(t, struct announcer, deadline);
	(void)loop;
	(void)revents;

	announcer_evaluate(a, a->now_ms(a->now_arg));
}

struct ann_svc *ann_find_svc(struct announcer *a, const char *name)
{
	for (size_t i = 0; i < a->nsvcs; i++)
		if (strcmp(a->svcs[i].name, name) == 0)
			return &a->svcs[i];
	return NULL;
}

void announcer_switch(struct announcer *a, struct lb_runtime *rt)
{
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct lb_service *svc = runtime_service(rt, a->svcs[i].name);
		/* conf_reload_check() refuses a reload that adds or removes anycast services. */
		if (svc != NULL) {
			a->svcs[i].svc = svc;
			a->svcs[i].stale = 1;
		}
	}
	a->rt = rt;
}

int announcer_status(struct announcer *a, const char *name, struct announcer_status *out)
{
	struct ann_svc *as = a != NULL ? ann_find_svc(a, name) : NULL;

	if (as == NULL)
		return -ENOENT;
	pthread_mutex_lock(&a->lock);
	*out = as->shown;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int announcer_override(struct announcer *a, const char *name, int override)
{
	struct ann_svc *as = a != NULL ? ann_find_svc(a, name) : NULL;

	if (as == NULL)
		return -ENOENT;
	pthread_mutex_lock(&a->lock);
	as->want_override = override;
	pthread_mutex_unlock(&a->lock);
	ev_async_send(a->loop, &a->wake);
	return 0;
}

/* On the announcer's loop: applies the overrides other threads asked for. */
static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct announcer *a = container_of(w, struct announcer, wake);
	(void)loop;
	(void)revents;

	pthread_mutex_lock(&a->lock);
	if (a->failed_upgrade) {
		a->failed_upgrade = 0;
		a->reassert = 1;
	}
	if (a->rearmed) {
		a->rearmed = 0;
		for (size_t i = 0; i < a->nsvcs; i++) {
			struct ann_svc *as = &a->svcs[i];
			/* The addresses went with the old interface: withdrawn, whatever we said.
			 */
			struct anycast_policy_conf pc = as->pol.conf; /* init clears pol */
			anycast_init(&as->pol, &pc);
			anycast_set_name(&as->pol, as->svc->conf->name);
			as->applied = 0;
		}
		log_warn("bgp: interface %s recreated: services announce again after "
			 "announce_delay of health",
			a->bgp->interface);
	}
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		if (as->want_override < 0)
			continue;
		anycast_set_override(&as->pol, (enum anycast_override)as->want_override);
		if (as->want_override == ANYCAST_OVERRIDE_NONE)
			log_info("service %s: operator override cleared: health decides",
				as->svc->conf->name);
		else
			log_info("service %s: operator %s", as->svc->conf->name,
				anycast_override_name((enum anycast_override)as->want_override));
		as->want_override = -1;
	}
	pthread_mutex_unlock(&a->lock);
	announcer_evaluate(a, a->now_ms(a->now_arg));
}

static void shutdown_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct announcer *a = container_of(t, struct announcer, shutdown_timer);
	(void)loop;
	(void)revents;

	if (a->pending > 0)
		log_warn("bgp: BIRD did not confirm %u withdrawals in time", a->pending);
	a->pending = 0;
	if (a->done != NULL) {
		void (*done)(void *) = a->done;
		a->done = NULL;
		done(a->done_arg);
	}
}

void announcer_shutdown(struct announcer *a, void (*done)(void *arg), void *arg)
{
	a->done = done;
	a->done_arg = arg;
	a->shutting_down = 1;
	ann_poll_stop(a);
	ev_timer_stop(a->loop, &a->deadline);
	for (size_t i = 0; i < a->nsvcs && !atomic_load(&a->handed_over); i++) {
		struct ann_svc *as = &a->svcs[i];
		if (anycast_shutdown(&as->pol) || as->applied) {
			log_edge(as, 0);
			ann_apply(a, as, 0);
		}
	}
	ann_publish(a); /* status shows the withdrawals through the grace, not the last decision */
	/* Interface mode is done already (netlink is synchronous); BIRD answers later. */
	ev_timer_init(&a->shutdown_timer, shutdown_timer_cb, a->pending ? SHUTDOWN_WAIT : 0., 0.);
	ev_timer_start(a->loop, &a->shutdown_timer);
}

void ann_start(struct announcer *a)
{
	ev_async_init(&a->wake, wake_cb);
	ev_async_start(a->loop, &a->wake);
	ann_publish(a);
	/* The first evaluation, as soon as the loop runs; then edges and deadlines. */
	ev_timer_init(&a->deadline, deadline_cb, 0., 0.);
	ev_timer_start(a->loop, &a->deadline);
}

void ann_stop(struct announcer *a)
{
	ev_async_stop(a->loop, &a->wake);
	ev_timer_stop(a->loop, &a->deadline);
	ev_timer_stop(a->loop, &a->shutdown_timer);
}
