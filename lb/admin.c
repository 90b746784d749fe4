/*
 * DOC: the admin server
 *
 * Listeners and connections of the admin interface on the main thread's loop; what a request
 * means is admin_route.c's business. Every connection answers one request and closes:
 *
 *   accept --> READING --request complete or refused--> WRITING --all sent--> LINGERING --> closed
 *                 |                                        |                     |
 *                 +--5 s without a whole request, EOF------+--10 s without ------+--EOF, 2 s
 *                    or a read error: closed                  progress: closed
 *
 * LINGERING: after the answer the write side is shut and whatever the client still sends is
 * read and dropped for up to 2 s, so that closing with unread bytes never turns into an RST that
 * destroys the answer in flight (the lingering close of Apache and nginx).
 *
 * Bounds, so that an admin client, hostile or stuck, costs little and never delays a session
 * (sessions live on the workers' loops; this loop only answers admin clients, signals and the
 * watchdog): per listener at most ADMIN_MAX_CONNS_UNIX or _TCP connections (beyond, that
 * listener pauses and the kernel queues; TCP clients never take the unix socket's places), the
 * request parser's limits, one answer per connection in memory, ADMIN_OUT_BUDGET_TCP bytes of
 * answers held for all TCP clients together (beyond, 503), and ADMIN_WRITE_TOTAL seconds to
 * read a whole answer, so a client reading a byte now and then pins it no longer.
 *
 * The unix socket: its directory is created (0755) if missing; a socket file that nobody
 * answers on is stale and replaced, one that a live process answers on is left alone (two anylb
 * on one socket would each drain the other's backends): admin_new() fails with -EADDRINUSE and
 * lb/main.c runs without the admin interface, saying so; it is chmod 0600 before listen(), so
 * no connection is accepted before its mode is right. admin_free() removes it only if it is
 * still ours (same inode).
 *
 * Also runs the redundancy watch: once a second each service's N+k is computed, and a warning
 * is logged when a service drops below N+1, once; it is re-armed only after the service has
 * held N+1 or better for ADMIN_RECOVER_MS, so a load that hovers at the edge logs a few lines,
 * not one per second.
 */
#include "lb/admin.h"

#include "lb/admin_http.h"
#include "lb/admin_route.h"
#include "lb/admin_token.h"
#include "lb/inherited.h"
#include "lb/status.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_MAX_CONNS_UNIX  16 /* each listener has its own: TCP clients never starve the */
#define ADMIN_MAX_CONNS_TCP   64 /* root-only unix socket */
#define ADMIN_BACKLOG         64
#define ADMIN_REQUEST_TIMEOUT 5.0  /* s from accept to a whole request (slowloris) */
#define ADMIN_WRITE_TIMEOUT   10.0 /* s without writing a byte of the answer */
#define ADMIN_WRITE_TOTAL     30.0 /* s for a whole answer: a trickling reader pins it no longer */
#define ADMIN_LINGER_TIMEOUT  2.0
#define ADMIN_PAUSE           1.0 /* s: accepting pauses this long when out of fds */
#define ADMIN_READ_CHUNK      4096
#define ADMIN_READ_ROUNDS     16
#define ADMIN_ACCEPT_BATCH    16
#define ADMIN_OUT_MAX         (256u << 20) /* the largest answer: status of 10^5 backends */
/* Bytes of answers TCP clients may hold at once: beyond, 503 (at most this and one answer). */
#define ADMIN_OUT_BUDGET_TCP (64u << 20)
#define ADMIN_TICK           1.0
#define ADMIN_RECOVER_MS     10000

enum admin_conn_state { ADMIN_CONN_READING, ADMIN_CONN_WRITING, ADMIN_CONN_LINGERING };

struct admin;
struct admin_listener;

struct admin_conn {
	struct admin *a;
	struct admin_listener *l; /* accepted on */
	struct admin_conn *prev, *next;
	enum admin_conn_state state;
	int fd;
	int tcp;
	ev_tstamp write_until; /* ADMIN_WRITE_TOTAL after the answer was queued */
	char peer[ADDR_STRLEN + 40];
	ev_io io;
	ev_timer timer;
	struct admin_http_req req;
	char *out; /* the whole answer */
	size_t out_len, out_off;
};

struct admin_listener {
	struct admin *a;
	int fd;
	int tcp;
	ev_io io;
	unsigned nconns, max; /* connections of this listener, and its cap */
	int full;             /* stopped: max reached */
};

/* Per service: the redundancy watch. */
struct admin_red {
	int warned;           /* below N+1 was logged; re-armed after ADMIN_RECOVER_MS at N+1 */
	uint64_t ok_since_ms; /* N+1 or better since (0: not now) */
};

struct admin {
	struct ev_loop *loop;
	struct lb_runtime *rt;
	struct announcer *ann;
	struct admin_hooks hooks;
	struct admin_listener ul, tl; /* unix, tcp; fd -1 when absent */
	char *sock_path;
	dev_t sock_dev;
	ino_t sock_ino;
	char *token;
	size_t token_len;
	struct admin_conn *conns;
	size_t out_tcp;        /* bytes of answers held by TCP connections (ADMIN_OUT_BUDGET_TCP) */
	int handed_over;       /* an upgrade's successor holds the listeners and the socket file */
	uint64_t busy_refused; /* answers refused for that budget */
	int out_of_fds;        /* listeners stopped for ADMIN_PAUSE */
	ev_timer pause;
	ev_timer tick;
	struct admin_red *red; /* per service of rt, nred of them */
	size_t nred;
	double start_boot; /* CLOCK_BOOTTIME seconds when the process started */
};

static const char *conn_state_name(enum admin_conn_state st)
{
	switch (st) {
	case ADMIN_CONN_READING:
		return "reading";
	case ADMIN_CONN_WRITING:
		return "writing";
	case ADMIN_CONN_LINGERING:
		return "lingering";
	}
	return "?";
}

static double boot_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * When this process started, in CLOCK_BOOTTIME seconds: field 22 of /proc/self/stat, in clock
 * ticks since boot. Falls back to now (the admin interface starts right after the workers).
 */
static double process_start(void)
{
	char buf[1024];
	double now = boot_seconds();
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return now;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return now;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and ')': start after its last ')'. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return now;
	p++;
	unsigned long long start = 0;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (field == 22) {
			start = strtoull(p, NULL, 10);
			break;
		}
		p = strchr(p, ' ');
		if (p == NULL)
			return now;
	}
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || start == 0)
		return now;
	double t = (double)start / (double)hz;
	return t <= now ? t : now;
}

static double uptime(const struct admin *a)
{
	double up = boot_seconds() - a->start_boot;
	return up > 0 ? up : 0;
}

/* ---- connections ---- */

static void listeners_update(struct admin *a);

static void conn_set_state(struct admin_conn *c, enum admin_conn_state st, const char *why)
{
	log_debug("admin: connection %s: %s -> %s: %s", c->peer, conn_state_name(c->state),
		conn_state_name(st), why);
	c->state = st;
}

/* The single exit of a connection. */
static void conn_close(struct admin_conn *c, const char *why)
{
	struct admin *a = c->a;

	log_debug("admin: connection %s closed in state %s: %s", c->peer, conn_state_name(c->state),
		why);
	ev_io_stop(a->loop, &c->io);
	ev_timer_stop(a->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	admin_http_free(&c->req);
	if (c->tcp)
		a->out_tcp -= c->out_len;
	free(c->out);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->l->nconns--;
	free(c);
	listeners_update(a);
}

static void conn_io(struct admin_conn *c, int events)
{
	if (c->io.events == events && ev_is_active(&c->io))
		return;
	ev_io_stop(c->a->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->a->loop, &c->io);
}

static void conn_timer(struct admin_conn *c, double after)
{
	ev_timer_stop(c->a->loop, &c->timer);
	ev_timer_set(&c->timer, after, 0);
	ev_timer_start(c->a->loop, &c->timer);
}

static void conn_linger(struct admin_conn *c)
{
	/* The kernel has the whole answer: its memory goes now, not after the linger. */
	if (c->tcp)
		c->a->out_tcp -= c->out_len;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	shutdown(c->fd, SHUT_WR);
	conn_set_state(c, ADMIN_CONN_LINGERING, "answer sent");
	conn_io(c, EV_READ);
	conn_timer(c, ADMIN_LINGER_TIMEOUT);
}

/* Writes what it can; returns -1 when the connection was closed. */
static int conn_flush(struct admin_conn *c)
{
	size_t before = c->out_off;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * Progress pushes the deadline back, once per wake-up (ev_timer_again),
			 * but never past the whole answer's.
			 */
			if (c->out_off > before) {
				ev_tstamp left = c->write_until - ev_now(c->a->loop);
				c->timer.repeat =
					left < ADMIN_WRITE_TIMEOUT ? left : ADMIN_WRITE_TIMEOUT;
				if (c->timer.repeat < 0.001)
					c->timer.repeat = 0.001;
				ev_timer_again(c->a->loop, &c->timer);
			}
			conn_io(c, EV_WRITE);
			return 0;
		}
		if (n < 0) {
			conn_close(c, strerror(errno));
			return -1;
		}
		c->out_off += (size_t)n;
	}
	conn_linger(c);
	return 0;
}

/* Queues the answer r and starts writing it. */
static void conn_respond(struct admin_conn *c, struct admin_response *r, int head)
{
	struct admin *a = c->a;

	if (r->body_len > ADMIN_OUT_MAX) {
		admin_response_free(r);
		admin_response_error(r, 500, "the answer would be too large");
	}
	c->out = admin_response_bytes(r, head, &c->out_len);
	admin_response_free(r);
	if (c->out == NULL) {
		c->out_len = 0;
		conn_close(c, "out of memory for the answer");
		return;
	}
	if (c->tcp)
		a->out_tcp += c->out_len;
	c->out_off = 0;
	c->write_until = ev_now(a->loop) + ADMIN_WRITE_TOTAL;
	conn_set_state(c, ADMIN_CONN_WRITING, "request answered");
	ev_io_stop(c->a->loop, &c->io);
	conn_timer(c, ADMIN_WRITE_TIMEOUT);
	conn_flush(c);
}

static void conn_request(struct admin_conn *c)
{
	struct admin *a = c->a;
	struct admin_response r = {0};
	struct admin_route_ctx ctx = {
		.rt = a->rt,
		.ann = a->ann,
		.hooks = &a->hooks,
		.token = a->token,
		.token_len = a->token_len,
		.tcp = c->tcp,
		.token_for_reads = a->rt->conf->global.admin.token_for_reads,
		.peer = c->peer,
		.uptime_s = uptime(a),
		.now_ms = clock_ms(),
	};

	/*
	 * What slow TCP readers can pin is bounded: while the answers they hold reach the
	 * budget, no more is built for TCP (at most the budget and one answer are held).
	 */
	if (c->tcp && a->out_tcp >= ADMIN_OUT_BUDGET_TCP) {
		if (a->busy_refused++ == 0 || a->busy_refused % 1000 == 0)
			log_warn("admin: %zu MiB of answers wait for TCP clients: answering %s 503 "
				 "(%llu so far)",
				a->out_tcp >> 20, c->peer, (unsigned long long)a->busy_refused);
		admin_response_error(
			&r, 503, "busy: answers to other TCP clients are still being read; retry");
	} else {
		admin_route(&ctx, &c->req, &r);
	}
	int lvl = strcmp(c->req.method, "POST") == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
	struct log_field f[] = {LOG_S("method", c->req.method), LOG_S("path", c->req.target),
		LOG_S("from", c->peer), LOG_N("status", r.status)};
	log_event(lvl, "admin", f, 4, "admin: %s %.200s from %s: %d", c->req.method, c->req.target,
		c->peer, r.status);
	conn_respond(c, &r, strcmp(c->req.method, "HEAD") == 0);
}

static void conn_read(struct admin_conn *c)
{
	char buf[ADMIN_READ_CHUNK];

	/* A bounded batch per wake-up: a fast sender cannot keep the loop to itself. */
	for (int round = 0; round < ADMIN_READ_ROUNDS; round++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			conn_close(c, strerror(errno));
			return;
		}
		if (c->state == ADMIN_CONN_LINGERING) {
			if (n == 0) {
				conn_close(c, "done");
				return;
			}
			continue; /* drop what comes after the answer */
		}
		if (n == 0) {
			conn_close(c, "client closed before a whole request");
			return;
		}
		int rc = admin_http_feed(&c->req, buf, (size_t)n, NULL);
		if (rc == 0)
			continue;
		if (rc > 0) {
			conn_request(c);
			return;
		}
		struct admin_response r;
		log_info("admin: refused a request from %s: %d %s", c->peer, c->req.status,
			c->req.why);
		admin_route_error(&c->req, &r);
		conn_respond(c, &r, 0);
		return;
	}
}

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct admin_conn *c = container_of(io, struct admin_conn, io);
	(void)loop;

	if (c->state == ADMIN_CONN_WRITING) {
		if (revents & EV_WRITE)
			conn_flush(c);
		return;
	}
	if (revents & EV_READ)
		conn_read(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct admin_conn *c = container_of(t, struct admin_conn, timer);
	(void)loop;
	(void)revents;

	switch (c->state) {
	case ADMIN_CONN_READING:
		log_info("admin: cut %s: no whole request within %.0f s", c->peer,
			ADMIN_REQUEST_TIMEOUT);
		conn_close(c, "request timeout");
		return;
	case ADMIN_CONN_WRITING:
		if (ev_now(loop) + 0.001 >= c->write_until)
			log_info("admin: cut %s: it did not read the answer within %.0f s (%zu of "
				 "%zu bytes)",
				c->peer, ADMIN_WRITE_TOTAL, c->out_off, c->out_len);
		else
			log_info("admin: cut %s: it stopped reading the answer", c->peer);
		conn_close(c, "write timeout");
		return;
	case ADMIN_CONN_LINGERING:
		conn_close(c, "linger over");
		return;
	}
}

static void conn_new(
	struct admin *a, struct admin_listener *l, int fd, const struct sockaddr *sa, socklen_t len)
{
	int tcp = l->tcp;

	struct admin_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return;
	}
	c->a = a;
	c->l = l;
	c->fd = fd;
	c->tcp = tcp;
	c->state = ADMIN_CONN_READING;
	if (tcp) {
		struct addr peer;
		addr_from_sockaddr(&peer, sa, len);
		addr_format(&peer, c->peer, sizeof(c->peer));
	} else {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			snprintf(c->peer, sizeof(c->peer), "unix pid %ld uid %lu", (long)cred.pid,
				(unsigned long)cred.uid);
		else
			snprintf(c->peer, sizeof(c->peer), "unix");
	}
	admin_http_init(&c->req);
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	ev_timer_init(&c->timer, conn_timer_cb, ADMIN_REQUEST_TIMEOUT, 0);
	c->next = a->conns;
	if (a->conns != NULL)
		a->conns->prev = c;
	a->conns = c;
	l->nconns++;
	ev_io_start(a->loop, &c->io);
	/* One deadline for the whole request, never pushed back by a trickle of bytes. */
	ev_timer_start(a->loop, &c->timer);
}

/* ---- listeners ---- */

static void listener_set(struct admin *a, struct admin_listener *l, int on)
{
	if (l->fd < 0)
		return;
	if (on)
		ev_io_start(a->loop, &l->io);
	else
		ev_io_stop(a->loop, &l->io);
}

/* Each listener accepts unless its connection cap is reached or fds ran out a moment ago. */
static void listener_update(struct admin *a, struct admin_listener *l)
{
	int full = l->nconns >= l->max;

	if (l->fd < 0)
		return;
	if (full && !l->full)
		log_warn("admin: %u connections open on the %s listener: not accepting more there "
			 "for now",
			l->max, l->tcp ? "TCP" : "unix");
	l->full = full;
	listener_set(a, l, !full && !a->out_of_fds);
}

static void listeners_update(struct admin *a)
{
	listener_update(a, &a->ul);
	listener_update(a, &a->tl);
}

static void pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct admin *a = container_of(t, struct admin, pause);
	(void)loop;
	(void)revents;

	a->out_of_fds = 0;
	listeners_update(a);
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct admin_listener *l = container_of(io, struct admin_listener, io);
	struct admin *a = l->a;
	(void)loop;
	(void)revents;

	for (int i = 0; i < ADMIN_ACCEPT_BATCH && l->nconns < l->max; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_warn("admin: accept: %s; pausing for %.0f s", strerror(errno),
				ADMIN_PAUSE);
			a->out_of_fds = 1;
			ev_timer_stop(a->loop, &a->pause);
			ev_timer_set(&a->pause, ADMIN_PAUSE, 0);
			ev_timer_start(a->loop, &a->pause);
			break;
		}
		conn_new(a, l, fd, (struct sockaddr *)&ss, len);
	}
	listeners_update(a);
}

/* Creates every missing directory above path, 0755. */
static int make_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int err = errno;
			log_error("admin: cannot create directory %s: %s", dir, strerror(err));
			return -err;
		}
		*p = '/';
	}
	return 0;
}

/* A socket file at path: -EADDRINUSE if a live process answers on it, else removed. */
static int clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("admin: %s exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
		log_error("admin: %s is in use by a running process (another anylb?)", path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		log_error("admin: cannot tell whether %s is in use: %s", path, strerror(err));
		return -err;
	}
	log_info("admin: removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* The unix listener fd at path (st: the file) is a's; on failure it is closed (and the file
 * removed when ours). */
static int keep_unix(struct admin *a, const char *path, int fd, const struct stat *st, int ours)
{
	a->sock_path = strdup(path);
	if (a->sock_path == NULL) {
		close(fd);
		if (ours)
			unlink(path);
		return -ENOMEM;
	}
	a->sock_dev = st->st_dev;
	a->sock_ino = st->st_ino;
	a->ul.fd = fd;
	return 0;
}

/*
 * The socket an upgrade handed over: listen() again, so that a client's SO_PEERCRED names this
 * process, not the one that bound it (the kernel records the listener's credentials then).
 */
static int adopt_unix(struct admin *a, const char *path, int fd)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || listen(fd, ADMIN_BACKLOG) < 0) {
		int rc = -errno;
		log_error("admin: the inherited socket %s is gone: %s", path,
			rc != 0 ? strerror(-rc) : "not a socket");
		close(fd);
		return rc != 0 ? rc : -ENOTSOCK;
	}
	return keep_unix(a, path, fd, &st, 0);
}

static int listen_unix(struct admin *a, const char *path, struct inherited *in)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG; /* conf/ refuses it already */
	int ifd = inherited_take_unix(in, path);
	if (ifd >= 0)
		return adopt_unix(a, path, ifd);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((rc = make_parents(path)) < 0 || (rc = clear_stale(path, &sun)) < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		log_error("admin: cannot bind %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	/* Until listen() nobody can connect, so the mode is right before anyone can. */
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0 || listen(fd, ADMIN_BACKLOG) < 0) {
		rc = -errno;
		log_error("admin: cannot set up %s: %s", path, strerror(-rc));
		close(fd);
		unlink(path);
		return rc;
	}
	return keep_unix(a, path, fd, &st, 1);
}

static int listen_tcp(struct admin *a, const struct conf_admin *ca, struct inherited *in)
{
	int one = 1, rc;
	int fd = inherited_take(in, INHERITED_ADMIN_TCP, &ca->listen_addr);

	if (fd >= 0) {
		a->tl.fd = fd;
		return 0;
	}
	fd = socket(ca->listen_addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		(ca->listen_addr.sa.sa_family == AF_INET6 &&
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
		bind(fd, &ca->listen_addr.sa, ca->listen_addr.len) < 0 ||
		listen(fd, ADMIN_BACKLOG) < 0) {
		rc = -errno;
		log_error("admin: cannot listen on %s: %s", ca->listen, strerror(-rc));
		close(fd);
		return rc;
	}
	a->tl.fd = fd;
	return 0;
}

/* Reads the bearer token (lb/admin_token.c), warning when others may read it. */
static int read_token(struct admin *a, const char *path)
{
	char why[512];
	mode_t mode = 0;
	int rc = admin_token_read(path, &a->token, &a->token_len, &mode, why, sizeof(why));

	if (rc < 0) {
		log_error("admin: %s", why);
		return rc;
	}
	if ((mode & 0077) != 0)
		log_warn("admin: token file %s can be read by other users (mode %03o)", path,
			(unsigned)(mode & 0777));
	return 0;
}

/* ---- the redundancy watch ---- */

static void red_warn(const struct lb_service *svc, const struct redundancy_report *r)
{
	const char *name = svc->conf->name;

	if (r->domains == 0)
		log_warn("service %s: redundancy N+0: no ready backend", name);
	else if (r->overloaded)
		log_warn("service %s: redundancy N+0: %llu sessions are more than its ready "
			 "backends can carry (%llu)",
			name, (unsigned long long)r->load, (unsigned long long)r->capacity);
	else if (r->domains == 1)
		log_warn("service %s: redundancy N+0: all its ready backends are in one failure "
			 "domain (%s%s)",
			name, r->largest_zone != NULL ? "zone " : "one backend without a zone",
			r->largest_zone != NULL ? r->largest_zone : "");
	else
		log_warn("service %s: redundancy N+0: losing %s%s (capacity %llu) would leave "
			 "%llu for %llu sessions",
			name, r->largest_zone != NULL ? "zone " : "a backend without a zone",
			r->largest_zone != NULL ? r->largest_zone : "",
			(unsigned long long)r->largest,
			(unsigned long long)(r->capacity - r->largest),
			(unsigned long long)r->load);
}

static void red_check(struct admin *a, uint64_t now_ms)
{
	for (size_t i = 0; i < a->rt->nservices && i < a->nred; i++) {
		const struct lb_service *svc = &a->rt->services[i];
		struct admin_red *w = &a->red[i];
		struct redundancy_report r;
		char text[16];

		if (status_redundancy(svc, &r) < 0)
			continue;
		if (r.k == 0) {
			w->ok_since_ms = 0;
			if (!w->warned)
				red_warn(svc, &r);
			w->warned = 1;
			continue;
		}
		if (!w->warned)
			continue;
		if (w->ok_since_ms == 0)
			w->ok_since_ms = now_ms;
		if (now_ms - w->ok_since_ms >= ADMIN_RECOVER_MS) {
			log_info("service %s: redundancy back to %s", svc->conf->name,
				redundancy_text(&r, text, sizeof(text)));
			w->warned = 0;
			w->ok_since_ms = 0;
		}
	}
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct admin *a = container_of(t, struct admin, tick);
	(void)loop;
	(void)revents;

	red_check(a, clock_ms());
}

/* ---- life cycle ---- */

void admin_set_runtime(struct admin *a, struct lb_runtime *rt)
{
	struct admin_red *red = calloc(rt->nservices ? rt->nservices : 1, sizeof(*red));

	/* Redundancy warnings already given stay given for the services that remain. */
	for (size_t i = 0; red != NULL && i < rt->nservices; i++) {
		const struct lb_service *prev = runtime_service_by_state(a->rt, rt->services[i].st);
		if (prev != NULL && prev->index < a->nred)
			red[i] = a->red[prev->index];
	}
	if (red == NULL) {
		log_error("admin: out of memory: redundancy warnings start over");
		red = a->red;
		memset(red, 0, sizeof(*red) * (a->rt->nservices ? a->rt->nservices : 1));
		if (rt->nservices > a->rt->nservices) {
			a->rt = rt; /* red too short: no redundancy warnings until next reload */
			a->nred = 0;
			return;
		}
	} else {
		free(a->red);
	}
	a->red = red;
	a->nred = rt->nservices;
	a->rt = rt;
}

struct admin *admin_new(struct ev_loop *loop, struct lb_runtime *rt, struct announcer *ann,
	const struct admin_hooks *hooks, int *err)
{
	const struct conf_admin *ca = &rt->conf->global.admin;
	int rc = -ENOMEM;

	*err = 0;
	if (!ca->enabled) {
		log_info("admin: switched off (global.admin.enabled: false)");
		return NULL;
	}
	struct admin *a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto fail;
	a->loop = loop;
	a->rt = rt;
	a->ann = ann;
	if (hooks != NULL)
		a->hooks = *hooks;
	a->hooks.inherited = NULL; /* only admin_new takes from it */
	if (hooks != NULL)
		a->hooks.inherited = hooks->inherited;
	a->ul = (struct admin_listener){.a = a, .fd = -1, .tcp = 0, .max = ADMIN_MAX_CONNS_UNIX};
	a->tl = (struct admin_listener){.a = a, .fd = -1, .tcp = 1, .max = ADMIN_MAX_CONNS_TCP};
	/* From here on admin_free() can take it back, however far it got. */
	ev_timer_init(&a->pause, pause_cb, ADMIN_PAUSE, 0);
	ev_timer_init(&a->tick, tick_cb, ADMIN_TICK, ADMIN_TICK);
	a->start_boot = process_start();
	a->red = calloc(rt->nservices ? rt->nservices : 1, sizeof(*a->red));
	a->nred = rt->nservices;
	if (a->red == NULL)
		goto fail;
	if (ca->listen != NULL && (rc = read_token(a, ca->token_file)) < 0)
		goto fail;
	if ((rc = listen_unix(a, ca->socket, a->hooks.inherited)) < 0)
		goto fail;
	ev_io_init(&a->ul.io, accept_cb, a->ul.fd, EV_READ);
	if (ca->listen != NULL && (rc = listen_tcp(a, ca, a->hooks.inherited)) < 0)
		goto fail;
	if (a->tl.fd >= 0)
		ev_io_init(&a->tl.io, accept_cb, a->tl.fd, EV_READ);
	ev_timer_start(loop, &a->tick);
	a->hooks.inherited = NULL;
	listeners_update(a);
	log_info("admin: listening on %s%s%s", ca->socket, ca->listen ? " and " : "",
		ca->listen ? ca->listen : "");
	return a;
fail:
	if (rc == -ENOMEM)
		log_error("admin: out of memory");
	*err = rc;
	admin_free(a);
	return NULL;
}

int admin_dup_listeners(const struct admin *a, int *unix_fd, int *tcp_fd)
{
	*unix_fd = *tcp_fd = -1;
	if (a == NULL || a->handed_over)
		return 0;
	if (a->ul.fd >= 0 && (*unix_fd = fcntl(a->ul.fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	if (a->tl.fd >= 0 && (*tcp_fd = fcntl(a->tl.fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		int rc = -errno;
		close(*unix_fd);
		*unix_fd = -1;
		return rc;
	}
	return 0;
}

void admin_handed_over(struct admin *a)
{
	if (a == NULL || a->handed_over)
		return;
	a->handed_over = 1;
	listener_set(a, &a->ul, 0);
	listener_set(a, &a->tl, 0);
	if (a->ul.fd >= 0) {
		close(a->ul.fd);
		a->ul.fd = -1;
	}
	if (a->tl.fd >= 0) {
		close(a->tl.fd);
		a->tl.fd = -1;
	}
	log_info("admin: the successor answers on %s from now on", a->sock_path);
}

/* Also takes back a half-built admin from admin_new(): nothing started, no connection yet. */
void admin_free(struct admin *a)
{
	struct stat st;

	if (a == NULL)
		return;
	while (a->conns != NULL)
		conn_close(a->conns, "shutting down");
	ev_timer_stop(a->loop, &a->tick);
	ev_timer_stop(a->loop, &a->pause);
	listener_set(a, &a->ul, 0);
	listener_set(a, &a->tl, 0);
	if (a->ul.fd >= 0) {
		close(a->ul.fd);
		a->ul.fd = -1;
		/* Only our own socket: a newer process may have taken the path over. */
		if (!a->handed_over && stat(a->sock_path, &st) == 0 && st.st_dev == a->sock_dev &&
			st.st_ino == a->sock_ino)
			unlink(a->sock_path);
	}
	if (a->tl.fd >= 0) {
		close(a->tl.fd);
		a->tl.fd = -1;
	}
	if (a->token != NULL)
		explicit_bzero(a->token, a->token_len);
	free(a->token);
	free(a->sock_path);
	free(a->red);
	free(a);
}
