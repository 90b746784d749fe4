/*
 * DOC: unit tests for lib/strbuf.c: bounded copies and growing text
 */
#include "lib/strbuf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

Test(strbuf, str_copy_cuts_on_purpose_and_says_so)
{
	char b[6];

	cr_expect_eq(str_copy(b, sizeof(b), "abc"), 3);
	cr_expect_str_eq(b, "abc");
	cr_expect_eq(str_copy(b, sizeof(b), "abcdefgh"), 8, "the whole length, >= cap: cut");
	cr_expect_str_eq(b, "abcde");
	cr_expect_eq(str_copy(b, sizeof(b), NULL), 0);
	cr_expect_str_eq(b, "");
	cr_expect_eq(str_copy(b, 0, "x"), 1, "cap 0 writes nothing");
}

Test(strbuf, grows_past_its_first_size_and_keeps_every_byte)
{
	struct strbuf b = {0};
	size_t len;

	for (int i = 0; i < 2000; i++)
		strbuf_printf(&b, "%04d,", i);
	cr_assert_eq(b.err, 0);
	char *t = strbuf_take(&b, &len);
	cr_assert_not_null(t);
	cr_expect_eq(len, 10000);
	cr_expect_eq(strlen(t), 10000);
	cr_expect_eq(strncmp(t, "0000,0001,", 10), 0);
	cr_expect_str_eq(t + 9995, "1999,");
	free(t);
	cr_expect_null(b.p, "empty after take");
}

Test(strbuf, a_limit_is_an_error_and_stops_the_writing)
{
	struct strbuf b = {.max = 100};
	size_t len = 7;

	strbuf_printf(&b, "%s", "short");
	cr_expect_eq(b.err, 0);
	char big[200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_printf(&b, "%s", big);
	cr_expect_eq(b.err, -E2BIG);
	strbuf_printf(&b, "more");
	cr_expect_eq(b.len, 5, "nothing written after a failure");
	cr_expect_null(strbuf_take(&b, &len));
	cr_expect_eq(len, 0);
	cr_expect_eq(b.max, 100, "the limit stays for the next use");
}

Test(strbuf, nothing_written_is_the_empty_text)
{
	struct strbuf b = {0};
	size_t len = 7;
	char *t = strbuf_take(&b, &len);

	cr_assert_not_null(t);
	cr_expect_str_eq(t, "");
	cr_expect_eq(len, 0);
	free(t);
}
