/*
 * DOC: udp peers for scenario tests
 */
#include "tests/support/udp.h"

#include "tests/support/harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ECHO 8

static pid_t echo_pids[MAX_ECHO];

/* The delayed echo: datagrams wait in a ring until due. */
#define DELAY_RING 4096
#define DELAY_MAX  2048

struct pending {
	int64_t due;
	struct sockaddr_storage from;
	socklen_t fl;
	uint16_t len;
	uint8_t data[DELAY_MAX];
};

static void echo_delayed(int fd, int delay_ms)
{
	static struct pending ring[DELAY_RING];
	size_t head = 0, tail = 0;

	for (;;) {
		int64_t now = sc_now_ms();
		while (head != tail && ring[head].due <= now) {
			struct pending *p = &ring[head];
			sendto(fd, p->data, p->len, 0, (struct sockaddr *)&p->from, p->fl);
			head = (head + 1) % DELAY_RING;
		}
		int wait = head != tail ? (int)(ring[head].due - now) : 1000;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, wait < 0 ? 0 : wait) <= 0)
			continue;
		struct pending *p = &ring[tail];
		p->fl = sizeof(p->from);
		ssize_t n = recvfrom(
			fd, p->data, sizeof(p->data), 0, (struct sockaddr *)&p->from, &p->fl);
		if (n < 0 || (tail + 1) % DELAY_RING == head)
			continue; /* full: dropped, as a real server would */
		p->len = (uint16_t)n;
		p->due = sc_now_ms() + delay_ms;
		tail = (tail + 1) % DELAY_RING;
	}
}

pid_t sc_udp_echo_start(char *addr, size_t cap, int delay_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int port = 0, fd = -1, slot = -1;

	for (int i = 0; i < MAX_ECHO && slot < 0; i++)
		if (echo_pids[i] == 0)
			slot = i;
	if (slot < 0)
		return -ENOSPC;
	/* A port free for UDP: bind to port 0 and keep the socket for the child. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sc_addr_parse("127.0.0.1:0", &ss, &len) < 0 ||
		bind(fd, (struct sockaddr *)&ss, len) < 0 ||
		getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(addr, cap, "127.0.0.1:%d", port);
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	pid_t pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (pid == 0) {
		static uint8_t buf[65536];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (delay_ms > 0)
			echo_delayed(fd, delay_ms);
		for (;;) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n =
				recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n >= 0)
				sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
	}
	close(fd);
	echo_pids[slot] = pid;
	return pid;
}

void sc_udp_echo_stop(pid_t pid)
{
	for (int i = 0; i < MAX_ECHO; i++) {
		if (echo_pids[i] <= 0 || (pid != 0 && echo_pids[i] != pid))
			continue;
		kill(echo_pids[i], SIGKILL);
		waitpid(echo_pids[i], NULL, 0);
		echo_pids[i] = 0;
	}
}

int sc_udp_socket(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (sc_addr_parse(addr, &ss, &len) < 0)
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

ssize_t sc_udp_roundtrip(
	int fd, const void *msg, size_t len, void *reply, size_t cap, int timeout_ms)
{
	int64_t end = sc_now_ms() + timeout_ms;

	if (send(fd, msg, len, 0) < 0)
		return -errno;
	for (;;) {
		int64_t left = end - sc_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0)
			return -ETIMEDOUT;
		int rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc <= 0)
			continue;
		ssize_t n = recv(fd, reply, cap, 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}
