/*
 * DOC: power of two random choices
 *
 * Draws two distinct usable members at random, each with probability proportional to its
 * weight, and keeps the one with the smaller (load + 1) / weight (the measure least_connections
 * uses; on a tie the first draw). Mitzenmacher's result: two choices instead of one cut the
 * worst backend's excess load exponentially, while a stale load count, which the caller's
 * counters shared between workers may well be, cannot make every worker rush the same idle
 * backend as it can with least_connections.
 *
 * A draw bisects the running sums of the weights, O(log n), and rejects a member that is
 * unusable or already drawn. After a few rejections it falls back to one exact weighted pass
 * over the acceptable members, O(n), so a mostly-unusable pool costs linear time rather than
 * an unbounded loop. Both ways sample the same distribution (weights restricted to the
 * acceptable members): rejection sampling changes the cost, not the odds.
 *
 * A weight change rewrites the running sums from that member on, O(n) and allocation-free.
 *
 * The generator is splitmix64 seeded from balancer_new's seed: fast, one word of state, and a
 * test that passes the same seed sees the same choices.
 */
#include "lb/balance_impl.h"
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>

#define P2C_TRIES 8
#define P2C_NONE  SIZE_MAX

static uint64_t p2c_next(struct balance_p2c *p)
{
	p->rng += 0x9e3779b97f4a7c15ULL;
	return hash_mix64(p->rng);
}

/* A member drawn by weight from all of them. The modulo's bias, total / 2^64 < 2^-23, is ignored.
 */
static size_t p2c_sample(struct balancer *b)
{
	uint64_t r = p2c_next(&b->u.p2c) % b->u.p2c.total;
	const uint64_t *cum = b->u.p2c.cumulative;
	size_t lo = 0, hi = b->n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The exact pass: a member drawn by weight among the usable ones other than exclude. */
static int p2c_scan(struct balancer *b, const struct balance_ctx *ctx, size_t exclude)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < b->n; i++) {
		if (i != exclude && balance_usable(ctx, i))
			total += b->members[i].weight;
	}
	if (total == 0)
		return -1;
	r = p2c_next(&b->u.p2c) % total;
	for (size_t i = 0; i < b->n; i++) {
		if (i == exclude || !balance_usable(ctx, i))
			continue;
		if (r < b->members[i].weight)
			return (int)i;
		r -= b->members[i].weight;
	}
	return -1; /* usable() changed its mind between the two passes */
}

static int p2c_draw(struct balancer *b, const struct balance_ctx *ctx, size_t exclude)
{
	for (int t = 0; t < P2C_TRIES; t++) {
		size_t i = p2c_sample(b);

		if (i != exclude && balance_usable(ctx, i))
			return (int)i;
	}
	return p2c_scan(b, ctx, exclude);
}

static int balance_p2c_setup(struct balancer *b)
{
	uint64_t sum = 0;

	b->u.p2c.rng = b->seed;
	b->u.p2c.cumulative = calloc(b->n, sizeof(*b->u.p2c.cumulative));
	if (b->u.p2c.cumulative == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		sum += b->members[i].weight;
		b->u.p2c.cumulative[i] = sum;
	}
	b->u.p2c.total = sum;
	return 0;
}

/* Only the running sums from i on move; no allocation, so this cannot fail. */
static int balance_p2c_reweight(struct balancer *b, size_t i)
{
	uint64_t sum = i == 0 ? 0 : b->u.p2c.cumulative[i - 1];

	for (size_t k = i; k < b->n; k++) {
		sum += b->members[k].weight;
		b->u.p2c.cumulative[k] = sum;
	}
	b->u.p2c.total = sum;
	return 0;
}

static int balance_p2c_pick(struct balancer *b, const struct balance_ctx *ctx)
{
	int first, second;

	first = p2c_draw(b, ctx, P2C_NONE);
	if (first < 0)
		return -1;
	second = p2c_draw(b, ctx, (size_t)first);
	if (second < 0)
		return first;
	if (balance_cmp_load(balance_load(ctx, (size_t)second), b->members[second].weight,
		    balance_load(ctx, (size_t)first), b->members[first].weight) < 0)
		return second;
	return first;
}

static void balance_p2c_teardown(struct balancer *b)
{
	free(b->u.p2c.cumulative);
	b->u.p2c.cumulative = NULL;
}

const struct balance_ops balance_p2c_ops = {
	.name = "random_two",
	.setup = balance_p2c_setup,
	.pick = balance_p2c_pick,
	.reweight = balance_p2c_reweight,
	.teardown = balance_p2c_teardown,
};
