/*
 * DOC: the announcer
 *
 * Turns backend states into anycast announcements. Per service with an `anycast` section it
 * keeps a bgp/policy.c policy, feeds it the service's health (ready backends, ready weight,
 * listeners), and applies every announce/withdraw edge through the configured mechanism:
 * addresses on the TUN interface (announce: interface) or enable/disable of a BIRD static
 * protocol over the control socket (announce: bird_protocol). It also reads BIRD's protocol
 * table, to report BGP sessions and to re-assert its wishes after BIRD restarts or reconfigures.
 *
 * Runs on the monitor thread's loop. Created before any thread starts, because interface mode
 * forks the watchdog then. The code is in three files, one job each (lb/announcer_impl.h):
 * lb/announcer.c decides, lb/announcer_poll.c polls and repairs BIRD, lb/announcer_new.c
 * chooses and makes the mechanism.
 */
#ifndef ANYLB_LB_ANNOUNCER_H
#define ANYLB_LB_ANNOUNCER_H

#include "bgp/policy.h"
#include "lb/runtime.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct announcer;

/*
 * Creates the announcer for rt (NULL config: returns NULL with *err == 0, anycast off). In
 * interface mode it creates the TUN interface and forks the watchdog: call before threads.
 * adopt: an upgrade's successor, what the old process's announcer_hand_over() said (interface
 * mode then attaches to the old interface and each service goes on from the old decision; see
 * lb/announcer_handover.c); NULL otherwise. On failure returns NULL with *err set (-errno) and
 * the reason logged.
 */
struct announcer *announcer_new(struct lb_runtime *rt, const char *adopt, int *err);

struct announce_mech;
struct announce_target;

/*
 * What an announcer is built over. announcer_new passes the real ones; a unit test passes a
 * fake mechanism and its own clock, and no BIRD.
 */
struct announcer_deps {
	/*
	 * Makes the mechanism over targets[0..n): every anycast service's, in the configuration's
	 * order, valid as long as the announcer (which owns the mechanism from then on and frees
	 * it with its ops). Called once, by announcer_new_with. NULL with *err left 0: no
	 * mechanism yet (bird_protocol: attach makes it on the BIRD client); NULL with *err < 0:
	 * failed (logged). mech_new NULL: the same as returning NULL with 0.
	 */
	struct announce_mech *(*mech_new)(
		void *arg, const struct announce_target *targets, size_t n, int *err);
	void *mech_arg;
	/* The clock of the announcer's own evaluations (its deadline timer, overrides, rearm),
	 * in ms. NULL: clock_ms(). */
	uint64_t (*now_ms)(void *arg);
	void *now_arg;
	/* 1: announcer_attach makes no BIRD client: no poll, no re-assertion, no bird_protocol. */
	int no_bird;
};

/*
 * The announcer for rt (bgp enabled) over d: what announcer_new does once it has chosen the
 * mechanism, and the way in for tests. NULL with *err (-errno, logged) on failure; a mechanism
 * that mech_new made is then freed.
 */
struct announcer *announcer_new_with(
	struct lb_runtime *rt, const struct announcer_deps *d, int *err);

/*
 * Binds the announcer to the loop it will run on (the monitor's) and, unless deps.no_bird,
 * makes its BIRD client (and on it the bird_protocol mechanism) and starts polling BIRD.
 */
void announcer_attach(struct announcer *a, struct ev_loop *loop);

/*
 * A reload: the announcer's services are now those of generation rt (the same names and anycast
 * settings; conf_reload_check() refuses anything else). Announcer's loop.
 */
void announcer_switch(struct announcer *a, struct lb_runtime *rt);

/* Re-evaluates every service now (after a state change, and on the monitor's tick). */
void announcer_evaluate(struct announcer *a, uint64_t now_ms);

/*
 * What the policy (bgp/policy.c) is told of svc: its backends' readiness and weights, and
 * whether it listens (every address bound: lb_service_state.listening).
 */
void announcer_service_health(const struct lb_service *svc, struct anycast_health *h);

/*
 * Withdraws every prefix for good (graceful shutdown). done(arg) is called on the announcer's
 * loop once the withdrawals are applied (netlink acked, BIRD answered or gone, at most ~1 s).
 */
void announcer_shutdown(struct announcer *a, void (*done)(void *arg), void *arg);

struct bird_protocol;

struct announcer_status {
	int announced;
	int state;    /* enum anycast_state */
	int override; /* enum anycast_override */
	int drained;  /* the drain ladder is past announced, or a drain is pending */
	char reason[128];
	unsigned flaps;
	uint64_t delay_ms;           /* the current announce delay */
	int routes_known;            /* BIRD answered `show route for` each prefix at least once */
	uint64_t in_bird;            /* bit i: prefix i is in BIRD's table (first 64 prefixes) */
	int level;                   /* what the mechanism holds: ANNOUNCE_* (bgp/announce.h) */
	int ladder_step;             /* enum ladder_step (bgp/ladder.h) */
	uint64_t ladder_left_ms;     /* left in the step now; 0: no deadline */
	uint64_t ladder_deadline_ms; /* when the step ends by time (announcer's clock); UINT64_MAX:
					never */
	uint64_t ladder_window_ms, ladder_timeout_ms;
	char ladder_reason[96];
};

/*
 * Thread-safe snapshot of the named service's anycast state, as of the announcer's last
 * evaluation (at most one monitor tick old). -ENOENT when the service has no anycast.
 */
int announcer_status(struct announcer *a, const char *service, struct announcer_status *out);

/*
 * Thread-safe: the protocols BIRD reported at its last poll (up to cap copied), their number,
 * and whether the control socket is connected now.
 */
size_t announcer_protocols(
	struct announcer *a, struct bird_protocol *out, size_t cap, int *connected);

/*
 * Thread-safe operator override for the named service (enum anycast_override: none, withdraw,
 * announce), applied on the announcer's loop right away. -ENOENT without anycast.
 */
int announcer_override(struct announcer *a, const char *service, int override);

/*
 * Thread-safe: the drain ladder (bgp/ladder.h) for the named service, or for every anycast
 * service when service is NULL: drain 1 starts it (window_ms: the de-preferred step, UINT64_MAX
 * for bgp.drain_window; then withdrawn for at most global.drain_timeout while sessions last),
 * drain 0 goes back to announced. Applied on the announcer's loop right away. -ENOENT when the
 * service has no anycast (or, for NULL, no service has), -EOPNOTSUPP without an announcer.
 */
int announcer_drain(struct announcer *a, const char *service, int drain, uint64_t window_ms);

/* Whether the mechanism can announce de-preferred (bird_protocol); else the ladder's first
 * step is a withdrawal. */
int announcer_can_deprefer(const struct announcer *a);

/* The heartbeat fd of the watchdog (interface mode), or -1. For the main thread's beats. */
int announcer_watchdog_fd(const struct announcer *a);

/*
 * Main thread only (it forks): the watchdog is gone although anylb lives (its loops stalled
 * longer than watchdog_timeout, e.g. the process was stopped), so every prefix is withdrawn.
 * Reaps it, creates the interface and a new watchdog, and makes every service start over from
 * withdrawn: prefixes return after announce_delay of health. Returns 0, or -errno (try again
 * at the next heartbeat; the old interface may still be going away).
 */
int announcer_rearm(struct announcer *a);

/* ---- the binary upgrade (lb/announcer_handover.c) ---- */

/*
 * Old side, main thread, when the successor has loaded its configuration: the announcement
 * described for it (malloc'ed text of *len bytes; NULL when out of memory or a is NULL). This
 * announcer goes on deciding and applying until announcer_handed_over().
 */
char *announcer_hand_over(struct announcer *a, size_t *len);

/*
 * Old side, any thread: the upgrade failed, and the successor may have applied something
 * before it went: every decision is applied again, on the announcer's loop.
 */
void announcer_reassert(struct announcer *a);

/*
 * Old side, main thread, the successor serves: the mechanism lets go of the announcement
 * without withdrawing (interface: the watchdog is stopped now; call heartbeat_handed_over()
 * first), and the shutdown after the drain withdraws nothing.
 */
void announcer_handed_over(struct announcer *a);

/* New side: the old interface's index in text, when it is interface's of that name; else 0. */
int announcer_handover_ifindex(const char *text, const char *interface);

/*
 * New side, before attach: each service named in text goes on from the old process's policy;
 * every decision is applied again at the first evaluation, and a service whose listeners do
 * not count as bound yet keeps its decision for a grace. Returns how many were adopted.
 */
size_t announcer_adopt(struct announcer *a, const char *text);

/* Stops the watchdog (after a graceful withdraw), closes everything, frees. */
void announcer_free(struct announcer *a);

#endif
