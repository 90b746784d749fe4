/*
 * DOC: the announcer
 *
 * Edges, not levels: the mechanism is told only when a policy's decision flips, plus a
 * re-assertion whenever BIRD may have forgotten (reconnect, `configure`, which resets runtime
 * enable/disable to bird.conf). In bird_protocol mode the poll of `show protocols` compares
 * BIRD's view of each service's static protocol with the decision and repairs a difference,
 * so a restarted or reconfigured BIRD is back in the desired state within one poll period.
 *
 * The mechanism (interface or bird_protocol) is chosen once, when the announcer is made, and is
 * reached through its ops table (bgp/announce.h) from then on.
 *
 * When it runs: on edges in, too. Every published backend transition and every listener that
 * starts or closes bumps its service's `changes` and wakes the monitor loop
 * (lb_process.on_change -> monitor_changed); announcer_evaluate() then re-reads only the
 * services whose `changes` moved (the others keep the health read last time) and feeds every
 * policy the time. Its one timer serves the policies' deadlines (an announce delay running out,
 * flaps forgotten after a quiet flap_window); the BIRD poll is the other (status, repair).
 */
#include "lb/announcer.h"

#include "bgp/announce.h"
#include "bgp/bird_client.h"
#include "bgp/bird_reply.h"
#include "bgp/policy.h"
#include "bgp/watchdog.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often BIRD's protocol table is read. */
#define BIRD_POLL 0.5
/* The longest a graceful shutdown waits for BIRD to confirm the withdrawals. */
#define SHUTDOWN_WAIT 1.0
#define MAX_PROTOCOLS 256

struct ann_svc;

/* One `show route for PREFIX` in flight: which service and prefix it is about. */
struct route_q {
	struct ann_svc *as;
	unsigned idx;
};

struct ann_svc {
	struct route_q *rq; /* one per prefix */
	struct announcer *a;
	struct announce_prefix *pfx;   /* the prefixes of base's configuration */
	struct announce_target target; /* what the mechanism is told about */
	struct lb_service *svc;        /* in the monitor's generation; announcer's loop only */
	char name[CONF_NAME_MAX + 1];  /* the service's, for other threads' lookups */
	struct anycast_policy pol;
	int applied; /* what the mechanism was last told: 1 announce, 0 withdraw */
	/* The service's health as last read, and the `changes` it was read at. */
	struct anycast_health h;
	uint64_t seen_changes;
	int stale; /* read it again whatever `changes` says (start, a new generation) */
	/* Guarded by announcer.lock: what other threads see, and what they ask. */
	struct announcer_status shown;
	int want_override; /* -1: none pending */
};

struct announcer {
	struct lb_runtime *rt;
	const struct conf_bgp *bgp; /* of base, immutable: read by any thread */
	struct lb_runtime *base;    /* the generation the announcer was created with */
	struct watchdog_ids wd_ids; /* global.user's: what every watchdog runs as */
	int wd_drop;                /* global.user is set: wd_ids holds its ids */
	struct ev_loop *loop;
	struct ann_svc *svcs;
	size_t nsvcs;

	struct announce_mech *mech;      /* interface: from announcer_new; bird_protocol: attach */
	struct announce_target *targets; /* every service's, for the interface mechanism (lo) */

	struct bird_client *bird;
	ev_timer
		deadline; /* the policies' next deadline: an announce delay over, flaps forgotten */
	ev_timer poll;
	int poll_pending;
	unsigned routes_pending;      /* `show route for` replies still to come */
	struct bird_protocol *protos; /* last `show protocols`, for change logs */
	size_t nprotos;

	pthread_mutex_t lock; /* guards the shown/want_override fields, protos, bird_up */
	ev_async wake;        /* an override was asked for, or the interface was recreated */
	int bird_up;
	int rearmed; /* the interface was recreated: start over from withdrawn */

	int shutting_down;
	unsigned pending; /* BIRD commands of the shutdown not answered yet */
	ev_timer shutdown_timer;
	void (*done)(void *arg);
	void *done_arg;
};

static void prefixes_text(const struct conf_anycast *ac, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ac->nprefixes && len < cap; i++)
		len += (size_t)snprintf(
			buf + len, cap - len, "%s%s", i ? ", " : "", ac->prefixes[i].text);
}

/* A mechanism's answer came (or never will): the shutdown may be waiting for it. */
static void apply_done(void *arg)
{
	struct announcer *a = arg;

	if (a->shutting_down && a->pending > 0 && --a->pending == 0) {
		ev_timer_stop(a->loop, &a->shutdown_timer);
		ev_feed_event(a->loop, &a->shutdown_timer, EV_TIMER);
	}
}

/* Tells the mechanism what the policy decided. */
static void apply(struct announcer *a, struct ann_svc *as, int announce)
{
	as->applied = announce;
	if (a->mech == NULL)
		return; /* bird_protocol before attach, or out of memory there: re-asserted */
	if (a->mech->ops->apply(a->mech, &as->target, announce, apply_done, a) == 1 &&
		a->shutting_down)
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
		h->total_weight += b->conf->weight;
		if (atomic_load_explicit(&b->st->state, memory_order_relaxed) == BACKEND_READY) {
			h->ready++;
			h->ready_weight += b->conf->weight;
		}
	}
}

static void log_edge(const struct ann_svc *as, int announce)
{
	char pfx[512];

	prefixes_text(&as->svc->conf->anycast, pfx, sizeof(pfx));
	log_msg(announce ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "service %s: %s %s: %s",
		as->svc->conf->name, announce ? "announce" : "withdraw", pfx, as->pol.reason);
}

/* Publishes the policies' state for other threads. */
static void publish(struct announcer *a)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		as->shown.announced = anycast_announced(&as->pol); /* in_bird: route_done's */
		as->shown.state = as->pol.state;
		as->shown.override = as->pol.override;
		snprintf(as->shown.reason, sizeof(as->shown.reason), "%s", as->pol.reason);
		as->shown.flaps = as->pol.flaps;
		as->shown.delay_ms = as->pol.delay_ms;
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
	ev_timer_stop(a->loop, &a->deadline);
	if (next == UINT64_MAX)
		return;
	ev_timer_set(&a->deadline, next > now_ms ? (double)(next - now_ms) / 1000.0 : 0., 0.);
	ev_timer_start(a->loop, &a->deadline);
}

void announcer_evaluate(struct announcer *a, uint64_t now_ms)
{
	if (a == NULL || a->shutting_down)
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
		if (anycast_update(&as->pol, &as->h, now_ms)) {
			int announce = anycast_announced(&as->pol);
			log_edge(as, announce);
			apply(a, as, announce);
		}
	}
	arm_deadline(a, now_ms);
	publish(a);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct announcer *a = container_of(t, struct announcer, deadline);
	(void)loop;
	(void)revents;

	announcer_evaluate(a, clock_ms());
}

static struct ann_svc *find_svc(struct announcer *a, const char *name)
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
	struct ann_svc *as = a != NULL ? find_svc(a, name) : NULL;

	if (as == NULL)
		return -ENOENT;
	pthread_mutex_lock(&a->lock);
	*out = as->shown;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

size_t announcer_protocols(
	struct announcer *a, struct bird_protocol *out, size_t cap, int *connected)
{
	size_t n;

	if (a == NULL) {
		*connected = 0;
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	n = a->nprotos;
	if (n > 0 && cap > 0)
		memcpy(out, a->protos, (n < cap ? n : cap) * sizeof(*out));
	*connected = a->bird_up;
	pthread_mutex_unlock(&a->lock);
	return n;
}

int announcer_override(struct announcer *a, const char *name, int override)
{
	struct ann_svc *as = a != NULL ? find_svc(a, name) : NULL;

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
	announcer_evaluate(a, clock_ms());
}

/* Re-sends every decision: BIRD may have restarted or been reconfigured. */
static void reassert(struct announcer *a, const char *why)
{
	if (a->mech == NULL || !a->mech->ops->kept_by_bird)
		return;
	log_info("BIRD: %s: re-asserting %zu services", why, a->nsvcs);
	for (size_t i = 0; i < a->nsvcs; i++)
		apply(a, &a->svcs[i], anycast_announced(&a->svcs[i].pol));
}

static void bird_state(void *arg, int connected)
{
	struct announcer *a = arg;

	pthread_mutex_lock(&a->lock);
	a->bird_up = connected;
	pthread_mutex_unlock(&a->lock);
	if (connected) {
		log_info("BIRD: connected to %s", a->bgp->bird_socket);
		if (!a->shutting_down)
			reassert(a, "connected");
	} else {
		log_warn("BIRD: lost the control socket %s; reconnecting", a->bgp->bird_socket);
	}
}

static const struct bird_protocol *find_proto(
	const struct bird_protocol *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* Logs BGP sessions that changed since the last poll. */
static void log_bgp_changes(struct announcer *a, const struct bird_protocol *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].proto, "BGP") != 0)
			continue;
		const struct bird_protocol *old = find_proto(a->protos, a->nprotos, v[i].name);
		if (old == NULL || strcmp(old->state, v[i].state) != 0 ||
			strcmp(old->info, v[i].info) != 0)
			log_info("BIRD: BGP session %s: %s %s", v[i].name, v[i].state, v[i].info);
	}
}

static void protocols_done(void *arg, const struct bird_reply *r)
{
	struct announcer *a = arg;
	struct bird_protocol *v;

	a->poll_pending = 0;
	if (r == NULL || r->code >= 8000 || a->shutting_down)
		return;
	v = calloc(MAX_PROTOCOLS, sizeof(*v));
	if (v == NULL)
		return;
	int n = bird_parse_protocols(r->text, r->len, v, MAX_PROTOCOLS);
	if (n < 0) {
		free(v);
		return;
	}
	size_t nv = (size_t)n < MAX_PROTOCOLS ? (size_t)n : MAX_PROTOCOLS;
	log_bgp_changes(a, v, nv);
	/* The repair poll: where the mechanism's state lives in BIRD, compare and mend. */
	for (size_t i = 0; a->mech != NULL && a->mech->ops->matches != NULL && i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		char seen[sizeof(v->state)];
		if (a->mech->ops->matches(&as->target, as->applied, v, nv, seen, sizeof(seen)) != 0)
			continue;
		log_warn("service %s: BIRD has protocol %s %s, anylb wants it %s: repairing",
			as->svc->conf->name, as->target.bird_protocol, seen,
			as->applied ? "up" : "down");
		apply(a, as, as->applied);
	}
	pthread_mutex_lock(&a->lock);
	free(a->protos);
	a->protos = v;
	a->nprotos = nv;
	pthread_mutex_unlock(&a->lock);
}

static void route_done(void *arg, const struct bird_reply *r)
{
	struct route_q *q = arg;
	struct ann_svc *as = q->as;
	struct announcer *a = as->a;

	if (a->routes_pending > 0)
		a->routes_pending--;
	if (r == NULL || q->idx >= 64)
		return;
	/* 8001 "Network not found" is BIRD's way of saying: no route. */
	int present = r->code < 8000 && bird_route_present(r->text, r->len);
	pthread_mutex_lock(&a->lock);
	if (present)
		as->shown.in_bird |= UINT64_C(1) << q->idx;
	else
		as->shown.in_bird &= ~(UINT64_C(1) << q->idx);
	as->shown.routes_known = 1;
	pthread_mutex_unlock(&a->lock);
}

/* Asks BIRD whether each prefix is really in its table, for status. */
static void poll_routes(struct announcer *a)
{
	char cmd[128];

	if (a->routes_pending > 0)
		return;
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		const struct conf_anycast *ac = &as->svc->conf->anycast;
		for (size_t j = 0; j < ac->nprefixes && j < 64; j++) {
			snprintf(cmd, sizeof(cmd), "show route for %s", ac->prefixes[j].text);
			if (bird_client_send(a->bird, cmd, route_done, &as->rq[j]) == 0)
				a->routes_pending++;
		}
	}
}

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct announcer *a = container_of(t, struct announcer, poll);
	(void)loop;
	(void)revents;

	if (a->poll_pending || !bird_client_connected(a->bird))
		return;
	if (bird_client_send(a->bird, "show protocols", protocols_done, a) == 0)
		a->poll_pending = 1;
	poll_routes(a);
}

struct announcer *announcer_new(struct lb_runtime *rt, int *err)
{
	const struct conf *c = rt->conf;
	struct announcer *a;

	*err = 0;
	if (!c->bgp.enabled)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto nomem;
	a->rt = rt;
	/* A reload cannot change bgp: the first generation's section stays valid for good. */
	a->base = runtime_get(rt);
	a->bgp = &c->bgp;
	a->wd_drop = c->global.user != NULL;
	a->wd_ids = (struct watchdog_ids){.uid = c->global.uid, .gid = c->global.gid};
	pthread_mutex_init(&a->lock, NULL);
	for (size_t i = 0; i < rt->nservices; i++)
		a->nsvcs += rt->services[i].conf->anycast.enabled ? 1 : 0;
	a->svcs = calloc(a->nsvcs ? a->nsvcs : 1, sizeof(*a->svcs));
	if (a->svcs == NULL)
		goto nomem;
	for (size_t i = 0, k = 0; i < rt->nservices; i++) {
		const struct conf_service *sc = rt->services[i].conf;
		if (!sc->anycast.enabled)
			continue;
		struct anycast_policy_conf pc = {
			.min_ready = sc->anycast.min_ready,
			.min_capacity = sc->anycast.min_capacity,
			.announce_delay_ms = c->bgp.announce_delay_ms,
			.max_announce_delay_ms = c->bgp.max_announce_delay_ms,
			.flap_window_ms = c->bgp.flap_window_ms,
		};
		a->svcs[k].a = a;
		a->svcs[k].svc = &rt->services[i];
		snprintf(a->svcs[k].name, sizeof(a->svcs[k].name), "%s", sc->name);
		a->svcs[k].want_override = -1;
		a->svcs[k].stale = 1;
		a->svcs[k].pfx = calloc(sc->anycast.nprefixes, sizeof(*a->svcs[k].pfx));
		if (a->svcs[k].pfx == NULL)
			goto nomem;
		for (size_t j = 0; j < sc->anycast.nprefixes; j++) {
			const struct conf_prefix *cp = &sc->anycast.prefixes[j];
			a->svcs[k].pfx[j] = (struct announce_prefix){.family = cp->family,
				.addr = cp->addr,
				.len = cp->len,
				.text = cp->text};
		}
		a->svcs[k].target = (struct announce_target){
			.service = sc->name,
			.prefixes = a->svcs[k].pfx,
			.nprefixes = sc->anycast.nprefixes,
			.bird_protocol = sc->anycast.bird_protocol,
		};
		a->svcs[k].rq = calloc(sc->anycast.nprefixes, sizeof(*a->svcs[k].rq));
		if (a->svcs[k].rq == NULL)
			goto nomem;
		for (size_t j = 0; j < sc->anycast.nprefixes; j++)
			a->svcs[k].rq[j] = (struct route_q){.as = &a->svcs[k], .idx = (unsigned)j};
		anycast_init(&a->svcs[k].pol, &pc);
		anycast_set_name(&a->svcs[k].pol, sc->name);
		k++;
	}
	if (c->bgp.announce == CONF_ANNOUNCE_INTERFACE) {
		struct announce_target *all = calloc(a->nsvcs ? a->nsvcs : 1, sizeof(*all));
		if (all == NULL)
			goto nomem;
		for (size_t k = 0; k < a->nsvcs; k++)
			all[k] = a->svcs[k].target;
		a->targets = all;
		struct announce_iface_conf ic = {
			.interface = c->bgp.interface,
			.watchdog_timeout_ms = c->bgp.watchdog_timeout_ms,
			.ids = a->wd_drop ? &a->wd_ids : NULL,
			.all = all,
			.nall = a->nsvcs,
		};
		a->mech = announce_iface_new(&ic, err);
		if (a->mech == NULL)
			goto fail;
	}
	return a;
nomem:
	log_error("bgp: out of memory");
	*err = -ENOMEM;
fail:
	announcer_free(a);
	return NULL;
}

void announcer_attach(struct announcer *a, struct ev_loop *loop)
{
	a->loop = loop;
	ev_async_init(&a->wake, wake_cb);
	ev_async_start(loop, &a->wake);
	publish(a);
	/* The first evaluation, as soon as the loop runs; then edges and deadlines. */
	ev_timer_init(&a->deadline, deadline_cb, 0., 0.);
	ev_timer_start(loop, &a->deadline);
	a->bird = bird_client_new(loop, a->bgp->bird_socket, bird_state, a);
	if (a->bgp->announce == CONF_ANNOUNCE_BIRD_PROTOCOL && a->bird != NULL &&
		(a->mech = announce_bird_new(a->bird)) == NULL)
		log_error("bgp: out of memory: BIRD protocols cannot be switched");
	ev_timer_init(&a->poll, poll_cb, BIRD_POLL, BIRD_POLL);
	ev_timer_start(loop, &a->poll);
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
	ev_timer_stop(a->loop, &a->poll);
	ev_timer_stop(a->loop, &a->deadline);
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct ann_svc *as = &a->svcs[i];
		if (anycast_shutdown(&as->pol) || as->applied) {
			log_edge(as, 0);
			apply(a, as, 0);
		}
	}
	/* Interface mode is done already (netlink is synchronous); BIRD answers later. */
	ev_timer_init(&a->shutdown_timer, shutdown_timer_cb, a->pending ? SHUTDOWN_WAIT : 0., 0.);
	ev_timer_start(a->loop, &a->shutdown_timer);
}

int announcer_rearm(struct announcer *a)
{
	if (a->mech == NULL || a->mech->ops->rearm == NULL)
		return -EOPNOTSUPP;
	int rc = a->mech->ops->rearm(a->mech);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&a->lock);
	a->rearmed = 1;
	pthread_mutex_unlock(&a->lock);
	ev_async_send(a->loop, &a->wake);
	return 0;
}

int announcer_watchdog_fd(const struct announcer *a)
{
	if (a == NULL || a->mech == NULL || a->mech->ops->watchdog_fd == NULL)
		return -1;
	return a->mech->ops->watchdog_fd(a->mech);
}

void announcer_free(struct announcer *a)
{
	if (a == NULL)
		return;
	if (a->loop != NULL) {
		ev_async_stop(a->loop, &a->wake);
		ev_timer_stop(a->loop, &a->poll);
		ev_timer_stop(a->loop, &a->deadline);
		ev_timer_stop(a->loop, &a->shutdown_timer);
	}
	if (a->bird != NULL)
		bird_client_free(a->bird);
	/* After the client: a command's last answer may still count for the shutdown. */
	if (a->mech != NULL)
		a->mech->ops->free(a->mech);
	free(a->targets);
	free(a->protos);
	for (size_t i = 0; a->svcs != NULL && i < a->nsvcs; i++) {
		free(a->svcs[i].rq);
		free(a->svcs[i].pfx);
	}
	free(a->svcs);
	pthread_mutex_destroy(&a->lock);
	runtime_put(a->base);
	free(a);
}
