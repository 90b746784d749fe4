/*
 * DOC: worker threads
 *
 * Each worker is a thread with its own libev loop, its own SO_REUSEPORT listener per listen
 * address, its own balancers and its own sessions: the kernel spreads new connections over the
 * workers' listeners, and after that a session never leaves its worker. The main thread talks to
 * workers only through an ev_async and an atomic command word.
 *
 *   RUNNING --stop accepting--> DRAINING --last session gone / drain deadline--> DONE
 */
#ifndef ANYLB_LB_WORKER_H
#define ANYLB_LB_WORKER_H

#include "lb/runtime.h"
#include "lb/session.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>

struct balancer;
struct listener;
struct udp_listener;

enum worker_state { WORKER_RUNNING, WORKER_DRAINING, WORKER_DONE };

/* Commands from the main thread, OR-ed into worker.cmd. */
#define WORKER_CMD_DRAIN   1  /* close listeners, exit once the last session is gone */
#define WORKER_CMD_FORCE   2  /* close every session now */
#define WORKER_CMD_SWEEP   4  /* close the sessions of backends that went dead */
#define WORKER_CMD_SWITCH  8  /* move to the generation handed over by worker_commit_switch */
#define WORKER_CMD_QUEUE   16 /* a queued session of this worker was granted a slot */
#define WORKER_CMD_WEIGHTS 32 /* an operator changed a weight: look now, not at the next tick */

struct worker_switch;

struct worker {
	unsigned id;
	struct ev_loop *loop;
	pthread_t thread;
	int started;
	struct lb_runtime *rt; /* the generation new sessions start under; a reference */
	enum worker_state state;
	struct worker_switch *next_switch;       /* main thread: prepared, not handed over yet */
	_Atomic(struct worker_switch *) pending; /* handed over, not applied yet */
	_Atomic uint64_t generation;             /* of rt, for the main thread */

	ev_async wake;
	_Atomic int cmd;
	/* Called on the worker's thread once it is DONE (the main thread's wake-up). */
	void (*on_done)(struct worker *w, void *arg);
	void *on_done_arg;

	struct listener **listeners;
	size_t nlisteners;
	struct udp_listener **udp; /* the udp services' sockets (lb/udp_listener.h) */
	size_t nudp;
	struct udp_batch *udp_batch; /* their receive buffers; made with the first one */
	struct balancer **balancers; /* one per service */
	uint64_t *weights_gen;       /* per service: the weights_gen the balancer reflects */
	ev_timer weights;            /* looks for slow-start weight changes */

	struct session_set
		sessions; /* session.c's; this worker keeps its rt and balancers current */

	ev_timer alive_timer; /* shows the loop turns, for the watchdog heartbeat */
	ev_timer pool_trim;   /* gives idle pipes back after a burst */
	_Atomic uint64_t alive;
};

struct inherited;

/*
 * Sets up worker id over rt: creates its loop, balancers and listeners (binding now, so errors
 * show before anything runs; an upgrade's successor takes one socket per address from in, when
 * it has one, instead of binding; in may be NULL). Returns 0 or -errno with the reason logged.
 */
int worker_init(struct worker *w, unsigned id, struct lb_runtime *rt, struct inherited *in);

/*
 * Before the worker starts: one more listener for lc of service svc, on fd (inherited: the
 * anylb this one succeeds had more workers than this one). Takes fd. 0 or -ENOMEM.
 */
int worker_adopt_listener(
	struct worker *w, struct lb_service *svc, const struct conf_listen *lc, int fd);

/* The same for a udp listen entry (an inherited udp socket, lb/udp_listener.h). */
int worker_adopt_udp(
	struct worker *w, struct lb_service *svc, const struct conf_listen *lc, int fd);

/* Starts the worker's thread. */
int worker_start(struct worker *w);

/* Thread-safe: asks the worker to drain (or to close everything, with WORKER_CMD_FORCE). */
void worker_command(struct worker *w, int cmd);

/* Counts the worker loop's turns (its alive timer). Any thread. */
uint64_t worker_alive(const struct worker *w);

/*
 * Live reload, main thread. worker_prepare_switch() builds everything w needs to move from prev
 * to rt that can fail (balancers; sockets bound for addresses prev does not listen on), so a
 * failure (0 or -errno, logged; *failed is then the listen entry that cannot bind, if that was
 * it) stops the reload before anything changed.
 * worker_commit_switch() hands it to the worker, which applies it on its own thread at once
 * (worker_generation() then says rt's); worker_cancel_switch() drops it instead.
 */
int worker_prepare_switch(struct worker *w, const struct lb_runtime *prev, struct lb_runtime *rt,
	const struct conf_listen **failed);
void worker_commit_switch(struct worker *w);
void worker_cancel_switch(struct worker *w);
uint64_t worker_generation(const struct worker *w);

/* Joins the thread (if started) and releases everything the worker owns. */
void worker_destroy(struct worker *w);

#endif
