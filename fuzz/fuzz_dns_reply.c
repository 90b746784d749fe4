/*
 * DOC: fuzz target: the DNS reply judge of dns checks (health/dns_msg.c)
 *
 * The input is a reply to a query for www.example.org.; its last byte chooses the query type,
 * the expected rcode and the expect_answer among a few that fit each type (or none). Beyond
 * "no crash" on an exact-size copy of the reply: a verdict is 0 or 1 with a one-line reason,
 * "ok" exactly when it passes; a pass means a whole header with our ID, a response, no TC bit
 * and the expected rcode, and with expect_answer at least one answer record; and the verdict
 * does not depend on the room given for the reason.
 */
#include "fuzz/fuzz.h"
#include "health/dns_msg.h"
#include "lib/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t qname[] = {
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0};

static const struct {
	uint16_t type;
	const char *answer;
} choices[] = {
	{DNS_TYPE_A, NULL},
	{DNS_TYPE_A, "192.0.2.10"},
	{DNS_TYPE_AAAA, "2001:db8::10"},
	{DNS_TYPE_CNAME, "mail.example.org."},
	{DNS_TYPE_NS, "ns1.example.org"},
	{DNS_TYPE_PTR, "www.example.org."},
	{DNS_TYPE_MX, "mx.example.org."},
	{DNS_TYPE_TXT, "v=1 ok"},
	{DNS_TYPE_SOA, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t sel = fuzz_u8(&in);
	size_t nch = sizeof(choices) / sizeof(choices[0]);
	struct dns_want w = {
		.id = 0xbeef,
		.qtype = choices[sel % nch].type,
		.qname = qname,
		.qname_len = sizeof(qname),
		.rcode = (unsigned)(sel / nch) % 6,
		.answer = choices[sel % nch].answer,
	};
	char why[160], small[8];
	uint8_t *m = malloc(in.n > 0 ? in.n : 1);

	FUZZ_CHECK(m != NULL, "out of memory");
	memcpy(m, in.p, in.n);
	int ok = dns_reply_judge(m, in.n, &w, why, sizeof(why));
	int ok2 = dns_reply_judge(m, in.n, &w, small, sizeof(small));

	FUZZ_CHECK(ok == 0 || ok == 1, "verdict %d", ok);
	FUZZ_CHECK(ok == ok2, "the verdict depends on the reason's room");
	FUZZ_CHECK(why[0] != '\0' && strchr(why, '\n') == NULL, "reason '%s'", why);
	FUZZ_CHECK(ok == (strcmp(why, "ok") == 0), "verdict %d with reason '%s'", ok, why);
	if (ok) {
		FUZZ_CHECK(in.n >= DNS_HEADER_LEN, "a pass without a header");
		FUZZ_CHECK(m[0] == 0xbe && m[1] == 0xef, "a pass with another ID");
		FUZZ_CHECK(
			(m[2] & 0x80) && !(m[2] & 0x02), "a pass of a query or a truncated reply");
		FUZZ_CHECK((m[3] & 0x0f) == w.rcode, "a pass with rcode %u", m[3] & 0x0f);
		if (w.answer != NULL)
			FUZZ_CHECK((m[6] | m[7]) != 0, "an answer found in an empty section");
	}
	free(m);
	return 0;
}
