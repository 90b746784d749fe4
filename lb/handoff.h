/*
 * DOC: lb/handoff.h: the flow hand-off in anylb (bgp.flow_handoff, flow/handoff.h's program).
 * Set up once at start-up, before the privileges drop; whatever fails leaves anylb running
 * without it, said once in the log and in /status. Main thread only.
 */
#ifndef ANYLB_LB_HANDOFF_H
#define ANYLB_LB_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "flow/handoff_abi.h"

struct conf;
struct ev_loop;
struct strbuf;
struct lb_handoff;

/* One anycast prefix for the program: family AF_INET or AF_INET6, addr in network order. */
struct lb_handoff_prefix {
	int family;
	uint8_t addr[16];
	unsigned len;
};

/* What the program is given, built from the configuration alone (lb_handoff_plan). */
struct lb_handoff_plan {
	struct flow_cfg cfg;
	uint32_t ring[FLOW_MAX_PEERS]; /* cfg.npeers addresses, network order: [0] is self */
	struct lb_handoff_prefix prefixes[FLOW_MAX_PREFIX];
	size_t nprefixes; /* every service's anycast prefixes, each once */
};

/*
 * Pure: the plan for c's bgp.flow_handoff. The ring is self then the peers in their order (self
 * index 0, so the next box is the first peer), max_hops and port as configured, the prefixes
 * those of every service. 0; -ENOENT when flow_handoff is not set; -E2BIG when there are more
 * prefixes than the program holds; a sentence in err either way.
 */
int lb_handoff_plan(const struct conf *c, struct lb_handoff_plan *p, char *err, size_t errlen);

/*
 * Sets the hand-off up as c says: opens one program per interface, fills it, attaches it, and
 * starts the heartbeats on loop (bgp.flow_handoff.heartbeat; loop NULL: none). Never fails for
 * the feature: the result says on, off (not configured) or failed (with the reason, logged
 * once). NULL only when memory ran out. The caller owns it (lb_handoff_close).
 */
struct lb_handoff *lb_handoff_start(const struct conf *c, struct ev_loop *loop);

/*
 * Upgrade, old side: the successor replaced the filters; the close leaves them. Our heartbeats
 * stop without "leaving": the successor's take over from its first loop turn.
 */
void lb_handoff_handed_over(struct lb_handoff *h);

/*
 * Upgrade, old side: the attempt failed; the filters the successor replaced are ours again,
 * and so are the heartbeats.
 */
void lb_handoff_reclaim(struct lb_handoff *h);

/* "off", "on", "failed" or "handed_over". */
const char *lb_handoff_state_name(const struct lb_handoff *h);

/* The /status object (new reference), NULL when memory ran out; h may be NULL ("off"). */
json_t *lb_handoff_status_json(const struct lb_handoff *h);

/* The /metrics families; h may be NULL. */
void lb_handoff_metrics(const struct lb_handoff *h, struct strbuf *m);

/*
 * Detaches (when detach is set and the filters are still ours, telling the peers "leaving"
 * first) and frees; h may be NULL. An
 * upgrade's successor that fails passes detach 0: the old process takes the filters back.
 */
void lb_handoff_close(struct lb_handoff *h, int detach);

#endif
