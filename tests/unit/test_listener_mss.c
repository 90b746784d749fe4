/*
 * DOC: the flow hand-off's MSS clamp on listeners (lb/listener.c)
 *
 * bgp.flow_handoff.mss_clamp is set with TCP_MAXSEG on the listeners of services with anycast,
 * before listen(2): the SYN-ACK advertises it, and a client connected to such a listener sees
 * its own MSS (TCP_MAXSEG on the client, the peer's MSS less the options) at or below the
 * clamp. Real workers (lb/worker.c, on loops that do not run) bind real sockets on loopback
 * (MTU 65536, so an unclamped MSS is far above any clamp); the kernel completes the handshake
 * from the listen queue, so no loop needs to run. A service without anycast is not clamped. An
 * IPv6 anycast listener advertises 20 bytes less (its header is 20 bytes longer inside the same
 * IPv4/UDP/flow_hdr outer).
 */
#include "lb/listener.h"
#include "lb/runtime.h"
#include "lb/worker.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(listener_mss, .fini = sc_cleanup);

#define CLAMP 1200

static struct lb_runtime *runtime_of(const char *any, const char *plain, int clamp)
{
	char y[1536], mss[64] = "";
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	if (clamp)
		snprintf(mss, sizeof(mss), ", mss_clamp: %d", CLAMP);
	snprintf(y, sizeof(y),
		"bgp:\n"
		"  announce: bird_protocol\n"
		"  flow_handoff: {interfaces: [lo], self: 10.1.0.1, peers: [10.1.0.2]%s}\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    anycast: {prefixes: [192.0.2.10/32], bird_protocol: anylb_web4}\n"
		"    backends:\n"
		"      - address: 127.0.0.1:9\n"
		"  - name: plain\n"
		"    listen: [\"%s\"]\n"
		"    backends:\n"
		"      - address: 127.0.0.1:9\n",
		mss, any, plain);
	int rc = conf_load_buffer("t.yaml", y, strlen(y), &c, &errs);
	if (rc < 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0);
	struct lb_runtime *rt = runtime_new(c);
	cr_assert_not_null(rt);
	return rt;
}

/* The MSS a client connected to addr has (what the listener advertised, less options). */
static int client_mss(const char *addr)
{
	int fd = sc_connect(addr, 2000), mss = 0;
	socklen_t len = sizeof(mss);

	cr_assert_geq(fd, 0, "connect %s", addr);
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len), 0);
	close(fd);
	return mss;
}

Test(listener_mss, anycast_listeners_advertise_the_clamp)
{
	char any[SC_ADDRSTRLEN], plain[SC_ADDRSTRLEN];
	struct worker w;

	cr_assert_gt(sc_free_addr(AF_INET, any, sizeof(any)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, plain, sizeof(plain)), 0);
	struct lb_runtime *rt = runtime_of(any, plain, 1);
	cr_expect_eq(listener_mss_clamp(&rt->services[0]), CLAMP);
	cr_expect_eq(listener_mss_clamp(&rt->services[1]), 0, "no anycast, no clamp");
	cr_assert_eq(worker_init(&w, 0, rt, NULL), 0);
	int m_any = client_mss(any), m_plain = client_mss(plain);
	fprintf(stderr, "listener_mss: client MSS %d behind the clamp %d, %d without\n", m_any,
		CLAMP, m_plain);
	cr_expect_leq(m_any, CLAMP);
	cr_expect_geq(m_any, CLAMP - 40, "the clamp less TCP options at most");
	cr_expect_gt(m_plain, CLAMP + 1000, "loopback's MSS, unclamped");
	worker_destroy(&w);
	runtime_put(rt);
}

Test(listener_mss, ipv6_listeners_advertise_20_less)
{
	char any[SC_ADDRSTRLEN], plain[SC_ADDRSTRLEN];
	struct worker w;

	cr_assert_gt(sc_free_addr(AF_INET6, any, sizeof(any)), 0);
	cr_assert_gt(sc_free_addr(AF_INET6, plain, sizeof(plain)), 0);
	struct lb_runtime *rt = runtime_of(any, plain, 1);
	cr_assert_eq(worker_init(&w, 0, rt, NULL), 0);
	int m_any = client_mss(any), m_plain = client_mss(plain);
	fprintf(stderr, "listener_mss: IPv6 client MSS %d behind the clamp %d, %d without\n", m_any,
		CLAMP, m_plain);
	cr_expect_leq(m_any, CLAMP - 20);
	cr_expect_geq(m_any, CLAMP - 20 - 40, "the clamp less 20 and TCP options at most");
	cr_expect_gt(m_plain, CLAMP + 1000, "loopback's MSS, unclamped");
	worker_destroy(&w);
	runtime_put(rt);
}

Test(listener_mss, no_clamp_written_no_clamp)
{
	char any[SC_ADDRSTRLEN], plain[SC_ADDRSTRLEN];
	struct worker w;

	cr_assert_gt(sc_free_addr(AF_INET, any, sizeof(any)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, plain, sizeof(plain)), 0);
	struct lb_runtime *rt = runtime_of(any, plain, 0);
	cr_expect_eq(listener_mss_clamp(&rt->services[0]), 0);
	cr_assert_eq(worker_init(&w, 0, rt, NULL), 0);
	cr_expect_gt(client_mss(any), CLAMP + 1000);
	worker_destroy(&w);
	runtime_put(rt);
}
