/*
 * DOC: scenario: which backend gets the session
 *
 * Retries past a refusing backend, weighted round robin (one and two workers), least
 * connections and random-two under concurrent load, and maglev stickiness per source address.
 * HELLO backends say who they are on the first line, so the client side counts too, not only the
 * backends' accept counters.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(proxy_balance, .fini = sc_cleanup, .timeout = 60);

#define CONFIG_THREE                                                                               \
	"global:\n"                                                                                \
	"  workers: %d\n"                                                                          \
	"  drain_timeout: 2s\n"                                                                    \
	"services:\n"                                                                              \
	"  - name: bal\n"                                                                          \
	"    listen: [\"%s\"]\n"                                                                   \
	"    balance: %s\n"                                                                        \
	"%s"                                                                                       \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"        weight: %d\n"                                                                     \
	"      - address: \"%s\"\n"                                                                \
	"        weight: %d\n"                                                                     \
	"      - address: \"%s\"\n"                                                                \
	"        weight: %d\n"

struct three {
	struct sc_backend *b[3];
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
};

static void three_start(struct three *t, enum sc_backend_mode mode, int workers,
	const char *balance, const char *extra, const int weight[3])
{
	static const char *const ids[3] = {"a", "b", "c"};

	for (int i = 0; i < 3; i++) {
		struct sc_backend_opts o = {.id = ids[i]};

		t->b[i] = sc_backend_start(mode, AF_INET, &o);
		cr_assert_not_null(t->b[i]);
	}
	cr_assert_gt(sc_free_addr(AF_INET, t->listen, sizeof(t->listen)), 0);
	t->lb = sc_lb_start(CONFIG_THREE, workers, t->listen, balance, extra,
		sc_backend_addr(t->b[0]), weight[0], sc_backend_addr(t->b[1]), weight[1],
		sc_backend_addr(t->b[2]), weight[2]);
	cr_assert_not_null(t->lb, "anylb did not start");
}

static int id_index(const char *id)
{
	if (strcmp(id, "a") == 0)
		return 0;
	if (strcmp(id, "b") == 0)
		return 1;
	if (strcmp(id, "c") == 0)
		return 2;
	return -1;
}

/* n sequential HELLO sessions from src (NULL: default source); counts per backend. */
static void hellos(const struct three *t, const char *src, int n, int count[3])
{
	char id[64];

	for (int i = 0; i < n; i++) {
		int rc = sc_hello(src, t->listen, id, sizeof(id), 3000);
		int k;

		cr_assert_eq(rc, 0, "session %d from %s: no hello line: %s", i,
			src ? src : "default", strerror(-rc));
		k = id_index(id);
		cr_assert_geq(k, 0, "session %d: unexpected hello line '%s'", i, id);
		count[k]++;
	}
}

Test(proxy_balance, retries_hide_a_refusing_backend)
{
	struct sc_backend *refuse = sc_backend_start(SC_BACKEND_REFUSE, AF_INET, NULL);
	struct sc_backend *e1 = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	struct sc_backend *e2 = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], msg[64];
	struct sc_lb *lb;
	unsigned total;

	cr_assert(refuse && e1 && e2);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: retry\n"
			 "    listen: [\"%s\"]\n"
			 "    retries: 2\n"
			 "    timeouts:\n"
			 "      connect: 1s\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n"
			 "      - address: \"%s\"\n",
		listen, sc_backend_addr(refuse), sc_backend_addr(e1), sc_backend_addr(e2));
	cr_assert_not_null(lb);
	for (int i = 0; i < 200; i++) {
		int fd = sc_connect(listen, 2000), rc;

		cr_assert_geq(fd, 0, "connect #%d: %s", i, strerror(-fd));
		snprintf(msg, sizeof(msg), "retry %d\n", i);
		rc = sc_echo(fd, msg, 3000);
		cr_assert_eq(rc, 0,
			"session #%d failed: %s (a refused backend leaked to the client)", i,
			strerror(-rc));
		close(fd);
	}
	total = sc_backend_accepts(e1) + sc_backend_accepts(e2);
	cr_assert_eq(total, 200, "good backends accepted %u sessions, want 200", total);
	cr_assert_gt(sc_backend_accepts(e1), 0);
	cr_assert_gt(sc_backend_accepts(e2), 0);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

static void check_weighted(int workers)
{
	static const int weight[3] = {1, 2, 3};
	int count[3] = {0, 0, 0};
	struct three t;

	three_start(&t, SC_BACKEND_HELLO, workers, "round_robin", "", weight);
	hellos(&t, NULL, 600, count);
	for (int i = 0; i < 3; i++) {
		int want = 100 * weight[i];

		cr_assert(count[i] >= want * 9 / 10 && count[i] <= want * 11 / 10,
			"workers %d: backend weight %d got %d of 600 sessions, want %d +-10%% "
			"(counts %d/%d/%d)",
			workers, weight[i], count[i], want, count[0], count[1], count[2]);
		cr_assert_eq(sc_backend_accepts(t.b[i]), (unsigned)count[i],
			"backend %d accepted %u, clients counted %d", i, sc_backend_accepts(t.b[i]),
			count[i]);
	}
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}

Test(proxy_balance, round_robin_weights_one_worker)
{
	check_weighted(1);
}

Test(proxy_balance, round_robin_weights_two_workers)
{
	check_weighted(2);
}

/* 30 sessions held open at once, then 150 short ones: everyone gets traffic, nothing fails. */
static void check_spread(const char *balance)
{
	static const int weight[3] = {100, 100, 100};
	enum { HELD = 30 };
	int fds[HELD], count[3] = {0, 0, 0};
	char id[64];
	struct three t;

	three_start(&t, SC_BACKEND_HELLO, 1, balance, "", weight);
	for (int i = 0; i < HELD; i++) {
		int rc, k;

		fds[i] = sc_connect(t.listen, 2000);
		cr_assert_geq(fds[i], 0, "%s: connect #%d: %s", balance, i, strerror(-fds[i]));
		rc = sc_recv_line(fds[i], id, sizeof(id), 3000);
		cr_assert_geq(rc, 0, "%s: held session %d: %s", balance, i, strerror(-rc));
		k = id_index(id);
		cr_assert_geq(k, 0);
		count[k]++;
	}
	for (int k = 0; k < 3; k++) {
		cr_assert_gt(count[k], 0,
			"%s: backend %c got none of %d concurrent sessions (%d/%d/%d)", balance,
			'a' + k, HELD, count[0], count[1], count[2]);
		cr_assert_eq(sc_backend_open(t.b[k]), (unsigned)count[k]);
	}
	if (strcmp(balance, "least_connections") == 0) {
		/* Equal weights and one worker: least connections fills them evenly. */
		for (int k = 0; k < 3; k++)
			cr_assert(count[k] >= 8 && count[k] <= 12,
				"least_connections: uneven %d/%d/%d with equal weights", count[0],
				count[1], count[2]);
	}
	for (int i = 0; i < HELD; i++) {
		int rc = sc_echo(fds[i], "still there\n", 2000);

		cr_assert_eq(rc, 0, "%s: held session %d: %s", balance, i, strerror(-rc));
		close(fds[i]);
	}
	memset(count, 0, sizeof(count));
	hellos(&t, NULL, 150, count);
	for (int k = 0; k < 3; k++)
		cr_assert_gt(
			count[k], 0, "%s: backend %c got none of 150 sessions", balance, 'a' + k);
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}

Test(proxy_balance, least_connections_spreads)
{
	check_spread("least_connections");
}

Test(proxy_balance, random_two_spreads)
{
	check_spread("random_two");
}

Test(proxy_balance, maglev_source_ip_is_sticky)
{
	static const int weight[3] = {100, 100, 100};
	int seen[3] = {0, 0, 0};
	char src[32];
	struct three t;

	/* Two workers: each has its own table, and SO_REUSEPORT spreads one source's connections
	 * over both, so stickiness also checks that the workers agree. */
	three_start(&t, SC_BACKEND_HELLO, 2, "maglev", "    hash_key: source_ip\n", weight);
	for (int s = 2; s < 62; s++) {
		int count[3] = {0, 0, 0}, hits = 0;

		snprintf(src, sizeof(src), "127.0.0.%d", s);
		hellos(&t, src, s < 6 ? 20 : 3, count);
		for (int k = 0; k < 3; k++) {
			if (count[k] > 0) {
				hits++;
				seen[k]++;
			}
		}
		cr_assert_eq(hits, 1, "maglev: source %s landed on several backends (%d/%d/%d)",
			src, count[0], count[1], count[2]);
	}
	for (int k = 0; k < 3; k++)
		cr_assert_gt(seen[k], 0, "maglev: no source of 60 landed on backend %c (%d/%d/%d)",
			'a' + k, seen[0], seen[1], seen[2]);
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}

Test(proxy_balance, maglev_source_ip_port_spreads_one_ip)
{
	static const int weight[3] = {100, 100, 100};
	int count[3] = {0, 0, 0}, used = 0;
	struct three t;

	three_start(&t, SC_BACKEND_HELLO, 1, "maglev", "    hash_key: source_ip_port\n", weight);
	hellos(&t, "127.0.0.2", 90, count);
	for (int k = 0; k < 3; k++)
		used += count[k] > 0;
	cr_assert_eq(used, 3,
		"maglev source_ip_port: 90 ports of one IP used only %d backends "
		"(%d/%d/%d)",
		used, count[0], count[1], count[2]);
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}
