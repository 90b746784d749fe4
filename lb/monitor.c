/*
 * DOC: the monitor thread
 *
 * Checks of one service start spread evenly over their interval, so a site with hundreds of
 * backends does not check them all in the same millisecond after start-up.
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

/* How often ejections and slow start are looked at. */
#define MONITOR_TICK 0.05

struct mon_check {
	struct monitor *m;
	struct lb_backend *b;
	enum backend_check which;
	struct check *check;
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
	struct mon_check *checks;
	size_t nchecks;
};

static void check_done(void *arg, const struct check_result *r)
{
	struct mon_check *mc = arg;
	uint64_t now = clock_ms();
	int changing = backend_check_result(mc->b, mc->which, r, now);

	check_set_fast(mc->check, changing);
	/* A state change reaches the announcer now, not at the next tick. */
	announcer_evaluate(mc->m->ann, now);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct monitor *m = container_of(t, struct monitor, tick);
	uint64_t now = clock_ms();
	(void)loop;
	(void)revents;

	for (size_t i = 0; i < m->rt->nservices; i++)
		backend_tick(&m->rt->services[i], now);
	announcer_evaluate(m->ann, now);
	atomic_fetch_add(&m->alive, 1);
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

/* Adds the checks of one kind for every backend of svc, their starts spread over interval. */
static int add_checks(struct monitor *m, struct lb_service *svc, enum backend_check which)
{
	const struct conf_service *sc = svc->conf;
	const struct conf_check *cc =
		which == BACKEND_CHECK_LIVENESS ? &sc->health.liveness : &sc->health.readiness;

	if (!cc->enabled)
		return 0;
	for (size_t j = 0; j < sc->nbackends; j++) {
		struct mon_check *mc = &m->checks[m->nchecks];
		mc->m = m;
		mc->b = &svc->backends[j];
		mc->which = which;
		mc->check = check_new(m->loop, cc, &sc->backends[j].addr, check_done, mc);
		if (mc->check == NULL)
			return -ENOMEM;
		m->nchecks++;
		double spread =
			(double)cc->interval_ms / 1000.0 * (double)j / (double)sc->nbackends;
		check_start(mc->check, spread);
	}
	return 0;
}

struct monitor *monitor_new(struct lb_runtime *rt, struct announcer *ann)
{
	struct monitor *m = calloc(1, sizeof(*m));
	size_t n = 0;

	if (m == NULL) {
		announcer_free(ann);
		return NULL;
	}
	m->rt = rt;
	m->ann = ann;
	for (size_t i = 0; i < rt->nservices; i++)
		n += 2 * rt->services[i].conf->nbackends;
	m->checks = calloc(n ? n : 1, sizeof(*m->checks));
	m->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (m->checks == NULL || m->loop == NULL)
		goto fail;
	ev_async_init(&m->stop, stop_cb);
	ev_async_start(m->loop, &m->stop);
	ev_async_init(&m->withdraw, withdraw_cb);
	ev_async_start(m->loop, &m->withdraw);
	if (ann != NULL)
		announcer_attach(ann, m->loop);
	ev_timer_init(&m->tick, tick_cb, MONITOR_TICK, MONITOR_TICK);
	ev_timer_start(m->loop, &m->tick);
	for (size_t i = 0; i < rt->nservices; i++) {
		if (add_checks(m, &rt->services[i], BACKEND_CHECK_LIVENESS) < 0 ||
			add_checks(m, &rt->services[i], BACKEND_CHECK_READINESS) < 0)
			goto fail;
	}
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
		check_free(m->checks[i].check);
	announcer_free(m->ann);
	free(m->checks);
	if (m->loop != NULL)
		ev_loop_destroy(m->loop);
	free(m);
}
