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
 *
 * The drain ladder (bgp/ladder.h): each service also keeps a ladder, moved by the operator
 * (announcer_drain) and by time. What the mechanism holds is the policy's decision seen through
 * the ladder (ladder_level): announced, announced de-preferred (bird_protocol's P_drain
 * protocol; interface mode cannot, so there the ladder withdraws at once), or withdrawn. A
 * service that health withdrew is never announced by the ladder. While a ladder is withdrawn
 * and serving the sessions peers forward back, the deadline timer looks at the service's active
 * sessions every LADDER_POLL_MS, since a session's end is no edge the announcer hears of.
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
/* How often a withdrawn ladder looks whether its sessions are over. */
#define LADDER_POLL_MS 1000

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

	as->applied = announce & ANNOUNCE_LEVEL_MASK;
	if (as->applied == ANNOUNCE_DEPREFERRED) {
		as->drain_used = 1;
	} else if (as->drain_used) {
		announce |= ANNOUNCE_DRAIN_OFF;
		as->drain_used = 0;
	}
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

static void log_edge(const struct ann_svc *as, int level)
{
	char pfx[512];
	const char *action = level == ANNOUNCE_DEPREFERRED ? "announce de-preferred"
			     : level                       ? "announce"
							   : "withdraw";
	/* The ladder's reason when it is what decided. */
	const char *why = anycast_announced(&as->pol) && as->lad.step != LADDER_ANNOUNCED
				  ? as->lad.reason
				  : as->pol.reason;

	prefixes_text(&as->svc->conf->anycast, pfx, sizeof(pfx));
	struct log_field f[] = {LOG_S("service", as->svc->conf->name), LOG_S("action", action),
		LOG_S("prefixes", pfx), LOG_S("reason", why)};
	log_event(level ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "anycast", f, 4, "service %s: %s %s: %s",
		as->svc->conf->name, action, pfx, why);
}

static void log_ladder(const struct ann_svc *as)
{
	struct log_field f[] = {LOG_S("service", as->svc->conf->name),
		LOG_S("ladder", ladder_step_name(as->lad.step)), LOG_S("reason", as->lad.reason)};
	log_event(LOG_LEVEL_INFO, "anycast", f, 3, "service %s: drain ladder %s: %s",
		as->svc->conf->name, ladder_step_name(as->lad.step), as->lad.reason);
}

int announcer_can_deprefer(const struct announcer *a)
{
	if (a == NULL)
		return 0;
	if (a->mech != NULL)
		return a->mech->ops->can_deprefer;
	return a->bgp->announce == CONF_ANNOUNCE_BIRD_PROTOCOL; /* made at attach */
}

/* What the mechanism should hold for as now: the policy's decision through the ladder. */
static int want_level(const struct announcer *a, const struct ann_svc *as)
{
	int level = ladder_level(&as->lad, anycast_announced(&as->pol));

	return level == ANNOUNCE_DEPREFERRED && !announcer_can_deprefer(a) ? ANNOUNCE_WITHDRAW
									   : level;
}

void ann_publish(struct announcer *a)
{
	uint64_t now = a->now_ms(a->now_arg);

	pthread_mutex_lock(&a->lock);
	a->published_ms = now;
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		/* What the mechanism holds: the policy's through the ladder. in_bird: route_done's
		 */
		as->shown.announced = as->applied != ANNOUNCE_WITHDRAW;
		as->shown.state = as->pol.state;
		as->shown.override = as->pol.override;
		snprintf(as->shown.reason, sizeof(as->shown.reason), "%s", as->pol.reason);
		as->shown.flaps = as->pol.flaps;
		as->shown.delay_ms = as->pol.delay_ms;
		anycast_save(&as->pol, now, &as->saved);
		as->shown.level = as->applied;
		as->shown.ladder_step = (int)as->lad.step;
		as->shown.ladder_left_ms = ladder_left_ms(&as->lad, now);
		as->shown.ladder_deadline_ms = ladder_deadline(&as->lad);
		as->shown.ladder_window_ms = as->lad.window_ms;
		as->shown.ladder_timeout_ms = as->lad.drain_timeout_ms;
		snprintf(as->shown.ladder_reason, sizeof(as->shown.ladder_reason), "%s",
			as->lad.reason);
		as->lad_saved = as->lad;
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
	uint64_t l = ladder_deadline(&as->lad);
	if (l < d)
		d = l;
	return d;
}

static void arm_deadline(struct announcer *a, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < a->nsvcs; i++) {
		uint64_t d = policy_deadline(&a->svcs[i]);
		if (a->svcs[i].lad.step == LADDER_WITHDRAWN && now_ms + LADDER_POLL_MS < d)
			d = now_ms + LADDER_POLL_MS; /* are its sessions over? */
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
		int edge = anycast_update(&as->pol, &as->h, now_ms);
		uint64_t sessions = atomic_load(&as->svc->st->active);
		for (int k = 0; k < 3 && ladder_tick(&as->lad, sessions, now_ms); k++)
			log_ladder(as);
		int level = want_level(a, as);
		/* An edge under a withdrawn ladder changes nothing the mechanism holds. */
		if (level != as->applied || (edge && as->lad.step == LADDER_ANNOUNCED)) {
			log_edge(as, level);
			ann_apply(a, as, level);
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
	out->drained = as->want_drain >= 0 ? as->want_drain : out->ladder_step != LADDER_ANNOUNCED;
	pthread_mutex_unlock(&a->lock);
	/* The time left as of now, not of the last evaluation (none may come until the end). */
	uint64_t now = a->now_ms(a->now_arg);
	if (out->ladder_deadline_ms != UINT64_MAX)
		out->ladder_left_ms =
			out->ladder_deadline_ms > now ? out->ladder_deadline_ms - now : 0;
	return 0;
}

int announcer_drain(struct announcer *a, const char *name, int drain, uint64_t window_ms)
{
	size_t hit = 0;

	if (a == NULL)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		if (name != NULL && strcmp(as->name, name) != 0)
			continue;
		as->want_drain = drain ? 1 : 0;
		as->want_window_ms = window_ms;
		hit++;
	}
	pthread_mutex_unlock(&a->lock);
	if (hit == 0)
		return -ENOENT;
	if (a->loop != NULL)
		ev_async_send(a->loop, &a->wake);
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
	uint64_t now = a->now_ms(a->now_arg);
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		int changed;
		if (as->want_drain < 0)
			continue;
		if (as->want_drain) {
			uint64_t win = as->want_window_ms != UINT64_MAX ? as->want_window_ms
									: a->bgp->drain_window_ms;
			if (!announcer_can_deprefer(a))
				win = 0; /* interface mode: nothing to announce de-preferred with */
			changed = ladder_drain(
				&as->lad, win, a->rt->conf->global.drain_timeout_ms, now);
		} else {
			changed = ladder_undrain(&as->lad, now);
		}
		if (changed)
			log_ladder(as);
		as->want_drain = -1;
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
