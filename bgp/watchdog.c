/*
 * DOC: the watchdog process
 *
 * The child keeps fd 0-2 (for its one log line), the TUN fd as 3 and its end of the heartbeat
 * socket as 4, and closes everything else (anylb's end of the socket first of all: holding it
 * would hide anylb's death), so it pins nothing of anylb's (listening sockets, sessions) once
 * anylb is gone.
 *
 * Signals. A fork inherits anylb's handlers and blocked mask; a SIGTERM handler of anylb's event
 * loop would make the watchdog unkillable by SIGTERM, so every disposition is reset and the mask
 * emptied. Then it ignores SIGHUP and SIGINT, which a terminal or an operator (`pkill -HUP
 * anylb` matches it too) sends to anylb, so a reload or a Ctrl-C does not withdraw before anylb
 * has decided to, and SIGTSTP/SIGTTIN/SIGTTOU, so a Ctrl-Z that stops anylb does not also stop
 * the one process that must notice. It also leaves anylb's process group for the same reason.
 * SIGTERM and SIGKILL end it (and so withdraw), which is the safe direction.
 * PR_SET_PDEATHSIG is a second line behind the socket's EOF.
 *
 * Privileges. The first watchdog is forked by root, before anylb drops to global.user
 * (lb/privdrop.c); a later one (after a rearm) by anylb as that user. Either way the child
 * becomes that user (raw system calls: in a fork of a threaded process only async-signal-safe
 * calls are allowed, and glibc's setuid wrappers talk to threads that are not there), empties
 * its capability sets and sets no_new_privs. It never calls execve, so its bounding set does not
 * matter. The credentials change before PR_SET_PDEATHSIG: the kernel clears that on a change.
 *
 *   running --(heartbeat)--> running, deadline = now + timeout
 *   running --(EOF or socket error)--> exit 0    anylb exited or was killed
 *   running --(deadline passed)--> exit 1        anylb is stuck or stopped
 *   (setup failure: exit 3; poll failure: exit 2)
 *
 * Every exit closes the TUN fd, the interface disappears with its addresses, BIRD withdraws.
 */
#include "bgp/watchdog.h"

#include "lib/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WD_TUN_FD 3
#define WD_HB_FD  4

static int64_t wd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wd_log(const char *msg)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "anylb-watchdog[%d]: %s\n", (int)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

static void __attribute__((noreturn)) watchdog_main(uint64_t timeout_ms)
{
	char buf[256];
	struct pollfd pfd = {.fd = WD_HB_FD, .events = POLLIN};
	int64_t deadline = wd_now_ms() + (int64_t)timeout_ms;

	for (;;) {
		int64_t left = deadline - wd_now_ms();
		if (left <= 0) {
			snprintf(buf, sizeof(buf),
				"no heartbeat for %llums: removing the interface, withdrawing "
				"every "
				"prefix",
				(unsigned long long)timeout_ms);
			wd_log(buf);
			_exit(1);
		}
		/* A deadline, not a poll timeout: an interrupted poll must not restart the wait. */
		int n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(2);
		}
		if (n == 0)
			continue;
		ssize_t r = read(WD_HB_FD, buf, sizeof(buf));
		if (r > 0) {
			deadline = wd_now_ms() + (int64_t)timeout_ms;
			continue;
		}
		if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
			/* anylb closed its end: it exited, on purpose or not. */
			_exit(0);
		}
	}
}

/* The privilege drop of the DOC block; 0 or -1. */
static int watchdog_drop(const struct watchdog_ids *ids)
{
	if (ids != NULL && (getuid() != ids->uid || geteuid() != ids->uid || getgid() != ids->gid ||
				   getegid() != ids->gid)) {
		if (syscall(SYS_setgroups, 0, NULL) < 0 ||
			syscall(SYS_setresgid, ids->gid, ids->gid, ids->gid) < 0 ||
			syscall(SYS_setresuid, ids->uid, ids->uid, ids->uid) < 0)
			return -1;
	}
	if (caps_set(0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return 0;
}

/* Runs in the child between fork and watchdog_main; any failure exits (and so withdraws). */
static void __attribute__((noreturn)) watchdog_child(
	pid_t parent, int tun_fd, int sv[2], uint64_t timeout_ms, const struct watchdog_ids *ids)
{
	sigset_t none;

	close(sv[0]);
	/* Above 4 first, so that the dup2s below cannot clobber one with the other. */
	int t = fcntl(tun_fd, F_DUPFD, WD_HB_FD + 1);
	int h = fcntl(sv[1], F_DUPFD, WD_HB_FD + 1);
	if (t < 0 || h < 0 || dup2(t, WD_TUN_FD) < 0 || dup2(h, WD_HB_FD) < 0)
		_exit(3);
	if (close_range(WD_HB_FD + 1, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = WD_HB_FD + 1; fd < (max > 0 ? max : 1024); fd++)
			close((int)fd);
	}

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and glibc's own */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	prctl(PR_SET_NAME, "anylb-watchdog", 0, 0, 0);

	if (watchdog_drop(ids) < 0) {
		wd_log("cannot drop privileges: exiting, the interface goes with it");
		_exit(3);
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(3);
	/* The parent may have died before PDEATHSIG was armed; compare pids, not with 1 (a
	 * subreaper or a pid namespace may adopt us). */
	if (getppid() != parent)
		_exit(0);
	watchdog_main(timeout_ms);
}

int watchdog_spawn(
	int tun_fd, uint64_t timeout_ms, const struct watchdog_ids *ids, pid_t *pid, int *hb_fd)
{
	int sv[2];

	if (tun_fd < 0)
		return -EBADF;
	if (timeout_ms == 0)
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (child == 0)
		watchdog_child(parent, tun_fd, sv, timeout_ms, ids);
	close(sv[1]);
	int fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
		/* Cannot happen on a fresh socket; if it did, beats could block the loop. */
		int err = errno;
		watchdog_stop(child, sv[0], 1000);
		return -err;
	}
	*pid = child;
	*hb_fd = sv[0];
	return 0;
}

int watchdog_beat(int hb_fd)
{
	if (send(hb_fd, "b", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
		return 0;
	/* A full socket means the watchdog has beats to read: it is not starving. */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return errno == ECONNRESET ? -EPIPE : -errno;
}

int watchdog_stop(pid_t pid, int hb_fd, uint64_t timeout_ms)
{
	struct timespec step = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
	int64_t deadline = wd_now_ms() + (int64_t)timeout_ms;

	if (hb_fd >= 0)
		close(hb_fd);
	if (pid <= 0)
		return -EINVAL; /* never kill(0) or kill(-1) */
	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return 0; /* ECHILD: already reaped, e.g. by libev's SIGCHLD handler */
		if (r < 0 && errno != EINTR)
			return -errno;
		if (wd_now_ms() >= deadline)
			break;
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return -ETIMEDOUT;
}
