/*
 * DOC: DNS messages of the dns check (health/dns_msg.c) and lib/dns.c
 *
 * Replies are written here byte by byte from RFC 1035, independently of the builder: names in
 * full and compressed, every answer type expect_answer knows, and the broken ones a backend or
 * the network may send (cut short, pointer loops, wrong IDs and questions).
 */
#include "health/dns_msg.h"
#include "lib/dns.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

/* www.example.org. in wire form */
static const uint8_t qname[] = {
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0};

static struct dns_want want(uint16_t qtype, const char *answer)
{
	return (struct dns_want){
		.id = 0xbeef,
		.qtype = qtype,
		.qname = qname,
		.qname_len = sizeof(qname),
		.rcode = 0,
		.answer = answer,
	};
}

/* A reply to want(qtype): header with flags and counts, the question, then the answers. */
struct msg {
	uint8_t b[1024];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	cr_assert_leq(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct msg *m, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(m, b, 2);
}

static struct msg reply(unsigned flags, unsigned ancount, uint16_t qtype)
{
	struct msg m = {.n = 0};

	put16(&m, 0xbeef);
	put16(&m, flags);
	put16(&m, 1);
	put16(&m, ancount);
	put16(&m, 0);
	put16(&m, 0);
	put(&m, qname, sizeof(qname));
	put16(&m, qtype);
	put16(&m, 1);
	return m;
}

/* An answer record owned by the question's name (pointer to offset 12). */
static void rr(struct msg *m, uint16_t type, const void *rdata, size_t rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
}

static int judge(const struct msg *m, const struct dns_want *w, char *why)
{
	return dns_reply_judge(m->b, m->n, w, why, 160);
}

#define RESP 0x8180 /* QR, RD, RA, NOERROR */

Test(dns_msg, query_layout)
{
	struct dns_want w = want(DNS_TYPE_AAAA, NULL);
	uint8_t q[DNS_QUERY_MAX];
	int n = dns_query_build(q, sizeof(q), &w);

	cr_assert_eq(n, 12 + (int)sizeof(qname) + 4);
	cr_assert_eq(q[0], 0xbe);
	cr_assert_eq(q[1], 0xef);
	cr_assert_eq(q[2], 0x01, "a query with RD only");
	cr_assert_eq(q[3], 0x00);
	cr_assert_eq(q[5], 1, "one question");
	cr_assert_eq(q[7] | q[9] | q[11], 0);
	cr_assert_eq(memcmp(q + 12, qname, sizeof(qname)), 0);
	cr_assert_eq(q[12 + sizeof(qname) + 1], 28);
	cr_assert_eq(q[12 + sizeof(qname) + 3], 1, "class IN");
	cr_assert_eq(dns_query_build(q, (size_t)n - 1, &w), -ENOSPC);
}

Test(dns_msg, rcode_and_nodata)
{
	struct dns_want w = want(DNS_TYPE_A, NULL);
	char why[160];
	struct msg m = reply(RESP, 0, DNS_TYPE_A);

	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	cr_assert_str_eq(why, "ok");
	m = reply(RESP | 2, 0, DNS_TYPE_A);
	cr_assert_eq(judge(&m, &w, why), 0);
	cr_assert_str_eq(why, "rcode SERVFAIL");
	m = reply(RESP | 5, 0, DNS_TYPE_A);
	judge(&m, &w, why);
	cr_assert_str_eq(why, "rcode REFUSED");
	m = reply(RESP | 13, 0, DNS_TYPE_A);
	judge(&m, &w, why);
	cr_assert_str_eq(why, "rcode 13");
	w.rcode = 3; /* a check that wants NXDOMAIN */
	m = reply(RESP | 3, 0, DNS_TYPE_A);
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
}

Test(dns_msg, header_faults)
{
	struct dns_want w = want(DNS_TYPE_A, NULL);
	char why[160];
	struct msg m = reply(RESP, 0, DNS_TYPE_A);

	cr_assert_eq(dns_reply_judge(m.b, 11, &w, why, sizeof(why)), 0);
	cr_assert_str_eq(why, "bad DNS reply: shorter than a header");
	m.b[1] ^= 1;
	judge(&m, &w, why);
	cr_assert_str_eq(why, "id mismatch");
	m = reply(RESP | 0x0200, 0, DNS_TYPE_A);
	judge(&m, &w, why);
	cr_assert_str_eq(why, "truncated reply");
	m = reply(0x0100, 0, DNS_TYPE_A); /* our own query coming back */
	judge(&m, &w, why);
	cr_assert_str_eq(why, "bad DNS reply: not a response");
	m = reply(RESP, 0, DNS_TYPE_AAAA);
	judge(&m, &w, why);
	cr_assert_str_eq(why, "question mismatch");
	m = reply(RESP, 0, DNS_TYPE_A);
	m.b[18] = 'X'; /* www.eXample.org: names compare without regard to case */
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	m.b[13 + 4] = 'z';
	judge(&m, &w, why);
	cr_assert_str_eq(why, "question mismatch");
	m = reply(RESP, 0, DNS_TYPE_A);
	m.n -= 3;
	judge(&m, &w, why);
	cr_assert_str_eq(why, "bad DNS reply: question cut short");
}

Test(dns_msg, formerr_without_question)
{
	struct dns_want w = want(DNS_TYPE_A, NULL);
	char why[160];
	struct msg m = reply(RESP | 1, 0, DNS_TYPE_A);

	m.b[5] = 0; /* qdcount 0 */
	m.n = 12;
	judge(&m, &w, why);
	cr_assert_str_eq(why, "rcode FORMERR");
	m.b[3] = 0x80; /* NOERROR without the question is no answer to ours */
	judge(&m, &w, why);
	cr_assert_str_eq(why, "question mismatch");
}

Test(dns_msg, answer_addresses)
{
	static const uint8_t a[] = {192, 0, 2, 10}, other[] = {192, 0, 2, 11};
	static const uint8_t aaaa[] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
	struct dns_want w = want(DNS_TYPE_A, "192.0.2.10");
	char why[160];
	struct msg m = reply(RESP, 2, DNS_TYPE_A);

	rr(&m, DNS_TYPE_A, other, 4);
	rr(&m, DNS_TYPE_A, a, 4);
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	w.answer = "192.0.2.12";
	cr_assert_eq(judge(&m, &w, why), 0);
	cr_assert_str_eq(why, "answer does not contain '192.0.2.12'");
	m.n -= 2; /* the last record's data cut short */
	w.answer = "192.0.2.10";
	judge(&m, &w, why);
	cr_assert_str_eq(why, "bad DNS reply: answer cut short");

	w = want(DNS_TYPE_AAAA, "2001:DB8:0::10");
	m = reply(RESP, 1, DNS_TYPE_AAAA);
	rr(&m, DNS_TYPE_AAAA, aaaa, 16);
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
}

Test(dns_msg, answer_names_and_text)
{
	/* CNAME to mail.Example.ORG, written with a pointer to "example.org" in the question */
	static const uint8_t cname[] = {4, 'm', 'a', 'i', 'l', 0xc0, 16};
	static const uint8_t mx[] = {0, 10, 2, 'm', 'x', 0xc0, 16};
	static const uint8_t txt[] = {3, 'v', '=', '1', 4, ' ', 'o', 'k', '!'};
	struct dns_want w = want(DNS_TYPE_CNAME, "MAIL.example.org");
	char why[160];
	struct msg m = reply(RESP, 1, DNS_TYPE_CNAME);

	rr(&m, DNS_TYPE_CNAME, cname, sizeof(cname));
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	w.answer = "mail.example.org.";
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	w.answer = "mail.example.net.";
	cr_assert_eq(judge(&m, &w, why), 0);

	w = want(DNS_TYPE_MX, "mx.example.org.");
	m = reply(RESP, 1, DNS_TYPE_MX);
	rr(&m, DNS_TYPE_MX, mx, sizeof(mx));
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);

	w = want(DNS_TYPE_TXT, "v=1 ok!");
	m = reply(RESP, 1, DNS_TYPE_TXT);
	rr(&m, DNS_TYPE_TXT, txt, sizeof(txt));
	cr_assert_eq(judge(&m, &w, why), 1, "%s", why);
	w.answer = "v=1";
	cr_assert_eq(judge(&m, &w, why), 0, "a prefix is not the text");
}

Test(dns_msg, pointer_loop_and_bad_labels)
{
	struct dns_want w = want(DNS_TYPE_A, "192.0.2.10");
	char why[160];
	struct msg m = reply(RESP, 1, DNS_TYPE_A);
	size_t at = m.n;

	put16(&m, 0xc000 | (unsigned)at); /* an owner name that points at itself */
	put16(&m, DNS_TYPE_A);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 300);
	put16(&m, 4);
	put(&m, "\xc0\x00\x02\x0a", 4);
	judge(&m, &w, why);
	cr_assert_str_eq(why, "bad DNS reply: answer cut short");
	m.b[at] = 0x40; /* an extended label type */
	judge(&m, &w, why);
	cr_assert_str_eq(why, "bad DNS reply: answer cut short");
}

Test(dns_names, wire_form)
{
	uint8_t out[DNS_NAME_WIRE_MAX];
	size_t len;
	const char *why = NULL;
	char big[300];

	cr_assert_eq(dns_name_to_wire("www.example.org.", out, &len, &why), 0);
	cr_assert_eq(len, sizeof(qname));
	cr_assert_eq(memcmp(out, qname, len), 0);
	cr_assert_eq(dns_name_to_wire(".", out, &len, &why), 0);
	cr_assert_eq(len, 1);
	cr_assert_eq(dns_name_to_wire("example.org", out, &len, &why), -EINVAL);
	cr_assert_str_eq(why, "must be absolute (end in '.')");
	cr_assert_eq(dns_name_to_wire("a..b.", out, &len, &why), -EINVAL);
	cr_assert_str_eq(why, "has an empty label");
	cr_assert_eq(dns_name_to_wire("a b.", out, &len, &why), -EINVAL);
	memset(big, 'a', 64);
	strcpy(big + 64, ".");
	cr_assert_eq(dns_name_to_wire(big, out, &len, &why), -EINVAL);
	cr_assert_str_eq(why, "has a label longer than 63 bytes");
	for (int i = 0; i < 64; i++)
		memcpy(big + 4 * i, "abc.", 4);
	big[256] = '\0'; /* 64 labels of 3: 257 bytes in wire form */
	cr_assert_eq(dns_name_to_wire(big, out, &len, &why), -EINVAL);
	cr_assert_str_eq(why, "is longer than 255 bytes in wire form");
	big[4 * 63] = '\0'; /* 63 labels: 253 bytes */
	cr_assert_eq(dns_name_to_wire(big, out, &len, &why), 0);
	cr_assert_eq(len, 253);
}

Test(dns_names, types_and_rcodes)
{
	uint16_t t;
	unsigned rc;

	cr_assert_eq(dns_type_from_name("aaaa", &t), 0);
	cr_assert_eq(t, 28);
	cr_assert_eq(dns_type_from_name("ANY", &t), -EINVAL);
	cr_assert_str_eq(dns_type_name(DNS_TYPE_SOA), "SOA");
	cr_assert_null(dns_type_name(255));
	cr_assert_eq(dns_rcode_from_name("servfail", &rc), 0);
	cr_assert_eq(rc, 2);
	cr_assert_str_eq(dns_rcode_name(5), "REFUSED");
	cr_assert_null(dns_rcode_name(11));
}
