/*
 * DOC: the backend state machine, implemented
 *
 * Every event updates the inputs it owns and calls bh_derive(), which recomputes the state with
 * health/state.c and, when it moved, records the transition with its reason: the one setter.
 * The reason that stays with the state (for status) is rewritten by explain() when a check
 * result changed nothing, so that it always says why the backend is where it is.
 */
#include "health/backend_health.h"

#include "health/slowstart.h"
#include "lib/duration.h"
#include "lib/strbuf.h"

#include <stdio.h>
#include <string.h>

/* Slow start moves weights in this many steps: maglev rebuilds a table per step. */
#define SLOWSTART_STEPS 20

/* The check that vouches for a backend's readiness: readiness if there is one, else liveness. */
static const char *vouching_name(const struct conf_health *h)
{
	return h->readiness.enabled ? "readiness" : "liveness";
}

static const char *check_name(enum backend_check which)
{
	return which == BACKEND_CHECK_LIVENESS ? "liveness" : "readiness";
}

static struct bh_note *note(struct bh_out *out, enum bh_note_kind kind, enum backend_state old,
	enum backend_state st, const char *reason)
{
	struct bh_note *n;

	if (out->n >= BH_MAX_NOTES)
		return NULL; /* cannot happen: no event makes more than three */
	n = &out->note[out->n++];
	n->kind = kind;
	n->old = old;
	n->new = st;
	snprintf(n->reason, sizeof(n->reason), "%s", reason);
	return n;
}

void bh_init(struct backend_health *h, const struct conf_service *sc, unsigned weight, size_t oidx)
{
	const struct conf_health *hc = &sc->health;
	int checked = hc->liveness.enabled || hc->readiness.enabled;

	memset(h, 0, sizeof(*h));
	h->oidx = oidx;
	/*
	 * Both counters start up at the bottom of the up range (HAProxy's fresh server): the
	 * first verdict decides, one pass keeps it up and one failure takes it down. With
	 * initial_state not_ready the backend is held out of balancing until that verdict.
	 */
	risefall_init(&h->live, hc->liveness.rise ? hc->liveness.rise : 1,
		hc->liveness.fall ? hc->liveness.fall : 1, 1);
	risefall_init(&h->ready, hc->readiness.rise ? hc->readiness.rise : 1,
		hc->readiness.fall ? hc->readiness.fall : 1, 1);
	h->first_pending = checked && sc->initial_state == CONF_INITIAL_NOT_READY;
	h->state = h->first_pending ? BACKEND_NOT_READY : BACKEND_READY;
	h->eff_weight = weight;
	h->reason_by = -1;
	if (!checked)
		snprintf(h->reason, sizeof(h->reason), "no health checks");
	else if (h->first_pending)
		snprintf(h->reason, sizeof(h->reason),
			"waiting for the first %s check (initial_state: not_ready)",
			vouching_name(hc));
	else
		snprintf(h->reason, sizeof(h->reason),
			"not checked yet: taken as passing (initial_state: ready)");
}

/* Is h in its service's outlier detector (not a backend a reload removed or just added)? */
static int in_outlier(const struct backend_health *h)
{
	return h->oidx != SIZE_MAX;
}

/* The one setter: derives the state from the inputs and records the transition if it moved. */
static void bh_derive(struct backend_health *h, const struct bh_ctx *c, const char *reason,
	uint64_t now_ms, struct bh_out *out)
{
	const struct conf_health *hc = &c->sc->health;
	struct backend_inputs in = {
		.live_enabled = hc->liveness.enabled,
		.live_up = h->live.up,
		.ready_enabled = hc->readiness.enabled,
		.ready_up = h->ready.up,
		.first_pending = h->first_pending,
		.ejected = in_outlier(h) && outlier_state(c->o, h->oidx) != OUTLIER_OK,
		.draining = h->draining || h->removed,
		.maint = h->maint,
	};
	enum backend_state st = backend_state_eval(&in), old = h->state;

	if (st == old)
		return;
	note(out, BH_TRANSITION, old, st, reason);
	str_copy(h->reason, sizeof(h->reason), reason);
	h->reason_by = -1; /* the caller says when a check result wrote it */
	h->state = st;
	if (st == BACKEND_READY) {
		h->ready_since_ms = now_ms;
		if (c->sc->slow_start_ms > 0) {
			h->eff_weight = slowstart_weight(
				bh_weight(h, c), now_ms, now_ms, c->sc->slow_start_ms);
			out->weight_changed = 1;
		}
	}
}

/* Handles what the outlier detector reports. */
static void outlier_event(struct backend_health *h, const struct bh_ctx *c, enum outlier_event ev,
	const char *why, uint64_t now_ms, struct bh_out *out)
{
	char reason[256], d[32]; /* a note's room: h->reason keeps what fits */

	switch (ev) {
	case OUTLIER_EV_NONE:
		return;
	case OUTLIER_EV_EJECTED:
		out->ejected = 1;
		snprintf(reason, sizeof(reason), "outlier: %s; ejected for %s (ejection %u)", why,
			duration_format(
				outlier_ejected_until(c->o, h->oidx) - now_ms, d, sizeof(d)),
			outlier_ejections(c->o, h->oidx));
		break;
	case OUTLIER_EV_TRIAL:
		/* Still ejected for new sessions, but the next pick may try it once. */
		note(out, BH_TRIAL_OFFER, h->state, h->state, "ejection over");
		return;
	case OUTLIER_EV_RESTORED:
		snprintf(reason, sizeof(reason), "outlier: %s", why);
		break;
	}
	bh_derive(h, c, reason, now_ms, out);
}

/*
 * A check result that changed no state must still leave a reason that explains the state h is
 * in now (issue 11: "not checked yet" after hundreds of passed checks, "connect refused" while
 * it now fails certificate verification). Only the check that decides the current state writes
 * it: liveness for dead, readiness for not_ready, either for ready (a failure on its way to
 * fall, or a pass); the outlier detector and the operator own ejected, draining and maint.
 */
static void explain(struct backend_health *h, const struct conf_health *gen,
	enum backend_check which, int ok, const char *why, int restoring)
{
	const struct risefall *rf = which == BACKEND_CHECK_LIVENESS ? &h->live : &h->ready;
	const char *name = check_name(which);
	char *dst = h->reason;
	size_t cap = sizeof(h->reason);
	unsigned top = (unsigned)rf->rise + rf->fall - 1;

	switch (h->state) {
	case BACKEND_DEAD:
		if (which != BACKEND_CHECK_LIVENESS)
			return;
		break;
	case BACKEND_NOT_READY:
		if (which != BACKEND_CHECK_READINESS || h->first_pending)
			return;
		break;
	case BACKEND_READY:
		break;
	case BACKEND_EJECTED:
	case BACKEND_DRAINING:
	case BACKEND_MAINT:
		return;
	}
	if (h->state == BACKEND_READY && ok) {
		/* A liveness pass does not overwrite what readiness said, unless it was its own. */
		if (!restoring && h->reason_by != (int)which)
			return;
		snprintf(dst, cap, "%s check passed", vouching_name(gen));
	} else if (h->state == BACKEND_READY) {
		snprintf(dst, cap, "%s: %.100s (%u of %u failures before %s)", name, why,
			top - rf->health, (unsigned)rf->fall,
			which == BACKEND_CHECK_LIVENESS ? "dead" : "not_ready");
	} else if (ok) {
		snprintf(dst, cap, "%s passing again (%u of %u passes before %s)", name,
			(unsigned)rf->health, (unsigned)rf->rise,
			which == BACKEND_CHECK_LIVENESS ? "alive" : "ready");
	} else {
		snprintf(dst, cap, "%s: %.140s", name, why);
	}
	h->reason_by = (int)which;
}

int bh_check_result(struct backend_health *h, const struct bh_ctx *c, enum backend_check which,
	int ok, const char *why, uint64_t now_ms, struct bh_out *out)
{
	const struct conf_health *gen = &c->gen->health;
	const struct conf_check *cc =
		which == BACKEND_CHECK_LIVENESS ? &gen->liveness : &gen->readiness;
	const char *name = check_name(which);
	struct risefall *rf = which == BACKEND_CHECK_LIVENESS ? &h->live : &h->ready;
	/* The check that vouches for a backend: readiness if there is one. */
	int restoring = which == BACKEND_CHECK_READINESS || !gen->readiness.enabled;
	enum backend_state before = h->state;
	char reason[200];

	memset(out, 0, sizeof(*out));
	/* The first verdict of the vouching check releases a backend held by initial_state. */
	int first = h->first_pending && restoring;
	h->first_pending &= !first;
	if (risefall_feed(rf, ok) || first) {
		if (ok && first)
			snprintf(reason, sizeof(reason), "first %s check passed", name);
		else if (ok)
			snprintf(reason, sizeof(reason), "%s passed %u times", name, cc->rise);
		else
			snprintf(reason, sizeof(reason), "%s: %s", name, why);
		bh_derive(h, c, reason, now_ms, out);
		if (first && h->state == BACKEND_READY && c->sc->slow_start_ms > 0) {
			/*
			 * A first verdict is not a return from failure: the full weight at once,
			 * as a backend that starts ready has it (HAProxy: no slow start at start).
			 */
			uint64_t win = c->sc->slow_start_ms;
			h->ready_since_ms = now_ms > win ? now_ms - win : 0;
			h->eff_weight = bh_weight(h, c);
			out->weight_changed = 1;
		}
		if (first && before == BACKEND_NOT_READY && h->state == before) {
			/* Held not_ready and still not_ready: no transition, but a verdict. */
			char msg[sizeof(out->note[0].reason)];
			snprintf(msg, sizeof(msg), "first %s check failed: %s: stays %s", name, why,
				backend_state_name(before));
			note(out, BH_FIRST_FAILED, before, before, msg);
			snprintf(h->reason, sizeof(h->reason), "%.*s", (int)sizeof(h->reason) - 1,
				reason);
		}
		if (h->state != before || first)
			h->reason_by = (int)which;
	}
	if (h->state == before && !first)
		explain(h, gen, which, ok, why, restoring);
	if (ok && restoring && in_outlier(h)) {
		enum outlier_event ev = outlier_check_passed(c->o, h->oidx, now_ms);
		snprintf(reason, sizeof(reason), "%s check passed", name);
		outlier_event(h, c, ev, reason, now_ms, out);
	}
	return risefall_changing(rf);
}

void bh_session_outcome(struct backend_health *h, const struct bh_ctx *c, int ok, int was_trial,
	const char *why, uint64_t now_ms, struct bh_out *out)
{
	char reason[160];

	memset(out, 0, sizeof(*out));
	if (!in_outlier(h) || (!was_trial && outlier_state(c->o, h->oidx) == OUTLIER_TRIAL))
		return; /* only the trial session's verdict counts while a trial is on */
	enum outlier_event ev = outlier_report(c->o, h->oidx, ok, now_ms);
	if (ev == OUTLIER_EV_EJECTED && was_trial) {
		snprintf(reason, sizeof(reason), "trial session failed: %s", why);
		outlier_event(h, c, ev, reason, now_ms, out);
	} else if (ev == OUTLIER_EV_EJECTED) {
		snprintf(reason, sizeof(reason), "%u consecutive failures, last: %s",
			c->gen->outlier.consecutive_failures, why);
		outlier_event(h, c, ev, reason, now_ms, out);
	} else {
		outlier_event(h, c, ev, "trial session succeeded", now_ms, out);
	}
}

int bh_trial_offered(const struct backend_health *h, const struct bh_ctx *c)
{
	return in_outlier(h) && outlier_trial_offered(c->o, h->oidx);
}

int bh_take_trial(struct backend_health *h, const struct bh_ctx *c)
{
	return in_outlier(h) && outlier_take_trial(c->o, h->oidx);
}

void bh_trial_abandoned(struct backend_health *h, const struct bh_ctx *c)
{
	if (in_outlier(h))
		outlier_trial_abandoned(c->o, h->oidx);
}

void bh_ejection_over(
	struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	outlier_event(h, c, OUTLIER_EV_TRIAL, "ejection time over", now_ms, out);
}

unsigned bh_weight(const struct backend_health *h, const struct bh_ctx *c)
{
	return h->weight_set ? h->weight : c->weight;
}

/* The effective weight at now_ms: slow start's ramp, in steps, while ready and ramping. */
static unsigned ramp_weight(const struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms)
{
	const struct conf_service *sc = c->sc;
	unsigned w = bh_weight(h, c), eff = w;

	if (sc->slow_start_ms > 0 && h->state == BACKEND_READY) {
		unsigned step = w / SLOWSTART_STEPS ? w / SLOWSTART_STEPS : 1;
		eff = slowstart_weight(w, h->ready_since_ms, now_ms, sc->slow_start_ms);
		if (eff < w) {
			eff = (eff / step) * step;
			if (eff == 0)
				eff = 1;
		}
	}
	return eff;
}

void bh_tick(struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	if (c->sc->slow_start_ms == 0)
		return;
	unsigned eff = ramp_weight(h, c, now_ms);
	if (h->eff_weight != eff) {
		h->eff_weight = eff;
		out->weight_changed = 1;
	}
}

void bh_set_draining(struct backend_health *h, const struct bh_ctx *c, int draining,
	const char *why, uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	h->draining = draining;
	bh_derive(h, c, why, now_ms, out);
}

void bh_set_maint(struct backend_health *h, const struct bh_ctx *c, int maint, const char *why,
	uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	h->maint = maint != 0;
	bh_derive(h, c, why, now_ms, out);
}

void bh_set_weight(struct backend_health *h, const struct bh_ctx *c, unsigned weight,
	uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	h->weight_set = 1;
	h->weight = weight > BH_MAX_WEIGHT ? BH_MAX_WEIGHT : weight;
	h->weight_file = c->weight;
	unsigned eff = ramp_weight(h, c, now_ms);
	if (h->eff_weight != eff) {
		h->eff_weight = eff;
		out->weight_changed = 1;
	}
}

void bh_retire(
	struct backend_health *h, const struct bh_ctx *c, uint64_t now_ms, struct bh_out *out)
{
	memset(out, 0, sizeof(*out));
	if (h->removed)
		return;
	h->removed = 1;
	h->oidx = SIZE_MAX;
	bh_derive(h, c, "removed from the configuration", now_ms, out);
}

/* A check's settings changed: its count restarts from the current verdict. */
static void restart_count(struct risefall *rf, const struct conf_check *cc)
{
	risefall_init(rf, cc->rise ? cc->rise : 1, cc->fall ? cc->fall : 1, rf->up);
}

/* A saved counter, under the check's current settings. */
static void restore_count(
	struct risefall *rf, const struct conf_check *cc, const struct bh_saved_check *s)
{
	int up = s->health >= s->rise && s->rise > 0;

	risefall_init(rf, cc->rise ? cc->rise : 1, cc->fall ? cc->fall : 1, up);
	if (s->rise != rf->rise || s->fall != rf->fall)
		return; /* counted against other settings: only the verdict carries over */
	unsigned top = (unsigned)rf->rise + rf->fall - 1;
	rf->health = (uint16_t)(s->health < top ? s->health : top);
	rf->up = rf->health >= rf->rise;
}

void bh_restore(struct backend_health *h, const struct bh_ctx *c,
	const struct bh_saved_check saved[2], const struct bh_saved_extra *extra, const char *why,
	uint64_t now_ms, struct bh_out *out)
{
	const struct conf_service *sc = c->sc;
	enum backend_state before = h->state;

	memset(out, 0, sizeof(*out));
	if (saved != NULL) {
		restore_count(&h->live, &sc->health.liveness, &saved[BACKEND_CHECK_LIVENESS]);
		restore_count(&h->ready, &sc->health.readiness, &saved[BACKEND_CHECK_READINESS]);
		h->first_pending = 0;
	}
	if (extra != NULL && in_outlier(h))
		outlier_take_over(c->o, h->oidx, &extra->outlier, now_ms);
	bh_derive(h, c, why, now_ms, out);
	/* The operator and the outlier detector own the reasons of draining and ejected. */
	if (h->state == before && before != BACKEND_DRAINING && before != BACKEND_EJECTED &&
		before != BACKEND_MAINT) {
		snprintf(h->reason, sizeof(h->reason), "%s", why);
		h->reason_by = -1;
	}
	if (h->state == BACKEND_READY && sc->slow_start_ms > 0) {
		uint64_t win = sc->slow_start_ms;
		unsigned eff = bh_weight(h, c);
		if (extra != NULL && extra->ready_for_ms < win) {
			/* Mid-ramp in the old process: the ramp goes on from there. */
			h->ready_since_ms =
				now_ms -
				(now_ms < extra->ready_for_ms ? now_ms : extra->ready_for_ms);
			eff = slowstart_weight(bh_weight(h, c), h->ready_since_ms, now_ms, win);
		} else {
			/* Not a return from failure: the weight it had before the restart. */
			h->ready_since_ms = now_ms > win ? now_ms - win : 0;
		}
		if (h->eff_weight != eff) {
			h->eff_weight = eff;
			out->weight_changed = 1;
		}
	}
}

void bh_adopt(struct backend_health *h, const struct bh_ctx *c, size_t oidx,
	const struct conf_health *prev, uint64_t now_ms, struct bh_out *out)
{
	const struct conf_service *sc = c->sc;

	memset(out, 0, sizeof(*out));
	if (oidx != SIZE_MAX)
		h->oidx = oidx;
	if (h->weight_set && h->weight_file != c->weight) {
		/* The file changed the weight the operator had replaced: the file wins. */
		char msg[sizeof(out->note[0].reason)];
		snprintf(msg, sizeof(msg),
			"the file's weight changed %u -> %u: runtime weight %u dropped",
			h->weight_file, c->weight, h->weight);
		note(out, BH_WEIGHT_DROPPED, h->state, h->state, msg);
		h->weight_set = 0;
		if (sc->slow_start_ms > 0 && h->eff_weight != ramp_weight(h, c, now_ms)) {
			h->eff_weight = ramp_weight(h, c, now_ms);
			out->weight_changed = 1;
		}
	}
	/* What balancing uses without slow start: a reloaded weight, not the first one. */
	if (sc->slow_start_ms == 0 && h->eff_weight != bh_weight(h, c)) {
		h->eff_weight = bh_weight(h, c);
		out->weight_changed = 1;
	}
	/* Nothing left that could give the awaited verdict, or no longer asked to wait. */
	if (sc->initial_state == CONF_INITIAL_READY ||
		(!sc->health.liveness.enabled && !sc->health.readiness.enabled))
		h->first_pending = 0;
	if (prev != NULL) {
		if (!conf_check_equal(&prev->liveness, &sc->health.liveness))
			restart_count(&h->live, &sc->health.liveness);
		if (!conf_check_equal(&prev->readiness, &sc->health.readiness))
			restart_count(&h->ready, &sc->health.readiness);
	}
	bh_derive(h, c, "configuration reloaded", now_ms, out);
}
