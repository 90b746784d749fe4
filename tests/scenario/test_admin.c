/*
 * DOC: scenario: the admin interface of a running anylb
 *
 * The real binary with its admin socket in a temp directory and a loopback TCP listener with a
 * token, HELLO backends (each names itself, then echoes) so that a test knows where a session
 * went. What is checked: /status is valid JSON with the fields docs/ADMIN.md documents, /metrics
 * passes `promtool check metrics`, /healthz answers; drain moves new sessions away while the
 * drained backend's open session keeps flowing, enable brings it back; the token guards writes
 * over TCP; the socket is 0600; hostile admin clients (garbage, oversized, slow, too many) get
 * 400/413/431 or a cut while an echo session through the proxy keeps its pace; anylbctl works
 * against it; the redundancy warning and the access log lines appear.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(admin, .fini = fini, .timeout = 90);

#define TOKEN "t0k3n-for-tests"

struct rig {
	const char *dir;
	char sock[200], unix_where[210], tcp[SC_ADDRSTRLEN], token_path[200];
	char listen[SC_ADDRSTRLEN];
	struct sc_backend *a, *b;
	struct sc_lb *lb;
};

/* Waits until the admin socket answers /healthz. */
static void wait_admin(struct rig *r)
{
	int64_t deadline = sc_now_ms() + 5000;
	struct sc_http_resp h;

	for (;;) {
		if (sc_http(r->unix_where, "GET", "/healthz", NULL, 1000, &h) == 0 &&
			h.status == 200) {
			sc_http_free(&h);
			return;
		}
		sc_http_free(&h);
		if (sc_now_ms() > deadline) {
			sc_lb_dump_log(r->lb);
			cr_assert_fail(
				"the admin socket %s never answered: is admin_new() called in "
				"lb/main.c?",
				r->sock);
		}
		sc_sleep_ms(20);
	}
}

/*
 * Two HELLO backends "A" (zone a) and "B" (zone b), each max_connections max_conn (0: none),
 * extra YAML for the service, and the admin interface on a socket and a TCP port.
 */
static void rig_start(struct rig *r, unsigned max_conn, const char *extra)
{
	struct sc_backend_opts oa = {.id = "A"}, ob = {.id = "B"};
	char mc[64] = "";

	memset(r, 0, sizeof(*r));
	r->dir = sc_admin_temp_dir();
	cr_assert_not_null(r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/run/admin.sock", r->dir);
	snprintf(r->unix_where, sizeof(r->unix_where), "unix:%s", r->sock);
	snprintf(r->token_path, sizeof(r->token_path), "%s/token", r->dir);
	FILE *f = fopen(r->token_path, "w");
	cr_assert_not_null(f);
	fputs(TOKEN "\n", f);
	fclose(f);
	chmod(r->token_path, 0600);
	cr_assert_gt(sc_free_addr(AF_INET, r->tcp, sizeof(r->tcp)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	r->a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &oa);
	r->b = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &ob);
	cr_assert(r->a != NULL && r->b != NULL);
	if (max_conn > 0)
		snprintf(mc, sizeof(mc), ", max_connections: %u", max_conn);
	r->lb = sc_lb_start("global:\n"
			    "  site: test-site\n"
			    "  workers: 2\n"
			    "  drain_timeout: 1s\n"
			    "  admin:\n"
			    "    socket: %s\n"
			    "    listen: \"%s\"\n"
			    "    token_file: %s\n"
			    "  log:\n"
			    "    access: true\n"
			    "services:\n"
			    "  - name: web\n"
			    "    listen: [\"%s\"]\n"
			    "%s"
			    "    backends:\n"
			    "      - {address: \"%s\", zone: a%s}\n"
			    "      - {address: \"%s\", zone: b%s}\n",
		r->sock, r->tcp, r->token_path, r->listen, extra != NULL ? extra : "",
		sc_backend_addr(r->a), mc, sc_backend_addr(r->b), mc);
	cr_assert_not_null(r->lb, "anylb did not start");
	wait_admin(r);
}

static void rig_stop(struct rig *r)
{
	cr_expect_eq(sc_lb_stop(r->lb), 0, "anylb did not exit cleanly");
	r->lb = NULL;
}

static struct sc_http_resp req(
	const char *where, const char *method, const char *path, const char *token)
{
	struct sc_http_resp h;
	int rc = sc_http(where, method, path, token, 5000, &h);
	cr_assert_eq(rc, 0, "%s %s: %s", method, path, strerror(-rc));
	return h;
}

static json_t *status_doc(const struct rig *r)
{
	struct sc_http_resp h = req(r->unix_where, "GET", "/status", NULL);
	json_error_t e;

	int status = h.status;
	json_t *j = json_loadb(h.body, h.body_len, 0, &e);
	sc_http_free(&h);
	cr_assert_eq(status, 200, "/status answered %d", status);
	cr_assert_not_null(j, "/status is not JSON: %s", e.text);
	return j;
}

static json_t *backend_of(json_t *st, const char *addr)
{
	json_t *b, *svc = json_array_get(json_object_get(st, "services"), 0);
	size_t i;

	json_array_foreach(json_object_get(svc, "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
			return b;
	}
	cr_assert_fail("no backend %s in /status", addr);
	return NULL;
}

static const char *state_of(json_t *st, const char *addr)
{
	return json_string_value(json_object_get(backend_of(st, addr), "state"));
}

/* Opens a session through the proxy and reads which backend took it. */
static int session(const struct rig *r, char *id, size_t cap)
{
	int fd = sc_connect(r->listen, 2000);
	cr_assert_geq(fd, 0, "connect %s: %s", r->listen, strerror(-fd));
	int n = sc_recv_line(fd, id, cap, 3000);
	cr_assert_geq(n, 0, "no hello: %s", strerror(-n));
	return fd;
}

/* The first service's counters.results.done in /status. */
static json_int_t sessions_done(const struct rig *r)
{
	json_t *doc = status_doc(r);
	json_t *svc = json_array_get(json_object_get(doc, "services"), 0);
	json_t *res = json_object_get(json_object_get(svc, "counters"), "results");
	json_int_t done = json_integer_value(json_object_get(res, "done"));

	json_decref(doc);
	return done;
}

/* Waits until /status counts at least n sessions of the first service as done. */
static void wait_sessions_done(const struct rig *r, json_int_t n)
{
	int64_t deadline = sc_now_ms() + 3000;
	json_int_t done;

	while ((done = sessions_done(r)) < n) {
		cr_assert_lt(sc_now_ms(), deadline, "/status counts %lld of %lld sessions done",
			(long long)done, (long long)n);
		sc_sleep_ms(5);
	}
}

static void expect_keys(json_t *o, const char *what, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_expect_not_null(json_object_get(o, keys[i]), "%s has no '%s'", what, keys[i]);
}

Test(admin, status_metrics_healthz_and_the_socket)
{
	struct rig r;
	struct stat st;
	char id[16];

	rig_start(&r, 0, NULL);
	cr_assert_eq(stat(r.sock, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);

	/* Four sessions, each a round trip, then closed. */
	for (int i = 0; i < 4; i++) {
		int fd = session(&r, id, sizeof(id));
		cr_expect_eq(sc_echo(fd, "ping\n", 2000), 0);
		close(fd);
	}
	/* anylb counts a session when it closes its side, after the client has gone. */
	wait_sessions_done(&r, 4);

	json_t *doc = status_doc(&r);
	static const char *const top[] = {"site", "version", "uptime", "services", "bgp"};
	expect_keys(doc, "status", top, 5);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "site")), "test-site");
	json_t *svc = json_array_get(json_object_get(doc, "services"), 0);
	static const char *const sk[] = {"name", "listen", "balance", "active", "counters",
		"redundancy", "anycast", "backends"};
	expect_keys(svc, "a service", sk, 8);
	json_t *c = json_object_get(svc, "counters");
	static const char *const ck[] = {
		"accepted", "refused_limit", "no_backend", "retries", "results"};
	expect_keys(c, "counters", ck, 5);
	cr_expect_eq(json_integer_value(json_object_get(c, "accepted")), 4);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(c, "results"), "done")), 4);
	static const char *const ak[] = {
		"enabled", "announced", "state", "reason", "flaps", "delay_ms", "prefixes"};
	expect_keys(json_object_get(svc, "anycast"), "anycast", ak, 7);
	static const char *const rk[] = {"text", "k", "domains", "capacity", "load"};
	expect_keys(json_object_get(svc, "redundancy"), "redundancy", rk, 5);
	cr_expect_str_eq(
		json_string_value(json_object_get(json_object_get(svc, "redundancy"), "text")),
		"N+1");
	json_t *b = backend_of(doc, sc_backend_addr(r.a));
	static const char *const bk[] = {"address", "zone", "weight", "effective_weight", "state",
		"reason", "active", "sessions", "connect_fails", "ejections", "bytes_in",
		"bytes_out", "checks", "cert_not_after", "backup"};
	expect_keys(b, "a backend", bk, 15);
	uint64_t in = 0, out = 0, sessions = 0;
	for (int i = 0; i < 2; i++) {
		json_t *x = backend_of(doc, sc_backend_addr(i ? r.b : r.a));
		in += (uint64_t)json_integer_value(json_object_get(x, "bytes_in"));
		out += (uint64_t)json_integer_value(json_object_get(x, "bytes_out"));
		sessions += (uint64_t)json_integer_value(json_object_get(x, "sessions"));
	}
	cr_expect_eq(sessions, 4);
	cr_expect_eq(in, 4 * 5, "bytes client -> backend");
	cr_expect_eq(out, 4 * (2 + 5), "bytes backend -> client: hello line and echo");
	static const char *const gk[] = {"connected", "sessions"};
	expect_keys(json_object_get(doc, "bgp"), "bgp", gk, 2);
	json_decref(doc);

	struct sc_http_resp h = req(r.unix_where, "GET", "/metrics", NULL);
	cr_assert_eq(h.status, 200);
	char *out_text = NULL;
	int rc = sc_promtool_check(h.body, h.body_len, &out_text);
	cr_assert_neq(rc, -ENOENT, "promtool is missing: run scripts/deps.sh");
	cr_expect_eq(rc, 0, "promtool check metrics exited %d:\n%s\n--- metrics:\n%s", rc,
		out_text ? out_text : "", h.body);
	free(out_text);
	cr_expect(
		strstr(h.body, "anylb_sessions_total{service=\"web\",result=\"done\"} 4\n") != NULL,
		"%s", h.body);
	cr_expect(strstr(h.body, "anylb_up 1\n") != NULL);
	char want[256];
	snprintf(want, sizeof(want),
		"anylb_listener_accepted_total{service=\"web\",listener=\"%s\"} 4\n", r.listen);
	cr_expect(strstr(h.body, want) != NULL, "missing %s in:\n%s", want, h.body);
	cr_expect(
		strstr(h.body, "anylb_session_duration_seconds_count{service=\"web\"} 4\n") != NULL,
		"%s", h.body);
	cr_expect(strstr(h.body, "anylb_session_duration_seconds_bucket{service=\"web\","
				 "le=\"+Inf\"} 4\n") != NULL);
	snprintf(want, sizeof(want),
		"anylb_backend_state_changes_total{service=\"web\",backend=\"%s\"} 0\n",
		sc_backend_addr(r.a));
	cr_expect(strstr(h.body, want) != NULL, "missing %s", want);
	sc_http_free(&h);

	h = req(r.tcp, "GET", "/healthz", NULL);
	cr_expect_eq(h.status, 200);
	cr_expect_str_eq(h.body, "ok\n");
	sc_http_free(&h);

	/* Access log: one line per session. */
	cr_expect_eq(sc_lb_wait_log(r.lb, 0, "access service=web client=127.0.0.1:", 2000, NULL), 0,
		"no access log line: is access_log_line() called in lb/session.c?");
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "access service=web "), 4);
	cr_expect_geq(sc_lb_log_count(r.lb, 0, "bytes_in=5 bytes_out=7 "), 4);

	rig_stop(&r);
	cr_expect_neq(access(r.sock, F_OK), 0, "the socket outlived anylb");
}

/* Which backend a new session reaches, n times: how many went to id. */
static int count_on(const struct rig *r, const char *id, int n)
{
	int hits = 0;
	char got[16];

	for (int i = 0; i < n; i++) {
		int fd = session(r, got, sizeof(got));
		hits += strcmp(got, id) == 0;
		close(fd);
	}
	return hits;
}

Test(admin, drain_moves_new_sessions_and_keeps_open_ones)
{
	struct rig r;
	char id[16];

	rig_start(&r, 0, NULL);
	int keep = session(&r, id, sizeof(id));
	const char *addr = strcmp(id, "A") == 0 ? sc_backend_addr(r.a) : sc_backend_addr(r.b);
	const char *other = strcmp(id, "A") == 0 ? "B" : "A";
	char path[256];

	snprintf(path, sizeof(path), "/services/web/backends/%s/drain", addr);
	struct sc_http_resp h = req(r.unix_where, "POST", path, NULL);
	cr_expect_eq(h.status, 200, "%s", h.body);
	sc_http_free(&h);
	json_t *doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, addr), "draining");
	cr_expect_str_eq(json_string_value(json_object_get(backend_of(doc, addr), "reason")),
		"operator drain");
	cr_expect_eq(json_integer_value(json_object_get(backend_of(doc, addr), "active")), 1);
	json_decref(doc);
	h = req(r.unix_where, "GET", "/metrics", NULL);
	snprintf(path, sizeof(path),
		"anylb_backend_state_changes_total{service=\"web\",backend=\"%s\"} 1\n", addr);
	cr_expect(strstr(h.body, path) != NULL, "the drain is a state change: %s", h.body);
	sc_http_free(&h);

	cr_expect_eq(count_on(&r, other, 8), 8, "a new session went to the drained backend");
	for (int i = 0; i < 5; i++)
		cr_expect_eq(sc_echo(keep, "still here\n", 2000), 0,
			"the drained backend's session stopped flowing");

	snprintf(path, sizeof(path), "/services/web/backends/%s/enable", addr);
	h = req(r.unix_where, "POST", path, NULL);
	cr_expect_eq(h.status, 200, "%s", h.body);
	sc_http_free(&h);
	doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, addr), "ready");
	json_decref(doc);
	cr_expect_geq(count_on(&r, id, 8), 2, "the enabled backend gets sessions again");
	cr_expect_eq(sc_echo(keep, "bye\n", 2000), 0);
	close(keep);
	rig_stop(&r);
}

Test(admin, tcp_writes_need_the_token)
{
	struct rig r;
	char path[256];

	rig_start(&r, 0, NULL);
	snprintf(path, sizeof(path), "/services/web/backends/%s/drain", sc_backend_addr(r.a));
	struct sc_http_resp h = req(r.tcp, "GET", "/status", NULL);
	cr_expect_eq(h.status, 200, "GET over TCP needs no token");
	sc_http_free(&h);
	h = req(r.tcp, "POST", path, NULL);
	cr_expect_eq(h.status, 401, "%s", h.body);
	sc_http_free(&h);
	h = req(r.tcp, "POST", path, "not-the-token");
	cr_expect_eq(h.status, 401, "%s", h.body);
	sc_http_free(&h);
	json_t *doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, sc_backend_addr(r.a)), "ready");
	json_decref(doc);
	h = req(r.tcp, "POST", path, TOKEN);
	cr_expect_eq(h.status, 200, "%s", h.body);
	sc_http_free(&h);
	doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, sc_backend_addr(r.a)), "draining");
	json_decref(doc);
	rig_stop(&r);
}

/* An echo session through the proxy, timed: the worst round trip of n, in ms. */
static int64_t echo_worst(int fd, int n)
{
	int64_t worst = 0;
	for (int i = 0; i < n; i++) {
		int64_t t = sc_now_ms();
		cr_assert_eq(sc_echo(fd, "tick\n", 2000), 0, "the proxy stopped echoing");
		if (sc_now_ms() - t > worst)
			worst = sc_now_ms() - t;
	}
	return worst;
}

static int raw(const struct rig *r, const char *data, size_t len)
{
	struct sc_http_resp h;
	int rc = sc_http_raw(r->unix_where, data, len, 5000, &h);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	int st = h.status;
	sc_http_free(&h);
	return st;
}

Test(admin, hostile_admin_clients_never_block_the_proxy)
{
	struct rig r;
	char id[16];
	int idle[70], nidle = 0;

	rig_start(&r, 0, NULL);
	int keep = session(&r, id, sizeof(id));

	/* Slow clients: half a request each, then nothing. */
	int slow[8];
	for (int i = 0; i < 8; i++) {
		slow[i] = sc_admin_connect(r.unix_where, 2000);
		cr_assert_geq(slow[i], 0);
		cr_assert_eq(sc_send_all(slow[i], "GET /status HTTP/1.1\r\nHost: x", 29, 1000), 0);
	}
	int64_t t_slow = sc_now_ms();
	cr_expect_leq(echo_worst(keep, 10), 500);

	/* Garbage, malformed, oversized. */
	static const char tls[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n";
	cr_expect_eq(raw(&r, tls, sizeof(tls) - 1), 400);
	cr_expect_eq(raw(&r, "GET /status HTTP/1.1\r\nBad Header\r\n\r\n", 36), 400);
	static const char big[] = "POST /reload HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n";
	cr_expect_eq(raw(&r, big, sizeof(big) - 1), 413);
	size_t n = 64 * 1024;
	char *hdr = malloc(n + 64);
	cr_assert_not_null(hdr);
	int off = sprintf(hdr, "GET /status HTTP/1.1\r\nX-Big: ");
	memset(hdr + off, 'x', n);
	strcpy(hdr + off + n, "\r\n\r\n");
	cr_expect_eq(raw(&r, hdr, strlen(hdr)), 431);
	free(hdr);
	cr_expect_leq(echo_worst(keep, 10), 500);

	/* More connections than the cap: they wait in the kernel, the proxy does not care. */
	for (; nidle < 70; nidle++) {
		idle[nidle] = sc_admin_connect(r.unix_where, 2000);
		if (idle[nidle] < 0)
			break; /* the backlog is full: that is the cap working */
	}
	cr_expect_geq(nidle, 56);
	cr_expect_leq(echo_worst(keep, 10), 500);
	for (int i = 0; i < nidle; i++)
		close(idle[i]);

	/* The slow ones are cut about 5 s after they connected. */
	for (int i = 0; i < 8; i++) {
		uint64_t junk = 0;
		int rc = sc_wait_close(slow[i], 8000, &junk);
		cr_expect(rc == 0 || rc == -ECONNRESET, "slow client %d not cut: %s", i,
			strerror(-rc));
		cr_expect_eq(junk, 0);
		close(slow[i]);
	}
	int64_t took = sc_now_ms() - t_slow;
	cr_expect(took >= 4000 && took <= 7500, "slow clients cut after %lld ms", (long long)took);
	cr_expect_leq(echo_worst(keep, 10), 500);
	close(keep);

	struct sc_http_resp h = req(r.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(h.status, 200);
	sc_http_free(&h);
	rig_stop(&r);
}

Test(admin, anylbctl)
{
	struct rig r;
	struct sc_run run;
	char addr[SC_ADDRSTRLEN];

	rig_start(&r, 0, NULL);
	snprintf(addr, sizeof(addr), "%s", sc_backend_addr(r.b));

	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "status", NULL), 0);
	cr_expect_eq(run.status, 0, "stderr: %s", run.err);
	cr_expect(strstr(run.out, "service web") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, addr) != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "ready") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "N+1") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "test-site") != NULL, "%s", run.out);
	sc_run_free(&run);

	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "status", "--json", NULL), 0);
	cr_expect_eq(run.status, 0);
	json_error_t e;
	json_t *j = json_loads(run.out, 0, &e);
	cr_expect_not_null(j, "status --json is not JSON: %s", e.text);
	json_decref(j);
	sc_run_free(&run);

	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "drain", "web", addr, NULL), 0);
	cr_expect_eq(run.status, 0, "stderr: %s", run.err);
	cr_expect(strstr(run.out, "is draining") != NULL, "%s", run.out);
	sc_run_free(&run);
	json_t *doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, addr), "draining");
	json_decref(doc);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "operator drain") != NULL, "%s", run.out);
	sc_run_free(&run);

	/* Over TCP: without -t the write is refused by anylb (exit 1), with it done. */
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-H", r.tcp, "enable", "web", addr, NULL), 0);
	cr_expect_eq(run.status, 1, "out %s err %s", run.out, run.err);
	cr_expect(strstr(run.err, "Authorization: Bearer") != NULL, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-H", r.tcp, "-t", r.token_path, "enable", "web",
			     addr, NULL),
		0);
	cr_expect_eq(run.status, 0, "stderr: %s", run.err);
	sc_run_free(&run);
	doc = status_doc(&r);
	cr_expect_str_eq(state_of(doc, addr), "ready");
	json_decref(doc);

	/* anylb's errors: exit 1 with its message. */
	cr_assert_eq(
		sc_run_anylbctl(&run, 10000, "-s", r.sock, "drain", "web", "10.9.9.9:1", NULL), 0);
	cr_expect_eq(run.status, 1);
	cr_expect(strstr(run.err, "no backend") != NULL, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "withdraw", "web", NULL), 0);
	cr_expect_eq(run.status, 1);
	cr_expect(strstr(run.err, "no anycast") != NULL, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "reload", NULL), 0);
	cr_expect(run.status == 0 || run.status == 1, "reload: %d %s", run.status, run.err);
	sc_run_free(&run);

	/* Usage and connection problems: exit 2. */
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "frobnicate", NULL), 0);
	cr_expect_eq(run.status, 2);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "drain", "web", NULL), 0);
	cr_expect_eq(run.status, 2);
	sc_run_free(&run);
	char nowhere[256];
	snprintf(nowhere, sizeof(nowhere), "%s/nothing.sock", r.dir);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", nowhere, "status", NULL), 0);
	cr_expect_eq(run.status, 2);
	cr_expect(strstr(run.err, "cannot connect") != NULL, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-h", NULL), 0);
	cr_expect_eq(run.status, 0);
	static const char *const words[] = {"status", "--json", "drain", "enable", "withdraw",
		"announce", "reload", "-s SOCKET", "-H HOST:PORT", "-t TOKEN_FILE"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		cr_expect(strstr(run.out, words[i]) != NULL, "-h does not mention %s", words[i]);
	sc_run_free(&run);
	rig_stop(&r);
}

Test(admin, redundancy_drops_below_n_plus_1_with_the_load)
{
	struct rig r;
	char id[16];
	int fds[6];

	/* Each backend carries 4: two zones, capacity 8. Up to 4 sessions: N+1. */
	rig_start(&r, 4, NULL);
	size_t from = sc_lb_log_offset(r.lb);
	for (int i = 0; i < 4; i++)
		fds[i] = session(&r, id, sizeof(id));
	json_t *doc = status_doc(&r);
	json_t *red =
		json_object_get(json_array_get(json_object_get(doc, "services"), 0), "redundancy");
	cr_expect_str_eq(json_string_value(json_object_get(red, "text")), "N+1");
	cr_expect_eq(json_integer_value(json_object_get(red, "load")), 4);
	cr_expect_eq(json_integer_value(json_object_get(red, "capacity")), 8);
	json_decref(doc);
	for (int i = 4; i < 6; i++)
		fds[i] = session(&r, id, sizeof(id));
	doc = status_doc(&r);
	red = json_object_get(json_array_get(json_object_get(doc, "services"), 0), "redundancy");
	cr_expect_str_eq(json_string_value(json_object_get(red, "text")), "N+0");
	json_decref(doc);
	struct sc_http_resp h = req(r.unix_where, "GET", "/metrics", NULL);
	cr_expect(strstr(h.body, "anylb_service_redundancy{service=\"web\"} 0\n") != NULL);
	sc_http_free(&h);
	cr_expect_eq(sc_lb_wait_log(r.lb, from, "service web: redundancy N+0", 3000, NULL), 0,
		"no warning when the service dropped below N+1");
	/* A sleep on purpose: it asserts that nothing happens meanwhile. The redundancy check runs
	 * on the admin interface's 1 s tick (lb/admin.c), so 1.5 s holds at least one more check
	 * that must not warn again. */
	sc_sleep_ms(1500);
	cr_expect_eq(sc_lb_log_count(r.lb, from, "redundancy N+0"), 1, "the warning repeats");
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	rig_stop(&r);
}

Test(admin, anycast_withdraw_announce_auto)
{
	struct rig r;
	char extra[512], bird[256];
	struct sc_run run;

	/* bird_protocol mode needs no TUN interface; BIRD is absent, which changes nothing here. */
	memset(&r, 0, sizeof(r));
	snprintf(bird, sizeof(bird), "/tmp/anylb-no-bird-%d.ctl", (int)getpid());
	snprintf(extra, sizeof(extra),
		"    anycast:\n"
		"      prefixes: [192.0.2.77/32]\n"
		"      bird_protocol: anylb_test_web\n");
	/* The bgp section goes first: rig_start writes global then services. */
	struct sc_backend_opts oa = {.id = "A"};
	r.dir = sc_admin_temp_dir();
	cr_assert_not_null(r.dir);
	snprintf(r.sock, sizeof(r.sock), "%s/admin.sock", r.dir);
	snprintf(r.unix_where, sizeof(r.unix_where), "unix:%s", r.sock);
	cr_assert_gt(sc_free_addr(AF_INET, r.listen, sizeof(r.listen)), 0);
	r.a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &oa);
	cr_assert_not_null(r.a);
	r.lb = sc_lb_start("global:\n"
			   "  admin:\n"
			   "    socket: %s\n"
			   "bgp:\n"
			   "  announce: bird_protocol\n"
			   "  bird_socket: %s\n"
			   "  announce_delay: 0s\n"
			   "services:\n"
			   "  - name: web\n"
			   "    listen: [\"%s\"]\n"
			   "%s"
			   "    backends:\n"
			   "      - address: \"%s\"\n",
		r.sock, bird, r.listen, extra, sc_backend_addr(r.a));
	cr_assert_not_null(r.lb);
	wait_admin(&r);

	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "withdraw", "web", NULL), 0);
	cr_expect_eq(run.status, 0, "%s", run.err);
	sc_run_free(&run);
	int64_t deadline = sc_now_ms() + 3000;
	for (;;) {
		json_t *doc = status_doc(&r);
		json_t *ac = json_object_get(
			json_array_get(json_object_get(doc, "services"), 0), "anycast");
		int done =
			json_is_false(json_object_get(ac, "announced")) &&
			strcmp(json_string_value(json_object_get(ac, "override")), "withdraw") == 0;
		if (done) {
			cr_expect_str_eq(json_string_value(json_array_get(
						 json_object_get(ac, "prefixes"), 0)),
				"192.0.2.77/32");
			json_decref(doc);
			break;
		}
		json_decref(doc);
		cr_assert_lt(sc_now_ms(), deadline, "the withdraw never showed in /status");
		sc_sleep_ms(50);
	}
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "withdrawn: 192.0.2.77/32") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "operator withdraw") != NULL, "%s", run.out);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "auto", "--all", NULL), 0);
	cr_expect_eq(run.status, 0, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", r.sock, "announce", "--all", NULL), 0);
	cr_expect_eq(run.status, 0, "%s", run.err);
	sc_run_free(&run);
	struct sc_http_resp h = req(r.unix_where, "GET", "/metrics", NULL);
	char *out = NULL;
	cr_expect_eq(sc_promtool_check(h.body, h.body_len, &out), 0, "%s", out ? out : "");
	free(out);
	cr_expect(strstr(h.body,
			  "anylb_anycast_announced{service=\"web\",prefix=\"192.0.2.77/32\"}") !=
		  NULL);
	sc_http_free(&h);
	rig_stop(&r);
}

/* What dist/completion/anylbctl offers for each line of words (the last one being completed),
 * one output line "[...]" per line; names come from the anylb on the socket the line names. */
static char *complete_lines(const char *const *lines, size_t n)
{
	char bin[512], *slash, out[8192];

	snprintf(bin, sizeof(bin), "%s", ANYLB_BIN);
	slash = strrchr(bin, '/');
	cr_assert_not_null(slash);
	*slash = '\0';
	char script[4096];
	int len = snprintf(script, sizeof(script),
		"PATH=%s:$PATH\n"
		"source %s/dist/completion/anylbctl\n"
		"comp() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _anylbctl;"
		" echo \"[${COMPREPLY[*]}]\"; }\n",
		bin, ANYLB_SOURCE_DIR);
	for (size_t i = 0; i < n; i++)
		len += snprintf(script + len, sizeof(script) - (size_t)len, "comp %s\n", lines[i]);
	const char *path = sc_temp_file(".sh", "%s", script);
	cr_assert_not_null(path);
	int rc = sc_cmd(out, sizeof(out), 20000, "bash %s", path);
	cr_assert_eq(rc, 0, "bash: %d: %s", rc, out);
	return strdup(out);
}

Test(admin, bash_completion_knows_the_commands_and_the_live_names)
{
	struct rig r;
	char l1[300], l2[300], l3[300], want[300];
	struct sc_run run;

	rig_start(&r, 0, NULL);
	snprintf(l1, sizeof(l1), "anylbctl -s %s drain ''", r.sock);
	snprintf(l2, sizeof(l2), "anylbctl -s %s drain web 127.0.0.1:", r.sock);
	snprintf(l3, sizeof(l3), "anylbctl -s %s withdraw ''", r.sock);
	const char *const lines[] = {"anylbctl dr", "anylbctl ''", l1, l2, l3,
		"anylbctl upgrade --b", "anylbctl status --"};
	char *out = complete_lines(lines, sizeof(lines) / sizeof(lines[0]));
	cr_expect(strstr(out, "[drain drain-site]\n") != NULL, "%s", out);
	cr_expect(strstr(out, "[status drain enable maint ready weight add-backend remove-backend "
			      "withdraw announce auto drain-site undrain-site reload upgrade]\n") !=
			  NULL,
		"%s", out);
	cr_expect(strstr(out, "[web]\n") != NULL, "the service from the running anylb: %s", out);
	snprintf(want, sizeof(want), "%s", sc_backend_addr(r.a));
	cr_expect(strstr(out, want) != NULL, "its backends: %s", out);
	cr_expect(strstr(out, "[--all web]\n") != NULL, "%s", out);
	cr_expect(strstr(out, "[--binary]\n") != NULL, "%s", out);
	cr_expect(strstr(out, "[--json]\n") != NULL, "%s", out);
	free(out);

	/* Every command anylbctl --help names is one the completion offers. */
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "--help", NULL), 0);
	const char *cmds = strstr(run.out, "Commands:\n");
	cr_assert_not_null(cmds, "%s", run.out);
	char *script = sc_read_file(ANYLB_SOURCE_DIR "/dist/completion/anylbctl");
	cr_assert_not_null(script);
	for (const char *p = strchr(cmds, '\n') + 1; p != NULL && *p == ' ';
		p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char word[32];
		if (sscanf(p, " %31[a-z]", word) != 1 || p[2] == ' ')
			continue; /* a continuation line */
		char quoted[40];
		snprintf(quoted, sizeof(quoted), " %s", word);
		cr_expect(strstr(script, quoted) != NULL,
			"anylbctl --help has %s, the completion not", word);
	}
	free(script);
	sc_run_free(&run);
	rig_stop(&r);
}
