/*
 * DOC: rise/fall
 *
 * HAProxy's check->health, one counter for both directions (src/check.c, 2.x):
 *
 *   health:  0 ... rise-1 | rise ... rise+fall-1
 *            down         | up
 *
 *   success: health + 1; reaching rise (or already up) jumps straight to rise+fall-1
 *   failure: health - 1; dropping below rise falls straight to 0
 *
 * So from fully up it takes `fall` failures in a row to go down, from down `rise` successes in
 * a row to come up, and a single result of the other kind resets the run: a backend that
 * alternates never flips. A fresh backend started up sits at health == rise, the bottom of the
 * up range, so one failure takes it down until it has proven itself once.
 *
 * The state machine here is the counter itself; `up` is derived from it and only
 * risefall_set_up() changes it. The caller logs the edge (it knows the backend and the reason),
 * which is why this file does not.
 */
#include "health/risefall.h"

/* rise + fall - 1 must fit the uint16_t counter. */
#define RISEFALL_MAX 0x7fffu

static uint16_t risefall_clamp(unsigned v)
{
	if (v < 1)
		return 1;
	if (v > RISEFALL_MAX)
		return RISEFALL_MAX;
	return (uint16_t)v;
}

static uint16_t risefall_top(const struct risefall *rf)
{
	return (uint16_t)(rf->rise + rf->fall - 1);
}

/* The one setter: returns 1 when `up` changed. */
static int risefall_set_up(struct risefall *rf, int up)
{
	if (rf->up == (uint8_t)(up != 0))
		return 0;
	rf->up = (uint8_t)(up != 0);
	return 1;
}

/* rise or fall of 0 is taken as 1: a counter that can never move would be a silent bug. */
void risefall_init(struct risefall *rf, unsigned rise, unsigned fall, int start_up)
{
	rf->rise = risefall_clamp(rise);
	rf->fall = risefall_clamp(fall);
	rf->health = start_up ? rf->rise : 0;
	rf->up = start_up ? 1 : 0;
}

int risefall_feed(struct risefall *rf, int ok)
{
	uint16_t top = risefall_top(rf);

	if (ok) {
		if (rf->health < top) {
			rf->health++;
			if (rf->health >= rf->rise)
				rf->health = top;
		}
	} else if (rf->health > 0) {
		rf->health--;
		if (rf->health < rf->rise)
			rf->health = 0;
	}
	return risefall_set_up(rf, rf->health >= rf->rise);
}

int risefall_changing(const struct risefall *rf)
{
	return rf->health > 0 && rf->health < risefall_top(rf);
}
