/*
 * DOC: scenario: live reload
 *
 * anylb reloads its file on SIGHUP and POST /reload. What clients must see: nothing. While
 * client threads run short checksummed echo sessions without pause and long-lived sessions
 * exchange data every few milliseconds, the file alternates between two valid versions that
 * add and remove a backend, add and remove a whole service with its listener, and change a
 * check, and anylb reloads it 50 times. Every session must succeed, every long-lived one must
 * survive every reload, and no connect may be refused.
 *
 * Then the other half of the contract: an invalid file or one that changes what needs a
 * restart is refused with its FILE:LINE:COL lines (in the answer, in /status, in the log) and
 * changes nothing; a removed backend drains its sessions instead of cutting them; a kept
 * backend keeps its counters and an operator's drain.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

TestSuite(reload, .fini = fini, .timeout = 120);

/* ---- configuration versions ------------------------------------------------------------------ */

struct fx {
	struct sc_backend *be[3];
	char listen[SC_ADDRSTRLEN], extra[SC_ADDRSTRLEN];
	char admin[256]; /* "unix:PATH" */
	const char *dir;
	struct sc_lb *lb;
};

static struct fx fx;

/*
 * Version 0: web on backends 0 and 1, readiness every 200 ms. Version 1: web on 0, 1 and 2 with
 * readiness every 300 ms, and a service `extra` on a listener of its own, backend 2.
 */
static char *config(int version)
{
	char *y = NULL;
	int n;

	if (version == 0)
		n = asprintf(&y,
			"global:\n"
			"  workers: 2\n"
			"  admin: {socket: %s/admin.sock}\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"%s\"]\n"
			"    health:\n"
			"      readiness: {interval: 200ms}\n"
			"    backends:\n"
			"      - address: %s\n"
			"      - address: %s\n",
			fx.dir, fx.listen, sc_backend_addr(fx.be[0]), sc_backend_addr(fx.be[1]));
	else
		n = asprintf(&y,
			"global:\n"
			"  workers: 2\n"
			"  admin: {socket: %s/admin.sock}\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"%s\"]\n"
			"    health:\n"
			"      readiness: {interval: 300ms}\n"
			"    backends:\n"
			"      - address: %s\n"
			"      - address: %s\n"
			"      - address: %s\n"
			"  - name: extra\n"
			"    listen: [\"%s\"]\n"
			"    backends:\n"
			"      - address: %s\n",
			fx.dir, fx.listen, sc_backend_addr(fx.be[0]), sc_backend_addr(fx.be[1]),
			sc_backend_addr(fx.be[2]), fx.extra, sc_backend_addr(fx.be[2]));
	cr_assert_geq(n, 0);
	return y;
}

/* Replaces the running file atomically (a reader never sees half of it). */
static void write_config(const char *text)
{
	const char *path = sc_lb_config_path(fx.lb);
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
	cr_assert_eq(rename(tmp, path), 0);
}

static void fx_start(int version)
{
	memset(&fx, 0, sizeof(fx));
	for (int i = 0; i < 3; i++) {
		fx.be[i] = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
		cr_assert_not_null(fx.be[i]);
	}
	cr_assert_gt(sc_free_addr(AF_INET, fx.listen, sizeof(fx.listen)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, fx.extra, sizeof(fx.extra)), 0);
	fx.dir = sc_admin_temp_dir();
	cr_assert_not_null(fx.dir);
	snprintf(fx.admin, sizeof(fx.admin), "unix:%s/admin.sock", fx.dir);
	char *y = config(version);
	fx.lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(fx.lb);
	/* web has a readiness check: its backends take sessions from their first verdict on. */
	for (int i = 0; i < (version == 0 ? 2 : 3); i++)
		cr_assert_eq(sc_lb_wait_first_verdict(
				     fx.lb, 0, sc_backend_addr(fx.be[i]), "web", NULL, 3000, NULL),
			0, "backend %d: no first verdict", i);
}

static json_t *status_doc(void)
{
	struct sc_http_resp r;
	json_error_t err;

	cr_assert_eq(sc_http(fx.admin, "GET", "/status", NULL, 3000, &r), 0);
	cr_assert_eq(r.status, 200);
	json_t *j = json_loadb(r.body, r.body_len, 0, &err);
	sc_http_free(&r);
	cr_assert_not_null(j, "status is JSON: %s", err.text);
	return j;
}

static json_t *reloads(json_t *st)
{
	json_t *r = json_object_get(st, "reloads");
	cr_assert(json_is_object(r));
	return r;
}

/* The backend of service svc at address addr in a /status document, or NULL. */
static json_t *status_backend(json_t *st, const char *svc, const char *addr)
{
	size_t i, j;
	json_t *s, *b;

	json_array_foreach(json_object_get(st, "services"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), svc) != 0)
			continue;
		json_array_foreach(json_object_get(s, "backends"), j, b)
		{
			if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
				return b;
		}
	}
	return NULL;
}

/* POST /reload: the answer's status, its body in *body (caller frees, may be NULL). */
static int post_reload(char **body)
{
	struct sc_http_resp r;

	cr_assert_eq(sc_http(fx.admin, "POST", "/reload", NULL, 5000, &r), 0);
	int status = r.status;
	if (body != NULL)
		*body = strdup(r.body != NULL ? r.body : "");
	sc_http_free(&r);
	return status;
}

/* SIGHUP, then the log line that says generation gen is in force. */
static void hup_and_wait(uint64_t gen)
{
	size_t off = sc_lb_log_offset(fx.lb);
	char want[96];

	cr_assert_eq(sc_lb_signal(fx.lb, SIGHUP), 0);
	snprintf(want, sizeof(want), "configuration reloaded (generation %llu)",
		(unsigned long long)gen);
	int rc = sc_file_wait_line(sc_lb_log_path(fx.lb), off, SC_MATCH_SUBSTR, want, 5000, NULL);
	if (rc != 0)
		sc_lb_dump_log(fx.lb);
	cr_assert_eq(rc, 0, "no '%s' in the log", want);
}

/* ---- load ------------------------------------------------------------------------------------ */

#define LONG_SESSIONS 8

struct load {
	_Atomic int stop;
	_Atomic uint64_t ok, failed, bytes;
	_Atomic int first_err; /* errno of the first failure */
	_Atomic uint64_t seed;
};

/* One short session: connect, a 1-4 KiB pattern, the same bytes back, close. 0 or -errno. */
static int short_session(const char *addr, uint64_t seed, size_t n)
{
	char out[4096], in[4096];
	int fd = sc_connect(addr, 3000), rc;

	if (fd < 0)
		return fd;
	sc_pattern_fill(seed, 0, out, n);
	rc = sc_send_all(fd, out, n, 3000);
	if (rc == 0)
		rc = sc_recv_exact(fd, in, n, 3000);
	if (rc == 0 && memcmp(in, out, n) != 0)
		rc = -EBADMSG;
	close(fd);
	return rc;
}

static void *short_loop(void *arg)
{
	struct load *l = arg;
	uint64_t seed = atomic_fetch_add(&l->seed, 1000003);

	/* Bounded by the stop flag and, should the test body die, by a count. */
	for (unsigned i = 0; i < 200000 && !atomic_load(&l->stop); i++) {
		size_t n = 1024 + (size_t)(seed + i) % 3072;
		int rc = short_session(fx.listen, seed + i, n);
		if (rc == 0) {
			atomic_fetch_add(&l->ok, 1);
			atomic_fetch_add(&l->bytes, n);
		} else {
			int zero = 0;
			atomic_fetch_add(&l->failed, 1);
			atomic_compare_exchange_strong(&l->first_err, &zero, -rc);
		}
	}
	return NULL;
}

struct long_sessions {
	int fd[LONG_SESSIONS];
	uint64_t off[LONG_SESSIONS]; /* pattern offset reached by each */
	unsigned rounds;
};

static void long_open(struct long_sessions *ls)
{
	memset(ls, 0, sizeof(*ls));
	for (int i = 0; i < LONG_SESSIONS; i++) {
		ls->fd[i] = sc_connect(fx.listen, 3000);
		cr_assert_geq(ls->fd[i], 0, "long session %d: %s", i, strerror(-ls->fd[i]));
	}
}

/* One round: every long session sends 512 bytes of its stream and must get them back. */
static void long_round(struct long_sessions *ls)
{
	char out[512], in[512];

	for (int i = 0; i < LONG_SESSIONS; i++) {
		sc_pattern_fill(77 + (uint64_t)i, ls->off[i], out, sizeof(out));
		int rc = sc_send_all(ls->fd[i], out, sizeof(out), 3000);
		if (rc == 0)
			rc = sc_recv_exact(ls->fd[i], in, sizeof(in), 3000);
		cr_assert_eq(rc, 0, "long session %d cut after %llu bytes, round %u: %s", i,
			(unsigned long long)ls->off[i], ls->rounds, strerror(-rc));
		cr_assert_eq(memcmp(in, out, sizeof(in)), 0, "long session %d: bytes changed", i);
		ls->off[i] += sizeof(out);
	}
	ls->rounds++;
}

static void long_close(struct long_sessions *ls)
{
	for (int i = 0; i < LONG_SESSIONS; i++)
		close(ls->fd[i]);
}

#define LOADERS 3
#define RELOADS 50

Test(reload, fifty_reloads_under_load_fail_no_session)
{
	struct load l = {.seed = 1};
	struct long_sessions ls;
	pthread_t th[LOADERS];

	fx_start(0);
	long_open(&ls);
	long_round(&ls);
	for (int i = 0; i < LOADERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, short_loop, &l), 0);

	char *y[2] = {config(0), config(1)};
	int64_t t0 = sc_now_ms();
	for (int i = 1; i <= RELOADS; i++) {
		write_config(y[i % 2]);
		if (i % 2) {
			hup_and_wait((uint64_t)i + 1);
		} else {
			char *body = NULL;
			int status = post_reload(&body);
			cr_assert_eq(status, 200, "reload %d: %d %s", i, status, body);
			free(body);
		}
		/* The extra listener exists exactly in version 1. */
		if (i % 2) {
			int fd = sc_connect(fx.extra, 3000);
			cr_assert_geq(fd, 0, "reload %d: extra listener: %s", i, strerror(-fd));
			cr_expect_eq(sc_echo(fd, "extra", 3000), 0);
			close(fd);
		}
		long_round(&ls);
		sc_sleep_ms(20);
	}
	int64_t took = sc_now_ms() - t0;
	atomic_store(&l.stop, 1);
	for (int i = 0; i < LOADERS; i++)
		pthread_join(th[i], NULL);
	long_round(&ls);
	long_close(&ls);
	free(y[0]);
	free(y[1]);

	json_t *st = status_doc();
	json_t *r = reloads(st);
	cr_expect_eq(json_integer_value(json_object_get(r, "ok")), RELOADS);
	cr_expect_eq(json_integer_value(json_object_get(r, "failed")), 0);
	cr_expect_eq(json_integer_value(json_object_get(r, "generation")), RELOADS + 1);
	json_decref(st);
	fprintf(stderr,
		"reload: %d reloads in %lld ms under load: %llu sessions ok, %llu failed, "
		"%llu bytes verified, %d long-lived sessions x %u rounds survived\n",
		RELOADS, (long long)took, (unsigned long long)atomic_load(&l.ok),
		(unsigned long long)atomic_load(&l.failed),
		(unsigned long long)atomic_load(&l.bytes), LONG_SESSIONS, ls.rounds);
	cr_expect_eq(atomic_load(&l.failed), 0, "failed sessions, the first with %s",
		strerror(atomic_load(&l.first_err)));
	cr_expect_gt(atomic_load(&l.ok), 100, "the load ran");
	cr_expect_eq(sc_lb_stop(fx.lb), 0);
}

Test(reload, an_invalid_file_changes_nothing_and_says_why)
{
	fx_start(0);
	char *good = config(1);
	write_config("global:\n"
		     "  workers: 2\n"
		     "services:\n"
		     "  - name: web\n"
		     "    listen: [\"127.0.0.1:1\"]\n"
		     "    balance: fastest\n"
		     "    backends: []\n");
	char *body = NULL;
	cr_expect_eq(post_reload(&body), 422);
	const char *path = sc_lb_config_path(fx.lb);
	char want[512];
	snprintf(want, sizeof(want), "%s:6:14: ", path);
	cr_expect(strstr(body, want) != NULL, "the answer names the place: %s", body);
	free(body);

	/* Traffic still flows, to the old backends. */
	int fd = sc_connect(fx.listen, 3000);
	cr_assert_geq(fd, 0);
	cr_expect_eq(sc_echo(fd, "still here", 3000), 0);
	close(fd);
	fd = sc_connect(fx.extra, 1000);
	cr_expect_eq(fd, -ECONNREFUSED, "nothing of the new file applied");
	if (fd >= 0)
		close(fd);

	json_t *st = status_doc();
	json_t *r = reloads(st);
	cr_expect_eq(json_integer_value(json_object_get(r, "failed")), 1);
	cr_expect_eq(json_integer_value(json_object_get(r, "ok")), 0);
	cr_expect_eq(json_integer_value(json_object_get(r, "generation")), 1);
	cr_expect_str_eq(json_string_value(json_object_get(r, "last_result")), "failed");
	json_t *errs = json_object_get(r, "last_errors");
	cr_expect_geq(json_array_size(errs), 2, "every problem is listed");
	cr_expect(strncmp(json_string_value(json_array_get(errs, 0)), want, strlen(want)) == 0);
	json_decref(st);
	cr_expect(sc_lb_log_contains(fx.lb, "reload failed: the running configuration stays"));

	/* SIGHUP with a file that changes what needs a restart: refused the same way. */
	size_t off = sc_lb_log_offset(fx.lb);
	char *restart = config(0);
	char *w = strstr(restart, "workers: 2");
	cr_assert_not_null(w);
	w[9] = '3';
	write_config(restart);
	free(restart);
	cr_assert_eq(sc_lb_signal(fx.lb, SIGHUP), 0);
	cr_expect_eq(sc_file_wait_line(sc_lb_log_path(fx.lb), off, SC_MATCH_SUBSTR,
			     ":2:3: global.workers cannot change on reload", 5000, NULL),
		0);

	/* A valid file afterwards applies. */
	write_config(good);
	free(good);
	cr_expect_eq(post_reload(NULL), 200);
	fd = sc_connect(fx.extra, 3000);
	cr_expect_geq(fd, 0, "the extra listener is there: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);
	st = status_doc();
	r = reloads(st);
	cr_expect_eq(json_integer_value(json_object_get(r, "failed")), 2);
	cr_expect_eq(json_integer_value(json_object_get(r, "ok")), 1);
	cr_expect_eq(json_integer_value(json_object_get(r, "generation")), 2);
	cr_expect_str_eq(json_string_value(json_object_get(r, "last_result")), "ok");
	json_decref(st);
	cr_expect_eq(sc_lb_stop(fx.lb), 0);
}

/*
 * The arguments of dist/anylb.service's ExecReload after the program, with -s's value replaced
 * by sock (the unit's /run/anylb path is not this test's), in args[0..7], NULL-terminated.
 */
static void unit_reload_args(const char *sock, char *line, size_t cap, const char **args)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/dist/anylb.service", ANYLB_SOURCE_DIR);
	char *unit = sc_read_file(path);
	cr_assert_not_null(unit, "%s", path);
	const char *e = strstr(unit, "\nExecReload=");
	cr_assert_not_null(e, "no ExecReload in %s", path);
	e += strlen("\nExecReload=");
	snprintf(line, cap, "%.*s", (int)strcspn(e, "\n"), e);
	free(unit);

	char *save = NULL, *prog = strtok_r(line, " ", &save);
	cr_assert_not_null(prog);
	const char *base = strrchr(prog, '/') != NULL ? strrchr(prog, '/') + 1 : prog;
	cr_assert_str_eq(
		base, "anylbctl", "ExecReload runs %s: a kill cannot report a refusal", prog);
	int n = 0, have_s = 0;
	for (char *a; (a = strtok_r(NULL, " ", &save)) != NULL;) {
		cr_assert_lt(n, 7);
		if (n > 0 && strcmp(args[n - 1], "-s") == 0) {
			a = (char *)sock;
			have_s = 1;
		}
		args[n++] = a;
	}
	args[n] = NULL;
	cr_assert(have_s, "ExecReload names no socket (-s)");
	cr_assert_str_eq(args[n - 1], "reload");
}

/*
 * Defect 6: `systemctl reload` must fail when the reload was refused. The unit's ExecReload, as
 * written in dist/anylb.service (the socket aside), exits 1 with the FILE:LINE:COL lines when
 * the file is invalid or is a FIFO (refused at once: the admin API keeps answering), and 0 with
 * the generation once the new file is in force.
 */
Test(reload, the_units_reload_command_fails_when_the_reload_is_refused)
{
	fx_start(0);
	char sock[300], line[512];
	const char *a[8];
	struct sc_run run;
	snprintf(sock, sizeof(sock), "%s/admin.sock", fx.dir);
	unit_reload_args(sock, line, sizeof(line), a);
	const char *path = sc_lb_config_path(fx.lb);
	char want[512];

	write_config("services:\n"
		     "  - name: web\n"
		     "    listen: [\"127.0.0.1:1\"]\n"
		     "    balance: fastest\n"
		     "    backends: [{address: 127.0.0.1:1}]\n");
	cr_assert_eq(
		sc_run_anylbctl(&run, 15000, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL), 0);
	cr_expect_eq(run.status, 1, "refused reload: exit %d\nstdout:\n%s\nstderr:\n%s", run.status,
		run.out, run.err);
	snprintf(want, sizeof(want), "%s:4:14: 'balance': unknown value", path);
	cr_expect(strstr(run.err, want) != NULL, "the refusal names the place:\n%s", run.err);
	sc_run_free(&run);

	/* A FIFO at the path: refused at once, at 1:1, anylb still answers. */
	char fifo[600];
	snprintf(fifo, sizeof(fifo), "%s.fifo", path);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
	cr_assert_eq(rename(fifo, path), 0);
	int64_t t0 = sc_now_ms();
	cr_assert_eq(
		sc_run_anylbctl(&run, 15000, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL), 0);
	int64_t took = sc_now_ms() - t0;
	cr_expect_eq(run.status, 1, "FIFO: exit %d\nstderr:\n%s", run.status, run.err);
	snprintf(want, sizeof(want),
		"%s:1:1: cannot read the file: it is a FIFO, not a regular file", path);
	cr_expect(strstr(run.err, want) != NULL, "%s", run.err);
	cr_expect_lt(took, 3000, "took %lld ms", (long long)took);
	sc_run_free(&run);
	json_decref(status_doc()); /* the main thread is not stuck in open(2) */

	/* A valid file: exit 0, and the answer says it is in force. */
	char *good = config(1);
	write_config(good);
	free(good);
	cr_assert_eq(
		sc_run_anylbctl(&run, 15000, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL), 0);
	cr_expect_eq(run.status, 0, "applied reload: exit %d\nstderr:\n%s", run.status, run.err);
	cr_expect(strstr(run.out, "configuration reloaded (generation 2)") != NULL, "%s", run.out);
	sc_run_free(&run);
	int fd = sc_connect(fx.extra, 3000);
	cr_expect_geq(fd, 0, "the new service listens: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);

	json_t *st = status_doc();
	json_t *r = reloads(st);
	cr_expect_eq(json_integer_value(json_object_get(r, "failed")), 2);
	cr_expect_eq(json_integer_value(json_object_get(r, "ok")), 1);
	json_decref(st);
	cr_expect_eq(sc_lb_stop(fx.lb), 0);
}

Test(reload, a_removed_backend_drains_and_a_kept_one_keeps_its_state)
{
	fx_start(1);
	const char *c_addr = sc_backend_addr(fx.be[2]);

	/* A session on backend 2 through `extra`, which version 0 removes with its listener. */
	int fd = sc_connect(fx.extra, 3000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "before", 3000), 0);
	/* Backend 1 drained by the operator; backend 0 has served a session. */
	char path[256];
	snprintf(path, sizeof(path), "/services/web/backends/%s/drain", sc_backend_addr(fx.be[1]));
	struct sc_http_resp hr;
	cr_assert_eq(sc_http(fx.admin, "POST", path, NULL, 3000, &hr), 0);
	cr_assert_eq(hr.status, 200);
	sc_http_free(&hr);
	int fd0 = sc_connect(fx.listen, 3000);
	cr_assert_geq(fd0, 0);
	cr_assert_eq(sc_echo(fd0, "web", 3000), 0);
	close(fd0);
	json_t *st = status_doc();
	json_t *b0 = status_backend(st, "web", sc_backend_addr(fx.be[0]));
	cr_assert_not_null(b0);
	json_int_t sessions = json_integer_value(json_object_get(b0, "sessions"));
	cr_expect_geq(sessions, 1);
	json_decref(st);

	size_t off = sc_lb_log_offset(fx.lb);
	char *y = config(0);
	write_config(y);
	free(y);
	cr_assert_eq(post_reload(NULL), 200);
	char want[160];
	snprintf(want, sizeof(want), "backend %s (extra): ready -> draining: removed", c_addr);
	cr_expect_eq(
		sc_file_wait_line(sc_lb_log_path(fx.lb), off, SC_MATCH_SUBSTR, want, 3000, NULL), 0,
		"%s", want);
	/* The listener is gone, the session is not. */
	int gone = sc_connect(fx.extra, 1000);
	cr_expect_eq(gone, -ECONNREFUSED);
	if (gone >= 0)
		close(gone);
	cr_expect_eq(sc_echo(fd, "after the reload", 3000), 0, "the session goes on");
	close(fd);

	st = status_doc();
	cr_expect_null(status_backend(st, "extra", c_addr), "extra is gone from status");
	cr_expect_null(status_backend(st, "web", c_addr), "backend 2 is gone from web");
	b0 = status_backend(st, "web", sc_backend_addr(fx.be[0]));
	cr_assert_not_null(b0);
	cr_expect_eq(json_integer_value(json_object_get(b0, "sessions")), sessions,
		"counters survive the reload");
	json_t *b1 = status_backend(st, "web", sc_backend_addr(fx.be[1]));
	cr_assert_not_null(b1);
	cr_expect_str_eq(json_string_value(json_object_get(b1, "state")), "draining",
		"the operator's drain survives the reload");
	json_decref(st);
	cr_expect_eq(sc_lb_stop(fx.lb), 0);
}

/*
 * Issue 11, defect 3, through the real binary: what /status, /metrics and `anylbctl status`
 * report comes from the state balancing uses and is current. A reload that changes a weight
 * shows the new weight at once (it used to keep the first one), and a backend that keeps
 * passing its checks says so, with each check's last run, instead of its last transition.
 */
Test(reload, status_reports_the_weight_and_checks_in_force)
{
	fx_start(0);
	char *y = NULL;
	cr_assert_geq(
		asprintf(&y,
			"global:\n"
			"  workers: 2\n"
			"  admin: {socket: %s/admin.sock}\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"%s\"]\n"
			"    health:\n"
			"      readiness: {interval: 200ms}\n"
			"    backends:\n"
			"      - {address: %s, weight: 7}\n"
			"      - address: %s\n",
			fx.dir, fx.listen, sc_backend_addr(fx.be[0]), sc_backend_addr(fx.be[1])),
		0);
	write_config(y);
	free(y);
	cr_assert_eq(post_reload(NULL), 200);

	json_t *st = status_doc();
	json_t *b0 = status_backend(st, "web", sc_backend_addr(fx.be[0]));
	cr_assert_not_null(b0);
	cr_expect_eq(json_integer_value(json_object_get(b0, "weight")), 7);
	cr_expect_eq(json_integer_value(json_object_get(b0, "effective_weight")), 7,
		"the weight balancing uses after the reload");
	json_decref(st);
	struct sc_http_resp hr;
	cr_assert_eq(sc_http(fx.admin, "GET", "/metrics", NULL, 3000, &hr), 0);
	char want[256];
	snprintf(want, sizeof(want), "anylb_backend_weight{service=\"web\",backend=\"%s\"} 7\n",
		sc_backend_addr(fx.be[0]));
	cr_expect(strstr(hr.body, want) != NULL, "missing: %s", want);
	snprintf(want, sizeof(want),
		"anylb_backend_check_last_ok{service=\"web\",backend=\"%s\",check=\"readiness\"} "
		"1\n",
		sc_backend_addr(fx.be[1]));
	cr_expect(strstr(hr.body, want) != NULL, "missing: %s", want);
	sc_http_free(&hr);

	/* A few more passes than the first one: the reason says it is passing, and when. */
	sc_sleep_ms(700);
	int64_t now = sc_wall_ms();
	st = status_doc();
	json_t *b1 = status_backend(st, "web", sc_backend_addr(fx.be[1]));
	cr_assert_not_null(b1);
	cr_expect_str_eq(json_string_value(json_object_get(b1, "state")), "ready");
	cr_expect_str_eq(
		json_string_value(json_object_get(b1, "reason")), "readiness check passed");
	json_t *r = json_object_get(json_object_get(b1, "checks"), "readiness");
	cr_expect(json_is_true(json_object_get(r, "last_ok")));
	cr_expect_gt(json_integer_value(json_object_get(r, "ok")), 2);
	json_int_t at = json_integer_value(json_object_get(r, "last_run_ms"));
	cr_expect(at <= now && at > now - 600, "the last run %lld ms ago, interval 200 ms",
		(long long)(now - at));
	json_decref(st);

	struct sc_run run;
	char sock[300];
	snprintf(sock, sizeof(sock), "%s/admin.sock", fx.dir);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", sock, "status", NULL), 0);
	cr_expect_eq(run.status, 0, "%s", run.err);
	cr_expect(strstr(run.out, "7/100") == NULL && strstr(run.out, "100/7") == NULL,
		"anylbctl shows one weight: %s", run.out);
	cr_expect(strstr(run.out, "readiness check passed") != NULL, "%s", run.out);
	cr_expect(strstr(run.out, "readiness (tcp): ok ") != NULL, "%s", run.out);
	sc_run_free(&run);
	cr_expect_eq(sc_lb_stop(fx.lb), 0);
}
