/*
 * DOC: balancing
 *
 * Chooses a backend for a new session. The algorithms know nothing of health, limits or
 * retries: the caller says which backends are usable right now through a callback, which is how
 * a retry excludes the backends it already tried and how (later) health excludes the unready.
 * This is HAProxy's split between lb algorithms and server state, as an ops table.
 *
 * A balancer is used by one worker thread only: its mutable state (smooth round-robin counters,
 * the random generator) needs no lock. Active-connection counts are shared between workers and
 * read through the load callback; they may be a little stale, which the algorithms tolerate.
 *
 * Pure logic: no I/O, no clock, no global state.
 */
#ifndef ANYLB_LB_BALANCE_H
#define ANYLB_LB_BALANCE_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>

struct balancer;

struct balance_member {
	const char *name; /* stable identity (the backend address as written); maglev hashes it */
	unsigned weight;  /* 1..1000 */
};

struct balance_ctx {
	uint64_t hash; /* the client's hash (maglev); ignored by the others */
	/* Returns non-zero when backend i may take a new session now. */
	int (*usable)(void *arg, size_t i);
	/* Returns backend i's active session count (least_connections, random_two). */
	uint32_t (*load)(void *arg, size_t i);
	void *arg;
};

/*
 * Creates a balancer of the given kind over n members (copied; names are copied too).
 * seed feeds random_two's generator so tests are reproducible. n may be 0 (a service whose
 * NAME:PORT entries have no answer yet): every pick then returns -1. NULL when out of memory.
 */
struct balancer *balancer_new(
	enum conf_balance kind, const struct balance_member *members, size_t n, uint64_t seed);
void balancer_free(struct balancer *b);

/* Returns the index of the chosen backend, or -1 when no backend is usable. */
int balancer_pick(struct balancer *b, const struct balance_ctx *ctx);

/*
 * Changes member i's effective weight (slow start ramps it; 1..1000, clamped). Cheap for
 * round_robin, least_connections and random_two. Maglev rebuilds its table, which costs
 * milliseconds: callers change maglev weights in a few coarse steps, not continuously.
 * Returns 0, -EINVAL for an index out of range, or -ENOMEM (the old weights stay in force).
 */
int balancer_set_weight(struct balancer *b, size_t i, unsigned weight);

/* Maglev's lookup table size for n backends: 65537, or the smallest prime >= 100 * n. */
size_t balance_maglev_table_size(size_t n);

#endif
