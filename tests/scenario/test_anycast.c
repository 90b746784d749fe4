/*
 * DOC: scenario: anycast through BIRD, two sites and a router
 *
 * Each test builds the topology of tests/support/netns.h (a router namespace and two site
 * namespaces, BIRD in each, eBGP from the router to both sites, merge paths into the router's
 * own kernel table), then runs in each site two echo backends (tests/tools/echo_backend on
 * 127.0.0.1) and anylb with a listener on the anycast addresses 192.0.2.10:8080 and
 * [2001:db8::10]:8080. The test itself plays the client, from the router namespace.
 *
 * What is asserted is what the rest of the network sees: the router's kernel table (paths per
 * prefix, read over rtnetlink every millisecond), the router's BIRD (which sites the paths come
 * from), and whether the client's connections are answered, and by which site (the echo
 * backends count the sessions they served). Times are measured from the event the test causes
 * (a kill, a signal, a BIRD command) to the change seen at the router, and printed in a fixed
 * format for docs/BENCHMARKS.md:
 *
 *   anycast: interface: kill -9 -> route gone v4 2 ms, v6 2 ms
 *
 * Suites: anycast_interface (announce: interface, TUN + watchdog, direct protocol) and
 * anycast_bird_protocol (one disabled static protocol per service; there a service announces
 * one address family, because a BIRD static protocol has one channel). The policy (damping)
 * does not depend on the mechanism and is tested once. anycast_examples checks that
 * examples/bird.conf and examples/site.yaml parse and agree.
 *
 * The router also has a source address (SC_PINNED4) routed to site 1 by policy, not BGP: a
 * client behind a router that has not converged yet, to see what a site does with sessions
 * that keep arriving after it withdrew.
 *
 * Needs root, iproute2 and BIRD 2; skipped with the reason otherwise. Everything made is
 * removed by the suites' .fini (anylb, backends, BIRD by pid; namespaces by name), which also
 * runs when an assertion fails.
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
#include <unistd.h>

TestSuite(anycast_interface, .fini = as_fini, .timeout = 60);
TestSuite(anycast_bird_protocol, .fini = as_fini, .timeout = 60);

/* ---- the tests ------------------------------------------------------------------------------ */

/*
 * Both sites announce -> two paths per prefix; all of site 1's backends fail -> site 1
 * withdraws within its detection time + 100 ms and every new session lands on site 2; the
 * backends come back -> site 1 announces again after announce_delay.
 */
static void ecmp_and_backend_failure(enum sc_announce_mode mode)
{
	int64_t t0, t4, t6;

	as_up(mode);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	as_expect_bird_paths(AF_INET, 3);
	as_expect_bird_paths(AF_INET6, 3);
	fprintf(stderr,
		"anycast: %s: ECMP at the router: 2 paths for " SC_ANYCAST4_NET
		" and " SC_ANYCAST6_NET "\n",
		as_mode_name());

	/* ECMP with L4 hashing: the client's sessions are spread over both sites. */
	unsigned before[2] = {as_site_sessions(0), as_site_sessions(1)};
	as_client_sessions(AS_NSESS, "both sites up");
	unsigned got[2] = {as_site_sessions(0) - before[0], as_site_sessions(1) - before[1]};
	cr_assert_eq(got[0] + got[1], 2 * AS_NSESS);
	cr_assert(got[0] > 0 && got[1] > 0, "ECMP: site1 served %u sessions, site2 %u", got[0],
		got[1]);
	fprintf(stderr, "anycast: %s: %d sessions over ECMP: site1 %u, site2 %u\n", as_mode_name(),
		2 * AS_NSESS, got[0], got[1]);

	/* Site 1 loses every backend. */
	size_t off = sc_lb_log_offset(as_run[0].lb);
	t0 = as_eb_kill_all(0);
	as_expect_paths(1, 3000, &t4, &t6, "site1's backends killed");
	as_expect_via(AF_INET, 2);
	as_expect_via(AF_INET6, 2);
	as_expect_bird_paths(AF_INET, 2);
	as_expect_bird_paths(AF_INET6, 2);
	int64_t d4 = t4 - t0, d6 = t6 - t0;
	fprintf(stderr,
		"anycast: %s: backends killed -> route withdrawn v4 %lld ms, v6 %lld ms "
		"(detection %d ms)\n",
		as_mode_name(), (long long)d4, (long long)d6, AS_READY_INTERVAL_MS);
	as_log_wait(0, off, as_withdraw_needle(), 1000, NULL);
	cr_assert_leq(d4, AS_READY_INTERVAL_MS + 100, "v4 withdrawn after %lld ms", (long long)d4);
	cr_assert_leq(d6, AS_READY_INTERVAL_MS + 100, "v6 withdrawn after %lld ms", (long long)d6);

	/* Every new session lands on site 2, none fails. */
	before[1] = as_site_sessions(1);
	as_client_sessions(AS_NSESS, "site1 withdrawn");
	cr_assert_eq(as_site_sessions(1) - before[1], 2 * AS_NSESS,
		"site2 served %u of the %d sessions", as_site_sessions(1) - before[1],
		2 * AS_NSESS);
	fprintf(stderr, "anycast: %s: site1 withdrawn: %d of %d sessions served by site2\n",
		as_mode_name(), 2 * AS_NSESS, 2 * AS_NSESS);

	/* The backends come back: announced again once healthy for announce_delay. */
	off = sc_lb_log_offset(as_run[0].lb);
	t0 = sc_now_ms();
	as_eb_start(0, 0);
	as_eb_start(0, 1);
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, &t4, &t6, "site1's backends back");
	struct sc_log_line ready, ann;
	as_log_wait(0, off, "-> ready", 1000, &ready);
	as_log_wait(0, off, as_announce_needle(), 1000, &ann);
	int64_t held = ann.wall_ms - ready.wall_ms;
	fprintf(stderr,
		"anycast: %s: backends back -> ready -> announce %lld ms (announce_delay %d ms), "
		"route back v4 %lld ms, v6 %lld ms after the restart\n",
		as_mode_name(), (long long)held, AS_ANNOUNCE_DELAY_MS, (long long)(t4 - t0),
		(long long)(t6 - t0));
	cr_assert_geq(
		held, AS_ANNOUNCE_DELAY_MS - 2, "announced %lld ms after ready", (long long)held);
	cr_assert_leq(
		held, AS_ANNOUNCE_DELAY_MS + 300, "announced %lld ms after ready", (long long)held);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	as_down();
}

Test(anycast_interface, ecmp_and_backend_failure)
{
	ecmp_and_backend_failure(SC_ANNOUNCE_INTERFACE);
}

Test(anycast_bird_protocol, ecmp_and_backend_failure)
{
	ecmp_and_backend_failure(SC_ANNOUNCE_BIRD_PROTOCOL);
}

/* Starts site 1's anylb again and measures start -> announce (log) and -> route at the router. */
static void restart_and_measure(const char *what)
{
	struct sc_log_line started, ann;
	int64_t t0 = sc_now_ms(), t4, t6;

	as_lb_start(0);
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, &t4, &t6, "site1's anylb restarted");
	as_log_wait(0, 0, "started: site", 1000, &started);
	as_log_wait(0, 0, as_announce_needle(), 1000, &ann);
	int64_t held = ann.wall_ms - started.wall_ms;
	fprintf(stderr,
		"anycast: %s: %s -> restart -> announce %lld ms after start (announce_delay %d "
		"ms), "
		"route back v4 %lld ms, v6 %lld ms\n",
		as_mode_name(), what, (long long)held, AS_ANNOUNCE_DELAY_MS, (long long)(t4 - t0),
		(long long)(t6 - t0));
	cr_assert_geq(held, AS_ANNOUNCE_DELAY_MS - 2);
	cr_assert_leq(held, AS_ANNOUNCE_DELAY_MS + 500);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
}

/*
 * kill -9: the watchdog reads EOF and exits, the TUN interface vanishes with its addresses,
 * BIRD withdraws: the prefix is gone from the router in under 100 ms.
 */
Test(anycast_interface, kill9_fails_closed)
{
	int64_t t0, t4, t6;
	char out[512];

	as_up(SC_ANNOUNCE_INTERFACE);
	t0 = sc_now_ms();
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGKILL), 0);
	as_expect_paths(1, 3000, &t4, &t6, "site1's anylb killed");
	fprintf(stderr, "anycast: interface: kill -9 -> route gone v4 %lld ms, v6 %lld ms\n",
		(long long)(t4 - t0), (long long)(t6 - t0));
	as_expect_via(AF_INET, 2);
	as_expect_via(AF_INET6, 2);
	cr_assert_lt(t4 - t0, 100, "v4 gone after %lld ms", (long long)(t4 - t0));
	cr_assert_lt(t6 - t0, 100, "v6 gone after %lld ms", (long long)(t6 - t0));
	cr_assert_eq(sc_lb_wait(as_run[0].lb, 2000), 128 + SIGKILL);
	/* The interface went with the watchdog. */
	int rc = sc_cmd(out, sizeof(out), 2000, "ip -n %s link show anylb0", as_topo.site[0].ns);
	cr_assert_neq(rc, 0, "anylb0 still exists in %s: %s", as_topo.site[0].ns, out);
	sc_lb_stop(as_run[0].lb);
	as_run[0].lb = NULL;
	as_client_sessions(AS_NSESS, "site1's anylb killed");
	restart_and_measure("kill -9");
	as_down();
}

/*
 * SIGSTOP: the event loops stop, the heartbeats stop, the watchdog gives up after
 * watchdog_timeout and removes the interface. After SIGCONT anylb finds the watchdog gone,
 * recreates the interface with a new watchdog and announces again only after announce_delay of
 * health; a restart, too, brings the prefixes back after announce_delay.
 */
Test(anycast_interface, sigstop_watchdog)
{
	int64_t t0, t4, t6;

	as_up(SC_ANNOUNCE_INTERFACE);
	t0 = sc_now_ms();
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGSTOP), 0);
	as_expect_paths(1, AS_WATCHDOG_MS + 3000, &t4, &t6, "site1's anylb stopped");
	fprintf(stderr,
		"anycast: interface: SIGSTOP -> route gone v4 %lld ms, v6 %lld ms "
		"(watchdog_timeout %d ms)\n",
		(long long)(t4 - t0), (long long)(t6 - t0), AS_WATCHDOG_MS);
	cr_assert_leq(t4 - t0, AS_WATCHDOG_MS + 200);
	cr_assert_leq(t6 - t0, AS_WATCHDOG_MS + 200);
	as_client_sessions(AS_NSESS, "site1's anylb stopped");

	/*
	 * Woken up, it finds the watchdog gone, recreates the interface and starts over from
	 * withdrawn: the prefix comes back only after announce_delay of health, counted from the
	 * new interface (the log's own clock, so a slow test cannot blur it).
	 */
	struct sc_log_line gone, rearmed, ann;
	size_t off = sc_lb_log_offset(as_run[0].lb);
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGCONT), 0);
	as_log_wait(0, off, "the watchdog is gone", 2000, &gone);
	as_log_wait(0, off, "recreated, held by watchdog", 2000, &rearmed);
	as_expect_via(AF_INET, 2);
	as_expect_via(AF_INET6, 2);
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, &t4, &t6, "site1's anylb woken up");
	as_log_wait(0, off, as_announce_needle(), 1000, &ann);
	int64_t held = ann.wall_ms - gone.wall_ms;
	int nlines = sc_lb_log_count(as_run[0].lb, off, "the watchdog is gone");
	fprintf(stderr,
		"anycast: interface: SIGCONT -> interface recreated %lld ms after \"the watchdog "
		"is gone\" (logged %d times), announce %lld ms after it was found gone "
		"(announce_delay %d ms)\n",
		(long long)(rearmed.wall_ms - gone.wall_ms), nlines, (long long)held,
		AS_ANNOUNCE_DELAY_MS);
	cr_assert_eq(nlines, 1);
	cr_assert_geq(held, AS_ANNOUNCE_DELAY_MS - 2);
	cr_assert_leq(held, AS_ANNOUNCE_DELAY_MS + 500);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	int rc = sc_lb_stop(as_run[0].lb);
	as_run[0].lb = NULL;
	cr_assert_eq(rc, 0, "anylb exit status %d after SIGTERM", rc);
	restart_and_measure("SIGSTOP");
	as_down();
}

/*
 * The largest supported configuration: 4 plain services of 10,000 backends each beside the
 * anycast one. /metrics of it is about 80 MB and /status 20 MB; building them and reloading it
 * are the main thread's work, and the heartbeat does not wait for the main thread
 * (lb/heartbeat.c): while it scrapes and reloads, the router must keep both paths, always.
 */
#define BIG_SERVICES 4
#define BIG_BACKENDS 10000

/* Site's anylb with the big configuration, its admin socket in admin (a path). */
static void lb_start_big(int site, const char *admin)
{
	size_t cap = (size_t)BIG_SERVICES * BIG_BACKENDS * 40 + 8192, o = 0;
	char *yaml = malloc(cap), s1[1024], bgp[512], glob[512];

	cr_assert_not_null(yaml);
	as_service_yaml(s1, sizeof(s1), "web", "\"" SC_ANYCAST4_ADDR "\", \"" SC_ANYCAST6_ADDR "\"",
		SC_ANYCAST4_NET ", \"" SC_ANYCAST6_NET "\"", NULL);
	o += (size_t)snprintf(yaml + o, cap - o, "%s%sservices:\n%s",
		as_global_yaml(glob, sizeof(glob), site, admin),
		as_bgp_interface_yaml(bgp, sizeof(bgp), site, AS_WATCHDOG_MS), s1);
	for (int k = 0; k < BIG_SERVICES; k++) {
		o += (size_t)snprintf(yaml + o, cap - o,
			"  - name: big%d\n    listen: [\"127.0.0.1:%d\"]\n    backends:\n", k,
			19001 + k);
		for (int i = 0; i < BIG_BACKENDS; i++)
			o += (size_t)snprintf(yaml + o, cap - o,
				"      - address: 10.%d.%d.%d:80\n", 100 + k, i >> 8, i & 255);
	}
	cr_assert_lt(o, cap);
	cr_assert_eq(sc_netns_enter(as_topo.site[site].ns), 0);
	as_run[site].lb = sc_lb_start("%s", yaml);
	sc_netns_enter(NULL);
	free(yaml);
	cr_assert_not_null(as_run[site].lb, "anylb did not start in %s", as_topo.site[site].ns);
}

Test(anycast_interface, the_largest_config_scrapes_and_reloads_without_a_flap, .timeout = 300)
{
	char why[512], admin[256], where[280];

	if (sc_netns_check(why, sizeof(why)) < 0)
		cr_skip("anycast scenario skipped: %s", why);
	cr_assert_eq(
		sc_anycast_up(&as_topo, SC_ANNOUNCE_INTERFACE, why, sizeof(why)), 0, "%s", why);
	snprintf(admin, sizeof(admin), "%s/site1-admin.sock", as_topo.dir);
	snprintf(where, sizeof(where), "unix:%s", admin);
	for (int s = 0; s < 2; s++) {
		as_eb_start(s, 0);
		as_eb_start(s, 1);
	}
	lb_start_big(0, admin);
	as_lb_start(1);
	as_expect_paths(2, AS_CONVERGE_MS, NULL, NULL, "both sites announcing");

	struct as_watch w;
	size_t off = sc_lb_log_offset(as_run[0].lb);
	as_watch_start(&w, 0, 2);
	size_t metrics_bytes = 0, status_bytes = 0;
	int64_t t0 = sc_now_ms();
	for (int round = 0; round < 5; round++) {
		struct sc_http_resp r;
		cr_assert_eq(sc_http(where, "GET", "/metrics", NULL, 60000, &r), 0);
		cr_expect_eq(r.status, 200);
		metrics_bytes = r.body_len;
		sc_http_free(&r);
		if (round % 2 == 0) {
			cr_assert_eq(sc_http(where, "GET", "/status", NULL, 60000, &r), 0);
			cr_expect_eq(r.status, 200);
			status_bytes = r.body_len;
			sc_http_free(&r);
		}
		cr_assert_eq(sc_http(where, "POST", "/reload", NULL, 60000, &r), 0);
		cr_expect_eq(r.status, 200, "reload: %s", r.body);
		sc_http_free(&r);
	}
	int64_t took = sc_now_ms() - t0;
	as_watch_stop(&w);
	fprintf(stderr,
		"anycast: interface: %d x %d backends: 5 scrapes of /metrics (%zu bytes), 3 of "
		"/status (%zu bytes), 5 reloads in %lld ms; the router's fewest paths %d over %u "
		"samples\n",
		BIG_SERVICES, BIG_BACKENDS, metrics_bytes, status_bytes, (long long)took,
		w.min_paths[0], w.samples[0]);
	cr_expect_gt(metrics_bytes, 10u << 20, "a large answer: %zu bytes", metrics_bytes);
	cr_expect_gt(w.samples[0], 100u);
	if (w.min_paths[0] != 2 || w.min_paths[1] != 2)
		as_fail_dump();
	cr_expect(w.min_paths[0] == 2 && w.min_paths[1] == 2,
		"the site was withdrawn during a scrape or a reload");
	cr_expect_eq(sc_lb_log_count(as_run[0].lb, off, "withdraw"), 0);
	cr_expect_eq(sc_lb_log_count(as_run[0].lb, off, "the watchdog is gone"), 0);
	as_expect_via(AF_INET, 3);
	as_down();
}

/*
 * announce_delay 1s, flap_window 1m: each withdraw within the window doubles the delay before
 * the next announce: 1 s, 2 s, 4 s (the policy does not depend on the mechanism).
 */
Test(anycast_interface, flapping_lengthens_announce_delay, .timeout = 90)
{
	int64_t expect_ms = AS_ANNOUNCE_DELAY_MS;

	as_up(SC_ANNOUNCE_INTERFACE);
	for (int flap = 1; flap <= 3; flap++, expect_ms *= 2) {
		struct sc_log_line ready, ann;
		size_t off = sc_lb_log_offset(as_run[0].lb);

		as_eb_kill_all(0);
		as_expect_paths(1, 3000, NULL, NULL, "site1 flapping down");
		as_log_wait(0, off, "service web: withdraw ", 1000, NULL);
		off = sc_lb_log_offset(as_run[0].lb);
		as_eb_start(0, 0);
		as_eb_start(0, 1);
		as_expect_paths(2, (int)expect_ms + 3000, NULL, NULL, "site1 flapping up");
		as_log_wait(0, off, "-> ready", 1000, &ready);
		as_log_wait(0, off, "service web: announce ", 1000, &ann);
		int64_t held = ann.wall_ms - ready.wall_ms;
		fprintf(stderr,
			"anycast: interface: withdraw %d -> ready -> announce %lld ms (expected "
			"%lld "
			"ms)\n",
			flap, (long long)held, (long long)expect_ms);
		cr_assert_geq(held, expect_ms - 2, "withdraw %d: announced after %lld ms", flap,
			(long long)held);
		cr_assert_leq(held, expect_ms + 300, "withdraw %d: announced after %lld ms", flap,
			(long long)held);
		char reason[64];
		snprintf(
			reason, sizeof(reason), ": healthy for %llds", (long long)expect_ms / 1000);
		cr_assert_not_null(strstr(ann.text, reason), "withdraw %d: want \"%s\" in: %s",
			flap, reason, ann.text);
	}
	as_down();
}

/* Waits until site's BIRD has protocol name in state; returns when (sc_now_ms). */
static int64_t site_proto_wait(int site, const char *name, const char *state, int timeout_ms)
{
	int64_t at = 0;
	int rc = sc_bird_wait_protocol(as_topo.site[site].bird, name, state, NULL, timeout_ms, &at);

	if (rc != 0)
		as_fail_dump();
	cr_assert_eq(rc, 0, "%s BIRD: protocol %s not %s within %d ms", as_topo.site[site].name,
		name, state, timeout_ms);
	return at;
}

/* Waits until site's BIRD has the anycast prefix of family in its table. */
static int64_t site_route_wait(int site, int family, int timeout_ms)
{
	char cmd[128], reply[2048];
	int64_t deadline = sc_now_ms() + timeout_ms;

	snprintf(cmd, sizeof(cmd), "show route for %s", sc_anycast_prefix(family));
	for (;;) {
		int64_t now = sc_now_ms();
		int rc = sc_bird_cmd(as_topo.site[site].bird, cmd, reply, sizeof(reply), 500);
		if (rc == 1007 &&
			strstr(reply, family == AF_INET ? SC_ANYCAST4_NET : SC_ANYCAST6_NET))
			return now;
		if (now >= deadline) {
			as_fail_dump();
			cr_assert_fail("%s BIRD: `%s` answers %d: %s", as_topo.site[site].name, cmd,
				rc, reply);
		}
		sc_sleep_ms(2);
	}
}

/*
 * `birdc configure` and a BIRD restart at site 1: the desired state is back in that BIRD
 * within a second, and the router gets both paths back.
 */
static void bird_restart_and_configure(enum sc_announce_mode mode)
{
	char reply[1024];
	int64_t t0, t4, t6, at4, at6;
	int rc;

	as_up(mode);

	/* configure: BIRD resets runtime enable/disable to bird.conf. */
	size_t off = sc_lb_log_offset(as_run[0].lb);
	t0 = sc_now_ms();
	rc = sc_bird_cmd(as_topo.site[0].bird, "configure", reply, sizeof(reply), 5000);
	cr_assert(rc == 3 || rc == 4, "configure answered %d: %s", rc, reply);
	if (mode == SC_ANNOUNCE_BIRD_PROTOCOL) {
		/* BIRD drops the prefixes at once; the router sees the gap until the repair. */
		int64_t g4, g6;
		as_expect_paths(1, 1000, &g4, &g6, "configure at site1 disabling the protocols");
		as_log_wait(0, off, "repairing", 2000, NULL);
		at4 = site_proto_wait(0, "anylb_web4", "up", 1500);
		at6 = site_proto_wait(0, "anylb_web6", "up", 1500);
		as_expect_paths(2, 5000, &t4, &t6, "after configure at site1");
		fprintf(stderr,
			"anycast: bird_protocol: birdc configure -> router lost site1 for v4 %lld "
			"ms, "
			"v6 %lld ms (until anylb repaired the protocols)\n",
			(long long)(t4 - g4), (long long)(t6 - g6));
	} else {
		at4 = site_route_wait(0, AF_INET, 1500);
		at6 = site_route_wait(0, AF_INET6, 1500);
	}
	as_expect_paths(2, 5000, &t4, &t6, "after configure at site1");
	fprintf(stderr,
		"anycast: %s: birdc configure -> desired state at the site v4 %lld ms, v6 %lld ms; "
		"router has both paths v4 %lld ms, v6 %lld ms\n",
		as_mode_name(), (long long)(at4 - t0), (long long)(at6 - t0), (long long)(t4 - t0),
		(long long)(t6 - t0));
	cr_assert_leq(at4 - t0, 1000);
	cr_assert_leq(at6 - t0, 1000);

	/* A crash and a restart of the site's BIRD. */
	t0 = sc_now_ms();
	cr_assert_eq(sc_bird_kill(as_topo.site[0].bird), 0);
	as_expect_paths(1, 5000, &t4, &t6, "site1's BIRD killed");
	fprintf(stderr,
		"anycast: %s: site BIRD kill -9 -> router drops it v4 %lld ms, v6 %lld ms\n",
		as_mode_name(), (long long)(t4 - t0), (long long)(t6 - t0));
	t0 = sc_now_ms();
	cr_assert_eq(sc_bird_restart(as_topo.site[0].bird), 0);
	if (mode == SC_ANNOUNCE_BIRD_PROTOCOL) {
		at4 = site_proto_wait(0, "anylb_web4", "up", 3000);
		at6 = site_proto_wait(0, "anylb_web6", "up", 3000);
	} else {
		at4 = site_route_wait(0, AF_INET, 3000);
		at6 = site_route_wait(0, AF_INET6, 3000);
	}
	as_expect_paths(2, 10000, &t4, &t6, "site1's BIRD restarted");
	fprintf(stderr,
		"anycast: %s: site BIRD restart -> desired state at the site v4 %lld ms, v6 %lld "
		"ms; router has both paths v4 %lld ms, v6 %lld ms\n",
		as_mode_name(), (long long)(at4 - t0), (long long)(at6 - t0), (long long)(t4 - t0),
		(long long)(t6 - t0));
	cr_assert_leq(at4 - t0, 1000);
	cr_assert_leq(at6 - t0, 1000);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	as_client_sessions(AS_NSESS, "after the site's BIRD restarted");
	as_down();
}

Test(anycast_interface, bird_restart_and_configure)
{
	bird_restart_and_configure(SC_ANNOUNCE_INTERFACE);
}

Test(anycast_bird_protocol, bird_restart_and_configure)
{
	bird_restart_and_configure(SC_ANNOUNCE_BIRD_PROTOCOL);
}

/*
 * SIGTERM: every prefix is withdrawn before the listeners close ("withdraw" is logged before
 * "stopping: no new connections"), the router drops the site, new sessions go to site 2, and
 * anylb exits 0.
 */
static void sigterm_withdraws_first(enum sc_announce_mode mode)
{
	struct sc_log_line wd, stop;
	int64_t t0, w0, t4, t6;
	int rc;

	as_up(mode);
	/* A session that keeps reaching site 1 after the withdraw, as from a slow router. */
	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	int pinned = sc_connect_from(SC_PINNED4, SC_ANYCAST4_ADDR, 3000);
	sc_netns_enter(NULL);
	cr_assert_geq(pinned, 0, "pinned session: %s", strerror(-pinned));
	cr_assert_eq(sc_echo(pinned, "before SIGTERM\n", 3000), 0);
	w0 = sc_wall_ms();
	t0 = sc_now_ms();
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGTERM), 0);
	as_expect_paths(1, 3000, &t4, &t6, "site1's anylb terminated");
	as_log_wait(0, 0, as_withdraw_needle(), 2000, &wd);
	as_log_wait(0, 0, "stopping: no new connections", 3000, &stop);
	cr_assert_lt(wd.off, stop.off, "withdraw logged after the listeners closed:\n%s\n%s",
		wd.text, stop.text);
	fprintf(stderr,
		"anycast: %s: SIGTERM -> route gone v4 %lld ms, v6 %lld ms; withdraw logged +%lld "
		"ms, "
		"listeners closed +%lld ms\n",
		as_mode_name(), (long long)(t4 - t0), (long long)(t6 - t0),
		(long long)(wd.wall_ms - w0), (long long)(stop.wall_ms - w0));
	as_client_sessions(AS_NSESS, "site1's anylb terminated");

	/*
	 * Draining: the pinned session is still served where the site still accepts packets for
	 * the address (bird_protocol mode: it is on lo). In interface mode the withdraw removed
	 * the address, so the site drops them: measured and reported, not asserted.
	 */
	int drained = sc_echo(pinned, "while draining\n", 1000);
	close(pinned);
	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	int fresh = sc_connect_from(SC_PINNED4, SC_ANYCAST4_ADDR, 1000);
	sc_netns_enter(NULL);
	if (fresh >= 0)
		close(fresh);
	fprintf(stderr,
		"anycast: %s: draining after the withdraw: established session at site1 %s; a new "
		"one %s\n",
		as_mode_name(), drained == 0 ? "served" : strerror(-drained),
		fresh >= 0 ? "accepted" : strerror(-fresh));
	if (mode == SC_ANNOUNCE_BIRD_PROTOCOL)
		cr_assert_eq(
			drained, 0, "established session during the drain: %s", strerror(-drained));
	rc = sc_lb_wait(as_run[0].lb, AS_DRAIN_MS + 3000);
	cr_assert_eq(rc, 0, "anylb exit status %d after SIGTERM", rc);
	as_down();
}

Test(anycast_interface, sigterm_withdraws_first)
{
	sigterm_withdraws_first(SC_ANNOUNCE_INTERFACE);
}

Test(anycast_bird_protocol, sigterm_withdraws_first)
{
	sigterm_withdraws_first(SC_ANNOUNCE_BIRD_PROTOCOL);
}

/*
 * bird_protocol mode has no watchdog: a killed anylb leaves its static protocols enabled, and
 * the site keeps attracting traffic (the price of this mode, see docs/DEPLOY.md). A restart
 * re-asserts "withdrawn" as soon as it reaches BIRD, then announces after announce_delay.
 */
Test(anycast_bird_protocol, kill9_keeps_announcing_until_restart)
{
	int64_t t0, t4, t6;

	as_up(SC_ANNOUNCE_BIRD_PROTOCOL);
	cr_assert_eq(sc_lb_signal(as_run[0].lb, SIGKILL), 0);
	cr_assert_eq(sc_lb_wait(as_run[0].lb, 2000), 128 + SIGKILL);
	sc_sleep_ms(1000);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	fprintf(stderr, "anycast: bird_protocol: kill -9 -> still announced after 1000 ms "
			"(no watchdog in this mode)\n");
	sc_lb_stop(as_run[0].lb);
	as_run[0].lb = NULL;

	t0 = sc_now_ms();
	as_lb_start(0);
	as_expect_paths(1, 3000, &t4, &t6, "restarted anylb re-asserting withdrawn");
	fprintf(stderr,
		"anycast: bird_protocol: restart -> withdrawn until healthy: v4 %lld ms, v6 %lld "
		"ms\n",
		(long long)(t4 - t0), (long long)(t6 - t0));
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, &t4, &t6, "restarted anylb announcing");
	struct sc_log_line started, ann;
	as_log_wait(0, 0, "started: site", 1000, &started);
	as_log_wait(0, 0, as_announce_needle(), 1000, &ann);
	int64_t held = ann.wall_ms - started.wall_ms;
	fprintf(stderr,
		"anycast: bird_protocol: kill -9 -> restart -> announce %lld ms after start "
		"(announce_delay %d ms), route back v4 %lld ms, v6 %lld ms\n",
		(long long)held, AS_ANNOUNCE_DELAY_MS, (long long)(t4 - t0), (long long)(t6 - t0));
	cr_assert_geq(held, AS_ANNOUNCE_DELAY_MS - 2);
	cr_assert_leq(held, AS_ANNOUNCE_DELAY_MS + 500);
	as_down();
}

/* ---- the examples a site starts from ------------------------------------------------------- */

TestSuite(anycast_examples, .fini = as_fini, .timeout = 30);

/* Non-zero when prefix (e.g. "192.0.2.10/32") is in one of bird.conf's `define ANYCAST` sets. */
static int in_bird_sets(const char *bird_conf, const char *prefix)
{
	for (const char *p = strstr(bird_conf, "\ndefine ANYCAST"); p != NULL;
		p = strstr(p + 1, "\ndefine ANYCAST")) {
		const char *end = strchr(p + 1, '\n');
		char word[64];
		size_t n = strlen(prefix);
		snprintf(word, sizeof(word), " %s", prefix);
		for (const char *q = strstr(p, word); q != NULL && (end == NULL || q < end);
			q = strstr(q + 1, word))
			if (q[n + 1] == ',' || q[n + 1] == ' ')
				return 1;
	}
	return 0;
}

/*
 * examples/site.yaml is valid, examples/bird.conf parses (as it is, and with the bird_protocol
 * alternative uncommented), and every prefix site.yaml announces is in bird.conf's sets.
 */
Test(anycast_examples, bird_conf_and_site_yaml_agree)
{
	const char *yaml_path = ANYLB_SOURCE_DIR "/examples/site.yaml";
	const char *bird_path = ANYLB_SOURCE_DIR "/examples/bird.conf";
	char prog[256], out[2048];
	struct sc_run r;
	int rc, nprefixes = 0;

	rc = sc_run_anylb(&r, 5000, "-t", "-c", yaml_path, NULL);
	cr_assert_eq(rc, 0);
	cr_assert_eq(r.status, 0, "anylb -t -c %s: %s", yaml_path, r.err);
	sc_run_free(&r);

	char *yaml = sc_read_file(yaml_path), *bird = sc_read_file(bird_path);
	cr_assert(yaml != NULL && bird != NULL);
	for (char *save = NULL, *l = strtok_r(yaml, "\n", &save); l != NULL;
		l = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(l, "prefixes: [");
		if (p == NULL || strchr(l, '#') != NULL)
			continue;
		p += strlen("prefixes: [");
		for (char *s2 = NULL, *w = strtok_r(p, "[], \"", &s2); w != NULL;
			w = strtok_r(NULL, "[], \"", &s2)) {
			cr_assert(in_bird_sets(bird, w), "%s announces %s, missing from %s's sets",
				yaml_path, w, bird_path);
			nprefixes++;
		}
	}
	cr_assert_geq(nprefixes, 2);
	free(yaml);

	if (sc_which("bird", prog, sizeof(prog)) < 0) {
		free(bird);
		cr_skip("bird is not installed: examples/bird.conf not parsed (apt-get install "
			"bird2)");
	}
	rc = sc_cmd(out, sizeof(out), 5000, "bird -p -c %s", bird_path);
	cr_assert_eq(rc, 0, "bird -p -c %s: %s", bird_path, out);

	/* The commented bird_protocol alternative parses too, once uncommented. */
	size_t len = strlen(bird);
	char *alt = malloc(len + 1), *o = alt;
	cr_assert_not_null(alt);
	for (const char *l = bird; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t n = nl != NULL ? (size_t)(nl - l) + 1 : strlen(l);
		if (strncmp(l, "# protocol static ", 18) == 0) {
			l += 2;
			n -= 2;
		}
		memcpy(o, l, n);
		o += n;
		l += n;
	}
	*o = '\0';
	const char *alt_path = sc_temp_file(".conf", "%s", alt);
	cr_assert_not_null(alt_path);
	cr_assert_not_null(strstr(alt, "\nprotocol static anylb_web4 {"));
	rc = sc_cmd(out, sizeof(out), 5000, "bird -p -c %s", alt_path);
	cr_assert_eq(rc, 0, "bird -p on the bird_protocol variant: %s", out);
	free(alt);
	free(bird);
}
