/*
 * DOC: the process's stop, a state machine
 *
 *   RUNNING --shutdown_begin()--> WITHDRAWING --prefixes gone--> GRACE --shutdown_grace-->
 *      DRAINING --every worker done--> STOPPED (the main loop ends, anylb exits 0)
 *
 *   WITHDRAWING --not confirmed within withdraw_wait--> DRAINING (a wedged monitor must not
 *                                                       keep anylb from stopping)
 *   RUNNING --shutdown_handover()--> DRAINING  (an upgrade's successor serves: nothing is
 *                                              withdrawn, the successor holds the listeners)
 *   GRACE is skipped without anycast or with shutdown_grace 0;
 *   DRAINING --drain_timeout--> the remaining sessions are closed (force), still DRAINING.
 *
 * Prefixes are withdrawn before the listeners close, so routers move new clients to another
 * site while this one still answers whoever is already on the way; GRACE keeps accepting while
 * the routers converge. One setter (shutdown_set_state) logs every transition; one timer serves
 * the deadline of whichever state has one. Runs on the main thread's loop; shutdown_withdrawn()
 * may be called from any thread.
 */
#ifndef ANYLB_LB_SHUTDOWN_H
#define ANYLB_LB_SHUTDOWN_H

#include <ev.h>

enum shutdown_state {
	SHUTDOWN_RUNNING,
	SHUTDOWN_WITHDRAWING,
	SHUTDOWN_GRACE,
	SHUTDOWN_DRAINING,
	SHUTDOWN_STOPPED,
};

/* What the stop does to the rest of the process; each takes arg. */
struct shutdown_hooks {
	void (*withdraw)(void *arg); /* withdraw every prefix, then call shutdown_withdrawn() */
	void (*drain)(void *arg);    /* stop accepting; sessions may finish */
	void (*force)(void *arg);    /* close the sessions that are left */
	void *arg;
};

/* The durations of one stop, in seconds, read from the configuration when it begins. */
struct shutdown_times {
	double withdraw_wait; /* for the monitor to confirm the withdraw */
	double grace;         /* bgp.shutdown_grace, 0 without anycast */
	double drain;         /* global.drain_timeout */
};

struct shutdown {
	struct ev_loop *loop;
	struct shutdown_hooks hooks;
	struct shutdown_times times;
	enum shutdown_state state;
	ev_timer deadline;
	ev_async withdrawn;
};

void shutdown_init(struct shutdown *s, struct ev_loop *loop, const struct shutdown_hooks *h);

/* SIGTERM or SIGINT (signum, for the log): begins the stop, or says it is under way. */
void shutdown_begin(struct shutdown *s, int signum, const struct shutdown_times *t);

/*
 * An upgrade handed everything over (lb/upgrade.c): straight to DRAINING (the drain hook closes
 * this process's copies of the listeners), withdrawing nothing. Nothing when already stopping.
 */
void shutdown_handover(struct shutdown *s, const struct shutdown_times *t);

/* Every prefix is withdrawn. Any thread. */
void shutdown_withdrawn(struct shutdown *s);

/* Every worker has finished: STOPPED, and the loop ends. */
void shutdown_workers_done(struct shutdown *s);

static inline enum shutdown_state shutdown_state(const struct shutdown *s)
{
	return s->state;
}

const char *shutdown_state_name(enum shutdown_state st);

/* Stops the watchers (before the loop is destroyed). */
void shutdown_destroy(struct shutdown *s);

#endif
