/*
 * DOC: peer liveness tests
 *
 * lb/peer_live.c with time passed in: every peer alive at the start, silence for the timeout
 * (and not a millisecond less) takes one down, a heartbeat brings it back, "leaving" takes it
 * down at once, and the next peer the program forwards to skips the dead ones and falls back to
 * this box when none is left; what the replaced program forwarded to is inherited; a timeout of 0
 * judges no silence, only "leaving".
 */
#include "lb/peer_live.h"

#include <criterion/criterion.h>

Test(peer_live, every_peer_starts_alive_and_the_next_is_the_first)
{
	struct peer_live l;

	peer_live_init(&l, 4, 3000, 1000);
	for (size_t i = 1; i < 4; i++) {
		cr_assert_eq(peer_live_up(&l, i), 1);
		cr_assert_eq(l.p[i].ever, 0);
		cr_assert_str_eq(peer_live_why_name(l.p[i].why), "start");
	}
	cr_assert_eq(peer_live_next(&l), 1);
	cr_assert_eq(peer_live_tick(&l, 3999), 0);
}

Test(peer_live, silence_for_the_timeout_takes_a_peer_down_and_a_beat_brings_it_back)
{
	struct peer_live l;

	peer_live_init(&l, 3, 3000, 0);
	cr_assert_eq(peer_live_heard(&l, 2, 1000), 0, "already up");
	cr_assert_eq(peer_live_heard(&l, 1, 500), 0);
	cr_assert_eq(peer_live_tick(&l, 3499), 0);
	cr_assert_eq(peer_live_tick(&l, 3500), 1, "peer 1: silent 3000 ms");
	cr_assert_eq(peer_live_up(&l, 1), 0);
	cr_assert_eq(peer_live_up(&l, 2), 1);
	cr_assert_str_eq(peer_live_why_name(l.p[1].why), "silent");
	cr_assert_eq(peer_live_next(&l), 2, "the dead peer is skipped");
	cr_assert_eq(peer_live_tick(&l, 3600), 0, "down once");

	cr_assert_eq(peer_live_heard(&l, 1, 3700), 1);
	cr_assert_eq(peer_live_up(&l, 1), 1);
	cr_assert_eq(l.p[1].ever, 1);
	cr_assert_str_eq(peer_live_why_name(l.p[1].why), "heard");
	cr_assert_eq(peer_live_next(&l), 1);
}

Test(peer_live, a_peer_never_heard_goes_down_one_timeout_after_the_start)
{
	struct peer_live l;

	peer_live_init(&l, 2, 1000, 5000);
	cr_assert_eq(peer_live_tick(&l, 5999), 0);
	cr_assert_eq(peer_live_tick(&l, 6000), 1);
	cr_assert_eq(peer_live_next(&l), 0, "no peer left: this box takes everything");
}

Test(peer_live, leaving_is_down_at_once)
{
	struct peer_live l;

	peer_live_init(&l, 3, 3000, 0);
	cr_assert_eq(peer_live_left(&l, 1), 1);
	cr_assert_eq(peer_live_left(&l, 1), 0, "already down");
	cr_assert_str_eq(peer_live_why_name(l.p[1].why), "left");
	cr_assert_eq(peer_live_next(&l), 2);
	cr_assert_eq(peer_live_left(&l, 2), 1);
	cr_assert_eq(peer_live_next(&l), 0);
	cr_assert_eq(peer_live_heard(&l, 2, 10), 1, "back when it beats again");
	cr_assert_eq(peer_live_next(&l), 2);
}

Test(peer_live, this_box_and_indices_out_of_the_ring_are_ignored)
{
	struct peer_live l;

	peer_live_init(&l, 2, 3000, 0);
	cr_assert_eq(peer_live_left(&l, 0), 0);
	cr_assert_eq(peer_live_left(&l, 2), 0);
	cr_assert_eq(peer_live_heard(&l, 0, 1), 0);
	cr_assert_eq(peer_live_heard(&l, 7, 1), 0);
	cr_assert_eq(peer_live_up(&l, 0), 1, "this box is always up");
	cr_assert_eq(peer_live_next(&l), 1);
}

Test(peer_live, time_going_backwards_changes_nothing)
{
	struct peer_live l;

	peer_live_init(&l, 2, 3000, 10000);
	cr_assert_eq(peer_live_heard(&l, 1, 9000), 0);
	cr_assert_eq(l.p[1].heard_ms, 10000);
	cr_assert_eq(peer_live_tick(&l, 100), 0);
	cr_assert_eq(peer_live_up(&l, 1), 1);
}

Test(peer_live, a_timeout_of_0_judges_no_silence_but_leaving_counts)
{
	struct peer_live l;

	peer_live_init(&l, 3, 0, 0);
	cr_assert_eq(peer_live_tick(&l, 1000000), 0);
	cr_assert_eq(peer_live_up(&l, 1), 1);
	cr_assert_eq(peer_live_up(&l, 2), 1);
	cr_assert_eq(peer_live_left(&l, 1), 1, "it said so: no guessing");
	cr_assert_eq(peer_live_next(&l), 2);
	cr_assert_eq(peer_live_heard(&l, 1, 5), 1);
	cr_assert_eq(l.p[1].ever, 1);
	cr_assert_eq(peer_live_next(&l), 1);
}

Test(peer_live, the_next_peer_of_the_replaced_program_is_inherited_until_heard)
{
	struct peer_live l;

	peer_live_init(&l, 4, 3000, 0);
	peer_live_inherit(&l, 3);
	cr_assert_eq(peer_live_up(&l, 1), 0);
	cr_assert_eq(peer_live_up(&l, 2), 0);
	cr_assert_eq(peer_live_up(&l, 3), 1);
	cr_assert_str_eq(peer_live_why_name(l.p[1].why), "inherited");
	cr_assert_eq(peer_live_next(&l), 3, "forwarding goes on where the old program's did");
	cr_assert_eq(peer_live_heard(&l, 1, 10), 1);
	cr_assert_eq(peer_live_next(&l), 1);

	peer_live_init(&l, 4, 3000, 0);
	peer_live_inherit(&l, 0);
	peer_live_inherit(&l, 9);
	cr_assert_eq(peer_live_next(&l), 1, "an older program's 0, or nonsense, says nothing");
}

Test(peer_live, a_restart_of_the_clock_forgives_the_silence_before_it)
{
	struct peer_live l;

	peer_live_init(&l, 2, 1000, 0);
	peer_live_restart(&l, 5000);
	cr_assert_eq(peer_live_tick(&l, 5999), 0);
	cr_assert_eq(peer_live_tick(&l, 6000), 1);
}
