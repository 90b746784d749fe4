/*
 * DOC: balancing, the public side
 *
 * balancer_new() copies the members (names included, weights clamped into 1..1000), finds the
 * ops table for the configured kind and lets the algorithm build its state; balancer_pick()
 * is one indirect call. balancer_set_weight() changes one member's weight and lets the
 * algorithm follow (nothing to do for two of them, a prefix-sum update or a table rebuild for
 * the others). The algorithms live in balance_rr.c (smooth weighted round robin),
 * balance_lc.c (weighted least connections), balance_maglev.c (Maglev consistent hashing) and
 * balance_p2c.c (power of two random choices).
 */
#include "lb/balance_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct balance_ops *balance_ops_of(enum conf_balance kind)
{
	switch (kind) {
	case CONF_BALANCE_ROUND_ROBIN:
		return &balance_rr_ops;
	case CONF_BALANCE_LEAST_CONNECTIONS:
		return &balance_lc_ops;
	case CONF_BALANCE_MAGLEV:
		return &balance_maglev_ops;
	case CONF_BALANCE_RANDOM_TWO:
		return &balance_p2c_ops;
	}
	return NULL; /* a value outside the enum: refuse it rather than guess */
}

/* Only calloc, never malloc or strdup, so that a test can inject failures in one place. */
static char *balance_strdup(const char *s)
{
	size_t len = strlen(s);
	char *copy = calloc(1, len + 1);

	if (copy != NULL)
		memcpy(copy, s, len);
	return copy;
}

static unsigned balance_clamp_weight(unsigned w)
{
	if (w < BALANCE_WEIGHT_MIN)
		return BALANCE_WEIGHT_MIN;
	if (w > BALANCE_WEIGHT_MAX)
		return BALANCE_WEIGHT_MAX;
	return w;
}

/*
 * Also returns NULL for an unknown kind and for n > INT_MAX (an index must fit pick's int);
 * neither can come from a valid configuration. A NULL name is taken as "".
 */
struct balancer *balancer_new(
	enum conf_balance kind, const struct balance_member *members, size_t n, uint64_t seed)
{
	const struct balance_ops *ops = balance_ops_of(kind);
	struct balancer *b;

	/* n == 0: a service whose NAME:PORT entries have no answer yet; every pick fails. */
	if (ops == NULL || (members == NULL && n > 0) || n > INT_MAX)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->seed = seed;
	b->members = calloc(n > 0 ? n : 1, sizeof(*b->members));
	if (b->members == NULL)
		goto fail;
	/* b->n counts the members whose name is owned, so the cleanup frees exactly those. */
	for (size_t i = 0; i < n; i++) {
		const char *name = members[i].name != NULL ? members[i].name : "";

		b->members[i].name = balance_strdup(name);
		if (b->members[i].name == NULL)
			goto fail;
		b->members[i].weight = balance_clamp_weight(members[i].weight);
		b->n++;
	}
	if (n == 0)
		return b; /* no ops: nothing to set up, pick says no */
	b->ops = ops;
	if (ops->setup(b) < 0)
		goto fail;
	return b;
fail:
	balancer_free(b);
	return NULL;
}

void balancer_free(struct balancer *b)
{
	if (b == NULL)
		return;
	if (b->ops != NULL)
		b->ops->teardown(b);
	for (size_t i = 0; i < b->n; i++)
		free((char *)b->members[i].name);
	free(b->members);
	free(b);
}

int balancer_pick(struct balancer *b, const struct balance_ctx *ctx)
{
	return b->n > 0 ? b->ops->pick(b, ctx) : -1;
}

/*
 * The weight is stored first and the algorithm then adapts its state to it; if it cannot, the
 * old weight goes back, so the members and the state never disagree.
 */
int balancer_set_weight(struct balancer *b, size_t i, unsigned weight)
{
	unsigned old;
	int err;

	if (i >= b->n)
		return -EINVAL;
	weight = balance_clamp_weight(weight);
	old = b->members[i].weight;
	if (weight == old)
		return 0;
	b->members[i].weight = weight;
	if (b->ops->reweight == NULL)
		return 0;
	err = b->ops->reweight(b, i);
	if (err < 0)
		b->members[i].weight = old;
	return err;
}

const char *balance_name(const struct balancer *b)
{
	return b->ops->name;
}

static int balance_is_prime(size_t x)
{
	if (x < 2)
		return 0;
	if (x % 2 == 0)
		return x == 2;
	for (size_t d = 3; d <= x / d; d += 2) {
		if (x % d == 0)
			return 0;
	}
	return 1;
}

/*
 * 65537 is prime, so small pools all share one size. Above 655 backends each still gets at
 * least 100 entries, which keeps Maglev's imbalance around 1%. Trial division costs at most a
 * few thousand divisions per candidate for any pool the configuration allows.
 */
size_t balance_maglev_table_size(size_t n)
{
	size_t want;

	if (n > SIZE_MAX / 100 - 1000)
		return 0; /* no such table could be allocated; balancer_new then fails */
	want = 100 * n;
	if (want <= 65537)
		return 65537;
	while (!balance_is_prime(want))
		want++;
	return want;
}
