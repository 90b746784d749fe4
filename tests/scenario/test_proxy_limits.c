/*
 * DOC: scenario: limits, timeouts and misbehaving peers
 *
 * Service and global connection limits, the idle timeout, and peers that reset in the middle of
 * a stream. After bad sessions the proxy must be back to the fd count it started with (nothing
 * leaked) and still serve.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(proxy_limits, .fini = sc_cleanup, .timeout = 60);

Test(proxy_limits, service_max_connections)
{
	enum { MAX = 5 };
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], msg[64];
	int fds[MAX], fd, rc, ok = 0;
	int64_t t0, deadline;
	struct sc_lb *lb;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 2\n"
			 "services:\n"
			 "  - name: capped\n"
			 "    listen: [\"%s\"]\n"
			 "    max_connections: %d\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n",
		listen, MAX, sc_backend_addr(b));
	cr_assert_not_null(lb);

	for (int i = 0; i < MAX; i++) {
		fds[i] = sc_connect(listen, 2000);
		cr_assert_geq(fds[i], 0, "connect #%d: %s", i, strerror(-fds[i]));
		snprintf(msg, sizeof(msg), "held %d\n", i);
		rc = sc_echo(fds[i], msg, 2000);
		cr_assert_eq(rc, 0, "session %d of %d (within the limit): %s", i + 1, MAX,
			strerror(-rc));
	}

	/* One over the limit: accepted and closed at once. */
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect over the limit: %s", strerror(-fd));
	t0 = sc_now_ms();
	rc = sc_wait_close(fd, 2000, NULL);
	cr_assert(rc == 0 || rc == -ECONNRESET,
		"session %d (over max_connections %d) was not closed within 2 s: %s", MAX + 1, MAX,
		strerror(-rc));
	cr_assert_lt(sc_now_ms() - t0, 1000, "closing the excess session took %lld ms",
		(long long)(sc_now_ms() - t0));
	close(fd);
	cr_assert_eq(sc_backend_accepts(b), MAX, "the excess session reached the backend");

	/* The held sessions are unaffected. */
	for (int i = 0; i < MAX; i++) {
		rc = sc_echo(fds[i], "still here\n", 2000);
		cr_assert_eq(rc, 0, "held session %d after the excess one: %s", i, strerror(-rc));
	}

	/* Free one slot: a new session works again (the proxy notices the close asynchronously,
	 * so allow it a moment). */
	close(fds[0]);
	deadline = sc_now_ms() + 2000;
	while (!ok && sc_now_ms() < deadline) {
		fd = sc_connect(listen, 1000);
		cr_assert_geq(fd, 0, "connect after freeing a slot: %s", strerror(-fd));
		ok = sc_echo(fd, "fresh\n", 1000) == 0;
		if (ok)
			fds[0] = fd;
		else
			close(fd);
		if (!ok)
			sc_sleep_ms(50);
	}
	cr_assert(ok, "no new session served within 2 s after one of %d was closed", MAX);
	for (int i = 0; i < MAX; i++)
		close(fds[i]);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/*
 * A service whose ready backends are all at their own max_connections refuses a client with a
 * reason of its own: that is a capacity problem, not "no usable backend" (everything down).
 * Without a queue (queue.max 0) the refusal is at once; test_queue has the queue.
 */
Test(proxy_limits, backends_at_max_connections_are_not_no_usable_backend)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int held, fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: full\n"
			 "    listen: [\"%s\"]\n"
			 "    queue: {max: 0}\n"
			 "    backends:\n"
			 "      - {address: \"%s\", max_connections: 1}\n",
		listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	held = sc_connect(listen, 2000);
	cr_assert_geq(held, 0);
	cr_assert_eq(sc_echo(held, "held\n", 2000), 0);

	fd = sc_connect(listen, 2000);
	cr_assert(fd >= 0 || fd == -ECONNRESET, "connect: %s", strerror(-fd));
	rc = fd >= 0 ? sc_wait_close(fd, 2000, NULL) : fd;
	cr_assert(rc == 0 || rc == -ECONNRESET, "the client over the backend's limit: %s",
		strerror(-rc));
	if (fd >= 0)
		close(fd);
	cr_assert_eq(sc_lb_wait_log(lb, 0,
			     "service full: every usable backend is at max_connections for client",
			     2000, NULL),
		0);
	cr_assert_eq(sc_lb_log_count(lb, 0, "no usable backend"), 0);
	cr_assert_eq(sc_echo(held, "still here\n", 2000), 0);
	close(held);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(proxy_limits, global_max_connections_pauses_and_recovers)
{
	enum { MAX = 3 };
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], back[16];
	int fds[MAX], extra, rc;
	struct sc_lb *lb;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "  max_connections: %d\n"
			 "services:\n"
			 "  - name: paused\n"
			 "    listen: [\"%s\"]\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n",
		MAX, listen, sc_backend_addr(b));
	cr_assert_not_null(lb);

	for (int i = 0; i < MAX; i++) {
		fds[i] = sc_connect(listen, 2000);
		cr_assert_geq(fds[i], 0, "connect #%d: %s", i, strerror(-fds[i]));
		rc = sc_echo(fds[i], "held\n", 2000);
		cr_assert_eq(rc, 0, "session %d of global max %d: %s", i + 1, MAX, strerror(-rc));
	}
	/* The kernel completes the handshake into the backlog; anylb should not serve it yet. */
	extra = sc_connect(listen, 2000);
	cr_assert_geq(extra, 0, "connect over the global limit: %s", strerror(-extra));
	rc = sc_send_all(extra, "late\n", 5, 1000);
	cr_assert_eq(rc, 0);
	rc = sc_recv_exact(extra, back, 5, 400);
	cr_expect_eq(rc, -ETIMEDOUT,
		"session %d was served (or closed: %s) while %d were open with global "
		"max_connections %d; accepting should pause",
		MAX + 1, strerror(-rc), MAX, MAX);

	/* Free one: the waiting session is served (accept resumes; allow a one-second pause). */
	close(fds[0]);
	if (rc == -ETIMEDOUT) {
		rc = sc_recv_exact(extra, back, 5, 3000);
		cr_assert_eq(rc, 0, "waiting session not served within 3 s after a slot freed: %s",
			strerror(-rc));
		cr_assert_eq(memcmp(back, "late\n", 5), 0);
	}
	close(extra);
	for (int i = 1; i < MAX; i++)
		close(fds[i]);

	/* And the process is healthy afterwards. */
	for (int i = 0; i < MAX; i++) {
		int fd = sc_connect(listen, 2000);

		cr_assert_geq(fd, 0);
		rc = sc_echo(fd, "after\n", 3000);
		cr_assert_eq(rc, 0, "session after recovery: %s", strerror(-rc));
		close(fd);
	}
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(proxy_limits, idle_timeout)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	int idle, active, rc;
	int64_t t0, closed_at = 0, last_echo;
	struct sc_lb *lb;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: idle\n"
			 "    listen: [\"%s\"]\n"
			 "    timeouts:\n"
			 "      idle: 1s\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n",
		listen, sc_backend_addr(b));
	cr_assert_not_null(lb);

	idle = sc_connect(listen, 2000);
	active = sc_connect(listen, 2000);
	cr_assert(idle >= 0 && active >= 0);
	cr_assert_eq(sc_echo(idle, "once\n", 2000), 0);
	t0 = last_echo = sc_now_ms();
	cr_assert_eq(sc_echo(active, "tick\n", 2000), 0);

	/* For 2.5 s: the active session echoes every 300 ms, the idle one is watched. */
	while (sc_now_ms() - t0 < 2500) {
		sc_sleep_ms(300);
		rc = sc_echo(active, "tick\n", 1000);
		cr_assert_eq(rc, 0,
			"active session (a message every 300 ms) failed after %lld ms: %s",
			(long long)(sc_now_ms() - t0), strerror(-rc));
		last_echo = sc_now_ms();
		if (closed_at == 0 && sc_peer_closed(idle))
			closed_at = sc_now_ms();
	}
	(void)last_echo;
	if (closed_at == 0) {
		rc = sc_wait_close(idle, 1500, NULL);
		cr_assert(rc == 0 || rc == -ECONNRESET,
			"idle session still open %lld ms after its last byte (idle: 1s): %s",
			(long long)(sc_now_ms() - t0), strerror(-rc));
		closed_at = sc_now_ms();
	}
	cr_assert_geq(closed_at - t0, 700, "idle session closed after only %lld ms (idle: 1s)",
		(long long)(closed_at - t0));
	cr_assert_leq(closed_at - t0, 3000, "idle session closed after %lld ms (idle: 1s)",
		(long long)(closed_at - t0));
	close(idle);
	close(active);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

#define CONFIG_BAD                                                                                 \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: good\n"                                                                         \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"  - name: resetting\n"                                                                    \
	"    listen: [\"%s\"]\n"                                                                   \
	"    outlier:\n"                                                                           \
	"      consecutive_failures: 0\n"                                                          \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

/*
 * The resetting backend resets before it sends a byte, which the outlier detector rightly
 * counts as a failure: it is switched off there, so all ten sessions reach that backend.
 */
Test(proxy_limits, resets_mid_stream_leak_nothing)
{
	struct sc_backend *echo = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	struct sc_backend_opts ro = {.reset_after = 32 * 1024};
	struct sc_backend *rst = sc_backend_start(SC_BACKEND_RESET, AF_INET, &ro);
	char good[SC_ADDRSTRLEN], bad[SC_ADDRSTRLEN], garbage[64 * 1024];
	struct sc_conn_result r;
	struct sc_lb *lb;
	int base, pipes, fd, rc, n;

	cr_assert(echo && rst);
	cr_assert_gt(sc_free_addr(AF_INET, good, sizeof(good)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, bad, sizeof(bad)), 0);
	lb = sc_lb_start(CONFIG_BAD, good, sc_backend_addr(echo), bad, sc_backend_addr(rst));
	cr_assert_not_null(lb);

	/* Warm up both services once so lazily created resources are in the baseline. */
	fd = sc_connect(good, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "warm\n", 2000), 0);
	close(fd);
	fd = sc_connect(bad, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "warm\n", 2000), 0);
	close(fd);
	cr_assert_eq(sc_backend_wait_idle(echo, 2000), 0);
	cr_assert_eq(sc_backend_wait_idle(rst, 2000), 0);
	base = sc_lb_settle_fd_count(lb, SC_FD_SOCKETS, 3000);
	cr_assert_gt(base, 0, "cannot read /proc/%d/fd", (int)sc_lb_pid(lb));
	pipes = sc_lb_fd_count(lb, SC_FD_PIPES);
	sc_backend_reset_counts(echo);
	sc_backend_reset_counts(rst);

	/* Clients that send garbage and reset mid-stream (the echo comes back unread). */
	sc_pattern_fill(0x6a7ba6e, 0, garbage, sizeof(garbage));
	for (int i = 0; i < 10; i++) {
		fd = sc_connect(good, 2000);
		cr_assert_geq(fd, 0);
		for (int k = 0; k < 4; k++)
			sc_send_all(fd, garbage, sizeof(garbage), 200);
		sc_close_reset(fd);
	}
	rc = sc_backend_wait_results(echo, 10, 3000);
	cr_assert_eq(rc, 0,
		"after 10 client resets the backend saw only %zu sessions end within 3 s "
		"(proxy kept the backend side open)",
		sc_backend_nresults(echo));
	for (size_t i = 0; i < 10; i++) {
		cr_assert_eq(sc_backend_result(echo, i, &r), 0);
		cr_assert(r.close == SC_CLOSE_EOF || r.close == SC_CLOSE_RESET,
			"backend session %zu ended with %s", i, sc_close_kind_name(r.close));
	}

	/* A backend that resets mid-stream while the client keeps sending. */
	for (int i = 0; i < 10; i++) {
		fd = sc_connect(bad, 2000);
		cr_assert_geq(fd, 0);
		rc = sc_pump_until_close(fd, 3000);
		cr_assert_eq(rc, 0,
			"session %d: backend reset mid-stream but the client saw no EOF/RST "
			"within 3 s: %s",
			i, strerror(-rc));
		close(fd);
	}
	cr_assert_eq(sc_backend_wait_results(rst, 10, 2000), 0);
	for (size_t i = 0; i < 10; i++) {
		cr_assert_eq(sc_backend_result(rst, i, &r), 0);
		cr_assert_eq(r.close, SC_CLOSE_LOCAL,
			"reset backend session %zu ended with %s (%s)", i,
			sc_close_kind_name(r.close), strerror(r.err));
	}

	n = sc_lb_wait_fd_count(lb, SC_FD_SOCKETS, base, 2000);
	cr_assert_eq(
		n, base, "anylb holds %d sockets after the bad sessions ended, %d before", n, base);
	/* Splice pipes are pooled per worker; one session at a time needs few of them, so many
	 * more than before means pipes leak per session. */
	n = sc_lb_fd_count(lb, SC_FD_PIPES);
	cr_assert_leq(n, pipes + 16,
		"anylb holds %d pipe fds after 20 sequential sessions, %d before", n, pipes);

	/* Still serving. */
	fd = sc_connect(good, 2000);
	cr_assert_geq(fd, 0);
	rc = sc_echo(fd, "after the storm\n", 2000);
	cr_assert_eq(rc, 0, "echo after bad sessions: %s", strerror(-rc));
	close(fd);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
