/*
 * DOC: address prefixes (CIDR)
 *
 * `10.0.0.0/8` and `2001:db8::/32` as operators write them in services[].allow and deny, and
 * the match of a client address against them. A bare address is a host prefix (/32, /128).
 * Host bits set below the length (`10.1.0.0/8`) are refused rather than masked: such a typo
 * usually means another prefix than the one that would be matched, and the message says what
 * to write. IPv4-mapped IPv6 clients (`::ffff:192.0.2.1`, a dual-stack socket's view of an IPv4
 * peer) match as the IPv4 address they are; an IPv4-mapped prefix is refused for the same
 * reason: it has an IPv4 spelling. An IPv4 prefix never matches an IPv6 client and the other
 * way round, /0 included.
 */
#ifndef ANYLB_LIB_CIDR_H
#define ANYLB_LIB_CIDR_H

#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	unsigned len;     /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network order, host bits zero; the first 4 bytes for IPv4 */
};

/* Room for any reason cidr_parse() gives, with its NUL. */
#define CIDR_WHY_MAX 128
/* Longest text cidr_format() writes, with its NUL. */
#define CIDR_STRLEN (INET6_ADDRSTRLEN + 5)

/*
 * Parses "ADDRESS" or "ADDRESS/LEN" (numeric, LEN without a sign or leading zero). Returns 0, or
 * -EINVAL with a short reason for an operator in why (CIDR_WHY_MAX bytes is always enough).
 */
int cidr_parse(const char *s, struct cidr *out, char *why, size_t cap);

/* "10.0.0.0/8" into buf (CIDR_STRLEN bytes). */
const char *cidr_format(const struct cidr *c, char *buf, size_t cap);

/* Is a's IP inside c? An IPv4-mapped IPv6 a is taken as its IPv4 address. */
int cidr_match(const struct cidr *c, const struct addr *a);

/* Is a inside any of v[0..n)? A linear scan: lists are short. */
int cidr_match_any(const struct cidr *v, size_t n, const struct addr *a);

#endif
