/*
 * DOC: unit tests for the pump's pool of pipes and buffers (lb/pump.c)
 *
 * After a burst the pool holds up to `keep` idle pipes, two fds each; pump_pool_trim() must give
 * them back down to its floor, halving the excess per call, and never touch storage in use.
 */
#include "lb/pump.h"
#include "lib/dirent_count.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

Test(pump_pool, trim_gives_idle_pipes_back_down_to_the_floor)
{
	struct pump_pool pool;
	int fds0 = dirent_count("/proc/self/fd");

	cr_assert_eq(pump_pool_init(&pool, 256), 0);
	/* A burst left 200 idle pipes in the pool. */
	for (int i = 0; i < 200; i++) {
		struct pump_half h;
		pump_half_init(&h);
		cr_assert_eq(pipe2(h.pipe, O_NONBLOCK | O_CLOEXEC), 0);
		pump_half_release(&pool, &h);
	}
	cr_assert_eq(pool.npipes, 200);
	cr_assert_eq(dirent_count("/proc/self/fd"), fds0 + 400);

	pump_pool_trim(&pool, 16);
	cr_expect_eq(pool.npipes, 16 + 184 / 2, "half the excess goes per call");
	size_t before = pool.npipes;
	for (int i = 0; i < 20 && pool.npipes > 16; i++) {
		pump_pool_trim(&pool, 16);
		cr_assert_lt(pool.npipes, before);
		before = pool.npipes;
	}
	cr_expect_eq(pool.npipes, 16, "down to the floor within a few calls");
	cr_expect_eq(dirent_count("/proc/self/fd"), fds0 + 32, "the fds are closed");
	pump_pool_trim(&pool, 16);
	cr_expect_eq(pool.npipes, 16, "never below the floor");
	pump_pool_destroy(&pool);
	cr_expect_eq(dirent_count("/proc/self/fd"), fds0);
}
