/*
 * What a udp flow's own backend socket costs, against a pool of sockets shared by the flows
 * (the design lb/udp_listener.c did not take: one socket per backend multiplexed by rewriting
 * the DNS message ID). Run by bench/dns.sh; prints one line of key=value pairs.
 *
 *   cycle_ns     socket() + connect() + epoll_ctl(ADD) + close(): what a flow's socket costs
 *                in system calls, once per flow (a DNS query with udp.responses 1)
 *   kernel_bytes kernel memory per open connected udp socket (Slab and the socket's file,
 *                from /proc/meminfo before and after N of them)
 *   pool_ns      what the pool pays instead, per query: a lookup and a store in a 65536-slot
 *                table of (client, original ID) and the 2-byte rewrite, both ways
 *
 * Loopback only; bounded (N sockets, M cycles).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CYCLES  200000
#define SOCKETS 10000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = atol(line + strlen(key));
	if (f != NULL)
		fclose(f);
	return v;
}

static int connected(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		perror("socket/connect");
		exit(1);
	}
	return fd;
}

struct slot {
	uint32_t ip;
	uint16_t port, id;
	uint64_t at;
};

int main(void)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
	struct rlimit rl = {SOCKETS + 64, SOCKETS + 64};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	setrlimit(RLIMIT_NOFILE, &rl);

	uint64_t t0 = now_ns();
	for (int i = 0; i < CYCLES; i++) {
		int fd = connected(&to);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		close(fd);
	}
	double cycle_ns = (double)(now_ns() - t0) / CYCLES;

	int *fds = calloc(SOCKETS, sizeof(*fds));
	sync();
	sleep(1);
	long slab0 = meminfo_kb("Slab:");
	for (int i = 0; i < SOCKETS; i++)
		fds[i] = connected(&to);
	sleep(1);
	long slab1 = meminfo_kb("Slab:");
	for (int i = 0; i < SOCKETS; i++)
		close(fds[i]);
	free(fds);

	/* The pool's per-query work, both ways, over a table of 65536 slots. */
	struct slot *tab = calloc(65536, sizeof(*tab));
	uint8_t msg[64] = {0};
	uint16_t next = 0;
	volatile uint64_t sink = 0;
	t0 = now_ns();
	for (int i = 0; i < CYCLES * 10; i++) {
		uint16_t id = (uint16_t)(msg[0] << 8 | msg[1]), nid = next++;
		tab[nid] = (struct slot){(uint32_t)i, (uint16_t)i, id, (uint64_t)i};
		msg[0] = (uint8_t)(nid >> 8); /* out: the pool's ID */
		msg[1] = (uint8_t)nid;
		struct slot *s = &tab[(uint16_t)(msg[0] << 8 | msg[1])]; /* back: the client's */
		msg[0] = (uint8_t)(s->id >> 8);
		msg[1] = (uint8_t)s->id;
		sink += s->ip;
	}
	double pool_ns = (double)(now_ns() - t0) / (CYCLES * 10);
	free(tab);
	printf("cycle_ns=%.0f kernel_bytes=%.0f pool_ns=%.1f sockets=%d\n", cycle_ns,
		(double)(slab1 - slab0) * 1024 / SOCKETS, pool_ns, SOCKETS);
	return sink == 42;
}
