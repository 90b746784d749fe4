/*
 * DOC: lb_handoff_plan(): what the flow hand-off's program is given, from a configuration
 * alone (no BPF needed): the ring (self first, then the peers in order), max_hops, the port,
 * and every service's anycast prefixes; off when not configured, refused past the map's size.
 * Also the state a start reports when the feature is off or cannot be set up.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "lb/handoff.h"
#include "tests/support/conf_util.h"

TestSuite(handoff_plan, .fini = sc_conf_check_leaks);

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

#define SERVICES                                                                                   \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: 192.0.2.10:80\n"                                                              \
	"    anycast:\n"                                                                           \
	"      prefixes: [192.0.2.10/32, 2001:db8::10/128]\n"                                      \
	"    backends:\n"                                                                          \
	"      - address: 10.0.0.1:80\n"                                                           \
	"  - name: dns\n"                                                                          \
	"    listen: 192.0.2.53:53\n"                                                              \
	"    anycast:\n"                                                                           \
	"      prefixes: 192.0.2.53/32\n"                                                          \
	"    backends:\n"                                                                          \
	"      - address: 10.0.0.2:53\n"

Test(handoff_plan, ring_hops_port_and_prefixes)
{
	struct conf *c = sc_conf_load_buffer_ok("bgp:\n  flow_handoff:\n    interfaces: [eth0]\n"
						"    self: 10.1.0.1\n"
						"    peers: [10.1.0.2, 10.1.0.3]\n"
						"    port: 7000\n" SERVICES);
	struct lb_handoff_plan *p = calloc(1, sizeof(*p));
	char err[256] = "";

	cr_assert_eq(lb_handoff_plan(c, p, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(p->cfg.enabled, 1);
	cr_expect_eq(p->cfg.self, 0);
	cr_expect_eq(p->cfg.npeers, 3);
	cr_expect_eq(p->cfg.max_hops, 2, "default: every other box once, got %u", p->cfg.max_hops);
	cr_expect_eq(p->cfg.port, 7000);
	cr_expect_eq(p->cfg.next, 1, "every peer alive until the heartbeats say otherwise");
	cr_expect_eq(p->cfg.addr4, ip4("10.1.0.1"));
	cr_expect_eq(p->ring[0], ip4("10.1.0.1"));
	cr_expect_eq(p->ring[1], ip4("10.1.0.2"), "the first peer is the next box");
	cr_expect_eq(p->ring[2], ip4("10.1.0.3"));
	cr_assert_eq(p->nprefixes, 3);
	cr_expect_eq(p->prefixes[0].family, AF_INET);
	cr_expect_eq(p->prefixes[0].len, 32);
	cr_expect_eq(memcmp(p->prefixes[0].addr, &(uint32_t){ip4("192.0.2.10")}, 4), 0);
	cr_expect_eq(p->prefixes[1].family, AF_INET6);
	cr_expect_eq(p->prefixes[1].len, 128);
	unsigned char v6[16];
	inet_pton(AF_INET6, "2001:db8::10", v6);
	cr_expect_eq(memcmp(p->prefixes[1].addr, v6, 16), 0);
	cr_expect_eq(p->prefixes[2].family, AF_INET);
	cr_expect_eq(memcmp(p->prefixes[2].addr, &(uint32_t){ip4("192.0.2.53")}, 4), 0);
	free(p);
	conf_free(c);
}

Test(handoff_plan, max_hops_and_port_as_written_or_default)
{
	struct conf *c = sc_conf_load_buffer_ok("bgp:\n  flow_handoff:\n    interfaces: eth0\n"
						"    self: 10.1.0.1\n    peers: 10.1.0.2\n"
						"    max_hops: 0\n"
						"services:\n  - name: web\n"
						"    listen: 192.0.2.10:80\n    backends:\n"
						"      - address: 10.0.0.1:80\n");
	struct lb_handoff_plan *p = calloc(1, sizeof(*p));
	char err[256] = "";

	cr_assert_eq(lb_handoff_plan(c, p, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(p->cfg.max_hops, 0);
	cr_expect_eq(p->cfg.npeers, 2);
	cr_expect_eq(p->cfg.port, CONF_FLOW_PORT);
	cr_expect_eq(p->nprefixes, 0);
	free(p);
	conf_free(c);
}

Test(handoff_plan, off_without_the_section)
{
	struct conf *c = sc_conf_load_buffer_ok("bgp: {}\n" SERVICES);
	struct lb_handoff_plan *p = calloc(1, sizeof(*p));
	char err[256] = "";

	cr_expect_eq(lb_handoff_plan(c, p, err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "not configured");
	/* Not configured: off, quietly, and /status says so. */
	struct lb_handoff *h = lb_handoff_start(c, NULL);
	cr_assert_not_null(h);
	cr_expect_str_eq(lb_handoff_state_name(h), "off");
	json_t *j = lb_handoff_status_json(h);
	cr_assert_not_null(j);
	cr_expect_str_eq(json_string_value(json_object_get(j, "state")), "off");
	cr_expect_eq(json_array_size(json_object_get(j, "peers")), 0);
	json_decref(j);
	lb_handoff_close(h, 1);
	free(p);
	conf_free(c);
}

Test(handoff_plan, more_prefixes_than_the_map_holds)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	n += (size_t)snprintf(buf + n, cap - n,
		"bgp:\n  flow_handoff:\n    interfaces: eth0\n    self: 10.1.0.1\n"
		"    peers: 10.1.0.2\nservices:\n  - name: web\n    listen: 192.0.2.10:80\n"
		"    anycast:\n      prefixes:\n");
	for (int i = 0; i <= FLOW_MAX_PREFIX; i++)
		n += (size_t)snprintf(
			buf + n, cap - n, "        - 198.51.%d.%d/32\n", i / 200, i % 200 + 1);
	snprintf(buf + n, cap - n, "    backends:\n      - address: 10.0.0.1:80\n");
	struct conf *c = sc_conf_load_buffer_ok(buf);
	struct lb_handoff_plan *p = calloc(1, sizeof(*p));
	char err[256] = "";

	cr_expect_eq(lb_handoff_plan(c, p, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "more than 256 anycast prefixes") != NULL, "%s", err);
	/* The start fails safe: the reason, no program. */
	struct lb_handoff *h = lb_handoff_start(c, NULL);
	cr_assert_not_null(h);
	cr_expect_str_eq(lb_handoff_state_name(h), "failed");
	json_t *j = lb_handoff_status_json(h);
	cr_assert_not_null(j);
	cr_expect(strstr(json_string_value(json_object_get(j, "reason")), "256") != NULL);
	cr_expect_str_eq(
		json_string_value(json_array_get(json_object_get(j, "interfaces"), 0)), "eth0");
	json_decref(j);
	lb_handoff_close(h, 1);
	free(p);
	free(buf);
	conf_free(c);
}
