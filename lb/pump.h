/*
 * DOC: the byte pump
 *
 * One function moves bytes in one direction of a session, src socket to dst socket, and the
 * session calls it for both directions: nginx's symmetric ngx_stream_proxy_process(), on splice.
 *
 * Bytes travel through a pipe with splice(2), so they never enter user space. A direction holds
 * a pipe only while bytes are in flight: once the pipe is empty it goes back to the worker's
 * pool, so an idle session costs two sockets and no buffer. When pipes cannot be had (fd limit)
 * or splice is refused, a direction falls back to a fixed heap buffer from the same pool.
 *
 * Back-pressure: a direction reads from src only while its pipe or buffer has room; when dst does
 * not drain, the pipe fills, reading stops, the kernel's receive window closes, and the fast
 * sender slows down. Memory per session is bounded by two pipes (or two buffers).
 */
#ifndef ANYLB_LB_PUMP_H
#define ANYLB_LB_PUMP_H

#include <stddef.h>
#include <stdint.h>

/* Bytes one pipe or fallback buffer holds: the kernel's default pipe size. */
#define PUMP_CAP (64 * 1024)

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

/* One direction's state. Zero-initialise, then pump_half_init(). */
struct pump_half {
	int pipe[2];  /* [0] read end, [1] write end; -1 when no pipe is held */
	char *buf;    /* fallback storage, NULL when none is held */
	uint32_t off; /* buffer mode: first unsent byte */
	uint32_t len; /* bytes held (in the pipe or from buf + off) */
	uint8_t src_eof;  /* src sent FIN */
	uint8_t dst_shut; /* FIN passed on to dst */
	uint8_t full;     /* the pipe refused more: wait for dst to drain before reading again */
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
 * src's FIN on with shutdown(dst, SHUT_WR) once everything before it is delivered.
 * Returns bytes moved (>= 0), or a negative errno. On error *src_side tells whether reading
 * src (1) or writing dst (0) failed. Storage left empty goes back to the pool.
 */
long pump_move(struct pump_pool *pool, struct pump_half *h, int src, int dst, size_t budget,
	int *src_side);

/* Gives back whatever the half holds (pipe, buffer) to the pool, discarding bytes in it. */
void pump_half_release(struct pump_pool *pool, struct pump_half *h);

#endif
