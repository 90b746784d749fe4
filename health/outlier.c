/*
 * DOC: passive outlier ejection, the detector
 *
 * One small state machine per backend, after Envoy's outlier detection with HAProxy-like
 * one-trial recovery:
 *
 *              consecutive_failures in a row,            ejection time over
 *              within max_ejection_percent               (outlier_tick)
 *        OK ------------------------------> EJECTED -----------------------> TRIAL
 *        ^ ^                                  |  ^                             |
 *        | |        active check passed       |  |   trial failed:             |
 *        | +----------------------------------+  +--- ejections + 1 -----------+
 *        |                                                                     |
 *        +------------- trial succeeded, or active check passed ---------------+
 *
 * An ejection lasts min(base_ejection x ejections, max_ejection), where `ejections` counts the
 * ejections since the backend was last restored: 1x, 2x, 3x the base, then the cap.
 *
 * The budget: at most max(1, floor(n x max_ejection_percent / 100)) backends are EJECTED or
 * TRIAL at once; a percent of 0 means never eject (like consecutive_failures 0), because "no
 * backend may be ejected" is what an operator who writes 0% asks for. A TRIAL backend keeps its
 * place in the budget: it is still out until its trial succeeds. An ejection the budget refuses
 * leaves the backend OK with its failures still counted, so the next failure asks again and
 * gets in as soon as another backend is restored.
 *
 * Reports that arrive while EJECTED come from sessions placed before the ejection and say
 * nothing new: they are ignored, successes included (only a trial or an active check brings a
 * backend back). In TRIAL only the taken trial's verdict counts.
 *
 * outlier_set_state() is the one setter. It does not log: this file knows neither the service
 * nor the backend's address, so it records a reason and returns the edge as an event, and the
 * caller logs and publishes it once.
 */
#include "health/outlier.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct outlier_backend {
	enum outlier_state state;
	unsigned failures;  /* in a row, towards the next ejection; only counted while OK */
	unsigned ejections; /* since the last restore; sets the next ejection's length */
	uint64_t until_ms;  /* end of the current ejection */
	int trial_taken;    /* TRIAL only: the one trial session is out */
	const char *reason; /* of the last transition, static */
};

struct outlier {
	struct outlier_conf conf;
	size_t n;
	size_t out;     /* EJECTED or TRIAL */
	size_t max_out; /* 0 when ejection is off */
	struct outlier_backend be[];
};

static size_t outlier_budget(const struct outlier_conf *conf, size_t n)
{
	unsigned pct = conf->max_ejection_percent > 100 ? 100 : conf->max_ejection_percent;
	size_t allowed;

	if (conf->consecutive_failures == 0 || pct == 0)
		return 0;
	/* floor(n * pct / 100) without overflowing for any n. */
	allowed = n / 100 * pct + n % 100 * pct / 100;
	return allowed < 1 ? 1 : allowed;
}

struct outlier *outlier_new(const struct outlier_conf *conf, size_t n)
{
	struct outlier *o;

	if (conf == NULL || n > (SIZE_MAX - sizeof(*o)) / sizeof(o->be[0]))
		return NULL;
	o = calloc(1, sizeof(*o) + n * sizeof(o->be[0]));
	if (o == NULL)
		return NULL;
	o->conf = *conf;
	o->n = n;
	o->max_out = outlier_budget(conf, n);
	for (size_t i = 0; i < n; i++) {
		o->be[i].state = OUTLIER_OK;
		o->be[i].reason = "";
	}
	return o;
}

struct outlier *outlier_remap(
	const struct outlier *old, const struct outlier_conf *conf, size_t n, const size_t *from)
{
	struct outlier *o = outlier_new(conf, n);

	if (o == NULL || old == NULL)
		return o;
	for (size_t j = 0; j < n; j++) {
		if (from[j] >= old->n)
			continue;
		o->be[j] = old->be[from[j]];
		if (o->be[j].state != OUTLIER_OK)
			o->out++;
	}
	return o;
}

void outlier_free(struct outlier *o)
{
	free(o);
}

/*
 * The one setter. Keeps the budget count, records the reason and returns the edge. Entering OK
 * forgets the ejection history, entering any state withdraws a trial on offer.
 */
static enum outlier_event outlier_set_state(
	struct outlier *o, size_t i, enum outlier_state to, const char *reason)
{
	struct outlier_backend *be = &o->be[i];
	enum outlier_state from = be->state;

	be->state = to;
	be->reason = reason;
	be->trial_taken = 0;
	switch (to) {
	case OUTLIER_OK:
		be->failures = 0;
		be->ejections = 0;
		if (from == OUTLIER_OK)
			return OUTLIER_EV_NONE;
		o->out--;
		return OUTLIER_EV_RESTORED;
	case OUTLIER_EJECTED:
		be->failures = 0;
		if (from == OUTLIER_OK)
			o->out++;
		return OUTLIER_EV_EJECTED;
	case OUTLIER_TRIAL:
		return OUTLIER_EV_TRIAL;
	}
	abort(); /* a value outside the enum: a broken invariant */
}

static uint64_t outlier_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* min(base x k, max), without overflow. */
static uint64_t outlier_ejection_ms(const struct outlier_conf *conf, unsigned k)
{
	uint64_t base = conf->base_ejection_ms, max = conf->max_ejection_ms;

	if (base != 0 && k > max / base)
		return max;
	return base * k < max ? base * k : max;
}

/* Named transitions around the setter, one per edge of the diagram. */
static enum outlier_event outlier_eject(
	struct outlier *o, size_t i, uint64_t now_ms, const char *reason)
{
	struct outlier_backend *be = &o->be[i];

	if (be->ejections < UINT_MAX)
		be->ejections++;
	be->until_ms = outlier_sat_add(now_ms, outlier_ejection_ms(&o->conf, be->ejections));
	return outlier_set_state(o, i, OUTLIER_EJECTED, reason);
}

static enum outlier_event outlier_restore(struct outlier *o, size_t i, const char *reason)
{
	return outlier_set_state(o, i, OUTLIER_OK, reason);
}

static enum outlier_event outlier_start_trial(struct outlier *o, size_t i)
{
	return outlier_set_state(o, i, OUTLIER_TRIAL, "ejection time over");
}

enum outlier_state outlier_state(const struct outlier *o, size_t i)
{
	return i < o->n ? o->be[i].state : OUTLIER_OK;
}

unsigned outlier_ejections(const struct outlier *o, size_t i)
{
	return i < o->n ? o->be[i].ejections : 0;
}

uint64_t outlier_ejected_until(const struct outlier *o, size_t i)
{
	return i < o->n ? o->be[i].until_ms : 0;
}

unsigned outlier_failures(const struct outlier *o, size_t i)
{
	return i < o->n ? o->be[i].failures : 0;
}

size_t outlier_ejected_count(const struct outlier *o)
{
	return o->out;
}

size_t outlier_max_ejected(const struct outlier *o)
{
	return o->max_out;
}

const char *outlier_reason(const struct outlier *o, size_t i)
{
	return i < o->n ? o->be[i].reason : "";
}

/* An index out of range is the caller's bug; it is ignored rather than let corrupt memory. */
enum outlier_event outlier_report(struct outlier *o, size_t i, int ok, uint64_t now_ms)
{
	struct outlier_backend *be;

	if (i >= o->n)
		return OUTLIER_EV_NONE;
	be = &o->be[i];
	switch (be->state) {
	case OUTLIER_OK:
		if (ok) {
			be->failures = 0;
			return OUTLIER_EV_NONE;
		}
		if (be->failures < UINT_MAX)
			be->failures++;
		if (o->max_out == 0 || be->failures < o->conf.consecutive_failures ||
			o->out >= o->max_out)
			return OUTLIER_EV_NONE;
		return outlier_eject(o, i, now_ms, "consecutive failures");
	case OUTLIER_EJECTED:
		return OUTLIER_EV_NONE;
	case OUTLIER_TRIAL:
		if (!be->trial_taken)
			return OUTLIER_EV_NONE;
		/* Already in the budget: a failed trial needs no room to be ejected again. */
		if (!ok)
			return outlier_eject(o, i, now_ms, "trial failed");
		return outlier_restore(o, i, "trial succeeded");
	}
	return OUTLIER_EV_NONE;
}

uint64_t outlier_tick(struct outlier *o, uint64_t now_ms,
	void (*on_event)(void *arg, size_t i, enum outlier_event ev), void *arg)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < o->n; i++) {
		struct outlier_backend *be = &o->be[i];

		if (be->state != OUTLIER_EJECTED)
			continue;
		if (be->until_ms > now_ms) {
			if (be->until_ms < next)
				next = be->until_ms;
			continue;
		}
		if (outlier_start_trial(o, i) == OUTLIER_EV_TRIAL && on_event != NULL)
			on_event(arg, i, OUTLIER_EV_TRIAL);
	}
	return next;
}

int outlier_take_trial(struct outlier *o, size_t i)
{
	if (i >= o->n || o->be[i].state != OUTLIER_TRIAL || o->be[i].trial_taken)
		return 0;
	o->be[i].trial_taken = 1;
	return 1;
}

int outlier_trial_offered(const struct outlier *o, size_t i)
{
	return i < o->n && o->be[i].state == OUTLIER_TRIAL && !o->be[i].trial_taken;
}

void outlier_trial_abandoned(struct outlier *o, size_t i)
{
	if (i < o->n && o->be[i].state == OUTLIER_TRIAL)
		o->be[i].trial_taken = 0;
}

enum outlier_event outlier_check_passed(struct outlier *o, size_t i, uint64_t now_ms)
{
	(void)now_ms; /* in the API for symmetry with report; restoring needs no clock */
	if (i >= o->n)
		return OUTLIER_EV_NONE;
	switch (o->be[i].state) {
	case OUTLIER_OK:
		/* A check says the backend answers, not that real sessions do: keep the count. */
		return OUTLIER_EV_NONE;
	case OUTLIER_EJECTED:
	case OUTLIER_TRIAL:
		return outlier_restore(o, i, "active check passed");
	}
	return OUTLIER_EV_NONE;
}

void outlier_save(const struct outlier *o, size_t i, uint64_t now_ms, struct outlier_saved *out)
{
	memset(out, 0, sizeof(*out));
	if (i >= o->n)
		return;
	const struct outlier_backend *be = &o->be[i];
	out->state = be->state;
	out->failures = be->failures;
	out->ejections = be->ejections;
	if (be->state == OUTLIER_EJECTED)
		out->left_ms = be->until_ms > now_ms ? be->until_ms - now_ms : 0;
}

enum outlier_event outlier_take_over(
	struct outlier *o, size_t i, const struct outlier_saved *s, uint64_t now_ms)
{
	if (i >= o->n || o->be[i].state != OUTLIER_OK)
		return OUTLIER_EV_NONE;
	struct outlier_backend *be = &o->be[i];
	if (s->state == OUTLIER_OK || (s->state != OUTLIER_EJECTED && s->state != OUTLIER_TRIAL) ||
		o->out >= o->max_out) {
		be->failures = o->max_out > 0 && s->state == OUTLIER_OK ? s->failures : 0;
		be->ejections = o->max_out > 0 && s->state == OUTLIER_OK ? s->ejections : 0;
		return OUTLIER_EV_NONE;
	}
	be->ejections = s->ejections > 0 ? s->ejections : 1;
	be->until_ms = outlier_sat_add(now_ms, s->state == OUTLIER_EJECTED ? s->left_ms : 0);
	outlier_set_state(o, i, OUTLIER_EJECTED, "taken over");
	if (s->state == OUTLIER_TRIAL)
		outlier_set_state(o, i, OUTLIER_TRIAL, "taken over");
	return OUTLIER_EV_EJECTED;
}
