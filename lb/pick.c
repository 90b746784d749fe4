/* DOC: see lb/pick.h. */
#include "lb/pick.h"

#include "lb/backend.h"
#include "lb/balance.h"

#include <stdatomic.h>

/* Not tried yet and, with limits, under the backend's own max_connections. */
static int untried_within_limit(const struct pick *p, size_t i)
{
	const struct lb_backend *b = &p->svc->backends[i];

	for (unsigned k = 0; k < p->ntried; k++)
		if (p->tried[k] == i)
			return 0;
	return !p->limits || b->conf->max_connections == 0 ||
	       atomic_load_explicit(&b->st->active, memory_order_relaxed) <
		       b->conf->max_connections;
}

static int usable(void *arg, size_t i)
{
	const struct pick *p = arg;
	return backend_accepts(&p->svc->backends[i]) && untried_within_limit(p, i);
}

static int usable_primary(void *arg, size_t i)
{
	const struct pick *p = arg;
	return !p->svc->conf->backends[i].backup && usable(arg, i);
}

static int usable_backup(void *arg, size_t i)
{
	const struct pick *p = arg;
	return p->svc->conf->backends[i].backup && usable(arg, i);
}

/* Panic mode: any backend not dead nor taken out (drain, maint, weight 0), backups included. */
static int usable_panic(void *arg, size_t i)
{
	const struct pick *p = arg;
	return backend_accepts_in_panic(&p->svc->backends[i]) && untried_within_limit(p, i);
}

/* For an outlier trial: the backend is ejected (not drained, dead or not ready meanwhile). */
static int usable_trial(void *arg, size_t i)
{
	const struct pick *p = arg;

	return atomic_load_explicit(&p->svc->backends[i].st->state, memory_order_relaxed) ==
		       BACKEND_EJECTED &&
	       untried_within_limit(p, i);
}

static uint32_t load(void *arg, size_t i)
{
	const struct pick *p = arg;
	return atomic_load_explicit(&p->svc->backends[i].st->active, memory_order_relaxed);
}

int pick_backend(const struct pick *p, struct balancer *bal, uint64_t hash, int *trial)
{
	const struct conf_service *sc = p->svc->conf;
	int panic = atomic_load_explicit(&p->svc->st->panic, memory_order_relaxed);
	struct balance_ctx ctx = {
		.hash = hash,
		.usable = panic             ? usable_panic
			  : sc->nbackup > 0 ? usable_primary
					    : usable,
		.load = load,
		.arg = (void *)p,
	};
	int idx = backend_take_trial(p->svc, usable_trial, (void *)p);

	*trial = idx >= 0;
	if (idx < 0)
		idx = balancer_pick(bal, &ctx);
	if (idx < 0 && sc->nbackup > 0 && !panic) {
		ctx.usable = usable_backup;
		idx = balancer_pick(bal, &ctx);
	}
	return idx;
}

int pick_room(const struct pick *p)
{
	int panic = atomic_load(&p->svc->st->panic);

	for (size_t i = 0; i < p->svc->conf->nbackends; i++)
		if (panic ? usable_panic((void *)p, i) : usable((void *)p, i))
			return 1;
	return 0;
}

int pick_all_full(const struct lb_service *svc)
{
	size_t ready = 0, full = 0;

	for (size_t i = 0; i < svc->conf->nbackends; i++) {
		const struct lb_backend *b = &svc->backends[i];
		if (!backend_accepts(b))
			continue;
		ready++;
		if (b->conf->max_connections != 0 &&
			atomic_load_explicit(&b->st->active, memory_order_relaxed) >=
				b->conf->max_connections)
			full++;
	}
	return ready > 0 && full == ready;
}
