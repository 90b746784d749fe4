/*
 * DOC: DNS messages of the dns check (pure)
 *
 * The dns check asks one question (class IN, recursion desired, so that a resolver backend
 * answers as well as an authoritative one) and judges the one reply: the same ID, a response to
 * a standard query, not truncated, the same question (the name compared without regard to case,
 * RFC 4343), the expected rcode and, when asked for, an answer record of the queried type that
 * holds `expect_answer`:
 *
 *   A, AAAA            the address, compared as an address ("2001:db8::1" = "2001:DB8:0::1")
 *   CNAME, NS, PTR, MX the target name (MX: the exchange), without regard to case, the final
 *                      dot optional
 *   TXT                the record's strings joined, byte for byte
 *
 * Other types take no expect_answer (conf/ refuses it). Without expect_answer only the rcode
 * counts: NOERROR with an empty answer section (NODATA) passes a NOERROR check.
 *
 * The reply is outside input: every length and compression pointer is bounded by the message,
 * pointers are followed a bounded number of times, and nothing is allocated. Fuzzed
 * (fuzz/fuzz_dns_reply.c). Over TCP the caller strips the 2-byte length first.
 */
#ifndef ANYLB_HEALTH_DNS_MSG_H
#define ANYLB_HEALTH_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_QUERY_MAX  (DNS_HEADER_LEN + 255 + 4) /* header, the longest name, type, class */

struct dns_want {
	uint16_t id;
	uint16_t qtype;
	const uint8_t *qname; /* wire form (lib/dns.h dns_name_to_wire); not owned */
	size_t qname_len;
	unsigned rcode;     /* 0..15 */
	const char *answer; /* expect_answer as written, or NULL */
};

/*
 * Writes w's query into buf (cap bytes). Returns its length, or -ENOSPC when cap is too small
 * (DNS_QUERY_MAX always is enough).
 */
int dns_query_build(uint8_t *buf, size_t cap, const struct dns_want *w);

/*
 * Judges the reply m[0..len) against w. Returns 1 when it passes (why gets "ok"), else 0 with
 * why (cap bytes, the caller's) saying why in an operator's words: "id mismatch", "truncated
 * reply", "question mismatch", "rcode SERVFAIL", "answer does not contain '192.0.2.1'",
 * "bad DNS reply: ...".
 */
int dns_reply_judge(const uint8_t *m, size_t len, const struct dns_want *w, char *why, size_t cap);

#endif
