/*
 * DOC: address prefixes (CIDR)
 *
 * Parse and match; see cidr.h for what is refused and why. A match compares whole bytes first
 * and the last partial byte under a mask: no allocation, no branch on the family past the
 * first.
 */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

__attribute__((format(printf, 3, 4))) static int why_set(
	char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The bits of byte i that a prefix of len keeps. */
static uint8_t keep_mask(unsigned len, unsigned i)
{
	unsigned lo = i * 8;

	if (len >= lo + 8)
		return 0xff;
	if (len <= lo)
		return 0;
	return (uint8_t)(0xff << (8 - (len - lo)));
}

/* Are the bits of addr past len all zero? */
static int host_bits_clear(const uint8_t *addr, unsigned len, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		if ((addr[i] & (uint8_t)~keep_mask(len, i)) != 0)
			return 0;
	return 1;
}

static void mask(uint8_t *addr, unsigned len, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		addr[i] &= keep_mask(len, i);
}

int cidr_parse(const char *s, struct cidr *out, char *why, size_t cap)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t iplen = slash != NULL ? (size_t)(slash - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	if (iplen == 0 || iplen >= sizeof(ip))
		return why_set(why, cap, "not an IPv4 or IPv6 address");
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, out->addr) == 1) {
		out->family = AF_INET;
		out->len = 32;
	} else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
		out->family = AF_INET6;
		out->len = 128;
		if (memcmp(out->addr, v4mapped, sizeof(v4mapped)) == 0)
			return why_set(why, cap, "an IPv4-mapped IPv6 address: write it as IPv4");
	} else {
		return why_set(why, cap, "not an IPv4 or IPv6 address");
	}
	if (slash != NULL) {
		const char *p = slash + 1;
		unsigned n = 0, max = out->len;
		if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
			return why_set(why, cap, "bad prefix length: expected 0..%u", max);
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || n > max)
				return why_set(why, cap, "bad prefix length: expected 0..%u", max);
			n = n * 10 + (unsigned)(*p - '0');
		}
		if (n > max)
			return why_set(why, cap, "bad prefix length: expected 0..%u", max);
		out->len = n;
	}
	unsigned bytes = out->family == AF_INET ? 4 : 16;
	if (!host_bits_clear(out->addr, out->len, bytes)) {
		char fix[CIDR_STRLEN];
		mask(out->addr, out->len, bytes);
		cidr_format(out, fix, sizeof(fix));
		return why_set(why, cap, "host bits set: write '%s'", fix);
	}
	return 0;
}

const char *cidr_format(const struct cidr *c, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, cap, "%s/%u", ip, c->len);
	return buf;
}

/* The client's IP bytes and family, an IPv4-mapped IPv6 one as IPv4. */
static const uint8_t *client_bytes(const struct addr *a, int *family)
{
	if (a->sa.sa_family == AF_INET) {
		*family = AF_INET;
		return (const uint8_t *)&a->in.sin_addr;
	}
	if (a->sa.sa_family != AF_INET6) {
		*family = AF_UNSPEC;
		return NULL;
	}
	const uint8_t *b = a->in6.sin6_addr.s6_addr;
	if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
		*family = AF_INET;
		return b + 12;
	}
	*family = AF_INET6;
	return b;
}

static int match_bytes(const struct cidr *c, int family, const uint8_t *b)
{
	if (family != c->family)
		return 0;
	unsigned whole = c->len / 8, rest = c->len % 8;
	if (memcmp(c->addr, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (b[whole] & m) == c->addr[whole];
}

int cidr_match(const struct cidr *c, const struct addr *a)
{
	int family;
	const uint8_t *b = client_bytes(a, &family);

	return b != NULL && match_bytes(c, family, b);
}

int cidr_match_any(const struct cidr *v, size_t n, const struct addr *a)
{
	int family;
	const uint8_t *b = client_bytes(a, &family);

	for (size_t i = 0; b != NULL && i < n; i++)
		if (match_bytes(&v[i], family, b))
			return 1;
	return 0;
}
