/*
 * DOC: scenario: PROXY protocol towards backends
 *
 * The test backend parses the header with the harness's own parser (written from the spec, not
 * from anylb's encoder) and records the addresses. The source must be what the client's
 * getsockname() says, the destination the address the client connected to, and the payload
 * after the header must arrive untouched, including when it shares a segment with the header.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(proxy_protocol, .fini = sc_cleanup, .timeout = 30);

static void check_proxy(const char *version, int listen_family, int backend_family)
{
	struct sc_backend *b = sc_backend_start(SC_BACKEND_PROXY_HEADER, backend_family, NULL);
	char listen[SC_ADDRSTRLEN], got[SC_ADDRSTRLEN], want[SC_ADDRSTRLEN], msg[128];
	struct sockaddr_storage client_local, listen_ss;
	socklen_t sl = sizeof(client_local), ll;
	struct sc_conn_result r;
	struct sc_lb *lb;
	int fd, rc;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(listen_family, listen, sizeof(listen)), 0);
	cr_assert_eq(sc_addr_parse(listen, &listen_ss, &ll), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: pp\n"
			 "    listen: [\"%s\"]\n"
			 "    proxy_protocol: %s\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n",
		listen, version, sc_backend_addr(b));
	cr_assert_not_null(lb);

	for (int round = 0; round < 3; round++) {
		fd = sc_connect(listen, 2000);
		cr_assert_geq(fd, 0, "connect %s: %s", listen, strerror(-fd));
		sl = sizeof(client_local);
		cr_assert_eq(getsockname(fd, (struct sockaddr *)&client_local, &sl), 0);
		/* Payload that looks like a header itself must pass through as payload. */
		snprintf(msg, sizeof(msg), "%sPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\npayload %d\n",
			round == 2 ? "" : "x", round);
		rc = sc_echo(fd, msg, 3000);
		cr_assert_eq(rc, 0, "proxy_protocol %s via %s: payload echo failed: %s", version,
			listen, strerror(-rc));
		close(fd);
		cr_assert_eq(sc_backend_wait_results(b, (size_t)round + 1, 3000), 0);
		cr_assert_eq(sc_backend_result(b, (size_t)round, &r), 0);

		cr_assert_neq(r.close, SC_CLOSE_PROTO, "proxy_protocol %s via %s: backend: %s",
			version, listen, r.proxy.err);
		cr_assert_eq(r.proxy.version, version[1] - '0',
			"proxy_protocol %s: backend parsed a v%d header", version, r.proxy.version);
		cr_assert_eq(r.proxy.local, 0, "header carries no addresses (LOCAL/UNKNOWN)");
		cr_assert(sc_addr_equal((struct sockaddr *)&r.proxy.src,
				  (struct sockaddr *)&client_local),
			"proxy_protocol %s: source %s, client's getsockname %s", version,
			sc_addr_format((struct sockaddr *)&r.proxy.src, got, sizeof(got)),
			sc_addr_format((struct sockaddr *)&client_local, want, sizeof(want)));
		cr_assert(sc_addr_equal(
				  (struct sockaddr *)&r.proxy.dst, (struct sockaddr *)&listen_ss),
			"proxy_protocol %s: destination %s, listen address %s", version,
			sc_addr_format((struct sockaddr *)&r.proxy.dst, got, sizeof(got)), listen);
		cr_assert_eq(r.received, strlen(msg),
			"payload after the header: %llu bytes, sent %zu",
			(unsigned long long)r.received, strlen(msg));
	}
	cr_assert_eq(sc_lb_stop(lb), 0);
}

Test(proxy_protocol, v1_ipv4)
{
	check_proxy("v1", AF_INET, AF_INET);
}

Test(proxy_protocol, v2_ipv4)
{
	check_proxy("v2", AF_INET, AF_INET);
}

Test(proxy_protocol, v1_ipv6)
{
	check_proxy("v1", AF_INET6, AF_INET);
}

Test(proxy_protocol, v2_ipv6)
{
	check_proxy("v2", AF_INET6, AF_INET6);
}

/* proxy_protocol: off must send nothing before the payload. */
Test(proxy_protocol, off_sends_no_header)
{
	struct sc_backend *b = sc_backend_start(
		SC_BACKEND_SINK_SOURCE, AF_INET, &(struct sc_backend_opts){.recv_seed = 77});
	char listen[SC_ADDRSTRLEN];
	struct sc_conn_result r;
	struct sc_xfer x;
	struct sc_lb *lb;
	int fd;

	cr_assert_not_null(b);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	lb = sc_lb_start("global:\n"
			 "  workers: 1\n"
			 "services:\n"
			 "  - name: plain\n"
			 "    listen: [\"%s\"]\n"
			 "    proxy_protocol: off\n"
			 "    backends:\n"
			 "      - address: \"%s\"\n",
		listen, sc_backend_addr(b));
	cr_assert_not_null(lb);
	fd = sc_connect(listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_transfer(fd, 1000, 77, 0, 0, 3000, &x), 0);
	close(fd);
	cr_assert_eq(sc_backend_wait_results(b, 1, 3000), 0);
	cr_assert_eq(sc_backend_result(b, 0, &r), 0);
	cr_assert_eq(r.mismatch_at, -1,
		"first byte at the backend is not the client's (offset %lld)",
		(long long)r.mismatch_at);
	cr_assert_eq(r.received, 1000);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
