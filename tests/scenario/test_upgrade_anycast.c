/*
 * DOC: scenario: the anycast announcement across a binary upgrade (issue 12)
 *
 * The two-site topology of tests/support/anycast_site.h; site 1's anylb is upgraded in place
 * (SIGUSR2 or `anylbctl upgrade`) while a thread reads the router's kernel table for both
 * prefixes every 10 ms and records every sample without a path from site 1. What must hold:
 *
 *   interface mode: the successor attaches a queue of its own to the multi-queue TUN interface
 *   (held by its own watchdog) and leaves the addresses alone; the old process stops its
 *   watchdog once the successor is READY and never withdraws while it drains. A successful
 *   upgrade: the prefix never leaves the router. bird_protocol mode: no protocol is disabled,
 *   neither during the upgrade nor by the old process's exit.
 *
 * Failures at each step of the handover: the first anylb is started with
 * ANYLB_UPGRADE_STOP_AT=hello|end|attached|ready, which its successor reads (and unsets, so
 * that its own successor does not stop): it SIGSTOPs itself at that step. The test waits for
 * it to be stopped (/proc/PID/stat state T), SIGKILLs one process (the old, the new, or one of
 * their watchdogs: comm anylb-watchdog, PPid the anylb), SIGCONTs the successor if it lives,
 * and checks what the router and the clients see:
 *
 *   step      kill old                 kill new                 old's watchdog  new's watchdog
 *   hello     gone, back after delay   old serves, failed       -               -
 *   end       gone, back after delay   old serves               -               -
 *   attached  new serves               old serves, failed       new serves      gone, back
 *   ready     new serves               gone, stays gone         (none left)     gone, back
 *
 * ("gone": within GONE_MS of the kill, the bound of test_anycast.c's kill9_fails_closed;
 * "back": after announce_delay of health, from a re-created interface; otherwise the prefix
 * never leaves.) While stopped, the successor's watchdog gets no heartbeats: the configs here
 * use watchdog_timeout WD_MS (2 s), far longer than the test acts.
 *
 * Clients connect from the router namespace, from SC_PINNED4 (always routed to site 1) and
 * from anywhere (ECMP): every session must be answered whenever the prefix is announced and a
 * process serves. Times are printed in a fixed format, for docs/BENCHMARKS.md:
 *
 *   upgrade-anycast: interface: kill new at ready -> route gone v4 2 ms, v6 2 ms
 *
 * The test process is a child subreaper (as in test_upgrade.c): successors whose parent went
 * become its children and are reaped here. Only pids started by the harness, read from GET
 * /upgrade, or found in /proc as children of those are signalled; the suites' .fini kills the
 * successors it learnt, then removes the topology.
 */
#include "tests/support/admin_client.h"
#include "tests/support/anycast_site.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define WD_MS       2000 /* watchdog_timeout of site 1's anylb */
#define GONE_MS     100  /* kill -> prefix gone at the router (as kill9_fails_closed) */
#define BACK_MS     (AS_ANNOUNCE_DELAY_MS + 3000) /* -> prefix back, at the most */
#define STOP_MS     10000                         /* upgrade started -> successor stopped */
#define GONE_HOLD   1500 /* a prefix that must stay gone: checked so long */
#define HOLD_MS     1000 /* "never left": watched for so long after the outcome, too */
#define POLL_MS     10   /* the route poller's interval */
#define UPGRADES    10
#define MAX_PIDS    (UPGRADES + 8)
#define MAX_WATCHDG 8

/* ---- the processes of site 1 beyond the harness's first anylb ---------------------------- */

static long succ[MAX_PIDS]; /* successors learnt from GET /upgrade or /proc */
static int succ_status[MAX_PIDS], succ_reaped[MAX_PIDS];
static size_t nsucc;

static void track(long pid)
{
	for (size_t i = 0; i < nsucc; i++)
		if (succ[i] == pid)
			return;
	cr_assert_lt(nsucc, (size_t)MAX_PIDS);
	succ[nsucc++] = pid;
}

static size_t track_index(long pid)
{
	for (size_t i = 0; i < nsucc; i++)
		if (succ[i] == pid)
			return i;
	cr_assert_fail("pid %ld is not a successor this test learnt", pid);
	return 0;
}

/* The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), 0 when there is no such pid. */
static char proc_state(long pid)
{
	char path[64], buf[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* Non-zero once a tracked successor is gone: reaped here, or by its parent (no such pid). */
static int succ_gone(long pid)
{
	size_t i = track_index(pid);

	sc_reap_pids(succ, nsucc, succ_status, succ_reaped);
	if (succ_reaped[i])
		return 1;
	char st = proc_state(pid);
	return st == 0 || st == 'Z';
}

/* Waits until successor pid is gone: 0, or -ETIMEDOUT. */
static int succ_wait_gone(long pid, int timeout_ms)
{
	int64_t end = sc_now_ms() + timeout_ms;

	while (!succ_gone(pid)) {
		if (sc_now_ms() >= end)
			return -ETIMEDOUT;
		sc_sleep_ms(5);
	}
	return 0;
}

/* SIGCONT and SIGTERM, then SIGKILL after 10 s; waits until it is gone. */
static void succ_stop(long pid)
{
	if (succ_gone(pid))
		return;
	kill((pid_t)pid, SIGCONT);
	kill((pid_t)pid, SIGTERM);
	if (succ_wait_gone(pid, 10000) == 0)
		return;
	kill((pid_t)pid, SIGKILL);
	succ_wait_gone(pid, 5000);
}

static void fini(void)
{
	for (size_t i = 0; i < nsucc; i++) {
		if (succ_reaped[i] || proc_state(succ[i]) == 0)
			continue;
		kill((pid_t)succ[i], SIGCONT);
		kill((pid_t)succ[i], SIGKILL);
		for (int k = 0; k < 200 && !succ_gone(succ[i]); k++)
			sc_sleep_ms(10);
	}
	nsucc = 0;
	as_fini();
}

/* The whole file: under ~4 minutes together. */
TestSuite(upgrade_anycast_interface, .fini = fini, .timeout = 60);
TestSuite(upgrade_anycast_bird_protocol, .fini = fini, .timeout = 60);

/* The anylb-watchdog processes whose parent is pid, into out (at most cap): their number. */
static int watchdogs_of(long pid, long *out, int cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], line[128], comm[64] = "";
		long ppid = -1, p = strtol(e->d_name, NULL, 10);
		FILE *f;
		if (p <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/status", p);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "Name:", 5) == 0)
				sscanf(line + 5, "%63s", comm);
			else if (strncmp(line, "PPid:", 5) == 0)
				ppid = strtol(line + 5, NULL, 10);
		}
		fclose(f);
		if (ppid == pid && strcmp(comm, "anylb-watchdog") == 0 && proc_state(p) != 'Z' &&
			n < cap)
			out[n++] = p;
	}
	closedir(d);
	return n;
}

/* The one watchdog of anylb pid (waits up to 2 s for it). */
static long watchdog_of(long pid)
{
	long w[MAX_WATCHDG];
	int n = 0;

	for (int i = 0; i < 200 && (n = watchdogs_of(pid, w, MAX_WATCHDG)) == 0; i++)
		sc_sleep_ms(10);
	cr_assert_eq(n, 1, "anylb pid %ld has %d watchdog processes", pid, n);
	return w[0];
}

/* ---- site 1's admin interface --------------------------------------------------------------- */

static char admin_sock[256], admin_where[300];

static void admin_init(void)
{
	as_admin_path(0, admin_sock, sizeof(admin_sock));
	snprintf(admin_where, sizeof(admin_where), "unix:%s", admin_sock);
}

/*
 * The successor of old, from old's GET /upgrade (field successor); tracked. Polls while old
 * still answers (it stops its admin listeners once handed over).
 */
static long learn_successor(long old)
{
	int64_t end = sc_now_ms() + STOP_MS;
	struct sc_upgrade_status st = {0};

	while (sc_now_ms() < end) {
		if (sc_upgrade_status(admin_where, &st) == 0 && st.pid == old && st.successor > 0) {
			track(st.successor);
			return st.successor;
		}
		sc_sleep_ms(2);
	}
	as_fail_dump();
	cr_assert_fail("no successor of %ld in GET /upgrade: state %s, reason %s", old, st.state,
		st.reason);
	return -1;
}

/* Waits until pid is stopped (state T); fails the test when it exits or takes too long. */
static void wait_stopped(long pid, const char *step)
{
	int64_t end = sc_now_ms() + STOP_MS;
	char st;

	while ((st = proc_state(pid)) != 'T' && st != 't') {
		if (st == 0 || st == 'Z' || sc_now_ms() >= end) {
			as_fail_dump();
			cr_assert_fail("the successor %ld did not stop at %s (state %c)", pid, step,
				st ? st : '-');
		}
		sc_sleep_ms(1);
	}
}

/* The upgrade's state as old says it (it must still answer), e.g. "failed". */
static void expect_upgrade_state(long old, const char *want)
{
	struct sc_upgrade_status st;
	int64_t end = sc_now_ms() + 5000;

	for (;;) {
		int rc = sc_upgrade_status(admin_where, &st);
		if (rc == 0 && st.pid == old && strcmp(st.state, want) == 0)
			return;
		if (sc_now_ms() >= end) {
			as_fail_dump();
			cr_assert_fail(
				"GET /upgrade: want pid %ld state %s, got rc %d pid %ld state "
				"%s reason %s",
				old, want, rc, st.pid, st.state, st.reason);
		}
		sc_sleep_ms(20);
	}
}

/* ---- what the router and the clients see ------------------------------------------------ */

/* n sessions from SC_PINNED4 (site 1, v4), and n of as_client_sessions; all answered. */
static void sessions(int n, const char *when)
{
	for (int i = 0; i < n; i++) {
		int rc = as_client_session_from(SC_PINNED4, SC_ANYCAST4_ADDR);
		if (rc != 0)
			as_fail_dump();
		cr_assert_eq(
			rc, 0, "%s: session %d pinned to site1 failed: %s", when, i, strerror(-rc));
	}
	as_client_sessions(n, when);
}

/* The poller saw every sample with a path from site 1, also for HOLD_MS after the outcome
 * (what a process does once it is alone: re-assert, drain, exit). */
static void expect_never_left(struct as_watch *w, const char *when)
{
	sc_sleep_ms(HOLD_MS);
	as_watch_stop(w);
	if (w->missing[0] != 0 || w->missing[1] != 0)
		as_fail_dump();
	cr_assert(w->samples[0] >= HOLD_MS / POLL_MS / 2 && w->samples[1] >= HOLD_MS / POLL_MS / 2,
		"%s: %u and %u samples", when, w->samples[0], w->samples[1]);
	cr_assert(w->missing[0] == 0 && w->missing[1] == 0,
		"%s: site1's path left the router: v4 in %u of %u samples (first at +%lld ms, last "
		"+%lld ms), v6 in %u of %u",
		when, w->missing[0], w->samples[0], (long long)(w->first_missing_ms[0] - w->t0),
		(long long)(w->last_missing_ms[0] - w->t0), w->missing[1], w->samples[1]);
}

/* Both prefixes lose site 1 within GONE_MS of t0 (printed as what). */
static void expect_gone(int64_t t0, const char *what)
{
	int64_t t4, t6;

	as_expect_paths(1, 3000, &t4, &t6, what);
	as_expect_via(AF_INET, 2);
	as_expect_via(AF_INET6, 2);
	fprintf(stderr, "upgrade-anycast: %s: %s -> route gone v4 %lld ms, v6 %lld ms\n",
		as_mode_name(), what, (long long)(t4 - t0), (long long)(t6 - t0));
	cr_assert_lt(t4 - t0, GONE_MS, "%s: v4 gone after %lld ms", what, (long long)(t4 - t0));
	cr_assert_lt(t6 - t0, GONE_MS, "%s: v6 gone after %lld ms", what, (long long)(t6 - t0));
}

/* Both prefixes back from site 1, not before announce_delay after t0 (printed as what). */
static void expect_back(int64_t t0, const char *what)
{
	int64_t t4, t6;

	as_expect_paths(2, BACK_MS, &t4, &t6, what);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	fprintf(stderr,
		"upgrade-anycast: %s: %s -> route back v4 %lld ms, v6 %lld ms (announce_delay %d "
		"ms)\n",
		as_mode_name(), what, (long long)(t4 - t0), (long long)(t6 - t0),
		AS_ANNOUNCE_DELAY_MS);
	cr_assert_geq(t4 - t0, AS_ANNOUNCE_DELAY_MS, "%s: v4 back after %lld ms", what,
		(long long)(t4 - t0));
	cr_assert_geq(t6 - t0, AS_ANNOUNCE_DELAY_MS, "%s: v6 back after %lld ms", what,
		(long long)(t6 - t0));
}

/* Site 1 stays withdrawn for GONE_HOLD ms. */
static void expect_stays_gone(const char *what)
{
	int64_t end = sc_now_ms() + GONE_HOLD;

	while (sc_now_ms() < end) {
		for (int f = 0; f < 2; f++) {
			struct sc_route r;
			char text[256];
			cr_assert_eq(sc_netns_route(as_topo.router,
					     sc_anycast_prefix(f ? AF_INET6 : AF_INET), &r),
				0);
			if (r.paths != 1)
				as_fail_dump();
			cr_assert_eq(r.paths, 1, "%s: site1 is back at the router: %s", what,
				sc_route_text(&r, text, sizeof(text)));
		}
		sc_sleep_ms(POLL_MS);
	}
}

/* ---- one failure at one step ------------------------------------------------------------- */

enum victim { KILL_OLD, KILL_NEW, KILL_OLD_WATCHDOG, KILL_NEW_WATCHDOG };

static const char *const victim_name[] = {
	[KILL_OLD] = "kill old",
	[KILL_NEW] = "kill new",
	[KILL_OLD_WATCHDOG] = "kill old's watchdog",
	[KILL_NEW_WATCHDOG] = "kill new's watchdog",
};

struct stop_case {
	long old, new;
	int first_killed; /* the harness's first anylb (the old one) was SIGKILLed */
	int held;         /* a session the old one holds: handed over, it drains instead of
			     exiting at once; -1 once closed */
	char what[96];    /* "kill new at ready" */
};

/*
 * The topology with site 1's anylb told to stop its successor at step; the poller started
 * (unless w is NULL: the netlink socket of the router is the poller's alone while it runs, so
 * a case that reads the router itself does without); SIGUSR2; the successor learnt and stopped.
 */
static void stop_at(enum sc_announce_mode mode, const char *step, enum victim v,
	struct stop_case *c, struct as_watch *w)
{
	char env[64];
	const char *envv[] = {env, NULL};
	struct as_lb_opts o = {.watchdog_ms = WD_MS, .env = envv};

	snprintf(env, sizeof(env), "ANYLB_UPGRADE_STOP_AT=%s", step);
	snprintf(c->what, sizeof(c->what), "%s at %s", victim_name[v], step);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	as_up_opts(mode, &o);
	admin_init();
	sessions(AS_NSESS, "before the upgrade");
	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	c->held = sc_connect_from(SC_PINNED4, SC_ANYCAST4_ADDR, 3000);
	sc_netns_enter(NULL);
	cr_assert_geq(c->held, 0, "held session: %s", strerror(-c->held));
	cr_assert_eq(sc_echo(c->held, "held\n", 3000), 0);
	c->old = sc_lb_pid(as_run[0].lb);
	if (w != NULL)
		as_watch_start(w, 0, POLL_MS);
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGUSR2), 0);
	c->new = learn_successor(c->old);
	wait_stopped(c->new, step);
}

/* The harness's first anylb of site 1 (the old one), SIGKILLed and reaped. */
static void kill_first(struct stop_case *c)
{
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGKILL), 0);
	cr_assert_eq(sc_lb_wait(as_run[0].lb, 2000), 128 + SIGKILL);
	c->first_killed = 1;
}

/* Forgets the killed first anylb (its log is printed), so that site 1 can start a fresh one. */
static void forget_first(struct stop_case *c)
{
	if (c->first_killed && as_run[0].lb != NULL) {
		sc_lb_stop(as_run[0].lb);
		as_run[0].lb = NULL;
	}
	c->first_killed = 0;
}

/* The successor goes on, if it lives. */
static void cont(const struct stop_case *c)
{
	if (!succ_gone(c->new))
		cr_assert_eq(kill((pid_t)c->new, SIGCONT), 0);
}

/* The successor took over: it answers on the admin socket, says so, and serves. */
static void expect_new_serves(const struct stop_case *c)
{
	long got = sc_upgrade_wait_successor(admin_where, c->old, 10000);

	if (got != c->new)
		as_fail_dump();
	cr_assert_eq(got, c->new, "%s: the successor %ld did not take over (got %ld)", c->what,
		c->new, got);
	sessions(AS_NSESS, c->what);
}

/* The old process goes on: the successor is gone, the upgrade failed, clients are served. */
static void expect_old_serves(const struct stop_case *c)
{
	cr_assert_eq(succ_wait_gone(c->new, 5000), 0, "%s: the successor still runs", c->what);
	expect_upgrade_state(c->old, "failed");
	cr_assert_eq(
		sc_lb_wait(as_run[0].lb, 0), -ETIMEDOUT, "%s: the old process exited", c->what);
	sessions(AS_NSESS, c->what);
}

/* Stops the successor (SIGTERM, exit 0 wanted) and what as_up() started. */
static void end_case(struct stop_case *c, int new_must_exit_0)
{
	if (!succ_gone(c->new)) {
		succ_stop(c->new);
		size_t i = track_index(c->new);
		if (new_must_exit_0 && succ_reaped[i])
			cr_expect_eq(succ_status[i], 0, "%s: the successor exited %d", c->what,
				succ_status[i]);
	}
	if (c->held >= 0)
		close(c->held);
	c->held = -1;
	forget_first(c);
	as_down();
}

/* The prefix back after announce_delay from t0, the successor serves; both stopped. */
static void finish_back(struct stop_case *c, int64_t t0, const char *what)
{
	expect_back(t0, what);
	expect_new_serves(c);
	end_case(c, 1);
}

/* After the kill: SIGCONT, the successor serves, the prefix never left; both stopped. */
static void finish_new_serves(struct stop_case *c, struct as_watch *w)
{
	cont(c);
	expect_new_serves(c);
	expect_never_left(w, c->what);
	end_case(c, 1);
}

/*
 * The successor killed at step: it held nothing the old one needs; the old one serves on,
 * the upgrade failed, the prefix never left (no withdraw, and the old one's watchdog holds it).
 */
static void kill_new_old_serves(enum sc_announce_mode mode, const char *step)
{
	struct stop_case c = {0};
	struct as_watch w;

	stop_at(mode, step, KILL_NEW, &c, &w);
	cr_assert_eq(kill((pid_t)c.new, SIGKILL), 0);
	expect_old_serves(&c);
	expect_never_left(&w, c.what);
	end_case(&c, 0);
}

/*
 * The old one killed at step (attached or ready): the successor's watchdog holds a queue of
 * the interface (bird_protocol mode: the old one's exit disables nothing): after SIGCONT the
 * successor serves and the prefix never left. At ready, the old one's watchdog is gone
 * already (it stops it at once on READY).
 */
static void kill_old_new_serves(enum sc_announce_mode mode, const char *step)
{
	struct stop_case c = {0};
	struct as_watch w;
	long wd[MAX_WATCHDG];

	stop_at(mode, step, KILL_OLD, &c, &w);
	if (mode == SC_ANNOUNCE_INTERFACE) {
		int n = 0, want = strcmp(step, "ready") == 0 ? 0 : 1;
		for (int i = 0; i < 50 && (n = watchdogs_of(c.old, wd, MAX_WATCHDG)) != want; i++)
			sc_sleep_ms(10);
		cr_assert_eq(
			n, want, "%s: the old process has %d watchdog(s), not %d", c.what, n, want);
		watchdog_of(c.new);
	}
	kill_first(&c);
	finish_new_serves(&c, &w);
}

/* ---- interface mode: each step, each kill ------------------------------------------------- */

/*
 * hello, kill old: the old process answers HELLO at once with the sockets, the state, the
 * announcement and END; they wait in the socket pair while the successor is stopped, and the
 * kernel keeps them when the old one dies. So, as docs/DEPLOY.md says for a kill before the
 * successor attached: the old watchdog takes the interface away at once, and the successor,
 * finding it gone, makes it afresh and announces once healthy for announce_delay. The kill
 * waits for the old one to have sent them: killed before it read HELLO, the successor would
 * find the handover broken off and give up instead (safe too, but another case).
 */
Test(upgrade_anycast_interface, hello_kill_old)
{
	struct stop_case c = {0};

	stop_at(SC_ANNOUNCE_INTERFACE, "hello", KILL_OLD, &c, NULL);
	cr_assert_eq(sc_lb_wait_log(as_run[0].lb, 0, "upgrade: handed ", 5000, NULL), 0,
		"the old process did not hand over after HELLO");
	int64_t t0 = sc_now_ms();
	kill_first(&c);
	expect_gone(t0, c.what);
	int64_t t1 = sc_now_ms();
	cont(&c);
	finish_back(&c, t1, "hello, kill old: SIGCONT");
}

Test(upgrade_anycast_interface, hello_kill_new)
{
	kill_new_old_serves(SC_ANNOUNCE_INTERFACE, "hello");
}

/* end, kill old: the successor has the sockets, not the interface: it makes it afresh and
 * announces once healthy for announce_delay. */
Test(upgrade_anycast_interface, end_kill_old)
{
	struct stop_case c = {0};

	stop_at(SC_ANNOUNCE_INTERFACE, "end", KILL_OLD, &c, NULL);
	int64_t t0 = sc_now_ms();
	kill_first(&c);
	expect_gone(t0, c.what);
	int64_t t1 = sc_now_ms();
	cont(&c);
	finish_back(&c, t1, "end, kill old: SIGCONT");
}

Test(upgrade_anycast_interface, end_kill_new)
{
	kill_new_old_serves(SC_ANNOUNCE_INTERFACE, "end");
}

Test(upgrade_anycast_interface, attached_kill_old)
{
	kill_old_new_serves(SC_ANNOUNCE_INTERFACE, "attached");
}

Test(upgrade_anycast_interface, attached_kill_new)
{
	kill_new_old_serves(SC_ANNOUNCE_INTERFACE, "attached");
}

Test(upgrade_anycast_interface, attached_kill_old_watchdog)
{
	struct stop_case c = {0};
	struct as_watch w;

	stop_at(SC_ANNOUNCE_INTERFACE, "attached", KILL_OLD_WATCHDOG, &c, &w);
	long wd = watchdog_of(c.old);
	watchdog_of(c.new); /* the successor's own, beside it */
	cr_assert_eq(kill((pid_t)wd, SIGKILL), 0);
	sc_sleep_ms(200); /* what the old one makes of it, while the successor is stopped */
	finish_new_serves(&c, &w);
}

/* attached, kill new's watchdog: once READY the old one stops its own: nothing holds the
 * interface; the successor finds its watchdog gone and makes the interface again. */
Test(upgrade_anycast_interface, attached_kill_new_watchdog)
{
	struct stop_case c = {0};
	struct as_watch w;

	stop_at(SC_ANNOUNCE_INTERFACE, "attached", KILL_NEW_WATCHDOG, &c, &w);
	long wd = watchdog_of(c.new);
	cr_assert_eq(kill((pid_t)wd, SIGKILL), 0);
	sc_sleep_ms(200);
	expect_never_left(&w, c.what); /* the old one's watchdog still holds it */
	int64_t t0 = sc_now_ms();
	cont(&c);
	expect_gone(t0, "attached, kill new's watchdog: SIGCONT");
	finish_back(&c, t0, "attached, kill new's watchdog: SIGCONT");
}

Test(upgrade_anycast_interface, ready_kill_old)
{
	kill_old_new_serves(SC_ANNOUNCE_INTERFACE, "ready");
}

/* ready, kill new: the old one only drains (it accepts nothing): the site must withdraw, and
 * stay so until an anylb serves again. */
Test(upgrade_anycast_interface, ready_kill_new)
{
	struct stop_case c = {0};

	stop_at(SC_ANNOUNCE_INTERFACE, "ready", KILL_NEW, &c, NULL);
	int64_t t0 = sc_now_ms();
	cr_assert_eq(kill((pid_t)c.new, SIGKILL), 0);
	expect_gone(t0, c.what);
	expect_stays_gone(c.what);
	as_client_sessions(AS_NSESS, c.what); /* site 2 */
	close(c.held);                        /* the old one drained it: it exits */
	c.held = -1;
	int rc = sc_lb_wait(as_run[0].lb, AS_DRAIN_MS + 3000);
	cr_assert_eq(rc, 0, "%s: the draining old process exits %d", c.what, rc);
	sc_lb_stop(as_run[0].lb);
	as_run[0].lb = NULL;
	int64_t t1 = sc_now_ms();
	as_lb_start(0);
	expect_back(t1, "ready, kill new: a fresh anylb");
	sessions(AS_NSESS, "ready, kill new: a fresh anylb");
	end_case(&c, 0);
}

Test(upgrade_anycast_interface, ready_kill_new_watchdog)
{
	struct stop_case c = {0};

	stop_at(SC_ANNOUNCE_INTERFACE, "ready", KILL_NEW_WATCHDOG, &c, NULL);
	long wd = watchdog_of(c.new);
	int64_t t0 = sc_now_ms();
	cr_assert_eq(kill((pid_t)wd, SIGKILL), 0);
	expect_gone(t0, c.what);
	cont(&c);
	finish_back(&c, t0, c.what);
}

/* ---- upgrades in a row, under client load --------------------------------------------------- */

struct load {
	pthread_t th;
	atomic_int stop;
	unsigned tried, failed;
	int first_err;
	char first[160];
};

/* Sessions from the router namespace, one after another: pinned to site 1, v4 and v6 ECMP. */
static void *load_main(void *arg)
{
	struct load *l = arg;
	const char *src[3] = {SC_PINNED4, NULL, NULL};
	const char *dst[3] = {SC_ANYCAST4_ADDR, SC_ANYCAST4_ADDR, SC_ANYCAST6_ADDR};

	/* setns of this thread alone: sc_netns_enter() is the main thread's (it keeps where that
	 * thread is). */
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s", as_topo.router);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
		l->failed++;
		l->first_err = errno;
		snprintf(l->first, sizeof(l->first), "setns %s", path);
		if (nsfd >= 0)
			close(nsfd);
		return NULL;
	}
	close(nsfd);
	for (unsigned k = 0; !atomic_load(&l->stop); k++) {
		int i = (int)(k % 3);
		int fd = sc_connect_from(src[i], dst[i], 3000);
		int rc = fd >= 0 ? sc_echo(fd, "upgrade anycast\n", 3000) : fd;
		if (fd >= 0)
			close(fd);
		l->tried++;
		if (rc != 0 && l->failed++ == 0) {
			l->first_err = -rc;
			snprintf(l->first, sizeof(l->first), "%s from %s", dst[i],
				src[i] != NULL ? src[i] : "any");
		}
		sc_sleep_ms(5);
	}
	return NULL;
}

/*
 * UPGRADES upgrades of site 1 in a row, alternately `anylbctl upgrade` and SIGUSR2: each takes
 * over, the prefix never leaves the router, every client session is answered, and every old
 * process exits 0.
 */
static void in_a_row(enum sc_announce_mode mode)
{
	struct as_lb_opts o = {.watchdog_ms = WD_MS};
	struct as_watch w;
	struct load l = {0};
	int64_t sum = 0, longest = 0;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	as_up_opts(mode, &o);
	admin_init();
	long cur = sc_lb_pid(as_run[0].lb);
	as_watch_start(&w, 0, POLL_MS);
	cr_assert_eq(pthread_create(&l.th, NULL, load_main, &l), 0);
	for (int k = 0; k < UPGRADES; k++) {
		long next;
		sc_sleep_ms(300); /* sessions between upgrades */
		int64_t t = sc_now_ms();
		if (k % 2 == 0) {
			struct sc_run r;
			int rc = sc_run_anylbctl(&r, 30000, "-s", admin_sock, "upgrade", NULL);
			cr_assert_eq(rc, 0);
			cr_expect_eq(r.status, 0, "upgrade %d by anylbctl: %s%s", k, r.out, r.err);
			sc_run_free(&r);
		} else {
			cr_assert_eq(kill((pid_t)cur, SIGUSR2), 0);
		}
		next = sc_upgrade_wait_successor(admin_where, cur, 20000);
		if (next <= 0)
			as_fail_dump();
		cr_assert_gt(next, 0, "upgrade %d (%s) did not take over", k,
			k % 2 == 0 ? "anylbctl" : "SIGUSR2");
		track(next);
		int64_t ms = sc_now_ms() - t;
		sum += ms;
		longest = ms > longest ? ms : longest;
		cur = next;
		sc_reap_pids(succ, nsucc, succ_status, succ_reaped);
	}
	sc_sleep_ms(300);
	atomic_store(&l.stop, 1);
	pthread_join(l.th, NULL);
	expect_never_left(&w, "upgrades in a row");
	fprintf(stderr,
		"upgrade-anycast: %s: %d upgrades in a row, %lld ms on average, longest %lld ms; "
		"%u client sessions, %u failed; the router's fewest paths v4 %d, v6 %d over %u "
		"samples\n",
		as_mode_name(), UPGRADES, (long long)(sum / UPGRADES), (long long)longest, l.tried,
		l.failed, w.min_paths[0], w.min_paths[1], w.samples[0]);
	cr_expect_eq(l.failed, 0, "%u of %u sessions failed, the first (%s): %s", l.failed, l.tried,
		l.first, strerror(l.first_err));
	cr_expect_geq(l.tried, 300u, "only %u sessions", l.tried);
	if (mode == SC_ANNOUNCE_INTERFACE) {
		long wd[MAX_WATCHDG];
		watchdog_of(cur);
		for (size_t i = 0; i + 1 < nsucc; i++)
			cr_expect_eq(watchdogs_of(succ[i], wd, MAX_WATCHDG), 0,
				"the old process %ld still has a watchdog", succ[i]);
	}
	sessions(AS_NSESS, "after the upgrades");

	/* The old processes drain (no session is left) and exit 0. */
	cr_expect_eq(sc_lb_wait(as_run[0].lb, AS_DRAIN_MS + 3000), 0, "the first process");
	for (size_t i = 0; i + 1 < nsucc; i++) {
		cr_expect_eq(
			succ_wait_gone(succ[i], AS_DRAIN_MS + 3000), 0, "pid %ld runs", succ[i]);
		cr_expect(!succ_reaped[i] || succ_status[i] == 0, "pid %ld exited %d", succ[i],
			succ_status[i]);
	}
	/* The last one stops as any anylb: withdraws, exits 0. */
	size_t last = track_index(cur);
	succ_stop(cur);
	cr_expect(succ_reaped[last] && succ_status[last] == 0, "the last process exited %d",
		succ_status[last]);
	as_down();
}

Test(upgrade_anycast_interface, ten_in_a_row_the_prefix_never_leaves, .timeout = 90)
{
	in_a_row(SC_ANNOUNCE_INTERFACE);
}

Test(upgrade_anycast_bird_protocol, ten_in_a_row_the_prefix_never_leaves, .timeout = 90)
{
	in_a_row(SC_ANNOUNCE_BIRD_PROTOCOL);
}

/* ---- bird_protocol mode: kills do not withdraw (no watchdog in this mode) ----------------- */

Test(upgrade_anycast_bird_protocol, attached_kill_old)
{
	kill_old_new_serves(SC_ANNOUNCE_BIRD_PROTOCOL, "attached");
}

Test(upgrade_anycast_bird_protocol, attached_kill_new)
{
	kill_new_old_serves(SC_ANNOUNCE_BIRD_PROTOCOL, "attached");
}
