/*
 * DOC: test backends
 *
 * Each backend is one thread running one poll() loop over its listening socket, its connections
 * and an eventfd that asks it to stop. Every connection is non-blocking and advanced by
 * conn_step(), which does whatever reading and writing is possible now and says which events it
 * waits for next; so a slow or stalled peer never blocks the others, and flow control is real
 * (an echo connection stops reading while its buffer is full).
 *
 * The thread never calls Criterion. When a connection ends it appends a struct sc_conn_result
 * under the backend's mutex and signals a condition variable; the test thread waits on that.
 *
 *   accept --> [open] --(FIN seen and our FIN sent)--> EOF result
 *                  \--(read/write error)-----------> RESET / ERROR result
 *                  \--(bad PROXY header)-----------> PROTO result
 *                  \--(RESET mode, limit reached)--> LOCAL result (we sent the RST)
 *                  \--(backend stopped)------------> STOPPED result
 *
 * With opts.http the same thread also listens on a second port of the same address and answers
 * HTTP there (a health check's `port:`): read a request head, answer with the status the test
 * set, close; status 0 reads the head and never answers. Those connections stay out of accepts,
 * open and the results, which describe the traffic port only.
 *
 * A STALL connection is left out of poll() until sc_backend_release(): it neither reads nor
 * writes, so its receive buffer fills and the sender meets back-pressure. A BLACKHOLE backend
 * has no thread: a listening socket with backlog 0 whose only queue slot the backend fills with
 * a connection of its own, so the kernel drops every further SYN and connects to it time out.
 */
#include "tests/support/harness_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CONN_BUF    (64 * 1024)
#define HDR_MAX     600 /* a v2 header with a few TLVs; v1 is at most 107 */
#define MAX_BACKEND 64
/* BLACKHOLE: connections made to fill the accept queue, and how long one may take. */
#define BLACKHOLE_FILL_MAX 16
#define BLACKHOLE_FILL_MS  200

struct conn {
	int fd;
	int rd_eof;  /* the peer's FIN was read */
	int wr_shut; /* our FIN was sent */
	int hdr_done;
	int http;     /* a connection of the HTTP side port */
	int hang;     /* http: status 0, never answered */
	uint8_t *buf; /* echo / hello output waiting to be written */
	size_t boff, blen;
	uint8_t hdr[HDR_MAX];
	size_t hlen;
	struct sc_conn_result r;
};

struct sc_backend {
	enum sc_backend_mode mode;
	struct sc_backend_opts opts;
	char id[SC_ADDRSTRLEN];
	char addr[SC_ADDRSTRLEN];
	int lfd;
	int stopfd;
	pthread_t thread;
	int running;

	atomic_uint accepts;
	atomic_uint open;
	atomic_uint_fast64_t bytes_sent, bytes_received; /* live totals over all connections */
	atomic_int released; /* STALL: sc_backend_release() was called */
	int wakefd;          /* wakes the thread for a release */
	int hfd;             /* HTTP side listener, -1 when none (or refused) */
	unsigned hport;
	int http_status;        /* under mu */
	unsigned http_answered; /* under mu */
	atomic_uint http_requests;
	atomic_uint http_open;
	atomic_int http_refuse;       /* sc_backend_http_refuse() was called */
	atomic_int http_closed;       /* and the thread has closed the side listener */
	int held[BLACKHOLE_FILL_MAX]; /* BLACKHOLE: our own queued connections */
	size_t nheld;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sc_conn_result *results;
	size_t nresults, cap;

	/* Thread-owned. */
	struct conn **conns;
	size_t nconns, cconns;
	uint8_t scratch[CONN_BUF];
	uint8_t want[CONN_BUF];
};

static struct sc_backend *registry[MAX_BACKEND];

const char *sc_close_kind_name(enum sc_close_kind k)
{
	switch (k) {
	case SC_CLOSE_EOF:
		return "eof";
	case SC_CLOSE_RESET:
		return "reset";
	case SC_CLOSE_ERROR:
		return "error";
	case SC_CLOSE_PROTO:
		return "bad-proxy-header";
	case SC_CLOSE_LOCAL:
		return "local-reset";
	case SC_CLOSE_STOPPED:
		return "stopped";
	}
	return "?";
}

static void record(struct sc_backend *b, struct conn *c, enum sc_close_kind kind, int err)
{
	c->r.close = kind;
	c->r.err = err;
	c->r.end_ms = sc_now_ms();
	pthread_mutex_lock(&b->mu);
	if (b->nresults == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct sc_conn_result *nr = realloc(b->results, ncap * sizeof(*nr));

		if (nr != NULL) {
			b->results = nr;
			b->cap = ncap;
		}
	}
	if (b->nresults < b->cap)
		b->results[b->nresults++] = c->r;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void conn_free(struct sc_backend *b, struct conn *c, enum sc_close_kind kind, int err)
{
	if (kind == SC_CLOSE_LOCAL) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	record(b, c, kind, err);
	close(c->fd);
	free(c->buf);
	free(c);
	atomic_fetch_sub(&b->open, 1);
}

static enum sc_close_kind kind_of(int err)
{
	return err == ECONNRESET || err == EPIPE ? SC_CLOSE_RESET : SC_CLOSE_ERROR;
}

/* Flushes the output buffer as far as the socket takes it. 0, or -errno. */
static int flush_buf(struct sc_backend *b, struct conn *c)
{
	while (c->blen > 0) {
		ssize_t n = send(c->fd, c->buf + c->boff, c->blen, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		c->boff += (size_t)n;
		c->blen -= (size_t)n;
		c->r.sent += (uint64_t)n;
		atomic_fetch_add(&b->bytes_sent, (uint64_t)n);
	}
	c->boff = 0;
	return 0;
}

/* Reads into the free tail of the output buffer (echo). 0, or -errno. */
static int read_echo(struct sc_backend *b, struct conn *c)
{
	for (int i = 0; i < 16 && !c->rd_eof; i++) {
		size_t space;
		ssize_t n;

		if (c->blen == 0)
			c->boff = 0;
		space = CONN_BUF - c->boff - c->blen;
		if (space == 0)
			break;
		n = recv(c->fd, c->buf + c->boff + c->blen, space, 0);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			c->rd_eof = 1;
			c->r.eof_ms = sc_now_ms();
			break;
		}
		if (b->opts.recv_seed != 0 && c->r.mismatch_at < 0) {
			int64_t bad = sc_pattern_check(b->opts.recv_seed, c->r.received,
				c->buf + c->boff + c->blen, (size_t)n);

			if (bad >= 0)
				c->r.mismatch_at = (int64_t)c->r.received + bad;
		}
		c->blen += (size_t)n;
		c->r.received += (uint64_t)n;
		atomic_fetch_add(&b->bytes_received, (uint64_t)n);
	}
	return 0;
}

/* Reads, verifies and drops (sink). 0, or -errno. */
static int read_sink(struct sc_backend *b, struct conn *c)
{
	for (int i = 0; i < 16 && !c->rd_eof; i++) {
		ssize_t n = recv(c->fd, b->scratch, sizeof(b->scratch), 0);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			c->rd_eof = 1;
			c->r.eof_ms = sc_now_ms();
			break;
		}
		if (b->opts.recv_seed != 0 && c->r.mismatch_at < 0) {
			int64_t bad = sc_pattern_check(
				b->opts.recv_seed, c->r.received, b->scratch, (size_t)n);

			if (bad >= 0)
				c->r.mismatch_at = (int64_t)c->r.received + bad;
		}
		c->r.received += (uint64_t)n;
		atomic_fetch_add(&b->bytes_received, (uint64_t)n);
	}
	return 0;
}

/* Sends the pattern from where it stopped up to `limit` bytes (source). 0, or -errno. */
static int write_source(struct sc_backend *b, struct conn *c, uint64_t limit)
{
	for (int i = 0; i < 16 && c->r.sent < limit; i++) {
		uint64_t left = limit - c->r.sent;
		size_t chunk = left < sizeof(b->want) ? (size_t)left : sizeof(b->want);
		ssize_t n;

		sc_pattern_fill(b->opts.send_seed, c->r.sent, b->want, chunk);
		n = send(c->fd, b->want, chunk, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		c->r.sent += (uint64_t)n;
		atomic_fetch_add(&b->bytes_sent, (uint64_t)n);
	}
	return 0;
}

/* Reads until a whole PROXY header is in; leftover payload goes to the echo buffer. */
static int read_header(struct sc_backend *b, struct conn *c, enum sc_close_kind *kind)
{
	ssize_t n;
	int hl;

	n = recv(c->fd, c->hdr + c->hlen, sizeof(c->hdr) - c->hlen, 0);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		snprintf(c->r.proxy.err, sizeof(c->r.proxy.err),
			"EOF after %zu bytes, before a whole PROXY header", c->hlen);
		*kind = SC_CLOSE_PROTO;
		return 1;
	}
	c->hlen += (size_t)n;
	hl = sc_proxy_parse(c->hdr, c->hlen, &c->r.proxy);
	if (hl < 0) {
		*kind = SC_CLOSE_PROTO;
		return 1;
	}
	if (hl == 0) {
		if (c->hlen == sizeof(c->hdr)) {
			snprintf(c->r.proxy.err, sizeof(c->r.proxy.err), "header longer than %d",
				HDR_MAX);
			*kind = SC_CLOSE_PROTO;
			return 1;
		}
		return 0;
	}
	c->hdr_done = 1;
	c->blen = c->hlen - (size_t)hl;
	memcpy(c->buf, c->hdr + hl, c->blen);
	c->r.received = c->blen;
	(void)b;
	return 0;
}

static void http_free(struct sc_backend *b, struct conn *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
	atomic_fetch_sub(&b->http_open, 1);
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

/* The HTTP side port: as conn_step. */
static int http_step(struct sc_backend *b, struct conn *c)
{
	while (!c->hdr_done || c->hang) {
		ssize_t n;

		if (c->hang)
			c->blen = 0; /* hung: what comes is read and dropped */
		if (c->blen >= CONN_BUF - 1) {
			http_free(b, c); /* a head that does not fit: not a check */
			return -1;
		}
		n = recv(c->fd, c->buf + c->blen, CONN_BUF - 1 - c->blen, 0);
		if (n < 0 && errno == EAGAIN)
			return POLLIN;
		if (n <= 0) {
			http_free(b, c); /* the client went (or reset) before an answer */
			return -1;
		}
		c->blen += (size_t)n;
		c->buf[c->blen] = '\0';
		if (c->hdr_done || strstr((char *)c->buf, "\r\n\r\n") == NULL)
			continue;
		c->hdr_done = 1;
		atomic_fetch_add(&b->http_requests, 1);
		pthread_mutex_lock(&b->mu);
		if (b->http_status == 0) {
			c->hang = 1;
		} else {
			char body[32];
			int bl = snprintf(body, sizeof(body), "status %d\n", b->http_status);

			c->blen = (size_t)snprintf((char *)c->buf, CONN_BUF,
				"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: "
				"close\r\n\r\n%s",
				b->http_status, http_reason(b->http_status), bl, body);
			c->boff = 0;
			b->http_answered++;
		}
		pthread_mutex_unlock(&b->mu);
	}
	while (c->blen > 0) {
		ssize_t n = send(c->fd, c->buf + c->boff, c->blen, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			return POLLOUT;
		if (n < 0)
			break;
		c->boff += (size_t)n;
		c->blen -= (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	http_free(b, c);
	return -1;
}

/*
 * Advances c as far as possible. Returns the poll events it waits for, or -1 when it is finished
 * (and freed).
 */
static int conn_step(struct sc_backend *b, struct conn *c)
{
	enum sc_close_kind kind = SC_CLOSE_EOF;
	int rc = 0, ev = 0;

	if (c->http)
		return http_step(b, c);

	switch (b->mode) {
	case SC_BACKEND_ECHO:
	case SC_BACKEND_HELLO:
	case SC_BACKEND_RESET:
	case SC_BACKEND_PROXY_HEADER:
		if (b->mode == SC_BACKEND_PROXY_HEADER && !c->hdr_done) {
			rc = read_header(b, c, &kind);
			if (rc == 1) {
				conn_free(b, c, kind, 0);
				return -1;
			}
			if (rc < 0)
				break;
			if (!c->hdr_done)
				return POLLIN;
		}
		rc = flush_buf(b, c);
		if (rc < 0)
			break;
		if (b->mode == SC_BACKEND_RESET && c->r.sent >= b->opts.reset_after) {
			conn_free(b, c, SC_CLOSE_LOCAL, 0);
			return -1;
		}
		rc = read_echo(b, c);
		if (rc < 0)
			break;
		rc = flush_buf(b, c);
		if (rc < 0)
			break;
		if (b->mode == SC_BACKEND_RESET && c->r.sent >= b->opts.reset_after) {
			conn_free(b, c, SC_CLOSE_LOCAL, 0);
			return -1;
		}
		if (c->rd_eof && c->blen == 0) {
			shutdown(c->fd, SHUT_WR);
			conn_free(b, c, SC_CLOSE_EOF, 0);
			return -1;
		}
		if (!c->rd_eof && c->boff + c->blen < CONN_BUF)
			ev |= POLLIN;
		if (c->blen > 0)
			ev |= POLLOUT;
		return ev;
	case SC_BACKEND_STALL:
	case SC_BACKEND_SOURCE_SINK:
	case SC_BACKEND_SINK_SOURCE:
		/* STALL: out of poll() until released, then exactly SINK_SOURCE. */
		if (b->mode == SC_BACKEND_STALL && !atomic_load(&b->released))
			return 0;
		rc = read_sink(b, c);
		if (rc < 0)
			break;
		if (b->mode == SC_BACKEND_SOURCE_SINK || c->rd_eof) {
			rc = write_source(b, c, b->opts.send_bytes);
			if (rc < 0)
				break;
			if (c->r.sent == b->opts.send_bytes && !c->wr_shut) {
				shutdown(c->fd, SHUT_WR);
				c->wr_shut = 1;
			}
		}
		if (c->rd_eof && c->wr_shut) {
			conn_free(b, c, SC_CLOSE_EOF, 0);
			return -1;
		}
		if (!c->rd_eof)
			ev |= POLLIN;
		if (!c->wr_shut && (b->mode == SC_BACKEND_SOURCE_SINK || c->rd_eof))
			ev |= POLLOUT;
		return ev;
	case SC_BACKEND_GARBAGE:
		rc = read_sink(b, c);
		if (rc < 0)
			break;
		if (c->r.received == 0) {
			/* Not before the peer's first byte: a proxy in between is connected then.
			 */
			if (!c->rd_eof)
				return POLLIN;
			conn_free(b, c, SC_CLOSE_EOF, 0);
			return -1;
		}
		rc = write_source(b, c, b->opts.reset_after);
		if (rc < 0)
			break;
		if (c->r.sent >= b->opts.reset_after) {
			conn_free(b, c, SC_CLOSE_LOCAL, 0);
			return -1;
		}
		return (c->rd_eof ? 0 : POLLIN) | POLLOUT;
	case SC_BACKEND_REFUSE:
	case SC_BACKEND_BLACKHOLE:
		break;
	}
	conn_free(b, c, kind_of(-rc), -rc);
	return -1;
}

static void accept_all(struct sc_backend *b, int http)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(http ? b->hfd : b->lfd, (struct sockaddr *)&ss, &sl,
			SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		if (!http)
			atomic_fetch_add(&b->accepts, 1);
		if (b->nconns == b->cconns) {
			size_t ncap = b->cconns ? b->cconns * 2 : 64;
			struct conn **nc = realloc(b->conns, ncap * sizeof(*nc));

			if (nc == NULL) {
				close(fd); /* out of memory in a test: drop the peer */
				continue;
			}
			b->conns = nc;
			b->cconns = ncap;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL || (c->buf = malloc(CONN_BUF)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->r.mismatch_at = -1;
		c->r.peer = ss;
		if (http) {
			c->http = 1;
			atomic_fetch_add(&b->http_open, 1);
			b->conns[b->nconns++] = c;
			continue;
		}
		if (b->mode == SC_BACKEND_HELLO) {
			c->blen = (size_t)snprintf((char *)c->buf, CONN_BUF, "%s\n", b->id);
		}
		atomic_fetch_add(&b->open, 1);
		b->conns[b->nconns++] = c;
	}
}

static void *backend_main(void *arg)
{
	struct sc_backend *b = arg;
	struct pollfd *pfd = NULL;
	size_t cpfd = 0;

	for (;;) {
		size_t n = 0;

		if (cpfd < b->nconns + 4) {
			cpfd = (b->nconns + 4) * 2;
			pfd = realloc(pfd, cpfd * sizeof(*pfd));
			if (pfd == NULL)
				abort(); /* a test process without memory cannot report anything */
		}
		pfd[n++] = (struct pollfd){.fd = b->stopfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = b->lfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = b->wakefd, .events = POLLIN};
		if (atomic_load(&b->http_refuse) && b->hfd >= 0) {
			close(b->hfd);
			b->hfd = -1;
			atomic_store(&b->http_closed, 1);
		}
		/* Always slot 3; a negative fd (none, or refused) is ignored by poll(). */
		pfd[n++] = (struct pollfd){.fd = b->hfd, .events = POLLIN};
		/* Advance every connection and drop finished ones, keeping the order. */
		size_t kept = 0;
		for (size_t i = 0; i < b->nconns; i++) {
			struct conn *c = b->conns[i];
			int ev = conn_step(b, c);

			if (ev < 0)
				continue;
			b->conns[kept++] = c;
			/* No events (STALL): not polled at all, or a reset peer's POLLERR would
			 * spin. */
			if (ev != 0)
				pfd[n++] = (struct pollfd){.fd = c->fd, .events = (short)ev};
		}
		b->nconns = kept;
		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			break;
		if (pfd[1].revents & POLLIN)
			accept_all(b, 0);
		if (pfd[3].revents & POLLIN)
			accept_all(b, 1);
		if (pfd[2].revents & POLLIN) {
			uint64_t v;

			if (read(b->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
	}
	for (size_t i = 0; i < b->nconns; i++) {
		if (b->conns[i]->http)
			http_free(b, b->conns[i]);
		else
			conn_free(b, b->conns[i], SC_CLOSE_STOPPED, 0);
	}
	b->nconns = 0;
	free(pfd);
	return NULL;
}

/*
 * BLACKHOLE: listens with backlog 0 and connects to itself until a connect does not complete
 * within BLACKHOLE_FILL_MS. Linux drops a SYN while the accept queue is full (the queue holds
 * backlog + 1 connections), so from then on every connect to the address hangs in SYN-SENT: the
 * connections that completed are kept (never accepted), the one that hung is closed. 0 or -1
 * with errno set (EAGAIN when the queue never filled: another kernel's rules).
 */
static int blackhole_fill(struct sc_backend *b, const struct sockaddr_storage *ss, socklen_t len)
{
	if (listen(b->lfd, 0) != 0)
		return -1;
	while (b->nheld < BLACKHOLE_FILL_MAX) {
		struct pollfd p;
		int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int err = 0, n;
		socklen_t el = sizeof(err);

		if (fd < 0)
			return -1;
		if (connect(fd, (const struct sockaddr *)ss, len) != 0 && errno != EINPROGRESS) {
			err = errno;
			close(fd);
			errno = err;
			return -1;
		}
		p = (struct pollfd){.fd = fd, .events = POLLOUT};
		do
			n = poll(&p, 1, BLACKHOLE_FILL_MS);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			close(fd); /* the SYN was dropped: the queue is full */
			return 0;
		}
		if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			err = n < 0 || err == 0 ? errno : err;
			close(fd);
			errno = err;
			return -1;
		}
		b->held[b->nheld++] = fd;
	}
	errno = EAGAIN;
	return -1;
}

/* The HTTP side listener on the address of ss (the traffic socket's), port opts.http_port. */
static int http_listen(struct sc_backend *b, const struct sockaddr_storage *traffic, socklen_t len)
{
	struct sockaddr_storage ss = *traffic;
	int one = 1;

	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)b->opts.http_port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)b->opts.http_port);
	b->hfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->hfd < 0)
		return -1;
	setsockopt(b->hfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(b->hfd, (struct sockaddr *)&ss, len) != 0 || listen(b->hfd, 128) != 0)
		return -1;
	len = sizeof(ss);
	if (getsockname(b->hfd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	b->hport = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

struct sc_backend *sc_backend_start(
	enum sc_backend_mode mode, int family, const struct sc_backend_opts *opts)
{
	struct sc_backend *b;
	struct sockaddr_storage ss;
	socklen_t len;
	size_t slot;
	int one = 1, err;

	sc_harness_init();
	for (slot = 0; slot < MAX_BACKEND && registry[slot] != NULL; slot++)
		;
	if (slot == MAX_BACKEND) {
		errno = ENOSPC;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->mode = mode;
	b->lfd = b->stopfd = b->wakefd = b->hfd = -1;
	b->http_status = 200;
	if (opts != NULL)
		b->opts = *opts;
	if (b->opts.reset_after == 0)
		b->opts.reset_after = 16 * 1024;
	pthread_mutex_init(&b->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&b->cv, &ca);
		pthread_condattr_destroy(&ca);
	}

	sc_addr_parse(family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", &ss, &len);
	b->lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->lfd < 0)
		goto fail;
	setsockopt(b->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(b->lfd, (struct sockaddr *)&ss, len) != 0)
		goto fail;
	len = sizeof(ss);
	if (getsockname(b->lfd, (struct sockaddr *)&ss, &len) != 0)
		goto fail;
	sc_addr_format((struct sockaddr *)&ss, b->addr, sizeof(b->addr));
	snprintf(b->id, sizeof(b->id), "%s", b->opts.id != NULL ? b->opts.id : b->addr);
	b->opts.id = b->id;
	if (mode == SC_BACKEND_BLACKHOLE) {
		if (blackhole_fill(b, &ss, len) != 0)
			goto fail;
	} else if (mode != SC_BACKEND_REFUSE) {
		if (listen(b->lfd, 1024) != 0)
			goto fail;
		if (b->opts.http && http_listen(b, &ss, len) != 0)
			goto fail;
		b->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (b->stopfd < 0 || b->wakefd < 0)
			goto fail;
		err = pthread_create(&b->thread, NULL, backend_main, b);
		if (err != 0) {
			errno = err;
			goto fail;
		}
		b->running = 1;
	}
	registry[slot] = b;
	return b;
fail:
	err = errno;
	if (b->lfd >= 0)
		close(b->lfd);
	if (b->stopfd >= 0)
		close(b->stopfd);
	if (b->wakefd >= 0)
		close(b->wakefd);
	if (b->hfd >= 0)
		close(b->hfd);
	for (size_t i = 0; i < b->nheld; i++)
		close(b->held[i]);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
	errno = err;
	return NULL;
}

void sc_backend_stop(struct sc_backend *b)
{
	uint64_t one = 1;

	if (b == NULL)
		return;
	for (size_t i = 0; i < MAX_BACKEND; i++) {
		if (registry[i] == b)
			registry[i] = NULL;
	}
	if (b->running) {
		if (write(b->stopfd, &one, sizeof(one)) != sizeof(one))
			abort(); /* an eventfd write cannot fail here; a hung join would be worse */
		pthread_join(b->thread, NULL);
	}
	close(b->lfd);
	if (b->stopfd >= 0)
		close(b->stopfd);
	if (b->wakefd >= 0)
		close(b->wakefd);
	if (b->hfd >= 0)
		close(b->hfd);
	for (size_t i = 0; i < b->nheld; i++)
		close(b->held[i]);
	free(b->conns);
	free(b->results);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

void sc_backend_cleanup_all(void)
{
	for (size_t i = 0; i < MAX_BACKEND; i++) {
		if (registry[i] != NULL)
			sc_backend_stop(registry[i]);
	}
}

const char *sc_backend_addr(const struct sc_backend *b)
{
	return b->addr;
}

void sc_backend_release(struct sc_backend *b)
{
	uint64_t one = 1;

	if (b->mode != SC_BACKEND_STALL || atomic_exchange(&b->released, 1))
		return;
	if (write(b->wakefd, &one, sizeof(one)) != sizeof(one))
		abort(); /* cannot fail on an eventfd; a release that never arrives would hang */
}

uint64_t sc_backend_bytes_sent(const struct sc_backend *b)
{
	return atomic_load(&b->bytes_sent);
}

uint64_t sc_backend_bytes_received(const struct sc_backend *b)
{
	return atomic_load(&b->bytes_received);
}

unsigned sc_backend_accepts(const struct sc_backend *b)
{
	return atomic_load(&b->accepts);
}

unsigned sc_backend_open(const struct sc_backend *b)
{
	return atomic_load(&b->open);
}

void sc_backend_reset_counts(struct sc_backend *b)
{
	atomic_store(&b->accepts, 0);
	pthread_mutex_lock(&b->mu);
	b->nresults = 0;
	pthread_mutex_unlock(&b->mu);
}

size_t sc_backend_nresults(struct sc_backend *b)
{
	size_t n;

	pthread_mutex_lock(&b->mu);
	n = b->nresults;
	pthread_mutex_unlock(&b->mu);
	return n;
}

int sc_backend_result(struct sc_backend *b, size_t i, struct sc_conn_result *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&b->mu);
	if (i < b->nresults) {
		*out = b->results[i];
		rc = 0;
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

int sc_backend_wait_results(struct sc_backend *b, size_t n, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&b->mu);
	while (b->nresults < n && rc == 0)
		rc = pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	rc = b->nresults >= n ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

int sc_backend_wait_idle(struct sc_backend *b, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	while (atomic_load(&b->open) != 0) {
		if (sc_now_ms() >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(5);
	}
	return 0;
}

unsigned sc_backend_http_port(const struct sc_backend *b)
{
	return b->hport;
}

void sc_backend_set_http_status(struct sc_backend *b, int status)
{
	pthread_mutex_lock(&b->mu);
	b->http_status = status;
	b->http_answered = 0;
	pthread_mutex_unlock(&b->mu);
}

unsigned sc_backend_http_answered(struct sc_backend *b)
{
	unsigned n;

	pthread_mutex_lock(&b->mu);
	n = b->http_answered;
	pthread_mutex_unlock(&b->mu);
	return n;
}

unsigned sc_backend_http_requests(const struct sc_backend *b)
{
	return atomic_load(&b->http_requests);
}

unsigned sc_backend_http_open(const struct sc_backend *b)
{
	return atomic_load(&b->http_open);
}

void sc_backend_http_refuse(struct sc_backend *b)
{
	uint64_t one = 1;

	if (!b->running || atomic_exchange(&b->http_refuse, 1))
		return;
	if (write(b->wakefd, &one, sizeof(one)) != sizeof(one))
		abort(); /* cannot fail on an eventfd; a refusal that never happens would hang */
	/* The thread closes the listener on its next turn, at once: the caller may rely on
	 * connects being refused when this returns. */
	for (int i = 0; i < 2000 && !atomic_load(&b->http_closed); i++)
		sc_sleep_ms(1);
}
