/*
 * DOC: configuration loader tests: bgp and anycast
 *
 * The values and defaults of the top-level bgp section and of services' anycast sections, split
 * from test_conf.c (golden files, other values, entry points, robustness) along the same seam as
 * conf/bgp.c. Leaks are caught as there: the sanitizer build's leak check after each test.
 */
#include <criterion/criterion.h>

#include "conf/conf.h"
#include "tests/support/conf_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(conf_values, .fini = sc_conf_check_leaks);

/* ---- bgp and anycast ---- */

static void expect_prefix(const struct conf_prefix *p, const char *text, int line, int col)
{
	unsigned char want[16] = {0};
	int family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	char addr[64];

	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(text, "/"), text);
	cr_assert_eq(inet_pton(family, addr, want), 1, "%s", text);
	cr_expect_str_eq(p->text, text);
	cr_expect_eq(p->family, family, "%s", text);
	cr_expect_eq(p->len, family == AF_INET ? 32u : 128u, "%s", text);
	cr_expect_eq(memcmp(p->addr, want, sizeof(want)), 0, "%s: bytes differ", text);
	cr_expect_eq(p->pos.line, line, "%s", text);
	cr_expect_eq(p->pos.col, col, "%s", text);
}

Test(conf_values, bgp_and_anycast_absent)
{
	static const struct conf_bgp zero_bgp;
	static const struct conf_anycast zero_anycast;
	struct conf *c = sc_conf_load_ok("ok-minimal.yaml");

	cr_expect_eq(memcmp(&c->bgp, &zero_bgp, sizeof(zero_bgp)), 0, "bgp is not all zero");
	cr_expect_eq(memcmp(&c->services[0].anycast, &zero_anycast, sizeof(zero_anycast)), 0,
		"anycast is not all zero");
	conf_free(c);
}

Test(conf_values, bgp_and_anycast_defaults)
{
	struct conf *c = sc_conf_load_ok("ok-bgp-defaults.yaml");

	const struct conf_bgp *b = &c->bgp;
	cr_expect_eq(b->enabled, 1);
	cr_expect_eq(b->announce, CONF_ANNOUNCE_INTERFACE);
	cr_expect_str_eq(b->interface, "anylb0");
	cr_expect_eq(b->watchdog_timeout_ms, 1000);
	cr_expect_str_eq(b->bird_socket, "/run/bird/bird.ctl");
	cr_expect_eq(b->announce_delay_ms, 5000);
	cr_expect_eq(b->max_announce_delay_ms, 300000);
	cr_expect_eq(b->flap_window_ms, 600000);
	cr_expect_eq(b->pos.line, 2);
	cr_expect_eq(b->pos.col, 1);

	cr_assert_eq(c->nservices, 1);
	const struct conf_anycast *a = &c->services[0].anycast;
	cr_expect_eq(a->enabled, 1);
	cr_assert_eq(a->nprefixes, 1);
	expect_prefix(&a->prefixes[0], "192.0.2.10/32", 7, 18);
	cr_expect_eq(memcmp(a->prefixes[0].addr, "\xc0\x00\x02\x0a", 4), 0);
	cr_expect_null(a->bird_protocol);
	cr_expect_eq(a->bird_protocol_pos.line, 0);
	cr_expect_eq(a->min_ready, 1);
	cr_expect(a->min_capacity == 0.0);
	cr_expect_eq(a->pos.line, 6);
	cr_expect_eq(a->pos.col, 5);
	conf_free(c);

	/* bgp alone, with no anycast service, is valid; the unwritten maximum follows the delay. */
	c = sc_conf_load_ok("ok-bgp-no-anycast.yaml");
	cr_expect_eq(c->bgp.enabled, 1);
	cr_expect_eq(c->bgp.announce_delay_ms, 600000);
	cr_expect_eq(c->bgp.max_announce_delay_ms, 600000);
	cr_expect_eq(c->services[0].anycast.enabled, 0);
	conf_free(c);
}

Test(conf_values, bgp_interface_full)
{
	struct conf *c = sc_conf_load_ok("ok-bgp-interface.yaml");

	const struct conf_bgp *b = &c->bgp;
	cr_expect_eq(b->enabled, 1);
	cr_expect_eq(b->announce, CONF_ANNOUNCE_INTERFACE);
	cr_expect_str_eq(b->interface, "anylb-ams.1_xyz");
	cr_expect_eq(b->watchdog_timeout_ms, 60000);
	cr_expect_str_eq(b->bird_socket, "/var/run/bird/bird.ctl");
	cr_expect_eq(b->announce_delay_ms, 10000);
	cr_expect_eq(b->max_announce_delay_ms, 120000);
	cr_expect_eq(b->flap_window_ms, 1800000);

	cr_assert_eq(c->nservices, 3);
	const struct conf_anycast *web = &c->services[0].anycast;
	cr_expect_eq(web->enabled, 1);
	cr_assert_eq(web->nprefixes, 2);
	expect_prefix(&web->prefixes[0], "192.0.2.10/32", 15, 18);
	expect_prefix(&web->prefixes[1], "2001:db8::10/128", 15, 33);
	static const unsigned char v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
	cr_expect_eq(memcmp(web->prefixes[1].addr, v6, 16), 0);
	cr_expect_null(web->bird_protocol);
	cr_expect_eq(web->min_ready, 2);
	cr_expect(web->min_capacity == 0.5);

	/* One prefix may be written without a list. */
	const struct conf_anycast *dns = &c->services[1].anycast;
	cr_assert_eq(dns->nprefixes, 1);
	expect_prefix(&dns->prefixes[0], "198.51.100.53/32", 27, 17);
	cr_expect_eq(dns->min_ready, 0);
	cr_expect(dns->min_capacity == 1.0);

	cr_expect_eq(c->services[2].anycast.enabled, 0);
	cr_expect_null(c->services[2].anycast.prefixes);
	conf_free(c);
}

Test(conf_values, bgp_bird_protocol_full)
{
	struct conf *c = sc_conf_load_ok("ok-bgp-bird-protocol.yaml");

	const struct conf_bgp *b = &c->bgp;
	cr_expect_eq(b->enabled, 1);
	cr_expect_eq(b->announce, CONF_ANNOUNCE_BIRD_PROTOCOL);
	/* Not used in this mode, and not writable, but still the documented defaults. */
	cr_expect_str_eq(b->interface, "anylb0");
	cr_expect_eq(b->watchdog_timeout_ms, 1000);
	cr_expect_str_eq(b->bird_socket, "bird.ctl");
	cr_expect_eq(b->announce_delay_ms, 0);
	cr_expect_eq(b->max_announce_delay_ms, 0);
	cr_expect_eq(b->flap_window_ms, 1);
	cr_expect_eq(b->pos.line, 28);

	cr_assert_eq(c->nservices, 2);
	const struct conf_anycast *web = &c->services[0].anycast;
	cr_assert_eq(web->nprefixes, 2);
	expect_prefix(&web->prefixes[0], "192.0.2.10/32", 15, 11);
	expect_prefix(&web->prefixes[1], "192.0.2.11/32", 16, 11);
	cr_expect_str_eq(web->bird_protocol, "anylb_web");
	cr_expect_eq(web->bird_protocol_pos.line, 13);
	cr_expect_eq(web->bird_protocol_pos.col, 22);
	cr_expect_eq(web->min_ready, 3);
	cr_expect(web->min_capacity == 0.25);
	cr_expect_eq(web->pos.line, 10);

	const struct conf_anycast *api = &c->services[1].anycast;
	cr_assert_eq(api->nprefixes, 1);
	expect_prefix(&api->prefixes[0], "2001:db8:0:1::7/128", 21, 18);
	cr_expect_str_eq(api->bird_protocol, "_Api2");
	cr_expect_eq(api->min_ready, 1);
	cr_expect(api->min_capacity == 0.125);
	conf_free(c);
}

#define BGP_SERVICE                                                                                \
	"services:\n  - name: web\n    listen: 0.0.0.0:80\n    backends:\n"                        \
	"      - address: 10.0.0.1:80\n"

Test(conf_values, bgp_edges)
{
	static const struct {
		const char *yaml;
		uint64_t watchdog, delay, max;
	} ok[] = {
		{"bgp:\n  watchdog_timeout: 100ms\n", 100, 5000, 300000},
		{"bgp:\n  watchdog_timeout: 60000ms\n", 60000, 5000, 300000},
		{"bgp:\n  announce_delay: 0ms\n", 1000, 0, 300000},
		{"bgp:\n  announce_delay: 301s\n", 1000, 301000, 301000},
		{"bgp:\n  announce_delay: 1h\n  max_announce_delay: 1h\n", 1000, 3600000, 3600000},
		{"bgp: {}\n", 1000, 5000, 300000},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y), "%s" BGP_SERVICE, ok[i].yaml);
		struct conf *c = sc_conf_load_buffer_ok(y);
		cr_expect_eq(c->bgp.enabled, 1, "%s", ok[i].yaml);
		cr_expect_eq(c->bgp.watchdog_timeout_ms, ok[i].watchdog, "%s", ok[i].yaml);
		cr_expect_eq(c->bgp.announce_delay_ms, ok[i].delay, "%s", ok[i].yaml);
		cr_expect_eq(c->bgp.max_announce_delay_ms, ok[i].max, "%s", ok[i].yaml);
		conf_free(c);
	}

	static const char *const bad[] = {
		"bgp:\n  watchdog_timeout: 99ms\n",
		"bgp:\n  watchdog_timeout: 60001ms\n",
		"bgp:\n  watchdog_timeout: 0s\n",
		"bgp:\n  flap_window: 0ms\n",
		"bgp:\n  interface: \"\"\n",
		"bgp:\n  interface: anylb01234567890\n",
		"bgp:\n  interface: a/b\n",
		"bgp:\n  bird_socket: \"\"\n",
		"bgp:\n  announce: BIRD_PROTOCOL\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char y[512];
		int rc;
		snprintf(y, sizeof(y), "%s" BGP_SERVICE, bad[i]);
		char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
		cr_expect_eq(rc, -EINVAL, "%s", bad[i]);
		cr_expect(strncmp(got, "t.yaml:2:", 9) == 0, "%s: %s", bad[i], got);
		free(got);
	}
}

Test(conf_values, anycast_edges)
{
	static const struct {
		const char *value;
		double want;
	} fractions[] = {
		{"0", 0}, {"1", 1}, {"0.5", 0.5}, {"\"0.5\"", 0.5}, {"0.1", 0.1}, {"1.000", 1},
		{"0.000", 0}, {"0.333333", 0.333333}, {"0.1234567890123", 0.1234567890123},
		{"0.5000000000000000000001", 0.5}, /* digits past the 18th are dropped */
	};
	for (size_t i = 0; i < sizeof(fractions) / sizeof(fractions[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y),
			"bgp:\nservices:\n  - name: web\n    listen: 0.0.0.0:80\n    anycast:\n"
			"      prefixes: 192.0.2.1/32\n      min_capacity: %s\n    backends:\n"
			"      - address: 10.0.0.1:80\n",
			fractions[i].value);
		struct conf *c = sc_conf_load_buffer_ok(y);
		cr_expect(c->services[0].anycast.min_capacity == fractions[i].want, "%s: got %.17g",
			fractions[i].value, c->services[0].anycast.min_capacity);
		conf_free(c);
	}

	/* min_ready may equal the number of backends, and a 63-byte BIRD name fits. */
	char name[CONF_BIRD_NAME_MAX + 1];
	memset(name, 'p', CONF_BIRD_NAME_MAX);
	name[CONF_BIRD_NAME_MAX] = '\0';
	char y[1024];
	snprintf(y, sizeof(y),
		"bgp: {announce: bird_protocol}\nservices:\n  - name: web\n    listen: 0.0.0.0:80\n"
		"    anycast: {prefixes: [\"::1/128\", \"::/128\"], min_ready: 2, bird_protocol: "
		"%s}\n    backends: [{address: \"10.0.0.1:80\"}, {address: \"10.0.0.2:80\"}]\n",
		name);
	struct conf *c = sc_conf_load_buffer_ok(y);
	const struct conf_anycast *a = &c->services[0].anycast;
	cr_expect_eq(a->min_ready, 2);
	cr_expect_str_eq(a->bird_protocol, name);
	cr_assert_eq(a->nprefixes, 2);
	cr_expect_eq(a->prefixes[0].family, AF_INET6);
	cr_expect_eq(a->prefixes[0].addr[15], 1);
	cr_expect_eq(a->prefixes[1].family, AF_INET6);
	conf_free(c);
}

/* The order of the top-level keys does not matter: bgp is read first wherever it stands. */
Test(conf_values, bgp_after_services_judges_anycast_the_same)
{
	static const char svc[] = "services:\n  - name: web\n    listen: 0.0.0.0:80\n"
				  "    anycast: {prefixes: [192.0.2.1/32]}\n"
				  "    backends: [{address: \"10.0.0.1:80\"}]\n";
	char y[512];
	int rc;

	snprintf(y, sizeof(y), "%sbgp: {announce: bird_protocol}\n", svc);
	char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
	cr_expect_str_eq(got, "t.yaml:4:5: 'anycast' is missing 'bird_protocol' (required with "
			      "'announce: bird_protocol')\n");
	free(got);

	snprintf(y, sizeof(y), "bgp: {announce: bird_protocol}\n%s", svc);
	got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
	cr_expect_str_eq(got, "t.yaml:5:5: 'anycast' is missing 'bird_protocol' (required with "
			      "'announce: bird_protocol')\n");
	free(got);
}
