/*
 * DOC: unit: the service queue (lb/queue.c)
 *
 * The entries' walk through WAITING, GRANTED, LOCAL and back, with two inboxes standing for two
 * workers: oldest first across both, a bound that refuses, a grant that finds no room going
 * back to its place, the chain of grants a served entry starts, and leaving from every state.
 */
#include "lb/queue.h"

#include <criterion/criterion.h>
#include <errno.h>

struct inbox_rig {
	struct queue_inbox in;
	int wakes;
};

static void wake(void *arg)
{
	struct inbox_rig *r = arg;
	r->wakes++;
}

static struct queue q;
static struct inbox_rig w[2];

static void setup(void)
{
	cr_assert_eq(queue_init(&q), 0);
	for (int i = 0; i < 2; i++) {
		w[i].wakes = 0;
		cr_assert_eq(queue_inbox_init(&w[i].in, wake, &w[i]), 0);
	}
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++)
		queue_inbox_destroy(&w[i].in);
	queue_destroy(&q);
}

TestSuite(service_queue, .init = setup, .fini = teardown);

Test(service_queue, grants_go_oldest_first_to_the_owner_s_inbox)
{
	struct queue_entry e[3] = {0};

	cr_assert_eq(queue_push(&q, &e[0], &w[0].in, 10, 100), 0);
	cr_assert_eq(queue_push(&q, &e[1], &w[1].in, 10, 110), 0);
	cr_assert_eq(queue_push(&q, &e[2], &w[0].in, 10, 120), 0);
	cr_assert_eq(atomic_load(&q.len), 3);

	cr_assert_eq(queue_grant(&q), 1);
	cr_assert_eq(e[0].state, QUEUE_GRANTED);
	cr_assert_eq(w[0].wakes, 1);
	cr_assert_eq(w[1].wakes, 0);
	cr_assert_eq(queue_grant(&q), 1);
	cr_assert_eq(e[1].state, QUEUE_GRANTED);
	cr_assert_eq(w[1].wakes, 1);
	/* Granted ones still count: a newcomer must queue behind them. */
	cr_assert_eq(atomic_load(&q.len), 3);

	struct queue_entry *got = queue_inbox_take(&w[0].in);
	cr_assert_eq(got, &e[0]);
	cr_assert_null(got->next);
	cr_assert_eq(e[0].state, QUEUE_LOCAL);
	cr_assert_null(queue_inbox_take(&w[0].in));
}

Test(service_queue, the_inbox_runs_its_grants_in_the_order_they_came)
{
	struct queue_entry e[3] = {0};

	for (int i = 0; i < 3; i++)
		cr_assert_eq(queue_push(&q, &e[i], &w[0].in, 10, 100), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(queue_grant(&q), 1);
	cr_assert_eq(queue_grant(&q), 0, "nothing waits any more");
	struct queue_entry *l = queue_inbox_take(&w[0].in);
	cr_assert_eq(l, &e[0]);
	cr_assert_eq(l->next, &e[1]);
	cr_assert_eq(l->next->next, &e[2]);
	cr_assert_null(l->next->next->next);
}

Test(service_queue, a_full_queue_refuses_and_counts)
{
	struct queue_entry e[3] = {0};

	cr_assert_eq(queue_push(&q, &e[0], &w[0].in, 2, 0), 0);
	cr_assert_eq(queue_push(&q, &e[1], &w[0].in, 2, 0), 0);
	cr_assert_eq(queue_push(&q, &e[2], &w[0].in, 2, 0), -ENOSPC);
	cr_assert_eq(e[2].state, QUEUE_IDLE);
	cr_assert_eq(atomic_load(&q.full), 1);
	cr_assert_eq(atomic_load(&q.queued), 2);
	/* A granted entry still holds its place against the bound. */
	queue_grant(&q);
	cr_assert_eq(queue_push(&q, &e[2], &w[0].in, 2, 0), -ENOSPC);
}

Test(service_queue, a_grant_that_found_no_room_goes_back_to_its_place)
{
	struct queue_entry e[3] = {0};

	for (int i = 0; i < 3; i++)
		cr_assert_eq(queue_push(&q, &e[i], &w[i % 2].in, 10, 0), 0);
	queue_grant(&q);
	struct queue_entry *l = queue_inbox_take(&w[0].in);
	cr_assert_eq(l, &e[0]);
	queue_requeue(&q, l);
	cr_assert_eq(e[0].state, QUEUE_WAITING);
	cr_assert_eq(atomic_load(&q.len), 3);
	cr_assert_eq(atomic_load(&q.queued), 3, "a requeue is not a new arrival");
	queue_grant(&q);
	cr_assert_eq(e[0].state, QUEUE_GRANTED, "the oldest is first again");
	cr_assert_eq(e[1].state, QUEUE_WAITING);
}

Test(service_queue, a_served_entry_grants_the_next)
{
	struct queue_entry e[2] = {0};

	cr_assert_eq(queue_push(&q, &e[0], &w[0].in, 10, 1000), 0);
	cr_assert_eq(queue_push(&q, &e[1], &w[1].in, 10, 1000), 0);
	queue_grant(&q);
	queue_inbox_take(&w[0].in);
	queue_leave(&q, &e[0], 1, 1040);
	cr_assert_eq(e[0].state, QUEUE_IDLE);
	cr_assert_eq(e[1].state, QUEUE_GRANTED, "the chain: served, so the next may have room");
	cr_assert_eq(w[1].wakes, 1);
	cr_assert_eq(atomic_load(&q.len), 1);
	cr_assert_eq(atomic_load(&q.served), 1);
	/* 40 ms waited: counted in the 50 ms bucket (index 3). */
	cr_assert_eq(atomic_load(&q.wait_hist[3]), 1);
	cr_assert_eq(atomic_load(&q.wait_sum_us), 40000);
}

Test(service_queue, leaving_from_every_state_unlinks_and_uncounts)
{
	struct queue_entry e[3] = {0};

	for (int i = 0; i < 3; i++)
		cr_assert_eq(queue_push(&q, &e[i], &w[0].in, 10, 0), 0);
	queue_grant(&q); /* e[0] granted, in the inbox */
	queue_leave(&q, &e[0], 0, 1);
	cr_assert_eq(e[0].state, QUEUE_IDLE);
	cr_assert_null(queue_inbox_take(&w[0].in), "a granted entry that left is not in the inbox");
	queue_leave(&q, &e[2], 0, 1); /* the tail, waiting */
	cr_assert_eq(atomic_load(&q.len), 1);
	queue_grant(&q);
	cr_assert_eq(e[1].state, QUEUE_GRANTED, "the list holds e[1] alone");
	queue_leave(&q, &e[1], 0, 1);
	cr_assert_eq(atomic_load(&q.len), 0);
	cr_assert_eq(queue_grant(&q), 0);
	queue_leave(&q, &e[1], 0, 1); /* IDLE: nothing happens */
	cr_assert_eq(atomic_load(&q.len), 0);
	cr_assert_eq(atomic_load(&q.served), 0);
	cr_assert_eq(atomic_load(&q.wait_hist[0]), 3);
}
