/*
 * DOC: scenario: backends added and removed at run time (anylbctl add-backend, remove-backend)
 *
 * HELLO backends A and B in the file, C started but not in it, behind the real binary with two
 * workers. add-backend C applies at once on every worker: new sessions reach it, /status and
 * `anylbctl status` say it was added at run time, and a SIGHUP with an unchanged file keeps it.
 * remove-backend on the backend of an established session keeps that session echoing while new
 * sessions never reach the backend, which is gone from /status. Bad input is refused with the
 * status the API documents; over TCP a write needs the token. A restart with the state file and
 * a binary upgrade both keep the overlay.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN "runtime-backends-token-0123456789abcdef"

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(runtime_backends, .fini = fini, .timeout = 60);

struct rig {
	struct sc_admin_rig adm; /* the admin socket, its TCP address, token, state file */
	char listen[SC_ADDRSTRLEN];
	struct sc_backend *be[3]; /* A, B in the file; C not */
	int only_a;               /* the file lists A alone */
	struct sc_lb *lb;
};

static const char *const ids[] = {"A", "B", "C"};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	cr_assert_eq(sc_admin_rig_init(&r->adm, TOKEN), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	for (int i = 0; i < 3; i++) {
		struct sc_backend_opts o = {.id = ids[i]};
		r->be[i] = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
		cr_assert_not_null(r->be[i]);
	}
}

static char *config(const struct rig *r)
{
	char *y = NULL;
	int n = asprintf(&y,
		"global:\n"
		"  workers: 2\n"
		"  drain_timeout: 5s\n"
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
		"%s%s%s",
		r->adm.state, r->adm.sock, r->adm.tcp, r->adm.token_path, r->listen,
		sc_backend_addr(r->be[0]), r->only_a ? "" : "      - address: \"",
		r->only_a ? "" : sc_backend_addr(r->be[1]), r->only_a ? "" : "\"\n");
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

/* SIGHUP with the file as it is; waits for generation gen. */
static void sighup(struct rig *r, unsigned gen)
{
	size_t off = sc_lb_log_offset(r->lb);
	char want[96];

	cr_assert_eq(sc_lb_signal(r->lb, SIGHUP), 0);
	snprintf(want, sizeof(want), "configuration reloaded (generation %u)", gen);
	cr_assert_eq(sc_lb_wait_log(r->lb, off, want, 5000, NULL), 0, "no %s", want);
}

/* POST path with a body (NULL: none) and token (NULL: none) on where: the HTTP status. */
static int post_raw(const char *where, const char *token, const char *path, const char *body,
	struct sc_http_resp *out)
{
	int rc = sc_http_post(where, token, path, body, 5000, out);
	cr_assert_eq(rc, 0, "POST %s: %s", path, strerror(-rc));
	return out->status;
}

static void expect_post(
	const char *where, const char *token, const char *path, const char *body, int want)
{
	struct sc_http_resp h;

	cr_expect_eq(post_raw(where, token, path, body, &h), want, "POST %s %s: %d %s", path,
		body != NULL ? body : "", h.status, h.body);
	cr_expect(strstr(h.body, want == 200 ? "\"ok\"" : "\"error\"") != NULL, "%s", h.body);
	sc_http_free(&h);
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

/* What /status says backend i was added by ("file", "runtime"), or "absent". */
static const char *added_by(struct rig *r, int i, char *buf, size_t cap)
{
	json_t *doc = status_doc(r), *s, *b;
	size_t k, j;

	snprintf(buf, cap, "absent");
	json_array_foreach(json_object_get(doc, "services"), k, s)
	{
		json_array_foreach(json_object_get(s, "backends"), j, b)
		{
			if (strcmp(json_string_value(json_object_get(b, "address")),
				    sc_backend_addr(r->be[i])) == 0)
				snprintf(buf, cap, "%s",
					json_string_value(json_object_get(b, "added")));
		}
	}
	json_decref(doc);
	return buf;
}

/* Waits (3 s at most) until backend i is gone from /status: a removed one goes with its last
 * session, which the client may have closed a moment before anylb saw it. */
static void wait_absent(struct rig *r, int i)
{
	char by[32];
	int64_t deadline = sc_now_ms() + 3000;

	while (strcmp(added_by(r, i, by, sizeof(by)), "absent") != 0 && sc_now_ms() < deadline)
		sc_sleep_ms(20);
	cr_expect_str_eq(
		by, "absent", "backend %s still shown after its last session ended", ids[i]);
}

static void tally(struct rig *r, int n, int c[3])
{
	cr_assert_eq(sc_hello_tally(r->listen, n, ids, 3, c), 0);
}

static void ctl(struct rig *r, int want, const char *cmd, const char *a1, const char *a2)
{
	struct sc_run run;

	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r->adm.sock, cmd, a1, a2, NULL), 0);
	cr_expect_eq(run.status, want, "anylbctl %s %s %s: %s%s", cmd, a1, a2, run.out, run.err);
	sc_run_free(&run);
}

Test(runtime_backends, an_added_backend_takes_sessions_and_a_reload_keeps_it)
{
	struct rig r;
	struct sc_run run;
	char want[256], by[32], body[256];
	int c[3];

	rig_init(&r);
	lb_start(&r);
	tally(&r, 20, c);
	cr_expect_eq(c[2], 0, "C is not in the file yet: %d", c[2]);

	size_t off = sc_lb_log_offset(r.lb);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "add-backend", "web",
			     sc_backend_addr(r.be[2]), "--weight", "100", "--zone", "z1", NULL),
		0);
	cr_expect_eq(run.status, 0, "%s%s", run.out, run.err);
	cr_expect(strstr(run.out, "added (runtime)") != NULL, "%s", run.out);
	sc_run_free(&run);
	snprintf(want, sizeof(want), "admin: service web backend %s added (runtime), from unix",
		sc_backend_addr(r.be[2]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 2000, NULL), 0, "no audit line '%s'", want);
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "runtime");
	cr_expect_str_eq(added_by(&r, 0, by, sizeof(by)), "file");
	/* Round robin over A, B, C on two workers: C gets about a third of 60. */
	tally(&r, 60, c);
	cr_expect(c[2] >= 12, "the added backend took too few sessions: A %d B %d C %d", c[0], c[1],
		c[2]);
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "added at run time") != NULL, "%s", run.out);
	sc_run_free(&run);

	/* Refusals: unknown service 404, a backend it has 409, a bad address or body 400. */
	snprintf(body, sizeof(body), "{\"address\":\"%s\"}", sc_backend_addr(r.be[2]));
	expect_post(r.adm.where, NULL, "/services/nope/backends", body, 404);
	expect_post(r.adm.where, NULL, "/services/web/backends", body, 409);
	snprintf(body, sizeof(body), "{\"address\":\"%s\"}", sc_backend_addr(r.be[0]));
	expect_post(r.adm.where, NULL, "/services/web/backends", body, 409);
	expect_post(r.adm.where, NULL, "/services/web/backends", "{\"address\":\"no-port\"}", 400);
	expect_post(
		r.adm.where, NULL, "/services/web/backends", "{\"address\":\"1.2.3.4:0\"}", 400);
	expect_post(r.adm.where, NULL, "/services/web/backends", "not json", 400);
	expect_post(r.adm.where, NULL, "/services/web/backends",
		"{\"address\":\"127.0.0.1:9\",\"weight\":0}", 400);
	ctl(&r, 1, "add-backend", "web", sc_backend_addr(r.be[0]));
	ctl(&r, 1, "remove-backend", "web", "127.0.0.1:9");
	ctl(&r, 2, "add-backend", "web", NULL);

	/* Over TCP a write needs the token, exactly as the other writes do. */
	expect_post(
		r.adm.tcp, NULL, "/services/web/backends", "{\"address\":\"127.0.0.1:9\"}", 401);
	expect_post(r.adm.tcp, "wrong-token", "/services/web/backends",
		"{\"address\":\"127.0.0.1:9\"}", 401);
	snprintf(want, sizeof(want), "/services/web/backends/%s/remove", sc_backend_addr(r.be[2]));
	expect_post(r.adm.tcp, NULL, want, NULL, 401);
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "runtime",
		"a write without the token got through");
	cr_expect_str_eq(added_by(&r, 0, by, sizeof(by)), "file");

	/* SIGHUP, the file unchanged (the add was generation 2): C stays and takes sessions. */
	sighup(&r, 3);
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "runtime");
	tally(&r, 30, c);
	cr_expect(c[2] >= 5, "after the reload: A %d B %d C %d", c[0], c[1], c[2]);

	/* With the token over TCP it works, and is logged with the peer. */
	off = sc_lb_log_offset(r.lb);
	expect_post(r.adm.tcp, TOKEN, want, NULL, 200);
	snprintf(want, sizeof(want),
		"admin: service web backend %s removed: draining (runtime), from 127.0.0.1",
		sc_backend_addr(r.be[2]));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 2000, NULL), 0, "no audit line '%s'", want);
	wait_absent(&r, 2);
	lb_stop(&r);
}

Test(runtime_backends, a_removed_backend_drains_its_open_session_and_takes_no_new_one)
{
	struct rig r;
	char line[16], by[32];
	int c[3];

	rig_init(&r);
	lb_start(&r);

	int keep = sc_connect(r.listen, 2000);
	cr_assert_geq(keep, 0);
	cr_assert_gt(sc_recv_line(keep, line, sizeof(line), 2000), 0);
	cr_assert(line[0] == 'A' || line[0] == 'B', "%s", line);
	int m = line[0] == 'A' ? 0 : 1, other = 1 - m;

	ctl(&r, 0, "remove-backend", "web", sc_backend_addr(r.be[m]));
	/* Shown draining, with why, while its session runs. */
	cr_expect_str_eq(added_by(&r, m, by, sizeof(by)), "removed");
	struct sc_run run;
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.adm.sock, "status", NULL), 0);
	cr_expect(strstr(run.out, "removed from the configuration") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "draining") != NULL, "%s", run.out);
	sc_run_free(&run);
	cr_expect_eq(sc_echo(keep, "still here\n", 2000), 0, "the removal cut the open session");
	tally(&r, 20, c);
	cr_expect_eq(c[other], 20, "a new session reached the removed backend: %d", c[m]);
	cr_expect_eq(sc_echo(keep, "and still\n", 2000), 0);

	/* Removed again: it is not a backend any more (404); the last one may not go (422). */
	ctl(&r, 1, "remove-backend", "web", sc_backend_addr(r.be[m]));
	struct sc_http_resp h;
	char path[256];
	snprintf(path, sizeof(path), "/services/web/backends/%s/remove",
		sc_backend_addr(r.be[other]));
	cr_expect_eq(post_raw(r.adm.where, NULL, path, NULL, &h), 422, "%s", h.body);
	sc_http_free(&h);
	snprintf(path, sizeof(path), "/services/web/backends/%s/remove", sc_backend_addr(r.be[m]));
	cr_expect_eq(post_raw(r.adm.where, NULL, path, NULL, &h), 404, "%s", h.body);
	sc_http_free(&h);

	/* A reload with the file unchanged keeps it removed; the session goes on. */
	sighup(&r, 3);
	cr_expect_str_eq(added_by(&r, m, by, sizeof(by)), "removed");
	tally(&r, 10, c);
	cr_expect_eq(c[other], 10);
	cr_expect_eq(sc_echo(keep, "to the end\n", 2000), 0);
	close(keep);
	/* Its last session ended: gone from /status. */
	wait_absent(&r, m);

	/* add-backend brings it back as the file has it. */
	ctl(&r, 0, "add-backend", "web", sc_backend_addr(r.be[m]));
	cr_expect_str_eq(added_by(&r, m, by, sizeof(by)), "file");
	tally(&r, 20, c);
	cr_expect(c[m] >= 5, "it did not come back: A %d B %d", c[0], c[1]);
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

Test(runtime_backends, a_restart_with_the_state_file_keeps_the_overlay)
{
	struct rig r;
	char line[256], by[32];
	int c[3];

	rig_init(&r);
	lb_start(&r);
	ctl(&r, 0, "add-backend", "web", sc_backend_addr(r.be[2]));
	ctl(&r, 0, "remove-backend", "web", sc_backend_addr(r.be[0]));
	snprintf(line, sizeof(line), "added web %s weight 100 zone -\n", sc_backend_addr(r.be[2]));
	wait_state_file(&r, line);
	snprintf(line, sizeof(line), "removed web %s\n", sc_backend_addr(r.be[0]));
	wait_state_file(&r, line);
	lb_stop(&r);

	lb_start(&r);
	cr_expect_eq(sc_lb_wait_log(r.lb, 0, "restored 2 runtime backend changes", 3000, NULL), 0);
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "runtime");
	cr_expect_str_eq(added_by(&r, 0, by, sizeof(by)), "absent");
	tally(&r, 30, c);
	cr_expect_eq(c[0], 0, "the removed backend took sessions after the restart");
	cr_expect(c[2] >= 10, "the added backend took too few: B %d C %d", c[1], c[2]);
	/* Removing an added backend forgets it: the overlay is "A removed" alone now. */
	ctl(&r, 0, "remove-backend", "web", sc_backend_addr(r.be[2]));
	lb_stop(&r);

	/* A file that cannot take the saved removal (A would leave web empty) starts as is. */
	r.only_a = 1;
	lb_start(&r);
	cr_expect_eq(sc_lb_wait_log(r.lb, 0, "saved in the state cannot apply to", 3000, NULL), 0);
	cr_expect_str_eq(added_by(&r, 0, by, sizeof(by)), "file");
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "absent");
	tally(&r, 10, c);
	cr_expect_eq(c[0], 10, "the file's backend does not serve: A %d", c[0]);
	lb_stop(&r);
}

Test(runtime_backends, an_upgrade_hands_the_overlay_over)
{
	struct rig r;
	struct sc_run run;
	char by[32];
	int c[3];

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	rig_init(&r);
	lb_start(&r);
	ctl(&r, 0, "add-backend", "web", sc_backend_addr(r.be[2]));
	ctl(&r, 0, "remove-backend", "web", sc_backend_addr(r.be[1]));
	long pid = sc_lb_pid(r.lb);
	cr_assert_eq(sc_run_anylbctl(&run, 60000, "-s", r.adm.sock, "upgrade", NULL), 0);
	cr_assert_eq(run.status, 0, "upgrade: %s%s", run.out, run.err);
	sc_run_free(&run);
	long next = sc_upgrade_wait_successor(r.adm.where, pid, 10000);
	cr_assert_gt(next, 0, "no successor");
	cr_expect_str_eq(added_by(&r, 2, by, sizeof(by)), "runtime");
	cr_expect_str_eq(added_by(&r, 1, by, sizeof(by)), "absent");
	tally(&r, 30, c);
	cr_expect_eq(c[1], 0, "the removed backend took sessions after the upgrade");
	cr_expect(c[2] >= 10, "the added backend took too few: A %d C %d", c[0], c[2]);
	cr_expect_eq(sc_lb_wait(r.lb, 10000), 0, "the old one exits 0");
	kill((pid_t)next, SIGTERM);
	int st = -1;
	for (int i = 0; i < 200 && waitpid((pid_t)next, &st, WNOHANG) != (pid_t)next; i++)
		sc_sleep_ms(50);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the successor did not exit cleanly");
	sc_lb_stop(r.lb);
}
