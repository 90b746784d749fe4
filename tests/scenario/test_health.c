/*
 * DOC: scenario: active health checks and what they do to sessions
 *
 * The real anylb against backends the test controls. With no admin API yet, a backend's state is
 * read from the log (`backend ADDR (SERVICE): OLD -> NEW: REASON`) and from what clients see:
 * HELLO backends say who they are, so every session knows where it landed.
 *
 * A health check's `port:` is one number for every backend of a service, so the two backends of
 * a test live on 127.0.0.1 and ::1 and each serves its checks on the same side port number of its
 * own address (sc_backend_opts.http): the test sets the status that backend's checks get.
 *
 * A fresh backend starts at the bottom of the "up" range (health/risefall.c): one failure takes
 * it down until it has passed once. Tests that count `fall` therefore wait for a passing check
 * or two first.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(health, .fini = sc_cleanup, .timeout = 40);

/* Check timing shared by the tests: fast enough to keep them short, slow enough for ASan. */
#define INTERVAL 200
#define FAST     100
#define TIMEOUT  200
#define RISE     2
#define FALL     2

/* Any transition line. */
#define TRANSITION_RE "backend .* \\(.*\\): [a-z_]+ -> [a-z_]+: "

struct pair {
	struct sc_backend *a, *b; /* a on 127.0.0.1, b on ::1; HELLO "A" / "B" */
	char listen[SC_ADDRSTRLEN];
	unsigned hport; /* the side port number, on both addresses */
};

/* Starts A and B with an HTTP side port of the same number; skips the test without ::1. */
static void pair_start(struct pair *p)
{
	struct sc_backend_opts oa = {.id = "A", .http = 1}, ob = {.id = "B", .http = 1};

	p->a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &oa);
	cr_assert_not_null(p->a, "backend A: %s", strerror(errno));
	p->hport = sc_backend_http_port(p->a);
	ob.http_port = p->hport;
	p->b = sc_backend_start(SC_BACKEND_HELLO, AF_INET6, &ob);
	if (p->b == NULL)
		cr_skip_test("no [::1]:%u for backend B (%s)", p->hport, strerror(errno));
	cr_assert_gt(sc_free_addr(AF_INET, p->listen, sizeof(p->listen)), 0);
}

/* Waits until backend b's side port has answered n requests with its current status. */
static void wait_answered(struct sc_backend *b, unsigned n, int timeout_ms, const char *who)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	while (sc_backend_http_answered(b) < n) {
		cr_assert_lt(sc_now_ms(), deadline, "%s: %u of %u checks answered in %d ms", who,
			sc_backend_http_answered(b), n, timeout_ms);
		sc_sleep_ms(5);
	}
}

/* Opens a session through the proxy that lands on backend `want` ("A"/"B"); keeps it open.
 * Sessions that land elsewhere are closed. Returns the fd. */
static int session_on(const char *listen, const char *want)
{
	char id[32];

	for (int i = 0; i < 10; i++) {
		int fd = sc_connect(listen, 2000), rc;

		cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
		rc = sc_recv_line(fd, id, sizeof(id), 2000);
		cr_assert_geq(rc, 0, "hello line: %s", strerror(-rc));
		if (strcmp(id, want) == 0)
			return fd;
		close(fd);
	}
	cr_assert_fail("10 sessions and none landed on %s", want);
	return -1;
}

/* n new sessions; returns how many landed on "A" (the rest must be "B"). */
static int count_on_a(const char *listen, int n)
{
	int on_a = 0;

	for (int i = 0; i < n; i++) {
		char id[32];
		int rc = sc_hello(NULL, listen, id, sizeof(id), 2000);

		cr_assert_geq(rc, 0, "session %d of %d: %s", i + 1, n, strerror(-rc));
		cr_assert(strcmp(id, "A") == 0 || strcmp(id, "B") == 0, "hello '%s'", id);
		on_a += strcmp(id, "A") == 0;
	}
	return on_a;
}

/* A few KiB both ways on an open session: 0 when they all came back. */
static int exercise(int fd, int rounds)
{
	char msg[2048];

	for (int i = 0; i < rounds; i++) {
		int rc;

		memset(msg, 'a' + i % 26, sizeof(msg) - 2);
		msg[sizeof(msg) - 2] = '\n';
		msg[sizeof(msg) - 1] = '\0';
		rc = sc_echo(fd, msg, 2000);
		if (rc != 0)
			return rc;
	}
	return 0;
}

Test(health, http_503_goes_not_ready_sessions_drain_then_back_after_rise)
{
	struct sc_log_line line;
	struct pair p;
	struct sc_lb *lb;
	size_t off;
	int sa, sb, rc;
	unsigned n;

	pair_start(&p);
	lb = sc_lb_start("global:\n"
			 "  workers: 2\n"
			 "services:\n"
			 "  - name: web\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      readiness:\n"
			 "        type: http\n"
			 "        port: %u\n"
			 "        path: /ready\n"
			 "        interval: %dms\n"
			 "        fast_interval: %dms\n"
			 "        timeout: %dms\n"
			 "        jitter: 0\n"
			 "        rise: %d\n"
			 "        fall: %d\n",
		p.listen, sc_backend_addr(p.a), sc_backend_addr(p.b), p.hport, INTERVAL, FAST,
		TIMEOUT, RISE, FALL);
	cr_assert_not_null(lb);
	wait_answered(p.a, 2, 3000, "A");
	wait_answered(p.b, 2, 3000, "B");

	sa = session_on(p.listen, "A");
	sb = session_on(p.listen, "B");
	cr_assert_eq(exercise(sa, 4), 0);

	/* 503: not_ready after exactly `fall` failed checks. */
	off = sc_lb_log_offset(lb);
	sc_backend_set_http_status(p.a, 503);
	rc = sc_lb_wait_transition(lb, off, sc_backend_addr(p.a), "web", "ready", "not_ready",
		"readiness: status 503", 3000, &line);
	cr_assert_eq(rc, 0, "no 'ready -> not_ready: readiness: status 503' for A within 3 s");
	n = sc_backend_http_answered(p.a);
	cr_assert(n >= FALL && n <= FALL + 1, "A went not_ready after %u answers of 503 (fall %d)",
		n, FALL);
	cr_assert_str_eq(strstr(line.text, "readiness:"), "readiness: status 503");

	/* Its open session keeps flowing; new sessions avoid it. */
	cr_assert_eq(exercise(sa, 8), 0, "the session open on A broke when A went not_ready");
	cr_assert_eq(count_on_a(p.listen, 20), 0, "new sessions went to a not_ready backend");
	cr_assert_eq(exercise(sa, 2), 0);

	/* 200 again: ready after exactly `rise` passing checks. */
	off = sc_lb_log_offset(lb);
	sc_backend_set_http_status(p.a, 200);
	rc = sc_lb_wait_transition(lb, off, sc_backend_addr(p.a), "web", "not_ready", "ready",
		"readiness passed", 3000, &line);
	cr_assert_eq(rc, 0, "A not back to ready within 3 s of answering 200");
	n = sc_backend_http_answered(p.a);
	cr_assert(n >= RISE && n <= RISE + 1, "A came back after %u passing checks (rise %d)", n,
		RISE);
	/* The line is logged once the state is published: new sessions see A at once. */
	n = (unsigned)count_on_a(p.listen, 20);
	cr_assert(n >= 5 && n <= 15, "%u of 20 new sessions on A after it came back", n);

	/* Both sessions lived through all of it; A changed state exactly twice. */
	cr_assert_eq(exercise(sa, 2), 0);
	cr_assert_eq(exercise(sb, 2), 0);
	/* Besides the two first verdicts (initial_state not_ready with readiness). */
	cr_assert_eq(sc_lb_log_count_re(lb, 0, TRANSITION_RE), 4,
		"transitions besides the two expected");
	close(sa);
	close(sb);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(health, liveness_failure_goes_dead_and_closes_its_sessions)
{
	enum { NA = 3 };
	struct sc_log_line line;
	struct pair p;
	struct sc_lb *lb;
	int sa[NA], sb, rc;
	int64_t worst = 0;
	size_t off;

	pair_start(&p);
	lb = sc_lb_start("global:\n"
			 "  workers: 2\n"
			 "services:\n"
			 "  - name: web\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      liveness:\n"
			 "        type: http\n"
			 "        port: %u\n"
			 "        interval: %dms\n"
			 "        fast_interval: %dms\n"
			 "        timeout: %dms\n"
			 "        jitter: 0\n"
			 "        rise: %d\n"
			 "        fall: %d\n",
		p.listen, sc_backend_addr(p.a), sc_backend_addr(p.b), p.hport, INTERVAL, FAST,
		TIMEOUT, RISE, FALL);
	cr_assert_not_null(lb);
	wait_answered(p.a, 2, 3000, "A");
	wait_answered(p.b, 2, 3000, "B");

	for (int i = 0; i < NA; i++) {
		sa[i] = session_on(p.listen, "A");
		cr_assert_eq(exercise(sa[i], 1), 0);
	}
	sb = session_on(p.listen, "B");

	/* The liveness port starts refusing: dead after `fall` checks. */
	off = sc_lb_log_offset(lb);
	sc_backend_http_refuse(p.a);
	rc = sc_lb_wait_transition(lb, off, sc_backend_addr(p.a), "web", "ready", "dead",
		"liveness: connect refused", 3000, &line);
	cr_assert_eq(rc, 0, "no 'ready -> dead: liveness: connect refused' for A within 3 s");

	/* Every session on A is closed by the proxy, promptly. */
	for (int i = 0; i < NA; i++) {
		rc = sc_wait_close(sa[i], 2000, NULL);
		cr_assert(rc == 0 || rc == -ECONNRESET,
			"session %d on the dead backend still open 2 s later: %s", i,
			strerror(-rc));
		if (sc_now_ms() - line.seen_ms > worst)
			worst = sc_now_ms() - line.seen_ms;
		close(sa[i]);
	}
	cr_assert_lt(worst, 500, "sessions on the dead backend closed %lld ms after the line",
		(long long)worst);
	/* And the backend side of them too. */
	cr_assert_eq(sc_backend_wait_idle(p.a, 2000), 0, "A still has %u connections from anylb",
		sc_backend_open(p.a));

	/* B's session is untouched; new sessions all go to B. */
	cr_assert_eq(exercise(sb, 2), 0, "the session on the live backend broke");
	cr_assert_eq(count_on_a(p.listen, 10), 0, "new sessions went to a dead backend");
	close(sb);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(health, check_cut_at_timeout_when_backend_hangs)
{
	enum { HTIMEOUT = 300, HINTERVAL = 500, HFAST = 200 };
	struct sc_log_line line;
	struct pair p;
	struct sc_lb *lb;
	unsigned most = 0;
	int64_t t0;
	size_t off;
	int rc;

	pair_start(&p);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: web\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      readiness:\n"
			 "        type: http\n"
			 "        port: %u\n"
			 "        interval: %dms\n"
			 "        fast_interval: %dms\n"
			 "        timeout: %dms\n"
			 "        jitter: 0\n"
			 "        rise: %d\n"
			 "        fall: %d\n",
		p.listen, sc_backend_addr(p.a), sc_backend_addr(p.b), p.hport, HINTERVAL, HFAST,
		HTIMEOUT, RISE, FALL);
	cr_assert_not_null(lb);
	wait_answered(p.a, 1, 3000, "A");
	wait_answered(p.b, 1, 3000, "B");

	/* A accepts its checks, reads them and never answers. */
	off = sc_lb_log_offset(lb);
	t0 = sc_now_ms();
	sc_backend_set_http_status(p.a, 0);
	while (sc_lb_log_count(lb, off, "not_ready") == 0 && sc_now_ms() - t0 < 3000) {
		unsigned o = sc_backend_http_open(p.a);

		most = o > most ? o : most;
		sc_sleep_ms(10);
	}
	rc = sc_lb_wait_transition(lb, off, sc_backend_addr(p.a), "web", "ready", "not_ready",
		"readiness: timeout after 300ms", 100, &line);
	cr_assert_eq(rc, 0, "no 'ready -> not_ready: readiness: timeout after 300ms' within 3 s");
	/* At most: a wait of one interval, then fall checks cut at the timeout, fast in between. */
	cr_assert_lt(line.seen_ms - t0, HINTERVAL + FALL * HTIMEOUT + (FALL - 1) * HFAST + 300,
		"not_ready %lld ms after the backend started hanging",
		(long long)(line.seen_ms - t0));
	/* Runs never pile up: one hung check connection at a time (two while one is noticed). */
	cr_assert_leq(most, 2, "%u hung check connections open at once", most);
	/* And every hung check was closed by anylb, not left behind. */
	for (int i = 0; i < 100 && sc_backend_http_open(p.a) > 1; i++)
		sc_sleep_ms(10);
	cr_assert_leq(sc_backend_http_open(p.a), 1);
	cr_assert_eq(count_on_a(p.listen, 10), 0, "new sessions went to a not_ready backend");
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(health, tls_verify_expired_untrusted_and_valid)
{
	struct sc_tls_server *expired, *foreign, *good;
	struct sc_log_line line;
	struct sc_lb *lb;
	struct sc_pki pki;
	size_t off;
	int rc;

	cr_assert_eq(sc_pki_make(&pki), 0);
	expired = sc_tls_server_start(AF_INET, pki.expired);
	foreign = sc_tls_server_start(AF_INET, pki.foreign);
	good = sc_tls_server_start(AF_INET, pki.selfsigned); /* valid only from later on */
	cr_assert(expired != NULL && foreign != NULL && good != NULL);

	char listen[SC_ADDRSTRLEN];
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: tls\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      readiness:\n"
			 "        type: tls\n"
			 "        tls:\n"
			 "          verify: true\n"
			 "          ca_file: \"%s\"\n"
			 "        interval: 300ms\n"
			 "        fast_interval: %dms\n"
			 "        timeout: 300ms\n"
			 "        jitter: 0\n"
			 "        rise: %d\n"
			 "        fall: %d\n",
		listen, sc_tls_server_addr(expired), sc_tls_server_addr(foreign),
		sc_tls_server_addr(good), pki.ca_file, FAST, RISE, FALL);
	cr_assert_not_null(lb);

	rc = sc_lb_wait_first_verdict(
		lb, 0, sc_tls_server_addr(expired), "tls", "certificate expired", 3000, &line);
	cr_assert_eq(rc, 0, "expired certificate: no 'readiness: certificate expired'");
	rc = sc_lb_wait_first_verdict(lb, 0, sc_tls_server_addr(foreign), "tls",
		"certificate verify failed: ", 3000, &line);
	cr_assert_eq(rc, 0, "certificate of an untrusted CA: no 'certificate verify failed'");
	cr_assert_not_null(
		strstr(line.text, "unable to get local issuer certificate"), "%s", line.text);
	rc = sc_lb_wait_first_verdict(lb, 0, sc_tls_server_addr(good), "tls",
		"certificate verify failed: self-signed certificate", 3000, &line);
	cr_assert_eq(rc, 0, "self-signed certificate: no 'certificate verify failed'");

	/* The same server with a certificate from the CA in ca_file: the check passes. */
	off = sc_lb_log_offset(lb);
	cr_assert_eq(sc_tls_server_set_cert(good, pki.leaf), 0);
	rc = sc_lb_wait_transition(lb, off, sc_tls_server_addr(good), "tls", "not_ready", "ready",
		"readiness passed", 3000, &line);
	cr_assert_eq(rc, 0, "a certificate signed by ca_file did not pass within 3 s");
	cr_assert_gt(sc_tls_server_handshakes(good), 0);
	/* It stays ready, and the other two stay down (no line for any of them). A sleep on
	 * purpose: it asserts that nothing happens for 800 ms, over two 300 ms intervals. */
	sc_sleep_ms(4 * INTERVAL);
	cr_assert_eq(sc_lb_log_count_re(lb, line.next, TRANSITION_RE), 0,
		"a transition after the valid certificate passed");
	cr_assert_eq(sc_lb_stop(lb), 0);
	sc_tls_server_stop(expired);
	sc_tls_server_stop(foreign);
	sc_tls_server_stop(good);
	sc_pki_free(&pki);
}

/* The `no backend` log lines of service svc from offset from. */
static int nobackend_lines(const struct sc_lb *lb, size_t from, const char *svc)
{
	char re[256];

	snprintf(
		re, sizeof(re), "service %s: no (usable backend|backend answered) for client", svc);
	return sc_lb_log_count_re(lb, from, re);
}

Test(health, no_usable_backend_closes_at_once_and_logs_once_a_second)
{
	enum { ATTEMPTS = 200 };
	struct sc_backend *r1 = sc_backend_start(SC_BACKEND_REFUSE, AF_INET, NULL);
	struct sc_backend *r2 = sc_backend_start(SC_BACKEND_REFUSE, AF_INET, NULL);
	char plain[SC_ADDRSTRLEN], checked[SC_ADDRSTRLEN];
	int64_t worst[2] = {0, 0}, t0, secs;
	int resets[2] = {0, 0}, lines[2];
	struct sc_lb *lb;
	size_t off;

	cr_assert(r1 != NULL && r2 != NULL);
	cr_assert_gt(sc_free_addr(AF_INET, plain, sizeof(plain)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, checked, sizeof(checked)), 0);
	/* `plain` finds out by connecting (refused, retried, given up); `checked` knows from its
	 * readiness checks that nothing is usable. */
	lb = sc_lb_start("global:\n"
			 "  workers: 2\n"
			 "services:\n"
			 "  - name: plain\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "  - name: checked\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      readiness:\n"
			 "        type: tcp\n"
			 "        interval: %dms\n"
			 "        timeout: %dms\n",
		plain, sc_backend_addr(r1), sc_backend_addr(r2), checked, sc_backend_addr(r1),
		sc_backend_addr(r2), INTERVAL, TIMEOUT);
	cr_assert_not_null(lb);
	cr_assert_eq(sc_lb_wait_first_verdict(
			     lb, 0, sc_backend_addr(r1), "checked", "connect refused", 3000, NULL),
		0);
	cr_assert_eq(sc_lb_wait_first_verdict(
			     lb, 0, sc_backend_addr(r2), "checked", "connect refused", 3000, NULL),
		0);

	off = sc_lb_log_offset(lb);
	t0 = sc_now_ms();
	for (int i = 0; i < 2 * ATTEMPTS; i++) {
		const char *addr = i % 2 ? checked : plain;
		int64_t t1 = sc_now_ms(), dt;
		int fd = sc_connect(addr, 1000), rc;

		/* The RST may come before connect() is seen to complete. */
		cr_assert(fd >= 0 || fd == -ECONNRESET, "connect %d: %s", i, strerror(-fd));
		rc = fd >= 0 ? sc_wait_close(fd, 1000, NULL) : fd;
		dt = sc_now_ms() - t1;
		cr_assert(rc == 0 || rc == -ECONNRESET,
			"attempt %d on %s: not closed within 1 s (%s)", i, addr, strerror(-rc));
		resets[i % 2] += rc == -ECONNRESET;
		worst[i % 2] = dt > worst[i % 2] ? dt : worst[i % 2];
		if (fd >= 0)
			close(fd);
		/* Pacing, not a wait: spreads the attempts over seconds, which the once-a-second
		 * rate limit of the line needs in order to be seen at work. */
		sc_sleep_ms(5);
	}
	secs = (sc_now_ms() - t0 + 999) / 1000;
	/* A refused client's line is written before its connection is reset, so every line is in
	 * the log once the last client has seen its close; at least one must be there. */
	cr_assert_eq(sc_lb_wait_log_re(lb, off,
			     "service plain: no (usable backend|backend answered)", 1000, NULL),
		0, "no 'no backend' line for service plain");
	cr_assert_eq(sc_lb_wait_log_re(lb, off,
			     "service checked: no (usable backend|backend answered)", 1000, NULL),
		0, "no 'no backend' line for service checked");
	lines[0] = nobackend_lines(lb, off, "plain");
	lines[1] = nobackend_lines(lb, off, "checked");
	fprintf(stderr,
		"no backend: %d attempts per service over %lld s: closed within %lld ms (plain), "
		"%lld ms (checked); RST %d/%d; log lines %d (plain), %d (checked)\n",
		ATTEMPTS, (long long)secs, (long long)worst[0], (long long)worst[1], resets[0],
		resets[1], lines[0], lines[1]);
	cr_assert_lt(
		worst[0], 100, "a refused client of 'plain' waited %lld ms", (long long)worst[0]);
	cr_assert_lt(
		worst[1], 100, "a refused client of 'checked' waited %lld ms", (long long)worst[1]);
	for (int s = 0; s < 2; s++) {
		cr_assert_geq(lines[s], 1, "no 'no backend' line for service %d", s);
		cr_assert_leq(lines[s], secs + 1, "%d 'no backend' lines in %lld s", lines[s],
			(long long)secs);
	}
	/* And one service-level line, when the last first verdict came (issue 11, defect 7). */
	cr_assert_eq(sc_lb_log_count(
			     lb, 0, "service checked: no usable backend (2 backends: 2 not_ready)"),
		1);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(health, slow_start_ramps_a_returning_backend)
{
	enum { SLOW_MS = 2000, WINDOW = 400 };
	struct sc_log_line line;
	struct pair p;
	struct sc_lb *lb;
	int64_t t_ready;
	int n[3] = {0}, a[3] = {0};
	int rc;

	pair_start(&p);
	sc_backend_set_http_status(p.a, 503);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: web\n"
			 "    listen: [\"%s\"]\n"
			 "    slow_start: %dms\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "    health:\n"
			 "      readiness:\n"
			 "        type: http\n"
			 "        port: %u\n"
			 "        interval: %dms\n"
			 "        fast_interval: %dms\n"
			 "        timeout: %dms\n"
			 "        jitter: 0\n"
			 "        rise: %d\n"
			 "        fall: %d\n",
		p.listen, SLOW_MS, sc_backend_addr(p.a), sc_backend_addr(p.b), p.hport, INTERVAL,
		FAST, TIMEOUT, RISE, FALL);
	cr_assert_not_null(lb);
	cr_assert_eq(sc_lb_wait_first_verdict(
			     lb, 0, sc_backend_addr(p.a), "web", "status 503", 3000, NULL),
		0);
	sc_backend_set_http_status(p.a, 200);
	rc = sc_lb_wait_transition(
		lb, 0, sc_backend_addr(p.a), "web", "not_ready", "ready", NULL, 3000, &line);
	cr_assert_eq(rc, 0);
	t_ready = line.seen_ms;

	/* Sessions one after the other for slow_start + a bit; which backend each one got, in
	 * three windows: the start of the ramp, its middle, and after it. */
	while (sc_now_ms() - t_ready < SLOW_MS + 200 + WINDOW) {
		int64_t at = sc_now_ms() - t_ready;
		int w = -1;
		char id[32];

		if (at < WINDOW)
			w = 0;
		else if (at >= SLOW_MS / 2 && at < SLOW_MS / 2 + WINDOW)
			w = 1;
		else if (at >= SLOW_MS + 200)
			w = 2;

		rc = sc_hello(NULL, p.listen, id, sizeof(id), 2000);
		cr_assert_geq(rc, 0, "session during slow start: %s", strerror(-rc));
		if (w >= 0) {
			n[w]++;
			a[w] += strcmp(id, "A") == 0;
		}
		sc_sleep_ms(2); /* pacing, not a wait: sessions at a steady, bounded rate */
	}
	fprintf(stderr,
		"slow start %d ms: share of the returning backend %d/%d in its first %d ms, "
		"%d/%d at %d ms, %d/%d after the ramp\n",
		SLOW_MS, a[0], n[0], WINDOW, a[1], n[1], SLOW_MS / 2, a[2], n[2]);
	cr_assert_gt(n[0], 20);
	cr_assert_gt(n[2], 20);
	cr_assert_lt(a[0] * 100, n[0] * 25, "early share %d/%d: not ramped", a[0], n[0]);
	cr_assert_gt(a[2] * 100, n[2] * 40, "share %d/%d after the ramp: not full", a[2], n[2]);
	cr_assert_lt(a[2] * 100, n[2] * 60, "share %d/%d after the ramp: more than its weight",
		a[2], n[2]);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/*
 * Sessions one after the other for ms milliseconds (or until want have landed): how many landed
 * on A, on B, and how many were refused (no usable backend yet).
 */
static void hammer(const char *listen, int ms, int want, int *on_a, int *on_b, int *refused)
{
	int64_t end = sc_now_ms() + ms;

	*on_a = *on_b = *refused = 0;
	while (sc_now_ms() < end && *on_a + *on_b < want) {
		char id[32];
		int rc = sc_hello(NULL, listen, id, sizeof(id), 2000);
		if (rc < 0) {
			(*refused)++;
			continue;
		}
		*on_a += strcmp(id, "A") == 0;
		*on_b += strcmp(id, "B") == 0;
	}
}

#define FIRST_INTERVAL 5000 /* long: a first check spread over it could not be mistaken */

static void first_verdict_config(char *buf, size_t cap, const struct pair *p, int with_a)
{
	char a[96] = "";

	if (with_a)
		snprintf(a, sizeof(a), "      - address: \"%s\"\n", sc_backend_addr(p->a));
	snprintf(buf, cap,
		"global:\n"
		"  workers: 2\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    backends:\n"
		"%s"
		"      - address: \"%s\"\n"
		"    health:\n"
		"      readiness:\n"
		"        type: http\n"
		"        port: %u\n"
		"        interval: %dms\n"
		"        timeout: %dms\n"
		"        rise: 3\n"
		"        fall: 2\n",
		p->listen, a, sc_backend_addr(p->b), p->hport, FIRST_INTERVAL, TIMEOUT);
}

/*
 * Issue 11, defect 4: a backend with a readiness check takes no session before its first
 * verdict (initial_state defaults to not_ready), the first check runs at once rather than
 * somewhere in the interval, and one pass is enough although rise is 3.
 */
Test(health, no_session_before_the_first_verdict_at_start)
{
	struct sc_log_line la, lb_line;
	char y[2048];
	struct pair p;
	int on_a, on_b, refused;

	pair_start(&p);
	sc_backend_set_http_status(p.a, 503);
	first_verdict_config(y, sizeof(y), &p, 1);
	int64_t w0 = sc_wall_ms();
	struct sc_lb *lb = sc_lb_start("%s", y);
	cr_assert_not_null(lb);
	/* From the moment it listens: nothing may reach A, which fails its first check. */
	hammer(p.listen, 3000, 40, &on_a, &on_b, &refused);
	cr_assert_eq(on_a, 0, "%d sessions reached A, which failed its first check", on_a);
	cr_assert_eq(on_b, 40, "only %d sessions reached B in 3 s (%d refused)", on_b, refused);
	cr_assert_eq(sc_lb_wait_first_verdict(
			     lb, 0, sc_backend_addr(p.a), "web", "status 503", 1000, &la),
		0);
	cr_assert_eq(
		sc_lb_wait_first_verdict(lb, 0, sc_backend_addr(p.b), "web", NULL, 1000, &lb_line),
		0);
	/* Both verdicts long before the interval: the first runs are not spread over it. */
	cr_assert_lt(la.wall_ms - w0, FIRST_INTERVAL / 4, "A's first verdict after %lld ms",
		(long long)(la.wall_ms - w0));
	cr_assert_lt(lb_line.wall_ms - w0, FIRST_INTERVAL / 4, "B's first verdict after %lld ms",
		(long long)(lb_line.wall_ms - w0));
	cr_assert_eq(sc_lb_log_count_re(lb, 0, TRANSITION_RE), 1, "only B's not_ready -> ready");
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/* The same for a backend a reload adds: held until its first verdict, which comes at once. */
Test(health, a_backend_added_by_a_reload_waits_for_its_first_verdict)
{
	struct sc_log_line line;
	char y[2048], tmp[512];
	struct pair p;
	int on_a, on_b, refused;

	pair_start(&p);
	first_verdict_config(y, sizeof(y), &p, 0);
	struct sc_lb *lb = sc_lb_start("%s", y);
	cr_assert_not_null(lb);
	cr_assert_eq(
		sc_lb_wait_first_verdict(lb, 0, sc_backend_addr(p.b), "web", NULL, 1000, NULL), 0);

	sc_backend_set_http_status(p.a, 503);
	first_verdict_config(y, sizeof(y), &p, 1);
	snprintf(tmp, sizeof(tmp), "%s.new", sc_lb_config_path(lb));
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert(fputs(y, f) >= 0 && fclose(f) == 0);
	cr_assert_eq(rename(tmp, sc_lb_config_path(lb)), 0);
	size_t off = sc_lb_log_offset(lb);
	int64_t w0 = sc_wall_ms();
	cr_assert_eq(sc_lb_signal(lb, SIGHUP), 0);
	cr_assert_eq(
		sc_lb_wait_log(lb, off, "configuration reloaded (generation 2)", 3000, NULL), 0);
	hammer(p.listen, 2000, 40, &on_a, &on_b, &refused);
	cr_assert_eq(on_a, 0, "%d sessions reached A, added by the reload and failing", on_a);
	cr_assert_eq(refused, 0, "B stayed ready: %d sessions refused", refused);
	cr_assert_eq(sc_lb_wait_first_verdict(
			     lb, off, sc_backend_addr(p.a), "web", "status 503", 1000, &line),
		0);
	cr_assert_lt(line.wall_ms - w0, FIRST_INTERVAL / 4, "A's first verdict after %lld ms",
		(long long)(line.wall_ms - w0));

	/* And once it passes, rise (3) passes later, it takes its share. */
	off = sc_lb_log_offset(lb);
	sc_backend_set_http_status(p.a, 200);
	cr_assert_eq(sc_lb_wait_transition(lb, off, sc_backend_addr(p.a), "web", "not_ready",
			     "ready", "readiness passed", 3 * FIRST_INTERVAL + 2000, NULL),
		0);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
