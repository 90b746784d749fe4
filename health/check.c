/*
 * DOC: active checks (implementation)
 *
 * One state machine per check. A run is one connection (or one datagram out): it starts when the
 * timer fires in WAITING, and every way it ends (result, failure, timeout) goes through run_end(),
 * which releases what the run owned, arms the wait for the next run and, last, reports.
 *
 *   check_start()
 *       |
 *       v            timer                    tcp: connected
 *   WAITING ------------------> CONNECTING ----------------------------------------+
 *      ^                          |    |                                           |
 *      |              tls, https  |    | http, send_expect, dns over tcp           |
 *      |                          v    |                 tls: handshake done       |
 *      |                   HANDSHAKING-+-------------------------------------------+
 *      |                          |    |                                           |
 *      |        https: handshake  v    v                                           |
 *      |                        SENDING --request written--> RECEIVING --decided---+
 *      |                                                                           |
 *      +----- run_end(): ok, failure, or timeout from any run state <--------------+
 *
 *   WAITING --timer, udp_send_expect and dns over udp--> SENDING (then as above)
 *
 *   IDLE: created, not started yet.
 *
 * UDP (udp_send_expect, and dns over udp) has no connection: connect() on the datagram socket
 * only fixes the peer, so a UDP run goes from WAITING straight to SENDING (one datagram) and
 * RECEIVING, where each datagram that comes back is judged on its own; an ICMP port
 * unreachable comes back as ECONNREFUSED on that connected socket and ends the run ("port
 * unreachable"). The states stay the same; only CONNECTING and HANDSHAKING are skipped. A dns
 * run over tcp is a send_expect run with a 2-byte length in front of the query and of the
 * reply. The DNS messages themselves are health/dns_msg.c's: each run asks with a new random
 * ID, and a truncated reply fails the run (a health query fits in 512 bytes; a backend that
 * truncates it is not answering what it should) rather than being retried over TCP.
 *
 * One ev_timer serves both the wait between runs and the timeout of a run (never both at
 * once); one ev_io follows the run's socket. Both are embedded here and lead back to the check
 * with container_of. A run owns its socket, its SSL and its receive buffer; run_close() is the
 * one place that lets them go, and check_free() from any state (even from inside the result
 * callback) leaves nothing behind and reports nothing.
 *
 * Closing: the run ends with an abortive close (RST) unless the peer closed first. A check that
 * closes first would otherwise leave a TIME_WAIT socket behind on every run, thousands of them
 * on a site with many backends and a fast interval; HAProxy's checks do the same.
 *
 * Results are only ever reported from a libev callback (the timer or the socket), never from
 * check_start() or check_new(), so a caller may act on a result, even free the check, without
 * re-entering itself. run_end() reports as its very last step and nothing touches the check
 * after a report.
 */
#include "health/check.h"

#include "health/check_tls.h"
#include "health/dns_msg.h"
#include "health/expect.h"
#include "health/http_resp.h"
#include "lib/container.h"
#include "lib/dns.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes read per wake-up before yielding the loop to other checks. */
#define CHECK_READ_BUDGET (64 * 1024)
#define CHECK_READ_CHUNK  4096

/* The largest datagram, and the largest DNS message over TCP with its length. */
#define CHECK_DGRAM_MAX 65536

/* How much of an expected string a reason quotes: escaped, it still fits a reason. */
#define CHECK_QUOTE_MAX 32

enum check_state {
	CHECK_IDLE,
	CHECK_WAITING,
	CHECK_CONNECTING,
	CHECK_HANDSHAKING,
	CHECK_SENDING,
	CHECK_RECEIVING,
};

struct check {
	struct ev_loop *loop;
	const struct conf_check *cc;
	struct addr addr; /* the backend's, with cc->port applied */
	char name[ADDR_STRLEN];
	void (*done)(void *arg, const struct check_result *r);
	void *arg;

	enum check_state state;
	int fast;
	int ran; /* a run has ended: the timer measures an interval, not first_delay */
	uint64_t rng;
	ev_timer timer; /* WAITING: until the next run; during a run: its timeout */
	ev_io io;
	int io_events;

	char *req; /* http/https: the request; (udp_)send_expect: cc->send (not owned); dns: query
		    */
	size_t req_len;
	int own_req;
	SSL_CTX *ctx;                     /* shared reference, tls/https only */
	char *sni;                        /* NULL: none */
	char *verify_name;                /* name or IP the certificate must be for */
	uint8_t qname[DNS_NAME_WIRE_MAX]; /* dns: cc->dns.name in wire form */
	size_t qname_len;
	uint8_t query[2 + DNS_QUERY_MAX]; /* dns: this run's query (tcp: with its length) */
	struct dns_want want;             /* dns: what this run's reply must be */

	/* The run in progress. */
	int fd;
	SSL *ssl;
	struct http_resp *resp; /* http/https */
	struct expect_match rx; /* send_expect: looks for cc->expect in what came back */
	int udp;                /* a datagram run: udp_send_expect, dns over udp */
	uint8_t *dbuf;          /* udp: one datagram; dns over tcp: the reply, length first */
	size_t dlen;
	uint64_t rx_total;
	size_t sent;
	int peer_closed;
	int handshaken;
	ev_tstamp started, ended;
	int64_t cert_not_after;
};

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void io_cb(struct ev_loop *loop, ev_io *io, int revents);
static void do_recv(struct check *c);
static void on_eof(struct check *c);

static const char *state_name(enum check_state st)
{
	switch (st) {
	case CHECK_IDLE:
		return "idle";
	case CHECK_WAITING:
		return "waiting";
	case CHECK_CONNECTING:
		return "connecting";
	case CHECK_HANDSHAKING:
		return "TLS handshake";
	case CHECK_SENDING:
		return "sending";
	case CHECK_RECEIVING:
		return "receiving";
	}
	return "?";
}

/* The one setter: every transition is logged (debug: checks run every few seconds). */
static void check_set_state(struct check *c, enum check_state st, const char *why)
{
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("check %s %s: %s -> %s (%s)", conf_check_type_name(c->cc->type), c->name,
			state_name(c->state), state_name(st), why);
	c->state = st;
}

/* splitmix64: jitter only needs to be spread, not secret. */
static double rng_unit(struct check *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) / (double)(1ULL << 53);
}

static double next_delay(struct check *c)
{
	uint64_t ms = c->fast ? c->cc->fast_interval_ms : c->cc->interval_ms;
	double d = (double)ms / 1000.0;
	unsigned j = c->cc->jitter_pct > 100 ? 100 : c->cc->jitter_pct;

	if (j > 0)
		d *= 1.0 + (2.0 * rng_unit(c) - 1.0) * (double)j / 100.0;
	return d > 0 ? d : 0;
}

/* Printable, bounded rendering of a configured string for a reason. */
static const char *quote(const char *s, size_t len, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < cap; i++) {
		unsigned char u = (unsigned char)s[i];

		if (i == CHECK_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (u >= 0x20 && u < 0x7f && u != '\\' && u != '\'')
			buf[o++] = (char)u;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", u);
	}
	buf[o] = '\0';
	return buf;
}

static void io_want(struct check *c, int events)
{
	if (c->io_events == events && ev_is_active(&c->io))
		return;
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->loop, &c->io);
	c->io_events = events;
}

/* The single exit of a run's resources: watchers, SSL, socket, buffers. */
static void run_close(struct check *c)
{
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	c->io_events = 0;
	if (c->ssl != NULL) {
		if (c->handshaken && !c->peer_closed)
			check_tls_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		if (!c->peer_closed) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};

			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd);
		c->fd = -1;
	}
	free(c->resp);
	c->resp = NULL;
	free(c->dbuf);
	c->dbuf = NULL;
	c->dlen = 0;
	expect_match_free(&c->rx);
}

/*
 * Ends the run: releases it, waits for the next, reports. Must be the caller's last use of c:
 * the callback may free the check.
 */
static void run_end(struct check *c, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void run_end(struct check *c, int ok, const char *fmt, ...)
{
	struct check_result r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	r.ok = ok;
	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	c->ended = ev_now(c->loop);
	r.duration = c->ended - c->started;
	r.cert_not_after = c->cert_not_after;

	run_close(c);
	c->ran = 1;
	check_set_state(c, CHECK_WAITING, r.reason);
	ev_timer_set(&c->timer, next_delay(c), 0.);
	ev_timer_start(c->loop, &c->timer);
	c->done(c->arg, &r);
}

static void run_fail_errno(struct check *c, const char *what, int err)
{
	if (err == ECONNRESET)
		run_end(c, 0, "reset by peer");
	else if (err == EPIPE)
		run_end(c, 0, "closed before a response");
	else
		run_end(c, 0, "%s: %s", what, strerror(err));
}

static void connect_failed(struct check *c, int err)
{
	if (err == ECONNREFUSED)
		run_end(c, 0, "connect refused");
	else
		run_end(c, 0, "connect failed: %s", strerror(err));
}

/*
 * What a TLS step's result means for the run, written once for the handshake, the write and the
 * read. Returns 1 for CHECK_TLS_DONE (the caller goes on); otherwise the run waits for the
 * socket or has ended, and the caller returns at once (0). eof is the reason the run ends with
 * when the peer closed; NULL on the read side, where on_eof() judges what came back before.
 */
static int tls_step(struct check *c, enum check_tls_io io, const char *why, const char *eof)
{
	switch (io) {
	case CHECK_TLS_DONE:
		return 1;
	case CHECK_TLS_WANT_READ:
		io_want(c, EV_READ);
		return 0;
	case CHECK_TLS_WANT_WRITE:
		io_want(c, EV_WRITE);
		return 0;
	case CHECK_TLS_EOF:
		if (eof == NULL) {
			on_eof(c);
			return 0;
		}
		c->peer_closed = 1;
		run_end(c, 0, "%s", eof);
		return 0;
	case CHECK_TLS_FAIL:
		run_end(c, 0, "%s", why);
		return 0;
	}
	return 0;
}

static void start_receiving(struct check *c)
{
	const struct conf_check *cc = c->cc;

	check_set_state(c, CHECK_RECEIVING, "request sent");
	switch (cc->type) {
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
		c->resp = malloc(sizeof(*c->resp));
		if (c->resp == NULL) {
			run_end(c, 0, "out of memory");
			return;
		}
		http_resp_init(c->resp);
		break;
	case CONF_CHECK_SEND_EXPECT:
		if (cc->expect == NULL || cc->expect[0] == '\0') {
			run_end(c, 1, "ok");
			return;
		}
		if (expect_match_init(&c->rx, cc->expect, strlen(cc->expect)) < 0) {
			run_end(c, 0, "out of memory");
			return;
		}
		break;
	case CONF_CHECK_DNS:
	case CONF_CHECK_UDP_SEND_EXPECT:
		c->dbuf = malloc(CHECK_DGRAM_MAX);
		if (c->dbuf == NULL) {
			run_end(c, 0, "out of memory");
			return;
		}
		c->dlen = 0;
		break;
	case CONF_CHECK_TCP:
	case CONF_CHECK_TLS:
		break;
	}
	if (c->udp) {
		io_want(c, EV_READ);
		return;
	}
	/* TLS may already hold bytes that the socket will never signal again. */
	do_recv(c);
}

static void do_send(struct check *c)
{
	while (c->sent < c->req_len) {
		const char *p = c->req + c->sent;
		size_t left = c->req_len - c->sent;

		if (c->ssl != NULL) {
			char why[sizeof(((struct check_result *)0)->reason)];
			size_t put = 0;

			enum check_tls_io io =
				check_tls_write(c->ssl, p, left, &put, why, sizeof(why));

			if (!tls_step(c, io, why, "closed before a response"))
				return;
			c->sent += put;
		} else {
			ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL);

			if (n < 0 && c->udp && errno == ECONNREFUSED) {
				run_end(c, 0, "port unreachable");
				return;
			}
			if (n > 0) {
				c->sent += (size_t)n;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				io_want(c, EV_WRITE);
				return;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else {
				run_fail_errno(c, "send failed", n < 0 ? errno : EPIPE);
				return;
			}
		}
	}
	start_receiving(c);
}

static void start_sending(struct check *c, const char *why)
{
	check_set_state(c, CHECK_SENDING, why);
	c->sent = 0;
	do_send(c);
}

/* Ends the run when the HTTP response so far decides it; returns whether it did. */
static int http_decide(struct check *c, enum http_resp_rc rc)
{
	const struct conf_check *cc = c->cc;
	const struct http_resp *r = c->resp;
	char q[CHECK_QUOTE_MAX * 4 + 8];

	switch (http_resp_verdict(r, rc, cc->expect_status, cc->nexpect_status, cc->expect_body)) {
	case HTTP_VERDICT_MORE:
		return 0;
	case HTTP_VERDICT_OK:
		run_end(c, 1, "ok");
		return 1;
	case HTTP_VERDICT_INVALID:
		run_end(c, 0, "bad HTTP response: %s", http_resp_error(r));
		return 1;
	case HTTP_VERDICT_STATUS:
		run_end(c, 0, "status %d", r->status);
		return 1;
	case HTTP_VERDICT_BODY:
		run_end(c, 0, "body does not contain '%s'",
			quote(cc->expect_body, strlen(cc->expect_body), q, sizeof(q)));
		return 1;
	}
	return 0;
}

/* Judges the DNS reply m[0..n), the length prefix (tcp) already taken off. */
static void dns_decide(struct check *c, const uint8_t *m, size_t n)
{
	char why[sizeof(((struct check_result *)0)->reason)];
	int ok = dns_reply_judge(m, n, &c->want, why, sizeof(why));

	run_end(c, ok, "%s", why);
}

/* dns over tcp: gathers the reply; returns whether the run ended. */
static int dns_tcp_data(struct check *c, const char *buf, size_t n)
{
	size_t need = c->dlen >= 2 ? 2 + (size_t)((c->dbuf[0] << 8) | c->dbuf[1]) : 2;

	while (n > 0) {
		size_t take = need - c->dlen < n ? need - c->dlen : n;

		memcpy(c->dbuf + c->dlen, buf, take);
		c->dlen += take;
		buf += take;
		n -= take;
		if (c->dlen == 2)
			need = 2 + (size_t)((c->dbuf[0] << 8) | c->dbuf[1]);
		if (c->dlen == need && need > 2) {
			dns_decide(c, c->dbuf + 2, c->dlen - 2);
			return 1;
		}
		if (c->dlen == need) { /* a zero length: nothing a reply can be */
			run_end(c, 0, "bad DNS reply: %s", "empty message");
			return 1;
		}
	}
	return 0;
}

/* udp: one datagram came back; returns whether the run ended. */
static int on_datagram(struct check *c, const uint8_t *buf, size_t n)
{
	const struct conf_check *cc = c->cc;

	c->rx_total += n;
	if (cc->type == CONF_CHECK_DNS) {
		dns_decide(c, buf, n);
		return 1;
	}
	/* udp_send_expect: the expected text must be inside one datagram; others may follow. */
	if (memmem(buf, n, cc->expect, strlen(cc->expect)) != NULL) {
		run_end(c, 1, "ok");
		return 1;
	}
	return 0;
}

static void expect_missing(struct check *c, const char *prefix)
{
	const struct conf_check *cc = c->cc;
	char q[CHECK_QUOTE_MAX * 4 + 8];

	run_end(c, 0, "%sexpected '%s' not received", prefix,
		quote(cc->expect, strlen(cc->expect), q, sizeof(q)));
}

/* Takes n bytes that came back; returns whether the run ended. */
static int on_data(struct check *c, const char *buf, size_t n)
{
	c->rx_total += n;
	switch (c->cc->type) {
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
		return http_decide(c, http_resp_feed(c->resp, buf, n));
	case CONF_CHECK_SEND_EXPECT:
		if (expect_match_feed(&c->rx, buf, n)) {
			run_end(c, 1, "ok");
			return 1;
		}
		return 0;
	case CONF_CHECK_DNS:
		return dns_tcp_data(c, buf, n);
	case CONF_CHECK_UDP_SEND_EXPECT: /* datagrams go through on_datagram() */
	case CONF_CHECK_TCP:
	case CONF_CHECK_TLS:
		break;
	}
	run_end(c, 1, "ok");
	return 1;
}

static void on_eof(struct check *c)
{
	c->peer_closed = 1;
	if (c->rx_total == 0) {
		run_end(c, 0, "closed before a response");
		return;
	}
	switch (c->cc->type) {
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
		if (!http_decide(c, http_resp_eof(c->resp)))
			run_end(c, 0, "bad HTTP response: %s", "closed early");
		return;
	case CONF_CHECK_SEND_EXPECT:
	case CONF_CHECK_UDP_SEND_EXPECT:
		expect_missing(c, "");
		return;
	case CONF_CHECK_DNS:
		run_end(c, 0, "bad DNS reply: closed after %llu bytes",
			(unsigned long long)c->rx_total);
		return;
	case CONF_CHECK_TCP:
	case CONF_CHECK_TLS:
		break;
	}
	run_end(c, 1, "ok");
}

/* udp: reads the datagrams that are there; each one is judged alone. */
static void do_recv_udp(struct check *c)
{
	for (int i = 0; i < 64; i++) {
		ssize_t r = recv(c->fd, c->dbuf, CHECK_DGRAM_MAX, 0);

		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				io_want(c, EV_READ);
				return;
			}
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				run_end(c, 0, "port unreachable");
			else
				run_fail_errno(c, "read failed", errno);
			return;
		}
		if (on_datagram(c, c->dbuf, (size_t)r))
			return;
	}
	io_want(c, EV_READ);
}

static void do_recv(struct check *c)
{
	size_t budget = CHECK_READ_BUDGET;

	if (c->udp) {
		do_recv_udp(c);
		return;
	}

	while (budget > 0) {
		char buf[CHECK_READ_CHUNK];
		size_t n = 0;

		if (c->ssl != NULL) {
			char why[sizeof(((struct check_result *)0)->reason)];

			enum check_tls_io io =
				check_tls_read(c->ssl, buf, sizeof(buf), &n, why, sizeof(why));

			if (!tls_step(c, io, why, NULL))
				return;
		} else {
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

			if (r == 0) {
				on_eof(c);
				return;
			}
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					io_want(c, EV_READ);
					return;
				}
				if (errno == EINTR)
					continue;
				run_fail_errno(c, "read failed", errno);
				return;
			}
			n = (size_t)r;
		}
		if (on_data(c, buf, n))
			return;
		budget -= n < budget ? n : budget;
	}
	/* Level-triggered: the socket will wake us again for the rest. */
	io_want(c, EV_READ);
}

static void do_handshake(struct check *c)
{
	char why[sizeof(((struct check_result *)0)->reason)];

	enum check_tls_io io = check_tls_handshake(c->ssl, why, sizeof(why));

	/* On failure cert_not_after holds the leaf's date if verification got that far. */
	if (!tls_step(c, io, why, "TLS handshake failed: connection closed by peer"))
		return;
	c->handshaken = 1;
	c->cert_not_after = check_tls_not_after(c->ssl);
	if (c->cc->type == CONF_CHECK_TLS)
		run_end(c, 1, "ok");
	else
		start_sending(c, "TLS handshake done");
}

static void connected(struct check *c)
{
	char err[sizeof(((struct check_result *)0)->reason)];

	switch (c->cc->type) {
	case CONF_CHECK_TCP:
		run_end(c, 1, "ok");
		return;
	case CONF_CHECK_TLS:
	case CONF_CHECK_HTTPS:
		c->ssl = check_tls_new(c->ctx, c->fd, c->sni, c->verify_name, c->cc->tls.verify,
			&c->cert_not_after, err, sizeof(err));
		if (c->ssl == NULL) {
			run_end(c, 0, "%s", err);
			return;
		}
		check_set_state(c, CHECK_HANDSHAKING, "connected");
		do_handshake(c);
		return;
	case CONF_CHECK_HTTP:
	case CONF_CHECK_SEND_EXPECT:
	case CONF_CHECK_DNS:
	case CONF_CHECK_UDP_SEND_EXPECT:
		start_sending(c, c->udp ? "udp: the peer is set" : "connected");
		return;
	}
}

/* dns: this run's query, with a new random ID. */
static void dns_prepare(struct check *c)
{
	uint16_t id;
	size_t pre = c->cc->dns.tcp ? 2 : 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = (uint16_t)(rng_unit(c) * 65536.0);
	c->want = (struct dns_want){
		.id = id,
		.qtype = c->cc->dns.qtype,
		.qname = c->qname,
		.qname_len = c->qname_len,
		.rcode = c->cc->dns.expect_rcode,
		.answer = c->cc->dns.expect_answer,
	};
	int n = dns_query_build(c->query + pre, sizeof(c->query) - pre, &c->want);

	/* DNS_QUERY_MAX fits any name check_new() accepted. */
	if (pre) {
		c->query[0] = (uint8_t)(n >> 8);
		c->query[1] = (uint8_t)n;
	}
	c->req = (char *)c->query;
	c->req_len = pre + (size_t)n;
}

static void run_start(struct check *c)
{
	int fd;

	c->started = ev_now(c->loop);
	c->rx_total = 0;
	c->sent = 0;
	c->peer_closed = 0;
	c->handshaken = 0;
	c->cert_not_after = 0;
	c->udp = c->cc->type == CONF_CHECK_UDP_SEND_EXPECT ||
		 (c->cc->type == CONF_CHECK_DNS && !c->cc->dns.tcp);
	if (c->cc->type == CONF_CHECK_DNS)
		dns_prepare(c);
	if (!c->udp)
		check_set_state(c, CHECK_CONNECTING, "run starts");
	ev_timer_set(&c->timer, (double)c->cc->timeout_ms / 1000.0, 0.);
	ev_timer_start(c->loop, &c->timer);

	fd = socket(c->addr.sa.sa_family,
		(c->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		run_end(c, 0, "socket failed: %s", strerror(errno));
		return;
	}
	c->fd = fd;
	if (connect(fd, &c->addr.sa, c->addr.len) == 0) {
		connected(c);
		return;
	}
	if (c->udp || (errno != EINPROGRESS && errno != EINTR)) {
		connect_failed(c, errno);
		return;
	}
	io_want(c, EV_WRITE);
}

static void on_connect(struct check *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err != 0) {
		connect_failed(c, err);
		return;
	}
	connected(c);
}

static void run_timeout(struct check *c)
{
	const char *phase = state_name(c->state);

	switch (c->state) {
	case CHECK_RECEIVING:
		if (c->cc->type == CONF_CHECK_SEND_EXPECT ||
			c->cc->type == CONF_CHECK_UDP_SEND_EXPECT) {
			char prefix[64];

			snprintf(prefix, sizeof(prefix), "timeout after %llums, ",
				(unsigned long long)c->cc->timeout_ms);
			expect_missing(c, prefix);
			return;
		}
		phase = c->rx_total == 0 ? "waiting for response" : "reading response";
		break;
	case CHECK_SENDING:
		phase = "sending request";
		break;
	case CHECK_CONNECTING:
	case CHECK_HANDSHAKING:
		break;
	case CHECK_IDLE:
	case CHECK_WAITING:
		return;
	}
	run_end(c, 0, "timeout after %llums (%s)", (unsigned long long)c->cc->timeout_ms, phase);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct check *c = container_of(t, struct check, timer);
	(void)loop;
	(void)revents;

	switch (c->state) {
	case CHECK_WAITING:
		run_start(c);
		break;
	case CHECK_CONNECTING:
	case CHECK_HANDSHAKING:
	case CHECK_SENDING:
	case CHECK_RECEIVING:
		run_timeout(c);
		break;
	case CHECK_IDLE:
		break;
	}
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct check *c = container_of(io, struct check, io);
	(void)loop;
	(void)revents;

	switch (c->state) {
	case CHECK_CONNECTING:
		on_connect(c);
		break;
	case CHECK_HANDSHAKING:
		do_handshake(c);
		break;
	case CHECK_SENDING:
		do_send(c);
		break;
	case CHECK_RECEIVING:
		do_recv(c);
		break;
	case CHECK_IDLE:
	case CHECK_WAITING:
		break;
	}
}

/* Whether s is safe inside a request line or a header value. */
static int header_safe(const char *s, int allow_space)
{
	for (; *s != '\0'; s++) {
		unsigned char u = (unsigned char)*s;

		if (u < 0x20 || u == 0x7f || (u == ' ' && !allow_space))
			return 0;
	}
	return 1;
}

/* "10.0.0.1", "[2001:db8::1]", with ":port" unless it is the scheme's default. */
static void default_host(const struct check *c, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int port = addr_port(&c->addr);
	int dflt = c->cc->type == CONF_CHECK_HTTPS ? 443 : 80;

	if (c->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &c->addr.in6.sin6_addr, ip, sizeof(ip));
		if (port == dflt)
			snprintf(buf, cap, "[%s]", ip);
		else
			snprintf(buf, cap, "[%s]:%d", ip, port);
	} else {
		inet_ntop(AF_INET, &c->addr.in.sin_addr, ip, sizeof(ip));
		if (port == dflt)
			snprintf(buf, cap, "%s", ip);
		else
			snprintf(buf, cap, "%s:%d", ip, port);
	}
}

/* The host part of a Host value: "example.com:8443" -> "example.com", "[::1]:443" -> "::1". */
static char *host_only(const char *host)
{
	const char *end;

	if (host[0] == '[') {
		end = strchr(host, ']');
		if (end == NULL)
			return strdup(host);
		return strndup(host + 1, (size_t)(end - host - 1));
	}
	end = strchr(host, ':');
	if (end != NULL && strchr(end + 1, ':') == NULL)
		return strndup(host, (size_t)(end - host));
	return strdup(host);
}

static int setup_http(struct check *c)
{
	const struct conf_check *cc = c->cc;
	const char *path = cc->path != NULL ? cc->path : "/";
	char dflt[INET6_ADDRSTRLEN + 16];
	const char *host = cc->host;
	int n;

	if (host == NULL) {
		default_host(c, dflt, sizeof(dflt));
		host = dflt;
	}
	if (!header_safe(path, 0) || !header_safe(host, 1)) {
		log_error("check %s %s: path or host holds control characters or spaces",
			conf_check_type_name(cc->type), c->name);
		return -EINVAL;
	}
	n = snprintf(NULL, 0,
		"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anylb-check\r\nConnection: "
		"close\r\n\r\n",
		path, host);
	c->req = malloc((size_t)n + 1);
	if (c->req == NULL)
		return -ENOMEM;
	snprintf(c->req, (size_t)n + 1,
		"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anylb-check\r\nConnection: "
		"close\r\n\r\n",
		path, host);
	c->req_len = (size_t)n;
	c->own_req = 1;
	return 0;
}

static int setup_tls(struct check *c, SSL_CTX *tls)
{
	const struct conf_check *cc = c->cc;
	char ip[INET6_ADDRSTRLEN];

	if (cc->tls.sni != NULL)
		c->sni = strdup(cc->tls.sni);
	else if (cc->host != NULL)
		c->sni = host_only(cc->host);
	if ((cc->tls.sni != NULL || cc->host != NULL) && c->sni == NULL)
		return -ENOMEM;
	if (c->sni != NULL) {
		c->verify_name = strdup(c->sni);
	} else {
		/* No name configured: the certificate must be for the backend's address. */
		if (c->addr.sa.sa_family == AF_INET6)
			inet_ntop(AF_INET6, &c->addr.in6.sin6_addr, ip, sizeof(ip));
		else
			inet_ntop(AF_INET, &c->addr.in.sin_addr, ip, sizeof(ip));
		c->verify_name = strdup(ip);
	}
	if (c->verify_name == NULL)
		return -ENOMEM;
	if (tls == NULL) {
		log_error("check %s %s: no TLS context", conf_check_type_name(cc->type), c->name);
		return -EINVAL;
	}
	c->ctx = check_tls_ctx_ref(tls);
	return 0;
}

static uint64_t seed(const struct check *c)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(uintptr_t)c ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
}

void check_rebind(struct check *c, const struct conf_check *cc, SSL_CTX *tls)
{
	if (!c->own_req &&
		(cc->type == CONF_CHECK_SEND_EXPECT || cc->type == CONF_CHECK_UDP_SEND_EXPECT))
		c->req = cc->send;
	c->cc = cc;
	if (c->ctx != NULL && tls != NULL && tls != c->ctx) {
		/* A run under way keeps the old context: its SSL holds a reference. */
		check_tls_ctx_put(c->ctx);
		c->ctx = check_tls_ctx_ref(tls);
	}
}

struct check *check_new(struct ev_loop *loop, const struct conf_check *cc, SSL_CTX *tls,
	const struct addr *backend, void (*done)(void *arg, const struct check_result *r),
	void *arg)
{
	struct check *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_error("check: out of memory");
		return NULL;
	}
	c->loop = loop;
	c->cc = cc;
	c->addr = *backend;
	if (cc->port != 0) {
		if (c->addr.sa.sa_family == AF_INET6)
			c->addr.in6.sin6_port = htons((uint16_t)cc->port);
		else
			c->addr.in.sin_port = htons((uint16_t)cc->port);
	}
	addr_format(&c->addr, c->name, sizeof(c->name));
	c->done = done;
	c->arg = arg;
	c->state = CHECK_IDLE;
	c->fd = -1;
	c->rng = seed(c);
	ev_timer_init(&c->timer, timer_cb, 0., 0.);
	ev_io_init(&c->io, io_cb, -1, EV_WRITE);

	switch (cc->type) {
	case CONF_CHECK_TCP:
		break;
	case CONF_CHECK_TLS:
		if (setup_tls(c, tls) < 0)
			goto fail;
		break;
	case CONF_CHECK_HTTPS:
		if (setup_tls(c, tls) < 0 || setup_http(c) < 0)
			goto fail;
		break;
	case CONF_CHECK_HTTP:
		if (setup_http(c) < 0)
			goto fail;
		break;
	case CONF_CHECK_SEND_EXPECT:
	case CONF_CHECK_UDP_SEND_EXPECT:
		c->req = cc->send;
		c->req_len = cc->send != NULL ? cc->send_len : 0;
		break;
	case CONF_CHECK_DNS: {
		const char *why = "has no name";

		if (cc->dns.name == NULL ||
			dns_name_to_wire(cc->dns.name, c->qname, &c->qname_len, &why) < 0) {
			log_error("check dns %s: the query's name %s", c->name, why);
			goto fail;
		}
		break;
	}
	}
	return c;
fail:
	log_error("check %s %s: cannot be set up", conf_check_type_name(cc->type), c->name);
	check_free(c);
	return NULL;
}

void check_start(struct check *c, double first_delay)
{
	if (c->state != CHECK_IDLE)
		return;
	check_set_state(c, CHECK_WAITING, "started");
	ev_timer_set(&c->timer, first_delay > 0 ? first_delay : 0., 0.);
	ev_timer_start(c->loop, &c->timer);
}

void check_set_fast(struct check *c, int fast)
{
	double left;

	fast = fast != 0;
	if (c->fast == fast)
		return;
	c->fast = fast;
	/*
	 * Usually called from the result callback, after the wait was armed with the old
	 * interval: re-arm it, still counted from the end of the run.
	 */
	if (c->state != CHECK_WAITING || !c->ran)
		return;
	left = c->ended + next_delay(c) - ev_now(c->loop);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, left > 0 ? left : 0., 0.);
	ev_timer_start(c->loop, &c->timer);
}

void check_free(struct check *c)
{
	if (c == NULL)
		return;
	run_close(c);
	ev_timer_stop(c->loop, &c->timer);
	check_tls_ctx_put(c->ctx);
	c->ctx = NULL;
	if (c->own_req)
		free(c->req);
	free(c->sni);
	free(c->verify_name);
	free(c);
}
