/*
 * DOC: unit tests for the byte pump (lb/pump.c)
 *
 * pump_move() is driven over real sockets, with no event loop: a socketpair (or a TCP pair over
 * loopback, where a reset is needed) stands for each side of a session. The writer end of src
 * and the reader end of dst are the test's; the pump reads src and writes dst. Each test checks
 * one promise of lb/pump.h: bytes arrive in order (through buffers and, past PUMP_SPLICE_ABOVE,
 * through pipes), back-pressure keeps bytes instead of losing them, src's FIN is passed on only
 * after everything before it (or left to close(2) with `last`), and an error that ends a call
 * after bytes moved still reports them.
 */
#include "lb/pump.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUDGET (1024 * 1024)

/* The test's end and the pump's end of one side. */
struct side {
	int ours, pumps;
};

static void nonblock(int fd)
{
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static struct side unix_pair(void)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	return (struct side){.ours = sv[0], .pumps = sv[1]};
}

/*
 * A connected TCP pair over 127.0.0.1, both ends non-blocking; rcvbuf (0: the default) sizes the
 * pump's receive buffer.
 */
static struct side tcp_pair_rcvbuf(int rcvbuf)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(lfd, 0);
	/* Set on the listener, so the accepted socket's window is scaled for it. */
	if (rcvbuf > 0)
		cr_assert_eq(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(a, 0);
	close(lfd);
	nonblock(a);
	nonblock(c);
	return (struct side){.ours = c, .pumps = a};
}

static struct side tcp_pair(void)
{
	return tcp_pair_rcvbuf(0);
}

static void close_side(struct side *s)
{
	if (s->ours >= 0)
		close(s->ours);
	if (s->pumps >= 0)
		close(s->pumps);
	s->ours = s->pumps = -1;
}

/* Byte i of the test stream: a pattern that shows any reordering, loss or duplication. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

/* Writes what fits of bytes [*sent, total) of the pattern to fd. */
static void feed(int fd, size_t *sent, size_t total)
{
	unsigned char chunk[8192];

	while (*sent < total) {
		size_t n = total - *sent < sizeof(chunk) ? total - *sent : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(*sent + i);
		ssize_t w = write(fd, chunk, n);
		if (w < 0 && errno == EAGAIN)
			return;
		cr_assert_gt(w, 0, "write: %s", strerror(errno));
		*sent += (size_t)w;
	}
}

/* Reads what is there from fd, checking each byte against the pattern. 1 on EOF. */
static int collect(int fd, size_t *got)
{
	unsigned char chunk[8192];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EAGAIN)
			return 0;
		cr_assert_geq(n, 0, "read: %s", strerror(errno));
		if (n == 0)
			return 1;
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(chunk[i], pattern(*got + (size_t)i), "byte %zu out of order",
				*got + (size_t)i);
		*got += (size_t)n;
	}
}

/* One pump_move() that must not fail; returns the bytes it moved. */
static size_t move_ok(struct pump_pool *pool, struct pump_half *h, int src, int dst, int last)
{
	int src_side = -1;
	size_t moved = 12345;
	long n = pump_move(pool, h, src, dst, BUDGET, last, &src_side, &moved);

	cr_assert_geq(n, 0, "pump_move: %s", strerror((int)-n));
	cr_assert_eq((size_t)n, moved, "the return value and *moved agree without an error");
	return moved;
}

Test(pump, small_messages_arrive_in_order_through_a_buffer)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = unix_pair(), dst = unix_pair();
	const char *msgs[] = {"GET / HTTP/1.1\r\n", "Host: x\r\n", "\r\n"};
	char got[64] = {0};
	size_t off = 0;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	cr_expect_eq(pump_wants(&h), PUMP_WANT_READ, "an idle half waits for src");
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);
		cr_assert_eq(write(src.ours, msgs[i], len), (ssize_t)len);
		cr_expect_eq(move_ok(&pool, &h, src.pumps, dst.pumps, 0), len);
		ssize_t n = read(dst.ours, got + off, sizeof(got) - 1 - off);
		cr_assert_eq(n, (ssize_t)len);
		off += (size_t)n;
		cr_expect_eq(h.len, 0);
		cr_expect_null(h.buf, "an empty half holds no buffer");
		cr_expect_eq(h.pipe[0], -1, "nor a pipe");
		cr_expect_eq(h.bulk, 0, "small reads stay with buffers");
	}
	cr_expect_str_eq(got, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_expect_eq(pool.nbufs, 1, "the buffer went back to the pool");
	cr_expect_eq(move_ok(&pool, &h, src.pumps, dst.pumps, 0), 0, "nothing to move: 0");
	cr_expect_not(pump_done(&h));
	pump_half_release(&pool, &h);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

/* Streams total bytes through one half, the reader keeping up; checks them in order. */
static void stream(struct pump_pool *pool, size_t total)
{
	struct pump_half h;
	struct side src = tcp_pair(), dst = tcp_pair();
	size_t sent = 0, got = 0;
	int rounds = 0;

	pump_half_init(&h);
	while (got < total) {
		cr_assert_lt(++rounds, 100000, "no progress: %zu of %zu", got, total);
		feed(src.ours, &sent, total);
		move_ok(pool, &h, src.pumps, dst.pumps, 0);
		cr_assert_eq(collect(dst.ours, &got), 0);
		if (got < sent)
			poll(&(struct pollfd){.fd = dst.ours, .events = POLLIN}, 1, 10);
	}
	cr_expect_eq(got, total);
	pump_half_release(pool, &h);
	close_side(&src);
	close_side(&dst);
}

Test(pump, bulk_arrives_in_order_through_pipes)
{
	struct pump_pool pool;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	stream(&pool, 8 * 1024 * 1024);
	cr_expect_gt(pool.pipes_created, 0, "reads of PUMP_SPLICE_ABOVE or more switch to splice");
	pump_pool_destroy(&pool);
}

Test(pump, bulk_arrives_in_order_through_buffers_when_splice_is_broken)
{
	struct pump_pool pool;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pool.splice_broken = 1;
	stream(&pool, 2 * 1024 * 1024);
	cr_expect_eq(pool.pipes_created, 0);
	pump_pool_destroy(&pool);
}

/*
 * dst does not drain: the pump stops with bytes held (EAGAIN is no error), asks to write, and
 * stops reading once its storage is full; nothing is lost when dst drains again.
 */
static void back_pressure(int splice_broken)
{
	struct pump_pool pool;
	struct pump_half h;
	/* Unix sockets: their buffers are small and fixed, so the sender feels the pressure. */
	struct side src = unix_pair(), dst = unix_pair();
	size_t total = 4 * 1024 * 1024, sent = 0, got = 0;
	int small = 4096;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pool.splice_broken = splice_broken;
	cr_assert_eq(setsockopt(dst.pumps, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	pump_half_init(&h);

	/*
	 * A direction switches to a pipe when it takes storage anew after a bulk read: let bytes
	 * flow (the reader keeping up) until it has.
	 */
	for (int i = 0; i < 1000 && !splice_broken && h.pipe[0] < 0; i++) {
		feed(src.ours, &sent, total);
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
		if (h.pipe[0] < 0)
			cr_assert_eq(collect(dst.ours, &got), 0);
	}

	/* The reader is away: pump until nothing moves any more. */
	for (int i = 0; i < 1000; i++) {
		feed(src.ours, &sent, total);
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	}
	cr_assert_lt(sent, total, "the sender was slowed down");
	cr_expect_gt(h.len, 0, "bytes are held, not dropped");
	cr_expect(pump_wants(&h) & PUMP_WANT_WRITE, "the half waits for dst");
	if (splice_broken)
		cr_expect_not_null(h.buf, "held in a buffer");
	else
		cr_expect_geq(h.pipe[0], 0, "bulk is held in a pipe");
	if (h.buf != NULL)
		cr_expect_not(pump_wants(&h) & PUMP_WANT_READ, "a full buffer stops reading");
	else
		cr_expect(
			h.full || !(pump_wants(&h) & PUMP_WANT_READ), "a full pipe stops reading");

	/* The reader is back: every byte arrives, in order. */
	for (int rounds = 0; got < total; rounds++) {
		cr_assert_lt(rounds, 100000, "no progress: %zu of %zu", got, total);
		cr_assert_eq(collect(dst.ours, &got), 0);
		feed(src.ours, &sent, total);
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	}
	cr_expect_eq(got, total);
	pump_half_release(&pool, &h);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

Test(pump, back_pressure_keeps_the_bytes_in_a_pipe)
{
	back_pressure(0);
}

Test(pump, back_pressure_keeps_the_bytes_in_a_buffer)
{
	back_pressure(1);
}

Test(pump, src_fin_is_passed_on_after_the_bytes_before_it)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = unix_pair(), dst = unix_pair();
	char buf[16];

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	cr_assert_eq(write(src.ours, "bye", 3), 3);
	cr_assert_eq(shutdown(src.ours, SHUT_WR), 0);
	/* The short read ends the first call; the FIN is seen by the next one at the latest. */
	size_t moved = move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	if (!pump_done(&h))
		moved += move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	cr_expect_eq(moved, 3);
	cr_expect(h.src_eof);
	cr_expect(pump_done(&h), "the FIN was passed on");
	cr_expect_eq(pump_wants(&h), 0, "nothing more to wait for");
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), 3, "the bytes first");
	cr_expect_eq(memcmp(buf, "bye", 3), 0);
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), 0, "then the FIN (shutdown of dst)");
	/* The other way still works: a half-close, not a close. */
	cr_expect_eq(write(dst.ours, "x", 1), 1);
	cr_expect_eq(read(dst.pumps, buf, 1), 1);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

/* Segments fd has sent so far (ACKs included), from TCP_INFO. */
static uint32_t segs_out(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	cr_assert_geq(len, offsetof(struct tcp_info, tcpi_segs_out) + sizeof(ti.tcpi_segs_out));
	return ti.tcpi_segs_out;
}

/*
 * src sent its last bytes and its FIN; both are queued at the pump's end before it reads. Pumps
 * until the FIN is passed on; returns how many calls and how many segments dst sent for it
 * before dst is closed. With `last` the FIN is left to close(2), which the test then calls.
 */
static void bytes_then_fin(int inq, int last, int *calls, uint32_t *segs)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = tcp_pair(), dst = tcp_pair();
	char buf[512];
	int one = 1;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	if (inq) {
		cr_assert_eq(setsockopt(src.pumps, IPPROTO_TCP, TCP_INQ, &one, sizeof(one)), 0);
		h.inq = 1;
	}
	memset(buf, 'r', 300);
	cr_assert_eq(write(src.ours, buf, 300), 300);
	cr_assert_eq(shutdown(src.ours, SHUT_WR), 0);
	struct pollfd p = {.fd = src.pumps, .events = POLLRDHUP};
	cr_assert_eq(poll(&p, 1, 2000), 1, "the FIN reached the pump's end");
	uint32_t before = segs_out(dst.pumps);
	size_t moved = 0;
	for (*calls = 0; !pump_done(&h) && *calls < 4; ++*calls)
		moved += move_ok(&pool, &h, src.pumps, dst.pumps, last);
	cr_assert(pump_done(&h), "the FIN was passed on");
	*segs = segs_out(dst.pumps) - before;
	cr_expect_eq(moved, 300);
	if (last) {
		close(dst.pumps); /* what the session does at once */
		dst.pumps = -1;
	}
	cr_assert_eq(poll(&(struct pollfd){.fd = dst.ours, .events = POLLRDHUP}, 1, 2000), 1);
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), 300, "the bytes first");
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), 0, "then the FIN");
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

Test(pump, a_queued_fin_leaves_with_the_last_bytes)
{
	int calls;
	uint32_t segs;

	bytes_then_fin(1, 0, &calls, &segs);
	cr_expect_eq(calls, 1, "with TCP_INQ the FIN is found in the same call");
	cr_expect_eq(segs, 1, "bytes and FIN in one segment, not %u", segs);
	/* Without it the short read ends the call: the FIN waits for the next wake-up. */
	bytes_then_fin(0, 0, &calls, &segs);
	cr_expect_eq(calls, 2);
	cr_expect_eq(segs, 2, "bytes, then a FIN of its own");
}

/* With `last` the bytes wait in the kernel for the caller's close(2), which sends them all. */
Test(pump, last_holds_the_last_bytes_for_the_close)
{
	int calls;
	uint32_t segs;

	bytes_then_fin(1, 1, &calls, &segs);
	cr_expect_eq(calls, 1);
	cr_expect_eq(segs, 0, "the bytes wait for the close, %u segments went before it", segs);
}

Test(pump, fin_held_back_while_bytes_wait_for_dst)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = unix_pair(), dst = unix_pair();
	size_t total = 2 * 1024 * 1024, sent = 0, got = 0;
	int small = 4096;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	cr_assert_eq(setsockopt(dst.pumps, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	pump_half_init(&h);
	for (int i = 0; i < 1000 && sent < total; i++) {
		feed(src.ours, &sent, total);
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
		if (sent == total)
			break;
		cr_assert_eq(collect(dst.ours, &got), 0);
	}
	cr_assert_eq(sent, total);
	cr_assert_eq(shutdown(src.ours, SHUT_WR), 0);
	/* dst is not read meanwhile: whatever src still had, the FIN must wait for it. */
	for (int i = 0; i < 100; i++)
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	if (h.len > 0)
		cr_expect_not(pump_done(&h), "no FIN while %u bytes wait", h.len);
	int eof = 0;
	for (int rounds = 0; !eof; rounds++) {
		cr_assert_lt(rounds, 100000, "no FIN after %zu of %zu", got, total);
		eof = collect(dst.ours, &got);
		move_ok(&pool, &h, src.pumps, dst.pumps, 0);
	}
	cr_expect_eq(got, total, "every byte before the FIN");
	cr_expect(pump_done(&h));
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

Test(pump, last_leaves_the_fin_to_close)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = unix_pair(), dst = unix_pair();
	char buf[16];

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	cr_assert_eq(write(src.ours, "end", 3), 3);
	cr_assert_eq(shutdown(src.ours, SHUT_WR), 0);
	size_t moved = move_ok(&pool, &h, src.pumps, dst.pumps, 1);
	if (!pump_done(&h))
		moved += move_ok(&pool, &h, src.pumps, dst.pumps, 1);
	cr_expect_eq(moved, 3);
	cr_expect(pump_done(&h), "marked passed on");
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), 3);
	errno = 0;
	cr_expect_eq(read(dst.ours, buf, sizeof(buf)), -1, "no shutdown(2): the caller closes");
	cr_expect_eq(errno, EAGAIN);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

Test(pump, dst_gone_is_a_write_error)
{
	struct pump_pool pool;
	struct pump_half h;
	struct side src = unix_pair(), dst = unix_pair();
	int src_side = -1;
	size_t moved = 12345;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	close(dst.ours);
	dst.ours = -1;
	cr_assert_eq(write(src.ours, "lost", 4), 4);
	long n = pump_move(&pool, &h, src.pumps, dst.pumps, BUDGET, 0, &src_side, &moved);
	cr_expect_eq(n, -EPIPE, "got %ld", n);
	cr_expect_eq(src_side, 0, "writing dst failed");
	cr_expect_eq(moved, 0);
	pump_half_release(&pool, &h);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}

Test(pump, src_reset_after_bytes_reports_both)
{
	struct pump_pool pool;
	struct pump_half h;
	/* Room for all of it in the receive queue, so the first read fills a whole buffer. */
	struct side src = tcp_pair_rcvbuf(1024 * 1024), dst = unix_pair();
	size_t total = 100 * 1024, sent = 0, got = 0;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int src_side = -1;
	size_t moved = 0;

	cr_assert_eq(pump_pool_init(&pool, 4), 0);
	pump_half_init(&h);
	for (int i = 0; i < 1000 && sent < total; i++) {
		feed(src.ours, &sent, total);
		if (sent < total)
			poll(&(struct pollfd){.fd = src.ours, .events = POLLOUT}, 1, 10);
	}
	cr_assert_eq(sent, total);
	/* Everything is in the pump's receive queue (acknowledged) before the reset follows it. */
	for (int i = 0; i < 1000; i++) {
		int unacked = -1;
		cr_assert_eq(ioctl(src.ours, SIOCOUTQ, &unacked), 0);
		if (unacked == 0)
			break;
		usleep(1000);
	}
	cr_assert_eq(setsockopt(src.ours, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(src.ours);
	src.ours = -1;
	poll(&(struct pollfd){.fd = src.pumps, .events = POLLIN}, 1, 100);
	usleep(10000);

	long n = pump_move(&pool, &h, src.pumps, dst.pumps, BUDGET, 0, &src_side, &moved);
	cr_expect_eq(n, -ECONNRESET, "got %ld", n);
	cr_expect_eq(src_side, 1, "reading src failed");
	cr_expect_eq(moved, total, "the bytes before the reset count");
	cr_expect_eq(collect(dst.ours, &got), 0);
	cr_expect_eq(got, total, "and were delivered, in order");
	pump_half_release(&pool, &h);
	pump_pool_destroy(&pool);
	close_side(&src);
	close_side(&dst);
}
