/*
 * DOC: the drain ladder (pure)
 *
 * See bgp/ladder.h for the steps and the diagram. One setter (ladder_set) makes every
 * transition and records its reason; the announcer logs it and applies the level.
 */
#include "bgp/ladder.h"

#include <stdio.h>
#include <string.h>

const char *ladder_step_name(enum ladder_step s)
{
	switch (s) {
	case LADDER_ANNOUNCED:
		return "announced";
	case LADDER_DEPREFERRED:
		return "depreferred";
	case LADDER_WITHDRAWN:
		return "withdrawn";
	case LADDER_DONE:
		return "done";
	}
	return "?";
}

int ladder_step_from_name(const char *name)
{
	for (int s = LADDER_ANNOUNCED; s <= LADDER_DONE; s++)
		if (strcmp(name, ladder_step_name((enum ladder_step)s)) == 0)
			return s;
	return -1;
}

static void ladder_set(struct ladder *l, enum ladder_step s, uint64_t now_ms, const char *why)
{
	l->step = s;
	l->since_ms = now_ms;
	snprintf(l->reason, sizeof(l->reason), "%s", why);
}

void ladder_init(struct ladder *l)
{
	memset(l, 0, sizeof(*l));
	ladder_set(l, LADDER_ANNOUNCED, 0, "not draining");
}

int ladder_drain(struct ladder *l, uint64_t window_ms, uint64_t drain_timeout_ms, uint64_t now_ms)
{
	if (l->step != LADDER_ANNOUNCED)
		return 0;
	l->window_ms = window_ms;
	l->drain_timeout_ms = drain_timeout_ms;
	if (window_ms == 0)
		ladder_set(
			l, LADDER_WITHDRAWN, now_ms, "drained with no window: withdrawn at once");
	else
		ladder_set(l, LADDER_DEPREFERRED, now_ms,
			"drained: announced de-preferred for the window");
	return 1;
}

int ladder_undrain(struct ladder *l, uint64_t now_ms)
{
	if (l->step == LADDER_ANNOUNCED)
		return 0;
	ladder_set(l, LADDER_ANNOUNCED, now_ms, "undrained by the operator");
	return 1;
}

int ladder_tick(struct ladder *l, uint64_t sessions, uint64_t now_ms)
{
	switch (l->step) {
	case LADDER_ANNOUNCED:
	case LADDER_DONE:
		return 0;
	case LADDER_DEPREFERRED:
		if (now_ms < l->since_ms + l->window_ms)
			return 0;
		ladder_set(l, LADDER_WITHDRAWN, now_ms,
			"window over: withdrawn, serving the sessions peers forward back");
		return 1;
	case LADDER_WITHDRAWN:
		if (sessions == 0) {
			ladder_set(l, LADDER_DONE, now_ms, "withdrawn and no session left");
			return 1;
		}
		if (now_ms < l->since_ms + l->drain_timeout_ms)
			return 0;
		ladder_set(l, LADDER_DONE, now_ms, "withdrawn and drain_timeout over");
		return 1;
	}
	return 0;
}

uint64_t ladder_deadline(const struct ladder *l)
{
	switch (l->step) {
	case LADDER_ANNOUNCED:
	case LADDER_DONE:
		return UINT64_MAX;
	case LADDER_DEPREFERRED:
		return l->since_ms + l->window_ms;
	case LADDER_WITHDRAWN:
		return l->since_ms + l->drain_timeout_ms;
	}
	return UINT64_MAX;
}

uint64_t ladder_left_ms(const struct ladder *l, uint64_t now_ms)
{
	uint64_t d = ladder_deadline(l);

	return d == UINT64_MAX || d <= now_ms ? 0 : d - now_ms;
}

int ladder_level(const struct ladder *l, int announced)
{
	if (!announced)
		return 0;
	switch (l->step) {
	case LADDER_ANNOUNCED:
		return 1;
	case LADDER_DEPREFERRED:
		return 2;
	case LADDER_WITHDRAWN:
	case LADDER_DONE:
		return 0;
	}
	return 0;
}

int ladder_restore(struct ladder *l, int step, uint64_t age_ms, uint64_t window_ms,
	uint64_t drain_timeout_ms, uint64_t now_ms)
{
	ladder_init(l);
	if (step < LADDER_ANNOUNCED || step > LADDER_DONE)
		return -1;
	l->window_ms = window_ms;
	l->drain_timeout_ms = drain_timeout_ms;
	ladder_set(l, (enum ladder_step)step, age_ms < now_ms ? now_ms - age_ms : 0,
		"taken over from the old process");
	return 0;
}
