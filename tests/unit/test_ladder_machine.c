/*
 * DOC: drain ladder tests
 *
 * bgp/ladder.c with time passed in: every step and its exit (the window, no session left,
 * drain_timeout), a window of 0, drain twice, undrain from each step, the level a mechanism is
 * told (health's withdrawal wins), deadlines and time left, and a ladder restored from an old
 * process's ages.
 */
#include "bgp/ladder.h"

#include <criterion/criterion.h>

#include <stdint.h>

Test(ladder, starts_announced_with_no_deadline)
{
	struct ladder l;

	ladder_init(&l);
	cr_assert_eq(l.step, LADDER_ANNOUNCED);
	cr_assert_eq(ladder_deadline(&l), UINT64_MAX);
	cr_assert_eq(ladder_left_ms(&l, 5), 0);
	cr_assert_eq(ladder_level(&l, 1), 1);
	cr_assert_eq(ladder_level(&l, 0), 0);
	cr_assert_eq(ladder_tick(&l, 0, 1000000), 0);
}

Test(ladder, the_whole_ladder_by_time_and_sessions)
{
	struct ladder l;

	ladder_init(&l);
	cr_assert_eq(ladder_drain(&l, 30000, 60000, 1000), 1);
	cr_assert_eq(l.step, LADDER_DEPREFERRED);
	cr_assert_eq(ladder_level(&l, 1), 2);
	cr_assert_eq(ladder_level(&l, 0), 0, "health's withdrawal wins over the ladder");
	cr_assert_eq(ladder_deadline(&l), 31000);
	cr_assert_eq(ladder_left_ms(&l, 21000), 10000);
	cr_assert_eq(ladder_tick(&l, 5, 30999), 0);
	cr_assert_eq(l.step, LADDER_DEPREFERRED);
	cr_assert_eq(ladder_tick(&l, 5, 31000), 1);
	cr_assert_eq(l.step, LADDER_WITHDRAWN);
	cr_assert_eq(ladder_level(&l, 1), 0);
	cr_assert_eq(ladder_deadline(&l), 91000);
	cr_assert_eq(ladder_tick(&l, 5, 50000), 0, "sessions left, timeout not over");
	cr_assert_eq(ladder_tick(&l, 0, 50001), 1);
	cr_assert_eq(l.step, LADDER_DONE);
	cr_assert_str_eq(l.reason, "withdrawn and no session left");
	cr_assert_eq(ladder_level(&l, 1), 0);
	cr_assert_eq(ladder_deadline(&l), UINT64_MAX);
	cr_assert_eq(ladder_tick(&l, 0, 99999999), 0);
}

Test(ladder, drain_timeout_ends_the_wait_for_sessions)
{
	struct ladder l;

	ladder_init(&l);
	ladder_drain(&l, 1000, 5000, 0);
	cr_assert_eq(ladder_tick(&l, 3, 1000), 1);
	cr_assert_eq(ladder_tick(&l, 3, 5999), 0);
	cr_assert_eq(ladder_tick(&l, 3, 6000), 1);
	cr_assert_eq(l.step, LADDER_DONE);
	cr_assert_str_eq(l.reason, "withdrawn and drain_timeout over");
}

Test(ladder, no_window_withdraws_at_once)
{
	struct ladder l;

	ladder_init(&l);
	cr_assert_eq(ladder_drain(&l, 0, 5000, 100), 1);
	cr_assert_eq(l.step, LADDER_WITHDRAWN);
	cr_assert_eq(ladder_level(&l, 1), 0);
}

Test(ladder, a_second_drain_changes_nothing)
{
	struct ladder l;

	ladder_init(&l);
	ladder_drain(&l, 1000, 5000, 0);
	cr_assert_eq(ladder_drain(&l, 9000, 9000, 500), 0);
	cr_assert_eq(ladder_deadline(&l), 1000);
}

Test(ladder, undrain_from_every_step)
{
	for (int s = LADDER_DEPREFERRED; s <= LADDER_DONE; s++) {
		struct ladder l;
		ladder_init(&l);
		ladder_drain(&l, 1000, 1000, 0);
		for (uint64_t t = 1000; l.step != (enum ladder_step)s && t < 10000; t += 1000)
			ladder_tick(&l, 1, t);
		cr_assert_eq(l.step, (enum ladder_step)s);
		cr_assert_eq(ladder_undrain(&l, 20000), 1);
		cr_assert_eq(l.step, LADDER_ANNOUNCED);
		cr_assert_eq(ladder_level(&l, 1), 1);
		cr_assert_eq(ladder_undrain(&l, 20001), 0);
	}
}

Test(ladder, names_both_ways)
{
	for (int s = LADDER_ANNOUNCED; s <= LADDER_DONE; s++)
		cr_assert_eq(ladder_step_from_name(ladder_step_name((enum ladder_step)s)), s);
	cr_assert_eq(ladder_step_from_name("draining"), -1);
}

Test(ladder, restored_with_its_age)
{
	struct ladder l;

	cr_assert_eq(ladder_restore(&l, LADDER_DEPREFERRED, 4000, 10000, 60000, 100000), 0);
	cr_assert_eq(l.step, LADDER_DEPREFERRED);
	cr_assert_eq(ladder_left_ms(&l, 100000), 6000);
	cr_assert_eq(ladder_tick(&l, 1, 106000), 1);
	cr_assert_eq(l.step, LADDER_WITHDRAWN);
	cr_assert_eq(ladder_restore(&l, 9, 0, 0, 0, 5), -1);
	cr_assert_eq(l.step, LADDER_ANNOUNCED);
}
