/*
 * DOC: active check tests: tcp, http, send_expect, scheduling
 *
 * Servers, certificates and the loop that drives a check are in tests/support/check_util.c;
 * the TLS and HTTPS checks are tested in test_check_tls.c.
 */
#include "health/check.h"
#include "lib/dirent_count.h"
#include "tests/support/check_util.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(check, .init = ct_setup, .fini = ct_pki_free, .timeout = 20);

/* ---- tcp ------------------------------------------------------------------------------------- */

Test(check, tcp_ok)
{
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, 0);
	cr_assert_lt(r.duration, 1.0);
	ct_srv_stop(s);
}

Test(check, tcp_refused)
{
	int port, fd = ct_loopback_socket(AF_INET, 0, &port); /* bound, not listening: RST */
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, port);
	struct check_result r;

	cr_assert_geq(fd, 0);
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "connect refused");
	close(fd);
}

Test(check, tcp_ipv6_ok)
{
	struct ct_srv *s = ct_srv_start_family(AF_INET6, SRV_DISCARD, NULL, NULL);

	if (s == NULL)
		cr_skip_test("no ::1 on this host");
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET6, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 1, "ok");
	ct_srv_stop(s);
}

Test(check, port_override)
{
	int port, fd = ct_loopback_socket(AF_INET, 0, &port);
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, port); /* the backend's port refuses */
	struct check_result r;

	cc.port = (unsigned)s->port; /* the check's port answers */
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	ct_srv_stop(s);
	close(fd);
}

/* ---- http ------------------------------------------------------------------------------------ */

Test(check, http_request_text)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP, CT_HTTP_OK, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	char want[256], got[2048];
	struct check_result r;

	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	ct_srv_stop(s);
	snprintf(got, sizeof(got), "%s", s->request);
	snprintf(want, sizeof(want),
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: anylb-check\r\n"
		"Connection: close\r\n\r\n",
		ntohs(a.in.sin_port));
	cr_assert_str_eq(got, want);
}

Test(check, http_host_header)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP, CT_HTTP_OK, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.host = "api.example.com";
	cc.path = "/ready?full=1";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	ct_srv_stop(s);
	cr_assert(strstr(s->request, "GET /ready?full=1 HTTP/1.1\r\n") == s->request);
	cr_assert_not_null(strstr(s->request, "\r\nHost: api.example.com\r\n"));
}

Test(check, http_503)
{
	struct ct_srv *s = ct_srv_start(
		SRV_HTTP, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "status 503");
	ct_srv_stop(s);
}

Test(check, http_expect_status_ranges)
{
	struct ct_srv *s = ct_srv_start(
		SRV_HTTP, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct conf_status_range ranges[] = {{200, 200}, {500, 503}};
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_status = ranges;
	cc.nexpect_status = 2;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	ranges[1].hi = 502;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "status 503");
	ct_srv_stop(s);
}

Test(check, http_body)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot "
		"\r\n5\r\nready\r\n0\r\n\r\n",
		NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_body = "not ready";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	cc.expect_body = "all good";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "body does not contain 'all good'");
	ct_srv_stop(s);
}

Test(check, http_body_close_delimited)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP, "HTTP/1.0 200 OK\r\n\r\nstarting", NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_body = "ready";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "body does not contain 'ready'");
	ct_srv_stop(s);
}

Test(check, http_hang_times_out)
{
	struct ct_srv *s = ct_srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.timeout_ms = 300;
	r = ct_one(&cc, &a);
	cr_assert_not(r.ok);
	cr_assert(ct_starts_with(r.reason, "timeout after 300ms"), "%s", r.reason);
	cr_assert_str_eq(r.reason, "timeout after 300ms (waiting for response)");
	cr_assert_geq(r.duration, 0.29);
	cr_assert_lt(r.duration, 1.0);
	ct_srv_stop(s);
}

Test(check, http_closed_reset_garbage)
{
	struct ct_srv *s = ct_srv_start(SRV_CLOSE, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "closed before a response");
	ct_srv_stop(s);

	s = ct_srv_start(SRV_RESET, NULL, NULL);
	a = ct_addr_of(AF_INET, s->port);
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "reset by peer");
	ct_srv_stop(s);

	s = ct_srv_start(SRV_HTTP, "SSH-2.0-OpenSSH_9.2\r\n\r\n", NULL);
	a = ct_addr_of(AF_INET, s->port);
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "bad HTTP response: bad status line");
	ct_srv_stop(s);

	s = ct_srv_start(SRV_HTTP, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", NULL);
	a = ct_addr_of(AF_INET, s->port);
	cc.expect_body = "long";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "bad HTTP response: body truncated");
	ct_srv_stop(s);
}

/*
 * Defect 11: the substring arrived, then the backend closed before the end of the body. The
 * check passed; it must fail as truncated, through the real driver (the socket's close).
 */
Test(check, http_body_truncated_after_the_substring_fails)
{
	static const char *cut[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstatus: ready",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nstatus: ready\r\n",
	};
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct check_result r;

	cc.expect_body = "ready";
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		struct ct_srv *s = ct_srv_start(SRV_HTTP, cut[i], NULL);
		struct addr a = ct_addr_of(AF_INET, s->port);

		r = ct_one(&cc, &a);
		ct_expect_result(&r, 0, "bad HTTP response: body truncated");
		ct_srv_stop(s);
	}
}

/* ---- send_expect ----------------------------------------------------------------------------- */

Test(check, send_expect)
{
	struct ct_srv *s = ct_srv_start(SRV_EXPECT, "+PONG\r\n", NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_SEND_EXPECT);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	s->until = "PING\r\n";
	cc.send = "PING\r\n";
	cc.send_len = 6;
	cc.expect = "PONG";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	cr_assert_str_eq(s->request, "PING\r\n");

	cc.expect = "PANG";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "expected 'PANG' not received");
	ct_srv_stop(s);
}

Test(check, send_expect_binary_and_timeout)
{
	struct ct_srv *s = ct_srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_SEND_EXPECT);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.send = "\x01\x02";
	cc.send_len = 2;
	cc.expect = "\x7f"
		    "OK";
	cc.timeout_ms = 200;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "timeout after 200ms, expected '\\x7fOK' not received");
	ct_srv_stop(s);
}

/* ---- scheduling ------------------------------------------------------------------------------ */

Test(check, never_synchronous)
{
	int port, fd = ct_loopback_socket(AF_INET, 0, &port);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, port);
	struct ct_run x;

	/* A refused connect fails inside connect(2) itself: still reported from the loop. */
	ct_run_init(&x);
	ct_run_start(&x, &cc, &a, 0);
	cr_assert_eq(x.n, 0);
	ct_run_for(&x, 2.0);
	cr_assert_eq(x.n, 1);
	cr_assert_str_eq(x.r[0].reason, "connect refused");
	ct_run_done(&x);
	close(fd);
}

static int runs_in(const struct conf_check *cc, const struct addr *a, int fast, double seconds)
{
	struct ct_run x;
	int n;

	ct_run_init(&x);
	x.want = CT_MAXRES;
	ct_run_start(&x, cc, a, 0);
	check_set_fast(x.c, fast);
	ct_run_for(&x, seconds);
	n = x.n;
	ct_run_done(&x);
	return n;
}

Test(check, fast_and_normal_interval)
{
	int fds = dirent_count("/proc/self/fd"), normal, fast;
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);

	cc.interval_ms = 200;
	cc.fast_interval_ms = 50;
	normal = runs_in(&cc, &a, 0, 1.0);
	fast = runs_in(&cc, &a, 1, 1.0);
	/* Runs at 0, 0.2, ... 1.0 at most; at 0, 0.05, ... for fast. */
	cr_assert_leq(normal, 6, "normal %d", normal);
	cr_assert_geq(normal, 3, "normal %d", normal);
	cr_assert_leq(fast, 21, "fast %d", fast);
	cr_assert_geq(fast, 2 * normal, "fast %d normal %d", fast, normal);
	ct_srv_stop(s);
	cr_assert_eq(dirent_count("/proc/self/fd"), fds,
		"file descriptors leaked: %d before, %d after", fds, dirent_count("/proc/self/fd"));
}

Test(check, set_fast_from_callback_rearms)
{
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x;

	cc.interval_ms = 10000;
	cc.fast_interval_ms = 50;
	ct_run_init(&x);
	x.want = 4;
	x.fast_on_first = 1;
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 2.0);
	cr_assert_eq(x.n, 4, "only %d runs: the 10s wait was not shortened", x.n);
	ct_run_done(&x);
	ct_srv_stop(s);
}

Test(check, interval_counts_from_end_of_run)
{
	struct ct_srv *s = ct_srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x;

	cc.interval_ms = 200;
	cc.timeout_ms = 200;
	ct_run_init(&x);
	x.want = CT_MAXRES;
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 1.1);
	/* Ends at 0.2, 0.6, 1.0: never a run every 0.2s. */
	cr_assert_geq(x.n, 2);
	cr_assert_leq(x.n, 3, "%d runs: they piled up", x.n);
	for (int i = 1; i < x.n; i++)
		cr_assert_geq(x.at[i] - x.at[i - 1], 0.38, "gap %f", x.at[i] - x.at[i - 1]);
	for (int i = 0; i < x.n; i++)
		cr_assert(
			ct_starts_with(x.r[i].reason, "timeout after 200ms"), "%s", x.r[i].reason);
	ct_run_done(&x);
	ct_srv_stop(s);
}

Test(check, jitter_spreads_within_bounds)
{
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	double lo = 1e9, hi = 0;
	struct ct_run x;

	cc.interval_ms = 100;
	cc.jitter_pct = 50;
	ct_run_init(&x);
	x.want = 16;
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 5.0);
	cr_assert_eq(x.n, 16);
	for (int i = 1; i < x.n; i++) {
		double gap = x.at[i] - x.at[i - 1];

		lo = gap < lo ? gap : lo;
		hi = gap > hi ? gap : hi;
	}
	cr_assert_geq(lo, 0.049, "shortest gap %f", lo);
	cr_assert_leq(hi, 0.25, "longest gap %f", hi);
	cr_assert_gt(hi - lo, 0.01, "no jitter: %f..%f", lo, hi);
	ct_run_done(&x);
	ct_srv_stop(s);
}

Test(check, first_delay)
{
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x;
	double t0;

	ct_run_init(&x);
	t0 = ev_time();
	ct_run_start(&x, &cc, &a, 0.3);
	ct_run_for(&x, 2.0);
	cr_assert_eq(x.n, 1);
	cr_assert_geq(x.at[0] - t0, 0.29);
	ct_run_done(&x);
	ct_srv_stop(s);
}

Test(check, free_from_callback)
{
	struct ct_srv *s = ct_srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TCP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x;

	cc.interval_ms = 50;
	ct_run_init(&x);
	x.want = 5;
	x.free_on_first = 1;
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 0.5);
	cr_assert_eq(x.n, 1);
	cr_assert_null(x.c);
	ct_run_done(&x);
	ct_srv_stop(s);
}

Test(check, free_mid_run_reports_nothing)
{
	int fds = dirent_count("/proc/self/fd");
	struct ct_srv *s = ct_srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x;

	cc.timeout_ms = 1000;
	ct_run_init(&x);
	ct_run_start(&x, &cc, &a, 0);
	ct_run_for(&x, 0.2); /* connected, request sent, waiting */
	cr_assert_eq(x.n, 0);
	cr_assert_eq(atomic_load(&s->accepted), 1);
	check_free(x.c);
	x.c = NULL;
	ct_run_for(&x, 1.2);
	cr_assert_eq(x.n, 0);
	ev_loop_destroy(x.loop);
	ct_srv_stop(s);
	cr_assert_eq(dirent_count("/proc/self/fd"), fds,
		"file descriptors leaked: %d before, %d after", fds, dirent_count("/proc/self/fd"));
}

Test(check, bad_request_text_refused)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTP);
	struct addr a = ct_addr_of(AF_INET, 9);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	cc.path = "/x\r\nInjected: 1";
	cr_assert_null(check_new(loop, &cc, NULL, &a, ct_on_result, NULL));
	ev_loop_destroy(loop);
}
