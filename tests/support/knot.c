/*
 * DOC: real DNS servers for scenario tests (Knot DNS)
 *
 * The pids are kept in a small table: only those are ever signalled.
 */
#include "tests/support/knot.h"

#include "tests/support/harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KNOT 8

static pid_t pids[MAX_KNOT];

void sc_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

void sc_knot_stop(pid_t pid)
{
	for (int i = 0; i < MAX_KNOT; i++) {
		if (pids[i] != pid || pid <= 0)
			continue;
		kill(pid, SIGTERM);
		for (int t = 0; t < 50 && waitpid(pid, NULL, WNOHANG) == 0; t++)
			sc_sleep_ms(100);
		if (waitpid(pid, NULL, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		pids[i] = 0;
	}
}

void sc_knot_stop_all(void)
{
	for (int i = 0; i < MAX_KNOT; i++)
		if (pids[i] > 0)
			sc_knot_stop(pids[i]);
}

pid_t sc_knot_start(
	const char *dir, const char *name, int port, const char *domain, const char *file)
{
	char sub[512], conf[512], text[2048], log[512];
	int slot = -1;

	for (int i = 0; i < MAX_KNOT && slot < 0; i++)
		if (pids[i] == 0)
			slot = i;
	cr_assert_geq(slot, 0, "more than %d knotd at once", MAX_KNOT);
	snprintf(sub, sizeof(sub), "%s/%s", dir, name);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(text, sizeof(text),
		"server:\n    listen: 127.0.0.1@%d\n    rundir: %s\n    user: root:root\n"
		"log:\n  - target: stderr\n    any: info\n"
		"database:\n    storage: %s\n"
		"template:\n  - id: default\n    storage: %s\n"
		"zone:\n  - domain: %s\n    file: %s\n",
		port, sub, sub, dir, domain, file);
	sc_write_file(conf, text);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(SC_KNOTD, SC_KNOTD, "-c", conf, (char *)NULL);
		_exit(127);
	}
	pids[slot] = pid;
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	for (int i = 0; i < 100; i++) {
		int fd = sc_connect(addr, 200);

		if (fd >= 0) {
			close(fd);
			return pid;
		}
		cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "knotd %s exited: %s", name,
			sc_read_file(log));
		sc_sleep_ms(50);
	}
	cr_assert_fail("knotd %s does not answer on %s: %s", name, addr, sc_read_file(log));
	return -1;
}
