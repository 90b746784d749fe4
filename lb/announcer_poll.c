/*
 * DOC: the announcer: the BIRD poll
 *
 * Everything the announcer asks BIRD over the control socket besides the mechanism's own
 * switches (bgp/announce_bird.c). Every BIRD_POLL it reads `show protocols`, to log BGP
 * sessions that changed and to report them (announcer_protocols), and `show route for` each
 * prefix, to report whether BIRD really has it (announcer_status's in_bird).
 *
 * Where the mechanism's state lives in BIRD (bird_protocol: runtime enable/disable, which BIRD
 * forgets on `configure` and on a restart), the same table is the repair: a static protocol
 * whose state differs from the decision is switched again, so a reconfigured BIRD is back in
 * the desired state within one poll. A reconnect re-asserts every decision at once.
 *
 * Nothing here decides: it reads what lb/announcer.c decided (applied) and applies it again.
 */
#include "lb/announcer_impl.h"

#include "bgp/bird_client.h"
#include "bgp/bird_reply.h"
#include "lib/container.h"
#include "lib/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often BIRD's protocol table is read. */
#define BIRD_POLL     0.5
#define MAX_PROTOCOLS 256

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

/* Re-sends every decision: BIRD may have restarted or been reconfigured. */
static void reassert(struct announcer *a, const char *why)
{
	if (a->mech == NULL || !a->mech->ops->kept_by_bird)
		return;
	log_info("BIRD: %s: re-asserting %zu services", why, a->nsvcs);
	for (size_t i = 0; i < a->nsvcs; i++)
		ann_apply(a, &a->svcs[i], a->svcs[i].applied); /* the ladder's level too */
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
			as->applied == ANNOUNCE_DEPREFERRED ? "down, its _drain protocol up"
			: as->applied                       ? "up"
							    : "down");
		ann_apply(a, as, as->applied);
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

struct bird_client *ann_bird_new(struct announcer *a, struct ev_loop *loop)
{
	return bird_client_new(loop, a->bgp->bird_socket, bird_state, a);
}

void ann_poll_start(struct announcer *a)
{
	ev_timer_init(&a->poll, poll_cb, BIRD_POLL, BIRD_POLL);
	ev_timer_start(a->loop, &a->poll);
}

void ann_poll_stop(struct announcer *a)
{
	ev_timer_stop(a->loop, &a->poll);
}
