/*
 * DOC: DNS messages of the dns check (implementation)
 *
 * RFC 1035 section 4. The judge reads in message order and stops at the first thing that
 * decides: header, ID, truncation, question, rcode, then the answer section only when an
 * answer is expected. A name is read into its uncompressed wire form (at most 255 bytes) so
 * that comparing names is one case-insensitive memcmp of two wire forms.
 */
#include "health/dns_msg.h"

#include "lib/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DNS_CLASS_IN 1
#define DNS_MAX_HOPS 64 /* compression pointers followed in one name */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int dns_query_build(uint8_t *buf, size_t cap, const struct dns_want *w)
{
	size_t n = DNS_HEADER_LEN + w->qname_len + 4;

	if (n > cap)
		return -ENOSPC;
	memset(buf, 0, DNS_HEADER_LEN);
	put16(buf, w->id);
	buf[2] = 0x01; /* QR 0, opcode QUERY, RD */
	put16(buf + 4, 1);
	memcpy(buf + DNS_HEADER_LEN, w->qname, w->qname_len);
	put16(buf + DNS_HEADER_LEN + w->qname_len, w->qtype);
	put16(buf + DNS_HEADER_LEN + w->qname_len + 2, DNS_CLASS_IN);
	return (int)n;
}

/*
 * Reads the name at *off into out (wire form, lowercase, at most DNS_NAME_WIRE_MAX bytes) and
 * moves *off past it (past the first pointer, if any). 0, or -1 when it is not a valid name
 * inside m.
 */
static int read_name(const uint8_t *m, size_t len, size_t *off, uint8_t *out, size_t *olen)
{
	size_t p = *off, o = 0, end = 0;
	int hops = 0, jumped = 0;

	for (;;) {
		if (p >= len)
			return -1;
		uint8_t l = m[p];

		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > DNS_MAX_HOPS)
				return -1;
			if (!jumped)
				end = p + 2;
			jumped = 1;
			p = (size_t)(((l & 0x3f) << 8) | m[p + 1]);
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1; /* the extended label types are not for names in replies */
		if (o + 1 + l > DNS_NAME_WIRE_MAX || p + 1 + l > len)
			return -1;
		out[o++] = l;
		if (l == 0)
			break;
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = m[p + 1 + i];

			out[o++] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
		}
		p += 1 + (size_t)l;
	}
	*olen = o;
	*off = jumped ? end : p + 1;
	return 0;
}

static int name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = b[i];

		x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32) : x;
		y = (y >= 'A' && y <= 'Z') ? (uint8_t)(y + 32) : y;
		if (x != y)
			return 0;
	}
	return 1;
}

/* expect_answer as a name in wire form: the final dot optional. */
static int answer_name(const char *answer, uint8_t *out, size_t *olen)
{
	char abs[DNS_NAME_WIRE_MAX + 2];
	size_t n = strlen(answer);
	const char *why;

	if (n == 0 || n > DNS_NAME_WIRE_MAX)
		return -1;
	memcpy(abs, answer, n);
	if (abs[n - 1] != '.')
		abs[n++] = '.';
	abs[n] = '\0';
	return dns_name_to_wire(abs, out, olen, &why);
}

/* Whether the record data m[off..off+rdlen) of a record of type t holds w->answer. */
static int rdata_matches(
	const uint8_t *m, size_t len, size_t off, size_t rdlen, uint16_t t, const char *answer)
{
	uint8_t want[DNS_NAME_WIRE_MAX], got[DNS_NAME_WIRE_MAX];
	size_t wlen, glen, p = off;
	unsigned char addr[16];

	switch (t) {
	case DNS_TYPE_A:
		return rdlen == 4 && inet_pton(AF_INET, answer, addr) == 1 &&
		       memcmp(addr, m + off, 4) == 0;
	case DNS_TYPE_AAAA:
		return rdlen == 16 && inet_pton(AF_INET6, answer, addr) == 1 &&
		       memcmp(addr, m + off, 16) == 0;
	case DNS_TYPE_MX:
	case DNS_TYPE_CNAME:
	case DNS_TYPE_NS:
	case DNS_TYPE_PTR:
		if (t == DNS_TYPE_MX) { /* the preference, then the exchange */
			if (rdlen < 3)
				return 0;
			p += 2;
		}
		if (answer_name(answer, want, &wlen) < 0 || read_name(m, len, &p, got, &glen) < 0)
			return 0;
		return p <= off + rdlen && name_eq(want, wlen, got, glen);
	case DNS_TYPE_TXT: {
		size_t alen = strlen(answer), at = 0;

		while (p < off + rdlen) {
			size_t l = m[p++];

			if (p + l > off + rdlen || at + l > alen ||
				memcmp(m + p, answer + at, l) != 0)
				return 0;
			at += l;
			p += l;
		}
		return at == alen;
	}
	default:
		return 0;
	}
}

static int fail(char *why, size_t cap, const char *fmt, const char *arg)
{
	snprintf(why, cap, fmt, arg);
	return 0;
}

static int pass(char *why, size_t cap)
{
	snprintf(why, cap, "ok");
	return 1;
}

int dns_reply_judge(const uint8_t *m, size_t len, const struct dns_want *w, char *why, size_t cap)
{
	uint8_t name[DNS_NAME_WIRE_MAX];
	size_t nlen, off = DNS_HEADER_LEN;
	unsigned rcode, qd, an;
	char num[16];

	if (len < DNS_HEADER_LEN)
		return fail(why, cap, "bad DNS reply: %s", "shorter than a header");
	if (get16(m) != w->id)
		return fail(why, cap, "%s", "id mismatch");
	if (!(m[2] & 0x80))
		return fail(why, cap, "bad DNS reply: %s", "not a response");
	if (((m[2] >> 3) & 0x0f) != 0)
		return fail(why, cap, "bad DNS reply: %s", "not a standard query's response");
	if (m[2] & 0x02)
		return fail(why, cap, "%s", "truncated reply");
	rcode = m[3] & 0x0f;
	qd = get16(m + 4);
	an = get16(m + 6);
	if (qd == 0 && rcode != w->rcode)
		goto rcode; /* FORMERR and NOTIMP replies may leave the question out */
	if (qd != 1)
		return fail(why, cap, "%s", "question mismatch");
	if (read_name(m, len, &off, name, &nlen) < 0 || off + 4 > len)
		return fail(why, cap, "bad DNS reply: %s", "question cut short");
	if (!name_eq(name, nlen, w->qname, w->qname_len) || get16(m + off) != w->qtype ||
		get16(m + off + 2) != DNS_CLASS_IN)
		return fail(why, cap, "%s", "question mismatch");
	off += 4;
rcode:
	if (rcode != w->rcode) {
		const char *rn = dns_rcode_name(rcode);

		if (rn == NULL) {
			snprintf(num, sizeof(num), "%u", rcode);
			rn = num;
		}
		return fail(why, cap, "rcode %s", rn);
	}
	if (w->answer == NULL)
		return pass(why, cap);
	for (unsigned i = 0; i < an; i++) {
		size_t rdlen;
		uint16_t t, cls;

		if (read_name(m, len, &off, name, &nlen) < 0 || off + 10 > len)
			return fail(why, cap, "bad DNS reply: %s", "answer cut short");
		t = get16(m + off);
		cls = get16(m + off + 2);
		rdlen = get16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return fail(why, cap, "bad DNS reply: %s", "answer cut short");
		if (t == w->qtype && cls == DNS_CLASS_IN &&
			rdata_matches(m, len, off, rdlen, t, w->answer))
			return pass(why, cap);
		off += rdlen;
	}
	snprintf(why, cap, "answer does not contain '%.64s'", w->answer);
	return 0;
}
