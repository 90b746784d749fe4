/*
 * DOC: scenario: backends by name (address NAME:PORT, resolve_interval)
 *
 * Everything runs in a network namespace the test makes: a real knotd on 127.0.0.1:53 serving
 * names.test, HELLO backends (one forked process each, a process per connection, so a held
 * session never blocks another) on 127.0.0.2..5 at one port, and the real anylb with the system
 * resolver pointed at that knotd: a resolv.conf of the test's ("nameserver 127.0.0.1", timeout
 * 1 s, one attempt) bind-mounted over /etc/resolv.conf in anylb's own mount namespace, so
 * nothing on the host changes. resolve_interval is 300ms.
 *
 * answer_changes: the answer .2, .3, .5 at start gives three backends; .5 has nothing listening
 * and its (the service's) liveness check makes it dead, so clients reach A and B only. The zone
 * is rewritten (a new serial) and knotd restarted: .2, .4. The log says once what was added and
 * removed; new sessions reach A and C, never B, while a session established through B still
 * echoes; a SIGHUP keeps the answer in force. /status, /metrics and `anylbctl status` show the name
 * and its answer. knotd stopped: the log says once "keeping the last good answer", clients are
 * still served; started again: "resolves again".
 *
 * unresolvable_at_start: no DNS server at start: anylb starts anyway, says the name has no
 * backends yet, and resets clients; a SIGHUP reload is not refused for the service without a
 * backend; once knotd answers, the next lookup brings the backend and
 * clients reach it.
 *
 * family_ipv6: an answer with A and AAAA, resolve_family ipv6: [::1]:PORT is the backend alone.
 *
 * change_refused_keeps_previous: a change whose reload is refused (the file went bad) leaves
 * the previous answer in force; once the file is good again the next lookup applies it.
 *
 * operator_state_survives_restart: a drain and a runtime weight set on resolved backends are
 * there again after a restart with the state file.
 *
 * Budget: about 4 s in all (suite timeout 60 s). Skipped without root or knotd.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/knot.h"
#include "tests/support/netns.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBE 4 /* A .2, B .3, C .4, D .5 (never started: a dead address in the answer) */

static pid_t be_pids[NBE];

static void fini(void)
{
	for (int i = 0; i < NBE; i++)
		if (be_pids[i] > 0) {
			kill(be_pids[i], SIGKILL);
			waitpid(be_pids[i], NULL, 0);
			be_pids[i] = 0;
		}
	sc_cleanup();
	sc_knot_stop_all();
	sc_admin_cleanup();
	sc_netns_cleanup();
}

TestSuite(names, .fini = fini, .timeout = 60);

static const char *const ids[] = {"A", "B", "C", "D"};

struct rig {
	char ns[64], dir[200], sock[256], where[270], resolv[256], zone[256], state[256];
	char listen[SC_ADDRSTRLEN], name[64];
	const char *extra; /* more keys of the backend entry, or NULL */
	int port;
	int aaaa; /* the zone gives app an AAAA ::1 too */
	pid_t knot;
	struct sc_lb *lb;
};

/* One connection of a HELLO backend: its id, then an echo until EOF. */
static void serve(int fd, const char *id)
{
	char buf[4096];
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (write(fd, id, strlen(id)) < 0 || write(fd, "\n", 1) < 0)
		_exit(0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			break;
	_exit(0);
}

/* A HELLO backend on 127.0.0.(2+i):port in the calling thread's namespace, as a process. */
static void backend_start(struct rig *r, int i)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
	char ip[INET_ADDRSTRLEN + 8];
	int one = 1;

	snprintf(ip, sizeof(ip), "127.0.0.%d", 2 + i);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "bind %s: %s", ip,
		strerror(errno));
	cr_assert_eq(listen(fd, 64), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN); /* no zombies: nobody waits for a connection's process */
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				close(fd);
				serve(c, ids[i]);
			}
			close(c);
		}
	}
	close(fd);
	be_pids[i] = pid;
}

static void zone_write(struct rig *r, int serial, const int *hosts, int n)
{
	char text[1024];
	int len = snprintf(text, sizeof(text),
		"$ORIGIN names.test.\n$TTL 1\n"
		"@ SOA ns.names.test. admin.names.test. %d 1 1 1 1\n"
		"@ NS ns\nns A 127.0.0.1\n",
		serial);
	for (int i = 0; i < n; i++)
		len += snprintf(
			text + len, sizeof(text) - (size_t)len, "app A 127.0.0.%d\n", 2 + hosts[i]);
	if (r->aaaa)
		snprintf(text + len, sizeof(text) - (size_t)len, "app AAAA ::1\n");
	sc_write_file(r->zone, text);
}

static void knot_start(struct rig *r)
{
	r->knot = sc_knot_start(r->dir, "knot", 53, "names.test", "names.zone");
}

static void knot_stop(struct rig *r)
{
	sc_knot_stop(r->knot);
	r->knot = 0;
}

/* The namespace, entered by this thread for the whole test; the directory and resolv.conf. */
static void rig_init(struct rig *r)
{
	char why[256];

	memset(r, 0, sizeof(*r));
	if (geteuid() != 0)
		cr_skip_test("needs root (a network namespace, knotd on port 53)");
	if (access(SC_KNOTD, X_OK) != 0)
		cr_skip_test("knotd is not installed (scripts/deps.sh)");
	if (sc_which("ip", why, sizeof(why)) < 0)
		cr_skip_test("no ip(8)");
	snprintf(r->ns, sizeof(r->ns), "anylb-t%ld-names", (long)getpid());
	cr_assert_eq(sc_netns_add(r->ns), 0, "cannot make namespace %s", r->ns);
	cr_assert_eq(sc_netns_enter(r->ns), 0);
	const char *d = sc_admin_temp_dir();
	cr_assert_not_null(d);
	snprintf(r->dir, sizeof(r->dir), "%s", d);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", r->dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	snprintf(r->resolv, sizeof(r->resolv), "%s/resolv.conf", r->dir);
	snprintf(r->zone, sizeof(r->zone), "%s/names.zone", r->dir);
	snprintf(r->state, sizeof(r->state), "%s/state", r->dir);
	sc_write_file(r->resolv, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
	r->port = sc_port_free(AF_INET);
	cr_assert_gt(r->port, 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	snprintf(r->name, sizeof(r->name), "app.names.test:%d", r->port);
}

static void lb_start(struct rig *r)
{
	char *y = NULL;
	int n = asprintf(&y,
		"global:\n"
		"  workers: 2\n"
		"  drain_timeout: 3s\n"
		"  state_file: %s\n"
		"  admin:\n"
		"    socket: %s\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    retries: 3\n"
		"    resolve_interval: 300ms\n"
		"    health:\n"
		"      liveness: {interval: 200ms, rise: 1, fall: 1}\n"
		"    backends:\n"
		"      - address: %s\n"
		"        zone: z1\n"
		"%s",
		r->state, r->sock, r->listen, r->name, r->extra != NULL ? r->extra : "");
	cr_assert_gt(n, 0);
	struct sc_lb_opts o = {.bind_src = r->resolv, .bind_dst = "/etc/resolv.conf"};
	r->lb = sc_lb_start_opts(&o, "%s", y);
	free(y);
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->where, 5000), 0, "the admin socket never answered");
}

static json_t *status_doc(struct rig *r)
{
	struct sc_http_resp h;

	cr_assert_eq(sc_http(r->where, "GET", "/status", NULL, 5000, &h), 0);
	cr_assert_eq(h.status, 200);
	json_t *doc = json_loads(h.body, 0, NULL);
	sc_http_free(&h);
	cr_assert_not_null(doc);
	return doc;
}

/* The state /status gives the backend at 127.0.0.(2+i), or "absent". */
static const char *state_of(struct rig *r, int i, char *buf, size_t cap)
{
	char addr[64];
	json_t *doc = status_doc(r), *b;
	size_t k;

	snprintf(addr, sizeof(addr), "127.0.0.%d:%d", 2 + i, r->port);
	snprintf(buf, cap, "absent");
	json_t *svc = json_array_get(json_object_get(doc, "services"), 0);
	json_array_foreach(json_object_get(svc, "backends"), k, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0) {
			snprintf(buf, cap, "%s", json_string_value(json_object_get(b, "state")));
			if (strcmp(json_string_value(json_object_get(b, "added")), "removed") == 0)
				continue; /* a removed one, listed while it drains: no other field
					   */
			cr_expect_str_eq(
				json_string_value(json_object_get(b, "resolved_from")), r->name);
			cr_expect_str_eq(json_string_value(json_object_get(b, "zone")), "z1");
		}
	}
	json_decref(doc);
	return buf;
}

static void wait_state(struct rig *r, int i, const char *want)
{
	char st[32];
	int64_t deadline = sc_now_ms() + 4000;

	while (strcmp(state_of(r, i, st, sizeof(st)), want) != 0 && sc_now_ms() < deadline)
		sc_sleep_ms(50);
	cr_assert_str_eq(st, want, "backend %s", ids[i]);
}

static void tally(struct rig *r, int n, int c[NBE])
{
	cr_assert_eq(sc_hello_tally(r->listen, n, ids, NBE, c), 0);
}

/* "service web: app.names.test:P resolved to ...: added X, removed Y", waited for. */
static void wait_change(struct rig *r, size_t from, const char *rest)
{
	char want[512];

	snprintf(want, sizeof(want), "service web: %s resolved to %s", r->name, rest);
	cr_assert_eq(sc_lb_wait_log(r->lb, from, want, 5000, NULL), 0, "no '%s'", want);
}

/* An address list "127.0.0.2:P, 127.0.0.4:P" of the hosts (indexes). */
static const char *addrs(const struct rig *r, const int *h, int n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(
			buf + len, cap - len, "%s127.0.0.%d:%d", i ? ", " : "", 2 + h[i], r->port);
	return buf;
}

Test(names, answer_changes)
{
	struct rig r;
	char want[512], a1[256], a2[256], a3[256];
	int c[NBE];

	rig_init(&r);
	for (int i = 0; i < 3; i++)
		backend_start(&r, i);
	const int first[] = {0, 1, 3}, second[] = {0, 2};
	zone_write(&r, 1, first, 3);
	knot_start(&r);
	lb_start(&r);
	/* At start, before serving: the whole answer, logged once. */
	snprintf(want, sizeof(want), "%s: added %s, removed none", addrs(&r, first, 3, a1, 256),
		addrs(&r, first, 3, a2, 256));
	wait_change(&r, 0, want);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "resolved to"), 1);
	/* D's address answers nothing: the service's liveness check, run on it too, kills it. */
	wait_state(&r, 3, "dead");
	wait_state(&r, 0, "ready");
	wait_state(&r, 1, "ready");
	tally(&r, 20, c);
	cr_expect(c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0, "A %d B %d C %d D %d", c[0], c[1],
		c[2], c[3]);

	/* A session held through B. */
	int held = -1;
	for (int k = 0; k < 20 && held < 0; k++) {
		char id[16];
		int fd = sc_connect(r.listen, 2000);
		cr_assert_geq(fd, 0);
		cr_assert_gt(sc_recv_line(fd, id, sizeof(id), 2000), 0);
		if (strcmp(id, "B") == 0)
			held = fd;
		else
			close(fd);
	}
	cr_assert_geq(held, 0, "no session reached B");
	cr_assert_eq(sc_echo(held, "before", 2000), 0);

	/* The zone changes: .2 and .4 now. */
	size_t off = sc_lb_log_offset(r.lb);
	zone_write(&r, 2, second, 2);
	knot_stop(&r);
	knot_start(&r);
	const int gone[] = {1, 3}, added[] = {2};
	snprintf(want, sizeof(want), "%s: added %s, removed %s", addrs(&r, second, 2, a1, 256),
		addrs(&r, added, 1, a2, 256), addrs(&r, gone, 2, a3, 256));
	wait_change(&r, off, want);
	wait_state(&r, 2, "ready");
	tally(&r, 20, c);
	cr_expect(c[0] > 0 && c[2] > 0 && c[1] == 0 && c[3] == 0, "A %d B %d C %d D %d", c[0], c[1],
		c[2], c[3]);
	/* The removed backend drains: its established session goes on. */
	cr_expect_eq(sc_echo(held, "after the change", 2000), 0);
	close(held);

	/* A SIGHUP reload keeps the answer in force (generation 3: the change was 2). */
	off = sc_lb_log_offset(r.lb);
	cr_assert_eq(sc_lb_signal(r.lb, SIGHUP), 0);
	cr_assert_eq(
		sc_lb_wait_log(r.lb, off, "configuration reloaded (generation 3)", 5000, NULL), 0);
	wait_state(&r, 2, "ready");
	wait_state(&r, 1, "absent");

	json_t *doc = status_doc(&r);
	json_t *nm = json_array_get(
		json_object_get(json_array_get(json_object_get(doc, "services"), 0), "names"), 0);
	cr_assert_not_null(nm);
	cr_expect_str_eq(json_string_value(json_object_get(nm, "address")), r.name);
	cr_expect_eq(json_array_size(json_object_get(nm, "addresses")), 2);
	cr_expect(json_is_false(json_object_get(nm, "failing")));
	cr_expect(json_is_string(json_object_get(nm, "resolved")));
	json_decref(doc);

	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/metrics", NULL, 5000, &h), 0);
	snprintf(want, sizeof(want),
		"anylb_resolve_total{service=\"web\",name=\"%s\",result=\"changed\"} 2", r.name);
	cr_expect(strstr(h.body, want) != NULL, "no %s", want);
	snprintf(want, sizeof(want), "anylb_resolve_addresses{service=\"web\",name=\"%s\"} 2",
		r.name);
	cr_expect(strstr(h.body, want) != NULL, "no %s", want);
	sc_http_free(&h);

	struct sc_run run;
	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r.sock, "status", NULL), 0);
	snprintf(want, sizeof(want), "name        %s -> %s", r.name, addrs(&r, second, 2, a1, 256));
	cr_expect(strstr(run.out, want) != NULL, "no '%s' in:\n%s", want, run.out);
	snprintf(want, sizeof(want), "resolved from %s", r.name);
	cr_expect(strstr(run.out, want) != NULL, "no '%s' in:\n%s", want, run.out);
	sc_run_free(&run);

	/* No DNS server: the last good answer stays, said once for the streak. */
	off = sc_lb_log_offset(r.lb);
	knot_stop(&r);
	cr_assert_eq(sc_lb_wait_log(r.lb, off, "keeping the last good answer", 5000, NULL), 0);
	sc_sleep_ms(1000); /* three more lookups fail */
	cr_expect_eq(sc_lb_log_count(r.lb, off, "cannot resolve"), 1);
	tally(&r, 10, c);
	cr_expect(c[0] > 0 && c[2] > 0 && c[1] == 0, "A %d B %d C %d", c[0], c[1], c[2]);
	doc = status_doc(&r);
	nm = json_array_get(
		json_object_get(json_array_get(json_object_get(doc, "services"), 0), "names"), 0);
	cr_expect(json_is_true(json_object_get(nm, "failing")));
	cr_expect_eq(json_array_size(json_object_get(nm, "addresses")), 2);
	json_decref(doc);

	off = sc_lb_log_offset(r.lb);
	knot_start(&r);
	snprintf(want, sizeof(want), "%s resolves again to %s: no change", r.name,
		addrs(&r, second, 2, a1, 256));
	cr_expect_eq(sc_lb_wait_log(r.lb, off, want, 5000, NULL), 0, "no '%s'", want);
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}

/* What /status says of backend i's weight ("runtime_weight", -1 when none). */
static long long runtime_weight(struct rig *r, int i)
{
	char addr[64];
	long long w = -1;
	json_t *doc = status_doc(r), *b;
	size_t k;

	snprintf(addr, sizeof(addr), "127.0.0.%d:%d", 2 + i, r->port);
	json_t *svc = json_array_get(json_object_get(doc, "services"), 0);
	json_array_foreach(json_object_get(svc, "backends"), k, b)
	{
		json_t *rw = json_object_get(b, "runtime_weight");
		if (strcmp(json_string_value(json_object_get(b, "address")), addr) == 0 &&
			json_is_integer(rw))
			w = json_integer_value(rw);
	}
	json_decref(doc);
	return w;
}

static void ctl(struct rig *r, const char *cmd, const char *a1, const char *a2, const char *a3)
{
	struct sc_run run;

	cr_assert_eq(sc_run_anylbctl(&run, 5000, "-s", r->sock, cmd, a1, a2, a3, NULL), 0);
	cr_expect_eq(run.status, 0, "anylbctl %s: %s%s", cmd, run.out, run.err);
	sc_run_free(&run);
}

/* A drain and a runtime weight set on resolved backends survive a restart (the state file):
 * the name gives the same addresses at start, before the saved state is applied. */
Test(names, operator_state_survives_restart)
{
	struct rig r;
	char a[64], b[64], st[32];
	const int both[] = {0, 1};

	rig_init(&r);
	backend_start(&r, 0);
	backend_start(&r, 1);
	zone_write(&r, 1, both, 2);
	knot_start(&r);
	lb_start(&r);
	snprintf(a, sizeof(a), "127.0.0.2:%d", r.port);
	snprintf(b, sizeof(b), "127.0.0.3:%d", r.port);
	wait_state(&r, 0, "ready");
	ctl(&r, "drain", "web", a, NULL);
	ctl(&r, "weight", "web", b, "7");
	cr_assert_str_eq(state_of(&r, 0, st, sizeof(st)), "draining");
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
	r.lb = NULL;
	lb_start(&r);
	cr_expect_str_eq(state_of(&r, 0, st, sizeof(st)), "draining");
	cr_expect_eq(runtime_weight(&r, 1), 7);
	int c[NBE];
	tally(&r, 10, c);
	cr_expect(c[0] == 0 && c[1] == 10, "A %d B %d", c[0], c[1]);
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}

/* A and AAAA in the answer; resolve_family: ipv6 takes the AAAA alone, as [::1]:PORT. */
Test(names, family_ipv6)
{
	struct rig r;
	char want[512];
	const int only_a[] = {0};

	rig_init(&r);
	r.aaaa = 1;
	r.extra = "        resolve_family: ipv6\n";
	backend_start(&r, 0); /* on 127.0.0.2: must get nothing */
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
		.sin6_port = htons((uint16_t)r.port),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int one = 1, lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin6, sizeof(sin6)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(lfd, 8), 0);
	zone_write(&r, 1, only_a, 1);
	knot_start(&r);
	lb_start(&r);
	snprintf(want, sizeof(want), "[::1]:%d: added [::1]:%d, removed none", r.port, r.port);
	wait_change(&r, 0, want);
	cr_expect_str_eq(state_of(&r, 0, want, sizeof(want)), "absent"); /* 127.0.0.2 */
	int fd = sc_connect(r.listen, 2000);
	cr_assert_geq(fd, 0);
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	cr_expect_eq(poll(&p, 1, 2000), 1, "the session did not reach [::1]");
	int c = accept(lfd, NULL, NULL);
	cr_expect_geq(c, 0);
	if (c >= 0)
		close(c);
	close(fd);
	close(lfd);
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}

/* Replaces the running file atomically with text; returns what it was (malloc'ed). */
static char *file_swap(struct rig *r, const char *text)
{
	const char *path = sc_lb_config_path(r->lb);
	char tmp[512];
	char *was = sc_read_file(path);

	cr_assert_not_null(was);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	sc_write_file(tmp, text);
	cr_assert_eq(rename(tmp, path), 0);
	return was;
}

/* A change whose reload is refused (the file on disk went bad): the previous answer stays, and
 * the next lookup after the file is fixed applies the change. */
Test(names, change_refused_keeps_previous)
{
	struct rig r;
	char want[512], a1[256], a2[256], st[32];
	const int one[] = {0}, two[] = {0, 1}, added[] = {1};

	rig_init(&r);
	backend_start(&r, 0);
	backend_start(&r, 1);
	zone_write(&r, 1, one, 1);
	knot_start(&r);
	lb_start(&r);
	wait_state(&r, 0, "ready");
	char *good = file_swap(&r, "services: [\n");
	size_t off = sc_lb_log_offset(r.lb);
	zone_write(&r, 2, two, 2);
	knot_stop(&r);
	knot_start(&r);
	cr_assert_eq(sc_lb_wait_log(r.lb, off, "but that cannot apply", 5000, NULL), 0);
	cr_expect_str_eq(state_of(&r, 1, st, sizeof(st)), "absent");
	json_t *doc = status_doc(&r);
	json_t *nm = json_array_get(
		json_object_get(json_array_get(json_object_get(doc, "services"), 0), "names"), 0);
	cr_expect_eq(json_array_size(json_object_get(nm, "addresses")), 1);
	json_decref(doc);
	off = sc_lb_log_offset(r.lb);
	free(file_swap(&r, good));
	free(good);
	snprintf(want, sizeof(want), "%s: added %s, removed none", addrs(&r, two, 2, a1, 256),
		addrs(&r, added, 1, a2, 256));
	wait_change(&r, off, want);
	wait_state(&r, 1, "ready");
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}

Test(names, unresolvable_at_start)
{
	struct rig r;
	char want[512], id[16];
	const int only_a[] = {0};

	rig_init(&r);
	backend_start(&r, 0);
	zone_write(&r, 1, only_a, 1);
	lb_start(&r); /* no knotd yet */
	snprintf(want, sizeof(want), "cannot resolve %s", r.name);
	cr_assert_eq(sc_lb_wait_log(r.lb, 0, want, 5000, NULL), 0);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "no backends from it until a lookup succeeds"), 1);
	cr_expect_lt(sc_hello(NULL, r.listen, id, sizeof(id), 2000), 0,
		"a client was served without a backend");
	/* A reload of a service whose only entry has no answer yet is not refused. */
	size_t hup = sc_lb_log_offset(r.lb);
	cr_assert_eq(sc_lb_signal(r.lb, SIGHUP), 0);
	cr_expect_eq(sc_lb_wait_log(r.lb, hup, "configuration reloaded (generation 2)", 5000, NULL),
		0, "the reload was refused");

	size_t off = sc_lb_log_offset(r.lb);
	knot_start(&r);
	char a[64];
	snprintf(a, sizeof(a), "127.0.0.2:%d", r.port);
	snprintf(want, sizeof(want), "%s: added %s, removed none", a, a);
	wait_change(&r, off, want);
	cr_assert_eq(sc_hello(NULL, r.listen, id, sizeof(id), 2000), 0);
	cr_expect_str_eq(id, "A");
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}
