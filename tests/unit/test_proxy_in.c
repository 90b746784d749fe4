/*
 * DOC: unit: the PROXY header reader (lb/proxy_in.c)
 *
 * Headers as HAProxy writes them (v1 TCP4, TCP6, UNKNOWN; v2 PROXY over IPv4 and IPv6 with a
 * TLV, LOCAL), every proper prefix of each read as "more", the modes (a v1 header on a v2-only
 * listener is no header), and the malformed ones each with its reason.
 */
#include "lb/proxy_in.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void every_prefix_is_more(enum conf_accept_proxy mode, const uint8_t *b, size_t n)
{
	struct proxy_in in;

	for (size_t k = 0; k < n; k++)
		cr_assert_eq(proxy_in_parse(mode, b, k, &in), 0, "prefix of %zu bytes", k);
}

static unsigned port(const struct addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET ? a->in.sin_port : a->in6.sin6_port);
}

Test(proxy_in, v1_tcp4_with_the_client_s_bytes_behind_it)
{
	const char *h = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET / HTTP/1.1\r\n";
	size_t hl = strlen("PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n");
	struct proxy_in in;
	char ip[INET_ADDRSTRLEN];

	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_V1, (const uint8_t *)h, strlen(h), &in), (int)hl);
	cr_expect_eq(in.local, 0);
	cr_expect_str_eq(inet_ntop(AF_INET, &in.src.in.sin_addr, ip, sizeof(ip)), "192.0.2.7");
	cr_expect_eq(port(&in.src), 40000);
	cr_expect_str_eq(inet_ntop(AF_INET, &in.dst.in.sin_addr, ip, sizeof(ip)), "198.51.100.1");
	cr_expect_eq(port(&in.dst), 443);
	every_prefix_is_more(CONF_ACCEPT_ANY, (const uint8_t *)h, hl);
}

Test(proxy_in, v1_tcp6_and_unknown)
{
	const char *h6 = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
	const char *hu = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
	struct proxy_in in;

	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_ANY, (const uint8_t *)h6, strlen(h6), &in),
		(int)strlen(h6));
	cr_expect_eq(in.src.sa.sa_family, AF_INET6);
	cr_expect_eq(port(&in.dst), 65535);
	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_V1, (const uint8_t *)hu, strlen(hu), &in),
		(int)strlen(hu));
	cr_expect_eq(in.local, 1);
}

/* A v2 header as HAProxy's send-proxy-v2 writes one, with one TLV (a 4-byte NOOP). */
static size_t v2(uint8_t *b, uint8_t cmd, uint8_t fam, int v6)
{
	static const uint8_t sig[12] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
	size_t alen = v6 ? 36 : 12, len = alen + 4;

	memcpy(b, sig, 12);
	b[12] = (uint8_t)(0x20 | cmd);
	b[13] = fam;
	b[14] = (uint8_t)(len >> 8);
	b[15] = (uint8_t)len;
	for (size_t i = 0; i < alen; i++)
		b[16 + i] = (uint8_t)(i + 1);
	uint8_t tlv[4] = {0x04, 0x00, 0x01, 0x00}; /* PP2_TYPE_NOOP, one byte */
	memcpy(b + 16 + alen, tlv, 4);
	return 16 + len;
}

Test(proxy_in, v2_proxy_over_ipv4_and_ipv6_skips_tlvs)
{
	uint8_t b[PROXY_IN_MAX + 8];
	struct proxy_in in;
	size_t n = v2(b, 1, 0x11, 0);

	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_V2, b, n, &in), (int)n);
	cr_expect_eq(in.local, 0);
	cr_expect_eq(ntohl(in.src.in.sin_addr.s_addr), 0x01020304);
	cr_expect_eq(ntohl(in.dst.in.sin_addr.s_addr), 0x05060708);
	cr_expect_eq(port(&in.src), 0x090a);
	cr_expect_eq(port(&in.dst), 0x0b0c);
	every_prefix_is_more(CONF_ACCEPT_ANY, b, n);

	n = v2(b, 1, 0x21, 1);
	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_ANY, b, n, &in), (int)n);
	cr_expect_eq(in.src.sa.sa_family, AF_INET6);
	cr_expect_eq(in.src.in6.sin6_addr.s6_addr[0], 1);
	cr_expect_eq(in.dst.in6.sin6_addr.s6_addr[0], 17);
	cr_expect_eq(port(&in.dst), (35u << 8) | 36u);
}

Test(proxy_in, v2_local_and_unspec_carry_no_addresses)
{
	uint8_t b[PROXY_IN_MAX];
	struct proxy_in in;
	size_t n = v2(b, 0, 0x11, 0);

	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_V2, b, n, &in), (int)n);
	cr_expect_eq(in.local, 1);
	n = v2(b, 1, 0x00, 0);
	cr_assert_eq(proxy_in_parse(CONF_ACCEPT_V2, b, n, &in), (int)n);
	cr_expect_eq(in.local, 1);
}

static void refused(enum conf_accept_proxy mode, const void *b, size_t n, const char *why)
{
	struct proxy_in in;

	cr_assert_eq(proxy_in_parse(mode, b, n, &in), -EINVAL, "%s", why);
	cr_expect_str_eq(in.why, why);
}

Test(proxy_in, malformed_headers_are_refused_with_a_reason)
{
	uint8_t b[PROXY_IN_MAX + 64];
	const char *s;

	refused(CONF_ACCEPT_ANY, "GET / HTTP/1.1\r\n", 16, "no PROXY header");
	s = "PROXY TCP4 1.2.3.4 5.6.7.8 1 80\r\n";
	refused(CONF_ACCEPT_V2, s, strlen(s), "no PROXY v2 header");
	size_t n = v2(b, 1, 0x11, 0);
	refused(CONF_ACCEPT_V1, b, n, "no PROXY v1 header");
	s = "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n";
	refused(CONF_ACCEPT_V1, s, strlen(s), "PROXY v1 header: a port is not 0..65535");
	s = "PROXY TCP4 ::1 5.6.7.8 1 80\r\n";
	refused(CONF_ACCEPT_V1, s, strlen(s),
		"PROXY v1 header: an address is not of the family named");
	s = "PROXY UDP4 1.2.3.4 5.6.7.8 1 80\r\n";
	refused(CONF_ACCEPT_V1, s, strlen(s),
		"PROXY v1 header: protocol is not TCP4, TCP6 or UNKNOWN");
	s = "PROXY TCP4  1.2.3.4 5.6.7.8 1 80\r\n";
	refused(CONF_ACCEPT_V1, s, strlen(s),
		"PROXY v1 header: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT");
	s = "PROXY TCP4 1.2.3.4 5.6.7.8 1 80 x y\r\n";
	refused(CONF_ACCEPT_V1, s, strlen(s), "PROXY v1 header with too many fields");
	memset(b, 'x', 120);
	memcpy(b, "PROXY TCP4 ", 11);
	refused(CONF_ACCEPT_V1, b, 120, "PROXY v1 header without CRLF in 107 bytes");
	/* fuzz_proxy_in found it: a CRLF at bytes 107 and 108 was taken. */
	memcpy(b + 106, "\r\n", 2);
	refused(CONF_ACCEPT_V1, b, 108, "PROXY v1 header without CRLF in 107 bytes");
	memcpy(b + 105, "\r\n", 2);
	refused(CONF_ACCEPT_V1, b, 107,
		"PROXY v1 header: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT");

	n = v2(b, 1, 0x11, 0);
	b[12] = 0x11;
	refused(CONF_ACCEPT_V2, b, n, "PROXY v2 header: version is not 2");
	n = v2(b, 2, 0x11, 0);
	refused(CONF_ACCEPT_V2, b, n, "PROXY v2 header: command is neither LOCAL nor PROXY");
	n = v2(b, 1, 0x12, 0);
	refused(CONF_ACCEPT_V2, b, n, "PROXY v2 header: not TCP over IPv4 or IPv6");
	n = v2(b, 1, 0x21, 0); /* IPv6 named, 12 bytes of addresses */
	refused(CONF_ACCEPT_V2, b, n, "PROXY v2 header: IPv6 address block too short");
	n = v2(b, 1, 0x11, 0);
	b[14] = 0x01; /* 256 + 16 bytes of header */
	refused(CONF_ACCEPT_V2, b, 16, "PROXY v2 header longer than 256 bytes");
}
