/*
 * The floor: the least a user-space TCP proxy can do per connection, for bench/bench.py to
 * measure beside the real proxies (issue 17). No configuration, health, timeouts, logs or
 * metrics; one thread, one epoll set, every fd registered once, edge-triggered, with
 * EPOLLRDHUP so that a peer's FIN needs no extra read. Per new connection it makes accept4,
 * socket, connect, two epoll_ctl ADD, one setsockopt (TCP_NODELAY to the backend; accepted
 * sockets inherit it from the listener), the reads and writes of the bytes, shutdown and two
 * close: what any proxy on sockets pays. Whatever anylb costs above it is anylb's; what HAProxy
 * costs above it is HAProxy's.
 *
 *   floor [-m] [-d] [-f] PORT=HOST:PORT[,HOST:PORT...] [PORT=...]
 *
 * listens on 127.0.0.1:PORT for each argument and sends each new connection to the next
 * backend of that listener in turn. Two experiments in packets per connection, off by default:
 * -m reads a FIN that came with the last bytes before writing them, and writes them with
 * MSG_MORE so that shutdown() sends bytes and FIN in one segment; -d sets TCP_QUICKACK 0 on
 * the backend socket before connect(), so the handshake's last ACK rides on the first bytes
 * (the kernel holds it up to 200 ms: wrong for a server that speaks first). -f reads the
 * client before connecting and, when bytes are there, connects with sendto(MSG_FASTOPEN): with
 * a cookie from an earlier connection the bytes ride in the SYN (the backend must listen with
 * TCP Fast Open, and net.ipv4.tcp_fastopen allow it; without a cookie it is a plain connect).
 * A measuring instrument, not a product: it copies through a 16 KiB buffer each way (anylb
 * splices bulk), never times out, and runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS 8
#define MAX_BACKENDS  8
#define BUF           16384

struct listener {
	int fd;
	int nb, next;
	struct sockaddr_in be[MAX_BACKENDS];
};

/* One direction: bytes read from src, not yet written to dst. */
struct half {
	int src, dst;
	size_t off, len;
	int readable; /* an edge said src has something; cleared once it is drained */
	int rdhup;    /* src reported its FIN: read to the end */
	int eof;      /* src's FIN read */
	int done;     /* eof, and everything before it written to dst */
	char buf[BUF];
};

/* A client and its backend; data.ptr of each fd's epoll event points at one of the two tags. */
struct pair {
	char tag[2]; /* &tag[0]: the client's events, &tag[1]: the backend's */
	int dead;
	struct half up, down; /* client to backend, backend to client */
};

static int ep;
static int merge, delack, fastopen; /* -m, -d, -f: see the top of the file */
static struct listener listeners[MAX_LISTENERS];
static int nlisteners;

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void add(int fd, void *ptr, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("floor: epoll_ctl");
		exit(1);
	}
}

/* Writes what the buffer holds: 1 when it is empty, 0 when dst would block, -1 on an error. */
static int half_flush(struct half *h)
{
	/* -m: the last bytes held back so that shutdown() sends them with the FIN */
	int more = merge && h->eof ? MSG_MORE : 0;
	while (h->len > 0) {
		ssize_t n = send(h->dst, h->buf + h->off, h->len, MSG_NOSIGNAL | more);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		h->off += (size_t)n;
		h->len -= (size_t)n;
	}
	h->off = 0;
	return 1;
}

/*
 * Moves what it can from src to dst, until one of them would block. A short read means src is
 * drained: edge-triggered, a later arrival is a new event, and a FIN already queued came with
 * EPOLLRDHUP, so no read is spent on learning either. Once src's FIN and every byte before it
 * are out, passes the FIN on, or, when the other way is finished too, says so: 1, the pair is
 * done; 0, wait for the next event; -1, an error.
 */
static int half_pump(struct half *h, const struct half *other)
{
	while (!h->done) {
		int f = half_flush(h);
		if (f <= 0)
			return f;
		if (h->eof) {
			h->done = 1;
			if (other->done)
				return 1; /* close(2) instead of shutting the last one */
			return shutdown(h->dst, SHUT_WR) < 0 && errno != ENOTCONN ? -1 : 0;
		}
		if (!h->readable)
			return 0;
		ssize_t n = read(h->src, h->buf, BUF);
		if (n < 0) {
			if (errno != EAGAIN)
				return -1;
			h->readable = 0;
			return 0;
		}
		h->len = (size_t)n;
		h->eof = n == 0;
		if (merge && n > 0 && h->rdhup && (size_t)n < BUF) {
			/* its FIN is queued: read it now, so the bytes and the FIN leave together
			 */
			ssize_t m = read(h->src, h->buf + n, BUF - (size_t)n);
			if (m < 0 && errno != EAGAIN)
				return -1;
			if (m >= 0)
				h->len += (size_t)m;
			h->eof = m == 0;
		}
		if (n > 0 && (size_t)n < BUF && !h->rdhup)
			h->readable = 0;
	}
	return 0;
}

static void pair_event(struct pair *p, int backend, unsigned events)
{
	struct half *from = backend ? &p->down : &p->up; /* reads this fd */
	struct half *to = backend ? &p->up : &p->down;   /* writes this fd */
	if (p->dead)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		from->readable = 1;
	if (events & EPOLLRDHUP)
		from->rdhup = 1;
	/* from first: a request read now goes out in this same turn */
	int r = (events & EPOLLERR) ? -1 : half_pump(from, to);
	if (r == 0 && (to->len > 0 || to->readable))
		r = half_pump(to, from);
	if (r != 0) {
		/* Closing removes both from the epoll set; the pair is freed after this turn. */
		p->dead = 1;
		close(p->up.src);
		close(p->up.dst);
	}
}

static struct pair *graveyard[256]; /* one per event of a batch at most */
static int ngrave;

static void accept_all(struct listener *l)
{
	static const int one = 1, zero = 0;
	for (;;) {
		int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		int bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pair *p = bfd < 0 ? NULL : calloc(1, sizeof(*p));
		if (p == NULL) {
			close(cfd);
			if (bfd >= 0)
				close(bfd);
			continue;
		}
		setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* -d: the handshake's last ACK waits for the first bytes, and goes with them */
		if (delack)
			setsockopt(bfd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
		struct sockaddr_in *be = &l->be[l->next];
		l->next = (l->next + 1) % l->nb;
		ssize_t got = fastopen ? read(cfd, p->up.buf, BUF) : -1;
		int rc;
		if (got > 0) {
			/* -f: the request goes with the SYN when a cookie is cached */
			p->up.len = (size_t)got;
			ssize_t sent = sendto(bfd, p->up.buf, (size_t)got,
				MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)be, sizeof(*be));
			if (sent > 0) {
				p->up.off = (size_t)sent;
				p->up.len -= (size_t)sent;
			}
			rc = sent < 0 ? -1 : 0;
		} else {
			p->up.eof = got == 0;
			rc = connect(bfd, (struct sockaddr *)be, sizeof(*be));
		}
		if (rc < 0 && errno != EINPROGRESS) {
			close(cfd);
			close(bfd);
			free(p);
			continue;
		}
		p->tag[1] = 1;
		p->up.src = p->down.dst = cfd;
		p->up.dst = p->down.src = bfd;
		unsigned ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		add(cfd, &p->tag[0], ev);
		add(bfd, &p->tag[1], ev);
	}
}

static int listen_on(int port)
{
	static const int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("floor: listen");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		merge |= strcmp(argv[1], "-m") == 0;
		delack |= strcmp(argv[1], "-d") == 0;
		fastopen |= strcmp(argv[1], "-f") == 0;
	}
	if (argc < 2 || argc - 1 > MAX_LISTENERS) {
		fprintf(stderr,
			"usage: floor [-m] [-d] [-f] PORT=HOST:PORT[,HOST:PORT...] [PORT=...]\n");
		return 2;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 1; i < argc; i++) {
		struct listener *l = &listeners[nlisteners++];
		char *eq = strchr(argv[i], '=');
		if (eq == NULL)
			return fprintf(stderr, "floor: bad listener %s\n", argv[i]), 2;
		for (char *s = strtok(eq + 1, ","); s != NULL; s = strtok(NULL, ","))
			if (l->nb == MAX_BACKENDS || parse_addr(s, &l->be[l->nb++]) < 0)
				return fprintf(stderr, "floor: bad backend %s\n", s), 2;
		l->fd = listen_on(atoi(argv[i]));
		add(l->fd, l, EPOLLIN | EPOLLET);
	}
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			if (ptr >= (void *)listeners && ptr < (void *)(listeners + MAX_LISTENERS)) {
				accept_all(ptr);
				continue;
			}
			char *tag = ptr;
			int backend = *tag;
			struct pair *p = (struct pair *)(tag - backend);
			int was_dead = p->dead;
			pair_event(p, backend, evs[i].events);
			if (!was_dead && p->dead)
				graveyard[ngrave++] = p;
		}
		/* Freed once no event of this batch can still point at them. */
		for (int i = 0; i < ngrave; i++)
			free(graveyard[i]);
		ngrave = 0;
	}
}
