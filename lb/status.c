/*
 * DOC: the /status document
 *
 * One jansson tree per request, built and freed on the caller's thread. Counters are read with
 * relaxed atomics one by one: a page is a snapshot of each number, not of all of them at one
 * instant, which is what every stats page of a running proxy is. The strings guarded by a
 * service's lock (a backend's reason, its certificate's expiry) are copied out under that lock,
 * one backend at a time, so a status request never holds a lock while it allocates or formats.
 */
#include "lb/status.h"

#include "conf/resolved.h"

#include "bgp/bird_reply.h"
#include "bgp/ladder.h"
#include "bgp/policy.h"
#include "health/state.h"
#include "lb/announcer.h"
#include "lb/backend.h"
#include "lb/handoff.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef ANYLB_VERSION
#define ANYLB_VERSION "unknown"
#endif

#define STATUS_BGP_START 32 /* protocols asked for first; more when BIRD has more */

int status_redundancy(const struct lb_service *svc, struct redundancy_report *out)
{
	const struct conf_service *sc = svc->conf;
	struct redundancy_backend one = {0}, *in = &one;

	if (sc->nbackends > 1) {
		in = calloc(sc->nbackends, sizeof(*in));
		if (in == NULL) {
			memset(out, 0, sizeof(*out));
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < sc->nbackends; i++) {
		const struct lb_backend *b = &svc->backends[i];
		in[i] = (struct redundancy_backend){
			.zone = sc->backends[i].zone,
			.weight = backend_base_weight(b),
			.max_connections = sc->backends[i].max_connections,
			.ready = backend_accepts(b),
		};
	}
	uint64_t load = atomic_load_explicit(&svc->st->active, memory_order_relaxed);
	int rc = redundancy_compute(in, sc->nbackends, sc->max_connections, load, out);
	if (in != &one)
		free(in);
	return rc;
}

const char *status_iso8601(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

struct bird_protocol *status_bgp_sessions(struct announcer *ann, size_t *n, int *connected)
{
	size_t cap = STATUS_BGP_START, got;
	struct bird_protocol *v = NULL;

	*n = 0;
	*connected = 0;
	if (ann == NULL)
		return NULL;
	for (;;) {
		struct bird_protocol *nv = realloc(v, cap * sizeof(*v));
		if (nv == NULL) {
			free(v);
			return NULL;
		}
		v = nv;
		got = announcer_protocols(ann, v, cap, connected);
		if (got <= cap)
			break;
		cap = got; /* BIRD grew between two polls: ask again with room */
	}
	size_t k = 0;
	for (size_t i = 0; i < got; i++)
		if (strcasecmp(v[i].proto, "BGP") == 0)
			v[k++] = v[i];
	if (k == 0) {
		free(v);
		return NULL;
	}
	*n = k;
	return v;
}

/* Sets key to a new value; a NULL value (allocation failed) marks the document as failed. */
static void put(json_t *o, const char *key, json_t *v, int *nomem)
{
	if (v == NULL || json_object_set_new(o, key, v) < 0)
		*nomem = 1;
}

static void push(json_t *a, json_t *v, int *nomem)
{
	if (v == NULL || json_array_append_new(a, v) < 0)
		*nomem = 1;
}

static json_t *u64(uint64_t v)
{
	/* json_int_t is long long: counters of this size take longer than the sun's life. */
	return json_integer((json_int_t)(v > (uint64_t)INT64_MAX ? INT64_MAX : v));
}

static json_t *load_u64(const _Atomic uint64_t *p)
{
	return u64(atomic_load_explicit(p, memory_order_relaxed));
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/*
 * One check of one backend: its counters, and its last run as copied under the service lock
 * (last_result "ok" or the failure, when it ended, how long it took; null before the first).
 */
static json_t *check_json(const struct conf_check *cc, const struct lb_check_stats *st,
	const struct lb_check_last *last, int *nomem)
{
	char when[32];

	if (!cc->enabled)
		return json_null();
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	int ran = last->at_ms != 0;
	put(o, "type", json_string(conf_check_type_name(cc->type)), nomem);
	put(o, "ok", load_u64(&st->ok), nomem);
	put(o, "failed", load_u64(&st->failed), nomem);
	put(o, "last_ok", ran ? json_boolean(last->ok) : json_null(), nomem);
	put(o, "last_result", ran ? json_string(last->reason) : json_null(), nomem);
	put(o, "last_run",
		ran ? json_string(status_iso8601((int64_t)(last->at_ms / 1000), when, sizeof(when)))
		    : json_null(),
		nomem);
	put(o, "last_run_ms", ran ? u64(last->at_ms) : json_null(), nomem);
	put(o, "last_duration_ms",
		ran ? json_real((double)last->duration_us / 1000.0) : json_null(), nomem);
	return o;
}

/* Backends removed while they had sessions, appended to bs: draining until the last one ends. */
static void retired_json(struct lb_service_state *ss, json_t *bs, int *nomem)
{
	pthread_mutex_lock(&ss->lock);
	runtime_retired_prune(ss);
	for (const struct lb_retired *r = ss->retired; r != NULL && bs != NULL; r = r->next) {
		char reason[sizeof(r->st->h.reason)];
		json_t *o = json_object();
		memcpy(reason, r->st->h.reason, sizeof(reason));
		reason[sizeof(reason) - 1] = '\0';
		put(o, "address", json_string(r->address), nomem);
		put(o, "zone", json_null(), nomem);
		put(o, "added", json_string("removed"), nomem);
		put(o, "state", json_string("draining"), nomem);
		put(o, "reason", json_string(reason), nomem);
		put(o, "active", json_integer(atomic_load(&r->st->active)), nomem);
		put(o, "sessions", load_u64(&r->st->sessions), nomem);
		push(bs, o, nomem);
	}
	pthread_mutex_unlock(&ss->lock);
}

static json_t *backend_json(struct lb_service *svc, size_t i, int *nomem)
{
	struct lb_backend *b = &svc->backends[i];
	const struct conf_backend *cb = b->conf;
	const struct conf_health *h = &svc->conf->health;
	char reason[sizeof(b->st->h.reason)], when[32];
	struct lb_check_last last[2];
	int64_t not_after;

	pthread_mutex_lock(&svc->st->lock);
	memcpy(reason, b->st->h.reason, sizeof(reason));
	memcpy(last, b->st->last, sizeof(last));
	not_after = b->st->cert_not_after;
	pthread_mutex_unlock(&svc->st->lock);
	reason[sizeof(reason) - 1] = '\0';
	last[0].reason[sizeof(last[0].reason) - 1] = last[1].reason[sizeof(last[1].reason) - 1] =
		'\0';

	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	enum backend_state st =
		(enum backend_state)atomic_load_explicit(&b->st->state, memory_order_relaxed);
	put(o, "address", json_string(cb->address), nomem);
	put(o, "zone", str_or_null(cb->zone), nomem);
	put(o, "weight", json_integer(cb->weight), nomem);
	int rw = atomic_load_explicit(&b->st->runtime_weight, memory_order_relaxed);
	if (rw >= 0)
		put(o, "runtime_weight", json_integer(rw), nomem);
	put(o, "effective_weight", json_integer(backend_weight(b)), nomem);
	put(o, "max_connections", json_integer(cb->max_connections), nomem);
	put(o, "backup", json_boolean(cb->backup), nomem);
	/* "file", or "runtime": added by anylbctl add-backend (conf/overlay.h) */
	put(o, "added", json_string(cb->runtime ? "runtime" : "file"), nomem);
	/* The NAME:PORT entry whose answer made it (conf/resolved.h), or null. */
	put(o, "resolved_from", str_or_null(cb->from), nomem);
	put(o, "state", json_string(backend_state_name(st)), nomem);
	put(o, "reason", json_string(reason), nomem);
	put(o, "active", json_integer(atomic_load_explicit(&b->st->active, memory_order_relaxed)),
		nomem);
	put(o, "sessions", load_u64(&b->st->sessions), nomem);
	put(o, "connect_fails", load_u64(&b->st->connect_fails), nomem);
	put(o, "ejections", load_u64(&b->st->ejections), nomem);
	put(o, "closed_dead", load_u64(&b->st->closed_dead), nomem);
	put(o, "bytes_in", load_u64(&b->st->bytes_in), nomem);
	put(o, "bytes_out", load_u64(&b->st->bytes_out), nomem);
	json_t *checks = json_object();
	if (checks != NULL) {
		put(checks, "liveness",
			check_json(&h->liveness, &b->st->checks[0], &last[0], nomem), nomem);
		put(checks, "readiness",
			check_json(&h->readiness, &b->st->checks[1], &last[1], nomem), nomem);
	}
	put(o, "checks", checks, nomem);
	put(o, "cert_not_after",
		not_after != 0 ? json_string(status_iso8601(not_after, when, sizeof(when)))
			       : json_null(),
		nomem);
	return o;
}

static json_t *redundancy_json(const struct lb_service *svc, int *nomem)
{
	struct redundancy_report r;
	char text[16];

	if (status_redundancy(svc, &r) < 0) {
		*nomem = 1;
		return NULL;
	}
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	put(o, "text", json_string(redundancy_text(&r, text, sizeof(text))), nomem);
	put(o, "k", json_integer(r.k), nomem);
	put(o, "domains", json_integer(r.domains), nomem);
	put(o, "capacity", r.capacity == REDUNDANCY_UNBOUNDED ? json_null() : u64(r.capacity),
		nomem);
	put(o, "load", u64(r.load), nomem);
	json_t *largest = json_null();
	if (r.domains > 0) {
		largest = json_object();
		if (largest != NULL) {
			put(largest, "zone", str_or_null(r.largest_zone), nomem);
			put(largest, "capacity",
				r.largest == REDUNDANCY_UNBOUNDED ? json_null() : u64(r.largest),
				nomem);
		}
	}
	put(o, "largest_domain", largest, nomem);
	put(o, "overloaded", json_boolean(r.overloaded), nomem);
	return o;
}

static json_t *anycast_json(struct announcer *ann, const struct lb_service *svc, int *nomem)
{
	const struct conf_anycast *ac = &svc->conf->anycast;
	struct announcer_status st;
	json_t *o = json_object(), *pfx = json_array();

	if (o == NULL || pfx == NULL) {
		json_decref(o);
		json_decref(pfx);
		return NULL;
	}
	int have = ac->enabled && announcer_status(ann, svc->conf->name, &st) == 0;
	put(o, "enabled", json_boolean(ac->enabled), nomem);
	put(o, "announced", json_boolean(have && st.announced), nomem);
	put(o, "state",
		have ? json_string(anycast_state_name((enum anycast_state)st.state)) : json_null(),
		nomem);
	put(o, "override",
		have ? json_string(anycast_override_name((enum anycast_override)st.override))
		     : json_null(),
		nomem);
	if (have)
		put(o, "reason", json_string(st.reason), nomem);
	else
		put(o, "reason",
			ac->enabled ? json_string("the announcer is not running") : json_null(),
			nomem);
	put(o, "flaps", json_integer(have ? st.flaps : 0), nomem);
	put(o, "delay_ms", have ? u64(st.delay_ms) : json_null(), nomem);
	for (size_t i = 0; i < ac->nprefixes; i++)
		push(pfx, json_string(ac->prefixes[i].text), nomem);
	put(o, "prefixes", pfx, nomem);
	/* Whether BIRD really has each prefix in its table: null until it answered. */
	json_t *in_bird = json_object();
	for (size_t i = 0; in_bird != NULL && i < ac->nprefixes; i++)
		put(in_bird, ac->prefixes[i].text,
			have && st.routes_known && i < 64 ? json_boolean((st.in_bird >> i) & 1)
							  : json_null(),
			nomem);
	put(o, "in_bird", in_bird, nomem);
	/* The drain ladder (bgp/ladder.h): its step, and what the mechanism holds. */
	json_t *l = json_object();
	if (l != NULL && have) {
		put(l, "step", json_string(ladder_step_name((enum ladder_step)st.ladder_step)),
			nomem);
		put(l, "left_ms", u64(st.ladder_left_ms), nomem);
		put(l, "window_ms", u64(st.ladder_window_ms), nomem);
		put(l, "drain_timeout_ms", u64(st.ladder_timeout_ms), nomem);
		put(l, "reason", json_string(st.ladder_reason), nomem);
	}
	put(o, "ladder", have ? l : json_null(), nomem);
	if (!have)
		json_decref(l);
	put(o, "depreferred", json_boolean(have && st.level == 2), nomem);
	return o;
}

/*
 * The site's place on the drain ladder: the least advanced step of the anycast services that
 * are on it (announced when none is), and the most time left at that step.
 */
static json_t *site_ladder_json(const struct status_source *src, int *nomem)
{
	const struct lb_runtime *rt = src->rt;
	int step = -1;
	uint64_t left = 0;
	size_t on = 0, n = 0;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < rt->nservices; i++) {
		struct announcer_status st;
		if (!rt->services[i].conf->anycast.enabled ||
			announcer_status(src->ann, rt->services[i].conf->name, &st) < 0)
			continue;
		n++;
		if (st.ladder_step == LADDER_ANNOUNCED)
			continue;
		on++;
		if (step < 0 || st.ladder_step < step) {
			step = st.ladder_step;
			left = st.ladder_left_ms;
		} else if (st.ladder_step == step && st.ladder_left_ms > left) {
			left = st.ladder_left_ms;
		}
	}
	put(o, "step",
		json_string(ladder_step_name(step < 0 ? LADDER_ANNOUNCED : (enum ladder_step)step)),
		nomem);
	put(o, "left_ms", u64(left), nomem);
	put(o, "services", json_integer((json_int_t)n), nomem);
	put(o, "on_ladder", json_integer((json_int_t)on), nomem);
	put(o, "can_deprefer", json_boolean(announcer_can_deprefer(src->ann)), nomem);
	return o;
}

/* The service queue: who waits now, its bounds, and what became of the ones that waited. */
static json_t *queue_json(const struct lb_service *svc, int *nomem)
{
	const struct queue *q = &svc->st->queue;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	put(o, "length", json_integer(atomic_load_explicit(&q->len, memory_order_relaxed)), nomem);
	put(o, "max", json_integer(svc->conf->queue_max), nomem);
	put(o, "timeout_ms", json_integer((json_int_t)svc->conf->timeouts.queue_ms), nomem);
	put(o, "queued", load_u64(&q->queued), nomem);
	put(o, "served", load_u64(&q->served), nomem);
	put(o, "full", load_u64(&q->full), nomem);
	put(o, "timeouts", load_u64(&q->timeouts), nomem);
	return o;
}

/* A udp service's flows and datagrams (lb/udp_listener.h). */
static json_t *udp_json(const struct lb_service *svc, int *nomem)
{
	const struct lb_udp_stats *u = &svc->st->udp;
	const struct conf_udp *c = &svc->conf->udp;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	put(o, "responses", json_integer(c->responses), nomem);
	put(o, "max_flows", json_integer(c->max_flows), nomem);
	put(o, "reply_timeout_ms", json_integer((json_int_t)c->reply_timeout_ms), nomem);
	put(o, "idle_timeout_ms", json_integer((json_int_t)svc->conf->timeouts.udp_idle_ms), nomem);
	put(o, "flows_active", load_u64(&u->flows_active), nomem);
	put(o, "flows_created", load_u64(&u->flows_created), nomem);
	put(o, "flows_evicted", load_u64(&u->flows_evicted), nomem);
	put(o, "datagrams_in", load_u64(&u->rx), nomem);
	put(o, "datagrams_out", load_u64(&u->tx), nomem);
	put(o, "bytes_in", load_u64(&u->rx_bytes), nomem);
	put(o, "bytes_out", load_u64(&u->tx_bytes), nomem);
	put(o, "replies_missing", load_u64(&u->replies_missing), nomem);
	put(o, "dropped", load_u64(&u->dropped), nomem);
	put(o, "backend_errors", load_u64(&u->backend_errors), nomem);
	return o;
}

static json_t *time_or_null(uint64_t ms)
{
	char t[32];

	return ms == 0 ? json_null()
		       : json_string(status_iso8601((int64_t)(ms / 1000), t, sizeof(t)));
}

/* The service's NAME:PORT entries: each one's answer in force and its last lookups. */
static json_t *names_json(
	const struct status_source *src, const struct conf_service *sc, int *nomem)
{
	static const char *const families[] = {[CONF_FAMILY_ANY] = "any",
		[CONF_FAMILY_IPV4] = "ipv4",
		[CONF_FAMILY_IPV6] = "ipv6"};
	json_t *v = json_array();

	for (size_t i = 0; v != NULL && i < sc->nnames && !*nomem; i++) {
		const struct conf_name *nm = &sc->names[i];
		const struct resolved_entry *e =
			src->resolved != NULL ? resolved_find(src->resolved, sc->name, nm->address)
					      : NULL;
		json_t *o = json_object(), *addrs = json_array();
		if (o == NULL || addrs == NULL) {
			json_decref(o);
			json_decref(addrs);
			*nomem = 1;
			break;
		}
		put(o, "address", json_string(nm->address), nomem);
		put(o, "family", json_string(families[nm->family]), nomem);
		put(o, "resolve_interval_ms", u64(nm->interval_ms), nomem);
		for (size_t j = 0; e != NULL && j < e->n; j++) {
			char text[ADDR_STRLEN];
			push(addrs, json_string(addr_format(&e->v[j], text, sizeof(text))), nomem);
		}
		put(o, "addresses", addrs, nomem);
		put(o, "resolved", time_or_null(e != NULL ? e->resolved_ms : 0), nomem);
		put(o, "failing", json_boolean(e == NULL || e->failing || !e->have), nomem);
		put(o, "last_failure", time_or_null(e != NULL ? e->failed_ms : 0), nomem);
		put(o, "last_error",
			e != NULL && e->error[0] != '\0' ? json_string(e->error) : json_null(),
			nomem);
		json_t *n = json_object();
		if (n != NULL && e != NULL) {
			put(n, "same", u64(e->n_same), nomem);
			put(n, "changed", u64(e->n_changed), nomem);
			put(n, "failed", u64(e->n_failed), nomem);
		}
		put(o, "lookups", n, nomem);
		push(v, o, nomem);
	}
	return v;
}

static json_t *service_json(const struct status_source *src, struct lb_service *svc, int *nomem)
{
	const struct conf_service *sc = svc->conf;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	put(o, "name", json_string(sc->name), nomem);
	json_t *listen = json_array();
	for (size_t i = 0; listen != NULL && i < sc->nlisten; i++)
		push(listen, json_string(sc->listen[i].address), nomem);
	put(o, "listen", listen, nomem);
	put(o, "balance", json_string(conf_balance_name(sc->balance)), nomem);
	put(o, "max_connections", json_integer(sc->max_connections), nomem);
	put(o, "panic_threshold", json_integer(sc->panic_threshold_pct), nomem);
	put(o, "panic", json_boolean(atomic_load_explicit(&svc->st->panic, memory_order_relaxed)),
		nomem);
	put(o, "active", json_integer(atomic_load_explicit(&svc->st->active, memory_order_relaxed)),
		nomem);
	put(o, "protocol", json_string(sc->protocol == CONF_PROTO_UDP ? "udp" : "tcp"), nomem);
	if (sc->protocol == CONF_PROTO_UDP)
		put(o, "udp", udp_json(svc, nomem), nomem);
	else
		put(o, "queue", queue_json(svc, nomem), nomem);
	json_t *c = json_object(), *res = json_object();
	if (c != NULL && res != NULL) {
		put(c, "accepted", load_u64(&svc->st->accepted), nomem);
		put(c, "refused_limit", load_u64(&svc->st->refused_limit), nomem);
		put(c, "no_backend", load_u64(&svc->st->no_backend), nomem);
		put(c, "retries", load_u64(&svc->st->retries), nomem);
		put(c, "proxy_header_errors", load_u64(&svc->st->proxy_header_errors), nomem);
		put(c, "sni_routed", load_u64(&svc->st->sni_routed), nomem);
		put(c, "sni_default", load_u64(&svc->st->sni_default), nomem);
		put(c, "sni_errors", load_u64(&svc->st->sni_errors), nomem);
		put(c, "denied", load_u64(&svc->st->denied), nomem);
		put(c, "rate_limited", load_u64(&svc->st->rate_limited), nomem);
		put(c, "rate_limit_evictions", load_u64(&svc->st->rate_limit_evictions), nomem);
		for (int r = 0; r < LB_RESULT_COUNT; r++)
			put(res, lb_result_name((enum lb_result)r), load_u64(&svc->st->results[r]),
				nomem);
		put(c, "results", res, nomem);
		res = NULL;
	}
	json_decref(res);
	put(o, "counters", c, nomem);
	put(o, "redundancy", redundancy_json(svc, nomem), nomem);
	put(o, "anycast", anycast_json(src->ann, svc, nomem), nomem);
	json_t *bs = json_array();
	for (size_t i = 0; bs != NULL && i < sc->nbackends && !*nomem; i++)
		push(bs, backend_json(svc, i, nomem), nomem);
	retired_json(svc->st, bs, nomem);
	put(o, "backends", bs, nomem);
	put(o, "names", names_json(src, sc, nomem), nomem);
	return o;
}

static json_t *bgp_json(const struct status_source *src, int *nomem)
{
	json_t *o = json_object(), *sessions = json_array();
	size_t n;
	int connected;

	if (o == NULL || sessions == NULL) {
		json_decref(o);
		json_decref(sessions);
		return NULL;
	}
	struct bird_protocol *v = status_bgp_sessions(src->ann, &n, &connected);
	put(o, "enabled", json_boolean(src->rt->conf->bgp.enabled), nomem);
	put(o, "connected", json_boolean(connected), nomem);
	put(o, "ladder", site_ladder_json(src, nomem), nomem);
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_object();
		if (s != NULL) {
			put(s, "name", json_string(v[i].name), nomem);
			put(s, "state", json_string(v[i].state), nomem);
			put(s, "info", json_string(v[i].info), nomem);
			put(s, "since", json_string(v[i].since), nomem);
			put(s, "established", json_boolean(strcmp(v[i].info, "Established") == 0),
				nomem);
		}
		push(sessions, s, nomem);
	}
	free(v);
	put(o, "sessions", sessions, nomem);
	return o;
}

/* Counts, the generation in force, and the last reload's outcome with its error lines. */
static json_t *reload_json(const struct reload_record *rr, uint64_t generation, int *nomem)
{
	const struct reload_record none = {.last_ok = 1};
	json_t *o = json_object(), *errors = json_array();

	if (rr == NULL)
		rr = &none;
	put(o, "ok", u64(rr->ok), nomem);
	put(o, "failed", u64(rr->failed), nomem);
	put(o, "generation", u64(generation), nomem);
	if (rr->last_unix != 0) {
		char t[32];
		put(o, "last", json_string(status_iso8601(rr->last_unix, t, sizeof(t))), nomem);
		put(o, "last_result", json_string(rr->last_ok ? "ok" : "failed"), nomem);
	} else {
		put(o, "last", json_null(), nomem);
		put(o, "last_result", json_null(), nomem);
	}
	for (const char *p = rr->last_error; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		push(errors, json_stringn(p, n), nomem);
		p += n + (p[n] == '\n');
	}
	put(o, "last_errors", errors, nomem);
	return o;
}

char *status_json(const struct status_source *src, size_t *len)
{
	struct lb_runtime *rt = src->rt;
	int nomem = 0;
	json_t *doc = json_object(), *svcs = json_array();

	if (doc == NULL || svcs == NULL) {
		json_decref(doc);
		json_decref(svcs);
		return NULL;
	}
	put(doc, "site", json_string(rt->conf->global.site), &nomem);
	put(doc, "version", json_string(ANYLB_VERSION), &nomem);
	/* Milliseconds are enough; more digits only look precise. */
	put(doc, "uptime", json_real((double)(long long)(src->uptime_s * 1000.0) / 1000.0), &nomem);
	put(doc, "active",
		json_integer(atomic_load_explicit(&rt->proc->active, memory_order_relaxed)),
		&nomem);
	put(doc, "max_connections", json_integer(rt->conf->global.max_connections), &nomem);
	put(doc, "accept_pauses", load_u64(&rt->proc->accept_pauses), &nomem);
	put(doc, "limit_pauses", load_u64(&rt->proc->limit_pauses), &nomem);
	put(doc, "reloads", reload_json(src->reload, rt->generation, &nomem), &nomem);
	for (size_t i = 0; i < rt->nservices && !nomem; i++)
		push(svcs, service_json(src, &rt->services[i], &nomem), &nomem);
	put(doc, "services", svcs, &nomem);
	put(doc, "bgp", bgp_json(src, &nomem), &nomem);
	put(doc, "flow_handoff", lb_handoff_status_json(src->handoff), &nomem);
	char *text = nomem ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL)
		return NULL;
	size_t n = strlen(text);
	/* A final newline: curl and cat leave the prompt where it belongs. */
	char *out = realloc(text, n + 2);
	if (out == NULL) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	if (len != NULL)
		*len = n + 1;
	return out;
}
