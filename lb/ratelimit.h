/*
 * DOC: per-source rate limit
 *
 * services[].rate_limit: a token bucket per source, in a table of at most max_sources of them.
 * A source is a client's IPv4 address, or its IPv6 /64 (what one host or one customer is
 * usually given: per /128 a single host could rotate through 2^64 addresses). A new source
 * starts with a full bucket (burst tokens); each connection takes one; the bucket refills at
 * the rate, up to burst. When the table is full the source seen least recently is forgotten to
 * make room (it starts again with a full bucket if it comes back), and that is counted.
 *
 * One table per service per generation, shared by the workers under a mutex: the rate an
 * operator writes is the rate of the whole process, whatever global.workers is (per-worker
 * tables would multiply it by the number of workers, since SO_REUSEPORT spreads one source's
 * connections over all of them). The lock is taken once per new connection of the services that
 * set rate_limit only, for a hash lookup: far below the cost of accept(2) itself. A reload keeps
 * the table (and every bucket in it) when the service's rate_limit did not change.
 *
 * The logic is pure: time comes in as now_ms (lib/clock.h clock_ms() in the program, a fake
 * clock in tests/unit/test_ratelimit.c).
 */
#ifndef ANYLB_LB_RATELIMIT_H
#define ANYLB_LB_RATELIMIT_H

#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

#define RATELIMIT_KEY_LEN 16

/*
 * A table for rate_per_min connections a minute per source (services[].rate_limit.rate, 100/s
 * is 6000), burst (>= 1) and max_sources (>= 1). NULL when out of memory. The creator holds the
 * one reference.
 */
struct ratelimit *ratelimit_new(uint64_t rate_per_min, unsigned burst, size_t max_sources);
struct ratelimit *ratelimit_get(struct ratelimit *rl);
void ratelimit_put(struct ratelimit *rl);

/* Was rl made with these settings? (A reload keeps it then.) */
int ratelimit_same(
	const struct ratelimit *rl, uint64_t rate_per_min, unsigned burst, size_t max_sources);

/* The source a's connections are counted under: IPv4 (mapped ones too) as is, IPv6 per /64. */
void ratelimit_key(const struct addr *a, uint8_t key[RATELIMIT_KEY_LEN]);

/*
 * One new connection from source key at now_ms: 1 when it may go on (a token was taken), 0 when
 * the source is over its rate. *evicted is set to 1 when another source had to be forgotten
 * to make room, else 0. Any thread (takes rl's lock).
 */
int ratelimit_take(
	struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], uint64_t now_ms, int *evicted);

/* Sources in the table now. */
size_t ratelimit_sources(struct ratelimit *rl);

#endif
