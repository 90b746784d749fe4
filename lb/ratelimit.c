/*
 * DOC: per-source rate limit
 *
 * See ratelimit.h for what it does. The table is a fixed array of max_sources entries, found by
 * a chained hash (bucket heads and next links are indices, so the whole table is two
 * allocations) and kept in least-recently-seen order by a doubly linked list: a lookup, a
 * refresh and an eviction are O(1). Tokens are counted in 1/60000 of a token, so that a rate
 * given per minute adds a whole number of units every millisecond and nothing is rounded.
 */
#include "lb/ratelimit.h"

#include "lib/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define UNITS_PER_TOKEN 60000u /* per minute = units per millisecond */
#define NONE            UINT32_MAX

struct rl_entry {
	uint8_t key[RATELIMIT_KEY_LEN];
	uint64_t units; /* tokens * UNITS_PER_TOKEN */
	uint64_t last_ms;
	uint32_t hnext;      /* next in its bucket */
	uint32_t prev, next; /* LRU list: head the most recently seen */
};

struct ratelimit {
	_Atomic unsigned refs;
	pthread_mutex_t lock;
	uint64_t per_min;   /* units added per millisecond */
	uint64_t cap_units; /* burst * UNITS_PER_TOKEN */
	unsigned burst;
	size_t max;
	uint64_t seed;
	/* Guarded by lock. */
	struct rl_entry *e;
	uint32_t *heads; /* nheads of them, a power of two >= max */
	uint32_t nheads;
	uint32_t used; /* entries handed out: e[0..used) */
	uint32_t lru_head, lru_tail;
};

struct ratelimit *ratelimit_new(uint64_t rate_per_min, unsigned burst, size_t max_sources)
{
	if (rate_per_min == 0 || burst == 0 || max_sources == 0 || max_sources >= NONE / 2)
		return NULL;
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->nheads = 1;
	while (rl->nheads < max_sources)
		rl->nheads <<= 1;
	rl->e = calloc(max_sources, sizeof(*rl->e));
	rl->heads = malloc(rl->nheads * sizeof(*rl->heads));
	if (rl->e == NULL || rl->heads == NULL) {
		free(rl->e);
		free(rl->heads);
		free(rl);
		return NULL;
	}
	memset(rl->heads, 0xff, rl->nheads * sizeof(*rl->heads));
	atomic_init(&rl->refs, 1);
	pthread_mutex_init(&rl->lock, NULL);
	rl->per_min = rate_per_min;
	rl->burst = burst;
	rl->cap_units = (uint64_t)burst * UNITS_PER_TOKEN;
	rl->max = max_sources;
	rl->seed = (uint64_t)(uintptr_t)rl;
	rl->lru_head = rl->lru_tail = NONE;
	return rl;
}

struct ratelimit *ratelimit_get(struct ratelimit *rl)
{
	atomic_fetch_add(&rl->refs, 1);
	return rl;
}

void ratelimit_put(struct ratelimit *rl)
{
	if (rl == NULL || atomic_fetch_sub(&rl->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->e);
	free(rl->heads);
	free(rl);
}

int ratelimit_same(
	const struct ratelimit *rl, uint64_t rate_per_min, unsigned burst, size_t max_sources)
{
	return rl->per_min == rate_per_min && rl->burst == burst && rl->max == max_sources;
}

void ratelimit_key(const struct addr *a, uint8_t key[RATELIMIT_KEY_LEN])
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(key, 0, RATELIMIT_KEY_LEN);
	if (a->sa.sa_family == AF_INET) {
		memcpy(key, v4mapped, sizeof(v4mapped));
		memcpy(key + 12, &a->in.sin_addr, 4);
		return;
	}
	if (a->sa.sa_family != AF_INET6)
		return;
	const uint8_t *b = a->in6.sin6_addr.s6_addr;
	if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0)
		memcpy(key, b, RATELIMIT_KEY_LEN); /* an IPv4 client: its whole address */
	else
		memcpy(key, b, 8); /* its /64 */
}

static void lru_unlink(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry *x = &rl->e[i];

	if (x->prev != NONE)
		rl->e[x->prev].next = x->next;
	else
		rl->lru_head = x->next;
	if (x->next != NONE)
		rl->e[x->next].prev = x->prev;
	else
		rl->lru_tail = x->prev;
}

static void lru_push(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry *x = &rl->e[i];

	x->prev = NONE;
	x->next = rl->lru_head;
	if (rl->lru_head != NONE)
		rl->e[rl->lru_head].prev = i;
	rl->lru_head = i;
	if (rl->lru_tail == NONE)
		rl->lru_tail = i;
}

static uint32_t bucket_of(const struct ratelimit *rl, const uint8_t *key)
{
	return (uint32_t)(hash_bytes(key, RATELIMIT_KEY_LEN, rl->seed) & (rl->nheads - 1));
}

/* Takes entry i out of its hash chain. */
static void hash_unlink(struct ratelimit *rl, uint32_t i)
{
	uint32_t *p = &rl->heads[bucket_of(rl, rl->e[i].key)];

	while (*p != NONE && *p != i)
		p = &rl->e[*p].hnext;
	if (*p == i)
		*p = rl->e[i].hnext;
}

static void refill(const struct ratelimit *rl, struct rl_entry *x, uint64_t now_ms)
{
	if (now_ms <= x->last_ms)
		return; /* the same millisecond, or a clock that stepped back: nothing to add */
	uint64_t dt = now_ms - x->last_ms;
	x->last_ms = now_ms;
	/* dt * per_min could overflow after a long silence; the bucket is full long before. */
	if (dt >= rl->cap_units / rl->per_min + 1) {
		x->units = rl->cap_units;
		return;
	}
	x->units += dt * rl->per_min;
	if (x->units > rl->cap_units)
		x->units = rl->cap_units;
}

int ratelimit_take(
	struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], uint64_t now_ms, int *evicted)
{
	int ok;

	*evicted = 0;
	pthread_mutex_lock(&rl->lock);
	uint32_t b = bucket_of(rl, key), i = rl->heads[b];
	while (i != NONE && memcmp(rl->e[i].key, key, RATELIMIT_KEY_LEN) != 0)
		i = rl->e[i].hnext;
	if (i != NONE) {
		lru_unlink(rl, i);
		refill(rl, &rl->e[i], now_ms);
	} else {
		if (rl->used < rl->max) {
			i = rl->used++;
		} else {
			i = rl->lru_tail; /* the source seen least recently */
			lru_unlink(rl, i);
			hash_unlink(rl, i);
			*evicted = 1;
		}
		struct rl_entry *x = &rl->e[i];
		memcpy(x->key, key, RATELIMIT_KEY_LEN);
		x->units = rl->cap_units;
		x->last_ms = now_ms;
		x->hnext = rl->heads[b];
		rl->heads[b] = i;
	}
	lru_push(rl, i);
	struct rl_entry *x = &rl->e[i];
	ok = x->units >= UNITS_PER_TOKEN;
	if (ok)
		x->units -= UNITS_PER_TOKEN;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

size_t ratelimit_sources(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	size_t n = rl->used;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
