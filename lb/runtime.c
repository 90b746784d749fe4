#include "lb/runtime.h"

#include "lb/ratelimit.h"

#include "health/check_tls.h"
#include "lib/clock.h"

#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const double lb_connect_bounds[LB_CONNECT_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

const double lb_session_bounds[LB_SESSION_BUCKETS - 1] = {
	0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};

size_t lb_bucket(const double *bounds, size_t n, double v)
{
	size_t i = 0;

	while (i < n - 1 && v > bounds[i])
		i++;
	return i;
}

const char *lb_result_name(enum lb_result r)
{
	switch (r) {
	case LB_RESULT_DONE:
		return "done";
	case LB_RESULT_CLIENT_ERROR:
		return "client_error";
	case LB_RESULT_BACKEND_ERROR:
		return "backend_error";
	case LB_RESULT_TIMEOUT:
		return "timeout";
	case LB_RESULT_NO_BACKEND:
		return "no_backend";
	case LB_RESULT_BACKEND_DEAD:
		return "backend_dead";
	case LB_RESULT_DRAIN:
		return "drain";
	case LB_RESULT_RESOURCE:
		return "resource";
	case LB_RESULT_COUNT:
		break;
	}
	return "unknown";
}

struct outlier_conf runtime_outlier_conf(const struct conf_service *sc)
{
	const struct conf_outlier *oc = &sc->outlier;

	return (struct outlier_conf){
		.consecutive_failures = oc->consecutive_failures,
		.base_ejection_ms = oc->base_ejection_ms,
		.max_ejection_ms = oc->max_ejection_ms,
		.max_ejection_percent = oc->max_ejection_percent,
	};
}

static struct outlier *outlier_for(const struct conf_service *sc)
{
	struct outlier_conf ocf = runtime_outlier_conf(sc);

	return outlier_new(&ocf, sc->nbackends);
}

static struct lb_service_state *service_state_new(const struct conf_service *sc)
{
	struct lb_service_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st);
		return NULL;
	}
	if (queue_init(&st->queue) < 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return NULL;
	}
	st->outlier = outlier_for(sc);
	if (st->outlier == NULL) {
		queue_destroy(&st->queue);
		pthread_mutex_destroy(&st->lock);
		free(st);
		return NULL;
	}
	st->conf = sc;
	atomic_init(&st->refs, 1);
	return st;
}

static void backend_state_put(struct lb_backend_state *st);

static void retired_drop(struct lb_retired **pp)
{
	struct lb_retired *r = *pp;

	*pp = r->next;
	backend_state_put(r->st);
	free(r);
}

void runtime_retired_add(
	struct lb_service_state *ss, struct lb_backend_state *bs, const char *address)
{
	size_t n = strlen(address) + 1;
	struct lb_retired *r = malloc(sizeof(*r) + n);

	if (r == NULL)
		return;
	atomic_fetch_add(&bs->refs, 1);
	r->st = bs;
	memcpy(r->address, address, n);
	r->next = ss->retired;
	ss->retired = r;
}

void runtime_retired_prune(struct lb_service_state *ss)
{
	for (struct lb_retired **pp = &ss->retired; *pp != NULL;)
		if (atomic_load(&(*pp)->st->active) == 0)
			retired_drop(pp);
		else
			pp = &(*pp)->next;
}

static void service_state_put(struct lb_service_state *st)
{
	if (st == NULL || atomic_fetch_sub(&st->refs, 1) != 1)
		return;
	while (st->retired != NULL)
		retired_drop(&st->retired);
	while (st->listen != NULL) {
		struct lb_listen_stats *next = st->listen->next;
		free(st->listen);
		st->listen = next;
	}
	outlier_free(st->outlier);
	queue_destroy(&st->queue);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void backend_state_put(struct lb_backend_state *st)
{
	if (st != NULL && atomic_fetch_sub(&st->refs, 1) == 1)
		free(st);
}

static int cmp_addr(const void *a, const void *b)
{
	const struct lb_backend *x = *(struct lb_backend *const *)a;
	const struct lb_backend *y = *(struct lb_backend *const *)b;

	return strcmp(x->conf->address, y->conf->address);
}

static int cmp_state(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)(*(struct lb_backend *const *)a)->st;
	uintptr_t y = (uintptr_t)(*(struct lb_backend *const *)b)->st;

	return x < y ? -1 : x > y;
}

static int index_backends(struct lb_service *svc)
{
	size_t n = svc->conf->nbackends;

	svc->by_addr = calloc(n ? n : 1, sizeof(*svc->by_addr));
	svc->by_state = calloc(n ? n : 1, sizeof(*svc->by_state));
	if (svc->by_addr == NULL || svc->by_state == NULL)
		return -1;
	for (size_t j = 0; j < n; j++)
		svc->by_addr[j] = svc->by_state[j] = &svc->backends[j];
	qsort(svc->by_addr, n, sizeof(*svc->by_addr), cmp_addr);
	qsort(svc->by_state, n, sizeof(*svc->by_state), cmp_state);
	return 0;
}

/* The backend of svc (NULL: none) at address, as written in the file, or NULL. */
static struct lb_backend *by_addr(const struct lb_service *svc, const char *address)
{
	struct conf_backend key_conf = {.address = (char *)address};
	struct lb_backend key = {.conf = &key_conf}, *kp = &key, **hit;

	if (svc == NULL || svc->conf->nbackends == 0)
		return NULL;
	hit = bsearch(&kp, svc->by_addr, svc->conf->nbackends, sizeof(*hit), cmp_addr);
	return hit != NULL ? *hit : NULL;
}

/* The counters of the service's listening address, made on first use; NULL: out of memory. */
static struct lb_listen_stats *listen_stats_of(struct lb_service_state *st, const char *address)
{
	struct lb_listen_stats *ls;

	pthread_mutex_lock(&st->lock);
	for (ls = st->listen; ls != NULL; ls = ls->next)
		if (strcmp(ls->address, address) == 0)
			break;
	if (ls == NULL) {
		size_t n = strlen(address) + 1;
		ls = calloc(1, sizeof(*ls) + n);
		if (ls != NULL) {
			memcpy(ls->address, address, n);
			ls->next = st->listen;
			st->listen = ls;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return ls;
}

/* prev_svc: the same service in the previous generation, whose states are shared, or NULL. */
static int service_init(struct lb_runtime *rt, struct lb_service *svc,
	const struct conf_service *sc, size_t index, const struct lb_service *prev_svc)
{
	svc->conf = sc;
	svc->rt = rt;
	svc->index = index;
	/* 0 backends: NAME:PORT entries without an answer yet (conf/resolved.h). */
	svc->backends = calloc(sc->nbackends > 0 ? sc->nbackends : 1, sizeof(*svc->backends));
	if (svc->backends == NULL)
		return -1;
	if (prev_svc != NULL) {
		svc->st = prev_svc->st;
		atomic_fetch_add(&svc->st->refs, 1);
	} else {
		svc->st = service_state_new(sc);
		if (svc->st == NULL)
			return -1;
	}
	for (size_t j = 0; j < sc->nbackends; j++) {
		struct lb_backend *b = &svc->backends[j];
		const struct lb_backend *old = by_addr(prev_svc, sc->backends[j].address);

		b->conf = &sc->backends[j];
		b->svc = svc;
		b->index = j;
		if (old != NULL) {
			b->st = old->st;
			atomic_fetch_add(&b->st->refs, 1);
			continue;
		}
		b->st = calloc(1, sizeof(*b->st));
		if (b->st == NULL)
			return -1;
		atomic_init(&b->st->refs, 1);
		/* In a first generation the outlier detector's index is the backend's; a reload
		 * places new backends in it when the monitor switches. */
		bh_init(&b->st->h, svc->conf, b->conf->weight, prev_svc == NULL ? j : SIZE_MAX);
		atomic_init(&b->st->state, (int)b->st->h.state);
		atomic_init(&b->st->eff_weight, b->st->h.eff_weight);
		atomic_init(&b->st->runtime_weight, -1);
		atomic_init(&b->st->state_changed_ms, clock_wall_ms());
	}
	svc->listen_stats = calloc(sc->nlisten ? sc->nlisten : 1, sizeof(*svc->listen_stats));
	if (svc->listen_stats == NULL)
		return -1;
	const struct conf_rate_limit *rc = &sc->rate_limit;
	if (rc->enabled && prev_svc != NULL && prev_svc->rl != NULL &&
		ratelimit_same(prev_svc->rl, rc->per_min, rc->burst, rc->max_sources))
		svc->rl = ratelimit_get(prev_svc->rl);
	else if (rc->enabled &&
		 (svc->rl = ratelimit_new(rc->per_min, rc->burst, rc->max_sources)) == NULL)
		return -1;
	for (size_t j = 0; j < sc->nlisten; j++)
		svc->listen_stats[j] = listen_stats_of(svc->st, sc->listen[j].address);
	return index_backends(svc);
}

static void runtime_free(struct lb_runtime *rt)
{
	if (rt->services != NULL) {
		for (size_t i = 0; i < rt->nservices; i++) {
			struct lb_service *svc = &rt->services[i];
			for (size_t j = 0; svc->backends != NULL && j < svc->conf->nbackends; j++)
				backend_state_put(svc->backends[j].st);
			free(svc->backends);
			free(svc->by_addr);
			free(svc->by_state);
			free(svc->listen_stats);
			ratelimit_put(svc->rl);
			service_state_put(svc->st);
			for (size_t k = 0; k < 2; k++)
				check_tls_ctx_put(svc->check_tls[k]);
		}
		free(rt->services);
	}
	if (rt->proc != NULL && atomic_fetch_sub(&rt->proc->refs, 1) == 1) {
		pthread_mutex_destroy(&rt->proc->listen_lock);
		free(rt->proc);
	}
	conf_free(rt->conf);
	overlay_free(&rt->overlay);
	free(rt);
}

struct lb_service *runtime_service(struct lb_runtime *rt, const char *name)
{
	for (size_t i = 0; rt != NULL && i < rt->nservices; i++)
		if (strcmp(rt->services[i].conf->name, name) == 0)
			return &rt->services[i];
	return NULL;
}

struct lb_service *runtime_service_by_state(
	struct lb_runtime *rt, const struct lb_service_state *st)
{
	for (size_t i = 0; i < rt->nservices; i++)
		if (rt->services[i].st == st)
			return &rt->services[i];
	return NULL;
}

struct lb_backend *runtime_backend_by_state(
	const struct lb_service *svc, const struct lb_backend_state *st)
{
	struct lb_backend key = {.st = (struct lb_backend_state *)st}, *kp = &key, **hit;

	if (svc->conf->nbackends == 0)
		return NULL;
	hit = bsearch(&kp, svc->by_state, svc->conf->nbackends, sizeof(*hit), cmp_state);
	return hit != NULL ? *hit : NULL;
}

struct lb_runtime *runtime_next(struct lb_runtime *prev, struct conf *conf)
{
	struct lb_runtime *rt = calloc(1, sizeof(*rt));

	if (rt == NULL) {
		conf_free(conf);
		return NULL;
	}
	rt->conf = conf;
	atomic_init(&rt->refs, 1);
	if (prev != NULL) {
		rt->proc = prev->proc;
		rt->generation = prev->generation + 1;
	} else {
		rt->proc = calloc(1, sizeof(*rt->proc));
		rt->generation = 1;
		if (rt->proc != NULL)
			pthread_mutex_init(&rt->proc->listen_lock, NULL);
	}
	if (rt->proc == NULL)
		goto fail;
	atomic_fetch_add(&rt->proc->refs, 1);
	rt->services = calloc(conf->nservices, sizeof(*rt->services));
	if (rt->services == NULL)
		goto fail;
	for (size_t i = 0; i < conf->nservices; i++) {
		const struct conf_service *sc = &conf->services[i];
		rt->nservices = i + 1; /* what runtime_free must undo */
		if (service_init(rt, &rt->services[i], sc, i, runtime_service(prev, sc->name)) < 0)
			goto fail;
	}
	return rt;
fail:
	runtime_free(rt);
	return NULL;
}

struct lb_runtime *runtime_new(struct conf *conf)
{
	return runtime_next(NULL, conf);
}

void runtime_sock_link(struct lb_process *p, struct lb_sock *s)
{
	pthread_mutex_lock(&p->listen_lock);
	s->proc = p;
	s->next = p->socks;
	s->pprev = &p->socks;
	if (p->socks != NULL)
		p->socks->pprev = &s->next;
	p->socks = s;
	pthread_mutex_unlock(&p->listen_lock);
}

void runtime_sock_unlink(struct lb_sock *s)
{
	struct lb_process *p = s->proc;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->listen_lock);
	*s->pprev = s->next;
	if (s->next != NULL)
		s->next->pprev = s->pprev;
	s->proc = NULL;
	pthread_mutex_unlock(&p->listen_lock);
}

size_t runtime_socks_dup(
	struct lb_process *p, struct lb_sock *v, size_t cap, size_t *total, int *err)
{
	size_t n = 0, all = 0;

	*err = 0;
	pthread_mutex_lock(&p->listen_lock);
	for (struct lb_sock *s = p->socks; s != NULL; s = s->next, all++) {
		if (n == cap)
			continue;
		int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			*err = -errno;
			continue;
		}
		v[n] = (struct lb_sock){.fd = fd, .kind = s->kind, .addr = s->addr};
		n++;
	}
	pthread_mutex_unlock(&p->listen_lock);
	*total = all;
	return n;
}

void runtime_service_changed(struct lb_service *svc)
{
	struct lb_process *proc = svc->rt != NULL ? svc->rt->proc : NULL;

	atomic_fetch_add(&svc->st->changes, 1);
	if (proc != NULL && proc->on_change != NULL)
		proc->on_change(proc->on_change_arg);
}

struct lb_runtime *runtime_get(struct lb_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void runtime_put(struct lb_runtime *rt)
{
	if (rt != NULL && atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
		runtime_free(rt);
}

unsigned runtime_workers(const struct lb_runtime *rt)
{
	if (rt->conf->global.workers > 0)
		return rt->conf->global.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > CONF_MAX_WORKERS)
		n = CONF_MAX_WORKERS;
	return (unsigned)n;
}
