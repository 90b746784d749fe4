/*
 * DOC: the resolver thread
 *
 * The system resolver (getaddrinfo(3): /etc/hosts, /etc/resolv.conf, nsswitch) blocks, for as
 * long as resolv.conf's timeout and attempts allow. It never runs on an event loop: lookups
 * asked for on the main thread (resolver_ask) are run one after the other by a thread of their
 * own, and each answer is posted back to the main loop with an ev_async, where done is called.
 * The thread does nothing else and shares nothing but its two queues, under one lock. Only
 * start-up, before any loop serves, calls resolver_lookup() directly.
 */
#ifndef ANYLB_LB_RESOLVER_H
#define ANYLB_LB_RESOLVER_H

#include "conf/resolved.h"

#include <ev.h>

struct resolver;

/* One lookup's answer: ok with n addresses (port set, other fields zero), or why it failed. */
struct resolver_answer {
	char *service, *address; /* as asked: the name entry's */
	int ok;
	char why[RESOLVED_ERROR_MAX];
	struct addr v[RESOLVED_MAX_ADDRS];
	size_t n;
};

/*
 * A blocking lookup of host (family: any, ipv4 or ipv6), the answer's addresses with port.
 * Fills out (service and address untouched).
 */
void resolver_lookup(
	const char *host, unsigned port, enum conf_family family, struct resolver_answer *out);

/*
 * Starts the thread; done(arg, answer) is called on loop (the main thread's) for each answer,
 * which it borrows. Call with the signals blocked that the thread must not take. NULL: out of
 * memory or no thread (logged).
 */
struct resolver *resolver_new(
	struct ev_loop *loop, void (*done)(void *arg, const struct resolver_answer *a), void *arg);

/* Queues a lookup (strings copied). 0 or -ENOMEM. Main thread. */
int resolver_ask(struct resolver *r, const char *service, const char *address, const char *host,
	unsigned port, enum conf_family family);

/*
 * Stops the thread. A lookup still under way is not waited for beyond 200 ms: the thread is
 * then left to finish it and exit on its own, with what it holds (the process is stopping).
 */
void resolver_free(struct resolver *r);

#endif
