/*
 * DOC: anycast policy (pure)
 *
 * Decides, per service, whether its prefixes should be announced:
 * - withdraw when ready backends < min_ready or ready weight / total weight < min_capacity, or
 *   when a listener of the service is not bound, or when no backend is ready at all (whatever
 *   min_ready and min_capacity say: an announced site without a backend is a black hole);
 * - announce again only after the service has been healthy for `delay` without interruption;
 * - each withdraw within flap_window of the previous one doubles `delay` (announce_delay,
 *   2x, 4x, ... up to max_announce_delay); a withdraw after a quiet flap_window resets it, and
 *   so does staying announced and healthy for flap_window;
 * - an operator override (withdraw / announce) wins over health until cleared;
 * - shutdown withdraws for good.
 *
 *   WITHDRAWN --healthy--> PENDING --healthy for delay--> ANNOUNCED
 *       ^                     |                                |
 *       +----unhealthy--------+<-----------unhealthy-----------+
 *
 * bgp/policy.c draws the override and shutdown edges too. Time is injected (ms, monotonic).
 * Not thread-safe: one owner. The struct is public so that status can read it and tests can
 * check it; only the functions below change it.
 */
#ifndef ANYLB_BGP_POLICY_H
#define ANYLB_BGP_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct anycast_policy_conf {
	unsigned min_ready;
	double min_capacity;        /* 0..1, taken to a millionth; out of range or NaN is clamped */
	uint64_t announce_delay_ms; /* 0: announce as soon as healthy (and no damping) */
	uint64_t max_announce_delay_ms; /* raised to announce_delay_ms when below it */
	uint64_t flap_window_ms;        /* 0: no damping */
};

enum anycast_state { ANYCAST_WITHDRAWN, ANYCAST_PENDING, ANYCAST_ANNOUNCED };

enum anycast_override {
	ANYCAST_OVERRIDE_NONE,
	ANYCAST_OVERRIDE_WITHDRAW,
	ANYCAST_OVERRIDE_ANNOUNCE
};

struct anycast_health {
	unsigned ready, total; /* backends */
	uint64_t ready_weight, total_weight;
	int listeners_ok; /* every listener of the service is bound */
};

#define ANYCAST_NAME_MAX 64 /* bytes of a service name kept for log lines */

struct anycast_policy {
	struct anycast_policy_conf conf; /* normalised copy */
	enum anycast_state state;
	enum anycast_override override; /* as set by the operator */
	enum anycast_override applied;  /* in force since the last anycast_update() */
	int shut_down;
	int healthy;               /* health at the last anycast_update() */
	uint64_t healthy_since_ms; /* start of the current healthy stretch (PENDING) */
	uint64_t stable_since_ms;  /* ANNOUNCED by health: since when (decay of the delay) */
	uint64_t last_withdraw_ms; /* for flap counting; valid only when `withdrew` */
	int withdrew;              /* a health withdraw is remembered (0: never, or forgotten) */
	uint64_t delay_ms;         /* current announce delay */
	unsigned flaps;            /* withdraws that came within flap_window of the previous */
	uint32_t min_capacity_ppm; /* conf.min_capacity in millionths, compared exactly */
	char reason[128];          /* why the state is what it is */
	char name[ANYCAST_NAME_MAX + 1]; /* for log lines; "" until anycast_set_name() */
};

/* Starts WITHDRAWN with delay = announce_delay, no override, nothing remembered. */
void anycast_init(struct anycast_policy *p, const struct anycast_policy_conf *conf);

/* Names the service in the debug log lines of the state setter (copied, truncated). */
void anycast_set_name(struct anycast_policy *p, const char *name);

/*
 * Reload: new thresholds and delays, same state, flap history and override. The current delay
 * is brought into [announce_delay, max_announce_delay]. Takes effect at the next update.
 */
void anycast_set_conf(struct anycast_policy *p, const struct anycast_policy_conf *conf);

/*
 * Health alone, no state: returns 1 when h is healthy under p's thresholds, else 0 with the
 * operator-facing reason in why (caller's buffer; "healthy" when healthy). why may be NULL.
 */
int anycast_evaluate(
	const struct anycast_policy *p, const struct anycast_health *h, char *why, size_t cap);

/*
 * Feeds the service's current health at now. Returns 1 when the announced/withdrawn decision
 * changed (the caller then announces or withdraws and logs p->reason), else 0. Call it on every
 * health change and when anycast_next_deadline() passes.
 */
int anycast_update(struct anycast_policy *p, const struct anycast_health *h, uint64_t now_ms);

/* When a PENDING service becomes announceable (ms), or UINT64_MAX: the caller's timer. */
uint64_t anycast_next_deadline(const struct anycast_policy *p);

/*
 * Operator override; takes effect at the next anycast_update(). Clearing a withdraw while
 * healthy goes through PENDING with the current delay, from the update that clears it.
 */
void anycast_set_override(struct anycast_policy *p, enum anycast_override o);

/*
 * A policy as one process hands it to its successor (the binary upgrade): the state, the
 * override and the flap history, with the times as ages at the moment it was saved, so that the
 * successor's clock need not be the same.
 */
struct anycast_saved {
	enum anycast_state state;
	enum anycast_override override, applied;
	int healthy, withdrew;
	uint64_t healthy_for_ms;  /* PENDING: how long healthy so far */
	uint64_t stable_for_ms;   /* ANNOUNCED: since when (the decay of the delay) */
	uint64_t withdrew_ago_ms; /* the last health withdraw, when `withdrew` */
	uint64_t delay_ms;
	unsigned flaps;
	char reason[128];
};

/* p's state at now_ms, for the successor. */
void anycast_save(const struct anycast_policy *p, uint64_t now_ms, struct anycast_saved *out);

/*
 * The successor: p (initialised with its own configuration) goes on from s at now_ms, as if it
 * had decided so itself: same state and reason, same override, the flap history and the
 * pending stretch carried on, the delay brought into this configuration's bounds. Values out
 * of range (a corrupt record) are clamped; it never starts shut down.
 */
void anycast_adopt(struct anycast_policy *p, const struct anycast_saved *s, uint64_t now_ms);

/* Shutdown: withdraws for good. Returns 1 if that changed the decision. */
int anycast_shutdown(struct anycast_policy *p);

int anycast_announced(const struct anycast_policy *p);
const char *anycast_state_name(enum anycast_state st);
const char *anycast_override_name(enum anycast_override o);

#endif
