/*
 * DOC: the flow hand-off in a running anylb (lb/handoff.c)
 *
 * In a namespace the test makes (a veth pair, nothing else: no BIRD), anylb with
 * bgp.flow_handoff attaches its program to tc ingress of the named interface: `tc filter show`
 * lists it while anylb runs, /status says on, /metrics counts, and the SIGTERM stop removes it.
 * With an interface that does not exist anylb starts and serves all the same, /status says
 * failed with the reason, and the log says it once. An upgrade's successor replaces the filter
 * and the old process leaves it. And the promise itself: with two boxes and a router, a session
 * established through box A survives the router sending it to box B, whose program forwards the
 * segments to A; the same for an IPv6 anycast prefix, whose segments B sends to A in the same
 * IPv4/UDP encapsulation between the IPv4 uplinks (the client's side is IPv6, nodad addresses,
 * IPv6 forwarding on in the router); and with three boxes, an IPv6 flow two hops away (B hands it
 * to C, C on to A: the segment C forwards still carries B's encapsulation mark, the -EALREADY
 * path of forward()). Peers that are gone are skipped: a box stopped (it says it is leaving) and
 * a box whose uplink went down (silent for peer_timeout, back when heard again) no longer get
 * the segments of flows they cannot pass on; a box upgraded in place never leaves its peer's
 * ring (not even for a heartbeat), its successor keeps skipping a box the old process had found
 * gone, and its stop says "leaving". Skipped without
 * ANYLB_BPF or root.
 *
 * Budget: the suite's timeout is 60 s per case; each two- or three-box case takes about 1-4 s
 * (namespaces, an anylb and a backend per box, three echoes bounded at 3 s each; waits for a
 * peer's liveness bounded at 3-5 s with 200 ms heartbeats).
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_netns_cleanup();
	sc_admin_cleanup();
}

TestSuite(handoff, .fini = fini, .timeout = 60);

static void need_bpf_and_root(void)
{
#ifndef ANYLB_BPF
	cr_skip_test("built without ANYLB_BPF: no flow hand-off");
#endif
	char path[256];
	if (geteuid() != 0)
		cr_skip_test("needs root (namespaces, tc, BPF)");
	if (sc_which("ip", path, sizeof(path)) < 0 || sc_which("tc", path, sizeof(path)) < 0)
		cr_skip_test("needs ip and tc (iproute2)");
}

/* GET /status's flow_handoff object (a new reference). */
static json_t *status_handoff(const char *where)
{
	struct sc_http_resp r;
	json_error_t e;

	cr_assert_eq(sc_http(where, "GET", "/status", NULL, 3000, &r), 0);
	cr_assert_eq(r.status, 200);
	json_t *doc = json_loads(r.body, 0, &e);
	sc_http_free(&r);
	cr_assert_not_null(doc, "/status is not JSON: %s", e.text);
	json_t *f = json_incref(json_object_get(doc, "flow_handoff"));
	json_decref(doc);
	cr_assert(json_is_object(f), "/status has no flow_handoff object");
	return f;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

/* What `tc filter show dev IF ingress` says inside ns. */
static void tc_show(const char *ns, const char *dev, char *out, size_t cap)
{
	int rc = sc_cmd(out, cap, 5000, "ip netns exec %s tc filter show dev %s ingress", ns, dev);
	cr_assert_geq(rc, 0, "tc: %s", strerror(-rc));
}

static struct sc_lb *start_lb(const char *ns, const char *dir, const char *iface, int port)
{
	if (ns != NULL)
		cr_assert_eq(sc_netns_enter(ns), 0);
	struct sc_lb *lb =
		sc_lb_start("global:\n  workers: 1\n  admin:\n    socket: %s/admin.sock\n"
			    "bgp:\n  announce: bird_protocol\n"
			    "  bird_socket: %s/no-bird.ctl\n"
			    "  flow_handoff:\n    interfaces: [%s]\n"
			    "    self: 10.1.0.1\n    peers: [10.1.0.2, 10.1.0.3]\n"
			    "services:\n  - name: web\n    listen: [\"127.0.0.1:%d\"]\n"
			    "    backends:\n      - address: 127.0.0.1:9\n",
			dir, dir, iface, port);
	if (ns != NULL)
		sc_netns_enter(NULL);
	cr_assert_not_null(lb);
	return lb;
}

Test(handoff, attached_while_running_and_detached_at_the_stop)
{
	need_bpf_and_root();
	char ns[64], dir[256], where[300], out[8192];

	snprintf(ns, sizeof(ns), "anylb-t%ld-ho", (long)getpid());
	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	snprintf(where, sizeof(where), "unix:%s/admin.sock", dir);
	cr_assert_eq(sc_netns_add(ns), 0);
	cr_assert_eq(
		sc_cmd(out, sizeof(out), 5000, "ip -n %s link add ho0 type veth peer name ho1", ns),
		0, "%s", out);
	cr_assert_eq(sc_cmd(out, sizeof(out), 5000, "ip -n %s addr add 10.1.0.1/24 dev ho0", ns), 0,
		"%s", out);
	cr_assert_eq(sc_cmd(out, sizeof(out), 5000, "ip -n %s link set ho0 up", ns), 0, "%s", out);
	cr_assert_eq(sc_cmd(out, sizeof(out), 5000, "ip -n %s link set ho1 up", ns), 0, "%s", out);

	tc_show(ns, "ho0", out, sizeof(out));
	cr_assert(strstr(out, "flow_handoff") == NULL, "a filter before anylb ran:\n%s", out);

	struct sc_lb *lb = start_lb(ns, dir, "ho0", sc_port_free(AF_INET));
	cr_assert_eq(sc_admin_wait(where, 5000), 0);
	tc_show(ns, "ho0", out, sizeof(out));
	cr_expect(strstr(out, "flow_handoff") != NULL, "no filter while anylb runs:\n%s", out);
	cr_expect(strstr(out, "handle 0x1") != NULL, "not at handle 1:\n%s", out);

	json_t *f = status_handoff(where);
	cr_expect_str_eq(jstr(f, "state"), "on", "reason: %s", jstr(f, "reason"));
	cr_expect_str_eq(
		json_string_value(json_array_get(json_object_get(f, "interfaces"), 0)), "ho0");
	json_t *peers = json_object_get(f, "peers");
	cr_expect_eq(json_array_size(peers), 4, "self, two peers, the strangers");
	cr_expect_str_eq(jstr(json_array_get(peers, 0), "address"), "10.1.0.1");
	cr_expect(json_is_true(json_object_get(json_array_get(peers, 0), "self")));
	cr_expect_str_eq(jstr(json_array_get(peers, 1), "address"), "10.1.0.2");
	cr_expect(json_is_integer(json_object_get(json_array_get(peers, 1), "forwarded")));
	json_decref(f);

	struct sc_http_resp m;
	cr_assert_eq(sc_http(where, "GET", "/metrics", NULL, 3000, &m), 0);
	cr_expect(strstr(m.body, "anylb_flow_handoff_on 1\n") != NULL, "%s", m.body);
	cr_expect(strstr(m.body, "anylb_flow_handoff_packets_total{peer=\"10.1.0.2\","
				 "result=\"forwarded\"} ") != NULL);
	sc_http_free(&m);

	struct sc_run ctl;
	char sock[300];
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	cr_assert_eq(sc_run_anylbctl(&ctl, 5000, "-s", sock, "status", NULL), 0);
	cr_expect(strstr(ctl.out, "flow hand-off: on") != NULL, "anylbctl status:\n%s%s", ctl.out,
		ctl.err);
	sc_run_free(&ctl);

	cr_expect_eq(sc_lb_stop(lb), 0);
	tc_show(ns, "ho0", out, sizeof(out));
	cr_expect(strstr(out, "flow_handoff") == NULL, "the filter outlived anylb:\n%s", out);
}

/* The program id of the filter `tc filter show` lists (" id N "), 0 when none. */
static long tc_prog_id(const char *ns, const char *dev)
{
	char out[8192];

	tc_show(ns, dev, out, sizeof(out));
	const char *p = strstr(out, "flow_handoff");
	if (p == NULL)
		return 0;
	p = strstr(out, " id ");
	return p != NULL ? strtol(p + 4, NULL, 10) : 0;
}

static void veth_ns(const char *ns)
{
	char out[4096];

	cr_assert_eq(sc_netns_add(ns), 0);
	cr_assert_eq(
		sc_cmd(out, sizeof(out), 5000, "ip -n %s link add ho0 type veth peer name ho1", ns),
		0, "%s", out);
	cr_assert_eq(sc_cmd(out, sizeof(out), 5000, "ip -n %s link set ho0 up", ns), 0, "%s", out);
}

/*
 * An upgrade: the successor replaces the filter (another program id, never none), the old
 * process exits without removing it, and the successor's stop does.
 */
Test(handoff, an_upgrade_hands_the_filter_over)
{
	need_bpf_and_root();
	char ns[64], dir[256], where[300];

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(ns, sizeof(ns), "anylb-t%ld-hu", (long)getpid());
	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	snprintf(where, sizeof(where), "unix:%s/admin.sock", dir);
	veth_ns(ns);
	struct sc_lb *lb = start_lb(ns, dir, "ho0", sc_port_free(AF_INET));
	cr_assert_eq(sc_admin_wait(where, 5000), 0);
	long before = tc_prog_id(ns, "ho0");
	cr_assert_gt(before, 0, "no filter before the upgrade");

	long pid = sc_lb_pid(lb);
	cr_assert_eq(kill((pid_t)pid, SIGUSR2), 0);
	long next = sc_upgrade_wait_successor(where, pid, 10000);
	cr_assert_gt(next, 0, "no successor took over");
	long during = tc_prog_id(ns, "ho0");
	cr_expect_gt(during, 0, "no filter once the successor took over");
	cr_expect_neq(during, before, "the successor did not replace the filter");
	json_t *f = status_handoff(where);
	cr_expect_str_eq(jstr(f, "state"), "on", "successor: %s", jstr(f, "reason"));
	json_decref(f);

	cr_expect_eq(sc_lb_wait(lb, 10000), 0, "the old process exits 0 after its drain");
	cr_expect_eq(
		tc_prog_id(ns, "ho0"), during, "the old process removed the successor's filter");
	cr_expect_eq(sc_lb_log_count(lb, 0, "flow hand-off: on -> handed_over"), 1);

	cr_expect(sc_stop_successor(next, 10000), "the successor did not stop");
	cr_expect_eq(tc_prog_id(ns, "ho0"), 0, "the successor's stop left its filter");
	sc_lb_stop(lb);
}

Test(handoff, a_bad_interface_fails_safe)
{
	need_bpf_and_root();
	char dir[256], where[300], addr[64];
	int port = sc_port_free(AF_INET);

	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	snprintf(where, sizeof(where), "unix:%s/admin.sock", dir);
	struct sc_lb *lb = start_lb(NULL, dir, "nosuch0", port);
	cr_assert_eq(sc_admin_wait(where, 5000), 0);

	json_t *f = status_handoff(where);
	cr_expect_str_eq(jstr(f, "state"), "failed");
	cr_expect(strstr(jstr(f, "reason"), "nosuch0") != NULL, "reason: %s", jstr(f, "reason"));
	json_decref(f);
	cr_expect_eq(sc_lb_log_count(lb, 0, "flow hand-off"), 1, "said once in the log");
	cr_expect_eq(sc_lb_log_count(lb, 0, "interface nosuch0"), 1);

	/* And it serves: the listener takes connections (the backend refuses, that is fine). */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	int fd = sc_connect(addr, 2000);
	/* anylb accepts, finds no backend and resets: the reset may come before the connect is
	 * seen complete, which is as much an answer from the listener. */
	cr_expect(fd >= 0 || fd == -ECONNRESET, "anylb does not accept: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);
	cr_expect_eq(sc_lb_stop(lb), 0);
}

/* ---- two boxes: a flow that moves to the other box survives --------------------------------- */

/*
 *   client (in r) --- r: 192.0.2.10/32 via A, then via B
 *      ra 10.1.1.1 |            | rb 10.1.2.1
 *     ha0 10.1.1.2 |            | hb0 10.1.2.2
 *                box A        box B      both: 192.0.2.10 on lo, anylb and a backend
 */
static void run_in(const char *ns, const char *fmt, const char *a, const char *b)
{
	char cmd[512], out[4096];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	int rc = sc_cmd(out, sizeof(out), 5000, "ip netns exec %s %s", ns, cmd);
	cr_assert_eq(rc, 0, "%s: %s: %s", ns, cmd, out);
}

/* As start_box, with more keys of flow_handoff (each line "    key: value\n") in extra. */
static struct sc_lb *start_box_with(const char *ns, const char *dir, const char *name,
	const char *iface, const char *self, const char *peer, const char *listen,
	const char *prefix, const char *extra)
{
	cr_assert_eq(sc_netns_enter(ns), 0);
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	cr_assert_not_null(be);
	struct sc_lb *lb = sc_lb_start("global:\n  workers: 1\n  admin:\n    socket: %s/%s.sock\n"
				       "bgp:\n  announce: bird_protocol\n"
				       "  bird_socket: %s/no-bird.ctl\n"
				       "  flow_handoff:\n    interfaces: [%s]\n"
				       "    self: %s\n    peers: [%s]\n%s"
				       "services:\n  - name: web\n    listen: [\"%s\"]\n"
				       "    anycast:\n      prefixes: [%s]\n"
				       "      bird_protocol: anylb_web\n"
				       "    backends:\n      - address: %s\n",
		dir, name, dir, iface, self, peer, extra, listen, prefix, sc_backend_addr(be));
	sc_netns_enter(NULL);
	cr_assert_not_null(lb);
	return lb;
}

static struct sc_lb *start_box(const char *ns, const char *dir, const char *name, const char *iface,
	const char *self, const char *peer, const char *listen, const char *prefix)
{
	return start_box_with(ns, dir, name, iface, self, peer, listen, prefix, "");
}

/* The counter `what` of the entry for address in a box's /status. */
static long long peer_counter(const char *where, const char *address, const char *what)
{
	json_t *f = status_handoff(where), *p;
	size_t i;
	long long v = -1;

	json_array_foreach(json_object_get(f, "peers"), i, p)
	{
		if (strcmp(jstr(p, "address"), address) == 0)
			v = json_integer_value(json_object_get(p, what));
	}
	json_decref(f);
	return v;
}

/*
 * A router and n boxes (2 or 3), named anylb-t<pid>-<tag>r, ...<tag>a, <tag>b, <tag>c: box i's
 * uplink h<x>0 10.1.<i+1>.2/24 (and fd00:1:<i+1>::2/64 with ipv6) to the router's r<x>
 * 10.1.<i+1>.1 (fd00:1:<i+1>::1), anycast (192.0.2.10/32, or 2001:db8:a::10/128 with ipv6) on
 * every box's lo, and the router sending it to box A. Admin sockets: admin[i], in dir.
 */
struct site {
	char r[64], box[3][64], dir[256], admin[3][300];
	int n;
};

static void site_up(struct site *s, const char *tag, int n, int ipv6)
{
	static const char *const x[3] = {"a", "b", "c"};
	long pid = (long)getpid();
	char out[4096], cmd[128];

	s->n = n;
	snprintf(s->r, sizeof(s->r), "anylb-t%ld-%sr", pid, tag);
	snprintf(s->dir, sizeof(s->dir), "%s", sc_admin_temp_dir());
	cr_assert_eq(sc_netns_add(s->r), 0);
	run_in(s->r, "sysctl -qw net.ipv4.ip_forward=1%s%s", "", "");
	if (ipv6)
		run_in(s->r, "sysctl -qw net.ipv6.conf.all.forwarding=1%s%s", "", "");
	for (int i = 0; i < n; i++) {
		char rif[8], hif[8], ra[40], ha[40];
		snprintf(s->box[i], sizeof(s->box[i]), "anylb-t%ld-%s%s", pid, tag, x[i]);
		snprintf(s->admin[i], sizeof(s->admin[i]), "unix:%s/%s.sock", s->dir, x[i]);
		snprintf(rif, sizeof(rif), "r%s", x[i]);
		snprintf(hif, sizeof(hif), "h%s0", x[i]);
		cr_assert_eq(sc_netns_add(s->box[i]), 0);
		cr_assert_eq(sc_cmd(out, sizeof(out), 5000,
				     "ip -n %s link add %s type veth peer name %s netns %s", s->r,
				     rif, hif, s->box[i]),
			0, "%s", out);
		snprintf(ra, sizeof(ra), "10.1.%d.1", i + 1);
		snprintf(ha, sizeof(ha), "10.1.%d.2", i + 1);
		run_in(s->r, "ip addr add %s/24 dev %s", ra, rif);
		run_in(s->r, "ip link set %s up%s", rif, "");
		run_in(s->box[i], "ip addr add %s/24 dev %s", ha, hif);
		run_in(s->box[i], "ip link set %s up%s", hif, "");
		run_in(s->box[i], "ip route add default via %s%s", ra, "");
		if (ipv6) {
			snprintf(ra, sizeof(ra), "fd00:1:%d::1", i + 1);
			snprintf(ha, sizeof(ha), "fd00:1:%d::2", i + 1);
			run_in(s->r, "ip -6 addr add %s/64 dev %s nodad", ra, rif);
			run_in(s->box[i], "ip -6 addr add %s/64 dev %s nodad", ha, hif);
			run_in(s->box[i], "ip -6 addr add 2001:db8:a::10/128 dev lo nodad%s%s", "",
				"");
			run_in(s->box[i], "ip -6 route add default via %s%s", ra, "");
		} else {
			run_in(s->box[i], "ip addr add 192.0.2.10/32 dev lo%s%s", "", "");
		}
		/* What a box forwards goes back out of its uplink, with its own source address. */
		run_in(s->box[i], "sysctl -qw net.ipv4.ip_forward=1%s%s", "", "");
		snprintf(cmd, sizeof(cmd), "net.ipv4.conf.%s", hif);
		run_in(s->box[i], "sysctl -qw %s.accept_local=1%s", cmd, "");
		run_in(s->box[i], "sysctl -qw %s.rp_filter=0%s", cmd, "");
		run_in(s->box[i], "sysctl -qw net.ipv4.conf.all.rp_filter=0%s%s", "", "");
	}
	if (ipv6)
		run_in(s->r, "ip -6 route add 2001:db8:a::10/128 via %s%s", "fd00:1:1::2", "");
	else
		run_in(s->r, "ip route add 192.0.2.10/32 via %s%s", "10.1.1.2", "");
}

/* A new client through the router; the box it reaches takes its SYN and serves it. */
static void expect_new_client(const struct site *s, const char *addr)
{
	cr_assert_eq(sc_netns_enter(s->r), 0);
	int fd = sc_connect(addr, 3000);
	sc_netns_enter(NULL);
	cr_expect_geq(fd, 0, "connect through B: %s", strerror(-fd));
	if (fd >= 0) {
		cr_expect_eq(sc_echo(fd, "new on B\n", 3000), 0);
		close(fd);
	}
}

/*
 * A session established through box A, then the router's route (route_cmd, with its next hop
 * via) moved to another box: the session must go on echoing. Closed at the end.
 */
static void expect_session_survives_move(
	const struct site *s, const char *addr, const char *route_cmd, const char *via)
{
	cr_assert_eq(sc_netns_enter(s->r), 0);
	int fd = sc_connect(addr, 3000);
	sc_netns_enter(NULL);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	cr_assert_eq(sc_echo(fd, "through A\n", 3000), 0);

	/* The router now sends the prefix to B: B's program must hand the segments on. */
	run_in(s->r, route_cmd, via, "");
	int rc = sc_echo(fd, "through B, then A\n", 3000);
	cr_expect_eq(rc, 0, "the session did not survive the move: %s", strerror(-rc));
	rc = sc_echo(fd, "and again\n", 3000);
	cr_expect_eq(rc, 0, "the session did not survive the move: %s", strerror(-rc));
	close(fd);
}

/* Waits for box i's admin socket and checks that its program is on. */
static void expect_on(const struct site *s, int i, const char *name)
{
	cr_assert_eq(sc_admin_wait(s->admin[i], 5000), 0);
	json_t *f = status_handoff(s->admin[i]);
	cr_assert_str_eq(jstr(f, "state"), "on", "%s: %s", name, jstr(f, "reason"));
	json_decref(f);
}

/* A router and boxes A and B over IPv4 (192.0.2.10:8080), each other's only peer, both on. */
static void two_boxes(
	struct site *s, const char *tag, const char *extra, struct sc_lb **la, struct sc_lb **lb)
{
	site_up(s, tag, 2, 0);
	*la = start_box_with(s->box[0], s->dir, "a", "ha0", "10.1.1.2", "10.1.2.2",
		"192.0.2.10:8080", "192.0.2.10/32", extra);
	*lb = start_box_with(s->box[1], s->dir, "b", "hb0", "10.1.2.2", "10.1.1.2",
		"192.0.2.10:8080", "192.0.2.10/32", extra);
	expect_on(s, 0, "A");
	expect_on(s, 1, "B");
}

Test(handoff, a_flow_moved_to_the_other_box_is_forwarded_back_and_survives)
{
	need_bpf_and_root();
	struct site s;

	struct sc_lb *la, *lb;
	two_boxes(&s, "h", "", &la, &lb);

	expect_session_survives_move(
		&s, "192.0.2.10:8080", "ip route replace 192.0.2.10/32 via %s%s", "10.1.2.2");
	long long fwd = peer_counter(s.admin[1], "10.1.1.2", "forwarded");
	long long dec = peer_counter(s.admin[0], "10.1.2.2", "decapsulated");
	cr_expect_gt(fwd, 0, "B forwarded nothing to A (%lld)", fwd);
	cr_expect_gt(dec, 0, "A decapsulated nothing from B (%lld)", dec);

	expect_new_client(&s, "192.0.2.10:8080");
	cr_expect_eq(sc_lb_stop(la), 0);
	cr_expect_eq(sc_lb_stop(lb), 0);
}

/*
 * The same with an IPv6 anycast prefix: the client's side is IPv6 (fd00:1:1::/64, fd00:1:2::/64),
 * the uplinks also keep their IPv4 addresses, which the encapsulation goes between.
 */
Test(handoff, an_ipv6_flow_moved_to_the_other_box_is_forwarded_back_and_survives)
{
	need_bpf_and_root();
	struct site s;

	site_up(&s, "6", 2, 1);
	struct sc_lb *la = start_box(s.box[0], s.dir, "a", "ha0", "10.1.1.2", "10.1.2.2",
		"[2001:db8:a::10]:8080", "2001:db8:a::10/128");
	struct sc_lb *lb = start_box(s.box[1], s.dir, "b", "hb0", "10.1.2.2", "10.1.1.2",
		"[2001:db8:a::10]:8080", "2001:db8:a::10/128");
	expect_on(&s, 0, "A");
	expect_on(&s, 1, "B");

	expect_session_survives_move(&s, "[2001:db8:a::10]:8080",
		"ip -6 route replace 2001:db8:a::10/128 via %s%s", "fd00:1:2::2");
	long long fwd = peer_counter(s.admin[1], "10.1.1.2", "forwarded");
	long long dec = peer_counter(s.admin[0], "10.1.2.2", "decapsulated");
	fprintf(stderr, "handoff: IPv6 flow: B forwarded %lld, A decapsulated %lld\n", fwd, dec);
	cr_expect_gt(fwd, 0, "B forwarded nothing to A (%lld)", fwd);
	cr_expect_gt(dec, 0, "A decapsulated nothing from B (%lld)", dec);

	expect_new_client(&s, "[2001:db8:a::10]:8080");
	cr_expect_eq(sc_lb_stop(la), 0);
	cr_expect_eq(sc_lb_stop(lb), 0);
}
/*
 * Three boxes, IPv6: the router moves the flow of A to B, whose next box is C (B's ring: B, C, A),
 * so C decapsulates it and forwards it on to A. What C forwards still carries the encapsulation
 * mark of B's encapsulation (forward() grows it without the mark, bpf_skb_change_proto making it
 * IPv4): the -EALREADY path for an IPv6 inner packet.
 */
Test(handoff, an_ipv6_flow_two_hops_away_is_forwarded_on_and_survives)
{
	need_bpf_and_root();
	struct site s;

	site_up(&s, "6", 3, 1);
	struct sc_lb *la = start_box(s.box[0], s.dir, "a", "ha0", "10.1.1.2", "10.1.2.2, 10.1.3.2",
		"[2001:db8:a::10]:8080", "2001:db8:a::10/128");
	struct sc_lb *lb = start_box(s.box[1], s.dir, "b", "hb0", "10.1.2.2", "10.1.3.2, 10.1.1.2",
		"[2001:db8:a::10]:8080", "2001:db8:a::10/128");
	struct sc_lb *lc = start_box(s.box[2], s.dir, "c", "hc0", "10.1.3.2", "10.1.1.2, 10.1.2.2",
		"[2001:db8:a::10]:8080", "2001:db8:a::10/128");
	cr_assert_eq(sc_admin_wait(s.admin[2], 5000), 0);
	expect_on(&s, 0, "A");
	expect_on(&s, 1, "B");

	expect_session_survives_move(&s, "[2001:db8:a::10]:8080",
		"ip -6 route replace 2001:db8:a::10/128 via %s%s", "fd00:1:2::2");
	long long fwd = peer_counter(s.admin[1], "10.1.3.2", "forwarded");
	long long fwd2 = peer_counter(s.admin[2], "10.1.1.2", "forwarded");
	long long drop = peer_counter(s.admin[2], "10.1.1.2", "dropped");
	long long dec = peer_counter(s.admin[0], "10.1.3.2", "decapsulated");
	fprintf(stderr,
		"handoff: IPv6 flow two hops away: B forwarded %lld to C, C %lld to A (%lld "
		"dropped), A decapsulated %lld from C\n",
		fwd, fwd2, drop, dec);
	cr_expect_gt(fwd, 0, "B forwarded nothing to C (%lld)", fwd);
	cr_expect_gt(fwd2, 0, "C forwarded nothing to A (%lld)", fwd2);
	cr_expect_eq(drop, 0, "C dropped %lld", drop);
	cr_expect_gt(dec, 0, "A decapsulated nothing from C (%lld)", dec);

	expect_new_client(&s, "[2001:db8:a::10]:8080");
	cr_expect_eq(sc_lb_stop(la), 0);
	cr_expect_eq(sc_lb_stop(lb), 0);
	cr_expect_eq(sc_lb_stop(lc), 0);
}

/* Heartbeats fast enough for a test: a silent peer is down after 600 ms. */
#define FAST_BEATS "    heartbeat: 200ms\n    peer_timeout: 600ms\n"

/*
 * The ring A, B, C over IPv4 with fast heartbeats; B's next box is C, then A. Admin sockets in
 * s->admin. The boxes are the caller's to stop.
 */
static void three_boxes(struct site *s, const char *tag, struct sc_lb *lb[3])
{
	site_up(s, tag, 3, 0);
	lb[0] = start_box_with(s->box[0], s->dir, "a", "ha0", "10.1.1.2", "10.1.2.2, 10.1.3.2",
		"192.0.2.10:8080", "192.0.2.10/32", FAST_BEATS);
	lb[1] = start_box_with(s->box[1], s->dir, "b", "hb0", "10.1.2.2", "10.1.3.2, 10.1.1.2",
		"192.0.2.10:8080", "192.0.2.10/32", FAST_BEATS);
	lb[2] = start_box_with(s->box[2], s->dir, "c", "hc0", "10.1.3.2", "10.1.1.2, 10.1.2.2",
		"192.0.2.10:8080", "192.0.2.10/32", FAST_BEATS);
	for (int i = 0; i < 3; i++)
		expect_on(s, i, i == 0 ? "A" : i == 1 ? "B" : "C");
}

/* The /status entry of peer `address` as box `where` sees it (a new reference). */
static json_t *peer_entry(const char *where, const char *address)
{
	json_t *f = status_handoff(where), *p, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(f, "peers"), i, p)
	{
		if (strcmp(jstr(p, "address"), address) == 0)
			found = json_incref(p);
	}
	json_decref(f);
	cr_assert_not_null(found, "%s has no peer %s", where, address);
	return found;
}

/* Waits (at most timeout_ms) until box `where` takes peer `address` as alive or not. */
static int wait_alive(const char *where, const char *address, int alive, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		json_t *p = peer_entry(where, address);
		int now = json_is_true(json_object_get(p, "alive"));
		json_decref(p);
		if (now == alive)
			return 0;
		if (waited >= timeout_ms)
			return -1;
		sc_sleep_ms(50);
	}
}

/* Why box `where` takes peer `address` as it does (its `liveness`). */
static void expect_liveness(const char *where, const char *address, const char *want)
{
	json_t *p = peer_entry(where, address);
	cr_expect_str_eq(jstr(p, "liveness"), want, "%s as %s sees it", address, where);
	json_decref(p);
}

/* Box `where`'s flow_handoff.next. */
static void expect_next(const char *where, const char *want)
{
	json_t *f = status_handoff(where);
	cr_expect_str_eq(jstr(f, "next"), want, "next peer");
	json_decref(f);
}

/*
 * Box C stops cleanly (SIGTERM: its program is detached, nothing answers on its uplink's
 * encapsulation port) and tells its peers it is leaving: B skips it at once, so a flow of A
 * that the router moves to B goes B -> A directly and survives. Without the heartbeats B would
 * hand it to C, which drops it (the echo times out).
 */
Test(handoff, a_stopped_box_is_skipped_and_the_flow_behind_it_survives)
{
	need_bpf_and_root();
	struct site s;
	struct sc_lb *lb[3];

	three_boxes(&s, "l", lb);
	cr_assert_eq(wait_alive(s.admin[1], "10.1.3.2", 1, 3000), 0);
	expect_next(s.admin[1], "10.1.3.2");
	json_t *c = peer_entry(s.admin[1], "10.1.3.2");
	cr_expect(json_integer_value(json_object_get(c, "heard_ms_ago")) < 1000,
		"B heard C's heartbeats");
	json_decref(c);

	cr_expect_eq(sc_lb_stop(lb[2]), 0);
	/* "leaving" is one datagram, at once: well before peer_timeout. */
	cr_assert_eq(wait_alive(s.admin[1], "10.1.3.2", 0, 300), 0, "B still takes C as alive");
	expect_liveness(s.admin[1], "10.1.3.2", "left");
	expect_next(s.admin[1], "10.1.1.2");
	struct sc_run ctl;
	cr_assert_eq(
		sc_run_anylbctl(&ctl, 5000, "-s", s.admin[1] + strlen("unix:"), "status", NULL), 0);
	cr_expect(strstr(ctl.out, "forwarding to 10.1.1.2; down: 10.1.3.2 (left)") != NULL,
		"anylbctl status:\n%s%s", ctl.out, ctl.err);
	sc_run_free(&ctl);

	expect_session_survives_move(
		&s, "192.0.2.10:8080", "ip route replace 192.0.2.10/32 via %s%s", "10.1.2.2");
	long long fwd = peer_counter(s.admin[1], "10.1.1.2", "forwarded");
	long long to_c = peer_counter(s.admin[1], "10.1.3.2", "forwarded");
	fprintf(stderr, "handoff: C stopped: B forwarded %lld to A, %lld to C\n", fwd, to_c);
	cr_expect_gt(fwd, 0, "B forwarded nothing to A");
	cr_expect_eq(to_c, 0, "B forwarded %lld to the stopped C", to_c);
	cr_expect_eq(sc_lb_stop(lb[0]), 0);
	cr_expect_eq(sc_lb_stop(lb[1]), 0);
}

/*
 * Box C's uplink goes down with its anylb running (a box lost, not stopped): after peer_timeout
 * without a heartbeat B skips C, and the moved flow of A survives as above. When the uplink
 * comes back, C's heartbeats bring it back into B's ring.
 */
Test(handoff, a_silent_box_is_skipped_after_peer_timeout_and_rejoins_when_heard)
{
	need_bpf_and_root();
	struct site s;
	struct sc_lb *lb[3];

	three_boxes(&s, "s", lb);
	cr_assert_eq(wait_alive(s.admin[1], "10.1.3.2", 1, 3000), 0);
	run_in(s.box[2], "ip link set hc0 down%s%s", "", "");
	cr_assert_eq(wait_alive(s.admin[1], "10.1.3.2", 0, 3000), 0, "B still takes C as alive");
	expect_liveness(s.admin[1], "10.1.3.2", "silent");
	expect_next(s.admin[1], "10.1.1.2");

	expect_session_survives_move(
		&s, "192.0.2.10:8080", "ip route replace 192.0.2.10/32 via %s%s", "10.1.2.2");
	cr_expect_eq(peer_counter(s.admin[1], "10.1.3.2", "forwarded"), 0);

	run_in(s.box[2], "ip link set hc0 up%s%s", "", "");
	run_in(s.box[2], "ip route replace default via %s%s", "10.1.3.1", "");
	cr_expect_eq(wait_alive(s.admin[1], "10.1.3.2", 1, 5000), 0, "C did not come back");
	expect_liveness(s.admin[1], "10.1.3.2", "heard");
	expect_next(s.admin[1], "10.1.3.2");
	for (int i = 0; i < 3; i++)
		cr_expect_eq(sc_lb_stop(lb[i]), 0);
}

/*
 * Box B upgraded in place: A must never take B as gone (the old process beats until the
 * hand-over, the successor from its first loop turn: no gap near peer_timeout), the successor's
 * heartbeats run, it needs no second try to bind, and its stop says "leaving".
 */
Test(handoff, an_upgraded_box_never_leaves_its_peers_ring)
{
	need_bpf_and_root();
	struct site s;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	struct sc_lb *la, *lb;
	two_boxes(&s, "u", FAST_BEATS, &la, &lb);
	cr_assert_eq(wait_alive(s.admin[0], "10.1.2.2", 1, 3000), 0);

	long pid = sc_lb_pid(lb), next = -1;
	int64_t end = sc_now_ms() + 15000, quiet_until = 0;
	int downs = 0;
	cr_assert_eq(kill((pid_t)pid, SIGUSR2), 0);
	/* A's view of B every 25 ms, from the signal to a second after the successor took over. */
	while (sc_now_ms() < end && (next <= 0 || sc_now_ms() < quiet_until)) {
		json_t *p = peer_entry(s.admin[0], "10.1.2.2");
		downs += !json_is_true(json_object_get(p, "alive"));
		json_decref(p);
		struct sc_upgrade_status st;
		if (next <= 0 && sc_upgrade_status(s.admin[1], &st) == 0 && st.pid != pid &&
			st.took_over && st.previous == pid) {
			next = st.pid;
			quiet_until = sc_now_ms() + 1000;
		}
		sc_sleep_ms(25);
	}
	cr_assert_gt(next, 0, "no successor took over");
	cr_expect_eq(downs, 0, "A took B as gone %d times during the upgrade", downs);
	/* Even for less than a poll: A logs every change. */
	cr_expect_eq(sc_lb_log_count(la, 0, "peer 10.1.2.2 is down"), 0,
		"A took B as gone during the upgrade");
	json_t *f = status_handoff(s.admin[1]);
	cr_expect_eq(json_integer_value(json_object_get(f, "heartbeat_ms")), 200,
		"the successor's heartbeats do not run");
	json_decref(f);
	cr_expect_eq(sc_lb_log_count(lb, 0, "heartbeat socket"), 0,
		"a process had to wait for the heartbeat socket");

	cr_expect_eq(sc_lb_wait(lb, 10000), 0, "the old process exits 0 after its drain");
	cr_expect(sc_stop_successor(next, 10000), "the successor did not stop");
	cr_expect_eq(wait_alive(s.admin[0], "10.1.2.2", 0, 300), 0, "B's stop did not say leaving");
	cr_expect_eq(sc_lb_stop(la), 0);
	sc_lb_stop(lb);
}

/*
 * B judged C gone (C stopped), then B is upgraded: the successor reads the program it replaces
 * and starts with C down ("inherited") and A next, instead of handing segments to C for a
 * peer_timeout; a moved flow of A survives right after the upgrade.
 */
Test(handoff, an_upgrade_keeps_the_ring_as_the_old_process_judged_it)
{
	need_bpf_and_root();
	struct site s;
	struct sc_lb *lb[3];

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	three_boxes(&s, "i", lb);
	cr_expect_eq(sc_lb_stop(lb[2]), 0);
	cr_assert_eq(wait_alive(s.admin[1], "10.1.3.2", 0, 1000), 0, "B still takes C as alive");

	long pid = sc_lb_pid(lb[1]);
	cr_assert_eq(kill((pid_t)pid, SIGUSR2), 0);
	long next = sc_upgrade_wait_successor(s.admin[1], pid, 15000);
	cr_assert_gt(next, 0, "no successor took over");
	expect_liveness(s.admin[1], "10.1.3.2", "inherited");
	expect_next(s.admin[1], "10.1.1.2");
	cr_expect_eq(sc_lb_log_count(lb[1], 0, "the program replaced forwarded to 10.1.1.2"), 1);
	expect_session_survives_move(
		&s, "192.0.2.10:8080", "ip route replace 192.0.2.10/32 via %s%s", "10.1.2.2");
	cr_expect_eq(peer_counter(s.admin[1], "10.1.3.2", "forwarded"), 0);

	cr_expect_eq(sc_lb_wait(lb[1], 10000), 0, "the old process exits 0 after its drain");
	cr_expect(sc_stop_successor(next, 10000), "the successor did not stop");
	cr_expect_eq(sc_lb_stop(lb[0]), 0);
	sc_lb_stop(lb[1]);
}
