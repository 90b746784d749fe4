/*
 * DOC: anylb-demo-backend
 *
 * A tiny HTTP-ish server for the README quickstart: start three of them, put anylb in front,
 * and watch `curl` or `nc` answers come from different backends.
 *
 *   anylb-demo-backend [-n NAME] ADDR:PORT      (ADDR is an IPv4 address or [IPv6])
 *
 * Every connection gets
 *
 *   HTTP/1.1 200 OK / Content-Type: text/plain / Connection: close / (blank) /
 *   hello from NAME (ADDR:PORT)
 *
 * once the request headers are in (an empty line), or after 1 s without data so that a bare
 * `nc` gets its answer too; then the connection is closed. One poll() loop serves every client.
 * SIGTERM and SIGINT make it close everything and exit 0.
 *
 * Standalone on purpose: no project headers or libraries, so it reads as an example.
 *
 *   [reading] --(blank line | 1 s quiet | 8 KiB | EOF)--> [writing] --(all sent)--> closed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX     8192
#define QUIET_MS    1000
#define MAX_CLIENTS 4096

enum client_state { CLIENT_READING, CLIENT_WRITING };

struct client {
	int fd;
	enum client_state state;
	long long last_ms; /* last time bytes arrived */
	char req[REQ_MAX];
	size_t rlen;
	size_t off; /* bytes of the response already sent */
};

static volatile sig_atomic_t stop_requested;
static int stop_pipe[2] = {-1, -1};

static char response[512];
static size_t response_len;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stop_requested = 1;
	/* Wakes poll() even if the signal arrived just before it was called. */
	if (write(stop_pipe[1], "x", 1) < 0) {
		/* The pipe is full: a wake-up is already pending. */
	}
	errno = saved;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	char *end;
	long port;
	size_t hlen;
	int v6 = s[0] == '[';

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		hlen = (size_t)(rb - s - 1);
		colon = rb + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: anylb-demo-backend [-n NAME] ADDR:PORT\n"
		   "  answers every connection with \"hello from NAME (ADDR:PORT)\" over HTTP\n");
}

/* True once the request headers are complete: an empty line, CRLF or bare LF. */
static int request_done(const struct client *c)
{
	for (size_t i = 0; i + 1 < c->rlen; i++) {
		if (c->req[i] == '\n' &&
			(c->req[i + 1] == '\n' || (c->req[i + 1] == '\r' && i + 2 < c->rlen &&
							  c->req[i + 2] == '\n')))
			return 1;
	}
	return 0;
}

static void client_close(struct client **slot)
{
	close((*slot)->fd);
	free(*slot);
	*slot = NULL;
}

/* Does what can be done now. Returns 0 to keep the client, -1 when it was closed. */
static int client_step(struct client **slot, long long now)
{
	struct client *c = *slot;

	if (c->state == CLIENT_READING) {
		for (;;) {
			ssize_t n = recv(c->fd, c->req + c->rlen, sizeof(c->req) - c->rlen, 0);

			if (n > 0) {
				c->rlen += (size_t)n;
				c->last_ms = now;
				if (c->rlen == sizeof(c->req))
					break;
				continue;
			}
			if (n == 0)
				break; /* the client half-closed: answer anyway */
			if (errno == EAGAIN || errno == EINTR) {
				if (!request_done(c) && now - c->last_ms < QUIET_MS)
					return 0;
				break;
			}
			client_close(slot);
			return -1;
		}
		c->state = CLIENT_WRITING;
	}
	while (c->off < response_len) {
		ssize_t n = send(c->fd, response + c->off, response_len - c->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			client_close(slot);
			return -1;
		}
		c->off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	client_close(slot);
	return -1;
}

int main(int argc, char **argv)
{
	static struct client *clients[MAX_CLIENTS];
	static struct pollfd pfd[MAX_CLIENTS + 2];
	struct sockaddr_storage ss;
	struct sigaction sa;
	const char *name = "demo";
	const char *addr;
	socklen_t len;
	int opt, lfd, one = 1;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		switch (opt) {
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	addr = argv[optind];
	if (parse_addr(addr, &ss, &len) != 0) {
		fprintf(stderr,
			"anylb-demo-backend: bad address '%s' (want IP:PORT or [IPv6]:PORT)\n",
			addr);
		return 2;
	}
	response_len = (size_t)snprintf(response, sizeof(response),
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
		"hello from %s (%s)\n",
		name, addr);
	if (response_len >= sizeof(response)) {
		fprintf(stderr, "anylb-demo-backend: name too long\n");
		return 2;
	}

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		perror("anylb-demo-backend: pipe");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		bind(lfd, (struct sockaddr *)&ss, len) != 0 || listen(lfd, 512) != 0) {
		fprintf(stderr, "anylb-demo-backend: cannot listen on %s: %s\n", addr,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "anylb-demo-backend: %s listening on %s\n", name, addr);

	while (!stop_requested) {
		long long now = now_ms();
		int timeout = -1;
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){.fd = stop_pipe[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = clients[i];

			if (c == NULL)
				continue;
			if (client_step(&clients[i], now) != 0)
				continue;
			if (c->state == CLIENT_READING) {
				long long left = c->last_ms + QUIET_MS - now;

				if (left < 0)
					left = 0;
				if (timeout < 0 || left < timeout)
					timeout = (int)left + 1;
			}
			pfd[n++] = (struct pollfd){.fd = c->fd,
				.events = c->state == CLIENT_READING ? POLLIN : POLLOUT};
		}
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			perror("anylb-demo-backend: poll");
			break;
		}
		if (!(pfd[1].revents & POLLIN))
			continue;
		for (;;) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			size_t i;

			if (fd < 0)
				break;
			for (i = 0; i < MAX_CLIENTS && clients[i] != NULL; i++)
				;
			if (i == MAX_CLIENTS ||
				(clients[i] = calloc(1, sizeof(**clients))) == NULL) {
				close(fd); /* full: the client sees a close and may retry */
				continue;
			}
			clients[i]->fd = fd;
			clients[i]->state = CLIENT_READING;
			clients[i]->last_ms = now_ms();
		}
	}
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] != NULL)
			client_close(&clients[i]);
	}
	close(lfd);
	fprintf(stderr, "anylb-demo-backend: %s stopped\n", name);
	return 0;
}
