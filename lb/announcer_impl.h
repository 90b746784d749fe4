/*
 * DOC: announcer internals
 *
 * Shared between the three files of the announcer, one job each:
 *
 *   lb/announcer.c       the decisions: each service's policy (bgp/policy.c) fed its health,
 *                        overrides, the deadline timer, the status snapshot, the shutdown's
 *                        withdrawals, every edge applied through the mechanism;
 *   lb/announcer_poll.c  the BIRD poll: protocols and routes for status, BGP session changes
 *                        logged, bird_protocol switches repaired, decisions re-asserted when the
 *                        control socket reconnects;
 *   lb/announcer_new.c   construction: the mechanism chosen and made from the configuration
 *                        (interface mode forks the watchdog), attach, rearm, free;
 *   lb/announcer_handover.c  the binary upgrade: describe (old side), adopt (new side),
 *                        re-assert after a failed upgrade, let go after a good one.
 *
 * Nothing outside lb/announcer*.c includes this header. Everything here runs on the
 * announcer's loop unless a field says otherwise.
 */
#ifndef ANYLB_LB_ANNOUNCER_IMPL_H
#define ANYLB_LB_ANNOUNCER_IMPL_H

#include "bgp/announce.h"
#include "bgp/ladder.h"
#include "bgp/policy.h"
#include "lb/announcer.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct ann_svc;

/* One `show route for PREFIX` in flight: which service and prefix it is about. */
struct route_q {
	struct ann_svc *as;
	unsigned idx;
};

struct ann_svc {
	struct route_q *rq; /* one per prefix */
	struct announcer *a;
	struct announce_prefix *pfx;   /* the prefixes of base's configuration */
	struct announce_target target; /* what the mechanism is told about */
	struct lb_service *svc;        /* in the monitor's generation; announcer's loop only */
	char name[CONF_NAME_MAX + 1];  /* the service's, for other threads' lookups */
	struct anycast_policy pol;
	struct ladder lad; /* the drain ladder (bgp/ladder.h) */
	int applied;       /* what the mechanism was last told: an ANNOUNCE_* level */
	int drain_used;    /* the de-preferred source was turned on since it was last off */
	/* The service's health as last read, and the `changes` it was read at. */
	struct anycast_health h;
	uint64_t seen_changes;
	int stale; /* read it again whatever `changes` says (start, a new generation) */
	/* Guarded by announcer.lock: what other threads see, and what they ask. */
	struct announcer_status shown;
	struct anycast_saved saved; /* pol as of the last publish, for a successor */
	struct ladder lad_saved;    /* lad as of the last publish, for a successor */
	int want_override;          /* -1: none pending */
	int want_drain;             /* -1: none pending, 0: undrain, 1: drain */
	uint64_t want_window_ms;    /* of a pending drain */
};

struct announcer {
	struct lb_runtime *rt;
	const struct conf_bgp *bgp; /* of base, immutable: read by any thread */
	struct lb_runtime *base;    /* the generation the announcer was created with */
	struct ev_loop *loop;
	struct ann_svc *svcs;
	size_t nsvcs;
	/* The clock of the announcer's own evaluations (deadline timer, overrides, rearm). */
	uint64_t (*now_ms)(void *arg);
	void *now_arg;

	struct announce_mech *mech; /* made with the announcer, or at attach (bird_protocol) */
	/* Every service's target, in order: what the mechanism was made over (interface mode keeps
	 * all of them on lo), so they live as long as the announcer. */
	struct announce_target *targets;

	int no_bird;              /* announcer_deps.no_bird: no BIRD client at attach */
	struct bird_client *bird; /* NULL: no poll, no re-assertion */
	ev_timer
		deadline; /* the policies' next deadline: an announce delay over, flaps forgotten */
	ev_timer poll;
	int poll_pending;
	unsigned routes_pending;      /* `show route for` replies still to come */
	struct bird_protocol *protos; /* last `show protocols`, for change logs */
	size_t nprotos;

	pthread_mutex_t lock; /* guards the shown/want_override fields, protos, bird_up */
	ev_async wake;        /* an override was asked for, or the interface was recreated */
	int bird_up;
	int rearmed; /* the interface was recreated: start over from withdrawn */

	/* The binary upgrade (lb/announcer_handover.c). */
	_Atomic int handed_over; /* the successor holds the announcement: nothing is applied */
	int failed_upgrade;      /* under lock: an upgrade failed, apply every decision again */
	int reassert;            /* apply every decision at the next evaluation */
	uint64_t adopt_until_ms; /* a successor's grace for its listeners to count; 0: none */
	uint64_t published_ms;   /* when `saved` was taken, under lock */

	int shutting_down;
	unsigned pending; /* BIRD commands of the shutdown not answered yet */
	ev_timer shutdown_timer;
	void (*done)(void *arg);
	void *done_arg;
};

/* lb/announcer.c: tells the mechanism what the policy decided (applied := announce). */
void ann_apply(struct announcer *a, struct ann_svc *as, int announce);

/* lb/announcer.c: publishes the policies' state for other threads (status, a successor). */
void ann_publish(struct announcer *a);

/* lb/announcer.c: the service of that name, or NULL. */
struct ann_svc *ann_find_svc(struct announcer *a, const char *name);

/* lb/announcer.c: starts the decisions on a->loop (overrides, the first evaluation). */
void ann_start(struct announcer *a);

/* lb/announcer.c: stops the decisions' watchers (a->loop set). */
void ann_stop(struct announcer *a);

/*
 * lb/announcer_poll.c: the BIRD client of the announcer on loop, its connection changes heard
 * by the poll (logged, decisions re-asserted). NULL when out of memory.
 */
struct bird_client *ann_bird_new(struct announcer *a, struct ev_loop *loop);

/* lb/announcer_poll.c: starts and stops the poll of BIRD (a->loop and a->bird set). */
void ann_poll_start(struct announcer *a);
void ann_poll_stop(struct announcer *a);

#endif
