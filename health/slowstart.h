/*
 * DOC: slow start
 *
 * A backend that has just turned ready gets its weight ramped linearly over the slow_start
 * window, so a cold cache or a JIT warm-up is not hit by its full share at once. Pure.
 */
#ifndef ANYLB_HEALTH_SLOWSTART_H
#define ANYLB_HEALTH_SLOWSTART_H

#include <stdint.h>

/*
 * Effective weight of a backend of configured `weight` that became ready at ready_since_ms,
 * at now_ms, with a ramp of window_ms (0: no ramp). Never below 1 while ready; equals weight
 * once the window is over.
 */
unsigned slowstart_weight(
	unsigned weight, uint64_t ready_since_ms, uint64_t now_ms, uint64_t window_ms);

#endif
