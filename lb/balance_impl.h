/*
 * DOC: balancing internals
 *
 * Shared between lb/balance.c (the public API and the dispatch) and one file per algorithm
 * (balance_rr.c, balance_lc.c, balance_maglev.c, balance_p2c.c). Nothing outside lb/balance*.c
 * and the unit test includes this header.
 *
 * An algorithm is an ops table, as in HAProxy's struct lb_ops: balance.c copies the members,
 * then calls setup once, pick per new session, reweight when a member's weight changes and
 * teardown once. Each algorithm keeps its state in its own arm of the union in struct balancer.
 */
#ifndef ANYLB_LB_BALANCE_IMPL_H
#define ANYLB_LB_BALANCE_IMPL_H

#include "lb/balance.h"

#include <stddef.h>
#include <stdint.h>

/* Weights are clamped into this range when copied, so that the arithmetic below cannot overflow
 * whatever a caller passes; conf/ already rejects anything outside it. */
#define BALANCE_WEIGHT_MIN 1u
#define BALANCE_WEIGHT_MAX 1000u

struct balance_ops {
	const char *name; /* as in the configuration: "round_robin", ... */
	/*
	 * Builds the algorithm's state from b->members and b->n (n >= 1, weights clamped).
	 * Returns 0 or -errno. Whatever the result, the state must be safe to hand to teardown.
	 */
	int (*setup)(struct balancer *b);
	/* Returns the chosen index or -1 when nothing is usable. Must not allocate. */
	int (*pick)(struct balancer *b, const struct balance_ctx *ctx);
	/*
	 * b->members[i].weight has just changed (clamped, and different from before): brings the
	 * state in line. Returns 0, or -errno with the state left exactly as it was, in which case
	 * balance.c puts the old weight back. NULL when the algorithm reads weights at pick time.
	 */
	int (*reweight)(struct balancer *b, size_t i);
	/* Releases what setup allocated. Called exactly once, also after a failed setup. */
	void (*teardown)(struct balancer *b);
};

struct balance_rr {
	int64_t *current; /* n smooth-weighted current weights */
};

struct balance_lc {
	size_t next; /* where the next scan starts, so that ties rotate */
};

struct balance_maglev {
	uint32_t *table; /* size entries, each a member index */
	size_t size;     /* balance_maglev_table_size(n), a prime */
};

struct balance_p2c {
	uint64_t rng;         /* splitmix64 state */
	uint64_t *cumulative; /* n running sums of weights, for a weighted draw by bisection */
	uint64_t total;       /* cumulative[n - 1] */
};

struct balancer {
	const struct balance_ops *ops;
	struct balance_member *members; /* owned, names too */
	size_t n;                       /* >= 1 and <= INT_MAX, so any index fits pick's int */
	uint64_t seed;
	union {
		struct balance_rr rr;
		struct balance_lc lc;
		struct balance_maglev maglev;
		struct balance_p2c p2c;
	} u;
};

extern const struct balance_ops balance_rr_ops;
extern const struct balance_ops balance_lc_ops;
extern const struct balance_ops balance_maglev_ops;
extern const struct balance_ops balance_p2c_ops;

/* The algorithm's name, for logs and tests. */
const char *balance_name(const struct balancer *b);

/*
 * The callbacks are optional: a missing usable() means every member is usable and a missing
 * load() means every member is idle. Tests and simple callers then need not write stubs.
 */
static inline int balance_usable(const struct balance_ctx *ctx, size_t i)
{
	return ctx->usable == NULL || ctx->usable(ctx->arg, i);
}

static inline uint32_t balance_load(const struct balance_ctx *ctx, size_t i)
{
	return ctx->load == NULL ? 0 : ctx->load(ctx->arg, i);
}

/*
 * Compares (la + 1) / wa with (lb + 1) / wb without division or floats: negative, zero or
 * positive like strcmp. The + 1 makes an idle heavy backend preferred to an idle light one.
 * The products fit: (2^32) * 1000 is far below 2^64.
 */
static inline int balance_cmp_load(uint32_t la, unsigned wa, uint32_t lb, unsigned wb)
{
	uint64_t a = ((uint64_t)la + 1) * wb;
	uint64_t b = ((uint64_t)lb + 1) * wa;

	return (a > b) - (a < b);
}

#endif
