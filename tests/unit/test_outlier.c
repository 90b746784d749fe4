/*
 * DOC: outlier detector tests
 *
 * Time is a plain number passed in: no clock, no sleep. Covered: ejection after
 * consecutive_failures in a row, the ejection time growing base x k up to the cap, the trial
 * (one session, success restores and resets, failure ejects for longer), the
 * max_ejection_percent budget with its at-least-one rule and a 0% that turns ejection off,
 * reports ignored while ejected, tick's deadline and events, and restore by an active check.
 */
#include "health/outlier.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

static const struct outlier_conf default_conf = {
	.consecutive_failures = 3,
	.base_ejection_ms = 1000,
	.max_ejection_ms = 10000,
	.max_ejection_percent = 50,
};

static struct outlier *make(const struct outlier_conf *c, size_t n)
{
	struct outlier *o = outlier_new(c != NULL ? c : &default_conf, n);

	cr_assert_not_null(o);
	return o;
}

/* Reports n failures; returns the last event. */
static enum outlier_event fail_n(struct outlier *o, size_t i, unsigned n, uint64_t now)
{
	enum outlier_event ev = OUTLIER_EV_NONE;

	for (unsigned k = 0; k < n; k++)
		ev = outlier_report(o, i, 0, now);
	return ev;
}

struct events {
	size_t n;
	size_t who[16];
	enum outlier_event ev[16];
};

static void record(void *arg, size_t i, enum outlier_event ev)
{
	struct events *e = arg;

	cr_assert_lt(e->n, 16);
	e->who[e->n] = i;
	e->ev[e->n] = ev;
	e->n++;
}

/* Ejects backend i at now with the configured number of failures. */
static void eject(struct outlier *o, size_t i, unsigned failures, uint64_t now)
{
	cr_assert_eq(fail_n(o, i, failures, now), OUTLIER_EV_EJECTED, "backend %zu", i);
	cr_assert_eq(outlier_state(o, i), OUTLIER_EJECTED);
}

/* Brings an ejected backend i to TRIAL at its deadline and takes the trial. */
static uint64_t to_trial(struct outlier *o, size_t i)
{
	uint64_t t = outlier_ejected_until(o, i);

	outlier_tick(o, t, NULL, NULL);
	cr_assert_eq(outlier_state(o, i), OUTLIER_TRIAL);
	cr_assert_eq(outlier_take_trial(o, i), 1);
	return t;
}

Test(outlier, new_and_initial_state)
{
	struct outlier *o;

	o = outlier_new(&default_conf, 0); /* a service without backends for now */
	cr_assert_not_null(o);
	outlier_free(o);
	cr_assert_null(outlier_new(NULL, 3));
	o = make(NULL, 4);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(outlier_state(o, i), OUTLIER_OK);
		cr_assert_eq(outlier_ejections(o, i), 0);
		cr_assert_eq(outlier_failures(o, i), 0);
		cr_assert_str_eq(outlier_reason(o, i), "");
	}
	cr_assert_eq(outlier_ejected_count(o), 0);
	cr_assert_eq(outlier_max_ejected(o), 2);
	cr_assert_eq(outlier_tick(o, 0, NULL, NULL), UINT64_MAX);
	outlier_free(o);
	outlier_free(NULL);
}

Test(outlier, ejects_after_consecutive_failures)
{
	struct outlier *o = make(NULL, 4);

	cr_assert_eq(outlier_report(o, 1, 0, 100), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_report(o, 1, 0, 200), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 1), 2);
	cr_assert_eq(outlier_state(o, 1), OUTLIER_OK);
	cr_assert_eq(outlier_report(o, 1, 0, 300), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_state(o, 1), OUTLIER_EJECTED);
	cr_assert_eq(outlier_ejections(o, 1), 1);
	cr_assert_eq(outlier_ejected_until(o, 1), 1300);
	cr_assert_eq(outlier_failures(o, 1), 0);
	cr_assert_eq(outlier_ejected_count(o), 1);
	cr_assert_str_eq(outlier_reason(o, 1), "consecutive failures");
	for (size_t i = 0; i < 4; i++) {
		if (i != 1)
			cr_assert_eq(outlier_state(o, i), OUTLIER_OK);
	}
	outlier_free(o);
}

Test(outlier, success_breaks_the_run)
{
	struct outlier *o = make(NULL, 2);

	fail_n(o, 0, 2, 0);
	cr_assert_eq(outlier_report(o, 0, 1, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 0), 0);
	cr_assert_eq(fail_n(o, 0, 2, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	cr_assert_eq(outlier_report(o, 0, 0, 0), OUTLIER_EV_EJECTED);
	outlier_free(o);
}

Test(outlier, one_failure_is_enough_when_configured)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.consecutive_failures = 1;
	o = make(&c, 2);
	cr_assert_eq(outlier_report(o, 0, 0, 5), OUTLIER_EV_EJECTED);
	outlier_free(o);
}

/* base x 1, x 2, x 3 ... then the cap: each failed trial ejects for longer. */
Test(outlier, backoff_multiplies_then_caps)
{
	struct outlier *o = make(NULL, 2);
	uint64_t now = 50;

	eject(o, 0, 3, now);
	cr_assert_eq(outlier_ejected_until(o, 0), now + 1000);
	for (unsigned k = 2; k <= 14; k++) {
		uint64_t want = 1000ull * k < 10000 ? 1000ull * k : 10000;

		now = to_trial(o, 0);
		cr_assert_eq(outlier_report(o, 0, 0, now), OUTLIER_EV_EJECTED, "k %u", k);
		cr_assert_str_eq(outlier_reason(o, 0), "trial failed");
		cr_assert_eq(outlier_ejections(o, 0), k);
		cr_assert_eq(outlier_ejected_until(o, 0) - now, want, "ejection %u", k);
	}
	outlier_free(o);
}

/* A cap that is not a multiple of the base still caps: 3, 6, 9, 10, 10 s. */
Test(outlier, cap_not_a_multiple)
{
	struct outlier_conf c = default_conf;
	static const uint64_t want[] = {3000, 6000, 9000, 10000, 10000};
	struct outlier *o;
	uint64_t now = 0;

	c.base_ejection_ms = 3000;
	o = make(&c, 1);
	eject(o, 0, 3, now);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		cr_assert_eq(outlier_ejected_until(o, 0) - now, want[k], "ejection %zu", k + 1);
		now = to_trial(o, 0);
		outlier_report(o, 0, 0, now);
	}
	outlier_free(o);
}

/* The base equal to the cap: every ejection lasts the same. */
Test(outlier, base_equals_max)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;
	uint64_t now = 0;

	c.max_ejection_ms = c.base_ejection_ms;
	o = make(&c, 1);
	eject(o, 0, 3, now);
	for (int k = 0; k < 5; k++) {
		cr_assert_eq(outlier_ejected_until(o, 0) - now, 1000);
		now = to_trial(o, 0);
		outlier_report(o, 0, 0, now);
	}
	outlier_free(o);
}

Test(outlier, trial_success_restores_and_resets)
{
	struct outlier *o = make(NULL, 2);
	uint64_t now;

	eject(o, 0, 3, 0);
	now = to_trial(o, 0);
	outlier_report(o, 0, 0, now); /* second ejection, 2 s */
	now = to_trial(o, 0);
	cr_assert_eq(outlier_ejections(o, 0), 2);
	cr_assert_eq(outlier_report(o, 0, 1, now), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	cr_assert_eq(outlier_ejections(o, 0), 0);
	cr_assert_eq(outlier_ejected_count(o), 0);
	cr_assert_str_eq(outlier_reason(o, 0), "trial succeeded");

	/* The next ejection starts from the base again, and needs the full run of failures. */
	cr_assert_eq(fail_n(o, 0, 2, now), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_report(o, 0, 0, now + 10), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 0), now + 10 + 1000);
	cr_assert_eq(outlier_ejections(o, 0), 1);
	outlier_free(o);
}

/* One trial at a time; none outside TRIAL; an abandoned trial is offered again. */
Test(outlier, take_trial_once)
{
	struct outlier *o = make(NULL, 2);

	cr_assert_eq(outlier_take_trial(o, 0), 0, "OK has no trial");
	eject(o, 0, 3, 0);
	cr_assert_eq(outlier_take_trial(o, 0), 0, "EJECTED has no trial");
	outlier_tick(o, 999, NULL, NULL);
	cr_assert_eq(outlier_take_trial(o, 0), 0, "not yet");
	outlier_tick(o, 1000, NULL, NULL);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_TRIAL);
	cr_assert_eq(outlier_take_trial(o, 0), 1);
	cr_assert_eq(outlier_take_trial(o, 0), 0, "only one trial at a time");
	cr_assert_eq(outlier_take_trial(o, 0), 0);
	outlier_trial_abandoned(o, 0);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_TRIAL);
	cr_assert_eq(outlier_take_trial(o, 0), 1, "abandoned: on offer again");
	cr_assert_eq(outlier_take_trial(o, 0), 0);
	cr_assert_eq(outlier_report(o, 0, 1, 1500), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_take_trial(o, 0), 0, "restored: no trial");
	outlier_trial_abandoned(o, 0); /* harmless outside TRIAL */
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	outlier_free(o);
}

/* Sessions placed before the ejection still report; none of it counts. */
Test(outlier, reports_ignored_while_ejected)
{
	struct outlier *o = make(NULL, 2);

	eject(o, 0, 3, 100);
	for (int k = 0; k < 20; k++) {
		cr_assert_eq(outlier_report(o, 0, k % 3 == 0, 100 + (uint64_t)k), OUTLIER_EV_NONE);
		cr_assert_eq(outlier_state(o, 0), OUTLIER_EJECTED);
	}
	cr_assert_eq(outlier_ejected_until(o, 0), 1100);
	cr_assert_eq(outlier_ejections(o, 0), 1);
	cr_assert_eq(outlier_failures(o, 0), 0);
	cr_assert_eq(outlier_ejected_count(o), 1);
	outlier_free(o);
}

/* In TRIAL, reports before the trial is taken are stale too; after, they are its verdict. */
Test(outlier, trial_reports_need_the_trial)
{
	struct outlier *o = make(NULL, 2);

	eject(o, 0, 3, 0);
	outlier_tick(o, 1000, NULL, NULL);
	cr_assert_eq(outlier_report(o, 0, 0, 1001), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_report(o, 0, 1, 1002), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_TRIAL);
	cr_assert_eq(outlier_take_trial(o, 0), 1);
	cr_assert_eq(outlier_report(o, 0, 0, 1003), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 0), 1003 + 2000);
	outlier_free(o);
}

Test(outlier, tick_moves_to_trial_and_returns_deadline)
{
	struct outlier *o = make(NULL, 6);
	struct events e = {0};

	cr_assert_eq(outlier_tick(o, 0, record, &e), UINT64_MAX);
	eject(o, 0, 3, 0);   /* until 1000 */
	eject(o, 1, 3, 500); /* until 1500 */
	eject(o, 2, 3, 200); /* until 1200 */
	cr_assert_eq(outlier_tick(o, 600, record, &e), 1000);
	cr_assert_eq(e.n, 0);
	cr_assert_eq(outlier_tick(o, 999, record, &e), 1000);
	cr_assert_eq(e.n, 0);

	cr_assert_eq(outlier_tick(o, 1000, record, &e), 1200);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.who[0], 0);
	cr_assert_eq(e.ev[0], OUTLIER_EV_TRIAL);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_TRIAL);
	cr_assert_str_eq(outlier_reason(o, 0), "ejection time over");

	/* A late tick catches up on everything that is due, once each. */
	cr_assert_eq(outlier_tick(o, 5000, record, &e), UINT64_MAX);
	cr_assert_eq(e.n, 3);
	cr_assert(e.who[1] == 1 && e.who[2] == 2);
	cr_assert(e.ev[1] == OUTLIER_EV_TRIAL && e.ev[2] == OUTLIER_EV_TRIAL);
	cr_assert_eq(outlier_tick(o, 6000, record, &e), UINT64_MAX);
	cr_assert_eq(e.n, 3, "TRIAL is not announced twice");
	cr_assert_eq(outlier_ejected_count(o), 3, "TRIAL still counts as out");

	/* A trial that fails brings back a deadline. */
	cr_assert_eq(outlier_take_trial(o, 2), 1);
	outlier_report(o, 2, 0, 6000);
	cr_assert_eq(outlier_tick(o, 6000, record, &e), 8000);
	outlier_free(o);
}

/* max_ejection_percent: 20% of 10 is 2 at once; a refused ejection keeps counting. */
Test(outlier, percent_limit)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.max_ejection_percent = 20;
	o = make(&c, 10);
	cr_assert_eq(outlier_max_ejected(o), 2);
	eject(o, 0, 3, 0);
	eject(o, 1, 3, 0);
	cr_assert_eq(fail_n(o, 2, 3, 0), OUTLIER_EV_NONE, "budget exhausted");
	cr_assert_eq(outlier_state(o, 2), OUTLIER_OK);
	cr_assert_eq(outlier_failures(o, 2), 3);
	cr_assert_eq(outlier_report(o, 2, 0, 1), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 2), 4, "failures keep counting");
	cr_assert_eq(outlier_ejected_count(o), 2);

	/* Room again: the very next failure ejects, no new run of three needed. */
	cr_assert_eq(outlier_check_passed(o, 0, 2), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_report(o, 2, 0, 3), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 2), 1003);
	cr_assert_eq(outlier_ejected_count(o), 2);

	/* A success in between resets the refused run as it would any other. */
	fail_n(o, 3, 5, 4);
	cr_assert_eq(outlier_report(o, 3, 1, 5), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 3), 0);
	outlier_free(o);
}

/* floor(n x pct / 100) for several pools. */
Test(outlier, percent_budget_values)
{
	static const struct {
		size_t n;
		unsigned pct;
		size_t want;
	} cases[] = {
		{1, 50, 1},
		{2, 50, 1},
		{3, 50, 1},
		{4, 50, 2},
		{10, 10, 1},
		{10, 19, 1},
		{10, 20, 2},
		{3, 1, 1},
		{7, 100, 7},
		{7, 150, 7},
		{199, 50, 99},
		{1000, 33, 330},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct outlier_conf c = default_conf;
		struct outlier *o;

		c.max_ejection_percent = cases[k].pct;
		o = make(&c, cases[k].n);
		cr_assert_eq(outlier_max_ejected(o), cases[k].want, "n %zu pct %u", cases[k].n,
			cases[k].pct);
		outlier_free(o);
	}
}

/* At least one backend is always ejectable, even when the percent rounds down to none. */
Test(outlier, at_least_one)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.max_ejection_percent = 10;
	o = make(&c, 3); /* floor(0.3) = 0, but one may go */
	eject(o, 2, 3, 0);
	cr_assert_eq(fail_n(o, 0, 10, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	outlier_free(o);

	/* A pool of one: its only backend may be ejected (the service then has none). */
	c.max_ejection_percent = 50;
	o = make(&c, 1);
	eject(o, 0, 3, 0);
	outlier_free(o);
}

/* 100%: every backend may go. */
Test(outlier, percent_hundred)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.max_ejection_percent = 100;
	o = make(&c, 4);
	for (size_t i = 0; i < 4; i++)
		eject(o, i, 3, 0);
	cr_assert_eq(outlier_ejected_count(o), 4);
	outlier_free(o);
}

/* 0% and 0 failures both mean: never eject. */
Test(outlier, off_switches)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.max_ejection_percent = 0;
	o = make(&c, 4);
	cr_assert_eq(outlier_max_ejected(o), 0);
	cr_assert_eq(fail_n(o, 0, 100, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	outlier_free(o);

	c = default_conf;
	c.consecutive_failures = 0;
	o = make(&c, 4);
	cr_assert_eq(fail_n(o, 0, 1000, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	cr_assert_eq(outlier_tick(o, 0, NULL, NULL), UINT64_MAX);
	outlier_free(o);
}

/* A TRIAL backend holds its place in the budget, and a failed trial needs no new room. */
Test(outlier, trial_holds_budget)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;
	uint64_t now;

	c.max_ejection_percent = 25;
	o = make(&c, 4);
	eject(o, 0, 3, 0);
	now = to_trial(o, 0);
	cr_assert_eq(fail_n(o, 1, 3, now), OUTLIER_EV_NONE, "0 in TRIAL still uses the budget");
	cr_assert_eq(outlier_report(o, 0, 0, now), OUTLIER_EV_EJECTED, "re-ejection always fits");
	cr_assert_eq(outlier_ejected_count(o), 1);
	now = to_trial(o, 0);
	cr_assert_eq(outlier_report(o, 0, 1, now), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_report(o, 1, 0, now), OUTLIER_EV_EJECTED, "room again");
	outlier_free(o);
}

Test(outlier, check_passed_restores)
{
	struct outlier *o = make(NULL, 4);
	struct events e = {0};

	/* EJECTED -> OK */
	eject(o, 0, 3, 0);
	outlier_report(o, 0, 1, 0); /* ignored */
	cr_assert_eq(outlier_check_passed(o, 0, 10), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	cr_assert_eq(outlier_ejections(o, 0), 0);
	cr_assert_eq(outlier_ejected_count(o), 0);
	cr_assert_str_eq(outlier_reason(o, 0), "active check passed");
	cr_assert_eq(outlier_tick(o, 5000, record, &e), UINT64_MAX);
	cr_assert_eq(e.n, 0, "a restored backend gets no trial");

	/* TRIAL (taken) -> OK; the trial's late verdict then counts as an ordinary report. */
	eject(o, 1, 3, 0);
	to_trial(o, 1);
	cr_assert_eq(outlier_check_passed(o, 1, 1001), OUTLIER_EV_RESTORED);
	cr_assert_eq(outlier_take_trial(o, 1), 0);
	cr_assert_eq(outlier_report(o, 1, 0, 1002), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 1), 1);

	/* OK stays OK and keeps its failure count: a check is not real traffic. */
	fail_n(o, 2, 2, 0);
	cr_assert_eq(outlier_check_passed(o, 2, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_failures(o, 2), 2);
	cr_assert_eq(outlier_report(o, 2, 0, 0), OUTLIER_EV_EJECTED);
	outlier_free(o);
}

/* Huge times and durations saturate instead of wrapping into the past. */
Test(outlier, no_overflow)
{
	struct outlier_conf c = {
		.consecutive_failures = 1,
		.base_ejection_ms = UINT64_MAX / 2,
		.max_ejection_ms = UINT64_MAX,
		.max_ejection_percent = 100,
	};
	struct outlier *o = make(&c, 2);

	cr_assert_eq(outlier_report(o, 0, 0, 10), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 0), 10 + UINT64_MAX / 2);
	cr_assert_eq(outlier_tick(o, 10 + UINT64_MAX / 2, NULL, NULL), UINT64_MAX);
	cr_assert_eq(outlier_take_trial(o, 0), 1);
	/* 2 x base is max: capped, and now + max saturates. */
	cr_assert_eq(outlier_report(o, 0, 0, 20), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 0), UINT64_MAX);
	outlier_free(o);

	c.base_ejection_ms = 1000;
	c.max_ejection_ms = 5000;
	o = make(&c, 1);
	cr_assert_eq(outlier_report(o, 0, 0, UINT64_MAX - 10), OUTLIER_EV_EJECTED);
	cr_assert_eq(outlier_ejected_until(o, 0), UINT64_MAX);
	outlier_free(o);
}

/* A zero base is allowed by the type: ejections then end at once and go straight to TRIAL. */
Test(outlier, zero_base)
{
	struct outlier_conf c = default_conf;
	struct outlier *o;

	c.base_ejection_ms = 0;
	c.max_ejection_ms = 0;
	o = make(&c, 2);
	eject(o, 0, 3, 100);
	cr_assert_eq(outlier_ejected_until(o, 0), 100);
	cr_assert_eq(outlier_tick(o, 100, NULL, NULL), UINT64_MAX);
	cr_assert_eq(outlier_state(o, 0), OUTLIER_TRIAL);
	outlier_free(o);
}

Test(outlier, index_out_of_range)
{
	struct outlier *o = make(NULL, 2);

	cr_assert_eq(outlier_report(o, 2, 0, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_check_passed(o, 2, 0), OUTLIER_EV_NONE);
	cr_assert_eq(outlier_take_trial(o, 2), 0);
	outlier_trial_abandoned(o, 2);
	cr_assert_eq(outlier_state(o, 2), OUTLIER_OK);
	cr_assert_eq(outlier_ejections(o, 2), 0);
	cr_assert_eq(outlier_failures(o, 2), 0);
	cr_assert_str_eq(outlier_reason(o, 2), "");
	outlier_free(o);
}

/*
 * A whole life on a simulated clock: a backend fails, is ejected, fails its trial twice, then
 * recovers; meanwhile the others keep their place.
 */
Test(outlier, lifecycle)
{
	struct outlier *o = make(NULL, 3);
	struct events e = {0};
	uint64_t now = 0, next;
	int trials = 0;

	for (; now < 100; now += 10)
		outlier_report(o, 0, 1, now);
	eject(o, 0, 3, now);
	for (; trials < 3; now += 100) {
		next = outlier_tick(o, now, record, &e);
		for (size_t i = 1; i < 3; i++)
			outlier_report(o, i, 1, now);
		if (outlier_state(o, 0) != OUTLIER_TRIAL) {
			cr_assert_gt(next, now);
			continue;
		}
		cr_assert_eq(next, UINT64_MAX);
		cr_assert_eq(outlier_take_trial(o, 0), 1);
		trials++;
		outlier_report(o, 0, trials == 3, now);
	}
	cr_assert_eq(outlier_state(o, 0), OUTLIER_OK);
	cr_assert_eq(e.n, 3);
	/* 1 s + 2 s + 3 s of ejection, checked at 100 ms granularity. */
	cr_assert(now >= 100 + 6000 && now <= 100 + 6000 + 400, "now %lu", (unsigned long)now);
	cr_assert_eq(outlier_state(o, 1), OUTLIER_OK);
	cr_assert_eq(outlier_state(o, 2), OUTLIER_OK);
	outlier_free(o);
}

/* ---- the binary upgrade: an entry saved by one process, taken over by its successor ---- */

#define SHIFT 500000 /* the successor's clock */

Test(outlier, an_ejection_goes_on_in_the_successor_for_what_was_left)
{
	struct outlier *o = make(NULL, 4), *n = make(NULL, 4);
	struct outlier_saved s;

	fail_n(o, 1, 3, 0);
	outlier_tick(o, 1000, NULL, NULL); /* trial */
	cr_assert_eq(outlier_report(o, 1, 0, 1000), OUTLIER_EV_NONE, "no trial taken yet");
	cr_assert_eq(outlier_take_trial(o, 1), 1);
	cr_assert_eq(outlier_report(o, 1, 0, 1100), OUTLIER_EV_EJECTED); /* second: 2 s */
	outlier_save(o, 1, 1600, &s);
	cr_expect_eq(s.state, OUTLIER_EJECTED);
	cr_expect_eq(s.ejections, 2u);
	cr_expect_eq(s.left_ms, 1500);

	cr_assert_eq(outlier_take_over(n, 1, &s, SHIFT), OUTLIER_EV_EJECTED);
	cr_expect_eq(outlier_state(n, 1), OUTLIER_EJECTED);
	cr_expect_eq(outlier_ejected_until(n, 1), SHIFT + 1500);
	cr_expect_eq(outlier_ejected_count(n), 1u);
	cr_expect_str_eq(outlier_reason(n, 1), "taken over");
	/* Over at the same moment; the next ejection is the third (3 s), as it would have been. */
	cr_expect_eq(outlier_tick(n, SHIFT + 1499, NULL, NULL), SHIFT + 1500);
	outlier_tick(n, SHIFT + 1500, NULL, NULL);
	cr_expect_eq(outlier_state(n, 1), OUTLIER_TRIAL);
	cr_assert_eq(outlier_take_trial(n, 1), 1);
	cr_assert_eq(outlier_report(n, 1, 0, SHIFT + 1600), OUTLIER_EV_EJECTED);
	cr_expect_eq(outlier_ejected_until(n, 1), SHIFT + 1600 + 3000);
	outlier_free(o);
	outlier_free(n);
}

Test(outlier, a_trial_and_a_failure_count_carry_over)
{
	struct outlier *o = make(NULL, 4), *n = make(NULL, 4);
	struct outlier_saved s;

	fail_n(o, 0, 3, 0);
	outlier_tick(o, 1000, NULL, NULL);
	cr_assert_eq(outlier_take_trial(o, 0), 1); /* out when the old process goes */
	outlier_save(o, 0, 1200, &s);
	cr_assert_eq(outlier_take_over(n, 0, &s, SHIFT), OUTLIER_EV_EJECTED);
	cr_expect_eq(outlier_state(n, 0), OUTLIER_TRIAL);
	cr_expect(outlier_trial_offered(n, 0), "the lost trial is on offer again");

	fail_n(o, 2, 2, 0);
	outlier_save(o, 2, 10, &s);
	cr_expect_eq(s.state, OUTLIER_OK);
	cr_assert_eq(outlier_take_over(n, 2, &s, SHIFT), OUTLIER_EV_NONE);
	cr_expect_eq(outlier_failures(n, 2), 2u);
	cr_expect_eq(fail_n(n, 2, 1, SHIFT), OUTLIER_EV_EJECTED, "the third failure in a row");
	outlier_free(o);
	outlier_free(n);
}

Test(outlier, a_take_over_keeps_to_the_budget_and_the_range)
{
	struct outlier_conf off = default_conf;
	struct outlier *n = make(NULL, 2), *none = NULL;
	struct outlier_saved ej = {.state = OUTLIER_EJECTED, .ejections = 1, .left_ms = 100};
	struct outlier_saved s;

	/* 50% of 2: one at a time. */
	cr_expect_eq(outlier_take_over(n, 0, &ej, 0), OUTLIER_EV_EJECTED);
	cr_expect_eq(outlier_take_over(n, 1, &ej, 0), OUTLIER_EV_NONE, "over the budget");
	cr_expect_eq(outlier_state(n, 1), OUTLIER_OK);
	cr_expect_eq(outlier_take_over(n, 7, &ej, 0), OUTLIER_EV_NONE);
	cr_expect_eq(outlier_take_over(n, 0, &ej, 0), OUTLIER_EV_NONE, "only onto an OK entry");
	outlier_save(n, 9, 0, &s);
	cr_expect_eq(s.state, OUTLIER_OK);
	off.consecutive_failures = 0; /* ejection off now */
	none = make(&off, 2);
	cr_expect_eq(outlier_take_over(none, 0, &ej, 0), OUTLIER_EV_NONE);
	struct outlier_saved bad = {.state = (enum outlier_state)9};
	cr_expect_eq(outlier_take_over(n, 1, &bad, 0), OUTLIER_EV_NONE);
	outlier_free(n);
	outlier_free(none);
}
