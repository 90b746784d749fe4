/*
 * DOC: active check tests: dns (udp and tcp) and udp_send_expect
 *
 * The UDP server is a watcher on the check's own loop (tests/support/check_util.c's ct_run):
 * it answers each query at once in the way the test chose, so nothing sleeps and the run is
 * judged on what really crossed the loopback. The TCP server is a thread with blocking,
 * time-bounded sockets. The replies are built from the query by hand (RFC 1035), apart from
 * health/dns_msg.c. The checks against a real DNS server are in tests/scenario/test_dns_check.c.
 */
#include "health/check.h"
#include "lib/dns.h"
#include "tests/support/check_util.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

TestSuite(check_dns, .init = ct_setup, .timeout = 20);

enum udp_mode {
	U_OK,       /* NOERROR with the A record 192.0.2.1 */
	U_SERVFAIL, /* rcode SERVFAIL */
	U_BAD_ID,   /* the ID plus one */
	U_TC,       /* the TC bit */
	U_SILENT,   /* no reply at all */
	U_ECHO,     /* udp_send_expect: "noise", then "PONG " + what came */
};

struct usrv {
	int fd, port;
	enum udp_mode mode;
	ev_io io;
	int queries;
	uint8_t last[512];
	size_t last_len;
};

/* A reply to query q[0..n) in out; its length. */
static size_t make_reply(const uint8_t *q, size_t n, enum udp_mode mode, uint8_t *out)
{
	static const uint8_t a[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1};

	cr_assert_geq(n, 12);
	memcpy(out, q, n);
	out[2] |= 0x80;
	out[3] = 0x80;
	if (mode == U_SERVFAIL)
		out[3] |= 2;
	if (mode == U_BAD_ID)
		out[1]++;
	if (mode == U_TC)
		out[2] |= 0x02;
	if (mode == U_OK) {
		out[7] = 1;
		memcpy(out + n, a, sizeof(a));
		n += sizeof(a);
	}
	return n;
}

static void usrv_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct usrv *s = (struct usrv *)((char *)io - offsetof(struct usrv, io));
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	uint8_t q[512], out[600];
	ssize_t n;
	(void)loop;
	(void)revents;

	n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 0)
		return;
	s->queries++;
	memcpy(s->last, q, (size_t)n);
	s->last_len = (size_t)n;
	if (s->mode == U_SILENT)
		return;
	if (s->mode == U_ECHO) {
		sendto(s->fd, "noise", 5, 0, (struct sockaddr *)&from, flen);
		memcpy(out, "PONG ", 5);
		memcpy(out + 5, q, (size_t)n);
		sendto(s->fd, out, 5 + (size_t)n, 0, (struct sockaddr *)&from, flen);
		return;
	}
	size_t len = make_reply(q, (size_t)n, s->mode, out);
	sendto(s->fd, out, len, 0, (struct sockaddr *)&from, flen);
}

/* On family's loopback; 0, or -1 when ::1 is absent. */
static int usrv_start_family(struct usrv *s, struct ev_loop *loop, enum udp_mode mode, int family)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr *sa =
		family == AF_INET6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin;
	socklen_t len = family == AF_INET6 ? sizeof(sin6) : sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(s->fd, 0);
	if (bind(s->fd, sa, len) != 0) {
		cr_assert_eq(family, AF_INET6, "bind 127.0.0.1: %s", strerror(errno));
		close(s->fd);
		return -1;
	}
	cr_assert_eq(getsockname(s->fd, sa, &len), 0);
	s->port = ntohs(family == AF_INET6 ? sin6.sin6_port : sin.sin_port);
	ev_io_init(&s->io, usrv_cb, s->fd, EV_READ);
	ev_io_start(loop, &s->io);
	return 0;
}

static void usrv_start(struct usrv *s, struct ev_loop *loop, enum udp_mode mode)
{
	usrv_start_family(s, loop, mode, AF_INET);
}

static void usrv_stop(struct usrv *s, struct ev_loop *loop)
{
	ev_io_stop(loop, &s->io);
	close(s->fd);
}

static struct conf_check dns_cc(const char *answer)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_DNS);

	cc.dns.name = "www.example.org.";
	cc.dns.qtype = DNS_TYPE_A;
	cc.dns.expect_answer = (char *)answer;
	return cc;
}

/* One run of cc against the in-loop server in mode; its result. */
static struct check_result udp_one(const struct conf_check *cc, enum udp_mode mode, struct usrv *s)
{
	struct ct_run x;
	struct check_result r;

	ct_run_init(&x);
	usrv_start(s, x.loop, mode);
	struct addr a = ct_addr_of(AF_INET, s->port);
	ct_run_start(&x, cc, &a, 0);
	ct_run_for(&x, 5.0);
	cr_assert_eq(x.n, 1, "no result within 5s");
	r = x.r[0];
	check_free(x.c);
	x.c = NULL;
	usrv_stop(s, x.loop);
	ct_run_done(&x);
	return r;
}

Test(check_dns, udp_ok_and_the_query_sent)
{
	struct conf_check cc = dns_cc("192.0.2.1");
	struct usrv s;
	struct check_result r = udp_one(&cc, U_OK, &s);
	static const uint8_t qname[] = {
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0};

	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(s.queries, 1);
	cr_assert_eq(s.last_len, 12 + sizeof(qname) + 4);
	cr_assert_eq(s.last[2], 0x01, "a standard query with RD");
	cr_assert_eq(memcmp(s.last + 12, qname, sizeof(qname)), 0);
}

Test(check_dns, udp_ipv6_ok)
{
	struct conf_check cc = dns_cc("192.0.2.1");
	struct ct_run x;
	struct usrv s;

	ct_run_init(&x);
	if (usrv_start_family(&s, x.loop, U_OK, AF_INET6) < 0) {
		ct_run_done(&x);
		cr_skip_test("no ::1 on this host");
	}
	struct addr a = ct_addr_of(AF_INET6, s.port);
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 5.0);
	cr_assert_eq(x.n, 1, "no result within 5s");
	ct_expect_result(&x.r[0], 1, "ok");
	cr_assert_eq(s.queries, 1);
	check_free(x.c);
	x.c = NULL;
	usrv_stop(&s, x.loop);
	ct_run_done(&x);
}

Test(check_dns, udp_answer_missing)
{
	struct conf_check cc = dns_cc("192.0.2.2");
	struct usrv s;
	struct check_result r = udp_one(&cc, U_OK, &s);

	ct_expect_result(&r, 0, "answer does not contain '192.0.2.2'");
}

Test(check_dns, udp_servfail)
{
	struct conf_check cc = dns_cc(NULL);
	struct usrv s;
	struct check_result r = udp_one(&cc, U_SERVFAIL, &s);

	ct_expect_result(&r, 0, "rcode SERVFAIL");
}

Test(check_dns, udp_id_mismatch)
{
	struct conf_check cc = dns_cc(NULL);
	struct usrv s;
	struct check_result r = udp_one(&cc, U_BAD_ID, &s);

	ct_expect_result(&r, 0, "id mismatch");
}

Test(check_dns, udp_truncated)
{
	struct conf_check cc = dns_cc(NULL);
	struct usrv s;
	struct check_result r = udp_one(&cc, U_TC, &s);

	ct_expect_result(&r, 0, "truncated reply");
}

Test(check_dns, udp_timeout)
{
	struct conf_check cc = dns_cc(NULL);
	struct usrv s;
	struct check_result r;

	cc.timeout_ms = 200;
	r = udp_one(&cc, U_SILENT, &s);
	ct_expect_result(&r, 0, "timeout after 200ms (waiting for response)");
	cr_assert_eq(s.queries, 1, "the query arrived");
	cr_assert_geq(r.duration, 0.19);
}

Test(check_dns, new_id_every_run)
{
	struct conf_check cc = dns_cc(NULL);
	struct ct_run x;
	struct usrv s;
	uint16_t ids[8];

	cc.interval_ms = 100; /* eight runs in about a second, with room for a slow host */
	cc.timeout_ms = 100;
	ct_run_init(&x);
	x.want = 8;
	usrv_start(&s, x.loop, U_OK);
	struct addr a = ct_addr_of(AF_INET, s.port);
	ct_run_start(&x, &cc, &a, 0);
	for (int i = 0; i < 8; i++) {
		int before = x.n;

		x.want = before + 1;
		ct_run_for(&x, 5.0);
		cr_assert_eq(x.n, before + 1);
		ct_expect_result(&x.r[i], 1, "ok");
		ids[i] = (uint16_t)((s.last[0] << 8) | s.last[1]);
	}
	int same = 0;
	for (int i = 1; i < 8; i++)
		same += ids[i] == ids[0];
	cr_assert_lt(same, 7, "eight runs asked with the same ID");
	check_free(x.c);
	x.c = NULL;
	usrv_stop(&s, x.loop);
	ct_run_done(&x);
}

/* A loopback UDP port nobody listens on: the kernel answers with ICMP port unreachable. */
static int dead_udp_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

Test(check_dns, udp_port_unreachable)
{
	struct conf_check cc = dns_cc(NULL);
	struct addr a = ct_addr_of(AF_INET, dead_udp_port());
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "port unreachable");
	cr_assert_lt(r.duration, 1.0, "not a timeout");
}

/* ---- dns over tcp ---------------------------------------------------------------------------- */

struct tsrv {
	int lfd, port;
	enum udp_mode mode;
	pthread_t th;
	int got;
};

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *tsrv_main(void *arg)
{
	struct tsrv *s = arg;
	struct timeval tv = {.tv_sec = 3};
	uint8_t len[2], q[512], out[2 + 600];
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read_full(fd, len, 2) == 0) {
		size_t n = (size_t)((len[0] << 8) | len[1]);

		if (n >= 12 && n <= sizeof(q) && read_full(fd, q, n) == 0) {
			s->got = (int)n;
			size_t rn = make_reply(q, n, s->mode, out + 2);

			out[0] = (uint8_t)(rn >> 8);
			out[1] = (uint8_t)rn;
			/* In two pieces, the length alone first: the check must gather them. */
			send(fd, out, 1, MSG_NOSIGNAL);
			usleep(20000);
			send(fd, out + 1, rn + 1, MSG_NOSIGNAL);
		}
	}
	recv(fd, q, sizeof(q), 0); /* until the check closes */
	close(fd);
	return NULL;
}

Test(check_dns, tcp_ok_with_its_length)
{
	static struct tsrv s;
	struct conf_check cc = dns_cc("192.0.2.1");
	struct check_result r;

	cc.dns.tcp = 1;
	s.lfd = ct_loopback_socket(AF_INET, 1, &s.port);
	cr_assert_geq(s.lfd, 0);
	s.mode = U_OK;
	cr_assert_eq(pthread_create(&s.th, NULL, tsrv_main, &s), 0);
	struct addr a = ct_addr_of(AF_INET, s.port);
	r = ct_one(&cc, &a);
	pthread_join(s.th, NULL);
	close(s.lfd);
	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(s.got, 12 + 17 + 4, "the query behind its 2-byte length");
}

Test(check_dns, tcp_servfail)
{
	static struct tsrv s;
	struct conf_check cc = dns_cc(NULL);
	struct check_result r;

	cc.dns.tcp = 1;
	s.lfd = ct_loopback_socket(AF_INET, 1, &s.port);
	cr_assert_geq(s.lfd, 0);
	s.mode = U_SERVFAIL;
	cr_assert_eq(pthread_create(&s.th, NULL, tsrv_main, &s), 0);
	struct addr a = ct_addr_of(AF_INET, s.port);
	r = ct_one(&cc, &a);
	pthread_join(s.th, NULL);
	close(s.lfd);
	ct_expect_result(&r, 0, "rcode SERVFAIL");
}

Test(check_dns, tcp_refused)
{
	int port, fd = ct_loopback_socket(AF_INET, 0, &port);
	struct conf_check cc = dns_cc(NULL);
	struct addr a = ct_addr_of(AF_INET, port);
	struct check_result r;

	cc.dns.tcp = 1;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "connect refused");
	close(fd);
}

/* ---- udp_send_expect ------------------------------------------------------------------------- */

Test(check_dns, udp_send_expect_ok)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_UDP_SEND_EXPECT);
	struct usrv s;
	struct check_result r;

	cc.send = "PING";
	cc.send_len = 4;
	cc.expect = "PONG PING";
	r = udp_one(&cc, U_ECHO, &s);
	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(s.last_len, 4);
	cr_assert_eq(memcmp(s.last, "PING", 4), 0);
}

Test(check_dns, udp_send_expect_missing)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_UDP_SEND_EXPECT);
	struct usrv s;
	struct check_result r;

	cc.send = "PING";
	cc.send_len = 4;
	cc.expect = "HELLO";
	cc.timeout_ms = 200;
	r = udp_one(&cc, U_ECHO, &s);
	ct_expect_result(&r, 0, "timeout after 200ms, expected 'HELLO' not received");
}

Test(check_dns, udp_send_expect_port_unreachable)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_UDP_SEND_EXPECT);
	struct addr a = ct_addr_of(AF_INET, dead_udp_port());
	struct check_result r;

	cc.send = "PING";
	cc.send_len = 4;
	cc.expect = "PONG";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "port unreachable");
}
