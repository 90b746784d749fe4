/*
 * DOC: address parser tests
 *
 * lib/addr's reasons are what an operator reads after 'bad address X:' wherever an address is
 * written (listen, backends, admin.listen, the admin API's backend names), so each form that is
 * refused is checked with its exact reason, and each accepted one with its value.
 */
#include "lib/addr.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void expect_refused(const char *text, int allow_port0, const char *reason)
{
	char why[ADDR_WHY_MAX] = "";
	struct addr a;

	cr_expect_eq(addr_parse(text, allow_port0, &a, why, sizeof(why)), -EINVAL, "%s", text);
	cr_expect_str_eq(why, reason, "%s", text);
}

static void expect_parsed(const char *text, int allow_port0, const char *formatted)
{
	char why[ADDR_WHY_MAX] = "", buf[ADDR_STRLEN];
	struct addr a;

	cr_assert_eq(addr_parse(text, allow_port0, &a, why, sizeof(why)), 0, "%s: %s", text, why);
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), formatted, "%s", text);
}

Test(addr, accepted_forms)
{
	expect_parsed("127.0.0.1:80", 0, "127.0.0.1:80");
	expect_parsed("0.0.0.0:65535", 0, "0.0.0.0:65535");
	expect_parsed("[::]:1", 0, "[::]:1");
	expect_parsed("[2001:DB8::1]:443", 0, "[2001:db8::1]:443");
	expect_parsed("10.0.0.1:0", 1, "10.0.0.1:0");
	expect_parsed(
		"[::ffff:0:a00:1]:80", 0, "[::ffff:0:a00:1]:80"); /* IPv4-translated, not mapped */
}

Test(addr, names_wildcards_and_missing_parts)
{
	static const char every[] = "for every address write 0.0.0.0:PORT or [::]:PORT";
	char want[128];

	expect_refused("localhost:80", 0, "host names are not resolved: numeric addresses only");
	expect_refused(
		"db-1.internal:5432", 0, "host names are not resolved: numeric addresses only");
	expect_refused("a-host-name-longer-than-any-numeric-address.example.com:443", 0,
		"host names are not resolved: numeric addresses only");
	snprintf(want, sizeof(want), "'*' is not an address: %s", every);
	expect_refused("*:80", 0, want);
	snprintf(want, sizeof(want), "missing address: %s", every);
	expect_refused(":19080", 0, want);
	expect_refused("10.0.0.1:", 0, "missing port (1-65535)");
	expect_refused("10.0.0.256:80", 0, "bad IPv4 address");
	expect_refused("localhost", 0, "expected IP:PORT or [IPv6]:PORT");
}

Test(addr, ports)
{
	expect_refused("127.0.0.1:0080", 0, "port with a leading zero: write 80");
	expect_refused("[::1]:0443", 0, "port with a leading zero: write 443");
	expect_refused("127.0.0.1:00", 1, "port with a leading zero: write 0");
	expect_refused("127.0.0.1:0", 0, "bad port (1-65535)");
	expect_refused("127.0.0.1:65536", 0, "bad port (1-65535)");
	expect_refused("127.0.0.1:99999999999999999999", 0, "bad port (1-65535)");
	expect_refused("127.0.0.1:+80", 0, "bad port (1-65535)");
}

Test(addr, ipv4_mapped_refused)
{
	expect_refused(
		"[::ffff:127.0.0.1]:80", 0, "an IPv4-mapped IPv6 address, write 127.0.0.1:80");
	expect_refused(
		"[::FFFF:c000:0201]:8443", 0, "an IPv4-mapped IPv6 address, write 192.0.2.1:8443");
	/* The port is judged first: one message at a time, the one that applies to the text. */
	expect_refused("[::ffff:127.0.0.1]:080", 0, "port with a leading zero: write 80");
	/* A refused address leaves nothing that could be used by mistake. */
	char why[ADDR_WHY_MAX];
	struct addr a;
	cr_assert_eq(addr_parse("[::ffff:10.0.0.1]:80", 0, &a, why, sizeof(why)), -EINVAL);
	cr_expect_eq(a.sa.sa_family, AF_UNSPEC);
	cr_expect_eq(a.len, 0);
}

Test(addr, small_reason_buffer_is_cut_not_overrun)
{
	char why[8];
	struct addr a;

	memset(why, 'x', sizeof(why));
	cr_assert_eq(addr_parse("localhost:80", 0, &a, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "host na");
}

/* NAME:PORT, the form a backend entry may use instead (resolved at run time, not here). */
Test(addr, host_names)
{
	char host[256], why[ADDR_WHY_MAX];
	int port = 0;

	cr_assert_eq(addr_parse_name("app1.internal:8080", host, sizeof(host), &port, why, 96), 1);
	cr_expect_str_eq(host, "app1.internal");
	cr_expect_eq(port, 8080);
	cr_assert_eq(
		addr_parse_name("db-2.example.org.:5432", host, sizeof(host), &port, why, 96), 1);
	cr_expect_str_eq(host, "db-2.example.org.");
	cr_expect_eq(addr_parse_name("localhost:1", host, sizeof(host), &port, why, 96), 1);
	/* Not the NAME:PORT form: addr_parse()'s to judge. */
	cr_expect_eq(addr_parse_name("10.0.0.1:80", host, sizeof(host), &port, why, 96), 0);
	cr_expect_eq(addr_parse_name("[::1]:80", host, sizeof(host), &port, why, 96), 0);
	cr_expect_eq(addr_parse_name("fe80::a:80", host, sizeof(host), &port, why, 96), 0);
	cr_expect_eq(addr_parse_name("app.internal", host, sizeof(host), &port, why, 96), 0);
	/* The form, but bad. */
	const char *bad[] = {"-a.internal:80", "a-.internal:80", "a..b:80", ".a:80",
		"a_b.internal:80", "app.123:80", "app.internal:0", "app.internal:080",
		"app.internal:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(addr_parse_name(bad[i], host, sizeof(host), &port, why, 96), -EINVAL,
			"%s", bad[i]);
	char longname[300];
	memset(longname, 'a', 64);
	strcpy(longname + 64, ".internal:80");
	cr_expect_eq(addr_parse_name(longname, host, sizeof(host), &port, why, 96), -EINVAL);
	cr_expect(strstr(why, "label") != NULL, "%s", why);
}
