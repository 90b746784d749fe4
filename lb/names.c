#include "lb/names.h"

#include "lb/resolver.h"
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct names {
	struct ev_loop *loop;
	struct names_hooks hooks;
	struct resolved answers;
	struct resolver *resolver; /* NULL until names_start() */
	ev_timer timer;
};

static uint64_t loop_ms(struct names *n)
{
	return (uint64_t)(ev_now(n->loop) * 1000.0);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "service S: NAME:PORT resolved to A, B: added A, removed C": once the change is in force. */
static void log_change(const struct resolved_entry *e, const struct resolved_diff *d)
{
	char now[1024], add[512], rem[512];

	log_info("service %s: %s resolved to %s: added %s, removed %s", e->service, e->address,
		resolved_list(e->v, e->n, now, sizeof(now)),
		resolved_list(d->added, d->nadded, add, sizeof(add)),
		resolved_list(d->removed, d->nremoved, rem, sizeof(rem)));
}

/*
 * Logs what one lookup did but a change (log_change, once it applies); 1 when the answer in
 * force changed (and must be applied).
 */
static int judge(struct resolved_entry *e, const struct resolver_answer *a, uint64_t now_ms,
	struct resolved_diff *d)
{
	enum resolved_outcome out;
	char now[1024];

	if (resolved_result(e, a->ok, a->v, a->n, a->why, now_ms, &out, d) < 0) {
		log_error("service %s: %s: out of memory: the answer in force stays", e->service,
			e->address);
		return 0;
	}
	resolved_list(e->v, e->n, now, sizeof(now));
	switch (out) {
	case RESOLVED_SAME:
		if (d->recovered)
			log_info("service %s: %s resolves again to %s: no change", e->service,
				e->address, now);
		return 0;
	case RESOLVED_CHANGED:
		return 1;
	case RESOLVED_FAILED_FIRST:
		if (e->have)
			log_warn("service %s: cannot resolve %s (%s): keeping the last good "
				 "answer, %s",
				e->service, e->address, e->error, now);
		else
			log_warn("service %s: cannot resolve %s (%s): no backends from it until "
				 "a lookup succeeds",
				e->service, e->address, e->error);
		return 0;
	case RESOLVED_FAILED_AGAIN:
		return 0;
	}
	return 0;
}

static void rearm(struct names *n);

static void answered(void *arg, const struct resolver_answer *a)
{
	struct names *n = arg;
	struct resolved_entry *e = resolved_find(&n->answers, a->service, a->address);
	struct resolved_diff d;
	char msg[4096];

	if (e == NULL)
		return; /* the entry went with a reload meanwhile */
	uint64_t now = loop_ms(n);
	e->in_flight = 0;
	e->due_ms = now + e->interval_ms;
	if (!judge(e, a, now, &d)) {
		resolved_diff_free(&d);
		rearm(n);
		return;
	}
	/* The reload's names_sync() may move the entries: what the log needs is copied first. */
	char svc[CONF_NAME_MAX + 1], name[CONF_DNS_NAME_MAX + 8], list[1024], add[512], rem[512];
	snprintf(svc, sizeof(svc), "%s", e->service);
	snprintf(name, sizeof(name), "%s", e->address);
	resolved_list(e->v, e->n, list, sizeof(list));
	resolved_list(d.added, d.nadded, add, sizeof(add));
	resolved_list(d.removed, d.nremoved, rem, sizeof(rem));
	uint64_t interval = e->interval_ms;
	if (n->hooks.apply(n->hooks.arg, msg, sizeof(msg)) == 0) {
		/* In force: every worker balances over the new backends already. */
		log_info("service %s: %s resolved to %s: added %s, removed %s", svc, name, list,
			add, rem);
	} else {
		/* On failure no names_sync() ran: e is where it was. */
		resolved_revert(e, &d);
		e->n_changed--;
		log_error("service %s: %s resolved to %s (added %s, removed %s), but that cannot "
			  "apply (%.*s): the previous answer stays; trying again in %llu ms",
			svc, name, list, add, rem, (int)strcspn(msg, "\n"), msg,
			(unsigned long long)interval);
	}
	resolved_diff_free(&d);
	rearm(n);
}

static void ask_due(struct names *n)
{
	uint64_t now = loop_ms(n);

	for (size_t i = 0; i < n->answers.n; i++) {
		struct resolved_entry *e = &n->answers.v[i];
		if (e->in_flight || e->due_ms > now)
			continue;
		if (resolver_ask(n->resolver, e->service, e->address, e->host, e->port, e->family) <
			0) {
			e->due_ms = now + e->interval_ms;
			continue;
		}
		e->in_flight = 1;
	}
}

static void rearm(struct names *n)
{
	uint64_t now = loop_ms(n), next = UINT64_MAX;

	if (n->resolver == NULL)
		return;
	ask_due(n);
	for (size_t i = 0; i < n->answers.n; i++)
		if (!n->answers.v[i].in_flight && n->answers.v[i].due_ms < next)
			next = n->answers.v[i].due_ms;
	ev_timer_stop(n->loop, &n->timer);
	if (next == UINT64_MAX)
		return;
	ev_timer_set(&n->timer, next > now ? (double)(next - now) / 1000.0 : 0.001, 0.);
	ev_timer_start(n->loop, &n->timer);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	rearm(w->data);
}

struct names *names_new(struct ev_loop *loop, const struct names_hooks *hooks)
{
	struct names *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->loop = loop;
	n->hooks = *hooks;
	ev_timer_init(&n->timer, timer_cb, 0., 0.);
	n->timer.data = n;
	return n;
}

size_t names_resolve_now(struct names *n, const struct conf *c, uint64_t budget_ms)
{
	uint64_t start = mono_ms();
	size_t have = 0;

	if (resolved_sync(&n->answers, c) < 0)
		log_error("out of memory: some names are not looked up at start");
	for (size_t i = 0; i < n->answers.n; i++) {
		struct resolved_entry *e = &n->answers.v[i];
		struct resolver_answer a = {.service = e->service, .address = e->address};
		struct resolved_diff d;
		if (mono_ms() - start >= budget_ms) {
			log_warn("service %s: %s not looked up at start (the start-up budget of "
				 "%llu ms is spent): no backends from it until a lookup succeeds",
				e->service, e->address, (unsigned long long)budget_ms);
			continue;
		}
		resolver_lookup(e->host, e->port, e->family, &a);
		ev_now_update(n->loop);
		if (judge(e, &a, loop_ms(n), &d))
			log_change(e, &d); /* before anything serves: in force with the first one */
		resolved_diff_free(&d);
		e->due_ms = loop_ms(n) + e->interval_ms;
		have += e->have;
	}
	return have;
}

int names_start(struct names *n)
{
	n->resolver = resolver_new(n->loop, answered, n);
	if (n->resolver == NULL)
		return -1;
	rearm(n);
	return 0;
}

void names_sync(struct names *n, const struct conf *c)
{
	if (resolved_sync(&n->answers, c) < 0)
		log_error("out of memory: a new name entry may not be looked up");
	rearm(n);
}

struct resolved *names_resolved(struct names *n)
{
	return &n->answers;
}

void names_free(struct names *n)
{
	if (n == NULL)
		return;
	ev_timer_stop(n->loop, &n->timer);
	resolver_free(n->resolver);
	resolved_free(&n->answers);
	free(n);
}
