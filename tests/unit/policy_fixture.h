/*
 * DOC: what the anycast policy tests share (tests/unit/test_policy*.c)
 *
 * A configuration whose damping sequence fits in a test, health of k of four backends, and
 * bring_up(), which asserts every step from withdrawn to announced. Static inline: each test
 * file takes what it uses.
 */
#ifndef ANYLB_TESTS_UNIT_POLICY_FIXTURE_H
#define ANYLB_TESTS_UNIT_POLICY_FIXTURE_H

#include "bgp/policy.h"

#include <criterion/criterion.h>
#include <stdint.h>

/* base 1s, cap 10s, window 60s: the doubling sequence 1, 2, 4, 8, 10, 10 fits in a test. */
static const struct anycast_policy_conf base_conf = {
	.min_ready = 2,
	.min_capacity = 0.5,
	.announce_delay_ms = 1000,
	.max_announce_delay_ms = 10000,
	.flap_window_ms = 60000,
};

/* Four backends of weight 100, k of them ready, listeners bound. */
static inline struct anycast_health hv(unsigned k)
{
	struct anycast_health h = {
		.ready = k,
		.total = 4,
		.ready_weight = 100ull * k,
		.total_weight = 400,
		.listeners_ok = 1,
	};
	return h;
}

static inline const struct anycast_health *up(void)
{
	static struct anycast_health h;

	h = hv(4);
	return &h;
}

static inline const struct anycast_health *down(void)
{
	static struct anycast_health h;

	h = hv(1);
	return &h;
}

static inline struct anycast_policy make(const struct anycast_policy_conf *c)
{
	struct anycast_policy p;

	anycast_init(&p, c != NULL ? c : &base_conf);
	return p;
}

static inline int healthy(const struct anycast_policy *p, struct anycast_health h, char *why)
{
	return anycast_evaluate(p, &h, why, 128);
}

/* From WITHDRAWN and healthy at t: PENDING, then ANNOUNCED exactly at t + delay. */
static inline uint64_t bring_up(struct anycast_policy *p, uint64_t t)
{
	uint64_t d = p->delay_ms;

	if (d == 0) {
		cr_assert_eq(anycast_update(p, up(), t), 1);
		cr_assert_eq(p->state, ANYCAST_ANNOUNCED);
		return t;
	}
	cr_assert_eq(anycast_update(p, up(), t), 0);
	cr_assert_eq(p->state, ANYCAST_PENDING);
	cr_assert_eq(anycast_next_deadline(p), t + d);
	cr_assert_eq(anycast_update(p, up(), t + d - 1), 0);
	cr_assert_eq(p->state, ANYCAST_PENDING);
	cr_assert_eq(anycast_update(p, up(), t + d), 1);
	cr_assert_eq(p->state, ANYCAST_ANNOUNCED);
	cr_assert_eq(anycast_next_deadline(p), UINT64_MAX);
	return t + d;
}

#endif
