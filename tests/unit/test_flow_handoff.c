/*
 * DOC: tests/unit/test_flow_handoff.c: the flow hand-off BPF program on crafted Ethernet frames
 * with BPF_PROG_TEST_RUN. The anycast prefix is 127.0.0.1/32, so a real connection on loopback
 * (in this process's netns, where bpf_skc_lookup_tcp looks) is an own flow. I am peer 0 of 2.
 * ICMP "fragmentation needed" quoting a segment of an own flow is taken, of a foreign one
 * forwarded, from a peer decapsulated; other ICMP and truncated ones pass untouched. IPv6 the
 * same with [::1]/128: a foreign flow forwarded in IPv4/UDP/flow_hdr with family 6, decapsulated
 * back to the original IPv6 frame from a peer, ICMPv6 "packet too big" as frag needed, neighbour
 * solicitation and extension headers untouched. Heartbeats from a peer pass to anylb; a foreign
 * flow goes to flow_cfg.next, the next live peer.
 */
#include <netinet/icmp6.h>
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flow/handoff.h"

#define ME   "10.0.0.1"
#define PEER "10.0.0.2"
#define PORT 6080

static struct flow_handoff *h;

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/*
 * A frame buffer whose IP header (after the 14-byte Ethernet header) is 4-byte aligned, as the
 * kernel's NET_IP_ALIGN places it: the headers are read through their structs.
 */
#define FRAME(name, n)                                                                             \
	struct {                                                                                   \
		uint32_t align;                                                                    \
		uint16_t pad;                                                                      \
		uint8_t b[n];                                                                      \
	} name##_buf;                                                                              \
	uint8_t *name = name##_buf.b

static void setup(void)
{
	char err[256];
	struct flow_cfg cfg = {.enabled = 1,
		.self = 0,
		.npeers = 2,
		.max_hops = 1,
		.addr4 = ip4(ME),
		.port = PORT,
		.next = 1};

	cr_assert_eq(flow_handoff_open(&h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(flow_handoff_set_config(h, &cfg), 0);
	cr_assert_eq(flow_handoff_set_peer4(h, 0, ip4(ME)), 0);
	cr_assert_eq(flow_handoff_set_peer4(h, 1, ip4(PEER)), 0);
	cr_assert_eq(flow_handoff_prefix4(h, ip4("127.0.0.1"), 32, 0), 0);
	cr_assert_eq(flow_handoff_prefix6(h, in6addr_loopback.s6_addr, 128, 0), 0);
}

static void teardown(void)
{
	flow_handoff_close(h);
}

/* An Ethernet/IPv4/TCP frame 127.0.0.1:sport -> 127.0.0.1:dport; returns its length. */
static size_t tcp_frame(uint8_t *buf, uint16_t sport, uint16_t dport, int syn, int ack)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	memset(buf, 0, sizeof(*eth) + sizeof(*ip) + sizeof(*tcp));
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
	ip->saddr = ip->daddr = ip4("127.0.0.1");
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->doff = 5;
	tcp->syn = syn;
	tcp->ack = ack;
	tcp->seq = htonl(1000);
	return sizeof(*eth) + sizeof(*ip) + sizeof(*tcp);
}

/* Wraps the IPv4 packet of `in` as a peer would: outer from `from`, `hops` left. */
static size_t encap(uint8_t *out, const uint8_t *in, size_t len, const char *from, uint8_t hops)
{
	struct iphdr *ip = (void *)(out + ETH_HLEN);
	struct udphdr *udp = (void *)(ip + 1);
	struct flow_hdr *fh = (void *)(udp + 1);
	size_t outer = sizeof(*ip) + sizeof(*udp) + sizeof(*fh);

	memcpy(out, in, ETH_HLEN);
	memset(ip, 0, outer);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(len - ETH_HLEN + outer);
	ip->saddr = ip4(from);
	ip->daddr = ip4(ME);
	udp->source = udp->dest = htons(PORT);
	udp->len = htons(len - ETH_HLEN + sizeof(*udp) + sizeof(*fh));
	fh->magic = FLOW_HDR_MAGIC;
	fh->hops = hops;
	fh->family = ((const struct ethhdr *)in)->h_proto == htons(ETH_P_IPV6) ? 6 : 4;
	((struct ethhdr *)out)->h_proto = htons(ETH_P_IP);
	memcpy(out + ETH_HLEN + outer, in + ETH_HLEN, len - ETH_HLEN);
	return len + outer;
}

struct run {
	int ret;
	uint16_t align_ip; /* out + ETH_HLEN is 4-byte aligned, as NET_IP_ALIGN makes it */
	uint8_t out[256];
	uint32_t out_len;
	uint32_t ns;
};

static struct run run(const uint8_t *in, size_t len, int repeat)
{
	struct run r = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .data_out = r.out,
		.data_size_out = sizeof(r.out), .repeat = repeat);

	cr_assert_eq(bpf_prog_test_run_opts(flow_handoff_prog_fd(h), &o), 0, "test run: %m");
	r.ret = o.retval;
	r.out_len = o.data_size_out;
	r.ns = o.duration;
	return r;
}

static uint64_t counter(uint32_t slot, enum flow_counter c)
{
	struct flow_counters v;

	cr_assert_eq(flow_handoff_counters(h, slot, &v), 0);
	return v.c[c];
}

static void assert_untouched(const uint8_t *in, size_t len, struct run r)
{
	cr_assert_eq(r.ret, TC_ACT_OK, "ret %d", r.ret);
	cr_assert_eq(r.out_len, len, "out %u, in %zu", r.out_len, len);
	cr_assert_eq(memcmp(r.out, in, len), 0, "changed");
}

/* A real connection on loopback: the listener's port and the client's. */
static void connection(int fds[3], uint16_t *lport, uint16_t *cport)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(fds[0], (void *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fds[0], 4), 0);
	getsockname(fds[0], (void *)&a, &alen);
	*lport = ntohs(a.sin_port);
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fds[1], (void *)&a, sizeof(a)), 0);
	fds[2] = accept(fds[0], NULL, NULL);
	cr_assert_geq(fds[2], 0);
	alen = sizeof(a);
	getsockname(fds[1], (void *)&a, &alen);
	*cport = ntohs(a.sin_port);
}

TestSuite(flow_handoff, .init = setup, .fini = teardown);

Test(flow_handoff, syn_is_local)
{
	FRAME(f, 128);
	size_t n = tcp_frame(f, 40000, 9, 1, 0);

	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

Test(flow_handoff, own_flow_is_local_and_its_cost)
{
	int fds[3];
	uint16_t lport, cport;
	FRAME(f, 128);
	size_t n;
	struct run r;

	connection(fds, &lport, &cport);
	n = tcp_frame(f, cport, lport, 0, 1);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 1);
	r = run(f, n, 100000);
	cr_assert_eq(r.ret, TC_ACT_OK);
	printf("flow_handoff: own flow: %u ns/packet (repeat 100000)\n", r.ns);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

Test(flow_handoff, foreign_flow_is_forwarded)
{
	FRAME(f, 128);
	size_t n = tcp_frame(f, 40001, 9, 0, 1);
	struct run r = run(f, n, 1);
	struct iphdr *ip = (void *)(r.out + ETH_HLEN);
	struct udphdr *udp = (void *)(ip + 1);
	struct flow_hdr *fh = (void *)(udp + 1);

	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n + 32);
	cr_assert_eq(ip->protocol, IPPROTO_UDP);
	cr_assert_eq(ip->saddr, ip4(ME));
	cr_assert_eq(ip->daddr, ip4(PEER));
	cr_assert_eq(ntohs(ip->tot_len), n - ETH_HLEN + 32);
	cr_assert_eq(ntohs(udp->dest), PORT);
	cr_assert_eq(fh->magic, FLOW_HDR_MAGIC);
	cr_assert_eq(fh->hops, 0);
	cr_assert_eq(memcmp(r.out + ETH_HLEN + 32, f + ETH_HLEN, n - ETH_HLEN), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
}

Test(flow_handoff, from_peer_is_decapsulated_last_hop_takes_it)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp_frame(f, 40002, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 0);
	struct run r = run(e, en, 1);

	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n);
	cr_assert_eq(memcmp(r.out, f, n), 0);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

Test(flow_handoff, from_peer_with_hops_left_goes_on)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp_frame(f, 40007, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 1);
	struct run r = run(e, en, 1);
	struct flow_hdr *fh =
		(void *)(r.out + ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr));

	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, en);
	cr_assert_eq(fh->hops, 0);
	cr_assert_eq(memcmp(r.out + en - (n - ETH_HLEN), f + ETH_HLEN, n - ETH_HLEN), 0);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 0);
}

Test(flow_handoff, from_non_peer_is_dropped_and_counted)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp_frame(f, 40003, 9, 0, 1);
	size_t en = encap(e, f, n, "10.9.9.9", 0);

	cr_assert_eq(run(e, en, 1).ret, TC_ACT_SHOT);
	cr_assert_eq(counter(FLOW_SLOT_STRANGER, FLOW_CNT_DROPPED), 1);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 0);
}

/* A heartbeat (a control message, no inner packet) from `from`, as lb/handoff_beat.c sends it. */
static size_t beat_frame(uint8_t *out, const char *from, uint8_t kind)
{
	FRAME(eth, ETH_HLEN);
	struct flow_hdr *fh =
		(void *)(out + ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr));

	memset(eth, 0, ETH_HLEN);
	size_t n = encap(out, eth, ETH_HLEN, from, 0);
	fh->family = FLOW_FAMILY_CONTROL;
	fh->kind = kind;
	return n;
}

Test(flow_handoff, a_heartbeat_from_a_peer_passes_to_anylb_untouched)
{
	FRAME(e, 64);
	size_t en = beat_frame(e, PEER, FLOW_KIND_BEAT);

	assert_untouched(e, en, run(e, en, 1));
	en = beat_frame(e, PEER, FLOW_KIND_LEAVING);
	assert_untouched(e, en, run(e, en, 1));
	for (int c = 0; c < FLOW_CNT_MAX; c++)
		cr_assert_eq(counter(1, (enum flow_counter)c), 0, "counter %d", c);

	en = beat_frame(e, "10.9.9.9", FLOW_KIND_BEAT);
	cr_assert_eq(run(e, en, 1).ret, TC_ACT_SHOT);
	cr_assert_eq(counter(FLOW_SLOT_STRANGER, FLOW_CNT_DROPPED), 1);
}

/* Three boxes; peer 1 judged down: flow_cfg.next 2 skips it; next at self forwards nothing. */
Test(flow_handoff, a_foreign_flow_goes_to_the_next_live_peer_or_stays)
{
	struct flow_cfg cfg = {.enabled = 1,
		.npeers = 3,
		.max_hops = 2,
		.addr4 = ip4(ME),
		.port = PORT,
		.next = 2};
	FRAME(f, 128);
	size_t n = tcp_frame(f, 40020, 9, 0, 1);

	cr_assert_eq(flow_handoff_set_peer4(h, 2, ip4("10.0.0.3")), 0);
	cr_assert_eq(flow_handoff_set_config(h, &cfg), 0);
	struct run r = run(f, n, 1);
	struct iphdr *ip = (void *)(r.out + ETH_HLEN);
	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n + 32);
	cr_assert_eq(ip->daddr, ip4("10.0.0.3"));
	cr_assert_eq(counter(2, FLOW_CNT_FORWARDED), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);

	cfg.next = 0;
	cr_assert_eq(flow_handoff_set_config(h, &cfg), 0);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 1);
	cr_assert_eq(counter(2, FLOW_CNT_FORWARDED), 1);
}

Test(flow_handoff, hops_exhausted_is_taken_locally)
{
	struct flow_cfg cfg = {
		.enabled = 1, .npeers = 2, .max_hops = 0, .addr4 = ip4(ME), .port = PORT};
	FRAME(f, 128);
	size_t n = tcp_frame(f, 40004, 9, 0, 1);

	cr_assert_eq(flow_handoff_set_config(h, &cfg), 0);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

Test(flow_handoff, ipv6_non_tcp_not_anycast_pass_untouched)
{
	FRAME(f, 128);
	size_t n = tcp_frame(f, 40005, 9, 0, 1);
	struct iphdr *ip = (void *)(f + ETH_HLEN);

	ip->daddr = ip4("192.0.2.1"); /* not anycast */
	assert_untouched(f, n, run(f, n, 1));
	n = tcp_frame(f, 40005, 9, 0, 1);
	ip->protocol = IPPROTO_ICMP;
	assert_untouched(f, n, run(f, n, 1));
	n = tcp_frame(f, 40005, 9, 0, 1);
	ip->protocol = IPPROTO_UDP; /* UDP, not to the encapsulation port */
	assert_untouched(f, n, run(f, n, 1));
	n = tcp_frame(f, 40005, 9, 0, 1);
	((struct ethhdr *)f)->h_proto = htons(ETH_P_IPV6);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 0);
}

/* A truncated frame passes untouched, or the kernel refuses to run it (sizes it will not build an
 * skb from); returns whether it ran. */
static int truncated(const uint8_t *in, size_t len)
{
	struct run r = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .data_out = r.out,
		.data_size_out = sizeof(r.out), .repeat = 1);

	if (bpf_prog_test_run_opts(flow_handoff_prog_fd(h), &o) != 0)
		return 0;
	r.ret = o.retval;
	r.out_len = o.data_size_out;
	assert_untouched(in, len, r);
	return 1;
}

Test(flow_handoff, truncated_headers_pass_untouched)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp_frame(f, 40006, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 0);
	int ran = 0;

	for (size_t cut = ETH_HLEN; cut < n; cut++)
		ran += truncated(f, cut);
	for (size_t cut = ETH_HLEN; cut < en - n + ETH_HLEN; cut++)
		ran += truncated(e, cut);
	cr_assert_gt(ran, 20, "only %d truncated frames ran", ran);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 0);
}

/* On lo of a network namespace of its own (Criterion runs each test in a process of its own). */
Test(flow_handoff, attach_and_detach_on_close)
{
	char err[256];
	struct bpf_tc_hook hook = {
		.sz = sizeof(hook), .ifindex = 1, .attach_point = BPF_TC_INGRESS};
	struct bpf_tc_opts q = {
		.sz = sizeof(q), .handle = FLOW_TC_HANDLE, .priority = FLOW_TC_PRIORITY};

	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %m");
	cr_assert_eq(flow_handoff_attach(h, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(flow_handoff_attach(h, 1, err, sizeof(err)), -EBUSY);
	cr_assert_eq(bpf_tc_query(&hook, &q), 0);
	flow_handoff_close(h);
	h = NULL;
	q.prog_id = 0;
	cr_assert_neq(bpf_tc_query(&hook, &q), 0, "still attached after close");
}

/* An Ethernet/IPv6/TCP frame [::1]:sport -> [::1]:dport; returns its length. */
static size_t tcp6_frame(uint8_t *buf, uint16_t sport, uint16_t dport, int syn, int ack)
{
	struct ethhdr *eth = (void *)buf;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip6 + 1);

	memset(buf, 0, sizeof(*eth) + sizeof(*ip6) + sizeof(*tcp));
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = 64;
	ip6->payload_len = htons(sizeof(*tcp));
	memcpy(&ip6->saddr, &in6addr_loopback, 16);
	memcpy(&ip6->daddr, &in6addr_loopback, 16);
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->doff = 5;
	tcp->syn = syn;
	tcp->ack = ack;
	return sizeof(*eth) + sizeof(*ip6) + sizeof(*tcp);
}

Test(flow_handoff, ipv6_syn_own_flow_foreign_flow)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET6, SOCK_STREAM, 0), c = socket(AF_INET6, SOCK_STREAM, 0), s;
	uint16_t lport, cport;
	FRAME(f, 128);
	size_t n;

	cr_assert_eq(bind(l, (void *)&a, sizeof(a)), 0, "bind [::1]: %m");
	cr_assert_eq(listen(l, 4), 0);
	getsockname(l, (void *)&a, &alen);
	lport = ntohs(a.sin6_port);
	cr_assert_eq(connect(c, (void *)&a, sizeof(a)), 0);
	s = accept(l, NULL, NULL);
	alen = sizeof(a);
	getsockname(c, (void *)&a, &alen);
	cport = ntohs(a.sin6_port);

	n = tcp6_frame(f, 40010, 9, 1, 0);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 1);
	n = tcp6_frame(f, cport, lport, 0, 1);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 2);
	/* An extension header: passes, uncounted, even for a foreign flow. */
	n = tcp6_frame(f, 40011, 9, 0, 1);
	((struct ipv6hdr *)(f + ETH_HLEN))->nexthdr = 0;
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	close(s);
	close(c);
	close(l);
}

Test(flow_handoff, ipv6_truncated_passes_untouched)
{
	FRAME(f, 128);
	size_t n = tcp6_frame(f, 40012, 9, 0, 1);
	int ran = 0;

	for (size_t cut = ETH_HLEN; cut < n; cut++)
		ran += truncated(f, cut);
	cr_assert_gt(ran, 10, "only %d truncated frames ran", ran);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 0);
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

/* The outer headers of a packet forwarded to PEER with `hops` left, the inner one of `in`. */
static void assert_forwarded6(const uint8_t *in, size_t n, struct run r, uint8_t hops)
{
	struct ethhdr *eth = (void *)r.out;
	struct iphdr *ip = (void *)(r.out + ETH_HLEN);
	struct udphdr *udp = (void *)(ip + 1);
	struct flow_hdr *fh = (void *)(udp + 1);

	cr_assert_eq(r.ret, TC_ACT_OK, "ret %d", r.ret);
	cr_assert_eq(r.out_len, n + 32, "out %u, in %zu", r.out_len, n);
	cr_assert_eq(eth->h_proto, htons(ETH_P_IP));
	cr_assert_eq(ip->version, 4);
	cr_assert_eq(ip->protocol, IPPROTO_UDP);
	cr_assert_eq(ip->saddr, ip4(ME));
	cr_assert_eq(ip->daddr, ip4(PEER));
	cr_assert_eq(ntohs(ip->tot_len), n - ETH_HLEN + 32);
	cr_assert_eq(ntohs(udp->dest), PORT);
	cr_assert_eq(ntohs(udp->len), n - ETH_HLEN + 12);
	cr_assert_eq(fh->magic, FLOW_HDR_MAGIC);
	cr_assert_eq(fh->family, 6);
	cr_assert_eq(fh->hops, hops);
	cr_assert_eq(
		memcmp(r.out + ETH_HLEN + 32, in + ETH_HLEN, n - ETH_HLEN), 0, "inner changed");
}

Test(flow_handoff, ipv6_foreign_flow_is_forwarded)
{
	FRAME(f, 128);
	size_t n = tcp6_frame(f, 40013, 9, 0, 1);

	assert_forwarded6(f, n, run(f, n, 1), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 0);
}

Test(flow_handoff, ipv6_from_peer_is_decapsulated_last_hop_takes_it)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp6_frame(f, 40014, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 0);
	struct run r = run(e, en, 1);

	cr_assert_eq(r.ret, TC_ACT_OK, "ret %d", r.ret);
	cr_assert_eq(r.out_len, n);
	cr_assert_eq(memcmp(r.out, f, n), 0, "not the original IPv6 frame");
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

Test(flow_handoff, ipv6_from_peer_with_hops_left_goes_on)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp6_frame(f, 40015, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 1);

	assert_forwarded6(f, n, run(e, en, 1), 0);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 0);
}

Test(flow_handoff, ipv6_from_non_peer_is_dropped)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp6_frame(f, 40016, 9, 0, 1);
	size_t en = encap(e, f, n, "10.9.9.9", 0);

	cr_assert_eq(run(e, en, 1).ret, TC_ACT_SHOT);
	cr_assert_eq(counter(FLOW_SLOT_STRANGER, FLOW_CNT_DROPPED), 1);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 0);
}

Test(flow_handoff, ipv6_hops_exhausted_is_taken_here)
{
	struct flow_cfg cfg = {
		.enabled = 1, .npeers = 2, .max_hops = 0, .addr4 = ip4(ME), .port = PORT};
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp6_frame(f, 40017, 9, 0, 1);
	size_t en;
	struct run r;

	cr_assert_eq(flow_handoff_set_config(h, &cfg), 0);
	assert_untouched(f, n, run(f, n, 1));
	/* From a peer with hops to spare: max_hops caps it, taken as the last resort. */
	en = encap(e, f, n, PEER, 3);
	r = run(e, en, 1);
	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n);
	cr_assert_eq(memcmp(r.out, f, n), 0);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
}

Test(flow_handoff, ipv6_bad_family_from_peer_is_dropped)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = tcp6_frame(f, 40018, 9, 0, 1);
	size_t en = encap(e, f, n, PEER, 0);

	((struct flow_hdr *)(e + ETH_HLEN + 28))->family = 5;
	cr_assert_eq(run(e, en, 1).ret, TC_ACT_SHOT);
	cr_assert_eq(counter(1, FLOW_CNT_DROPPED), 1);
}

/*
 * ICMPv6 `type` to [::1] from a router, quoting a segment we sent: [::1]:sport -> [::1]:dport
 * (ours -> the client's). Returns its length.
 */
static size_t too_big6(uint8_t *buf, uint16_t sport, uint16_t dport, uint8_t type)
{
	struct ethhdr *eth = (void *)buf;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct icmp6_hdr *ic = (void *)(ip6 + 1);
	struct ipv6hdr *in = (void *)(ic + 1);
	uint16_t *ports = (void *)(in + 1);
	size_t len = sizeof(*eth) + sizeof(*ip6) + sizeof(*ic) + sizeof(*in) + 8;

	memset(buf, 0, len);
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = 64;
	ip6->payload_len = htons(len - ETH_HLEN - sizeof(*ip6));
	inet_pton(AF_INET6, "2001:db8::9", &ip6->saddr);
	memcpy(&ip6->daddr, &in6addr_loopback, 16);
	ic->icmp6_type = type;
	ic->icmp6_mtu = htonl(1400);
	in->version = 6;
	in->nexthdr = IPPROTO_TCP;
	in->hop_limit = 63;
	in->payload_len = htons(1440);
	memcpy(&in->saddr, &in6addr_loopback, 16);
	memcpy(&in->daddr, &in6addr_loopback, 16);
	ports[0] = htons(sport);
	ports[1] = htons(dport);
	return len;
}

Test(flow_handoff, ipv6_packet_too_big_local_or_forwarded)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET6, SOCK_STREAM, 0), c = socket(AF_INET6, SOCK_STREAM, 0), s;
	uint16_t lport, cport;
	FRAME(f, 160);
	size_t n;

	cr_assert_eq(bind(l, (void *)&a, sizeof(a)), 0, "bind [::1]: %m");
	cr_assert_eq(listen(l, 4), 0);
	getsockname(l, (void *)&a, &alen);
	lport = ntohs(a.sin6_port);
	cr_assert_eq(connect(c, (void *)&a, sizeof(a)), 0);
	s = accept(l, NULL, NULL);
	alen = sizeof(a);
	getsockname(c, (void *)&a, &alen);
	cport = ntohs(a.sin6_port);

	/* We are the listener's side: our segments go lport -> cport. */
	n = too_big6(f, lport, cport, ICMP6_PACKET_TOO_BIG);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	n = too_big6(f, 9, 40019, ICMP6_PACKET_TOO_BIG);
	assert_forwarded6(f, n, run(f, n, 1), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
	close(s);
	close(c);
	close(l);
}

Test(flow_handoff, ipv6_neighbour_solicitation_and_other_icmp6_pass_untouched)
{
	FRAME(f, 160);
	size_t n = too_big6(f, 9, 40020, ND_NEIGHBOR_SOLICIT);
	int ran = 0;

	assert_untouched(f, n, run(f, n, 1));
	n = too_big6(f, 9, 40020, ND_NEIGHBOR_ADVERT);
	assert_untouched(f, n, run(f, n, 1));
	n = too_big6(f, 9, 40020, ICMP6_DST_UNREACH);
	assert_untouched(f, n, run(f, n, 1));
	n = too_big6(f, 9, 40020, ICMP6_PACKET_TOO_BIG);
	for (size_t cut = ETH_HLEN + 40; cut < n - 4; cut += 4) /* the ports: its last 4 read */
		ran += truncated(f, cut);
	cr_assert_gt(ran, 0, "the kernel ran none of the truncated frames");
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 0);
}

/*
 * ICMP "fragmentation needed" to the anycast address from a router at `from`, quoting a segment
 * we sent: 127.0.0.1:sport -> 127.0.0.1:dport (ours -> the client's). Returns its length.
 */
static size_t frag_needed(uint8_t *buf, uint16_t sport, uint16_t dport, uint8_t type, uint8_t code)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	struct icmphdr *ic = (void *)(ip + 1);
	struct iphdr *in = (void *)(ic + 1);
	uint16_t *ports = (void *)(in + 1);
	size_t len = sizeof(*eth) + sizeof(*ip) + sizeof(*ic) + sizeof(*in) + 8;

	memset(buf, 0, len);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->tot_len = htons(len - ETH_HLEN);
	ip->saddr = ip4("10.0.9.9");
	ip->daddr = ip4("127.0.0.1");
	ic->type = type;
	ic->code = code;
	ic->un.frag.mtu = htons(1400);
	in->version = 4;
	in->ihl = 5;
	in->ttl = 63;
	in->protocol = IPPROTO_TCP;
	in->tot_len = htons(1500);
	in->saddr = in->daddr = ip4("127.0.0.1");
	ports[0] = htons(sport);
	ports[1] = htons(dport);
	return len;
}

Test(flow_handoff, frag_needed_for_an_own_flow_is_local)
{
	int fds[3];
	uint16_t lport, cport;
	FRAME(f, 128);

	/* We are the listener's side: our segments go lport -> cport. */
	connection(fds, &lport, &cport);
	size_t n = frag_needed(f, lport, cport, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED);
	assert_untouched(f, n, run(f, n, 1));
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 1);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

Test(flow_handoff, frag_needed_for_a_foreign_flow_is_forwarded)
{
	FRAME(f, 128);
	size_t n = frag_needed(f, 9, 40010, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED);
	struct run r = run(f, n, 1);
	struct iphdr *ip = (void *)(r.out + ETH_HLEN);
	struct flow_hdr *fh = (void *)(r.out + ETH_HLEN + sizeof(*ip) + sizeof(struct udphdr));

	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n + 32);
	cr_assert_eq(ip->protocol, IPPROTO_UDP);
	cr_assert_eq(ip->daddr, ip4(PEER));
	cr_assert_eq(fh->hops, 0);
	cr_assert_eq(memcmp(r.out + ETH_HLEN + 32, f + ETH_HLEN, n - ETH_HLEN), 0);
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 1);
}

Test(flow_handoff, frag_needed_from_a_peer_is_decapsulated_and_taken)
{
	FRAME(f, 128);
	FRAME(e, 160);
	size_t n = frag_needed(f, 9, 40011, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED);
	size_t en = encap(e, f, n, PEER, 0);
	struct run r = run(e, en, 1);

	cr_assert_eq(r.ret, TC_ACT_OK);
	cr_assert_eq(r.out_len, n);
	cr_assert_eq(memcmp(r.out, f, n), 0);
	cr_assert_eq(counter(1, FLOW_CNT_DECAP), 1);
	cr_assert_eq(counter(0, FLOW_CNT_LAST_RESORT), 1);
}

Test(flow_handoff, other_icmp_and_truncated_frag_needed_pass_untouched)
{
	FRAME(f, 128);
	size_t n = frag_needed(f, 9, 40012, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH);

	assert_untouched(f, n, run(f, n, 1));
	n = frag_needed(f, 9, 40012, ICMP_ECHO, 0);
	assert_untouched(f, n, run(f, n, 1));
	n = frag_needed(f, 9, 40012, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED);
	int ran = 0;
	for (size_t cut = ETH_HLEN + 20; cut < n - 4; cut += 4) /* the ports: its last 4 read */
		ran += truncated(f, cut);
	cr_assert_gt(ran, 0, "the kernel ran none of the truncated frames");
	cr_assert_eq(counter(1, FLOW_CNT_FORWARDED), 0);
	cr_assert_eq(counter(0, FLOW_CNT_LOCAL), 0);
}
