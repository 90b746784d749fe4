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
#include "bgp/watchdog.h"
#include "lib/clock.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t clock_now(void *arg)
{
	(void)arg;
	return clock_ms();
}

struct iface_arg {
	const struct conf *c;
	int adopt_ifindex; /* an upgrade's successor: the old process's interface, or 0 */
	int adopted;       /* out: attached to it */
};

/* interface: the TUN interface and its watchdog, which runs as global.user where one is set. */
static struct announce_mech *iface_new(
	void *arg, const struct announce_target *all, size_t nall, int *err)
{
	struct iface_arg *ia = arg;
	const struct conf *c = ia->c;
	struct watchdog_ids ids = {.uid = c->global.uid, .gid = c->global.gid};
	struct announce_iface_conf ic = {
		.interface = c->bgp.interface,
		.watchdog_timeout_ms = c->bgp.watchdog_timeout_ms,
		.ids = c->global.user != NULL ? &ids : NULL, /* copied */
		.all = all,
		.nall = nall,
		.adopt_ifindex = ia->adopt_ifindex,
		.adopted = &ia->adopted,
	};

	return announce_iface_new(&ic, err);
}

struct announcer *announcer_new(struct lb_runtime *rt, const char *adopt, int *err)
{
	const struct conf *c = rt->conf;
	struct iface_arg ia = {.c = c};
	struct announcer_deps d = {.mech_arg = &ia};
	int adoptable = adopt != NULL;

	*err = 0;
	if (!c->bgp.enabled)
		return NULL;
	switch (c->bgp.announce) {
	case CONF_ANNOUNCE_INTERFACE:
		d.mech_new = iface_new;
		ia.adopt_ifindex = announcer_handover_ifindex(adopt, c->bgp.interface);
		if (adopt != NULL && ia.adopt_ifindex == 0)
			log_warn("bgp: the old process did not announce through interface %s: "
				 "starting from a fresh one, nothing announced",
				c->bgp.interface);
		break;
	case CONF_ANNOUNCE_BIRD_PROTOCOL:
		break; /* made at attach, on the BIRD client */
	}
	struct announcer *a = announcer_new_with(rt, &d, err);
	if (c->bgp.announce == CONF_ANNOUNCE_INTERFACE)
		adoptable = ia.adopted; /* a fresh interface holds nothing to go on from */
	if (a != NULL && adoptable)
		announcer_adopt(a, adopt);
	return a;
}

/* The k-th anycast service: svc, its prefixes as the mechanism and the poll need them. */
static int svc_init(struct announcer *a, size_t k, struct lb_service *svc)
{
	const struct conf_service *sc = svc->conf;
	const struct conf_bgp *bgp = a->bgp;
	struct ann_svc *as = &a->svcs[k];
	struct anycast_policy_conf pc = {
		.min_ready = sc->anycast.min_ready,
		.min_capacity = sc->anycast.min_capacity,
		.announce_delay_ms = bgp->announce_delay_ms,
		.max_announce_delay_ms = bgp->max_announce_delay_ms,
		.flap_window_ms = bgp->flap_window_ms,
	};

	as->a = a;
	as->svc = svc;
	snprintf(as->name, sizeof(as->name), "%s", sc->name);
	as->want_override = -1;
	as->want_drain = -1;
	ladder_init(&as->lad);
	as->lad_saved = as->lad;
	as->stale = 1;
	as->pfx = calloc(sc->anycast.nprefixes, sizeof(*as->pfx));
	as->rq = calloc(sc->anycast.nprefixes, sizeof(*as->rq));
	if (as->pfx == NULL || as->rq == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < sc->anycast.nprefixes; j++) {
		const struct conf_prefix *cp = &sc->anycast.prefixes[j];
		as->pfx[j] = (struct announce_prefix){
			.family = cp->family, .addr = cp->addr, .len = cp->len, .text = cp->text};
		as->rq[j] = (struct route_q){.as = as, .idx = (unsigned)j};
	}
	as->target = (struct announce_target){
		.service = sc->name,
		.prefixes = as->pfx,
		.nprefixes = sc->anycast.nprefixes,
		.bird_protocol = sc->anycast.bird_protocol,
	};
	a->targets[k] = as->target;
	anycast_init(&as->pol, &pc);
	anycast_set_name(&as->pol, sc->name);
	return 0;
}

struct announcer *announcer_new_with(
	struct lb_runtime *rt, const struct announcer_deps *d, int *err)
{
	struct announcer *a = calloc(1, sizeof(*a));

	*err = 0;
	if (a == NULL)
		goto nomem;
	a->rt = rt;
	/* A reload cannot change bgp: the first generation's section stays valid for good. */
	a->base = runtime_get(rt);
	a->bgp = &rt->conf->bgp;
	a->now_ms = d->now_ms != NULL ? d->now_ms : clock_now;
	a->now_arg = d->now_arg;
	a->no_bird = d->no_bird;
	pthread_mutex_init(&a->lock, NULL);
	for (size_t i = 0; i < rt->nservices; i++)
		a->nsvcs += rt->services[i].conf->anycast.enabled ? 1 : 0;
	a->svcs = calloc(a->nsvcs ? a->nsvcs : 1, sizeof(*a->svcs));
	a->targets = calloc(a->nsvcs ? a->nsvcs : 1, sizeof(*a->targets));
	if (a->svcs == NULL || a->targets == NULL)
		goto nomem;
	for (size_t i = 0, k = 0; i < rt->nservices; i++) {
		if (!rt->services[i].conf->anycast.enabled)
			continue;
		if (svc_init(a, k++, &rt->services[i]) < 0)
			goto nomem;
	}
	if (d->mech_new != NULL) {
		a->mech = d->mech_new(d->mech_arg, a->targets, a->nsvcs, err);
		if (a->mech == NULL && *err < 0)
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
	if (a->no_bird)
		return;
	a->bird = ann_bird_new(a, loop);
	if (a->bgp->announce == CONF_ANNOUNCE_BIRD_PROTOCOL && a->bird != NULL && a->mech == NULL &&
		(a->mech = announce_bird_new(a->bird)) == NULL)
		log_error("bgp: out of memory: BIRD protocols cannot be switched");
	if (a->bird != NULL)
		ann_poll_start(a); /* the poll would read a client that is not there */
	else
		log_error("bgp: no client for BIRD's socket %s: %s: BIRD is neither polled nor "
			  "repaired",
			a->bgp->bird_socket, strerror(errno));
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
