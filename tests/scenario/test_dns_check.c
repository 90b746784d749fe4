/*
 * DOC: scenario: dns checks against a real DNS server (Knot DNS)
 *
 * Two knotd processes on loopback ports, each from a configuration and zone this file writes to
 * a temp directory: "good" serves example.org; "bad" either has example.org configured with a
 * zone file that does not exist (knotd answers SERVFAIL for a zone it could not load) or serves
 * only example.net (a name outside its zones: REFUSED). anylb runs a TCP service over both,
 * with a tcp liveness check and a dns readiness check, over udp or tcp. The good server must be
 * ready, the bad one not_ready with the rcode as its reason in /status, and DNS queries through
 * the service (over TCP, as the service is) must all reach the good one.
 *
 * knotd runs through tests/support/knot.c. Skipped when knotd is not installed.
 */
#include "health/dns_msg.h"
#include "lib/dns.h"
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/knot.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void fini(void)
{
	sc_knot_stop_all();
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(dns_check, .fini = fini, .timeout = 60);

/* A temp directory with the example.org zone in it. */
static const char *zone_dir(void)
{
	static char dir[256];
	char zone[300];

	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	snprintf(zone, sizeof(zone), "%s/example.org.zone", dir);
	sc_write_file(zone, "$ORIGIN example.org.\n$TTL 300\n"
			    "@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\n"
			    "ns1 A 192.0.2.53\nwww A 192.0.2.10\n");
	snprintf(zone, sizeof(zone), "%s/example.net.zone", dir);
	sc_write_file(zone,
		"$ORIGIN example.net.\n$TTL 300\n"
		"@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.54\n");
	return dir;
}

static json_t *status_doc(const char *where)
{
	struct sc_http_resp r;
	json_error_t e;
	json_t *j;

	int rc = sc_http(where, "GET", "/status", NULL, 3000, &r);

	cr_assert_eq(rc, 0, "GET /status on %s: %s", where, strerror(-rc));
	j = json_loadb(r.body, r.body_len, 0, &e);
	cr_assert_eq(r.status, 200, "/status answered %d", r.status);
	sc_http_free(&r);
	cr_assert_not_null(j, "/status is not JSON: %s", e.text);
	return j;
}

/* The state and reason of backend addr of the first service. */
static void backend_of(json_t *st, const char *addr, char *state, char *reason, size_t cap)
{
	json_t *s = json_array_get(json_object_get(st, "services"), 0), *b;
	size_t i;

	state[0] = reason[0] = '\0';
	json_array_foreach(json_object_get(s, "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) != 0)
			continue;
		snprintf(state, cap, "%s", json_string_value(json_object_get(b, "state")));
		snprintf(reason, cap, "%s", json_string_value(json_object_get(b, "reason")));
	}
}

/* One DNS query over TCP through addr; the reply's rcode and whether it has 192.0.2.10. */
static int query_through(const char *addr, int *has_answer)
{
	uint8_t wire[DNS_NAME_WIRE_MAX], q[2 + DNS_QUERY_MAX], len[2], reply[1024];
	size_t wlen;
	const char *why;
	char judged[160];

	cr_assert_eq(dns_name_to_wire("www.example.org.", wire, &wlen, &why), 0);
	struct dns_want w = {.id = 0x1234,
		.qtype = DNS_TYPE_A,
		.qname = wire,
		.qname_len = wlen,
		.answer = "192.0.2.10"};
	int n = dns_query_build(q + 2, sizeof(q) - 2, &w);
	q[0] = 0;
	q[1] = (uint8_t)n;
	int fd = sc_connect(addr, 2000);
	cr_assert_geq(fd, 0, "connect %s: %s", addr, strerror(-fd));
	cr_assert_eq(sc_send_all(fd, q, 2 + (size_t)n, 2000), 0);
	cr_assert_eq(sc_recv_exact(fd, len, 2, 3000), 0, "no reply through %s", addr);
	size_t rn = (size_t)((len[0] << 8) | len[1]);
	cr_assert_leq(rn, sizeof(reply));
	cr_assert_eq(sc_recv_exact(fd, reply, rn, 3000), 0);
	close(fd);
	*has_answer = dns_reply_judge(reply, rn, &w, judged, sizeof(judged));
	return reply[3] & 0x0f;
}

static void run(const char *transport, int bad_unloaded, const char *want_reason)
{
	if (access(SC_KNOTD, X_OK) != 0)
		cr_skip_test("no knotd (apt-get install knot)");
	const char *dir = zone_dir();
	int pg = sc_port_free(AF_INET), pb = sc_port_free(AF_INET);
	char good[64], bad[64], listen[SC_ADDRSTRLEN], sock[300], where[320];

	cr_assert_gt(pg, 0);
	cr_assert_gt(pb, 0);
	sc_knot_start(dir, "good", pg, "example.org.", "example.org.zone");
	if (bad_unloaded)
		sc_knot_start(dir, "bad", pb, "example.org.", "missing.zone");
	else
		sc_knot_start(dir, "bad", pb, "example.net.", "example.net.zone");
	snprintf(good, sizeof(good), "127.0.0.1:%d", pg);
	snprintf(bad, sizeof(bad), "127.0.0.1:%d", pb);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(where, sizeof(where), "unix:%s", sock);

	struct sc_lb *lb = sc_lb_start("global:\n  admin:\n    socket: %s\n"
				       "services:\n  - name: dns\n    listen: \"%s\"\n"
				       "    backends:\n      - address: %s\n      - address: %s\n"
				       "    health:\n"
				       "      liveness: {type: tcp, interval: 500ms}\n"
				       "      readiness:\n"
				       "        type: dns\n"
				       "        query: {name: www.example.org., type: A}\n"
				       "        transport: %s\n"
				       "        expect_answer: 192.0.2.10\n"
				       "        interval: 200ms\n"
				       "        timeout: 200ms\n"
				       "        rise: 1\n"
				       "        fall: 1\n",
		sock, listen, good, bad, transport);
	cr_assert_not_null(lb);
	for (int i = 0; i < 50 && access(sock, F_OK) != 0; i++)
		sc_sleep_ms(100); /* the admin socket may come a moment after the listeners */

	char gs[64], gr[160], bs[64], br[160];
	int done = 0;
	for (int i = 0; i < 100 && !done; i++) {
		json_t *st = status_doc(where);

		backend_of(st, good, gs, gr, sizeof(gs));
		backend_of(st, bad, bs, br, sizeof(bs));
		json_decref(st);
		done = strcmp(gs, "ready") == 0 && strcmp(bs, "not_ready") == 0 &&
		       strstr(br, want_reason) != NULL;
		if (!done)
			sc_sleep_ms(100);
	}
	cr_assert(done, "good %s (%s), bad %s (%s), want ready / not_ready with '%s'", gs, gr, bs,
		br, want_reason);

	/* Traffic goes to the ready one only. */
	for (int i = 0; i < 6; i++) {
		int has = 0;

		cr_expect_eq(query_through(listen, &has), 0, "a query through the service");
		cr_expect(has, "the answer from the good server");
	}
	cr_assert_eq(sc_lb_stop(lb), 0);
	sc_knot_stop_all();
}

Test(dns_check, udp_servfail_is_not_ready)
{
	run("udp", 1, "rcode SERVFAIL");
}

Test(dns_check, tcp_refused_is_not_ready)
{
	run("tcp", 0, "rcode REFUSED");
}
