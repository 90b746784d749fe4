/*
 * DOC: the scenario harness checks itself
 *
 * The PROXY parser, the byte pattern and address text are what the scenario tests judge anylb
 * by; a bug there would make them pass or fail for the wrong reason. No anylb process here.
 */
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

TestSuite(harness, .fini = sc_cleanup, .timeout = 10);

static const char *fmt(const struct sockaddr_storage *ss, char *buf)
{
	return sc_addr_format((const struct sockaddr *)ss, buf, SC_ADDRSTRLEN);
}

Test(harness, proxy_v1_tcp4_and_partial_input)
{
	const char *h = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET /";
	size_t hlen = strlen("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
	struct sc_proxy_info pi;
	char a[SC_ADDRSTRLEN];

	for (size_t n = 0; n < hlen; n++)
		cr_assert_eq(
			sc_proxy_parse((const uint8_t *)h, n, &pi), 0, "prefix of %zu bytes", n);
	cr_assert_eq(sc_proxy_parse((const uint8_t *)h, strlen(h), &pi), (int)hlen);
	cr_assert_eq(pi.version, 1);
	cr_assert_str_eq(fmt(&pi.src, a), "192.0.2.1:56324");
	cr_assert_str_eq(fmt(&pi.dst, a), "198.51.100.7:443");
}

Test(harness, proxy_v1_tcp6_unknown_and_errors)
{
	struct sc_proxy_info pi;
	char a[SC_ADDRSTRLEN];
	const char *ok6 = "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n";
	const char *bad[] = {
		"PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n", /* double space */
		"PROXY TCP4 ::1 ::1 1 2\r\n",                 /* family mismatch */
		"PROXY TCP4 192.0.2.1 198.51.100.7 1 65536\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 01 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n",
		"PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",
		"GET / HTTP/1.1\r\n",
	};

	cr_assert_eq(sc_proxy_parse((const uint8_t *)ok6, strlen(ok6), &pi), (int)strlen(ok6));
	cr_assert_str_eq(fmt(&pi.src, a), "[2001:db8::1]:1");
	cr_assert_str_eq(fmt(&pi.dst, a), "[::1]:65535");
	cr_assert_eq(sc_proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &pi), 15);
	cr_assert_eq(pi.local, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_lt(sc_proxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &pi), 0,
			"accepted: %s", bad[i]);
}

Test(harness, proxy_v2_ipv4_with_tlv_and_ipv6)
{
	/* Signature, PROXY command, TCP over IPv4, 12 address bytes + a 4-byte TLV, then payload.
	 */
	const uint8_t v4[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
		0x0a, 0x21, 0x11, 0x00, 0x10, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb,
		0x04, 0x00, 0x01, 0x00, 'x'};
	uint8_t v6[16 + 36] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
		0x0a, 0x21, 0x21, 0x00, 36};
	struct sc_proxy_info pi;
	char a[SC_ADDRSTRLEN];

	for (size_t n = 0; n < sizeof(v4) - 1; n++)
		cr_assert_eq(sc_proxy_parse(v4, n, &pi), 0, "prefix of %zu bytes", n);
	cr_assert_eq(sc_proxy_parse(v4, sizeof(v4), &pi), 32);
	cr_assert_eq(pi.version, 2);
	cr_assert_str_eq(fmt(&pi.src, a), "192.0.2.1:56324");
	cr_assert_str_eq(fmt(&pi.dst, a), "198.51.100.7:443");

	inet_pton(AF_INET6, "2001:db8::5", v6 + 16);
	inet_pton(AF_INET6, "::1", v6 + 32);
	v6[48] = 0x30;
	v6[49] = 0x39; /* 12345 */
	v6[50] = 0x00;
	v6[51] = 0x50; /* 80 */
	cr_assert_eq(sc_proxy_parse(v6, sizeof(v6), &pi), (int)sizeof(v6));
	cr_assert_str_eq(fmt(&pi.src, a), "[2001:db8::5]:12345");
	cr_assert_str_eq(fmt(&pi.dst, a), "[::1]:80");

	v6[12] = 0x11; /* version 1 in the v2 signature */
	cr_assert_lt(sc_proxy_parse(v6, sizeof(v6), &pi), 0);
	v6[12] = 0x21;
	v6[15] = 12; /* too short for IPv6 addresses */
	cr_assert_lt(sc_proxy_parse(v6, 16 + 12, &pi), 0);
}

Test(harness, pattern_is_offset_addressable)
{
	uint8_t whole[1000], part[333];

	sc_pattern_fill(7, 0, whole, sizeof(whole));
	sc_pattern_fill(7, 501, part, sizeof(part));
	cr_assert_eq(memcmp(whole + 501, part, sizeof(part)), 0);
	cr_assert_eq(sc_pattern_check(7, 501, part, sizeof(part)), -1);
	part[100] ^= 1;
	cr_assert_eq(sc_pattern_check(7, 501, part, sizeof(part)), 100);
	sc_pattern_fill(8, 0, part, sizeof(part));
	cr_assert_neq(memcmp(whole, part, sizeof(part)), 0, "seeds must give different streams");
}

Test(harness, addresses_and_ports)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char a[SC_ADDRSTRLEN];
	int p1 = sc_port_free(AF_INET), p2 = sc_port_free(AF_INET);

	cr_assert(p1 > 0 && p2 > 0 && p1 != p2);
	cr_assert_eq(sc_addr_parse("[::1]:8080", &ss, &len), 0);
	cr_assert_str_eq(fmt(&ss, a), "[::1]:8080");
	cr_assert_eq(sc_addr_parse("10.0.0.1:1", &ss, &len), 0);
	cr_assert_str_eq(fmt(&ss, a), "10.0.0.1:1");
	cr_assert_neq(sc_addr_parse("::1:80", &ss, &len), 0);
	cr_assert_neq(sc_addr_parse("10.0.0.1:70000", &ss, &len), 0);
}
