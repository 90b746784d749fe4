/*
 * DOC: smooth weighted round robin
 *
 * nginx's algorithm (ngx_http_upstream_get_peer): every pick adds each usable member's weight
 * to its current value, chooses the largest current (the lowest index on a tie) and takes the
 * total of the usable weights off the chosen one. Weights 5:1:1 give a a b a c a a rather than
 * a a a a a b c: heavy members are spread through the cycle instead of bunched at its start.
 *
 * An unusable member is simply left out of that pick: its current value stays where it was and
 * its weight is not in the total, so the others keep their relative order and the member
 * rejoins at the place it left. Over any window in which the usable set does not change, each
 * member gets exactly weight / total of the picks.
 *
 * The values stay small: a pick adds as much as it takes away, so they always sum to zero, and
 * with a fixed usable set each stays within one total of zero (members parked while unusable
 * shift that by what they hold). Totals are at most 1000 * INT_MAX < 2^41, leaving int64_t
 * ample room.
 *
 * A weight change needs no work: the next pick adds the new weight. The member's current value
 * keeps what it had accumulated, so the sequence bends towards the new weights within a cycle
 * instead of restarting, which is what a slow-start ramp wants.
 */
#include "lb/balance_impl.h"

#include <errno.h>
#include <stdlib.h>

static int balance_rr_setup(struct balancer *b)
{
	b->u.rr.current = calloc(b->n, sizeof(*b->u.rr.current));
	return b->u.rr.current == NULL ? -ENOMEM : 0;
}

static int balance_rr_pick(struct balancer *b, const struct balance_ctx *ctx)
{
	int64_t *current = b->u.rr.current;
	int64_t total = 0;
	int best = -1;

	for (size_t i = 0; i < b->n; i++) {
		if (!balance_usable(ctx, i))
			continue;
		current[i] += b->members[i].weight;
		total += b->members[i].weight;
		if (best < 0 || current[i] > current[best])
			best = (int)i;
	}
	if (best >= 0)
		current[best] -= total;
	return best;
}

static void balance_rr_teardown(struct balancer *b)
{
	free(b->u.rr.current);
	b->u.rr.current = NULL;
}

const struct balance_ops balance_rr_ops = {
	.name = "round_robin",
	.setup = balance_rr_setup,
	.pick = balance_rr_pick,
	.reweight = NULL, /* weights are read at each pick */
	.teardown = balance_rr_teardown,
};
