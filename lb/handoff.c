/*
 * DOC: lb/handoff.c: the flow hand-off in anylb (see handoff.h)
 *
 * One job: turn bgp.flow_handoff into the program's maps and filters, and report them. The
 * loader (flow/handoff.c) holds one interface per handle, so each interface gets a program of
 * its own, with the same configuration; the counters are the sum over them.
 *
 *   (start) --configured, all attached--> ON --upgrade handed over--> HANDED_OVER
 *      |                                   ^                              |
 *      |                                   +------upgrade failed----------+
 *      +--not configured--> OFF
 *      +--anything fails--> FAILED   (everything opened so far closed: anylb runs without it)
 *
 * The rules of the stop: ON detaches at close (SIGTERM, SIGINT, a failed start). HANDED_OVER
 * does not: the successor attached with replace at the same handle and priority, and a detach
 * names the filter by those, so it would remove the successor's. A successor that fails to
 * start does not detach either; the old process re-attaches its own (lb_handoff_reclaim).
 * A crash detaches nothing: the program stays in the kernel with its last configuration. It
 * still hands SYNs and segments of local sockets to the kernel (which resets those of dead
 * sockets, as without it) and forwards the rest to the peers that own them, so nothing is
 * black-holed; the next start replaces it. Hence no watchdog for it.
 */
#include "lb/handoff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "conf/conf.h"
#include "lb/handoff_beat.h"
#include "lb/peer_live.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#ifdef ANYLB_BPF
#include "flow/handoff.h"
#else
struct flow_handoff;
#endif

#define HANDOFF_REASON_MAX 256

_Static_assert(PEER_LIVE_MAX == FLOW_MAX_PEERS, "one liveness slot per ring position");

enum lb_handoff_state {
	LB_HANDOFF_OFF,
	LB_HANDOFF_ON,
	LB_HANDOFF_FAILED,
	LB_HANDOFF_HANDED_OVER,
};

struct lb_handoff {
	enum lb_handoff_state state;
	char reason[HANDOFF_REASON_MAX];
	size_t nifaces;
	char ifname[CONF_FLOW_MAX_IFACES][IF_NAMESIZE];
	struct flow_handoff *fh[CONF_FLOW_MAX_IFACES]; /* one per interface while ON */
	unsigned mss_clamp;
	struct lb_handoff_plan plan;
	/* The heartbeats (while ON): who is alive, and the wire. */
	struct ev_loop *loop;
	uint64_t heartbeat_ms, peer_timeout_ms;
	struct peer_live live;
	struct handoff_beat *beat;
	uint64_t beats_sent, beats_received; /* of the heartbeat sockets before this one */
	uint16_t inherited_next; /* the replaced program's next peer (handoff_inherit), 0: none */
};

static const char *const handoff_state_names[] = {
	[LB_HANDOFF_OFF] = "off",
	[LB_HANDOFF_ON] = "on",
	[LB_HANDOFF_FAILED] = "failed",
	[LB_HANDOFF_HANDED_OVER] = "handed_over",
};

static const char *handoff_name(enum lb_handoff_state s)
{
	switch (s) {
	case LB_HANDOFF_OFF:
	case LB_HANDOFF_ON:
	case LB_HANDOFF_FAILED:
	case LB_HANDOFF_HANDED_OVER:
		return handoff_state_names[s];
	}
	return "unknown";
}

/* The heartbeats stop (telling the peers, with leaving); their counts are kept. */
static void handoff_beats_stop(struct lb_handoff *h, int leaving)
{
	h->beats_sent += handoff_beat_sent(h->beat);
	h->beats_received += handoff_beat_received(h->beat);
	handoff_beat_free(h->beat, leaving);
	h->beat = NULL;
}

static void handoff_beats_start(struct lb_handoff *h);

/*
 * The one setter: every transition is logged once, with its reason. The heartbeats run while
 * ON only: this box is in its peers' ring exactly while its program is. Leaving ON for FAILED
 * (the program is gone) says "leaving"; for HANDED_OVER it does not (the successor's heartbeats
 * take over: its program is in place).
 */
static void handoff_set(struct lb_handoff *h, enum lb_handoff_state s, const char *reason)
{
	static const char loader[] = "flow hand-off: "; /* how the loader's sentences start */
	const char *why = strncmp(reason, loader, sizeof(loader) - 1) == 0
				  ? reason + sizeof(loader) - 1
				  : reason;

	snprintf(h->reason, sizeof(h->reason), "%s", reason);
	if (s == LB_HANDOFF_FAILED)
		log_error("flow hand-off: %s -> %s: %s (anylb runs without it)",
			handoff_name(h->state), handoff_name(s), why);
	else
		log_info("flow hand-off: %s -> %s: %s", handoff_name(h->state), handoff_name(s),
			why);
	if (h->state == LB_HANDOFF_ON && s != LB_HANDOFF_ON)
		handoff_beats_stop(h, s == LB_HANDOFF_FAILED);
	h->state = s;
	if (s == LB_HANDOFF_ON)
		handoff_beats_start(h);
}

int lb_handoff_plan(const struct conf *c, struct lb_handoff_plan *p, char *err, size_t errlen)
{
	const struct conf_flow_handoff *f = &c->bgp.flow;

	memset(p, 0, sizeof(*p));
	if (!c->bgp.enabled || !f->enabled) {
		snprintf(err, errlen, "not configured");
		return -ENOENT;
	}
	p->cfg = (struct flow_cfg){
		.enabled = 1,
		.self = 0,
		.npeers = (__u32)(f->npeers + 1),
		.max_hops = f->max_hops,
		.addr4 = f->self.addr4,
		.port = (__u16)f->port,
		.next = 1, /* every peer is alive until the heartbeats say otherwise */
	};
	p->ring[0] = f->self.addr4;
	for (size_t i = 0; i < f->npeers; i++)
		p->ring[i + 1] = f->peers[i].addr4;
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_anycast *a = &c->services[i].anycast;
		for (size_t j = 0; a->enabled && j < a->nprefixes; j++) {
			if (p->nprefixes == FLOW_MAX_PREFIX) {
				snprintf(err, errlen,
					"more than %d anycast prefixes: the program holds %d",
					FLOW_MAX_PREFIX, FLOW_MAX_PREFIX);
				return -E2BIG;
			}
			struct lb_handoff_prefix *x = &p->prefixes[p->nprefixes++];
			x->family = a->prefixes[j].family;
			x->len = a->prefixes[j].len;
			memcpy(x->addr, a->prefixes[j].addr, sizeof(x->addr));
		}
	}
	return 0;
}

#ifdef ANYLB_BPF
/* Opens, fills and attaches the program of interface i; 0 or -errno with why. */
static int handoff_one(struct lb_handoff *h, size_t i, char *why, size_t cap)
{
	const struct lb_handoff_plan *p = &h->plan;
	struct flow_handoff *fh = NULL;
	int rc;

	unsigned ifindex = if_nametoindex(h->ifname[i]);
	if (ifindex == 0) {
		rc = -errno;
		snprintf(
			why, cap, "flow hand-off: interface %s: %s", h->ifname[i], strerror(errno));
		return rc;
	}
	rc = flow_handoff_open(&fh, why, cap);
	if (rc < 0)
		return rc;
	for (__u32 j = 0; rc == 0 && j < p->cfg.npeers; j++)
		rc = flow_handoff_set_peer4(fh, j, p->ring[j]);
	for (size_t j = 0; rc == 0 && j < p->nprefixes; j++) {
		const struct lb_handoff_prefix *x = &p->prefixes[j];
		uint32_t a4;
		memcpy(&a4, x->addr, sizeof(a4));
		rc = x->family == AF_INET ? flow_handoff_prefix4(fh, a4, x->len, 0)
					  : flow_handoff_prefix6(fh, x->addr, x->len, 0);
	}
	/* Enabled last: the program acts only once it knows its peers and prefixes. */
	if (rc == 0)
		rc = flow_handoff_set_config(fh, &p->cfg);
	if (rc < 0) {
		snprintf(why, cap, "flow hand-off: filling the maps: %s", strerror(-rc));
		flow_handoff_close(fh);
		return rc;
	}
	rc = flow_handoff_attach(fh, (int)ifindex, why, cap);
	if (rc < 0) {
		flow_handoff_close(fh);
		return rc;
	}
	h->fh[i] = fh;
	return 0;
}
#endif

static void handoff_release(struct lb_handoff *h, int detach)
{
	for (size_t i = 0; i < h->nifaces; i++) {
#ifdef ANYLB_BPF
		if (h->fh[i] != NULL && !detach)
			flow_handoff_leave(h->fh[i]);
		flow_handoff_close(h->fh[i]);
#else
		(void)detach;
#endif
		h->fh[i] = NULL;
	}
}

#ifdef ANYLB_BPF
/* The ring index of addr4 (network order), 0 (self) when it is none of the peers. */
static size_t handoff_peer_index(const struct lb_handoff *h, uint32_t addr4)
{
	for (size_t i = 1; i < h->plan.cfg.npeers; i++)
		if (h->plan.ring[i] == addr4)
			return i;
	return 0;
}

/* Writes the configuration (the next peer) to every interface's program; 0 or -1 (logged). */
static int handoff_write_cfg(struct lb_handoff *h)
{
	int rc = 0;

	for (size_t i = 0; i < h->nifaces; i++) {
		if (h->fh[i] != NULL && flow_handoff_set_config(h->fh[i], &h->plan.cfg) < 0) {
			log_error("flow hand-off: %s: cannot update the next peer", h->ifname[i]);
			rc = -1;
		}
	}
	return rc;
}

/* Peer `changed` came up or went down: logged, and the program follows the next live peer. */
static void handoff_follow(struct lb_handoff *h, size_t changed)
{
	char a[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN];
	size_t next = peer_live_next(&h->live);

	inet_ntop(AF_INET, &h->plan.ring[changed], a, sizeof(a));
	inet_ntop(AF_INET, &h->plan.ring[next], n, sizeof(n));
	if (peer_live_up(&h->live, changed))
		log_info("flow hand-off: peer %s is alive again", a);
	else
		log_warn("flow hand-off: peer %s is down (%s)", a,
			h->live.p[changed].why == PEER_LIVE_LEFT ? "it said it is leaving"
								 : "no heartbeat for peer_timeout");
	if (next == h->plan.cfg.next)
		return;
	h->plan.cfg.next = (__u16)next;
	handoff_write_cfg(h);
	if (next == 0)
		log_warn("flow hand-off: no peer is alive: segments of flows not owned here are "
			 "taken here");
	else
		log_info("flow hand-off: flows not owned here go to %s now", n);
}

static void handoff_heard(void *arg, uint32_t addr4, enum flow_kind kind, uint64_t now_ms)
{
	struct lb_handoff *h = arg;
	size_t i = handoff_peer_index(h, addr4);

	/* Not a peer: the program passes only peers' messages, but anything local may send. */
	if (i == 0)
		return;
	if (kind == FLOW_KIND_LEAVING ? peer_live_left(&h->live, i)
				      : peer_live_heard(&h->live, i, now_ms))
		handoff_follow(h, i);
}

static void handoff_tick(void *arg, uint64_t now_ms)
{
	struct lb_handoff *h = arg;
	int was[PEER_LIVE_MAX];

	for (size_t i = 0; i < h->live.n; i++)
		was[i] = peer_live_up(&h->live, i);
	if (peer_live_tick(&h->live, now_ms) == 0)
		return;
	for (size_t i = 1; i < h->live.n; i++)
		if (was[i] != peer_live_up(&h->live, i))
			handoff_follow(h, i);
}

/* Heard nothing yet: the silence so far says nothing. */
static void handoff_bound(void *arg, uint64_t now_ms)
{
	struct lb_handoff *h = arg;

	peer_live_restart(&h->live, now_ms);
}

static void handoff_beats_start(struct lb_handoff *h)
{
	const struct handoff_beat_hooks hooks = {
		.heard = handoff_heard, .tick = handoff_tick, .bound = handoff_bound, .arg = h};
	const struct handoff_beat_conf bc = {.self4 = h->plan.cfg.addr4,
		.port = h->plan.cfg.port,
		.peers4 = &h->plan.ring[1],
		.npeers = h->plan.cfg.npeers - 1,
		.every_ms = h->heartbeat_ms};

	if (h->loop == NULL || h->beat != NULL)
		return; /* no loop: a test of the set-up alone */
	peer_live_init(&h->live, h->plan.cfg.npeers, h->peer_timeout_ms, clock_ms());
	peer_live_inherit(&h->live, h->inherited_next);
	h->beat = handoff_beat_new(h->loop, &bc, &hooks);
}

/*
 * The program about to be replaced on the first interface (an upgrade's old process, or one
 * that crashed and left it): when it served the same ring, forwarding goes on to its next
 * peer, and the peers it skipped start down here, so that a successor does not hand segments
 * to a dead box for a peer_timeout. An older program (next 0) says nothing.
 */
static void handoff_inherit(struct lb_handoff *h)
{
	struct flow_cfg old;
	char a[INET_ADDRSTRLEN];
	unsigned ifindex = if_nametoindex(h->ifname[0]);

	if (ifindex == 0 || flow_handoff_peek((int)ifindex, &old) < 0)
		return;
	if (!old.enabled || old.npeers != h->plan.cfg.npeers || old.addr4 != h->plan.cfg.addr4 ||
		old.next < 1 || old.next >= old.npeers || old.next == h->plan.cfg.next)
		return;
	h->plan.cfg.next = old.next;
	h->inherited_next = old.next;
	inet_ntop(AF_INET, &h->plan.ring[old.next], a, sizeof(a));
	log_info("flow hand-off: the program replaced forwarded to %s: the %u peer%s before it "
		 "start down until heard",
		a, (unsigned)old.next - 1, old.next == 2 ? "" : "s");
}
#else
static void handoff_beats_start(struct lb_handoff *h)
{
	(void)h; /* never ON without the program */
}
#endif

struct lb_handoff *lb_handoff_start(const struct conf *c, struct ev_loop *loop)
{
	struct lb_handoff *h = calloc(1, sizeof(*h));
	char why[HANDOFF_REASON_MAX];

	if (h == NULL) {
		log_error("flow hand-off: out of memory");
		return NULL;
	}
	int rc = lb_handoff_plan(c, &h->plan, why, sizeof(why));
	if (rc == -ENOENT) {
		snprintf(h->reason, sizeof(h->reason), "%s", why); /* quietly off */
		return h;
	}
	const struct conf_flow_handoff *f = &c->bgp.flow;
	h->nifaces = f->ninterfaces;
	h->mss_clamp = f->mss_clamp;
	h->loop = loop;
	h->heartbeat_ms = f->heartbeat_ms;
	h->peer_timeout_ms = f->peer_timeout_ms;
	for (size_t i = 0; i < f->ninterfaces; i++)
		snprintf(h->ifname[i], sizeof(h->ifname[i]), "%s", f->interfaces[i]);
	if (rc < 0) {
		handoff_set(h, LB_HANDOFF_FAILED, why);
		return h;
	}
#ifdef ANYLB_BPF
	handoff_inherit(h);
	for (size_t i = 0; i < h->nifaces; i++) {
		if (handoff_one(h, i, why, sizeof(why)) < 0) {
			handoff_release(h, 1);
			handoff_set(h, LB_HANDOFF_FAILED, why);
			return h;
		}
	}
	snprintf(why, sizeof(why), "attached to %zu interface%s (%s%s), %u peers, %zu prefixes",
		h->nifaces, h->nifaces == 1 ? "" : "s", h->ifname[0], h->nifaces > 1 ? ", ..." : "",
		h->plan.cfg.npeers - 1, h->plan.nprefixes);
	handoff_set(h, LB_HANDOFF_ON, why);
#else
	handoff_set(h, LB_HANDOFF_FAILED, "flow hand-off: anylb was built without ANYLB_BPF");
#endif
	return h;
}

void lb_handoff_handed_over(struct lb_handoff *h)
{
	if (h == NULL || h->state != LB_HANDOFF_ON)
		return;
#ifdef ANYLB_BPF
	for (size_t i = 0; i < h->nifaces; i++)
		flow_handoff_leave(h->fh[i]);
#endif
	handoff_set(h, LB_HANDOFF_HANDED_OVER, "the successor's filters replaced ours");
}

void lb_handoff_reclaim(struct lb_handoff *h)
{
	if (h == NULL || (h->state != LB_HANDOFF_ON && h->state != LB_HANDOFF_HANDED_OVER))
		return;
#ifdef ANYLB_BPF
	for (size_t i = 0; i < h->nifaces; i++) {
		char why[HANDOFF_REASON_MAX];
		unsigned ifindex = if_nametoindex(h->ifname[i]);
		flow_handoff_leave(h->fh[i]);
		if (ifindex == 0 ||
			flow_handoff_attach(h->fh[i], (int)ifindex, why, sizeof(why)) < 0) {
			if (ifindex == 0)
				snprintf(why, sizeof(why), "flow hand-off: interface %s: %s",
					h->ifname[i], strerror(errno));
			handoff_release(h, 1);
			handoff_set(h, LB_HANDOFF_FAILED, why);
			return;
		}
	}
#endif
	if (h->state == LB_HANDOFF_HANDED_OVER)
		handoff_set(h, LB_HANDOFF_ON, "the upgrade failed: our filters again");
}

const char *lb_handoff_state_name(const struct lb_handoff *h)
{
	return h != NULL ? handoff_name(h->state) : "off";
}

/* The counters of ring slot (or FLOW_SLOT_STRANGER), summed over the interfaces. */
static void handoff_counters(const struct lb_handoff *h, uint32_t slot, struct flow_counters *out)
{
	memset(out, 0, sizeof(*out));
#ifdef ANYLB_BPF
	for (size_t i = 0; i < h->nifaces; i++) {
		struct flow_counters one;
		if (h->fh[i] == NULL || flow_handoff_counters(h->fh[i], slot, &one) < 0)
			continue;
		for (int k = 0; k < FLOW_CNT_MAX; k++)
			out->c[k] += one.c[k];
	}
#else
	(void)h;
	(void)slot;
#endif
}

static const char *const handoff_counter_names[FLOW_CNT_MAX] = {
	[FLOW_CNT_LOCAL] = "local",
	[FLOW_CNT_FORWARDED] = "forwarded",
	[FLOW_CNT_DECAP] = "decapsulated",
	[FLOW_CNT_LAST_RESORT] = "last_resort",
	[FLOW_CNT_DROPPED] = "dropped",
};

/* The slots reported: the ring, then the strangers. The address as text into buf. */
static size_t handoff_slots(const struct lb_handoff *h)
{
	return h->state == LB_HANDOFF_OFF ? 0 : h->plan.cfg.npeers + 1;
}

static uint32_t handoff_slot(const struct lb_handoff *h, size_t i, char *buf, size_t cap)
{
	if (i == h->plan.cfg.npeers) {
		snprintf(buf, cap, "other");
		return FLOW_SLOT_STRANGER;
	}
	if (inet_ntop(AF_INET, &h->plan.ring[i], buf, (socklen_t)cap) == NULL)
		snprintf(buf, cap, "?");
	return (uint32_t)i;
}

/*
 * Peer i's liveness in its /status entry: alive (always, without heartbeats), why, and how long
 * since it was last heard (absent when never).
 */
static int handoff_live_json(const struct lb_handoff *h, size_t i, json_t *p)
{
	int on = h->beat != NULL;
	int bad =
		json_object_set_new(p, "alive", json_boolean(!on || peer_live_up(&h->live, i))) < 0;

	/* With peer_timeout 0s the heartbeats go out and come in, and judge nothing. */

	if (!on)
		return bad ? -1 : 0;
	bad |= json_object_set_new(
		       p, "liveness", json_string(peer_live_why_name(h->live.p[i].why))) < 0;
	if (h->live.p[i].ever) {
		uint64_t now = clock_ms(), heard = h->live.p[i].heard_ms;
		uint64_t ago = now > heard ? now - heard : 0;
		bad |= json_object_set_new(p, "heard_ms_ago", json_integer((json_int_t)ago)) < 0;
	}
	return bad ? -1 : 0;
}

json_t *lb_handoff_status_json(const struct lb_handoff *h)
{
	static const struct lb_handoff off = {.reason = "not configured"};
	char addr[INET_ADDRSTRLEN + 8];
	int bad = 0;

	if (h == NULL)
		h = &off;
	/* Each value belongs to its container as soon as it is made: one decref frees all. */
	json_t *o = json_object(), *ifs = json_array(), *peers = json_array();
	if (o == NULL) {
		json_decref(ifs);
		json_decref(peers);
		return NULL;
	}
	bad |= json_object_set_new(o, "interfaces", ifs) < 0 ||
	       json_object_set_new(o, "peers", peers) < 0;
	for (size_t i = 0; !bad && i < h->nifaces; i++)
		bad |= json_array_append_new(ifs, json_string(h->ifname[i])) < 0;
	for (size_t i = 0; !bad && h->state != LB_HANDOFF_FAILED && i < handoff_slots(h); i++) {
		struct flow_counters fc;
		uint32_t slot = handoff_slot(h, i, addr, sizeof(addr));
		handoff_counters(h, slot, &fc);
		json_t *p = json_pack("{s:s, s:b}", "address", addr, "self", i == 0);
		bad |= json_array_append_new(peers, p) < 0;
		if (!bad && i > 0 && i < h->plan.cfg.npeers)
			bad |= handoff_live_json(h, i, p) < 0;
		for (int k = 0; !bad && k < FLOW_CNT_MAX; k++)
			bad |= json_object_set_new(p, handoff_counter_names[k],
				       json_integer((json_int_t)fc.c[k])) < 0;
	}
	if (!bad)
		bad |= json_object_set_new(o, "state", json_string(handoff_name(h->state))) < 0 ||
		       json_object_set_new(o, "reason", json_string(h->reason)) < 0;
	if (!bad && h->mss_clamp != 0)
		bad |= json_object_set_new(o, "mss_clamp", json_integer(h->mss_clamp)) < 0;
	if (!bad && h->state == LB_HANDOFF_ON) {
		size_t next = h->plan.cfg.next < h->plan.cfg.npeers ? h->plan.cfg.next : 0;
		bad |= inet_ntop(AF_INET, &h->plan.ring[next], addr, sizeof(addr)) == NULL ||
		       json_object_set_new(o, "next", json_string(addr)) < 0 ||
		       json_object_set_new(o, "peer_timeout_ms",
			       json_integer((json_int_t)h->peer_timeout_ms)) < 0 ||
		       json_object_set_new(o, "heartbeat_ms",
			       json_integer((json_int_t)(h->beat != NULL ? h->heartbeat_ms : 0))) <
			       0;
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void lb_handoff_metrics(const struct lb_handoff *h, struct strbuf *m)
{
	char addr[INET_ADDRSTRLEN + 8];

	strbuf_printf(m, "# HELP anylb_flow_handoff_on 1 while the flow hand-off's program is "
			 "attached by this process.\n# TYPE anylb_flow_handoff_on gauge\n");
	strbuf_printf(m, "anylb_flow_handoff_on %d\n", h != NULL && h->state == LB_HANDOFF_ON);
	if (h == NULL || h->state != LB_HANDOFF_ON)
		return;
	strbuf_printf(m, "# HELP anylb_flow_peer_up 1 while the peer is taken as alive (its "
			 "heartbeats come; always 1 without heartbeats).\n"
			 "# TYPE anylb_flow_peer_up gauge\n");
	for (size_t i = 1; i < h->plan.cfg.npeers; i++) {
		handoff_slot(h, i, addr, sizeof(addr));
		strbuf_printf(m, "anylb_flow_peer_up{peer=\"%s\"} %d\n", addr,
			h->beat == NULL || peer_live_up(&h->live, i));
	}
	strbuf_printf(m, "# HELP anylb_flow_heartbeats_total The flow hand-off's heartbeats, by "
			 "direction.\n# TYPE anylb_flow_heartbeats_total counter\n");
	strbuf_printf(m, "anylb_flow_heartbeats_total{direction=\"sent\"} %llu\n",
		(unsigned long long)(h->beats_sent + handoff_beat_sent(h->beat)));
	strbuf_printf(m, "anylb_flow_heartbeats_total{direction=\"received\"} %llu\n",
		(unsigned long long)(h->beats_received + handoff_beat_received(h->beat)));
	strbuf_printf(m, "# HELP anylb_flow_handoff_packets_total Packets the flow hand-off "
			 "handled, by peer and result.\n"
			 "# TYPE anylb_flow_handoff_packets_total counter\n");
	for (size_t i = 0; i < handoff_slots(h); i++) {
		struct flow_counters fc;
		uint32_t slot = handoff_slot(h, i, addr, sizeof(addr));
		handoff_counters(h, slot, &fc);
		for (int k = 0; k < FLOW_CNT_MAX; k++)
			strbuf_printf(m,
				"anylb_flow_handoff_packets_total{peer=\"%s\",result=\"%s\"} "
				"%llu\n",
				addr, handoff_counter_names[k], (unsigned long long)fc.c[k]);
	}
}

void lb_handoff_close(struct lb_handoff *h, int detach)
{
	if (h == NULL)
		return;
	/* The peers stop forwarding here at once when the program goes. */
	handoff_beats_stop(h, detach && h->state == LB_HANDOFF_ON);
	handoff_release(h, detach && h->state == LB_HANDOFF_ON);
	free(h);
}
