/*
 * DOC: scenario: failover under load
 *
 * Three echo backends run as processes of their own (tests/tools/echo_backend) so that one can be
 * SIGKILLed, restarted on its port, or SIGSTOPped, while client threads run a bounded load through
 * anylb: short sessions, each one connect, a 1-4 KiB payload, the same bytes back (checksummed),
 * close. Every session records when it started and ended and how it went; the assertions are
 * about which sessions may fail:
 *
 *   SIGKILL   only sessions in flight at the kill: started before the process was gone (reaped:
 *             its sockets are closed by then) and not finished before the kill. A session that
 *             starts later can only meet a refused connect, which anylb retries elsewhere.
 *   SIGSTOP   the kernel still completes handshakes into the frozen process's accept queue, so
 *             sessions routed there hang until anylb stops routing there. Sessions that start
 *             after that point (the first transition of the frozen backend in the log) must not
 *             fail; connects that time out on the full queue are retried (timeouts.connect).
 *
 * Detection times are taken from the log lines' own timestamps against the wall clock at the
 * signal, and printed in a fixed format for docs/BENCHMARKS.md:
 *   detection: active SIGKILL->not_ready 412 ms
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(failover, .fini = sc_cleanup, .timeout = 60);

#define NBACK 3

/* ---- backends as processes ------------------------------------------------------------------- */

static struct sc_tool *eb_start(const char *addr, const char *backlog)
{
	struct sc_tool *t = sc_tool_start("echo_backend", "-b", backlog, addr, NULL);
	int rc;

	cr_assert_not_null(t, "echo_backend %s", addr);
	rc = sc_tool_wait_output(t, 0, "listening ", 3000, NULL);
	cr_assert_eq(rc, 0, "echo_backend %s did not start listening: %s", addr, strerror(-rc));
	return t;
}

/* Stops a backend that should still run; it must exit 0 on its own SIGTERM. */
static void expect_stopped(struct sc_tool *t, const char *name)
{
	int rc = sc_tool_stop(t);

	cr_assert_eq(rc, 0, "echo_backend %s: exit status %d (%s)", name, rc,
		rc < 0 ? strerror(-rc) : "");
}

/* The backend's count of data sessions (connections that were not a "PING" check). */
static unsigned eb_data(struct sc_tool *t)
{
	size_t off = sc_tool_output_offset(t);
	struct sc_log_line line;
	const char *p;

	cr_assert_eq(sc_tool_signal(t, SIGUSR1), 0);
	cr_assert_eq(sc_tool_wait_output(t, off, "stats ", 2000, &line), 0);
	p = strstr(line.text, "data=");
	cr_assert_not_null(p);
	return (unsigned)strtoul(p + 5, NULL, 10);
}

/* ---- the load -------------------------------------------------------------------------------- */

struct sess {
	int64_t start, end;
	int rc; /* 0, or -errno of the step that failed (-EBADMSG: checksum) */
	int done;
};

struct load {
	const char *addr;
	int total;
	int64_t t_begin;
	double period_ms; /* between session starts, over all threads */
	int io_ms;        /* bound on each step of a session */
	atomic_int next;
	atomic_int ndone; /* sessions finished, whatever their outcome */
	struct sess *s;
	pthread_t th[8];
	int nth;
};

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int one_session(const struct load *l, int i)
{
	uint8_t out[4096], in[4096];
	size_t len = 1024 + (size_t)((unsigned)i * 2654435761u % 3073u);
	int fd, rc;

	sc_pattern_fill((uint64_t)i + 1, 0, out, len);
	fd = sc_connect(l->addr, l->io_ms);
	if (fd < 0)
		return fd;
	rc = sc_send_all(fd, out, len, l->io_ms);
	if (rc == 0)
		rc = sc_recv_exact(fd, in, len, l->io_ms);
	if (rc == 0 && fnv1a(in, len) != fnv1a(out, len))
		rc = -EBADMSG;
	close(fd);
	return rc;
}

static void *load_main(void *arg)
{
	struct load *l = arg;

	for (;;) {
		int i = atomic_fetch_add(&l->next, 1);
		int64_t at;

		if (i >= l->total)
			return NULL;
		at = l->t_begin + (int64_t)(i * l->period_ms);
		/* Pacing, not a wait: the load's schedule of session starts. */
		if (at > sc_now_ms())
			sc_sleep_ms((int)(at - sc_now_ms()));
		l->s[i].start = sc_now_ms();
		l->s[i].rc = one_session(l, i);
		l->s[i].end = sc_now_ms();
		l->s[i].done = 1;
		atomic_fetch_add(&l->ndone, 1);
	}
}

static void load_start(
	struct load *l, const char *addr, int total, int duration_ms, int nth, int io_ms)
{
	memset(l, 0, sizeof(*l));
	l->addr = addr;
	l->total = total;
	l->period_ms = (double)duration_ms / total;
	l->io_ms = io_ms;
	l->nth = nth;
	l->s = calloc((size_t)total, sizeof(*l->s));
	cr_assert_not_null(l->s);
	l->t_begin = sc_now_ms() + 50;
	for (int k = 0; k < nth; k++)
		cr_assert_eq(pthread_create(&l->th[k], NULL, load_main, l), 0);
}

static void load_join(struct load *l)
{
	for (int k = 0; k < l->nth; k++)
		pthread_join(l->th[k], NULL);
}

/*
 * Waits until the load has finished the sessions scheduled in its first at_ms: the point of the
 * load where a test acts. Counted in sessions, not read off the clock, so that a load running
 * behind its schedule on a busy machine still has that much behind it.
 */
static void wait_load(struct load *l, int at_ms)
{
	int want = (int)(at_ms / l->period_ms);
	int64_t deadline = l->t_begin + at_ms + 10000;

	while (atomic_load(&l->ndone) < want) {
		cr_assert_lt(sc_now_ms(), deadline, "the load finished %d of %d sessions by %d ms",
			atomic_load(&l->ndone), want, at_ms + 10000);
		sc_sleep_ms(2);
	}
}

/* Waits until every backend has passed its first readiness check: the service is fully up. */
static void wait_all_ready(const struct sc_lb *lb, char addrs[NBACK][SC_ADDRSTRLEN])
{
	for (int i = 0; i < NBACK; i++) {
		int rc = sc_lb_wait_first_verdict(lb, 0, addrs[i], "svc", NULL, 3000, NULL);

		cr_assert_eq(rc, 0, "backend %s did not pass its first check within 3 s", addrs[i]);
	}
}

/* Prints every failed session relative to t0. */
static int report_failures(const struct load *l, int64_t t0, const char *what)
{
	int failed = 0;

	for (int i = 0; i < l->total; i++) {
		if (l->s[i].rc == 0)
			continue;
		failed++;
		fprintf(stderr, "  %s: session %d failed (%s): started %+lld ms, ended %+lld ms\n",
			what, i, strerror(-l->s[i].rc), (long long)(l->s[i].start - t0),
			(long long)(l->s[i].end - t0));
	}
	return failed;
}

/* The first transition of addr to a state in to_re (e.g. "(not_ready|ejected)") at or after
 * off; its wall-clock time, or 0 when there is none within timeout_ms. */
static int64_t first_transition(const struct sc_lb *lb, size_t off, const char *addr,
	const char *to_re, int timeout_ms, struct sc_log_line *out)
{
	char re[512], qa[2 * SC_ADDRSTRLEN];

	snprintf(re, sizeof(re),
		"backend %s \\(svc\\): [a-z_]+ -> %s: ", sc_re_quote(addr, qa, sizeof(qa)), to_re);
	return sc_lb_wait_log_re(lb, off, re, timeout_ms, out) == 0 ? out->wall_ms : 0;
}

/* Prints the log lines about backend addr: its transitions with their reasons. */
static void print_backend_lines(const struct sc_lb *lb, const char *addr)
{
	char *text = sc_read_file(sc_lb_log_path(lb)), *save = NULL;
	char needle[SC_ADDRSTRLEN + 16];

	if (text == NULL)
		return;
	snprintf(needle, sizeof(needle), "backend %s ", addr);
	for (char *ln = strtok_r(text, "\n", &save); ln != NULL; ln = strtok_r(NULL, "\n", &save)) {
		if (strstr(ln, needle) != NULL)
			fprintf(stderr, "  | %s\n", ln);
	}
	free(text);
}

static void addrs_make(char addrs[NBACK][SC_ADDRSTRLEN], char *listen)
{
	for (int i = 0; i < NBACK; i++)
		cr_assert_gt(sc_free_addr(AF_INET, addrs[i], SC_ADDRSTRLEN), 0);
	cr_assert_gt(sc_free_addr(AF_INET, listen, SC_ADDRSTRLEN), 0);
}

/* A service over the three backends, with the given extra YAML for the service. */
static struct sc_lb *lb_start(
	const char *listen, char addrs[NBACK][SC_ADDRSTRLEN], const char *extra)
{
	return sc_lb_start("global:\n"
			   "  workers: 2\n"
			   "services:\n"
			   "  - name: svc\n"
			   "    listen: [\"%s\"]\n"
			   "    retries: 2\n"
			   "    backends:\n"
			   "      - address: \"%s\"\n"
			   "      - address: \"%s\"\n"
			   "      - address: \"%s\"\n"
			   "%s",
		listen, addrs[0], addrs[1], addrs[2], extra);
}

#define READINESS                                                                                  \
	"    health:\n"                                                                            \
	"      readiness:\n"                                                                       \
	"        type: send_expect\n"                                                              \
	"        send: \"PING\\n\"\n"                                                              \
	"        expect: \"PING\"\n"                                                               \
	"        interval: 200ms\n"                                                                \
	"        fast_interval: 100ms\n"                                                           \
	"        timeout: 200ms\n"                                                                 \
	"        rise: 2\n"                                                                        \
	"        fall: 2\n"

/* ---- the tests ------------------------------------------------------------------------------- */

Test(failover, sigkill_and_restart_under_load)
{
	enum { TOTAL = 2000, DURATION = 20000, KILL_AT = 5000, RESTART_AT = 12000 };
	char addrs[NBACK][SC_ADDRSTRLEN], listen[SC_ADDRSTRLEN];
	struct sc_tool *eb[NBACK], *again;
	struct sc_log_line line;
	struct sc_lb *lb;
	struct load l;
	int64_t t_kill, t_gone, w_kill, w_restart, w_active, w_passive, w_ready;
	int failed = 0, late = 0, inflight = 0;
	unsigned data;
	size_t off;

	addrs_make(addrs, listen);
	for (int i = 0; i < NBACK; i++)
		eb[i] = eb_start(addrs[i], "128");
	lb = lb_start(listen, addrs, READINESS);
	cr_assert_not_null(lb);
	wait_all_ready(lb, addrs);

	load_start(&l, listen, TOTAL, DURATION, 4, 3000);
	wait_load(&l, KILL_AT);
	off = sc_lb_log_offset(lb);
	w_kill = sc_wall_ms();
	t_kill = sc_now_ms();
	cr_assert_eq(sc_tool_signal(eb[1], SIGKILL), 0);
	cr_assert_eq(sc_tool_wait(eb[1], 2000), 128 + SIGKILL);
	t_gone = sc_now_ms();
	w_active = first_transition(lb, off, addrs[1], "not_ready", 3000, &line);
	w_passive = first_transition(lb, off, addrs[1], "ejected", 0, &line);

	wait_load(&l, RESTART_AT);
	off = sc_lb_log_offset(lb);
	w_restart = sc_wall_ms();
	again = eb_start(addrs[1], "128");
	w_ready = first_transition(lb, off, addrs[1], "ready", 3000, &line);
	load_join(&l);

	/* Who failed: only sessions in flight at the kill. */
	for (int i = 0; i < TOTAL; i++) {
		const struct sess *s = &l.s[i];

		cr_assert(s->done, "session %d never ran", i);
		if (s->start < t_gone && s->end >= t_kill)
			inflight++;
		if (s->rc == 0)
			continue;
		failed++;
		if (!(s->start < t_gone && s->end >= t_kill))
			late++;
	}
	report_failures(&l, t_kill, "SIGKILL");
	data = eb_data(again);
	fprintf(stderr,
		"failover: %d sessions, %d failed, all of them among the %d in flight at the kill "
		"(%lld ms from SIGKILL to the process gone)\n",
		TOTAL, failed, inflight, (long long)(t_gone - t_kill));
	fprintf(stderr, "detection: active SIGKILL->not_ready %lld ms\n",
		(long long)(w_active - w_kill));
	if (w_passive != 0)
		fprintf(stderr, "detection: passive SIGKILL->ejected %lld ms (active checks on)\n",
			(long long)(w_passive - w_kill));
	else
		fprintf(stderr, "detection: passive SIGKILL->ejected none (active check first)\n");
	fprintf(stderr, "detection: recovery restart->ready %lld ms\n",
		(long long)(w_ready - w_restart));
	fprintf(stderr, "failover: the restarted backend served %u sessions\n", data);
	print_backend_lines(lb, addrs[1]);

	cr_assert_neq(w_active, 0, "the killed backend never went not_ready");
	cr_assert_neq(w_ready, 0, "the restarted backend never came back to ready");
	cr_assert_eq(late, 0, "%d sessions failed that were not in flight at the kill", late);
	cr_assert_gt(data, 100, "the restarted backend got %u sessions", data);

	cr_assert_eq(sc_lb_stop(lb), 0);
	expect_stopped(again, "again");
	sc_tool_stop(eb[1]); /* reaped already: just unregisters */
	expect_stopped(eb[0], "eb[0]");
	expect_stopped(eb[2], "eb[2]");
	free(l.s);
}

Test(failover, sigstop_frozen_backend_under_load)
{
	enum { TOTAL = 700, DURATION = 7000, STOP_AT = 2000, IO_MS = 1500 };
	/* readiness: interval (+10% jitter), fall x timeout, fast_interval (+10%) in between. */
	enum { BOUND = 220 + 2 * 200 + 110, MARGIN = 300, PUBLISH = 50 };
	char addrs[NBACK][SC_ADDRSTRLEN], listen[SC_ADDRSTRLEN];
	struct sc_tool *eb[NBACK];
	struct sc_log_line line;
	struct sc_lb *lb;
	struct load l;
	int64_t w_stop, t_stop, w_active, w_passive, w_first, t_det, w_cont, w_ready;
	int failed = 0, late = 0;
	size_t off;

	addrs_make(addrs, listen);
	/* A short accept queue, so that it fills and connects to the frozen one time out. */
	for (int i = 0; i < NBACK; i++)
		eb[i] = eb_start(addrs[i], "4");
	lb = lb_start(listen, addrs,
		"    timeouts:\n"
		"      connect: 300ms\n" READINESS);
	cr_assert_not_null(lb);
	wait_all_ready(lb, addrs);

	load_start(&l, listen, TOTAL, DURATION, 8, IO_MS);
	wait_load(&l, STOP_AT);
	off = sc_lb_log_offset(lb);
	w_stop = sc_wall_ms();
	t_stop = sc_now_ms();
	cr_assert_eq(sc_tool_signal(eb[2], SIGSTOP), 0);
	w_active = first_transition(lb, off, addrs[2], "not_ready", 3000, &line);
	w_passive = first_transition(lb, off, addrs[2], "ejected", 0, &line);
	w_first = first_transition(lb, off, addrs[2], "(not_ready|ejected)", 0, &line);
	load_join(&l);

	off = sc_lb_log_offset(lb);
	w_cont = sc_wall_ms();
	cr_assert_eq(sc_tool_signal(eb[2], SIGCONT), 0);
	w_ready = first_transition(lb, off, addrs[2], "ready", 3000, &line);

	cr_assert_neq(w_first, 0, "the frozen backend was never taken out");
	t_det = t_stop + (w_first - w_stop);
	for (int i = 0; i < TOTAL; i++) {
		const struct sess *s = &l.s[i];

		cr_assert(s->done, "session %d never ran", i);
		if (s->rc == 0)
			continue;
		failed++;
		if (s->start >= t_det + PUBLISH || s->end < t_stop)
			late++;
	}
	report_failures(&l, t_stop, "SIGSTOP");
	fprintf(stderr,
		"frozen: %d sessions, %d failed (hung on the frozen backend before it was taken "
		"out)\n",
		TOTAL, failed);
	fprintf(stderr, "detection: active SIGSTOP->not_ready %lld ms\n",
		(long long)(w_active != 0 ? w_active - w_stop : -1));
	if (w_passive != 0)
		fprintf(stderr, "detection: passive SIGSTOP->ejected %lld ms (active checks on)\n",
			(long long)(w_passive - w_stop));
	else
		fprintf(stderr, "detection: passive SIGSTOP->ejected none (active check first)\n");
	fprintf(stderr, "detection: recovery SIGCONT->ready %lld ms\n",
		(long long)(w_ready - w_cont));
	print_backend_lines(lb, addrs[2]);

	cr_assert_lt(w_first - w_stop, BOUND + MARGIN,
		"the frozen backend was taken out %lld ms after SIGSTOP (bound %d + %d ms)",
		(long long)(w_first - w_stop), BOUND, MARGIN);
	cr_assert_eq(late, 0,
		"%d sessions failed that started after the frozen backend was taken out", late);
	cr_assert_neq(w_ready, 0, "the thawed backend did not come back to ready");

	cr_assert_eq(sc_lb_stop(lb), 0);
	for (int i = 0; i < NBACK; i++)
		expect_stopped(eb[i], "eb[i]");
	free(l.s);
}

Test(failover, sigkill_passive_detection_only)
{
	enum { TOTAL = 400, DURATION = 4000, KILL_AT = 1500 };
	char addrs[NBACK][SC_ADDRSTRLEN], listen[SC_ADDRSTRLEN];
	struct sc_tool *eb[NBACK];
	struct sc_log_line line;
	struct sc_lb *lb;
	struct load l;
	int64_t t_kill, t_gone, w_kill, w_eject;
	int failed = 0, late = 0;
	size_t off;

	addrs_make(addrs, listen);
	for (int i = 0; i < NBACK; i++)
		eb[i] = eb_start(addrs[i], "128");
	lb = lb_start(listen, addrs,
		"    outlier:\n"
		"      consecutive_failures: 3\n");
	cr_assert_not_null(lb);

	load_start(&l, listen, TOTAL, DURATION, 4, 3000);
	wait_load(&l, KILL_AT);
	off = sc_lb_log_offset(lb);
	w_kill = sc_wall_ms();
	t_kill = sc_now_ms();
	cr_assert_eq(sc_tool_signal(eb[0], SIGKILL), 0);
	cr_assert_eq(sc_tool_wait(eb[0], 2000), 128 + SIGKILL);
	t_gone = sc_now_ms();
	w_eject = first_transition(lb, off, addrs[0], "ejected", 3000, &line);
	load_join(&l);

	for (int i = 0; i < TOTAL; i++) {
		const struct sess *s = &l.s[i];

		cr_assert(s->done, "session %d never ran", i);
		if (s->rc == 0)
			continue;
		failed++;
		if (!(s->start < t_gone && s->end >= t_kill))
			late++;
	}
	report_failures(&l, t_kill, "SIGKILL, passive only");
	fprintf(stderr, "passive only: %d sessions, %d failed\n", TOTAL, failed);
	fprintf(stderr, "detection: passive-only SIGKILL->ejected %lld ms\n",
		(long long)(w_eject != 0 ? w_eject - w_kill : -1));
	print_backend_lines(lb, addrs[0]);
	cr_assert_neq(w_eject, 0, "the killed backend was never ejected");
	cr_assert_not_null(strstr(line.text, "3 consecutive failures"), "%s", line.text);
	cr_assert_eq(late, 0, "%d sessions failed that were not in flight at the kill", late);

	cr_assert_eq(sc_lb_stop(lb), 0);
	sc_tool_stop(eb[0]);
	expect_stopped(eb[1], "eb[1]");
	expect_stopped(eb[2], "eb[2]");
	free(l.s);
}
