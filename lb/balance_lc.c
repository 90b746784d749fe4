/*
 * DOC: weighted least connections
 *
 * Chooses the usable member with the smallest (load + 1) / weight, compared by
 * cross-multiplication (balance_cmp_load). The + 1 counts the session about to be placed, so
 * among idle members the heaviest wins, and in steady state loads settle in proportion to
 * weights.
 *
 * Ties are common (every member idle at start-up, or equal loads on equal weights). Taking the
 * lowest index would send a burst of new sessions, whose loads the caller may not have counted
 * yet, all to member 0. So the scan starts one past the previous choice and a later member
 * wins only when strictly better: equal members take turns.
 */
#include "lb/balance_impl.h"

static int balance_lc_setup(struct balancer *b)
{
	b->u.lc.next = 0;
	return 0;
}

static int balance_lc_pick(struct balancer *b, const struct balance_ctx *ctx)
{
	size_t i = b->u.lc.next;
	uint32_t best_load = 0;
	int best = -1;

	for (size_t k = 0; k < b->n; k++, i++) {
		uint32_t load;

		if (i == b->n)
			i = 0;
		if (!balance_usable(ctx, i))
			continue;
		load = balance_load(ctx, i);
		if (best < 0 || balance_cmp_load(load, b->members[i].weight, best_load,
					b->members[best].weight) < 0) {
			best = (int)i;
			best_load = load;
		}
	}
	if (best >= 0)
		b->u.lc.next = (size_t)best + 1 == b->n ? 0 : (size_t)best + 1;
	return best;
}

static void balance_lc_teardown(struct balancer *b)
{
	(void)b;
}

const struct balance_ops balance_lc_ops = {
	.name = "least_connections",
	.setup = balance_lc_setup,
	.pick = balance_lc_pick,
	.reweight = NULL, /* weights are read at each pick */
	.teardown = balance_lc_teardown,
};
