/*
 * DOC: scenario: bytes through the proxy
 *
 * Payload integrity in both directions at once, half-close in both directions, many concurrent
 * sessions, and IPv6 on either side. Payloads are the harness's deterministic stream, checked
 * byte by byte at the receiver, so a failure names the first offset that went wrong.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(proxy_data, .fini = sc_cleanup, .timeout = 60);

#define CONFIG_ONE                                                                                 \
	"global:\n"                                                                                \
	"  workers: %d\n"                                                                          \
	"  drain_timeout: 2s\n"                                                                    \
	"  log:\n"                                                                                 \
	"    level: info\n"                                                                        \
	"services:\n"                                                                              \
	"  - name: data\n"                                                                         \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

static struct sc_lb *start_one(int workers, const char *listen, const struct sc_backend *b)
{
	struct sc_lb *lb = sc_lb_start(CONFIG_ONE, workers, listen, sc_backend_addr(b));

	cr_assert_not_null(lb, "anylb did not start (see its log above)");
	return lb;
}

Test(proxy_data, bidirectional_64mib_byte_identical, .timeout = 90)
{
	const uint64_t size = 64 * SC_MIB;
	struct sc_backend_opts o = {.send_bytes = size, .send_seed = 0xb2c, .recv_seed = 0xc2b};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_SOURCE_SINK, AF_INET, &o);
	struct sc_conn_result r;
	struct sc_xfer x;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = start_one(2, listen, b);

	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect to %s: %s", listen, strerror(-fd));
	rc = sc_transfer(fd, size, 0xc2b, 0xb2c, 0, 60000, &x);
	cr_assert_eq(rc, 0,
		"transfer ended with %s: client sent %llu of %llu, received %llu of %llu, eof %d",
		strerror(-rc), (unsigned long long)x.sent, (unsigned long long)size,
		(unsigned long long)x.received, (unsigned long long)size, x.eof);
	cr_assert_eq(x.mismatch_at, -1, "backend->client stream corrupt at offset %lld",
		(long long)x.mismatch_at);
	cr_assert_eq(x.received, size, "client received %llu bytes, want %llu",
		(unsigned long long)x.received, (unsigned long long)size);
	close(fd);

	cr_assert_eq(sc_backend_wait_results(b, 1, 5000), 0, "backend never finished the session");
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.close, SC_CLOSE_EOF, "backend session ended with %s (%s)",
		sc_close_kind_name(r.close), strerror(r.err));
	cr_assert_eq(r.mismatch_at, -1, "client->backend stream corrupt at offset %lld",
		(long long)r.mismatch_at);
	cr_assert_eq(r.received, size, "backend received %llu bytes, want %llu",
		(unsigned long long)r.received, (unsigned long long)size);
	cr_assert_eq(r.sent, size);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/* The client sends and closes its side first; the backend answers only after it saw the FIN. */
Test(proxy_data, half_close_client_first)
{
	const uint64_t up = 1 * SC_MIB, down = 4 * SC_MIB;
	struct sc_backend_opts o = {.send_bytes = down, .send_seed = 21, .recv_seed = 12};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_SINK_SOURCE, AF_INET, &o);
	struct sc_conn_result r;
	struct sc_xfer x;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = start_one(1, listen, b);

	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	rc = sc_transfer(fd, up, 12, 21, 0, 20000, &x);
	cr_assert_eq(rc, 0,
		"after the client's FIN: %s; sent %llu, received %llu of %llu, eof %d "
		"(the backend only starts sending once the client's FIN reached it)",
		strerror(-rc), (unsigned long long)x.sent, (unsigned long long)x.received,
		(unsigned long long)down, x.eof);
	cr_assert_eq(x.received, down);
	cr_assert_eq(x.mismatch_at, -1, "stream corrupt at %lld", (long long)x.mismatch_at);
	close(fd);

	cr_assert_eq(sc_backend_wait_results(b, 1, 5000), 0);
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.close, SC_CLOSE_EOF, "backend: %s", sc_close_kind_name(r.close));
	cr_assert_eq(r.received, up);
	cr_assert_eq(r.mismatch_at, -1);
	cr_assert_eq(r.sent, down);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/* The backend sends and closes its side first; the client keeps sending after it saw the FIN. */
Test(proxy_data, half_close_backend_first)
{
	const uint64_t down = 1 * SC_MIB, up = 4 * SC_MIB;
	struct sc_backend_opts o = {.send_bytes = down, .send_seed = 31, .recv_seed = 13};
	struct sc_backend *b = sc_backend_start(SC_BACKEND_SOURCE_SINK, AF_INET, &o);
	struct sc_conn_result r;
	struct sc_xfer x;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
	int fd, rc, base, n;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = start_one(1, listen, b);
	base = sc_lb_settle_fd_count(lb, SC_FD_SOCKETS, 2000);

	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	/* First everything the backend sends, up to its FIN, without sending anything. */
	rc = sc_transfer(fd, 0, 0, 31, SC_XFER_NO_SHUT, 10000, &x);
	cr_assert_eq(rc, 0, "waiting for the backend's data and FIN: %s; received %llu of %llu",
		strerror(-rc), (unsigned long long)x.received, (unsigned long long)down);
	cr_assert_eq(x.received, down);
	cr_assert_eq(x.mismatch_at, -1);
	/* Then the client->backend direction must still carry data. */
	rc = sc_transfer(fd, up, 13, 0, 0, 20000, &x);
	cr_assert_eq(rc, 0, "sending after the backend's FIN: %s; sent %llu of %llu", strerror(-rc),
		(unsigned long long)x.sent, (unsigned long long)up);

	cr_assert_eq(sc_backend_wait_results(b, 1, 5000), 0,
		"backend never saw the client's FIN after the upload");
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.close, SC_CLOSE_EOF, "backend: %s (%s)", sc_close_kind_name(r.close),
		strerror(r.err));
	cr_assert_eq(r.received, up, "backend received %llu of %llu after its own FIN",
		(unsigned long long)r.received, (unsigned long long)up);
	cr_assert_eq(r.mismatch_at, -1);
	/* Both directions are finished: the proxy must release the session although the client
	 * still holds its socket open. */
	n = sc_lb_wait_fd_count(lb, SC_FD_SOCKETS, base, 3000);
	cr_assert_eq(n, base,
		"anylb holds %d sockets, %d before the session: both directions finished (FIN "
		"each way) but the session was not released",
		n, base);
	close(fd);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

/*
 * A backend that speaks first (a banner: SMTP, MySQL) to a client that sends nothing. The
 * backend socket's handshake ACK must not be held back for client bytes that are not coming
 * (TCP_QUICKACK 0, lb/session.c): the backend would accept only once the delayed ACK fired, up
 * to 200 ms later. The fastest of three must beat that by far on any machine.
 */
Test(proxy_data, server_speaks_first_without_waiting)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_HELLO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], line[64];
	int64_t fastest = INT64_MAX;
	struct sc_lb *lb;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = start_one(1, listen, b);
	for (int i = 0; i < 3; i++) {
		int64_t t0 = sc_now_ms();
		int fd = sc_connect(listen, 2000);
		cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
		int rc = sc_recv_line(fd, line, sizeof(line), 2000);
		cr_assert_gt(rc, 0, "no banner: %s", strerror(-rc));
		int64_t took = sc_now_ms() - t0;
		if (took < fastest)
			fastest = took;
		close(fd);
	}
	cr_expect_lt(fastest, 100,
		"the banner took %lld ms at best: the backend waited for a held-back ACK",
		(long long)fastest);
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(proxy_data, many_concurrent_sessions)
{
	enum { N = 200 };
	struct sc_backend *b = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], msg[64];
	struct sc_lb *lb;
	int fds[N];

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = start_one(2, listen, b);
	for (int i = 0; i < N; i++) {
		fds[i] = sc_connect(listen, 2000);
		cr_assert_geq(fds[i], 0, "connect #%d: %s", i, strerror(-fds[i]));
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			int rc;

			snprintf(msg, sizeof(msg), "session %d round %d\n", i, round);
			rc = sc_echo(fds[i], msg, 3000);
			cr_assert_eq(
				rc, 0, "echo on session %d round %d: %s", i, round, strerror(-rc));
		}
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	cr_assert_eq(sc_backend_wait_idle(b, 3000), 0, "%u backend connections still open",
		sc_backend_open(b));
	cr_assert_eq(sc_lb_stop(lb), 0);
}

#define CONFIG_V6                                                                                  \
	"global:\n"                                                                                \
	"  workers: 1\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: six-six\n"                                                                      \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"  - name: four-six\n"                                                                     \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"  - name: six-four\n"                                                                     \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

static void echo_rounds(const char *listen, int n)
{
	char msg[128];
	int fd = sc_connect(listen, 2000);

	cr_assert_geq(fd, 0, "connect to %s: %s", listen, strerror(-fd));
	for (int i = 0; i < n; i++) {
		int rc;

		snprintf(msg, sizeof(msg), "v6 round trip %d via %s\n", i, listen);
		rc = sc_echo(fd, msg, 2000);
		cr_assert_eq(rc, 0, "echo %d via %s: %s", i, listen, strerror(-rc));
	}
	close(fd);
}

Test(proxy_data, ipv6_listener_and_backend)
{
	struct sc_backend *b6 = sc_backend_start(SC_BACKEND_ECHO, AF_INET6, NULL);
	struct sc_backend *b4 = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char l66[SC_ADDRSTRLEN], l46[SC_ADDRSTRLEN], l64[SC_ADDRSTRLEN];
	struct sc_lb *lb;

	cr_assert_not_null(b6, "cannot listen on [::1]");
	cr_assert_not_null(b4);
	cr_assert_gt(sc_free_addr(AF_INET6, l66, sizeof(l66)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, l46, sizeof(l46)), 0);
	cr_assert_gt(sc_free_addr(AF_INET6, l64, sizeof(l64)), 0);
	lb = sc_lb_start(CONFIG_V6, l66, sc_backend_addr(b6), l46, sc_backend_addr(b6), l64,
		sc_backend_addr(b4));
	cr_assert_not_null(lb);
	echo_rounds(l66, 20);
	echo_rounds(l46, 5);
	echo_rounds(l64, 5);
	cr_assert_eq(sc_backend_accepts(b6), 2);
	cr_assert_eq(sc_backend_accepts(b4), 1);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
