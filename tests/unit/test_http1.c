/*
 * DOC: HTTP/1 grammar tests
 *
 * lib/http1.c on its own: the character classes against the RFC's lists byte by byte, tokens,
 * the version, field lines, list elements and decimal numbers with their bounds. What the two
 * parsers built on it accept is tested in test_http_resp.c and test_admin_http.c.
 */
#include "lib/http1.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#define S(lit) (lit), (sizeof(lit) - 1)

Test(http1, character_classes)
{
	const char *tchar_punct = "!#$%&'*+-.^_`|~";

	for (int c = 0; c < 256; c++) {
		char ch = (char)c;
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		int digit = c >= '0' && c <= '9';
		int punct = c != 0 && strchr(tchar_punct, c) != NULL;

		cr_expect_eq(http1_is_digit(ch), digit, "digit 0x%02x", c);
		cr_expect_eq(http1_is_ows(ch), c == ' ' || c == '\t', "ows 0x%02x", c);
		cr_expect_eq(http1_is_tchar(ch), alpha || digit || punct, "tchar 0x%02x", c);
		/* HTAB, SP, VCHAR (0x21-0x7e) and obs-text (0x80-0xff). */
		cr_expect_eq(http1_is_field_char(ch), c == '\t' || (c >= 0x20 && c != 0x7f),
			"field char 0x%02x", c);
	}
	cr_expect_not(http1_is_tchar(' '));
	cr_expect_not(http1_is_tchar(':'));
	cr_expect_not(http1_is_tchar('"'));
	cr_expect_not(http1_is_tchar('\0'));
	cr_expect_not(http1_is_field_char('\r'));
	cr_expect_not(http1_is_field_char('\n'));
	cr_expect_not(http1_is_field_char('\0'));
}

Test(http1, hex_value)
{
	for (int c = 0; c < 256; c++) {
		int want = -1;

		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		cr_expect_eq(http1_hex_value((char)c), want, "0x%02x", c);
	}
}

Test(http1, tokens)
{
	cr_expect_eq(http1_token_len(S("GET /")), 3);
	cr_expect_eq(http1_token_len(S("Content-Length: 5")), 14);
	cr_expect_eq(http1_token_len(S("x!#$%&'*+-.^_`|~y")), 17);
	cr_expect_eq(http1_token_len(S(" GET")), 0);
	cr_expect_eq(http1_token_len(S("")), 0);
	/* The length bounds it: no NUL is looked for. */
	cr_expect_eq(http1_token_len("chunkedXYZ", 7), 7);

	cr_expect(http1_token_is(S("Content-Length"), "content-length"));
	cr_expect(http1_token_is(S("CHUNKED"), "chunked"));
	cr_expect(http1_token_is("chunked, gzip", 7, "chunked"));
	cr_expect_not(http1_token_is(S("chunke"), "chunked"));
	cr_expect_not(http1_token_is(S("chunkedx"), "chunked"));
	cr_expect_not(http1_token_is(S("chunked;q=1"), "chunked"));
	cr_expect(http1_token_is(S(""), ""));
}

Test(http1, version)
{
	int major = -1, minor = -1;

	cr_expect_eq(http1_version(S("HTTP/1.1"), &major, &minor), 0);
	cr_expect_eq(major, 1);
	cr_expect_eq(minor, 1);
	cr_expect_eq(http1_version(S("HTTP/1.0"), &major, &minor), 0);
	cr_expect_eq(minor, 0);
	cr_expect_eq(http1_version(S("HTTP/2.7"), &major, &minor), 0);
	cr_expect_eq(major, 2);
	cr_expect_eq(minor, 7);
	/* Exactly eight bytes, case-sensitive name, one digit each side of the dot. */
	cr_expect_eq(http1_version(S("HTTP/1.1 "), &major, &minor), -EINVAL);
	cr_expect_eq(http1_version("HTTP/1.1", 7, &major, &minor), -EINVAL);
	cr_expect_eq(http1_version(S("http/1.1"), &major, &minor), -EINVAL);
	cr_expect_eq(http1_version(S("HTTP/1,1"), &major, &minor), -EINVAL);
	cr_expect_eq(http1_version(S("HTTP/x.1"), &major, &minor), -EINVAL);
	cr_expect_eq(http1_version(S("HTTP/1.x"), &major, &minor), -EINVAL);
	cr_expect_eq(http1_version(S("HTTP/11."), &major, &minor), -EINVAL);
}

static void expect_field(const char *line, const char *name, const char *value)
{
	size_t nlen = 99, vlen = 99;
	const char *v = NULL;

	cr_assert_eq(http1_field_split(line, strlen(line), &nlen, &v, &vlen), 0, "'%s'", line);
	cr_expect_eq(nlen, strlen(name), "'%s': name length %zu", line, nlen);
	cr_expect_eq(memcmp(line, name, nlen), 0, "'%s'", line);
	cr_expect_eq(vlen, strlen(value), "'%s': value length %zu", line, vlen);
	cr_expect_eq(memcmp(v, value, vlen), 0, "'%s'", line);
	cr_expect(v >= line && v + vlen <= line + strlen(line), "'%s': value outside", line);
}

Test(http1, field_split)
{
	expect_field("Host: example.com", "Host", "example.com");
	expect_field("Host:example.com", "Host", "example.com");
	expect_field("X: \t a b \t ", "X", "a b");
	expect_field("Empty:", "Empty", "");
	expect_field("Empty: \t ", "Empty", "");
	expect_field("A:b:c", "A", "b:c");
	expect_field("Weird: \x01\x7f\xff", "Weird", "\x01\x7f\xff"); /* not judged here */

	size_t nlen, vlen;
	const char *v;
	static const char *const bad[] = {
		"",            /* no name */
		": value",     /* no name */
		"Host",        /* no colon */
		"Host : x",    /* white space before the colon (RFC 9112 5.1) */
		" Host: x",    /* obs-fold, or leading white space */
		"Ho st: x",    /* not a token */
		"H\"ost\": x", /* not a token */
		"Host\r: x",   /* not a token */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(http1_field_split(bad[i], strlen(bad[i]), &nlen, &v, &vlen), -EINVAL,
			"'%s'", bad[i]);
}

/* Joins the list's elements with '|' into out. */
static const char *elements(const char *list, char *out, size_t cap)
{
	const char *e;
	size_t pos = 0, len, o = 0, n = strlen(list);

	out[0] = '\0';
	while (http1_list_next(list, n, &pos, &e, &len)) {
		cr_assert(len > 0, "empty element of '%s'", list);
		cr_assert(pos <= n, "'%s': pos %zu past %zu", list, pos, n);
		cr_assert(o + len + 2 <= cap);
		if (o > 0)
			out[o++] = '|';
		memcpy(out + o, e, len);
		o += len;
		out[o] = '\0';
	}
	cr_assert_eq(pos, n, "'%s': stopped at %zu", list, pos);
	/* Exhausted stays exhausted. */
	cr_assert_eq(http1_list_next(list, n, &pos, &e, &len), 0);
	return out;
}

Test(http1, list_elements)
{
	char out[128];

	cr_expect_str_eq(elements("", out, sizeof(out)), "");
	cr_expect_str_eq(elements("chunked", out, sizeof(out)), "chunked");
	cr_expect_str_eq(elements("gzip, chunked", out, sizeof(out)), "gzip|chunked");
	cr_expect_str_eq(elements("a,b,c", out, sizeof(out)), "a|b|c");
	cr_expect_str_eq(elements(" \t a \t ,\tb ", out, sizeof(out)), "a|b");
	/* Empty elements are skipped (RFC 9110 5.6.1). */
	cr_expect_str_eq(elements(",,a,, ,\t,b,", out, sizeof(out)), "a|b");
	cr_expect_str_eq(elements(" , ,, ", out, sizeof(out)), "");
	/* An element is everything between commas, parameters and inner spaces included. */
	cr_expect_str_eq(elements("chunked;q=1, x y", out, sizeof(out)), "chunked;q=1|x y");
	cr_expect_str_eq(elements("\"a\";b", out, sizeof(out)), "\"a\";b");

	/* The length bounds it, not a NUL. */
	const char *e;
	size_t pos = 0, len;
	cr_expect_eq(http1_list_next("ab,cd", 1, &pos, &e, &len), 1);
	cr_expect_eq(len, 1);
	cr_expect_eq(e[0], 'a');
	cr_expect_eq(http1_list_next("ab,cd", 1, &pos, &e, &len), 0);
}

static void expect_decimal(const char *s, uint64_t max, uint64_t want, size_t want_digits)
{
	uint64_t v = 12345;
	size_t k = 999;

	cr_expect_eq(http1_decimal(s, strlen(s), max, &v, &k), 0, "'%s'", s);
	cr_expect_eq(v, want, "'%s': %llu", s, (unsigned long long)v);
	cr_expect_eq(k, want_digits, "'%s': %zu digits", s, k);
}

static void expect_range(const char *s, uint64_t max)
{
	uint64_t v;
	size_t k;

	cr_expect_eq(http1_decimal(s, strlen(s), max, &v, &k), -ERANGE, "'%s' max %llu", s,
		(unsigned long long)max);
}

Test(http1, decimal)
{
	expect_decimal("0", UINT64_MAX, 0, 1);
	expect_decimal("5", UINT64_MAX, 5, 1);
	expect_decimal("1234", UINT64_MAX, 1234, 4);
	expect_decimal("007", UINT64_MAX, 7, 3);
	/* Stops at the first byte that is not a digit; none at all is 0 digits, not an error. */
	expect_decimal("12, 12", UINT64_MAX, 12, 2);
	expect_decimal("12x", UINT64_MAX, 12, 2);
	expect_decimal("", UINT64_MAX, 0, 0);
	expect_decimal("x1", UINT64_MAX, 0, 0);
	expect_decimal(" 1", UINT64_MAX, 0, 0);
	expect_decimal("-1", UINT64_MAX, 0, 0);
	expect_decimal("+1", UINT64_MAX, 0, 0);

	/* The whole range of uint64_t, and not one more. */
	expect_decimal("18446744073709551615", UINT64_MAX, UINT64_MAX, 20);
	expect_range("18446744073709551616", UINT64_MAX);
	expect_range("18446744073709551620", UINT64_MAX);
	expect_range("99999999999999999999", UINT64_MAX);
	expect_range("100000000000000000000", UINT64_MAX);
	expect_decimal(
		"0000000000000000000000000018446744073709551615", UINT64_MAX, UINT64_MAX, 46);

	/* Any bound, inclusive. */
	expect_decimal("65536", 65536, 65536, 5);
	expect_range("65537", 65536);
	expect_range("100000", 65536);
	expect_decimal("9", 9, 9, 1);
	expect_range("10", 9);
	expect_decimal("0", 0, 0, 1);
	expect_range("1", 0);
	expect_decimal("5", 5, 5, 1);
	expect_range("6", 5);

	/* The error comes at the digit that crosses the bound, before what follows is read. */
	expect_range("1000000x", 65536);
	expect_decimal("1000x000", 65536, 1000, 4);

	/* The length bounds it, not a NUL. */
	uint64_t v;
	size_t k;
	cr_expect_eq(http1_decimal("123456", 3, UINT64_MAX, &v, &k), 0);
	cr_expect_eq(v, 123);
	cr_expect_eq(k, 3);
}
