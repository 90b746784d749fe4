/*
 * DOC: sessions
 *
 * One client connection and the backend connection made for it, on one worker.
 *
 *                      connect refused / timed out / backend dead,
 *                      attempts left: the next backend
 *                          +-----+
 *                          v     |
 *   session_start() --> [HEADER] --> CONNECTING ----connected----> PROXYING
 *                        |  ^   |                           |
 *     every usable backend |  |   |                           |
 *     at max_connections,  v  |   |                           |
 *     or others queued:  QUEUED   |                           |
 *     granted a slot --------+    |                           |
 *     (queue full, queue timeout: |                           |
 *      CLOSED)                    |                           |
 *                          | no backend left, service    | both FINs passed on, reset or
 *                          | removed by a reload, no     | error on either side, idle or
 *                          | backend socket, drain       | half-close timeout, backend dead,
 *                          | deadline                    | PROXY header failed, drain deadline
 *                          v                             v
 *                        CLOSED <------------------------+
 *
 * Before CONNECTING, a client may first have to send what anylb reads itself:
 *
 *   [HEADER] --header read, service has sni--> [HELLO] --ClientHello read, target--> CONNECTING
 *       |                                          |
 *       | missing, bad or late header               | malformed or late, nowhere to go
 *       +---------------------> CLOSED <-----------+
 *
 * session_set_state() is the one setter and logs every transition with its reason; CLOSED is
 * set by session_close() alone, after which the struct goes back to the free list.
 *
 * A retry is only possible in CONNECTING: no byte has been read from the client yet (the
 * client's data waits in its socket), so another backend can take over and the client never
 * notices. The sockets, the pump halves and the timer belong to the session; session_close()
 * is the single exit and releases them all (release_backend() gives up one backend attempt, for
 * a retry and for the exit alike).
 *
 * HEADER (listen[].accept_proxy only) reads the PROXY header an upstream balancer sends
 * first, exactly its bytes (lb/proxy_in.h), on timeouts.proxy_header; a bad or missing one, or
 * the timeout, closes the client (CLOSED) with the reason and a counter. Its addresses are the
 * session's client and local address from then on.
 *
 * HELLO (a service with sni only; after HEADER when both apply) peeks at the client's
 * ClientHello until it is whole (lb/client_hello.h), never consuming a byte, so the backend
 * gets it untouched; SO_RCVLOWAT holds the wake-up back until the bytes it still needs are
 * there. Its server name picks the target service (conf_sni_pick()); the session's counts move
 * there (route_to()) and it goes on to CONNECTING as a session of that service. A malformed or
 * late ClientHello, or nowhere to go, closes the client (CLOSED) with the reason and a counter.
 *
 * Before a session exists, a service with allow, deny or rate_limit judges the client
 * (admit_refusal(), one branch for the others) and a refused one is closed at once, before any
 * count is taken; an accept_proxy client is judged in HEADER, once its header named it, and
 * closed from there (CLOSED). tcp_keepalive is set on the client socket at the start and on
 * each backend socket before its connect.
 *
 * QUEUED waits in the service's queue (lb/queue.h) for a backend with room, on the queue timeout;
 * a grant (the worker's WORKER_CMD_QUEUE, session_set_run_queue()) sends it back to CONNECTING,
 * and a session that finds no room then waits again in its place.
 *
 * Timeouts follow ev.pod's "be smart about timeouts": activity only stores ev_now(); the one
 * timer checks when it fires whether the session really was idle, and re-arms itself with
 * ev_timer_again for the remaining time otherwise. No timer is touched per read.
 */
#include "lb/session.h"

#include "lb/accesslog.h"
#include "lb/admit.h"
#include "lb/backend.h"
#include "lb/balance.h"
#include "lb/client_hello.h"
#include "lb/pick.h"
#include "lb/proxy_in.h"
#include "lb/proxy_proto.h"
#include "lb/pump.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Bytes one direction may move per wake-up before yielding to other sessions. */
#define PUMP_BUDGET (512 * 1024)

/* Recycled session structs kept per worker; beyond this they are freed. */
#define SESSION_FREE_MAX 4096

/* HEADER and HELLO come first: client_cb tells them from the rest with one comparison. */
enum session_state {
	SESSION_HEADER,
	SESSION_HELLO,
	SESSION_CONNECTING,
	SESSION_QUEUED,
	SESSION_PROXYING,
	SESSION_CLOSED,
};

/* What a session behind accept_proxy keeps (only those pay for it). */
struct session_proxied {
	int have_local;    /* the header named the address the client connected to */
	struct addr local; /* that address: the PROXY header to the backend carries it */
	size_t len;        /* header bytes consumed so far, while they come in pieces */
	uint8_t buf[PROXY_IN_MAX];
};

/* The two ends of a session: which one a failure was on decides its result and its blame. */
enum session_side { SESSION_CLIENT, SESSION_BACKEND };

struct session {
	struct session_set *set;
	struct lb_service *svc;
	struct session *prev, *next; /* the set's live list; next also links the free list */
	enum session_state state;
	int cfd, bfd;
	int backend; /* index in svc->backends, -1 while none is held */
	ev_io cio, bio;
	ev_timer timer;
	ev_tstamp last_active;
	ev_tstamp connect_start;
	ev_tstamp started;
	float connect_s;              /* how long the connect that succeeded took; < 0: none */
	uint32_t queue_ms;            /* how long it waited in the queue */
	struct queue_entry qe;        /* its place in the service's queue */
	uint64_t bytes_in, bytes_out; /* client -> backend, backend -> client */
	struct pump_half up;          /* client -> backend */
	struct pump_half down;        /* backend -> client */
	uint8_t cev, bev;             /* events the io watchers are started with */
	uint8_t half_closed;
	uint8_t ntried;
	uint8_t trial;                   /* this session is its backend's outlier trial */
	uint8_t reported;                /* the backend's outlier detector has heard how it went */
	uint8_t hdr_len, hdr_off;        /* PROXY header still to send */
	uint8_t accept;                  /* enum conf_accept_proxy of its listener */
	uint8_t lowat;                   /* HELLO set SO_RCVLOWAT on the client socket */
	uint8_t queued;                  /* client bytes waited when the connect began */
	struct session_proxied *proxied; /* with accept_proxy; NULL otherwise */
	uint16_t tried[CONF_MAX_RETRIES + 1];
	struct addr client;
	char hdr[PROXY_PROTO_MAX];
};

static void client_cb(struct ev_loop *loop, ev_io *io, int revents);
static void backend_cb(struct ev_loop *loop, ev_io *io, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void connect_next(struct session *s);
static void read_header(struct session *s);
static void read_hello(struct session *s);
static void start_hello(struct session *s);
static void log_refused(
	struct session *s, const char *why, unsigned long long total, const char *what);
static void set_keepalive(int fd, const struct conf_keepalive_side *k, const char *side);
static void set_packet_savers(struct session *s);

static const char *state_name(enum session_state st)
{
	switch (st) {
	case SESSION_HEADER:
		return "header";
	case SESSION_HELLO:
		return "hello";
	case SESSION_CONNECTING:
		return "connecting";
	case SESSION_QUEUED:
		return "queued";
	case SESSION_PROXYING:
		return "proxying";
	case SESSION_CLOSED:
		return "closed";
	}
	return "?";
}

static const char *side_name(enum session_side side)
{
	switch (side) {
	case SESSION_CLIENT:
		return "client";
	case SESSION_BACKEND:
		return "backend";
	}
	return "?";
}

static const char *backend_name(const struct session *s)
{
	return s->backend >= 0 ? s->svc->conf->backends[s->backend].address : "-";
}

/*
 * The one place the state changes after session_start(): logs every transition with its reason
 * (debug: there are several per connection). CONNECTING -> CONNECTING is a retry.
 */
static void session_set_state(struct session *s, enum session_state st, const char *why)
{
	char cbuf[ADDR_STRLEN];

	log_debug("session %s -> %s (%s): %s -> %s: %s",
		addr_format(&s->client, cbuf, sizeof(cbuf)), backend_name(s), s->svc->conf->name,
		state_name(s->state), state_name(st), why);
	s->state = st;
}

/*
 * Tells the outlier detector how the backend connection went, once per backend attempt:
 * failure for connect refused / timed out / reset before the first byte, success once the
 * backend has sent something or the session ended without such a failure.
 */
static void report_outcome(struct session *s, int ok, const char *why)
{
	if (s->backend < 0 || s->reported)
		return;
	s->reported = 1;
	backend_session_outcome(&s->svc->backends[s->backend], ok, s->trial, why, clock_ms());
	s->trial = 0;
}

/* The session gives up its backend attempt without a verdict: a trial goes back on offer. */
static void no_verdict(struct session *s)
{
	if (s->trial && s->backend >= 0)
		backend_trial_abandoned(&s->svc->backends[s->backend]);
	s->trial = 0;
	s->reported = 1;
}

/*
 * Counts a new session against both limits; 0, or -1 when one is reached (nothing is counted
 * then). The global limit was checked before accept(2); checking it again here closes the race
 * between workers. The counts live in the generation's shared state, so rt is the set's current
 * one for taking and for giving back alike.
 */
static int admission_take(struct lb_runtime *rt, struct lb_service *svc)
{
	uint32_t max = rt->conf->global.max_connections;

	if (atomic_fetch_add(&rt->proc->active, 1) >= max) {
		atomic_fetch_sub(&rt->proc->active, 1);
		return -1;
	}
	if (svc->conf->max_connections != 0 &&
		atomic_fetch_add(&svc->st->active, 1) >= svc->conf->max_connections) {
		atomic_fetch_sub(&svc->st->active, 1);
		atomic_fetch_sub(&rt->proc->active, 1);
		return -1;
	}
	if (svc->conf->max_connections == 0)
		atomic_fetch_add(&svc->st->active, 1);
	return 0;
}

static void admission_return(struct lb_runtime *rt, struct lb_service *svc)
{
	atomic_fetch_sub(&svc->st->active, 1);
	atomic_fetch_sub(&rt->proc->active, 1);
}

static void set_link(struct session_set *set, struct session *s)
{
	s->prev = NULL;
	s->next = set->live;
	if (set->live != NULL)
		set->live->prev = s;
	set->live = s;
	set->nlive++;
}

static void set_unlink(struct session_set *set, struct session *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		set->live = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	set->nlive--;
}

/* Keeps a finished session's struct for the next one, up to SESSION_FREE_MAX. */
static void set_recycle(struct session_set *set, struct session *s)
{
	if (set->nrecycled < SESSION_FREE_MAX) {
		s->next = set->recycled;
		set->recycled = s;
		set->nrecycled++;
	} else {
		free(s);
	}
}

/* The spare fd, closed so a backend socket can be had. 0, or -EMFILE when it is gone already. */
static int spend_reserve(struct session_set *set)
{
	if (set->reserve_fd < 0)
		return -EMFILE;
	close(set->reserve_fd);
	set->reserve_fd = -1;
	return 0;
}

static void pause_accepting(struct session_set *set, const char *why)
{
	if (set->pause_accepting != NULL)
		set->pause_accepting(set->arg, why);
}

/*
 * Gives up the backend connection (or the attempt at one) and the backend's count of it: both
 * a failed connect before the next try and session_close() end an attempt here.
 */
static void release_backend(struct session *s)
{
	ev_io_stop(s->set->loop, &s->bio);
	s->bev = 0;
	if (s->bfd >= 0) {
		close(s->bfd);
		s->bfd = -1;
	}
	if (s->backend >= 0) {
		struct lb_backend *b = &s->svc->backends[s->backend];
		atomic_fetch_sub(&b->st->active, 1);
		atomic_fetch_add_explicit(&b->st->bytes_in, s->bytes_in, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->st->bytes_out, s->bytes_out, memory_order_relaxed);
		s->backend = -1;
		/* A slot of a limited backend freed: the oldest waiting client may take it. */
		if (b->conf->max_connections != 0 && atomic_load(&s->svc->st->queue.len) > 0)
			queue_grant(&s->svc->st->queue);
	}
}

/* The session is out of the queue, with a backend (served) or not. */
static void leave_queue(struct session *s, int served)
{
	uint64_t now = clock_ms();

	if (s->qe.state == QUEUE_IDLE)
		return;
	s->queue_ms = (uint32_t)(now - s->qe.since_ms);
	queue_leave(&s->svc->st->queue, &s->qe, served, now);
}

/* The access log's line for a session that ends (only with the access log on). */
static void log_access(
	const struct session *s, ev_tstamp lasted, enum lb_result result, const char *reason)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addr listener;
	int have_listener = getsockname(s->cfd, (struct sockaddr *)&ss, &len) == 0;

	if (have_listener)
		addr_from_sockaddr(&listener, (struct sockaddr *)&ss, len);
	struct access_record a = {
		.svc = s->svc,
		.client = &s->client,
		.backend = s->backend >= 0 ? &s->svc->backends[s->backend] : NULL,
		.listener = have_listener ? &listener : NULL,
		.bytes_in = s->bytes_in,
		.bytes_out = s->bytes_out,
		.duration_s = lasted,
		.connect_s = s->connect_s,
		.retries = s->ntried > 0 ? s->ntried - 1u : 0,
		.queue_ms = s->queue_ms,
		.result = result,
		.reason = reason,
	};
	access_log_line(&a);
}

/* A finished session's length, from accept to close, in its service's histogram. */
static void observe_duration(struct lb_service *svc, ev_tstamp seconds)
{
	if (seconds < 0)
		seconds = 0; /* ev_now() is wall-clock: a step back must not wrap */
	atomic_fetch_add_explicit(
		&svc->st->duration_hist[lb_bucket(lb_session_bounds, LB_SESSION_BUCKETS, seconds)],
		1, memory_order_relaxed);
	atomic_fetch_add_explicit(
		&svc->st->duration_sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

/* The single exit: releases everything the session owns and undoes its counts. */
static void session_close(
	struct session *s, enum lb_result result, const char *reason, int reset_client)
{
	struct session_set *set = s->set;
	enum session_state was = s->state;

	leave_queue(s, 0);
	session_set_state(s, SESSION_CLOSED, reason);
	ev_tstamp lasted = ev_now(set->loop) - s->started;
	if (access_log_on(s->svc))
		log_access(s, lasted, result, reason);
	observe_duration(s->svc, lasted);
	/* An attempt cut while connecting (drain deadline) counts against its backend. */
	report_outcome(s, was == SESSION_PROXYING, reason);
	ev_io_stop(set->loop, &s->cio);
	ev_timer_stop(set->loop, &s->timer);
	free(s->proxied);
	s->proxied = NULL;
	pump_half_release(&set->pool, &s->up);
	pump_half_release(&set->pool, &s->down);
	if (reset_client) {
		/* An RST tells the client at once that nobody will serve it. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(s->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(s->cfd);
	s->cfd = -1;
	release_backend(s);
	atomic_fetch_add_explicit(&s->svc->st->results[result], 1, memory_order_relaxed);
	admission_return(set->rt, s->svc);
	set_unlink(set, s);
	/* The generation the session ran under may go with it (a reload replaced it). */
	runtime_put(s->svc->rt);
	s->svc = NULL;
	set_recycle(set, s);
	/* An fd was just freed: the first goes back to the reserve. */
	if (set->reserve_fd < 0)
		session_reserve_ready(set);
	if (set->nlive == 0 && set->empty != NULL)
		set->empty(set->arg);
}

/* Starts, stops or changes an io watcher only when its events really change. */
static void io_set(struct ev_loop *loop, ev_io *io, uint8_t *cur, int fd, int events)
{
	if (*cur == events)
		return;
	ev_io_stop(loop, io);
	ev_io_set(io, fd, events);
	if (events != 0)
		ev_io_start(loop, io);
	*cur = (uint8_t)events;
}

static void update_io(struct session *s)
{
	int up = pump_wants(&s->up), down = pump_wants(&s->down);
	int cev = 0, bev = 0;

	if (s->hdr_off < s->hdr_len) {
		bev |= EV_WRITE; /* the header goes first; client bytes wait */
	} else {
		if (up & PUMP_WANT_READ)
			cev |= EV_READ;
		if (up & PUMP_WANT_WRITE)
			bev |= EV_WRITE;
	}
	if (down & PUMP_WANT_READ)
		bev |= EV_READ;
	if (down & PUMP_WANT_WRITE)
		cev |= EV_WRITE;
	io_set(s->set->loop, &s->cio, &s->cev, s->cfd, cev);
	io_set(s->set->loop, &s->bio, &s->bev, s->bfd, bev);
}

static ev_tstamp ms_to_ev(uint64_t ms)
{
	return (ev_tstamp)ms / 1000.0;
}

/* The timeout that applies now: connect, idle, or half-close once one way is finished. */
static ev_tstamp current_timeout(const struct session *s)
{
	const struct conf_timeouts *t = &s->svc->conf->timeouts;

	switch (s->state) {
	case SESSION_HEADER:
		return ms_to_ev(t->proxy_header_ms);
	case SESSION_HELLO:
		return ms_to_ev(t->client_hello_ms);
	case SESSION_CONNECTING:
		return ms_to_ev(t->connect_ms);
	case SESSION_QUEUED:
		return ms_to_ev(t->queue_ms); /* from the push: enqueue() arms it */
	case SESSION_PROXYING:
		if (s->half_closed && t->half_close_ms < t->idle_ms)
			return ms_to_ev(t->half_close_ms);
		return ms_to_ev(t->idle_ms);
	case SESSION_CLOSED:
		break; /* no timer runs */
	}
	return ms_to_ev(t->idle_ms);
}

static void arm_timer(struct session *s)
{
	s->last_active = ev_now(s->set->loop);
	s->timer.repeat = current_timeout(s);
	ev_timer_again(s->set->loop, &s->timer);
}

/*
 * Runs the direction that reads from side `from` (the client's: up, the backend's: down) and
 * reacts to its outcome. Returns -1 when the session was closed.
 */
static int pump(struct session *s, enum session_side from)
{
	int up = from == SESSION_CLIENT;
	struct pump_half *h = up ? &s->up : &s->down;
	enum session_side to = up ? SESSION_BACKEND : SESSION_CLIENT;
	int src_failed = 0;
	/* The other direction done: after_pump() closes the session once this one is. */
	int last = pump_done(up ? &s->down : &s->up);
	size_t moved = 0;
	long n = pump_move(&s->set->pool, h, up ? s->cfd : s->bfd, up ? s->bfd : s->cfd,
		PUMP_BUDGET, last, &src_failed, &moved);

	if (moved > 0) {
		if (up)
			s->bytes_in += moved;
		else
			s->bytes_out += moved;
		/* Before an error is looked at: the backend did send something. */
		if (!up && !s->reported)
			report_outcome(s, 1, "first byte");
	}
	if (n < 0) {
		enum session_side failed = src_failed ? from : to;
		const char *what = n == -ECONNRESET  ? "reset"
				   : n == -EPIPE     ? "closed"
				   : n == -ENOMEM    ? "out of memory"
				   : n == -ETIMEDOUT ? "timed out"
						     : "error";
		char reason[64];
		snprintf(reason, sizeof(reason), "%s %s (%s)", side_name(failed), what,
			strerror((int)-n));
		if (!s->reported && failed == SESSION_BACKEND && n == -ECONNRESET)
			report_outcome(s, 0, "reset before the first byte");
		session_close(s,
			failed == SESSION_CLIENT ? LB_RESULT_CLIENT_ERROR : LB_RESULT_BACKEND_ERROR,
			reason, 0);
		return -1;
	}
	if (n > 0 || h->src_eof)
		s->last_active = ev_now(s->set->loop);
	return 0;
}

/* After pumping: finished, half-closed, or waiting for more. */
static void after_pump(struct session *s)
{
	int up_done = pump_done(&s->up), down_done = pump_done(&s->down);

	if (up_done && down_done) {
		session_close(s, LB_RESULT_DONE, "done", 0);
		return;
	}
	if ((up_done || down_done) && !s->half_closed) {
		s->half_closed = 1;
		arm_timer(s);
	}
	update_io(s);
}

static void client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct session *s = container_of(io, struct session, cio);
	(void)loop;

	if (s->state < SESSION_CONNECTING) {
		if (s->state == SESSION_HEADER)
			read_header(s);
		else
			read_hello(s);
		return;
	}
	if ((revents & EV_READ) && pump(s, SESSION_CLIENT) < 0)
		return;
	if ((revents & EV_WRITE) && pump(s, SESSION_BACKEND) < 0)
		return;
	after_pump(s);
}

/*
 * HEADER or HELLO: the client did not send what anylb takes first; closed, counted in *counter,
 * logged.
 */
static void client_refused(struct session *s, _Atomic uint64_t *counter, const char *why)
{
	unsigned long long n = atomic_fetch_add(counter, 1) + 1;

	char sink[1024];

	log_refused(s, why, n, "closed");
	/*
	 * What it sent is still unread (it was only peeked at): a close over unread bytes would be
	 * an RST. Read a little of it, so that the close is the clean one a malformed peer gets.
	 */
	for (int i = 0; i < 16 && recv(s->cfd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	session_close(s, LB_RESULT_CLIENT_ERROR, why, 0);
}

/* accept_proxy: the client did not send a header anylb takes. */
static void header_failed(struct session *s, const char *why)
{
	client_refused(s, &s->svc->st->proxy_header_errors, why);
}

/* sni: no ClientHello anylb takes, or nowhere to send it. */
static void hello_failed(struct session *s, const char *why)
{
	client_refused(s, &s->svc->st->sni_errors, why);
}

/*
 * HEADER: peeks at what the client sent, takes exactly the header's bytes (the client's own
 * stay in the socket for the backend), and goes on to CONNECTING with the header's addresses.
 * A header that comes in pieces is kept in s->proxied until it is whole.
 */
static void read_header(struct session *s)
{
	uint8_t buf[PROXY_IN_MAX], sink[PROXY_IN_MAX];
	size_t have = s->proxied != NULL ? s->proxied->len : 0;

	if (have > 0)
		memcpy(buf, s->proxied->buf, have);
	ssize_t n = recv(s->cfd, buf + have, sizeof(buf) - have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		header_failed(s, n == 0 ? "client closed before its PROXY header"
					: "client error before its PROXY header");
		return;
	}
	struct proxy_in in;
	int len = proxy_in_parse((enum conf_accept_proxy)s->accept, buf, have + (size_t)n, &in);
	if (len < 0) {
		header_failed(s, in.why);
		return;
	}
	size_t take = len > 0 ? (size_t)len - have : (size_t)n;
	if (s->proxied == NULL && (s->proxied = calloc(1, sizeof(*s->proxied))) == NULL) {
		session_close(s, LB_RESULT_RESOURCE, "out of memory for the PROXY header", 1);
		return;
	}
	/* Peeked already: these bytes are there, and recv takes no more than asked. */
	if (recv(s->cfd, sink, take, 0) != (ssize_t)take) {
		header_failed(s, "client error while its PROXY header was read");
		return;
	}
	if (len == 0) {
		memcpy(s->proxied->buf + have, buf + have, take);
		s->proxied->len = have + take;
		return;
	}
	s->proxied->len = 0;
	if (!in.local) {
		s->client = in.src;
		s->proxied->local = in.dst;
		s->proxied->have_local = 1;
	}
	if (s->svc->conf->admit_checks) {
		const char *why = admit_refusal(s->svc, &s->client);
		if (why != NULL) {
			admit_log_refused(s->svc, &s->client, why);
			session_close(s, LB_RESULT_CLIENT_ERROR, why, 0);
			return;
		}
	}
	if (s->svc->conf->sni.enabled) {
		start_hello(s);
		return;
	}
	io_set(s->set->loop, &s->cio, &s->cev, s->cfd, 0);
	ev_timer_stop(s->set->loop, &s->timer);
	session_set_state(s, SESSION_CONNECTING, "PROXY header read");
	connect_next(s);
}

/* HELLO, after the PROXY header: its own timeout starts now. */
static void start_hello(struct session *s)
{
	session_set_state(s, SESSION_HELLO, "PROXY header read");
	arm_timer(s);
}

/* Wakes the client's watcher only once need bytes are there (or on FIN), not per segment. */
static void set_lowat(struct session *s, size_t need)
{
	int v = (int)(need < CLIENT_HELLO_MAX ? need : CLIENT_HELLO_MAX);

	if (setsockopt(s->cfd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		s->lowat = v > 1;
}

/* Whether the client has sent its FIN: its bytes are still unread, so recv cannot say. */
static int client_finished(const struct session *s)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(s->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 1;
	return ti.tcpi_state != TCP_ESTABLISHED;
}

/*
 * Moves the session to the service the ClientHello's name picks (index idx of its
 * generation): the session is counted there from now on, under that service's limits, and
 * balanced and connected as one of its own.
 */
static void route_to(struct session *s, long idx, int routed, const char *name)
{
	struct lb_service *from = s->svc, *to = &from->rt->services[idx];
	char why[CLIENT_HELLO_NAME_MAX + 64];

	atomic_fetch_add_explicit(
		routed ? &from->st->sni_routed : &from->st->sni_default, 1, memory_order_relaxed);
	if (to != from) {
		if (admission_take(s->set->rt, to) < 0) {
			atomic_fetch_add(&to->st->refused_limit, 1);
			session_close(s, LB_RESULT_NO_BACKEND, "sni target at max_connections", 1);
			return;
		}
		admission_return(s->set->rt, from);
		atomic_fetch_add(&to->st->accepted, 1);
		s->svc = to;
	}
	if (s->lowat)
		set_lowat(s, 1);
	io_set(s->set->loop, &s->cio, &s->cev, s->cfd, 0);
	ev_timer_stop(s->set->loop, &s->timer);
	snprintf(why, sizeof(why), "sni %s: %s", name[0] != '\0' ? name : "-",
		routed ? "routed" : "default");
	session_set_state(s, SESSION_CONNECTING, why);
	connect_next(s);
}

/*
 * HELLO: peeks at what the client sent, never taking a byte (the backend gets the ClientHello
 * untouched), until it is a whole ClientHello, or not one; then routes by its server name.
 */
static void read_hello(struct session *s)
{
	uint8_t buf[CLIENT_HELLO_MAX];
	struct client_hello ch;

	ssize_t n = recv(s->cfd, buf, sizeof(buf), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hello_failed(s, n == 0 ? "client closed before its ClientHello"
				       : "client error before its ClientHello");
		return;
	}
	enum client_hello_result r = client_hello_parse(buf, (size_t)n, &ch);
	switch (r) {
	case CLIENT_HELLO_MORE:
		if (client_finished(s))
			hello_failed(s, "client closed before its ClientHello was whole");
		else
			set_lowat(s, ch.need);
		return;
	case CLIENT_HELLO_MALFORMED:
		hello_failed(s, ch.why);
		return;
	case CLIENT_HELLO_SNI:
	case CLIENT_HELLO_NO_SNI:
	case CLIENT_HELLO_NOT_TLS:
		break;
	}
	int routed;
	long idx = conf_sni_pick(&s->svc->conf->sni, ch.name, &routed);
	if (idx < 0) {
		hello_failed(s, r == CLIENT_HELLO_NOT_TLS ? "not TLS, and sni has no default"
				: r == CLIENT_HELLO_NO_SNI
					? "no server name, and sni has no default"
					: "server name matches no sni route, and "
					  "sni has no default");
		return;
	}
	route_to(s, idx, routed, ch.name);
}

/* Writes what is left of the PROXY header. Returns -1 when the session was closed. */
static int send_header(struct session *s)
{
	ssize_t n =
		send(s->bfd, s->hdr + s->hdr_off, (size_t)(s->hdr_len - s->hdr_off), MSG_NOSIGNAL);

	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0) {
		session_close(
			s, LB_RESULT_BACKEND_ERROR, "backend closed before the PROXY header", 0);
		return -1;
	}
	s->hdr_off = (uint8_t)(s->hdr_off + n);
	return 0;
}

static void observe_connect(struct lb_backend *b, ev_tstamp seconds)
{
	size_t i = lb_bucket(lb_connect_bounds, LB_CONNECT_BUCKETS, seconds);

	atomic_fetch_add_explicit(&b->st->connect_hist[i], 1, memory_order_relaxed);
	if (seconds < 0)
		seconds = 0; /* ev_now() is wall-clock: a step back must not wrap */
	atomic_fetch_add_explicit(
		&b->st->connect_sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

static void connected(struct session *s)
{
	struct lb_backend *b = &s->svc->backends[s->backend];
	int one = 1;

	session_set_state(s, SESSION_PROXYING, "connected");
	atomic_fetch_add(&b->st->sessions, 1);
	s->connect_s = (float)(ev_now(s->set->loop) - s->connect_start);
	observe_connect(b, s->connect_s);
	setsockopt(s->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->svc->conf->proxy_protocol != CONF_PROXY_OFF) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr local;
		if (s->proxied != NULL && s->proxied->have_local) {
			local = s->proxied->local; /* where the client connected, upstream */
		} else if (getsockname(s->cfd, (struct sockaddr *)&ss, &len) < 0) {
			session_close(s, LB_RESULT_RESOURCE, "getsockname failed", 1);
			return;
		} else {
			addr_from_sockaddr(&local, (struct sockaddr *)&ss, len);
		}
		int n = proxy_proto_build(
			s->svc->conf->proxy_protocol, &s->client, &local, s->hdr, sizeof(s->hdr));
		if (n < 0) {
			session_close(s, LB_RESULT_RESOURCE, "cannot build PROXY header", 1);
			return;
		}
		s->hdr_len = (uint8_t)n;
		s->hdr_off = 0;
		if (send_header(s) < 0)
			return;
	}
	arm_timer(s);
	if (s->queued && s->hdr_off >= s->hdr_len) {
		/*
		 * Client bytes are known to wait in the socket (behind a PROXY header or a
		 * ClientHello too: both leave them there): move them now, not after epoll.
		 */
		if (pump(s, SESSION_CLIENT) < 0)
			return;
		after_pump(s);
		return;
	}
	update_io(s);
}

/*
 * A connect attempt failed before any byte moved: count it, give the attempt up and try the
 * next backend (connect_next() ends in session_close() when none is left).
 */
static void connect_failed(struct session *s, int err)
{
	char why[64];

	atomic_fetch_add(&s->svc->backends[s->backend].st->connect_fails, 1);
	if (err == ECONNREFUSED)
		snprintf(why, sizeof(why), "connect refused");
	else if (err == ETIMEDOUT)
		snprintf(why, sizeof(why), "connect timed out");
	else
		snprintf(why, sizeof(why), "connect failed: %s", strerror(err));
	report_outcome(s, 0, why);
	session_set_state(s, SESSION_CONNECTING, why);
	release_backend(s);
	s->reported = 0;
	connect_next(s);
}

static void backend_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct session *s = container_of(io, struct session, bio);
	(void)loop;

	if (s->state == SESSION_CONNECTING) {
		/*
		 * Watched for both while connecting: a failed connect (refused, unreachable, reset)
		 * leaves the socket in error and closed both ways, which epoll reports as
		 * EPOLLERR|EPOLLHUP and libev as readable and writable. Writable alone is a connect
		 * that succeeded, with nothing to read yet, so SO_ERROR is asked only when
		 * readable: an error, or a backend that spoke first. One system call less per
		 * session.
		 */
		int err = 0;
		socklen_t len = sizeof(err);
		if ((revents & EV_READ) && getsockopt(s->bfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0)
			connect_failed(s, err);
		else
			connected(s);
		return;
	}
	if (revents & EV_WRITE) {
		if (s->hdr_off < s->hdr_len && send_header(s) < 0)
			return;
		if (s->hdr_off >= s->hdr_len && pump(s, SESSION_CLIENT) < 0)
			return;
	}
	if ((revents & EV_READ) && pump(s, SESSION_BACKEND) < 0)
		return;
	after_pump(s);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct session *s = container_of(t, struct session, timer);
	(void)revents;

	if (s->state == SESSION_HEADER) {
		header_failed(s, "PROXY header timeout");
		return;
	}
	if (s->state == SESSION_HELLO) {
		hello_failed(s, "ClientHello timeout");
		return;
	}
	if (s->state == SESSION_CONNECTING) {
		connect_failed(s, ETIMEDOUT);
		return;
	}
	if (s->state == SESSION_QUEUED) {
		struct queue *q = &s->svc->st->queue;
		atomic_fetch_add_explicit(&q->timeouts, 1, memory_order_relaxed);
		log_refused(s, "queue timeout", atomic_load(&q->timeouts), "connection reset");
		session_close(s, LB_RESULT_NO_BACKEND, "queue timeout", 1);
		return;
	}
	ev_tstamp left = s->last_active + current_timeout(s) - ev_now(loop);
	if (left <= 0.0005) {
		session_close(s, LB_RESULT_TIMEOUT,
			s->half_closed ? "half-close timeout" : "idle timeout", 0);
		return;
	}
	t->repeat = left;
	ev_timer_again(loop, t);
}

/* What the pick rule (lb/pick.h) needs of this session: its service and the backends it tried. */
static struct pick session_pick(const struct session *s)
{
	return (struct pick){.svc = s->svc, .tried = s->tried, .ntried = s->ntried, .limits = 1};
}

/*
 * Why the pick found nothing, in words that tell the operator what to do: a service whose
 * backends are all down and one whose ready backends are all full are different emergencies.
 * Runs only when a client is about to be refused, so the scan costs nothing on the fast path.
 */
static const char *no_backend_why(const struct session *s)
{
	if (s->ntried > 0)
		return "no backend answered";
	return pick_all_full(s->svc) ? "every usable backend is at max_connections"
				     : "no usable backend";
}

/*
 * Logs a refused client at most once a second per service: a dead service must not flood.
 * total: how many were refused for this reason so far.
 */
static void log_refused(
	struct session *s, const char *why, unsigned long long total, const char *what)
{
	uint64_t now = clock_ms();
	uint64_t last = atomic_load_explicit(&s->svc->st->nobackend_log_ms, memory_order_relaxed);
	char cbuf[ADDR_STRLEN];

	if (now - last < 1000 && last != 0)
		return;
	if (!atomic_compare_exchange_strong(&s->svc->st->nobackend_log_ms, &last, now))
		return;
	struct log_field f[] = {LOG_S("service", s->svc->conf->name),
		LOG_S("client", addr_format(&s->client, cbuf, sizeof(cbuf))), LOG_S("reason", why),
		LOG_N("total", total)};
	log_event(LOG_LEVEL_WARN, "no_backend", f, 4,
		"service %s: %s for client %s: %s (%llu so far)", s->svc->conf->name, why, f[1].str,
		what, total);
}

static void log_no_backend(struct session *s, const char *why)
{
	log_refused(s, why, atomic_load(&s->svc->st->no_backend), "connection reset");
}

/*
 * A reload happened since this session started and it needs another backend: it moves to the
 * worker's generation, where its service is the one with the same state, and its tried
 * backends follow by state too. -1 when the reload removed its service.
 */
static int session_migrate(struct session *s)
{
	struct lb_runtime *rt = s->set->rt;
	struct lb_service *old = s->svc, *svc = runtime_service_by_state(rt, old->st);

	if (svc == NULL)
		return -1;
	for (unsigned k = 0; k < s->ntried; k++) {
		if (s->tried[k] == UINT16_MAX) /* gone in an earlier reload */
			continue;
		const struct lb_backend *b =
			runtime_backend_by_state(svc, old->backends[s->tried[k]].st);
		s->tried[k] = b != NULL ? (uint16_t)b->index : UINT16_MAX;
	}
	s->svc = svc;
	runtime_get(rt);
	runtime_put(old->rt);
	return 0;
}

/*
 * Whether a backend this session could use has room: checked after the session queued, since
 * a slot freed between its pick and its push granted nobody (the queue was empty then).
 */
static int room_now(struct session *s)
{
	struct pick p = session_pick(s);
	return pick_room(&p);
}

/* Before any backend was tried, every one that takes sessions is full: a case for the queue. */
static int all_full(const struct session *s)
{
	return s->svc->conf->queue_max > 0 && s->ntried == 0 && pick_all_full(s->svc);
}

/*
 * The session waits in its service's queue (or again in its place, after a grant that found
 * no room), on the queue timeout counted from its first push. -1 when it was closed instead
 * (the queue is full).
 */
static int enqueue(struct session *s)
{
	struct queue *q = &s->svc->st->queue;

	if (s->qe.state == QUEUE_LOCAL) {
		queue_requeue(q, &s->qe);
	} else if (queue_push(q, &s->qe, &s->set->inbox, s->svc->conf->queue_max, clock_ms()) < 0) {
		log_refused(s, "queue full", atomic_load(&q->full), "connection reset");
		session_close(s, LB_RESULT_NO_BACKEND, "queue full", 1);
		return -1;
	}
	session_set_state(s, SESSION_QUEUED, "waiting for a backend with room");
	uint64_t waited = clock_ms() - s->qe.since_ms, max = s->svc->conf->timeouts.queue_ms;
	s->timer.repeat = waited < max ? ms_to_ev(max - waited) : 0.001;
	ev_timer_again(s->set->loop, &s->timer);
	if (room_now(s))
		queue_grant(q);
	return 0;
}

/* Picks the next backend and starts a non-blocking connect, until one is under way or none is left.
 */
static void connect_next(struct session *s)
{
	if (s->svc->rt != s->set->rt && session_migrate(s) < 0) {
		log_no_backend(s, "service removed by a reload");
		session_close(s, LB_RESULT_NO_BACKEND, "service removed by a reload", 1);
		return;
	}
	const struct conf_service *sc = s->svc->conf;

	/* First in, first out: while others wait, a newcomer waits behind them. */
	if (s->ntried == 0 && s->qe.state == QUEUE_IDLE && sc->queue_max > 0 &&
		atomic_load(&s->svc->st->queue.len) > 0) {
		enqueue(s);
		return;
	}
	while (s->ntried <= sc->retries) {
		struct pick p = session_pick(s);
		int trial;
		int idx = pick_backend(&p, s->set->balancers[s->svc->index],
			addr_hash(&s->client, sc->hash_key == CONF_HASH_SOURCE_IP_PORT), &trial);
		s->trial = (uint8_t)trial;
		if (idx < 0)
			break;
		if (s->ntried > 0)
			atomic_fetch_add(&s->svc->st->retries, 1);
		s->tried[s->ntried++] = (uint16_t)idx;
		s->backend = idx;
		struct lb_backend *b = &s->svc->backends[idx];
		atomic_fetch_add(&b->st->active, 1);
		leave_queue(s, 1); /* it has its slot: the next one waiting may have another */

		const struct addr *ba = &b->conf->addr;
		s->bfd = socket(ba->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->bfd < 0 && (errno == EMFILE || errno == ENFILE) &&
			spend_reserve(s->set) == 0) {
			/* This client is served from the reserve; the ones behind it wait. */
			pause_accepting(s->set, "fd limit reached (Too many open files)");
			s->bfd = socket(
				ba->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		}
		if (s->bfd < 0) {
			/*
			 * Out of fds or memory: another backend will not do better. This client is
			 * lost; accepting pauses so the ones queued behind it are not.
			 */
			char reason[64];
			snprintf(reason, sizeof(reason), "backend socket: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				errno == ENOMEM)
				pause_accepting(s->set, reason);
			no_verdict(s); /* our shortage, not the backend's fault */
			session_close(s, LB_RESULT_RESOURCE, reason, 1);
			return;
		}
		if (s->svc->conf->keepalive.backend.enabled)
			set_keepalive(s->bfd, &s->svc->conf->keepalive.backend, "backend");
		set_packet_savers(s);
		s->connect_start = ev_now(s->set->loop);
		if (connect(s->bfd, &ba->sa, ba->len) == 0) {
			connected(s);
			return;
		}
		if (errno == EINPROGRESS) {
			/* Readable too, so that a failure shows as such: see backend_cb(). */
			ev_io_set(&s->bio, s->bfd, EV_READ | EV_WRITE);
			ev_io_start(s->set->loop, &s->bio);
			s->bev = EV_READ | EV_WRITE;
			arm_timer(s);
			return;
		}
		connect_failed(s, errno);
		return;
	}
	if (all_full(s)) {
		enqueue(s);
		return;
	}
	atomic_fetch_add(&s->svc->st->no_backend, 1);
	const char *why = no_backend_why(s);
	log_no_backend(s, why);
	session_close(s, LB_RESULT_NO_BACKEND, why, 1);
}

/*
 * Two packets saved per connection on the backend socket, before its connect:
 *
 * TCP_INQ lets the down pump see the backend's FIN behind its last bytes, so that bytes and
 * FIN reach the client in one segment (lb/pump.h).
 *
 * TCP_QUICKACK 0 holds the handshake's last ACK back until the first bytes, which carry it
 * (HAProxy's tcp-smart-connect). Only when bytes are sure to follow at once: a PROXY header, or
 * a client whose bytes are already waiting. A server that speaks first would otherwise wait for
 * the delayed ACK (up to 200 ms) before it even accepts. Whether client bytes wait is kept in
 * s->queued: connected() then moves them at once, without a wake-up to say they are there.
 */
static void set_packet_savers(struct session *s)
{
	int one = 1, zero = 0, waiting = 0;

	s->down.inq = setsockopt(s->bfd, IPPROTO_TCP, TCP_INQ, &one, sizeof(one)) == 0;
	s->queued = ioctl(s->cfd, FIONREAD, &waiting) == 0 && waiting > 0;
	if (s->queued || s->svc->conf->proxy_protocol != CONF_PROXY_OFF)
		setsockopt(s->bfd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
}

/*
 * tcp_keepalive for one side (conf/conf.h): set on a socket before it carries anything. A
 * failure is logged and the session goes on without it: keepalive is a probe, not a contract.
 */
static void set_keepalive(int fd, const struct conf_keepalive_side *k, const char *side)
{
	int one = 1, idle = (int)k->idle_s, intvl = (int)k->interval_s, cnt = (int)k->count;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		log_debug("tcp_keepalive on the %s socket: %s", side, strerror(errno));
}

static struct session *session_alloc(struct session_set *set)
{
	struct session *s = set->recycled;

	if (s != NULL) {
		set->recycled = s->next;
		set->nrecycled--;
		return s;
	}
	return malloc(sizeof(*s));
}

int session_start(struct session_set *set, struct lb_service *svc, int cfd,
	const struct addr *client, enum conf_accept_proxy accept)
{
	/* One branch for services without allow, deny or rate_limit. accept_proxy's clients are
	 * judged once their header named them (read_header). */
	if (svc->conf->admit_checks && accept == CONF_ACCEPT_OFF) {
		const char *why = admit_refusal(svc, client);
		if (why != NULL) {
			admit_log_refused(svc, client, why);
			close(cfd);
			return -EACCES;
		}
	}
	if (admission_take(set->rt, svc) < 0) {
		/* Service limit: refuse this one cleanly; the listener keeps accepting others. */
		atomic_fetch_add(&svc->st->refused_limit, 1);
		close(cfd);
		return -EBUSY;
	}
	struct session *s = session_alloc(set);

	if (s == NULL) {
		log_warn("out of memory for a new session on %s: closing the client",
			svc->conf->name);
		close(cfd);
		admission_return(set->rt, svc);
		return -ENOMEM;
	}
	s->set = set;
	s->svc = svc;
	runtime_get(svc->rt);
	/* The initial state, not a transition. */
	s->state = accept != CONF_ACCEPT_OFF ? SESSION_HEADER
		   : svc->conf->sni.enabled  ? SESSION_HELLO
					     : SESSION_CONNECTING;
	s->accept = (uint8_t)accept;
	s->lowat = 0;
	s->queued = 0;
	s->proxied = NULL;
	s->cfd = cfd;
	s->bfd = -1;
	s->backend = -1;
	s->cev = s->bev = 0;
	s->half_closed = 0;
	s->ntried = 0;
	s->trial = 0;
	s->reported = 0;
	s->bytes_in = s->bytes_out = 0;
	s->connect_s = -1;
	s->queue_ms = 0;
	s->qe.state = QUEUE_IDLE;
	s->started = ev_now(set->loop);
	s->hdr_len = s->hdr_off = 0;
	s->client = *client;
	pump_half_init(&s->up);
	pump_half_init(&s->down);
	ev_io_init(&s->cio, client_cb, cfd, 0);
	ev_io_init(&s->bio, backend_cb, -1, 0);
	ev_init(&s->timer, timer_cb);
	set_link(set, s);
	/* TCP_NODELAY: inherited from the listener (lb/listener.c). */
	if (svc->conf->keepalive.client.enabled)
		set_keepalive(cfd, &svc->conf->keepalive.client, "client");
	if (s->state != SESSION_CONNECTING) {
		io_set(set->loop, &s->cio, &s->cev, cfd, EV_READ);
		arm_timer(s);
		return 0;
	}
	connect_next(s);
	return 0;
}

void session_close_dead(struct session_set *set)
{
	struct session *s = set->live;
	while (s != NULL) {
		struct session *next = s->next;
		if (s->backend >= 0 && backend_is_dead(&s->svc->backends[s->backend])) {
			no_verdict(s); /* the checks said it; no verdict from this session */
			if (s->state == SESSION_CONNECTING) {
				/* Nothing forwarded yet: another backend, invisibly. */
				connect_failed(s, ECONNABORTED);
			} else {
				atomic_fetch_add(&s->svc->backends[s->backend].st->closed_dead, 1);
				session_close(s, LB_RESULT_BACKEND_DEAD, "backend dead", 0);
			}
		}
		s = next;
	}
}

void session_set_run_queue(struct session_set *set)
{
	struct queue_entry *e = queue_inbox_take(&set->inbox), *next;

	for (; e != NULL; e = next) {
		struct session *s = container_of(e, struct session, qe);
		next = e->next; /* connect_next() may put e back in the queue */
		session_set_state(s, SESSION_CONNECTING, "granted a slot");
		connect_next(s);
	}
}

void session_abort_all(struct session_set *set, const char *reason)
{
	while (set->live != NULL)
		session_close(set->live, LB_RESULT_DRAIN, reason, 0);
}

int session_set_full(const struct session_set *set)
{
	return atomic_load_explicit(&set->rt->proc->active, memory_order_relaxed) >=
	       set->rt->conf->global.max_connections;
}

int session_reserve_ready(struct session_set *set)
{
	if (set->reserve_fd < 0)
		set->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return set->reserve_fd >= 0;
}

/* A grant for one of this set's sessions, from any thread: the owner runs the queue. */
static void inbox_wake(void *arg)
{
	struct session_set *set = arg;

	if (set->wake != NULL)
		set->wake(set->arg);
}

int session_set_init(struct session_set *set, struct ev_loop *loop, struct lb_runtime *rt,
	struct balancer **balancers, size_t pool_keep)
{
	memset(set, 0, sizeof(*set));
	set->reserve_fd = -1;
	set->loop = loop;
	set->rt = rt;
	set->balancers = balancers;
	if (queue_inbox_init(&set->inbox, inbox_wake, set) < 0)
		return -ENOMEM;
	set->inbox_ready = 1;
	if (pump_pool_init(&set->pool, pool_keep) < 0)
		return -ENOMEM;
	if (!session_reserve_ready(set))
		return -errno;
	return 0;
}

void session_set_switch(struct session_set *set, struct lb_runtime *rt, struct balancer **balancers)
{
	set->rt = rt;
	set->balancers = balancers;
}

void session_set_destroy(struct session_set *set)
{
	while (set->recycled != NULL) {
		struct session *s = set->recycled;
		set->recycled = s->next;
		free(s);
	}
	set->nrecycled = 0;
	pump_pool_destroy(&set->pool);
	if (set->inbox_ready)
		queue_inbox_destroy(&set->inbox);
	set->inbox_ready = 0;
	/* A set that was never initialised is all zeroes: fd 0 is not its reserve. */
	if (set->loop != NULL && set->reserve_fd >= 0)
		close(set->reserve_fd);
	set->reserve_fd = -1;
}
