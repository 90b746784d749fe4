/*
 * DOC: scenario: udp services (lb/udp_listener.c)
 *
 * Against real DNS servers (Knot DNS, tests/support/knot.c), with kdig and this file's own
 * queries as clients: answers through anylb over UDP and, on the same address, TCP; a killed
 * backend's queries go to the other one with none failing once it is detected; a backend that
 * answers SERVFAIL fails its dns check and gets no queries. Against a UDP echo server
 * (tests/support/udp.c): a zero-length and a 65507-byte datagram come back as they went, a
 * backend port with nothing behind it is counted as an error, a flood of source ports keeps
 * the table at udp.max_flows while a busy flow goes on working, and a reload keeps a flow; a
 * backend that never answers is ejected after consecutive_failures reply timeouts, and a flow
 * whose backend died moves to the other one at its next datagram. One access log line per flow. A
 * binary upgrade in the middle of 16 flows whose backend answers 150 ms late loses no datagram
 * and no reply: the successor reads the same socket, the old process sends what its flows
 * still awaited.
 *
 * Each test's budget is a few seconds; every wait is bounded.
 */
#include "health/dns_msg.h"
#include "lib/dns.h"
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/knot.h"
#include "tests/support/udp.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void fini(void)
{
	sc_knot_stop_all();
	sc_udp_echo_stop(0);
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(udp, .fini = fini, .timeout = 60);

/* Two zones for example.org whose www differs, so an answer tells which server gave it. */
static const char *zone_dir(void)
{
	static char dir[256];
	char zone[300];

	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	for (int i = 0; i < 2; i++) {
		char text[512];
		snprintf(zone, sizeof(zone), "%s/example.org.%d.zone", dir, i);
		snprintf(text, sizeof(text),
			"$ORIGIN example.org.\n$TTL 300\n"
			"@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\n"
			"ns1 A 192.0.2.53\nwww A 192.0.2.1%d\n",
			i);
		sc_write_file(zone, text);
	}
	return dir;
}

static json_t *status_doc(const char *where)
{
	struct sc_http_resp r;
	json_error_t e;

	int rc = sc_http(where, "GET", "/status", NULL, 3000, &r);
	cr_assert_eq(rc, 0, "GET /status on %s: %s", where, strerror(-rc));
	cr_assert_eq(r.status, 200, "/status answered %d", r.status);
	json_t *j = json_loadb(r.body, r.body_len, 0, &e);
	sc_http_free(&r);
	cr_assert_not_null(j, "/status is not JSON: %s", e.text);
	return j;
}

static json_t *service(json_t *st, const char *name)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(st, "services"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return s;
	}
	cr_assert_fail("no service %s in /status", name);
	return NULL;
}

/* A counter of the udp object of service name. */
static long long udp_counter(const char *where, const char *name, const char *key)
{
	json_t *st = status_doc(where);
	json_t *u = json_object_get(service(st, name), "udp");
	cr_assert_not_null(u, "service %s has no udp object", name);
	long long v = json_integer_value(json_object_get(u, key));
	json_decref(st);
	return v;
}

static const char *backend_state(const char *where, const char *name, const char *addr)
{
	static char state[64];
	json_t *st = status_doc(where), *b;
	size_t i;

	state[0] = '\0';
	json_array_foreach(json_object_get(service(st, name), "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
			snprintf(state, sizeof(state), "%s",
				json_string_value(json_object_get(b, "state")));
	}
	json_decref(st);
	return state;
}

static void wait_state(const char *where, const char *name, const char *addr, const char *want)
{
	for (int i = 0; i < 100; i++) {
		if (strcmp(backend_state(where, name, addr), want) == 0)
			return;
		sc_sleep_ms(50);
	}
	cr_assert_fail("backend %s of %s is %s, want %s", addr, name,
		backend_state(where, name, addr), want);
}

/*
 * One query for www.example.org A over UDP through addr, from a socket (so a source port) of
 * its own: which server answered (0 or 1: 192.0.2.10 or .11), or -1 for no or a bad answer.
 */
static int query(const char *addr)
{
	uint8_t wire[DNS_NAME_WIRE_MAX], q[DNS_QUERY_MAX], reply[1024];
	size_t wlen;
	const char *why;
	char judged[160];
	static uint16_t id = 0x100;

	cr_assert_eq(dns_name_to_wire("www.example.org.", wire, &wlen, &why), 0);
	struct dns_want w = {.id = ++id, .qtype = DNS_TYPE_A, .qname = wire, .qname_len = wlen};
	int n = dns_query_build(q, sizeof(q), &w);
	cr_assert_gt(n, 0);
	int fd = sc_udp_socket(addr);
	cr_assert_geq(fd, 0);
	ssize_t rn = sc_udp_roundtrip(fd, q, (size_t)n, reply, sizeof(reply), 1000);
	close(fd);
	if (rn < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.0.2.1%d", i);
		w.answer = ip;
		if (dns_reply_judge(reply, (size_t)rn, &w, judged, sizeof(judged)))
			return i;
	}
	return -1;
}

/* kdig's short answer for www.example.org through addr, over udp or tcp. */
static void kdig(const char *addr, int tcp, char *out, size_t cap)
{
	char ip[64], cmd[256];
	const char *colon = strrchr(addr, ':');

	snprintf(ip, sizeof(ip), "%.*s", (int)(colon - addr), addr);
	snprintf(cmd, sizeof(cmd),
		"kdig @%s -p %s +short +time=2 +retry=0 %s www.example.org A 2>&1", ip, colon + 1,
		tcp ? "+tcp" : "+notcp");
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	out[0] = '\0';
	if (fgets(out, (int)cap, p) == NULL)
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

struct dns_setup {
	char dir[256], where[320], listen[SC_ADDRSTRLEN], ns[2][64];
	pid_t knot[2];
	struct sc_lb *lb;
};

/*
 * Two knotd (server 1's zone file missing when broken: SERVFAIL) and anylb with a udp and a
 * tcp service on one address over both; extra is more of the udp service's YAML.
 */
static void dns_start(struct dns_setup *d, int broken, const char *extra)
{
	if (access(SC_KNOTD, X_OK) != 0)
		cr_skip_test("no knotd (apt-get install knot)");
	snprintf(d->dir, sizeof(d->dir), "%s", zone_dir());
	for (int i = 0; i < 2; i++) {
		int port = sc_port_free(AF_INET);
		char name[8], file[64];
		cr_assert_gt(port, 0);
		snprintf(name, sizeof(name), "ns%d", i);
		snprintf(file, sizeof(file), "%s",
			broken && i == 1 ? "missing.zone"
			: i              ? "example.org.1.zone"
					 : "example.org.0.zone");
		d->knot[i] = sc_knot_start(d->dir, name, port, "example.org.", file);
		snprintf(d->ns[i], sizeof(d->ns[i]), "127.0.0.1:%d", port);
	}
	cr_assert_gt(sc_free_addr(AF_INET, d->listen, sizeof(d->listen)), 0);
	snprintf(d->where, sizeof(d->where), "unix:%s/admin.sock", d->dir);
	d->lb = sc_lb_start("global:\n  workers: 2\n  admin:\n    socket: %s/admin.sock\n"
			    "services:\n"
			    "  - name: dns-udp\n    protocol: udp\n    listen: \"%s\"\n"
			    "    udp: {responses: 1}\n%s"
			    "    backends:\n      - address: %s\n      - address: %s\n"
			    "  - name: dns-tcp\n    listen: [\"%s\"]\n"
			    "    backends:\n      - address: %s\n      - address: %s\n",
		d->dir, d->listen, extra, d->ns[0], d->ns[1], d->listen, d->ns[0], d->ns[1]);
	cr_assert_not_null(d->lb);
	cr_assert_eq(sc_admin_wait(d->where, 5000), 0);
}

Test(udp, dns_answers_over_udp_and_tcp_on_one_address)
{
	struct dns_setup d;
	char out[128];
	int seen[2] = {0, 0};

	dns_start(&d, 0, "    balance: round_robin\n");
	kdig(d.listen, 0, out, sizeof(out));
	cr_expect(strcmp(out, "192.0.2.10") == 0 || strcmp(out, "192.0.2.11") == 0,
		"kdig over udp: '%s'", out);
	kdig(d.listen, 1, out, sizeof(out));
	cr_expect(strcmp(out, "192.0.2.10") == 0 || strcmp(out, "192.0.2.11") == 0,
		"kdig over tcp: '%s'", out);
	for (int i = 0; i < 40; i++) {
		int who = query(d.listen);
		cr_assert_geq(who, 0, "query %d through the udp service was not answered", i);
		seen[who]++;
	}
	cr_expect_gt(seen[0], 5, "round_robin spreads the flows: %d / %d", seen[0], seen[1]);
	cr_expect_gt(seen[1], 5, "round_robin spreads the flows: %d / %d", seen[0], seen[1]);
	/* responses: 1: each query's flow ended with its answer. */
	cr_expect_geq(udp_counter(d.where, "dns-udp", "flows_created"), 41);
	long long in = udp_counter(d.where, "dns-udp", "datagrams_in");
	cr_expect_geq(in, 41);
	cr_expect_eq(udp_counter(d.where, "dns-udp", "datagrams_out"), in);
	cr_expect_eq(udp_counter(d.where, "dns-udp", "flows_active"), 0);
	cr_expect_eq(udp_counter(d.where, "dns-udp", "dropped"), 0);
	cr_assert_eq(sc_lb_stop(d.lb), 0);
}

Test(udp, a_killed_backend_s_queries_go_to_the_other_one)
{
	struct dns_setup d;

	dns_start(&d, 0,
		"    health:\n      liveness:\n        type: dns\n"
		"        query: {name: www.example.org., type: A}\n"
		"        interval: 200ms\n        timeout: 200ms\n        rise: 1\n        fall: "
		"1\n");
	wait_state(d.where, "dns-udp", d.ns[0], "ready");
	wait_state(d.where, "dns-udp", d.ns[1], "ready");
	/* maglev on the client address: every query of 127.0.0.1 goes to one server. */
	int who = query(d.listen);
	cr_assert_geq(who, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(query(d.listen), who, "maglev keeps one client on one server");
	sc_knot_stop(d.knot[who]);
	wait_state(d.where, "dns-udp", d.ns[who], "dead");
	for (int i = 0; i < 30; i++)
		cr_assert_eq(query(d.listen), 1 - who, "query %d after the detection", i);
	cr_assert_eq(sc_lb_stop(d.lb), 0);
}

Test(udp, a_servfailing_backend_is_not_ready_and_gets_no_query)
{
	struct dns_setup d;

	dns_start(&d, 1,
		"    balance: round_robin\n"
		"    health:\n      readiness:\n        type: dns\n"
		"        query: {name: www.example.org., type: A}\n"
		"        interval: 200ms\n        timeout: 200ms\n        rise: 1\n        fall: "
		"1\n");
	wait_state(d.where, "dns-udp", d.ns[0], "ready");
	wait_state(d.where, "dns-udp", d.ns[1], "not_ready");
	for (int i = 0; i < 30; i++)
		cr_assert_eq(query(d.listen), 0, "query %d: answered by the good server", i);
	cr_assert_eq(sc_lb_stop(d.lb), 0);
}

/* anylb over one echo server with a small flow table, and a second service over a dead port. */
struct echo_setup {
	char dir[256], where[320], listen[SC_ADDRSTRLEN], dead_listen[SC_ADDRSTRLEN], echo[64];
	struct sc_lb *lb;
};

static void echo_start(struct echo_setup *e, const char *backend_extra)
{
	char dead[SC_ADDRSTRLEN];

	snprintf(e->dir, sizeof(e->dir), "%s", sc_admin_temp_dir());
	cr_assert_gt(sc_udp_echo_start(e->echo, sizeof(e->echo), 0), 0);
	cr_assert_gt(sc_free_addr(AF_INET, e->listen, sizeof(e->listen)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, e->dead_listen, sizeof(e->dead_listen)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, dead, sizeof(dead)), 0); /* nothing listens there */
	snprintf(e->where, sizeof(e->where), "unix:%s/admin.sock", e->dir);
	e->lb = sc_lb_start("global:\n  workers: 1\n  admin:\n    socket: %s/admin.sock\n"
			    "  access_log: {target: file, path: %s/access.log, format: logfmt}\n"
			    "services:\n"
			    "  - name: echo\n    protocol: udp\n    listen: \"%s\"\n"
			    "    udp: {max_flows: 32}\n    timeouts: {udp_idle: 5s}\n"
			    "    backends:\n      - address: %s\n%s"
			    "  - name: nothing\n    protocol: udp\n    listen: \"%s\"\n"
			    "    backends:\n      - address: %s\n",
		e->dir, e->dir, e->listen, e->echo, backend_extra, e->dead_listen, dead);
	cr_assert_not_null(e->lb);
	cr_assert_eq(sc_admin_wait(e->where, 5000), 0);
}

Test(udp, any_bytes_go_through_and_a_flood_of_ports_stays_bounded)
{
	static uint8_t big[65507], back[65536];
	struct echo_setup e;

	echo_start(&e, "");
	int fd = sc_udp_socket(e.listen);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_udp_roundtrip(fd, "", 0, back, sizeof(back), 1000), 0,
		"a zero-length datagram comes back as one");
	sc_pattern_fill(7, 0, big, sizeof(big));
	cr_assert_eq(sc_udp_roundtrip(fd, big, sizeof(big), back, sizeof(back), 2000),
		(ssize_t)sizeof(big), "the largest datagram comes back whole");
	cr_assert_eq(sc_pattern_check(7, 0, back, sizeof(big)), -1, "and unchanged");

	/* 200 new source ports against a table of 32, while fd's flow keeps talking. */
	long long created = udp_counter(e.where, "echo", "flows_created");
	cr_assert_eq(created, 1, "one flow so far: fd's");
	int ports[200];
	for (int i = 0; i < 200; i++) { /* each kept open: 200 different ports */
		int c = ports[i] = sc_udp_socket(e.listen);
		cr_assert_geq(c, 0);
		cr_assert_eq(
			sc_udp_roundtrip(c, "x", 1, back, sizeof(back), 1000), 1, "port %d", i);
		if (i % 10 == 0)
			cr_assert_eq(sc_udp_roundtrip(fd, "busy", 4, back, sizeof(back), 1000), 4,
				"the busy flow still works after %d new ports", i);
	}
	cr_expect_leq(udp_counter(e.where, "echo", "flows_active"), 32);
	cr_expect_geq(udp_counter(e.where, "echo", "flows_evicted"), 200 - 32);
	cr_expect_eq(udp_counter(e.where, "echo", "flows_created"), created + 200,
		"one flow per new port, none again for the busy one: it was never evicted");
	cr_expect_eq(udp_counter(e.where, "echo", "dropped"), 0);
	for (int i = 0; i < 200; i++)
		close(ports[i]);

	/* A backend port with nothing behind it: ICMP port unreachable, counted. */
	int d = sc_udp_socket(e.dead_listen);
	cr_assert_geq(d, 0);
	for (int i = 0; i < 3; i++)
		cr_expect_lt(sc_udp_roundtrip(d, "hello", 5, back, sizeof(back), 200), 0);
	close(d);
	long long errs = 0;
	for (int i = 0; i < 20 && errs == 0; i++, sc_sleep_ms(50))
		errs = udp_counter(e.where, "nothing", "backend_errors");
	cr_expect_geq(errs, 1, "port unreachable from the backend is counted");
	close(fd);
	cr_assert_eq(sc_lb_stop(e.lb), 0, "anylb is still running and stops cleanly");

	/* One access line per flow: the evicted ones, the refused one, and at the stop the rest. */
	char path[300];
	snprintf(path, sizeof(path), "%s/access.log", e.dir);
	char *log = sc_read_file(path);
	cr_assert_not_null(log);
	/* The busy flow: 0 + 65507 bytes, then "busy" 20 times, each echoed. */
	const char *busy = strstr(log, "bytes_in=65587 bytes_out=65587");
	cr_expect_not_null(busy, "the busy flow's line has its bytes");
	if (busy != NULL)
		cr_expect(strncmp(strstr(busy, "result="), "result=done reason=drained\n", 27) == 0,
			"the stop drained it: %.80s", strstr(busy, "result="));
	int evicted = 0, refused = 0, lines = 0;
	for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		lines++;
		evicted += strstr(line, "service=echo") != NULL &&
			   strstr(line, "reason=\"evicted: udp.max_flows reached\"") != NULL;
		refused += strstr(line, "service=nothing") != NULL &&
			   strstr(line, "result=backend_error reason=\"port unreachable\"") != NULL;
	}
	cr_expect_geq(evicted, 200 - 32, "%d lines", lines);
	cr_expect_geq(refused, 1);

	free(log);
}

Test(udp, a_reload_keeps_the_listener_and_the_flow)
{
	uint8_t back[64];
	struct echo_setup e;

	echo_start(&e, "");
	int fd = sc_udp_socket(e.listen);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_udp_roundtrip(fd, "one", 3, back, sizeof(back), 1000), 3);
	long long created = udp_counter(e.where, "echo", "flows_created");

	/* The same file with a weight changed: a real reload. */
	char *text = sc_read_file(sc_lb_config_path(e.lb));
	cr_assert_not_null(text);
	char *at = strstr(text, "      - address: ");
	cr_assert_not_null(at);
	char *eol = strchr(at, '\n');
	FILE *f = fopen(sc_lb_config_path(e.lb), "w");
	cr_assert_not_null(f);
	fprintf(f, "%.*s\n        weight: 7%s", (int)(eol - text), text, eol);
	fclose(f);
	free(text);
	cr_assert_eq(sc_lb_signal(e.lb, SIGHUP), 0);
	int reloaded = 0;
	for (int i = 0; i < 100 && !reloaded; i++) {
		json_t *st = status_doc(e.where);
		json_t *b = json_array_get(json_object_get(service(st, "echo"), "backends"), 0);
		reloaded = json_integer_value(json_object_get(b, "weight")) == 7;
		json_decref(st);
		if (!reloaded)
			sc_sleep_ms(50);
	}
	cr_assert(reloaded, "the reload did not apply");
	cr_assert_eq(sc_udp_roundtrip(fd, "two", 3, back, sizeof(back), 1000), 3,
		"the flow works across the reload");
	cr_expect_eq(
		udp_counter(e.where, "echo", "flows_created"), created, "and it is the same flow");
	close(fd);
	cr_assert_eq(sc_lb_stop(e.lb), 0);
}

/* A bound udp socket on 127.0.0.1 and a free port; its address into addr. */
static int udp_bound(char *addr, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_addr_parse("127.0.0.1:0", &ss, &len), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	sc_addr_format((struct sockaddr *)&ss, addr, cap);
	return fd;
}

/* anylb with one udp service, "echo", on a free address: its admin socket, its address. */
struct one_udp {
	char dir[256], where[320], listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
};

/* global: more lines under `global:` ("" for none); fmt: the rest of the service's YAML. */
static void one_udp_start(struct one_udp *o, const char *global, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void one_udp_start(struct one_udp *o, const char *global, const char *fmt, ...)
{
	char *tail = NULL;
	va_list ap;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&tail, fmt, ap), 0);
	va_end(ap);
	snprintf(o->dir, sizeof(o->dir), "%s", sc_admin_temp_dir());
	cr_assert_gt(sc_free_addr(AF_INET, o->listen, sizeof(o->listen)), 0);
	snprintf(o->where, sizeof(o->where), "unix:%s/admin.sock", o->dir);
	o->lb = sc_lb_start("global:\n%s  admin:\n    socket: %s/admin.sock\n"
			    "services:\n  - name: echo\n    protocol: udp\n    listen: \"%s\"\n%s",
		global, o->dir, o->listen, tail);
	free(tail);
	cr_assert_not_null(o->lb);
	cr_assert_eq(sc_admin_wait(o->where, 5000), 0);
}

/* The sessions count (flows it got) of backend addr of service name. */
static long long backend_flows(const char *where, const char *name, const char *addr)
{
	json_t *st = status_doc(where), *b;
	size_t i;
	long long n = -1;

	json_array_foreach(json_object_get(service(st, name), "backends"), i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0)
			n = json_integer_value(json_object_get(b, "sessions"));
	}
	json_decref(st);
	return n;
}

Test(udp, a_backend_that_never_answers_is_ejected)
{
	char echo[64], silent[64];
	uint8_t back[64];
	struct one_udp o;

	cr_assert_gt(sc_udp_echo_start(echo, sizeof(echo), 0), 0);
	/* A socket that is bound and never read: datagrams to it are never answered. */
	int sfd = udp_bound(silent, sizeof(silent));
	one_udp_start(&o, "  workers: 1\n",
		"    balance: round_robin\n    udp: {responses: 1, reply_timeout: 100ms}\n"
		"    outlier: {consecutive_failures: 3, base_ejection_time: 60s}\n"
		"    backends:\n      - address: %s\n      - address: %s\n",
		echo, silent);
	const char *where = o.where, *listen = o.listen;
	struct sc_lb *lb = o.lb;

	/* Round robin: every other new flow goes to the silent one until it is ejected. */
	int unanswered = 0;
	for (int i = 0; i < 12 && strcmp(backend_state(where, "echo", silent), "ejected") != 0;
		i++) {
		int fd = sc_udp_socket(listen);
		cr_assert_geq(fd, 0);
		unanswered += sc_udp_roundtrip(fd, "q", 1, back, sizeof(back), 300) != 1;
		close(fd);
	}
	wait_state(where, "echo", silent, "ejected");
	cr_expect_eq(unanswered, 3, "the three unanswered flows that ejected it");
	cr_expect_geq(udp_counter(where, "echo", "replies_missing"), 3);
	for (int i = 0; i < 20; i++) {
		int fd = sc_udp_socket(listen);
		cr_assert_geq(fd, 0);
		cr_assert_eq(sc_udp_roundtrip(fd, "q", 1, back, sizeof(back), 1000), 1,
			"flow %d after the ejection", i);
		close(fd);
	}
	close(sfd);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(udp, a_dead_backend_s_flow_moves_at_its_next_datagram)
{
	char echo[2][64];
	pid_t pid[2];
	uint8_t back[64];
	struct one_udp o;

	for (int i = 0; i < 2; i++) {
		pid[i] = sc_udp_echo_start(echo[i], sizeof(echo[i]), 0);
		cr_assert_gt(pid[i], 0);
	}
	one_udp_start(&o, "  workers: 1\n",
		"    health:\n      liveness:\n        type: udp_send_expect\n"
		"        send: ping\n        expect: ping\n"
		"        interval: 100ms\n        timeout: 100ms\n        fall: 1\n        rise: "
		"1\n"
		"    backends:\n      - address: %s\n      - address: %s\n",
		echo[0], echo[1]);
	const char *where = o.where, *listen = o.listen;
	struct sc_lb *lb = o.lb;
	for (int i = 0; i < 2; i++)
		wait_state(where, "echo", echo[i], "ready");

	int fd = sc_udp_socket(listen); /* one long flow: udp.responses is 0 */
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_udp_roundtrip(fd, "one", 3, back, sizeof(back), 1000), 3);
	int on = backend_flows(where, "echo", echo[0]) == 1 ? 0 : 1;
	cr_assert_eq(backend_flows(where, "echo", echo[on]), 1, "the flow is on one backend");
	cr_assert_eq(sc_udp_roundtrip(fd, "two", 3, back, sizeof(back), 1000), 3);
	cr_expect_eq(udp_counter(where, "echo", "flows_created"), 1, "the same flow");

	sc_udp_echo_stop(pid[on]);
	wait_state(where, "echo", echo[on], "dead");
	cr_assert_eq(sc_udp_roundtrip(fd, "three", 5, back, sizeof(back), 1000), 5,
		"the flow's next datagram is answered by the other backend");
	cr_expect_eq(backend_flows(where, "echo", echo[1 - on]), 1);
	cr_expect_eq(
		udp_counter(where, "echo", "flows_created"), 2, "a new flow, to the other one");
	close(fd);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(udp, a_reply_from_another_address_is_dropped_and_counted_missing)
{
	char be[64], other[64];
	uint8_t buf[64];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	struct one_udp o;

	int bfd = udp_bound(be, sizeof(be)), ofd = udp_bound(other, sizeof(other));
	one_udp_start(&o, "  workers: 1\n",
		"    udp: {reply_timeout: 200ms}\n    backends:\n      - address: %s\n", be);
	const char *where = o.where, *listen = o.listen;
	struct sc_lb *lb = o.lb;
	int c = sc_udp_socket(listen);
	cr_assert_geq(c, 0);
	cr_assert_eq(send(c, "hi", 2, 0), 2);
	struct pollfd p = {.fd = bfd, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 2000), 1, "the datagram reached the backend");
	cr_assert_eq(recvfrom(bfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 2);
	/* The answer comes from another port of the backend's host: not the flow's peer. */
	cr_assert_eq(sendto(ofd, "spoof", 5, 0, (struct sockaddr *)&from, fl), 5);
	p = (struct pollfd){.fd = c, .events = POLLIN};
	cr_expect_eq(poll(&p, 1, 500), 0, "the client gets nothing");
	long long missing = 0;
	for (int i = 0; i < 40 && missing == 0; i++, sc_sleep_ms(50))
		missing = udp_counter(where, "echo", "replies_missing");
	cr_expect_eq(missing, 1, "the real reply is counted missing");
	cr_expect_eq(udp_counter(where, "echo", "datagrams_out"), 0);
	close(c);
	close(bfd);
	close(ofd);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(udp, allow_judges_a_flow_at_its_first_datagram)
{
	char echo[64];
	uint8_t back[64];
	struct sockaddr_storage ss;
	socklen_t len;
	struct one_udp o;

	cr_assert_gt(sc_udp_echo_start(echo, sizeof(echo), 0), 0);
	one_udp_start(&o, "  workers: 1\n",
		"    allow: [127.0.0.2]\n    backends:\n      - address: %s\n", echo);
	const char *where = o.where, *listen = o.listen;
	struct sc_lb *lb = o.lb;
	int from1 = sc_udp_socket(listen); /* from 127.0.0.1 */
	cr_assert_geq(from1, 0);
	cr_expect_eq(sc_udp_roundtrip(from1, "no", 2, back, sizeof(back), 300), -ETIMEDOUT,
		"127.0.0.1 is not in allow");
	int from2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(from2, 0);
	cr_assert_eq(sc_addr_parse("127.0.0.2:0", &ss, &len), 0);
	cr_assert_eq(bind(from2, (struct sockaddr *)&ss, len), 0);
	cr_assert_eq(sc_addr_parse(listen, &ss, &len), 0);
	cr_assert_eq(connect(from2, (struct sockaddr *)&ss, len), 0);
	cr_expect_eq(
		sc_udp_roundtrip(from2, "yes", 3, back, sizeof(back), 1000), 3, "127.0.0.2 is");
	json_t *st = status_doc(where);
	json_t *c = json_object_get(service(st, "echo"), "counters");
	cr_expect_eq(json_integer_value(json_object_get(c, "denied")), 1);
	json_decref(st);
	cr_expect_eq(udp_counter(where, "echo", "flows_created"), 1, "no flow for the refused one");
	close(from1);
	close(from2);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/* ---- the binary upgrade ---- */

#define UP_FLOWS 16
#define UP_EVERY 40 /* ms between two datagrams of a flow */

struct up_load {
	pthread_t th;
	char addr[SC_ADDRSTRLEN];
	atomic_int stop;
	uint64_t sent, got, bad;
};

/* UP_FLOWS flows, each a numbered datagram every UP_EVERY ms; every echo is checked and counted. */
static void *up_main(void *arg)
{
	struct up_load *u = arg;
	int fds[UP_FLOWS];
	uint32_t next[UP_FLOWS] = {0};
	uint8_t *seen[UP_FLOWS];
	int64_t last = 0, quiet_until = 0;

	for (int i = 0; i < UP_FLOWS; i++) {
		fds[i] = sc_udp_socket(u->addr);
		seen[i] = calloc(65536, 1);
	}
	for (;;) {
		int64_t now = sc_now_ms();
		if (atomic_load(&u->stop) && quiet_until == 0)
			quiet_until = now + 1000; /* the last replies are still on their way */
		if (quiet_until != 0 && now >= quiet_until)
			break;
		if (quiet_until == 0 && now - last >= UP_EVERY) {
			last = now;
			for (int i = 0; i < UP_FLOWS; i++) {
				uint32_t msg[2] = {(uint32_t)i, next[i]++};
				if (send(fds[i], msg, sizeof(msg), 0) == sizeof(msg))
					u->sent++;
			}
		}
		struct pollfd p[UP_FLOWS];
		for (int i = 0; i < UP_FLOWS; i++)
			p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		if (poll(p, UP_FLOWS, 10) <= 0)
			continue;
		for (int i = 0; i < UP_FLOWS; i++) {
			uint32_t msg[2];
			while ((p[i].revents & POLLIN) &&
				recv(fds[i], msg, sizeof(msg), 0) == sizeof(msg)) {
				if (msg[0] != (uint32_t)i || msg[1] >= next[i] || msg[1] >= 65536 ||
					seen[i][msg[1]]++) {
					u->bad++;
					continue;
				}
				u->got++;
			}
		}
	}
	for (int i = 0; i < UP_FLOWS; i++) {
		close(fds[i]);
		free(seen[i]);
	}
	return NULL;
}

Test(udp, an_upgrade_loses_no_datagram_and_no_awaited_reply)
{
	char echo[64];
	struct up_load u = {0};
	struct one_udp o;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	/* Replies take 150 ms: the old process has flows awaiting them when it hands over. */
	cr_assert_gt(sc_udp_echo_start(echo, sizeof(echo), 150), 0);
	one_udp_start(&o, "  workers: 2\n  drain_timeout: 5s\n",
		"    backends:\n      - address: %s\n", echo);
	const char *where = o.where, *listen = o.listen;
	struct sc_lb *lb = o.lb;
	long pid = sc_lb_pid(lb);

	snprintf(u.addr, sizeof(u.addr), "%s", listen);
	cr_assert_eq(pthread_create(&u.th, NULL, up_main, &u), 0);
	sc_sleep_ms(600);
	cr_assert_eq(kill((pid_t)pid, SIGUSR2), 0);
	long next = sc_upgrade_wait_successor(where, pid, 10000);
	sc_sleep_ms(1000);
	atomic_store(&u.stop, 1);
	pthread_join(u.th, NULL);
	cr_assert_gt(next, 0, "no successor took over");
	printf("udp upgrade: %llu datagrams sent, %llu echoed, %llu wrong\n",
		(unsigned long long)u.sent, (unsigned long long)u.got, (unsigned long long)u.bad);
	cr_expect_gt(u.sent, (uint64_t)UP_FLOWS * 30, "the load ran");
	cr_expect_eq(u.bad, 0, "no duplicated or corrupted echo");
	cr_expect_eq(u.got, u.sent, "every datagram came back across the upgrade");
	cr_expect_gt(udp_counter(where, "echo", "datagrams_in"), 0, "the successor serves");
	cr_expect_eq(sc_lb_wait(lb, 10000), 0, "the old one exits 0 once its replies went out");
	kill((pid_t)next, SIGTERM);
	for (int i = 0; i < 200 && waitpid((pid_t)next, NULL, WNOHANG) != (pid_t)next; i++)
		sc_sleep_ms(50);
	sc_lb_stop(lb);
}
