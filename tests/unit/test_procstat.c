/*
 * DOC: the process_* figures are read from the right fields
 */
#include "lib/procstat.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <time.h>

/* A /proc/self/stat line whose command name holds ") (" and spaces. */
#define STAT                                                                                       \
	"4242 (any lb) (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 "            \
	"12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 "       \
	"0\n"

Test(procstat, fields_after_the_last_parenthesis)
{
	struct procstat ps;

	cr_assert_eq(procstat_parse(STAT, 100, 4096, 1700000000, &ps), 0);
	cr_expect_float_eq(ps.cpu_seconds, 4.0, 1e-9, "250 + 150 ticks at 100/s");
	cr_expect_eq(ps.vsize_bytes, 104857600);
	cr_expect_eq(ps.rss_bytes, 2560ull * 4096);
	cr_expect_float_eq(ps.start_time, 1700000123.45, 1e-6);
}

Test(procstat, malformed_lines_are_refused)
{
	struct procstat ps;

	cr_expect_eq(procstat_parse("", 100, 4096, 0, &ps), -EINVAL);
	cr_expect_eq(procstat_parse("1 (a) S 1 2 3", 100, 4096, 0, &ps), -EINVAL, "too short");
	cr_expect_eq(procstat_parse("1 (a)S 1", 100, 4096, 0, &ps), -EINVAL);
	cr_expect_eq(procstat_parse(STAT, 0, 4096, 0, &ps), -EINVAL, "no tick rate");
	cr_expect_eq(procstat_parse("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0 20 0 1 0 1 1 1\n", 100,
			     4096, 0, &ps),
		-EINVAL, "a letter where utime is");
}

Test(procstat, boot_time_from_proc_stat)
{
	uint64_t bt = 0;

	cr_expect_eq(
		procstat_boot_time("cpu  1 2 3\ncpu0 1 2 3\nintr 5\nbtime 1699999999\n", &bt), 0);
	cr_expect_eq(bt, 1699999999);
	cr_expect_eq(procstat_boot_time("cpu 1 2 3\n", &bt), -EINVAL);
}

Test(procstat, this_process)
{
	struct procstat ps;

	cr_assert_eq(procstat_read(&ps), 0);
	cr_expect_gt(ps.rss_bytes, 0);
	cr_expect_geq(ps.vsize_bytes, ps.rss_bytes);
	double now = (double)time(NULL);
	cr_expect(ps.start_time > now - 3600 && ps.start_time <= now + 1, "started %f, now %f",
		ps.start_time, now);
	cr_expect_gt(procstat_max_fds(), 2);
}
