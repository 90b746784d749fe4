/*
 * DOC: prefixes for allow and deny (lib/cidr.c)
 *
 * Parsing refuses what an operator should write otherwise (host bits set, a mapped address,
 * a bad length) and says what; matching holds at the edges: /0, /32, /128, a length that ends
 * inside a byte, IPv4-mapped IPv6 clients, and never across families.
 */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

static struct cidr P(const char *s) {
	struct cidr c;
	char why[CIDR_WHY_MAX];

	cr_assert_eq(cidr_parse(s, &c, why, sizeof(why)), 0, "%s: %s", s, why);
	return c;
}

static struct addr
A(const char *s) {
	struct addr a;
	char why[ADDR_WHY_MAX];

	cr_assert_eq(addr_parse(s, 1, &a, why, sizeof(why)), 0, "%s: %s", s, why);
	return a;
}

/* A v4-mapped client, as a dual-stack socket reports it (addr_parse refuses that form). */
static struct addr
mapped(const char *v4)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_addr.s6_addr[10] = 0xff;
	a.in6.sin6_addr.s6_addr[11] = 0xff;
	cr_assert_eq(inet_pton(AF_INET, v4, &a.in6.sin6_addr.s6_addr[12]), 1);
	a.len = sizeof(a.in6);
	return a;
}

static int in(const struct cidr *c, const char *s)
{
	struct addr a = A(s);

	return cidr_match(c, &a);
}

static int in_any(const struct cidr *v, size_t n, const char *s)
{
	struct addr a = A(s);

	return cidr_match_any(v, n, &a);
}

static void refused(const char *s, const char *want)
{
	struct cidr c;
	char why[CIDR_WHY_MAX] = "";

	cr_expect_lt(cidr_parse(s, &c, why, sizeof(why)), 0, "%s was taken", s);
	cr_expect(strstr(why, want) != NULL, "%s: '%s', wanted '%s'", s, why, want);
}

Test(cidr, parses_and_formats)
{
	char buf[CIDR_STRLEN];
	struct cidr c = P("10.0.0.0/8");

	cr_expect_eq(c.family, AF_INET);
	cr_expect_eq(c.len, 8);
	cr_expect_str_eq(cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/8");
	c = P("192.0.2.7");
	cr_expect_eq(c.len, 32, "a bare IPv4 address is /32");
	c = P("2001:db8::1");
	cr_expect_eq(c.len, 128, "a bare IPv6 address is /128");
	c = P("2001:db8::/32");
	cr_expect_str_eq(cidr_format(&c, buf, sizeof(buf)), "2001:db8::/32");
	cr_expect_eq(P("0.0.0.0/0").len, 0);
	cr_expect_eq(P("::/0").len, 0);
}

Test(cidr, refuses_bad_prefixes)
{
	refused("10.1.0.0/8", "host bits set: write '10.0.0.0/8'");
	refused("2001:db8::1/32", "host bits set: write '2001:db8::/32'");
	refused("10.0.0.0/33", "expected 0..32");
	refused("::/129", "expected 0..128");
	refused("10.0.0.0/08", "bad prefix length");
	refused("10.0.0.0/", "bad prefix length");
	refused("10.0.0.0/-1", "bad prefix length");
	refused("10.0.0.0/8x", "bad prefix length");
	refused("10.0.0", "not an IPv4 or IPv6 address");
	refused("example.org/8", "not an IPv4 or IPv6 address");
	refused("/8", "not an IPv4 or IPv6 address");
	refused("::ffff:10.0.0.1", "IPv4-mapped");
}

Test(cidr, matches_v4_edges)
{
	struct cidr all = P("0.0.0.0/0"), host = P("127.0.0.2/32"), odd = P("10.0.0.128/25");
	cr_expect(in(&all, "203.0.113.9:1"));
	cr_expect(in(&host, "127.0.0.2:1"));
	cr_expect_not(in(&host, "127.0.0.1:1"));
	cr_expect(in(&odd, "10.0.0.128:1"));
	cr_expect(in(&odd, "10.0.0.255:1"));
	cr_expect_not(in(&odd, "10.0.0.127:1"));
	cr_expect_not(in(&odd, "10.0.1.128:1"));
	cr_expect_not(in(&all, "[::1]:1"), "IPv4 /0 is not every IPv6 client");
}

Test(cidr, matches_v6_edges)
{
	struct cidr all = P("::/0"), net = P("2001:db8::/32"), host = P("2001:db8::1");
	struct cidr odd = P("2001:db8:8000::/33");
	cr_expect(in(&all, "[2001:db8::5]:1"));
	cr_expect_not(in(&all, "192.0.2.1:1"), "IPv6 /0 is not IPv4");
	cr_expect(in(&net, "[2001:db8:ffff::1]:1"));
	cr_expect_not(in(&net, "[2001:db9::1]:1"));
	cr_expect(in(&host, "[2001:db8::1]:1"));
	cr_expect_not(in(&host, "[2001:db8::2]:1"));
	cr_expect(in(&odd, "[2001:db8:8001::]:1"));
	cr_expect_not(in(&odd, "[2001:db8:7fff::]:1"));
}

Test(cidr, mapped_clients_match_as_ipv4)
{
	struct cidr v4 = P("192.0.2.0/24"), v6 = P("::/0");
	struct addr a = mapped("192.0.2.44"), b = mapped("198.51.100.1");

	cr_expect(cidr_match(&v4, &a));
	cr_expect_not(cidr_match(&v4, &b));
	cr_expect_not(cidr_match(&v6, &a), "a mapped client is an IPv4 client");
}

Test(cidr, match_any_scans_the_list)
{
	struct cidr v[] = {P("10.0.0.0/8"), P("2001:db8::/32"), P("127.0.0.2")};
	cr_expect(in_any(v, 3, "127.0.0.2:9"));
	cr_expect(in_any(v, 3, "[2001:db8::9]:9"));
	cr_expect_not(in_any(v, 3, "127.0.0.1:9"));
	cr_expect_not(in_any(v, 0, "10.0.0.1:9"));
}
