/*
 * DOC: worker threads
 *
 * The drain is driven from inside the worker: the main thread only sets a command bit and
 * wakes the loop, so listeners, sessions and the pool are touched by their own thread alone.
 */
#include "lb/worker.h"

#include "lb/balance.h"
#include "lb/listener.h"
#include "lb/session.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Empty pipes (and fallback buffers) a worker keeps for the next burst. */
#define POOL_KEEP 256
/* How often a worker looks for slow-start weight changes (only with slow_start set). */
#define WEIGHTS_PERIOD 0.1
/* The alive timer's period: well under any watchdog_timeout (100 ms at least). */
#define ALIVE_PERIOD      0.02
#define ALIVE_PERIOD_SLOW 0.1

static const char *worker_state_name(enum worker_state st)
{
	switch (st) {
	case WORKER_RUNNING:
		return "running";
	case WORKER_DRAINING:
		return "draining";
	case WORKER_DONE:
		return "done";
	}
	return "?";
}

static void worker_set_state(struct worker *w, enum worker_state st, const char *why)
{
	log_debug("worker %u: %s -> %s: %s", w->id, worker_state_name(w->state),
		worker_state_name(st), why);
	w->state = st;
	if (st == WORKER_DONE) {
		ev_break(w->loop, EVBREAK_ALL);
		if (w->on_done != NULL)
			w->on_done(w, w->on_done_arg);
	}
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		listener_close(w->listeners[i]);
		w->listeners[i] = NULL;
	}
	w->nlisteners = 0;
}

int worker_spend_reserve(struct worker *w)
{
	if (w->reserve_fd < 0)
		return -EMFILE;
	close(w->reserve_fd);
	w->reserve_fd = -1;
	return 0;
}

int worker_reserve_ready(struct worker *w)
{
	if (w->reserve_fd < 0)
		w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return w->reserve_fd >= 0;
}

void worker_pause_accepting(struct worker *w, const char *why)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		listener_pause_resources(w->listeners[i], why);
}

void worker_session_gone(struct worker *w)
{
	/* An fd was just freed: the first goes back to the reserve. */
	if (w->reserve_fd < 0)
		worker_reserve_ready(w);
	if (w->state == WORKER_DRAINING && w->nsessions == 0)
		worker_set_state(w, WORKER_DONE, "last session finished");
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = container_of(a, struct worker, wake);
	int cmd = atomic_exchange(&w->cmd, 0);
	(void)loop;
	(void)revents;

	if ((cmd & WORKER_CMD_DRAIN) && w->state == WORKER_RUNNING) {
		close_listeners(w);
		ev_timer_stop(w->loop, &w->weights);
		worker_set_state(w, WORKER_DRAINING, "stop accepting");
		if (w->nsessions == 0) {
			worker_set_state(w, WORKER_DONE, "no sessions");
			return;
		}
		log_info("worker %u: waiting for %zu sessions", w->id, w->nsessions);
	}
	if (cmd & WORKER_CMD_SWEEP)
		session_close_dead(w);
	if ((cmd & WORKER_CMD_FORCE) && w->state == WORKER_DRAINING) {
		log_info("worker %u: drain deadline: closing %zu sessions", w->id, w->nsessions);
		while (w->sessions != NULL && w->state == WORKER_DRAINING)
			session_abort(w->sessions, "drain timeout");
	}
}

/* Copies slow start's effective weights into this worker's balancers when they changed. */
static void weights_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, weights);
	(void)loop;
	(void)revents;

	for (size_t i = 0; i < w->rt->nservices; i++) {
		struct lb_service *svc = &w->rt->services[i];
		uint64_t gen = atomic_load(&svc->st->weights_gen);
		if (gen == w->weights_gen[i])
			continue;
		w->weights_gen[i] = gen;
		for (size_t j = 0; j < svc->conf->nbackends; j++)
			balancer_set_weight(
				w->balancers[i], j, atomic_load(&svc->backends[j].st->eff_weight));
	}
}

static void alive_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, alive_timer);
	(void)loop;
	(void)revents;
	atomic_fetch_add_explicit(&w->alive, 1, memory_order_relaxed);
}

uint64_t worker_alive(const struct worker *w)
{
	return atomic_load_explicit(&w->alive, memory_order_relaxed);
}

int worker_init(struct worker *w, unsigned id, struct lb_runtime *rt)
{
	int slow_start = 0;

	const struct conf *c = rt->conf;
	size_t nlisten = 0;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->rt = rt;
	w->state = WORKER_RUNNING;
	w->reserve_fd = -1;
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (w->loop == NULL) {
		log_error("worker %u: cannot create an event loop", id);
		return -ENOMEM;
	}
	ev_async_init(&w->wake, wake_cb);
	ev_async_start(w->loop, &w->wake);
	if (pump_pool_init(&w->pool, POOL_KEEP) < 0)
		return -ENOMEM;
	if (!worker_reserve_ready(w))
		return -errno;

	w->balancers = calloc(c->nservices, sizeof(*w->balancers));
	w->weights_gen = calloc(c->nservices, sizeof(*w->weights_gen));
	for (size_t i = 0; i < c->nservices; i++)
		nlisten += c->services[i].nlisten;
	w->listeners = calloc(nlisten, sizeof(*w->listeners));
	if (w->balancers == NULL || w->weights_gen == NULL || w->listeners == NULL)
		return -ENOMEM;

	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *sc = &c->services[i];
		struct balance_member *m = calloc(sc->nbackends, sizeof(*m));
		if (m == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < sc->nbackends; j++) {
			m[j].name = sc->backends[j].address;
			m[j].weight = sc->backends[j].weight;
		}
		/* Each worker gets its own random stream, so they do not pick in lockstep. */
		w->balancers[i] =
			balancer_new(sc->balance, m, sc->nbackends, 0x9e3779b9u * (id + 1));
		free(m);
		if (w->balancers[i] == NULL)
			return -ENOMEM;
		slow_start |= sc->slow_start_ms > 0;
	}
	/* Fast enough for the shortest watchdog_timeout (100 ms); slower without anycast, where
	 * only systemd's watchdog (seconds) listens. */
	double alive = rt->conf->bgp.enabled ? ALIVE_PERIOD : ALIVE_PERIOD_SLOW;
	ev_timer_init(&w->alive_timer, alive_cb, alive, alive);
	ev_timer_start(w->loop, &w->alive_timer);
	ev_timer_init(&w->weights, weights_cb, WEIGHTS_PERIOD, WEIGHTS_PERIOD);
	if (slow_start)
		ev_timer_start(w->loop, &w->weights);
	for (size_t i = 0; i < c->nservices; i++) {
		for (size_t j = 0; j < c->services[i].nlisten; j++) {
			struct listener *l =
				listener_new(w, &rt->services[i], &c->services[i].listen[j]);
			if (l == NULL)
				return -EADDRNOTAVAIL;
			w->listeners[w->nlisteners++] = l;
		}
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	ev_run(w->loop, 0);
	return NULL;
}

int worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0)
		return -rc;
	w->started = 1;
	return 0;
}

void worker_command(struct worker *w, int cmd)
{
	atomic_fetch_or(&w->cmd, cmd);
	ev_async_send(w->loop, &w->wake);
}

void worker_destroy(struct worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
	if (w->loop != NULL) {
		ev_timer_stop(w->loop, &w->alive_timer);
		ev_timer_stop(w->loop, &w->weights);
		close_listeners(w);
		while (w->sessions != NULL)
			session_abort(w->sessions, "shutdown");
		while (w->free_sessions != NULL) {
			struct session *s = w->free_sessions;
			w->free_sessions = session_recycled_next(s);
			session_free_recycled(s);
		}
	}
	if (w->balancers != NULL) {
		for (size_t i = 0; i < w->rt->conf->nservices; i++)
			if (w->balancers[i] != NULL)
				balancer_free(w->balancers[i]);
		free(w->balancers);
	}
	free(w->weights_gen);
	free(w->listeners);
	pump_pool_destroy(&w->pool);
	/* A worker that was never initialised is all zeroes: fd 0 is not its reserve. */
	if (w->rt != NULL && w->reserve_fd >= 0)
		close(w->reserve_fd);
	if (w->loop != NULL)
		ev_loop_destroy(w->loop);
	memset(w, 0, sizeof(*w));
}
