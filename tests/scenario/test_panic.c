/*
 * DOC: scenario: panic mode
 *
 * Four HELLO backends behind the real binary with `panic_threshold: 50%` and a send_expect
 * readiness check that only A passes (the backends name themselves "upA", "dnB", "dnC", "dnD";
 * the check expects "up"). One of four ready is below half: once every backend had its first
 * verdict, the service enters panic, says so once, and new sessions reach all four instead of
 * A alone. Draining B and C leaves A ready out of the two backends the operator kept: 50% is
 * not below the threshold, panic ends (logged once), and sessions go to A only again. The
 * state is in /status and /metrics.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(panic, .fini = fini, .timeout = 90);

static const char *const ids[] = {"upA", "dnB", "dnC", "dnD"};

/* n sessions: how many reached each backend. */
static void sessions(const char *listen, int n, int counts[4])
{
	cr_assert_eq(sc_hello_tally(listen, n, ids, 4, counts), 0);
}

static void drain(const char *where, const struct sc_backend *b)
{
	cr_expect_eq(sc_admin_backend(where, "web", sc_backend_addr(b), "drain"), 200);
}

static char *get(const char *where, const char *path)
{
	struct sc_http_resp h;

	cr_assert_eq(sc_http(where, "GET", path, NULL, 5000, &h), 0);
	char *body = strdup(h.body);
	sc_http_free(&h);
	return body;
}

Test(panic, below_the_threshold_every_backend_not_dead_serves)
{
	char sock[256], where[270], listen[SC_ADDRSTRLEN];
	struct sc_backend *be[4];
	int c[4];
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(where, sizeof(where), "unix:%s", sock);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	for (int i = 0; i < 4; i++) {
		struct sc_backend_opts o = {.id = ids[i]};
		be[i] = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
		cr_assert_not_null(be[i]);
	}
	struct sc_lb *lb =
		sc_lb_start("global:\n"
			    "  workers: 2\n"
			    "  drain_timeout: 1s\n"
			    "  admin: {socket: %s}\n"
			    "services:\n"
			    "  - name: web\n"
			    "    listen: [\"%s\"]\n"
			    "    panic_threshold: 50%%\n"
			    "    health:\n"
			    "      readiness: {type: send_expect, send: \"x\", expect: \"up\","
			    " interval: 100ms, timeout: 100ms, rise: 1, fall: 1}\n"
			    "    backends:\n"
			    "      - address: \"%s\"\n"
			    "      - address: \"%s\"\n"
			    "      - address: \"%s\"\n"
			    "      - address: \"%s\"\n",
			sock, listen, sc_backend_addr(be[0]), sc_backend_addr(be[1]),
			sc_backend_addr(be[2]), sc_backend_addr(be[3]));
	cr_assert_not_null(lb, "anylb did not start");

	cr_assert_eq(sc_lb_wait_log(lb, 0, "service web: panic: 1 of 4 backends ready", 5000, NULL),
		0, "no panic entry logged");
	sessions(listen, 40, c);
	for (int i = 0; i < 4; i++)
		cr_expect_gt(c[i], 0, "in panic, %s got no session (A %d B %d C %d D %d)", ids[i],
			c[0], c[1], c[2], c[3]);
	char *st = get(where, "/status");
	cr_expect(strstr(st, "\"panic\":true") != NULL || strstr(st, "\"panic\": true") != NULL,
		"%s", st);
	free(st);
	char *m = get(where, "/metrics");
	cr_expect(strstr(m, "anylb_service_panic{service=\"web\"} 1\n") != NULL, "%s", m);
	free(m);

	size_t from = sc_lb_log_offset(lb);
	drain(where, be[1]);
	drain(where, be[2]);
	cr_assert_eq(sc_lb_wait_log(lb, from, "service web: panic over: 1 of 2 backends ready",
			     5000, NULL),
		0, "no panic exit logged");
	sessions(listen, 20, c);
	cr_expect_eq(c[0], 20, "after panic, only the ready backend: A %d B %d C %d D %d", c[0],
		c[1], c[2], c[3]);
	m = get(where, "/metrics");
	cr_expect(strstr(m, "anylb_service_panic{service=\"web\"} 0\n") != NULL, "%s", m);
	free(m);
	cr_expect_eq(sc_lb_log_count(lb, 0, "service web: panic: "), 1, "entry logged once");
	cr_expect_eq(sc_lb_log_count(lb, 0, "service web: panic over"), 1, "exit logged once");
	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
}
