/*
 * DOC: the binary upgrade, old side (see upgrade.h for the diagram)
 *
 * The successor is forked from the main thread of a process whose workers run: between fork and
 * execve the child makes only raw system calls (signal mask, close-on-exec bit, capabilities,
 * execve); the environment is built before the fork. A failed execve is reported on the socket
 * pair as a FAIL packet made by hand, and the child exits 127.
 */
#include "lb/upgrade.h"

#include "lb/handover.h"
#include "lib/caps.h"
#include "lib/container.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long one packet may wait for room in the socket pair: the successor reads them now. */
#define SEND_TIMEOUT_MS 5000

extern char **environ;

const char *upgrade_state_name(enum upgrade_state st)
{
	switch (st) {
	case UPGRADE_IDLE:
		return "idle";
	case UPGRADE_STARTING:
		return "starting";
	case UPGRADE_HANDING_OVER:
		return "handing_over";
	case UPGRADE_HANDED_OVER:
		return "handed_over";
	case UPGRADE_FAILED:
		return "failed";
	}
	return "?";
}

/* The one setter: logs the transition; the end states stop the deadline. */
static void set_state(struct upgrade *u, enum upgrade_state st, const char *why)
{
	log_debug(
		"upgrade: %s -> %s: %s", upgrade_state_name(u->state), upgrade_state_name(st), why);
	u->state = st;
	switch (st) {
	case UPGRADE_HANDED_OVER:
	case UPGRADE_FAILED:
		ev_timer_stop(u->loop, &u->deadline);
		u->done_at = ev_now(u->loop);
		if (st == UPGRADE_FAILED && u->hooks.failed != NULL)
			u->hooks.failed(u->hooks.arg);
		break;
	case UPGRADE_IDLE:
	case UPGRADE_STARTING:
	case UPGRADE_HANDING_OVER:
		break;
	}
}

static void close_sock(struct upgrade *u)
{
	if (u->sock < 0)
		return;
	ev_io_stop(u->loop, &u->io);
	close(u->sock);
	u->sock = -1;
}

static void fail(struct upgrade *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The attempt is over: this process goes on serving as before. */
static void fail(struct upgrade *u, const char *fmt, ...)
{
	va_list ap;

	if (u->state != UPGRADE_STARTING && u->state != UPGRADE_HANDING_OVER)
		return;
	va_start(ap, fmt);
	vsnprintf(u->reason, sizeof(u->reason), fmt, ap);
	va_end(ap);
	u->failures++;
	close_sock(u);
	if (u->pid > 0 && !u->exited)
		kill(u->pid, SIGKILL); /* whatever it holds dies with it; our sockets never left */
	log_error("upgrade to %s failed: %s; this process goes on serving", u->binary, u->reason);
	set_state(u, UPGRADE_FAILED, u->reason);
}

/* The text as packets of type, in order. 0 or -errno. */
static int send_text(struct upgrade *u, enum handover_type type, const char *text, size_t len)
{
	int rc = 0;

	for (size_t off = 0; text != NULL && off < len && rc == 0; off += HANDOVER_MAX_TEXT) {
		size_t k = len - off < HANDOVER_MAX_TEXT ? len - off : HANDOVER_MAX_TEXT;
		rc = handover_send(u->sock, type, text + off, k, NULL, 0, SEND_TIMEOUT_MS);
	}
	return rc;
}

/* The text as STATE packets, then END. 0 or -errno. */
static int send_state(struct upgrade *u, const char *state, size_t slen)
{
	int rc = send_text(u, HANDOVER_STATE, state, slen);

	if (rc == 0)
		rc = handover_send(u->sock, HANDOVER_END, NULL, 0, NULL, 0, SEND_TIMEOUT_MS);
	return rc;
}

/* The successor loaded its configuration: everything it needs, then END. 0 or -errno. */
static int send_all(struct upgrade *u)
{
	size_t n = 0, sent = 0;
	int err = 0, rc = 0;
	struct upgrade_fd *v = u->hooks.collect(u->hooks.arg, &n, &err);

	if (v == NULL && err < 0)
		return err;
	for (size_t i = 0; i < n && rc == 0; i += HANDOVER_MAX_FDS) {
		char text[HANDOVER_MAX_FDS * (sizeof(v->what) + 16)];
		int fds[HANDOVER_MAX_FDS];
		size_t k = n - i < HANDOVER_MAX_FDS ? n - i : HANDOVER_MAX_FDS, off = 0;
		for (size_t j = 0; j < k; j++) {
			fds[j] = v[i + j].fd;
			off += (size_t)snprintf(text + off, sizeof(text) - off, "%s %s\n",
				inherited_kind_word(v[i + j].kind), v[i + j].what);
		}
		rc = handover_send(u->sock, HANDOVER_FDS, text, off, fds, k, SEND_TIMEOUT_MS);
		sent += rc == 0 ? k : 0;
	}
	for (size_t i = 0; i < n; i++)
		close(v[i].fd);
	free(v);
	if (rc < 0)
		return rc;
	size_t alen = 0;
	char *anycast = u->hooks.anycast != NULL ? u->hooks.anycast(u->hooks.arg, &alen) : NULL;
	rc = send_text(u, HANDOVER_ANYCAST, anycast, alen);
	free(anycast);
	if (rc < 0)
		return rc;
	size_t slen = 0;
	char *state = u->hooks.state != NULL ? u->hooks.state(u->hooks.arg, &slen) : NULL;
	rc = send_state(u, state, slen);
	free(state);
	if (rc == 0)
		log_info("upgrade: handed %zu sockets and %zu bytes of state to pid %ld", sent,
			slen, (long)u->pid);
	return rc;
}

static void on_msg(struct upgrade *u, struct handover_msg *m)
{
	char why[128];

	switch (m->type) {
	case HANDOVER_HELLO:
		if (u->state != UPGRADE_STARTING)
			break;
		log_info("upgrade: pid %ld loaded its configuration (%s): handing over",
			(long)u->pid, m->text);
		set_state(u, UPGRADE_HANDING_OVER, "hello");
		int rc = send_all(u);
		if (rc < 0)
			fail(u, "cannot hand the sockets over: %s", strerror(-rc));
		return;
	case HANDOVER_READY:
		if (u->state != UPGRADE_HANDING_OVER)
			break;
		snprintf(why, sizeof(why), "pid %ld serves", (long)u->pid);
		set_state(u, UPGRADE_HANDED_OVER, why);
		ev_io_stop(u->loop, &u->io); /* the socket stays open: the successor may watch it */
		log_info("upgrade: pid %ld serves after %.0f ms", (long)u->pid,
			(ev_now(u->loop) - u->started_at) * 1000);
		u->hooks.handed_over(u->hooks.arg, u->pid);
		size_t clen = 0;
		char *counted = u->hooks.counted_since != NULL
					? u->hooks.counted_since(u->hooks.arg, &clen)
					: NULL;
		int crc = send_state(u, counted, clen);
		free(counted);
		if (crc < 0)
			log_warn("upgrade: cannot tell pid %ld what was counted since the handover "
				 "began (%s): its counters miss that much",
				(long)u->pid, strerror(-crc));
		return;
	case HANDOVER_FAIL:
		snprintf(u->fail_text, sizeof(u->fail_text), "%s", m->text);
		return; /* its exit follows */
	case HANDOVER_FDS:
	case HANDOVER_STATE:
	case HANDOVER_END:
	case HANDOVER_ANYCAST:
		break;
	}
	fail(u, "the new process sent '%s' out of turn (in %s)", handover_type_name(m->type),
		upgrade_state_name(u->state));
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct upgrade *u = container_of(w, struct upgrade, io);
	(void)loop;
	(void)revents;

	for (;;) {
		struct handover_msg m;
		int rc = handover_recv(u->sock, &m, 0);
		if (rc == -EAGAIN)
			return;
		if (rc == -ECONNRESET) {
			/* It went: its exit status (the child watcher) says why. */
			ev_io_stop(u->loop, &u->io);
			return;
		}
		if (rc < 0) {
			fail(u, "the new process does not speak the handover protocol: %s",
				strerror(-rc));
			return;
		}
		on_msg(u, &m);
		handover_msg_free(&m);
		if (u->sock < 0 || !ev_is_active(&u->io))
			return;
	}
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct upgrade *u = container_of(w, struct upgrade, child);
	int st = w->rstatus;
	char how[64];
	(void)revents;

	ev_child_stop(loop, w);
	u->exited = 1;
	if (WIFEXITED(st))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(st),
			sigabbrev_np(WTERMSIG(st)) != NULL ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		snprintf(how, sizeof(how), "ended (status %d)", st);
	if (u->state == UPGRADE_HANDED_OVER) {
		/* Its business now (it may have been upgraded in turn): only an odd end is news. */
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			log_info("upgrade: the successor pid %ld %s", (long)w->rpid, how);
		else
			log_warn("upgrade: the successor pid %ld %s", (long)w->rpid, how);
		return;
	}
	if (strncmp(u->fail_text, "exec errno ", 11) == 0) {
		int e = atoi(u->fail_text + 11);
		fail(u, "cannot run %s: %s", u->binary, strerror(e));
	} else if (u->fail_text[0] != '\0') {
		fail(u, "the new process %s: %s", how, u->fail_text);
	} else {
		fail(u, "the new process %s before it took over", how);
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct upgrade *u = container_of(t, struct upgrade, deadline);
	(void)loop;
	(void)revents;

	fail(u, "the new process did not take over within %.0fs", UPGRADE_TIMEOUT);
}

void upgrade_init(struct upgrade *u, struct ev_loop *loop, const struct upgrade_hooks *h,
	char *const *argv, pid_t previous, uint64_t caps)
{
	memset(u, 0, sizeof(*u));
	u->loop = loop;
	u->hooks = *h;
	u->argv = argv;
	u->previous = previous;
	u->caps = caps;
	u->sock = -1;
	u->state = UPGRADE_IDLE;
	ssize_t n = readlink("/proc/self/exe", u->self, sizeof(u->self) - 1);
	if (n > 0) {
		u->self[n] = '\0';
		/* Replaced on disk (a package upgrade): the path, not the old inode. */
		char *del = strstr(u->self, " (deleted)");
		if (del != NULL && del[10] == '\0')
			*del = '\0';
	}
	ev_init(&u->io, io_cb);
	ev_init(&u->child, child_cb);
	ev_init(&u->deadline, deadline_cb);
}

/* The environment for the successor: ours without HANDOVER_ENV, then HANDOVER_ENV=fd. */
static char **child_env(int fd)
{
	size_t n = 0, k = 0;

	while (environ != NULL && environ[n] != NULL)
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	char *mine = malloc(sizeof(HANDOVER_ENV) + 16);
	if (env == NULL || mine == NULL) {
		free(env);
		free(mine);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], HANDOVER_ENV "=", sizeof(HANDOVER_ENV)) != 0)
			env[k++] = environ[i];
	snprintf(mine, sizeof(HANDOVER_ENV) + 16, "%s=%d", HANDOVER_ENV, fd);
	env[k++] = mine;
	env[k] = NULL;
	return env;
}

/* In the child: raw system calls only. */
static void __attribute__((noreturn))
child_exec(const char *binary, char *const *argv, char **env, int fd, uint64_t caps)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fcntl(fd, F_SETFD, 0);
	if (caps != 0)
		caps_pass_on(caps);
	execve(binary, argv, env);
	/* "exec errno N" as a FAIL packet, by hand. */
	unsigned e = (unsigned)errno;
	char buf[32] = {0, 0, 0, (char)HANDOVER_FAIL, 'e', 'x', 'e', 'c', ' ', 'e', 'r', 'r', 'n',
		'o', ' '};
	char digits[12];
	size_t nd = 0, len = 15;
	do {
		digits[nd++] = (char)('0' + e % 10);
		e /= 10;
	} while (e != 0 && nd < sizeof(digits));
	while (nd > 0)
		buf[len++] = digits[--nd];
	send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	_exit(127);
}

int upgrade_start(struct upgrade *u, const char *binary, char *msg, size_t cap)
{
	int sv[2];

	switch (u->state) {
	case UPGRADE_STARTING:
	case UPGRADE_HANDING_OVER:
		snprintf(msg, cap, "an upgrade to %s (pid %ld) is under way", u->binary,
			(long)u->pid);
		return -EBUSY;
	case UPGRADE_HANDED_OVER:
		snprintf(msg, cap, "this process handed over to pid %ld already", (long)u->pid);
		return -EBUSY;
	case UPGRADE_IDLE:
	case UPGRADE_FAILED:
		break;
	}
	if (binary == NULL)
		binary = u->self;
	if (binary[0] != '/' || strlen(binary) >= sizeof(u->binary)) {
		snprintf(msg, cap, "the binary must be an absolute path: '%.200s'", binary);
		return -EINVAL;
	}
	if (access(binary, X_OK) < 0) {
		int rc = -errno;
		snprintf(msg, cap, "cannot run %s: %s", binary, strerror(-rc));
		return rc;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int rc = -errno;
		snprintf(msg, cap, "socketpair: %s", strerror(-rc));
		return rc;
	}
	char **env = child_env(sv[1]);
	if (env == NULL) {
		close(sv[0]);
		close(sv[1]);
		snprintf(msg, cap, "out of memory");
		return -ENOMEM;
	}
	snprintf(u->binary, sizeof(u->binary), "%s", binary);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(u->binary, u->argv, env, sv[1], u->caps);
	int err = errno;
	size_t last = 0;
	while (env[last + 1] != NULL)
		last++;
	free(env[last]); /* ours; the others are environ's */
	free(env);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		snprintf(msg, cap, "fork: %s", strerror(err));
		return -err;
	}
	u->attempts++;
	u->pid = pid;
	u->exited = 0;
	u->sock = sv[0];
	u->reason[0] = u->fail_text[0] = '\0';
	u->started_at = ev_now(u->loop);
	u->done_at = 0;
	set_state(u, UPGRADE_STARTING, "started");
	ev_io_set(&u->io, u->sock, EV_READ);
	ev_io_start(u->loop, &u->io);
	ev_child_set(&u->child, pid, 0);
	ev_child_start(u->loop, &u->child);
	ev_timer_set(&u->deadline, UPGRADE_TIMEOUT, 0);
	ev_timer_start(u->loop, &u->deadline);
	log_info("upgrade: started %s as pid %ld", u->binary, (long)pid);
	snprintf(msg, cap, "upgrade to %s started as pid %ld", u->binary, (long)pid);
	return 0;
}

void upgrade_took_over(struct upgrade *u)
{
	u->took_over = 1;
}

char *upgrade_status_json(const struct upgrade *u)
{
	json_t *o = json_pack("{s:s,s:I,s:I,s:I}", "state", upgrade_state_name(u->state), "pid",
		(json_int_t)getpid(), "attempts", (json_int_t)u->attempts, "failures",
		(json_int_t)u->failures);

	if (o == NULL)
		return NULL;
	json_object_set_new(
		o, "previous", u->previous > 0 ? json_integer(u->previous) : json_null());
	json_object_set_new(o, "took_over", json_boolean(u->previous > 0 && u->took_over));
	json_object_set_new(o, "successor", u->pid > 0 ? json_integer(u->pid) : json_null());
	json_object_set_new(o, "binary", json_string(u->binary[0] != '\0' ? u->binary : u->self));
	json_object_set_new(
		o, "reason", u->state == UPGRADE_FAILED ? json_string(u->reason) : json_null());
	if (u->done_at > 0)
		json_object_set_new(o, "seconds", json_real(u->done_at - u->started_at));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void upgrade_destroy(struct upgrade *u)
{
	if (u->loop == NULL)
		return;
	ev_timer_stop(u->loop, &u->deadline);
	ev_child_stop(u->loop, &u->child);
	if ((u->state == UPGRADE_STARTING || u->state == UPGRADE_HANDING_OVER) && u->pid > 0 &&
		!u->exited) {
		kill(u->pid, SIGKILL);
		u->exited = 1; /* not ours to reap any more: never signal that pid again */
		snprintf(u->reason, sizeof(u->reason), "abandoned: this process is stopping");
		set_state(u, UPGRADE_FAILED, u->reason);
	}
	close_sock(u);
}
