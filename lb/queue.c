/*
 * DOC: the service queue (see queue.h for the states)
 *
 * Lock order: a queue's lock, then an inbox's. Nothing here calls out while holding either
 * (the wake callback runs after both are released).
 */
#include "lb/queue.h"

#include "lb/runtime.h"

#include <errno.h>
#include <string.h>

const double queue_bounds[QUEUE_BUCKETS - 1] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

int queue_init(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	return -pthread_mutex_init(&q->lock, NULL);
}

void queue_destroy(struct queue *q)
{
	pthread_mutex_destroy(&q->lock);
}

int queue_inbox_init(struct queue_inbox *in, void (*wake)(void *arg), void *arg)
{
	in->head = NULL;
	in->wake = wake;
	in->arg = arg;
	return -pthread_mutex_init(&in->lock, NULL);
}

void queue_inbox_destroy(struct queue_inbox *in)
{
	pthread_mutex_destroy(&in->lock);
}

/* Under q->lock: e out of the waiting list. */
static void unlink_waiting(struct queue *q, struct queue_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		q->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		q->tail = e->prev;
	e->prev = e->next = NULL;
}

/* Under in->lock: e out of the inbox. */
static void unlink_inbox(struct queue_inbox *in, struct queue_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		in->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

int queue_push(struct queue *q, struct queue_entry *e, struct queue_inbox *inbox, uint32_t max,
	uint64_t now_ms)
{
	pthread_mutex_lock(&q->lock);
	if (atomic_load(&q->len) >= max) {
		pthread_mutex_unlock(&q->lock);
		atomic_fetch_add_explicit(&q->full, 1, memory_order_relaxed);
		return -ENOSPC;
	}
	e->inbox = inbox;
	e->ticket = q->next_ticket++;
	e->since_ms = now_ms;
	e->state = QUEUE_WAITING;
	e->next = NULL;
	e->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	atomic_fetch_add(&q->len, 1);
	pthread_mutex_unlock(&q->lock);
	atomic_fetch_add_explicit(&q->queued, 1, memory_order_relaxed);
	return 0;
}

int queue_grant(struct queue *q)
{
	struct queue_inbox *in = NULL;

	pthread_mutex_lock(&q->lock);
	struct queue_entry *e = q->head;
	if (e != NULL) {
		unlink_waiting(q, e);
		in = e->inbox;
		pthread_mutex_lock(&in->lock);
		e->state = QUEUE_GRANTED;
		e->next = in->head;
		if (in->head != NULL)
			in->head->prev = e;
		in->head = e;
		pthread_mutex_unlock(&in->lock);
	}
	pthread_mutex_unlock(&q->lock);
	if (in == NULL)
		return 0;
	in->wake(in->arg);
	return 1;
}

struct queue_entry *queue_inbox_take(struct queue_inbox *in)
{
	struct queue_entry *list = NULL, *next;

	pthread_mutex_lock(&in->lock);
	/* Grants are pushed at the head: reversed here, the oldest grant runs first. */
	for (struct queue_entry *e = in->head; e != NULL; e = next) {
		next = e->next;
		e->state = QUEUE_LOCAL;
		e->prev = NULL;
		e->next = list;
		list = e;
	}
	in->head = NULL;
	pthread_mutex_unlock(&in->lock);
	return list;
}

void queue_requeue(struct queue *q, struct queue_entry *e)
{
	pthread_mutex_lock(&q->lock);
	/* Granted entries are the oldest: their place is at or near the head. */
	struct queue_entry *after = NULL, *at = q->head;
	while (at != NULL && at->ticket < e->ticket) {
		after = at;
		at = at->next;
	}
	e->prev = after;
	e->next = at;
	if (after != NULL)
		after->next = e;
	else
		q->head = e;
	if (at != NULL)
		at->prev = e;
	else
		q->tail = e;
	e->state = QUEUE_WAITING;
	pthread_mutex_unlock(&q->lock);
}

static void observe_wait(struct queue *q, uint64_t waited_ms)
{
	size_t i = lb_bucket(queue_bounds, QUEUE_BUCKETS, (double)waited_ms / 1000.0);

	atomic_fetch_add_explicit(&q->wait_hist[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&q->wait_sum_us, waited_ms * 1000, memory_order_relaxed);
}

void queue_leave(struct queue *q, struct queue_entry *e, int served, uint64_t now_ms)
{
	int was_counted = 1;

	pthread_mutex_lock(&q->lock);
	switch (e->state) {
	case QUEUE_IDLE:
		was_counted = 0;
		break;
	case QUEUE_WAITING:
		unlink_waiting(q, e);
		break;
	case QUEUE_GRANTED:
		pthread_mutex_lock(&e->inbox->lock);
		unlink_inbox(e->inbox, e);
		pthread_mutex_unlock(&e->inbox->lock);
		break;
	case QUEUE_LOCAL:
		break;
	}
	e->state = QUEUE_IDLE;
	if (was_counted)
		atomic_fetch_sub(&q->len, 1);
	pthread_mutex_unlock(&q->lock);
	if (!was_counted)
		return;
	observe_wait(q, now_ms > e->since_ms ? now_ms - e->since_ms : 0);
	if (served) {
		atomic_fetch_add_explicit(&q->served, 1, memory_order_relaxed);
		queue_grant(q);
	}
}
