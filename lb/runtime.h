/*
 * DOC: runtime view of the configuration
 *
 * What the worker threads share: the loaded struct conf, and per service and backend the
 * counters that several workers update (active sessions, totals). Everything here is either
 * immutable after start-up or an atomic; no lock is taken on the accept or pump path.
 *
 * Ownership: struct lb_runtime owns the struct conf it was built from and the arrays below.
 */
#ifndef ANYLB_LB_RUNTIME_H
#define ANYLB_LB_RUNTIME_H

#include "conf/conf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lb_backend {
	const struct conf_backend *conf;
	_Atomic uint32_t active;        /* sessions connecting or connected to it */
	_Atomic uint64_t sessions;      /* sessions that reached it */
	_Atomic uint64_t connect_fails; /* refused, unreachable, timed out */
};

struct lb_service {
	const struct conf_service *conf;
	size_t index;
	struct lb_backend *backends; /* conf->nbackends of them */
	_Atomic uint32_t active;
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused_limit;   /* closed at once: service max_connections */
	_Atomic uint64_t no_backend;      /* closed at once: no backend could take it */
	_Atomic uint64_t retries;
};

struct lb_runtime {
	struct conf *conf;
	struct lb_service *services;
	size_t nservices;
	_Atomic uint32_t active; /* sessions in the whole process, for global.max_connections */
	_Atomic uint64_t accept_pauses; /* EMFILE / ENFILE / ENOBUFS / ENOMEM on accept */
	_Atomic uint64_t limit_pauses;  /* global max_connections reached */
};

/* Takes ownership of conf. Returns NULL when out of memory (conf is then freed). */
struct lb_runtime *runtime_new(struct conf *conf);
void runtime_free(struct lb_runtime *rt);

/* Resolves global.workers: auto (0) is one per online CPU. */
unsigned runtime_workers(const struct lb_runtime *rt);

#endif
