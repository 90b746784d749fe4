/*
 * DOC: an anycast site for scenario tests (see anycast_site.h)
 */
#include "tests/support/anycast_site.h"

#include "tests/support/admin_client.h"
#include "tests/support/knot.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void as_fini(void)
{
	sc_cleanup(); /* anylb and backends first: they live in the namespaces */
	sc_knot_stop_all();
	sc_netns_cleanup(); /* then BIRD, namespaces, the temp directory */
}

struct sc_anycast as_topo;
struct as_site_run as_run[2];

const char *const as_eb_addr[2] = {"127.0.0.1:9101", "127.0.0.1:9102"};
const char *const as_dns_addr[2] = {"127.0.0.1:5301", "127.0.0.1:5302"};

const char *as_mode_name(void)
{
	return as_topo.mode == SC_ANNOUNCE_INTERFACE ? "interface" : "bird_protocol";
}

/* ---- sites: backends and anylb ------------------------------------------------------------ */

void as_eb_start(int site, int i)
{
	int rc;

	cr_assert_eq(sc_netns_enter(as_topo.site[site].ns), 0);
	as_run[site].eb[i] = sc_tool_start("echo_backend", as_eb_addr[i], NULL);
	sc_netns_enter(NULL);
	cr_assert_not_null(
		as_run[site].eb[i], "echo_backend %s in %s", as_eb_addr[i], as_topo.site[site].ns);
	rc = sc_tool_wait_output(as_run[site].eb[i], 0, "listening ", 3000, NULL);
	cr_assert_eq(rc, 0, "echo_backend %s did not start: %s", as_eb_addr[i], strerror(-rc));
}

/* SIGKILLs both backends of site; returns sc_now_ms() just before the first kill. */
int64_t as_eb_kill_all(int site)
{
	int64_t t0 = sc_now_ms();

	for (int i = 0; i < 2; i++)
		cr_assert_eq(sc_tool_signal(as_run[site].eb[i], SIGKILL), 0);
	for (int i = 0; i < 2; i++) {
		sc_tool_stop(as_run[site].eb[i]); /* reaps; a SIGKILL is not reported */
		as_run[site].eb[i] = NULL;
	}
	return t0;
}

/* Sessions that brought data, over both backends of site (SIGUSR1 -> a "stats" line). */
unsigned as_site_sessions(int site)
{
	unsigned total = 0;

	for (int i = 0; i < 2; i++) {
		struct sc_tool *t = as_run[site].eb[i];
		struct sc_log_line line;
		size_t off;
		if (t == NULL)
			continue;
		off = sc_tool_output_offset(t);
		cr_assert_eq(sc_tool_signal(t, SIGUSR1), 0);
		cr_assert_eq(sc_tool_wait_output(t, off, "stats ", 2000, &line), 0);
		const char *p = strstr(line.text, "data=");
		cr_assert_not_null(p);
		total += (unsigned)strtoul(p + 5, NULL, 10);
	}
	return total;
}

void as_knot_start(int site, int i, const char *domain, const char *file)
{
	char name[32];
	int port = atoi(strrchr(as_dns_addr[i], ':') + 1);

	snprintf(name, sizeof(name), "%s-knot%d", as_topo.site[site].name, i + 1);
	as_run[site].knot[i] =
		sc_knot_start_in(as_topo.site[site].ns, as_topo.dir, name, port, domain, file);
}

int64_t as_knot_kill_all(int site)
{
	int64_t t0 = sc_now_ms();

	sc_knot_kill(as_run[site].knot, 2);
	as_run[site].knot[0] = as_run[site].knot[1] = 0;
	return t0;
}

const char *as_service_yaml(char *buf, size_t cap, const char *name, const char *listen,
	const char *prefixes, const char *proto)
{
	char bp[96] = "";

	if (proto != NULL)
		snprintf(bp, sizeof(bp), "      bird_protocol: %s\n", proto);
	snprintf(buf, cap,
		"  - name: %s\n"
		"    listen: [%s]\n"
		"    anycast:\n"
		"      prefixes: [%s]\n"
		"%s"
		"    health:\n"
		"      readiness: {interval: %dms, timeout: %dms, fall: 1, rise: 1, jitter: 0}\n"
		"    backends:\n"
		"      - address: %s\n"
		"      - address: %s\n",
		name, listen, prefixes, bp, AS_READY_INTERVAL_MS, AS_READY_INTERVAL_MS,
		as_eb_addr[0], as_eb_addr[1]);
	return buf;
}

const char *as_global_yaml(char *buf, size_t cap, int site, const char *admin)
{
	snprintf(buf, cap,
		"global:\n"
		"  site: %s\n"
		"  workers: 1\n"
		"  drain_timeout: %dms\n"
		"  admin: {socket: %s}\n",
		as_topo.site[site].name, AS_DRAIN_MS, admin);
	return buf;
}

const char *as_bgp_interface_yaml(char *buf, size_t cap, int site, int watchdog_ms)
{
	snprintf(buf, cap,
		"bgp:\n"
		"  announce: interface\n"
		"  interface: anylb0\n"
		"  watchdog_timeout: %dms\n"
		"  bird_socket: %s\n"
		"  announce_delay: %dms\n"
		"  max_announce_delay: %dms\n"
		"  flap_window: 1m\n",
		watchdog_ms, sc_bird_socket(as_topo.site[site].bird), AS_ANNOUNCE_DELAY_MS,
		AS_MAX_DELAY_MS);
	return buf;
}

const char *as_admin_path(int site, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s-admin.sock", as_topo.dir, as_topo.site[site].name);
	return buf;
}

void as_lb_start(int site)
{
	as_lb_start_opts(site, NULL);
}

void as_lb_start_opts(int site, const struct as_lb_opts *o)
{
	char yaml[4096], glob[512], bgp[512], s1[1024], s2[1024], admin[256];
	struct as_lb_opts opts = {0};
	struct sc_lb_opts lbo = {0};

	if (o != NULL)
		opts = *o;
	if (opts.watchdog_ms == 0)
		opts.watchdog_ms = AS_WATCHDOG_MS;
	lbo.env = opts.env;

	if (as_topo.mode == SC_ANNOUNCE_INTERFACE) {
		as_bgp_interface_yaml(bgp, sizeof(bgp), site, opts.watchdog_ms);
		as_service_yaml(s1, sizeof(s1), "web",
			"\"" SC_ANYCAST4_ADDR "\", \"" SC_ANYCAST6_ADDR "\"",
			SC_ANYCAST4_NET ", \"" SC_ANYCAST6_NET "\"", NULL);
		s2[0] = '\0';
	} else {
		snprintf(bgp, sizeof(bgp),
			"bgp:\n"
			"  announce: bird_protocol\n"
			"  bird_socket: %s\n"
			"  announce_delay: %dms\n"
			"  max_announce_delay: %dms\n"
			"  flap_window: 1m\n",
			sc_bird_socket(as_topo.site[site].bird), AS_ANNOUNCE_DELAY_MS,
			AS_MAX_DELAY_MS);
		as_service_yaml(s1, sizeof(s1), "web4", "\"" SC_ANYCAST4_ADDR "\"", SC_ANYCAST4_NET,
			"anylb_web4");
		as_service_yaml(s2, sizeof(s2), "web6", "\"" SC_ANYCAST6_ADDR "\"",
			"\"" SC_ANYCAST6_NET "\"", "anylb_web6");
	}
	/* Each site's own admin socket: one path is one anylb (the second would refuse). */
	snprintf(yaml, sizeof(yaml), "%s%sservices:\n%s%s",
		as_global_yaml(glob, sizeof(glob), site, as_admin_path(site, admin, sizeof(admin))),
		bgp, opts.services != NULL ? opts.services : s1, opts.services != NULL ? "" : s2);
	cr_assert_eq(sc_netns_enter(as_topo.site[site].ns), 0);
	as_run[site].lb = sc_lb_start_opts(&lbo, "%s", yaml);
	sc_netns_enter(NULL);
	cr_assert_not_null(as_run[site].lb, "anylb did not start in %s", as_topo.site[site].ns);
	if (opts.services != NULL) {
		/* sc_lb_start() waits for TCP listeners only. */
		char where[300];
		snprintf(where, sizeof(where), "unix:%s", admin);
		int rc = sc_admin_wait(where, 5000);
		if (rc != 0)
			sc_lb_dump_log(as_run[site].lb);
		cr_assert_eq(rc, 0, "%s: admin socket %s: %s", as_topo.site[site].name, admin,
			strerror(-rc));
	}
}

/* ---- what the router sees ------------------------------------------------------------------ */

void as_fail_dump(void)
{
	sc_anycast_dump(&as_topo);
	for (int i = 0; i < 2; i++)
		if (as_run[i].lb != NULL)
			sc_lb_dump_log(as_run[i].lb);
}

/*
 * Waits until both prefixes have `paths` next hops in the router's kernel table. t4 and t6
 * (may be NULL) get the sc_now_ms() at which each was first seen so.
 */
int as_wait_paths(int paths, int timeout_ms, int64_t *t4, int64_t *t6)
{
	int64_t deadline = sc_now_ms() + timeout_ms, at[2] = {0, 0};
	int done[2] = {0, 0};

	while (!done[0] || !done[1]) {
		for (int f = 0; f < 2; f++) {
			struct sc_route r;
			int64_t now = sc_now_ms();
			if (done[f])
				continue;
			int rc = sc_netns_route(
				as_topo.router, sc_anycast_prefix(f ? AF_INET6 : AF_INET), &r);
			if (rc < 0)
				return rc;
			if (r.paths == paths) {
				done[f] = 1;
				at[f] = now;
			}
		}
		if (done[0] && done[1])
			break;
		if (sc_now_ms() >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(1);
	}
	if (t4 != NULL)
		*t4 = at[0];
	if (t6 != NULL)
		*t6 = at[1];
	return 0;
}

void as_expect_paths(int paths, int timeout_ms, int64_t *t4, int64_t *t6, const char *when)
{
	int rc = as_wait_paths(paths, timeout_ms, t4, t6);

	if (rc != 0) {
		struct sc_route r4, r6;
		char b4[256], b6[256];
		sc_netns_route(as_topo.router, SC_ANYCAST4_NET, &r4);
		sc_netns_route(as_topo.router, SC_ANYCAST6_NET, &r6);
		as_fail_dump();
		cr_assert_fail("%s: router has %d paths for " SC_ANYCAST4_NET
			       " (%s) and %d for " SC_ANYCAST6_NET " (%s), want %d within %d ms",
			when, r4.paths, sc_route_text(&r4, b4, sizeof(b4)), r6.paths,
			sc_route_text(&r6, b6, sizeof(b6)), paths, timeout_ms);
	}
}

/* Non-zero when r has a path via site's link address for family. */
static int has_path_from(const struct sc_route *r, int family, int site)
{
	const char *gw = family == AF_INET ? as_topo.site[site].link4 : as_topo.site[site].link6;

	for (int k = 0; k < r->paths && k < SC_ROUTE_MAXPATHS; k++)
		if (strcmp(r->via[k], gw) == 0)
			return 1;
	return 0;
}

/* Asserts the router's kernel paths for family are exactly the sites in mask (bit i: site i). */
void as_expect_via(int family, unsigned mask)
{
	struct sc_route r;
	char text[256];
	int want = 0;

	cr_assert_eq(sc_netns_route(as_topo.router, sc_anycast_prefix(family), &r), 0);
	for (int i = 0; i < 2; i++) {
		if (!(mask & (1u << i)))
			continue;
		want++;
		cr_assert(has_path_from(&r, family, i), "router: %s has no path via %s (%s): %s",
			sc_anycast_prefix(family),
			family == AF_INET ? as_topo.site[i].link4 : as_topo.site[i].link6,
			as_topo.site[i].name, sc_route_text(&r, text, sizeof(text)));
	}
	cr_assert_eq(r.paths, want, "router: %s: %s", sc_anycast_prefix(family),
		sc_route_text(&r, text, sizeof(text)));
}

/* Non-zero when the router's kernel paths for family are exactly the sites in mask. */
static int route_is(int family, unsigned mask)
{
	struct sc_route r;
	int want = 0;

	if (sc_netns_route(as_topo.router, sc_anycast_prefix(family), &r) != 0)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (!(mask & (1u << i)))
			continue;
		want++;
		if (!has_path_from(&r, family, i))
			return 0;
	}
	return r.paths == want;
}

int as_expect_stable(unsigned mask, int stable_ms, int timeout_ms, const char *when)
{
	int64_t now = sc_now_ms(), deadline = now + timeout_ms, since = -1;
	int seen = 0, flips = 0;

	for (;;) {
		now = sc_now_ms();
		if (route_is(AF_INET, mask) && route_is(AF_INET6, mask)) {
			if (since < 0)
				since = now;
			seen = 1;
			if (now - since >= stable_ms)
				return flips;
		} else {
			flips += seen && since >= 0;
			since = -1;
		}
		if (now >= deadline)
			break;
		sc_sleep_ms(1);
	}
	as_fail_dump();
	cr_assert_fail("%s: the router's paths were not the sites of mask %u for %d ms within %d "
		       "ms (%d changes)",
		when, mask, stable_ms, timeout_ms, flips);
	return -1;
}

/* Asserts which sites the router's BIRD has a route from, for the prefix of family. */
void as_expect_bird_paths(int family, unsigned mask)
{
	char cmd[128], reply[8192], tag[64];

	snprintf(cmd, sizeof(cmd), "show route for %s all", sc_anycast_prefix(family));
	int rc = sc_bird_cmd(as_topo.router_bird, cmd, reply, sizeof(reply), 2000);
	cr_assert_geq(rc, 0, "router BIRD: %s: %s", cmd, strerror(-rc));
	for (int i = 0; i < 2; i++) {
		snprintf(tag, sizeof(tag), "[%s ", sc_anycast_router_proto(i, family));
		int has = strstr(reply, tag) != NULL;
		cr_assert_eq(has, (int)((mask >> i) & 1u),
			"router BIRD, `%s`: %s a path from %s:\n%s", cmd, has ? "unexpected" : "no",
			as_topo.site[i].name, reply);
	}
}

/* ---- the route poller --------------------------------------------------------------------------
 */

static void *watch_main(void *arg)
{
	struct as_watch *w = arg;

	while (!atomic_load(&w->stop)) {
		for (int f = 0; f < 2; f++) {
			int family = f ? AF_INET6 : AF_INET;
			struct sc_route r;
			if (sc_netns_route(as_topo.router, sc_anycast_prefix(family), &r) != 0)
				continue;
			int64_t now = sc_now_ms();
			w->samples[f]++;
			if (r.paths < w->min_paths[f])
				w->min_paths[f] = r.paths;
			if (has_path_from(&r, family, w->site))
				continue;
			if (w->missing[f]++ == 0)
				w->first_missing_ms[f] = now;
			w->last_missing_ms[f] = now;
		}
		sc_sleep_ms(w->interval_ms);
	}
	return NULL;
}

void as_watch_start(struct as_watch *w, int site, int interval_ms)
{
	memset(w, 0, sizeof(*w));
	w->site = site;
	w->interval_ms = interval_ms;
	w->t0 = sc_now_ms();
	w->min_paths[0] = w->min_paths[1] = SC_ROUTE_MAXPATHS + 1;
	cr_assert_eq(pthread_create(&w->th, NULL, watch_main, w), 0);
}

void as_watch_stop(struct as_watch *w)
{
	if (w->joined)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->th, NULL);
	w->joined = 1;
}

/* ---- the client ----------------------------------------------------------------------------- */

int as_client_session(const char *addr)
{
	return as_client_session_from(NULL, addr);
}

int as_client_session_from(const char *src_ip, const char *addr)
{
	int fd, rc;

	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	fd = sc_connect_from(src_ip, addr, 3000);
	sc_netns_enter(NULL);
	if (fd < 0)
		return fd;
	rc = sc_echo(fd, "hello anycast\n", 3000);
	close(fd);
	return rc;
}

/* n sessions to each anycast address; all must be answered. */
void as_client_sessions(int n, const char *when)
{
	const char *addrs[2] = {SC_ANYCAST4_ADDR, SC_ANYCAST6_ADDR};

	for (int a = 0; a < 2; a++)
		for (int i = 0; i < n; i++) {
			int rc = as_client_session(addrs[a]);
			if (rc != 0)
				as_fail_dump();
			cr_assert_eq(rc, 0, "%s: session %d to %s failed: %s", when, i, addrs[a],
				strerror(-rc));
		}
}

int as_client_dns(
	const char *addr, const char *name, const char *const *answers, int n, int timeout_ms)
{
	cr_assert_eq(sc_netns_enter(as_topo.router), 0);
	int rc = sc_dns_query_a(addr, name, answers, n, timeout_ms);
	sc_netns_enter(NULL);
	return rc;
}

int as_client_kdig(const char *ip, int port, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	int rc = sc_cmd(out, cap, 5000,
		"ip netns exec %s kdig @%s -p %d +short +notcp +time=1 +retry=0 %s A",
		as_topo.router, ip, port, name);

	out[strcspn(out, "\n")] = '\0';
	return rc;
}

/* ---- the topology, with both sites announcing ----------------------------------------------- */

void as_topo_up(enum sc_announce_mode mode)
{
	char why[512];
	int rc;

	if (sc_netns_check(why, sizeof(why)) < 0)
		cr_skip("anycast scenario skipped: %s", why);
	rc = sc_anycast_up(&as_topo, mode, why, sizeof(why));
	cr_assert_eq(rc, 0, "topology: %s (%s)", why, strerror(-rc));
}

void as_up(enum sc_announce_mode mode)
{
	as_up_opts(mode, NULL);
}

void as_up_opts(enum sc_announce_mode mode, const struct as_lb_opts *site1)
{
	as_topo_up(mode);
	for (int s = 0; s < 2; s++) {
		as_eb_start(s, 0);
		as_eb_start(s, 1);
		as_lb_start_opts(s, s == 0 ? site1 : NULL);
	}
	as_expect_paths(2, AS_CONVERGE_MS, NULL, NULL, "both sites announcing");
}

/* Stops what as_up() started, in order; each anylb must exit 0 (sanitizer builds: no leak). */
void as_down(void)
{
	for (int s = 0; s < 2; s++) {
		if (as_run[s].lb != NULL) {
			int rc = sc_lb_stop(as_run[s].lb);
			as_run[s].lb = NULL;
			cr_assert_eq(rc, 0, "%s: anylb exit status %d", as_topo.site[s].name, rc);
		}
		for (int i = 0; i < 2; i++) {
			sc_tool_stop(as_run[s].eb[i]);
			as_run[s].eb[i] = NULL;
			sc_knot_stop(as_run[s].knot[i]);
			as_run[s].knot[i] = 0;
		}
	}
}

void as_log_wait(int site, size_t from, const char *needle, int timeout_ms, struct sc_log_line *out)
{
	int rc = sc_lb_wait_log(as_run[site].lb, from, needle, timeout_ms, out);

	if (rc != 0)
		as_fail_dump();
	cr_assert_eq(rc, 0, "%s: no log line \"%s\" within %d ms", as_topo.site[site].name, needle,
		timeout_ms);
}

/* The announce line anylb logs (one service in interface mode, web4 in bird_protocol mode). */
const char *as_announce_needle(void)
{
	return as_topo.mode == SC_ANNOUNCE_INTERFACE ? "service web: announce "
						     : "service web4: announce ";
}

const char *as_withdraw_needle(void)
{
	return as_topo.mode == SC_ANNOUNCE_INTERFACE ? "service web: withdraw "
						     : "service web4: withdraw ";
}
