/*
 * DOC: maglev
 *
 * Consistent hashing after Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer" (NSDI 2016). A client hash indexes a table of M entries (M prime, see
 * balance_maglev_table_size); each entry names a member. Every member owns a permutation of
 * the table, offset + j * skip (mod M), with offset and skip drawn from two differently seeded
 * hashes of its name, and members take turns claiming the next free entry of their own
 * permutation until the table is full. Because a member's preferences depend only on its name,
 * removing one member mostly reassigns only the entries it held, and every anylb (every worker,
 * every site) builds the same table from the same names: the seed given to balancer_new is
 * deliberately not used here.
 *
 * Weights: the turn-taking is weighted the way Envoy's maglev does it. A member of weight w
 * takes its k-th turn (k = 0, 1, ...) in round max(previous round + 1, ceil(k * max_w / w)),
 * where max_w is the largest weight; within a round members go in index order. The heaviest
 * member thus takes a turn every round, one of a third of its weight every third round, and
 * each member ends with entries in proportion to its weight (to within two entries), while a pool
 * of equal weights is exactly the paper's algorithm. Rather than sweep every member each round,
 * which costs rounds * n and is slow for skewed weights on large pools, the build keeps the
 * members in a binary heap keyed by (round, index): O(M log n) plus the paper's probing.
 *
 *   round:      1       2       3       4
 *   w=3, max 3  a       a       a       a
 *   w=1         b               b           (b's 2nd turn: ceil(1 * 3 / 1) = round 3)
 *
 * Lookup is table[hash % M], one load. If that member is unusable (a retry excluding it, or
 * health), the following entries are tried in order, wrapping: the result depends only on the
 * hash and the usable set, so a given client falls back to the same backend every time, and
 * the fallback load spreads over the members roughly as their shares of the table. The
 * probe first makes sure some member is usable (every member owns at least one entry, since
 * all take a turn in round 1 and M > n, so then it must end) and is also capped at M steps in
 * case usable() changes its mind half way.
 *
 * A weight change rebuilds the whole table (every member's turns depend on the largest weight)
 * into a new allocation and swaps it in, so a failed allocation leaves the old table and the
 * old weight in force. The permutations depend on the names alone, so a small weight step
 * moves a modest part of the table (the unit test measures it), not all of it.
 *
 * Memory: 4 * M bytes per balancer (twice that for a moment during a rebuild), 256 KiB up to 655
 * members. Entries are 32-bit so that no pool size needs a second code path.
 */
#include "lb/balance_impl.h"
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAGLEV_EMPTY UINT32_MAX

/* Two fixed, different seeds ("maglevof", "maglevsk"); changing them remaps every client. */
#define MAGLEV_SEED_OFFSET 0x6d61676c65766f66ULL
#define MAGLEV_SEED_SKIP   0x6d61676c6576736bULL

struct maglev_turn {
	uint64_t round;
	uint32_t member;
};

/* Scratch state for one build, freed before setup returns. */
struct maglev_build {
	size_t *pos;  /* each member's next candidate entry in its permutation */
	size_t *skip; /* each member's stride, 1..M-1 */
	uint64_t *taken;
	struct maglev_turn *heap;
};

static int maglev_turn_before(const struct maglev_turn *a, const struct maglev_turn *b)
{
	return a->round < b->round || (a->round == b->round && a->member < b->member);
}

/* Restores the heap after heap[0] got a later round. */
static void maglev_sift_down(struct maglev_turn *heap, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;
		struct maglev_turn tmp;

		if (l < n && maglev_turn_before(&heap[l], &heap[min]))
			min = l;
		if (r < n && maglev_turn_before(&heap[r], &heap[min]))
			min = r;
		if (min == i)
			return;
		tmp = heap[i];
		heap[i] = heap[min];
		heap[min] = tmp;
		i = min;
	}
}

static void maglev_build_free(struct maglev_build *mb)
{
	free(mb->pos);
	free(mb->skip);
	free(mb->taken);
	free(mb->heap);
}

static void maglev_populate(
	const struct balancer *b, struct maglev_build *mb, uint32_t *table, size_t m)
{
	unsigned max_w = 0;

	for (size_t i = 0; i < b->n; i++) {
		const char *name = b->members[i].name;
		size_t len = strlen(name);

		mb->pos[i] = hash_bytes(name, len, MAGLEV_SEED_OFFSET) % m;
		mb->skip[i] = hash_bytes(name, len, MAGLEV_SEED_SKIP) % (m - 1) + 1;
		mb->taken[i] = 0;
		/* Everyone starts in round 1 in index order, which is already a valid heap. */
		mb->heap[i].round = 1;
		mb->heap[i].member = (uint32_t)i;
		if (b->members[i].weight > max_w)
			max_w = b->members[i].weight;
	}
	for (size_t i = 0; i < m; i++)
		table[i] = MAGLEV_EMPTY;

	for (size_t filled = 0; filled < m; filled++) {
		struct maglev_turn *top = &mb->heap[0];
		uint32_t i = top->member;
		uint64_t w = b->members[i].weight, due;

		/* M is prime, so the permutation visits every entry and a free one is found. */
		while (table[mb->pos[i]] != MAGLEV_EMPTY) {
			mb->pos[i] += mb->skip[i];
			if (mb->pos[i] >= m)
				mb->pos[i] -= m;
		}
		table[mb->pos[i]] = i;

		mb->taken[i]++;
		due = (mb->taken[i] * max_w + w - 1) / w;
		top->round = due > top->round ? due : top->round + 1;
		maglev_sift_down(mb->heap, b->n);
	}
}

/*
 * Builds a table for b's current members and weights into *table (allocated, the caller's to
 * free) and *size. Leaves b untouched, so a failed rebuild costs nothing. 0 or -ENOMEM.
 */
static int maglev_build(const struct balancer *b, uint32_t **table, size_t *size)
{
	struct maglev_build mb = {0};
	size_t m = balance_maglev_table_size(b->n);
	uint32_t *t;
	int err = -ENOMEM;

	if (m == 0 || m > SIZE_MAX / sizeof(*t))
		return -ENOMEM;
	t = calloc(m, sizeof(*t));
	mb.pos = calloc(b->n, sizeof(*mb.pos));
	mb.skip = calloc(b->n, sizeof(*mb.skip));
	mb.taken = calloc(b->n, sizeof(*mb.taken));
	mb.heap = calloc(b->n, sizeof(*mb.heap));
	if (t == NULL || mb.pos == NULL || mb.skip == NULL || mb.taken == NULL || mb.heap == NULL) {
		free(t);
		goto out;
	}
	maglev_populate(b, &mb, t, m);
	*table = t;
	*size = m;
	err = 0;
out:
	maglev_build_free(&mb);
	return err;
}

static int balance_maglev_setup(struct balancer *b)
{
	return maglev_build(b, &b->u.maglev.table, &b->u.maglev.size);
}

/*
 * Build the new table aside, then swap: the old one stays in force until the new one is
 * complete, and stays for good if memory runs out.
 */
static int balance_maglev_reweight(struct balancer *b, size_t i)
{
	uint32_t *table;
	size_t size;
	int err;

	(void)i; /* every member's share of the table moves, not just i's */
	err = maglev_build(b, &table, &size);
	if (err < 0)
		return err;
	free(b->u.maglev.table);
	b->u.maglev.table = table;
	b->u.maglev.size = size;
	return 0;
}

static int balance_maglev_pick(struct balancer *b, const struct balance_ctx *ctx)
{
	const uint32_t *table = b->u.maglev.table;
	size_t m = b->u.maglev.size;
	size_t pos = (size_t)(ctx->hash % m);
	int any = 0;

	if (balance_usable(ctx, table[pos]))
		return (int)table[pos];

	for (size_t i = 0; i < b->n && !any; i++)
		any = balance_usable(ctx, i);
	if (!any)
		return -1;
	for (size_t k = 1; k < m; k++) {
		if (++pos == m)
			pos = 0;
		if (balance_usable(ctx, table[pos]))
			return (int)table[pos];
	}
	return -1;
}

static void balance_maglev_teardown(struct balancer *b)
{
	free(b->u.maglev.table);
	b->u.maglev.table = NULL;
	b->u.maglev.size = 0;
}

const struct balance_ops balance_maglev_ops = {
	.name = "maglev",
	.setup = balance_maglev_setup,
	.pick = balance_maglev_pick,
	.reweight = balance_maglev_reweight,
	.teardown = balance_maglev_teardown,
};
