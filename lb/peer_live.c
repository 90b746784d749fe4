/*
 * DOC: lb/peer_live.c: which of the flow hand-off's peers are alive (see peer_live.h)
 */
#include "lb/peer_live.h"

#include <string.h>

/* The one setter: returns 1 when the state changed. */
static int peer_set(struct peer_live_peer *p, enum peer_live_state st, enum peer_live_why why)
{
	if (p->state == st)
		return 0;
	p->state = st;
	p->why = why;
	return 1;
}

void peer_live_init(struct peer_live *l, size_t n, uint64_t timeout_ms, uint64_t now_ms)
{
	memset(l, 0, sizeof(*l));
	l->n = n > PEER_LIVE_MAX ? PEER_LIVE_MAX : n;
	l->timeout_ms = timeout_ms;
	for (size_t i = 0; i < l->n; i++)
		l->p[i] = (struct peer_live_peer){
			.state = PEER_UP, .why = PEER_LIVE_START, .heard_ms = now_ms};
}

static int peer_live_valid(const struct peer_live *l, size_t i)
{
	return i >= 1 && i < l->n;
}

void peer_live_inherit(struct peer_live *l, size_t next)
{
	if (!peer_live_valid(l, next))
		return;
	for (size_t i = 1; i < next; i++)
		peer_set(&l->p[i], PEER_DOWN, PEER_LIVE_INHERITED);
}

void peer_live_restart(struct peer_live *l, uint64_t now_ms)
{
	for (size_t i = 0; i < l->n; i++)
		l->p[i].heard_ms = now_ms;
}

int peer_live_heard(struct peer_live *l, size_t i, uint64_t now_ms)
{
	if (!peer_live_valid(l, i))
		return 0;
	struct peer_live_peer *p = &l->p[i];
	if (now_ms > p->heard_ms)
		p->heard_ms = now_ms;
	p->ever = 1;
	return peer_set(p, PEER_UP, PEER_LIVE_HEARD);
}

int peer_live_left(struct peer_live *l, size_t i)
{
	if (!peer_live_valid(l, i))
		return 0;
	return peer_set(&l->p[i], PEER_DOWN, PEER_LIVE_LEFT);
}

size_t peer_live_tick(struct peer_live *l, uint64_t now_ms)
{
	size_t changed = 0;

	for (size_t i = 1; l->timeout_ms != 0 && i < l->n; i++) {
		struct peer_live_peer *p = &l->p[i];
		if (now_ms >= p->heard_ms && now_ms - p->heard_ms >= l->timeout_ms)
			changed += (size_t)peer_set(p, PEER_DOWN, PEER_LIVE_SILENT);
	}
	return changed;
}

int peer_live_up(const struct peer_live *l, size_t i)
{
	return i < l->n && l->p[i].state == PEER_UP;
}

size_t peer_live_next(const struct peer_live *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (l->p[i].state == PEER_UP)
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
	case PEER_LIVE_INHERITED:
		return "inherited";
	}
	return "unknown";
}
