/*
 * DOC: the byte pump
 *
 * One function moves bytes in one direction of a session, src socket to dst socket, and the
 * session calls it for both directions: nginx's symmetric ngx_stream_proxy_process(), on splice.
 *
 * Two ways to move bytes, chosen per direction by what it carries. Small exchanges (requests,
 * responses, interactive traffic) go through a buffer with read(2) and send(2): two syscalls a
 * message, and for a few hundred bytes a copy costs less than splice's page bookkeeping. Bulk
 * goes through a pipe with splice(2), so the bytes never enter user space: a read that brings
 * PUMP_SPLICE_ABOVE bytes or more switches the direction to splice, a splice into an empty pipe
 * that brings less than PUMP_COPY_BELOW switches it back. When pipes cannot be had (fd limit) or
 * splice is refused, a direction stays with buffers.
 *
 * A direction holds a pipe or a buffer only while bytes are in flight: once it is empty it goes
 * back to the worker's pool, so an idle session costs two sockets and no buffer.
 *
 * Back-pressure: a direction reads from src only while its pipe or buffer has room; when dst does
 * not drain, the pipe fills, reading stops, the kernel's receive window closes, and the fast
 * sender slows down. Memory per session is bounded by two pipes (or two buffers).
 *
 * Bytes and FIN in one segment: when src's FIN is already queued behind its last bytes (a
 * server that answers and closes), the pump learns it before it writes, sends those bytes with
 * MSG_MORE and lets the shutdown(2) (or the caller's close(2)) carry them out with the FIN: one
 * packet less per connection, and one ACK less back. It learns it from TCP_INQ, which the
 * caller turns on for src (h->inq): a read then says how much is still queued, and a FIN counts
 * as queued.
 */
#ifndef ANYLB_LB_PUMP_H
#define ANYLB_LB_PUMP_H

#include <stddef.h>
#include <stdint.h>

/* Bytes one pipe or buffer holds: the kernel's default pipe size. */
#define PUMP_CAP (64 * 1024)
/* A read of at least this many bytes means bulk: the direction switches to splice. */
#define PUMP_SPLICE_ABOVE (16 * 1024)
/* A splice into an empty pipe that brings less than this: back to read/send. */
#define PUMP_COPY_BELOW (4 * 1024)

/*
 * A worker's store of empty pipes and buffers, used by that worker's thread only. Idle
 * storage is kept up to a bound so bursts do not pay for pipe2(2) and close(2).
 */
struct pump_pool {
	int (*pipes)[2];
	size_t npipes, cap_pipes;
	char **bufs;
	size_t nbufs, cap_bufs;
	int splice_broken; /* splice refused once: use buffers from now on */
	uint64_t pipes_created, pipe_failures;
};

int pump_pool_init(struct pump_pool *pool, size_t keep);
void pump_pool_destroy(struct pump_pool *pool);

/*
 * Gives back idle storage after a burst: closes half of the idle pipes (and frees half of the
 * idle buffers) above floor. Called periodically, it shrinks the pool to floor within a few
 * calls once the burst is over, so a worker does not hold 2 * keep fds for good.
 */
void pump_pool_trim(struct pump_pool *pool, size_t floor);

/* One direction's state. Zero-initialise, then pump_half_init(). */
struct pump_half {
	int pipe[2];      /* [0] read end, [1] write end; -1 when no pipe is held */
	char *buf;        /* buffer storage, NULL when none is held */
	uint32_t off;     /* buffer mode: first unsent byte */
	uint32_t len;     /* bytes held (in the pipe or from buf + off) */
	uint8_t src_eof;  /* src sent FIN */
	uint8_t dst_shut; /* FIN passed on to dst (or left to close(2): see pump_move) */
	uint8_t full;     /* the pipe refused more: wait for dst to drain before reading again */
	uint8_t bulk;     /* the next storage taken is a pipe (splice), not a buffer */
	uint8_t inq;      /* src has TCP_INQ: a read says whether more (or a FIN) is queued */
};

void pump_half_init(struct pump_half *h);

/* Returns what the half is waiting for: PUMP_WANT_READ on src, PUMP_WANT_WRITE on dst. */
#define PUMP_WANT_READ  1
#define PUMP_WANT_WRITE 2
int pump_wants(const struct pump_half *h);

/* True once src's FIN has been passed to dst: nothing more will flow this way. */
static inline int pump_done(const struct pump_half *h)
{
	return h->dst_shut;
}

/*
 * Moves what it can from src to dst without blocking, at most about `budget` bytes, and passes
 * src's FIN on with shutdown(dst, SHUT_WR) once everything before it is delivered. `last` says
 * the other direction is done and the caller closes both sockets as soon as this one is: then
 * the FIN is left to close(2) and only marked passed (pump_done() turns true either way). The
 * last bytes before a FIN are sent with MSG_MORE, so with `last` they too leave only at that
 * close(2): the caller must close at once.
 * Returns bytes moved (>= 0), or a negative errno. On error *src_side tells whether reading
 * src (1) or writing dst (0) failed. *moved gets the bytes delivered to dst by this call either
 * way: an error can end a call that moved bytes first. Storage left empty goes back to the pool.
 */
long pump_move(struct pump_pool *pool, struct pump_half *h, int src, int dst, size_t budget,
	int last, int *src_side, size_t *moved);

/* Gives back whatever the half holds (pipe, buffer) to the pool, discarding bytes in it. */
void pump_half_release(struct pump_pool *pool, struct pump_half *h);

#endif
