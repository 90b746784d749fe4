/*
 * DOC: scenario: back-pressure, bounded memory, fd exhaustion
 *
 * A fast sender facing a reader that does not read must be slowed down by the proxy, not
 * buffered: the bytes the sender gets rid of are bounded by the kernel's socket buffers on both
 * hops plus anylb's one 64 KiB pipe per direction, and anylb's resident memory does not grow with
 * them. Once the reader reads again every byte arrives intact, in order, and the rest follows.
 *
 * Out of fds (a low RLIMIT_NOFILE), anylb must pause accepting rather than spin on a listener
 * that stays readable, say so in its log, and serve again once fds are free.
 *
 * Figures (bytes buffered, RSS growth, CPU) are printed so that a change in them shows up in the
 * test output before it crosses a bound.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(proxy_pressure, .fini = sc_cleanup, .timeout = 90);

#define FLOOD_QUIET   1000 /* ms without progress that count as "stalled" */
#define RSS_GROWTH_KB (4 * 1024)
#define PIPE_BYTES    (64 * 1024)

/* Field i (0..2) of a "min default max" sysctl such as tcp_rmem, or fallback. */
static uint64_t sysctl_field(const char *path, int i, uint64_t fallback)
{
	unsigned long long v[3];
	char *text = sc_read_file(path);
	int ok = text != NULL && sscanf(text, "%llu %llu %llu", &v[0], &v[1], &v[2]) == 3;

	free(text);
	return ok ? v[i] : fallback;
}

/*
 * What may legitimately be in flight while the reader stalls, all of it in the kernel: the fast
 * sender's send buffer, anylb's receive buffer on the fast side, its pipe, its send buffer
 * toward the reader, and the reader's receive buffer. Send buffers grow to tcp_wmem's max; the
 * receive buffer anylb reads from grows with autotuning up to tcp_rmem's max (on a box with a
 * 32 MiB tcp_rmem max it was seen at 12 MiB and the whole chain at 40 MiB); the stalled reader
 * never read, so its receive buffer stays at tcp_rmem's default. Plus 1 MiB of slack.
 */
static uint64_t flood_bound(void)
{
	uint64_t wmax = sysctl_field("/proc/sys/net/ipv4/tcp_wmem", 2, 4 * SC_MIB);
	uint64_t rdef = sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1, 128 * 1024);
	uint64_t rmax = sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 2, 6 * SC_MIB);

	return 2 * wmax + rmax + rdef + PIPE_BYTES + SC_MIB;
}

/* The stream a flood test moves: at least twice the bound, so that a proxy which buffers
 * without limit lets the writer finish and fails the test, whatever the box's sysctls. */
static uint64_t flood_total(uint64_t bound)
{
	uint64_t total = (2 * bound + SC_MIB - 1) / SC_MIB * SC_MIB;

	return total < 64 * SC_MIB ? 64 * SC_MIB : total;
}

#define CONFIG_ONE                                                                                 \
	"global:\n"                                                                                \
	"  workers: 1\n"                                                                           \
	"  drain_timeout: 2s\n"                                                                    \
	"  log:\n"                                                                                 \
	"    level: info\n"                                                                        \
	"services:\n"                                                                              \
	"  - name: pressure\n"                                                                     \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

static double mib(uint64_t n)
{
	return (double)n / (double)SC_MIB;
}

static int64_t rss_kib(const struct sc_lb *lb)
{
	int64_t kib = sc_pid_rss_kib(sc_lb_pid(lb));

	cr_assert_gt(kib, 0, "cannot read VmRSS of anylb pid %d: %s", (int)sc_lb_pid(lb),
		strerror((int)-kib));
	return kib;
}

/*
 * Writes stream seed from offset *sent on, as fast as the non-blocking fd takes it, until no
 * byte went in for quiet_ms (returns 0: stalled), *sent reaches cap (-EFBIG), or timeout_ms
 * passed with bytes still trickling in (-ETIMEDOUT). Other errors: -errno.
 */
static int flood(int fd, uint64_t seed, uint64_t *sent, uint64_t cap, int quiet_ms, int timeout_ms)
{
	static uint8_t chunk[64 * 1024];
	int64_t deadline = sc_now_ms() + timeout_ms, last = sc_now_ms();

	while (*sent < cap) {
		size_t len = cap - *sent < sizeof(chunk) ? (size_t)(cap - *sent) : sizeof(chunk);
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int64_t now;
		ssize_t n;

		sc_pattern_fill(seed, *sent, chunk, len);
		n = send(fd, chunk, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		now = sc_now_ms();
		if (n > 0) {
			*sent += (uint64_t)n;
			last = now;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (now - last >= quiet_ms)
			return 0;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(last + quiet_ms - now)) < 0 && errno != EINTR)
			return -errno;
	}
	return -EFBIG;
}

/* Waits until v() stays the same for quiet_ms (returns 0) or timeout_ms passes (-ETIMEDOUT). */
static int wait_steady(const struct sc_backend *b, uint64_t (*v)(const struct sc_backend *),
	int quiet_ms, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms, since = sc_now_ms();
	uint64_t last = v(b);

	while (sc_now_ms() < deadline) {
		uint64_t now;

		sc_sleep_ms(20);
		now = v(b);
		if (now != last) {
			last = now;
			since = sc_now_ms();
		} else if (sc_now_ms() - since >= quiet_ms) {
			return 0;
		}
	}
	return -ETIMEDOUT;
}

Test(proxy_pressure, client_floods_stalled_backend)
{
	const uint64_t seed = 0xf100d;
	const uint64_t bound = flood_bound(), total = flood_total(bound);
	struct sc_backend_opts o = {.recv_seed = seed};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_STALL, AF_INET, &o);
	struct sc_conn_result r;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	uint64_t sent = 0, discarded = 0;
	int64_t rss0, rss1;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_ONE, listen, sc_backend_addr(b));
	cr_assert_not_null(lb, "anylb did not start");
	rss0 = rss_kib(lb);

	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	rc = flood(fd, seed, &sent, total, FLOOD_QUIET, 30000);
	rss1 = rss_kib(lb);
	fprintf(stderr,
		"client->stalled backend: the client wrote %llu bytes (%.2f MiB, bound %.2f MiB) "
		"before send() stalled for %d ms; anylb RSS %lld -> %lld KiB (%+lld)\n",
		(unsigned long long)sent, mib(sent), mib(bound), FLOOD_QUIET, (long long)rss0,
		(long long)rss1,
		(long long)(rss1 - rss0));
	cr_assert_neq(rc, -EFBIG,
		"the client wrote all %.0f MiB to a backend that reads nothing: anylb does not "
		"push back",
		mib(total));
	cr_assert_eq(rc, 0, "flooding: %s after %llu bytes", strerror(-rc),
		(unsigned long long)sent);
	cr_assert_eq(sc_backend_accepts(b), 1, "the session never reached the backend");
	cr_assert_eq(sc_backend_bytes_received(b), 0, "the stalled backend read something");
	cr_assert_lt(sent, bound,
		"%.2f MiB went in before the client was pushed back (bound %.2f MiB): more than "
		"the kernel's socket buffers and one pipe",
		mib(sent), mib(bound));
	cr_assert_gt(sent, 0);
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_KB,
		"anylb's RSS grew by %lld KiB while holding back %.2f MiB (bound %d KiB)",
		(long long)(rss1 - rss0), mib(sent), RSS_GROWTH_KB);

	/* The backend reads again: everything held back arrives, and the rest follows. */
	sc_backend_release(b);
	rc = flood(fd, seed, &sent, total, 10000, 30000);
	cr_assert_eq(rc, -EFBIG, "after the release the client stalled at %llu of %llu bytes: %s",
		(unsigned long long)sent, (unsigned long long)total,
		rc == 0 ? "no progress for 10 s" : strerror(-rc));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	rc = sc_wait_close(fd, 10000, &discarded);
	cr_assert_eq(rc, 0, "no FIN back after the upload: %s", strerror(-rc));
	cr_assert_eq(discarded, 0);
	close(fd);

	cr_assert_eq(sc_backend_wait_results(b, 1, 5000), 0, "backend never finished the session");
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.close, SC_CLOSE_EOF, "backend session ended with %s (%s)",
		sc_close_kind_name(r.close), strerror(r.err));
	cr_assert_eq(r.mismatch_at, -1, "stream corrupt at offset %lld (held back: %llu bytes)",
		(long long)r.mismatch_at, (unsigned long long)sent);
	cr_assert_eq(r.received, total, "backend received %llu of %llu bytes",
		(unsigned long long)r.received, (unsigned long long)total);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(proxy_pressure, backend_floods_unread_client)
{
	const uint64_t seed = 0xd0f100d;
	const uint64_t bound = flood_bound(), total = flood_total(bound);
	struct sc_backend_opts o = {.send_bytes = total, .send_seed = seed};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_SOURCE_SINK, AF_INET, &o);
	struct sc_conn_result r;
	struct sc_xfer x;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	uint64_t sent;
	int64_t rss0, rss1;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start(CONFIG_ONE, listen, sc_backend_addr(b));
	cr_assert_not_null(lb, "anylb did not start");
	rss0 = rss_kib(lb);

	/* The client connects and reads nothing. */
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	rc = wait_steady(b, sc_backend_bytes_sent, FLOOD_QUIET, 30000);
	sent = sc_backend_bytes_sent(b);
	rss1 = rss_kib(lb);
	fprintf(stderr,
		"backend->unread client: the backend wrote %llu bytes (%.2f MiB, bound %.2f MiB) "
		"before send() stalled for %d ms; anylb RSS %lld -> %lld KiB (%+lld)\n",
		(unsigned long long)sent, mib(sent), mib(bound), FLOOD_QUIET, (long long)rss0,
		(long long)rss1,
		(long long)(rss1 - rss0));
	cr_assert_lt(sent, total,
		"the backend wrote all %.0f MiB to a client that reads nothing: anylb does not "
		"push back",
		mib(total));
	cr_assert_eq(rc, 0, "the backend kept writing for 30 s (%llu bytes)",
		(unsigned long long)sent);
	cr_assert_lt(sent, bound,
		"%.2f MiB went in before the backend was pushed back (bound %.2f MiB): more than "
		"the kernel's socket buffers and one pipe",
		mib(sent), mib(bound));
	cr_assert_gt(sent, 0);
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_KB,
		"anylb's RSS grew by %lld KiB while holding back %.2f MiB (bound %d KiB)",
		(long long)(rss1 - rss0), mib(sent), RSS_GROWTH_KB);

	/* The client reads: every byte, in order, and the rest of the stream. */
	rc = sc_transfer(fd, 0, 0, seed, 0, 30000, &x);
	cr_assert_eq(rc, 0, "reading after the stall: %s; received %llu of %llu, eof %d",
		strerror(-rc), (unsigned long long)x.received, (unsigned long long)total,
		x.eof);
	cr_assert_eq(x.mismatch_at, -1, "stream corrupt at offset %lld (held back: %llu bytes)",
		(long long)x.mismatch_at, (unsigned long long)sent);
	cr_assert_eq(x.received, total);
	close(fd);

	cr_assert_eq(sc_backend_wait_results(b, 1, 5000), 0, "backend never finished the session");
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.close, SC_CLOSE_EOF, "backend session ended with %s (%s)",
		sc_close_kind_name(r.close), strerror(r.err));
	cr_assert_eq(r.sent, total);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

#define CONFIG_EMFILE                                                                              \
	"global:\n"                                                                                \
	"  workers: 1\n"                                                                           \
	"  drain_timeout: 2s\n"                                                                    \
	"  log:\n"                                                                                 \
	"    level: info\n"                                                                        \
	"services:\n"                                                                              \
	"  - name: fds\n"                                                                          \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

enum client_state { CLIENT_WAITING, CLIENT_SERVED, CLIENT_CLOSED };

Test(proxy_pressure, fd_exhaustion_pauses_without_spinning)
{
	enum { NOFILE = 64, N = 120, SATURATED_MS = 2000 };
	struct sc_lb_opts lo = {.nofile = NOFILE};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], msg[32], back[32];
	enum client_state st[N];
	int fds[N], nserved = 0, nclosed = 0, nwaiting = 0, base;
	int64_t cpu0, cpu1, t0, t1;
	struct sc_lb *lb;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start_opts(&lo, CONFIG_EMFILE, listen, sc_backend_addr(b));
	cr_assert_not_null(lb, "anylb did not start with RLIMIT_NOFILE %d", NOFILE);
	base = sc_lb_fd_count(lb, SC_FD_ALL);
	fprintf(stderr, "fd exhaustion: anylb has %d fds open at start, limit %d\n", base, NOFILE);

	/* The kernel completes every handshake into the listen queue; anylb takes what it can. */
	for (int i = 0; i < N; i++) {
		fds[i] = sc_connect(listen, 2000);
		cr_assert_geq(fds[i], 0, "connect #%d: %s", i, strerror(-fds[i]));
		snprintf(msg, sizeof(msg), "client %03d\n", i);
		cr_assert_eq(sc_send_all(fds[i], msg, strlen(msg), 1000), 0);
		st[i] = CLIENT_WAITING;
	}
	/* Collect answers for a second: served, closed by anylb, or left waiting. */
	t0 = sc_now_ms();
	while (sc_now_ms() - t0 < 1000) {
		for (int i = 0; i < N; i++) {
			ssize_t n;

			if (st[i] != CLIENT_WAITING)
				continue;
			n = recv(fds[i], back, sizeof(back), MSG_DONTWAIT | MSG_PEEK);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				st[i] = CLIENT_CLOSED;
			} else if (n > 0) {
				snprintf(msg, sizeof(msg), "client %03d\n", i);
				if (sc_recv_exact(fds[i], back, strlen(msg), 1000) == 0 &&
					memcmp(back, msg, strlen(msg)) == 0)
					st[i] = CLIENT_SERVED;
				else
					st[i] = CLIENT_CLOSED;
			}
		}
		sc_sleep_ms(20);
	}
	for (int i = 0; i < N; i++) {
		nserved += st[i] == CLIENT_SERVED;
		nclosed += st[i] == CLIENT_CLOSED;
		nwaiting += st[i] == CLIENT_WAITING;
	}

	/* Saturated: fds are exhausted, connections still queue. anylb must not spin. */
	cpu0 = sc_pid_cpu_ms(sc_lb_pid(lb));
	t0 = sc_now_ms();
	sc_sleep_ms(SATURATED_MS);
	cpu1 = sc_pid_cpu_ms(sc_lb_pid(lb));
	t1 = sc_now_ms();
	fprintf(stderr,
		"fd exhaustion: %d clients: %d served, %d closed by anylb, %d waiting; anylb has "
		"%d fds; CPU while saturated: %lld ms in %lld ms (%.0f%%)\n",
		N, nserved, nclosed, nwaiting, sc_lb_fd_count(lb, SC_FD_ALL),
		(long long)(cpu1 - cpu0), (long long)(t1 - t0),
		100.0 * (double)(cpu1 - cpu0) / (double)(t1 - t0));
	sc_lb_dump_log(lb);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
