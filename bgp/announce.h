/*
 * DOC: announce mechanisms, behind one ops table
 *
 * The announcer (lb/announcer.c) keeps each service's policy and decides; a mechanism makes the
 * decision true for BGP:
 *
 *   interface      (bgp/announce_iface.c) the prefixes as addresses on a TUN interface that a
 *                  watchdog process holds (BIRD's `direct` protocol exports them); fail closed:
 *                  if anylb dies or stalls, the watchdog exits and the interface goes;
 *   bird_protocol  (bgp/announce_bird.c) enable/disable of a BIRD static protocol over the
 *                  control socket; BIRD forgets runtime switches on `configure` and restarts,
 *                  so the announcer re-asserts on reconnect and repairs from its poll.
 *
 * The ops are what differs; everything else (policy, overrides, status, the BIRD polls, the
 * shutdown order) is the announcer's. Later mechanisms (a drain ladder, flow handoff) plug in
 * here. A mechanism runs on the announcer's loop; its watchdog calls (interface) on the main
 * thread, as documented per call.
 */
#ifndef ANYLB_BGP_ANNOUNCE_H
#define ANYLB_BGP_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

struct bird_protocol;

/* One prefix as the mechanisms need it. */
struct announce_prefix {
	int family;       /* AF_INET or AF_INET6 */
	const void *addr; /* 4 or 16 bytes */
	unsigned len;     /* prefix length */
	const char *text; /* "192.0.2.10/32", for log lines */
};

/* What one service asks of a mechanism; the strings and arrays outlive the mechanism. */
struct announce_target {
	const char *service; /* for log lines */
	const struct announce_prefix *prefixes;
	size_t nprefixes;
	const char *bird_protocol; /* bird_protocol mode: the static protocol; else NULL */
};

struct announce_mech;

/*
 * What apply() is asked for. DEPREFERRED: still announced, through a second source of the same
 * prefixes that BIRD's filter marks with the graceful-shutdown community and prepends (the drain
 * ladder, bgp/ladder.h); only mechanisms with can_deprefer are asked for it. DRAIN_OFF, or'ed
 * into ANNOUNCE_ON or ANNOUNCE_WITHDRAW: the second source was used, turn it off as well.
 */
enum {
	ANNOUNCE_WITHDRAW = 0,
	ANNOUNCE_ON = 1,
	ANNOUNCE_DEPREFERRED = 2,
	ANNOUNCE_LEVEL_MASK = 3,
	ANNOUNCE_DRAIN_OFF = 4,
};

/* bird_protocol mode: the de-preferred source of protocol P is the static protocol P_drain. */
#define ANNOUNCE_DRAIN_SUFFIX "_drain"

struct announce_ops {
	const char *name; /* "interface", "bird_protocol" */

	/*
	 * Makes t's prefixes announced (ANNOUNCE_ON), de-preferred (ANNOUNCE_DEPREFERRED: make
	 * before break, the prefix is never missing) or withdrawn (ANNOUNCE_WITHDRAW), with
	 * ANNOUNCE_DRAIN_OFF as above. Returns 0 when that is done now, 1
	 * when an answer comes later (done(arg) is then called once, on the loop, answered or
	 * not), or -errno when it could not even be asked (logged).
	 */
	int (*apply)(struct announce_mech *m, const struct announce_target *t, int announce,
		void (*done)(void *arg), void *arg);

	/*
	 * Does what the mechanism was told live in BIRD (lost on a reconnect or `configure`)? Then
	 * the announcer sends every decision again when BIRD comes back.
	 */
	int kept_by_bird;

	/* Can announce de-preferred (ANNOUNCE_DEPREFERRED); else the ladder withdraws at once. */
	int can_deprefer;

	/*
	 * The repair poll's view (BIRD's protocol table v[0..n)): 1 when t looks the way
	 * `announced` (an ANNOUNCE_* level) says, 0 when it must be applied again, -1 when the
	 * table does not tell. NULL: nothing of it is in BIRD's table (interface mode).
	 */
	int (*matches)(const struct announce_target *t, int announced,
		const struct bird_protocol *v, size_t n, char *seen, size_t cap);

	/*
	 * Interface mode (NULL otherwise): the heartbeat fd of the watchdog, or -1; and, on the
	 * main thread (it forks), recreating the interface and its watchdog after the watchdog
	 * gave up: 0 or -errno (try again later). Every prefix is withdrawn after it.
	 */
	int (*watchdog_fd)(const struct announce_mech *m);
	int (*rearm)(struct announce_mech *m);

	/*
	 * The binary upgrade; NULL when nothing but the decisions is handed over (bird_protocol:
	 * the protocols live in BIRD). describe: one line for the successor's mechanism to take
	 * this one's place ("interface NAME ifindex N"), its length or -errno. handed_over (main
	 * thread): the successor's mechanism holds the announcement now: let go of it at once
	 * without withdrawing anything, and withdraw nothing at free.
	 */
	int (*describe)(const struct announce_mech *m, char *buf, size_t cap);
	void (*handed_over)(struct announce_mech *m);

	/* Withdraws what it holds for good where that is its job, closes, frees. */
	void (*free)(struct announce_mech *m);
};

/* A mechanism: its ops and its own state (each file extends this). */
struct announce_mech {
	const struct announce_ops *ops;
};

struct watchdog_ids;
struct bird_client;

struct announce_iface_conf {
	const char *interface;
	uint64_t watchdog_timeout_ms;
	const struct watchdog_ids *ids; /* what the watchdog runs as; NULL: as anylb */
	/* Every service's prefixes: kept on lo for anylb's whole life (see announce_iface.c). */
	const struct announce_target *all;
	size_t nall;
	/*
	 * An upgrade's successor: > 0, the index of the old process's interface, to attach to
	 * (addresses left as they are) instead of creating one; *adopted says whether that
	 * worked (0: that interface was gone, a fresh one was made, nothing is announced).
	 */
	int adopt_ifindex;
	int *adopted;
};

/*
 * interface: creates the TUN interface (or attaches to c->adopt_ifindex) and forks its watchdog
 * (before any thread starts).
 * NULL with *err (-errno) and the reason logged.
 */
struct announce_mech *announce_iface_new(const struct announce_iface_conf *c, int *err);

/* bird_protocol: switches static protocols through bc (borrowed; it outlives the mechanism). */
struct announce_mech *announce_bird_new(struct bird_client *bc);

#endif
