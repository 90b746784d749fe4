/*
 * DOC: scenario: the binary upgrade (lb/upgrade.c, lb/successor.c)
 *
 * The real anylb, replaced by a new process of itself again and again under load, half of the
 * times through `anylbctl upgrade`, half through SIGUSR2. What a client must see: no refused or
 * failed connect, no cut or corrupted session; the old process lets its sessions finish and
 * exits 0; the last one's fds and memory are where the first one's were.
 *
 * Failed upgrades (a binary that exits 1, one that crashes after taking the sockets, an invalid
 * configuration, a missing binary): `anylbctl upgrade` exits 1 with the reason, and the same
 * process goes on serving, nothing lost.
 *
 * The test process is a child subreaper: successors whose parent exited become its children,
 * so it reaps them and can tell how they ended. Only pids it learnt from anylb's own answers
 * (GET /upgrade) are ever signalled.
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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define UPGRADES     20
#define LONG_SESS    50
#define LONG_EVERY   50 /* ms between two messages of a long session */
#define LONG_MSG     64
#define XFER_BYTES   (256ull << 20)
#define XFER_CHUNK   (256u << 10)
#define CONNECT_RATE 250 /* new connections per second, paced */
#define CLIENT_MS    10000
#define MAX_PIDS     (UPGRADES + 8)

static void fini(void)
{
	sc_cleanup();
}

TestSuite(upgrade, .fini = fini, .timeout = 300);

static char listen_addr[SC_ADDRSTRLEN];
static char admin_sock[256], admin_where[300]; /* the path; "unix:" and the path */
static atomic_int stop_short, upgrades_done;

/* ---- what anylb says of itself -------------------------------------------------------------- */

/* A counter's value in /metrics (the whole sample name with labels), or -1. */
static int64_t metric(const char *sample)
{
	struct sc_http_resp r;
	int64_t v = -1;

	if (sc_http(admin_where, "GET", "/metrics", NULL, 5000, &r) < 0)
		return -1;
	const char *p = r.status == 200 ? strstr(r.body, sample) : NULL;
	if (p != NULL && p[strlen(sample)] == ' ')
		v = strtoll(p + strlen(sample) + 1, NULL, 10);
	sc_http_free(&r);
	return v;
}

#define ACCEPTED "anylb_sessions_accepted_total{service=\"web\"}"

static long wait_successor(long old, int timeout_ms)
{
	return sc_upgrade_wait_successor(admin_where, old, timeout_ms);
}

/* `anylbctl upgrade`: the new pid, from the old one's answer and the new one's. */
static long upgrade_ctl(long old, const char *binary, struct sc_run *run)
{
	int rc = binary != NULL ? sc_run_anylbctl(run, 90000, "-s", admin_sock, "upgrade",
					  "--binary", binary, NULL)
				: sc_run_anylbctl(run, 90000, "-s", admin_sock, "upgrade", NULL);
	if (rc < 0 || run->status != 0)
		return -1;
	return wait_successor(old, 10000);
}

/* The service web over be, with more lines of YAML after its backends (a backend, a key). */
static char *config(const char *be, const char *drain, const char *more)
{
	char *y = NULL;
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(admin_sock, sizeof(admin_sock), "%s/admin.sock", dir);
	snprintf(admin_where, sizeof(admin_where), "unix:%s", admin_sock);
	cr_assert_gt(sc_free_addr(AF_INET, listen_addr, sizeof(listen_addr)), 0);
	cr_assert_geq(asprintf(&y,
			      "global:\n"
			      "  admin: {socket: %s}\n"
			      "  drain_timeout: %s\n"
			      "services:\n"
			      "  - name: web\n"
			      "    listen: [\"%s\"]\n"
			      "    timeouts: {idle: 120s}\n"
			      "    backends:\n"
			      "      - address: %s\n"
			      "%s",
			      admin_sock, drain, listen_addr, be, more),
		0);
	return y;
}

/* ---- load -------------------------------------------------------------------------------------
 */

struct short_load {
	pthread_t th;
	uint64_t tried, failed;
	int first_err;
	int64_t first_fail_ms;
};

/* New sessions at CONNECT_RATE per second: connect, one echo, close. */
static void *short_main(void *arg)
{
	struct short_load *s = arg;
	int64_t t0 = sc_now_ms();

	while (!atomic_load(&stop_short)) {
		int64_t due = t0 + (int64_t)(s->tried * 1000 / CONNECT_RATE);
		int64_t now = sc_now_ms();
		if (due > now)
			sc_sleep_ms((int)(due - now));
		s->tried++;
		int fd = sc_connect(listen_addr, CLIENT_MS);
		int rc = fd >= 0 ? sc_echo(fd, "short", CLIENT_MS) : fd;
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			if (s->failed++ == 0) {
				s->first_err = -rc;
				s->first_fail_ms = sc_now_ms() - t0;
			}
		}
	}
	return NULL;
}

struct long_load {
	pthread_t th;
	int fds[LONG_SESS];
	uint64_t off[LONG_SESS];
	uint64_t rounds, bad;
	char why[160];
};

/* LONG_SESS sessions, each a checksummed message every LONG_EVERY ms, echoed and verified. */
static void *long_main(void *arg)
{
	struct long_load *l = arg;
	unsigned char out[LONG_MSG], in[LONG_MSG];

	while (!atomic_load(&stop_short)) {
		for (int i = 0; i < LONG_SESS; i++) {
			if (l->fds[i] < 0)
				continue;
			sc_pattern_fill(1000 + (uint64_t)i, l->off[i], out, sizeof(out));
			if (sc_send_all(l->fds[i], out, sizeof(out), CLIENT_MS) < 0 ||
				sc_recv_exact(l->fds[i], in, sizeof(in), CLIENT_MS) < 0 ||
				sc_pattern_check(1000 + (uint64_t)i, l->off[i], in, sizeof(in)) >=
					0) {
				if (l->bad++ == 0)
					snprintf(l->why, sizeof(l->why),
						"session %d broke at offset %llu (round %llu)", i,
						(unsigned long long)l->off[i],
						(unsigned long long)l->rounds);
				close(l->fds[i]);
				l->fds[i] = -1;
				continue;
			}
			l->off[i] += sizeof(out);
		}
		l->rounds++;
		sc_sleep_ms(LONG_EVERY);
	}
	return NULL;
}

struct xfer_load {
	pthread_t th;
	int fd;
	uint64_t done;
	int err;
	int64_t mismatch;
};

/* XFER_BYTES echoed in XFER_CHUNK steps, paced while the upgrades go on. */
static void *xfer_main(void *arg)
{
	struct xfer_load *x = arg;
	unsigned char *buf = malloc(XFER_CHUNK);

	x->mismatch = -1;
	if (buf == NULL) {
		x->err = ENOMEM;
		return NULL;
	}
	while (x->done < XFER_BYTES) {
		sc_pattern_fill(77, x->done, buf, XFER_CHUNK);
		int rc = sc_send_all(x->fd, buf, XFER_CHUNK, CLIENT_MS);
		if (rc == 0)
			rc = sc_recv_exact(x->fd, buf, XFER_CHUNK, CLIENT_MS);
		if (rc < 0) {
			x->err = -rc;
			break;
		}
		int64_t bad = sc_pattern_check(77, x->done, buf, XFER_CHUNK);
		if (bad >= 0) {
			x->mismatch = (int64_t)x->done + bad;
			break;
		}
		x->done += XFER_CHUNK;
		if (atomic_load(&upgrades_done) < UPGRADES)
			sc_sleep_ms(5); /* spread over the upgrades, then as fast as it goes */
	}
	free(buf);
	return NULL;
}

/* ---- the tests ------------------------------------------------------------------------------- */

Test(upgrade, twenty_in_a_row_under_load_refuse_no_connection_and_cut_no_session)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	long pids[MAX_PIDS] = {0};
	int status[MAX_PIDS] = {0}, reaped[MAX_PIDS] = {0};
	size_t npids = 0;

	cr_assert_not_null(be);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *y = config(sc_backend_addr(be), "120s", "");
	struct sc_lb *lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(lb);
	pids[npids++] = sc_lb_pid(lb);

	/* Warm up, then the first process's figures at rest. */
	for (int i = 0; i < 50; i++) {
		int fd = sc_connect(listen_addr, CLIENT_MS);
		cr_assert_geq(fd, 0);
		cr_assert_eq(sc_echo(fd, "warm", CLIENT_MS), 0);
		close(fd);
	}
	int fds0 = sc_lb_settle_fd_count(lb, SC_FD_SOCKETS, 3000);
	int64_t rss0 = sc_pid_rss_kib(sc_lb_pid(lb));
	cr_assert_gt(fds0, 0);

	struct long_load ll = {0};
	for (int i = 0; i < LONG_SESS; i++) {
		ll.fds[i] = sc_connect(listen_addr, CLIENT_MS);
		cr_assert_geq(ll.fds[i], 0);
	}
	struct xfer_load xl = {.fd = sc_connect(listen_addr, CLIENT_MS)};
	cr_assert_geq(xl.fd, 0);
	struct short_load sl = {0};
	atomic_store(&stop_short, 0);
	atomic_store(&upgrades_done, 0);
	cr_assert_eq(pthread_create(&sl.th, NULL, short_main, &sl), 0);
	cr_assert_eq(pthread_create(&ll.th, NULL, long_main, &ll), 0);
	cr_assert_eq(pthread_create(&xl.th, NULL, xfer_main, &xl), 0);

	long cur = sc_lb_pid(lb);
	int64_t longest_ms = 0, sum_ms = 0, seen = metric(ACCEPTED), went_back = 0;
	char back[160] = "";
	cr_assert_geq(seen, 50);
	for (int k = 0; k < UPGRADES; k++) {
		sc_sleep_ms(150); /* load between upgrades */
		int64_t t = sc_now_ms();
		long next;
		if (k % 2 == 0) {
			struct sc_run run;
			next = upgrade_ctl(cur, NULL, &run);
			cr_expect(next > 0, "upgrade %d by anylbctl: status %d, %s%s", k,
				run.status, run.out, run.err);
			sc_run_free(&run);
		} else {
			cr_assert_eq(kill((pid_t)cur, SIGUSR2), 0);
			next = wait_successor(cur, 20000);
			cr_expect(next > 0, "upgrade %d by SIGUSR2", k);
		}
		if (next <= 0)
			break;
		int64_t ms = sc_now_ms() - t;
		sum_ms += ms;
		longest_ms = ms > longest_ms ? ms : longest_ms;
		pids[npids++] = next;
		cur = next;
		atomic_fetch_add(&upgrades_done, 1);
		/* A counter never goes backwards across an upgrade. */
		int64_t now = metric(ACCEPTED);
		if (now < seen && went_back++ == 0)
			snprintf(back, sizeof(back), "upgrade %d: %lld after %lld", k,
				(long long)now, (long long)seen);
		seen = now > seen ? now : seen;
		sc_reap_pids(pids, npids, status, reaped);
	}
	atomic_store(&upgrades_done, UPGRADES);
	cr_assert_eq(pthread_join(xl.th, NULL), 0);
	sc_sleep_ms(300);
	atomic_store(&stop_short, 1);
	cr_assert_eq(pthread_join(sl.th, NULL), 0);
	cr_assert_eq(pthread_join(ll.th, NULL), 0);
	printf("upgrade: %zu upgrades, %.0f ms on average, longest %lld ms; %llu connects, %llu "
	       "long rounds, %llu MiB transferred\n",
		npids - 1, npids > 1 ? (double)sum_ms / (double)(npids - 1) : 0.0,
		(long long)longest_ms, (unsigned long long)sl.tried, (unsigned long long)ll.rounds,
		(unsigned long long)(xl.done >> 20));

	cr_expect_eq(npids, UPGRADES + 1, "every upgrade took over");
	cr_expect_eq(went_back, 0, "accepted sessions went backwards: %s", back);
	/* Nearly every connection is counted in the last process (a few accepted by an old one
	 * while it closed its listeners may be missing). */
	int64_t counted = metric(ACCEPTED);
	uint64_t made = 50 + LONG_SESS + 1 + sl.tried;
	printf("upgrade: %lld sessions counted by the last process, %llu made\n",
		(long long)counted, (unsigned long long)made);
	cr_expect_geq((uint64_t)counted, made * 98 / 100, "counted %lld of %llu",
		(long long)counted, (unsigned long long)made);
	cr_expect_leq((uint64_t)counted, made, "counted %lld of %llu", (long long)counted,
		(unsigned long long)made);
	cr_expect_eq(sl.failed, 0, "%llu of %llu new connections failed (first: %s at %lld ms)",
		(unsigned long long)sl.failed, (unsigned long long)sl.tried, strerror(sl.first_err),
		(long long)sl.first_fail_ms);
	cr_expect_gt(sl.tried, 200ull * UPGRADES * 150 / 1000, "the connect rate held");
	cr_expect_eq(ll.bad, 0, "long sessions: %s", ll.why);
	cr_expect_eq(xl.err, 0, "the transfer failed after %llu bytes: %s",
		(unsigned long long)xl.done, strerror(xl.err));
	cr_expect_eq(xl.mismatch, -1, "the transfer was corrupted at %lld", (long long)xl.mismatch);
	cr_expect_eq(xl.done, XFER_BYTES);

	/* The sessions end: the first process (which held them) finishes and exits 0. */
	for (int i = 0; i < LONG_SESS; i++)
		if (ll.fds[i] >= 0)
			close(ll.fds[i]);
	close(xl.fd);
	cr_expect_eq(sc_lb_wait(lb, 20000), 0, "the first process drains and exits 0");
	/* Every intermediate one has no session left: each exits 0 too. */
	int64_t end = sc_now_ms() + 20000;
	size_t gone = 0;
	while (sc_now_ms() < end) {
		sc_reap_pids(pids + 1, npids - 2, status + 1, reaped + 1);
		gone = 0;
		for (size_t i = 1; i + 1 < npids; i++)
			gone += reaped[i] || kill((pid_t)pids[i], 0) < 0;
		if (gone == npids - 2)
			break;
		sc_sleep_ms(50);
	}
	cr_expect_eq(gone, npids - 2, "the old processes exited");
	for (size_t i = 1; i + 1 < npids; i++)
		cr_expect(!reaped[i] || status[i] == 0, "pid %ld exited %d", pids[i], status[i]);

	/* The last one, at rest, holds what the first one held. */
	long last = pids[npids - 1];
	int fds1 = -1;
	for (int i = 0; i < 30; i++) {
		fds1 = sc_pid_fd_count((pid_t)last, SC_FD_SOCKETS);
		if (fds1 <= fds0)
			break;
		sc_sleep_ms(100);
	}
	int64_t rss1 = sc_pid_rss_kib((pid_t)last);
	printf("upgrade: sockets %d -> %d, RSS %lld -> %lld KiB\n", fds0, fds1, (long long)rss0,
		(long long)rss1);
	cr_expect_leq(fds1, fds0 + 1, "sockets: first %d, last %d", fds0, fds1);
	cr_expect_leq(rss1, rss0 + 32 * 1024, "RSS: first %lld KiB, last %lld KiB", (long long)rss0,
		(long long)rss1);

	/* And it still serves, and stops cleanly. */
	int fd = sc_connect(listen_addr, CLIENT_MS);
	cr_assert_geq(fd, 0);
	cr_expect_eq(sc_echo(fd, "after", CLIENT_MS), 0);
	close(fd);
	cr_assert_eq(kill((pid_t)last, SIGTERM), 0);
	int st = -1;
	for (int i = 0; i < 200 && st < 0; i++) {
		int ws;
		if (waitpid((pid_t)last, &ws, WNOHANG) == (pid_t)last)
			st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		else
			sc_sleep_ms(50);
	}
	cr_expect_eq(st, 0, "the last process stops with 0, not %d", st);
	sc_lb_stop(lb);
}

/* A crashing successor, for the failed-upgrade test: the test tool. */
#define CRASHER ANYLB_TEST_TOOLS_DIR "/crash_successor"

Test(upgrade, a_failed_upgrade_leaves_the_old_process_serving_exactly_as_before)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);

	cr_assert_not_null(be);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *y = config(sc_backend_addr(be), "5s", "");
	struct sc_lb *lb = sc_lb_start("%s", y);
	cr_assert_not_null(lb);
	long pid = sc_lb_pid(lb);
	int held = sc_connect(listen_addr, CLIENT_MS);
	cr_assert_geq(held, 0);
	cr_assert_eq(sc_echo(held, "held", CLIENT_MS), 0);

	struct short_load sl = {0};
	atomic_store(&stop_short, 0);
	cr_assert_eq(pthread_create(&sl.th, NULL, short_main, &sl), 0);

	struct {
		const char *binary; /* NULL: the same, with a broken configuration */
		const char *want;   /* in anylbctl's message */
	} cases[] = {
		{"/bin/false", "exited with status 1"},
		{CRASHER, "killed by signal 6 (ABRT)"},
		{NULL, ":"},
		{"/nonexistent/anylb", "cannot run /nonexistent/anylb"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want_file[512] = "";
		if (cases[i].binary == NULL) {
			/* The file the process runs from, broken: the old one keeps its own. */
			FILE *f = fopen(sc_lb_config_path(lb), "a");
			cr_assert_not_null(f);
			fprintf(f, "  - name: broken\n    listen: nowhere\n");
			fclose(f);
			snprintf(want_file, sizeof(want_file), "%s:", sc_lb_config_path(lb));
		}
		struct sc_run run;
		const char *bin = cases[i].binary;
		int rc = bin != NULL
				 ? sc_run_anylbctl(&run, 90000, "-s", admin_sock, "upgrade",
					   "--binary", bin, NULL)
				 : sc_run_anylbctl(&run, 90000, "-s", admin_sock, "upgrade", NULL);
		cr_assert_eq(rc, 0);
		cr_expect_eq(run.status, 1, "case %zu: anylbctl exits 1, not %d: %s%s", i,
			run.status, run.out, run.err);
		const char *want = want_file[0] != '\0' ? want_file : cases[i].want;
		cr_expect(strstr(run.err, want) != NULL, "case %zu: want '%s' in: %s", i, want,
			run.err);
		sc_run_free(&run);
		struct sc_upgrade_status st;
		cr_assert_eq(sc_upgrade_status(admin_where, &st), 0);
		cr_expect_eq(st.pid, pid, "the same process answers");
		cr_expect(strcmp(st.state, "failed") == 0 || i == 3, "state %s", st.state);
		cr_expect_eq(
			sc_echo(held, "still", CLIENT_MS), 0, "case %zu: the session lives", i);
	}
	atomic_store(&stop_short, 1);
	cr_assert_eq(pthread_join(sl.th, NULL), 0);
	cr_expect_eq(sl.failed, 0, "%llu of %llu new connections failed (first: %s)",
		(unsigned long long)sl.failed, (unsigned long long)sl.tried,
		strerror(sl.first_err));
	cr_expect_gt(sl.tried, 10);
	cr_expect_eq(sc_lb_wait(lb, 0), -ETIMEDOUT, "still running");

	/* Fixed, an upgrade goes through. */
	const char *path = sc_lb_config_path(lb);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(y, f);
	fclose(f);
	free(y);
	/* An operator's drain is state the successor takes over. */
	char path_drain[256];
	struct sc_http_resp hr;
	snprintf(path_drain, sizeof(path_drain), "/services/web/backends/%s/drain",
		sc_backend_addr(be));
	cr_assert_eq(sc_http(admin_where, "POST", path_drain, NULL, 5000, &hr), 0);
	cr_expect_eq(hr.status, 200);
	sc_http_free(&hr);
	struct sc_run run;
	long next = upgrade_ctl(pid, NULL, &run);
	cr_expect(next > 0, "then it works: %s%s", run.out, run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_http(admin_where, "GET", "/status", NULL, 5000, &hr), 0);
	cr_expect(strstr(hr.body, "\"draining\"") != NULL, "the drain survived: %s", hr.body);
	sc_http_free(&hr);
	close(held);
	cr_expect_eq(sc_lb_wait(lb, 10000), 0, "the old one exits 0 once drained");
	if (next > 0) {
		kill((pid_t)next, SIGTERM);
		int ws = 0;
		for (int i = 0; i < 200; i++) {
			if (waitpid((pid_t)next, &ws, WNOHANG) == (pid_t)next)
				break;
			sc_sleep_ms(50);
		}
	}
	sc_lb_stop(lb);
}

/* The state of backend addr in /status, into out ("" when it is not there). */
static void backend_state(const char *addr, char *out, size_t cap, char *reason, size_t rcap)
{
	struct sc_http_resp r;
	json_t *b;
	size_t i;

	out[0] = reason[0] = '\0';
	cr_assert_eq(sc_http(admin_where, "GET", "/status", NULL, 5000, &r), 0);
	json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
	sc_http_free(&r);
	cr_assert_not_null(j);
	json_t *svc = json_array_get(json_object_get(j, "services"), 0);
	json_array_foreach(json_object_get(svc, "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) != 0)
			continue;
		snprintf(out, cap, "%s", json_string_value(json_object_get(b, "state")));
		const char *why = json_string_value(json_object_get(b, "reason"));
		snprintf(reason, rcap, "%s", why != NULL ? why : "");
	}
	json_decref(j);
}

/* n sessions of one echo each, every one answered. */
static void echo_sessions(int n, const char *msg)
{
	for (int i = 0; i < n; i++) {
		int fd = sc_connect(listen_addr, CLIENT_MS);
		cr_assert_geq(fd, 0);
		cr_expect_eq(sc_echo(fd, msg, CLIENT_MS), 0, "session %d", i);
		close(fd);
	}
}

/* An outlier ejection is state too: the successor does not send clients to that backend. */
Test(upgrade, an_ejection_goes_on_in_the_successor)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char bad[SC_ADDRSTRLEN], more[256], st[32], why[256];

	cr_assert_not_null(be);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_gt(sc_free_addr(AF_INET, bad, sizeof(bad)), 0); /* nothing listens there */
	snprintf(more, sizeof(more),
		"      - address: %s\n"
		"    outlier: {consecutive_failures: 2, base_ejection_time: 60s}\n",
		bad);
	char *y = config(sc_backend_addr(be), "2s", more);
	struct sc_lb *lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(lb);
	long pid = sc_lb_pid(lb);
	/* Round robin sends every other session there: refused, retried on the good one. */
	echo_sessions(8, "x");
	backend_state(bad, st, sizeof(st), why, sizeof(why));
	cr_assert_str_eq(st, "ejected", "before the upgrade: %s (%s)", st, why);

	struct sc_run run;
	long next = upgrade_ctl(pid, NULL, &run);
	cr_assert(next > 0, "upgrade: %s%s", run.out, run.err);
	sc_run_free(&run);
	backend_state(bad, st, sizeof(st), why, sizeof(why));
	cr_expect_str_eq(st, "ejected", "after the upgrade: %s (%s)", st, why);
	char sample[256];
	snprintf(sample, sizeof(sample),
		"anylb_backend_connect_failures_total{service=\"web\",backend=\"%s\"}", bad);
	int64_t fails = metric(sample);
	cr_expect_geq(fails, 2, "the failures that ejected it, carried over");
	/* No session of the successor's tries it: every one is answered at the first connect. */
	echo_sessions(8, "y");
	backend_state(bad, st, sizeof(st), why, sizeof(why));
	cr_expect_str_eq(st, "ejected", "still ejected: %s (%s)", st, why);
	cr_expect_eq(metric(sample), fails, "the successor sent a session to the ejected backend");
	cr_expect_eq(sc_lb_wait(lb, 10000), 0, "the old one exits 0");
	kill((pid_t)next, SIGTERM);
	for (int i = 0; i < 200 && waitpid((pid_t)next, NULL, WNOHANG) != (pid_t)next; i++)
		sc_sleep_ms(50);
	sc_lb_stop(lb);
}
