/*
 * DOC: scenario: the drain ladder through real BIRD (two sites and a router)
 *
 * The topology of tests/support/netns.h in bird_protocol mode (each site's BIRD has the static
 * protocols anylb_web4/6 and their de-preferred twins anylb_web4/6_drain, which add the BGP
 * graceful-shutdown community (65535,0); the export filter prepends the site's AS twice to such
 * a route, as examples/bird.conf does), both sites announcing, anylb with its own admin socket
 * per site (tests/support/anycast_site.c). A session from SC_PINNED4 (routed to site 1 by
 * policy, not BGP: a late client, or one a peer forwards back) is open from start to end.
 *
 * `anylbctl drain-site --window 3s` on site 1, then what the router sees:
 *   1. de-preferred: the router's BIRD still has site 1's route, with the community and the
 *      AS path 65001 65001 65001, and its kernel table (ECMP over the best paths) has site 2
 *      alone: new flows go elsewhere; `anylbctl status` says "depreferred" and the time left;
 *   2. after the window: site 1's route is gone from the router's BIRD; the ladder is
 *      "withdrawn" while the pinned session is open, and that session still echoes;
 *   3. the session closed: the ladder is "done" within two of its polls;
 *   4. `anylbctl undrain-site`: both sites announced again (ECMP over both), the community gone.
 * The same with `withdraw web4 --graceful` for one service: web6 stays announced plainly (and a
 * window over 1h is refused, `birdc configure` is repaired back to de-preferred, and a reload
 * keeps the ladder). In interface mode there is no
 * de-preferred source: drain-site withdraws at once, and the pinned session is still served.
 *
 * Suite ladder_upgrade: `anylbctl upgrade` during the window; the successor goes on with the
 * ladder where the old process was (the route never turns plain or goes), and undrains.
 *
 * Budget: about 15 s a test (topology ~5 s, announce ~2 s, window 3 s, drain, undrain ~2 s), under
 * the suite's .timeout of 60 s. Needs root, iproute2 and BIRD 2; skipped with the reason otherwise.
 * Everything made is removed by the suite's .fini, also after a failed assertion.
 */
#include "tests/support/admin_client.h"
#include "tests/support/anycast_site.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(ladder, .fini = as_fini, .timeout = 60);

#define WINDOW_MS 3000

/* The router BIRD's text of the route to family's prefix from site i, or "" (buf). */
static const char *route_from(int family, int site, char *buf, size_t cap)
{
	char cmd[128], reply[8192], tag[64];

	buf[0] = '\0';
	snprintf(cmd, sizeof(cmd), "show route for %s all", sc_anycast_prefix(family));
	int rc = sc_bird_cmd(as_topo.router_bird, cmd, reply, sizeof(reply), 2000);
	cr_assert_geq(rc, 0, "router BIRD: %s: %s", cmd, strerror(-rc));
	snprintf(tag, sizeof(tag), "[%s ", sc_anycast_router_proto(site, family));
	const char *p = strstr(reply, tag);
	if (p == NULL)
		return buf;
	/* From the start of its line to the start of the next route's ("[site..." on it). */
	const char *end = strstr(p + strlen(tag), "[site");
	while (p > reply && p[-1] != '\n')
		p--;
	if (end == NULL)
		end = p + strlen(p);
	while (end > p && end[-1] != '\n')
		end--;
	size_t n = (size_t)(end - p) < cap - 1 ? (size_t)(end - p) : cap - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

static int depreferred(const char *route)
{
	return strstr(route, "(65535,0)") != NULL &&
	       strstr(route, "BGP.as_path: 65001 65001 65001") != NULL;
}

/* Waits until site 1's route for family is as want says: 1 de-preferred, 0 plain, -1 gone. */
static void wait_route(int family, int want, int timeout_ms, const char *when)
{
	char r[4096];
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		route_from(family, 0, r, sizeof(r));
		int is = r[0] == '\0' ? -1 : depreferred(r) ? 1 : 0;
		if (is == want)
			return;
		if (sc_now_ms() > deadline) {
			as_fail_dump();
			cr_assert_fail("%s: site 1's route for %s is %s, want %s:\n%s", when,
				sc_anycast_prefix(family),
				is < 0    ? "gone"
				: is == 1 ? "de-preferred"
					  : "plain",
				want < 0    ? "gone"
				: want == 1 ? "de-preferred"
					    : "plain",
				r);
		}
		sc_sleep_ms(20);
	}
}

/* Waits until site 1's IPv4 route has been de-preferred for 500 ms in a row. */
static void stable_depreferred(int timeout_ms, const char *when)
{
	char r[4096];
	int64_t deadline = sc_now_ms() + timeout_ms, since = -1;

	while (sc_now_ms() < deadline) {
		route_from(AF_INET, 0, r, sizeof(r));
		if (r[0] != '\0' && depreferred(r)) {
			if (since < 0)
				since = sc_now_ms();
			if (sc_now_ms() - since >= 500)
				return;
		} else {
			since = -1;
		}
		sc_sleep_ms(20);
	}
	as_fail_dump();
	cr_assert_fail("%s: site 1's route not de-preferred for 500 ms in a row:\n%s", when, r);
}

static char *ctl(const char *a1, const char *a2, const char *a3, const char *a4)
{
	struct sc_run run;
	char admin[256];

	as_admin_path(0, admin, sizeof(admin));
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", admin, a1, a2, a3, a4, NULL), 0);
	cr_assert_eq(run.status, 0, "anylbctl %s: %s%s", a1, run.out, run.err);
	char *out = strdup(run.out);
	sc_run_free(&run);
	return out;
}

/* Polls `anylbctl status` until it holds needle: its output (free it). */
static char *status_until(const char *needle, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		char *out = ctl("status", NULL, NULL, NULL);
		if (strstr(out, needle) != NULL)
			return out;
		if (sc_now_ms() > deadline) {
			as_fail_dump();
			cr_assert_fail("anylbctl status never said '%s':\n%s", needle, out);
		}
		free(out);
		sc_sleep_ms(100);
	}
}

/* The pinned session: always site 1, whatever BGP says. */
static int pinned_open(void)
{
	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	int fd = sc_connect_from(SC_PINNED4, SC_ANYCAST4_ADDR, 3000);
	sc_netns_enter(NULL);
	cr_assert_geq(fd, 0, "pinned session: %s", strerror(-fd));
	cr_assert_eq(sc_echo(fd, "before the drain\n", 3000), 0);
	return fd;
}

Test(ladder, drain_site_deprefers_withdraws_and_serves_the_open_session)
{
	as_up(SC_ANNOUNCE_BIRD_PROTOCOL);
	int fd = pinned_open();
	wait_route(AF_INET, 0, 2000, "announced");

	int64_t t0 = sc_now_ms();
	free(ctl("drain-site", "--window", "3s", NULL));
	wait_route(AF_INET, 1, 2000, "drain-site");
	wait_route(AF_INET6, 1, 2000, "drain-site");
	int64_t t_dep = sc_now_ms();
	/* Make before break: BIRD enabled the _drain twin before it disabled the protocol. */
	char logp[256];
	snprintf(logp, sizeof(logp), "%s/site1.log", as_topo.dir);
	char *log = sc_read_file(logp);
	cr_assert_not_null(log, "%s", logp);
	const char *en = strstr(log, "Enabling protocol anylb_web4_drain");
	const char *dis = en != NULL ? strstr(en, "Disabling protocol anylb_web4\n") : NULL;
	cr_expect(en != NULL && dis != NULL, "site 1's BIRD, enable _drain then disable:\n%s", log);
	free(log);
	as_expect_bird_paths(AF_INET, 3);
	as_expect_bird_paths(AF_INET6, 3);
	/* Best path only from site 2 now: ECMP over site 2 alone. */
	as_expect_stable(2, 200, 2000, "de-preferred: the router prefers site 2");
	char *st = status_until("drain ladder: depreferred", 2000);
	cr_expect(strstr(st, "s left") != NULL, "the time left is shown:\n%s", st);
	free(st);
	cr_assert_eq(sc_echo(fd, "during the window\n", 3000), 0);

	/* After the window: withdrawn, the open session served. */
	wait_route(AF_INET, -1, WINDOW_MS + 2000, "after the window");
	wait_route(AF_INET6, -1, 1000, "after the window");
	int64_t t_wd = sc_now_ms();
	cr_expect_geq(t_wd - t0, WINDOW_MS - 100, "withdrawn before the window was over");
	free(status_until("drain ladder: withdrawn", 2000));
	cr_assert_eq(sc_echo(fd, "after the withdrawal\n", 3000), 0);
	as_client_sessions(3, "site 2 takes new clients");
	/* Held there by the open session, past a poll of the ladder's (1 s); drain_timeout is
	 * AS_DRAIN_MS (3 s) from the withdrawal. */
	sc_sleep_ms(1200);
	st = status_until("drain ladder: ", 1000);
	cr_assert(strstr(st, "drain ladder: withdrawn") != NULL, "the open session holds it:\n%s",
		st);
	free(st);
	cr_assert_eq(sc_echo(fd, "still served\n", 3000), 0);

	/* The session ends: done. */
	close(fd);
	int64_t t_close = sc_now_ms();
	free(status_until("drain ladder: done: withdrawn and no session left", 1500));
	int64_t t_done = sc_now_ms();

	/* Back. */
	free(ctl("undrain-site", NULL, NULL, NULL));
	wait_route(AF_INET, 0, 3000, "undrain-site");
	wait_route(AF_INET6, 0, 3000, "undrain-site");
	as_expect_paths(2, 3000, NULL, NULL, "undrained: ECMP over both sites");
	free(status_until("drain ladder: announced", 2000));
	fprintf(stderr,
		"ladder: drain-site -> de-preferred at the router %lld ms, withdrawn %lld ms "
		"(window %d ms); session closed -> done %lld ms\n",
		(long long)(t_dep - t0), (long long)(t_wd - t0), WINDOW_MS,
		(long long)(t_done - t_close));
	as_down();
}

Test(ladder, graceful_withdraw_of_one_service)
{
	as_up(SC_ANNOUNCE_BIRD_PROTOCOL);
	wait_route(AF_INET, 0, 2000, "announced");
	/* A window out of range is refused, and nothing moves. */
	struct sc_run run;
	char admin[256];
	as_admin_path(0, admin, sizeof(admin));
	cr_assert_eq(
		sc_run_anylbctl(&run, 10000, "-s", admin, "drain-site", "--window", "2h", NULL), 0);
	cr_expect_eq(run.status, 1, "%s%s", run.out, run.err);
	cr_expect(strstr(run.err, "at most 1h") != NULL, "%s", run.err);
	sc_run_free(&run);
	cr_assert_eq(sc_run_anylbctl(&run, 10000, "-s", admin, "withdraw", "web4", "--graceful",
			     "--window", "25s", NULL),
		0);
	cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
	sc_run_free(&run);
	wait_route(AF_INET, 1, 2000, "withdraw web4 --graceful");
	wait_route(AF_INET6, 0, 100, "web6 untouched");
	char *st = status_until("drain ladder: depreferred", 2000);
	cr_expect(strstr(st, "1 of 2 services") != NULL, "%s", st);
	cr_expect(strstr(st, " 25s left") != NULL || strstr(st, " 24s left") != NULL,
		"the window of --window 25s:\n%s", st);
	free(st);
	/* `birdc configure` resets both protocols to bird.conf (disabled): the repair poll makes
	 * the de-preferred step true again. */
	char reply[1024];
	cr_assert_geq(
		sc_bird_cmd(as_topo.site[0].bird, "configure", reply, sizeof(reply), 3000), 0);
	char state[32];
	cr_assert_eq(sc_bird_protocol(as_topo.site[0].bird, "anylb_web4_drain", state,
			     sizeof(state), NULL, 0),
		0);
	cr_expect_str_eq(state, "down", "configure went back to bird.conf");
	int64_t tc = sc_now_ms();
	cr_assert_eq(sc_bird_wait_protocol(
			     as_topo.site[0].bird, "anylb_web4_drain", "up", NULL, 3000, NULL),
		0, "the repair poll did not enable anylb_web4_drain again");
	cr_assert_eq(
		sc_bird_protocol(as_topo.site[0].bird, "anylb_web4", state, sizeof(state), NULL, 0),
		0);
	cr_expect_str_eq(state, "down");
	fprintf(stderr, "ladder: birdc configure -> de-preferred step repaired in %lld ms\n",
		(long long)(sc_now_ms() - tc));
	stable_depreferred(4000, "repaired after birdc configure");
	/* A reload keeps the ladder where it is. */
	free(ctl("reload", NULL, NULL, NULL));
	wait_route(AF_INET, 1, 100, "after a reload");
	free(status_until("drain ladder: depreferred", 1000));
	/* announce ends the ladder of that service. */
	free(ctl("announce", "web4", NULL, NULL));
	wait_route(AF_INET, 0, 3000, "announce web4");
	free(ctl("auto", "web4", NULL, NULL));
	as_down();
}

Test(ladder, interface_mode_withdraws_at_once)
{
	as_up(SC_ANNOUNCE_INTERFACE);
	int fd = pinned_open();
	int64_t t0 = sc_now_ms();
	free(ctl("drain-site", "--window", "3s", NULL));
	as_expect_paths(1, 2000, NULL, NULL, "interface mode: drain-site withdraws at once");
	int64_t t = sc_now_ms();
	cr_expect_lt(t - t0, 2000, "not after the window");
	as_expect_bird_paths(AF_INET, 2);
	cr_assert_eq(sc_echo(fd, "after the withdrawal\n", 3000), 0);
	free(status_until("drain ladder: withdrawn", 2000));
	close(fd);
	free(ctl("undrain-site", NULL, NULL, NULL));
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, NULL, NULL, "undrained");
	fprintf(stderr, "ladder: interface: drain-site -> withdrawn at the router %lld ms\n",
		(long long)(t - t0));
	as_down();
}

static long successor; /* an upgrade's new process, stopped by fini_upgrade */

static void fini_upgrade(void)
{
	if (successor > 0) {
		kill((pid_t)successor, SIGKILL);
		for (int k = 0; k < 200 && kill((pid_t)successor, 0) == 0; k++) {
			int st;
			waitpid((pid_t)successor, &st, WNOHANG);
			sc_sleep_ms(10);
		}
		successor = 0;
	}
	as_fini();
}

TestSuite(ladder_upgrade, .fini = fini_upgrade, .timeout = 60);

/*
 * `anylbctl upgrade` during the window: the successor carries the ladder on (the route stays
 * de-preferred throughout, never plain, never gone; the time left goes on), then undrain works
 * on the successor. The test is the successors' subreaper; the old process drains and exits 0.
 */
Test(ladder_upgrade, an_upgrade_carries_the_ladder)
{
	char admin[256];

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	as_up(SC_ANNOUNCE_BIRD_PROTOCOL);
	as_admin_path(0, admin, sizeof(admin));
	long old = sc_lb_pid(as_run[0].lb);
	free(ctl("drain-site", "--window", "20s", NULL));
	wait_route(AF_INET, 1, 2000, "drain-site");
	int64_t t0 = sc_now_ms();
	/* 3 s into the window first: a successor that started it over would show ~19 s left. */
	sc_sleep_ms(3000);

	free(ctl("upgrade", NULL, NULL, NULL));
	char where[300];
	snprintf(where, sizeof(where), "unix:%s", admin);
	successor = sc_upgrade_wait_successor(where, old, 20000);
	cr_assert_gt(successor, 0, "the upgrade did not take over");
	/* De-preferred all along: read every 50 ms for a second. */
	for (int i = 0; i < 20; i++) {
		char r[4096];
		route_from(AF_INET, 0, r, sizeof(r));
		if (!depreferred(r))
			as_fail_dump();
		cr_assert(
			depreferred(r), "after the upgrade, sample %d: %s", i, r[0] ? r : "(gone)");
		sc_sleep_ms(50);
	}
	int64_t before = sc_now_ms() - t0;
	char *st = status_until("drain ladder: depreferred", 2000);
	int64_t after = sc_now_ms() - t0;
	long long left = -1;
	const char *p = strstr(st, "services on the ladder, ");
	if (p != NULL)
		sscanf(p, "services on the ladder, %llds left", &left);
	/* Counted from the drain (before t0), rounded up: the window went on, not started over. */
	long long most = (20000 - before + 999) / 1000, least = (20000 - after - 2000) / 1000;
	cr_expect(left >= least && left <= most, "%lld s left, want %lld..%lld:\n%s", left, least,
		most, st);
	free(st);
	fprintf(stderr,
		"ladder: upgrade during the window: the successor goes on with %lld s "
		"left of 20 s\n",
		left);

	free(ctl("undrain-site", NULL, NULL, NULL));
	wait_route(AF_INET, 0, 3000, "undrain-site on the successor");
	cr_expect_eq(sc_lb_wait(as_run[0].lb, AS_DRAIN_MS + 3000), 0, "the old process");

	/* The successor stops as any anylb. */
	cr_assert_eq(kill((pid_t)successor, SIGTERM), 0);
	int status = -1, reaped = 0;
	for (int k = 0; k < 1000 && !reaped; k++) {
		sc_reap_pids(&successor, 1, &status, &reaped);
		if (!reaped)
			sc_sleep_ms(10);
	}
	cr_expect(reaped && status == 0, "the successor exited %d", status);
	if (reaped)
		successor = 0;
	as_down();
}
