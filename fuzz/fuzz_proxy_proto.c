/*
 * DOC: fuzz target: the PROXY protocol header anylb sends (lb/proxy_proto.c)
 *
 * anylb writes PROXY headers; it does not read them. So the input chooses a version, address
 * families, addresses, ports and a buffer size, and the header built from them is read back
 * with the test backends' parser (tests/support/proxyhdr.c, written from HAProxy's
 * specification apart from the encoder). It must say exactly what was written: the version,
 * both addresses and both ports, in a header no longer than the specification allows, and every
 * shorter prefix of it must read as "need more" rather than as a header or an error. The same
 * addresses also go through lib/addr's text form and back (an IPv4-mapped one must be refused).
 */
#include "fuzz/fuzz.h"
#include "lb/proxy_proto.h"
#include "tests/support/harness.h"

#include <errno.h>

static void make_addr(struct fuzz_in *in, int family, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	a->sa.sa_family = (sa_family_t)family;
	if (family == AF_INET6) {
		fuzz_bytes(in, &a->in6.sin6_addr, 16);
		a->in6.sin6_port = htons(fuzz_u16(in));
		a->in6.sin6_scope_id = fuzz_u8(in); /* not carried: must not matter */
		a->len = sizeof(a->in6);
	} else {
		fuzz_bytes(in, &a->in.sin_addr, 4);
		a->in.sin_port = htons(fuzz_u16(in));
		a->len = sizeof(a->in);
	}
}

static int same(const struct addr *a, const struct sockaddr_storage *ss)
{
	struct addr b;

	addr_from_sockaddr(&b, (const struct sockaddr *)ss,
		ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in));
	return addr_equal(a, &b);
}

static void check_text_round_trip(const struct addr *a)
{
	char text[ADDR_STRLEN];
	struct addr b;
	char why[ADDR_WHY_MAX] = "";

	addr_format(a, text, sizeof(text));
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		/* One spelling per address: the text form of a mapped address is refused. */
		FUZZ_CHECK(addr_parse(text, 1, &b, why, sizeof(why)) == -EINVAL &&
				   strstr(why, "IPv4-mapped") != NULL,
			"'%s' parses (%s)", text, why);
		return;
	}
	FUZZ_CHECK(addr_parse(text, 1, &b, why, sizeof(why)) == 0, "'%s' does not parse: %s", text,
		why);
	FUZZ_CHECK(addr_equal(a, &b), "'%s' reads back as another address", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int families[4] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC};
	struct fuzz_in in = {data, size};
	uint8_t sel = fuzz_u8(&in);
	enum conf_proxy_protocol version = (enum conf_proxy_protocol)(sel % 3);
	/* Mostly one family for both, sometimes a mix or a family PROXY cannot carry. */
	int sfam = families[(sel >> 2) & 1], dfam = sfam;
	if ((sel >> 3) % 8 == 0)
		dfam = families[(sel >> 6) & 3];
	else if ((sel >> 3) % 8 == 1)
		sfam = dfam = families[2 + ((sel >> 6) & 1)];
	struct addr src, dst;
	char buf[PROXY_PROTO_MAX + 1], small[PROXY_PROTO_MAX];
	struct sc_proxy_info info;

	make_addr(&in, sfam, &src);
	make_addr(&in, dfam, &dst);
	size_t cap = fuzz_u8(&in) % (PROXY_PROTO_MAX + 1);

	int n = proxy_proto_build(version, &src, &dst, buf, PROXY_PROTO_MAX);
	if (sfam != dfam || (sfam != AF_INET && sfam != AF_INET6)) {
		FUZZ_CHECK(n == -EAFNOSUPPORT, "families %d/%d gave %d", sfam, dfam, n);
		return 0;
	}
	if (version == CONF_PROXY_OFF) {
		FUZZ_CHECK(n == 0, "no header wanted, got %d bytes", n);
		return 0;
	}
	FUZZ_CHECK(n > 0 && n <= PROXY_PROTO_MAX, "length %d", n);
	check_text_round_trip(&src);
	check_text_round_trip(&dst);

	/* A shorter buffer: refused whole, or the same header. */
	int m = proxy_proto_build(version, &src, &dst, small, cap);
	FUZZ_CHECK(m == -ENOSPC || (m == n && memcmp(small, buf, (size_t)n) == 0),
		"cap %zu gave %d, full %d", cap, m, n);
	FUZZ_CHECK(m == -ENOSPC || (size_t)m <= cap, "wrote %d into %zu", m, cap);

	/* Read back, with a payload byte after it as a backend would see it. */
	buf[n] = 'x';
	int got = sc_proxy_parse((const uint8_t *)buf, (size_t)n + 1, &info);
	FUZZ_CHECK(got == n, "read back %d of %d bytes: %s", got, n, info.err);
	FUZZ_CHECK(info.version == (version == CONF_PROXY_V1 ? 1 : 2), "version %d", info.version);
	FUZZ_CHECK(!info.local && info.header_len == (size_t)n, "local or length");
	FUZZ_CHECK(same(&src, &info.src), "source differs");
	FUZZ_CHECK(same(&dst, &info.dst), "destination differs");
	if (version == CONF_PROXY_V1) {
		FUZZ_CHECK(n <= 107, "v1 header of %d bytes, the spec allows 107", n);
		FUZZ_CHECK(memchr(buf, '\0', (size_t)n) == NULL, "NUL in a v1 header");
	} else {
		FUZZ_CHECK(n == (sfam == AF_INET ? 28 : 52), "v2 length %d", n);
	}
	for (int k = 0; k < n; k++) {
		int r = sc_proxy_parse((const uint8_t *)buf, (size_t)k, &info);

		FUZZ_CHECK(r == 0, "a %d-byte prefix of %d read as %d: %s", k, n, r, info.err);
	}
	return 0;
}
