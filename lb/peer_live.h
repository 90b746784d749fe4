/*
 * DOC: lb/peer_live.h: which of the flow hand-off's peers are alive (pure)
 *
 * The ring as this box sees it (lb_handoff_plan): index 0 is this box, 1..n-1 the peers in the
 * order flows are offered to them. Each peer is judged from its heartbeats (lb/handoff_beat.c):
 *
 *   UP --silent for timeout--> DOWN --a heartbeat--> UP
 *    +------"leaving"-----------^
 *
 * Every peer starts UP, as if heard at the start: a box does not black-hole what it forwards
 * before it could hear anyone, and a peer never heard goes DOWN one timeout after the start. A
 * peer that says it is leaving (its anylb stopped and took its program away) is DOWN at once.
 * A timeout of 0 judges no silence (a ring with boxes that have no heartbeats yet): only
 * "leaving" takes a peer DOWN, and a heartbeat brings it back. peer_live_next() is what the
 * program forwards to: the first UP peer after this box, or this box (0) when none is, and then
 * every segment is taken here. Every change goes through one setter and is reported by the
 * functions' return values; the caller logs.
 *
 * Time is injected (ms, monotonic: lib/clock.h). Not thread-safe: one owner (the main loop).
 */
#ifndef ANYLB_LB_PEER_LIVE_H
#define ANYLB_LB_PEER_LIVE_H

#include <stddef.h>
#include <stdint.h>

#define PEER_LIVE_MAX 16 /* flow/handoff_abi.h's FLOW_MAX_PEERS (asserted in lb/handoff.c) */

enum peer_live_state { PEER_UP, PEER_DOWN };

/* Why a peer is in its state: the last transition's cause. */
enum peer_live_why {
	PEER_LIVE_START,
	PEER_LIVE_HEARD,
	PEER_LIVE_SILENT,
	PEER_LIVE_LEFT,
	PEER_LIVE_INHERITED, /* skipped by the program this process replaced (peer_live_inherit) */
};

struct peer_live_peer {
	enum peer_live_state state;
	enum peer_live_why why;
	uint64_t heard_ms; /* the last heartbeat, or the start */
	int ever;          /* heard at least once */
};

struct peer_live {
	size_t n;            /* the ring's size, this box included */
	uint64_t timeout_ms; /* silent this long: DOWN; 0: silence is not judged */
	struct peer_live_peer p[PEER_LIVE_MAX];
};

/* n (2..PEER_LIVE_MAX) boxes, every peer UP as if heard at now. */
void peer_live_init(struct peer_live *l, size_t n, uint64_t timeout_ms, uint64_t now_ms);

/*
 * The program this process replaces (an upgrade's old process, or one that crashed) forwarded
 * to peer `next`: the peers before it in the ring were down there, and start DOWN here until
 * heard. next 0 or out of the ring says nothing (an older program, or none alive: not taken).
 */
void peer_live_inherit(struct peer_live *l, size_t next);

/* The clock starts again at now for every peer (the socket only just got bound). */
void peer_live_restart(struct peer_live *l, uint64_t now_ms);

/* A heartbeat from peer i (1..n-1; others ignored). Returns 1 when i came UP. */
int peer_live_heard(struct peer_live *l, size_t i, uint64_t now_ms);

/* Peer i said it is leaving. Returns 1 when i went DOWN. */
int peer_live_left(struct peer_live *l, size_t i);

/* Peers silent for the timeout at now go DOWN. Returns how many did. */
size_t peer_live_tick(struct peer_live *l, uint64_t now_ms);

/* Whether peer i is UP (this box, 0, always is; out of the ring: no). */
int peer_live_up(const struct peer_live *l, size_t i);

/* The first UP peer after this box in ring order; 0 (this box) when none is. */
size_t peer_live_next(const struct peer_live *l);

/* "start" (assumed alive), "heard", "silent", "left", "inherited": why a peer is as it is. */
const char *peer_live_why_name(enum peer_live_why w);

#endif
