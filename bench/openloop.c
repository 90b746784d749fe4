/*
 * An open-loop HTTP/1.1 load generator for bench/bench.py: requests at a fixed offered rate,
 * whatever the server does, so a slow answer delays the ones behind it and shows in the
 * latency instead of slowing the load down (wrk's closed loop measures the cap, not the
 * latency). Each of C keep-alive connections sends its share of the rate on a fixed schedule;
 * a request's latency is counted from the time it was due, not from when it could be sent.
 *
 *   openloop PORT RATE SECONDS CONNS
 *
 * prints one line: sent= done= errors= late= p50_us= p99_us= p999_us= (late: requests that
 * were due while their connection still waited for an answer). 127.0.0.1 only; bounded by
 * SECONDS plus a 2 s grace for the last answers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   1024
#define MAX_SAMPLES (4u << 20)

static const char REQ[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

struct conn {
	int fd;
	int busy;        /* a request is out */
	uint64_t due_ns; /* when the request out (or the next one) was due */
	size_t have;     /* bytes of the answer read */
	long need;       /* its whole length once the head is in; -1 until then */
	char buf[8192];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int dial(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The whole length of the answer in c->buf, once its head is there; -1 before. */
static long answer_len(const struct conn *c)
{
	const char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
	if (end == NULL)
		return -1;
	const char *cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length:", 15);
	long body = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
	return (long)(end - c->buf) + 4 + body;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: openloop PORT RATE SECONDS CONNS\n");
		return 2;
	}
	int port = atoi(argv[1]), nconn = atoi(argv[4]);
	double rate = atof(argv[2]), secs = atof(argv[3]);
	if (nconn < 1 || nconn > MAX_CONNS || rate <= 0 || secs <= 0)
		return 2;
	static struct conn conns[MAX_CONNS];
	uint32_t *lat = malloc(MAX_SAMPLES * sizeof(*lat));
	size_t nlat = 0;
	uint64_t sent = 0, errors = 0, late = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	/* Each connection sends every interval, the connections staggered over one interval. */
	uint64_t interval = (uint64_t)(1e9 * nconn / rate);
	uint64_t t0 = now_ns() + 10000000, end = t0 + (uint64_t)(secs * 1e9);

	for (int i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];
		c->fd = dial(port);
		c->due_ns = t0 + interval * (uint64_t)i / (uint64_t)nconn;
		c->need = -1;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	for (;;) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		int open = 0;
		for (int i = 0; i < nconn; i++) {
			struct conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			open += c->busy || c->due_ns < end;
			if (c->busy || c->due_ns >= end)
				continue;
			if (c->due_ns <= now) {
				if (send(c->fd, REQ, sizeof(REQ) - 1, MSG_NOSIGNAL) !=
					sizeof(REQ) - 1) {
					errors++;
					close(c->fd);
					c->fd = -1;
					continue;
				}
				sent++;
				c->busy = 1;
				c->have = 0;
				c->need = -1;
			} else if (c->due_ns < next) {
				next = c->due_ns;
			}
		}
		if (!open || now > end + 2000000000u)
			break;
		int wait_ms = next == UINT64_MAX ? 10 : (int)((next - now) / 1000000);
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, wait_ms);
		now = now_ns();
		for (int k = 0; k < n; k++) {
			struct conn *c = &conns[evs[k].data.u32];
			ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				errors++;
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->have += (size_t)r;
			if (c->need < 0)
				c->need = answer_len(c);
			if (c->need < 0 || (long)c->have < c->need)
				continue;
			if (nlat < MAX_SAMPLES)
				lat[nlat++] = (uint32_t)((now - c->due_ns) / 1000);
			c->busy = 0;
			c->due_ns += interval;
			if (c->due_ns < now) /* due already: it was late for its slot */
				late++;
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("sent=%llu done=%zu errors=%llu late=%llu p50_us=%u p99_us=%u p999_us=%u\n",
		(unsigned long long)sent, nlat, (unsigned long long)errors,
		(unsigned long long)late, nlat ? lat[nlat / 2] : 0,
		nlat ? lat[(size_t)((double)nlat * 0.99)] : 0,
		nlat ? lat[(size_t)((double)nlat * 0.999)] : 0);
	free(lat);
	return 0;
}
