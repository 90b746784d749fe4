/*
 * DOC: flow-safe anycast end to end (issue 13's "done when" scenario)
 *
 *                      client 10.3.9.2 (300 long-lived sessions to 192.0.2.10:8080)
 *                         |
 *                      router: BIRD, eBGP to every box, ECMP (merge paths, L4 hash policy)
 *      10.3.1.1 / 10.3.2.1 / 10.3.3.1 / 10.3.4.1
 *         |          |          |          |
 *       box A      box B      box C      box D     10.3.N.2: BIRD (static anylb_web), anylb
 *                                                  (announce: bird_protocol), a HELLO echo
 *                                                  backend writing the box's letter first,
 *                                                  192.0.2.10 on lo
 *
 * Every session sends a 32-byte message of its own pattern stream every 100 ms and reads the
 * echo; a reset, an echo not back within 2 s, or a byte off the pattern is counted. Events,
 * each followed by a few seconds of traffic: C drains with the ladder (drain-site with a 2 s
 * window: de-preferred, the router drops its path, then withdrawn: drain_box()), C rejoins, D joins
 * for the first time (its anylb and BIRD started now), B is upgraded (SIGUSR2). With
 * bgp.flow_handoff: 0 resets, 0 timeouts, 0 corrupted bytes. Without it the same events must reset
 * sessions: the test exercises the rehash.
 *
 * The ring: the program always forwards to the box's first peer, and a peer that is down
 * loses what is sent to it. So the boxes of the start go round A -> B -> C -> A and D, which
 * is not up at the start, is listed last everywhere (it is nobody's next box): D forwards to
 * A, every box decapsulates from D.
 *
 * Each event's line (cr_log_info) says the failures by kind and by the box that served the
 * session, and with the hand-off every box's forwarded/decapsulated/last_resort/dropped sums;
 * FLOW_SAFE_DEBUG=1 in the environment also prints each box's per-peer counters.
 *
 * Budget: about 25 s with the hand-off, 30 s without (the stops wait for each box's drain), so
 * under 60 s for the file; each Criterion test has .timeout 120. Skipped without root,
 * ANYLB_BPF, ip/tc or bird.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBOX      4
#define NSESS     300
#define MSG_LEN   32
#define PERIOD_MS 100
#define ECHO_MS   2000
#define SETTLE_MS 3000

static void fini(void)
{
	sc_cleanup();
	sc_netns_cleanup();
	sc_admin_cleanup();
}

TestSuite(flow_safe, .fini = fini, .timeout = 120);

static void need_all(void)
{
#ifndef ANYLB_BPF
	cr_skip_test("built without ANYLB_BPF: no flow hand-off");
#endif
	char path[256];
	if (geteuid() != 0)
		cr_skip_test("needs root (namespaces, tc, BPF)");
	if (sc_which("ip", path, sizeof(path)) < 0 || sc_which("tc", path, sizeof(path)) < 0)
		cr_skip_test("needs ip and tc (iproute2)");
	if (sc_which("bird", path, sizeof(path)) < 0)
		cr_skip_test("needs bird");
}

/* ---- the topology ---------------------------------------------------------------------------- */

struct box {
	char ns[64], link[16], where[300];
	struct sc_bird *bird;
	struct sc_backend *be;
	struct sc_lb *lb;
	long pid; /* after an upgrade, the successor's */
};

static struct box boxes[NBOX];
static char rns[64], cns[64], dir[256];
static struct sc_bird *router_bird;
static long old_pids[4];
static size_t nold;

static void run_in(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_in(const char *ns, const char *fmt, ...)
{
	char cmd[512], out[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = sc_cmd(out, sizeof(out), 5000, "ip netns exec %s %s", ns, cmd);
	cr_assert_eq(rc, 0, "%s: %s: %s", ns, cmd, out);
}

#define BGP_FAST                                                                                   \
	"\thold time 3; keepalive time 1; connect delay time 0; connect retry time 1;\n"           \
	"\terror wait time 1, 2;\n"

static void topo_up(void)
{
	long pid = (long)getpid();
	char conf[4096];
	size_t n;

	snprintf(dir, sizeof(dir), "%s", sc_admin_temp_dir());
	snprintf(rns, sizeof(rns), "anylb-t%ld-fr", pid);
	snprintf(cns, sizeof(cns), "anylb-t%ld-fz", pid);
	cr_assert_eq(sc_netns_add(rns), 0);
	cr_assert_eq(sc_netns_add(cns), 0);
	run_in(rns, "sysctl -qw net.ipv4.ip_forward=1");
	run_in(rns, "sysctl -qw net.ipv4.fib_multipath_hash_policy=1");
	run_in(rns, "sysctl -qw net.ipv4.conf.all.rp_filter=0");
	cr_assert_eq(sc_cmd(NULL, 0, 5000, "ip -n %s link add rc type veth peer name cr netns %s",
			     rns, cns),
		0);
	run_in(rns, "ip addr add 10.3.9.1/24 dev rc");
	run_in(rns, "ip link set rc up");
	run_in(cns, "ip addr add 10.3.9.2/24 dev cr");
	run_in(cns, "ip link set cr up");
	run_in(cns, "ip route add default via 10.3.9.1");
	for (int i = 0; i < NBOX; i++) {
		struct box *b = &boxes[i];
		memset(b, 0, sizeof(*b));
		snprintf(b->ns, sizeof(b->ns), "anylb-t%ld-f%c", pid, 'a' + i);
		snprintf(b->link, sizeof(b->link), "10.3.%d.2", i + 1);
		snprintf(b->where, sizeof(b->where), "unix:%s/%c.sock", dir, 'a' + i);
		cr_assert_eq(sc_netns_add(b->ns), 0);
		cr_assert_eq(sc_cmd(NULL, 0, 5000,
				     "ip -n %s link add r%d type veth peer name up0 netns %s", rns,
				     i + 1, b->ns),
			0);
		run_in(rns, "ip addr add 10.3.%d.1/24 dev r%d", i + 1, i + 1);
		run_in(rns, "ip link set r%d up", i + 1);
		run_in(b->ns, "ip addr add %s/24 dev up0", b->link);
		run_in(b->ns, "ip link set up0 up");
		run_in(b->ns, "ip addr add 192.0.2.10/32 dev lo");
		run_in(b->ns, "ip route add default via 10.3.%d.1", i + 1);
		run_in(b->ns, "sysctl -qw net.ipv4.ip_forward=1");
		run_in(b->ns, "sysctl -qw net.ipv4.conf.up0.accept_local=1");
		run_in(b->ns, "sysctl -qw net.ipv4.conf.up0.rp_filter=0");
		run_in(b->ns, "sysctl -qw net.ipv4.conf.all.rp_filter=0");
	}
	n = (size_t)snprintf(conf, sizeof(conf),
		"router id 10.3.9.1;\nlog stderr all;\nprotocol device {}\n"
		"protocol kernel k4 { ipv4 { import none; export all; }; merge paths on; }\n"
		"template bgp box {\n\tlocal as 65000;\n" BGP_FAST "}\n");
	for (int i = 0; i < NBOX; i++)
		n += (size_t)snprintf(conf + n, sizeof(conf) - n,
			"protocol bgp box%d from box { neighbor %s as 65001; "
			"ipv4 { import all; export none; }; }\n",
			i + 1, boxes[i].link);
	router_bird = sc_bird_start(rns, dir, "router", conf);
	cr_assert_not_null(router_bird);
}

/* Box i's BIRD, its backend and its anylb, with the hand-off or without. */
static void box_start(int i, int handoff)
{
	static const int ring[NBOX][NBOX - 1] = {{1, 2, 3}, {2, 0, 3}, {0, 1, 3}, {0, 1, 2}};
	struct box *b = &boxes[i];
	char conf[2048], fh[512] = "", id[2] = {(char)('A' + i), '\0'}, name[8];

	snprintf(conf, sizeof(conf),
		"router id %s;\nlog stderr all;\nprotocol device {}\n"
		"protocol static anylb_web { disabled yes; ipv4; route 192.0.2.10/32 blackhole; }\n"
		/* The drain ladder's twin: the same route, de-preferred (docs/DEPLOY.md). */
		"protocol static anylb_web_drain { disabled yes; ipv4 { import filter { "
		"bgp_community.add((65535, 0)); accept; }; }; route 192.0.2.10/32 blackhole; }\n"
		"template bgp upstream {\n\tlocal as 65001;\n" BGP_FAST "}\n"
		"protocol bgp up from upstream { neighbor 10.3.%d.1 as 65000; "
		"ipv4 { import none; export filter { if net != 192.0.2.10/32 then reject; "
		"if (65535, 0) ~ bgp_community then { bgp_path.prepend(65001); "
		"bgp_path.prepend(65001); } accept; }; }; }\n",
		b->link, i + 1);
	snprintf(name, sizeof(name), "box%c", 'a' + i);
	b->bird = sc_bird_start(b->ns, dir, name, conf);
	cr_assert_not_null(b->bird);
	if (handoff)
		snprintf(fh, sizeof(fh),
			"  flow_handoff:\n    interfaces: [up0]\n    self: %s\n"
			"    peers: [%s, %s, %s]\n",
			b->link, boxes[ring[i][0]].link, boxes[ring[i][1]].link,
			boxes[ring[i][2]].link);
	cr_assert_eq(sc_netns_enter(b->ns), 0);
	struct sc_backend_opts bo = {.id = id};
	b->be = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &bo);
	cr_assert_not_null(b->be);
	/*
	 * Without the hand-off, a reset session stays half open on the box that lost it until
	 * the stop's drain gives up: a short drain_timeout keeps that stop short.
	 */
	b->lb = sc_lb_start("global:\n  workers: 1\n  drain_timeout: %s\n"
			    "  admin:\n    socket: %s/%c.sock\n"
			    "bgp:\n  announce: bird_protocol\n  bird_socket: %s\n"
			    "  announce_delay: 0s\n%s"
			    "services:\n  - name: web\n    listen: [\"192.0.2.10:8080\"]\n"
			    "    anycast:\n      prefixes: [192.0.2.10/32]\n"
			    "      bird_protocol: anylb_web\n"
			    "    backends:\n      - address: %s\n",
		handoff ? "30s" : "5s", dir, 'a' + i, sc_bird_socket(b->bird), fh,
		sc_backend_addr(b->be));
	sc_netns_enter(NULL);
	cr_assert_not_null(b->lb);
	b->pid = sc_lb_pid(b->lb);
	cr_assert_eq(sc_admin_wait(b->where, 5000), 0);
}

static int router_paths(void)
{
	struct sc_route r;

	return sc_netns_route(rns, "192.0.2.10/32", &r) == 0 ? r.paths : -1;
}

static void wait_paths(int want, const char *when)
{
	int rc = sc_netns_wait_paths(rns, "192.0.2.10/32", want, 15000, NULL);
	if (rc != 0) {
		sc_bird_dump_log(router_bird);
		for (int i = 0; i < NBOX; i++)
			if (boxes[i].lb != NULL)
				sc_lb_dump_log(boxes[i].lb);
	}
	cr_assert_eq(rc, 0, "%s: the router has %d paths, want %d", when, router_paths(), want);
}

/* ---- the sessions ---------------------------------------------------------------------------- */

struct sess {
	int fd;
	char box;        /* the letter its backend wrote first; 0 until read */
	uint64_t seq;    /* messages echoed */
	size_t got;      /* bytes of the current echo read */
	int64_t sent_ms; /* when the current message went; 0: none pending */
	int64_t next_ms; /* when the next one goes */
	uint8_t buf[MSG_LEN];
};

struct tally {
	unsigned resets, timeouts, corrupted, other;
	unsigned timeout_box[NBOX]; /* timeouts by the box that served the session */
};

static struct sess sess[NSESS];

static void sess_fail(struct sess *s, struct tally *t, int err)
{
	if (err == ECONNRESET || err == EPIPE)
		t->resets++;
	else if (err == ETIMEDOUT) {
		t->timeouts++;
		t->timeout_box[(s->box - 'A') & 3]++;
	} else if (err == EBADMSG)
		t->corrupted++;
	else
		t->other++;
	close(s->fd);
	s->fd = -1;
}

static void sessions_open(void)
{
	cr_assert_eq(sc_netns_enter(cns), 0);
	for (int i = 0; i < NSESS; i++) {
		memset(&sess[i], 0, sizeof(sess[i]));
		sess[i].fd = sc_connect("192.0.2.10:8080", 3000);
		cr_assert_geq(sess[i].fd, 0, "session %d: %s", i, strerror(-sess[i].fd));
		char line[8];
		int rc = sc_recv_line(sess[i].fd, line, sizeof(line), 3000);
		cr_assert_eq(rc, 1, "session %d: no box id (%d)", i, rc);
		sess[i].box = line[0];
		sess[i].next_ms = sc_now_ms() + (i % PERIOD_MS);
	}
	sc_netns_enter(NULL);
}

/* One step of session s: send when due, read what came, check the deadline. */
static void sess_step(int i, short revents, int64_t now, struct tally *t)
{
	struct sess *s = &sess[i];

	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		ssize_t n = recv(s->fd, s->buf + s->got, MSG_LEN - s->got, 0);
		if (n == 0) {
			sess_fail(s, t, EPIPE);
			return;
		}
		if (n < 0 && errno != EAGAIN) {
			sess_fail(s, t, errno);
			return;
		}
		if (n > 0 && s->sent_ms == 0) {
			sess_fail(s, t, EBADMSG); /* bytes nobody asked for */
			return;
		}
		if (n > 0)
			s->got += (size_t)n;
		if (s->got == MSG_LEN) {
			if (sc_pattern_check((uint64_t)i + 1, s->seq * MSG_LEN, s->buf, MSG_LEN) >=
				0) {
				sess_fail(s, t, EBADMSG);
				return;
			}
			s->seq++;
			s->got = 0;
			s->sent_ms = 0;
		}
	}
	if (s->sent_ms != 0 && now - s->sent_ms > ECHO_MS) {
		sess_fail(s, t, ETIMEDOUT);
		return;
	}
	if (s->sent_ms == 0 && now >= s->next_ms) {
		uint8_t msg[MSG_LEN];
		sc_pattern_fill((uint64_t)i + 1, s->seq * MSG_LEN, msg, MSG_LEN);
		ssize_t n = send(s->fd, msg, MSG_LEN, MSG_NOSIGNAL);
		if (n != MSG_LEN) {
			sess_fail(s, t, n < 0 ? errno : EIO);
			return;
		}
		s->sent_ms = now;
		s->next_ms += PERIOD_MS;
		if (s->next_ms < now)
			s->next_ms = now + PERIOD_MS;
	}
}

/* Traffic on every live session for ms milliseconds; what failed goes into t. */
static void traffic(int ms, struct tally *t)
{
	struct pollfd pfd[NSESS];
	int idx[NSESS];
	int64_t end = sc_now_ms() + ms;

	for (int64_t now = sc_now_ms(); now < end; now = sc_now_ms()) {
		int n = 0;
		for (int i = 0; i < NSESS; i++) {
			if (sess[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = sess[i].fd, .events = POLLIN};
			idx[n++] = i;
		}
		if (n == 0)
			return;
		int rc = poll(pfd, (nfds_t)n, 5);
		cr_assert_geq(rc, 0, "poll: %s", strerror(errno));
		now = sc_now_ms();
		for (int k = 0; k < n; k++)
			sess_step(idx[k], pfd[k].revents, now, t);
	}
}

static unsigned alive(void)
{
	unsigned n = 0;
	for (int i = 0; i < NSESS; i++)
		n += sess[i].fd >= 0;
	return n;
}

/* ---- the events ------------------------------------------------------------------------------ */

static void admin_post(const struct box *b, const char *path)
{
	struct sc_http_resp r;

	cr_assert_eq(sc_http(b->where, "POST", path, NULL, 3000, &r), 0, "%s", path);
	cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
	sc_http_free(&r);
}

/* The site's step on the drain ladder (/status bgp.ladder.step) into buf. */
static void ladder_step(const struct box *b, char *buf, size_t cap)
{
	struct sc_http_resp r;

	cr_assert_eq(sc_http(b->where, "GET", "/status", NULL, 3000, &r), 0);
	json_t *doc = json_loadb(r.body, r.body_len, 0, NULL);
	sc_http_free(&r);
	cr_assert_not_null(doc, "/status is not JSON");
	const char *st = json_string_value(
		json_object_get(json_object_get(json_object_get(doc, "bgp"), "ladder"), "step"));
	snprintf(buf, cap, "%s", st != NULL ? st : "(none)");
	json_decref(doc);
}

/*
 * Box i leaves the anycast set with the drain ladder (what `anylbctl drain-site --window 2s`
 * posts) and keeps serving its established sessions: de-preferred first (65535:0 and two more
 * AS hops: the router's ECMP drops the path at once, the longer route is not merged), withdrawn
 * after the window.
 */
static void drain_box(int i, int paths_after, struct tally *t)
{
	admin_post(&boxes[i], "/drain-site?window=2s");
	wait_paths(paths_after, "the drained box's path gone from the router's ECMP");
	int64_t deadline = sc_now_ms() + 10000;
	for (;;) {
		char step[32];
		ladder_step(&boxes[i], step, sizeof(step));
		if (strcmp(step, "withdrawn") == 0)
			break;
		cr_assert(sc_now_ms() < deadline, "box %d's ladder never withdrew (step %s)", i,
			step);
		traffic(100, t); /* the sessions go on meanwhile */
	}
}

static void rejoin_box(int i, int paths_after)
{
	admin_post(&boxes[i], "/undrain-site");
	wait_paths(paths_after, "the box's path back");
}

static void upgrade_box(int i)
{
	struct box *b = &boxes[i];

	cr_assert_eq(kill((pid_t)b->pid, SIGUSR2), 0);
	long next = sc_upgrade_wait_successor(b->where, b->pid, 10000);
	cr_assert_gt(next, 0, "no successor took over");
	old_pids[nold++] = b->pid;
	b->pid = next;
}

/* Sums a counter of every peer slot in a box's /metrics, e.g. "forwarded". */
static long long metric_sum(const struct box *b, const char *result)
{
	struct sc_http_resp m;
	char needle[64];
	long long sum = 0;

	if (sc_http(b->where, "GET", "/metrics", NULL, 3000, &m) != 0)
		return -1;
	snprintf(needle, sizeof(needle), "result=\"%s\"} ", result);
	if (getenv("FLOW_SAFE_DEBUG") != NULL && strcmp(result, "dropped") == 0)
		fprintf(stderr, "%s:\n%s\n", b->ns, strstr(m.body, "anylb_flow_handoff_packets"));
	for (const char *p = m.body; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		sum += strtoll(p + strlen(needle), NULL, 10);
	sc_http_free(&m);
	return sum;
}

static void report(const char *what, const struct tally *t, int handoff)
{
	char fwd[256] = "";
	size_t n = 0;

	for (int i = 0; handoff && i < NBOX; i++)
		if (boxes[i].lb != NULL)
			n += (size_t)snprintf(fwd + n, sizeof(fwd) - n, " %c:%lld/%lld/%lld/%lld",
				'A' + i, metric_sum(&boxes[i], "forwarded"),
				metric_sum(&boxes[i], "decapsulated"),
				metric_sum(&boxes[i], "last_resort"),
				metric_sum(&boxes[i], "dropped"));
	cr_log_info("flow_safe %s, %s: resets %u, timeouts %u (of A %u, B %u, C %u, D %u), "
		    "corrupted %u, other %u, alive %u/%d, router paths %d%s%s",
		handoff ? "on" : "off", what, t->resets, t->timeouts, t->timeout_box[0],
		t->timeout_box[1], t->timeout_box[2], t->timeout_box[3], t->corrupted, t->other,
		alive(), NSESS, router_paths(),
		handoff ? "; forwarded/decapsulated/last_resort/dropped" : "", fwd);
}

static void scenario(int handoff, struct tally *total)
{
	struct tally t[5] = {{0}};
	const char *names[5] = {"steady", "C drains", "C rejoins", "D joins", "B upgraded"};
	int64_t t0 = sc_now_ms();

	need_all();
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	topo_up();
	for (int i = 0; i < 3; i++)
		box_start(i, handoff);
	wait_paths(3, "A, B and C announcing");
	sessions_open();
	unsigned per[NBOX] = {0};
	for (int i = 0; i < NSESS; i++)
		per[sess[i].box - 'A']++;
	cr_log_info("flow_safe %s: %d sessions: A %u, B %u, C %u", handoff ? "on" : "off", NSESS,
		per[0], per[1], per[2]);
	cr_assert_gt(per[2], 0, "no session on C: the router does not spread them");

	traffic(SETTLE_MS, &t[0]);
	report(names[0], &t[0], handoff);
	drain_box(2, 2, &t[1]);
	traffic(SETTLE_MS, &t[1]);
	report(names[1], &t[1], handoff);
	rejoin_box(2, 3);
	traffic(SETTLE_MS, &t[2]);
	report(names[2], &t[2], handoff);
	box_start(3, handoff);
	wait_paths(4, "D announcing");
	traffic(SETTLE_MS, &t[3]);
	report(names[3], &t[3], handoff);
	upgrade_box(1);
	traffic(SETTLE_MS, &t[4]);
	report(names[4], &t[4], handoff);

	for (int k = 0; k < 5; k++) {
		total->resets += t[k].resets;
		total->timeouts += t[k].timeouts;
		total->corrupted += t[k].corrupted;
		total->other += t[k].other;
	}
	cr_log_info("flow_safe %s: total resets %u, timeouts %u, corrupted %u, other %u over %d "
		    "sessions, %lld ms",
		handoff ? "on" : "off", total->resets, total->timeouts, total->corrupted,
		total->other, NSESS, (long long)(sc_now_ms() - t0));
	for (int i = 0; i < NSESS; i++)
		if (sess[i].fd >= 0) {
			close(sess[i].fd);
			sess[i].fd = -1;
		}
}

static void stop_all(void)
{
	for (int i = 0; i < NBOX; i++) {
		if (boxes[i].lb == NULL)
			continue;
		if (boxes[i].pid != sc_lb_pid(boxes[i].lb)) {
			kill((pid_t)boxes[i].pid, SIGTERM);
			for (int k = 0; k < 200 && waitpid((pid_t)boxes[i].pid, NULL, WNOHANG) == 0;
				k++)
				sc_sleep_ms(50);
		}
		sc_lb_stop(boxes[i].lb);
		boxes[i].lb = NULL;
	}
}

Test(flow_safe, no_session_lost_with_the_handoff, .timeout = 120)
{
	struct tally total = {0};

	scenario(1, &total);
	stop_all();
	cr_expect_eq(total.resets, 0, "resets with the hand-off");
	cr_expect_eq(total.timeouts, 0, "timeouts with the hand-off");
	cr_expect_eq(total.corrupted, 0, "corrupted echoes with the hand-off");
	cr_expect_eq(total.other, 0, "other failures with the hand-off");
}

Test(flow_safe, sessions_reset_without_the_handoff, .timeout = 120)
{
	struct tally total = {0};

	scenario(0, &total);
	stop_all();
	cr_expect_gt(total.resets + total.timeouts, 0,
		"no session failed without the hand-off: the scenario does not rehash");
}
