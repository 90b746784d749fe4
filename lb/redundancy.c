/*
 * DOC: redundancy report
 *
 * See redundancy.h for the model. Ready backends are sorted by zone so that domains are found in
 * n log n (a service may have 10,000 backends and the report runs every second), then domain
 * capacities are sorted, largest first, and removed while the rest still carries the load.
 */
#include "lb/redundancy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct red_item {
	const char *zone;
	uint64_t cap;
};

static int cmp_zone(const void *a, const void *b)
{
	const struct red_item *x = a, *y = b;

	/* Zoneless backends are domains of their own: they never group, so any order will do. */
	if (x->zone == NULL || y->zone == NULL)
		return (x->zone == NULL) - (y->zone == NULL);
	return strcmp(x->zone, y->zone);
}

static int cmp_cap_desc(const void *a, const void *b)
{
	const struct red_item *x = a, *y = b;

	return x->cap < y->cap ? 1 : x->cap > y->cap ? -1 : 0;
}

/* Unbounded plus anything stays unbounded; bounded sums stay far below 2^64 (10^4 * 10^7). */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > REDUNDANCY_UNBOUNDED - b ? REDUNDANCY_UNBOUNDED : a + b;
}

int redundancy_compute(const struct redundancy_backend *b, size_t n, unsigned svc_max,
	uint64_t load, struct redundancy_report *out)
{
	uint64_t lim_sum = 0, lim_weight = 0, all_weight = 0;
	size_t nready = 0, nd = 0;

	memset(out, 0, sizeof(*out));
	out->load = load;
	for (size_t i = 0; i < n; i++) {
		all_weight += b[i].weight;
		if (b[i].max_connections > 0) {
			lim_sum += b[i].max_connections;
			lim_weight += b[i].weight;
		}
		nready += b[i].ready != 0;
	}
	/* One unit of weight is worth num / den sessions; den == 0: unbounded. */
	uint64_t num = 0, den = 0;
	if (lim_weight > 0) {
		num = lim_sum;
		den = lim_weight;
	} else if (svc_max > 0 && all_weight > 0) {
		num = svc_max;
		den = all_weight;
	}
	if (nready == 0) {
		out->capacity = 0;
		out->overloaded = 1;
		return 0;
	}
	struct red_item *it = calloc(nready, sizeof(*it));
	if (it == NULL)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!b[i].ready)
			continue;
		it[k].zone = b[i].zone;
		if (b[i].max_connections > 0)
			it[k].cap = b[i].max_connections;
		else if (den > 0)
			/* weight <= 1000 and num <= 10^11: no overflow. */
			it[k].cap = (uint64_t)b[i].weight * num / den;
		else
			it[k].cap = REDUNDANCY_UNBOUNDED;
		k++;
	}
	qsort(it, nready, sizeof(*it), cmp_zone);
	/* Merge runs of one zone in place: it[0..nd) become the domains. */
	for (size_t i = 0; i < nready; i++) {
		if (nd > 0 && it[i].zone != NULL && it[nd - 1].zone != NULL &&
			strcmp(it[i].zone, it[nd - 1].zone) == 0) {
			it[nd - 1].cap = sat_add(it[nd - 1].cap, it[i].cap);
			continue;
		}
		it[nd++] = it[i];
	}
	qsort(it, nd, sizeof(*it), cmp_cap_desc);
	uint64_t total = 0;
	for (size_t i = 0; i < nd; i++)
		total = sat_add(total, it[i].cap);
	out->domains = (unsigned)nd;
	out->capacity = total;
	out->largest = it[0].cap;
	out->largest_zone = it[0].zone;
	if (total != REDUNDANCY_UNBOUNDED && load > total) {
		out->overloaded = 1;
		free(it);
		return 0;
	}
	/*
	 * Capacities are all known or all unknown: unknown means no backend has max_connections
	 * and neither has the service. Unknown: any one domain carries any load.
	 */
	unsigned lost = 0;
	if (den == 0) {
		lost = (unsigned)nd - 1;
	} else {
		/* Lose the largest while what is left (at least one domain) carries the load. */
		uint64_t left = total;
		for (size_t i = 0; i + 1 < nd && left - it[i].cap >= load; i++) {
			left -= it[i].cap;
			lost++;
		}
	}
	out->k = lost;
	free(it);
	return 0;
}

const char *redundancy_text(const struct redundancy_report *r, char *buf, size_t cap)
{
	snprintf(buf, cap, "N+%u", r->k);
	return buf;
}
