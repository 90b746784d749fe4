/*
 * DOC: backends by name: the driver
 *
 * Main thread. Keeps the answers in force (conf/resolved.h) for every NAME:PORT backend entry
 * of the running configuration, and looks each up again every resolve_interval on the resolver
 * thread (lb/resolver.h). An answer that changes is applied through the hook, a reload, as a
 * runtime add or remove is: new addresses become backends with the entry's weight, zone and the
 * service's checks, removed ones drain. It is logged once, with what was added and removed,
 * after it applied (a line in the log means the workers balance over it already). A
 * failed lookup keeps the last good answer, said once per failure streak; a reload that cannot
 * apply a change puts the previous answer back and the next lookup tries again.
 *
 * At start, before any loop serves, every name is looked up once in a row on the calling
 * thread (names_resolve_now), for at most a budget: a name not answered by then starts with no
 * backends from its entry, and the resolver thread keeps trying every resolve_interval.
 */
#ifndef ANYLB_LB_NAMES_H
#define ANYLB_LB_NAMES_H

#include "conf/resolved.h"

#include <ev.h>

struct names;

struct names_hooks {
	/* Applies the answers now in names_resolved() as a reload: 0, or -errno with why in msg. */
	int (*apply)(void *arg, char *msg, size_t cap);
	void *arg;
};

/* NULL: out of memory. Nothing runs before names_start(). */
struct names *names_new(struct ev_loop *loop, const struct names_hooks *hooks);

/*
 * Start-up: follows c's entries and looks each up on this thread (blocking), until budget_ms
 * has passed. Returns how many entries have an answer.
 */
size_t names_resolve_now(struct names *n, const struct conf *c, uint64_t budget_ms);

/* Starts the resolver thread and the timer (signals blocked as for a worker). 0 or -1. */
int names_start(struct names *n);

/* A generation built from c is in force: follow its entries; new ones are looked up at once. */
void names_sync(struct names *n, const struct conf *c);

/* The answers in force, for the reload path, /status and /metrics. Borrowed. */
struct resolved *names_resolved(struct names *n);

void names_free(struct names *n);

#endif
