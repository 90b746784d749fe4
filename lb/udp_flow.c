/*
 * DOC: the udp flow table
 *
 * Chained hashing over a power-of-two bucket array sized for max (one pointer per flow the
 * table may hold), and two intrusive doubly linked lists. Every operation is O(1) but lookup,
 * which is O(chain) with a keyed hash.
 */
#include "lb/udp_flow.h"

#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int udp_flow_table_init(struct udp_flow_table *t, size_t max, uint64_t seed)
{
	size_t nb = 16;

	memset(t, 0, sizeof(*t));
	while (nb < max && nb < ((size_t)1 << 30))
		nb <<= 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return -ENOMEM;
	t->nbuckets = nb;
	t->max = max > 0 ? max : 1;
	t->seed = seed;
	return 0;
}

void udp_flow_table_destroy(struct udp_flow_table *t)
{
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

void udp_key_make(struct udp_key *k, const struct addr *client, const struct addr *local)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)client->sa.sa_family;
	if (client->sa.sa_family == AF_INET6) {
		k->port = client->in6.sin6_port;
		memcpy(k->ip, &client->in6.sin6_addr, 16);
	} else {
		k->port = client->in.sin_port;
		memcpy(k->ip, &client->in.sin_addr, 4);
	}
	if (local->sa.sa_family == AF_INET6)
		memcpy(k->local, &local->in6.sin6_addr, 16);
	else
		memcpy(k->local, &local->in.sin_addr, 4);
}

static size_t bucket(const struct udp_flow_table *t, const struct udp_key *k)
{
	return (size_t)hash_mix64(hash_bytes(k, sizeof(*k), t->seed)) & (t->nbuckets - 1);
}

struct udp_flow_node *udp_flow_find(struct udp_flow_table *t, const struct udp_key *k)
{
	for (struct udp_flow_node *n = t->buckets[bucket(t, k)]; n != NULL; n = n->hnext)
		if (memcmp(&n->key, k, sizeof(*k)) == 0)
			return n;
	return NULL;
}

static void lru_unlink(struct udp_flow_table *t, struct udp_flow_node *n)
{
	if (n->lprev != NULL)
		n->lprev->lnext = n->lnext;
	else
		t->lru_head = n->lnext;
	if (n->lnext != NULL)
		n->lnext->lprev = n->lprev;
	else
		t->lru_tail = n->lprev;
	n->lprev = n->lnext = NULL;
}

static void lru_append(struct udp_flow_table *t, struct udp_flow_node *n)
{
	n->lprev = t->lru_tail;
	n->lnext = NULL;
	if (t->lru_tail != NULL)
		t->lru_tail->lnext = n;
	else
		t->lru_head = n;
	t->lru_tail = n;
}

static void wait_unlink(struct udp_flow_table *t, struct udp_flow_node *n)
{
	if (!n->waiting)
		return;
	if (n->wprev != NULL)
		n->wprev->wnext = n->wnext;
	else
		t->wait_head = n->wnext;
	if (n->wnext != NULL)
		n->wnext->wprev = n->wprev;
	else
		t->wait_tail = n->wprev;
	n->wprev = n->wnext = NULL;
	n->waiting = 0;
}

void udp_flow_insert(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms)
{
	size_t b = bucket(t, &n->key);

	n->hnext = t->buckets[b];
	t->buckets[b] = n;
	n->last_ms = now_ms;
	n->sent_ms = 0;
	n->waiting = 0;
	n->wprev = n->wnext = NULL;
	lru_append(t, n);
	t->n++;
}

void udp_flow_remove(struct udp_flow_table *t, struct udp_flow_node *n)
{
	struct udp_flow_node **pp = &t->buckets[bucket(t, &n->key)];

	while (*pp != NULL && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp == NULL)
		return; /* not in this table */
	*pp = n->hnext;
	n->hnext = NULL;
	lru_unlink(t, n);
	wait_unlink(t, n);
	t->n--;
}

void udp_flow_from_client(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms)
{
	n->last_ms = now_ms;
	if (t->lru_tail != n) {
		lru_unlink(t, n);
		lru_append(t, n);
	}
	if (n->waiting)
		return; /* the oldest unanswered datagram is what times out */
	n->sent_ms = now_ms;
	n->waiting = 1;
	n->wprev = t->wait_tail;
	n->wnext = NULL;
	if (t->wait_tail != NULL)
		t->wait_tail->wnext = n;
	else
		t->wait_head = n;
	t->wait_tail = n;
}

int64_t udp_flow_from_backend(struct udp_flow_table *t, struct udp_flow_node *n, uint64_t now_ms)
{
	if (!n->waiting)
		return -1;
	int64_t waited = now_ms >= n->sent_ms ? (int64_t)(now_ms - n->sent_ms) : 0;
	wait_unlink(t, n);
	n->sent_ms = 0;
	return waited;
}

struct udp_flow_node *udp_flow_reply_missing(struct udp_flow_table *t, uint64_t deadline_ms)
{
	struct udp_flow_node *n = t->wait_head;

	if (n == NULL || n->sent_ms > deadline_ms)
		return NULL;
	wait_unlink(t, n);
	n->sent_ms = 0;
	return n;
}
