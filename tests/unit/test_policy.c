/*
 * DOC: anycast policy tests
 *
 * Time is a plain number passed in: no clock, no sleep. Covered: health (listeners, the
 * one-ready-backend floor, min_ready and min_capacity at and around their boundaries, exact
 * fractions, huge weights, operator-facing reasons), every edge of the state machine with
 * edge-only return values, the damping sequence and its cap, the reset after a quiet window and
 * the decay after a stable one, overrides and their precedence, shutdown, deadlines, reload, and
 * a randomized property test against an independent reading of the rules.
 */
#include "bgp/policy.h"

#include "lib/log.h"
#include "tests/unit/policy_fixture.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- health ---- */

Test(policy_health, all_ready_is_healthy)
{
	struct anycast_policy p = make(NULL);
	char why[128];

	cr_assert_eq(healthy(&p, hv(4), why), 1);
	cr_assert_str_eq(why, "healthy");
	cr_assert_eq(anycast_evaluate(&p, up(), NULL, 0), 1);
}

Test(policy_health, listener_not_bound_beats_everything)
{
	struct anycast_policy p = make(NULL);
	struct anycast_health h = hv(4);
	char why[128];

	h.listeners_ok = 0;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "listener not bound");
}

Test(policy_health, min_ready_boundary)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {.total = 10, .total_weight = 10, .listeners_ok = 1};
	char why[128];

	c.min_ready = 3;
	c.min_capacity = 0;
	p = make(&c);
	h.ready = 2;
	h.ready_weight = 2;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "2 ready backends < min_ready 3");
	h.ready = 3;
	h.ready_weight = 3;
	cr_assert_eq(healthy(&p, h, why), 1);
	h.ready = 1;
	h.ready_weight = 1;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "1 ready backend < min_ready 3");
	h.ready = 0;
	h.ready_weight = 0;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "0 ready backends < min_ready 3");
}

Test(policy_health, half_capacity_with_one_of_two_is_healthy)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {
		.ready = 1, .total = 2, .ready_weight = 1, .total_weight = 2, .listeners_ok = 1};

	c.min_ready = 1;
	c.min_capacity = 0.5;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, NULL), 1);
	h.ready_weight = 100;
	h.total_weight = 200;
	cr_assert_eq(healthy(&p, h, NULL), 1);
	h.ready_weight = 99;
	cr_assert_eq(healthy(&p, h, NULL), 0);
}

Test(policy_health, capacity_reason_in_operator_words)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {
		.ready = 2, .total = 5, .ready_weight = 40, .total_weight = 100, .listeners_ok = 1};
	char why[128];

	c.min_ready = 1;
	c.min_capacity = 0.5;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "ready capacity 40% < min_capacity 50%");

	/* Shares are rounded down to a tenth, thresholds printed exactly: never "x% < x%". */
	c.min_capacity = 0.334;
	p = make(&c);
	h.ready_weight = 333;
	h.total_weight = 1000;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "ready capacity 33.3% < min_capacity 33.4%");

	c.min_capacity = 0.5;
	p = make(&c);
	h.ready_weight = 4999;
	h.total_weight = 10000;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "ready capacity 49.9% < min_capacity 50%");

	c.min_capacity = 0.123456;
	p = make(&c);
	h.ready_weight = 0;
	h.ready = 1; /* a ready backend at weight 0, e.g. while slow start ramps */
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "ready capacity 0% < min_capacity 12.3456%");
}

/* Every k/den threshold with exactly k/den of the weight ready passes; one unit less fails. */
Test(policy_health, fraction_boundaries_exact)
{
	static const unsigned dens[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 20, 25, 100};
	static const uint64_t unit[] = {1, 3, 7, 100};

	for (size_t i = 0; i < sizeof(dens) / sizeof(dens[0]); i++) {
		for (unsigned k = 0; k <= dens[i]; k++) {
			for (size_t u = 0; u < sizeof(unit) / sizeof(unit[0]); u++) {
				struct anycast_policy_conf c = base_conf;
				struct anycast_policy p;
				struct anycast_health h = {.ready = 1,
					.total = dens[i],
					.ready_weight = k * unit[u],
					.total_weight = dens[i] * unit[u],
					.listeners_ok = 1};

				c.min_ready = 1;
				c.min_capacity = (double)k / dens[i];
				p = make(&c);
				cr_assert_eq(healthy(&p, h, NULL), 1, "%u/%u x%llu", k, dens[i],
					(unsigned long long)unit[u]);
				if (k == 0)
					continue;
				h.ready_weight--;
				cr_assert_eq(healthy(&p, h, NULL), 0, "%u/%u x%llu minus one", k,
					dens[i], (unsigned long long)unit[u]);
			}
		}
	}
}

/* Decimal thresholds that are inexact in binary (0.1 x 3 != 0.3) still hit their boundary. */
Test(policy_health, decimal_thresholds)
{
	for (unsigned pct = 0; pct <= 100; pct++) {
		struct anycast_policy_conf c = base_conf;
		struct anycast_policy p;
		struct anycast_health h = {.ready = 1,
			.total = 100,
			.ready_weight = pct,
			.total_weight = 100,
			.listeners_ok = 1};

		c.min_ready = 1;
		c.min_capacity = pct / 100.0;
		p = make(&c);
		cr_assert_eq(p.min_capacity_ppm, pct * 10000u, "%u%%", pct);
		cr_assert_eq(healthy(&p, h, NULL), 1, "%u%%", pct);
		if (pct > 0) {
			h.ready_weight--;
			cr_assert_eq(healthy(&p, h, NULL), 0, "%u%% minus one", pct);
		}
	}
}

/* Every threshold an operator can write with six decimals, read as the config parser does. */
Test(policy_health, six_decimal_thresholds_are_exact)
{
	for (uint32_t k = 0; k <= 1000000; k++) {
		struct anycast_policy_conf c = base_conf;
		struct anycast_policy p;
		char text[16];

		snprintf(text, sizeof(text), "%u.%06u", k / 1000000, k % 1000000);
		c.min_capacity = strtod(text, NULL);
		p = make(&c);
		cr_assert_eq(p.min_capacity_ppm, k, "%s", text);
	}
}

Test(policy_health, zero_total_weight_needs_one_ready)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {.listeners_ok = 1};
	char why[128];

	c.min_ready = 0;
	c.min_capacity = 1.0;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "no ready backends");
	h.ready = 1;
	h.total = 1;
	cr_assert_eq(healthy(&p, h, why), 1);
}

/* The decision: min_ready 0 + min_capacity 0 still needs one ready backend. */
Test(policy_health, zero_thresholds_still_need_a_backend)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {.total = 3, .total_weight = 300, .listeners_ok = 1};
	char why[128];

	c.min_ready = 0;
	c.min_capacity = 0;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "no ready backends");
	h.ready = 1;
	h.ready_weight = 100;
	cr_assert_eq(healthy(&p, h, why), 1);
	h.listeners_ok = 0;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "listener not bound");
}

Test(policy_health, full_capacity_required)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;

	c.min_capacity = 1.0;
	p = make(&c);
	cr_assert_eq(healthy(&p, hv(4), NULL), 1);
	cr_assert_eq(healthy(&p, hv(3), NULL), 0);
}

Test(policy_health, out_of_range_thresholds_clamped)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;

	c.min_capacity = 1.5;
	p = make(&c);
	cr_assert_eq(p.min_capacity_ppm, 1000000u);
	cr_assert_eq(healthy(&p, hv(3), NULL), 0);
	c.min_capacity = -0.5;
	p = make(&c);
	cr_assert_eq(p.min_capacity_ppm, 0u);
	cr_assert_eq(healthy(&p, hv(2), NULL), 1);
	c.min_capacity = __builtin_nan("");
	p = make(&c);
	cr_assert_eq(p.min_capacity_ppm, 1000000u, "NaN is taken on the strict side");
	cr_assert_eq(healthy(&p, hv(3), NULL), 0);
}

Test(policy_health, ready_weight_above_total_is_full)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = hv(4);

	c.min_capacity = 1.0;
	p = make(&c);
	h.ready_weight = 1000;
	cr_assert_eq(healthy(&p, h, NULL), 1);
	/* Without the clamp, 18446744073710 x 10^6 would wrap to 448384: below half of 400. */
	c.min_capacity = 0.5;
	p = make(&c);
	h.ready_weight = 18446744073710ull;
	cr_assert_eq(healthy(&p, h, NULL), 1);
}

Test(policy_health, huge_weights_do_not_overflow)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	struct anycast_health h = {.ready = 2,
		.total = 4,
		.ready_weight = UINT64_MAX / 2 + 1,
		.total_weight = UINT64_MAX,
		.listeners_ok = 1};
	char why[128];

	c.min_capacity = 0.5;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, why), 1);
	h.ready_weight = UINT64_MAX / 10 * 4;
	cr_assert_eq(healthy(&p, h, why), 0);
	cr_assert_str_eq(why, "ready capacity 40% < min_capacity 50%");
	h.ready_weight = UINT64_MAX;
	c.min_capacity = 1.0;
	p = make(&c);
	cr_assert_eq(healthy(&p, h, why), 1);
}

/* ---- the state machine ---- */

Test(policy_state, init)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_eq(anycast_announced(&p), 0);
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.override, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(p.shut_down, 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
	cr_assert_str_eq(p.reason, "no health report yet");
}

Test(policy_state, names)
{
	cr_assert_str_eq(anycast_state_name(ANYCAST_WITHDRAWN), "withdrawn");
	cr_assert_str_eq(anycast_state_name(ANYCAST_PENDING), "pending");
	cr_assert_str_eq(anycast_state_name(ANYCAST_ANNOUNCED), "announced");
	cr_assert_str_eq(anycast_state_name((enum anycast_state)42), "invalid");
	cr_assert_str_eq(anycast_override_name(ANYCAST_OVERRIDE_NONE), "none");
	cr_assert_str_eq(anycast_override_name(ANYCAST_OVERRIDE_WITHDRAW), "withdraw");
	cr_assert_str_eq(anycast_override_name(ANYCAST_OVERRIDE_ANNOUNCE), "announce");
	cr_assert_str_eq(anycast_override_name((enum anycast_override)42), "invalid");
}

Test(policy_state, max_below_base_is_raised)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;

	c.max_announce_delay_ms = 10;
	p = make(&c);
	cr_assert_eq(p.conf.max_announce_delay_ms, 1000);
}

Test(policy_state, withdrawn_stays_while_unhealthy_and_reason_follows)
{
	struct anycast_policy p = make(NULL);
	struct anycast_health h = hv(4);

	cr_assert_eq(anycast_update(&p, down(), 0), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "1 ready backend < min_ready 2");
	h.listeners_ok = 0;
	cr_assert_eq(anycast_update(&p, &h, 10), 0);
	cr_assert_str_eq(p.reason, "listener not bound");
	cr_assert_eq(p.healthy, 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
}

Test(policy_state, withdrawn_to_pending_to_announced)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 500), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
	cr_assert_eq(p.healthy_since_ms, 500);
	cr_assert_str_eq(p.reason, "healthy, announcing after 1s");
	cr_assert_eq(anycast_next_deadline(&p), 1500);
	/* Health reports during PENDING do not restart the stretch. */
	cr_assert_eq(anycast_update(&p, up(), 900), 0);
	cr_assert_eq(anycast_next_deadline(&p), 1500);
	cr_assert_eq(anycast_update(&p, up(), 1499), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
	cr_assert_eq(anycast_update(&p, up(), 1500), 1);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
	cr_assert_eq(anycast_announced(&p), 1);
	cr_assert_str_eq(p.reason, "healthy for 1s");
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
}

Test(policy_state, late_timer_still_announces)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	cr_assert_eq(anycast_update(&p, up(), 7777), 1);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
}

Test(policy_state, edge_only_while_announced_or_withdrawn)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	for (int i = 1; i <= 50; i++)
		cr_assert_eq(anycast_update(&p, up(), t + (uint64_t)i), 0);
	cr_assert_eq(anycast_update(&p, down(), t + 100), 1);
	for (int i = 1; i <= 50; i++)
		cr_assert_eq(anycast_update(&p, down(), t + 100 + (uint64_t)i), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
}

Test(policy_state, announced_to_withdrawn)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);
	struct anycast_health h = hv(4);

	h.listeners_ok = 0;
	cr_assert_eq(anycast_update(&p, &h, t + 5), 1);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "listener not bound");
	cr_assert_eq(p.withdrew, 1);
	cr_assert_eq(p.last_withdraw_ms, t + 5);
	cr_assert_eq(p.flaps, 0, "a first withdraw is not a flap");
	cr_assert_eq(p.delay_ms, 1000);
}

Test(policy_state, unhealthy_in_pending_restarts_the_stretch)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	cr_assert_eq(anycast_update(&p, down(), 999), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.withdrew, 0, "never announced: nothing for damping");
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
	cr_assert_eq(anycast_update(&p, up(), 1000), 0, "the old deadline means nothing now");
	cr_assert_eq(p.state, ANYCAST_PENDING);
	cr_assert_eq(anycast_next_deadline(&p), 2000);
	cr_assert_eq(anycast_update(&p, up(), 1999), 0);
	cr_assert_eq(anycast_update(&p, up(), 2000), 1);
}

Test(policy_state, zero_delay_announces_at_once)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;

	c.announce_delay_ms = 0;
	c.max_announce_delay_ms = 0;
	p = make(&c);
	cr_assert_eq(anycast_update(&p, up(), 42), 1);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
	cr_assert_str_eq(p.reason, "healthy");
	cr_assert_eq(anycast_update(&p, down(), 43), 1);
	cr_assert_eq(anycast_update(&p, up(), 44), 1);
	cr_assert_eq(anycast_update(&p, down(), 45), 1);
	cr_assert_eq(p.flaps, 1, "flaps are counted even though 0 x 2 stays 0");
	cr_assert_eq(p.delay_ms, 0);
	cr_assert_eq(anycast_update(&p, up(), 46), 1);
}

Test(policy_state, time_going_backwards_is_not_a_wait)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 5000), 0);
	cr_assert_eq(anycast_update(&p, up(), 4000), 0, "elapsed counts as 0, not as 2^64");
	cr_assert_eq(p.state, ANYCAST_PENDING);
	cr_assert_eq(anycast_update(&p, up(), 6000), 1);
}

/* ---- damping ---- */

/* Withdraws at w and comes back healthy right after, announced again at the current delay. */
static uint64_t flap(struct anycast_policy *p, uint64_t w)
{
	cr_assert_eq(anycast_update(p, down(), w), 1);
	cr_assert_eq(p->state, ANYCAST_WITHDRAWN);
	return bring_up(p, w + 1);
}

Test(policy_damping, doubling_sequence_and_cap)
{
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000, 10000};
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
		cr_assert_eq(p.delay_ms, want[i], "withdraw %zu", i);
		cr_assert_eq(p.flaps, (unsigned)i, "withdraw %zu", i);
		t = bring_up(&p, t + 11); /* asserts announce at exactly + delay, not a ms sooner */
	}
}

Test(policy_damping, pending_reason_says_lengthened)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	t = flap(&p, t + 10);
	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	cr_assert_eq(p.delay_ms, 2000);
	cr_assert_eq(anycast_update(&p, up(), t + 11), 0);
	cr_assert_str_eq(p.reason, "healthy, announcing after 2s (lengthened by flapping)");
	cr_assert_eq(anycast_next_deadline(&p), t + 11 + 2000);
	cr_assert_eq(anycast_update(&p, up(), t + 11 + 2000), 1);
	cr_assert_str_eq(p.reason, "healthy for 2s");
}

Test(policy_damping, window_is_inclusive)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	uint64_t t;

	c.flap_window_ms = 5000;
	p = make(&c);
	t = bring_up(&p, 0);
	cr_assert_eq(anycast_update(&p, down(), 2000), 1); /* first withdraw at 2000 */
	t = bring_up(&p, 2500);
	cr_assert_eq(anycast_update(&p, down(), 7000), 1); /* exactly flap_window later */
	cr_assert_eq(p.flaps, 1);
	cr_assert_eq(p.delay_ms, 2000);
	(void)t;
}

Test(policy_damping, quiet_window_resets_delay)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	t = flap(&p, t + 10);
	t = flap(&p, t + 10);
	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	cr_assert_eq(p.delay_ms, 4000);
	cr_assert_eq(p.flaps, 2);
	uint64_t w = t + 10;

	/* Down for longer than the window: the lengthened delay still applies when it returns. */
	uint64_t back = w + 60000 + 500;
	cr_assert_eq(anycast_update(&p, up(), back), 0);
	cr_assert_eq(anycast_next_deadline(&p), back + 4000);
	cr_assert_eq(anycast_update(&p, up(), back + 4000), 1);
	/* The next withdraw comes more than flap_window after the previous one: reset. */
	cr_assert_eq(anycast_update(&p, down(), back + 4001), 1);
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(p.flaps, 2, "a withdraw after a quiet window is not a flap");
	/* And the next quick one doubles from the base again. */
	t = bring_up(&p, back + 4002);
	cr_assert_eq(anycast_update(&p, down(), t + 1), 1);
	cr_assert_eq(p.delay_ms, 2000);
	cr_assert_eq(p.flaps, 3);
}

Test(policy_damping, stable_window_decays_delay)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	for (int i = 0; i < 4; i++)
		t = flap(&p, t + 10);
	cr_assert_eq(p.delay_ms, 8000);
	cr_assert_eq(p.flaps, 3);
	cr_assert_eq(anycast_update(&p, up(), t + 59999), 0);
	cr_assert_eq(p.delay_ms, 8000, "one ms short of the window");
	cr_assert_eq(anycast_update(&p, up(), t + 60000), 0);
	cr_assert_eq(p.delay_ms, 1000, "stable for flap_window: back to announce_delay");
	cr_assert_eq(p.withdrew, 0);
	cr_assert_eq(p.flaps, 3, "the counter is for metrics and never goes down");
	cr_assert_eq(anycast_update(&p, down(), t + 60001), 1);
	cr_assert_eq(p.flaps, 3, "the first withdraw after the decay is not a flap");
	cr_assert_eq(p.delay_ms, 1000);
}

Test(policy_damping, decay_applies_lazily_at_the_withdraw)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	for (int i = 0; i < 3; i++)
		t = flap(&p, t + 10);
	cr_assert_eq(p.delay_ms, 4000);
	cr_assert_eq(p.flaps, 2);
	/* No update for a whole window, then the withdraw: the stable stretch counts. */
	cr_assert_eq(anycast_update(&p, down(), t + 70000), 1);
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(p.flaps, 2);
}

Test(policy_damping, zero_window_turns_damping_off)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	uint64_t t;

	c.flap_window_ms = 0;
	p = make(&c);
	t = bring_up(&p, 0);
	for (int i = 0; i < 5; i++)
		t = flap(&p, t);
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(p.flaps, 0);
}

Test(policy_damping, doubling_never_overflows)
{
	struct anycast_policy_conf c = base_conf;
	struct anycast_policy p;
	const uint64_t d = UINT64_MAX / 2 + 7;

	c.announce_delay_ms = d;
	c.max_announce_delay_ms = UINT64_MAX;
	c.flap_window_ms = UINT64_MAX;
	p = make(&c);
	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	cr_assert_eq(anycast_next_deadline(&p), d);
	cr_assert_eq(anycast_update(&p, up(), d), 1);
	cr_assert_eq(anycast_update(&p, down(), d + 1), 1);
	/* A second announce the quick way, so that the next health withdraw is a flap. */
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, up(), d + 2), 1);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), d + 3), 0);
	cr_assert_eq(anycast_update(&p, down(), d + 4), 1);
	cr_assert_eq(p.flaps, 1);
	cr_assert_eq(p.delay_ms, UINT64_MAX, "doubled past the range: the cap");
	cr_assert_eq(anycast_update(&p, up(), d + 5), 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX, "saturates");
	cr_assert_eq(anycast_update(&p, up(), UINT64_MAX - 1), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
}

/* ---- overrides ---- */

Test(policy_override, withdraw_wins_over_health_and_is_not_a_flap)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_announced(&p), 1, "takes effect at the next update");
	cr_assert_eq(anycast_update(&p, up(), t + 1), 1);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "operator withdraw");
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.withdrew, 0, "an operator withdraw feeds no flap history");
	for (uint64_t i = 2; i < 100; i++)
		cr_assert_eq(anycast_update(&p, (i % 3) != 0 ? up() : down(), t + i * 10000), 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
	cr_assert_str_eq(p.reason, "operator withdraw");
}

Test(policy_override, clearing_withdraw_waits_the_delay)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, up(), t + 1), 1);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), t + 5000), 0, "healthy all along, still PENDING");
	cr_assert_eq(p.state, ANYCAST_PENDING);
	cr_assert_eq(anycast_next_deadline(&p), t + 6000);
	cr_assert_eq(anycast_update(&p, up(), t + 5999), 0);
	cr_assert_eq(anycast_update(&p, up(), t + 6000), 1);
	cr_assert_eq(p.flaps, 0);
}

Test(policy_override, clearing_withdraw_keeps_the_damped_delay)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	for (int i = 0; i < 3; i++)
		t = flap(&p, t + 10);
	cr_assert_eq(p.delay_ms, 4000);
	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, up(), t + 1), 1);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), t + 2), 0);
	cr_assert_eq(anycast_next_deadline(&p), t + 2 + 4000);
}

Test(policy_override, clearing_withdraw_while_unhealthy)
{
	struct anycast_policy p = make(NULL);

	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, down(), 0), 0);
	cr_assert_str_eq(p.reason, "operator withdraw");
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, down(), 1), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "1 ready backend < min_ready 2");
}

Test(policy_override, announce_wins_over_health)
{
	struct anycast_policy p = make(NULL);
	struct anycast_health h = hv(0);

	h.listeners_ok = 0;
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_announced(&p), 0, "takes effect at the next update");
	cr_assert_eq(anycast_update(&p, &h, 0), 1);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
	cr_assert_str_eq(p.reason, "operator announce");
	cr_assert_eq(p.healthy, 0);
	for (uint64_t i = 1; i < 100; i++)
		cr_assert_eq(anycast_update(&p, (i % 2) != 0 ? up() : down(), i * 1000), 0);
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
}

Test(policy_override, announce_cuts_pending_short)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, up(), 1), 1);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
}

Test(policy_override, clearing_announce_while_unhealthy_withdraws_without_a_flap)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	cr_assert_eq(anycast_update(&p, down(), t + 1), 1); /* a first health withdraw */
	t = bring_up(&p, t + 2);
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, down(), t + 1), 0, "still announced by the operator");
	cr_assert_str_eq(p.reason, "operator announce");
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, down(), t + 2), 1);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "1 ready backend < min_ready 2");
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.delay_ms, 1000);
	cr_assert_eq(p.last_withdraw_ms, t - 1000 - 1, "history untouched by the override");
}

Test(policy_override, clearing_announce_while_healthy_stays_announced)
{
	struct anycast_policy p = make(NULL);

	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, down(), 0), 1);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), 10), 0);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
	cr_assert_str_eq(p.reason, "healthy, operator announce cleared");
	cr_assert_eq(p.stable_since_ms, 10);
	/* From here health drives as usual. */
	cr_assert_eq(anycast_update(&p, down(), 20), 1);
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.withdrew, 1);
}

Test(policy_override, switching_directly_between_overrides)
{
	struct anycast_policy p = make(NULL);

	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, up(), 1), 1);
	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, up(), 2), 1);
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.withdrew, 0);
	/* Set and cleared between two updates: nothing happened. */
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), 3), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(anycast_update(&p, up(), 4), 0);
	cr_assert_eq(anycast_next_deadline(&p), 1003);
}

/* ---- shutdown ---- */

Test(policy_shutdown, from_announced)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	cr_assert_eq(anycast_shutdown(&p), 1);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "shutting down");
	cr_assert_eq(p.flaps, 0);
	cr_assert_eq(p.withdrew, 0);
	cr_assert_eq(anycast_shutdown(&p), 0, "twice is once");
	for (uint64_t i = 1; i < 50; i++)
		cr_assert_eq(anycast_update(&p, up(), t + i * 100000), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_str_eq(p.reason, "shutting down");
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
}

Test(policy_shutdown, from_pending_and_withdrawn)
{
	struct anycast_policy p = make(NULL);
	struct anycast_policy q = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 0), 0);
	cr_assert_eq(anycast_shutdown(&p), 0);
	cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
	cr_assert_eq(anycast_update(&p, up(), 1000), 0);
	cr_assert_eq(p.state, ANYCAST_WITHDRAWN);
	cr_assert_eq(anycast_shutdown(&q), 0);
	cr_assert_str_eq(q.reason, "shutting down");
}

Test(policy_shutdown, beats_operator_announce)
{
	struct anycast_policy p = make(NULL);

	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, up(), 0), 1);
	cr_assert_eq(anycast_shutdown(&p), 1);
	cr_assert_eq(anycast_update(&p, up(), 1), 0);
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	anycast_set_override(&p, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_assert_eq(anycast_update(&p, up(), 2), 0);
	cr_assert_eq(anycast_announced(&p), 0);
	cr_assert_str_eq(p.reason, "shutting down");
}

/* ---- reload and naming ---- */

Test(policy_conf, reload_keeps_state_and_clamps_delay)
{
	struct anycast_policy p = make(NULL);
	struct anycast_policy_conf c = base_conf;
	struct anycast_health h3;
	uint64_t t = bring_up(&p, 0);

	for (int i = 0; i < 4; i++)
		t = flap(&p, t + 10);
	cr_assert_eq(p.delay_ms, 8000);
	c.max_announce_delay_ms = 5000;
	c.min_ready = 4;
	anycast_set_conf(&p, &c);
	cr_assert_eq(p.state, ANYCAST_ANNOUNCED);
	cr_assert_eq(p.flaps, 3);
	cr_assert_eq(p.delay_ms, 5000, "within the new cap");
	c.announce_delay_ms = 7000;
	c.max_announce_delay_ms = 9000;
	anycast_set_conf(&p, &c);
	cr_assert_eq(p.delay_ms, 7000, "at least the new base");
	h3 = hv(3);
	cr_assert_eq(anycast_update(&p, &h3, t + 1), 1, "new min_ready applies");
	cr_assert_str_eq(p.reason, "3 ready backends < min_ready 4");
}

Test(policy_conf, name_is_copied_and_truncated)
{
	struct anycast_policy p = make(NULL);
	char longname[200];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	anycast_set_name(&p, "web");
	cr_assert_str_eq(p.name, "web");
	anycast_set_name(&p, longname);
	cr_assert_eq(strlen(p.name), ANYCAST_NAME_MAX);
	anycast_set_name(&p, NULL);
	cr_assert_str_eq(p.name, "");
}

static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

/* The setter logs each transition once, at debug, with the service and the reason. */
Test(policy_conf, transitions_logged_at_debug, .init = redirect_stderr)
{
	struct anycast_policy p = make(NULL);
	char buf[4096];
	size_t n;
	FILE *f;

	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	anycast_set_name(&p, "web");
	bring_up(&p, 0);
	cr_assert_eq(anycast_update(&p, down(), 2000), 1);
	cr_assert_eq(anycast_update(&p, down(), 2001), 0); /* no transition, no line */
	fflush(stderr);
	f = cr_get_redirected_stderr();
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	cr_assert_not_null(
		strstr(buf, "anycast web: withdrawn -> pending: healthy, announcing after 1s\n"),
		"%s", buf);
	cr_assert_not_null(strstr(buf, "anycast web: pending -> announced: healthy for 1s\n"));
	cr_assert_not_null(strstr(
		buf, "anycast web: announced -> withdrawn: 1 ready backend < min_ready 2\n"));
	cr_assert_null(strstr(strstr(buf, "announced -> withdrawn") + 1, "anycast web"));
}

/* ---- randomized properties ---- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure names its seed and replays. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(s) % n;
}

/* The rules read independently: integers only, min_capacity = pct / 100. */
static int ref_healthy(unsigned min_ready, unsigned pct, const struct anycast_health *h)
{
	if (!h->listeners_ok || h->ready < min_ready || h->ready == 0)
		return 0;
	if (h->total_weight == 0)
		return 1;
	return h->ready_weight * 100 >= (uint64_t)pct * h->total_weight;
}

Test(policy_property, random_health_and_times)
{
	/* What the run went through, so that a generator gone dull fails loudly. */
	unsigned long health_announces = 0, total_flaps = 0, pending_aborts = 0, forced = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		uint64_t s = seed * 0x9E3779B97F4A7C15ull;
		struct anycast_policy_conf c = {0};
		struct anycast_policy p;
		unsigned pct = (unsigned)rng_below(&s, 101);
		uint64_t now = rng_below(&s, 1000);
		uint64_t stretch =
			0; /* start of the current healthy, override-free run of updates */
		int in_stretch = 0, overrides = rng_below(&s, 2) == 0;

		c.min_ready = (unsigned)rng_below(&s, 4);
		c.min_capacity = pct / 100.0;
		c.announce_delay_ms = rng_below(&s, 4) == 0 ? 0 : 1 + rng_below(&s, 3000);
		c.max_announce_delay_ms = c.announce_delay_ms * (1 + rng_below(&s, 40));
		c.flap_window_ms = rng_below(&s, 30000);
		anycast_init(&p, &c);

		for (int step = 0; step < 3000; step++) {
			struct anycast_health h = {0};
			unsigned flaps = p.flaps;
			int was = anycast_announced(&p), ret, ok;
			uint64_t delay_before = p.delay_ms;

			h.total = 1 + (unsigned)rng_below(&s, 6);
			for (unsigned b = 0; b < h.total; b++) {
				uint64_t w = rng_below(&s, 5) == 0 ? 0 : 1 + rng_below(&s, 100);

				h.total_weight += w;
				if (rng_below(&s, 4) != 0) {
					h.ready++;
					h.ready_weight += w;
				}
			}
			h.listeners_ok = rng_below(&s, 20) != 0;
			now += rng_below(&s, 8) == 0 ? rng_below(&s, 40000) : rng_below(&s, 800);
			if (overrides && rng_below(&s, 50) == 0)
				anycast_set_override(&p, (enum anycast_override)rng_below(&s, 3));
			if (rng_below(&s, 2000) == 0) {
				cr_assert_eq(anycast_shutdown(&p), was, "seed %llu",
					(unsigned long long)seed);
				was = 0;
			}

			ok = ref_healthy(c.min_ready, pct, &h);
			if (p.state == ANYCAST_PENDING && !ok &&
				p.override == ANYCAST_OVERRIDE_NONE)
				pending_aborts++;
			ret = anycast_update(&p, &h, now);

			cr_assert_eq(
				p.healthy, ok, "seed %llu step %d", (unsigned long long)seed, step);
			/* Edge, not level. */
			cr_assert_eq(ret, was != anycast_announced(&p), "seed %llu step %d",
				(unsigned long long)seed, step);
			/* Who decides. */
			if (p.shut_down)
				cr_assert_eq(anycast_announced(&p), 0);
			else if (p.override == ANYCAST_OVERRIDE_WITHDRAW)
				cr_assert_eq(anycast_announced(&p), 0);
			else if (p.override == ANYCAST_OVERRIDE_ANNOUNCE)
				cr_assert_eq(anycast_announced(&p), 1);
			else if (anycast_announced(&p))
				cr_assert(ok, "announced while unhealthy: seed %llu step %d",
					(unsigned long long)seed, step);

			/* Never announced by health sooner than the delay after becoming healthy.
			 */
			if (!p.shut_down && p.override == ANYCAST_OVERRIDE_NONE && ok) {
				if (!in_stretch)
					stretch = now;
				in_stretch = 1;
			} else {
				in_stretch = 0;
			}
			if (ret && anycast_announced(&p) && p.override == ANYCAST_OVERRIDE_NONE) {
				cr_assert(in_stretch);
				cr_assert_geq(now - stretch, p.delay_ms, "seed %llu step %d",
					(unsigned long long)seed, step);
				cr_assert_geq(now - stretch, c.announce_delay_ms);
				health_announces++;
			} else if (ret) {
				forced++;
			}

			/* PENDING is never left hanging past its deadline. */
			if (p.state == ANYCAST_PENDING) {
				cr_assert_gt(anycast_next_deadline(&p), now);
				cr_assert_eq(
					anycast_next_deadline(&p), p.healthy_since_ms + p.delay_ms);
			} else {
				cr_assert_eq(anycast_next_deadline(&p), UINT64_MAX);
			}

			/* Damping stays in range and moves only on a health withdraw. */
			cr_assert_geq(p.delay_ms, c.announce_delay_ms);
			cr_assert_leq(p.delay_ms, c.max_announce_delay_ms);
			if (p.flaps != flaps) {
				cr_assert_eq(p.flaps, flaps + 1);
				cr_assert(ret && !anycast_announced(&p));
				cr_assert(p.delay_ms == c.max_announce_delay_ms ||
					  p.delay_ms == 2 * delay_before);
			}
			cr_assert(p.reason[0] != '\0');
		}
		total_flaps += p.flaps;
	}
	cr_assert_gt(health_announces, 10000);
	cr_assert_gt(total_flaps, 1000);
	cr_assert_gt(pending_aborts, 1000);
	cr_assert_gt(forced, 100);
	cr_log_info("health announces %lu, flaps %lu, pending aborts %lu, other edges %lu",
		health_announces, total_flaps, pending_aborts, forced);
}
