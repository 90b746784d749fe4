/*
 * DOC: sessions
 *
 * A session is one client connection and the backend connection made for it.
 *
 * The sessions of one worker form its session set, which session.c owns: the live list, the
 * free list of recycled structs, the admission counts a session takes when it starts and gives
 * back when it ends, the pump pool its bytes move through and the fd reserve. The owner (a
 * worker) embeds the set, keeps the generation and the balancers it points to current, and
 * hears back through two callbacks; nothing here calls the worker or a listener.
 */
#ifndef ANYLB_LB_SESSION_H
#define ANYLB_LB_SESSION_H

#include "lb/pump.h"
#include "lb/runtime.h"
#include "lib/addr.h"

#include <ev.h>
#include <stddef.h>

struct balancer;
struct session;

struct session_set {
	/* Set by the owner; rt and balancers are replaced together by session_set_switch(). */
	struct ev_loop *loop;
	struct lb_runtime *rt; /* the generation new sessions start under (owner's reference) */
	struct balancer **balancers; /* one per service of rt (the owner's) */
	/* Out of fds or memory for a backend socket: the owner pauses accepting. */
	void (*pause_accepting)(void *arg, const char *why);
	/* The last live session ended. */
	void (*empty)(void *arg);
	/*
	 * A session of this set was granted a slot in its service's queue (any thread, no lock
	 * held): the owner calls session_set_run_queue() on its loop.
	 */
	void (*wake)(void *arg);
	void *arg;

	/* session.c's; the owner may read nlive, and trim the pool. */
	struct session *live; /* doubly linked */
	size_t nlive;
	struct session *recycled; /* singly linked */
	size_t nrecycled;
	struct pump_pool pool;
	int reserve_fd;           /* a spare fd given up when a backend socket hits the fd limit */
	struct queue_inbox inbox; /* this set's sessions granted a slot in a queue */
	int inbox_ready;
};

/*
 * Sets up an empty set on loop over rt and balancers, with a pump pool keeping pool_keep idle
 * pipes and buffers, and opens the fd reserve. The callbacks are filled in by the caller. 0 or
 * -errno. session_set_destroy() releases it either way.
 */
int session_set_init(struct session_set *set, struct ev_loop *loop, struct lb_runtime *rt,
	struct balancer **balancers, size_t pool_keep);

/* A reload: new sessions start under rt and pick with balancers; live ones keep theirs. */
void session_set_switch(
	struct session_set *set, struct lb_runtime *rt, struct balancer **balancers);

/*
 * Frees the recycled structs, the pool and the reserve. Every live session must have ended
 * (session_abort_all). A set that is all zeroes (never initialised) is left alone.
 */
void session_set_destroy(struct session_set *set);

/*
 * Starts a session for the accepted client fd cfd of svc (ownership passes: it is closed in
 * every case). A client that svc's allow, deny or rate_limit refuses is closed at once, counted
 * (denied, rate_limited) and -EACCES returned; for accept_proxy listeners that judgement waits
 * for the PROXY header's address. Counts it against global.max_connections and svc's
 * max_connections next: at a
 * limit the client is closed at once, counted as refused_limit, and -EBUSY returned (checking
 * again here closes the race between workers). When every usable backend is at its own
 * max_connections, the session waits in the service's queue (queue.max, timeouts.queue). -ENOMEM
 * when no session struct could be had. 0 once the session runs; it gives its counts back when it
 * ends.
 */
int session_start(struct session_set *set, struct lb_service *svc, int cfd,
	const struct addr *client, enum conf_accept_proxy accept);

/* True when the process is at global.max_connections: a new client would not be admitted. */
int session_set_full(const struct session_set *set);

/* Tries again the sessions of the set that were granted a slot in their service's queue. */
void session_set_run_queue(struct session_set *set);

/* Ends every live session at once (drain deadline, shutdown): both sockets are closed. */
void session_abort_all(struct session_set *set, const char *reason);

/* Closes every session of the set whose backend is dead (liveness failed). */
void session_close_dead(struct session_set *set);

/*
 * The fd reserve, relayd's answer to EMFILE between accept(2) and the backend's socket(2): a
 * session that accepted the last fd closes the spare so its backend socket can be had and asks
 * the owner to pause accepting; accepting should stay paused until the spare could be opened
 * again (this, which retries; true when the spare is there). A client that was accepted is
 * then always served.
 */
int session_reserve_ready(struct session_set *set);

#endif
