/*
 * DOC: the byte pump
 *
 * A pipe that splice(2) filled from a socket can refuse more data before PUMP_CAP bytes are in
 * it (each skb fragment takes a pipe slot), so EAGAIN from the filling splice is ambiguous while
 * the pipe holds bytes: "socket empty" or "pipe full". We treat it as full and stop reading until
 * dst has drained something; reading resumes on the next drain, so nothing is lost either way,
 * and a level-triggered readable socket never makes the loop spin.
 *
 * A read(2) that returns less than the room it was given has emptied the socket (a stream
 * socket hands over everything it has queued, up to the room), so the pump does not read again
 * in the same call just to collect EAGAIN: the loop is level-triggered and wakes us when more
 * comes. That saves one syscall per message and direction, a third of the small-exchange cost.
 * A short splice(2) proves nothing (the pipe can run out of slots first), so there the pump
 * reads until EAGAIN as before, except right after a demotion to buffers.
 *
 * With h->inq the read is a recvmsg(2) whose TCP_CM_INQ says what is still queued after it; a
 * short read that leaves something queued is a FIN right behind the bytes (or bytes that came
 * meanwhile), so the pump reads again before it writes: the read that returns 0 comes in the
 * same call, and the bytes go out with MSG_MORE, ahead of the FIN. It costs nothing when no
 * FIN is queued: the one read is all there is, as before.
 */
#include "lb/pump.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int pump_pool_init(struct pump_pool *pool, size_t keep)
{
	memset(pool, 0, sizeof(*pool));
	pool->pipes = calloc(keep, sizeof(*pool->pipes));
	pool->bufs = calloc(keep, sizeof(*pool->bufs));
	if (pool->pipes == NULL || pool->bufs == NULL) {
		free(pool->pipes);
		free(pool->bufs);
		return -ENOMEM;
	}
	pool->cap_pipes = keep;
	pool->cap_bufs = keep;
	return 0;
}

void pump_pool_destroy(struct pump_pool *pool)
{
	for (size_t i = 0; i < pool->npipes; i++) {
		close(pool->pipes[i][0]);
		close(pool->pipes[i][1]);
	}
	for (size_t i = 0; i < pool->nbufs; i++)
		free(pool->bufs[i]);
	free(pool->pipes);
	free(pool->bufs);
	memset(pool, 0, sizeof(*pool));
}

void pump_half_init(struct pump_half *h)
{
	memset(h, 0, sizeof(*h));
	h->pipe[0] = h->pipe[1] = -1;
}

void pump_pool_trim(struct pump_pool *pool, size_t floor)
{
	/* Half of what is above the floor each call: a burst that comes back soon finds some. */
	size_t keep = pool->npipes > floor ? floor + (pool->npipes - floor) / 2 : pool->npipes;

	while (pool->npipes > keep) {
		pool->npipes--;
		close(pool->pipes[pool->npipes][0]);
		close(pool->pipes[pool->npipes][1]);
	}
	keep = pool->nbufs > floor ? floor + (pool->nbufs - floor) / 2 : pool->nbufs;
	while (pool->nbufs > keep)
		free(pool->bufs[--pool->nbufs]);
}

/* Gets storage for h: a pooled or new pipe for bulk, else a buffer. */
static int acquire(struct pump_pool *pool, struct pump_half *h)
{
	if (h->bulk && !pool->splice_broken) {
		if (pool->npipes > 0) {
			pool->npipes--;
			h->pipe[0] = pool->pipes[pool->npipes][0];
			h->pipe[1] = pool->pipes[pool->npipes][1];
			return 0;
		}
		if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
			pool->pipes_created++;
			return 0;
		}
		/* Out of fds: a buffer costs none. */
		h->pipe[0] = h->pipe[1] = -1;
		pool->pipe_failures++;
	}
	if (pool->nbufs > 0) {
		h->buf = pool->bufs[--pool->nbufs];
	} else {
		h->buf = malloc(PUMP_CAP);
		if (h->buf == NULL)
			return -ENOMEM;
	}
	h->off = 0;
	return 0;
}

void pump_half_release(struct pump_pool *pool, struct pump_half *h)
{
	if (h->pipe[0] >= 0) {
		/* A pipe with bytes left in it cannot be reused by another session. */
		if (h->len == 0 && pool->npipes < pool->cap_pipes) {
			pool->pipes[pool->npipes][0] = h->pipe[0];
			pool->pipes[pool->npipes][1] = h->pipe[1];
			pool->npipes++;
		} else {
			close(h->pipe[0]);
			close(h->pipe[1]);
		}
		h->pipe[0] = h->pipe[1] = -1;
	}
	if (h->buf != NULL) {
		if (pool->nbufs < pool->cap_bufs)
			pool->bufs[pool->nbufs++] = h->buf;
		else
			free(h->buf);
		h->buf = NULL;
	}
	h->len = 0;
	h->off = 0;
	h->full = 0;
}

static int holding(const struct pump_half *h)
{
	return h->pipe[0] >= 0 || h->buf != NULL;
}

static size_t room(const struct pump_half *h)
{
	if (h->buf != NULL)
		return PUMP_CAP - h->off - h->len;
	return PUMP_CAP - h->len;
}

int pump_wants(const struct pump_half *h)
{
	int w = 0;

	if (!h->src_eof && !h->full && (!holding(h) || room(h) > 0))
		w |= PUMP_WANT_READ;
	if (h->len > 0)
		w |= PUMP_WANT_WRITE;
	return w;
}

/* A read into the buffer that also tells, with TCP_INQ on src, whether more is queued. */
static ssize_t read_inq(struct pump_half *h, int src, int *queued)
{
	struct iovec iov = {.iov_base = h->buf + h->off + h->len, .iov_len = room(h)};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg = {.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(src, &msg, 0);

	if (n <= 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ &&
			c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			*queued = v > 0;
		}
	}
	return n;
}

/* *queued is set when src says more is queued (h->inq only); left alone otherwise. */
static ssize_t fill(struct pump_half *h, int src, int *queued)
{
	if (h->buf != NULL && h->inq)
		return read_inq(h, src, queued);
	if (h->buf != NULL)
		return read(src, h->buf + h->off + h->len, room(h));
	return splice(src, NULL, h->pipe[1], NULL, room(h), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static ssize_t drain(struct pump_half *h, int dst)
{
	/* src's FIN is in: the last bytes wait for the shutdown (or close) to carry them. */
	if (h->buf != NULL)
		return send(
			dst, h->buf + h->off, h->len, MSG_NOSIGNAL | (h->src_eof ? MSG_MORE : 0));
	return splice(h->pipe[0], NULL, dst, NULL, h->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

long pump_move(struct pump_pool *pool, struct pump_half *h, int src, int dst, size_t budget,
	int last, int *src_side, size_t *moved_out)
{
	size_t moved = 0;
	long rc;
	int emptied = 0; /* a short read emptied src: no second read this call */

	for (;;) {
		int progress = 0;

		if (!h->src_eof && !h->full && !emptied && (!holding(h) || room(h) > 0)) {
			if (!holding(h) && acquire(pool, h) < 0) {
				*src_side = 1;
				rc = -ENOMEM;
				goto out;
			}
			size_t want = room(h);
			uint32_t before = h->len;
			int queued = 0;
			ssize_t n = fill(h, src, &queued);
			if (n > 0) {
				h->len += (uint32_t)n;
				progress = 1;
				if (h->buf != NULL) {
					emptied = (size_t)n < want && !queued;
					if (n >= PUMP_SPLICE_ABOVE)
						h->bulk = 1;
					/* A FIN (or more) queued: read it first. */
					if ((size_t)n < want && queued)
						continue;
				} else if (before == 0 && n < PUMP_COPY_BELOW) {
					/* Small again: buffers from the next fill on. */
					h->bulk = 0;
					emptied = (size_t)n < want;
				}
			} else if (n == 0) {
				h->src_eof = 1;
				progress = 1;
			} else if (errno == EAGAIN) {
				if (h->len > 0 && h->buf == NULL)
					h->full = 1;
			} else if (errno == EINTR) {
				continue;
			} else if (errno == EINVAL && h->buf == NULL && h->len == 0) {
				/* This kernel or socket refuses splice: buffers from now on. */
				pool->splice_broken = 1;
				pump_half_release(pool, h);
				continue;
			} else {
				*src_side = 1;
				rc = -errno;
				goto out;
			}
		}
		if (h->len > 0) {
			ssize_t n = drain(h, dst);
			if (n > 0) {
				h->len -= (uint32_t)n;
				if (h->buf != NULL)
					h->off = h->len == 0 ? 0 : h->off + (uint32_t)n;
				h->full = 0;
				moved += (size_t)n;
				progress = 1;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else if (n < 0 && errno != EAGAIN) {
				*src_side = 0;
				rc = -errno;
				goto out;
			}
		}
		if (h->len == 0 && holding(h))
			pump_half_release(pool, h);
		if (h->src_eof && h->len == 0 && !h->dst_shut) {
			/*
			 * When the other direction is finished too, the caller closes both sockets
			 * now and close(2) sends the FIN (nothing is left unread on dst, whose own
			 * FIN was read), so a shutdown(2) would be one syscall for nothing.
			 * ENOTCONN here means dst is already gone; the next write reports it.
			 */
			if (!last)
				shutdown(dst, SHUT_WR);
			h->dst_shut = 1;
		}
		if (!progress || moved >= budget)
			break;
	}
	rc = (long)moved;
out:
	/* Bytes delivered before an error count too (the outlier detector asks about them). */
	*moved_out = moved;
	return rc;
}
