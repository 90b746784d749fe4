/*
 * DOC: the per-source token bucket and its bounded table (lb/ratelimit.c), on a fake clock
 *
 * A new source gets burst connections, then one per 1/rate; the bucket never holds more than
 * burst; sources are independent; IPv6 sources are counted per /64; a full table forgets the
 * source seen least recently, says so, and never grows.
 */
#include "lb/ratelimit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void key_of(const char *text, uint8_t key[RATELIMIT_KEY_LEN])
{
	struct addr a;
	char why[ADDR_WHY_MAX];

	cr_assert_eq(addr_parse(text, 1, &a, why, sizeof(why)), 0, "%s: %s", text, why);
	ratelimit_key(&a, key);
}

/* Connections from text at now that go through, out of tries. */
static int take_n(struct ratelimit *rl, const char *text, uint64_t now, int tries, int *evictions)
{
	uint8_t key[RATELIMIT_KEY_LEN];
	int ok = 0, ev;

	key_of(text, key);
	for (int i = 0; i < tries; i++) {
		ok += ratelimit_take(rl, key, now, &ev);
		if (evictions != NULL)
			*evictions += ev;
	}
	return ok;
}

Test(ratelimit, burst_then_the_rate)
{
	struct ratelimit *rl = ratelimit_new(5 * 60, 5, 16); /* 5/s, burst 5 */

	cr_assert_not_null(rl);
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 1000, 20, NULL), 5, "a full bucket: the burst");
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 1199, 1, NULL), 0, "199 ms: not a whole token");
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 1200, 3, NULL), 1, "200 ms: one token at 5/s");
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 2200, 10, NULL), 5, "1 s: five tokens");
	/* A long silence fills the bucket to burst, not beyond (and does not overflow). */
	cr_expect_eq(take_n(rl, "192.0.2.1:1", UINT64_MAX / 2, 20, NULL), 5);
	ratelimit_put(rl);
}

Test(ratelimit, per_minute_rates_are_exact)
{
	struct ratelimit *rl = ratelimit_new(30, 1, 4); /* 30/m: one every 2 s */

	cr_expect_eq(take_n(rl, "192.0.2.1:1", 0, 3, NULL), 1);
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 1999, 1, NULL), 0);
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 2000, 2, NULL), 1);
	ratelimit_put(rl);
}

Test(ratelimit, a_clock_that_steps_back_adds_nothing)
{
	struct ratelimit *rl = ratelimit_new(60, 1, 4);

	cr_expect_eq(take_n(rl, "192.0.2.1:1", 10000, 1, NULL), 1);
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 5000, 1, NULL), 0);
	cr_expect_eq(take_n(rl, "192.0.2.1:1", 10999, 1, NULL), 0, "refill counts from 10000");
	ratelimit_put(rl);
}

Test(ratelimit, sources_are_independent_and_v6_is_per_64)
{
	struct ratelimit *rl = ratelimit_new(60, 2, 16);

	cr_expect_eq(take_n(rl, "127.0.0.1:1", 0, 5, NULL), 2);
	cr_expect_eq(take_n(rl, "127.0.0.2:1", 0, 5, NULL), 2, "another source: its own bucket");
	cr_expect_eq(take_n(rl, "127.0.0.1:2", 0, 1, NULL), 0, "the port is not the source");
	cr_expect_eq(take_n(rl, "[2001:db8:0:1::1]:1", 0, 1, NULL), 1);
	cr_expect_eq(take_n(rl, "[2001:db8:0:1:ffff::9]:1", 0, 5, NULL), 1, "same /64");
	cr_expect_eq(take_n(rl, "[2001:db8:0:2::1]:1", 0, 5, NULL), 2, "another /64");
	cr_expect_eq(ratelimit_sources(rl), 4);
	ratelimit_put(rl);
}

Test(ratelimit, a_full_table_forgets_the_least_recently_seen)
{
	struct ratelimit *rl = ratelimit_new(60, 1, 3);
	int ev = 0;

	cr_expect_eq(take_n(rl, "10.0.0.1:1", 0, 1, &ev), 1);
	cr_expect_eq(take_n(rl, "10.0.0.2:1", 1, 1, &ev), 1);
	cr_expect_eq(take_n(rl, "10.0.0.3:1", 2, 1, &ev), 1);
	cr_expect_eq(ev, 0);
	/* .1 is seen again (refused, but seen): .2 is now the least recent. */
	cr_expect_eq(take_n(rl, "10.0.0.1:1", 3, 1, &ev), 0);
	cr_expect_eq(take_n(rl, "10.0.0.4:1", 4, 1, &ev), 1);
	cr_expect_eq(ev, 1, "one source forgotten for the new one");
	cr_expect_eq(ratelimit_sources(rl), 3, "the table never grows past max_sources");
	/* .1 and .3 are still known (empty buckets); .2 was forgotten and starts full. */
	cr_expect_eq(take_n(rl, "10.0.0.1:1", 5, 1, &ev), 0);
	cr_expect_eq(take_n(rl, "10.0.0.3:1", 6, 1, &ev), 0);
	cr_expect_eq(ev, 1);
	cr_expect_eq(take_n(rl, "10.0.0.2:1", 7, 1, &ev), 1, "forgotten: a full bucket again");
	cr_expect_eq(ev, 2, "and .4, the least recent then, made room");
	ratelimit_put(rl);
}

Test(ratelimit, many_sources_through_a_small_table)
{
	struct ratelimit *rl = ratelimit_new(60, 1, 64);
	char text[32];
	int ev = 0, ok = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d:1", i / 250, i % 250 + 1);
		ok += take_n(rl, text, (uint64_t)i, 1, &ev);
	}
	cr_expect_eq(ok, 1000, "every new source starts with a token");
	cr_expect_eq(ev, 1000 - 64);
	cr_expect_eq(ratelimit_sources(rl), 64);
	/* The last 64 are the ones still known. */
	cr_expect_eq(take_n(rl, "10.0.3.250:1", 1000, 1, &ev), 0);
	cr_expect_eq(ev, 1000 - 64);
	ratelimit_put(rl);
}

Test(ratelimit, shared_only_with_the_same_settings)
{
	struct ratelimit *rl = ratelimit_new(6000, 200, 65536);

	cr_expect(ratelimit_same(rl, 6000, 200, 65536));
	cr_expect_not(ratelimit_same(rl, 6000, 201, 65536));
	cr_expect_not(ratelimit_same(rl, 60, 200, 65536));
	cr_expect_not(ratelimit_same(rl, 6000, 200, 1));
	cr_expect_eq(ratelimit_get(rl), rl);
	ratelimit_put(rl);
	ratelimit_put(rl);
	cr_expect_null(ratelimit_new(0, 1, 1));
	cr_expect_null(ratelimit_new(1, 0, 1));
	cr_expect_null(ratelimit_new(1, 1, 0));
}
