/*
 * DOC: BIRD control-socket client: the connection state machine
 *
 * One connection, one command in flight (BIRD answers in order; birdc does the same). The
 * states, set only by bc_set_state, which logs each change with its reason:
 *
 *   bird_client_new()
 *         |
 *         v
 *   +-> CONNECTING ---- refused, no socket, error, timeout ------+
 *   |     |                                                      |
 *   |     | connected (at once, or writable with SO_ERROR 0)     |
 *   |     v                                                      v
 *   |   GREETING ------ no `0001`, EOF, error, timeout -------> WAIT --+
 *   |     |                                                      ^     |
 *   |     | `0001 ...`: on_state(1)                              |     |
 *   |     v                                                      |     |
 *   |   READY --------- EOF, error, unexpected line -------------+     |
 *   |    |  ^                                                    |     |
 *   |    |  | last line: reply delivered                         |     |
 *   |    v  |                                                    |     |
 *   |   BUSY ---------- EOF, error, timeout, unparsable line, ---+     |
 *   |    (command        reply over reply_max                          |
 *   |     queued)                                                      |
 *   +------------------------ back-off timer --------------------------+
 *
 * Every way out of a connection goes through bc_close(c, reason): it closes the fd (the client
 * owns exactly one), arms the back-off timer (100 ms doubling to 5 s, like BIRD's BGP `error wait
 * time`; reset by a greeting), calls on_state(0) if the connection had been greeted, and gives NULL
 * to every queued command.
 *
 * Callbacks run only from libev callbacks (or from bird_client_free, as its contract says), so
 * bird_client_send and bird_client_new never call back. A callback may free the client: every
 * libev entry point holds c->depth, bird_client_free under depth only marks the client dying, and
 * the memory goes when the outermost entry point leaves; code that runs after a callback checks
 * c->dying, and c->gen (bumped by each close) to stop reading lines of a connection now gone.
 *
 * Timeouts, per the libev manual's advice: one ev_timer per client, armed for the greeting and
 * for each command (from when it is sent), never touched per byte. A hung BIRD (SIGSTOP, stuck
 * in a long reconfiguration) costs one timeout, then the reconnect loop finds it again.
 *
 * Static helpers carry the short prefix bc_.
 */
#include "bgp/bird_client.h"

#include "bgp/bird_reply.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* One wire line. BIRD formats lines into a 512-byte buffer; anything longer is not BIRD. */
#define BC_LINE_MAX 8192

enum bird_client_state {
	BIRD_CLIENT_WAIT,       /* no connection; the back-off timer runs */
	BIRD_CLIENT_CONNECTING, /* connect() in progress */
	BIRD_CLIENT_GREETING,   /* connected, waiting for `0001` */
	BIRD_CLIENT_READY,      /* greeted, nothing in flight */
	BIRD_CLIENT_BUSY,       /* the head command is being sent or answered */
};

struct bc_cmd {
	struct bc_cmd *next;
	void (*cb)(void *arg, const struct bird_reply *r);
	void *arg;
	size_t len; /* of line, with its '\n' */
	char line[];
};

struct bird_client {
	struct ev_loop *loop;
	char *path;
	void (*on_state)(void *arg, int connected);
	void *arg;

	enum bird_client_state state;
	int fd;
	unsigned gen; /* bumped by every close */
	ev_io rio;
	ev_io wio;
	ev_timer retry;    /* back-off before the next attempt */
	ev_timer deadline; /* connect and greeting, or the head command's answer */
	ev_timer flush;    /* fails commands sent during WAIT, on a later loop iteration */
	double backoff;    /* the next back-off */
	unsigned failures; /* attempts failed in a row, to log the first one louder */

	double timeout;
	double backoff_min;
	double backoff_max;
	size_t reply_max;

	struct bc_cmd *head; /* in flight when BUSY */
	struct bc_cmd **tail;
	size_t queued;
	size_t sent; /* bytes of head->line written */

	char rbuf[BC_LINE_MAX];
	size_t rlen;

	/* The reply being read. */
	char *text;
	size_t tlen;
	size_t tcap;
	size_t nlines;
	int code;
	int first_code;

	int depth; /* > 0 while one of our entry points runs */
	int dying; /* bird_client_free was called */
};

static const char *bc_state_name(enum bird_client_state s)
{
	switch (s) {
	case BIRD_CLIENT_WAIT:
		return "wait";
	case BIRD_CLIENT_CONNECTING:
		return "connecting";
	case BIRD_CLIENT_GREETING:
		return "greeting";
	case BIRD_CLIENT_READY:
		return "ready";
	case BIRD_CLIENT_BUSY:
		return "busy";
	}
	return "?";
}

static void bc_set_state(struct bird_client *c, enum bird_client_state s, const char *reason)
{
	if (c->state != s)
		log_debug("bird %s: %s -> %s (%s)", c->path, bc_state_name(c->state),
			bc_state_name(s), reason);
	c->state = s;
}

static int bc_up(const struct bird_client *c)
{
	switch (c->state) {
	case BIRD_CLIENT_READY:
	case BIRD_CLIENT_BUSY:
		return 1;
	case BIRD_CLIENT_WAIT:
	case BIRD_CLIENT_CONNECTING:
	case BIRD_CLIENT_GREETING:
		return 0;
	}
	return 0;
}

static void bc_enter(struct bird_client *c)
{
	c->depth++;
}

static void bc_leave(struct bird_client *c)
{
	if (--c->depth > 0 || !c->dying)
		return;
	free(c->text);
	free(c->path);
	free(c);
}

static void bc_reply_reset(struct bird_client *c)
{
	free(c->text);
	c->text = NULL;
	c->tlen = 0;
	c->tcap = 0;
	c->nlines = 0;
	c->code = -1;
	c->first_code = -1;
}

/* Releases the connection: the fd, its watchers, its buffers. */
static void bc_close_fd(struct bird_client *c)
{
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->deadline);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->gen++;
	c->rlen = 0;
	c->sent = 0;
	bc_reply_reset(c);
}

/* Gives NULL to every queued command. Commands sent meanwhile stay for the next round. */
static void bc_fail_queue(struct bird_client *c)
{
	struct bc_cmd *list = c->head;

	c->head = NULL;
	c->tail = &c->head;
	c->queued = 0;
	while (list != NULL) {
		struct bc_cmd *cmd = list;

		list = cmd->next;
		cmd->cb(cmd->arg, NULL);
		free(cmd);
	}
}

/* The one way out of a connection (or of an attempt at one). */
static void bc_close(struct bird_client *c, const char *reason)
{
	int was_up = bc_up(c);

	bc_close_fd(c);
	if (was_up)
		log_warn("bird %s: connection lost: %s; reconnecting in %.0fms", c->path, reason,
			c->backoff * 1e3);
	else if (c->failures++ == 0)
		log_warn("bird %s: cannot talk to BIRD: %s; retrying in %.0fms, then less often",
			c->path, reason, c->backoff * 1e3);
	else
		log_debug("bird %s: attempt failed: %s; retrying in %.0fms", c->path, reason,
			c->backoff * 1e3);
	bc_set_state(c, BIRD_CLIENT_WAIT, reason);
	ev_timer_stop(c->loop, &c->retry);
	ev_timer_set(&c->retry, c->backoff, 0.);
	ev_timer_start(c->loop, &c->retry);
	c->backoff *= 2;
	if (c->backoff > c->backoff_max)
		c->backoff = c->backoff_max;
	if (was_up && c->on_state != NULL) {
		c->on_state(c->arg, 0);
		if (c->dying)
			return;
	}
	bc_fail_queue(c);
}

/* Sends the head command if nothing is in flight. Never calls back. */
static void bc_next(struct bird_client *c)
{
	if (c->state != BIRD_CLIENT_READY || c->head == NULL)
		return;
	bc_set_state(c, BIRD_CLIENT_BUSY, "command queued");
	c->sent = 0;
	bc_reply_reset(c);
	ev_timer_set(&c->deadline, c->timeout, 0.);
	ev_timer_start(c->loop, &c->deadline);
	/* Written from the write callback, so that a failing write cannot call back from send. */
	ev_io_start(c->loop, &c->wio);
}

static void bc_connect(struct bird_client *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	bc_set_state(c, BIRD_CLIENT_CONNECTING, "attempt");
	memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bc_close(c, strerror(errno));
		return;
	}
	c->fd = fd;
	ev_io_set(&c->rio, fd, EV_READ);
	ev_io_set(&c->wio, fd, EV_WRITE);
	ev_timer_set(&c->deadline, c->timeout, 0.);
	ev_timer_start(c->loop, &c->deadline);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		bc_set_state(c, BIRD_CLIENT_GREETING, "connected");
		ev_io_start(c->loop, &c->rio);
	} else if (errno == EINPROGRESS) {
		/* Not seen on unix sockets (they answer at once, or EAGAIN on a full backlog). */
		ev_io_start(c->loop, &c->wio);
	} else {
		bc_close(c, strerror(errno));
	}
}

/* Appends one line's text to the reply; -1 when the reply grows past reply_max. */
static int bc_append(struct bird_client *c, const struct bird_line *bl)
{
	size_t sep = c->nlines > 0 ? 1 : 0;
	size_t need;

	if (bl->code >= 0) {
		if (c->first_code < 0)
			c->first_code = bl->code;
		c->code = bl->code;
	}
	if (bl->last && bl->len == 0)
		return 0; /* the `0000 ` that closes most replies */
	need = c->tlen + sep + bl->len;
	if (need > c->reply_max)
		return -1;
	if (need + 1 > c->tcap) {
		size_t cap = c->tcap > 0 ? c->tcap : 1024;
		char *t;

		while (cap < need + 1)
			cap *= 2;
		if (cap > c->reply_max + 1)
			cap = c->reply_max + 1;
		t = realloc(c->text, cap);
		if (t == NULL)
			return -1;
		c->text = t;
		c->tcap = cap;
	}
	if (sep)
		c->text[c->tlen++] = '\n';
	memcpy(c->text + c->tlen, bl->text, bl->len);
	c->tlen += bl->len;
	c->text[c->tlen] = '\0';
	c->nlines++;
	return 0;
}

static void bc_deliver(struct bird_client *c)
{
	struct bc_cmd *cmd = c->head;
	char empty[1] = "";
	struct bird_reply r = {
		.code = c->code,
		.first_code = c->first_code,
		.text = c->text != NULL ? c->text : empty,
		.len = c->tlen,
	};
	char *text = c->text;

	c->head = cmd->next;
	if (c->head == NULL)
		c->tail = &c->head;
	c->queued--;
	c->text = NULL;
	bc_reply_reset(c);
	ev_timer_stop(c->loop, &c->deadline);
	bc_set_state(c, BIRD_CLIENT_READY, "answered");
	cmd->cb(cmd->arg, &r);
	free(cmd);
	free(text);
	if (!c->dying)
		bc_next(c);
}

static void bc_greeted(struct bird_client *c)
{
	ev_timer_stop(c->loop, &c->deadline);
	c->backoff = c->backoff_min;
	c->failures = 0;
	bc_set_state(c, BIRD_CLIENT_READY, "greeted");
	log_info("bird %s: connected", c->path);
	if (c->on_state != NULL) {
		c->on_state(c->arg, 1);
		if (c->dying)
			return;
	}
	bc_next(c);
}

static void bc_line(struct bird_client *c, const char *l, size_t n)
{
	struct bird_line bl;

	if (bird_line_parse(l, n, &bl) < 0) {
		bc_close(c, "unparsable line");
		return;
	}
	if (bl.code == BIRD_LINE_ASYNC) {
		log_debug("bird %s: message: %.*s", c->path, (int)bl.len, bl.text);
		return;
	}
	switch (c->state) {
	case BIRD_CLIENT_GREETING:
		if (bl.code != 1 || !bl.last) {
			bc_close(c, "no 0001 greeting");
			return;
		}
		bc_greeted(c);
		return;
	case BIRD_CLIENT_BUSY:
		if (c->sent < c->head->len) {
			bc_close(c, "answer before the command was sent");
			return;
		}
		if (bc_append(c, &bl) < 0) {
			char why[64];

			snprintf(why, sizeof(why), "reply over %zu bytes", c->reply_max);
			bc_close(c, why);
			return;
		}
		if (bl.last)
			bc_deliver(c);
		return;
	case BIRD_CLIENT_READY:
		bc_close(c, "unexpected line while idle");
		return;
	case BIRD_CLIENT_WAIT:
	case BIRD_CLIENT_CONNECTING:
		return; /* not reading then */
	}
}

/* Handles every complete line in rbuf; stops when a callback closed or freed the client. */
static void bc_lines(struct bird_client *c)
{
	unsigned gen = c->gen;
	size_t off = 0;

	for (;;) {
		char *nl = memchr(c->rbuf + off, '\n', c->rlen - off);
		size_t n;

		if (nl == NULL)
			break;
		n = (size_t)(nl - (c->rbuf + off));
		bc_line(c, c->rbuf + off, n);
		if (c->dying || c->gen != gen)
			return;
		off += n + 1;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	if (c->rlen == sizeof(c->rbuf))
		bc_close(c, "line too long");
}

static void bc_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bird_client *c = container_of(w, struct bird_client, rio);
	ssize_t n;

	(void)loop;
	(void)revents;
	bc_enter(c);
	n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	if (n == 0) {
		bc_close(c, "closed by BIRD");
	} else if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			bc_close(c, strerror(errno));
	} else {
		c->rlen += (size_t)n;
		bc_lines(c);
	}
	bc_leave(c);
}

static void bc_write(struct bird_client *c)
{
	struct bc_cmd *cmd = c->head;
	ssize_t n = send(c->fd, cmd->line + c->sent, cmd->len - c->sent, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			bc_close(c, strerror(errno));
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == cmd->len)
		ev_io_stop(c->loop, &c->wio);
}

static void bc_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bird_client *c = container_of(w, struct bird_client, wio);
	int err = 0;
	socklen_t elen = sizeof(err);

	(void)revents;
	bc_enter(c);
	switch (c->state) {
	case BIRD_CLIENT_CONNECTING:
		ev_io_stop(loop, &c->wio);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err != 0) {
			bc_close(c, strerror(err));
			break;
		}
		bc_set_state(c, BIRD_CLIENT_GREETING, "connected");
		ev_io_start(loop, &c->rio);
		break;
	case BIRD_CLIENT_BUSY:
		bc_write(c);
		break;
	case BIRD_CLIENT_WAIT:
	case BIRD_CLIENT_GREETING:
	case BIRD_CLIENT_READY:
		ev_io_stop(loop, &c->wio);
		break;
	}
	bc_leave(c);
}

static void bc_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bird_client *c = container_of(w, struct bird_client, retry);

	(void)loop;
	(void)revents;
	bc_enter(c);
	bc_connect(c);
	bc_leave(c);
}

static void bc_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bird_client *c = container_of(w, struct bird_client, deadline);
	char why[80];

	(void)loop;
	(void)revents;
	bc_enter(c);
	snprintf(why, sizeof(why), "%s within %.1fs",
		c->state == BIRD_CLIENT_BUSY ? "no answer" : "no greeting", c->timeout);
	bc_close(c, why);
	bc_leave(c);
}

static void bc_flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bird_client *c = container_of(w, struct bird_client, flush);

	(void)loop;
	(void)revents;
	bc_enter(c);
	if (c->state == BIRD_CLIENT_WAIT)
		bc_fail_queue(c);
	bc_leave(c);
}

struct bird_client *bird_client_new(struct ev_loop *loop, const char *socket_path,
	void (*on_state)(void *arg, int connected), void *arg)
{
	struct sockaddr_un sun;
	struct bird_client *c;

	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->path = strdup(socket_path);
	if (c->path == NULL) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->loop = loop;
	c->on_state = on_state;
	c->arg = arg;
	c->fd = -1;
	c->tail = &c->head;
	c->timeout = BIRD_CLIENT_TIMEOUT;
	c->backoff_min = BIRD_CLIENT_BACKOFF_MIN;
	c->backoff_max = BIRD_CLIENT_BACKOFF_MAX;
	c->backoff = c->backoff_min;
	c->reply_max = BIRD_CLIENT_REPLY_MAX;
	c->state = BIRD_CLIENT_WAIT;
	c->code = -1;
	c->first_code = -1;
	ev_io_init(&c->rio, bc_read_cb, -1, EV_READ);
	ev_io_init(&c->wio, bc_write_cb, -1, EV_WRITE);
	ev_timer_init(&c->retry, bc_retry_cb, 0., 0.);
	ev_timer_init(&c->deadline, bc_deadline_cb, 0., 0.);
	ev_timer_init(&c->flush, bc_flush_cb, 0., 0.);
	/* Safe to try at once: with no command queued and nothing greeted, failing calls nobody. */
	bc_enter(c);
	bc_connect(c);
	bc_leave(c);
	return c;
}

int bird_client_send(struct bird_client *c, const char *cmd,
	void (*cb)(void *arg, const struct bird_reply *r), void *arg)
{
	size_t len = strlen(cmd);
	struct bc_cmd *q;

	if (len == 0 || len > BIRD_CLIENT_CMD_MAX || memchr(cmd, '\n', len) != NULL ||
		memchr(cmd, '\r', len) != NULL || cb == NULL)
		return -EINVAL;
	if (c->dying)
		return -ESHUTDOWN;
	if (c->queued >= BIRD_CLIENT_QUEUE_MAX)
		return -ENOBUFS;
	q = malloc(sizeof(*q) + len + 1);
	if (q == NULL)
		return -ENOMEM;
	q->next = NULL;
	q->cb = cb;
	q->arg = arg;
	q->len = len + 1;
	memcpy(q->line, cmd, len);
	q->line[len] = '\n';
	*c->tail = q;
	c->tail = &q->next;
	c->queued++;
	switch (c->state) {
	case BIRD_CLIENT_READY:
		bc_next(c);
		break;
	case BIRD_CLIENT_WAIT:
		if (!ev_is_active(&c->flush)) {
			ev_timer_set(&c->flush, 0., 0.);
			ev_timer_start(c->loop, &c->flush);
		}
		break;
	case BIRD_CLIENT_CONNECTING:
	case BIRD_CLIENT_GREETING:
	case BIRD_CLIENT_BUSY:
		break; /* its turn comes */
	}
	return 0;
}

int bird_client_connected(const struct bird_client *c)
{
	return bc_up(c);
}

void bird_client_tune(struct bird_client *c, double timeout, double backoff_min, double backoff_max,
	size_t reply_max)
{
	if (timeout > 0) {
		c->timeout = timeout;
		if (ev_is_active(&c->deadline)) {
			ev_timer_stop(c->loop, &c->deadline);
			ev_timer_set(&c->deadline, timeout, 0.);
			ev_timer_start(c->loop, &c->deadline);
		}
	}
	if (backoff_min > 0) {
		c->backoff_min = backoff_min;
		if (c->failures == 0)
			c->backoff = backoff_min;
	}
	if (backoff_max > 0)
		c->backoff_max = backoff_max;
	if (c->backoff > c->backoff_max)
		c->backoff = c->backoff_max;
	if (reply_max > 0)
		c->reply_max = reply_max;
}

void bird_client_free(struct bird_client *c)
{
	if (c == NULL || c->dying)
		return;
	c->dying = 1;
	bc_enter(c);
	bc_close_fd(c);
	ev_timer_stop(c->loop, &c->retry);
	ev_timer_stop(c->loop, &c->flush);
	bc_fail_queue(c);
	bc_leave(c);
}
