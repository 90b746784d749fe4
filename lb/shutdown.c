#include "lb/shutdown.h"

#include "lib/container.h"
#include "lib/log.h"

#include <systemd/sd-daemon.h>

const char *shutdown_state_name(enum shutdown_state st)
{
	switch (st) {
	case SHUTDOWN_RUNNING:
		return "running";
	case SHUTDOWN_WITHDRAWING:
		return "withdrawing";
	case SHUTDOWN_GRACE:
		return "grace";
	case SHUTDOWN_DRAINING:
		return "draining";
	case SHUTDOWN_STOPPED:
		return "stopped";
	}
	return "?";
}

/* The one setter: logs the transition and arms the new state's deadline (0: none). */
static void shutdown_set_state(
	struct shutdown *s, enum shutdown_state st, double deadline, const char *why)
{
	log_debug("shutdown: %s -> %s: %s", shutdown_state_name(s->state), shutdown_state_name(st),
		why);
	s->state = st;
	ev_timer_stop(s->loop, &s->deadline);
	if (deadline > 0) {
		ev_timer_set(&s->deadline, deadline, 0.);
		ev_timer_start(s->loop, &s->deadline);
	}
}

static void start_drain(struct shutdown *s, const char *why)
{
	log_info("stopping: no new connections, sessions may finish for %.1fs", s->times.drain);
	shutdown_set_state(s, SHUTDOWN_DRAINING, s->times.drain, why);
	s->hooks.drain(s->hooks.arg);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct shutdown *s = container_of(t, struct shutdown, deadline);
	(void)loop;
	(void)revents;

	switch (s->state) {
	case SHUTDOWN_WITHDRAWING:
		log_error("the withdraw was not confirmed in %.0fs: draining anyway",
			s->times.withdraw_wait);
		start_drain(s, "withdraw not confirmed");
		return;
	case SHUTDOWN_GRACE:
		start_drain(s, "shutdown_grace over");
		return;
	case SHUTDOWN_DRAINING:
		log_warn("drain_timeout reached: closing the remaining sessions");
		s->hooks.force(s->hooks.arg);
		return;
	case SHUTDOWN_RUNNING:
	case SHUTDOWN_STOPPED:
		return;
	}
}

/*
 * Prefixes are withdrawn. Routers need a moment to hear it: until then clients keep arriving,
 * so listeners stay open for the grace before the drain starts.
 */
static void withdrawn_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct shutdown *s = container_of(as, struct shutdown, withdrawn);
	(void)loop;
	(void)revents;

	if (s->state != SHUTDOWN_WITHDRAWING)
		return;
	if (s->times.grace <= 0) {
		start_drain(s, "prefixes withdrawn");
		return;
	}
	log_info("prefixes withdrawn: still accepting for %.1fs while routers converge",
		s->times.grace);
	shutdown_set_state(s, SHUTDOWN_GRACE, s->times.grace, "prefixes withdrawn");
}

void shutdown_init(struct shutdown *s, struct ev_loop *loop, const struct shutdown_hooks *h)
{
	s->loop = loop;
	s->hooks = *h;
	s->state = SHUTDOWN_RUNNING;
	ev_init(&s->deadline, deadline_cb);
	ev_async_init(&s->withdrawn, withdrawn_cb);
	ev_async_start(loop, &s->withdrawn);
}

void shutdown_begin(struct shutdown *s, int signum, const struct shutdown_times *t)
{
	if (s->state != SHUTDOWN_RUNNING) {
		log_info("signal %d again: still stopping", signum);
		return;
	}
	s->times = *t;
	sd_notify(0, "STOPPING=1");
	log_info("signal %d: stopping: withdrawing prefixes first", signum);
	shutdown_set_state(s, SHUTDOWN_WITHDRAWING, t->withdraw_wait, "signal");
	s->hooks.withdraw(s->hooks.arg);
}

void shutdown_handover(struct shutdown *s, const struct shutdown_times *t)
{
	if (s->state != SHUTDOWN_RUNNING)
		return;
	s->times = *t;
	log_info("handed over to the successor: no new connections here, sessions may finish "
		 "for %.1fs",
		t->drain);
	shutdown_set_state(s, SHUTDOWN_DRAINING, t->drain, "handed over");
	s->hooks.drain(s->hooks.arg);
}

void shutdown_withdrawn(struct shutdown *s)
{
	ev_async_send(s->loop, &s->withdrawn);
}

void shutdown_workers_done(struct shutdown *s)
{
	shutdown_set_state(s, SHUTDOWN_STOPPED, 0, "every worker finished");
	ev_break(s->loop, EVBREAK_ALL);
}

void shutdown_destroy(struct shutdown *s)
{
	if (s->loop == NULL)
		return;
	ev_timer_stop(s->loop, &s->deadline);
	ev_async_stop(s->loop, &s->withdrawn);
}
