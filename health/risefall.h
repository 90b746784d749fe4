/*
 * DOC: rise/fall
 *
 * Turns a stream of check results into an up/down state with hysteresis, in one counter as
 * HAProxy keeps it (check->health): 0..rise+fall-1, up while >= rise. From fully up, `fall`
 * failures in a row take it down; from down, `rise` successes in a row bring it up. Pure.
 */
#ifndef ANYLB_HEALTH_RISEFALL_H
#define ANYLB_HEALTH_RISEFALL_H

#include <stdint.h>

struct risefall {
	uint16_t health;
	uint16_t rise, fall;
	uint8_t up;
};

/*
 * Starts in `up` state. HAProxy's convention for a fresh server is used when start_up is set:
 * up, but with health == rise, so the first failure takes it down (it has not proven itself).
 * When start_up is 0 it starts down with health 0.
 */
void risefall_init(struct risefall *rf, unsigned rise, unsigned fall, int start_up);

/* Feeds one result. Returns 1 when the up/down state flipped, else 0. */
int risefall_feed(struct risefall *rf, int ok);

/* True while the counter is between its extremes: a state change may be under way. */
int risefall_changing(const struct risefall *rf);

#endif
