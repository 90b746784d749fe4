/*
 * DOC: scenario: the edge knobs of a service (allow, deny, rate_limit, tcp_keepalive)
 *
 * Real anylb, real sockets, clients bound to 127.0.0.x sources. allow: a source outside the
 * list is closed before any backend is connected and counted in /metrics and /status, one in it
 * is served; deny wins over allow; behind accept_proxy the PROXY header's source is what is
 * judged, not the upstream's. rate_limit 5/s with burst 5: of 20 quick connections from one
 * source about 5 are served (the refill during the run is the tolerance), the rest are closed
 * and counted, and another source is not affected. tcp_keepalive: anylb's own sockets on each
 * side carry a keepalive timer of the configured idle time (as `ss -o` shows it), the peers'
 * sockets none.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(edge, .fini = fini, .timeout = 60);

struct rig {
	char sock[256], where[270];
	char a[SC_ADDRSTRLEN], b[SC_ADDRSTRLEN], c[SC_ADDRSTRLEN]; /* the services' listeners */
	struct sc_backend *be;
	struct sc_lb *lb;
};

static void admin_paths(struct rig *r)
{
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	cr_assert_gt(sc_free_addr(AF_INET, r->a, sizeof(r->a)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->b, sizeof(r->b)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->c, sizeof(r->c)), 0);
	struct sc_backend_opts o = {.id = "be"};
	r->be = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
	cr_assert_not_null(r->be);
}

/* The value of a metric line "NAME{service=\"SVC\"} N", or -1 when it is not there. */
static long long metric(struct rig *r, const char *name, const char *svc)
{
	struct sc_http_resp h;
	char want[160];
	long long v = -1;

	cr_assert_eq(sc_http(r->where, "GET", "/metrics", NULL, 2000, &h), 0);
	snprintf(want, sizeof(want), "\n%s{service=\"%s\"} ", name, svc);
	const char *p = strstr(h.body, want);
	if (p != NULL)
		v = strtoll(p + strlen(want), NULL, 10);
	sc_http_free(&h);
	return v;
}

/* counters.KEY of service svc in /status, or -1. */
static long long status_counter(struct rig *r, const char *svc, const char *key)
{
	struct sc_http_resp h;
	json_error_t err;
	long long v = -1;

	cr_assert_eq(sc_http(r->where, "GET", "/status", NULL, 2000, &h), 0);
	json_t *root = json_loads(h.body, 0, &err), *s;
	cr_assert_not_null(root, "/status: %s", err.text);
	size_t i;
	json_array_foreach(json_object_get(root, "services"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), svc) == 0)
			v = json_integer_value(
				json_object_get(json_object_get(s, "counters"), key));
	}
	json_decref(root);
	sc_http_free(&h);
	return v;
}

/* Is a client from src served (the HELLO backend's id read)? */
static int served(const char *src, const char *listen)
{
	char id[64];

	return sc_hello(src, listen, id, sizeof(id), 2000) == 0 && strcmp(id, "be") == 0;
}

Test(edge, allow_and_deny_judge_the_client_before_any_backend)
{
	struct rig r;

	admin_paths(&r);
	r.lb = sc_lb_start("global:\n"
			   "  workers: 2\n"
			   "  drain_timeout: 1s\n"
			   "  admin: {socket: %s}\n"
			   "services:\n"
			   "  - name: allowed\n"
			   "    listen: \"%s\"\n"
			   "    allow: [127.0.0.2, 10.0.0.0/8, \"2001:db8::/32\"]\n"
			   "    backends: [{address: \"%s\"}]\n"
			   "  - name: denied\n"
			   "    listen: \"%s\"\n"
			   "    allow: 127.0.0.0/8\n"
			   "    deny: [127.0.0.3/32]\n"
			   "    backends: [{address: \"%s\"}]\n"
			   "  - name: proxied\n"
			   "    listen:\n"
			   "      - {address: \"%s\", accept_proxy: v1}\n"
			   "    deny: 192.0.2.0/24\n"
			   "    backends: [{address: \"%s\"}]\n",
		r.sock, r.a, sc_backend_addr(r.be), r.b, sc_backend_addr(r.be), r.c,
		sc_backend_addr(r.be));
	cr_assert_not_null(r.lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r.where, 3000), 0, "the admin socket never answered");

	unsigned before = sc_backend_accepts(r.be);
	cr_expect(served("127.0.0.2", r.a), "127.0.0.2 is in allow");
	cr_expect_eq(sc_backend_accepts(r.be), before + 1);
	cr_expect_not(served("127.0.0.1", r.a), "127.0.0.1 is not in allow");
	cr_expect_not(served("127.0.0.1", r.a));
	cr_expect_eq(sc_backend_accepts(r.be), before + 1, "a denied client reached a backend");
	cr_expect_eq(metric(&r, "anylb_service_denied_total", "allowed"), 2);
	cr_expect_eq(status_counter(&r, "allowed", "denied"), 2);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "client 127.0.0.1:", 2000, NULL), 0,
		"the refusal is logged with the client");
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "denied (not in 'allow')", 2000, NULL), 0);

	/* deny wins over allow: 127.0.0.3 is in both. */
	cr_expect(served("127.0.0.2", r.b));
	cr_expect_not(served("127.0.0.3", r.b), "deny wins over allow");
	cr_expect_eq(metric(&r, "anylb_service_denied_total", "denied"), 1);
	cr_expect_eq(metric(&r, "anylb_service_denied_total", "allowed"), 2);

	/* accept_proxy: the header's source is judged (the connection's own is 127.0.0.1). */
	before = sc_backend_accepts(r.be);
	int fd = sc_connect_from("127.0.0.1", r.c, 2000);
	cr_assert_geq(fd, 0);
	const char *bad = "PROXY TCP4 192.0.2.9 127.0.0.1 4000 80\r\n";
	cr_assert_eq(sc_send_all(fd, bad, strlen(bad), 2000), 0);
	cr_expect_eq(sc_wait_close(fd, 2000, NULL), 0, "a denied PROXY source is closed");
	close(fd);
	fd = sc_connect_from("127.0.0.1", r.c, 2000);
	cr_assert_geq(fd, 0);
	const char *good = "PROXY TCP4 198.51.100.9 127.0.0.1 4000 80\r\n";
	char line[64];
	cr_assert_eq(sc_send_all(fd, good, strlen(good), 2000), 0);
	cr_expect_eq(sc_recv_line(fd, line, sizeof(line), 2000), 2, "another source is served");
	close(fd);
	cr_expect_eq(sc_backend_accepts(r.be), before + 1);
	cr_expect_eq(metric(&r, "anylb_service_denied_total", "proxied"), 1);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "client 192.0.2.9:4000", 3000, NULL), 0);
	struct sc_run run;
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.sock, "status", NULL), 0);
	cr_expect_not_null(strstr(run.out, "refused     1 by allow/deny, 0 over rate_limit"),
		"anylbctl status: %s", run.out);
	sc_run_free(&run);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

Test(edge, rate_limit_per_source_with_burst)
{
	struct rig r;

	admin_paths(&r);
	r.lb = sc_lb_start("global:\n"
			   "  workers: 2\n"
			   "  drain_timeout: 1s\n"
			   "  admin: {socket: %s}\n"
			   "services:\n"
			   "  - name: limited\n"
			   "    listen: \"%s\"\n"
			   "    rate_limit: {rate: 5/s, burst: 5, max_sources: 100}\n"
			   "    backends: [{address: \"%s\"}]\n",
		r.sock, r.a, sc_backend_addr(r.be));
	cr_assert_not_null(r.lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r.where, 3000), 0, "the admin socket never answered");

	int ok = 0;
	int64_t t0 = sc_now_ms();
	for (int i = 0; i < 20; i++)
		ok += served("127.0.0.4", r.a);
	int64_t took = sc_now_ms() - t0;
	/* The burst, and what 5/s refilled while the 20 ran (both workers share one table). */
	int most = 5 + (int)(took * 5 / 1000) + 1;
	cr_expect(ok >= 5 && ok <= most, "%d of 20 served in %lld ms, expected 5..%d", ok,
		(long long)took, most);
	cr_expect_eq(metric(&r, "anylb_service_rate_limited_total", "limited"), 20 - ok);
	cr_expect_eq(status_counter(&r, "limited", "rate_limited"), 20 - ok);
	cr_expect_eq(metric(&r, "anylb_service_rate_limit_evictions_total", "limited"), 0);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "over rate_limit", 2000, NULL), 0);

	/* Another source has its own bucket. */
	int other = 0;
	for (int i = 0; i < 3; i++)
		other += served("127.0.0.5", r.a);
	cr_expect_eq(other, 3, "another source was limited too");
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

/*
 * The keepalive timer `ss -tno` shows on the socket from local (NULL: any) to peer, in seconds; -1
 * when the socket has no keepalive timer, -2 when no such socket was found.
 */
static int keepalive_s(const char *local, const char *peer)
{
	static char out[1 << 16];
	int rc = sc_cmd(out, sizeof(out), 5000, "ss -tnoH state established");

	cr_assert_eq(rc, 0, "ss: %d: %s", rc, out);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char l[SC_ADDRSTRLEN], p[SC_ADDRSTRLEN];
		unsigned long q1, q2;
		int n = 0;
		if (sscanf(line, "%lu %lu %63s %63s %n", &q1, &q2, l, p, &n) < 4 ||
			(local != NULL && strcmp(l, local) != 0) || strcmp(p, peer) != 0)
			continue;
		const char *t = strstr(line, "timer:(keepalive,");
		if (t == NULL)
			return -1;
		t += strlen("timer:(keepalive,");
		int min = 0, sec = 0;
		if (sscanf(t, "%dmin%dsec", &min, &sec) == 2)
			return min * 60 + sec;
		if (sscanf(t, "%dsec", &sec) == 1)
			return sec;
		return 0; /* under a second */
	}
	return -2;
}

static void local_of(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	sc_addr_format((struct sockaddr *)&ss, buf, cap);
}

Test(edge, tcp_keepalive_on_anylbs_sockets_of_each_side)
{
	struct rig r;
	struct sc_backend *echo = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);

	cr_assert_not_null(echo);
	admin_paths(&r);
	r.lb = sc_lb_start("global:\n"
			   "  workers: 1\n"
			   "  drain_timeout: 1s\n"
			   "  admin: {socket: %s}\n"
			   "services:\n"
			   "  - name: kept\n"
			   "    listen: \"%s\"\n"
			   "    tcp_keepalive:\n"
			   "      client: {idle: 77s, interval: 9s, count: 4}\n"
			   "      backend: {idle: 2m, interval: 5s, count: 3}\n"
			   "    backends: [{address: \"%s\"}]\n"
			   "  - name: plain\n"
			   "    listen: \"%s\"\n"
			   "    backends: [{address: \"%s\"}]\n",
		r.sock, r.a, sc_backend_addr(echo), r.b, sc_backend_addr(echo));
	cr_assert_not_null(r.lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r.where, 3000), 0, "the admin socket never answered");

	char me[SC_ADDRSTRLEN];
	int fd = sc_connect(r.a, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "ping", 2000), 0);
	local_of(fd, me, sizeof(me));
	int client_side = keepalive_s(r.a, me);
	cr_expect(client_side > 60 && client_side <= 77,
		"anylb's client socket: keepalive %d s, expected about 77", client_side);
	cr_expect_eq(keepalive_s(me, r.a), -1, "the client's own socket has no keepalive");
	/* anylb's socket to the backend: the only one whose peer is the backend. */
	int backend_side = keepalive_s(NULL, sc_backend_addr(echo));
	cr_expect(backend_side > 100 && backend_side <= 120,
		"anylb's backend socket: keepalive %d s, expected about 120", backend_side);
	close(fd);

	/* A service without tcp_keepalive leaves the kernel's default: none. */
	fd = sc_connect(r.b, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "ping", 2000), 0);
	local_of(fd, me, sizeof(me));
	cr_expect_eq(keepalive_s(r.b, me), -1, "keepalive on a service without tcp_keepalive");
	close(fd);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}
