/*
 * DOC: namespaces, BIRD and routes for the anycast scenarios (see netns.h for the picture)
 *
 * Namespaces are made with `ip netns add`, so that they have a name an operator can inspect
 * (`ip netns list`, `ip -n NAME route`) while a test runs, and are entered with setns(2) on the
 * calling thread only. Only the thread changes namespace: the harness's backend threads and
 * Criterion's machinery stay where they were.
 *
 * BIRD runs in the foreground (-f) so that its pid is the one we started, under the harness's
 * PR_SET_PDEATHSIG: a test process killed by its timeout takes its BIRDs with it. Its control
 * socket is a path, and a path socket is reachable from any namespace, so the test talks to
 * every BIRD from wherever it is.
 *
 * Routes are read with one rtnetlink dump per look, on a socket made inside the namespace and
 * kept for the life of the process: a look costs tens of microseconds, so polling every
 * millisecond measures a route change to about a millisecond.
 */
#include "tests/support/netns.h"

#include "tests/support/harness_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NS      8
#define MAX_BIRD    8
#define MAX_WORDS   32
#define CMD_MS      5000
#define BIRD_UP_MS  5000
#define BIRD_REPLY  65536
#define NETNS_DIR   "/run/netns"
#define NAME_PREFIX "anylb-t"

struct sc_bird {
	char ns[64];
	char name[32];
	char conf[192];
	char sock[192];
	char pidfile[192];
	char log[192];
	pid_t pid;
};

struct ns_entry {
	char name[64];
	int nl; /* rtnetlink socket inside it, -1 until the first route look */
};

static struct ns_entry namespaces[MAX_NS];
static size_t nnamespaces;
static struct sc_bird *birds[MAX_BIRD];
static char tempdir[128];
static int home_fd = -1; /* the namespace the test process started in */
static char current[64]; /* where the calling thread is now; "" = home */
static int cleanup_registered;

/* ---- plumbing -------------------------------------------------------------------------------- */

int sc_which(const char *name, char *path, size_t cap)
{
	const char *env = getenv("PATH");
	char dirs[1024];

	if (strchr(name, '/') != NULL) { /* a path already: as execvp takes it */
		snprintf(path, cap, "%s", name);
		return access(path, X_OK) == 0 ? 0 : -ENOENT;
	}
	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/local/sbin", env ? env : "/usr/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
		d = strtok_r(NULL, ":", &save)) {
		snprintf(path, cap, "%s/%s", d, name);
		if (access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static void register_cleanup(void)
{
	if (!cleanup_registered) {
		cleanup_registered = 1;
		atexit(sc_netns_cleanup);
	}
}

int sc_netns_enter(const char *name)
{
	char path[128];
	int fd;

	if (home_fd < 0) {
		home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home_fd < 0)
			return -errno;
	}
	if (name == NULL || name[0] == '\0') {
		if (setns(home_fd, CLONE_NEWNET) < 0)
			return -errno;
		current[0] = '\0';
		return 0;
	}
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	if (rc == 0)
		snprintf(current, sizeof(current), "%s", name);
	return rc;
}

/* Runs argv with output into out (cap bytes, NUL-terminated), bounded. As sc_cmd. */
static int run_argv(char *const argv[], char *out, size_t cap, int timeout_ms)
{
	int pfd[2], st;
	size_t len = 0;
	int64_t deadline = sc_now_ms() + timeout_ms;
	char sink[512];

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = sc_spawn(argv, pfd[1], pfd[1]);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return pid;
	}
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int left = sc_remaining_ms(deadline);
		if (left == 0)
			break;
		int n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ssize_t r;
		if (out != NULL && len + 1 < cap)
			r = read(pfd[0], out + len, cap - 1 - len);
		else
			r = read(pfd[0], sink, sizeof(sink));
		if (r <= 0)
			break;
		if (out != NULL && len + 1 < cap)
			len += (size_t)r;
	}
	close(pfd[0]);
	if (out != NULL && cap > 0)
		out[len] = '\0';
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (sc_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -ETIMEDOUT;
		}
		sc_sleep_ms(1);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int vcmd(char *out, size_t cap, int timeout_ms, const char *fmt, va_list ap)
{
	char text[1024], prog[256];
	char *argv[MAX_WORDS + 1];
	size_t argc = 0;

	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *save = NULL, *w = strtok_r(text, " ", &save); w != NULL && argc < MAX_WORDS;
		w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	if (argc == 0)
		return -EINVAL;
	if (sc_which(argv[0], prog, sizeof(prog)) < 0)
		return -ENOENT;
	argv[0] = prog;
	return run_argv(argv, out, cap, timeout_ms);
}

int sc_cmd(char *out, size_t cap, int timeout_ms, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = vcmd(out, cap, timeout_ms, fmt, ap);
	va_end(ap);
	return rc;
}

/* sc_cmd that must succeed: 0, or -EIO with the command and its output in why. */
static int must(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int must(char *why, size_t cap, const char *fmt, ...)
{
	char out[512], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	int rc = vcmd(out, sizeof(out), CMD_MS, fmt, ap);
	va_end(ap);
	if (rc == 0)
		return 0;
	snprintf(why, cap, "`%s` failed (%d): %s", text, rc, out);
	return rc < 0 ? rc : -EIO;
}

/* Writes value to a /proc/sys file of namespace ns (the file is opened inside it). */
static int ns_sysctl(const char *ns, const char *file, const char *value)
{
	char back[64];
	int rc, fd;

	snprintf(back, sizeof(back), "%s", current);
	rc = sc_netns_enter(ns);
	if (rc < 0)
		return rc;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
	} else {
		rc = write(fd, value, strlen(value)) < 0 ? -errno : 0;
		close(fd);
	}
	sc_netns_enter(back);
	return rc;
}

/* ---- namespaces ------------------------------------------------------------------------------ */

/* The pid in a name made here ("anylb-t<pid>-..."), when that process is gone; else 0. */
static int stale_pid(const char *name)
{
	int pid;

	if (sscanf(name, NAME_PREFIX "%d-", &pid) != 1 || pid <= 0 || pid == (int)getpid())
		return 0;
	return kill(pid, 0) < 0 && errno == ESRCH ? pid : 0;
}

/*
 * Deletes the namespaces and temp directories of test processes that are gone (killed, e.g.
 * by Criterion's timeout, before they could clean up). Their BIRDs and anylbs died with them
 * (PR_SET_PDEATHSIG); only the names were left.
 */
static void sweep_stale(void)
{
	const char *dirs[2] = {NETNS_DIR, "/tmp"};
	struct dirent *e;
	char path[512];

	for (int i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);
		if (d == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			int pid = stale_pid(e->d_name);
			if (pid == 0)
				continue;
			fprintf(stderr, "netns: removing %s/%s, left by test process %d\n", dirs[i],
				e->d_name, pid);
			if (i == 0) {
				sc_cmd(NULL, 0, CMD_MS, "ip netns del %s", e->d_name);
			} else {
				snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
				sc_rm_tree(path);
			}
		}
		closedir(d);
	}
}

int sc_netns_add(const char *name)
{
	char why[256];
	int rc;

	if (nnamespaces == MAX_NS)
		return -ENOSPC;
	register_cleanup();
	if (nnamespaces == 0)
		sweep_stale();
	rc = must(why, sizeof(why), "ip netns add %s", name);
	if (rc < 0) {
		fprintf(stderr, "netns: %s\n", why);
		return rc;
	}
	snprintf(namespaces[nnamespaces].name, sizeof(namespaces[0].name), "%s", name);
	namespaces[nnamespaces].nl = -1;
	nnamespaces++;
	rc = must(why, sizeof(why), "ip -n %s link set lo up", name);
	if (rc < 0)
		fprintf(stderr, "netns: %s\n", why);
	return rc;
}

int sc_netns_check(char *why, size_t cap)
{
	char path[256];
	int fd;

	if (geteuid() != 0) {
		snprintf(why, cap, "needs root (network namespaces, veth, TUN, BIRD)");
		return -EPERM;
	}
	if (sc_which("ip", path, sizeof(path)) < 0) {
		snprintf(why, cap, "needs `ip` (iproute2)");
		return -ENOENT;
	}
	if (sc_which("bird", path, sizeof(path)) < 0) {
		snprintf(why, cap, "needs BIRD 2 (`bird`; Debian: apt-get install bird2)");
		return -ENOENT;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, cap, "needs /dev/net/tun: %s", strerror(errno));
		return -ENODEV;
	}
	close(fd);
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, cap, "cannot see network namespaces: %s", strerror(errno));
		return -ENOSYS;
	}
	close(fd);
	/* A container may give root everything but the right to make namespaces. */
	char probe[64], out[256];
	snprintf(probe, sizeof(probe), NAME_PREFIX "%d-probe", (int)getpid());
	int rc = sc_cmd(out, sizeof(out), CMD_MS, "ip netns add %s", probe);
	if (rc != 0) {
		snprintf(why, cap, "cannot create a network namespace (`ip netns add`: %s)", out);
		return -EPERM;
	}
	sc_cmd(NULL, 0, CMD_MS, "ip netns del %s", probe);
	return 0;
}

/* ---- routes ---------------------------------------------------------------------------------- */

static struct ns_entry *ns_find(const char *name)
{
	for (size_t i = 0; i < nnamespaces; i++)
		if (strcmp(namespaces[i].name, name) == 0)
			return &namespaces[i];
	return NULL;
}

/* The rtnetlink socket inside ns, made on first use. */
static int ns_netlink(const char *ns)
{
	struct ns_entry *e = ns_find(ns);
	char back[64];
	int rc;

	if (e == NULL)
		return -ENOENT;
	if (e->nl >= 0)
		return e->nl;
	snprintf(back, sizeof(back), "%s", current);
	rc = sc_netns_enter(ns);
	if (rc < 0)
		return rc;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	rc = fd < 0 ? -errno : 0;
	sc_netns_enter(back);
	if (rc < 0)
		return rc;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	e->nl = fd;
	return fd;
}

static int parse_prefix(const char *prefix, int *family, unsigned char addr[16], unsigned *plen)
{
	char text[64];
	char *slash;

	snprintf(text, sizeof(text), "%s", prefix);
	slash = strchr(text, '/');
	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	*plen = (unsigned)atoi(slash + 1);
	*family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	return inet_pton(*family, text, addr) == 1 ? 0 : -EINVAL;
}

static void add_gateway(struct sc_route *r, int family, const void *gw)
{
	if (r->paths < SC_ROUTE_MAXPATHS) {
		if (gw != NULL)
			inet_ntop(family, gw, r->via[r->paths], sizeof(r->via[0]));
		else
			snprintf(r->via[r->paths], sizeof(r->via[0]), "direct");
	}
	r->paths++;
}

/* Adds the next hops of one RTM_NEWROUTE message to r when it is the route asked for. */
static void route_msg(const struct nlmsghdr *h, int family, const unsigned char *addr,
	unsigned plen, struct sc_route *r)
{
	const struct rtmsg *rtm = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rtm));
	size_t alen = family == AF_INET ? 4 : 16;
	const void *dst = NULL, *gw = NULL;
	const struct rtattr *mp = NULL;
	unsigned table = rtm->rtm_table;

	if (rtm->rtm_family != family || rtm->rtm_dst_len != plen || rtm->rtm_type != RTN_UNICAST)
		return;
	for (const struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case RTA_DST:
			dst = RTA_DATA(a);
			break;
		case RTA_GATEWAY:
			gw = RTA_DATA(a);
			break;
		case RTA_MULTIPATH:
			mp = a;
			break;
		case RTA_TABLE:
			table = *(const unsigned *)RTA_DATA(a);
			break;
		default:
			break;
		}
	}
	if (table != RT_TABLE_MAIN || dst == NULL || memcmp(dst, addr, alen) != 0)
		return;
	if (mp == NULL) {
		add_gateway(r, family, gw);
		return;
	}
	const struct rtnexthop *nh = RTA_DATA(mp);
	int left = (int)RTA_PAYLOAD(mp);
	while (RTNH_OK(nh, left)) {
		const void *ngw = NULL;
		int alen2 = (int)nh->rtnh_len - (int)sizeof(*nh);
		for (const struct rtattr *a = RTNH_DATA(nh); RTA_OK(a, alen2);
			a = RTA_NEXT(a, alen2))
			if (a->rta_type == RTA_GATEWAY)
				ngw = RTA_DATA(a);
		add_gateway(r, family, ngw);
		left -= NLMSG_ALIGN(nh->rtnh_len);
		nh = RTNH_NEXT(nh);
	}
}

int sc_netns_route(const char *ns, const char *prefix, struct sc_route *r)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg m;
	} req;
	static unsigned seq;
	unsigned char addr[16];
	unsigned plen;
	int family, fd, rc;
	char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int64_t deadline = sc_now_ms() + 1000;

	memset(r, 0, sizeof(*r));
	rc = parse_prefix(prefix, &family, addr, &plen);
	if (rc < 0)
		return rc;
	fd = ns_netlink(ns);
	if (fd < 0)
		return fd;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.m));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = ++seq;
	req.m.rtm_family = (unsigned char)family;
	if (send(fd, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = sc_remaining_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		unsigned int len = (unsigned int)n; /* NLMSG_OK compares it with a __u32 */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
			h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq)
				continue; /* the tail of a dump we gave up on */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (h->nlmsg_type == RTM_NEWROUTE)
				route_msg(h, family, addr, plen, r);
		}
	}
}

int sc_netns_wait_paths(
	const char *ns, const char *prefix, int paths, int timeout_ms, int64_t *at_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	struct sc_route r;

	for (;;) {
		int64_t now = sc_now_ms();
		int rc = sc_netns_route(ns, prefix, &r);
		if (rc < 0)
			return rc;
		if (r.paths == paths) {
			if (at_ms != NULL)
				*at_ms = now;
			return 0;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(1);
	}
}

const char *sc_route_text(const struct sc_route *r, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	if (r->paths == 0)
		snprintf(buf, cap, "none");
	for (int i = 0; i < r->paths && i < SC_ROUTE_MAXPATHS && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", r->via[i]);
	return buf;
}

/* ---- BIRD ------------------------------------------------------------------------------------ */

static int bird_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)timeout_ms; /* a unix connect does not wait: refused or accepted into the backlog */
	if (fd < 0)
		return -errno;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/*
 * Reads one reply (up to and including a line "DDDD text"), appending text lines to reply.
 * Returns the code of that last line, or the first code when the last is the bare end marker
 * 0000 (a table: 1007, 2002), or -errno. Asynchronous '+' lines are skipped.
 */
static int bird_read_reply(int fd, char *reply, size_t cap, size_t *rlen, int64_t deadline)
{
	char line[4096];
	size_t llen = 0;
	int first = -1;

	for (;;) {
		char c;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = sc_remaining_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = read(fd, &c, 1); /* byte by byte: replies are small, and we must not
						read past the end of this one */
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (c != '\n') {
			if (llen + 1 < sizeof(line))
				line[llen++] = c;
			continue;
		}
		line[llen] = '\0';
		const char *text = line;
		int code = -1, last = 0;
		if (llen >= 5 && line[0] >= '0' && line[0] <= '9' &&
			(line[4] == ' ' || line[4] == '-')) {
			code = atoi(line); /* four digits, then ' ' (last line) or '-' (more) */
			last = line[4] == ' ';
			text = line + 5;
		} else if (line[0] == '+') {
			llen = 0;
			continue;
		} else if (line[0] == ' ') {
			text = line + 1;
		}
		if (first < 0 && code >= 0)
			first = code;
		if (reply != NULL && *rlen < cap)
			*rlen += (size_t)snprintf(reply + *rlen, cap - *rlen, "%s\n", text);
		llen = 0;
		if (last)
			return code == 0 ? first : code;
	}
}

int sc_bird_cmd(const struct sc_bird *b, const char *cmd, char *reply, size_t cap, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	char line[512];
	size_t rlen = 0;
	int fd, rc;

	if (reply != NULL && cap > 0)
		reply[0] = '\0';
	fd = bird_connect(b->sock, timeout_ms);
	if (fd < 0)
		return fd;
	rc = bird_read_reply(fd, NULL, 0, &rlen, deadline); /* the 0001 greeting */
	if (rc >= 0) {
		int n = snprintf(line, sizeof(line), "%s\n", cmd);
		if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
			rc = -EIO;
		else
			rc = bird_read_reply(fd, reply, cap, &rlen, deadline);
	}
	close(fd);
	return rc;
}

int sc_bird_protocol(const struct sc_bird *b, const char *name, char *state, size_t scap,
	char *info, size_t icap)
{
	char cmd[128], reply[4096];
	int rc;

	snprintf(cmd, sizeof(cmd), "show protocols %s", name);
	rc = sc_bird_cmd(b, cmd, reply, sizeof(reply), 1000);
	if (rc < 0)
		return rc;
	for (char *save = NULL, *l = strtok_r(reply, "\n", &save); l != NULL;
		l = strtok_r(NULL, "\n", &save)) {
		char n[64], proto[32], table[32], st[32], since[64];
		int used = 0;
		if (sscanf(l, "%63s %31s %31s %31s %63s %n", n, proto, table, st, since, &used) <
				5 ||
			strcmp(n, name) != 0)
			continue;
		snprintf(state, scap, "%s", st);
		char *i = l + used;
		size_t il = strlen(i);
		while (il > 0 && i[il - 1] == ' ')
			i[--il] = '\0';
		if (info != NULL)
			snprintf(info, icap, "%s", i);
		return 0;
	}
	return -ENOENT;
}

int sc_bird_wait_protocol(const struct sc_bird *b, const char *name, const char *state,
	const char *info, int timeout_ms, int64_t *at_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	char st[32], in[128];

	for (;;) {
		int64_t now = sc_now_ms();
		if (sc_bird_protocol(b, name, st, sizeof(st), in, sizeof(in)) == 0 &&
			strcmp(st, state) == 0 && (info == NULL || strcmp(in, info) == 0)) {
			if (at_ms != NULL)
				*at_ms = now;
			return 0;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(5);
	}
}

void sc_bird_dump_log(const struct sc_bird *b)
{
	char *text;

	if (b == NULL)
		return;
	text = sc_read_file(b->log);
	fprintf(stderr,
		"----- BIRD %s (ns %s, pid %d) log %s -----\n%s----- end of BIRD %s -----\n",
		b->name, b->ns, (int)b->pid, b->log, text != NULL ? text : "(none)\n", b->name);
	free(text);
}

static int bird_spawn(struct sc_bird *b)
{
	char prog[256], back[64];
	char *argv[] = {prog, "-f", "-c", b->conf, "-s", b->sock, "-P", b->pidfile, NULL};
	int64_t deadline;
	int fd, rc;

	if (sc_which("bird", prog, sizeof(prog)) < 0)
		return -ENOENT;
	fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	snprintf(back, sizeof(back), "%s", current);
	rc = sc_netns_enter(b->ns);
	if (rc == 0) {
		b->pid = sc_spawn(argv, fd, fd);
		sc_netns_enter(back);
		rc = b->pid < 0 ? (int)b->pid : 0;
	}
	close(fd);
	if (rc < 0) {
		b->pid = -1;
		return rc;
	}
	deadline = sc_now_ms() + BIRD_UP_MS;
	for (;;) {
		int st;
		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			b->pid = -1;
			sc_bird_dump_log(b);
			return -ECHILD;
		}
		if (sc_bird_cmd(b, "show status", NULL, 0, 500) >= 0)
			return 0;
		if (sc_now_ms() >= deadline) {
			sc_bird_dump_log(b);
			return -ETIMEDOUT;
		}
		sc_sleep_ms(5);
	}
}

struct sc_bird *sc_bird_start(const char *ns, const char *dir, const char *name, const char *conf)
{
	struct sc_bird *b;
	size_t slot;
	FILE *f;

	for (slot = 0; slot < MAX_BIRD && birds[slot] != NULL; slot++)
		;
	if (slot == MAX_BIRD)
		return NULL;
	register_cleanup();
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->pid = -1;
	snprintf(b->ns, sizeof(b->ns), "%s", ns);
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->conf, sizeof(b->conf), "%s/%s.conf", dir, name);
	snprintf(b->sock, sizeof(b->sock), "%s/%s.ctl", dir, name);
	snprintf(b->pidfile, sizeof(b->pidfile), "%s/%s.pid", dir, name);
	snprintf(b->log, sizeof(b->log), "%s/%s.log", dir, name);
	f = fopen(b->conf, "we");
	if (f == NULL || fputs(conf, f) < 0) {
		if (f != NULL)
			fclose(f);
		free(b);
		return NULL;
	}
	fclose(f);
	birds[slot] = b;
	if (bird_spawn(b) < 0)
		return NULL; /* registered: cleanup frees it */
	return b;
}

pid_t sc_bird_pid(const struct sc_bird *b)
{
	return b->pid;
}

const char *sc_bird_socket(const struct sc_bird *b)
{
	return b->sock;
}

int sc_bird_signal(struct sc_bird *b, int sig)
{
	if (b->pid <= 0)
		return -ESRCH;
	return kill(b->pid, sig) == 0 ? 0 : -errno;
}

static int bird_reap(struct sc_bird *b, int sig, int grace_ms)
{
	int64_t deadline = sc_now_ms() + grace_ms;
	int st;

	if (b->pid <= 0)
		return 0;
	kill(b->pid, SIGCONT); /* first: see sc_tool_stop's terminate() */
	kill(b->pid, sig);
	for (;;) {
		pid_t w = waitpid(b->pid, &st, WNOHANG);
		if (w == b->pid || (w < 0 && errno == ECHILD))
			break;
		if (sc_now_ms() >= deadline) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &st, 0);
			break;
		}
		sc_sleep_ms(1);
	}
	b->pid = -1;
	return 0;
}

int sc_bird_kill(struct sc_bird *b)
{
	return bird_reap(b, SIGKILL, 2000);
}

int sc_bird_restart(struct sc_bird *b)
{
	if (b->pid > 0)
		bird_reap(b, SIGKILL, 2000);
	return bird_spawn(b);
}

/* ---- cleanup --------------------------------------------------------------------------------- */

static void remove_tempdir(void)
{
	if (tempdir[0] == '\0')
		return;
	sc_rm_tree(tempdir);
	tempdir[0] = '\0';
}

void sc_netns_cleanup(void)
{
	if (current[0] != '\0')
		sc_netns_enter(NULL);
	for (size_t i = 0; i < MAX_BIRD; i++) {
		if (birds[i] == NULL)
			continue;
		bird_reap(birds[i], SIGTERM, 2000);
		free(birds[i]);
		birds[i] = NULL;
	}
	for (size_t i = nnamespaces; i-- > 0;) {
		if (namespaces[i].nl >= 0)
			close(namespaces[i].nl);
		int rc = sc_cmd(NULL, 0, CMD_MS, "ip netns del %s", namespaces[i].name);
		if (rc != 0)
			fprintf(stderr, "netns: ip netns del %s: %d\n", namespaces[i].name, rc);
	}
	nnamespaces = 0;
	remove_tempdir();
}

/* ---- the two-site topology ------------------------------------------------------------------- */

/* BGP timers for a fast test: a hung peer is seen in 3 s, a refused connect retried each second,
 * and a session that failed (a restarted BIRD) is started again after 1 s, not BIRD's 60. */
#define BGP_FAST                                                                                   \
	"\thold time 3; keepalive time 1; connect delay time 0; connect retry time 1;\n"           \
	"\terror wait time 1, 2;\n"

static const char *const router_protos[2][2] = {
	{"site1_v4", "site1_v6"},
	{"site2_v4", "site2_v6"},
};

const char *sc_anycast_router_proto(int i, int family)
{
	return router_protos[i][family == AF_INET6];
}

const char *sc_anycast_prefix(int family)
{
	return family == AF_INET6 ? SC_ANYCAST6_NET : SC_ANYCAST4_NET;
}

static void router_conf(char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap,
		"# The upstream router of both sites: learns the anycast prefixes over eBGP and\n"
		"# installs every equal path (ECMP) into its own namespace's kernel table.\n"
		"router id 10.255.0.1;\n"
		"log stderr all;\n"
		"protocol device {}\n"
		"protocol kernel k4 { ipv4 { import none; export all; }; merge paths on; }\n"
		"protocol kernel k6 { ipv6 { import none; export all; }; merge paths on; }\n"
		"template bgp site {\n"
		"\tlocal as 65000;\n" BGP_FAST "}\n");
	for (int i = 0; i < 2 && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n,
			"protocol bgp %s from site { neighbor 10.0.%d.2 as 65001; "
			"ipv4 { import all; export none; }; }\n"
			"protocol bgp %s from site { neighbor fd00:%d::2 as 65001; "
			"ipv6 { import all; export none; }; }\n",
			router_protos[i][0], i + 1, router_protos[i][1], i + 1);
}

static void site_conf(const struct sc_anycast *t, int i, char *buf, size_t cap)
{
	const char *announce =
		t->mode == SC_ANNOUNCE_INTERFACE
			? "# anylb puts each announced prefix on its TUN interface anylb0.\n"
			  "protocol direct anylb {\n"
			  "\tipv4 { import where net ~ ANYCAST4; };\n"
			  "\tipv6 { import where net ~ ANYCAST6; };\n"
			  "\tinterface \"anylb*\";\n"
			  "}\n"
			: "# anylb enables and disables these over the control socket; the _drain\n"
			  "# ones are the drain ladder's de-preferred step (examples/bird.conf).\n"
			  "protocol static anylb_web4 { disabled yes; ipv4; "
			  "route " SC_ANYCAST4_NET " blackhole; }\n"
			  "protocol static anylb_web6 { disabled yes; ipv6; "
			  "route " SC_ANYCAST6_NET " blackhole; }\n"
			  "protocol static anylb_web4_drain { disabled yes; ipv4 { import filter "
			  "{ bgp_community.add((65535, 0)); accept; }; }; "
			  "route " SC_ANYCAST4_NET " blackhole; }\n"
			  "protocol static anylb_web6_drain { disabled yes; ipv6 { import filter "
			  "{ bgp_community.add((65535, 0)); accept; }; }; "
			  "route " SC_ANYCAST6_NET " blackhole; }\n";

	snprintf(buf, cap,
		"router id 10.0.%d.2;\n"
		"log stderr all;\n"
		"define ANYCAST4 = [ " SC_ANYCAST4_NET " ];\n"
		"define ANYCAST6 = [ " SC_ANYCAST6_NET " ];\n"
		"protocol device {}\n"
		"%s"
		"# Graceful shutdown (RFC 8326): a de-preferred route leaves with 2 more AS hops.\n"
		"function drain_prepend() {\n"
		"\tif (65535, 0) ~ bgp_community then {\n"
		"\t\tbgp_path.prepend(65001); bgp_path.prepend(65001);\n"
		"\t}\n"
		"}\n"
		"filter out4 { if net !~ ANYCAST4 then reject; drain_prepend(); accept; }\n"
		"filter out6 { if net !~ ANYCAST6 then reject; drain_prepend(); accept; }\n"
		"template bgp upstream {\n"
		"\tlocal as 65001;\n" BGP_FAST "}\n"
		"protocol bgp up_v4 from upstream { neighbor 10.0.%d.1 as 65000; "
		"ipv4 { import none; export filter out4; }; }\n"
		"protocol bgp up_v6 from upstream { neighbor fd00:%d::1 as 65000; "
		"ipv6 { import none; export filter out6; }; }\n",
		i + 1, announce, i + 1, i + 1);
}

int sc_anycast_up(struct sc_anycast *t, enum sc_announce_mode mode, char *why, size_t cap)
{
	char conf[4096];
	int rc;

	memset(t, 0, sizeof(*t));
	t->mode = mode;
	why[0] = '\0';
	snprintf(t->router, sizeof(t->router), NAME_PREFIX "%d-router", (int)getpid());
	for (int i = 0; i < 2; i++) {
		struct sc_site *s = &t->site[i];
		snprintf(s->ns, sizeof(s->ns), NAME_PREFIX "%d-s%d", (int)getpid(), i + 1);
		snprintf(s->name, sizeof(s->name), "site%d", i + 1);
		snprintf(s->link4, sizeof(s->link4), "10.0.%d.2", i + 1);
		snprintf(s->link6, sizeof(s->link6), "fd00:%d::2", i + 1);
	}
	register_cleanup();
	if (tempdir[0] == '\0') {
		snprintf(tempdir, sizeof(tempdir), "/tmp/" NAME_PREFIX "%d-XXXXXX", (int)getpid());
		if (mkdtemp(tempdir) == NULL) {
			rc = -errno;
			tempdir[0] = '\0';
			snprintf(why, cap, "mkdtemp: %s", strerror(-rc));
			return rc;
		}
	}
	snprintf(t->dir, sizeof(t->dir), "%s", tempdir);

	const char *all[3] = {t->router, t->site[0].ns, t->site[1].ns};
	for (int i = 0; i < 3; i++) {
		rc = sc_netns_add(all[i]);
		if (rc < 0) {
			snprintf(why, cap, "cannot create network namespace %s: %s", all[i],
				strerror(-rc));
			return rc;
		}
		/* Link-local addresses without duplicate address detection, as the global ones. */
		ns_sysctl(all[i], "/proc/sys/net/ipv6/conf/default/accept_dad", "0");
	}
	/* L4 hashing: the client's connections spread over both sites, not one per address. */
	ns_sysctl(t->router, "/proc/sys/net/ipv4/fib_multipath_hash_policy", "1");
	ns_sysctl(t->router, "/proc/sys/net/ipv6/fib_multipath_hash_policy", "1");
	for (int i = 0; i < 2; i++) {
		const char *s = t->site[i].ns;
		int n = i + 1;
		if ((rc = must(why, cap,
			     "ip link add r-s%d netns %s type veth peer name s-r netns %s", n,
			     t->router, s)) < 0 ||
			(rc = must(why, cap, "ip -n %s addr add 10.0.%d.1/24 dev r-s%d", t->router,
				 n, n)) < 0 ||
			(rc = must(why, cap, "ip -n %s addr add fd00:%d::1/64 dev r-s%d nodad",
				 t->router, n, n)) < 0 ||
			(rc = must(why, cap, "ip -n %s addr add 10.0.%d.2/24 dev s-r", s, n)) < 0 ||
			(rc = must(why, cap, "ip -n %s addr add fd00:%d::2/64 dev s-r nodad", s,
				 n)) < 0 ||
			(rc = must(why, cap, "ip -n %s link set r-s%d up", t->router, n)) < 0 ||
			(rc = must(why, cap, "ip -n %s link set s-r up", s)) < 0 ||
			(rc = must(why, cap, "ip -n %s route add default via 10.0.%d.1", s, n)) <
				0 ||
			(rc = must(why, cap, "ip -n %s -6 route add default via fd00:%d::1", s,
				 n)) < 0)
			return rc;
		if (mode == SC_ANNOUNCE_BIRD_PROTOCOL &&
			((rc = must(why, cap, "ip -n %s addr add " SC_ANYCAST4_NET " dev lo", s)) <
					0 ||
				(rc = must(why, cap, "ip -n %s addr add " SC_ANYCAST6_NET " dev lo",
					 s)) < 0))
			return rc;
	}

	if ((rc = must(why, cap, "ip -n %s addr add " SC_PINNED4 "/32 dev lo", t->router)) < 0 ||
		(rc = must(why, cap, "ip -n %s rule add from " SC_PINNED4 " lookup 101",
			 t->router)) < 0 ||
		(rc = must(why, cap, "ip -n %s route add " SC_ANYCAST4_NET " via %s table 101",
			 t->router, t->site[0].link4)) < 0)
		return rc;

	router_conf(conf, sizeof(conf));
	t->router_bird = sc_bird_start(t->router, t->dir, "router", conf);
	if (t->router_bird == NULL) {
		snprintf(why, cap, "BIRD did not start in %s (log above)", t->router);
		return -EIO;
	}
	for (int i = 0; i < 2; i++) {
		struct sc_site *s = &t->site[i];
		site_conf(t, i, s->config_text, sizeof(s->config_text));
		s->bird = sc_bird_start(s->ns, t->dir, s->name, s->config_text);
		if (s->bird == NULL) {
			snprintf(why, cap, "BIRD did not start in %s (log above)", s->ns);
			return -EIO;
		}
	}
	for (int i = 0; i < 2; i++)
		for (int f = 0; f < 2; f++) {
			const char *p = router_protos[i][f];
			rc = sc_bird_wait_protocol(
				t->router_bird, p, "up", "Established", 10000, NULL);
			if (rc < 0) {
				sc_anycast_dump(t);
				snprintf(why, cap, "BGP session %s did not come up", p);
				return rc;
			}
		}
	return 0;
}

void sc_anycast_dump(const struct sc_anycast *t)
{
	sc_bird_dump_log(t->router_bird);
	for (int i = 0; i < 2; i++)
		sc_bird_dump_log(t->site[i].bird);
}
