/*
 * DOC: lb/handoff_beat.h: the flow hand-off's heartbeats on the wire
 *
 * One UDP socket bound to this box's uplink address and the encapsulation port
 * (bgp.flow_handoff.self, .port). Every heartbeat it sends a FLOW_KIND_BEAT control message
 * (flow/handoff_abi.h: a flow_hdr of family FLOW_FAMILY_CONTROL, nothing after it) to each peer;
 * the peers' programs let control messages from their peers through to this socket, and
 * decapsulate everything else on that port before it gets here. At a stop that takes the
 * program away, FLOW_KIND_LEAVING goes to each peer instead, so that they stop forwarding here
 * at once. What the messages mean is the caller's (lb/handoff.c, lb/peer_live.h).
 *
 * Main loop only. No SO_REUSEADDR: no other process may take the heartbeats. Across an
 * upgrade the old process closes its socket at the hand-over and the successor binds at its
 * first loop turn, after it; a bind that fails is tried again every heartbeat, said once.
 * Time is clock_ms() (monotonic).
 */
#ifndef ANYLB_LB_HANDOFF_BEAT_H
#define ANYLB_LB_HANDOFF_BEAT_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "flow/handoff_abi.h"

struct handoff_beat;

struct handoff_beat_hooks {
	/* A control message of `kind` from addr4 (network order), any address. */
	void (*heard)(void *arg, uint32_t addr4, enum flow_kind kind, uint64_t now_ms);
	/* After each round of heartbeats sent, while the socket is bound. */
	void (*tick)(void *arg, uint64_t now_ms);
	/* The socket got bound (at the start, or later): the silence so far says nothing. */
	void (*bound)(void *arg, uint64_t now_ms);
	void *arg;
};

struct handoff_beat_conf {
	uint32_t self4;         /* network order */
	uint16_t port;          /* host order */
	const uint32_t *peers4; /* npeers addresses, network order */
	size_t npeers;
	uint64_t every_ms; /* > 0 */
};

/* Starts the heartbeats on loop (c->peers4 is copied). NULL: out of memory (logged). */
struct handoff_beat *handoff_beat_new(struct ev_loop *loop, const struct handoff_beat_conf *c,
	const struct handoff_beat_hooks *h);

/*
 * Stops and frees; b may be NULL. With leaving, each peer is told FLOW_KIND_LEAVING first (the
 * program is being detached).
 */
void handoff_beat_free(struct handoff_beat *b, int leaving);

/* Control messages sent and received since the start (for /metrics). */
uint64_t handoff_beat_sent(const struct handoff_beat *b);
uint64_t handoff_beat_received(const struct handoff_beat *b);

#endif
