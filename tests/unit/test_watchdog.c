/*
 * DOC: watchdog tests
 *
 * The real thing: a TUN interface in a network namespace of the test's own (Criterion forks one
 * process per test, which unshare()s first; needs root, skipped without), the watchdog forked
 * from the test process with the TUN fd, the test's copy closed. Whether the interface exists is
 * the observable, as it is for BIRD. Each way of dying is timed from the event to the moment
 * if_nametoindex() stops finding the interface, and the times are printed.
 *
 * Wall-clock bounds are kept to what a shared, loaded machine can promise: a withdraw is asserted
 * to come after its cause and before the next thing that could also have caused it (a heartbeat
 * timeout), and the exit status says which cause it was. How fast it really is (1-15 ms for the
 * interface to go, on a shared 2-core machine) is printed; the end-to-end figure, `kill -9` anylb
 * to the route gone at the router, is measured by tests/scenario/test_anycast.c and reported in
 * docs/BENCHMARKS.md, "Anycast: withdraw and announce times".
 *
 * Only processes the tests started are signalled or reaped; the test process makes itself a
 * child subreaper so that a watchdog orphaned by its "anylb" can still be reaped here.
 */
#include "bgp/iface.h"
#include "bgp/watchdog.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME "anylbw0"

static void enter_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		if (errno == EPERM)
			cr_skip_test("needs root to create a network namespace");
		cr_assert_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1e3),
		.tv_nsec = (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Polls until the interface is gone; returns now_ms() at that moment, or -1 after max_ms. */
static double wait_gone(const char *name, double max_ms)
{
	double t0 = now_ms();

	while (if_nametoindex(name) != 0) {
		if (now_ms() - t0 > max_ms)
			return -1;
		sleep_ms(0.2);
	}
	return now_ms();
}

/* Reaps pid within max_ms; returns its wait status, or -1 (then it is SIGKILLed and reaped). */
static int reap(pid_t pid, double max_ms)
{
	double t0 = now_ms();
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		cr_assert_geq(r, 0, "waitpid(%d): %s", (int)pid, strerror(errno));
		if (now_ms() - t0 > max_ms)
			break;
		sleep_ms(1);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* A TUN interface handed to a fresh watchdog; the test keeps no fd on the interface. */
static void spawn(uint64_t timeout_ms, pid_t *pid, int *hb_fd)
{
	char err[256] = "";
	int ifindex = 0;

	int fd = iface_create(NAME, &ifindex, err, sizeof(err));
	cr_assert_geq(fd, 0, "iface_create: %s", err);
	int rc = watchdog_spawn(fd, timeout_ms, NULL, pid, hb_fd);
	cr_assert_eq(rc, 0, "watchdog_spawn: %s", strerror(-rc));
	close(fd);
	cr_assert_gt(*pid, 0);
	cr_assert_geq(*hb_fd, 0);
	cr_assert_neq(if_nametoindex(NAME), 0);
}

static int alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

TestSuite(watchdog, .timeout = 20);

Test(watchdog, heartbeats_keep_it_alive)
{
	const uint64_t timeout = 100;
	pid_t pid;
	int hb;

	enter_netns();
	spawn(timeout, &pid, &hb);
	double t0 = now_ms();
	while (now_ms() - t0 < 4.0 * (double)timeout) {
		cr_assert_eq(watchdog_beat(hb), 0);
		sleep_ms((double)timeout / 5);
		cr_assert(alive(pid), "watchdog exited while beaten");
		cr_assert_neq(if_nametoindex(NAME), 0, "interface vanished while beaten");
	}
	cr_assert_eq(watchdog_stop(pid, hb, 1000), 0);
	cr_assert_geq(wait_gone(NAME, 1000), 0);
}

Test(watchdog, missed_heartbeats_withdraw)
{
	const uint64_t timeout = 200;
	pid_t pid;
	int hb;

	enter_netns();
	spawn(timeout, &pid, &hb);
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(watchdog_beat(hb), 0);
		sleep_ms(50);
	}
	double t0 = now_ms();
	cr_assert_eq(watchdog_beat(hb), 0); /* the last one */
	double gone = wait_gone(NAME, (double)timeout + 1000);
	cr_assert_geq(gone, 0, "interface still there long after the timeout");
	double took = gone - t0;
	fprintf(stderr, "watchdog: timeout %llu ms, interface gone %.2f ms after the last beat\n",
		(unsigned long long)timeout, took);
	/* After one timeout from the last beat, and before a second one would have passed: the
	 * deadline is counted from the last heartbeat, once. Exit status 1: it was the timeout. */
	cr_assert_geq(took, (double)timeout - 2, "withdrew before the timeout: %.2f ms", took);
	cr_assert_lt(took, 2.0 * (double)timeout, "withdrew after two timeouts: %.2f ms", took);

	int st = reap(pid, 1000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x", st);
	cr_assert_eq(watchdog_beat(hb), -EPIPE);
	close(hb);
}

Test(watchdog, closing_the_socket_withdraws_at_once)
{
	pid_t pid;
	int hb;

	enter_netns();
	const uint64_t timeout = 5000;
	spawn(timeout, &pid, &hb);
	cr_assert_eq(watchdog_beat(hb), 0);
	sleep_ms(20);
	double t0 = now_ms();
	close(hb); /* what the kernel does when anylb exits */
	/* Gone because of the close: long before the heartbeat timeout could have removed it
	 * (a watchdog that missed the EOF would hold on for the whole 5 s), and exit status 0,
	 * "heartbeat socket closed", not 1, "heartbeat timeout". */
	double gone = wait_gone(NAME, (double)timeout / 5);
	cr_assert_geq(
		gone, 0, "interface still there %.0f ms after the close", (double)timeout / 5);
	double took = gone - t0;
	fprintf(stderr, "watchdog: interface gone %.2f ms after the heartbeat socket closed\n",
		took);
	int st = reap(pid, 1000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Test(watchdog, sigkill_of_anylb_withdraws_at_once)
{
	int ready[2];
	pid_t wd = 0;

	enter_netns();
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	pid_t anylb = fork();
	cr_assert_geq(anylb, 0);
	if (anylb == 0) {
		/* "anylb": creates the interface, hands it to its watchdog, then just lives. */
		char err[256];
		int ifindex, hb;
		pid_t child;
		close(ready[0]);
		int fd = iface_create(NAME, &ifindex, err, sizeof(err));
		if (fd < 0)
			_exit(10);
		if (watchdog_spawn(fd, 5000, NULL, &child, &hb) < 0)
			_exit(11);
		close(fd);
		if (write(ready[1], &child, sizeof(child)) != sizeof(child))
			_exit(12);
		for (;;) {
			watchdog_beat(hb);
			sleep_ms(100);
		}
	}
	close(ready[1]);
	struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, 5000), 1, "anylb child did not come up");
	ssize_t r = read(ready[0], &wd, sizeof(wd));
	close(ready[0]);
	if (r != sizeof(wd)) {
		int st = reap(anylb, 1000);
		cr_assert_fail("anylb child failed, status %#x", st);
	}
	cr_assert_gt(wd, 0);
	cr_assert_neq(if_nametoindex(NAME), 0);

	double t0 = now_ms();
	kill(anylb, SIGKILL);
	/* Gone because anylb died: within a fifth of the 5 s heartbeat timeout, the only other
	 * way it could go (and the watchdog's status below is not 1, "heartbeat timeout"). */
	double gone = wait_gone(NAME, 1000);
	cr_assert_geq(gone, 0, "interface outlived a SIGKILLed anylb by 1 s");
	double took = gone - t0;
	fprintf(stderr, "watchdog: interface gone %.2f ms after SIGKILL of anylb\n", took);

	int st = reap(anylb, 1000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "anylb status %#x", st);
	/* Orphaned, the watchdog was adopted by this (subreaper) process. */
	st = reap(wd, 1000);
	cr_assert_neq(st, -1, "watchdog not reaped");
	cr_assert((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
			  (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
		"watchdog status %#x", st);
}

Test(watchdog, terminal_signals_do_not_withdraw)
{
	const uint64_t timeout = 300;
	pid_t pid;
	int hb;

	enter_netns();
	spawn(timeout, &pid, &hb);
	/* It leaves anylb's process group (setpgid right after the fork: give it a moment). */
	double t0 = now_ms();
	while (getpgid(pid) != pid && now_ms() - t0 < 1000)
		sleep_ms(1);
	cr_assert_eq(getpgid(pid), pid);

	static const int sigs[] = {SIGHUP, SIGINT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
	for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
		cr_assert_eq(kill(pid, sigs[k]), 0);
		cr_assert_eq(watchdog_beat(hb), 0);
		sleep_ms(30);
	}
	t0 = now_ms();
	while (now_ms() - t0 < 2.0 * (double)timeout) {
		cr_assert_eq(watchdog_beat(hb), 0);
		sleep_ms(30);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, WNOHANG | WUNTRACED), 0, "watchdog died or stopped");
	cr_assert_neq(if_nametoindex(NAME), 0);

	/* SIGTERM does end it: the safe direction. */
	t0 = now_ms();
	cr_assert_eq(kill(pid, SIGTERM), 0);
	double gone = wait_gone(NAME, 1000);
	cr_assert_geq(gone, 0);
	fprintf(stderr, "watchdog: interface gone %.2f ms after SIGTERM of the watchdog\n",
		gone - t0);
	st = reap(pid, 1000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	close(hb);
}

Test(watchdog, inherited_handlers_and_mask_are_reset)
{
	struct sigaction sa = {.sa_handler = SIG_IGN};
	sigset_t block;
	pid_t pid;
	int hb;

	enter_netns();
	/* anylb's loop may ignore or block SIGTERM; the watchdog must still die of it. */
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	spawn(5000, &pid, &hb);
	sleep_ms(20);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	int st = reap(pid, 1000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	cr_assert_geq(wait_gone(NAME, 1000), 0);
	close(hb);
}

Test(watchdog, holds_no_other_fd)
{
	int p[2];
	pid_t pid;
	int hb;

	enter_netns();
	cr_assert_eq(pipe(p), 0); /* not close-on-exec: a fork would keep it */
	spawn(5000, &pid, &hb);
	close(p[1]);
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "the watchdog keeps a pipe of anylb's open");
	char c;
	cr_assert_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	cr_assert_eq(watchdog_stop(pid, hb, 1000), 0);
}

Test(watchdog, stop_reaps_it)
{
	pid_t pid;
	int hb;

	enter_netns();
	spawn(5000, &pid, &hb);
	cr_assert_eq(watchdog_beat(hb), 0);
	double t0 = now_ms();
	cr_assert_eq(watchdog_stop(pid, hb, 1000), 0);
	fprintf(stderr, "watchdog: watchdog_stop took %.2f ms\n", now_ms() - t0);
	errno = 0;
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1, "not reaped");
	cr_assert_eq(errno, ECHILD);
	cr_assert_geq(wait_gone(NAME, 100), 0, "interface outlived the stopped watchdog");
}

Test(watchdog, stop_kills_a_stuck_watchdog)
{
	pid_t pid;
	int hb;

	enter_netns();
	spawn(5000, &pid, &hb);
	cr_assert_eq(kill(pid, SIGSTOP), 0); /* cannot notice the EOF */
	double t0 = now_ms();
	cr_assert_eq(watchdog_stop(pid, hb, 100), -ETIMEDOUT);
	double took = now_ms() - t0;
	cr_assert_geq(took, 99);
	cr_assert_leq(took, 1000);
	errno = 0;
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
	cr_assert_geq(wait_gone(NAME, 1000), 0);
}

Test(watchdog, bad_arguments)
{
	pid_t pid = 0;
	int hb = -1;
	int p[2];

	cr_assert_eq(watchdog_spawn(-1, 100, NULL, &pid, &hb), -EBADF);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(watchdog_spawn(p[0], 0, NULL, &pid, &hb), -EINVAL);
	cr_assert_eq(pid, 0);
	cr_assert_eq(hb, -1);
	/* Never kill(0) or kill(-1); the fd is closed all the same. */
	cr_assert_eq(watchdog_stop(0, p[0], 10), -EINVAL);
	cr_assert_eq(watchdog_stop(-1, -1, 10), -EINVAL);
	cr_assert_eq(fcntl(p[0], F_GETFD), -1);
	close(p[1]);
}
