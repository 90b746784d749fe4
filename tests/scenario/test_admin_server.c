/*
 * DOC: scenario: the admin server in process
 *
 * lb/admin.c on a libev loop in a thread of the test process, over a runtime built from a real
 * configuration, spoken to through real unix and TCP sockets. What only the real binary can show
 * (sessions through the proxy while admin clients misbehave, anylbctl, the socket of a running
 * process) is in test_admin.c; here the server's own contract: routes and their answers, the
 * token, the socket's mode and life, the request limits and timeouts, the connection cap,
 * status fields and metrics that promtool accepts. Counters are set by hand, so the values the
 * pages show are known.
 */
#include "lb/admin.h"
#include "lb/backend.h"
#include "lb/metrics.h"
#include "lb/redundancy.h"
#include "lb/status.h"
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define TOKEN "s3cr3t-t0ken"

struct fx {
	const char *dir;
	char sock[160], unix_where[170], tcp[SC_ADDRSTRLEN], token_path[160];
	struct lb_runtime *rt;
	struct ev_loop *loop;
	struct admin *a;
	pthread_t th;
	ev_async stop;
	int running;
	struct admin_hooks hooks;
	_Atomic int reload_calls;
	int reload_rc;
};

static struct fx fx;

static void fx_stop(void)
{
	if (fx.running) {
		ev_async_send(fx.loop, &fx.stop);
		pthread_join(fx.th, NULL);
		fx.running = 0;
	}
	if (fx.a != NULL) {
		admin_free(fx.a);
		fx.a = NULL;
	}
	if (fx.loop != NULL) {
		ev_async_stop(fx.loop, &fx.stop);
		ev_loop_destroy(fx.loop);
		fx.loop = NULL;
	}
	if (fx.rt != NULL) {
		runtime_put(fx.rt);
		fx.rt = NULL;
	}
}

static void fini(void)
{
	fx_stop();
	sc_admin_cleanup();
	sc_cleanup();
#if defined(__SANITIZE_ADDRESS__)
	if (__lsan_do_recoverable_leak_check() != 0)
		abort();
#endif
}

TestSuite(admin_server, .fini = fini, .timeout = 60);

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
	(void)arg;
	ev_run(fx.loop, 0);
	return NULL;
}

static int reload_hook(void *arg, char *msg, size_t cap)
{
	(void)arg;
	fx.reload_calls++;
	if (fx.reload_rc == 0) {
		snprintf(msg, cap, "reloaded: 2 services");
		return 0;
	}
	snprintf(msg, cap, "t.yaml:3:5: unknown key 'x'");
	return fx.reload_rc;
}

/* The default configuration: two services, zones, limits, checks, a TCP listener. */
static const char *base_config(void)
{
	static char buf[4096];
	char l1[SC_ADDRSTRLEN], l2[SC_ADDRSTRLEN];

	cr_assert_gt(sc_free_addr(AF_INET, l1, sizeof(l1)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, l2, sizeof(l2)), 0);
	snprintf(buf, sizeof(buf),
		"global:\n"
		"  site: lab-1\n"
		"  admin:\n"
		"    socket: %s\n"
		"    listen: \"%s\"\n"
		"    token_file: %s\n"
		"services:\n"
		"  - name: web\n"
		"    listen: \"%s\"\n"
		"    backends:\n"
		"      - {address: 127.0.0.1:9001, zone: a, max_connections: 100}\n"
		"      - {address: \"[::1]:9002\", zone: b, max_connections: 100}\n"
		"      - {address: 127.0.0.1:9003, weight: 50}\n"
		"  - name: api\n"
		"    listen: \"%s\"\n"
		"    max_connections: 1000\n"
		"    health:\n"
		"      liveness: {}\n"
		"      readiness: {type: http, path: /ready}\n"
		"    backends:\n"
		"      - address: 127.0.0.1:9101\n",
		fx.sock, fx.tcp, fx.token_path, l1, l2);
	return buf;
}

/* Sets up the paths; the socket sits in a directory that does not exist yet. */
static void fx_paths(void)
{
	fx.dir = sc_admin_temp_dir();
	cr_assert_not_null(fx.dir);
	snprintf(fx.sock, sizeof(fx.sock), "%s/run/sub/admin.sock", fx.dir);
	snprintf(fx.unix_where, sizeof(fx.unix_where), "unix:%s", fx.sock);
	snprintf(fx.token_path, sizeof(fx.token_path), "%s/token", fx.dir);
	cr_assert_gt(sc_free_addr(AF_INET, fx.tcp, sizeof(fx.tcp)), 0);
	FILE *f = fopen(fx.token_path, "w");
	cr_assert_not_null(f);
	fputs(TOKEN "\n", f);
	fclose(f);
	chmod(fx.token_path, 0600);
}

/* Loads yaml, builds the runtime and starts admin_new on a loop; returns its error. */
static int fx_try(const char *yaml, int with_hooks)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	int err = 0;

	int rc = conf_load_buffer("t.yaml", yaml, strlen(yaml), &c, &errs);
	if (rc != 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0, "the test configuration does not load");
	fx.rt = runtime_new(c);
	cr_assert_not_null(fx.rt);
	fx.loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(fx.loop);
	ev_async_init(&fx.stop, stop_cb);
	ev_async_start(fx.loop, &fx.stop);
	fx.hooks = (struct admin_hooks){.reload = reload_hook, .arg = NULL};
	fx.a = admin_new(fx.loop, fx.rt, NULL, with_hooks ? &fx.hooks : NULL, &err);
	if (fx.a == NULL)
		return err;
	cr_assert_eq(pthread_create(&fx.th, NULL, loop_main, NULL), 0);
	fx.running = 1;
	return 0;
}

static void fx_start(void)
{
	fx_paths();
	int err = fx_try(base_config(), 1);
	cr_assert_eq(err, 0, "admin_new: %s", strerror(-err));
}

static struct sc_http_resp get(
	const char *where, const char *method, const char *path, const char *token)
{
	struct sc_http_resp r;
	int rc = sc_http(where, method, path, token, 5000, &r);
	cr_assert_eq(rc, 0, "%s %s: %s", method, path, strerror(-rc));
	return r;
}

/* The JSON body of r, asserting it parses. */
static json_t *body_json(const struct sc_http_resp *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body, r->body_len, 0, &e);
	cr_assert_not_null(j, "not JSON (%s at %d): %s", e.text, e.position, r->body);
	return j;
}

static void expect_error(const struct sc_http_resp *r, int status, const char *needle)
{
	cr_expect_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
	json_t *j = body_json(r);
	const char *msg = json_string_value(json_object_get(j, "error"));
	cr_expect_not_null(msg, "no 'error' in %s", r->body);
	if (msg != NULL && needle != NULL)
		cr_expect(strstr(msg, needle) != NULL, "'%s' not in '%s'", needle, msg);
	json_decref(j);
}

/* The state of backend addr of service svc in a /status document. */
static const char *backend_state(json_t *st, const char *svc, const char *addr)
{
	json_t *s, *b;
	size_t i, j;

	json_array_foreach(json_object_get(st, "services"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), svc) != 0)
			continue;
		json_array_foreach(json_object_get(s, "backends"), j, b)
		{
			if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
				return json_string_value(json_object_get(b, "state"));
		}
	}
	return NULL;
}

static json_t *status_doc(void)
{
	struct sc_http_resp r = get(fx.unix_where, "GET", "/status", NULL);
	int status = r.status;
	json_error_t e;
	json_t *j = json_loadb(r.body, r.body_len, 0, &e);
	sc_http_free(&r);
	cr_assert_eq(status, 200, "/status answered %d", status);
	cr_assert_not_null(j, "/status is not JSON: %s", e.text);
	return j;
}

/* ---- the socket ---- */

Test(admin_server, socket_is_0600_in_a_created_directory)
{
	struct stat st;
	char dir[200];

	fx_start();
	cr_assert_eq(stat(fx.sock, &st), 0, "%s: %s", fx.sock, strerror(errno));
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	snprintf(dir, sizeof(dir), "%s/run/sub", fx.dir);
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0755, "directory mode %o", st.st_mode & 0777);
	fx_stop();
	cr_expect_neq(access(fx.sock, F_OK), 0, "admin_free left the socket behind");
}

Test(admin_server, stale_socket_is_replaced_live_one_is_an_error)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	fx_paths();
	char dir[200];
	snprintf(dir, sizeof(dir), "%s/run", fx.dir);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/run/sub", fx.dir);
	mkdir(dir, 0755);
	strcpy(sun.sun_path, fx.sock);

	/* Stale: bound, then closed without unlink, as after a crash. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	cr_assert_eq(fx_try(base_config(), 1), 0);
	struct sc_http_resp r = get(fx.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);

	/* Live: a second admin on the same socket must not take it over. */
	struct ev_loop *loop2 = ev_loop_new(EVFLAG_AUTO);
	int err = 0;
	struct admin *a2 = admin_new(loop2, fx.rt, NULL, NULL, &err);
	cr_expect_null(a2);
	cr_expect_eq(err, -EADDRINUSE, "got %d", err);
	admin_free(a2);
	ev_loop_destroy(loop2);
	r = get(fx.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200, "the first admin still answers");
	sc_http_free(&r);
	fx_stop();

	/* Not a socket: left alone. */
	FILE *f = fopen(fx.sock, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(fx_try(base_config(), 1), -EEXIST);
	cr_expect_eq(access(fx.sock, F_OK), 0);
}

Test(admin_server, switched_off_and_bad_token_files)
{
	int err = 1;

	fx_paths();
	char yaml[512];
	snprintf(yaml, sizeof(yaml),
		"global:\n  admin: {enabled: false, socket: %s}\n"
		"services:\n  - name: web\n    listen: 127.0.0.1:1\n"
		"    backends: [{address: 127.0.0.1:9001}]\n",
		fx.sock);
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	cr_assert_eq(conf_load_buffer("t.yaml", yaml, strlen(yaml), &c, &errs), 0);
	struct lb_runtime *rt = runtime_new(c);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	cr_expect_null(admin_new(loop, rt, NULL, NULL, &err));
	cr_expect_eq(err, 0, "switched off is not an error");
	cr_expect_neq(access(fx.sock, F_OK), 0);
	ev_loop_destroy(loop);
	runtime_put(rt);

	/* Empty after its newline is stripped, missing, or with a space: refused at start. */
	FILE *f = fopen(fx.token_path, "w");
	fputs("\r\n", f);
	fclose(f);
	cr_expect_eq(fx_try(base_config(), 1), -EINVAL);
	fx_stop();
	f = fopen(fx.token_path, "w");
	fputs("two words\n", f);
	fclose(f);
	cr_expect_eq(fx_try(base_config(), 1), -EINVAL);
	fx_stop();
	unlink(fx.token_path);
	cr_expect_eq(fx_try(base_config(), 1), -ENOENT);
	fx_stop();
	cr_expect_neq(access(fx.sock, F_OK), 0, "a failed start leaves no socket");
}

/* ---- reads ---- */

Test(admin_server, healthz_head_and_unknown_paths)
{
	char v[64];

	fx_start();
	struct sc_http_resp r = get(fx.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	cr_expect_str_eq(sc_http_header(&r, "Connection", v, sizeof(v)), "close");
	sc_http_free(&r);

	r = get(fx.unix_where, "HEAD", "/status", NULL);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.body_len, 0);
	cr_expect_gt(r.content_length, 100, "HEAD tells the length of the GET");
	sc_http_free(&r);

	r = get(fx.unix_where, "GET", "/nope", NULL);
	expect_error(&r, 404, "no such path");
	sc_http_free(&r);
	r = get(fx.unix_where, "GET", "/status/", NULL);
	expect_error(&r, 404, NULL);
	sc_http_free(&r);
	r = get(fx.unix_where, "GET", "/healthz?verbose=1", NULL);
	cr_expect_eq(r.status, 200, "a query is ignored");
	sc_http_free(&r);

	r = get(fx.unix_where, "PUT", "/status", NULL);
	expect_error(&r, 405, "not allowed");
	cr_expect_not_null(sc_http_header(&r, "Allow", v, sizeof(v)));
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/status", NULL);
	expect_error(&r, 405, NULL);
	cr_expect_str_eq(sc_http_header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
	sc_http_free(&r);
	r = get(fx.unix_where, "GET", "/reload", NULL);
	expect_error(&r, 405, NULL);
	cr_expect_str_eq(sc_http_header(&r, "Allow", v, sizeof(v)), "POST");
	sc_http_free(&r);
}

Test(admin_server, status_has_the_documented_fields)
{
	fx_start();
	struct lb_service *web = &fx.rt->services[0];
	atomic_store(&web->st->active, 7);
	atomic_store(&web->st->accepted, 1000);
	atomic_store(&web->st->results[LB_RESULT_DONE], 990);
	atomic_store(&web->backends[0].st->bytes_in, 12345);
	atomic_store(&web->backends[0].st->bytes_out, 54321);
	pthread_mutex_lock(&web->st->lock);
	web->backends[1].st->cert_not_after = 1800000000; /* 2027-01-15T08:00:00Z */
	pthread_mutex_unlock(&web->st->lock);

	json_t *st = status_doc();
	cr_expect_str_eq(json_string_value(json_object_get(st, "site")), "lab-1");
	cr_expect(json_is_string(json_object_get(st, "version")));
	cr_expect(json_is_number(json_object_get(st, "uptime")));
	cr_expect_geq(json_number_value(json_object_get(st, "uptime")), 0);
	json_t *svcs = json_object_get(st, "services");
	cr_assert_eq(json_array_size(svcs), 2);
	json_t *s = json_array_get(svcs, 0);
	cr_expect_str_eq(json_string_value(json_object_get(s, "name")), "web");
	cr_expect(json_is_array(json_object_get(s, "listen")));
	cr_expect_str_eq(json_string_value(json_object_get(s, "balance")), "round_robin");
	cr_expect_eq(json_integer_value(json_object_get(s, "active")), 7);
	json_t *c = json_object_get(s, "counters");
	cr_expect_eq(json_integer_value(json_object_get(c, "accepted")), 1000);
	cr_expect(json_is_integer(json_object_get(c, "refused_limit")));
	cr_expect(json_is_integer(json_object_get(c, "no_backend")));
	cr_expect(json_is_integer(json_object_get(c, "retries")));
	json_t *res = json_object_get(c, "results");
	cr_expect_eq(json_integer_value(json_object_get(res, "done")), 990);
	for (int i = 0; i < LB_RESULT_COUNT; i++)
		cr_expect(json_is_integer(json_object_get(res, lb_result_name(i))), "result %s",
			lb_result_name(i));
	/* a: 100, b: 100, zoneless 9003 priced by weight: 50 * 200/200 = 50. Load 7: N+2. */
	json_t *red = json_object_get(s, "redundancy");
	cr_expect_str_eq(json_string_value(json_object_get(red, "text")), "N+2");
	cr_expect_eq(json_integer_value(json_object_get(red, "k")), 2);
	cr_expect_eq(json_integer_value(json_object_get(red, "domains")), 3);
	cr_expect_eq(json_integer_value(json_object_get(red, "capacity")), 250);
	cr_expect_eq(json_integer_value(json_object_get(red, "load")), 7);
	json_t *ac = json_object_get(s, "anycast");
	cr_expect(json_is_false(json_object_get(ac, "enabled")));
	cr_expect(json_is_false(json_object_get(ac, "announced")));
	cr_expect_eq(json_array_size(json_object_get(ac, "prefixes")), 0);
	json_t *bs = json_object_get(s, "backends");
	cr_assert_eq(json_array_size(bs), 3);
	json_t *b0 = json_array_get(bs, 0), *b1 = json_array_get(bs, 1),
	       *b2 = json_array_get(bs, 2);
	cr_expect_str_eq(json_string_value(json_object_get(b0, "address")), "127.0.0.1:9001");
	cr_expect_str_eq(json_string_value(json_object_get(b0, "zone")), "a");
	cr_expect(json_is_null(json_object_get(b2, "zone")));
	cr_expect_eq(json_integer_value(json_object_get(b2, "weight")), 50);
	cr_expect_eq(json_integer_value(json_object_get(b2, "effective_weight")), 50);
	cr_expect_str_eq(json_string_value(json_object_get(b0, "state")), "ready");
	cr_expect(json_is_string(json_object_get(b0, "reason")));
	static const char *const ints[] = {
		"active", "sessions", "connect_fails", "ejections", "bytes_in", "bytes_out"};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		cr_expect(
			json_is_integer(json_object_get(b0, ints[i])), "backend field %s", ints[i]);
	cr_expect_eq(json_integer_value(json_object_get(b0, "bytes_in")), 12345);
	cr_expect_eq(json_integer_value(json_object_get(b0, "bytes_out")), 54321);
	json_t *checks = json_object_get(b0, "checks");
	cr_expect(json_is_null(json_object_get(checks, "liveness")), "web has no checks");
	cr_expect(json_is_null(json_object_get(b0, "cert_not_after")));
	cr_expect_str_eq(
		json_string_value(json_object_get(b1, "cert_not_after")), "2027-01-15T08:00:00Z");

	json_t *api = json_array_get(svcs, 1);
	json_t *ab = json_array_get(json_object_get(api, "backends"), 0);
	json_t *live = json_object_get(json_object_get(ab, "checks"), "liveness");
	cr_assert(json_is_object(live));
	cr_expect_str_eq(json_string_value(json_object_get(live, "type")), "tcp");
	cr_expect(json_is_integer(json_object_get(live, "ok")));
	cr_expect(json_is_integer(json_object_get(live, "failed")));
	cr_expect(json_is_null(json_object_get(live, "last_duration_ms")), "not run yet");
	cr_expect(json_is_null(json_object_get(live, "last_ok")));
	cr_expect(json_is_null(json_object_get(live, "last_result")));
	cr_expect(json_is_null(json_object_get(live, "last_run")));
	cr_expect(json_is_null(json_object_get(live, "last_run_ms")));
	cr_expect_str_eq(
		json_string_value(json_object_get(json_object_get(api, "redundancy"), "text")),
		"N+0", "one backend is one domain");

	json_t *bgp = json_object_get(st, "bgp");
	cr_expect(json_is_false(json_object_get(bgp, "enabled")));
	cr_expect(json_is_false(json_object_get(bgp, "connected")));
	cr_expect_eq(json_array_size(json_object_get(bgp, "sessions")), 0);
	json_decref(st);
}

/* Text of the metrics page, checked by promtool. */
static char *metrics_checked(void)
{
	struct sc_http_resp r = get(fx.unix_where, "GET", "/metrics", NULL);
	char v[96], *out = NULL;

	cr_assert_eq(r.status, 200);
	cr_expect_str_eq(sc_http_header(&r, "Content-Type", v, sizeof(v)),
		"text/plain; version=0.0.4; charset=utf-8");
	int rc = sc_promtool_check(r.body, r.body_len, &out);
	cr_assert_neq(rc, -ENOENT, "promtool is missing: run scripts/deps.sh");
	cr_expect_eq(rc, 0, "promtool check metrics exited %d:\n%s", rc, out ? out : "");
	free(out);
	char *body = r.body;
	r.body = NULL;
	sc_http_free(&r);
	return body;
}

/* One check result into backend b, as the monitor's check_done hands it over. */
static void feed(
	struct lb_backend *b, enum backend_check which, int ok, const char *why, double secs)
{
	struct check_result r = {.ok = ok, .duration = secs};
	snprintf(r.reason, sizeof(r.reason), "%s", ok ? "ok" : why);
	backend_check_result(b, which, &r, 1000);
}

/* The check object `which` of backend 0 of service svc_index in st. */
static json_t *check_of(json_t *st, size_t svc_index, const char *which)
{
	json_t *s = json_array_get(json_object_get(st, "services"), svc_index);
	json_t *b = json_array_get(json_object_get(s, "backends"), 0);
	return json_object_get(json_object_get(b, "checks"), which);
}

static const char *reason_of(json_t *st, size_t svc_index, size_t j)
{
	json_t *s = json_array_get(json_object_get(st, "services"), svc_index);
	json_t *b = json_array_get(json_object_get(s, "backends"), j);
	return json_string_value(json_object_get(b, "reason"));
}

/*
 * Issue 11, defect 3: each check's last run (result, when, how long) is in /status, and the
 * reason says why the backend is in its state now, not what happened at its last transition.
 */
Test(admin_server, status_shows_each_checks_last_run_and_a_current_reason)
{
	fx_start();
	struct lb_backend *ab = &fx.rt->services[1].backends[0];

	json_t *st = status_doc();
	cr_expect_str_eq(reason_of(st, 0, 0), "no health checks");
	cr_expect_str_eq(reason_of(st, 1, 0),
		"waiting for the first readiness check (initial_state: not_ready)");
	json_t *r = check_of(st, 1, "readiness");
	cr_assert(json_is_object(r));
	cr_expect(json_is_null(json_object_get(r, "last_ok")), "not run yet");
	cr_expect(json_is_null(json_object_get(r, "last_result")));
	cr_expect(json_is_null(json_object_get(r, "last_run")));
	json_decref(st);

	int64_t t0 = sc_wall_ms();
	feed(ab, BACKEND_CHECK_LIVENESS, 1, NULL, 0.002);
	feed(ab, BACKEND_CHECK_READINESS, 1, NULL, 0.004);
	feed(ab, BACKEND_CHECK_READINESS, 1, NULL, 0.003);
	int64_t t1 = sc_wall_ms();
	st = status_doc();
	cr_expect_str_eq(reason_of(st, 1, 0), "readiness check passed",
		"ready, and says why after more passes");
	r = check_of(st, 1, "readiness");
	cr_expect(json_is_true(json_object_get(r, "last_ok")));
	cr_expect_str_eq(json_string_value(json_object_get(r, "last_result")), "ok");
	json_int_t at = json_integer_value(json_object_get(r, "last_run_ms"));
	cr_expect(at >= t0 && at <= t1, "last_run_ms %lld not in [%lld, %lld]", (long long)at,
		(long long)t0, (long long)t1);
	cr_expect_eq(strlen(json_string_value(json_object_get(r, "last_run"))), 20, "RFC 3339");
	cr_expect_float_eq(json_number_value(json_object_get(r, "last_duration_ms")), 3.0, 1e-6);
	cr_expect(json_is_true(json_object_get(check_of(st, 1, "liveness"), "last_ok")));
	json_decref(st);

	/* A failure on the way to fall (3): still ready, and the reason says what is wrong. */
	feed(ab, BACKEND_CHECK_READINESS, 0, "status 503", 0.001);
	st = status_doc();
	cr_expect_str_eq(
		reason_of(st, 1, 0), "readiness: status 503 (1 of 3 failures before not_ready)");
	r = check_of(st, 1, "readiness");
	cr_expect(json_is_false(json_object_get(r, "last_ok")));
	cr_expect_str_eq(json_string_value(json_object_get(r, "last_result")), "status 503");
	json_decref(st);
	/* not_ready, then failing differently: the reason follows the latest failure. */
	feed(ab, BACKEND_CHECK_READINESS, 0, "status 503", 0.001);
	feed(ab, BACKEND_CHECK_READINESS, 0, "status 503", 0.001);
	cr_assert_eq(atomic_load(&ab->st->state), BACKEND_NOT_READY);
	feed(ab, BACKEND_CHECK_READINESS, 0, "connect refused", 0.001);
	st = status_doc();
	cr_expect_str_eq(reason_of(st, 1, 0), "readiness: connect refused");
	cr_expect_str_eq(
		json_string_value(json_object_get(check_of(st, 1, "readiness"), "last_result")),
		"connect refused");
	json_decref(st);
	/* And back: the old failure does not stay once it is ready again. */
	feed(ab, BACKEND_CHECK_READINESS, 1, NULL, 0.001);
	feed(ab, BACKEND_CHECK_READINESS, 1, NULL, 0.001);
	feed(ab, BACKEND_CHECK_READINESS, 1, NULL, 0.001);
	cr_assert_eq(atomic_load(&ab->st->state), BACKEND_READY);
	st = status_doc();
	cr_expect_str_eq(reason_of(st, 1, 0), "readiness check passed");
	json_decref(st);

	/* The same last runs in /metrics, which promtool accepts. */
	char *m = metrics_checked();
	static const char *const want[] = {
		"# TYPE anylb_backend_check_last_ok gauge\n",
		"anylb_backend_check_last_ok{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"readiness\"} 1\n",
		"anylb_backend_check_last_ok{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"liveness\"} 1\n",
		"anylb_backend_check_last_duration_seconds{service=\"api\",backend=\"127.0.0.1:"
		"9101\",check=\"readiness\"} 0.001000\n",
		"anylb_backend_check_last_run_timestamp_seconds{service=\"api\",backend="
		"\"127.0.0.1:9101\",check=\"readiness\"} ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(m, want[i]) != NULL, "missing: %s", want[i]);
	cr_expect(strstr(m, "anylb_backend_check_last_ok{service=\"web\"") == NULL,
		"web has no checks");
	free(m);
}

Test(admin_server, metrics_pass_promtool_and_carry_the_values)
{
	fx_start();
	struct lb_service *web = &fx.rt->services[0];
	struct lb_backend *b = &web->backends[0];
	atomic_store(&web->st->results[LB_RESULT_TIMEOUT], 4);
	atomic_store(&web->st->retries, 3);
	atomic_store(&b->st->active, 2);
	atomic_store(&b->st->bytes_in, 100);
	atomic_store(&b->st->bytes_out, 200);
	atomic_store(&b->st->connect_hist[0], 5);
	atomic_store(&b->st->connect_hist[3], 2);
	atomic_store(&b->st->connect_hist[LB_CONNECT_BUCKETS - 1], 1);
	atomic_store(&b->st->connect_sum_us, 1500000);
	atomic_store(&fx.rt->services[1].backends[0].st->checks[0].ok, 9);
	atomic_store(&fx.rt->services[1].backends[0].st->checks[0].failed, 1);
	atomic_store(&fx.rt->services[1].backends[0].st->checks[0].duration_sum_us, 2000000);
	atomic_store(&fx.rt->services[1].backends[0].st->checks[0].duration_hist[9], 4);
	atomic_store(&fx.rt->services[1].backends[0].st->checks[0].duration_hist[10], 6);
	atomic_store(&fx.rt->services[0].st->duration_hist[3], 5);
	atomic_store(&fx.rt->services[0].st->duration_sum_us, 2500000);
	atomic_store(&b->st->state_changes, 3);

	char *m = metrics_checked();
	static const char *const want[] = {
		"anylb_up 1\n",
		"anylb_sessions_total{service=\"web\",result=\"timeout\"} 4\n",
		"anylb_sessions_total{service=\"web\",result=\"done\"} 0\n",
		"anylb_sessions_active{service=\"web\"} 0\n",
		"anylb_backend_sessions_active{service=\"web\",backend=\"127.0.0.1:9001\"} 2\n",
		"anylb_backend_bytes_total{service=\"web\",backend=\"127.0.0.1:9001\",direction="
		"\"in\"} 100\n",
		"anylb_backend_bytes_total{service=\"web\",backend=\"127.0.0.1:9001\",direction="
		"\"out\"} 200\n",
		"anylb_backend_connect_seconds_bucket{service=\"web\",backend=\"127.0.0.1:9001\","
		"le=\"0.0005\"} 5\n",
		"anylb_backend_connect_seconds_bucket{service=\"web\",backend=\"127.0.0.1:9001\","
		"le=\"0.0025\"} 5\n",
		"anylb_backend_connect_seconds_bucket{service=\"web\",backend=\"127.0.0.1:9001\","
		"le=\"0.005\"} 7\n",
		"anylb_backend_connect_seconds_bucket{service=\"web\",backend=\"127.0.0.1:9001\","
		"le=\"1\"} 7\n",
		"anylb_backend_connect_seconds_bucket{service=\"web\",backend=\"127.0.0.1:9001\","
		"le=\"+Inf\"} 8\n",
		"anylb_backend_connect_seconds_sum{service=\"web\",backend=\"127.0.0.1:9001\"} "
		"1.500000\n",
		"anylb_backend_connect_seconds_count{service=\"web\",backend=\"127.0.0.1:9001\"} "
		"8\n",
		"anylb_backend_state{service=\"web\",backend=\"[::1]:9002\",state=\"ready\"} 1\n",
		"anylb_backend_state{service=\"web\",backend=\"[::1]:9002\",state=\"draining\"} "
		"0\n",
		"anylb_check_total{service=\"api\",backend=\"127.0.0.1:9101\",check=\"liveness\","
		"result=\"ok\"} 9\n",
		"anylb_check_total{service=\"api\",backend=\"127.0.0.1:9101\",check=\"liveness\","
		"result=\"failed\"} 1\n",
		"anylb_check_duration_seconds_sum{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"liveness\"} 2.000000\n",
		"anylb_check_duration_seconds_count{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"liveness\"} 10\n",
		"anylb_backend_ejections_total{service=\"web\",backend=\"127.0.0.1:9001\"} 0\n",
		"anylb_service_retries_total{service=\"web\"} 3\n",
		"anylb_service_redundancy{service=\"web\"} 2\n",
		"anylb_service_redundancy{service=\"api\"} 0\n",
		"anylb_accept_pauses_total 0\n",
		"anylb_reloads_total{result=\"ok\"} 0\n",
		"anylb_reloads_total{result=\"failed\"} 0\n",
		"# TYPE anylb_backend_connect_seconds histogram\n",
		"# TYPE anylb_check_duration_seconds histogram\n",
		"anylb_check_duration_seconds_bucket{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"liveness\",le=\"0.5\"} 4\n",
		"anylb_check_duration_seconds_bucket{service=\"api\",backend=\"127.0.0.1:9101\","
		"check=\"liveness\",le=\"+Inf\"} 10\n",
		"# TYPE anylb_session_duration_seconds histogram\n",
		"anylb_session_duration_seconds_bucket{service=\"web\",le=\"0.5\"} 0\n",
		"anylb_session_duration_seconds_bucket{service=\"web\",le=\"1\"} 5\n",
		"anylb_session_duration_seconds_sum{service=\"web\"} 2.500000\n",
		"anylb_session_duration_seconds_count{service=\"web\"} 5\n",
		"anylb_backend_state_changes_total{service=\"web\",backend=\"127.0.0.1:9001\"} 3\n",
		"anylb_backend_state_last_change_timestamp_seconds{service=\"web\",backend=",
		"anylb_listener_accepted_total{service=\"web\",listener=",
		"anylb_listener_refused_total{service=\"web\",listener=",
		"anylb_process_max_connections ",
		"process_cpu_seconds_total ",
		"process_resident_memory_bytes ",
		"process_virtual_memory_bytes ",
		"process_start_time_seconds ",
		"process_open_fds ",
		"process_max_fds ",
		"# TYPE anylb_anycast_announced gauge\n",
		"# TYPE anylb_anycast_flaps_total counter\n",
		"anylb_open_fds ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(m, want[i]) != NULL, "missing: %s", want[i]);
	cr_expect(strstr(m, "check=\"readiness\",result") != NULL);
	cr_expect(strstr(m, "service=\"web\",backend=\"127.0.0.1:9001\",check=") == NULL,
		"web has no checks: no check samples");
	free(m);
}

Test(admin_server, metrics_open_fds_counts_this_process)
{
	int before = metrics_open_fds();
	int fds[3];
	cr_assert_eq(pipe(fds), 0);
	fds[2] = dup(fds[0]);
	cr_expect_eq(metrics_open_fds(), before + 3);
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	cr_expect_eq(metrics_open_fds(), before);
}

/* ---- writes ---- */

Test(admin_server, drain_and_enable_over_the_unix_socket)
{
	fx_start();
	struct sc_http_resp r =
		get(fx.unix_where, "POST", "/services/web/backends/127.0.0.1:9001/drain", NULL);
	cr_expect_eq(r.status, 200, "%s", r.body);
	json_t *j = body_json(&r);
	cr_expect(json_is_true(json_object_get(j, "ok")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "state")), "draining");
	cr_expect(strstr(json_string_value(json_object_get(j, "message")), "is draining") != NULL);
	json_decref(j);
	sc_http_free(&r);
	cr_expect_eq(atomic_load(&fx.rt->services[0].backends[0].st->state), BACKEND_DRAINING);
	json_t *st = status_doc();
	cr_expect_str_eq(backend_state(st, "web", "127.0.0.1:9001"), "draining");
	cr_expect_str_eq(backend_state(st, "web", "[::1]:9002"), "ready");
	json_decref(st);

	/* Again: it says so. Then enable, with the address URL-encoded. */
	r = get(fx.unix_where, "POST", "/services/web/backends/127.0.0.1:9001/drain", NULL);
	cr_expect(strstr(r.body, "already draining") != NULL, "%s", r.body);
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/web/backends/127.0.0.1%3A9001/enable", NULL);
	cr_expect_eq(r.status, 200, "%s", r.body);
	cr_expect(strstr(r.body, "enabled again") != NULL, "%s", r.body);
	sc_http_free(&r);
	st = status_doc();
	cr_expect_str_eq(backend_state(st, "web", "127.0.0.1:9001"), "ready");
	json_decref(st);

	/* IPv6, encoded and not, and in another spelling of the same address. */
	static const char *const v6[] = {
		"%5B%3A%3A1%5D%3A9002", "[::1]:9002", "%5B0%3A0%3A%3A1%5D%3A9002"};
	for (size_t i = 0; i < 3; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/services/web/backends/%s/drain", v6[i]);
		r = get(fx.unix_where, "POST", path, NULL);
		cr_expect_eq(r.status, 200, "%s: %s", v6[i], r.body);
		sc_http_free(&r);
		cr_expect_eq(
			atomic_load(&fx.rt->services[0].backends[1].st->state), BACKEND_DRAINING);
		snprintf(path, sizeof(path), "/services/web/backends/%s/enable", v6[i]);
		r = get(fx.unix_where, "POST", path, NULL);
		cr_expect_eq(r.status, 200, "%s: %s", v6[i], r.body);
		sc_http_free(&r);
	}

	r = get(fx.unix_where, "POST", "/services/nope/backends/127.0.0.1:9001/drain", NULL);
	expect_error(&r, 404, "no service named 'nope'");
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/web/backends/127.0.0.1:9999/drain", NULL);
	expect_error(&r, 404, "has no backend '127.0.0.1:9999'");
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/web/backends/127.0.0.1:9001/kill", NULL);
	expect_error(&r, 404, NULL);
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/web/backends/%zz/drain", NULL);
	expect_error(&r, 400, "escape");
	sc_http_free(&r);
}

Test(admin_server, anycast_and_reload)
{
	fx_start();
	struct sc_http_resp r = get(fx.unix_where, "POST", "/services/web/withdraw", NULL);
	expect_error(&r, 404, "has no anycast section");
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/web/announce", NULL);
	expect_error(&r, 404, "has no anycast section");
	sc_http_free(&r);
	r = get(fx.unix_where, "POST", "/services/nope/withdraw", NULL);
	expect_error(&r, 404, "no service");
	sc_http_free(&r);

	r = get(fx.unix_where, "POST", "/reload", NULL);
	cr_expect_eq(r.status, 200, "%s", r.body);
	cr_expect(strstr(r.body, "reloaded: 2 services") != NULL, "%s", r.body);
	sc_http_free(&r);
	fx.reload_rc = -EINVAL;
	r = get(fx.unix_where, "POST", "/reload", NULL);
	expect_error(&r, 422, "t.yaml:3:5: unknown key");
	sc_http_free(&r);
	cr_expect_eq(fx.reload_calls, 2);
	fx_stop();

	/* No hook: 501. */
	fx_paths();
	cr_assert_eq(fx_try(base_config(), 0), 0);
	r = get(fx.unix_where, "POST", "/reload", NULL);
	expect_error(&r, 501, "reload is not available here");
	sc_http_free(&r);
}

Test(admin_server, tcp_reads_are_open_writes_need_the_token)
{
	char v[96];

	fx_start();
	struct sc_http_resp r = get(fx.tcp, "GET", "/status", NULL);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);
	r = get(fx.tcp, "GET", "/metrics", NULL);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);

	const char *drain = "/services/web/backends/127.0.0.1:9001/drain";
	r = get(fx.tcp, "POST", drain, NULL);
	expect_error(&r, 401, "Authorization: Bearer");
	cr_expect_not_null(sc_http_header(&r, "WWW-Authenticate", v, sizeof(v)));
	sc_http_free(&r);
	r = get(fx.tcp, "POST", drain, "wrong");
	expect_error(&r, 401, "invalid bearer token");
	sc_http_free(&r);
	r = get(fx.tcp, "POST", drain, TOKEN "x");
	expect_error(&r, 401, NULL);
	sc_http_free(&r);
	r = get(fx.tcp, "POST", drain, "s3cr3t");
	expect_error(&r, 401, NULL);
	sc_http_free(&r);
	r = get(fx.tcp, "POST", "/reload", NULL);
	expect_error(&r, 401, NULL);
	sc_http_free(&r);
	cr_expect_eq(fx.reload_calls, 0, "no reload without the token");
	r = get(fx.tcp, "POST", "/services/nope/withdraw", NULL);
	expect_error(&r, 401, NULL); /* the token first: names are not probed without it */
	sc_http_free(&r);
	/* Another scheme. */
	static const char basic[] =
		"POST /reload HTTP/1.1\r\nAuthorization: Basic " TOKEN "\r\n\r\n";
	cr_assert_eq(sc_http_raw(fx.tcp, basic, sizeof(basic) - 1, 5000, &r), 0);
	expect_error(&r, 401, NULL);
	sc_http_free(&r);
	cr_expect_eq(atomic_load(&fx.rt->services[0].backends[0].st->state), BACKEND_READY);

	r = get(fx.tcp, "POST", drain, TOKEN);
	cr_expect_eq(r.status, 200, "%s", r.body);
	sc_http_free(&r);
	cr_expect_eq(atomic_load(&fx.rt->services[0].backends[0].st->state), BACKEND_DRAINING);
	/* The scheme is case-insensitive. */
	static const char lower[] = "POST /services/web/backends/127.0.0.1:9001/enable "
				    "HTTP/1.1\r\nauthorization: bearer " TOKEN "\r\n\r\n";
	cr_assert_eq(sc_http_raw(fx.tcp, lower, sizeof(lower) - 1, 5000, &r), 0);
	cr_expect_eq(r.status, 200, "%s", r.body);
	sc_http_free(&r);
	cr_expect_eq(atomic_load(&fx.rt->services[0].backends[0].st->state), BACKEND_READY);
}

/* ---- hostile clients ---- */

static int raw_status(const char *req, size_t len)
{
	struct sc_http_resp r;
	int rc = sc_http_raw(fx.unix_where, req, len, 5000, &r);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	int st = r.status;
	if (st >= 400) {
		json_t *j = body_json(&r);
		cr_expect(json_is_string(json_object_get(j, "error")), "%s", r.body);
		json_decref(j);
	}
	sc_http_free(&r);
	return st;
}

Test(admin_server, malformed_and_oversized_requests)
{
	fx_start();
	static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
	cr_expect_eq(raw_status(garbage, sizeof(garbage) - 1), 400);
	cr_expect_eq(raw_status("GET /status\r\n\r\n", 15), 400);
	cr_expect_eq(raw_status("GET /status HTTP/2.0\r\n\r\n", 24), 505);
	static const char chunked[] = "POST /reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\r\nhello\r\n0\r\n\r\n";
	cr_expect_eq(raw_status(chunked, sizeof(chunked) - 1), 411);
	static const char big_body[] = "POST /reload HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
	cr_expect_eq(raw_status(big_body, sizeof(big_body) - 1), 413);

	size_t n = 20000;
	char *req = malloc(n + 64);
	cr_assert_not_null(req);
	int off = sprintf(req, "GET /");
	memset(req + off, 'a', n);
	strcpy(req + off + n, " HTTP/1.1\r\n\r\n");
	cr_expect_eq(raw_status(req, strlen(req)), 414);
	off = sprintf(req, "GET / HTTP/1.1\r\nX: ");
	memset(req + off, 'b', n);
	strcpy(req + off + n, "\r\n\r\n");
	cr_expect_eq(raw_status(req, strlen(req)), 431);
	free(req);

	/* A body the client keeps sending after the 413: the answer still arrives whole. */
	size_t flood = 2 << 20;
	char *f = malloc(flood);
	cr_assert_not_null(f);
	memset(f, 'z', flood);
	memcpy(f, big_body, sizeof(big_body) - 1);
	struct sc_http_resp r;
	cr_assert_eq(sc_http_raw(fx.unix_where, f, flood, 10000, &r), 0);
	cr_expect_eq(r.status, 413);
	sc_http_free(&r);
	free(f);

	struct sc_http_resp ok = get(fx.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(ok.status, 200, "still serving");
	sc_http_free(&ok);
}

Test(admin_server, a_slow_client_is_cut_and_others_are_served_meanwhile, .timeout = 30)
{
	fx_start();
	int fd = sc_admin_connect(fx.unix_where, 2000);
	cr_assert_geq(fd, 0);
	int64_t t0 = sc_now_ms();
	cr_assert_eq(sc_send_all(fd, "GET /status HTTP/1.1\r\n", 22, 1000), 0);
	/* A byte a second keeps it busy, never complete. */
	for (int i = 0; i < 3; i++) {
		sc_sleep_ms(1000);
		cr_assert_eq(sc_send_all(fd, "X", 1, 1000), 0);
		struct sc_http_resp r = get(fx.unix_where, "GET", "/healthz", NULL);
		cr_expect_eq(r.status, 200);
		sc_http_free(&r);
	}
	uint64_t junk = 0;
	int rc = sc_wait_close(fd, 8000, &junk);
	int64_t took = sc_now_ms() - t0;
	cr_expect(rc == 0 || rc == -ECONNRESET, "not cut: %s", strerror(-rc));
	cr_expect_eq(junk, 0, "no answer to half a request");
	cr_expect(
		took >= 4500 && took <= 7000, "cut after %lld ms, want about 5 s", (long long)took);
	close(fd);
}

/* Opens n connections to where that send nothing (each held by the server once accepted). */
static void hold(const char *where, int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = sc_admin_connect(where, 2000);
		cr_assert_geq(fds[i], 0, "connection %d: %s", i, strerror(-fds[i]));
	}
	sc_sleep_ms(200); /* let the server accept them */
}

Test(admin_server, each_listener_has_its_own_connection_cap, .timeout = 30)
{
	int ufds[16], tfds[64];

	fx_start();
	/* 64 idle TCP clients fill the TCP listener: the unix socket is not starved. */
	hold(fx.tcp, tfds, 64);
	struct sc_http_resp r;
	cr_assert_eq(sc_http(fx.unix_where, "GET", "/status", NULL, 1500, &r), 0,
		"the unix socket answers while TCP is full");
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);

	/* 16 idle unix clients fill the unix listener: the 17th waits in the kernel's queue. */
	hold(fx.unix_where, ufds, 16);
	int extra = sc_admin_connect(fx.unix_where, 2000);
	cr_assert_geq(extra, 0);
	static const char req[] = "GET /healthz HTTP/1.1\r\n\r\n";
	cr_assert_eq(sc_send_all(extra, req, sizeof(req) - 1, 1000), 0);
	cr_expect_eq(sc_http_read(extra, 500, &r), -ETIMEDOUT, "answered beyond the cap");
	/* One slot frees: the queued client is served. */
	close(ufds[0]);
	cr_assert_eq(sc_http_read(extra, 3000, &r), 0);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);
	close(extra);
	for (int i = 1; i < 16; i++)
		close(ufds[i]);
	for (int i = 0; i < 64; i++)
		close(tfds[i]);
	r = get(fx.tcp, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);
}

Test(admin_server, require_token_all_closes_reads_over_tcp)
{
	fx_paths();
	char *y = NULL;
	const char *base = base_config(), *at = strstr(base, "    token_file:");
	cr_assert_not_null(at);
	cr_assert_geq(
		asprintf(&y, "%.*s    require_token: all\n%s", (int)(at - base), base, at), 0);
	cr_assert_eq(fx_try(y, 1), 0);
	free(y);

	struct sc_http_resp r = get(fx.tcp, "GET", "/status", NULL);
	expect_error(&r, 401, "require_token: all");
	sc_http_free(&r);
	r = get(fx.tcp, "GET", "/metrics", "wrong");
	expect_error(&r, 401, "invalid bearer token");
	sc_http_free(&r);
	r = get(fx.tcp, "GET", "/status", TOKEN);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);
	r = get(fx.tcp, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200, "probes need no token");
	sc_http_free(&r);
	r = get(fx.unix_where, "GET", "/status", NULL);
	cr_expect_eq(r.status, 200, "the unix socket needs none");
	sc_http_free(&r);
}

Test(admin_server, byte_by_byte_request_is_served)
{
	fx_start();
	int fd = sc_admin_connect(fx.unix_where, 2000);
	cr_assert_geq(fd, 0);
	static const char req[] = "POST /services/web/backends/127.0.0.1:9003/drain HTTP/1.1\r\n"
				  "Host: x\r\nContent-Length: 2\r\n\r\n{}";
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		cr_assert_eq(sc_send_all(fd, req + i, 1, 1000), 0);
		if (i % 16 == 0)
			sc_sleep_ms(1);
	}
	struct sc_http_resp r;
	cr_assert_eq(sc_http_read(fd, 5000, &r), 0);
	cr_expect_eq(r.status, 200, "%s", r.body);
	sc_http_free(&r);
	close(fd);
	cr_expect_eq(atomic_load(&fx.rt->services[0].backends[2].st->state), BACKEND_DRAINING);
}

Test(admin_server, redundancy_follows_backend_states)
{
	fx_start();
	struct lb_service *web = &fx.rt->services[0];
	struct redundancy_report rep;

	/* a: 100, b: 100, zoneless: 50; 120 sessions: N+1 (250 - 100 = 150 >= 120). */
	atomic_store(&web->st->active, 120);
	cr_assert_eq(status_redundancy(web, &rep), 0);
	cr_expect_eq(rep.k, 1);
	backend_set_draining(&web->backends[1], 1, "test", 0);
	cr_assert_eq(status_redundancy(web, &rep), 0);
	cr_expect_eq(rep.k, 0, "150 left, losing a leaves 50 < 120");
	cr_expect_eq(rep.capacity, 150);
	json_t *st = status_doc();
	json_t *red =
		json_object_get(json_array_get(json_object_get(st, "services"), 0), "redundancy");
	cr_expect_str_eq(json_string_value(json_object_get(red, "text")), "N+0");
	json_decref(st);
	atomic_store(&web->st->active, 0);
}

/* Starts the server on a service of n backends, with the TCP listener: a large status page. */
static void fx_start_big(int n)
{
	size_t cap = 200 * (size_t)n + 4096, o = 0;
	char *yaml = malloc(cap);
	cr_assert_not_null(yaml);
	fx_paths();
	o += (size_t)snprintf(yaml + o, cap - o,
		"global:\n  admin:\n    socket: %s\n    listen: \"%s\"\n    token_file: %s\n"
		"services:\n  - name: big\n    listen: 127.0.0.1:1\n    backends:\n",
		fx.sock, fx.tcp, fx.token_path);
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(yaml + o, cap - o,
			"      - {address: \"10.%d.%d.1:8080\", zone: zone-%d}\n", i / 250, i % 250,
			i % 7);
	cr_assert_eq(fx_try(yaml, 1), 0);
	free(yaml);
}

Test(admin_server, slow_tcp_readers_pin_a_bounded_amount, .timeout = 90)
{
	enum { N = 60 };
	int fds[N], ok = 0, busy = 0;

	fx_start_big(3000);
	struct sc_http_resp r = get(fx.unix_where, "GET", "/metrics", NULL);
	size_t page = r.content_length, kernel = 4u << 20; /* net.ipv4.tcp_wmem's maximum */
	sc_http_free(&r);
	cr_assert_gt(page, kernel + (1u << 20), "a page larger than a socket takes: %zu", page);
	/*
	 * N clients ask for the page and read nothing of it, with small receive buffers: of
	 * each answer, the kernel takes at most `kernel` bytes and anylb holds the rest.
	 */
	static const char req[] = "GET /metrics HTTP/1.1\r\n\r\n";
	struct sockaddr_storage ss;
	socklen_t sslen;
	cr_assert_eq(sc_addr_parse(fx.tcp, &ss, &sslen), 0);
	for (int i = 0; i < N; i++) {
		int small = 4096;
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(fds[i], 0);
		cr_assert_eq(setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&ss, sslen), 0);
		cr_assert_eq(sc_send_all(fds[i], req, sizeof(req) - 1, 1000), 0);
	}
	for (int i = 0; i < N; i++) {
		char head[13] = {0};
		cr_assert_eq(sc_recv_exact(fds[i], head, 12, 20000), 0, "client %d: no answer", i);
		ok += strcmp(head, "HTTP/1.1 200") == 0;
		busy += strcmp(head, "HTTP/1.1 503") == 0;
	}
	fprintf(stderr,
		"admin: %d TCP clients not reading a %zu-byte page: %d answered, %d got 503\n", N,
		page, ok, busy);
	cr_expect_eq(ok + busy, N);
	cr_expect_geq(ok, 1, "one answer is always given");
	cr_expect_gt(busy, 0, "%d answers of %zu bytes held at once", ok, page);
	/* At most the 64 MiB budget and one answer held by anylb. */
	cr_expect_leq((size_t)(ok - 1) * (page - kernel), (size_t)(64u << 20),
		"%d answers of %zu bytes held at once", ok, page);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* Once they are gone, a reader gets the whole page again. */
	sc_sleep_ms(200);
	r = get(fx.tcp, "GET", "/metrics", NULL);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.body_len, r.content_length);
	sc_http_free(&r);
}

Test(admin_server, a_trickling_reader_is_cut_at_the_answer_deadline, .timeout = 90)
{
	fx_start_big(6000);
	int fd = sc_admin_connect(fx.unix_where, 2000);
	cr_assert_geq(fd, 0);
	static const char req[] = "GET /status HTTP/1.1\r\n\r\n";
	cr_assert_eq(sc_send_all(fd, req, sizeof(req) - 1, 1000), 0);
	int64_t t0 = sc_now_ms(), took = -1;
	size_t got = 0;
	static char buf[16384];
	/* 16 KiB every half second: always some progress, never the whole page in time. */
	while (sc_now_ms() - t0 < 60000) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			took = sc_now_ms() - t0;
			break;
		}
		if (n > 0)
			got += (size_t)n;
		sc_sleep_ms(500);
	}
	close(fd);
	cr_expect(took >= 28000 && took <= 40000, "cut after %lld ms, want about 30 s",
		(long long)took);
	cr_expect_gt(got, 64 * 1024, "it read %zu bytes: it made progress", got);
}

Test(admin_server, a_client_that_stops_reading_is_cut, .timeout = 40)
{
	/* 3000 backends: a status page far larger than the socket buffers. */
	size_t cap = 200 * 3000 + 4096, o = 0;
	char *yaml = malloc(cap);
	cr_assert_not_null(yaml);
	fx_paths();
	o += (size_t)snprintf(yaml + o, cap - o,
		"global:\n  admin:\n    socket: %s\nservices:\n  - name: big\n"
		"    listen: 127.0.0.1:1\n    backends:\n",
		fx.sock);
	for (int i = 0; i < 3000; i++)
		o += (size_t)snprintf(yaml + o, cap - o,
			"      - {address: \"10.%d.%d.1:8080\", zone: zone-%d}\n", i / 250, i % 250,
			i % 7);
	cr_assert_eq(fx_try(yaml, 1), 0);
	free(yaml);

	int fd = sc_admin_connect(fx.unix_where, 2000);
	cr_assert_geq(fd, 0);
	static const char req[] = "GET /status HTTP/1.1\r\n\r\n";
	cr_assert_eq(sc_send_all(fd, req, sizeof(req) - 1, 1000), 0);
	int64_t t0 = sc_now_ms();
	/* Others are served while it sits there. */
	sc_sleep_ms(2000);
	struct sc_http_resp r = get(fx.unix_where, "GET", "/healthz", NULL);
	cr_expect_eq(r.status, 200);
	sc_http_free(&r);
	/* Not reading for 10 s: cut. Then what arrived is short of the whole answer. */
	sc_sleep_ms(10500);
	cr_assert_eq(sc_http_read(fd, 5000, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_lt(r.body_len, r.content_length, "got it all (%zu of %zu) without reading",
		r.body_len, r.content_length);
	cr_expect_gt(r.content_length, 1 << 20, "the page is %zu bytes", r.content_length);
	cr_expect_lt(sc_now_ms() - t0, 20000);
	sc_http_free(&r);
	close(fd);

	/* A client that reads gets all of it. */
	r = get(fx.unix_where, "GET", "/status", NULL);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.body_len, r.content_length);
	sc_http_free(&r);
}
