/*
 * DOC: scenario: accept_proxy, the PROXY header from an upstream balancer
 *
 * A real HAProxy (Debian's) in front of anylb, sending `send-proxy-v2` to one listener and
 * `send-proxy` (v1) to another; anylb sends PROXY v1 on to a backend that records the header
 * it gets. The client connects to HAProxy from 127.0.0.2: the backend must hear of 127.0.0.2
 * and of the address the client reached (HAProxy's), not of HAProxy's own connection, and the
 * bytes go both ways. A client that sends no header, or a wrong one, is closed cleanly (FIN,
 * nothing reaches a backend) and counted; one that sends nothing is closed at
 * timeouts.proxy_header; a header that arrives in pieces, and the client's bytes behind it in
 * the same segment, are read exactly.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t haproxy_pid = -1;

static void fini(void)
{
	if (haproxy_pid > 0) {
		kill(haproxy_pid, SIGKILL);
		waitpid(haproxy_pid, NULL, 0);
		haproxy_pid = -1;
	}
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(accept_proxy, .fini = fini, .timeout = 60);

struct rig {
	char sock[256], where[270];
	char l_v2[SC_ADDRSTRLEN], l_v1[SC_ADDRSTRLEN]; /* anylb's listeners */
	char h_v2[SC_ADDRSTRLEN], h_v1[SC_ADDRSTRLEN]; /* HAProxy's frontends */
	struct sc_backend *be;
	struct sc_lb *lb;
};

static void start_anylb(struct rig *r)
{
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	cr_assert_gt(sc_free_addr(AF_INET, r->l_v2, sizeof(r->l_v2)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->l_v1, sizeof(r->l_v1)), 0);
	r->be = sc_backend_start(SC_BACKEND_PROXY_HEADER, AF_INET, NULL);
	cr_assert_not_null(r->be);
	r->lb = sc_lb_start("global:\n"
			    "  workers: 2\n"
			    "  drain_timeout: 1s\n"
			    "  admin: {socket: %s}\n"
			    "services:\n"
			    "  - name: edge\n"
			    "    listen:\n"
			    "      - {address: \"%s\", accept_proxy: v2}\n"
			    "      - {address: \"%s\", accept_proxy: any}\n"
			    "    proxy_protocol: v1\n"
			    "    timeouts: {proxy_header: 300ms}\n"
			    "    backends:\n"
			    "      - address: \"%s\"\n",
		r->sock, r->l_v2, r->l_v1, sc_backend_addr(r->be));
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->where, 3000), 0, "the admin socket never answered");
}

/* HAProxy with two TCP frontends, each to one anylb listener, v2 and v1 headers. */
static void start_haproxy(struct rig *r)
{
	cr_assert_gt(sc_free_addr(AF_INET, r->h_v2, sizeof(r->h_v2)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->h_v1, sizeof(r->h_v1)), 0);
	const char *cfg = sc_temp_file(".cfg",
		"global\n"
		"  maxconn 100\n"
		"defaults\n"
		"  mode tcp\n"
		"  timeout connect 2s\n"
		"  timeout client 10s\n"
		"  timeout server 10s\n"
		"frontend v2\n"
		"  bind %s\n"
		"  default_backend to_v2\n"
		"backend to_v2\n"
		"  server anylb %s send-proxy-v2\n"
		"frontend v1\n"
		"  bind %s\n"
		"  default_backend to_v1\n"
		"backend to_v1\n"
		"  server anylb %s send-proxy\n",
		r->h_v2, r->l_v2, r->h_v1, r->l_v1);
	cr_assert_not_null(cfg);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("haproxy", "haproxy", "-db", "-q", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	haproxy_pid = pid;
	/* Up when its frontends accept. */
	int fd = -1;
	for (int tries = 0; tries < 300; tries++) {
		int st;
		cr_assert_eq(waitpid(pid, &st, WNOHANG), 0,
			"haproxy exited (is it installed? scripts/deps.sh)");
		if ((fd = sc_connect(r->h_v1, 200)) >= 0)
			break;
		sc_sleep_ms(10);
	}
	cr_assert_geq(fd, 0, "haproxy never listened");
	close(fd);
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static const char *ip_of(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)cap);
}

/* One client through HAProxy's frontend front; the backend's record of its header. */
static void through(struct rig *r, const char *front, int version)
{
	struct sc_conn_result res;
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	char ip[INET_ADDRSTRLEN];
	size_t before = sc_backend_nresults(r->be);
	int fd = sc_connect_from("127.0.0.2", front, 2000);

	cr_assert_geq(fd, 0, "connect to haproxy %s: %s", front, strerror(-fd));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &len), 0);
	cr_expect_eq(sc_echo(fd, "through two balancers\n", 3000), 0, "v%d: no echo", version);
	close(fd);
	/* Its record, by the client's port: HAProxy's readiness probe may come in between. */
	int found = 0;
	for (int64_t end = sc_now_ms() + 3000; !found && sc_now_ms() < end;) {
		size_t n = sc_backend_nresults(r->be);
		for (size_t i = before; i < n && !found; i++)
			found = sc_backend_result(r->be, i, &res) == 0 &&
				port_of(&res.proxy.src) == port_of(&me);
		if (!found)
			sc_sleep_ms(10);
	}
	cr_assert(found, "v%d: the backend has no session with the client's port %u", version,
		port_of(&me));
	/* anylb sends v1 whatever it received; what it says is what HAProxy told it. */
	cr_expect_eq(res.proxy.version, 1, "%s", res.proxy.err);
	cr_expect_str_eq(ip_of(&res.proxy.src, ip, sizeof(ip)), "127.0.0.2",
		"v%d: the backend was told of %s, not the client", version, ip);
	char dst[SC_ADDRSTRLEN];
	snprintf(dst, sizeof(dst), "%s:%u", ip_of(&res.proxy.dst, ip, sizeof(ip)),
		port_of(&res.proxy.dst));
	cr_expect_str_eq(dst, front, "v%d: the address the client reached", version);
}

Test(accept_proxy, haproxy_v2_and_v1_headers_give_the_backend_the_real_client)
{
	struct rig r;

	start_anylb(&r);
	start_haproxy(&r);
	through(&r, r.h_v2, 2);
	through(&r, r.h_v1, 1);
	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/metrics", NULL, 2000, &h), 0);
	cr_expect_not_null(
		strstr(h.body, "anylb_service_proxy_header_errors_total{service=\"edge\"} 0\n"));
	sc_http_free(&h);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

/* Connects straight to anylb's listener, sends msg (may be NULL), and says how it ended. */
static int raw(const char *listen, const char *msg, int timeout_ms)
{
	int fd = sc_connect(listen, 2000), rc;

	cr_assert_geq(fd, 0);
	if (msg != NULL)
		cr_assert_eq(sc_send_all(fd, msg, strlen(msg), 2000), 0);
	rc = sc_wait_close(fd, timeout_ms, NULL);
	close(fd);
	return rc;
}

Test(accept_proxy, no_header_or_a_bad_one_is_closed_cleanly_and_counted)
{
	struct rig r;

	start_anylb(&r);
	unsigned before = sc_backend_accepts(r.be);
	cr_expect_eq(raw(r.l_v2, "GET / HTTP/1.0\r\n\r\n", 2000), 0, "a clean close (FIN)");
	cr_expect_eq(raw(r.l_v1, "PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n", 2000), 0);
	cr_expect_eq(raw(r.l_v1, "PROXY TCP4 ::1 5.6.7.8 1 80\r\n", 2000), 0);
	/* A v1 header on the v2-only listener is no header at all there. */
	cr_expect_eq(raw(r.l_v2, "PROXY TCP4 1.2.3.4 5.6.7.8 1 80\r\n", 2000), 0);
	int64_t t0 = sc_now_ms();
	cr_expect_eq(raw(r.l_v1, NULL, 3000), 0, "a silent client is closed");
	int64_t waited = sc_now_ms() - t0;
	cr_expect(waited >= 250 && waited < 2500, "closed after %lld ms, proxy_header 300ms",
		(long long)waited);
	cr_expect_eq(sc_backend_accepts(r.be), before, "a backend was connected for a bad client");

	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/metrics", NULL, 2000, &h), 0);
	cr_expect_not_null(
		strstr(h.body, "anylb_service_proxy_header_errors_total{service=\"edge\"} 5\n"),
		"%s", strstr(h.body, "anylb_service_proxy_header_errors_total"));
	sc_http_free(&h);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "no PROXY v2 header for client", 2000, NULL), 0);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "PROXY", 2000, NULL), 0);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

Test(accept_proxy, a_header_in_pieces_and_the_bytes_behind_it_are_read_exactly)
{
	struct rig r;
	struct sc_conn_result res;
	char line[64], ip[INET_ADDRSTRLEN];

	start_anylb(&r);
	int fd = sc_connect(r.l_v1, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_send_all(fd, "PROXY TCP4 192.0.2.", 19, 2000), 0);
	sc_sleep_ms(50);
	cr_assert_eq(sc_send_all(fd, "7 198.51.100.1 4", 16, 2000), 0);
	sc_sleep_ms(50);
	/* The end of the header and the client's first bytes in one segment. */
	const char *rest = "0000 443\r\nhello behind the header\n";
	cr_assert_eq(sc_send_all(fd, rest, strlen(rest), 2000), 0);
	cr_assert_gt(sc_recv_line(fd, line, sizeof(line), 3000), 0);
	cr_expect_str_eq(line, "hello behind the header");
	close(fd);
	cr_assert_eq(sc_backend_wait_results(r.be, 1, 3000), 0);
	cr_assert_eq(sc_backend_result(r.be, 0, &res), 0);
	cr_expect_str_eq(ip_of(&res.proxy.src, ip, sizeof(ip)), "192.0.2.7");
	cr_expect_eq(port_of(&res.proxy.src), 40000);
	cr_expect_str_eq(ip_of(&res.proxy.dst, ip, sizeof(ip)), "198.51.100.1");
	cr_expect_eq(port_of(&res.proxy.dst), 443);
	cr_expect_eq(res.received, strlen("hello behind the header\n"), "payload bytes: %llu",
		(unsigned long long)res.received);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}
