/*
 * DOC: the service queue
 *
 * When every usable backend of a service is at its max_connections, a new client waits here
 * instead of being reset (HAProxy's queue), and is served first in, first out as slots free up.
 * One queue per service, shared by the workers: sessions of every worker wait in one list in
 * the order they arrived (a ticket each), under the queue's own mutex. The queue is a rare
 * path: a service whose backends have room never takes the lock (the workers read len, an
 * atomic, and see 0).
 *
 * A waiting entry is owned by its session, and so by the session's worker; the queue only
 * links it. A freed slot grants the oldest waiting entry: it moves, under the queue's lock,
 * into the inbox of its worker, whose wake callback is called (any thread: an ev_async). The
 * worker takes its inbox on its own thread and tries the granted sessions again; one that
 * finds no room goes back to its place (its ticket), one that gets a backend leaves and grants
 * the next, so a backend that comes back with room for ten serves ten in a chain.
 *
 * An entry granted is still counted in len until its session leaves, so that a client
 * arriving meanwhile queues behind it instead of taking the slot it was given.
 *
 * Entry states, each changed under the queue's lock (LOCAL also under the inbox's):
 *
 *   IDLE --queue_push--> WAITING --queue_grant--> GRANTED --queue_inbox_take--> LOCAL
 *    ^                      ^  |                     |                            |
 *    |                      |  +----queue_leave------+----------queue_leave-------+--> IDLE
 *    |                      +-------------------------queue_requeue---------------+
 */
#ifndef ANYLB_LB_QUEUE_H
#define ANYLB_LB_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum queue_entry_state { QUEUE_IDLE, QUEUE_WAITING, QUEUE_GRANTED, QUEUE_LOCAL };

struct queue_inbox;

/* Embedded in what waits (a session); all fields are the queue's. */
struct queue_entry {
	struct queue_entry *prev, *next; /* the waiting list, or the inbox */
	struct queue_inbox *inbox;       /* where a grant goes: the owner's */
	uint64_t ticket;                 /* arrival order, kept by a requeue */
	uint64_t since_ms;               /* when it was pushed, for the time in queue */
	enum queue_entry_state state;
};

/*
 * One per worker: the granted entries it has yet to take. wake(arg) is called from the
 * granting thread with no lock held: it must only signal (ev_async_send).
 */
struct queue_inbox {
	pthread_mutex_t lock;
	struct queue_entry *head;
	void (*wake)(void *arg);
	void *arg;
};

/* Time in queue histogram upper bounds, in seconds (the last bucket is +Inf). */
#define QUEUE_BUCKETS 10
extern const double queue_bounds[QUEUE_BUCKETS - 1];

struct queue {
	pthread_mutex_t lock;
	struct queue_entry *head, *tail; /* waiting, oldest first; under lock */
	uint64_t next_ticket;            /* under lock */
	_Atomic uint32_t len;            /* waiting + granted: what a newcomer queues behind */
	/* Counters, for /status and /metrics. */
	_Atomic uint64_t queued;                   /* entries pushed (requeues not counted) */
	_Atomic uint64_t served;                   /* left with a backend */
	_Atomic uint64_t full;                     /* refused: the queue was at its max */
	_Atomic uint64_t timeouts;                 /* left at timeouts.queue */
	_Atomic uint64_t wait_hist[QUEUE_BUCKETS]; /* time in queue of every entry that left */
	_Atomic uint64_t wait_sum_us;
};

/* 0 or -errno (the mutex). */
int queue_init(struct queue *q);
void queue_destroy(struct queue *q);
int queue_inbox_init(struct queue_inbox *in, void (*wake)(void *arg), void *arg);
void queue_inbox_destroy(struct queue_inbox *in);

/*
 * Puts e (IDLE) at the end of q for inbox, at now_ms, unless q already holds max entries:
 * then -ENOSPC and nothing changed (counted as full).
 */
int queue_push(struct queue *q, struct queue_entry *e, struct queue_inbox *inbox, uint32_t max,
	uint64_t now_ms);

/*
 * A slot may have freed: the oldest WAITING entry, if any, is GRANTED, moved to its inbox, and
 * the inbox's wake called. Any thread. Returns 1 when one was granted.
 */
int queue_grant(struct queue *q);

/*
 * The owner takes every entry granted to it, which become LOCAL; returns the first, linked by
 * next (NULL when there is none). Only the inbox's owner calls it.
 */
struct queue_entry *queue_inbox_take(struct queue_inbox *in);

/*
 * A LOCAL entry whose session found no room again goes back to its place among the waiting
 * ones (by ticket, so the oldest stays first). Only the owner calls it.
 */
void queue_requeue(struct queue *q, struct queue_entry *e);

/*
 * e leaves q, from whatever state (IDLE: nothing happens), at now_ms: served (it got a
 * backend) or not (timeout, closed). The time it waited goes to the histogram. Only the owner
 * calls it. When served and others wait, the next one is granted (the chain above).
 */
void queue_leave(struct queue *q, struct queue_entry *e, int served, uint64_t now_ms);

#endif
