/*
 * DOC: unit tests for the stop's state machine (lb/shutdown.c)
 *
 * Driven on a real libev loop with hooks that record what they were asked, and durations of a
 * few milliseconds: every transition of the diagram in lb/shutdown.h, in order.
 */
#include "lb/shutdown.h"

#include <criterion/criterion.h>
#include <string.h>

struct rec {
	struct shutdown *s;
	int withdraw, drain, force;
	char order[16]; /* 'w', 'd', 'f' as they came */
	int confirm;    /* withdraw confirms at once */
};

static void note(struct rec *r, char c)
{
	size_t n = strlen(r->order);
	if (n + 1 < sizeof(r->order))
		r->order[n] = c;
}

static void h_withdraw(void *arg)
{
	struct rec *r = arg;
	r->withdraw++;
	note(r, 'w');
	if (r->confirm)
		shutdown_withdrawn(r->s);
}

static void h_drain(void *arg)
{
	struct rec *r = arg;
	r->drain++;
	note(r, 'd');
}

static void h_force(void *arg)
{
	struct rec *r = arg;
	r->force++;
	note(r, 'f');
	/* The forced sessions are gone: the workers finish. */
	shutdown_workers_done(r->s);
}

static void setup(struct shutdown *s, struct rec *r, struct ev_loop **loop)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	*loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(*loop);
	struct shutdown_hooks h = {
		.withdraw = h_withdraw, .drain = h_drain, .force = h_force, .arg = r};
	shutdown_init(s, *loop, &h);
	cr_assert_eq(shutdown_state(s), SHUTDOWN_RUNNING);
}

/* Runs the loop until the state is want (or the loop ends), at most about 2 s. */
static void run_until(struct shutdown *s, struct ev_loop *loop, enum shutdown_state want)
{
	for (int i = 0; i < 2000 && shutdown_state(s) != want; i++)
		if (ev_run(loop, EVRUN_ONCE) == 0 && shutdown_state(s) != want)
			break;
	cr_assert_eq(shutdown_state(s), want, "state %s, want %s",
		shutdown_state_name(shutdown_state(s)), shutdown_state_name(want));
}

Test(shutdown_machine, withdraw_grace_drain_stopped)
{
	struct shutdown s;
	struct rec r;
	struct ev_loop *loop;

	setup(&s, &r, &loop);
	r.confirm = 1;
	struct shutdown_times t = {.withdraw_wait = 5, .grace = 0.02, .drain = 5};
	shutdown_begin(&s, 15, &t);
	cr_expect_eq(shutdown_state(&s), SHUTDOWN_WITHDRAWING);
	cr_expect_eq(r.withdraw, 1);
	cr_expect_eq(r.drain, 0, "listeners stay open while withdrawing");
	run_until(&s, loop, SHUTDOWN_GRACE);
	cr_expect_eq(r.drain, 0, "and during the grace");
	run_until(&s, loop, SHUTDOWN_DRAINING);
	cr_expect_eq(r.drain, 1);
	/* A second signal changes nothing. */
	shutdown_begin(&s, 2, &t);
	cr_expect_eq(r.withdraw, 1);
	cr_expect_eq(shutdown_state(&s), SHUTDOWN_DRAINING);
	shutdown_workers_done(&s);
	cr_expect_eq(shutdown_state(&s), SHUTDOWN_STOPPED);
	cr_expect_str_eq(r.order, "wd");
	cr_expect_eq(r.force, 0);
	shutdown_destroy(&s);
	ev_loop_destroy(loop);
}

Test(shutdown_machine, no_grace_drains_once_withdrawn)
{
	struct shutdown s;
	struct rec r;
	struct ev_loop *loop;

	setup(&s, &r, &loop);
	r.confirm = 1;
	struct shutdown_times t = {.withdraw_wait = 5, .grace = 0, .drain = 5};
	shutdown_begin(&s, 15, &t);
	run_until(&s, loop, SHUTDOWN_DRAINING);
	cr_expect_str_eq(r.order, "wd");
	shutdown_destroy(&s);
	ev_loop_destroy(loop);
}

Test(shutdown_machine, an_unconfirmed_withdraw_drains_anyway_and_drain_timeout_forces)
{
	struct shutdown s;
	struct rec r;
	struct ev_loop *loop;

	setup(&s, &r, &loop);
	r.confirm = 0; /* a wedged monitor */
	struct shutdown_times t = {.withdraw_wait = 0.02, .grace = 1, .drain = 0.02};
	shutdown_begin(&s, 15, &t);
	run_until(&s, loop, SHUTDOWN_DRAINING);
	cr_expect_eq(r.drain, 1, "drained without the confirmation, and without the grace");
	/* A late confirmation changes nothing. */
	shutdown_withdrawn(&s);
	run_until(&s, loop, SHUTDOWN_STOPPED);
	cr_expect_str_eq(r.order, "wdf", "drain_timeout forced the rest, then stopped");
	cr_expect_eq(r.force, 1);
	shutdown_destroy(&s);
	ev_loop_destroy(loop);
}
