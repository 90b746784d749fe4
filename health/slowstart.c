/*
 * DOC: slow start
 *
 * weight * elapsed / window, rounded up as HAProxy does (so the last millisecond of the window
 * already gives the full weight) and never below 1: a ready backend with weight 0 would take
 * no traffic at all and its ramp would never be exercised. The product is taken in 128 bits,
 * since a window in milliseconds times a weight can exceed 64.
 */
#include "health/slowstart.h"

/*
 * A clock that went backwards (now < ready_since) counts as the start of the window. A
 * configured weight of 0 stays 0: there is nothing to ramp towards.
 */
unsigned slowstart_weight(
	unsigned weight, uint64_t ready_since_ms, uint64_t now_ms, uint64_t window_ms)
{
	uint64_t elapsed;
	unsigned __int128 w;

	if (weight == 0 || window_ms == 0)
		return weight;
	elapsed = now_ms > ready_since_ms ? now_ms - ready_since_ms : 0;
	if (elapsed >= window_ms)
		return weight;
	w = ((unsigned __int128)weight * elapsed + window_ms - 1) / window_ms;
	return w < 1 ? 1 : (unsigned)w;
}
