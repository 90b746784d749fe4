/*
 * DOC: the announcer: construction
 *
 * The mechanism (bgp/announce.h) is chosen here, once, from bgp.announce, and reached through
 * its ops table from then on: interface mode makes the TUN interface and forks its watchdog
 * when the announcer is made (before any thread starts), bird_protocol mode switches static
 * protocols over the BIRD client the announcer makes when it is attached to its loop. The
 * watchdog's heartbeat fd and its re-arm (the main thread's) go to the mechanism as well.
 *
 * Per anycast service the announcer owns a policy (bgp/policy.c), the prefixes as the
 * mechanism needs them and the queries of the BIRD poll; see lb/announcer_impl.h.
 */
#include "lb/announcer_impl.h"

#include "bgp/bird_client.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	ann_start(a);
	a->bird = ann_bird_new(a, loop);
	if (a->bgp->announce == CONF_ANNOUNCE_BIRD_PROTOCOL && a->bird != NULL &&
		(a->mech = announce_bird_new(a->bird)) == NULL)
		log_error("bgp: out of memory: BIRD protocols cannot be switched");
	ann_poll_start(a);
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
		ann_stop(a);
		ann_poll_stop(a);
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
