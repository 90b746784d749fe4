/*
 * DOC: backend states, derived
 *
 * The order of the tests below is SPEC.md's precedence (see state.h): the state that does the
 * most to existing sessions wins, so that a dead backend's sessions are closed whatever else
 * holds. Not a state machine: the state is a function of its inputs, and the caller keeps the
 * published value and its one setter.
 */
#include "health/state.h"

#include <stddef.h>

enum backend_state backend_state_eval(const struct backend_inputs *in)
{
	if (in->live_enabled && !in->live_up)
		return BACKEND_DEAD;
	if (in->maint)
		return BACKEND_MAINT;
	if (in->draining)
		return BACKEND_DRAINING;
	if ((in->ready_enabled && !in->ready_up) || in->first_pending)
		return BACKEND_NOT_READY;
	if (in->ejected)
		return BACKEND_EJECTED;
	return BACKEND_READY;
}

/* The names are the contract of `status`, the admin JSON and the metrics labels. */
const char *backend_state_name(enum backend_state st)
{
	switch (st) {
	case BACKEND_READY:
		return "ready";
	case BACKEND_NOT_READY:
		return "not_ready";
	case BACKEND_DEAD:
		return "dead";
	case BACKEND_EJECTED:
		return "ejected";
	case BACKEND_DRAINING:
		return "draining";
	case BACKEND_MAINT:
		return "maint";
	}
	return "unknown"; /* a value outside the enum */
}
