/*
 * DOC: test clients
 *
 * Every client socket is non-blocking and every helper waits with poll() against a deadline, so a
 * proxy that stops answering turns into -ETIMEDOUT and a failed assertion, never a hung test.
 * Sends use MSG_NOSIGNAL: a closed peer is an error code, not a SIGPIPE.
 */
#include "tests/support/harness_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Waits for events on fd until deadline: revents, 0 on timeout, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, sc_remaining_ms(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? 0 : p.revents;
	}
}

int sc_connect_from(const char *src_ip, const char *addr, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int64_t deadline = sc_now_ms() + timeout_ms;
	int fd, err = 0, rc;
	socklen_t el = sizeof(err);

	sc_harness_init();
	if (sc_addr_parse(addr, &ss, &len) != 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (src_ip != NULL) {
		struct sockaddr_storage src;
		socklen_t sl;
		char buf[SC_ADDRSTRLEN];

		snprintf(buf, sizeof(buf), ss.ss_family == AF_INET6 ? "[%s]:0" : "%s:0", src_ip);
		if (sc_addr_parse(buf, &src, &sl) != 0) {
			close(fd);
			return -EINVAL;
		}
		if (bind(fd, (struct sockaddr *)&src, sl) != 0) {
			err = errno;
			close(fd);
			return -err;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return -err;
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc <= 0) {
		close(fd);
		return rc == 0 ? -ETIMEDOUT : rc;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err != 0) {
		close(fd);
		return -err;
	}
	return fd;
}

int sc_connect(const char *addr, int timeout_ms)
{
	return sc_connect_from(NULL, addr, timeout_ms);
}

int sc_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	int64_t deadline = sc_now_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = wait_fd(fd, POLLOUT, deadline);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int sc_recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	int64_t deadline = sc_now_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = wait_fd(fd, POLLIN, deadline);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int sc_recv_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	size_t len = 0;

	/* One byte at a time: lines are short and nothing after the newline may be consumed. */
	for (;;) {
		char ch;
		int rc = sc_recv_exact(fd, &ch, 1, sc_remaining_ms(deadline));

		if (rc < 0)
			return rc;
		if (ch == '\n')
			break;
		if (len + 1 >= cap)
			return -EMSGSIZE;
		buf[len++] = ch;
	}
	buf[len] = '\0';
	return (int)len;
}

int sc_echo(int fd, const char *msg, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	size_t len = strlen(msg);
	char back[4096];
	int rc;

	if (len > sizeof(back))
		return -EMSGSIZE;
	rc = sc_send_all(fd, msg, len, timeout_ms);
	if (rc < 0)
		return rc;
	rc = sc_recv_exact(fd, back, len, sc_remaining_ms(deadline));
	if (rc < 0)
		return rc;
	return memcmp(back, msg, len) == 0 ? 0 : -EBADMSG;
}

int sc_hello(const char *src_ip, const char *addr, char *id, size_t cap, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	int fd = sc_connect_from(src_ip, addr, timeout_ms);
	int rc;

	if (fd < 0)
		return fd;
	rc = sc_recv_line(fd, id, cap, sc_remaining_ms(deadline));
	close(fd);
	return rc < 0 ? rc : 0;
}

int sc_hello_tally(const char *addr, int n, const char *const *ids, size_t nids, int *counts)
{
	for (size_t i = 0; i < nids; i++)
		counts[i] = 0;
	for (int k = 0; k < n; k++) {
		char id[64];
		int rc = sc_hello(NULL, addr, id, sizeof(id), 2000);
		if (rc < 0)
			return rc;
		size_t i = 0;
		while (i < nids && strcmp(id, ids[i]) != 0)
			i++;
		if (i == nids)
			return -EBADMSG;
		counts[i]++;
	}
	return 0;
}

int sc_wait_close(int fd, int timeout_ms, uint64_t *discarded)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	char buf[16384];

	if (discarded != NULL)
		*discarded = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return 0;
		if (n > 0) {
			if (discarded != NULL)
				*discarded += (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = wait_fd(fd, POLLIN, deadline);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ETIMEDOUT;
	}
}

int sc_pump_until_close(int fd, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	char garbage[16384], buf[16384];

	sc_pattern_fill(0xbadbad, 0, garbage, sizeof(garbage));
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		int n = poll(&p, 1, sc_remaining_ms(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ETIMEDOUT : -errno;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);

			if (r == 0)
				return 0;
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return errno == ECONNRESET || errno == EPIPE ? 0 : -errno;
		}
		if (p.revents & POLLOUT) {
			ssize_t w = send(fd, garbage, sizeof(garbage), MSG_NOSIGNAL);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return errno == ECONNRESET || errno == EPIPE ? 0 : -errno;
		}
	}
}

void sc_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

int sc_peer_closed(int fd)
{
	char ch;
	ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0)
		return 1;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return 1;
	return 0;
}

int sc_transfer(int fd, uint64_t send_bytes, uint64_t send_seed, uint64_t recv_seed, int flags,
	int timeout_ms, struct sc_xfer *x)
{
	/* Per thread: the soak's client threads run transfers at the same time. */
	static _Thread_local uint8_t out[65536], in[65536];
	int64_t deadline = sc_now_ms() + timeout_ms;
	int shut = 0;

	memset(x, 0, sizeof(*x));
	x->mismatch_at = -1;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = 0};
		int n;

		if (x->sent == send_bytes && !shut) {
			if (!(flags & SC_XFER_NO_SHUT) && shutdown(fd, SHUT_WR) != 0) {
				x->err = errno;
				return -x->err;
			}
			shut = 1;
		}
		if (shut && x->eof)
			return 0;
		if (!x->eof)
			p.events |= POLLIN;
		if (x->sent < send_bytes)
			p.events |= POLLOUT;
		n = poll(&p, 1, sc_remaining_ms(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			x->err = errno;
			return -x->err;
		}
		if (n == 0) {
			x->err = ETIMEDOUT;
			return -ETIMEDOUT;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in, sizeof(in), 0);

			if (r == 0) {
				x->eof = 1;
			} else if (r > 0) {
				if (recv_seed != 0 && x->mismatch_at < 0) {
					int64_t bad = sc_pattern_check(
						recv_seed, x->received, in, (size_t)r);

					if (bad >= 0)
						x->mismatch_at = (int64_t)x->received + bad;
				}
				x->received += (uint64_t)r;
			} else if (errno != EAGAIN && errno != EINTR) {
				x->err = errno;
				return -x->err;
			}
		}
		if ((p.revents & POLLOUT) && x->sent < send_bytes) {
			uint64_t left = send_bytes - x->sent;
			size_t chunk = left < sizeof(out) ? (size_t)left : sizeof(out);
			ssize_t w;

			sc_pattern_fill(send_seed, x->sent, out, chunk);
			w = send(fd, out, chunk, MSG_NOSIGNAL);
			if (w > 0) {
				x->sent += (uint64_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				x->err = errno;
				return -x->err;
			}
		}
	}
}
