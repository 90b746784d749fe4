/*
 * DOC: an anycast site for scenario tests: backends, anylb and what the router sees
 *
 * The two-site topology of tests/support/netns.h with, in each site, two echo backends
 * (tests/tools/echo_backend on 127.0.0.1:9101 and :9102) and one anylb listening on
 * SC_ANYCAST4_ADDR and SC_ANYCAST6_ADDR, its admin socket of its own in the topology's
 * directory. One topology per test process, in as_topo and as_run: the anycast scenario tests
 * (test_anycast.c, test_upgrade_anycast.c) share it so that the site is written once.
 *
 * interface mode: one service "web" announcing both prefixes; bird_protocol mode: "web4" and
 * "web6", one prefix each (a BIRD static protocol has one channel). A test may give anylb
 * services of its own instead (as_lb_opts.services), and run real DNS servers in a site
 * (knotd, tests/support/knot.h, on as_dns_addr), for the anycast DNS scenario
 * (test_anycast_dns.c), with as_topo_up() instead of as_up().
 *
 * Every function asserts (Criterion) instead of returning an error unless it says otherwise,
 * and dumps the BIRD and anylb logs first where it checks what the router sees. Main thread
 * only, but for the route poller (a thread of its own, reading the router's table only).
 * as_fini() is meant for a suite's .fini: it removes everything, also after a failed assertion.
 */
#ifndef ANYLB_TESTS_SUPPORT_ANYCAST_SITE_H
#define ANYLB_TESTS_SUPPORT_ANYCAST_SITE_H

#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The knobs of the anylb configs, for the bounds the tests assert. */
#define AS_READY_INTERVAL_MS 100 /* readiness check interval; fall 1: detection time */
#define AS_WATCHDOG_MS       500 /* watchdog_timeout unless as_lb_opts says otherwise */
#define AS_ANNOUNCE_DELAY_MS 1000
#define AS_MAX_DELAY_MS      8000
#define AS_DRAIN_MS          3000
#define AS_CONVERGE_MS       15000 /* topology up: BGP established and both sites announcing */
#define AS_NSESS             20    /* client sessions per family in each check */

struct as_site_run {
	struct sc_lb *lb;
	struct sc_tool *eb[2];
	pid_t knot[2]; /* as_knot_start(); 0: none */
};

extern struct sc_anycast as_topo;
extern struct as_site_run as_run[2];
extern const char *const as_eb_addr[2];
extern const char *const as_dns_addr[2]; /* where a site's knotd i listens: 127.0.0.1:530{1,2} */

/* sc_cleanup(), sc_knot_stop_all(), then sc_netns_cleanup(): for a suite's .fini. */
void as_fini(void);

/* "interface" or "bird_protocol", for the printed lines. */
const char *as_mode_name(void);

/* ---- sites: backends and anylb ----------------------------------------------------------- */

/* Starts backend i (0 or 1) of site in its namespace and waits until it listens. */
void as_eb_start(int site, int i);

/* SIGKILLs both backends of site; returns sc_now_ms() just before the first kill. */
int64_t as_eb_kill_all(int site);

/* Sessions that brought data, over both backends of site (SIGUSR1 -> a "stats" line). */
unsigned as_site_sessions(int site);

/*
 * Starts knotd i (0 or 1) of site in its namespace on as_dns_addr[i], serving domain from file
 * (a zone file in as_topo.dir, which the test writes), into as_run[site].knot[i]; returns once it
 * answers.
 */
void as_knot_start(int site, int i, const char *domain, const char *file);

/* SIGKILLs both knotd of site; returns sc_now_ms() just before the first kill. */
int64_t as_knot_kill_all(int site);

/* One service's YAML: listen, anycast prefixes (bird_protocol proto, or NULL), both backends. */
const char *as_service_yaml(char *buf, size_t cap, const char *name, const char *listen,
	const char *prefixes, const char *proto);

/* The global section of site's anylb: its name, 1 worker, AS_DRAIN_MS, admin socket admin. */
const char *as_global_yaml(char *buf, size_t cap, int site, const char *admin);

/* The bgp section of interface mode for site: TUN anylb0, the site's BIRD, the knobs above. */
const char *as_bgp_interface_yaml(char *buf, size_t cap, int site, int watchdog_ms);

/* The admin socket path of site's anylb ("DIR/site1-admin.sock"). Returns buf. */
const char *as_admin_path(int site, char *buf, size_t cap);

/* How as_lb_start_opts() starts anylb; zero-initialise for the defaults of as_lb_start(). */
struct as_lb_opts {
	int watchdog_ms;        /* bgp.watchdog_timeout (interface mode); 0: AS_WATCHDOG_MS */
	const char *const *env; /* added to its environment, as sc_lb_opts.env */
	/*
	 * Non-NULL: the entries of `services:` (as as_service_yaml() writes one) instead of the
	 * web service(s). Its admin socket answers on return; a udp listener is not waited for.
	 */
	const char *services;
};

/* Starts anylb in site's namespace into as_run[site].lb; its listeners are up on return. */
void as_lb_start(int site);
void as_lb_start_opts(int site, const struct as_lb_opts *opts);

/* The topology up, BGP established, nothing started in the sites yet; skips the test without
 * root, ip, BIRD or TUN. */
void as_topo_up(enum sc_announce_mode mode);

/* Topology up (skips the test without root, ip, BIRD or TUN), backends and anylb in both
 * sites, both announcing. */
void as_up(enum sc_announce_mode mode);

/* as_up() with site 1's anylb (as_run[0]) started with site1 (NULL: the defaults). */
void as_up_opts(enum sc_announce_mode mode, const struct as_lb_opts *site1);

/* Stops what as_up() or the test started (anylb, backends, knotd), in order; each anylb must
 * exit 0 (sanitizer builds: no leak). */
void as_down(void);

/* Waits for a log line of site's anylb, failing the test (with the logs) without it. */
void as_log_wait(
	int site, size_t from, const char *needle, int timeout_ms, struct sc_log_line *out);

/* The announce and withdraw lines anylb logs (service web, or web4 in bird_protocol mode). */
const char *as_announce_needle(void);
const char *as_withdraw_needle(void);

/* ---- what the router sees ---------------------------------------------------------------- */

/* Prints every BIRD log and each running anylb's log. */
void as_fail_dump(void);

/*
 * Waits until both prefixes have `paths` next hops in the router's kernel table: 0 or
 * -ETIMEDOUT. t4 and t6 (may be NULL) get the sc_now_ms() at which each was first seen so.
 */
int as_wait_paths(int paths, int timeout_ms, int64_t *t4, int64_t *t6);

/* as_wait_paths(), failing the test with what the router has and the logs. */
void as_expect_paths(int paths, int timeout_ms, int64_t *t4, int64_t *t6, const char *when);

/* Asserts the router's kernel paths for family are exactly the sites in mask (bit i: site i). */
void as_expect_via(int family, unsigned mask);

/*
 * Waits until the router's kernel paths for both prefixes have been exactly the sites in mask
 * for stable_ms in a row (read every millisecond), failing the test after timeout_ms: a route
 * that BIRD is still rewriting (IPv6 multipath may go through a delete and an add) is not
 * converged. Returns how many times a read did not match after the first that did.
 */
int as_expect_stable(unsigned mask, int stable_ms, int timeout_ms, const char *when);

/* Asserts which sites the router's BIRD has a route from, for the prefix of family. */
void as_expect_bird_paths(int family, unsigned mask);

/*
 * A thread that reads the router's kernel route of both prefixes every interval_ms and
 * records, per family (0: v4, 1: v6), the samples, the fewest paths, and the samples with no
 * path from site (with the first and the last such sample's sc_now_ms()). Read the fields
 * after as_watch_stop().
 */
struct as_watch {
	pthread_t th;
	atomic_int stop;
	int site, interval_ms, joined;
	int64_t t0; /* sc_now_ms() at the start */
	unsigned samples[2], missing[2];
	int min_paths[2];
	int64_t first_missing_ms[2], last_missing_ms[2];
};

void as_watch_start(struct as_watch *w, int site, int interval_ms);
void as_watch_stop(struct as_watch *w); /* idempotent */

/* ---- the client -------------------------------------------------------------------------- */

/* One session from the router namespace: connect, echo a line, close. 0 or -errno. */
int as_client_session(const char *addr);

/* The same from src_ip (SC_PINNED4: a session that always reaches site 1), NULL: any. */
int as_client_session_from(const char *src_ip, const char *addr);

/* n sessions to each anycast address; all must be answered. */
void as_client_sessions(int n, const char *when);

/* sc_dns_query_a() (tests/support/knot.h) from the router namespace, a source port of its own. */
int as_client_dns(
	const char *addr, const char *name, const char *const *answers, int n, int timeout_ms);

/*
 * `ip netns exec ROUTER kdig @ip -p port +short +notcp +time=1 +retry=0 name A`: its exit status
 * (or -errno), out gets its output without the trailing newline.
 */
int as_client_kdig(const char *ip, int port, const char *name, char *out, size_t cap);

#endif
