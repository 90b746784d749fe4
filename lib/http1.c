/*
 * DOC: HTTP/1 grammar (implementation)
 *
 * Written once for the two parsers that read HTTP/1 (see http1.h). Nothing here decides what a
 * parser accepts: a function answers what the bytes are and the parser says what that means,
 * so the check parser can stay lenient where a backend's answer is harmless and the admin
 * parser strict where leniency would help request smuggling.
 */
#include "lib/http1.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int http1_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int http1_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int http1_is_tchar(char c)
{
	unsigned char u = (unsigned char)c;

	if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || http1_is_digit(c))
		return 1;
	return u != 0 && strchr("!#$%&'*+-.^_`|~", u) != NULL;
}

int http1_is_field_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u == '\t' || (u >= 0x20 && u != 0x7f);
}

int http1_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t http1_token_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && http1_is_tchar(s[i]))
		i++;
	return i;
}

int http1_token_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

int http1_version(const char *s, size_t n, int *major, int *minor)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || !http1_is_digit(s[5]) || s[6] != '.' ||
		!http1_is_digit(s[7]))
		return -EINVAL;
	*major = s[5] - '0';
	*minor = s[7] - '0';
	return 0;
}

/* Narrows [*a, *b) of s to what lies between the OWS at both ends. */
static void trim_ows(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && http1_is_ows(s[*a]))
		(*a)++;
	while (*b > *a && http1_is_ows(s[*b - 1]))
		(*b)--;
}

int http1_field_split(
	const char *line, size_t len, size_t *name_len, const char **value, size_t *value_len)
{
	size_t nlen = http1_token_len(line, len), vs, ve;

	if (nlen == 0 || nlen == len || line[nlen] != ':')
		return -EINVAL;
	vs = nlen + 1;
	ve = len;
	trim_ows(line, &vs, &ve);
	*name_len = nlen;
	*value = line + vs;
	*value_len = ve - vs;
	return 0;
}

int http1_list_next(const char *v, size_t n, size_t *pos, const char **elem, size_t *elem_len)
{
	while (*pos < n) {
		const char *comma = memchr(v + *pos, ',', n - *pos);
		size_t a = *pos, b = comma != NULL ? (size_t)(comma - v) : n;

		*pos = comma != NULL ? b + 1 : n;
		trim_ows(v, &a, &b);
		if (b > a) {
			*elem = v + a;
			*elem_len = b - a;
			return 1;
		}
	}
	return 0;
}

int http1_decimal(const char *s, size_t n, uint64_t max, uint64_t *value, size_t *ndigits)
{
	uint64_t x = 0;
	size_t i = 0;

	for (; i < n && http1_is_digit(s[i]); i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > max || x > (max - d) / 10)
			return -ERANGE;
		x = x * 10 + d;
	}
	*value = x;
	*ndigits = i;
	return 0;
}
