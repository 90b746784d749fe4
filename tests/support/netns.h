/*
 * DOC: network namespaces, BIRD and routes, for anycast scenarios
 *
 * The anycast suites build a small network out of namespaces that the test creates and removes
 * itself, so that BGP, routes and TUN interfaces never touch the host's tables:
 *
 *        client (the test, in the router namespace)
 *            |
 *   +--------+-------- router: BIRD, eBGP AS 65000 to both sites, merge paths into its own
 *   | r-s1       r-s2 |         kernel table (ECMP)
 *   +--+-----------+--+
 *      | veth      | veth       10.0.N.0/24 and fd00:N::/64 on link N
 *   +--+--+     +--+--+
 *   | s1  |     | s2  |  site N: BIRD (AS 65001) exporting only the anycast prefixes, anylb,
 *   +-----+     +-----+          backends on 127.0.0.1
 *
 * Names are unique per test process ("anylb-t<pid>-router", "-s1", "-s2") and registered:
 * sc_netns_cleanup() (registered with atexit, and meant for a suite's .fini next to
 * sc_cleanup()) stops every BIRD started here by its pid, deletes every namespace made here
 * (their veth pairs go with them) and removes the temp directory. Namespaces left by a test
 * process that died without cleaning up (its pid is gone) are swept at the next start.
 *
 * Processes go into a namespace by fork from a thread that entered it (sc_netns_enter): the
 * harness's anylb and tool starters work unchanged, and a socket made while inside (a client,
 * a netlink socket) stays in that namespace for its whole life.
 *
 * Everything is bounded in time and returns 0 (or a non-negative value) or -errno, as the
 * rest of the harness. Main thread only.
 */
#ifndef ANYLB_TESTS_SUPPORT_NETNS_H
#define ANYLB_TESTS_SUPPORT_NETNS_H

#include "tests/support/harness.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- prerequisites and plumbing -------------------------------------------------------------- */

/*
 * 0 when this process can build the topology: root, `ip`, `bird`, /dev/net/tun, and a
 * namespace can be made. Otherwise -errno with a sentence for cr_skip in why.
 */
int sc_netns_check(char *why, size_t cap);

/* Finds an executable in PATH, /usr/sbin, /sbin, /usr/local/sbin (a name with a / is taken as a
 * path): 0 with its path, or -ENOENT. */
int sc_which(const char *name, char *path, size_t cap);

/* Creates namespace name with lo up; registered for cleanup. 0 or -errno. */
int sc_netns_add(const char *name);

/* Moves the calling thread into namespace name; NULL goes back to the test's own. 0 or -errno. */
int sc_netns_enter(const char *name);

/*
 * Runs a command given as printf-style text split on spaces (no shell, no quoting), the first
 * word looked up with sc_which. Bounded by timeout_ms (then SIGKILL). Returns its exit status
 * (0..255, 128 + signal) or -errno; out (may be NULL) gets stdout and stderr, cut to cap.
 */
int sc_cmd(char *out, size_t cap, int timeout_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- routes ---------------------------------------------------------------------------------- */

#define SC_ROUTE_MAXPATHS 8

struct sc_route {
	int paths;                                  /* next hops; 0 when there is no route */
	char via[SC_ROUTE_MAXPATHS][SC_ADDRSTRLEN]; /* their gateways, as text */
};

/*
 * Reads the route for prefix ("192.0.2.10/32", "2001:db8::10/128") from the main table of
 * namespace ns over rtnetlink (one dump, well under a millisecond). 0 or -errno.
 */
int sc_netns_route(const char *ns, const char *prefix, struct sc_route *r);

/*
 * Polls (every millisecond) until the route has exactly paths next hops. 0 with *at_ms (may be
 * NULL) the sc_now_ms() of the first dump that showed it, or -ETIMEDOUT.
 */
int sc_netns_wait_paths(
	const char *ns, const char *prefix, int paths, int timeout_ms, int64_t *at_ms);

/* Gateways of a route as "10.0.1.2, 10.0.2.2" (or "none"), for messages. Returns buf. */
const char *sc_route_text(const struct sc_route *r, char *buf, size_t cap);

/* ---- BIRD ------------------------------------------------------------------------------------ */

struct sc_bird;

/*
 * Writes conf to DIR/NAME.conf and runs `bird -f -c DIR/NAME.conf -s DIR/NAME.ctl -P
 * DIR/NAME.pid` in namespace ns, its output in DIR/NAME.log; waits until the control socket
 * answers. Registered: sc_netns_cleanup() kills it. NULL on failure (the log is printed).
 */
struct sc_bird *sc_bird_start(const char *ns, const char *dir, const char *name, const char *conf);

pid_t sc_bird_pid(const struct sc_bird *b);
const char *sc_bird_socket(const struct sc_bird *b);

/* Sends sig to the running BIRD; 0 or -errno. */
int sc_bird_signal(struct sc_bird *b, int sig);

/* SIGKILL (a crash: no goodbye to its peers' TCP beyond the kernel's), reaped. 0 or -errno. */
int sc_bird_kill(struct sc_bird *b);

/* Starts the same BIRD again (same namespace, files and socket) after a kill. 0 or -errno. */
int sc_bird_restart(struct sc_bird *b);

/*
 * One command over the control socket, as birdc sends it. reply gets the text of every line
 * without its code (continuations included), one per line. Returns the code of the last line,
 * or of the first when the last is the end marker 0000: 1007 for a route, 3 or 4 for a
 * configure (after 0002 "Reading configuration"), 11 for enable, 8001 for a missing network;
 * or -errno.
 */
int sc_bird_cmd(const struct sc_bird *b, const char *cmd, char *reply, size_t cap, int timeout_ms);

/* The state column of protocol name in `show protocols` ("up", "down", "start") and its info
 * ("Established", "Active"); 0, or -ENOENT when BIRD does not list it. */
int sc_bird_protocol(const struct sc_bird *b, const char *name, char *state, size_t scap,
	char *info, size_t icap);

/* Waits until protocol name shows state (and info, when not NULL): 0 or -ETIMEDOUT. */
int sc_bird_wait_protocol(const struct sc_bird *b, const char *name, const char *state,
	const char *info, int timeout_ms, int64_t *at_ms);

/* Prints the log of b to stderr, framed, for a failed test. */
void sc_bird_dump_log(const struct sc_bird *b);

/* ---- the two-site anycast topology --------------------------------------------------------- */

/* The addresses every site announces, and where clients connect. */
#define SC_ANYCAST4      "192.0.2.10"
#define SC_ANYCAST6      "2001:db8::10"
#define SC_ANYCAST4_NET  SC_ANYCAST4 "/32"
#define SC_ANYCAST6_NET  SC_ANYCAST6 "/128"
#define SC_ANYCAST_PORT  8080
#define SC_ANYCAST4_ADDR SC_ANYCAST4 ":8080"
#define SC_ANYCAST6_ADDR "[" SC_ANYCAST6 "]:8080"

/*
 * A source address of the router namespace whose packets to SC_ANYCAST4 always go to site 1
 * (a policy rule and a static route, not BGP): a client behind a router that has not converged
 * yet, for what a site does with traffic that still arrives after it withdrew.
 */
#define SC_PINNED4 "10.0.9.1"

enum sc_announce_mode {
	SC_ANNOUNCE_INTERFACE,     /* direct protocol on "anylb*" */
	SC_ANNOUNCE_BIRD_PROTOCOL, /* static protocols anylb_web4 / anylb_web6, disabled yes */
};

struct sc_site {
	char ns[64];
	char name[8];   /* "site1" */
	char link4[16]; /* the site's address on its link to the router */
	char link6[48];
	struct sc_bird *bird;   /* BIRD of the site (AS 65001) */
	char config_text[4096]; /* its bird.conf, as written */
};

struct sc_anycast {
	enum sc_announce_mode mode;
	char dir[128]; /* temp directory: BIRD configs, sockets, logs */
	char router[64];
	struct sc_bird *router_bird;
	struct sc_site site[2];
};

/*
 * Builds the topology: namespaces, veth pairs, link addresses (IPv4 and IPv6, no DAD), default
 * routes from the sites, L4 multipath hashing on the router (so that a client's connections
 * spread over both sites), BIRD in all three with every BGP session established. In
 * SC_ANNOUNCE_BIRD_PROTOCOL mode the anycast addresses also go on each site's lo, where the
 * kernel accepts them (BIRD only announces). 0 or -errno, with why filled.
 */
int sc_anycast_up(struct sc_anycast *t, enum sc_announce_mode mode, char *why, size_t cap);

/* The name of a router BGP protocol towards site i (0 or 1) for family (AF_INET, AF_INET6). */
const char *sc_anycast_router_proto(int i, int family);

/* The anycast prefix of family, as the router's table shows it. */
const char *sc_anycast_prefix(int family);

/* Prints every BIRD log of the topology, for a failed test. */
void sc_anycast_dump(const struct sc_anycast *t);

/* Stops every BIRD, deletes every namespace and the temp directory made by this process.
 * Idempotent; registered with atexit() by the first sc_netns_add(). */
void sc_netns_cleanup(void);

#endif
