/*
 * DOC: lb/peer_live.c: which of the flow hand-off's peers are alive (see peer_live.h)
 */
#include "lb/peer_live.h"

#include <string.h>

void peer_live_init(struct peer_live *l, size_t n, uint64_t timeout_ms, uint64_t now_ms)
{
	memset(l, 0, sizeof(*l));
	l->n = n > PEER_LIVE_MAX ? PEER_LIVE_MAX : n;
	l->timeout_ms = timeout_ms;
	for (size_t i = 0; i < l->n; i++) {
		l->heard_ms[i] = now_ms;
		l->up[i] = 1;
		l->why[i] = PEER_LIVE_START;
	}
}

static int peer_live_valid(const struct peer_live *l, size_t i)
{
	return i >= 1 && i < l->n;
}

int peer_live_heard(struct peer_live *l, size_t i, uint64_t now_ms)
{
	if (!peer_live_valid(l, i))
		return 0;
	if (now_ms > l->heard_ms[i])
		l->heard_ms[i] = now_ms;
	l->ever[i] = 1;
	if (l->up[i] || l->timeout_ms == 0)
		return 0;
	l->up[i] = 1;
	l->why[i] = PEER_LIVE_HEARD;
	return 1;
}

int peer_live_left(struct peer_live *l, size_t i)
{
	if (!peer_live_valid(l, i) || !l->up[i] || l->timeout_ms == 0)
		return 0;
	l->up[i] = 0;
	l->why[i] = PEER_LIVE_LEFT;
	return 1;
}

size_t peer_live_tick(struct peer_live *l, uint64_t now_ms)
{
	size_t changed = 0;

	if (l->timeout_ms == 0)
		return 0;
	for (size_t i = 1; i < l->n; i++) {
		if (!l->up[i] || now_ms < l->heard_ms[i] || now_ms - l->heard_ms[i] < l->timeout_ms)
			continue;
		l->up[i] = 0;
		l->why[i] = PEER_LIVE_SILENT;
		changed++;
	}
	return changed;
}

size_t peer_live_next(const struct peer_live *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (l->up[i])
			return i;
	return 0;
}

const char *peer_live_why_name(enum peer_live_why w)
{
	switch (w) {
	case PEER_LIVE_START:
		return "start";
	case PEER_LIVE_HEARD:
		return "heard";
	case PEER_LIVE_SILENT:
		return "silent";
	case PEER_LIVE_LEFT:
		return "left";
	}
	return "unknown";
}
