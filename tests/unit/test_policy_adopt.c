/*
 * DOC: anycast policy tests: the binary upgrade
 *
 * A policy saved by one process (anycast_save) and adopted by its successor (anycast_adopt),
 * whose clock reads differently: from then on both decide the same for the same inputs (state,
 * delay, flaps, reason), and what cannot be taken over is clamped.
 */
#include "bgp/policy.h"
#include "tests/unit/policy_fixture.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#define SHIFT 777777 /* the successor's clock is not the old process's */

/* q adopts p as saved at t; q's clock reads t + SHIFT then. */
static struct anycast_policy adopt_at(const struct anycast_policy *p, uint64_t t)
{
	struct anycast_saved s;
	struct anycast_policy q = make(NULL);

	anycast_save(p, t, &s);
	anycast_adopt(&q, &s, t + SHIFT);
	return q;
}

/* Feeds both the same input at t (q at t + SHIFT): the same decision, delay and flaps. */
static void same_step(struct anycast_policy *p, struct anycast_policy *q,
	const struct anycast_health *h, uint64_t t)
{
	int rp = anycast_update(p, h, t), rq = anycast_update(q, h, t + SHIFT);

	cr_assert_eq(rq, rp, "edge at %llu", (unsigned long long)t);
	cr_assert_eq(q->state, p->state, "state at %llu", (unsigned long long)t);
	cr_assert_eq(q->delay_ms, p->delay_ms, "delay at %llu", (unsigned long long)t);
	cr_assert_eq(q->flaps, p->flaps, "flaps at %llu", (unsigned long long)t);
	cr_assert_str_eq(q->reason, p->reason);
}

Test(policy_adopt, announced_with_flaps_goes_on_flapping_the_same)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	t = bring_up(&p, t + 20); /* one withdraw remembered, delay 1 s */
	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	t = bring_up(&p, t + 20); /* a flap: delay 2 s */
	cr_assert_eq(p.flaps, 1u);

	struct anycast_policy q = adopt_at(&p, t + 5);
	cr_assert_eq(q.state, ANYCAST_ANNOUNCED);
	cr_assert(anycast_announced(&q));
	cr_assert_eq(q.delay_ms, 2000);
	cr_assert_eq(q.flaps, 1u);
	cr_assert_eq(anycast_next_deadline(&q), UINT64_MAX);
	/* The next withdraw is a flap in both (within the window), the delay doubles. */
	same_step(&p, &q, up(), t + 6);
	same_step(&p, &q, down(), t + 100);
	cr_assert_eq(q.delay_ms, 4000);
	cr_assert_eq(q.flaps, 2u);
	for (uint64_t x = t + 101; x <= t + 101 + 4000; x += 500)
		same_step(&p, &q, up(), x);
	same_step(&p, &q, up(), t + 101 + 4000);
	cr_assert_eq(q.state, ANYCAST_ANNOUNCED);
}

Test(policy_adopt, pending_announces_at_the_same_deadline)
{
	struct anycast_policy p = make(NULL);

	cr_assert_eq(anycast_update(&p, up(), 1000), 0);
	cr_assert_eq(p.state, ANYCAST_PENDING);
	struct anycast_policy q = adopt_at(&p, 1600);
	cr_assert_eq(q.state, ANYCAST_PENDING);
	cr_assert_eq(anycast_next_deadline(&q), 2000 + SHIFT, "the stretch was not carried on");
	same_step(&p, &q, up(), 1999);
	same_step(&p, &q, up(), 2000);
	cr_assert_eq(q.state, ANYCAST_ANNOUNCED);
}

Test(policy_adopt, a_stable_stretch_decays_at_the_same_moment)
{
	struct anycast_policy p = make(NULL);
	uint64_t t = bring_up(&p, 0);

	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	t = bring_up(&p, t + 20);
	cr_assert_eq(anycast_update(&p, down(), t + 10), 1);
	t = bring_up(&p, t + 20); /* delay 2 s, announced since t */
	struct anycast_policy q = adopt_at(&p, t + 30000);
	/* Just before a whole flap_window: still remembered; at it: forgotten, in both. */
	same_step(&p, &q, up(), t + 59999);
	cr_assert_eq(q.delay_ms, 2000);
	same_step(&p, &q, up(), t + 60000);
	cr_assert_eq(q.delay_ms, 1000);
	cr_assert_eq(q.withdrew, 0);
}

Test(policy_adopt, overrides_and_withdrawn_carry_over)
{
	struct anycast_policy p = make(NULL);

	anycast_set_override(&p, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(anycast_update(&p, up(), 100), 0);
	struct anycast_policy q = adopt_at(&p, 200);
	cr_assert_eq(q.state, ANYCAST_WITHDRAWN);
	cr_assert_eq(q.override, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_eq(q.applied, ANYCAST_OVERRIDE_WITHDRAW);
	cr_assert_str_eq(q.reason, "operator withdraw");
	/* Cleared on both: through PENDING with the delay, not at once. */
	anycast_set_override(&p, ANYCAST_OVERRIDE_NONE);
	anycast_set_override(&q, ANYCAST_OVERRIDE_NONE);
	same_step(&p, &q, up(), 300);
	cr_assert_eq(q.state, ANYCAST_PENDING);
	same_step(&p, &q, up(), 1300);
	cr_assert_eq(q.state, ANYCAST_ANNOUNCED);
}

Test(policy_adopt, out_of_range_values_are_clamped)
{
	struct anycast_policy q = make(NULL);
	struct anycast_saved s = {
		.state = (enum anycast_state)42,
		.override = (enum anycast_override) - 3,
		.applied = (enum anycast_override)9,
		.healthy = 5,
		.withdrew = 1,
		.healthy_for_ms = UINT64_MAX,
		.stable_for_ms = UINT64_MAX,
		.withdrew_ago_ms = UINT64_MAX,
		.delay_ms = UINT64_MAX,
		.flaps = 3,
	};

	anycast_adopt(&q, &s, 5000);
	cr_assert_eq(q.state, ANYCAST_WITHDRAWN);
	cr_assert_eq(q.override, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(q.applied, ANYCAST_OVERRIDE_NONE);
	cr_assert_eq(q.delay_ms, base_conf.max_announce_delay_ms);
	cr_assert_eq(q.healthy_since_ms, 0);
	cr_assert_eq(q.last_withdraw_ms, 0);
	cr_assert_eq(q.shut_down, 0);
	cr_assert_str_eq(q.reason, "taken over");
	s.delay_ms = 1; /* below this configuration's announce_delay */
	s.state = ANYCAST_ANNOUNCED;
	anycast_adopt(&q, &s, 5000);
	cr_assert_eq(q.delay_ms, base_conf.announce_delay_ms);
	cr_assert(anycast_announced(&q));
	/* A shut-down policy hands over, the successor is not shut down. */
	struct anycast_policy p = make(NULL);
	bring_up(&p, 0);
	anycast_shutdown(&p);
	struct anycast_policy r = adopt_at(&p, 2000);
	cr_assert_eq(r.shut_down, 0);
}
