/*
 * DOC: slow start tests
 *
 * The ramp is linear, rounded up, at least 1, exact at both ends, and safe at the extremes of
 * weights, windows and clocks.
 */
#include "health/slowstart.h"

#include <criterion/criterion.h>

#include <stdint.h>

Test(slowstart, no_window_is_full_weight)
{
	cr_assert_eq(slowstart_weight(100, 1000, 1000, 0), 100);
	cr_assert_eq(slowstart_weight(7, 0, 0, 0), 7);
}

Test(slowstart, linear_ramp)
{
	/* weight 100 over 10 s from t = 5000 */
	cr_assert_eq(slowstart_weight(100, 5000, 5000, 10000), 1); /* never below 1 */
	cr_assert_eq(slowstart_weight(100, 5000, 5001, 10000), 1); /* ceil(0.01) */
	cr_assert_eq(slowstart_weight(100, 5000, 5100, 10000), 1);
	cr_assert_eq(slowstart_weight(100, 5000, 5101, 10000), 2);
	cr_assert_eq(slowstart_weight(100, 5000, 7500, 10000), 25);
	cr_assert_eq(slowstart_weight(100, 5000, 10000, 10000), 50);
	cr_assert_eq(slowstart_weight(100, 5000, 14999, 10000), 100); /* ceil(99.99) */
	cr_assert_eq(slowstart_weight(100, 5000, 15000, 10000), 100);
	cr_assert_eq(slowstart_weight(100, 5000, 99999999, 10000), 100);
}

Test(slowstart, monotonic_and_bounded)
{
	for (unsigned w = 1; w <= 1000; w = w * 3 + 1) {
		unsigned prev = 0;

		for (uint64_t t = 0; t <= 3000; t += 7) {
			unsigned e = slowstart_weight(w, 1000, 1000 + t, 2000);

			cr_assert_geq(e, 1);
			cr_assert_leq(e, w);
			cr_assert_geq(e, prev, "w %u t %lu", w, (unsigned long)t);
			prev = e;
		}
		cr_assert_eq(prev, w);
	}
}

Test(slowstart, weight_one_stays_one)
{
	for (uint64_t t = 0; t < 100; t++)
		cr_assert_eq(slowstart_weight(1, 0, t, 100), 1);
}

Test(slowstart, weight_zero_stays_zero)
{
	cr_assert_eq(slowstart_weight(0, 0, 50, 100), 0);
	cr_assert_eq(slowstart_weight(0, 0, 500, 100), 0);
}

Test(slowstart, clock_before_start)
{
	cr_assert_eq(slowstart_weight(100, 5000, 4000, 10000), 1);
}

/* Products beyond 64 bits and ends of the clock do not wrap. */
Test(slowstart, extremes)
{
	cr_assert_eq(
		slowstart_weight(UINT32_MAX, 0, UINT64_MAX / 2, UINT64_MAX), UINT32_MAX / 2 + 1);
	cr_assert_eq(slowstart_weight(1000, 0, UINT64_MAX - 1, UINT64_MAX), 1000);
	cr_assert_eq(slowstart_weight(1000, UINT64_MAX - 10, UINT64_MAX, 20), 500);
	cr_assert_eq(slowstart_weight(1000, UINT64_MAX - 30, UINT64_MAX, 20), 1000);
}
