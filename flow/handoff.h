/*
 * DOC: flow/handoff.h: the loader of the flow hand-off BPF program (flow/handoff.bpf.c). It
 * opens and loads the program, fills its maps, attaches it to tc ingress (clsact) of an
 * interface and detaches it on close. Every failure returns -errno with a sentence in the
 * caller's buffer, for one line in the log: anylb then runs without it (fail safe).
 */
#ifndef ANYLB_FLOW_HANDOFF_H
#define ANYLB_FLOW_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "flow/handoff_abi.h"

struct flow_handoff;

/* The tc filter's handle and priority on the ingress hook. */
#define FLOW_TC_HANDLE   1
#define FLOW_TC_PRIORITY 1

/* Loads the program (disabled until flow_handoff_set_config). *out is the caller's. */
int flow_handoff_open(struct flow_handoff **out, char *err, size_t errlen);
/* Replaces the configuration (flow_cfg, addresses in network order). */
int flow_handoff_set_config(struct flow_handoff *h, const struct flow_cfg *cfg);
/* Sets peer `index` to the IPv4 address addr4 (network order), or clears it when 0. */
int flow_handoff_set_peer4(struct flow_handoff *h, uint32_t index, uint32_t addr4);
/* Adds (or with del, removes) an anycast IPv4 prefix (network order). */
int flow_handoff_prefix4(struct flow_handoff *h, uint32_t addr4, uint32_t len, int del);
/* Adds (or with del, removes) an anycast IPv6 prefix. */
int flow_handoff_prefix6(struct flow_handoff *h, const uint8_t addr6[16], uint32_t len, int del);
/* Sums slot's counters over all CPUs into *out. */
int flow_handoff_counters(struct flow_handoff *h, uint32_t slot, struct flow_counters *out);
/* The program's fd, owned by h (for BPF_PROG_TEST_RUN). */
int flow_handoff_prog_fd(const struct flow_handoff *h);
/*
 * Attaches to tc ingress of ifindex (creating clsact); one interface per handle. A filter at
 * FLOW_TC_HANDLE/FLOW_TC_PRIORITY is replaced in place (an upgrade's successor takes over).
 */
int flow_handoff_attach(struct flow_handoff *h, int ifindex, char *err, size_t errlen);
/*
 * The configuration of the flow hand-off program attached to ifindex at FLOW_TC_HANDLE and
 * FLOW_TC_PRIORITY, if any (the one an upgrade or a restart after a crash is about to replace):
 * 0 with *out filled, -ENOENT when there is none (or it is not ours), -errno.
 */
int flow_handoff_peek(int ifindex, struct flow_cfg *out);
/*
 * The filter is someone else's now (a successor replaced it): close will leave it. The tc
 * filter is found by handle and priority, so detaching would remove the successor's.
 */
void flow_handoff_leave(struct flow_handoff *h);
/* Detaches (if attached) and frees everything; h may be NULL. */
void flow_handoff_close(struct flow_handoff *h);

#endif
