/*
 * DOC: anycast policy, the state machine
 *
 * One machine per service, fed with the service's health and the time. The whole diagram,
 * including what bgp/policy.h leaves out:
 *
 *                  healthy                      healthy for delay
 *   WITHDRAWN ------------------> PENDING ----------------------------> ANNOUNCED
 *    ^  ^  ^  (delay 0: on at once) |                                     |   ^
 *    |  |  +------ unhealthy -------+                                     |   |
 *    |  |    (no flap: never announced; the healthy stretch restarts)     |   |
 *    |  +---------- unhealthy: a health withdraw, feeds damping ----------+   |
 *    |                                                                        |
 *    +-- operator withdraw / shutdown (for good): from any state              |
 *        operator announce: from any state, not after shutdown ---------------+
 *
 * Health: listeners bound, at least one ready backend, ready >= min_ready, and
 * ready_weight >= min_capacity x total_weight (no capacity test when total_weight is 0).
 * min_ready 0 with min_capacity 0 therefore means "announce while the listeners are bound and
 * one backend is ready", not "whenever the listeners are bound": an announced site with no
 * backend draws its clients into connections that cannot be served, which is what anycast
 * withdrawal exists to prevent. min_capacity is compared in millionths with integer arithmetic,
 * so a share equal to the threshold is healthy (0.5 with 1 of 2 equal backends, 0.7 with 7 of
 * 10, 2/3 with 2 of 3), with no floating point surprise at the boundary.
 *
 * Damping, after BIRD's doubling back-off: a health withdraw (ANNOUNCED -> WITHDRAWN while no
 * override is in force) within flap_window of the previous one counts a flap and doubles the
 * delay up to max_announce_delay; one after a quieter gap resets the delay to announce_delay.
 * Staying ANNOUNCED and healthy for flap_window forgets the history at once (delay back to
 * announce_delay, the next withdraw is a first one): a service that has proven itself for a
 * whole window should not carry yesterday's penalty. The decay is applied when an update
 * arrives, so a status read between updates may show the longer delay a little longer. A long
 * unhealthy spell does not shorten the delay: coming back from a bad patch is the moment to be
 * careful. `flaps` is a counter for metrics and never goes down.
 *
 * Overrides: the operator knows best, so an override wins over health until cleared, but never
 * over shutdown. Applying or clearing one never counts a flap and never feeds the flap history.
 * Clearing a withdraw while healthy goes through PENDING from the clearing update with the
 * current delay (the safe answer: the service has not been vouched for by health yet); clearing
 * an announce keeps the prefixes announced if the service is healthy, and withdraws them if not.
 *
 * anycast_set_state() is the one setter; it logs every transition at debug level. The caller
 * logs and publishes the announce/withdraw edge that anycast_update() returns, with p->reason.
 */
#include "bgp/policy.h"

#include "lib/duration.h"
#include "lib/log.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ANYCAST_PPM 1000000u

static uint64_t anycast_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Time is monotonic, but a caller's bug must not turn into a 584-million-year wait. */
static uint64_t anycast_elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

/*
 * Rounds down, after a nudge far larger than a double's error at this size (~1e-10) and far
 * smaller than a millionth: a decimal threshold (0.5, 0.57, 0.7) lands on its exact value, and
 * one that is not a whole number of millionths (2/3) errs by under a millionth on the lenient
 * side, so a share exactly equal to the threshold passes.
 */
static uint32_t anycast_ppm(double frac)
{
	if (isnan(frac) || frac >= 1.0)
		return ANYCAST_PPM; /* NaN: the strict side; conf validation never lets one by */
	if (frac <= 0.0)
		return 0;
	return (uint32_t)(frac * ANYCAST_PPM + 1e-6); /* positive: truncation is floor */
}

static void anycast_normalise(struct anycast_policy_conf *c)
{
	if (c->max_announce_delay_ms < c->announce_delay_ms)
		c->max_announce_delay_ms = c->announce_delay_ms;
	if (isnan(c->min_capacity) || c->min_capacity > 1.0)
		c->min_capacity = 1.0;
	else if (c->min_capacity < 0.0)
		c->min_capacity = 0.0;
}

const char *anycast_state_name(enum anycast_state st)
{
	switch (st) {
	case ANYCAST_WITHDRAWN:
		return "withdrawn";
	case ANYCAST_PENDING:
		return "pending";
	case ANYCAST_ANNOUNCED:
		return "announced";
	}
	return "invalid";
}

const char *anycast_override_name(enum anycast_override o)
{
	switch (o) {
	case ANYCAST_OVERRIDE_NONE:
		return "none";
	case ANYCAST_OVERRIDE_WITHDRAW:
		return "withdraw";
	case ANYCAST_OVERRIDE_ANNOUNCE:
		return "announce";
	}
	return "invalid";
}

/* The one setter. Also records a new reason within the same state, so p->reason stays true. */
static void anycast_set_state(struct anycast_policy *p, enum anycast_state to, const char *reason)
{
	enum anycast_state from = p->state;

	if (from == to && strcmp(p->reason, reason) == 0)
		return;
	p->state = to;
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	if (from != to)
		log_debug("anycast %s: %s -> %s: %s", p->name[0] != '\0' ? p->name : "?",
			anycast_state_name(from), anycast_state_name(to), p->reason);
}

void anycast_init(struct anycast_policy *p, const struct anycast_policy_conf *conf)
{
	memset(p, 0, sizeof(*p));
	p->conf = *conf;
	anycast_normalise(&p->conf);
	p->min_capacity_ppm = anycast_ppm(p->conf.min_capacity);
	p->state = ANYCAST_WITHDRAWN;
	p->override = ANYCAST_OVERRIDE_NONE;
	p->applied = ANYCAST_OVERRIDE_NONE;
	p->delay_ms = p->conf.announce_delay_ms;
	snprintf(p->reason, sizeof(p->reason), "no health report yet");
}

void anycast_set_name(struct anycast_policy *p, const char *name)
{
	snprintf(p->name, sizeof(p->name), "%s", name != NULL ? name : "");
}

void anycast_set_conf(struct anycast_policy *p, const struct anycast_policy_conf *conf)
{
	p->conf = *conf;
	anycast_normalise(&p->conf);
	p->min_capacity_ppm = anycast_ppm(p->conf.min_capacity);
	if (p->delay_ms < p->conf.announce_delay_ms)
		p->delay_ms = p->conf.announce_delay_ms;
	if (p->delay_ms > p->conf.max_announce_delay_ms)
		p->delay_ms = p->conf.max_announce_delay_ms;
}

/*
 * Brings ready <= total and total small enough that total x 10^6 fits 64 bits. Weights that
 * large (over 1.8e13) cannot come from a config (10000 backends x 1000); halving both keeps the
 * ratio to far better than a millionth.
 */
static void anycast_scale(uint64_t *ready, uint64_t *total)
{
	if (*ready > *total)
		*ready = *total;
	while (*total > UINT64_MAX / ANYCAST_PPM) {
		*ready >>= 1;
		*total >>= 1;
	}
}

/*
 * "40%", "33.3%". The ready share is rounded down to a tenth and the threshold printed exactly
 * (it is a whole number of millionths), so a share below the threshold never prints as equal.
 */
static void anycast_fmt_share(char *buf, size_t cap, uint64_t ready, uint64_t total)
{
	uint64_t tenths = ready * 1000 / total;

	if (tenths % 10 == 0)
		snprintf(buf, cap, "%llu%%", (unsigned long long)(tenths / 10));
	else
		snprintf(buf, cap, "%llu.%llu%%", (unsigned long long)(tenths / 10),
			(unsigned long long)(tenths % 10));
}

static void anycast_fmt_ppm(char *buf, size_t cap, uint32_t ppm)
{
	unsigned whole = ppm / 10000, frac = ppm % 10000, digits = 4;

	if (frac == 0) {
		snprintf(buf, cap, "%u%%", whole);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, cap, "%u.%0*u%%", whole, (int)digits, frac);
}

int anycast_evaluate(
	const struct anycast_policy *p, const struct anycast_health *h, char *why, size_t cap)
{
	char tmp[128], have[32], want[32];
	uint64_t rw = h->ready_weight, tw = h->total_weight;

	if (why == NULL) {
		why = tmp;
		cap = sizeof(tmp);
	}
	if (!h->listeners_ok) {
		snprintf(why, cap, "listener not bound");
		return 0;
	}
	if (h->ready < p->conf.min_ready) {
		snprintf(why, cap, "%u ready backend%s < min_ready %u", h->ready,
			h->ready == 1 ? "" : "s", p->conf.min_ready);
		return 0;
	}
	if (h->ready == 0) {
		snprintf(why, cap, "no ready backends");
		return 0;
	}
	if (tw != 0) {
		anycast_scale(&rw, &tw);
		if (rw * ANYCAST_PPM < (uint64_t)p->min_capacity_ppm * tw) {
			anycast_fmt_share(have, sizeof(have), rw, tw);
			anycast_fmt_ppm(want, sizeof(want), p->min_capacity_ppm);
			snprintf(why, cap, "ready capacity %s < min_capacity %s", have, want);
			return 0;
		}
	}
	snprintf(why, cap, "healthy");
	return 1;
}

/* Named transitions around the setter, one per edge of the diagram. */

static void anycast_announce(struct anycast_policy *p, uint64_t now_ms)
{
	char reason[64], d[32];

	p->stable_since_ms = now_ms;
	if (p->delay_ms == 0)
		snprintf(reason, sizeof(reason), "healthy");
	else
		snprintf(reason, sizeof(reason), "healthy for %s",
			duration_format(p->delay_ms, d, (int)sizeof(d)));
	anycast_set_state(p, ANYCAST_ANNOUNCED, reason);
}

/* PENDING -> ANNOUNCED once healthy for the delay; a delay of 0 passes at once. */
static void anycast_try_announce(struct anycast_policy *p, uint64_t now_ms)
{
	if (anycast_elapsed(now_ms, p->healthy_since_ms) >= p->delay_ms)
		anycast_announce(p, now_ms);
}

static void anycast_start_pending(struct anycast_policy *p, uint64_t now_ms)
{
	char reason[96], d[32];

	p->healthy_since_ms = now_ms;
	snprintf(reason, sizeof(reason), "healthy, announcing after %s%s",
		duration_format(p->delay_ms, d, (int)sizeof(d)),
		p->delay_ms > p->conf.announce_delay_ms ? " (lengthened by flapping)" : "");
	anycast_set_state(p, ANYCAST_PENDING, reason);
	anycast_try_announce(p, now_ms);
}

/* Not announced, or leaving an override: no flap, the history is left alone. */
static void anycast_stay_withdrawn(struct anycast_policy *p, const char *why)
{
	anycast_set_state(p, ANYCAST_WITHDRAWN, why);
}

/* ANNOUNCED -> WITHDRAWN because of health: the only edge that feeds damping. */
static void anycast_health_withdraw(struct anycast_policy *p, const char *why, uint64_t now_ms)
{
	uint64_t max = p->conf.max_announce_delay_ms;

	if (p->withdrew && anycast_elapsed(now_ms, p->last_withdraw_ms) <= p->conf.flap_window_ms) {
		if (p->flaps < UINT_MAX)
			p->flaps++;
		p->delay_ms = p->delay_ms > max / 2 ? max : p->delay_ms * 2;
	} else {
		p->delay_ms = p->conf.announce_delay_ms;
	}
	p->withdrew = 1;
	p->last_withdraw_ms = now_ms;
	anycast_set_state(p, ANYCAST_WITHDRAWN, why);
}

/* Announced and healthy for a whole flap_window: forget the flaps. */
static void anycast_decay(struct anycast_policy *p, uint64_t now_ms)
{
	if (anycast_elapsed(now_ms, p->stable_since_ms) < p->conf.flap_window_ms)
		return;
	p->delay_ms = p->conf.announce_delay_ms;
	p->withdrew = 0;
}

/* An override or shutdown: straight to the state, no damping. */
static void anycast_force(struct anycast_policy *p, enum anycast_state to, const char *reason)
{
	anycast_set_state(p, to, reason);
}

/* No override in force: health drives. */
static void anycast_follow_health(struct anycast_policy *p, const char *why, uint64_t now_ms)
{
	switch (p->state) {
	case ANYCAST_WITHDRAWN:
		if (p->healthy)
			anycast_start_pending(p, now_ms);
		else
			anycast_stay_withdrawn(p, why);
		return;
	case ANYCAST_PENDING:
		if (p->healthy)
			anycast_try_announce(p, now_ms);
		else
			anycast_stay_withdrawn(p, why); /* never announced: no flap */
		return;
	case ANYCAST_ANNOUNCED:
		anycast_decay(p, now_ms);
		if (!p->healthy)
			anycast_health_withdraw(p, why, now_ms);
		return;
	}
}

/*
 * The operator announce was just cleared. Healthy: stay announced, and the stable stretch
 * starts now. Unhealthy: withdraw, which is the operator's doing, not a flap.
 */
static void anycast_leave_announce(struct anycast_policy *p, const char *why, uint64_t now_ms)
{
	if (p->healthy) {
		p->stable_since_ms = now_ms;
		anycast_set_state(p, ANYCAST_ANNOUNCED, "healthy, operator announce cleared");
	} else {
		anycast_stay_withdrawn(p, why);
	}
}

int anycast_update(struct anycast_policy *p, const struct anycast_health *h, uint64_t now_ms)
{
	char why[128];
	int was = anycast_announced(p);

	p->healthy = anycast_evaluate(p, h, why, sizeof(why));
	if (p->shut_down) {
		anycast_force(p, ANYCAST_WITHDRAWN, "shutting down");
		return was != anycast_announced(p);
	}
	switch (p->override) {
	case ANYCAST_OVERRIDE_WITHDRAW:
		anycast_force(p, ANYCAST_WITHDRAWN, "operator withdraw");
		break;
	case ANYCAST_OVERRIDE_ANNOUNCE:
		anycast_force(p, ANYCAST_ANNOUNCED, "operator announce");
		break;
	case ANYCAST_OVERRIDE_NONE:
		/* A cleared withdraw needs nothing special: WITHDRAWN and healthy starts PENDING.
		 */
		if (p->applied == ANYCAST_OVERRIDE_ANNOUNCE)
			anycast_leave_announce(p, why, now_ms);
		else
			anycast_follow_health(p, why, now_ms);
		break;
	}
	p->applied = p->override;
	return was != anycast_announced(p);
}

uint64_t anycast_next_deadline(const struct anycast_policy *p)
{
	switch (p->state) {
	case ANYCAST_PENDING:
		return anycast_sat_add(p->healthy_since_ms, p->delay_ms);
	case ANYCAST_WITHDRAWN:
	case ANYCAST_ANNOUNCED:
		return UINT64_MAX;
	}
	return UINT64_MAX;
}

void anycast_set_override(struct anycast_policy *p, enum anycast_override o)
{
	p->override = o;
}

int anycast_shutdown(struct anycast_policy *p)
{
	int was = anycast_announced(p);

	p->shut_down = 1;
	anycast_force(p, ANYCAST_WITHDRAWN, "shutting down");
	return was != anycast_announced(p);
}

int anycast_announced(const struct anycast_policy *p)
{
	return p->state == ANYCAST_ANNOUNCED;
}

void anycast_save(const struct anycast_policy *p, uint64_t now_ms, struct anycast_saved *out)
{
	memset(out, 0, sizeof(*out));
	out->state = p->state;
	out->override = p->override;
	out->applied = p->applied;
	out->healthy = p->healthy;
	out->withdrew = p->withdrew;
	out->healthy_for_ms = anycast_elapsed(now_ms, p->healthy_since_ms);
	out->stable_for_ms = anycast_elapsed(now_ms, p->stable_since_ms);
	out->withdrew_ago_ms = p->withdrew ? anycast_elapsed(now_ms, p->last_withdraw_ms) : 0;
	out->delay_ms = p->delay_ms;
	out->flaps = p->flaps;
	snprintf(out->reason, sizeof(out->reason), "%s", p->reason);
}

static enum anycast_override anycast_override_ok(enum anycast_override o)
{
	return o == ANYCAST_OVERRIDE_WITHDRAW || o == ANYCAST_OVERRIDE_ANNOUNCE
		       ? o
		       : ANYCAST_OVERRIDE_NONE;
}

/* now - age, never below 0 (a clock younger than the age: the stretch began at 0). */
static uint64_t anycast_since(uint64_t now_ms, uint64_t age_ms)
{
	return age_ms < now_ms ? now_ms - age_ms : 0;
}

void anycast_adopt(struct anycast_policy *p, const struct anycast_saved *s, uint64_t now_ms)
{
	enum anycast_state st = s->state;

	if (st != ANYCAST_PENDING && st != ANYCAST_ANNOUNCED)
		st = ANYCAST_WITHDRAWN;
	p->override = anycast_override_ok(s->override);
	p->applied = anycast_override_ok(s->applied);
	p->shut_down = 0;
	p->healthy = s->healthy != 0;
	p->withdrew = s->withdrew != 0;
	p->healthy_since_ms = anycast_since(now_ms, s->healthy_for_ms);
	p->stable_since_ms = anycast_since(now_ms, s->stable_for_ms);
	p->last_withdraw_ms = p->withdrew ? anycast_since(now_ms, s->withdrew_ago_ms) : 0;
	p->flaps = s->flaps;
	p->delay_ms = s->delay_ms;
	if (p->delay_ms < p->conf.announce_delay_ms)
		p->delay_ms = p->conf.announce_delay_ms;
	if (p->delay_ms > p->conf.max_announce_delay_ms)
		p->delay_ms = p->conf.max_announce_delay_ms;
	anycast_set_state(p, st, s->reason[0] != '\0' ? s->reason : "taken over");
}
