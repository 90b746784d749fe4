/*
 * DOC: scenario: anycast DNS, two sites and a router (issue 14)
 *
 * The topology of tests/support/netns.h (a router namespace and two site namespaces, BIRD in
 * each, eBGP from the router to both sites, ECMP with L4 hashing at the router), and in each
 * site two real DNS servers (knotd, tests/support/knot.c, on 127.0.0.1:5301 and :5302 of the
 * site's namespace) behind anylb's `protocol: udp` service "dns" on 192.0.2.10:53 and
 * [2001:db8::10]:53, with `udp: {responses: 1}`, a `type: dns` readiness check (100 ms, fall 1)
 * and `anycast: {prefixes: [both], min_ready: 1}` in interface mode. Every knotd serves
 * example.org with an A record of its own for www (198.51.100.11 and .12 in site 1, .21 and .22
 * in site 2), so that each answer says which site, and which server, gave it. The client is
 * the router namespace (the topology's client, as in test_anycast.c): kdig run there with `ip
 * netns exec`, and queries of this file's own (tests/support/knot.h sc_dns_query_a), each from
 * a new source port, so that ECMP spreads them over both sites.
 *
 * 1. Both sites announce: two paths per prefix at the router, kdig over IPv4 and IPv6 answered,
 *    and queries over both families answered by both sites.
 * 2. Both knotd of the site that answered kdig are killed: its dns checks fail, it withdraws
 *    (the router's kernel table and BIRD show only the other site), the queries sent between
 *    the kill and the withdrawal are counted and printed, and once the withdrawal converged
 *    (the router's kernel route unchanged on the other site for 200 ms: BIRD may rewrite an
 *    IPv6 multipath route in more than one step) every query is answered by the other site.
 * 3. The servers come back: the site announces again after announce_delay, and answers again.
 *
 * Printed for docs/BENCHMARKS.md:
 *
 *   anycast dns: knotd killed -> withdrawn v4 112 ms, v6 113 ms; meanwhile 9 queries: ...
 *
 * Needs root, iproute2, BIRD 2 and knotd, kdig (knot-dnsutils); skipped otherwise. The suite's
 * .fini (as_fini) removes everything, also after a failed assertion. Budget: ~15 s.
 */
#include "tests/support/anycast_site.h"
#include "tests/support/harness.h"
#include "tests/support/knot.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(anycast_dns, .fini = as_fini, .timeout = 60);

#define DNS_NAME     "www.example.org."
#define DNS_PORT     53
#define DNS_ADDR4    SC_ANYCAST4 ":53"
#define DNS_ADDR6    "[" SC_ANYCAST6 "]:53"
#define NQUERIES     20   /* per family in each check */
#define WINDOW_MS    3000 /* kill -> withdrawal seen at the router, at most */
#define WINDOW_Q_MS  30   /* a query's timeout while the site withdraws */
#define STABLE_MS    200  /* converged: the router's route unchanged this long */
#define DNS_WITHDRAW "service dns: withdraw "
#define DNS_ANNOUNCE "service dns: announce "

/* www.example.org's A record on server i of site s: answers[2 * s + i]. */
static const char *const answers[4] = {
	"198.51.100.11", "198.51.100.12", "198.51.100.21", "198.51.100.22"};

static const char *const dns_addr[2] = {DNS_ADDR4, DNS_ADDR6};

static const char *dns_service_yaml(char *buf, size_t cap)
{
	snprintf(buf, cap,
		"  - name: dns\n"
		"    protocol: udp\n"
		"    listen:\n"
		"      - \"" DNS_ADDR4 "\"\n"
		"      - \"" DNS_ADDR6 "\"\n"
		"    udp: {responses: 1}\n"
		"    anycast:\n"
		"      prefixes: [" SC_ANYCAST4_NET ", \"" SC_ANYCAST6_NET "\"]\n"
		"      min_ready: 1\n"
		"    health:\n"
		"      readiness:\n"
		"        type: dns\n"
		"        query: {name: " DNS_NAME ", type: A}\n"
		"        interval: %dms\n"
		"        timeout: %dms\n"
		"        fall: 1\n"
		"        rise: 1\n"
		"        jitter: 0\n"
		"    backends:\n"
		"      - address: %s\n"
		"      - address: %s\n",
		AS_READY_INTERVAL_MS, AS_READY_INTERVAL_MS, as_dns_addr[0], as_dns_addr[1]);
	return buf;
}

/* The zone file name of server i of site s, written into the topology's directory. */
static const char *zone_file(int s, int i, char *buf, size_t cap)
{
	snprintf(buf, cap, "site%d-knot%d.zone", s + 1, i + 1);
	return buf;
}

static void write_zones(void)
{
	char path[256], file[64], text[512];

	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s/%s", as_topo.dir,
				zone_file(s, i, file, sizeof(file)));
			snprintf(text, sizeof(text),
				"$ORIGIN example.org.\n$TTL 300\n"
				"@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\n"
				"ns1 A 192.0.2.53\nwww A %s\n",
				answers[2 * s + i]);
			sc_write_file(path, text);
		}
}

static void knots_start(int s)
{
	char file[64];

	for (int i = 0; i < 2; i++)
		as_knot_start(s, i, "example.org.", zone_file(s, i, file, sizeof(file)));
}

/* The site (0 or 1) whose server's address text is, or -1. */
static int site_of_text(const char *text)
{
	for (int k = 0; k < 4; k++)
		if (strcmp(text, answers[k]) == 0)
			return k / 2;
	return -1;
}

/* kdig from the client over family f (0: v4, 1: v6): the site that answered; asserts one did. */
static int kdig_site(int f, const char *when)
{
	char out[512];
	int rc =
		as_client_kdig(f ? SC_ANYCAST6 : SC_ANYCAST4, DNS_PORT, DNS_NAME, out, sizeof(out));
	int s = site_of_text(out);

	if (rc != 0 || s < 0) {
		char text[4096];
		as_fail_dump();
		sc_cmd(text, sizeof(text), 2000, "ip -n %s %s route", as_topo.router,
			f ? "-6" : "-4");
		fprintf(stderr, "router's routes:\n%s\n", text);
		sc_cmd(text, sizeof(text), 2000, "ip -n %s %s neigh", as_topo.router,
			f ? "-6" : "-4");
		fprintf(stderr, "router's neighbours:\n%s\n", text);
	}
	cr_assert_eq(rc, 0, "%s: kdig over %s exited %d: %s", when, f ? "IPv6" : "IPv4", rc, out);
	cr_assert_geq(s, 0, "%s: kdig over %s answered '%s'", when, f ? "IPv6" : "IPv4", out);
	fprintf(stderr, "anycast dns: %s: kdig @%s: %s (site%d)\n", when,
		f ? SC_ANYCAST6 : SC_ANYCAST4, out, s + 1);
	return s;
}

/* NQUERIES queries per family, each from its own port; all must be answered. got[s] counts
 * the answers of site s; only (bit s of mask) sites may answer. */
static void queries(unsigned mask, unsigned got[2], const char *when)
{
	got[0] = got[1] = 0;
	for (int f = 0; f < 2; f++)
		for (int q = 0; q < NQUERIES; q++) {
			int k = as_client_dns(dns_addr[f], DNS_NAME, answers, 4, 1000);
			if (k < 0 || !(mask & (1u << (k / 2))))
				as_fail_dump();
			cr_assert_geq(k, 0, "%s: query %d to %s: %s", when, q, dns_addr[f],
				k == -1 ? "no known answer" : strerror(-k));
			cr_assert(mask & (1u << (k / 2)),
				"%s: query %d to %s answered by site%d (%s)", when, q, dns_addr[f],
				k / 2 + 1, answers[k]);
			got[k / 2]++;
		}
}

/* Non-zero when the router's kernel route for family has exactly one path. */
static int one_path(int family)
{
	struct sc_route r;

	return sc_netns_route(as_topo.router, sc_anycast_prefix(family), &r) == 0 && r.paths == 1;
}

Test(anycast_dns, a_site_whose_dns_servers_die_withdraws_and_the_other_answers)
{
	char svc[2048];
	unsigned got[2];
	int64_t t_up = sc_now_ms();

	if (access(SC_KNOTD, X_OK) != 0)
		cr_skip_test("no knotd (apt-get install knot)");
	char kdig[256];
	if (sc_which("kdig", kdig, sizeof(kdig)) != 0)
		cr_skip_test("no kdig (apt-get install knot-dnsutils)");

	as_topo_up(SC_ANNOUNCE_INTERFACE);
	write_zones();
	struct as_lb_opts opts = {.services = dns_service_yaml(svc, sizeof(svc))};
	for (int s = 0; s < 2; s++) {
		knots_start(s);
		as_lb_start_opts(s, &opts);
	}

	/* 1. Both sites up and announced; the client is answered by both over ECMP. */
	as_expect_paths(2, AS_CONVERGE_MS, NULL, NULL, "both dns sites announcing");
	as_expect_stable(3, STABLE_MS, 3000, "both dns sites announcing");
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	as_expect_bird_paths(AF_INET, 3);
	as_expect_bird_paths(AF_INET6, 3);
	fprintf(stderr, "anycast dns: both sites announced %lld ms after the start\n",
		(long long)(sc_now_ms() - t_up));
	int victim = kdig_site(0, "both sites up");
	kdig_site(1, "both sites up");
	queries(3, got, "both sites up");
	fprintf(stderr, "anycast dns: both sites up: %d queries over ECMP: site1 %u, site2 %u\n",
		2 * NQUERIES, got[0], got[1]);
	cr_assert(got[0] > 0 && got[1] > 0, "ECMP: site1 answered %u queries, site2 %u", got[0],
		got[1]);

	/* 2. The site that answered kdig loses both servers. */
	int other = 1 - victim;
	size_t off = sc_lb_log_offset(as_run[victim].lb);
	int64_t t0 = as_knot_kill_all(victim), t4 = 0, t6 = 0;
	unsigned sent = 0, failed = 0, by[2] = {0, 0};
	while (t4 == 0 || t6 == 0) {
		int64_t now = sc_now_ms();
		if (t4 == 0 && one_path(AF_INET))
			t4 = now;
		if (t6 == 0 && one_path(AF_INET6))
			t6 = now;
		if (t4 != 0 && t6 != 0)
			break;
		if (now - t0 > WINDOW_MS)
			break;
		int k = as_client_dns(dns_addr[sent % 2], DNS_NAME, answers, 4, WINDOW_Q_MS);
		sent++;
		if (k < 0)
			failed++;
		else
			by[k / 2]++;
	}
	as_expect_paths(1, 1, NULL, NULL, "the site's dns servers killed");
	int flips = as_expect_stable(1u << other, STABLE_MS, 3000, "one site withdrawn");
	fprintf(stderr,
		"anycast dns: knotd killed in site%d -> withdrawn v4 %lld ms, v6 %lld ms "
		"(detection %d ms); meanwhile %u queries (timeout %d ms): %u failed, %u answered "
		"by "
		"site%d, %u by site%d; the route changed %d times more before it was stable for "
		"%d ms\n",
		victim + 1, (long long)(t4 - t0), (long long)(t6 - t0), AS_READY_INTERVAL_MS, sent,
		WINDOW_Q_MS, failed, by[other], other + 1, by[victim], victim + 1, flips,
		STABLE_MS);
	cr_expect_eq(by[victim], 0, "site%d answered with its servers dead", victim + 1);
	as_expect_via(AF_INET, 1u << other);
	as_expect_via(AF_INET6, 1u << other);
	as_expect_bird_paths(AF_INET, 1u << other);
	as_expect_bird_paths(AF_INET6, 1u << other);
	as_log_wait(victim, off, DNS_WITHDRAW, 1000, NULL);
	cr_assert_leq(t4 - t0, 2 * AS_READY_INTERVAL_MS + 200, "v4 withdrawn after %lld ms",
		(long long)(t4 - t0));
	cr_assert_leq(t6 - t0, 2 * AS_READY_INTERVAL_MS + 200, "v6 withdrawn after %lld ms",
		(long long)(t6 - t0));

	/* Withdrawn: every query is answered by the other site. */
	cr_assert_eq(kdig_site(0, "one site withdrawn"), other);
	cr_assert_eq(kdig_site(1, "one site withdrawn"), other);
	queries(1u << other, got, "one site withdrawn");
	fprintf(stderr, "anycast dns: site%d withdrawn: %u of %d queries answered by site%d\n",
		victim + 1, got[other], 2 * NQUERIES, other + 1);

	/* 3. The servers come back: announced again after announce_delay. */
	off = sc_lb_log_offset(as_run[victim].lb);
	t0 = sc_now_ms();
	knots_start(victim);
	as_expect_paths(2, AS_ANNOUNCE_DELAY_MS + 3000, &t4, &t6, "the site's dns servers back");
	as_expect_stable(3, STABLE_MS, 3000, "both sites announced again");
	as_log_wait(victim, off, DNS_ANNOUNCE, 1000, NULL);
	as_expect_via(AF_INET, 3);
	as_expect_via(AF_INET6, 3);
	as_expect_bird_paths(AF_INET, 3);
	as_expect_bird_paths(AF_INET6, 3);
	queries(3, got, "both sites up again");
	fprintf(stderr,
		"anycast dns: knotd back in site%d -> announced again v4 %lld ms, v6 %lld ms "
		"(announce_delay %d ms); %d queries: site1 %u, site2 %u\n",
		victim + 1, (long long)(t4 - t0), (long long)(t6 - t0), AS_ANNOUNCE_DELAY_MS,
		2 * NQUERIES, got[0], got[1]);
	cr_assert_gt(got[victim], 0, "site%d answers again", victim + 1);
	as_down();
	fprintf(stderr, "anycast dns: the whole scenario took %lld ms\n",
		(long long)(sc_now_ms() - t_up));
}
