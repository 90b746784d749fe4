/*
 * DOC: the state snapshot, taken, written, read and applied
 *
 * The parser is the one reader of a file anylb did not write itself this run (the operator's
 * disk, a predecessor): it is bounded (SNAP_MAX_BYTES, SNAP_MAX_LINE, one pass, no recursion)
 * and strict (every field in its place, canonical numbers, the hash), so that anything it
 * accepts is what snapshot_format() wrote. Records are collected in arrays, then sorted: the
 * duplicates are neighbours and every lookup is a binary search, O(n log n) for any file.
 */
#include "lb/snapshot.h"

#include "bgp/policy.h"
#include "lb/backend.h"
#include "lib/hash.h"
#include "lib/http1.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAX_TOKENS 48

/* `counters more` [5]: a service's counters by name, where lb_service_state keeps them. */
static const struct {
	const char *name;
	size_t off;
} more_keys[SNAP_MORE_N] = {
	{"proxy_header_errors", offsetof(struct lb_service_state, proxy_header_errors)},
	{"denied", offsetof(struct lb_service_state, denied)},
	{"rate_limited", offsetof(struct lb_service_state, rate_limited)},
	{"rate_limit_evictions", offsetof(struct lb_service_state, rate_limit_evictions)},
	{"queue_queued", offsetof(struct lb_service_state, queue.queued)},
	{"queue_served", offsetof(struct lb_service_state, queue.served)},
	{"queue_full", offsetof(struct lb_service_state, queue.full)},
	{"queue_timeouts", offsetof(struct lb_service_state, queue.timeouts)},
	{"udp_rx", offsetof(struct lb_service_state, udp.rx)},
	{"udp_rx_bytes", offsetof(struct lb_service_state, udp.rx_bytes)},
	{"udp_tx", offsetof(struct lb_service_state, udp.tx)},
	{"udp_tx_bytes", offsetof(struct lb_service_state, udp.tx_bytes)},
	{"udp_flows_created", offsetof(struct lb_service_state, udp.flows_created)},
	{"udp_flows_evicted", offsetof(struct lb_service_state, udp.flows_evicted)},
	{"udp_replies_missing", offsetof(struct lb_service_state, udp.replies_missing)},
	{"udp_dropped", offsetof(struct lb_service_state, udp.dropped)},
	{"udp_backend_errors", offsetof(struct lb_service_state, udp.backend_errors)},
	{"sni_routed", offsetof(struct lb_service_state, sni_routed)},
	{"sni_default", offsetof(struct lb_service_state, sni_default)},
	{"sni_errors", offsetof(struct lb_service_state, sni_errors)},
};

/* Counter k of ss (taking reads it, applying adds to it: one helper for both). */
static _Atomic uint64_t *more_counter(const struct lb_service_state *ss, size_t k)
{
	return (_Atomic uint64_t *)((uintptr_t)ss + more_keys[k].off);
}

static const char *const override_names[] = {"none", "withdraw", "announce"};

static const char *const state_names[] = {
	[BACKEND_READY] = "ready",
	[BACKEND_NOT_READY] = "not_ready",
	[BACKEND_DEAD] = "dead",
	[BACKEND_EJECTED] = "ejected",
	[BACKEND_DRAINING] = "draining",
	[BACKEND_MAINT] = "maint",
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

/* 1..SNAP_NAME_MAX printable ASCII bytes, no space: what a line can carry as one token. */
static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SNAP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int cmp_service(const void *a, const void *b)
{
	const struct snap_service *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static int cmp_backend(const void *a, const void *b)
{
	const struct snap_backend *x = a, *y = b;
	int c = strcmp(x->service, y->service);
	return c != 0 ? c : strcmp(x->address, y->address);
}

void snapshot_free(struct snapshot *s)
{
	free(s->services);
	free(s->backends);
	overlay_free(&s->overlay);
	memset(s, 0, sizeof(*s));
}

const struct snap_service *snapshot_service(const struct snapshot *s, const char *name)
{
	struct snap_service key;

	if (strlen(name) > SNAP_NAME_MAX || s->nservices == 0)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, s->services, s->nservices, sizeof(key), cmp_service);
}

const struct snap_backend *snapshot_backend(
	const struct snapshot *s, const char *service, const char *address)
{
	struct snap_backend key;

	if (strlen(service) > SNAP_NAME_MAX || strlen(address) > SNAP_NAME_MAX || s->nbackends == 0)
		return NULL;
	snprintf(key.service, sizeof(key.service), "%s", service);
	snprintf(key.address, sizeof(key.address), "%s", address);
	return bsearch(&key, s->backends, s->nbackends, sizeof(key), cmp_backend);
}

/* ---- take ---- */

static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static const char *const outlier_names[] = {
	[OUTLIER_OK] = "ok",
	[OUTLIER_EJECTED] = "ejected",
	[OUTLIER_TRIAL] = "trial",
};
#define NOUTLIER (sizeof(outlier_names) / sizeof(outlier_names[0]))

static void take_backend(const struct lb_service *svc, const struct lb_backend *b, uint64_t now_ms,
	struct snap_backend *o)
{
	const struct lb_backend_state *bs = b->st;
	const struct risefall *rf[2] = {&bs->h.live, &bs->h.ready};

	o->have_transient = 1;
	o->ready_for_ms = bs->h.state != BACKEND_READY    ? UINT64_MAX
			  : now_ms > bs->h.ready_since_ms ? now_ms - bs->h.ready_since_ms
							  : 0;
	if (svc->st->outlier != NULL && bs->h.oidx != SIZE_MAX)
		outlier_save(svc->st->outlier, bs->h.oidx, now_ms, &o->outlier);

	/* Under the service lock: the machine's inputs and the last runs. */
	o->draining = bs->h.draining != 0;
	o->maint = bs->h.maint != 0;
	o->weight_set = bs->h.weight_set != 0;
	o->weight = bs->h.weight;
	o->weight_file = bs->h.weight_file;
	o->have_runtime = o->maint || o->weight_set;
	o->state = (int)bs->h.state;
	o->verdict_ms =
		bs->last[0].at_ms > bs->last[1].at_ms ? bs->last[0].at_ms : bs->last[1].at_ms;
	for (int k = 0; k < 2; k++)
		o->checks[k] = (struct bh_saved_check){rf[k]->health, rf[k]->rise, rf[k]->fall};

	struct snap_backend_counters *c = &o->c;
	o->have_counters = 1;
	c->sessions = ld(&bs->sessions);
	c->connect_fails = ld(&bs->connect_fails);
	c->ejections = ld(&bs->ejections);
	c->closed_dead = ld(&bs->closed_dead);
	c->bytes_in = ld(&bs->bytes_in);
	c->bytes_out = ld(&bs->bytes_out);
	for (size_t k = 0; k < LB_CONNECT_BUCKETS; k++)
		c->connect_hist[k] = ld(&bs->connect_hist[k]);
	c->connect_sum_us = ld(&bs->connect_sum_us);
	for (int k = 0; k < 2; k++) {
		c->check_ok[k] = ld(&bs->checks[k].ok);
		c->check_failed[k] = ld(&bs->checks[k].failed);
		c->check_duration_us[k] = ld(&bs->checks[k].duration_sum_us);
		for (size_t j = 0; j < LB_CHECK_BUCKETS; j++)
			c->check_hist[k][j] = ld(&bs->checks[k].duration_hist[j]);
	}
	c->state_changes = ld(&bs->state_changes);
}

int snapshot_take(const struct lb_runtime *rt, snapshot_override_get get, void *arg,
	uint64_t now_unix_ms, uint64_t now_ms, struct snapshot *out)
{
	size_t nb = 0;

	memset(out, 0, sizeof(*out));
	out->written_ms = now_unix_ms;
	for (size_t i = 0; i < rt->nservices; i++)
		nb += rt->services[i].conf->nbackends;
	out->services = calloc(rt->nservices ? rt->nservices : 1, sizeof(*out->services));
	out->backends = calloc(nb ? nb : 1, sizeof(*out->backends));
	if (out->services == NULL || out->backends == NULL) {
		snapshot_free(out);
		return -ENOMEM;
	}
	out->have_process = 1;
	out->accept_pauses = ld(&rt->proc->accept_pauses);
	out->limit_pauses = ld(&rt->proc->limit_pauses);
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct lb_service_state *ss = svc->st;
		const char *name = svc->conf->name;
		if (!name_ok(name, strlen(name)))
			continue;
		struct snap_service *os = &out->services[out->nservices++];
		snprintf(os->name, sizeof(os->name), "%s", name);
		os->override = svc->conf->anycast.enabled && get != NULL
				       ? get(arg, name, &os->drained)
				       : SNAP_NO_OVERRIDE;
		if (os->override < SNAP_NO_OVERRIDE || os->override > ANYCAST_OVERRIDE_ANNOUNCE)
			os->override = SNAP_NO_OVERRIDE;
		os->drained = os->override != SNAP_NO_OVERRIDE && os->drained != 0;
		os->have_counters = 1;
		os->c.accepted = ld(&ss->accepted);
		os->c.refused_limit = ld(&ss->refused_limit);
		os->c.no_backend = ld(&ss->no_backend);
		os->c.retries = ld(&ss->retries);
		for (size_t k = 0; k < LB_RESULT_COUNT; k++)
			os->c.results[k] = ld(&ss->results[k]);
		for (size_t k = 0; k < LB_SESSION_BUCKETS; k++)
			os->c.duration_hist[k] = ld(&ss->duration_hist[k]);
		os->c.duration_sum_us = ld(&ss->duration_sum_us);
		for (size_t k = 0; k < SNAP_MORE_N; k++)
			os->c.more[k] = ld(more_counter(ss, k));

		pthread_mutex_lock((pthread_mutex_t *)&ss->lock);
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			const char *addr = b->conf->address;
			if (!name_ok(addr, strlen(addr)))
				continue;
			struct snap_backend *ob = &out->backends[out->nbackends++];
			snprintf(ob->service, sizeof(ob->service), "%s", name);
			snprintf(ob->address, sizeof(ob->address), "%s", addr);
			take_backend(svc, b, now_ms, ob);
		}
		pthread_mutex_unlock((pthread_mutex_t *)&ss->lock);
	}
	qsort(out->services, out->nservices, sizeof(*out->services), cmp_service);
	qsort(out->backends, out->nbackends, sizeof(*out->backends), cmp_backend);
	if (overlay_copy(&rt->overlay, &out->overlay) < 0) {
		snapshot_free(out);
		return -ENOMEM;
	}
	return 0;
}

/* ---- format ---- */

static void wb_list(struct strbuf *w, const char *key, const uint64_t *v, size_t n)
{
	strbuf_printf(w, " %s ", key);
	for (size_t i = 0; i < n; i++)
		strbuf_printf(w, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
}

int snapshot_format(const struct snapshot *s, char **buf, size_t *len)
{
	struct strbuf w = {.max = (size_t)SNAP_MAX_BYTES + SNAP_MAX_LINE};

	*buf = NULL;
	*len = 0;
	strbuf_printf(&w, "anylb-state %d\nwritten %llu\n", SNAP_VERSION,
		(unsigned long long)s->written_ms);
	for (size_t i = 0; i < s->nservices; i++) {
		const struct snap_service *sv = &s->services[i];
		if (!name_ok(sv->name, strlen(sv->name)) || sv->override < SNAP_NO_OVERRIDE ||
			sv->override > ANYCAST_OVERRIDE_ANNOUNCE)
			w.err = -EINVAL;
		else
			strbuf_printf(&w, "service %s override %s\n", sv->name,
				sv->override == SNAP_NO_OVERRIDE ? "-"
								 : override_names[sv->override]);
		if (sv->drained && !w.err)
			strbuf_printf(&w, "drained %s\n", sv->name);
	}
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct snap_backend *b = &s->backends[i];
		if (!name_ok(b->address, strlen(b->address)) || b->state < 0 ||
			(size_t)b->state >= NSTATES || snapshot_service(s, b->service) == NULL) {
			w.err = -EINVAL;
			break;
		}
		strbuf_printf(&w, "backend %s %s drain %d state %s verdict %llu", b->service,
			b->address, b->draining != 0, state_names[b->state],
			(unsigned long long)b->verdict_ms);
		for (int k = 0; k < 2; k++)
			strbuf_printf(&w, " %s %u/%u/%u", k == 0 ? "live" : "ready",
				b->checks[k].health, b->checks[k].rise, b->checks[k].fall);
		strbuf_printf(&w, "\n");
	}
	for (size_t i = 0; i < s->nbackends && !w.err; i++) {
		const struct snap_backend *b = &s->backends[i];
		char rf[24] = "-";
		if (!b->have_transient)
			continue;
		if ((size_t)b->outlier.state >= NOUTLIER) {
			w.err = -EINVAL;
			break;
		}
		if (b->ready_for_ms != UINT64_MAX)
			snprintf(rf, sizeof(rf), "%llu", (unsigned long long)b->ready_for_ms);
		strbuf_printf(&w,
			"transient %s %s ready_for %s outlier %s failures %u ejections %u left "
			"%llu\n",
			b->service, b->address, rf, outlier_names[b->outlier.state],
			b->outlier.failures, b->outlier.ejections,
			(unsigned long long)b->outlier.left_ms);
	}
	for (size_t i = 0; i < s->nbackends && !w.err; i++) {
		const struct snap_backend *b = &s->backends[i];
		char wt[24] = "-";
		if (!b->have_runtime)
			continue;
		if (b->weight_set)
			snprintf(wt, sizeof(wt), "%u", b->weight);
		strbuf_printf(&w, "runtime %s %s maint %d weight %s file_weight %u\n", b->service,
			b->address, b->maint != 0, wt, b->weight_set ? b->weight_file : 0);
	}
	for (size_t i = 0; i < s->overlay.n && !w.err; i++) {
		const struct overlay_entry *e = &s->overlay.v[i];
		const char *z = e->zone != NULL ? e->zone : "-";
		if (!name_ok(e->service, strlen(e->service)) ||
			!name_ok(e->address, strlen(e->address)) || !name_ok(z, strlen(z)))
			continue; /* cannot be written: a restart forgets it */
		if (e->removed)
			strbuf_printf(&w, "removed %s %s\n", e->service, e->address);
		else
			strbuf_printf(&w, "added %s %s weight %u zone %s\n", e->service, e->address,
				e->weight, z);
	}
	if (s->have_process)
		strbuf_printf(&w, "counters process accept_pauses %llu limit_pauses %llu\n",
			(unsigned long long)s->accept_pauses, (unsigned long long)s->limit_pauses);
	for (size_t i = 0; i < s->nservices; i++) {
		const struct snap_service *sv = &s->services[i];
		const struct snap_service_counters *c = &sv->c;
		if (!sv->have_counters)
			continue;
		strbuf_printf(&w,
			"counters service %s accepted %llu refused_limit %llu no_backend %llu "
			"retries %llu",
			sv->name, (unsigned long long)c->accepted,
			(unsigned long long)c->refused_limit, (unsigned long long)c->no_backend,
			(unsigned long long)c->retries);
		wb_list(&w, "results", c->results, LB_RESULT_COUNT);
		wb_list(&w, "duration_hist", c->duration_hist, LB_SESSION_BUCKETS);
		strbuf_printf(
			&w, " duration_sum_us %llu\n", (unsigned long long)c->duration_sum_us);
		strbuf_printf(&w, "counters more %s", sv->name);
		for (size_t k = 0; k < SNAP_MORE_N; k++)
			strbuf_printf(
				&w, " %s %llu", more_keys[k].name, (unsigned long long)c->more[k]);
		strbuf_printf(&w, "\n");
	}
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct snap_backend *b = &s->backends[i];
		const struct snap_backend_counters *c = &b->c;
		if (!b->have_counters)
			continue;
		strbuf_printf(&w,
			"counters backend %s %s sessions %llu connect_fails %llu ejections %llu "
			"closed_dead %llu bytes_in %llu bytes_out %llu",
			b->service, b->address, (unsigned long long)c->sessions,
			(unsigned long long)c->connect_fails, (unsigned long long)c->ejections,
			(unsigned long long)c->closed_dead, (unsigned long long)c->bytes_in,
			(unsigned long long)c->bytes_out);
		wb_list(&w, "connect_hist", c->connect_hist, LB_CONNECT_BUCKETS);
		strbuf_printf(&w, " connect_sum_us %llu", (unsigned long long)c->connect_sum_us);
		wb_list(&w, "check_ok", c->check_ok, 2);
		wb_list(&w, "check_failed", c->check_failed, 2);
		wb_list(&w, "check_duration_us", c->check_duration_us, 2);
		strbuf_printf(&w, " state_changes %llu", (unsigned long long)c->state_changes);
		wb_list(&w, "check_hist_live", c->check_hist[0], LB_CHECK_BUCKETS);
		wb_list(&w, "check_hist_ready", c->check_hist[1], LB_CHECK_BUCKETS);
		strbuf_printf(&w, "\n");
	}
	if (!w.err)
		strbuf_printf(&w, "end %016llx\n", (unsigned long long)hash_bytes(w.p, w.len, 0));
	if (!w.err && w.len > SNAP_MAX_BYTES)
		w.err = -EINVAL;
	if (w.err) {
		free(w.p);
		return w.err == -ENOMEM ? -ENOMEM
					: -EINVAL; /* past SNAP_MAX_BYTES, or a bad name */
	}
	*buf = strbuf_take(&w, len);
	return 0;
}

/* ---- parse ---- */

struct pstate {
	char *err;
	size_t errcap;
	size_t line;
	/* the tokens of the current line, NUL-terminated copies in tokbuf */
	char tokbuf[SNAP_MAX_LINE + 1];
	char *tok[SNAP_MAX_TOKENS];
	size_t ntok;
	struct snapshot *s;
	size_t capsvc, capbe, capsc, capbc;
	struct snap_service *svc_counters; /* counters records, matched after the sort */
	size_t nsvc_counters;
	struct snap_backend *be_counters;
	size_t nbe_counters;
	struct snap_backend *be_transient; /* transient records, matched after the sort */
	size_t nbe_transient, capbt;
	struct snap_backend *be_runtime; /* runtime records, matched after the sort */
	size_t nbe_runtime, capbr;
	int version;
};

static int perr(struct pstate *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct pstate *p, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errcap > 0) {
		if (p->line > 0)
			snprintf(p->err, p->errcap, "line %zu: %s", p->line, msg);
		else
			snprintf(p->err, p->errcap, "%s", msg);
	}
	return -EINVAL;
}

/*
 * Exactly n canonical decimals of at most max each (digits only, no sign, no leading zero; the
 * digits read by lib/http1.c's http1_decimal), separated by sep, and nothing else.
 */
static int parse_nums(const char *t, char sep, uint64_t max, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t nd;
		if (http1_decimal(t, strlen(t), max, &v[i], &nd) < 0 || nd == 0 ||
			(t[0] == '0' && nd > 1))
			return -1;
		t += nd;
		if (*t != (i + 1 < n ? sep : '\0'))
			return -1;
		t += i + 1 < n;
	}
	return 0;
}

static int parse_u64(const char *t, uint64_t *v)
{
	return parse_nums(t, '\0', UINT64_MAX, v, 1);
}

/* The value after keyword key at token i. */
static const char *field(struct pstate *p, size_t i, const char *key)
{
	if (i + 1 >= p->ntok || strcmp(p->tok[i], key) != 0)
		return NULL;
	return p->tok[i + 1];
}

static int num_field(struct pstate *p, size_t i, const char *key, uint64_t *v)
{
	const char *t = field(p, i, key);

	if (t == NULL)
		return perr(p, "expected '%s N'", key);
	if (parse_u64(t, v) < 0)
		return perr(p, "%s: not a decimal number of 64 bits", key);
	return 0;
}

static int list_field(struct pstate *p, size_t i, const char *key, uint64_t *v, size_t n)
{
	const char *t = field(p, i, key);

	if (t == NULL)
		return perr(p, "expected '%s' and %zu numbers", key, n);
	if (parse_nums(t, ',', UINT64_MAX, v, n) < 0)
		return perr(p, "%s: not %zu comma-separated decimal numbers", key, n);
	return 0;
}

static int name_tok(struct pstate *p, size_t i, const char *what, char *dst)
{
	const char *t = p->tok[i];
	size_t n = strlen(t);

	if (!name_ok(t, n))
		return perr(p, "%s: empty, longer than %d bytes, or not printable ASCII", what,
			SNAP_NAME_MAX);
	memcpy(dst, t, n + 1);
	return 0;
}

/* Grows *arr (of elem bytes, *cap of them) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *q = realloc(*arr, ncap * elem);
	if (q == NULL)
		return -ENOMEM;
	*arr = q;
	*cap = ncap;
	return 0;
}

/* "H/RISE/FALL" */
static int parse_check(struct pstate *p, size_t i, const char *key, struct bh_saved_check *c)
{
	const char *t = field(p, i, key);
	uint64_t v[3];

	if (t == NULL)
		return perr(p, "expected '%s HEALTH/RISE/FALL'", key);
	if (parse_nums(t, '/', 0xffff, v, 3) < 0)
		return perr(p, "%s: not HEALTH/RISE/FALL of 0..65535", key);
	*c = (struct bh_saved_check){(unsigned)v[0], (unsigned)v[1], (unsigned)v[2]};
	return 0;
}

static int parse_service(struct pstate *p)
{
	struct snapshot *s = p->s;
	struct snap_service sv = {0};
	const char *o;

	if (p->ntok != 4)
		return perr(p, "service: expected 'service NAME override OVERRIDE'");
	if (name_tok(p, 1, "service name", sv.name) < 0)
		return -EINVAL;
	if ((o = field(p, 2, "override")) == NULL)
		return perr(p, "service: expected 'override'");
	sv.override = -2;
	if (strcmp(o, "-") == 0)
		sv.override = SNAP_NO_OVERRIDE;
	for (int k = 0; k < 3; k++)
		if (strcmp(o, override_names[k]) == 0)
			sv.override = k;
	if (sv.override == -2)
		return perr(p, "service %s: unknown override '%.32s'", sv.name, o);
	if (grow((void **)&s->services, &p->capsvc, s->nservices, sizeof(sv)) < 0)
		return -ENOMEM;
	s->services[s->nservices++] = sv;
	return 0;
}

static int parse_backend(struct pstate *p)
{
	struct snapshot *s = p->s;
	struct snap_backend b = {0};
	uint64_t v;
	const char *st;

	if (p->ntok != 13)
		return perr(p,
			"backend: expected 'backend SERVICE ADDRESS drain D state S verdict T "
			"live H/R/F ready H/R/F'");
	if (name_tok(p, 1, "service name", b.service) < 0 ||
		name_tok(p, 2, "backend address", b.address) < 0)
		return -EINVAL;
	if (num_field(p, 3, "drain", &v) < 0)
		return -EINVAL;
	if (v > 1)
		return perr(p, "drain: 0 or 1");
	b.draining = (int)v;
	if ((st = field(p, 5, "state")) == NULL)
		return perr(p, "backend: expected 'state'");
	b.state = -1;
	for (size_t k = 0; k < NSTATES; k++)
		if (strcmp(st, state_names[k]) == 0)
			b.state = (int)k;
	if (b.state < 0)
		return perr(p, "backend %s: unknown state '%.32s'", b.address, st);
	if (num_field(p, 7, "verdict", &b.verdict_ms) < 0 ||
		parse_check(p, 9, "live", &b.checks[0]) < 0 ||
		parse_check(p, 11, "ready", &b.checks[1]) < 0)
		return -EINVAL;
	if (grow((void **)&s->backends, &p->capbe, s->nbackends, sizeof(b)) < 0)
		return -ENOMEM;
	s->backends[s->nbackends++] = b;
	return 0;
}

/* counters more NAME KEY N ...: after the service's `counters service` record. */
static int parse_more(struct pstate *p)
{
	char name[SNAP_NAME_MAX + 1];
	struct snap_service *sv = NULL;

	if (p->ntok < 3 || p->ntok % 2 != 1)
		return perr(p, "counters more: expected NAME and KEY N pairs");
	if (name_tok(p, 2, "service name", name) < 0)
		return -EINVAL;
	for (size_t i = p->nsvc_counters; i > 0 && sv == NULL; i--)
		if (strcmp(p->svc_counters[i - 1].name, name) == 0)
			sv = &p->svc_counters[i - 1];
	if (sv == NULL)
		return perr(p, "counters more %s: no 'counters service' record before it", name);
	for (size_t t = 3; t + 1 < p->ntok; t += 2) {
		for (size_t k = 0; k < SNAP_MORE_N; k++) {
			if (strcmp(p->tok[t], more_keys[k].name) != 0)
				continue;
			if (num_field(p, t, more_keys[k].name, &sv->c.more[k]) < 0)
				return -EINVAL;
			break;
		}
		/* An unknown key is a newer anylb's: skipped. */
	}
	return 0;
}

static int parse_counters(struct pstate *p)
{
	struct snapshot *s = p->s;

	if (p->ntok < 2)
		return perr(p, "counters: expected 'process', 'service' or 'backend'");
	if (strcmp(p->tok[1], "process") == 0) {
		if (p->ntok != 6)
			return perr(p, "counters process: expected two fields");
		if (s->have_process)
			return perr(p, "counters process: a second time");
		if (num_field(p, 2, "accept_pauses", &s->accept_pauses) < 0 ||
			num_field(p, 4, "limit_pauses", &s->limit_pauses) < 0)
			return -EINVAL;
		s->have_process = 1;
		return 0;
	}
	if (strcmp(p->tok[1], "service") == 0) {
		struct snap_service sv = {0};
		struct snap_service_counters *c = &sv.c;
		if (p->ntok != 13 && p->ntok != 17)
			return perr(p, "counters service: expected NAME and five fields (seven "
				       "from version 3)");
		if (name_tok(p, 2, "service name", sv.name) < 0 ||
			num_field(p, 3, "accepted", &c->accepted) < 0 ||
			num_field(p, 5, "refused_limit", &c->refused_limit) < 0 ||
			num_field(p, 7, "no_backend", &c->no_backend) < 0 ||
			num_field(p, 9, "retries", &c->retries) < 0 ||
			list_field(p, 11, "results", c->results, LB_RESULT_COUNT) < 0)
			return -EINVAL;
		if (p->ntok == 17 &&
			(list_field(p, 13, "duration_hist", c->duration_hist, LB_SESSION_BUCKETS) <
					0 ||
				num_field(p, 15, "duration_sum_us", &c->duration_sum_us) < 0))
			return -EINVAL;
		sv.have_counters = 1;
		if (grow((void **)&p->svc_counters, &p->capsc, p->nsvc_counters, sizeof(sv)) < 0)
			return -ENOMEM;
		p->svc_counters[p->nsvc_counters++] = sv;
		return 0;
	}
	if (strcmp(p->tok[1], "more") == 0 && p->version >= 5)
		return parse_more(p);
	if (strcmp(p->tok[1], "backend") == 0) {
		struct snap_backend b = {0};
		struct snap_backend_counters *c = &b.c;
		if (p->ntok != 26 && p->ntok != 32)
			return perr(p,
				"counters backend: expected SERVICE ADDRESS and eleven fields "
				"(fourteen from version 3)");
		if (name_tok(p, 2, "service name", b.service) < 0 ||
			name_tok(p, 3, "backend address", b.address) < 0 ||
			num_field(p, 4, "sessions", &c->sessions) < 0 ||
			num_field(p, 6, "connect_fails", &c->connect_fails) < 0 ||
			num_field(p, 8, "ejections", &c->ejections) < 0 ||
			num_field(p, 10, "closed_dead", &c->closed_dead) < 0 ||
			num_field(p, 12, "bytes_in", &c->bytes_in) < 0 ||
			num_field(p, 14, "bytes_out", &c->bytes_out) < 0 ||
			list_field(p, 16, "connect_hist", c->connect_hist, LB_CONNECT_BUCKETS) <
				0 ||
			num_field(p, 18, "connect_sum_us", &c->connect_sum_us) < 0 ||
			list_field(p, 20, "check_ok", c->check_ok, 2) < 0 ||
			list_field(p, 22, "check_failed", c->check_failed, 2) < 0 ||
			list_field(p, 24, "check_duration_us", c->check_duration_us, 2) < 0)
			return -EINVAL;
		if (p->ntok == 32 && (num_field(p, 26, "state_changes", &c->state_changes) < 0 ||
					     list_field(p, 28, "check_hist_live", c->check_hist[0],
						     LB_CHECK_BUCKETS) < 0 ||
					     list_field(p, 30, "check_hist_ready", c->check_hist[1],
						     LB_CHECK_BUCKETS) < 0))
			return -EINVAL;
		b.have_counters = 1;
		if (grow((void **)&p->be_counters, &p->capbc, p->nbe_counters, sizeof(b)) < 0)
			return -ENOMEM;
		p->be_counters[p->nbe_counters++] = b;
		return 0;
	}
	return perr(p, "counters: unknown kind '%.32s'", p->tok[1]);
}

static int parse_transient(struct pstate *p)
{
	struct snap_backend b = {0};
	uint64_t v[3];
	const char *t;

	if (p->ntok != 13)
		return perr(p,
			"transient: expected 'transient SERVICE ADDRESS ready_for MS|- outlier "
			"STATE failures N ejections N left MS'");
	if (name_tok(p, 1, "service name", b.service) < 0 ||
		name_tok(p, 2, "backend address", b.address) < 0)
		return -EINVAL;
	if ((t = field(p, 3, "ready_for")) == NULL)
		return perr(p, "transient: expected 'ready_for'");
	b.ready_for_ms = UINT64_MAX;
	if (strcmp(t, "-") != 0 && num_field(p, 3, "ready_for", &b.ready_for_ms) < 0)
		return -EINVAL;
	if ((t = field(p, 5, "outlier")) == NULL)
		return perr(p, "transient: expected 'outlier'");
	b.outlier.state = NOUTLIER;
	for (size_t k = 0; k < NOUTLIER; k++)
		if (strcmp(t, outlier_names[k]) == 0)
			b.outlier.state = (enum outlier_state)k;
	if ((size_t)b.outlier.state == NOUTLIER)
		return perr(p, "transient %s: unknown outlier state '%.32s'", b.address, t);
	if (num_field(p, 7, "failures", &v[0]) < 0 || num_field(p, 9, "ejections", &v[1]) < 0 ||
		num_field(p, 11, "left", &v[2]) < 0)
		return -EINVAL;
	if (v[0] > UINT_MAX || v[1] > UINT_MAX)
		return perr(p, "transient %s: failures or ejections above %u", b.address, UINT_MAX);
	b.outlier.failures = (unsigned)v[0];
	b.outlier.ejections = (unsigned)v[1];
	b.outlier.left_ms = v[2];
	b.have_transient = 1;
	if (grow((void **)&p->be_transient, &p->capbt, p->nbe_transient, sizeof(b)) < 0)
		return -ENOMEM;
	p->be_transient[p->nbe_transient++] = b;
	return 0;
}

static int parse_runtime(struct pstate *p)
{
	struct snap_backend b = {0};
	uint64_t v;
	const char *t;

	if (p->ntok != 9)
		return perr(p, "runtime: expected 'runtime SERVICE ADDRESS maint 0|1 weight N|- "
			       "file_weight N'");
	if (name_tok(p, 1, "service name", b.service) < 0 ||
		name_tok(p, 2, "backend address", b.address) < 0)
		return -EINVAL;
	if (num_field(p, 3, "maint", &v) < 0)
		return -EINVAL;
	if (v > 1)
		return perr(p, "maint: 0 or 1");
	b.maint = (int)v;
	if ((t = field(p, 5, "weight")) == NULL)
		return perr(p, "runtime: expected 'weight'");
	if (strcmp(t, "-") != 0) {
		if (num_field(p, 5, "weight", &v) < 0)
			return -EINVAL;
		if (v > BH_MAX_WEIGHT)
			return perr(p, "weight: 0 to %d", BH_MAX_WEIGHT);
		b.weight_set = 1;
		b.weight = (unsigned)v;
	}
	if (num_field(p, 7, "file_weight", &v) < 0)
		return -EINVAL;
	if (v > BH_MAX_WEIGHT)
		return perr(p, "file_weight: 0 to %d", BH_MAX_WEIGHT);
	b.weight_file = (unsigned)v;
	b.have_runtime = 1;
	if (grow((void **)&p->be_runtime, &p->capbr, p->nbe_runtime, sizeof(b)) < 0)
		return -ENOMEM;
	p->be_runtime[p->nbe_runtime++] = b;
	return 0;
}

/* added SERVICE ADDRESS weight N zone Z|-, removed SERVICE ADDRESS (version 6). */
static int parse_overlay(struct pstate *p, int removed)
{
	char service[SNAP_NAME_MAX + 1], address[SNAP_NAME_MAX + 1], zone[SNAP_NAME_MAX + 1];
	char why[128];
	uint64_t w = 0;

	if (p->ntok != (removed ? 3u : 7u))
		return perr(
			p, removed ? "removed: expected 'removed SERVICE ADDRESS'"
				   : "added: expected 'added SERVICE ADDRESS weight N zone Z|-'");
	if (name_tok(p, 1, "service name", service) < 0 ||
		name_tok(p, 2, "backend address", address) < 0)
		return -EINVAL;
	if (!removed) {
		if (num_field(p, 3, "weight", &w) < 0)
			return -EINVAL;
		if (w < 1 || w > CONF_MAX_WEIGHT)
			return perr(p, "weight: 1 to %d", CONF_MAX_WEIGHT);
		if (field(p, 5, "zone") == NULL)
			return perr(p, "added: expected 'zone'");
		if (name_tok(p, 6, "zone", zone) < 0)
			return -EINVAL;
	}
	int rc = removed ? overlay_remove(&p->s->overlay, service, address, why, sizeof(why))
			 : overlay_add(&p->s->overlay, service, address, (unsigned)w,
				   strcmp(zone, "-") == 0 ? NULL : zone, why, sizeof(why));
	if (rc == -EINVAL)
		return perr(p, "backend address %s: %s", address, why);
	if (rc == -EEXIST)
		return perr(p, "backend %s (%s): two records", address, service);
	return rc;
}

/* drained NAME (version 7): right after the service's own record, which has anycast. */
static int parse_drained(struct pstate *p)
{
	struct snapshot *s = p->s;
	char name[SNAP_NAME_MAX + 1];
	struct snap_service *sv = s->nservices > 0 ? &s->services[s->nservices - 1] : NULL;

	if (p->ntok != 2)
		return perr(p, "drained: expected 'drained SERVICE'");
	if (name_tok(p, 1, "service name", name) < 0)
		return -EINVAL;
	if (sv == NULL || strcmp(sv->name, name) != 0)
		return perr(p, "drained %s: not right after its service's record", name);
	if (sv->override == SNAP_NO_OVERRIDE)
		return perr(p, "drained %s: the service has no anycast", name);
	if (sv->drained)
		return perr(p, "drained %s: two records", name);
	sv->drained = 1;
	return 0;
}

/* Splits line (len bytes, no '\n') into p->tok: single spaces, no empty token. */
static int tokenize(struct pstate *p, const char *line, size_t len)
{
	memcpy(p->tokbuf, line, len);
	p->tokbuf[len] = '\0';
	p->ntok = 0;
	char *t = p->tokbuf;
	for (size_t i = 0; i <= len; i++) {
		char c = p->tokbuf[i];
		if (i < len && c != ' ' && (unsigned char)c > 0x20 && (unsigned char)c < 0x7f)
			continue;
		if (i < len && c != ' ')
			return perr(p, "a control or non-ASCII byte (0x%02x)", (unsigned char)c);
		p->tokbuf[i] = '\0';
		if (*t == '\0')
			return perr(p, "an empty field (two spaces, or one at an end)");
		if (p->ntok >= SNAP_MAX_TOKENS)
			return perr(p, "more than %d fields", SNAP_MAX_TOKENS);
		p->tok[p->ntok++] = t;
		t = p->tokbuf + i + 1;
	}
	return 0;
}

/* After the sort: duplicates, dangling references, and the counters moved into place. */
static int link_records(struct pstate *p)
{
	struct snapshot *s = p->s;

	p->line = 0;
	if (s->nservices > 0)
		qsort(s->services, s->nservices, sizeof(*s->services), cmp_service);
	if (s->nbackends > 0)
		qsort(s->backends, s->nbackends, sizeof(*s->backends), cmp_backend);
	for (size_t i = 1; i < s->nservices; i++)
		if (strcmp(s->services[i - 1].name, s->services[i].name) == 0)
			return perr(p, "service %s: two records", s->services[i].name);
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct snap_backend *b = &s->backends[i];
		if (i > 0 && cmp_backend(&s->backends[i - 1], b) == 0)
			return perr(
				p, "backend %s of service %s: two records", b->address, b->service);
		if (snapshot_service(s, b->service) == NULL)
			return perr(
				p, "backend %s: service %s has no record", b->address, b->service);
	}
	for (size_t i = 0; i < p->nsvc_counters; i++) {
		struct snap_service *sv =
			(struct snap_service *)snapshot_service(s, p->svc_counters[i].name);
		if (sv == NULL)
			return perr(p, "counters of service %s: the service has no record",
				p->svc_counters[i].name);
		if (sv->have_counters)
			return perr(p, "counters of service %s: two records", sv->name);
		sv->have_counters = 1;
		sv->c = p->svc_counters[i].c;
	}
	for (size_t i = 0; i < p->nbe_counters; i++) {
		const struct snap_backend *k = &p->be_counters[i];
		struct snap_backend *b =
			(struct snap_backend *)snapshot_backend(s, k->service, k->address);
		if (b == NULL)
			return perr(p, "counters of backend %s (%s): the backend has no record",
				k->address, k->service);
		if (b->have_counters)
			return perr(p, "counters of backend %s (%s): two records", k->address,
				k->service);
		b->have_counters = 1;
		b->c = k->c;
	}
	for (size_t i = 0; i < p->nbe_transient; i++) {
		const struct snap_backend *k = &p->be_transient[i];
		struct snap_backend *b =
			(struct snap_backend *)snapshot_backend(s, k->service, k->address);
		if (b == NULL)
			return perr(p, "transient of backend %s (%s): the backend has no record",
				k->address, k->service);
		if (b->have_transient)
			return perr(p, "transient of backend %s (%s): two records", k->address,
				k->service);
		b->have_transient = 1;
		b->ready_for_ms = k->ready_for_ms;
		b->outlier = k->outlier;
	}
	for (size_t i = 0; i < p->nbe_runtime; i++) {
		const struct snap_backend *k = &p->be_runtime[i];
		struct snap_backend *b =
			(struct snap_backend *)snapshot_backend(s, k->service, k->address);
		if (b == NULL)
			return perr(p, "runtime of backend %s (%s): the backend has no record",
				k->address, k->service);
		if (b->have_runtime)
			return perr(p, "runtime of backend %s (%s): two records", k->address,
				k->service);
		b->have_runtime = 1;
		b->maint = k->maint;
		b->weight_set = k->weight_set;
		b->weight = k->weight;
		b->weight_file = k->weight_file;
	}
	return 0;
}

int snapshot_parse(const char *buf, size_t len, struct snapshot *out, char *err, size_t errcap)
{
	struct pstate *p = calloc(1, sizeof(*p));
	size_t off = 0;
	int rc = 0, ended = 0, version = 0;

	memset(out, 0, sizeof(*out));
	if (errcap > 0)
		err[0] = '\0';
	if (p == NULL)
		return -ENOMEM;
	p->err = err;
	p->errcap = errcap;
	p->s = out;
	if (len > SNAP_MAX_BYTES) {
		rc = perr(p, "larger than %u bytes", SNAP_MAX_BYTES);
		goto out;
	}
	if (len == 0) {
		rc = perr(p, "empty");
		goto out;
	}
	while (rc == 0 && off < len) {
		const char *line = buf + off;
		const char *nl =
			memchr(line, '\n', len - off < SNAP_MAX_LINE ? len - off : SNAP_MAX_LINE);
		p->line++;
		if (ended) {
			rc = perr(p, "data after the 'end' line");
			break;
		}
		if (nl == NULL) {
			rc = len - off < SNAP_MAX_LINE
				     ? perr(p, "truncated: the last line has no end (and no 'end' "
					       "line)")
				     : perr(p, "longer than %d bytes", SNAP_MAX_LINE - 1);
			break;
		}
		size_t n = (size_t)(nl - line);
		if (p->line == 1 && (n < 12 || memcmp(line, "anylb-state ", 12) != 0)) {
			rc = perr(p, "not an anylb state file");
			break;
		}
		if ((rc = tokenize(p, line, n)) < 0)
			break;
		const char *k = p->tok[0];
		uint64_t v;
		if (p->line == 1) {
			if (p->ntok != 2 || strcmp(k, "anylb-state") != 0)
				rc = perr(p, "not an anylb state file");
			else if (parse_u64(p->tok[1], &v) < 0 || v < 1 || v > SNAP_VERSION)
				rc = perr(p, "version %.20s: this anylb reads versions 1 to %d",
					p->tok[1], SNAP_VERSION);
			else
				version = p->version = (int)v;
		} else if (p->line == 2) {
			if (p->ntok != 2)
				rc = perr(p, "expected 'written UNIX_MS'");
			else
				rc = num_field(p, 0, "written", &out->written_ms);
		} else if (strcmp(k, "end") == 0) {
			char want[20];
			snprintf(want, sizeof(want), "%016llx",
				(unsigned long long)hash_bytes(buf, off, 0));
			if (p->ntok != 2 || strcmp(p->tok[1], want) != 0)
				rc = perr(p, "'end': the hash does not match the content");
			ended = 1;
		} else if (strcmp(k, "service") == 0) {
			rc = parse_service(p);
		} else if (strcmp(k, "backend") == 0) {
			rc = parse_backend(p);
		} else if (strcmp(k, "counters") == 0) {
			rc = parse_counters(p);
		} else if (strcmp(k, "transient") == 0 && version >= 2) {
			rc = parse_transient(p);
		} else if (strcmp(k, "runtime") == 0 && version >= 4) {
			rc = parse_runtime(p);
		} else if (strcmp(k, "added") == 0 && version >= 6) {
			rc = parse_overlay(p, 0);
		} else if (strcmp(k, "removed") == 0 && version >= 6) {
			rc = parse_overlay(p, 1);
		} else if (strcmp(k, "drained") == 0 && version >= 7) {
			rc = parse_drained(p);
		} else {
			rc = perr(p, "unknown record '%.32s'", k);
		}
		off += n + 1;
	}
	if (rc == 0 && !ended) {
		p->line = 0; /* of the whole file */
		rc = perr(p, "truncated: no 'end' line");
	}
	if (rc == 0)
		rc = link_records(p);
out:
	if (rc == -ENOMEM && errcap > 0)
		snprintf(err, errcap, "out of memory");
	if (rc < 0)
		snapshot_free(out);
	free(p->svc_counters);
	free(p->be_counters);
	free(p->be_transient);
	free(p->be_runtime);
	free(p);
	return rc;
}

/* ---- apply ---- */

static void add(_Atomic uint64_t *p, uint64_t v)
{
	if (v != 0)
		atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static void add_service_counters(struct lb_service_state *ss, const struct snap_service_counters *c)
{
	add(&ss->accepted, c->accepted);
	add(&ss->refused_limit, c->refused_limit);
	add(&ss->no_backend, c->no_backend);
	add(&ss->retries, c->retries);
	for (size_t k = 0; k < LB_RESULT_COUNT; k++)
		add(&ss->results[k], c->results[k]);
	for (size_t k = 0; k < LB_SESSION_BUCKETS; k++)
		add(&ss->duration_hist[k], c->duration_hist[k]);
	add(&ss->duration_sum_us, c->duration_sum_us);
	for (size_t k = 0; k < SNAP_MORE_N; k++)
		add(more_counter(ss, k), c->more[k]);
}

static void add_backend_counters(struct lb_backend_state *bs, const struct snap_backend_counters *c)
{
	add(&bs->sessions, c->sessions);
	add(&bs->connect_fails, c->connect_fails);
	add(&bs->ejections, c->ejections);
	add(&bs->closed_dead, c->closed_dead);
	add(&bs->bytes_in, c->bytes_in);
	add(&bs->bytes_out, c->bytes_out);
	for (size_t k = 0; k < LB_CONNECT_BUCKETS; k++)
		add(&bs->connect_hist[k], c->connect_hist[k]);
	add(&bs->connect_sum_us, c->connect_sum_us);
	for (int k = 0; k < 2; k++) {
		add(&bs->checks[k].ok, c->check_ok[k]);
		add(&bs->checks[k].failed, c->check_failed[k]);
		add(&bs->checks[k].duration_sum_us, c->check_duration_us[k]);
		for (size_t j = 0; j < LB_CHECK_BUCKETS; j++)
			add(&bs->checks[k].duration_hist[j], c->check_hist[k][j]);
	}
	add(&bs->state_changes, c->state_changes);
}

/* The transient record moved on by the time since it was written (saturating). */
static void transient_now(const struct snap_backend *sb, uint64_t since, struct bh_saved_extra *x)
{
	x->ready_for_ms = sb->ready_for_ms;
	if (x->ready_for_ms != UINT64_MAX)
		x->ready_for_ms = x->ready_for_ms > UINT64_MAX - 1 - since
					  ? UINT64_MAX - 1
					  : x->ready_for_ms + since;
	x->outlier = sb->outlier;
	x->outlier.left_ms = x->outlier.left_ms > since ? x->outlier.left_ms - since : 0;
}

static void apply_backend(struct lb_backend *b, const struct snap_backend *sb, unsigned what,
	uint64_t written_ms, uint64_t now_unix_ms, uint64_t now_ms, uint64_t max_age_ms,
	struct snapshot_applied *r)
{
	if ((what & SNAP_OPERATOR) && sb->draining) {
		backend_set_draining(
			b, 1, "operator drain (restored from the saved state)", now_ms);
		r->drains++;
	}
	if ((what & SNAP_OPERATOR) && sb->maint) {
		backend_set_maint(b, 1, "operator maint (restored from the saved state)", now_ms);
		r->maints++;
	}
	if ((what & SNAP_OPERATOR) && sb->weight_set && sb->weight_file == b->conf->weight) {
		backend_set_weight(b, sb->weight, now_ms);
		r->weights++;
	} else if ((what & SNAP_OPERATOR) && sb->weight_set) {
		log_info("backend %s (%s): runtime weight %u not restored: the file's weight "
			 "changed %u -> %u since it was set",
			b->conf->address, b->svc->conf->name, sb->weight, sb->weight_file,
			b->conf->weight);
		r->weights_dropped++;
	}
	int verdict = 0;
	char why[96] = "saved state restored";
	if ((what & SNAP_HEALTH) && sb->verdict_ms != 0) {
		uint64_t age = now_unix_ms > sb->verdict_ms ? now_unix_ms - sb->verdict_ms : 0;
		if (sb->verdict_ms > now_unix_ms + 1000 || age > max_age_ms) {
			r->stale++;
		} else {
			verdict = 1;
			snprintf(why, sizeof(why), "saved verdict restored (%llu ms old): %s",
				(unsigned long long)age,
				sb->state >= 0 && (size_t)sb->state < NSTATES
					? state_names[sb->state]
					: "?");
		}
	}
	struct bh_saved_extra x;
	int extra = (what & SNAP_TRANSIENT) && sb->have_transient;
	if (extra)
		transient_now(sb, now_unix_ms > written_ms ? now_unix_ms - written_ms : 0, &x);
	if (verdict || extra)
		backend_restore_health(
			b, verdict ? sb->checks : NULL, extra ? &x : NULL, why, now_ms);
	r->verdicts += verdict;
	if ((what & SNAP_COUNTERS) && sb->have_counters) {
		add_backend_counters(b->st, &sb->c);
		r->counters++;
	}
}

void snapshot_apply(struct lb_runtime *rt, const struct snapshot *s, unsigned what,
	uint64_t now_unix_ms, uint64_t now_ms, uint64_t max_age_ms, snapshot_override_set set,
	void *arg, struct snapshot_applied *res)
{
	struct snapshot_applied r = {0};
	size_t matched_svc = 0, matched_be = 0;

	if ((what & SNAP_COUNTERS) && s->have_process) {
		add(&rt->proc->accept_pauses, s->accept_pauses);
		add(&rt->proc->limit_pauses, s->limit_pauses);
	}
	for (size_t i = 0; i < rt->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		const struct snap_service *ss = snapshot_service(s, svc->conf->name);
		if (ss == NULL)
			continue;
		matched_svc++;
		if ((what & SNAP_OPERATOR) && set != NULL && svc->conf->anycast.enabled &&
			(ss->override > ANYCAST_OVERRIDE_NONE || ss->drained) &&
			set(arg, ss->name, ss->override, ss->drained) == 0) {
			r.overrides += ss->override > ANYCAST_OVERRIDE_NONE;
			r.ladders += ss->drained != 0;
		}
		if ((what & SNAP_COUNTERS) && ss->have_counters) {
			add_service_counters(svc->st, &ss->c);
			r.counters++;
		}
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			struct lb_backend *b = &svc->backends[j];
			const struct snap_backend *sb =
				snapshot_backend(s, svc->conf->name, b->conf->address);
			if (sb == NULL)
				continue;
			matched_be++;
			apply_backend(
				b, sb, what, s->written_ms, now_unix_ms, now_ms, max_age_ms, &r);
		}
	}
	r.dropped = (s->nservices - matched_svc) + (s->nbackends - matched_be);
	if (res != NULL)
		*res = r;
}

_Static_assert(sizeof(struct snap_service_counters) % sizeof(uint64_t) == 0, "u64 only");
_Static_assert(sizeof(struct snap_backend_counters) % sizeof(uint64_t) == 0, "u64 only");

/* a -= b, counter by counter, never below 0 (n counters of the same layout). */
static void sub_counters(uint64_t *a, const uint64_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = a[i] > b[i] ? a[i] - b[i] : 0;
}

void snapshot_counters_since(struct snapshot *later, const struct snapshot *earlier)
{
	if (later->have_process && earlier->have_process) {
		later->accept_pauses -= later->accept_pauses > earlier->accept_pauses
						? earlier->accept_pauses
						: later->accept_pauses;
		later->limit_pauses -= later->limit_pauses > earlier->limit_pauses
					       ? earlier->limit_pauses
					       : later->limit_pauses;
	}
	for (size_t i = 0; i < later->nservices; i++) {
		struct snap_service *s = &later->services[i];
		const struct snap_service *e = snapshot_service(earlier, s->name);
		if (s->have_counters && e != NULL && e->have_counters)
			sub_counters((uint64_t *)&s->c, (const uint64_t *)&e->c,
				sizeof(s->c) / sizeof(uint64_t));
	}
	for (size_t i = 0; i < later->nbackends; i++) {
		struct snap_backend *b = &later->backends[i];
		const struct snap_backend *e = snapshot_backend(earlier, b->service, b->address);
		if (b->have_counters && e != NULL && e->have_counters)
			sub_counters((uint64_t *)&b->c, (const uint64_t *)&e->c,
				sizeof(b->c) / sizeof(uint64_t));
	}
}
