/*
 * DOC: flow/handoff_abi.h: what the BPF program (handoff.bpf.c) and its loader (handoff.c)
 * share: the layouts of the maps' keys and values, and the encapsulation header. Fixed-width
 * types only, in network byte order where they hold addresses or ports from a packet.
 */
#ifndef ANYLB_FLOW_HANDOFF_ABI_H
#define ANYLB_FLOW_HANDOFF_ABI_H

#include <linux/types.h>

#define FLOW_MAX_PEERS  16
#define FLOW_MAX_PREFIX 256
#define FLOW_HDR_MAGIC  0xa7
/* The counters' slot for segments from outside the peer list. */
#define FLOW_SLOT_STRANGER FLOW_MAX_PEERS

/* flow_config[0]: set by anylb; the program does nothing while enabled is 0. */
struct flow_cfg {
	__u32 enabled;
	__u32 self;     /* my index in the peer order */
	__u32 npeers;   /* peers 0..npeers-1, self included */
	__u32 max_hops; /* hops a forwarded segment may still take */
	__u32 addr4;    /* my uplink IPv4 address (network order), the outer source */
	__u16 port;     /* the encapsulation UDP port (host order) */
	/* The peer index segments are forwarded to: the first live one after self in the order
	 * (lb/peer_live.h); self when no other is alive, and then every segment is taken here. */
	__u16 next;
};

/* flow_peers[i]: peer i's uplink IPv4 address (network order); flow_peer_index the reverse. */
struct flow_peer {
	__u32 addr4;
};

/* flow_prefix4: an LPM trie key. */
struct flow_lpm4 {
	__u32 prefixlen;
	__u32 addr; /* network order */
};

/* flow_prefix6: an LPM trie key. */
struct flow_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * After the outer IPv4 and UDP headers, before the original IP packet. Family
 * FLOW_FAMILY_CONTROL is a message between the anylb processes (lb/handoff_beat.c), no inner
 * packet: the program lets it through to the socket when it comes from a peer.
 */
struct flow_hdr {
	__u8 magic;
	__u8 hops;   /* hops left after this one */
	__u8 family; /* 4 or 6: the inner packet is IPv4 or IPv6; FLOW_FAMILY_CONTROL */
	__u8 kind;   /* a control message's enum flow_kind; 0 otherwise */
};

#define FLOW_FAMILY_CONTROL 0

enum flow_kind {
	FLOW_KIND_BEAT = 1,    /* "I am alive": sent every bgp.flow_handoff.heartbeat */
	FLOW_KIND_LEAVING = 2, /* "my program is gone": sent when anylb stops and detaches */
};

enum flow_counter {
	FLOW_CNT_LOCAL,
	FLOW_CNT_FORWARDED,
	FLOW_CNT_DECAP,
	FLOW_CNT_LAST_RESORT,
	FLOW_CNT_DROPPED,
	FLOW_CNT_MAX
};

/* flow_counters[peer] (per CPU): local and last_resort in my slot, forwarded in the next
 * peer's, decapsulated and dropped in the sender's (FLOW_SLOT_STRANGER when not a peer). */
struct flow_counters {
	__u64 c[FLOW_CNT_MAX];
};

#endif
