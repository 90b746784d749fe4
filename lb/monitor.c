/*
 * DOC: the monitor thread
 *
 * A new check (at start, for a backend a reload added, or one whose settings changed) runs at
 * once: a backend held by initial_state not_ready must not wait an interval for its first
 * verdict, nor take traffic on a guess. The runs after it are spread by the check's jitter.
 * The cost: a service of thousands of backends opens that many check connections at once at
 * start-up (and after a reload that changed its checks), where they used to be spread over an
 * interval; the lockstep then dissolves within a few intervals of jitter.
 */
#include "lb/monitor.h"

#include "health/check.h"
#include "lb/announcer.h"
#include "lb/backend.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"

#include <ev.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* How often ejections and slow start are looked at. */
#define MONITOR_TICK 0.05

struct mon_check {
	struct monitor *m;
	struct lb_backend *b;
	enum backend_check which;
	struct check *check;
	size_t slot; /* in m->checks */
};

struct monitor {
	struct lb_runtime *rt;
	struct ev_loop *loop;
	pthread_t thread;
	int started;
	ev_async stop;
	ev_timer tick;
	ev_async withdraw;
	_Atomic int withdraw_requested;
	void (*withdraw_done)(void *arg);
	void *withdraw_arg;
	_Atomic uint64_t alive;
	struct announcer *ann;
	struct mon_check **checks;
	size_t nchecks;

	ev_async changed; /* a service's backends or listeners changed (monitor_changed) */
	ev_async adopt;
	_Atomic(struct lb_runtime *) next; /* handed over by monitor_switch, a reference */
	_Atomic uint64_t generation;       /* of rt */
};

static void check_done(void *arg, const struct check_result *r)
{
	struct mon_check *mc = arg;
	uint64_t now = clock_ms();
	int changing = backend_check_result(mc->b, mc->which, r, now);

	check_set_fast(mc->check, changing);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct monitor *m = container_of(t, struct monitor, tick);
	uint64_t now = clock_ms();
	(void)loop;
	(void)revents;

	for (size_t i = 0; i < m->rt->nservices; i++)
		backend_tick(&m->rt->services[i], now);
	atomic_fetch_add(&m->alive, 1);
}

/* The announcer hears of every edge: only the services whose `changes` moved are re-read. */
static void changed_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct monitor *m = container_of(as, struct monitor, changed);
	(void)loop;
	(void)revents;

	announcer_evaluate(m->ann, clock_ms());
}

void monitor_changed(struct monitor *m)
{
	ev_async_send(m->loop, &m->changed);
}

uint64_t monitor_alive(const struct monitor *m)
{
	return atomic_load(&m->alive);
}

static void withdrawn(void *arg)
{
	struct monitor *m = arg;

	if (m->withdraw_done != NULL)
		m->withdraw_done(m->withdraw_arg);
}

static void withdraw_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct monitor *m = container_of(as, struct monitor, withdraw);
	(void)loop;
	(void)revents;

	if (!atomic_exchange(&m->withdraw_requested, 0))
		return;
	if (m->ann != NULL)
		announcer_shutdown(m->ann, withdrawn, m);
	else
		withdrawn(m);
}

void monitor_withdraw_all(struct monitor *m, void (*done)(void *arg), void *arg)
{
	m->withdraw_done = done;
	m->withdraw_arg = arg;
	atomic_store(&m->withdraw_requested, 1);
	ev_async_send(m->loop, &m->withdraw);
}

static void stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static const struct conf_check *check_conf(const struct conf_service *sc, enum backend_check which)
{
	return which == BACKEND_CHECK_LIVENESS ? &sc->health.liveness : &sc->health.readiness;
}

static void mon_check_free(struct mon_check *mc)
{
	if (mc == NULL)
		return;
	check_free(mc->check);
	free(mc);
}

/* Orders checks by (backend state, kind): the key that survives a reload. */
static int cmp_check(const void *a, const void *b)
{
	const struct mon_check *x = *(struct mon_check *const *)a;
	const struct mon_check *y = *(struct mon_check *const *)b;
	uintptr_t sx = (uintptr_t)x->b->st, sy = (uintptr_t)y->b->st;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return (int)x->which - (int)y->which;
}

/*
 * A check of one kind for backend j of svc, whose first run starts at once. From old (the
 * previous generation's checks, NULL at start; sorted holds the same sorted by cmp_check) an
 * unchanged check of the same backend is taken over instead, keeping its cycle: old[slot]
 * becomes NULL.
 */
static struct mon_check *check_for(struct monitor *m, struct lb_service *svc, size_t j,
	enum backend_check which, struct mon_check **old, struct mon_check **sorted, size_t nold)
{
	const struct conf_check *cc = check_conf(svc->conf, which);
	struct lb_backend *b = &svc->backends[j];
	struct mon_check key = {.b = b, .which = which}, *kp = &key;
	struct mon_check **hit =
		nold > 0 ? bsearch(&kp, sorted, nold, sizeof(*sorted), cmp_check) : NULL;
	struct mon_check *mc = hit != NULL ? *hit : NULL;

	if (mc != NULL && old[mc->slot] == mc &&
		conf_check_equal(check_conf(mc->b->svc->conf, which), cc)) {
		old[mc->slot] = NULL;
		mc->b = b;
		check_rebind(mc->check, cc, svc->check_tls[which]);
		return mc;
	}
	mc = calloc(1, sizeof(*mc));
	if (mc == NULL)
		return NULL;
	mc->m = m;
	mc->b = b;
	mc->which = which;
	mc->check = check_new(m->loop, cc, svc->check_tls[which], &b->conf->addr, check_done, mc);
	if (mc->check == NULL) {
		free(mc);
		return NULL;
	}
	check_start(mc->check, 0);
	return mc;
}

/*
 * Builds the checks of rt into m->checks (allocated for them), taking over unchanged ones from
 * old. A check that cannot be created is logged and left out: its backend keeps the state it
 * has. Returns how many could not.
 */
static size_t build_checks(
	struct monitor *m, struct lb_runtime *rt, struct mon_check **old, size_t nold)
{
	size_t missing = 0;
	struct mon_check **sorted = NULL;

	if (nold > 0 && (sorted = malloc(nold * sizeof(*sorted))) != NULL) {
		memcpy(sorted, old, nold * sizeof(*sorted));
		qsort(sorted, nold, sizeof(*sorted), cmp_check);
	} else {
		nold = 0; /* out of memory: every check starts anew */
	}

	m->nchecks = 0;
	for (size_t i = 0; i < rt->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		for (int w = BACKEND_CHECK_LIVENESS; w <= BACKEND_CHECK_READINESS; w++) {
			if (!check_conf(svc->conf, (enum backend_check)w)->enabled)
				continue;
			for (size_t j = 0; j < svc->conf->nbackends; j++) {
				struct mon_check *mc = check_for(
					m, svc, j, (enum backend_check)w, old, sorted, nold);
				if (mc == NULL) {
					missing++;
					continue;
				}
				mc->slot = m->nchecks;
				m->checks[m->nchecks++] = mc;
			}
		}
	}
	free(sorted);
	return missing;
}

static size_t count_checks(const struct lb_runtime *rt)
{
	size_t n = 0;

	for (size_t i = 0; i < rt->nservices; i++)
		n += 2 * rt->services[i].conf->nbackends;
	return n ? n : 1;
}

/*
 * On the monitor's thread: moves to the generation main handed over. The shared state adopts
 * it (outlier indexes, removed backends draining, changed checks' counts), checks follow, the
 * announcer looks at the new services, and the old generation is let go.
 */
static void adopt_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct monitor *m = container_of(as, struct monitor, adopt);
	struct lb_runtime *rt = atomic_exchange(&m->next, NULL), *old = m->rt;
	uint64_t now = clock_ms();
	(void)loop;
	(void)revents;

	if (rt == NULL)
		return;
	struct mon_check **checks = calloc(count_checks(rt), sizeof(*checks));
	if (checks == NULL) {
		/* Keep running the old checks on the old generation rather than none. */
		log_error(
			"monitor: out of memory: health checks stay on the previous configuration");
		runtime_put(rt);
		return;
	}
	for (size_t i = 0; i < rt->nservices; i++)
		backend_adopt_generation(
			&rt->services[i], runtime_service_by_state(old, rt->services[i].st), now);
	for (size_t i = 0; i < old->nservices; i++)
		if (runtime_service_by_state(rt, old->services[i].st) == NULL)
			backend_retire_service(&old->services[i], now);
	struct mon_check **prev = m->checks;
	size_t nprev = m->nchecks;
	m->checks = checks;
	size_t missing = build_checks(m, rt, prev, nprev);
	if (missing > 0)
		log_error("monitor: out of memory: %zu health checks not running", missing);
	for (size_t k = 0; k < nprev; k++)
		mon_check_free(prev[k]);
	free(prev);
	m->rt = rt;
	if (m->ann != NULL)
		announcer_switch(m->ann, rt);
	atomic_store(&m->generation, rt->generation);
	log_debug("monitor: now on configuration generation %llu, %zu checks",
		(unsigned long long)rt->generation, m->nchecks);
	runtime_put(old);
	announcer_evaluate(m->ann, now);
}

void monitor_switch(struct monitor *m, struct lb_runtime *rt)
{
	struct lb_runtime *old = atomic_exchange(&m->next, runtime_get(rt));

	if (old != NULL)
		runtime_put(old); /* never adopted: superseded */
	ev_async_send(m->loop, &m->adopt);
}

uint64_t monitor_generation(const struct monitor *m)
{
	return atomic_load(&m->generation);
}

struct monitor *monitor_new(struct lb_runtime *rt, struct announcer *ann)
{
	struct monitor *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		announcer_free(ann);
		return NULL;
	}
	m->rt = runtime_get(rt);
	atomic_store(&m->generation, rt->generation);
	m->ann = ann;
	m->checks = calloc(count_checks(rt), sizeof(*m->checks));
	m->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (m->checks == NULL || m->loop == NULL)
		goto fail;
	ev_async_init(&m->stop, stop_cb);
	ev_async_start(m->loop, &m->stop);
	ev_async_init(&m->withdraw, withdraw_cb);
	ev_async_start(m->loop, &m->withdraw);
	ev_async_init(&m->adopt, adopt_cb);
	ev_async_start(m->loop, &m->adopt);
	ev_async_init(&m->changed, changed_cb);
	ev_async_start(m->loop, &m->changed);
	if (ann != NULL)
		announcer_attach(ann, m->loop);
	ev_timer_init(&m->tick, tick_cb, MONITOR_TICK, MONITOR_TICK);
	ev_timer_start(m->loop, &m->tick);
	if (build_checks(m, rt, NULL, 0) > 0)
		goto fail;
	return m;
fail:
	log_error("monitor: cannot set up health checks");
	monitor_free(m);
	return NULL;
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;

	ev_run(m->loop, 0);
	return NULL;
}

int monitor_start(struct monitor *m)
{
	int rc = pthread_create(&m->thread, NULL, monitor_main, m);

	if (rc != 0)
		return -rc;
	m->started = 1;
	return 0;
}

void monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	if (m->started) {
		ev_async_send(m->loop, &m->stop);
		pthread_join(m->thread, NULL);
	}
	for (size_t i = 0; i < m->nchecks; i++)
		mon_check_free(m->checks[i]);
	announcer_free(m->ann);
	free(m->checks);
	struct lb_runtime *next = atomic_exchange(&m->next, NULL);
	if (next != NULL)
		runtime_put(next);
	if (m->rt != NULL)
		runtime_put(m->rt);
	if (m->loop != NULL)
		ev_loop_destroy(m->loop);
	free(m);
}
