/*
 * DOC: flow/handoff.bpf.c: the second chance at ingress (tc clsact). A TCP segment to an anycast
 * prefix is taken here when it is a SYN or belongs to a local socket (established, request,
 * time-wait, or a valid SYN-cookie ACK); otherwise it goes to the next live peer in the fixed
 * order (flow_cfg.next, which anylb keeps from the heartbeats), in IPv4/UDP/flow_hdr with a hop
 * count, and the last hop takes it whatever. UDP to the encapsulation port is decapsulated only
 * from a configured peer (its control messages, the heartbeats, pass to anylb). Anything else,
 * and anything truncated or with IP options, passes untouched (TC_ACT_OK). IPv6 goes the same way:
 * the peers stay IPv4 uplink addresses, so an IPv6 segment travels in the same IPv4/UDP/flow_hdr
 * outer with flow_hdr.family 6 (Ethernet type and skb->protocol switched to IPv4 and back on
 * decapsulation); IPv6 with extension headers passes untouched.
 *
 * ICMP "fragmentation needed" (IPv4 type 3 code 4) and ICMPv6 "packet too big" (type 2) to an
 * anycast prefix go where the segment they quote would: taken here when the quoted TCP header
 * (our segment, anycast -> client) belongs to a local socket, else forwarded to the next peer like
 * a segment, so that path MTU discovery reaches the box that owns the flow. Other ICMP and ICMPv6
 * (neighbour discovery above all) pass untouched.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow/handoff_abi.h"

/* errno's EALREADY, which the BPF target has no header for. */
#define FLOW_EALREADY 114
/* The kernel has them since 6.3; the uapi headers installed may be older. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif
#define FLOW_ICMPV6_PKT_TOOBIG 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_cfg);
} flow_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct flow_peer);
} flow_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOW_MAX_PEERS);
	__type(key, __u32);
	__type(value, __u32);
} flow_peer_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FLOW_MAX_PREFIX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_lpm4);
	__type(value, __u32);
} flow_prefix4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FLOW_MAX_PREFIX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_lpm6);
	__type(value, __u32);
} flow_prefix6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_MAX_PEERS + 1);
	__type(key, __u32);
	__type(value, struct flow_counters);
} flow_counters SEC(".maps");

/* linux/icmp.h pulls in libc headers a BPF target has not: the 8 bytes we read, by hand. */
struct flow_icmp {
	__u8 type, code;
	__be16 check;
	__be32 rest; /* frag needed: unused and the next hop's MTU */
};
#define FLOW_ICMP_DEST_UNREACH 3
#define FLOW_ICMP_FRAG_NEEDED  4

struct flow_outer {
	struct iphdr ip;
	struct udphdr udp;
	struct flow_hdr fh;
};
_Static_assert(sizeof(struct flow_outer) == 32, "no padding in the outer headers");

static __always_inline void count(__u32 slot, enum flow_counter c)
{
	struct flow_counters *v = bpf_map_lookup_elem(&flow_counters, &slot);

	if (v && c < FLOW_CNT_MAX)
		v->c[c]++;
}

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Whether the segment (its tuple `t` of `tlen`, its IP header `ip` of `iplen`) belongs to a local
 * socket; a listener counts only for a SYN-cookie ACK, and only when `tcp` is given.
 */
static __always_inline int is_local(struct __sk_buff *skb, struct bpf_sock_tuple *t, __u32 tlen,
	void *ip, __u32 iplen, struct tcphdr *tcp)
{
	struct bpf_sock *sk;
	int local = 0;

	sk = bpf_skc_lookup_tcp(skb, t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	if (sk->state != BPF_TCP_LISTEN)
		local = 1;
	else if (tcp && tcp->ack && !tcp->syn)
		local = bpf_tcp_check_syncookie(sk, ip, iplen, tcp, sizeof(*tcp)) == 0;
	bpf_sk_release(sk);
	return local;
}

static __always_inline int is_local4(struct __sk_buff *skb, struct iphdr *ip, struct tcphdr *tcp)
{
	struct bpf_sock_tuple t = {};

	t.ipv4.saddr = ip->saddr;
	t.ipv4.daddr = ip->daddr;
	t.ipv4.sport = tcp->source;
	t.ipv4.dport = tcp->dest;
	return is_local(skb, &t, sizeof(t.ipv4), ip, sizeof(*ip), tcp);
}

static __always_inline int is_local6(struct __sk_buff *skb, struct ipv6hdr *ip6, struct tcphdr *tcp)
{
	struct bpf_sock_tuple t = {};

	__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, sizeof(t.ipv6.saddr));
	__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, sizeof(t.ipv6.daddr));
	t.ipv6.sport = tcp->source;
	t.ipv6.dport = tcp->dest;
	return is_local(skb, &t, sizeof(t.ipv6), ip6, sizeof(*ip6), tcp);
}

/*
 * An IPv6 skb whose encapsulation mark is already set (see forward()) grown without the helper's
 * encapsulation flags: bpf_skb_change_proto makes it IPv4 (skb->protocol) by taking 20 bytes out
 * of the IPv6 header, which is saved first and put back after the outer headers.
 */
static __always_inline long grow6_plain(struct __sk_buff *skb, struct flow_outer *o)
{
	struct ipv6hdr ip6;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)))
		return -1;
	if (bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0))
		return -1;
	if (bpf_skb_adjust_room(
		    skb, sizeof(*o) + sizeof(ip6) - sizeof(struct iphdr), BPF_ADJ_ROOM_MAC, 0))
		return -1;
	return bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(*o), &ip6, sizeof(ip6), 0);
}

/*
 * Sends the IP packet after the Ethernet header (`family` 4 or 6) to the next peer with `hops`
 * left, in IPv4/UDP/flow_hdr either way.
 */
static __always_inline int forward(
	struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, __u8 family)
{
	__be16 proto = bpf_htons(ETH_P_IP);
	struct flow_outer o = {};
	struct flow_peer *peer;
	__u32 next, inner = skb->len - ETH_HLEN;

	if (cfg->npeers < 2 || cfg->npeers > FLOW_MAX_PEERS)
		goto last_resort;
	/* The next live peer, as anylb judges it; none (next is self) leaves it here. */
	next = cfg->next;
	if (next == cfg->self || next >= cfg->npeers)
		goto last_resort;
	peer = bpf_map_lookup_elem(&flow_peers, &next);
	if (!peer || !peer->addr4)
		goto last_resort;
	o.ip.version = 4;
	o.ip.ihl = 5;
	o.ip.ttl = 64;
	o.ip.protocol = IPPROTO_UDP;
	o.ip.tot_len = bpf_htons(inner + sizeof(o));
	o.ip.saddr = cfg->addr4;
	o.ip.daddr = peer->addr4;
	o.ip.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&o.ip, sizeof(o.ip), 0));
	o.udp.source = bpf_htons(cfg->port);
	o.udp.dest = bpf_htons(cfg->port);
	o.udp.len = bpf_htons(inner + sizeof(o.udp) + sizeof(o.fh));
	o.fh.magic = FLOW_HDR_MAGIC;
	o.fh.hops = hops;
	o.fh.family = family;
	long err = bpf_skb_adjust_room(skb, sizeof(o), BPF_ADJ_ROOM_MAC,
		BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP);
	/*
	 * A segment a peer forwarded here, decapsulated and going on to the next box, still has
	 * skb->encapsulation set from the first box's encapsulation (veth and routing keep it, a
	 * shrink does not clear it), and the helper refuses to mark a packet encapsulated twice.
	 * What the mark is for is segmenting a GSO packet later; a plain one grows without it.
	 * Seen in tests/scenario/test_flow_safe.c as dropped ACKs once a fourth box joined.
	 */
	if (err == -FLOW_EALREADY && skb->gso_size == 0)
		err = family == 6 ? grow6_plain(skb, &o)
				  : bpf_skb_adjust_room(skb, sizeof(o), BPF_ADJ_ROOM_MAC, 0);
	/* IPv6 in IPv4: skb->protocol was switched (the helper, or grow6_plain), the Ethernet type
	 * is ours. */
	if (!err && family == 6)
		err = bpf_skb_store_bytes(
			skb, __builtin_offsetof(struct ethhdr, h_proto), &proto, sizeof(proto), 0);
	if (err || bpf_skb_store_bytes(skb, ETH_HLEN, &o, sizeof(o), 0)) {
		count(next, FLOW_CNT_DROPPED);
		return TC_ACT_SHOT;
	}
	count(next, FLOW_CNT_FORWARDED);
	/* Routing sends it on: the destination is now the peer's uplink address. */
	return TC_ACT_OK;
last_resort:
	count(cfg->self, FLOW_CNT_LAST_RESORT);
	return TC_ACT_OK;
}

/* To one of the anycast prefixes (IPv4). */
static __always_inline int anycast4(__be32 daddr)
{
	struct flow_lpm4 key = {.prefixlen = 32, .addr = daddr};

	return bpf_map_lookup_elem(&flow_prefix4, &key) != NULL;
}

/*
 * What becomes of a packet about a flow once it is known whether a local socket owns it: taken
 * here, taken as the last hop, or forwarded to the next peer with one hop less.
 */
static __always_inline int take_or_forward(
	struct __sk_buff *skb, struct flow_cfg *cfg, int local, __u32 hops, int fwd, __u8 family)
{
	if (local) {
		count(cfg->self, FLOW_CNT_LOCAL);
		return TC_ACT_OK;
	}
	if (hops == 0) {
		count(cfg->self, fwd ? FLOW_CNT_LAST_RESORT : FLOW_CNT_LOCAL);
		return TC_ACT_OK;
	}
	return forward(skb, cfg, hops - 1, family);
}

/* A TCP segment in IPv4 after the Ethernet header; `hops` it may still take, `fwd` whether it
 * came from a peer (then hops 0 means last resort). */
static __always_inline int tcp4(struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, int fwd)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	if (!anycast4(ip->daddr))
		return TC_ACT_OK;
	return take_or_forward(
		skb, cfg, (tcp->syn && !tcp->ack) || is_local4(skb, ip, tcp), hops, fwd, 4);
}

/*
 * ICMP in IPv4 after the Ethernet header: "fragmentation needed" about one of our segments goes
 * to the socket's owner (as tcp4 does with a segment); anything else passes.
 */
static __always_inline int icmp4(struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, int fwd)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct flow_icmp *ic = (void *)(ip + 1);
	struct iphdr *in = (void *)(ic + 1);
	__be16 *ports = (void *)(in + 1);
	struct bpf_sock_tuple t = {};

	if ((void *)(ports + 2) > end || ip->ihl != 5 || ip->protocol != IPPROTO_ICMP)
		return TC_ACT_OK;
	if (ic->type != FLOW_ICMP_DEST_UNREACH || ic->code != FLOW_ICMP_FRAG_NEEDED ||
		in->ihl != 5 || in->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	if (!anycast4(ip->daddr))
		return TC_ACT_OK;
	/* The quoted segment went out from us: its reverse is the socket's incoming tuple. */
	t.ipv4.saddr = in->daddr;
	t.ipv4.daddr = in->saddr;
	t.ipv4.sport = ports[1];
	t.ipv4.dport = ports[0];
	return take_or_forward(
		skb, cfg, is_local(skb, &t, sizeof(t.ipv4), ip, sizeof(*ip), NULL), hops, fwd, 4);
}

/* To one of the anycast prefixes (IPv6). */
static __always_inline int anycast6(struct in6_addr *daddr)
{
	struct flow_lpm6 key = {.prefixlen = 128};

	__builtin_memcpy(key.addr, daddr, sizeof(key.addr));
	return bpf_map_lookup_elem(&flow_prefix6, &key) != NULL;
}

/* A TCP segment in IPv6 (no extension headers) after the Ethernet header; as tcp4. */
static __always_inline int tcp6(struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, int fwd)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip6 + 1);

	if ((void *)(tcp + 1) > end || ip6->nexthdr != IPPROTO_TCP)
		return TC_ACT_OK;
	if (!anycast6(&ip6->daddr))
		return TC_ACT_OK;
	return take_or_forward(
		skb, cfg, (tcp->syn && !tcp->ack) || is_local6(skb, ip6, tcp), hops, fwd, 6);
}

/* ICMPv6 after the Ethernet header: "packet too big" about one of our segments as icmp4. */
static __always_inline int icmp6(struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, int fwd)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct flow_icmp *ic = (void *)(ip6 + 1);
	struct ipv6hdr *in = (void *)(ic + 1);
	__be16 *ports = (void *)(in + 1);
	struct bpf_sock_tuple t = {};

	if ((void *)(ports + 2) > end || ip6->nexthdr != IPPROTO_ICMPV6)
		return TC_ACT_OK;
	if (ic->type != FLOW_ICMPV6_PKT_TOOBIG || in->nexthdr != IPPROTO_TCP)
		return TC_ACT_OK;
	if (!anycast6(&ip6->daddr))
		return TC_ACT_OK;
	__builtin_memcpy(t.ipv6.saddr, &in->daddr, sizeof(t.ipv6.saddr));
	__builtin_memcpy(t.ipv6.daddr, &in->saddr, sizeof(t.ipv6.daddr));
	t.ipv6.sport = ports[1];
	t.ipv6.dport = ports[0];
	return take_or_forward(
		skb, cfg, is_local(skb, &t, sizeof(t.ipv6), ip6, sizeof(*ip6), NULL), hops, fwd, 6);
}

/* IPv6 after the Ethernet header: ICMPv6 or TCP. */
static __always_inline int ipv6(struct __sk_buff *skb, struct flow_cfg *cfg, __u32 hops, int fwd)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;

	if ((void *)(ip6 + 1) > end)
		return TC_ACT_OK;
	if (ip6->nexthdr == IPPROTO_ICMPV6)
		return icmp6(skb, cfg, hops, fwd);
	return tcp6(skb, cfg, hops, fwd);
}

/*
 * UDP to the encapsulation port: decapsulated from a peer, dropped (and counted) otherwise. A
 * control message from a peer (family FLOW_FAMILY_CONTROL: heartbeats) goes on to anylb's socket
 * untouched and uncounted.
 */
static __always_inline int udp4(struct __sk_buff *skb, struct flow_cfg *cfg)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct flow_outer *o = data + ETH_HLEN;
	__u32 *from, saddr, hops;
	__be16 proto6 = bpf_htons(ETH_P_IPV6);
	__u8 family;

	if ((void *)(o + 1) > end || o->ip.ihl != 5 || o->udp.dest != bpf_htons(cfg->port))
		return TC_ACT_OK;
	saddr = o->ip.saddr;
	from = bpf_map_lookup_elem(&flow_peer_index, &saddr);
	if (from && o->fh.magic == FLOW_HDR_MAGIC && o->fh.family == FLOW_FAMILY_CONTROL)
		return TC_ACT_OK;
	if (!from || o->fh.magic != FLOW_HDR_MAGIC || (o->fh.family != 4 && o->fh.family != 6)) {
		count(from ? *from : FLOW_SLOT_STRANGER, FLOW_CNT_DROPPED);
		return TC_ACT_SHOT;
	}
	hops = o->fh.hops;
	if (hops > cfg->max_hops)
		hops = cfg->max_hops;
	family = o->fh.family;
	if (bpf_skb_adjust_room(skb, -(__s32)sizeof(*o), BPF_ADJ_ROOM_MAC,
		    family == 6 ? BPF_F_ADJ_ROOM_DECAP_L3_IPV6 : 0) ||
		(family == 6 && bpf_skb_store_bytes(skb, __builtin_offsetof(struct ethhdr, h_proto),
					&proto6, sizeof(proto6), 0))) {
		count(*from, FLOW_CNT_DROPPED);
		return TC_ACT_SHOT;
	}
	count(*from, FLOW_CNT_DECAP);
	if (family == 6)
		return ipv6(skb, cfg, hops, 1);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct iphdr *inner = data + ETH_HLEN;
	if ((void *)(inner + 1) <= end && inner->protocol == IPPROTO_ICMP)
		return icmp4(skb, cfg, hops, 1);
	return tcp4(skb, cfg, hops, 1);
}

SEC("tc")
int flow_handoff(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 zero = 0;
	struct flow_cfg *cfg = bpf_map_lookup_elem(&flow_config, &zero);

	if (!cfg || !cfg->enabled)
		return TC_ACT_OK;
	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return ipv6(skb, cfg, cfg->max_hops, 0);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol == IPPROTO_UDP)
		return udp4(skb, cfg);
	if (ip->protocol == IPPROTO_ICMP)
		return icmp4(skb, cfg, cfg->max_hops, 0);
	return tcp4(skb, cfg, cfg->max_hops, 0);
}

char LICENSE[] SEC("license") = "GPL";
