/*
 * DOC: balancing tests
 *
 * Pure: no sockets, no clock. Usable sets and loads come from a struct the test owns. Maglev's
 * table is read through the public API: with every member usable, pick(hash = i) is table[i]
 * for i < M. Random client hashes come from a local splitmix64 so runs are reproducible.
 */
#include "lb/balance.h"
#include "lb/balance_impl.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

struct fake {
	int down[MAXN]; /* zero-initialised = every member usable */
	uint32_t load[MAXN];
};

static int fake_usable(void *arg, size_t i)
{
	struct fake *f = arg;

	cr_assert_lt(i, MAXN);
	return !f->down[i];
}

static uint32_t fake_load(void *arg, size_t i)
{
	struct fake *f = arg;

	cr_assert_lt(i, MAXN);
	return f->load[i];
}

static struct balance_ctx fake_ctx(struct fake *f, uint64_t hash)
{
	struct balance_ctx ctx = {.hash = hash, .usable = fake_usable, .load = fake_load, .arg = f};
	return ctx;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static char names[MAXN][48];

/* Members "10.0.0.<i+1>:8080" with the given weights (all 100 when weights is NULL). */
static void make_members(struct balance_member *m, size_t n, const unsigned *weights)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "10.0.0.%zu:8080", i + 1);
		m[i].name = names[i];
		m[i].weight = weights != NULL ? weights[i] : 100;
	}
}

static struct balancer *make(
	enum conf_balance kind, size_t n, const unsigned *weights, uint64_t seed)
{
	struct balance_member m[MAXN];
	struct balancer *b;

	make_members(m, n, weights);
	b = balancer_new(kind, m, n, seed);
	cr_assert_not_null(b);
	return b;
}

static const enum conf_balance all_kinds[] = {
	CONF_BALANCE_ROUND_ROBIN,
	CONF_BALANCE_LEAST_CONNECTIONS,
	CONF_BALANCE_MAGLEV,
	CONF_BALANCE_RANDOM_TWO,
};
#define NKINDS (sizeof(all_kinds) / sizeof(all_kinds[0]))

/* ---- common ---- */

/* No member (NAME:PORT entries without an answer yet): made, and every pick says none. */
Test(balance, empty_picks_none)
{
	struct balance_member m[1];
	struct balance_ctx ctx = {0};

	make_members(m, 1, NULL);
	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b = balancer_new(all_kinds[k], m, 0, 1);
		cr_assert_not_null(b);
		cr_assert_eq(balancer_pick(b, &ctx), -1);
		cr_assert_eq(balancer_set_weight(b, 0, 5), -EINVAL);
		balancer_free(b);
		b = balancer_new(all_kinds[k], NULL, 0, 1);
		cr_assert_not_null(b);
		balancer_free(b);
	}
	balancer_free(NULL);
}

Test(balance, names)
{
	static const char *want[] = {"round_robin", "least_connections", "maglev", "random_two"};

	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b = make(all_kinds[k], 3, NULL, 1);

		cr_assert_str_eq(balance_name(b), want[k]);
		balancer_free(b);
	}
}

Test(balance, members_are_copied)
{
	struct balance_member m[2];
	char a[] = "10.0.0.1:80", c[] = "10.0.0.2:80";
	struct balancer *b;

	m[0] = (struct balance_member){.name = a, .weight = 1};
	m[1] = (struct balance_member){.name = c, .weight = 1};
	b = balancer_new(CONF_BALANCE_MAGLEV, m, 2, 1);
	cr_assert_not_null(b);
	a[0] = 'X';
	cr_assert_str_eq(b->members[0].name, "10.0.0.1:80");
	cr_assert_neq(b->members[0].name, a);
	balancer_free(b);
}

/* Every algorithm: a retry that excludes what was tried gets something else; nothing left: -1. */
Test(balance, retry_excludes_tried)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b = make(all_kinds[k], 4, NULL, 7);
		struct fake f = {0};
		struct balance_ctx ctx = fake_ctx(&f, 12345);
		int seen[4] = {0};

		for (int t = 0; t < 4; t++) {
			int i = balancer_pick(b, &ctx);

			cr_assert(i >= 0 && i < 4, "%s: try %d got %d", balance_name(b), t, i);
			cr_assert(!seen[i], "%s: %d picked twice", balance_name(b), i);
			seen[i] = 1;
			f.down[i] = 1;
		}
		cr_assert_eq(balancer_pick(b, &ctx), -1, "%s", balance_name(b));
		balancer_free(b);
	}
}

Test(balance, never_returns_unusable)
{
	uint64_t s = 42;

	for (size_t k = 0; k < NKINDS; k++) {
		unsigned w[10] = {1, 5, 100, 1000, 3, 7, 50, 2, 999, 10};
		struct balancer *b = make(all_kinds[k], 10, w, 3);

		for (int t = 0; t < 5000; t++) {
			struct fake f = {0};
			struct balance_ctx ctx = fake_ctx(&f, splitmix(&s));
			uint64_t mask = splitmix(&s);
			int any = 0, i;

			for (size_t j = 0; j < 10; j++) {
				f.down[j] = (mask >> j) & 1;
				f.load[j] = (uint32_t)(mask >> (20 + j)) & 0xff;
				any |= !f.down[j];
			}
			i = balancer_pick(b, &ctx);
			if (!any) {
				cr_assert_eq(i, -1, "%s", balance_name(b));
				continue;
			}
			cr_assert(i >= 0 && i < 10, "%s: %d", balance_name(b), i);
			cr_assert(!f.down[i], "%s: picked unusable %d", balance_name(b), i);
		}
		balancer_free(b);
	}
}

/* Missing callbacks mean "all usable" and "all idle". */
Test(balance, null_callbacks)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b = make(all_kinds[k], 3, NULL, 1);
		struct balance_ctx ctx = {.hash = 99};
		int i = balancer_pick(b, &ctx);

		cr_assert(i >= 0 && i < 3, "%s", balance_name(b));
		balancer_free(b);
	}
}

/*
 * Allocation failure injection: calloc (the only allocator balance*.c uses) fails on its k-th
 * call, for every k until balancer_new succeeds. Each failure must give NULL without crashing.
 * Overriding calloc fights AddressSanitizer's own, so this test is compiled out under ASan.
 */
#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_calloc(size_t n, size_t size);
static int calloc_fail_in = -1;

void *calloc(size_t n, size_t size)
{
	if (calloc_fail_in >= 0 && calloc_fail_in-- == 0)
		return NULL;
	return __libc_calloc(n, size);
}

Test(balance, allocation_failures)
{
	struct balance_member m[5];

	make_members(m, 5, NULL);
	for (size_t k = 0; k < NKINDS; k++) {
		int fails = 0;

		for (int at = 0;; at++) {
			struct balancer *b;

			cr_assert_lt(at, 100);
			calloc_fail_in = at;
			b = balancer_new(all_kinds[k], m, 5, 1);
			calloc_fail_in = -1;
			if (b != NULL) {
				cr_assert_geq(balancer_pick(b, &(struct balance_ctx){0}), 0);
				balancer_free(b);
				break;
			}
			fails++;
		}
		cr_assert_geq(fails, 7); /* struct, members, 5 names, at least */
	}
}
#endif

/* ---- round robin ---- */

Test(round_robin, weights_exact_and_smooth)
{
	unsigned w[3] = {1, 2, 3};
	struct balancer *b = make(CONF_BALANCE_ROUND_ROBIN, 3, w, 1);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int count[3] = {0}, prev = -1, run = 0;

	for (int t = 0; t < 600; t++) {
		int i = balancer_pick(b, &ctx);

		cr_assert(i >= 0 && i < 3);
		count[i]++;
		run = i == prev ? run + 1 : 1;
		prev = i;
		cr_assert_leq(run, (int)w[i], "pick %d: %d in a row of member %d", t, run, i);
	}
	cr_assert_eq(count[0], 100);
	cr_assert_eq(count[1], 200);
	cr_assert_eq(count[2], 300);
	balancer_free(b);
}

/* nginx's documented sequence for 5:1:1. */
Test(round_robin, nginx_sequence)
{
	unsigned w[3] = {5, 1, 1};
	struct balancer *b = make(CONF_BALANCE_ROUND_ROBIN, 3, w, 1);
	struct balance_ctx ctx = {0};
	static const int want[14] = {0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0};

	for (int t = 0; t < 14; t++)
		cr_assert_eq(balancer_pick(b, &ctx), want[t], "pick %d", t);
	balancer_free(b);
}

Test(round_robin, unusable_skipped)
{
	unsigned w[3] = {1, 2, 3};
	struct balancer *b = make(CONF_BALANCE_ROUND_ROBIN, 3, w, 1);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int count[3] = {0};

	f.down[2] = 1;
	for (int t = 0; t < 300; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert_eq(count[0], 100);
	cr_assert_eq(count[1], 200);
	cr_assert_eq(count[2], 0);

	/* Back in: the weights hold again, give or take the cycle it rejoined in. */
	f.down[2] = 0;
	memset(count, 0, sizeof(count));
	for (int t = 0; t < 600; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert(abs(count[0] - 100) <= 2 && abs(count[1] - 200) <= 2 && abs(count[2] - 300) <= 2,
		"%d %d %d", count[0], count[1], count[2]);
	balancer_free(b);
}

/* A retry that excludes the first choice disturbs the sequence only for that pick. */
Test(round_robin, retry_does_not_derail)
{
	struct balancer *b = make(CONF_BALANCE_ROUND_ROBIN, 3, NULL, 1);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int first, retry, count[3] = {0};

	first = balancer_pick(b, &ctx);
	f.down[first] = 1;
	retry = balancer_pick(b, &ctx);
	cr_assert_neq(retry, first);
	f.down[first] = 0;
	for (int t = 0; t < 300; t++)
		count[balancer_pick(b, &ctx)]++;
	for (int i = 0; i < 3; i++)
		cr_assert(abs(count[i] - 100) <= 1, "member %d: %d", i, count[i]);
	balancer_free(b);
}

/* ---- least connections ---- */

Test(least_connections, least_loaded_weighted)
{
	unsigned w[3] = {1, 2, 3};
	struct balancer *b = make(CONF_BALANCE_LEAST_CONNECTIONS, 3, w, 1);
	struct fake f = {.load = {10, 10, 10}};
	struct balance_ctx ctx = fake_ctx(&f, 0);

	cr_assert_eq(balancer_pick(b, &ctx), 2); /* 11/3 < 11/2 < 11/1 */
	f.load[0] = 0;
	f.load[2] = 20;
	cr_assert_eq(balancer_pick(b, &ctx), 0); /* 1/1 < 21/3 and 11/2 */
	f.load[0] = 6;
	cr_assert_eq(balancer_pick(b, &ctx), 1); /* 11/2 < 7/1 and 21/3 */
	f.down[1] = 1;
	/* 7/1 == 21/3: a tie, so the rotation decides; the scan starts after 1, at 2. */
	cr_assert_eq(balancer_pick(b, &ctx), 2);
	cr_assert_eq(balancer_pick(b, &ctx), 0);
	balancer_free(b);
}

Test(least_connections, ties_rotate)
{
	struct balancer *b = make(CONF_BALANCE_LEAST_CONNECTIONS, 4, NULL, 1);
	struct fake f = {.load = {5, 5, 5, 5}};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int count[4] = {0};

	for (int t = 0; t < 400; t++)
		count[balancer_pick(b, &ctx)]++;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(count[i], 100, "member %d: %d", i, count[i]);
	balancer_free(b);
}

/* With the caller counting each placed session, loads settle in proportion to weights. */
Test(least_connections, loads_follow_weights)
{
	unsigned w[3] = {1, 2, 3};
	struct balancer *b = make(CONF_BALANCE_LEAST_CONNECTIONS, 3, w, 1);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);

	for (int t = 0; t < 600; t++)
		f.load[balancer_pick(b, &ctx)]++;
	cr_assert(abs((int)f.load[0] - 100) <= 1 && abs((int)f.load[1] - 200) <= 1 &&
			  abs((int)f.load[2] - 300) <= 1,
		"%u %u %u", f.load[0], f.load[1], f.load[2]);
	balancer_free(b);
}

/* ---- maglev ---- */

static int is_prime(size_t x)
{
	if (x < 2)
		return 0;
	for (size_t d = 2; d <= x / d; d++) {
		if (x % d == 0)
			return 0;
	}
	return 1;
}

Test(maglev, table_size)
{
	cr_assert_eq(balance_maglev_table_size(1), 65537);
	cr_assert_eq(balance_maglev_table_size(10), 65537);
	cr_assert_eq(balance_maglev_table_size(655), 65537);
	for (size_t n = 656; n <= 10000; n += 1) {
		size_t m = balance_maglev_table_size(n);

		if (n != 656 && n != 1000 && n != 10000 && n % 997 != 0)
			continue;
		cr_assert_geq(m, 100 * n);
		cr_assert(is_prime(m), "n=%zu: %zu not prime", n, m);
		for (size_t x = 100 * n; x < m; x++)
			cr_assert(!is_prime(x), "n=%zu: %zu is a smaller prime", n, x);
	}
	cr_assert_eq(balance_maglev_table_size(1000), 100003);
}

/* Counts each member's entries, read through pick(hash = i). */
static void maglev_count(struct balancer *b, size_t n, size_t *count)
{
	size_t m = balance_maglev_table_size(n);
	struct balance_ctx ctx = {0};

	memset(count, 0, n * sizeof(*count));
	for (size_t i = 0; i < m; i++) {
		int r;

		ctx.hash = i;
		r = balancer_pick(b, &ctx);
		cr_assert(r >= 0 && (size_t)r < n, "entry %zu holds %d", i, r);
		count[r]++;
	}
}

Test(maglev, equal_weights_fill_evenly)
{
	size_t count[10], m = balance_maglev_table_size(10);
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 10, NULL, 1);

	maglev_count(b, 10, count);
	for (size_t i = 0; i < 10; i++) {
		double share = (double)count[i] / (double)m;

		cr_assert(share > 0.098 && share < 0.102, "member %zu: %f", i, share);
	}
	balancer_free(b);
}

Test(maglev, weights_proportional)
{
	unsigned w[5] = {1, 2, 3, 4, 10};
	size_t count[5], m = balance_maglev_table_size(5);
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 5, w, 1);

	maglev_count(b, 5, count);
	for (size_t i = 0; i < 5; i++) {
		double want = (double)m * w[i] / 20.0;
		double err = ((double)count[i] - want) / want;

		cr_log_info("maglev weight %u: %zu entries, %+.3f%%", w[i], count[i], 100 * err);
		cr_assert(err > -0.02 && err < 0.02, "weight %u: %zu entries, want %.0f", w[i],
			count[i], want);
	}
	balancer_free(b);
}

/* A large, skewed pool: the heap keeps the build fast, and the heavy member gets its share. */
Test(maglev, large_skewed_pool)
{
	enum { N = 2000 };
	static struct balance_member m[N];
	static char nm[N][48];
	size_t size = balance_maglev_table_size(N), heavy = 0;
	struct balance_ctx ctx = {0};
	struct balancer *b;

	for (size_t i = 0; i < N; i++) {
		snprintf(nm[i], sizeof(nm[i]), "[2001:db8::%zx]:443", i);
		m[i].name = nm[i];
		m[i].weight = i == 0 ? 1000 : 1;
	}
	b = balancer_new(CONF_BALANCE_MAGLEV, m, N, 1);
	cr_assert_not_null(b);
	for (size_t i = 0; i < size; i++) {
		ctx.hash = i;
		heavy += balancer_pick(b, &ctx) == 0;
	}
	/* 1000 / 2999 of the table. */
	cr_assert(heavy > size * 0.33 && heavy < size * 0.337, "%zu of %zu", heavy, size);
	balancer_free(b);
}

Test(maglev, deterministic_and_seed_independent)
{
	struct balancer *a = make(CONF_BALANCE_MAGLEV, 7, NULL, 1);
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 7, NULL, 1);
	struct balancer *c = make(CONF_BALANCE_MAGLEV, 7, NULL, 0xdeadbeef);

	cr_assert_eq(a->u.maglev.size, b->u.maglev.size);
	cr_assert(memcmp(a->u.maglev.table, b->u.maglev.table,
			  a->u.maglev.size * sizeof(*a->u.maglev.table)) == 0);
	/* Every worker and site must agree on the table, whatever random_two's seed. */
	cr_assert(memcmp(a->u.maglev.table, c->u.maglev.table,
			  a->u.maglev.size * sizeof(*a->u.maglev.table)) == 0);
	balancer_free(a);
	balancer_free(b);
	balancer_free(c);
}

Test(maglev, removal_disruption)
{
	enum { N = 10, REMOVED = 3, KEYS = 100000 };
	struct balance_member all[N], rest[N - 1];
	struct balancer *before, *after;
	struct balance_ctx ctx = {0};
	uint64_t s = 2024;
	size_t kept = 0, moved = 0;

	make_members(all, N, NULL);
	for (size_t i = 0, j = 0; i < N; i++) {
		if (i != REMOVED)
			rest[j++] = all[i];
	}
	before = balancer_new(CONF_BALANCE_MAGLEV, all, N, 1);
	after = balancer_new(CONF_BALANCE_MAGLEV, rest, N - 1, 1);
	cr_assert_not_null(before);
	cr_assert_not_null(after);
	for (int k = 0; k < KEYS; k++) {
		int x, y;

		ctx.hash = splitmix(&s);
		x = balancer_pick(before, &ctx);
		y = balancer_pick(after, &ctx);
		cr_assert(x >= 0 && y >= 0);
		if (x == REMOVED)
			continue;
		kept++;
		if (strcmp(before->members[x].name, after->members[y].name) != 0)
			moved++;
	}
	fprintf(stderr, "maglev: removing 1 of %d backends moved %.2f%% of %zu unaffected keys\n",
		N, 100.0 * (double)moved / (double)kept, kept);
	cr_assert_leq((double)moved / (double)kept, 0.15);
	balancer_free(before);
	balancer_free(after);
}

/* table[hash % M] unusable: the first usable member of the following entries, every time. */
Test(maglev, fallback_probes_forward)
{
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 5, NULL, 1);
	size_t m = balance_maglev_table_size(5);
	struct fake f = {0};
	struct balance_ctx all = {0}, ctx = fake_ctx(&f, 0);
	uint64_t s = 5;

	for (int t = 0; t < 1000; t++) {
		uint64_t h = splitmix(&s);
		int home, want = -1, got;

		memset(&f, 0, sizeof(f));
		all.hash = h;
		home = balancer_pick(b, &all);
		f.down[home] = 1;
		if (t % 2)
			f.down[(home + 1) % 5] = 1;
		for (size_t k = 1; want < 0; k++) {
			int r;

			all.hash = (h % m + k) % m;
			r = balancer_pick(b, &all);
			if (!f.down[r])
				want = r;
		}
		ctx.hash = h;
		got = balancer_pick(b, &ctx);
		cr_assert_eq(got, want);
		cr_assert_eq(balancer_pick(b, &ctx), got, "fallback must be stable");
	}
	memset(f.down, 1, sizeof(f.down));
	cr_assert_eq(balancer_pick(b, &ctx), -1);
	balancer_free(b);
}

/* The fallback spreads a dead member's keys over the others rather than onto one neighbour. */
Test(maglev, fallback_spreads)
{
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 5, NULL, 1);
	struct fake f = {.down = {1}};
	struct balance_ctx all = {0}, ctx = fake_ctx(&f, 0);
	uint64_t s = 11;
	int count[5] = {0}, n0 = 0;

	for (int t = 0; t < 100000; t++) {
		all.hash = ctx.hash = splitmix(&s);
		if (balancer_pick(b, &all) != 0)
			continue;
		n0++;
		count[balancer_pick(b, &ctx)]++;
	}
	cr_assert_eq(count[0], 0);
	for (int i = 1; i < 5; i++)
		cr_assert(count[i] > n0 / 8, "member %d took %d of %d", i, count[i], n0);
	balancer_free(b);
}

/* ---- random two ---- */

Test(random_two, avoids_loaded)
{
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 4, NULL, 1);
	struct fake f = {.load = {1000, 0, 0, 0}};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int count[4] = {0};

	for (int t = 0; t < 10000; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert_lt(count[0], 100, "loaded member picked %d times", count[0]);
	for (int i = 1; i < 4; i++)
		cr_assert(count[i] > 3000, "member %d: %d", i, count[i]);
	balancer_free(b);
}

Test(random_two, graded_by_load)
{
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 4, NULL, 1);
	struct fake f = {.load = {0, 10, 100, 1000}};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int count[4] = {0};

	for (int t = 0; t < 12000; t++)
		count[balancer_pick(b, &ctx)]++;
	/* Two distinct draws of four: 1/2, 1/3, 1/6, 0 of the picks. */
	cr_assert(count[0] > count[1] && count[1] > count[2] && count[2] > count[3], "%d %d %d %d",
		count[0], count[1], count[2], count[3]);
	cr_assert_eq(count[3], 0);
	cr_assert(abs(count[0] - 6000) < 400 && abs(count[1] - 4000) < 400 &&
			  abs(count[2] - 2000) < 400,
		"%d %d %d", count[0], count[1], count[2]);
	balancer_free(b);
}

/* With the caller counting placed sessions, loads end up in proportion to weights. */
Test(random_two, loads_follow_weights)
{
	unsigned w[4] = {1, 2, 3, 4};
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 4, w, 9);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);

	for (int t = 0; t < 10000; t++)
		f.load[balancer_pick(b, &ctx)]++;
	for (int i = 0; i < 4; i++) {
		double want = 1000.0 * w[i];

		cr_assert(f.load[i] > want * 0.9 && f.load[i] < want * 1.1, "member %d: %u", i,
			f.load[i]);
	}
	balancer_free(b);
}

Test(random_two, single_and_none)
{
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 5, NULL, 1);
	struct fake f = {.down = {1, 1, 0, 1, 1}, .load = {0, 0, 500, 0, 0}};
	struct balance_ctx ctx = fake_ctx(&f, 0);

	for (int t = 0; t < 100; t++)
		cr_assert_eq(balancer_pick(b, &ctx), 2);
	f.down[2] = 1;
	cr_assert_eq(balancer_pick(b, &ctx), -1);
	balancer_free(b);

	b = make(CONF_BALANCE_RANDOM_TWO, 1, NULL, 1);
	f.down[0] = 0;
	cr_assert_eq(balancer_pick(b, &ctx), 0);
	balancer_free(b);
}

Test(random_two, seeded)
{
	struct balancer *a = make(CONF_BALANCE_RANDOM_TWO, 8, NULL, 77);
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 8, NULL, 77);
	struct balancer *c = make(CONF_BALANCE_RANDOM_TWO, 8, NULL, 78);
	struct fake f = {.load = {8, 7, 6, 5, 4, 3, 2, 1}};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	int differ = 0;

	for (int t = 0; t < 200; t++) {
		int x = balancer_pick(a, &ctx);

		cr_assert_eq(balancer_pick(b, &ctx), x);
		differ |= balancer_pick(c, &ctx) != x;
	}
	cr_assert(differ);
	balancer_free(a);
	balancer_free(b);
	balancer_free(c);
}

/* ---- set_weight ---- */

Test(set_weight, clamps_and_bounds)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b = make(all_kinds[k], 3, NULL, 1);
		struct balance_ctx ctx = {0};

		cr_assert_eq(balancer_set_weight(b, 0, 0), 0, "%s", balance_name(b));
		cr_assert_eq(b->members[0].weight, 1);
		cr_assert_eq(balancer_set_weight(b, 1, 5000), 0);
		cr_assert_eq(b->members[1].weight, 1000);
		cr_assert_eq(balancer_set_weight(b, 2, 100), 0); /* unchanged: nothing to do */
		cr_assert_eq(b->members[2].weight, 100);
		cr_assert_eq(balancer_set_weight(b, 3, 50), -EINVAL);
		cr_assert_eq(balancer_set_weight(b, SIZE_MAX, 50), -EINVAL);
		for (int t = 0; t < 10; t++) {
			int i = balancer_pick(b, &ctx);

			cr_assert(i >= 0 && i < 3);
		}
		balancer_free(b);
	}
}

Test(set_weight, round_robin_follows)
{
	struct balancer *b = make(CONF_BALANCE_ROUND_ROBIN, 3, (unsigned[]){1, 1, 1}, 1);
	struct balance_ctx ctx = {0};
	int count[3] = {0};

	for (int t = 0; t < 300; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert(count[0] == 100 && count[1] == 100 && count[2] == 100);
	cr_assert_eq(balancer_set_weight(b, 2, 3), 0);
	memset(count, 0, sizeof(count));
	for (int t = 0; t < 500; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert(abs(count[0] - 100) <= 2 && abs(count[1] - 100) <= 2 && abs(count[2] - 300) <= 2,
		"%d %d %d", count[0], count[1], count[2]);
	/* And back down: the heavy member does not keep a lead it built up. */
	cr_assert_eq(balancer_set_weight(b, 2, 1), 0);
	memset(count, 0, sizeof(count));
	for (int t = 0; t < 300; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert(abs(count[0] - 100) <= 2 && abs(count[1] - 100) <= 2 && abs(count[2] - 100) <= 2,
		"%d %d %d", count[0], count[1], count[2]);
	balancer_free(b);
}

Test(set_weight, least_connections_follows)
{
	struct balancer *b = make(CONF_BALANCE_LEAST_CONNECTIONS, 3, NULL, 1);
	struct fake f = {0};
	struct balance_ctx ctx = fake_ctx(&f, 0);

	cr_assert_eq(balancer_set_weight(b, 0, 300), 0);
	cr_assert_eq(balancer_set_weight(b, 1, 200), 0);
	for (int t = 0; t < 600; t++)
		f.load[balancer_pick(b, &ctx)]++;
	cr_assert(abs((int)f.load[0] - 300) <= 1 && abs((int)f.load[1] - 200) <= 1 &&
			  abs((int)f.load[2] - 100) <= 1,
		"%u %u %u", f.load[0], f.load[1], f.load[2]);
	balancer_free(b);
}

/* The running sums after a change are those a fresh balancer builds from the same weights. */
Test(set_weight, random_two_sums)
{
	unsigned w[6] = {5, 10, 15, 20, 25, 30};
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 6, NULL, 1);

	for (size_t i = 6; i-- > 0;)
		cr_assert_eq(balancer_set_weight(b, i, w[i]), 0);
	struct balancer *fresh = make(CONF_BALANCE_RANDOM_TWO, 6, w, 1);

	cr_assert_eq(b->u.p2c.total, 105);
	cr_assert_eq(b->u.p2c.total, fresh->u.p2c.total);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(b->u.p2c.cumulative[i], fresh->u.p2c.cumulative[i], "sum %zu", i);
	balancer_free(b);
	balancer_free(fresh);
}

/*
 * With every member idle the heavier of the two draws wins (balance_cmp_load's + 1), so member
 * 0 at 700 against three at 100 is picked whenever it is drawn at all: 0.7 + 0.3 x 700 / 900 =
 * 14/15 of the picks. With the old weights it would have been 1/2.
 */
Test(set_weight, random_two_draw_uses_new_weights)
{
	struct balancer *b = make(CONF_BALANCE_RANDOM_TWO, 4, NULL, 3);
	struct balance_ctx ctx = {0};
	int count[4] = {0};

	cr_assert_eq(balancer_set_weight(b, 0, 700), 0);
	for (int t = 0; t < 15000; t++)
		count[balancer_pick(b, &ctx)]++;
	cr_assert(abs(count[0] - 14000) < 150, "%d", count[0]);
	for (int i = 1; i < 4; i++)
		cr_assert(abs(count[i] - 333) < 100, "member %d: %d", i, count[i]);

	/* Loads counted by the caller follow the new weights too. */
	struct fake f = {0};
	struct balance_ctx lctx = fake_ctx(&f, 0);

	cr_assert_eq(balancer_set_weight(b, 0, 100), 0);
	cr_assert_eq(balancer_set_weight(b, 3, 400), 0);
	for (int t = 0; t < 7000; t++)
		f.load[balancer_pick(b, &lctx)]++;
	for (int i = 0; i < 4; i++) {
		double want = i == 3 ? 4000.0 : 1000.0;

		cr_assert(f.load[i] > want * 0.9 && f.load[i] < want * 1.1, "member %d: %u", i,
			f.load[i]);
	}
	balancer_free(b);
}

static uint32_t *table_copy(const struct balancer *b)
{
	size_t bytes = b->u.maglev.size * sizeof(*b->u.maglev.table);
	uint32_t *t = malloc(bytes);

	cr_assert_not_null(t);
	memcpy(t, b->u.maglev.table, bytes);
	return t;
}

Test(set_weight, maglev_rebuilds)
{
	unsigned w[5] = {100, 100, 100, 100, 100}, w2[5] = {100, 100, 300, 100, 100};
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 5, w, 1);
	struct balancer *want = make(CONF_BALANCE_MAGLEV, 5, w2, 1);
	size_t count[5], m = balance_maglev_table_size(5), moved = 0;
	uint32_t *before = table_copy(b);

	cr_assert_eq(balancer_set_weight(b, 2, 300), 0);
	cr_assert_eq(b->u.maglev.size, m);
	/* Exactly the table a fresh build with the new weights makes: every worker agrees. */
	cr_assert(memcmp(b->u.maglev.table, want->u.maglev.table, m * sizeof(uint32_t)) == 0);
	maglev_count(b, 5, count);
	for (size_t i = 0; i < 5; i++) {
		double share = (double)count[i] / (double)m, exp = w2[i] / 700.0;

		cr_assert(share > exp * 0.98 && share < exp * 1.02, "member %zu: %f", i, share);
	}
	for (size_t e = 0; e < m; e++)
		moved += b->u.maglev.table[e] != before[e];
	/* Member 2 gains 3/7 - 1/5 = 22.9% of the table, the least any rebuild can move. */
	fprintf(stderr, "maglev: weight 100 -> 300 on 1 of 5 moved %.1f%% of entries\n",
		100.0 * (double)moved / (double)m);
	cr_assert_lt((double)moved / (double)m, 0.30);

	/* Back to the old weight: back to the old table. */
	cr_assert_eq(balancer_set_weight(b, 2, 100), 0);
	cr_assert(memcmp(b->u.maglev.table, before, m * sizeof(uint32_t)) == 0);
	free(before);
	balancer_free(b);
	balancer_free(want);
}

/* The fallback probe still works on a rebuilt table. */
Test(set_weight, maglev_fallback_after_rebuild)
{
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 4, NULL, 1);
	struct fake f = {.down = {0, 1, 0, 0}};
	struct balance_ctx ctx = fake_ctx(&f, 0);
	uint64_t s = 7;

	cr_assert_eq(balancer_set_weight(b, 1, 1000), 0);
	for (int t = 0; t < 10000; t++) {
		ctx.hash = splitmix(&s);
		cr_assert_neq(balancer_pick(b, &ctx), 1);
	}
	memset(f.down, 1, sizeof(f.down));
	cr_assert_eq(balancer_pick(b, &ctx), -1);
	balancer_free(b);
}

#if !defined(__SANITIZE_ADDRESS__)
/*
 * Each of a rebuild's allocations fails in turn: -ENOMEM, and the old table and the old weight
 * stay in force, untouched, until a rebuild succeeds.
 */
Test(set_weight, maglev_allocation_failures)
{
	struct balancer *b = make(CONF_BALANCE_MAGLEV, 5, NULL, 1);
	size_t m = balance_maglev_table_size(5);
	uint32_t *before = table_copy(b);
	int fails = 0;

	for (int at = 0;; at++) {
		const uint32_t *old = b->u.maglev.table;
		int err;

		cr_assert_lt(at, 50);
		calloc_fail_in = at;
		err = balancer_set_weight(b, 4, 700);
		calloc_fail_in = -1;
		if (err == 0)
			break;
		cr_assert_eq(err, -ENOMEM);
		cr_assert_eq(b->members[4].weight, 100);
		cr_assert_eq(b->u.maglev.table, old);
		cr_assert_eq(b->u.maglev.size, m);
		cr_assert(memcmp(b->u.maglev.table, before, m * sizeof(uint32_t)) == 0);
		fails++;
	}
	cr_assert_eq(fails, 5); /* the table and four scratch arrays */
	cr_assert_eq(b->members[4].weight, 700);
	cr_assert(memcmp(b->u.maglev.table, before, m * sizeof(uint32_t)) != 0);
	free(before);
	balancer_free(b);
}

/* The other algorithms do not allocate on a weight change. */
Test(set_weight, others_do_not_allocate)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct balancer *b;

		if (all_kinds[k] == CONF_BALANCE_MAGLEV)
			continue;
		b = make(all_kinds[k], 3, NULL, 1);
		calloc_fail_in = 0;
		cr_assert_eq(balancer_set_weight(b, 1, 42), 0, "%s", balance_name(b));
		calloc_fail_in = -1;
		cr_assert_eq(b->members[1].weight, 42);
		balancer_free(b);
	}
}
#endif
