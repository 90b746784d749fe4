/*
 * DOC: rise/fall tests
 *
 * The counter is checked against HAProxy's rules: `fall` failures in a row from fully up,
 * `rise` successes in a row from down, a run broken by one result of the other kind, and the
 * fresh-server convention (up, but the first failure takes it down).
 */
#include "health/risefall.h"

#include <criterion/criterion.h>

/* Feeds n results of one kind; returns how many of them flipped the state. */
static int feed_n(struct risefall *rf, int ok, int n)
{
	int flips = 0;

	for (int k = 0; k < n; k++)
		flips += risefall_feed(rf, ok);
	return flips;
}

Test(risefall, init_down)
{
	struct risefall rf;

	risefall_init(&rf, 2, 3, 0);
	cr_assert_eq(rf.up, 0);
	cr_assert_eq(rf.health, 0);
	cr_assert_eq(rf.rise, 2);
	cr_assert_eq(rf.fall, 3);
	cr_assert_not(risefall_changing(&rf));
}

Test(risefall, init_up_is_unproven)
{
	struct risefall rf;

	risefall_init(&rf, 2, 3, 1);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(rf.health, 2);
	cr_assert(risefall_changing(&rf)); /* not at the top yet: checks run fast */
	cr_assert_eq(risefall_feed(&rf, 0), 1, "first failure takes a fresh server down");
	cr_assert_eq(rf.up, 0);
	cr_assert_eq(rf.health, 0);
}

Test(risefall, init_up_then_success_is_proven)
{
	struct risefall rf;

	risefall_init(&rf, 2, 3, 1);
	cr_assert_eq(risefall_feed(&rf, 1), 0);
	cr_assert_eq(rf.health, 4); /* rise + fall - 1 */
	cr_assert_not(risefall_changing(&rf));
	cr_assert_eq(feed_n(&rf, 0, 2), 0);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(risefall_feed(&rf, 0), 1);
	cr_assert_eq(rf.up, 0);
}

Test(risefall, rise_from_down)
{
	struct risefall rf;

	risefall_init(&rf, 3, 2, 0);
	cr_assert_eq(risefall_feed(&rf, 1), 0);
	cr_assert(risefall_changing(&rf));
	cr_assert_eq(risefall_feed(&rf, 1), 0);
	cr_assert_eq(rf.up, 0);
	cr_assert_eq(risefall_feed(&rf, 1), 1);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(rf.health, 4);
	cr_assert_not(risefall_changing(&rf));
	cr_assert_eq(feed_n(&rf, 1, 10), 0, "more successes change nothing");
	cr_assert_eq(rf.health, 4);
}

Test(risefall, fall_from_up)
{
	struct risefall rf;

	risefall_init(&rf, 2, 3, 0);
	feed_n(&rf, 1, 2);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(risefall_feed(&rf, 0), 0);
	cr_assert(risefall_changing(&rf));
	cr_assert_eq(risefall_feed(&rf, 0), 0);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(risefall_feed(&rf, 0), 1);
	cr_assert_eq(rf.up, 0);
	cr_assert_eq(rf.health, 0);
	cr_assert_not(risefall_changing(&rf));
	cr_assert_eq(feed_n(&rf, 0, 10), 0, "more failures change nothing");
}

/* One success while going down restores full health; one failure while rising starts over. */
Test(risefall, runs_are_broken)
{
	struct risefall rf;

	risefall_init(&rf, 3, 3, 0);
	feed_n(&rf, 1, 2);
	cr_assert_eq(risefall_feed(&rf, 0), 0);
	cr_assert_eq(rf.health, 0);
	cr_assert_eq(feed_n(&rf, 1, 2), 0);
	cr_assert_eq(rf.up, 0);
	cr_assert_eq(risefall_feed(&rf, 1), 1);

	feed_n(&rf, 0, 2);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(risefall_feed(&rf, 1), 0);
	cr_assert_eq(rf.health, 5);
	cr_assert_eq(feed_n(&rf, 0, 2), 0);
	cr_assert_eq(rf.up, 1);
	cr_assert_eq(risefall_feed(&rf, 0), 1);
}

/* A backend that alternates never flips, whichever state it is in. */
Test(risefall, flapping_does_not_flip)
{
	for (int start = 0; start <= 1; start++) {
		struct risefall rf;

		risefall_init(&rf, 2, 2, start);
		if (start)
			risefall_feed(&rf, 1); /* proven */
		for (int k = 0; k < 100; k++)
			cr_assert_eq(
				risefall_feed(&rf, k % 2 == start), 0, "start %d, k %d", start, k);
		cr_assert_eq(rf.up, start);
	}
}

Test(risefall, one_and_one)
{
	struct risefall rf;

	risefall_init(&rf, 1, 1, 0);
	cr_assert_not(risefall_changing(&rf));
	cr_assert_eq(risefall_feed(&rf, 1), 1);
	cr_assert_eq(rf.up, 1);
	cr_assert_not(risefall_changing(&rf));
	cr_assert_eq(risefall_feed(&rf, 0), 1);
	cr_assert_eq(risefall_feed(&rf, 0), 0);
	cr_assert_eq(risefall_feed(&rf, 1), 1);
}

/* A zero is taken as one rather than a counter that can never move. */
Test(risefall, zero_is_one)
{
	struct risefall rf;

	risefall_init(&rf, 0, 0, 0);
	cr_assert_eq(rf.rise, 1);
	cr_assert_eq(rf.fall, 1);
	cr_assert_eq(risefall_feed(&rf, 1), 1);
	cr_assert_eq(risefall_feed(&rf, 0), 1);
}

/* Every rise/fall in the configuration's range, against the definition. */
Test(risefall, exhaustive_small)
{
	for (unsigned rise = 1; rise <= 12; rise++) {
		for (unsigned fall = 1; fall <= 12; fall++) {
			struct risefall rf;

			risefall_init(&rf, rise, fall, 0);
			for (unsigned k = 1; k < rise; k++)
				cr_assert_eq(
					risefall_feed(&rf, 1), 0, "rise %u fall %u", rise, fall);
			cr_assert_eq(risefall_feed(&rf, 1), 1, "rise %u fall %u", rise, fall);
			for (unsigned k = 1; k < fall; k++)
				cr_assert_eq(
					risefall_feed(&rf, 0), 0, "rise %u fall %u", rise, fall);
			cr_assert_eq(risefall_feed(&rf, 0), 1, "rise %u fall %u", rise, fall);
			cr_assert_leq(rf.health, rise + fall - 1);
		}
	}
}

Test(risefall, large_values)
{
	struct risefall rf;

	risefall_init(&rf, 100, 100, 0);
	cr_assert_eq(feed_n(&rf, 1, 99), 0);
	cr_assert_eq(risefall_feed(&rf, 1), 1);
	cr_assert_eq(rf.health, 199);
	cr_assert_eq(feed_n(&rf, 0, 99), 0);
	cr_assert_eq(risefall_feed(&rf, 0), 1);

	risefall_init(&rf, 100000, 100000, 1); /* clamped so that rise + fall - 1 fits */
	cr_assert_leq((unsigned)rf.rise + rf.fall - 1, 0xffffu);
	cr_assert_eq(rf.up, 1);
}
