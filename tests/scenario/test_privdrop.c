/*
 * DOC: scenario: least privilege (global.user)
 *
 * The real binary, started as root by the test, with `global.user: nobody`. What the kernel
 * says about the process afterwards is read from /proc/PID/status (and that of every thread):
 * uids and gids are nobody's, no supplementary group is left, the permitted and effective sets
 * are exactly CAP_NET_BIND_SERVICE (plus CAP_NET_ADMIN when the TUN interface is in use), the
 * inheritable and ambient sets are empty, the bounding set is cut to the same and no_new_privs
 * is set. The process still proxies, its admin socket (root's, 0600) still answers root, and it
 * stops with status 0. Without global.user nothing changes. In a network namespace with
 * `announce: interface`: the prefix is put on the TUN interface after the drop (CAP_NET_ADMIN
 * at work), the watchdog runs as nobody with no capability at all, and when the watchdog is
 * killed anylb, as nobody, recreates the interface and a new watchdog that is dropped as well.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BIT(cap)  (1ull << (cap))
#define KEEP_BIND BIT(CAP_NET_BIND_SERVICE)
#define KEEP_TUN  (BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_ADMIN))

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
	sc_netns_cleanup();
}

TestSuite(privdrop, .fini = fini, .timeout = 60);

/* What /proc/PID/status (or /proc/PID/task/TID/status) says about credentials. */
struct creds {
	unsigned uid[4], gid[4]; /* real, effective, saved, filesystem */
	int ngroups;
	unsigned long long inh, prm, eff, bnd, amb;
	int nnp;
};

static int creds_read(const char *path, struct creds *c)
{
	char *text = sc_read_file(path);
	char *p;

	if (text == NULL)
		return -errno;
	memset(c, 0, sizeof(*c));
	c->nnp = -1;
	if ((p = strstr(text, "\nUid:")) != NULL)
		sscanf(p + 5, "%u %u %u %u", &c->uid[0], &c->uid[1], &c->uid[2], &c->uid[3]);
	if ((p = strstr(text, "\nGid:")) != NULL)
		sscanf(p + 5, "%u %u %u %u", &c->gid[0], &c->gid[1], &c->gid[2], &c->gid[3]);
	if ((p = strstr(text, "\nGroups:")) != NULL) {
		p += 8;
		for (char *e = strchr(p, '\n'); p < e; p++)
			if (*p >= '0' && *p <= '9' && (p[-1] == ' ' || p[-1] == '\t'))
				c->ngroups++;
	}
	if ((p = strstr(text, "\nCapInh:")) != NULL)
		c->inh = strtoull(p + 8, NULL, 16);
	if ((p = strstr(text, "\nCapPrm:")) != NULL)
		c->prm = strtoull(p + 8, NULL, 16);
	if ((p = strstr(text, "\nCapEff:")) != NULL)
		c->eff = strtoull(p + 8, NULL, 16);
	if ((p = strstr(text, "\nCapBnd:")) != NULL)
		c->bnd = strtoull(p + 8, NULL, 16);
	if ((p = strstr(text, "\nCapAmb:")) != NULL)
		c->amb = strtoull(p + 8, NULL, 16);
	if ((p = strstr(text, "\nNoNewPrivs:")) != NULL)
		c->nnp = atoi(p + 12);
	free(text);
	return 0;
}

/* Every thread of pid runs as uid:gid with exactly the capabilities keep. Returns the count. */
static int expect_dropped(pid_t pid, uid_t uid, gid_t gid, unsigned long long keep)
{
	char path[320];
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		struct creds c;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, e->d_name);
		cr_assert_eq(creds_read(path, &c), 0, "%s", path);
		for (int i = 0; i < 4; i++) {
			cr_expect_eq(c.uid[i], uid, "%s: uid[%d] %u", path, i, c.uid[i]);
			cr_expect_eq(c.gid[i], gid, "%s: gid[%d] %u", path, i, c.gid[i]);
		}
		cr_expect_eq(c.ngroups, 0, "%s: %d supplementary groups", path, c.ngroups);
		cr_expect_eq(c.eff, keep, "%s: CapEff %llx, want %llx", path, c.eff, keep);
		cr_expect_eq(c.prm, keep, "%s: CapPrm %llx, want %llx", path, c.prm, keep);
		cr_expect_eq(c.inh, 0, "%s: CapInh %llx", path, c.inh);
		cr_expect_eq(c.amb, 0, "%s: CapAmb %llx", path, c.amb);
		cr_expect_eq(c.bnd & ~keep, 0, "%s: CapBnd %llx beyond %llx", path, c.bnd, keep);
		cr_expect_eq(c.nnp, 1, "%s: NoNewPrivs %d", path, c.nnp);
		n++;
	}
	closedir(d);
	return n;
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("starting anylb as root and dropping needs root");
}

static void nobody(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user nobody on this system");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	cr_assert_neq(*uid, 0);
}

static void wait_healthz(const char *where, struct sc_lb *lb)
{
	int64_t deadline = sc_now_ms() + 5000;
	struct sc_http_resp h;

	for (;;) {
		int rc = sc_http(where, "GET", "/healthz", NULL, 1000, &h);
		int ok = rc == 0 && h.status == 200;
		sc_http_free(&h);
		if (ok)
			return;
		if (sc_now_ms() > deadline) {
			sc_lb_dump_log(lb);
			cr_assert_fail("%s never answered /healthz", where);
		}
		sc_sleep_ms(20);
	}
}

Test(privdrop, runs_as_nobody_and_still_serves)
{
	char listen[SC_ADDRSTRLEN], sock[200], where[210];
	uid_t uid;
	gid_t gid;

	need_root();
	nobody(&uid, &gid);
	const char *dir = sc_admin_temp_dir();
	cr_assert_not_null(dir);
	snprintf(sock, sizeof(sock), "%s/run/admin.sock", dir);
	snprintf(where, sizeof(where), "unix:%s", sock);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	cr_assert_not_null(b);
	struct sc_lb *lb = sc_lb_start("global:\n"
				       "  user: nobody\n"
				       "  workers: 2\n"
				       "  drain_timeout: 1s\n"
				       "  admin:\n"
				       "    socket: %s\n"
				       "services:\n"
				       "  - name: web\n"
				       "    listen: [\"%s\"]\n"
				       "    backends: [{address: \"%s\"}]\n",
		sock, listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	wait_healthz(where, lb);

	/* Two workers, the monitor and the main thread: all of them dropped. */
	int n = expect_dropped(sc_lb_pid(lb), uid, gid, KEEP_BIND);
	cr_expect_geq(n, 4, "%d threads", n);
	cr_expect(sc_lb_log_contains(lb, "privileges dropped: user nobody"));

	/* Still a proxy. */
	int fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect %s: %s", listen, strerror(-fd));
	cr_expect_eq(sc_echo(fd, "through a dropped anylb\n", 2000), 0);
	close(fd);

	/* The admin socket was made by root before the drop: root's, 0600, and root gets in. */
	struct stat st;
	cr_assert_eq(stat(sock, &st), 0);
	cr_expect_eq(st.st_uid, 0, "socket owner %u", st.st_uid);
	cr_expect_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);
	struct sc_run r;
	cr_assert_eq(sc_run_anylbctl(&r, 5000, "-s", sock, "status", NULL), 0);
	cr_expect_eq(r.status, 0, "anylbctl status: %s%s", r.out, r.err);
	cr_expect(strstr(r.out, "web") != NULL, "anylbctl status: %s", r.out);
	sc_run_free(&r);

	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
}

/* group: picks the gid; the user's own primary group is not used then. */
Test(privdrop, group_overrides_the_primary_group)
{
	char listen[SC_ADDRSTRLEN];
	uid_t uid;
	gid_t gid;

	need_root();
	nobody(&uid, &gid);
	struct group *gr = getgrnam("daemon");
	if (gr == NULL)
		cr_skip_test("no group daemon here");
	gid_t daemon_gid = gr->gr_gid;
	cr_assert_neq(daemon_gid, gid);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct sc_lb *lb = sc_lb_start("global:\n"
				       "  user: nobody\n"
				       "  group: daemon\n"
				       "  workers: 1\n"
				       "  drain_timeout: 1s\n"
				       "  admin: {enabled: false}\n"
				       "services:\n"
				       "  - name: web\n"
				       "    listen: [\"%s\"]\n"
				       "    backends: [{address: \"127.0.0.1:9\"}]\n",
		listen);
	cr_assert_not_null(lb);
	cr_assert_eq(sc_lb_wait_log(lb, 0, "privileges dropped", 3000, NULL), 0);
	expect_dropped(sc_lb_pid(lb), uid, daemon_gid, KEEP_BIND);
	cr_expect_eq(sc_lb_stop(lb), 0);
}

/* The default: no global.user, no change at all (tests and the quickstart run as root). */
Test(privdrop, without_user_nothing_changes)
{
	char listen[SC_ADDRSTRLEN], path[64];
	struct creds self, lbc;

	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct sc_lb *lb = sc_lb_start("global:\n"
				       "  workers: 1\n"
				       "  drain_timeout: 1s\n"
				       "  admin: {enabled: false}\n"
				       "services:\n"
				       "  - name: web\n"
				       "    listen: [\"%s\"]\n"
				       "    backends: [{address: \"127.0.0.1:9\"}]\n",
		listen);
	cr_assert_not_null(lb);
	cr_assert_eq(creds_read("/proc/self/status", &self), 0);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)sc_lb_pid(lb));
	cr_assert_eq(creds_read(path, &lbc), 0);
	cr_expect_eq(lbc.uid[1], self.uid[1]);
	cr_expect_eq(lbc.eff, self.eff, "CapEff %llx, the test's %llx", lbc.eff, self.eff);
	cr_expect_eq(lbc.bnd, self.bnd);
	cr_expect_eq(lbc.nnp, self.nnp);
	cr_expect_not(sc_lb_log_contains(lb, "privileges dropped"));
	cr_expect_eq(sc_lb_stop(lb), 0);
}

/* The pid in a log line "... watchdog N ..." after from. */
static pid_t watchdog_pid(struct sc_lb *lb, size_t from, const char *needle)
{
	struct sc_log_line line;

	cr_assert_eq(
		sc_lb_wait_log(lb, from, needle, 5000, &line), 0, "no '%s' in the log", needle);
	const char *p = strstr(line.text, "watchdog ");
	cr_assert_not_null(p, "%s", line.text);
	return (pid_t)atoi(p + 9);
}

/*
 * The watchdog's credentials once it has dropped: the log line that names it comes from the
 * parent, which does not wait for the child's drop (bgp/watchdog.c: ids, then capabilities,
 * then no_new_privs, which a watchdog forked after the drop already inherits). Waits up to 2 s
 * for no capability and no_new_privs; the caller then checks the rest.
 */
static void watchdog_creds(pid_t wpid, struct creds *wd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)wpid);
	for (int64_t end = sc_now_ms() + 2000;; sc_sleep_ms(10)) {
		cr_assert_eq(creds_read(path, wd), 0);
		if (((wd->eff | wd->prm) == 0 && wd->nnp == 1) || sc_now_ms() > end)
			break;
	}
}

/* Polls `ip -n NS addr show dev anylb0` until it holds want (or, when gone, lacks it). */
static int wait_addr(const char *ns, const char *want, int timeout_ms)
{
	char out[4096];
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		int rc = sc_cmd(out, sizeof(out), 2000, "ip -n %s addr show dev anylb0", ns);
		if (rc == 0 && strstr(out, want) != NULL)
			return 0;
		if (sc_now_ms() > deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(20);
	}
}

/*
 * A node of the TUN device (char 10:200) with mode, in a temp directory: the harness binds it
 * over /dev/net/tun for anylb alone, so the test does not depend on (or change) the host's
 * mode for the device, which udev makes 0666 and some containers leave 0600.
 */
static const char *tun_node(mode_t mode, char *buf, size_t cap)
{
	const char *dir = sc_admin_temp_dir();
	cr_assert_not_null(dir);
	snprintf(buf, cap, "%s/tun-%o", dir, (unsigned)mode);
	unlink(buf);
	cr_assert_eq(mknod(buf, S_IFCHR | mode, makedev(10, 200)), 0, "mknod %s: %s", buf,
		strerror(errno));
	cr_assert_eq(chmod(buf, mode), 0); /* whatever the umask */
	return buf;
}

/* anylb with announce: interface in namespace ns, as nobody, /dev/net/tun replaced by tun. */
static struct sc_lb *lb_interface(const char *ns, const char *tun, struct sc_backend **b)
{
	char listen[SC_ADDRSTRLEN];

	cr_assert_eq(sc_netns_enter(ns), 0);
	*b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	int port = sc_port_free(AF_INET);
	sc_netns_enter(NULL);
	cr_assert_not_null(*b);
	cr_assert_gt(port, 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);

	struct sc_lb_opts o = {.bind_src = tun, .bind_dst = "/dev/net/tun"};
	cr_assert_eq(sc_netns_enter(ns), 0);
	struct sc_lb *lb = sc_lb_start_opts(&o,
		"global:\n"
		"  user: nobody\n"
		"  workers: 1\n"
		"  drain_timeout: 1s\n"
		"  admin: {enabled: false}\n"
		"bgp:\n"
		"  announce: interface\n"
		"  interface: anylb0\n"
		"  watchdog_timeout: 500ms\n"
		"  bird_socket: /nonexistent/bird.ctl\n"
		"  announce_delay: 0s\n"
		"  shutdown_grace: 0s\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    anycast: {prefixes: [" SC_ANYCAST4_NET "]}\n"
		"    health:\n"
		"      readiness: {interval: 100ms, timeout: 100ms, rise: 1, "
		"fall: 1, jitter: 0}\n"
		"    backends: [{address: \"%s\"}]\n",
		listen, sc_backend_addr(*b));
	sc_netns_enter(NULL);
	cr_assert_not_null(lb);
	return lb;
}

static void need_netns(const char *suffix, char *ns, size_t cap)
{
	char why[256];

	if (sc_netns_check(why, sizeof(why)) < 0)
		cr_skip_test("%s", why);
	snprintf(ns, cap, "anylb-t%d-%s", (int)getpid(), suffix);
	cr_assert_eq(sc_netns_add(ns), 0);
}

Test(privdrop, interface_mode_keeps_net_admin_and_drops_the_watchdog)
{
	char ns[64], path[64], tun[256];
	struct sc_backend *b;
	struct creds wd;
	uid_t uid;
	gid_t gid;

	nobody(&uid, &gid);
	need_netns("pd", ns, sizeof(ns));
	struct sc_lb *lb = lb_interface(ns, tun_node(0666, tun, sizeof(tun)), &b);
	pid_t wpid = watchdog_pid(lb, 0, "held by watchdog");
	cr_assert_eq(sc_lb_wait_log(lb, 0, "privileges dropped", 3000, NULL), 0);
	expect_dropped(sc_lb_pid(lb), uid, gid, KEEP_TUN);

	/* The watchdog, forked by root before the drop: nobody, and no capability at all. */
	watchdog_creds(wpid, &wd);
	cr_expect_eq(wd.uid[1], uid, "watchdog euid %u", wd.uid[1]);
	cr_expect_eq(wd.uid[2], uid, "watchdog saved uid %u", wd.uid[2]);
	cr_expect_eq(wd.gid[1], gid, "watchdog egid %u", wd.gid[1]);
	cr_expect_eq(wd.ngroups, 0);
	cr_expect_eq(wd.eff | wd.prm | wd.inh | wd.amb, 0, "watchdog caps eff %llx prm %llx",
		wd.eff, wd.prm);
	cr_expect_eq(wd.nnp, 1);

	/* The backend is ready: the prefix goes on the interface, by netlink, after the drop. */
	cr_assert_eq(wait_addr(ns, SC_ANYCAST4_NET, 5000), 0, "the prefix never came");

	cr_expect_not(sc_lb_log_contains(lb, "cannot open /dev/net/tun"));

	/* Kill the watchdog: anylb (nobody + CAP_NET_ADMIN) recreates the interface. */
	size_t off = sc_lb_log_offset(lb);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)wpid);
	char *st = sc_read_file(path);
	cr_assert_not_null(st);
	char ppid[32];
	snprintf(ppid, sizeof(ppid), "\nPPid:\t%d\n", (int)sc_lb_pid(lb));
	int ours = strstr(st, "Name:\tanylb-watchdog\n") != NULL && strstr(st, ppid) != NULL;
	free(st);
	cr_assert(ours, "pid %d is not the watchdog of our anylb", (int)wpid);
	cr_assert_eq(kill(wpid, SIGKILL), 0); /* the child of the anylb this test started */
	pid_t w2 = watchdog_pid(lb, off, "recreated, held by watchdog");
	cr_expect_neq(w2, wpid);
	watchdog_creds(w2, &wd);
	cr_expect_eq(wd.uid[1], uid);
	cr_expect_eq(wd.eff | wd.prm, 0, "second watchdog caps eff %llx prm %llx", wd.eff, wd.prm);
	cr_expect_eq(wd.nnp, 1);
	expect_dropped(sc_lb_pid(lb), uid, gid, KEEP_TUN);

	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
}

/*
 * Where /dev/net/tun is root's 0600, nobody could not recreate the interface after a watchdog
 * timeout (the prefixes would stay withdrawn): anylb says so at start, and still serves.
 */
Test(privdrop, tun_device_closed_to_the_user_is_said_at_start)
{
	char ns[64], tun[256];
	struct sc_backend *b;

	need_netns("pt", ns, sizeof(ns));
	struct sc_lb *lb = lb_interface(ns, tun_node(0600, tun, sizeof(tun)), &b);
	cr_assert_eq(sc_lb_wait_log(lb, 0, "privileges dropped", 3000, NULL), 0);
	cr_expect(sc_lb_log_contains(lb, "this user cannot open /dev/net/tun"));
	cr_expect_eq(wait_addr(ns, SC_ANYCAST4_NET, 5000), 0, "the prefix never came");
	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
}
