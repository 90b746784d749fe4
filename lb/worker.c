/*
 * DOC: worker threads
 *
 * The drain is driven from inside the worker: the main thread only sets a command bit and
 * wakes the loop, so listeners, sessions and the pool are touched by their own thread alone.
 */
#include "lb/worker.h"

#include "lb/backend.h"
#include "lb/balance.h"
#include "lb/inherited.h"
#include "lb/listener.h"
#include "lb/session.h"
#include "lb/udp_listener.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Empty pipes (and fallback buffers) a worker keeps for the next burst. */
#define POOL_KEEP 256
/* What the pool shrinks back to after a burst (halving the excess every POOL_TRIM_PERIOD s). */
#define POOL_FLOOR       16
#define POOL_TRIM_PERIOD 1.0
/*
 * How often a worker looks for weight changes (slow start's ramp, a reload that dropped a
 * runtime weight; an operator's runtime weight wakes it at once, WORKER_CMD_WEIGHTS): one
 * atomic load per service when nothing changed.
 */
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

static void balancers_free(struct balancer **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		if (v[i] != NULL)
			balancer_free(v[i]);
	free(v);
}

/* One balancer per service of rt, for worker id. */
static struct balancer **balancers_new(const struct lb_runtime *rt, unsigned id)
{
	const struct conf *c = rt->conf;
	struct balancer **v = calloc(c->nservices ? c->nservices : 1, sizeof(*v));

	for (size_t i = 0; v != NULL && i < c->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct conf_service *sc = svc->conf;
		struct balance_member *m =
			calloc(sc->nbackends > 0 ? sc->nbackends : 1, sizeof(*m));
		if (m == NULL)
			goto fail;
		for (size_t j = 0; j < sc->nbackends; j++) {
			m[j].name = sc->backends[j].address;
			/* A backend ramping up keeps its place on the ramp across a reload. */
			m[j].weight = backend_weight(&svc->backends[j]);
		}
		/* Each worker gets its own random stream, so they do not pick in lockstep. */
		v[i] = balancer_new(sc->balance, m, sc->nbackends, 0x9e3779b9u * (id + 1));
		free(m);
		if (v[i] == NULL)
			goto fail;
	}
	return v;
fail:
	balancers_free(v, c->nservices);
	return NULL;
}

/* Is every udp listener done with its flows (drained or closed)? */
static int udp_done(const struct worker *w)
{
	for (size_t i = 0; i < w->nudp; i++)
		if (udp_listener_draining_flows(w->udp[i]))
			return 0;
	return 1;
}

static void close_udp(struct worker *w)
{
	for (size_t i = 0; i < w->nudp; i++) {
		udp_listener_close(w->udp[i]);
		w->udp[i] = NULL;
	}
	w->nudp = 0;
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		listener_close(w->listeners[i]);
		w->listeners[i] = NULL;
	}
	w->nlisteners = 0;
}

/* Any thread: a queued session of this worker may take a slot now. */
static void queue_wake(void *arg)
{
	worker_command(arg, WORKER_CMD_QUEUE);
}

/* The session set's callbacks: out of fds or memory for a backend socket; its last session. */
static void pause_accepting(void *arg, const char *why)
{
	struct worker *w = arg;

	for (size_t i = 0; i < w->nlisteners; i++)
		listener_pause_resources(w->listeners[i], why);
}

static void sessions_empty(void *arg)
{
	struct worker *w = arg;

	if (w->state == WORKER_DRAINING && udp_done(w))
		worker_set_state(w, WORKER_DONE, "last session finished");
}

/* A draining udp listener's last flow got its reply. */
static void udp_empty(void *arg)
{
	struct worker *w = arg;

	if (w->state == WORKER_DRAINING && w->sessions.nlive == 0 && udp_done(w))
		worker_set_state(w, WORKER_DONE, "last udp flow finished");
}

/* ---- reload: main thread prepares, worker applies ---- */

struct worker_switch {
	struct lb_runtime *rt; /* a reference, handed to the worker */
	struct balancer **balancers;
	uint64_t *weights_gen;
	struct listener **listeners; /* room for every listener of rt */
	struct listener **added;     /* bound, not started: addresses new in rt */
	size_t nadded;
	struct udp_listener **udp; /* the same for udp listen entries */
	struct udp_listener **udp_added;
	size_t nudp_added;
	struct udp_batch *udp_batch; /* the worker's first udp listener comes with this reload */
};

static void switch_free(struct worker_switch *sw)
{
	if (sw == NULL)
		return;
	for (size_t i = 0; i < sw->nadded; i++)
		listener_close(sw->added[i]);
	free(sw->added);
	for (size_t i = 0; i < sw->nudp_added; i++)
		udp_listener_close(sw->udp_added[i]);
	free(sw->udp_added);
	free(sw->udp);
	udp_batch_free(sw->udp_batch);
	free(sw->listeners);
	free(sw->weights_gen);
	balancers_free(sw->balancers, sw->rt->conf->nservices);
	runtime_put(sw->rt);
	free(sw);
}

static int listen_same(const struct conf_listen *a, const struct addr *addr, enum conf_protocol p)
{
	return a->proto == p && addr_equal(&a->addr, addr);
}

/* Does c listen on lc's address, with lc's protocol? */
static int conf_listens_on(const struct conf *c, const struct conf_listen *lc)
{
	for (size_t i = 0; i < c->nservices; i++)
		for (size_t j = 0; j < c->services[i].nlisten; j++)
			if (listen_same(&c->services[i].listen[j], &lc->addr, lc->proto))
				return 1;
	return 0;
}

int worker_prepare_switch(struct worker *w, const struct lb_runtime *prev, struct lb_runtime *rt,
	const struct conf_listen **failed)
{
	const struct conf *c = rt->conf;
	struct worker_switch *sw = calloc(1, sizeof(*sw));
	size_t nlisten = 0;

	if (sw == NULL)
		return -ENOMEM;
	sw->rt = runtime_get(rt);
	for (size_t i = 0; i < c->nservices; i++)
		nlisten += c->services[i].nlisten;
	sw->balancers = balancers_new(rt, w->id);
	sw->weights_gen = calloc(c->nservices ? c->nservices : 1, sizeof(*sw->weights_gen));
	/* Kept and added ones: a successor's worker may hold two sockets of one address. */
	sw->listeners = calloc(nlisten + w->nlisteners + 1, sizeof(*sw->listeners));
	sw->added = calloc(nlisten ? nlisten : 1, sizeof(*sw->added));
	sw->udp = calloc(nlisten + w->nudp + 1, sizeof(*sw->udp));
	sw->udp_added = calloc(nlisten ? nlisten : 1, sizeof(*sw->udp_added));
	if (sw->balancers == NULL || sw->weights_gen == NULL || sw->listeners == NULL ||
		sw->added == NULL || sw->udp == NULL || sw->udp_added == NULL) {
		switch_free(sw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nservices; i++) {
		for (size_t j = 0; j < c->services[i].nlisten; j++) {
			const struct conf_listen *lc = &c->services[i].listen[j];
			if (conf_listens_on(prev->conf, lc))
				continue;
			int err;
			if (lc->proto == CONF_PROTO_UDP) {
				struct udp_listener *u = udp_listener_prepare(
					&rt->services[i], lc, w->id, w->id == 0, &err);
				if (u != NULL && sw->udp_batch == NULL && w->udp_batch == NULL &&
					(sw->udp_batch = udp_batch_new()) == NULL) {
					udp_listener_close(u);
					u = NULL;
					err = -ENOMEM;
				}
				if (u == NULL) {
					switch_free(sw);
					*failed = lc;
					return err;
				}
				sw->udp_added[sw->nudp_added++] = u;
				continue;
			}
			struct listener *l = listener_prepare(&rt->services[i], lc, w->id, &err);
			if (l == NULL) {
				switch_free(sw);
				*failed = lc;
				return err;
			}
			sw->added[sw->nadded++] = l;
		}
	}
	w->next_switch = sw;
	return 0;
}

void worker_cancel_switch(struct worker *w)
{
	switch_free(w->next_switch);
	w->next_switch = NULL;
}

void worker_commit_switch(struct worker *w)
{
	struct worker_switch *old = atomic_exchange(&w->pending, w->next_switch);

	/* The main thread waits for each switch to be applied before preparing the next. */
	if (old != NULL)
		switch_free(old);
	w->next_switch = NULL;
	worker_command(w, WORKER_CMD_SWITCH);
}

uint64_t worker_generation(const struct worker *w)
{
	return atomic_load(&w->generation);
}

/* Finds where rt listens on a with protocol p: the service and its listen entry. */
static struct lb_service *find_listen(struct lb_runtime *rt, const struct addr *a,
	enum conf_protocol p, const struct conf_listen **lc)
{
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct conf_service *sc = rt->services[i].conf;
		for (size_t j = 0; j < sc->nlisten; j++) {
			if (listen_same(&sc->listen[j], a, p)) {
				*lc = &sc->listen[j];
				return &rt->services[i];
			}
		}
	}
	return NULL;
}

/*
 * The worker moves to sw's generation: new listeners start, listeners on kept addresses are
 * rebound (never closed), removed ones close; balancers are replaced. Sessions keep the generation
 * they started under until they end.
 */
static void apply_switch(struct worker *w, struct worker_switch *sw)
{
	struct lb_runtime *old = w->rt, *rt = sw->rt;
	size_t n = 0;

	udp_batch_flush(w->udp_batch); /* waiting replies point into old's service states */

	/* New ones first: a service whose address changes never has nothing listening. */
	for (size_t i = 0; i < sw->nadded; i++) {
		if (w->state == WORKER_RUNNING) {
			listener_start(sw->added[i], &w->sessions);
			sw->listeners[n++] = sw->added[i];
		} else {
			listener_close(sw->added[i]); /* stopping: too late to open anything */
		}
	}
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct listener *l = w->listeners[i];
		const struct conf_listen *lc = NULL;
		struct lb_service *svc = find_listen(rt, listener_addr(l), CONF_PROTO_TCP, &lc);
		if (svc == NULL) {
			listener_close(l);
			continue;
		}
		listener_rebind(l, svc, lc);
		sw->listeners[n++] = l;
	}
	sw->nadded = 0;
	free(w->listeners);
	w->listeners = sw->listeners;
	w->nlisteners = n;
	sw->listeners = NULL;

	n = 0;
	if (sw->udp_batch != NULL) {
		w->udp_batch = sw->udp_batch;
		sw->udp_batch = NULL;
	}
	for (size_t i = 0; i < sw->nudp_added; i++) {
		if (w->state == WORKER_RUNNING) {
			udp_listener_start(sw->udp_added[i], &w->sessions, w->udp_batch);
			sw->udp[n++] = sw->udp_added[i];
		} else {
			udp_listener_close(sw->udp_added[i]);
		}
	}
	sw->nudp_added = 0;
	for (size_t i = 0; i < w->nudp; i++) {
		struct udp_listener *u = w->udp[i];
		const struct conf_listen *lc = NULL;
		struct lb_service *svc = find_listen(rt, udp_listener_addr(u), CONF_PROTO_UDP, &lc);
		if (svc == NULL) {
			udp_listener_close(u);
			continue;
		}
		udp_listener_rebind(u, svc, lc);
		sw->udp[n++] = u;
	}
	free(w->udp);
	w->udp = sw->udp;
	w->nudp = n;
	sw->udp = NULL;

	balancers_free(w->balancers, old->conf->nservices);
	w->balancers = sw->balancers;
	sw->balancers = NULL;
	free(w->weights_gen);
	w->weights_gen = sw->weights_gen;
	sw->weights_gen = NULL;
	ev_timer_stop(w->loop, &w->weights);
	if (w->state == WORKER_RUNNING)
		ev_timer_start(w->loop, &w->weights);

	w->rt = rt;
	sw->rt = NULL;
	session_set_switch(&w->sessions, w->rt, w->balancers);
	atomic_store(&w->generation, rt->generation);
	log_debug("worker %u: now on configuration generation %llu, %zu listeners", w->id,
		(unsigned long long)rt->generation, n);
	runtime_put(old);
	free(sw->added);
	free(sw->udp_added);
	free(sw);
}

/* Copies the effective weights (slow start, runtime weights) into the balancers when they moved. */
static void apply_weights(struct worker *w)
{
	for (size_t i = 0; i < w->rt->nservices; i++) {
		struct lb_service *svc = &w->rt->services[i];
		uint64_t gen = atomic_load(&svc->st->weights_gen);
		if (gen == w->weights_gen[i])
			continue;
		w->weights_gen[i] = gen;
		for (size_t j = 0; j < svc->conf->nbackends; j++)
			balancer_set_weight(w->balancers[i], j, backend_weight(&svc->backends[j]));
	}
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = container_of(a, struct worker, wake);
	int cmd = atomic_exchange(&w->cmd, 0);
	(void)loop;
	(void)revents;

	if (cmd & WORKER_CMD_SWITCH) {
		struct worker_switch *sw = atomic_exchange(&w->pending, NULL);
		if (sw != NULL)
			apply_switch(w, sw);
	}
	if ((cmd & WORKER_CMD_DRAIN) && w->state == WORKER_RUNNING) {
		close_listeners(w);
		ev_timer_stop(w->loop, &w->weights);
		worker_set_state(w, WORKER_DRAINING, "stop accepting");
		/* A udp socket stops being read but stays for the replies its flows await: after
		 * an upgrade the successor reads the same socket (lb/udp_listener.h). */
		for (size_t i = 0; i < w->nudp; i++)
			udp_listener_drain(w->udp[i], udp_empty, w);
		if (w->state != WORKER_DRAINING)
			return; /* the last udp flow was the last of all */
		if (w->sessions.nlive == 0 && udp_done(w)) {
			worker_set_state(w, WORKER_DONE, "no sessions");
			return;
		}
		log_info("worker %u: waiting for %zu sessions%s", w->id, w->sessions.nlive,
			udp_done(w) ? "" : " and udp flows awaiting replies");
	}
	if (cmd & WORKER_CMD_SWEEP)
		session_close_dead(&w->sessions);
	if (cmd & WORKER_CMD_WEIGHTS)
		apply_weights(w);
	if (cmd & WORKER_CMD_QUEUE)
		session_set_run_queue(&w->sessions);
	if ((cmd & WORKER_CMD_FORCE) && w->state == WORKER_DRAINING) {
		log_info("worker %u: drain deadline: closing %zu sessions", w->id,
			w->sessions.nlive);
		close_udp(w);
		if (w->sessions.nlive == 0) {
			worker_set_state(w, WORKER_DONE, "drain deadline");
			return;
		}
		/* The last one makes the worker DONE (sessions_empty). */
		session_abort_all(&w->sessions, "drain timeout");
	}
}

static void weights_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	apply_weights(container_of(t, struct worker, weights));
}

static void trim_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, pool_trim);
	(void)loop;
	(void)revents;
	pump_pool_trim(&w->sessions.pool, POOL_FLOOR);
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

int worker_init(struct worker *w, unsigned id, struct lb_runtime *rt, struct inherited *in)
{
	const struct conf *c = rt->conf;
	size_t nlisten = 0;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->rt = runtime_get(rt);
	atomic_store(&w->generation, rt->generation);
	w->state = WORKER_RUNNING;
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (w->loop == NULL) {
		log_error("worker %u: cannot create an event loop", id);
		return -ENOMEM;
	}
	ev_async_init(&w->wake, wake_cb);
	ev_async_start(w->loop, &w->wake);
	int rc = session_set_init(&w->sessions, w->loop, w->rt, NULL, POOL_KEEP);
	w->sessions.pause_accepting = pause_accepting;
	w->sessions.empty = sessions_empty;
	w->sessions.wake = queue_wake;
	w->sessions.arg = w;
	if (rc < 0)
		return rc;

	w->balancers = balancers_new(rt, id);
	session_set_switch(&w->sessions, w->rt, w->balancers);
	w->weights_gen = calloc(c->nservices ? c->nservices : 1, sizeof(*w->weights_gen));
	for (size_t i = 0; i < c->nservices; i++)
		nlisten += c->services[i].nlisten;
	w->listeners = calloc(nlisten ? nlisten : 1, sizeof(*w->listeners));
	w->udp = calloc(nlisten ? nlisten : 1, sizeof(*w->udp));
	if (w->balancers == NULL || w->weights_gen == NULL || w->listeners == NULL ||
		w->udp == NULL)
		return -ENOMEM;
	/* Fast enough for the shortest watchdog_timeout (100 ms); slower without anycast, where
	 * only systemd's watchdog (seconds) listens. */
	double alive = rt->conf->bgp.enabled ? ALIVE_PERIOD : ALIVE_PERIOD_SLOW;
	ev_timer_init(&w->alive_timer, alive_cb, alive, alive);
	ev_timer_start(w->loop, &w->alive_timer);
	ev_timer_init(&w->pool_trim, trim_cb, POOL_TRIM_PERIOD, POOL_TRIM_PERIOD);
	ev_timer_start(w->loop, &w->pool_trim);
	ev_timer_init(&w->weights, weights_cb, WEIGHTS_PERIOD, WEIGHTS_PERIOD);
	ev_timer_start(w->loop, &w->weights);
	for (size_t i = 0; i < c->nservices; i++) {
		for (size_t j = 0; j < c->services[i].nlisten; j++) {
			const struct conf_listen *lc = &c->services[i].listen[j];
			if (lc->proto == CONF_PROTO_UDP) {
				/* The socket the anylb it succeeds has (the same one: it
				 * drains and stops reading), else one of its own. */
				int err, ufd = inherited_take(in, INHERITED_UDP, &lc->addr);
				struct udp_listener *u =
					ufd >= 0 ? udp_listener_adopt(
							   &rt->services[i], lc, id, ufd, &err)
						 : udp_listener_prepare(&rt->services[i], lc, id,
							   id == 0 && in == NULL, &err);
				if (u == NULL)
					return err;
				if (w->udp_batch == NULL &&
					(w->udp_batch = udp_batch_new()) == NULL) {
					udp_listener_close(u);
					return -ENOMEM;
				}
				udp_listener_start(u, &w->sessions, w->udp_batch);
				w->udp[w->nudp++] = u;
				continue;
			}
			int fd = inherited_take(in, INHERITED_LISTEN, &lc->addr);
			struct listener *l =
				fd >= 0 ? listener_adopt(&w->sessions, id, &rt->services[i], lc, fd)
					: listener_new(&w->sessions, id, &rt->services[i], lc);
			if (l == NULL)
				return -EADDRNOTAVAIL;
			w->listeners[w->nlisteners++] = l;
		}
	}
	return 0;
}

int worker_adopt_udp(struct worker *w, struct lb_service *svc, const struct conf_listen *lc, int fd)
{
	struct udp_listener **v = realloc(w->udp, (w->nudp + 1) * sizeof(*v));
	int err;

	if (v == NULL) {
		close(fd);
		return -ENOMEM;
	}
	w->udp = v;
	struct udp_listener *u = udp_listener_adopt(svc, lc, w->id, fd, &err);
	if (u == NULL)
		return err;
	if (w->udp_batch == NULL && (w->udp_batch = udp_batch_new()) == NULL) {
		udp_listener_close(u);
		return -ENOMEM;
	}
	udp_listener_start(u, &w->sessions, w->udp_batch);
	w->udp[w->nudp++] = u;
	return 0;
}

int worker_adopt_listener(
	struct worker *w, struct lb_service *svc, const struct conf_listen *lc, int fd)
{
	struct listener **v = realloc(w->listeners, (w->nlisteners + 1) * sizeof(*v));

	if (v == NULL) {
		close(fd);
		return -ENOMEM;
	}
	w->listeners = v;
	struct listener *l = listener_adopt(&w->sessions, w->id, svc, lc, fd);
	if (l == NULL)
		return -ENOMEM;
	w->listeners[w->nlisteners++] = l;
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
		ev_timer_stop(w->loop, &w->pool_trim);
		ev_timer_stop(w->loop, &w->weights);
		close_listeners(w);
		close_udp(w);
		session_abort_all(&w->sessions, "shutdown");
	}
	if (w->rt != NULL)
		balancers_free(w->balancers, w->rt->conf->nservices);
	free(w->weights_gen);
	worker_cancel_switch(w);
	struct worker_switch *sw = atomic_exchange(&w->pending, NULL);
	if (sw != NULL) {
		w->next_switch = sw;
		worker_cancel_switch(w);
	}
	free(w->listeners);
	free(w->udp);
	udp_batch_free(w->udp_batch);
	session_set_destroy(&w->sessions);
	if (w->loop != NULL)
		ev_loop_destroy(w->loop);
	runtime_put(w->rt);
	memset(w, 0, sizeof(*w));
}
