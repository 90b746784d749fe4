/*
 * DOC: duration parser tests
 *
 * The forms docs/CONFIG.md promises (an integer without a leading zero, then ms, s, m or h) and
 * the bound of 2^32 ms, straight against lib/duration; the messages built on them are in the
 * golden files (tests/conf/err-bad-duration.yaml, err-duration-leading-zero.yaml).
 */
#include "lib/duration.h"

#include <criterion/criterion.h>

#include <errno.h>

static void expect_ms(const char *s, uint64_t want)
{
	uint64_t ms = 12345;

	cr_expect_eq(duration_parse(s, &ms), 0, "%s", s);
	cr_expect_eq(ms, want, "%s: %llu", s, (unsigned long long)ms);
}

static void expect_rc(const char *s, int want)
{
	uint64_t ms = 12345;

	cr_expect_eq(duration_parse(s, &ms), want, "%s", s);
	cr_expect_eq(ms, 12345, "%s: output written on failure", s);
}

Test(duration, documented_forms)
{
	expect_ms("0s", 0);
	expect_ms("0ms", 0);
	expect_ms("250ms", 250);
	expect_ms("2s", 2000);
	expect_ms("5m", 300000);
	expect_ms("1h", 3600000);
	expect_ms("10s", 10000);
	expect_ms("1193h", UINT64_C(1193) * 3600000);
	expect_ms("4294967296ms", UINT64_C(1) << 32);
}

Test(duration, leading_zeros_refused)
{
	expect_rc("01s", -EINVAL);
	expect_rc("00s", -EINVAL);
	expect_rc("0250ms", -EINVAL);
	expect_rc("00000000000000000000001h", -EINVAL); /* not a way around the range check */
}

Test(duration, bad_forms_and_range)
{
	expect_rc("", -EINVAL);
	expect_rc("0", -EINVAL);
	expect_rc("30", -EINVAL);
	expect_rc("s", -EINVAL);
	expect_rc("1.5s", -EINVAL);
	expect_rc("-5m", -EINVAL);
	expect_rc("30 s", -EINVAL);
	expect_rc("1d", -EINVAL);
	expect_rc("1S", -EINVAL);
	expect_rc("4294967297ms", -ERANGE);
	expect_rc("1194h", -ERANGE);
	expect_rc("99999999999999999999999s", -ERANGE);
}
