/*
 * DOC: scenario: runtime control without a reload (maint, ready, weight)
 *
 * Two HELLO backends A and B behind the real binary with two workers. An operator's runtime
 * weight applies at once on every worker: weight 0 sends every new session to the other
 * backend, weights 1 and 3 share round robin's sessions about 25/75; /status, /metrics and
 * `anylbctl status` show it, and the audit line says who changed what. A SIGHUP with an
 * unchanged file keeps it; a file that changes that backend's weight wins. Maintenance keeps an
 * established session echoing while new ones go elsewhere, and `ready` brings the backend back.
 * Over the TCP admin listener these writes need the token. With global.state_file, a restart
 * keeps maint and the runtime weight.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "runtime-test-token-0123456789abcdef"

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(runtime, .fini = fini, .timeout = 60);

struct rig {
	struct sc_admin_rig adm; /* the admin socket, its TCP address, token, state file */
	char listen[SC_ADDRSTRLEN];
	struct sc_backend *be[2]; /* A, B */
	unsigned weight_b;        /* B's weight in the file */
	struct sc_lb *lb;
};

static const char *const ids[] = {"A", "B"};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	cr_assert_eq(sc_admin_rig_init(&r->adm, TOKEN), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	for (int i = 0; i < 2; i++) {
		struct sc_backend_opts o = {.id = ids[i]};
		r->be[i] = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
		cr_assert_not_null(r->be[i]);
	}
	r->weight_b = 100;
}

/* The configuration: B's weight is r->weight_b. */
static char *config(const struct rig *r)
{
	char *y = NULL;
	int n = asprintf(&y,
		"global:\n"
		"  workers: 2\n"
		"  drain_timeout: 1s\n"
		"  state_file: %s\n"
		"  admin:\n"
		"    socket: %s\n"
		"    listen: \"%s\"\n"
		"    token_file: %s\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    balance: round_robin\n"
		"    backends:\n"
		"      - address: \"%s\"\n"
		"      - {address: \"%s\", weight: %u}\n",
		r->adm.state, r->adm.sock, r->adm.tcp, r->adm.token_path, r->listen,
		sc_backend_addr(r->be[0]), sc_backend_addr(r->be[1]), r->weight_b);
	cr_assert_gt(n, 0);
	return y;
}

static void lb_start(struct rig *r)
{
	char *y = config(r);
	r->lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->adm.where, 3000), 0, "the admin socket never answered");
}

static void lb_stop(struct rig *r)
{
	cr_expect_eq(sc_lb_stop(r->lb), 0, "anylb did not exit cleanly");
	r->lb = NULL;
}

/* Rewrites the file (B's weight r->weight_b), SIGHUPs and waits for generation gen. */
static void reload(struct rig *r, unsigned gen)
{
	size_t off = sc_lb_log_offset(r->lb);
	char *y = config(r), want[96];
	FILE *f = fopen(sc_lb_config_path(r->lb), "w");

	cr_assert_not_null(f);
	fputs(y, f);
	fclose(f);
	free(y);
	cr_assert_eq(sc_lb_signal(r->lb, SIGHUP), 0);
	snprintf(want, sizeof(want), "configuration reloaded (generation %u)", gen);
	cr_assert_eq(sc_lb_wait_log(r->lb, off, want, 5000, NULL), 0, "no %s", want);
}

/* POST path (printf-style) on where with token (NULL: none): the HTTP status; body in *out. */
static int post_on(const char *where, const char *token, struct sc_http_resp *out, const char *fmt,
	...) __attribute__((format(printf, 4, 5)));

static int post_on(
	const char *where, const char *token, struct sc_http_resp *out, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	int rc = sc_http(where, "POST", path, token, 5000, out);
	cr_assert_eq(rc, 0, "POST %s: %s", path, strerror(-rc));
	return out->status;
}

/* POST on the unix socket, expecting want. */
static void post(struct rig *r, int want, const char *action, int i)
{
	struct sc_http_resp h;

	cr_expect_eq(post_on(r->adm.where, NULL, &h, "/services/web/backends/%s/%s",
			     sc_backend_addr(r->be[i]), action),
		want, "%s %s: %s", action, ids[i], h.body);
	sc_http_free(&h);
}

static void set_weight(struct rig *r, int i, unsigned w)
{
	char a[32];

	snprintf(a, sizeof(a), "weight/%u", w);
	post(r, 200, a, i);
	/*
	 * The workers are told at once (WORKER_CMD_WEIGHTS) but apply it on their own loops,
	 * after the answer: a moment for them, not a poll (the timer would do it in 100 ms).
	 */
	sc_sleep_ms(50);
}

static json_t *status_doc(struct rig *r)
{
	struct sc_http_resp h;

	cr_assert_eq(sc_http(r->adm.where, "GET", "/status", NULL, 5000, &h), 0);
	cr_assert_eq(h.status, 200);
	json_t *doc = json_loads(h.body, 0, NULL);
	sc_http_free(&h);
	cr_assert_not_null(doc);
	return doc;
}

/* Backend i's object in /status (a reference inside doc). */
static json_t *backend_of(json_t *doc, const struct rig *r, int i)
{
	json_t *svcs = json_object_get(doc, "services"), *s, *b;
	size_t k, j;

	json_array_foreach(svcs, k, s)
	{
		json_array_foreach(json_object_get(s, "backends"), j, b)
		{
			if (strcmp(json_string_value(json_object_get(b, "address")),
				    sc_backend_addr(r->be[i])) == 0)
				return b;
		}
	}
	cr_assert_fail("backend %s not in /status", ids[i]);
	return NULL;
}

static const char *state_of(struct rig *r, int i, char *buf, size_t cap)
{
	json_t *doc = status_doc(r);
	snprintf(
		buf, cap, "%s", json_string_value(json_object_get(backend_of(doc, r, i), "state")));
	json_decref(doc);
	return buf;
}

/* The runtime weight /status shows for backend i, -1 when none. */
static long long runtime_weight(struct rig *r, int i)
{
	json_t *doc = status_doc(r);
	json_t *w = json_object_get(backend_of(doc, r, i), "runtime_weight");
	long long v = json_is_integer(w) ? json_integer_value(w) : -1;
	json_decref(doc);
	return v;
}

static void tally(struct rig *r, int n, int c[2])
{
	cr_assert_eq(sc_hello_tally(r->listen, n, ids, 2, c), 0);
}

Test(runtime, weights_apply_at_once_and_a_reload_keeps_them_until_the_file_changes)
{
	struct rig r;
	struct sc_run run;
	struct sc_http_resp h;
	int c[2];
	char want[256];

	rig_init(&r);
	lb_start(&r);

	/*
	 * B at weight 1 first, so that A, which the balancers count as weight 1 whatever its
	 * runtime 0, would take half of the sessions if weight 0 did not keep them away. Then
	 * weight 0 through anylbctl: every new session to B.
	 */
	set_weight(&r, 1, 1);
	size_t off = sc_lb_log_offset(r.lb);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "weight", "web",
			     sc_backend_addr(r.be[0]), "0", NULL),
		0);
	cr_expect_eq(run.status, 0, "%s%s", run.out, run.err);
	sc_run_free(&run);
	snprintf(want, sizeof(want),
		"admin: service web backend %s weight 100 -> 0 (runtime), from unix",
		sc_backend_addr(r.be[0]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 2000, NULL), 0, "no audit line '%s'", want);
	/* No wait: every pick reads the published weight 0 (backend_accepts). */
	tally(&r, 40, c);
	cr_expect_eq(c[1], 40, "weight 0 took sessions: A %d B %d", c[0], c[1]);
	char st[32];
	cr_expect_str_eq(state_of(&r, 0, st, sizeof(st)), "ready", "weight 0 is not a state");
	cr_expect_eq(runtime_weight(&r, 0), 0);

	/* 1 vs 3 over 200 round-robin sessions on two workers: about 25/75. */
	set_weight(&r, 0, 1);
	set_weight(&r, 1, 3);
	tally(&r, 200, c);
	cr_expect(c[0] >= 35 && c[0] <= 65, "weights 1:3: A %d B %d of 200", c[0], c[1]);
	cr_expect_eq(c[0] + c[1], 200);
	cr_expect_eq(runtime_weight(&r, 0), 1);
	cr_expect_eq(runtime_weight(&r, 1), 3);
	cr_assert_eq(sc_http(r.adm.where, "GET", "/metrics", NULL, 5000, &h), 0);
	snprintf(want, sizeof(want), "anylb_backend_weight{service=\"web\",backend=\"%s\"} 3\n",
		sc_backend_addr(r.be[1]));
	cr_expect(strstr(h.body, want) != NULL, "no '%s' in /metrics", want);
	sc_http_free(&h);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "runtime weight 3 (the file says 100)") != NULL, "%s", run.out);
	sc_run_free(&run);

	/* Refusals: a bad weight 400, unknown names 404, each with a JSON error. */
	cr_expect_eq(post_on(r.adm.where, NULL, &h, "/services/web/backends/%s/weight/1001",
			     sc_backend_addr(r.be[0])),
		400);
	cr_expect(strstr(h.body, "\"error\"") != NULL, "%s", h.body);
	sc_http_free(&h);
	cr_expect_eq(post_on(r.adm.where, NULL, &h, "/services/web/backends/%s/weight/-1",
			     sc_backend_addr(r.be[0])),
		400);
	sc_http_free(&h);
	cr_expect_eq(post_on(r.adm.where, NULL, &h, "/services/web/backends/%s/weight/x",
			     sc_backend_addr(r.be[0])),
		400);
	sc_http_free(&h);
	cr_expect_eq(
		post_on(r.adm.where, NULL, &h, "/services/web/backends/127.0.0.1:1/weight/5"), 404);
	cr_expect(strstr(h.body, "\"error\"") != NULL, "%s", h.body);
	sc_http_free(&h);
	cr_expect_eq(post_on(r.adm.where, NULL, &h, "/services/nope/backends/%s/maint",
			     sc_backend_addr(r.be[0])),
		404);
	cr_expect(strstr(h.body, "\"error\"") != NULL, "%s", h.body);
	sc_http_free(&h);
	cr_expect_eq(runtime_weight(&r, 0), 1, "a refused write changed the weight");

	/* Over TCP a write needs the token, exactly as drain does. */
	cr_expect_eq(post_on(r.adm.tcp, NULL, &h, "/services/web/backends/%s/weight/9",
			     sc_backend_addr(r.be[0])),
		401);
	sc_http_free(&h);
	cr_expect_eq(post_on(r.adm.tcp, "wrong-token", &h, "/services/web/backends/%s/maint",
			     sc_backend_addr(r.be[0])),
		401);
	sc_http_free(&h);
	cr_expect_eq(runtime_weight(&r, 0), 1, "a write without the token got through");
	off = sc_lb_log_offset(r.lb);
	cr_expect_eq(post_on(r.adm.tcp, TOKEN, &h, "/services/web/backends/%s/weight/1",
			     sc_backend_addr(r.be[0])),
		200, "%s", h.body);
	sc_http_free(&h);
	snprintf(want, sizeof(want),
		"admin: service web backend %s weight 1 -> 1 (runtime), from 127.0.0.1",
		sc_backend_addr(r.be[0]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 2000, NULL), 0, "no audit line '%s'", want);

	/* SIGHUP, the file unchanged: the runtime weights stay, and so does the share. */
	reload(&r, 2);
	cr_expect_eq(runtime_weight(&r, 0), 1);
	cr_expect_eq(runtime_weight(&r, 1), 3);
	sc_sleep_ms(250);
	tally(&r, 80, c);
	cr_expect(c[0] >= 10 && c[0] <= 30, "after the reload, 1:3: A %d B %d of 80", c[0], c[1]);

	/* The file changes B's weight: the file wins, and says so; A's override stays. */
	off = sc_lb_log_offset(r.lb);
	r.weight_b = 1;
	reload(&r, 3);
	snprintf(want, sizeof(want),
		"backend %s (web): reload: the file's weight changed 100 -> 1: runtime weight 3 "
		"dropped",
		sc_backend_addr(r.be[1]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 3000, NULL), 0, "no '%s'", want);
	cr_expect_eq(runtime_weight(&r, 1), -1, "the file's new weight did not win");
	cr_expect_eq(runtime_weight(&r, 0), 1);
	sc_sleep_ms(250);
	tally(&r, 40, c);
	cr_expect(c[0] >= 15 && c[0] <= 25, "1:1 from the file now: A %d B %d", c[0], c[1]);
	lb_stop(&r);
}

Test(runtime, maint_keeps_open_sessions_and_ready_brings_it_back)
{
	struct rig r;
	struct sc_run run;
	char line[16], st[32], want[256];
	int c[2];

	rig_init(&r);
	lb_start(&r);

	int keep = sc_connect(r.listen, 2000);
	cr_assert_geq(keep, 0);
	cr_assert_gt(sc_recv_line(keep, line, sizeof(line), 2000), 0);
	int m = line[0] == 'A' ? 0 : 1, other = 1 - m;
	cr_assert(line[0] == 'A' || line[0] == 'B', "%s", line);

	size_t off = sc_lb_log_offset(r.lb);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "maint", "web",
			     sc_backend_addr(r.be[m]), NULL),
		0);
	cr_expect_eq(run.status, 0, "%s%s", run.out, run.err);
	sc_run_free(&run);
	snprintf(want, sizeof(want), "admin: service web backend %s maint, from unix",
		sc_backend_addr(r.be[m]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 2000, NULL), 0, "no audit line '%s'", want);
	cr_expect_str_eq(state_of(&r, m, st, sizeof(st)), "maint");
	cr_expect_eq(sc_echo(keep, "still here\n", 2000), 0, "maint cut the open session");
	tally(&r, 20, c);
	cr_expect_eq(c[other], 20, "a new session reached the backend in maint: %d", c[m]);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "maint") != NULL, "%s", run.out);
	sc_run_free(&run);

	/* A reload keeps maint, as it keeps a drain. */
	reload(&r, 2);
	cr_expect_str_eq(state_of(&r, m, st, sizeof(st)), "maint");
	tally(&r, 10, c);
	cr_expect_eq(c[other], 10);
	cr_expect_eq(sc_echo(keep, "and after the reload\n", 2000), 0);

	/* ready: the checks (none here) decide again. */
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "ready", "web",
			     sc_backend_addr(r.be[m]), NULL),
		0);
	cr_expect_eq(run.status, 0, "%s%s", run.out, run.err);
	sc_run_free(&run);
	cr_expect_str_eq(state_of(&r, m, st, sizeof(st)), "ready");
	tally(&r, 20, c);
	cr_expect(c[m] >= 5, "ready did not bring it back: A %d B %d", c[0], c[1]);
	cr_expect_eq(sc_echo(keep, "to the end\n", 2000), 0);
	close(keep);
	lb_stop(&r);
}

/* Waits until the state file holds needle. */
static void wait_state_file(struct rig *r, const char *needle)
{
	char *last = NULL;

	if (sc_wait_file_has(r->adm.state, needle, 5000, &last) < 0)
		cr_assert_fail("the state file never said '%s':\n%s", needle,
			last != NULL ? last : "(none)");
}

Test(runtime, a_restart_with_the_state_file_keeps_maint_and_weights)
{
	struct rig r;
	char st[32], line[256];
	int c[2];

	rig_init(&r);
	lb_start(&r);
	post(&r, 200, "maint", 0);
	set_weight(&r, 1, 7);
	snprintf(line, sizeof(line), "runtime web %s maint 1 weight - file_weight 0\n",
		sc_backend_addr(r.be[0]));
	wait_state_file(&r, line);
	snprintf(line, sizeof(line), "runtime web %s maint 0 weight 7 file_weight 100\n",
		sc_backend_addr(r.be[1]));
	wait_state_file(&r, line);
	lb_stop(&r);

	lb_start(&r);
	cr_expect_eq(sc_lb_wait_log(r.lb, 0, "restored 1 maint, 1 runtime weight;", 3000, NULL), 0);
	cr_expect_str_eq(state_of(&r, 0, st, sizeof(st)), "maint");
	cr_expect_eq(runtime_weight(&r, 1), 7);
	tally(&r, 10, c);
	cr_expect_eq(c[1], 10, "the restored maint took sessions: A %d", c[0]);
	lb_stop(&r);
}
