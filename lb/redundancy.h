/*
 * DOC: redundancy report (pure)
 *
 * How many failure domains a service can lose and still carry its current load: "N+k". A
 * failure domain is a backend `zone`; a backend without a zone is a domain of its own. Only
 * ready backends count, since only they take new sessions.
 *
 * Capacity, in sessions, of one backend:
 *   1. its max_connections, when set;
 *   2. otherwise, when some backend of the service has max_connections, its weight times what
 *      one unit of weight is worth on those backends (sum of their max_connections / sum of
 *      their weights): weight is the share of traffic the operator gives a backend, so it is
 *      read as relative capacity, anchored by the backends whose limit is known;
 *   3. otherwise, when the service has max_connections, that limit shared by weight over all
 *      its backends (the service is sized to carry it with every backend up);
 *   4. otherwise unknown, taken as unbounded: any ready domain carries any load, so k is the
 *      number of ready domains - 1.
 * The anchors of 2 and 3 use every backend of the service, ready or not: capacity is what a
 * backend could carry, not what it carries now.
 *
 * k: domains are removed largest first (greedy, which is exact for "lose any k": the k largest
 * are the worst case) while the rest still holds capacity >= load, and at least one domain is
 * always left: with no load, k = domains - 1. A service that cannot carry its load even now, or
 * has no ready backend, is N+0 with `overloaded` set. Integer arithmetic only.
 */
#ifndef ANYLB_LB_REDUNDANCY_H
#define ANYLB_LB_REDUNDANCY_H

#include <stddef.h>
#include <stdint.h>

struct redundancy_backend {
	const char *zone;         /* NULL: a domain of its own */
	unsigned weight;          /* > 0 */
	unsigned max_connections; /* 0: not set */
	int ready;
};

#define REDUNDANCY_UNBOUNDED UINT64_MAX

struct redundancy_report {
	unsigned k;        /* domains that can be lost: "N+k" */
	unsigned domains;  /* failure domains with at least one ready backend */
	uint64_t capacity; /* sessions the ready backends can carry; UNBOUNDED when unknown */
	uint64_t load;     /* as given */
	uint64_t largest;  /* capacity of the largest ready domain (UNBOUNDED when unknown) */
	const char *largest_zone; /* its zone (points into the input), NULL for a zoneless one */
	int overloaded;           /* load > capacity already, or no ready backend */
};

/*
 * Computes the report for backends b[0..n) of a service with max_connections svc_max (0: not
 * set) carrying load sessions. Returns 0, or -ENOMEM (out is then zeroed).
 */
int redundancy_compute(const struct redundancy_backend *b, size_t n, unsigned svc_max,
	uint64_t load, struct redundancy_report *out);

/* "N+2" into buf; returns buf. */
const char *redundancy_text(const struct redundancy_report *r, char *buf, size_t cap);

#endif
