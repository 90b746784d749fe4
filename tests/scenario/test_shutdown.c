/*
 * DOC: scenario: graceful shutdown
 *
 * SIGTERM/SIGINT: listeners go away at once (new connects are refused), open sessions keep
 * flowing until they end or drain_timeout cuts them, and the process exits 0.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(shutdown, .fini = sc_cleanup, .timeout = 30);

#define CONFIG_DRAIN                                                                               \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"  drain_timeout: %s\n"                                                                    \
	"services:\n"                                                                              \
	"  - name: drain\n"                                                                        \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

/* Polls for up to timeout_ms until a connect is refused; returns ms it took or -1. */
static int64_t wait_refused(const char *listen, int timeout_ms)
{
	int64_t t0 = sc_now_ms();

	while (sc_now_ms() - t0 < timeout_ms) {
		int fd = sc_connect(listen, 200);

		if (fd == -ECONNREFUSED)
			return sc_now_ms() - t0;
		if (fd >= 0)
			close(fd);
		sc_sleep_ms(20);
	}
	return -1;
}

Test(shutdown, open_session_finishes_after_sigterm)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], msg[64];
	struct sc_lb *lb;
	int64_t refused_after, t_close;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_DRAIN, "10s", listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "before\n", 2000), 0);

	cr_assert_eq(sc_lb_signal(lb, SIGTERM), 0);
	refused_after = wait_refused(listen, 1000);
	cr_assert_geq(refused_after, 0, "new connects still accepted 1 s after SIGTERM");

	/* The open session keeps working for a while during the drain. */
	for (int i = 0; i < 8; i++) {
		snprintf(msg, sizeof(msg), "draining %d\n", i);
		rc = sc_echo(fd, msg, 2000);
		cr_assert_eq(rc, 0, "open session broke %d ms into the drain: %s", 100 * i,
			strerror(-rc));
		cr_assert_eq(sc_lb_wait(lb, 0), -ETIMEDOUT,
			"anylb exited while a session was still open (drain_timeout 10s)");
		sc_sleep_ms(100);
	}
	close(fd);
	t_close = sc_now_ms();
	rc = sc_lb_wait(lb, 3000);
	cr_assert_eq(
		rc, 0, "after the last session closed: exit %d (-ETIMEDOUT: still running)", rc);
	cr_assert_lt(sc_now_ms() - t_close, 2000, "exit took %lld ms after the last session",
		(long long)(sc_now_ms() - t_close));
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(shutdown, drain_timeout_cuts_sessions)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int64_t t0, cut_at, exit_at;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_DRAIN, "1s", listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "hold\n", 2000), 0);

	t0 = sc_now_ms();
	cr_assert_eq(sc_lb_signal(lb, SIGTERM), 0);
	rc = sc_wait_close(fd, 4000, NULL);
	cut_at = sc_now_ms() - t0;
	cr_assert(rc == 0 || rc == -ECONNRESET,
		"session not cut within 4 s of SIGTERM with drain_timeout 1s: %s", strerror(-rc));
	cr_assert_geq(cut_at, 700, "session cut after %lld ms, before drain_timeout 1s",
		(long long)cut_at);
	rc = sc_lb_wait(lb, 3000);
	exit_at = sc_now_ms() - t0;
	cr_assert_eq(
		rc, 0, "exit status %d after the drain timeout (-ETIMEDOUT: still running)", rc);
	cr_assert_leq(exit_at, 2500, "exit %lld ms after SIGTERM with drain_timeout 1s",
		(long long)exit_at);
	close(fd);
	cr_assert_eq(sc_backend_wait_idle(b, 2000), 0, "backend side still open after exit");
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(shutdown, idle_process_exits_at_once)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int64_t t0;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_DRAIN, "10s", listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "one\n", 2000), 0);
	close(fd);
	cr_assert_eq(sc_backend_wait_idle(b, 2000), 0);

	t0 = sc_now_ms();
	cr_assert_eq(sc_lb_signal(lb, SIGTERM), 0);
	rc = sc_lb_wait(lb, 5000);
	cr_assert_eq(rc, 0, "exit status %d", rc);
	cr_assert_lt(sc_now_ms() - t0, 1500,
		"no sessions open, yet exit took %lld ms (drain_timeout 10s)",
		(long long)(sc_now_ms() - t0));
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(shutdown, sigint_is_graceful_too)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_DRAIN, "5s", listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0);
	/* Established through the proxy, not just queued in the listen backlog, which a listener
	 * closed at once may reset. */
	cr_assert_eq(sc_echo(fd, "before sigint\n", 2000), 0);
	cr_assert_eq(sc_lb_signal(lb, SIGINT), 0);
	sc_sleep_ms(300);
	rc = sc_echo(fd, "after sigint\n", 2000);
	cr_assert_eq(rc, 0, "session opened before SIGINT broke: %s", strerror(-rc));
	close(fd);
	rc = sc_lb_wait(lb, 3000);
	cr_assert_eq(rc, 0, "exit status %d after SIGINT", rc);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
