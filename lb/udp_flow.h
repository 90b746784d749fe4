/*
 * DOC: the udp flow table
 *
 * A udp service has no connections, only datagrams: a flow is what anylb remembers of one
 * client (its address and port, and the address it sent to) so that the client's later
 * datagrams go to the same backend and the backend's replies find their way back. This file is
 * the table and its orders, nothing else: a hash of flows by key, an LRU list (the least
 * recently used first: idle flows expire from its head, and a full table evicts its head), and
 * the list of flows waiting for a reply, oldest first (a reply that does not come within
 * udp.reply_timeout is a failure of the backend). Pure: time is passed in, no I/O, one thread.
 *
 * The flows are the caller's (lb/udp_listener.c embeds struct udp_flow_node in its own flow);
 * the table only links them. The hash is keyed with a secret seed per table, so clients cannot
 * aim their source ports at one chain.
 */
#ifndef ANYLB_LB_UDP_FLOW_H
#define ANYLB_LB_UDP_FLOW_H

#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

/* A flow's identity: the client's address and port, and the local address it sent to. */
struct udp_key {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t pad;
	uint16_t port;     /* the client's, network order */
	uint8_t ip[16];    /* the client's (IPv4 in the first 4 bytes) */
	uint8_t local[16]; /* where it sent to: a wildcard or anycast listener answers from it */
};

struct udp_flow_node {
	struct udp_key key;
	struct udp_flow_node *hnext;         /* hash chain */
	struct udp_flow_node *lprev, *lnext; /* LRU: head is the least recently used */
	struct udp_flow_node *wprev, *wnext; /* awaiting a reply: head is the oldest */
	uint64_t last_ms;                    /* the client's last datagram */
	uint64_t sent_ms;                    /* the oldest unanswered datagram; 0: none */
	int waiting;                         /* linked in the awaiting list */
};

struct udp_flow_table {
	struct udp_flow_node **buckets;
	size_t nbuckets; /* a power of two */
	size_t n, max;
	uint64_t seed;
	struct udp_flow_node *lru_head, *lru_tail;
	struct udp_flow_node *wait_head, *wait_tail;
};

/* Room for max flows (>= 1); seed keys the hash. 0 or -ENOMEM. */
int udp_flow_table_init(struct udp_flow_table *t, size_t max, uint64_t seed);
void udp_flow_table_destroy(struct udp_flow_table *t);

/* The key of a datagram from client to local (local's port is ignored). */
void udp_key_make(struct udp_key *k, const struct addr *client, const struct addr *local);

struct udp_flow_node *udp_flow_find(struct udp_flow_table *t, const struct udp_key *k);

/* Links n (its key set) as the most recently used; the caller made room first (full()). */
void udp_flow_insert(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms);
void udp_flow_remove(struct udp_flow_table *t, struct udp_flow_node *n);

static inline int udp_flow_full(const struct udp_flow_table *t)
{
	return t->n >= t->max;
}

/* A datagram from the client: most recently used; it waits for a reply from now if not yet. */
void udp_flow_from_client(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms);

/* A reply came: nothing is awaited any more. Returns how long the oldest waited (ms), or -1. */
int64_t udp_flow_from_backend(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms);

/* The least recently used flow, or NULL. */
static inline struct udp_flow_node *udp_flow_oldest(const struct udp_flow_table *t)
{
	return t->lru_head;
}

/*
 * The oldest flow still waiting for a reply sent at or before deadline_ms, taken off the
 * awaiting list (its reply is now missing), or NULL.
 */
struct udp_flow_node *udp_flow_reply_missing(struct udp_flow_table *t, uint64_t deadline_ms);

#endif
