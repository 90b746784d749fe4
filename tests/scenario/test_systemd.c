/*
 * DOC: systemd notification
 *
 * With NOTIFY_SOCKET and WATCHDOG_USEC set (as systemd sets them for Type=notify with
 * WatchdogSec), anylb says READY=1 once it serves, feeds WATCHDOG=1 from its heartbeat while
 * every event loop turns, and says STOPPING=1 on SIGTERM.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fake systemd: the notify socket (with the senders' credentials) in dir. */
static int notify_socket(const char *dir, char *sock, size_t cap)
{
	int one = 1, fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100 * 1000};

	snprintf(sock, cap, "%s/notify", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* dir/anylb.yaml (into conf) with one service on a free port; global_extra after workers. */
static void write_conf(const char *dir, char *conf, size_t cap, const char *global_extra)
{
	char listen[SC_ADDRSTRLEN];

	snprintf(conf, cap, "%s/anylb.yaml", dir);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"global:\n  workers: 2\n%sservices:\n  - name: x\n"
		"    listen: [\"%s\"]\n    backends: [{address: \"127.0.0.1:9\"}]\n",
		global_extra, listen);
	fclose(f);
}

Test(systemd, ready_watchdog_stopping, .timeout = 20)
{
	char dir[] = "/tmp/anylb-sd-XXXXXX", sock[64], conf[96];
	cr_assert_not_null(mkdtemp(dir));
	write_conf(dir, conf, sizeof(conf), "  admin: {enabled: false}\n");
	int fd = notify_socket(dir, sock, sizeof(sock));

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", sock, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
		execl(ANYLB_BIN, "anylb", "-c", conf, (char *)NULL);
		_exit(127);
	}
	int ready = 0, beats = 0, stopping = 0, signalled = 0;
	int64_t t0 = now_ms();
	char buf[512];
	while (now_ms() - t0 < 5000 && !stopping) {
		if (ready && beats >= 5 && !signalled) {
			kill(pid, SIGTERM);
			signalled = 1;
		}
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		ready |= strstr(buf, "READY=1") != NULL;
		beats += strstr(buf, "WATCHDOG=1") != NULL;
		stopping |= strstr(buf, "STOPPING=1") != NULL;
	}
	if (!signalled)
		kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	close(fd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
	cr_expect(ready, "no READY=1");
	cr_expect_geq(beats, 5, "only %d WATCHDOG=1 in the time (period 100 ms)", beats);
	cr_expect(stopping, "no STOPPING=1 after SIGTERM");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}

/* One notification and the pid that sent it (SCM_CREDENTIALS); 0 when none came in time. */
static ssize_t recv_notify(int fd, char *buf, size_t cap, pid_t *from)
{
	union {
		char b[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u)};
	ssize_t n = recvmsg(fd, &mh, 0);

	*from = 0;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(c), sizeof(cr));
			*from = cr.pid;
		}
	}
	return n;
}

/*
 * An upgrade under systemd (Type=notify, NotifyAccess=main, WatchdogSec): the old process
 * names the new one the main process (MAINPID=), the new one feeds the watchdog from then on
 * (WATCHDOG_PID was the old one's), and the unit never stops being fed.
 */
Test(systemd, an_upgrade_hands_the_main_pid_and_the_watchdog_over, .timeout = 30)
{
	char dir[] = "/tmp/anylb-sd-XXXXXX", sock[64], conf[96], extra[160];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(extra, sizeof(extra), "  drain_timeout: 2s\n  admin: {socket: %s/admin.sock}\n",
		dir);
	write_conf(dir, conf, sizeof(conf), extra);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int fd = notify_socket(dir, sock, sizeof(sock));

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char me[32];
		snprintf(me, sizeof(me), "%ld", (long)getpid());
		setenv("NOTIFY_SOCKET", sock, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
		setenv("WATCHDOG_PID", me, 1);
		execl(ANYLB_BIN, "anylb", "-c", conf, (char *)NULL);
		_exit(127);
	}
	pid_t main_pid = pid, next = 0, from;
	int ready = 0, signalled = 0, old_beats_after = 0, new_beats = 0, stopping = 0;
	int64_t t0 = now_ms(), handed_at = 0;
	char buf[512];
	while (now_ms() - t0 < 15000 && !stopping) {
		if (recv_notify(fd, buf, sizeof(buf), &from) > 0) {
			ready |= from == pid && strstr(buf, "READY=1") != NULL;
			char *m = strstr(buf, "MAINPID=");
			if (from == pid && m != NULL && atol(m + 8) != pid && next == 0) {
				next = (pid_t)atol(m + 8);
				main_pid = next;
				handed_at = now_ms();
			}
			if (strstr(buf, "WATCHDOG=1") != NULL) {
				/* After the hand-over only the main process's beats count for
				 * systemd. */
				old_beats_after +=
					next != 0 && from == pid && now_ms() - handed_at > 200;
				new_beats += next != 0 && from == next;
			}
			stopping |= next != 0 && from == next && strstr(buf, "STOPPING=1") != NULL;
		}
		if (ready && !signalled) {
			cr_assert_eq(kill(pid, SIGUSR2), 0);
			signalled = 1;
		}
		if (next != 0 && new_beats >= 5 && !stopping && signalled == 1) {
			kill(next, SIGTERM);
			signalled = 2;
		}
	}
	int st_old = -1, st_new = -1, ws;
	for (int i = 0; i < 100 && (st_old < 0 || (next > 0 && st_new < 0)); i++) {
		if (st_old < 0 && waitpid(pid, &ws, WNOHANG) == pid)
			st_old = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		if (next > 0 && st_new < 0 && waitpid(next, &ws, WNOHANG) == next)
			st_new = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		if (st_old < 0 || st_new < 0)
			sc_sleep_ms(100);
	}
	if (st_old < 0)
		kill(pid, SIGKILL);
	if (next > 0 && st_new < 0)
		kill(next, SIGKILL);
	close(fd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
	cr_expect(ready, "no READY=1");
	cr_expect_gt(next, 0, "no MAINPID= naming a new process");
	cr_expect_eq(main_pid, next);
	cr_expect_geq(new_beats, 5, "the new main process fed the watchdog %d times", new_beats);
	cr_expect_eq(old_beats_after, 0, "the old process still fed it");
	cr_expect(stopping, "no STOPPING=1 from the new process after SIGTERM");
	cr_expect_eq(st_old, 0, "the old process drains and exits 0, not %d", st_old);
	cr_expect_eq(st_new, 0, "the new one stops with 0, not %d", st_new);
}
