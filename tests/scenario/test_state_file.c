/*
 * DOC: scenario: a cold restart with global.state_file
 *
 * The real binary, two HELLO backends (each names itself, then echoes) behind a service with
 * a liveness check and an anycast section in bird_protocol mode (no TUN interface, no BIRD:
 * the override is the announcer's all the same), the admin socket and the state file in a temp
 * directory. What is checked: a drain and a withdraw override are in the file as soon as they
 * are made, survive a SIGKILL (no new session goes to the drained backend after the restart)
 * and a SIGTERM, and an enable and an `auto` are written too; a site drained with the ladder
 * (`drain-site`) comes back from a SIGKILL withdrawn, still serving, until `undrain-site`; a young
 * saved verdict is the starting state and the checks then confirm or correct it, a stale one is not
 * restored while its drain is; records of a service or backend no longer configured are dropped
 * from the next write; truncated, garbage, foreign-version, empty and directory state files are
 * logged in one line and ignored, anylb serves, and its first write replaces them. No sleep: waits
 * are on the log, the admin answers and the file, each with a deadline.
 */
#include "lib/hash.h"
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(state_file, .fini = fini, .timeout = 60);

struct rig {
	const char *dir;
	char sock[200], where[210], state[220], bird[220];
	char listen[SC_ADDRSTRLEN];
	struct sc_backend *a, *b;
	struct sc_lb *lb;
};

static void rig_init(struct rig *r)
{
	struct sc_backend_opts oa = {.id = "A"}, ob = {.id = "B"};

	memset(r, 0, sizeof(*r));
	r->dir = sc_admin_temp_dir();
	cr_assert_not_null(r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", r->dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	snprintf(r->state, sizeof(r->state), "%s/state", r->dir);
	snprintf(r->bird, sizeof(r->bird), "%s/no-bird.ctl", r->dir);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	r->a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &oa);
	r->b = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &ob);
	cr_assert(r->a != NULL && r->b != NULL);
}

/* Waits until the admin socket answers /healthz. */
static void wait_admin(struct rig *r)
{
	int64_t deadline = sc_now_ms() + 5000;
	struct sc_http_resp h;

	for (;;) {
		int rc = sc_http(r->where, "GET", "/healthz", NULL, 1000, &h);
		int ok = rc == 0 && h.status == 200;
		sc_http_free(&h);
		if (ok)
			return;
		if (sc_now_ms() > deadline) {
			sc_lb_dump_log(r->lb);
			cr_assert_fail("the admin socket %s never answered", r->sock);
		}
		sc_sleep_ms(20);
	}
}

/* Starts anylb on the rig with global.state_max_age max_age. */
static void lb_start(struct rig *r, const char *max_age)
{
	r->lb = sc_lb_start("global:\n"
			    "  workers: 1\n"
			    "  drain_timeout: 1s\n"
			    "  state_file: %s\n"
			    "  state_max_age: %s\n"
			    "  admin:\n"
			    "    socket: %s\n"
			    "bgp:\n"
			    "  announce: bird_protocol\n"
			    "  bird_socket: %s\n"
			    "  shutdown_grace: 0s\n"
			    "services:\n"
			    "  - name: web\n"
			    "    listen: [\"%s\"]\n"
			    "    anycast:\n"
			    "      prefixes: [192.0.2.78/32]\n"
			    "      bird_protocol: anylb_state_web\n"
			    "    health:\n"
			    "      liveness: {type: tcp, interval: 200ms, rise: 2, fall: 2}\n"
			    "    backends:\n"
			    "      - address: \"%s\"\n"
			    "      - address: \"%s\"\n",
		r->state, max_age, r->sock, r->bird, r->listen, sc_backend_addr(r->a),
		sc_backend_addr(r->b));
	cr_assert_not_null(r->lb, "anylb did not start");
	wait_admin(r);
}

static void lb_stop(struct rig *r)
{
	cr_expect_eq(sc_lb_stop(r->lb), 0, "anylb did not exit cleanly");
	r->lb = NULL;
}

static struct sc_http_resp req(struct rig *r, const char *method, const char *path)
{
	struct sc_http_resp h;
	int rc = sc_http(r->where, method, path, NULL, 5000, &h);

	cr_assert_eq(rc, 0, "%s %s: %s", method, path, strerror(-rc));
	cr_expect_eq(h.status, 200, "%s %s: %d %s", method, path, h.status, h.body);
	return h;
}

static void post(struct rig *r, const char *fmt, const char *arg)
{
	char path[256];

	snprintf(path, sizeof(path), fmt, arg);
	struct sc_http_resp h = req(r, "POST", path);
	sc_http_free(&h);
}

static json_t *status_doc(struct rig *r)
{
	struct sc_http_resp h = req(r, "GET", "/status");
	json_error_t e;
	json_t *j = json_loadb(h.body, h.body_len, 0, &e);

	sc_http_free(&h);
	cr_assert_not_null(j, "/status is not JSON: %s", e.text);
	return j;
}

static json_t *service_of(json_t *doc)
{
	return json_array_get(json_object_get(doc, "services"), 0);
}

static const char *backend_field(json_t *doc, const char *addr, const char *field)
{
	json_t *b;
	size_t i;

	json_array_foreach(json_object_get(service_of(doc), "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
			return json_string_value(json_object_get(b, field));
	}
	cr_assert_fail("no backend %s in /status", addr);
	return NULL;
}

/* Waits until /status shows the service's anycast override as want. */
static void wait_override(struct rig *r, const char *want)
{
	int64_t deadline = sc_now_ms() + 5000;

	for (;;) {
		json_t *doc = status_doc(r);
		const char *o = json_string_value(
			json_object_get(json_object_get(service_of(doc), "anycast"), "override"));
		int done = o != NULL && strcmp(o, want) == 0;
		json_decref(doc);
		if (done)
			return;
		cr_assert_lt(sc_now_ms(), deadline, "the override never became %s", want);
		sc_sleep_ms(20);
	}
}

/* Waits until the state file holds (want 1) or lacks (want 0) every needle. */
static void wait_file(const char *path, int want, const char *n1, const char *n2)
{
	int64_t deadline = sc_now_ms() + 5000;

	for (;;) {
		char *s = sc_read_file(path);
		int has1 = s != NULL && strstr(s, n1) != NULL;
		int has2 = s != NULL && (n2 == NULL || strstr(s, n2) != NULL);
		int done = want ? has1 && has2 : s != NULL && !has1 && (n2 == NULL || !has2);
		if (!done && sc_now_ms() > deadline)
			cr_assert_fail("state file %s: %s '%s'%s%s%s:\n%s", path,
				want ? "never held" : "still holds", n1, n2 ? " and '" : "",
				n2 ? n2 : "", n2 ? "'" : "", s != NULL ? s : "(none)");
		free(s);
		if (done)
			return;
		sc_sleep_ms(10);
	}
}

/* How many of n new sessions went to the backend that says id. */
static int count_on(struct rig *r, const char *id, int n)
{
	int hits = 0;
	char got[16];

	for (int i = 0; i < n; i++) {
		cr_assert_eq(sc_hello(NULL, r->listen, got, sizeof(got), 3000), 0);
		hits += strcmp(got, id) == 0;
	}
	return hits;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes body and its `end` line to path, as anylb would (not atomically: nothing runs). */
static void write_sealed(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "%send %016llx\n", body, (unsigned long long)hash_bytes(body, strlen(body), 0));
	fclose(f);
}

static void write_raw(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

Test(state_file, drains_and_overrides_survive_a_crash_and_a_stop)
{
	struct rig r;
	char line[256];

	rig_init(&r);
	lb_start(&r, "30s");
	cr_expect(sc_lb_log_contains(r.lb, "none yet: starting without saved state"));
	post(&r, "/services/web/backends/%s/drain", sc_backend_addr(r.a));
	post(&r, "/services/%s/withdraw", "web");
	snprintf(line, sizeof(line), "backend web %s drain 1 ", sc_backend_addr(r.a));
	wait_file(r.state, 1, line, "service web override withdraw\n");

	/* A crash: nothing gets written at exit. */
	cr_assert_eq(sc_lb_signal(r.lb, SIGKILL), 0);
	cr_assert_eq(sc_lb_wait(r.lb, 5000), 128 + SIGKILL);
	r.lb = NULL;
	lb_start(&r, "30s");
	snprintf(line, sizeof(line), "state file %s: written ", r.state);
	cr_assert_eq(sc_lb_wait_log(r.lb, 0, line, 5000, NULL), 0);
	cr_expect(sc_lb_log_contains(r.lb, "restored 1 drain, 1 override, 2 health verdicts"));
	json_t *doc = status_doc(&r);
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.a), "state"), "draining");
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.b), "state"), "ready");
	json_decref(doc);
	wait_override(&r, "withdraw");
	cr_expect_eq(count_on(&r, "B", 8), 8, "a new session went to the drained backend");

	/* A stop keeps them too, and the next start restores them again. */
	lb_stop(&r);
	lb_start(&r, "30s");
	cr_assert_eq(sc_lb_wait_log(r.lb, 0, "restored 1 drain, 1 override", 5000, NULL), 0);
	wait_override(&r, "withdraw");
	doc = status_doc(&r);
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.a), "state"), "draining");
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.a), "reason"),
		"operator drain (restored from the saved state)");
	json_decref(doc);

	/* Undoing them is written as well. */
	post(&r, "/services/web/backends/%s/enable", sc_backend_addr(r.a));
	post(&r, "/services/%s/auto", "web");
	snprintf(line, sizeof(line), "backend web %s drain 0 ", sc_backend_addr(r.a));
	wait_file(r.state, 1, line, "service web override none\n");
	cr_expect_geq(count_on(&r, "A", 8), 2, "the enabled backend gets sessions again");
	lb_stop(&r);
}

/* Waits until /status shows the service's drain ladder at step want. */
static void wait_ladder(struct rig *r, const char *want)
{
	int64_t deadline = sc_now_ms() + 5000;

	for (;;) {
		json_t *doc = status_doc(r);
		json_t *l = json_object_get(json_object_get(service_of(doc), "anycast"), "ladder");
		const char *step = json_string_value(json_object_get(l, "step"));
		int done = step != NULL && strcmp(step, want) == 0;
		json_decref(doc);
		if (done)
			return;
		cr_assert_lt(sc_now_ms(), deadline, "the ladder never reached %s", want);
		sc_sleep_ms(20);
	}
}

/* A site drained for maintenance stays out of the anycast set across a crash, until undrained. */
Test(state_file, a_drained_site_stays_drained_across_a_crash)
{
	struct rig r;

	rig_init(&r);
	lb_start(&r, "30s");
	post(&r, "/drain-site?window=%s", "0s");
	wait_ladder(&r, "done"); /* withdrawn at once, and no session is open */
	wait_file(r.state, 1, "service web override none\ndrained web\n", NULL);

	cr_assert_eq(sc_lb_signal(r.lb, SIGKILL), 0);
	cr_assert_eq(sc_lb_wait(r.lb, 5000), 128 + SIGKILL);
	r.lb = NULL;
	lb_start(&r, "30s");
	cr_assert_eq(sc_lb_wait_log(r.lb, 0,
			     "1 service drained before the stop: withdrawn again, until "
			     "undrain-site",
			     5000, NULL),
		0);
	wait_ladder(&r, "done");
	json_t *doc = status_doc(&r);
	json_t *any = json_object_get(service_of(doc), "anycast");
	cr_expect(!json_is_true(json_object_get(any, "announced")), "announced while drained");
	json_decref(doc);
	/* The next write keeps it (the restored ladder is what the announcer shows). */
	wait_file(r.state, 1, "drained web\n", NULL);
	char id[16];
	cr_expect_eq(sc_hello(NULL, r.listen, id, sizeof(id), 3000), 0, "it still serves");

	post(&r, "/undrain-site%s", "");
	wait_ladder(&r, "announced");
	wait_file(r.state, 0, "drained web\n", NULL);
	lb_stop(&r);
}

Test(state_file, young_verdicts_start_stale_ones_do_not_drains_stay)
{
	struct rig r;
	char body[2048];

	rig_init(&r);
	/* A saved as dead, B drained; a service and a backend that are no longer configured. */
	uint64_t now = wall_ms();
	snprintf(body, sizeof(body),
		"anylb-state 1\n"
		"written %llu\n"
		"service gone override withdraw\n"
		"service web override none\n"
		"backend gone 10.9.9.9:1 drain 1 state draining verdict %llu live 1/2/2 ready "
		"1/1/1\n"
		"backend web 10.9.9.8:1 drain 1 state draining verdict %llu live 1/2/2 ready "
		"1/1/1\n"
		"backend web %s drain 0 state dead verdict %llu live 0/2/2 ready 1/1/1\n"
		"backend web %s drain 1 state draining verdict %llu live 3/2/2 ready 1/1/1\n",
		(unsigned long long)now, (unsigned long long)now, (unsigned long long)now,
		sc_backend_addr(r.a), (unsigned long long)now - 1000, sc_backend_addr(r.b),
		(unsigned long long)now - 1000);
	write_sealed(r.state, body);
	lb_start(&r, "30s");
	cr_assert_eq(sc_lb_wait_log(r.lb, 0,
			     "restored 1 drain, 0 overrides, 2 health verdicts; 0 verdicts older "
			     "than state_max_age (30s) not restored; 3 records no longer "
			     "configured, dropped",
			     5000, NULL),
		0);
	/* A is dead by its saved verdict from the start, and its checks bring it back. */
	cr_expect_eq(sc_lb_wait_transition(r.lb, 0, sc_backend_addr(r.a), "web", "ready", "dead",
			     "saved verdict restored", 5000, NULL),
		0);
	cr_expect_eq(sc_lb_wait_transition(r.lb, 0, sc_backend_addr(r.a), "web", "dead", "ready",
			     "liveness passed 2 times", 5000, NULL),
		0);
	json_t *doc = status_doc(&r);
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.b), "state"), "draining");
	json_decref(doc);
	/* The next write knows only what is configured. */
	wait_file(r.state, 0, "gone", "10.9.9.8:1");
	lb_stop(&r);

	/* The same, a minute old: the verdicts are not restored, the drain is. */
	now = wall_ms() - 60000;
	snprintf(body, sizeof(body),
		"anylb-state 1\n"
		"written %llu\n"
		"service web override none\n"
		"backend web %s drain 0 state dead verdict %llu live 0/2/2 ready 1/1/1\n"
		"backend web %s drain 1 state draining verdict %llu live 3/2/2 ready 1/1/1\n",
		(unsigned long long)now, sc_backend_addr(r.a), (unsigned long long)now,
		sc_backend_addr(r.b), (unsigned long long)now);
	write_sealed(r.state, body);
	lb_start(&r, "30s");
	cr_assert_eq(sc_lb_wait_log(r.lb, 0,
			     "restored 1 drain, 0 overrides, 0 health verdicts; 2 verdicts older "
			     "than state_max_age (30s) not restored",
			     5000, NULL),
		0);
	doc = status_doc(&r);
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.b), "state"), "draining");
	cr_expect_str_eq(backend_field(doc, sc_backend_addr(r.a), "state"), "ready",
		"not dead: the stale verdict was not restored");
	json_decref(doc);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "saved verdict restored"), 0);
	cr_expect_eq(count_on(&r, "A", 4), 4);
	lb_stop(&r);
}

Test(state_file, bad_files_are_ignored_with_one_line_and_anylb_serves)
{
	struct rig r;
	char line[512], good[1024];
	const char *body = "anylb-state 1\n"
			   "written 1700000000000\n"
			   "service web override withdraw\n";

	rig_init(&r);
	snprintf(good, sizeof(good), "%send %016llx\n", body,
		(unsigned long long)hash_bytes(body, strlen(body), 0));
	struct {
		const char *data;
		size_t len;
		const char *why;
	} cases[] = {
		{good, strlen(good) - 5, "ignored: line 4: truncated: the last line has no end"},
		{good, strlen(body), "ignored: truncated: no 'end' line"},
		{"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "ignored: line 1: not an anylb state file"},
		{"anylb-state 8\nwritten 1\n", 24,
			"ignored: line 1: version 8: this anylb reads versions 1 to 7"},
		{"", 0, "ignored: empty"},
		{NULL, 0, "ignored: it is a directory, not a regular file"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].data != NULL) {
			write_raw(r.state, cases[i].data, cases[i].len);
		} else {
			cr_assert_eq(unlink(r.state), 0);
			cr_assert_eq(mkdir(r.state, 0700), 0);
		}
		lb_start(&r, "30s");
		snprintf(line, sizeof(line), "state file %s: %s", r.state, cases[i].why);
		cr_expect_eq(
			sc_lb_wait_log(r.lb, 0, line, 5000, NULL), 0, "case %zu: no '%s'", i, line);
		if (cases[i].data != NULL) /* a directory also refuses the writes, with a line */
			cr_expect_eq(
				sc_lb_log_count(r.lb, 0, "state file"), 1, "case %zu: one line", i);
		char id[16];
		cr_expect_eq(sc_hello(NULL, r.listen, id, sizeof(id), 3000), 0, "case %zu", i);
		if (cases[i].data != NULL)
			/* The first write replaces it: nothing is restored from it. */
			wait_file(r.state, 1, "anylb-state 7\n", "service web override none\n");
		lb_stop(&r);
	}
	rmdir(r.state);
}

Test(state_file, help_tells_the_option)
{
	struct sc_run run;

	cr_assert_eq(sc_run_anylb(&run, 5000, "-h", NULL), 0);
	cr_expect_eq(run.status, 0);
	cr_expect(strstr(run.out, "--state-file PATH") != NULL, "%s", run.out);
	sc_run_free(&run);
}
