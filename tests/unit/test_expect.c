/*
 * DOC: send/expect matcher tests
 *
 * The matcher must see the expected string wherever the reply is cut: inside one piece, across
 * two, across many one-byte pieces, and after pieces far larger than the string. Each case is
 * checked against a search of everything fed so far; fuzz/fuzz_expect.c does the same with
 * arbitrary bytes.
 */
#include "health/expect.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/* Feeds reply in pieces of `step` bytes; returns the 1-based piece that matched, or 0. */
static size_t feed_steps(const char *want, const char *reply, size_t len, size_t step)
{
	struct expect_match m;
	size_t piece = 0;

	cr_assert_eq(expect_match_init(&m, want, strlen(want)), 0);
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		/* An exact-size copy: the ASan build sees a read past a piece. */
		char *p = malloc(n);

		cr_assert_not_null(p);
		memcpy(p, reply + off, n);
		piece++;
		int got = expect_match_feed(&m, p, n);
		free(p);
		cr_assert_eq(got, memmem(reply, off + n, want, strlen(want)) != NULL,
			"want '%s', %zu bytes in pieces of %zu", want, off + n, step);
		if (got) {
			expect_match_free(&m);
			return piece;
		}
	}
	expect_match_free(&m);
	return 0;
}

Test(expect, every_cut)
{
	static const char reply[] = "220 mx.example.net ESMTP Postfix (Debian/GNU)\r\n";
	static const char *const wants[] = {"2", "220 ", "ESMTP", "Postfix (Debian/GNU)\r\n", "\n"};

	for (size_t w = 0; w < sizeof(wants) / sizeof(wants[0]); w++)
		for (size_t step = 1; step <= sizeof(reply); step++)
			cr_expect_gt(feed_steps(wants[w], reply, sizeof(reply) - 1, step), 0,
				"'%s' in pieces of %zu", wants[w], step);
}

Test(expect, absent_and_near_misses)
{
	static const char reply[] = "+PONG\r\n+PON\r\nPONg PO NG";

	for (size_t step = 1; step <= sizeof(reply); step++) {
		cr_expect_eq(feed_steps("PONGS", reply, sizeof(reply) - 1, step), 0);
		cr_expect_eq(feed_steps("NG\r\nX", reply, sizeof(reply) - 1, step), 0);
	}
}

Test(expect, large_pieces_and_late_match)
{
	size_t len = 100000;
	char *reply = malloc(len);

	cr_assert_not_null(reply);
	memset(reply, 'a', len);
	memcpy(reply + len - 5, "abcde", 5);
	cr_expect_eq(feed_steps("aabcde", reply, len, 4096), (len + 4095) / 4096);
	cr_expect_eq(feed_steps("aabcde", reply, len, len), 1);
	cr_expect_eq(feed_steps("abcdf", reply, len, 7), 0);
	free(reply);
}

Test(expect, final_once_matched)
{
	struct expect_match m;

	cr_assert_eq(expect_match_init(&m, "OK", 2), 0);
	cr_expect_eq(expect_match_feed(&m, "O", 1), 0);
	cr_expect_eq(expect_match_feed(&m, "", 0), 0);
	cr_expect_eq(expect_match_feed(&m, "K", 1), 1);
	cr_expect_eq(expect_match_feed(&m, "xx", 2), 1);
	expect_match_free(&m);
	expect_match_free(&m); /* twice: harmless */
}
