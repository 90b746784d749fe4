/*
 * DOC: status, the view operators read
 *
 * Builds the body of GET /status (JSON, through jansson) from what the threads share: the
 * runtime's atomics, the backends' reasons (under their service's lock, one backend at a time),
 * the announcer's thread-safe snapshots and BIRD's protocol table. Every field is documented in
 * docs/ADMIN.md; the names of states and results are those of health/state.c and lb_result_name.
 * Also feeds the redundancy report from a service's live state, for status, metrics and the
 * admin loop's warning.
 *
 * Any thread may call these; the admin interface calls them on the main thread's loop.
 */
#ifndef ANYLB_LB_STATUS_H
#define ANYLB_LB_STATUS_H

#include "lb/redundancy.h"
#include "lb/reload.h"
#include "lb/runtime.h"

#include <stddef.h>
#include <stdint.h>

struct announcer;
struct lb_handoff;
struct resolved;

/* What a status or metrics page is built from. */
struct status_source {
	struct lb_runtime *rt;
	struct announcer *ann;              /* NULL: anycast off */
	double uptime_s;                    /* since the process started */
	const struct reload_record *reload; /* NULL: no reload record (all zero) */
	const struct lb_handoff *handoff;   /* lb/handoff.h; NULL: off */
	const struct resolved *resolved;    /* conf/resolved.h: the names' answers; may be NULL */
};

/*
 * The redundancy report of svc now: its backends' zones, weights, limits and states, and its
 * live session count. Returns 0 or -ENOMEM.
 */
int status_redundancy(const struct lb_service *svc, struct redundancy_report *out);

/* The JSON document of GET /status, malloc'ed and NUL-terminated (*len without the NUL). NULL
 * when memory ran out. */
char *status_json(const struct status_source *src, size_t *len);

/* "2027-01-31T12:00:00Z" for a unix time, into buf (at least 21 bytes). */
const char *status_iso8601(int64_t t, char *buf, size_t cap);

/* The BGP protocols of BIRD's table (proto "BGP"), malloc'ed (*n of them; NULL with *n == 0 when
 * there is none or memory ran out), and whether BIRD's control socket is connected. */
struct bird_protocol *status_bgp_sessions(struct announcer *ann, size_t *n, int *connected);

#endif
