/*
 * DOC: backends by name: the answers in force
 *
 * A backend entry written as NAME:PORT (struct conf_name) is looked up at start and every
 * resolve_interval (lb/resolver.c, off the event loops; lb/names.c drives it). What each lookup
 * found is kept here, per (service, entry), as the answer in force: the addresses that are
 * backends now. Every generation is built the same way: the loaded file's configuration, then
 * these answers expanded into backends (resolved_apply), then the runtime overlay
 * (conf/overlay.h), then the reload path. So an address that appears in an answer is added, and
 * one that leaves it is removed (it drains), exactly as a runtime add or remove would be. Pure:
 * no I/O, no threads, time passed in; the main thread owns a struct resolved.
 *
 * The rules:
 *   - a successful lookup whose addresses (sorted, without duplicates, of the entry's family)
 *     differ from the answer in force replaces it: RESOLVED_CHANGED, with the diff;
 *   - a failed lookup (no answer, NXDOMAIN, a timeout, no address of the family) keeps the last
 *     good answer: the first failure of a streak is RESOLVED_FAILED_FIRST (logged), the others
 *     RESOLVED_FAILED_AGAIN (counted, not logged); the success that ends the streak says so
 *     (recovered);
 *   - an address an answer gives that the service already has (written as IP:PORT, runtime
 *     added, or from an earlier entry) stays that backend: the first one wins;
 *   - at most RESOLVED_MAX_ADDRS addresses per answer are taken, and a service is never taken
 *     beyond CONF_MAX_BACKENDS.
 */
#ifndef ANYLB_CONF_RESOLVED_H
#define ANYLB_CONF_RESOLVED_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>

#define RESOLVED_MAX_ADDRS 64
#define RESOLVED_ERROR_MAX 160

struct resolved_entry {
	char *service;
	char *address; /* the entry's "NAME:PORT" */
	char *host;
	unsigned port;
	enum conf_family family;
	uint64_t interval_ms;
	struct addr *v; /* the answer in force: sorted by addr_cmp, unique, with the port */
	size_t n;
	int have;                             /* a lookup has succeeded at least once */
	int failing;                          /* the last lookup failed (a streak is under way) */
	uint64_t resolved_ms;                 /* now_ms of the last successful lookup; 0: none */
	uint64_t failed_ms;                   /* now_ms of the last failed one; 0: none */
	char error[RESOLVED_ERROR_MAX];       /* the last failure's reason; kept after a success */
	uint64_t n_same, n_changed, n_failed; /* lookups by outcome */
	/* The driver's (lb/names.c): when the next lookup is due, and whether one is out. */
	uint64_t due_ms;
	int in_flight;
	int seen; /* resolved_sync's scratch */
};

struct resolved {
	struct resolved_entry *v;
	size_t n;
};

enum resolved_outcome {
	RESOLVED_SAME,         /* the answer in force was confirmed */
	RESOLVED_CHANGED,      /* replaced; the diff says how */
	RESOLVED_FAILED_FIRST, /* the first failure of a streak: the last good answer stays */
	RESOLVED_FAILED_AGAIN, /* a later one */
};

/* What a lookup changed; prev is the answer it replaced, for resolved_revert(). */
struct resolved_diff {
	struct addr *added, *removed, *prev;
	size_t nadded, nremoved, nprev;
	int recovered; /* a success that ended a failure streak */
};

/*
 * Makes r follow c's name entries: a new (service, NAME:PORT) gets an entry with no answer,
 * due at once; an entry c no longer has goes; a kept one takes c's family and interval (a
 * changed family is due at once). Returns how many entries are new, or -ENOMEM (r unchanged
 * but for the entries already added).
 */
int resolved_sync(struct resolved *r, const struct conf *c);

struct resolved_entry *resolved_find(
	const struct resolved *r, const char *service, const char *address);

/*
 * One lookup's result: ok with the answer a[n] (any order, duplicates and other families
 * allowed: they are filtered here), or !ok with why. Updates e (answer, counters, times) and
 * fills d (freed with resolved_diff_free(); all empty but for CHANGED and recovered). -ENOMEM
 * leaves e as it was.
 */
int resolved_result(struct resolved_entry *e, int ok, const struct addr *a, size_t n,
	const char *why, uint64_t now_ms, enum resolved_outcome *out, struct resolved_diff *d);

/* A CHANGED answer that could not be applied (its reload failed): the previous one is back. */
void resolved_revert(struct resolved_entry *e, struct resolved_diff *d);

void resolved_diff_free(struct resolved_diff *d);

/*
 * Expands r's answers into c's backends (appended after the file's, conf_backend.from set, the
 * entry's weight, zone, max_connections and backup), by the rules above. 0 or -ENOMEM (c then
 * partly expanded: free it).
 */
int resolved_apply(const struct resolved *r, struct conf *c);

/* Writes "a, b, c" (or "none") for logs into buf (cap bytes, cut when full). */
const char *resolved_list(const struct addr *v, size_t n, char *buf, size_t cap);

void resolved_free(struct resolved *r);

#endif
