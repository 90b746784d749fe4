/*
 * DOC: echo_backend, a backend process for failover tests
 *
 *   echo_backend [-b BACKLOG] [-i ID] [-H PORT] ADDR:PORT
 *
 * Echoes every byte it reads on every connection and closes after the peer's FIN once all is
 * written back. One epoll loop, non-blocking sockets, no thread: a SIGSTOP freezes all of it,
 * which is the point (the kernel still completes handshakes into the accept queue, BACKLOG deep,
 * default 128). A send_expect health check works against it as it is: "PING\n" comes back, so
 * `expect: PING` matches.
 *
 * With -i ID it writes the line "ID\n" on every connection as soon as it is accepted, before
 * echoing: a client learns which backend serves it (the soak test blames a cut session on its own
 * backend's SIGKILL that way). With -H PORT the same loop also answers HTTP on PORT of the same
 * address, for a health check's `port:`: every request head gets "HTTP/1.1 200 OK" (or 503 once
 * SIGUSR2 flipped it; the next SIGUSR2 flips it back) and Connection: close. These connections
 * are not counted in accepts/data/checks/open, which stay about the traffic port.
 *
 * It talks to the test on stdout, one line at a time, flushed:
 *   listening ADDR backlog N pid P                   once bound and listening
 *   stats accepts=A data=D checks=C open=O           on SIGUSR1
 *   http STATUS                                      on SIGUSR2, the status answered from now on
 *   exit accepts=A data=D checks=C open=O            on SIGTERM or SIGINT, then exit 0
 * A connection counts as `checks` when its first four bytes are "PING", as `data` when it
 * brought any other byte (the test's sessions), as neither when it closed without a byte.
 *
 * The listener has SO_REUSEADDR, so that a restart right after a SIGKILL binds the same port
 * while the killed process's connections sit in TIME_WAIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE   (16 * 1024)
#define MAX_EVENTS 64

enum kind { KIND_NONE, KIND_DATA, KIND_CHECK };

struct conn {
	struct conn *prev, *next; /* all open connections, freed at exit */
	int fd;
	int http; /* a connection to the -H port */
	int rd_eof;
	uint32_t events; /* what epoll watches now */
	size_t head_len;
	char head[4];
	enum kind kind;
	size_t off, len;
	char buf[BUF_SIZE];
};

static unsigned n_accepts, n_data, n_checks, n_open;
static struct conn *conns;
static const char *hello_id;  /* -i */
static int http_status = 200; /* -H: flipped to 503 and back by SIGUSR2 */

static void stats(const char *what)
{
	printf("%s accepts=%u data=%u checks=%u open=%u\n", what, n_accepts, n_data, n_checks,
		n_open);
	fflush(stdout);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;
	size_t hl;

	if (colon == NULL)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof(*a);
	return 0;
}

static void conn_close(int ep, struct conn *c)
{
	if (!c->http && c->kind == KIND_NONE && c->head_len > 0)
		n_data++; /* fewer than four bytes, and not a whole "PING" */
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (!c->http)
		n_open--;
	free(c);
}

static void classify(struct conn *c, const char *p, size_t n)
{
	while (c->kind == KIND_NONE && n > 0 && c->head_len < 4) {
		c->head[c->head_len++] = *p++;
		n--;
	}
	if (c->kind == KIND_NONE && c->head_len == 4) {
		c->kind = memcmp(c->head, "PING", 4) == 0 ? KIND_CHECK : KIND_DATA;
		if (c->kind == KIND_CHECK)
			n_checks++;
		else
			n_data++;
	}
}

/*
 * An HTTP health request on the -H port: reads until the end of the head, answers in one send
 * (a few dozen bytes always fit an empty socket buffer), and is done. -1: close it now.
 */
static int http_step(struct conn *c)
{
	char resp[160];
	ssize_t n;
	int len;

	for (;;) {
		n = recv(c->fd, c->buf + c->len, BUF_SIZE - 1 - c->len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		if (strstr(c->buf, "\r\n\r\n") != NULL)
			break;
		if (c->len == BUF_SIZE - 1)
			return -1;
	}
	len = snprintf(resp, sizeof(resp),
		"HTTP/1.1 %d %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n%s", http_status,
		http_status == 200 ? "OK" : "Service Unavailable",
		http_status == 200 ? "ok" : "no");
	send(c->fd, resp, (size_t)len, MSG_NOSIGNAL);
	return -1;
}

/* Reads and writes what is possible now. Returns -1 when c is done (caller closes it). */
static int conn_step(struct conn *c)
{
	if (c->http)
		return http_step(c);
	for (;;) {
		int progress = 0;

		if (c->len > 0) {
			ssize_t n = send(c->fd, c->buf + c->off, c->len, MSG_NOSIGNAL);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (n > 0) {
				c->off += (size_t)n;
				c->len -= (size_t)n;
				progress = 1;
			}
		}
		if (c->len == 0)
			c->off = 0;
		if (!c->rd_eof && c->off + c->len < BUF_SIZE) {
			ssize_t n = recv(
				c->fd, c->buf + c->off + c->len, BUF_SIZE - c->off - c->len, 0);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (n == 0)
				c->rd_eof = 1;
			if (n > 0) {
				classify(c, c->buf + c->off + c->len, (size_t)n);
				c->len += (size_t)n;
				progress = 1;
			}
		}
		if (c->rd_eof && c->len == 0)
			return -1; /* everything echoed: close sends our FIN */
		if (!progress)
			return 0;
	}
}

static void conn_watch(int ep, struct conn *c)
{
	uint32_t ev = 0;
	struct epoll_event e;

	if (!c->rd_eof && c->off + c->len < BUF_SIZE)
		ev |= EPOLLIN;
	if (c->len > 0 && !c->http) /* an HTTP head is only read until answered */
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	c->events = ev;
	e.events = ev;
	e.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void accept_all(int ep, int lfd, int http)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event e;
		struct conn *c;

		if (fd < 0)
			return;
		if (!http)
			n_accepts++;
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->http = http;
		c->events = EPOLLIN;
		if (!http && hello_id != NULL) {
			/* Sent by conn_step on the first EPOLLOUT, ahead of any echo. */
			c->len = (size_t)snprintf(c->buf, BUF_SIZE, "%s\n", hello_id);
			c->events |= EPOLLOUT;
		}
		e.events = c->events;
		e.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
		if (!http)
			n_open++;
	}
}

/* A listening socket on ss (SO_REUSEADDR, see above), or -1 with the reason printed. */
static int listen_on(
	const struct sockaddr_storage *ss, socklen_t len, int backlog, const char *what)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0) {
		perror("echo_backend: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, backlog) != 0) {
		fprintf(stderr, "echo_backend: %s: %s\n", what, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct epoll_event e, evs[MAX_EVENTS];
	socklen_t len;
	sigset_t sigs;
	int backlog = 128, opt, lfd, hfd = -1, sfd, ep;
	long hport = 0;
	/* Markers for the non-connection fds in epoll's data. */
	static char lmark, hmark, smark;
	static const char usage[] =
		"usage: echo_backend [-b BACKLOG] [-i ID] [-H PORT] ADDR:PORT\n";

	while ((opt = getopt(argc, argv, "b:i:H:")) != -1) {
		if (opt == 'b') {
			backlog = atoi(optarg);
		} else if (opt == 'i') {
			hello_id = optarg;
		} else if (opt == 'H') {
			hport = strtol(optarg, NULL, 10);
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || parse_addr(argv[optind], &ss, &len) != 0 || hport < 0 ||
		hport > 65535 || (hello_id != NULL && strlen(hello_id) > 64)) {
		fputs(usage, stderr);
		return 2;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		perror("echo_backend: setup");
		return 1;
	}
	lfd = listen_on(&ss, len, backlog, argv[optind]);
	if (lfd < 0)
		return 1;
	e.events = EPOLLIN;
	e.data.ptr = &lmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	if (hport > 0) {
		struct sockaddr_storage hs = ss;

		/* sin_port and sin6_port sit at the same offset. */
		((struct sockaddr_in *)&hs)->sin_port = htons((uint16_t)hport);
		hfd = listen_on(&hs, len, 128, "-H port");
		if (hfd < 0)
			return 1;
		e.data.ptr = &hmark;
		epoll_ctl(ep, EPOLL_CTL_ADD, hfd, &e);
	}
	e.data.ptr = &smark;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e);
	printf("listening %s backlog %d pid %d\n", argv[optind], backlog, (int)getpid());
	fflush(stdout);

	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("echo_backend: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lmark) {
				accept_all(ep, lfd, 0);
			} else if (evs[i].data.ptr == &hmark) {
				accept_all(ep, hfd, 1);
			} else if (evs[i].data.ptr == &smark) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						stats("stats");
						continue;
					}
					if (si.ssi_signo == SIGUSR2) {
						http_status = http_status == 200 ? 503 : 200;
						printf("http %d\n", http_status);
						fflush(stdout);
						continue;
					}
					stats("exit");
					while (conns != NULL)
						conn_close(ep, conns);
					return 0;
				}
			} else {
				struct conn *c = evs[i].data.ptr;

				if (conn_step(c) < 0)
					conn_close(ep, c);
				else
					conn_watch(ep, c);
			}
		}
	}
}
