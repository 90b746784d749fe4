/*
 * DOC: real DNS servers for scenario tests (Knot DNS)
 *
 * The pids are kept in a small table: only those are ever signalled.
 */
#include "tests/support/knot.h"

#include "health/dns_msg.h"
#include "lib/dns.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"
#include "tests/support/udp.h"

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

/* The slot of pid, a knotd started here, or -1. */
static int slot_of(pid_t pid)
{
	for (int i = 0; i < MAX_KNOT; i++)
		if (pid > 0 && pids[i] == pid)
			return i;
	return -1;
}

void sc_knot_kill(const pid_t *which, int n)
{
	for (int k = 0; k < n; k++)
		if (slot_of(which[k]) >= 0)
			kill(which[k], SIGKILL);
	for (int k = 0; k < n; k++) {
		int i = slot_of(which[k]);
		if (i < 0)
			continue;
		waitpid(pids[i], NULL, 0);
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
	return sc_knot_start_in(NULL, dir, name, port, domain, file);
}

pid_t sc_knot_start_in(const char *ns, const char *dir, const char *name, int port,
	const char *domain, const char *file)
{
	char sub[512], conf[512], text[2048], log[512];
	int slot = -1;

	for (int i = 0; i < MAX_KNOT && slot < 0; i++)
		if (pids[i] == 0)
			slot = i;
	cr_assert_geq(slot, 0, "more than %d knotd at once", MAX_KNOT);
	snprintf(sub, sizeof(sub), "%s/%s", dir, name);
	/* Already there for a server started again under the same name. */
	cr_assert(mkdir(sub, 0700) == 0 || errno == EEXIST, "%s: %s", sub, strerror(errno));
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
	/* The child inherits the namespace of the thread that forks it. */
	if (ns != NULL)
		cr_assert_eq(sc_netns_enter(ns), 0, "namespace %s", ns);
	pid_t pid = fork();
	if (pid != 0 && ns != NULL)
		sc_netns_enter(NULL);
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
		if (ns != NULL)
			cr_assert_eq(sc_netns_enter(ns), 0);
		int fd = sc_connect(addr, 200);
		if (ns != NULL)
			sc_netns_enter(NULL);

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

int sc_dns_query_a(
	const char *addr, const char *name, const char *const *answers, int n, int timeout_ms)
{
	uint8_t wire[DNS_NAME_WIRE_MAX], q[DNS_QUERY_MAX], reply[1024];
	static uint16_t id = 0x4000;
	char judged[160];
	const char *why;
	size_t wlen;

	if (dns_name_to_wire(name, wire, &wlen, &why) != 0)
		return -EINVAL;
	struct dns_want w = {.id = ++id, .qtype = DNS_TYPE_A, .qname = wire, .qname_len = wlen};
	int qlen = dns_query_build(q, sizeof(q), &w);
	if (qlen < 0)
		return qlen;
	int fd = sc_udp_socket(addr);
	if (fd < 0)
		return fd;
	ssize_t rn = sc_udp_roundtrip(fd, q, (size_t)qlen, reply, sizeof(reply), timeout_ms);
	close(fd);
	if (rn < 0)
		return (int)rn;
	for (int i = 0; i < n; i++) {
		w.answer = answers[i];
		if (dns_reply_judge(reply, (size_t)rn, &w, judged, sizeof(judged)))
			return i;
	}
	return -1;
}
