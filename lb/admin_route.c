/*
 * DOC: admin routes
 *
 * One function per action, each answering in the operator's words: what changed, what did not
 * and why. Names in paths are URL-decoded one segment at a time, so an encoded '/' stays inside
 * its segment; a backend is found by its address as written in the configuration, or else by
 * the address it parses to ("[0::1]:9001" finds "[::1]:9001").
 *
 * Who may do what: over the unix socket (mode 0600: whoever can open it is root or anylb's own
 * user) everything; over TCP every GET (with global.admin.require_token: all, every GET but
 * /healthz needs the token too), and a POST only with the bearer token. The token is
 * checked before any name is looked up, so a client without it learns nothing but the shape of
 * the API, which is public.
 */
#include "lb/admin_route.h"

#include "bgp/policy.h"
#include "health/state.h"
#include "lb/announcer.h"
#include "lb/backend.h"
#include "lb/metrics.h"
#include "lb/status.h"
#include "lb/status_page.h"
#include "lib/log.h"
#include "lib/duration.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

#define ROUTE_MAX_SEGMENTS 6
#define ROUTE_RELOAD_MSG   16384 /* what a reload may say: one line per problem */

void admin_response_free(struct admin_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* Takes doc (a reference); on failure answers 500 with a fixed body. */
static void set_json(struct admin_response *out, int status, json_t *doc)
{
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(doc);
	free(out->body);
	out->body = NULL;
	out->content_type = CT_JSON;
	if (text != NULL) {
		size_t n = strlen(text);
		char *b = realloc(text, n + 2);
		if (b != NULL) {
			b[n] = '\n';
			b[n + 1] = '\0';
			out->status = status;
			out->body = b;
			out->body_len = n + 1;
			return;
		}
		free(text);
	}
	static const char oom[] = "{\"error\":\"out of memory\"}\n";
	out->status = 500;
	out->body = strdup(oom);
	out->body_len = out->body != NULL ? sizeof(oom) - 1 : 0;
}

void admin_response_error(struct admin_response *out, int status, const char *msg)
{
	set_json(out, status, json_pack("{s:s}", "error", msg));
}

static void errorf(struct admin_response *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errorf(struct admin_response *out, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	admin_response_error(out, status, msg);
}

void admin_route_error(const struct admin_http_req *req, struct admin_response *out)
{
	memset(out, 0, sizeof(*out));
	admin_response_error(out, req->status, req->why != NULL ? req->why : "bad request");
}

static void take_text(struct admin_response *out, const char *ct, char *body, size_t len)
{
	if (body == NULL) {
		admin_response_error(out, 500, "out of memory");
		return;
	}
	out->status = 200;
	out->content_type = ct;
	out->body = body;
	out->body_len = len;
}

static int authorized(const struct admin_route_ctx *ctx, const struct admin_http_req *req,
	struct admin_response *out)
{
	size_t n;

	if (!ctx->tcp)
		return 1;
	const char *t = NULL;
	if (req->auth_seen && !req->auth_too_long)
		t = admin_http_bearer(req->auth, &n);
	if (t == NULL) {
		out->www_auth = "Bearer realm=\"anylb\"";
		admin_response_error(out, 401,
			ctx->token_for_reads
				? "requests over TCP need 'Authorization: Bearer TOKEN' (the token "
				  "of "
				  "global.admin.token_file; global.admin.require_token: all)"
				: "writes over TCP need 'Authorization: Bearer TOKEN' (the token "
				  "of "
				  "global.admin.token_file)");
		return 0;
	}
	if (ctx->token == NULL || !admin_http_token_equal(ctx->token, ctx->token_len, t, n)) {
		out->www_auth = "Bearer realm=\"anylb\", error=\"invalid_token\"";
		admin_response_error(out, 401, "invalid bearer token");
		log_warn("admin: refused a request from %s: invalid bearer token", ctx->peer);
		return 0;
	}
	return 1;
}

static struct lb_service *find_service(struct lb_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->nservices; i++)
		if (strcmp(rt->services[i].conf->name, name) == 0)
			return &rt->services[i];
	return NULL;
}

static struct lb_backend *find_backend(struct lb_service *svc, const char *text)
{
	const struct conf_service *sc = svc->conf;
	char why[ADDR_WHY_MAX];
	struct addr a;

	for (size_t i = 0; i < sc->nbackends; i++)
		if (strcmp(sc->backends[i].address, text) == 0)
			return &svc->backends[i];
	if (addr_parse(text, 0, &a, why, sizeof(why)) < 0)
		return NULL;
	for (size_t i = 0; i < sc->nbackends; i++)
		if (addr_equal(&sc->backends[i].addr, &a))
			return &svc->backends[i];
	return NULL;
}

static void ok_json(struct admin_response *out, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* {"ok": true, "message": ..., and the members of extra (taken)}. */
static void ok_json(struct admin_response *out, json_t *extra, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *doc = json_pack("{s:b,s:s}", "ok", 1, "message", msg);
	if (doc != NULL && extra != NULL && json_object_update(doc, extra) < 0) {
		json_decref(doc);
		doc = NULL;
	}
	json_decref(extra);
	set_json(out, 200, doc);
}

static void do_drain(const struct admin_route_ctx *ctx, struct lb_service *svc,
	struct lb_backend *b, int drain, struct admin_response *out)
{
	const char *addr = b->conf->address, *name = svc->conf->name;

	pthread_mutex_lock(&svc->st->lock);
	int was = b->st->h.draining;
	pthread_mutex_unlock(&svc->st->lock);
	backend_set_draining(b, drain, drain ? "operator drain" : "operator enable", ctx->now_ms);
	const char *st = backend_state_name(
		(enum backend_state)atomic_load_explicit(&b->st->state, memory_order_relaxed));
	log_info("admin: %s backend %s (%s), from %s: now %s", drain ? "drain" : "enable", addr,
		name, ctx->peer, st);
	json_t *extra = json_pack("{s:s,s:s,s:s}", "service", name, "backend", addr, "state", st);
	if (drain && was)
		ok_json(out, extra, "backend %s of service %s was already draining (state %s)",
			addr, name, st);
	else if (drain)
		ok_json(out, extra,
			"backend %s of service %s is draining: new sessions go to other backends, "
			"open sessions go on (state %s)",
			addr, name, st);
	else if (!was)
		ok_json(out, extra, "backend %s of service %s was not draining (state %s)", addr,
			name, st);
	else
		ok_json(out, extra, "backend %s of service %s is enabled again (state %s)", addr,
			name, st);
}

static void do_maint(const struct admin_route_ctx *ctx, struct lb_service *svc,
	struct lb_backend *b, int maint, struct admin_response *out)
{
	const char *addr = b->conf->address, *name = svc->conf->name;

	pthread_mutex_lock(&svc->st->lock);
	int was = b->st->h.maint;
	pthread_mutex_unlock(&svc->st->lock);
	backend_set_maint(b, maint, maint ? "operator maint" : "operator ready", ctx->now_ms);
	const char *st = backend_state_name(
		(enum backend_state)atomic_load_explicit(&b->st->state, memory_order_relaxed));
	log_info("admin: service %s backend %s %s, from %s: now %s", name, addr,
		maint ? "maint" : "ready", ctx->peer, st);
	json_t *extra = json_pack("{s:s,s:s,s:s}", "service", name, "backend", addr, "state", st);
	if (maint && was)
		ok_json(out, extra,
			"backend %s of service %s was already in maintenance (state %s)", addr,
			name, st);
	else if (maint)
		ok_json(out, extra,
			"backend %s of service %s is in maintenance: new sessions go to other "
			"backends, open sessions go on (state %s)",
			addr, name, st);
	else if (!was)
		ok_json(out, extra, "backend %s of service %s was not in maintenance (state %s)",
			addr, name, st);
	else
		ok_json(out, extra,
			"backend %s of service %s is out of maintenance: its checks decide again "
			"(state %s)",
			addr, name, st);
}

/* A weight in the path: a canonical decimal 0..BH_MAX_WEIGHT; -1 for anything else. */
static long parse_weight(const char *s)
{
	long v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > BH_MAX_WEIGHT)
			return -1;
	}
	return v;
}

static void do_weight(const struct admin_route_ctx *ctx, struct lb_service *svc,
	struct lb_backend *b, const char *text, struct admin_response *out)
{
	const char *addr = b->conf->address, *name = svc->conf->name;
	long w = parse_weight(text);

	if (w < 0) {
		errorf(out, 400, "weight '%.32s': a whole number from 0 to %d", text,
			BH_MAX_WEIGHT);
		return;
	}
	unsigned old = backend_set_weight(b, (unsigned)w, ctx->now_ms);
	log_info("admin: service %s backend %s weight %u -> %ld (runtime), from %s", name, addr,
		old, w, ctx->peer);
	json_t *extra = json_pack("{s:s,s:s,s:i,s:I}", "service", name, "backend", addr,
		"runtime_weight", (int)w, "file_weight", (json_int_t)b->conf->weight);
	if (w == 0)
		ok_json(out, extra,
			"backend %s of service %s: weight %u -> 0 (runtime): it takes no new "
			"sessions, open sessions go on",
			addr, name, old);
	else
		ok_json(out, extra,
			"backend %s of service %s: weight %u -> %ld (runtime), until the file "
			"changes its weight (%u there now)",
			addr, name, old, w, b->conf->weight);
}

static void prefixes_text(const struct conf_anycast *ac, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ac->nprefixes && o < cap; i++) {
		int n = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", ac->prefixes[i].text);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static void do_override(const struct admin_route_ctx *ctx, struct lb_service *svc,
	enum anycast_override o, struct admin_response *out)
{
	const char *name = svc->conf->name;
	char pfx[256];

	if (!svc->conf->anycast.enabled) {
		errorf(out, 404, "service %s has no anycast section: there is nothing to %s", name,
			o == ANYCAST_OVERRIDE_NONE ? "hand back to health"
						   : anycast_override_name(o));
		return;
	}
	if (announcer_override(ctx->ann, svc->conf->name, (int)o) < 0) {
		errorf(out, 404, "service %s has anycast, but the announcer is not running", name);
		return;
	}
	runtime_service_changed(svc); /* a state file keeps overrides (lb/state_file.c) */
	prefixes_text(&svc->conf->anycast, pfx, sizeof(pfx));
	log_info("admin: %s service %s (%s), from %s",
		o == ANYCAST_OVERRIDE_NONE ? "clear the override of" : anycast_override_name(o),
		name, pfx, ctx->peer);
	json_t *extra =
		json_pack("{s:s,s:s}", "service", name, "override", anycast_override_name(o));
	switch (o) {
	case ANYCAST_OVERRIDE_WITHDRAW:
		ok_json(out, extra,
			"service %s: %s withdrawn by the operator; health does not announce them "
			"again until 'announce' or 'auto'",
			name, pfx);
		break;
	case ANYCAST_OVERRIDE_ANNOUNCE:
		ok_json(out, extra,
			"service %s: %s announced by the operator whatever its health, until "
			"'withdraw' or 'auto'",
			name, pfx);
		break;
	case ANYCAST_OVERRIDE_NONE:
		ok_json(out, extra, "service %s: operator override cleared; health decides again",
			name);
		break;
	}
}

/*
 * The query's value of key ("window=30s&graceful"): 1 with val (cap bytes) set, "" for a bare
 * key; 0 when absent.
 */
static int query_get(const char *target, const char *key, char *val, size_t cap)
{
	const char *q = strchr(target, '?');
	size_t klen = strlen(key);

	for (q = q != NULL ? q + 1 : NULL; q != NULL && *q != '\0' && *q != '#';) {
		size_t n = strcspn(q, "&#");
		if (n >= klen && strncmp(q, key, klen) == 0 && (n == klen || q[klen] == '=')) {
			size_t vlen = n > klen ? n - klen - 1 : 0;
			if (vlen >= cap)
				vlen = cap - 1;
			memcpy(val, q + klen + (n > klen), vlen);
			val[vlen] = '\0';
			return 1;
		}
		q += n;
		q = *q == '&' ? q + 1 : NULL;
	}
	return 0;
}

/* The ladder's window from ?window=D: UINT64_MAX (bgp.drain_window) when absent; -1 bad. */
static int query_window(const struct admin_http_req *req, uint64_t *ms, struct admin_response *out)
{
	char w[32];

	*ms = UINT64_MAX;
	if (!query_get(req->target, "window", w, sizeof(w)))
		return 0;
	if (duration_parse(w, ms) < 0 || *ms > 3600000) {
		errorf(out, 400, "window '%.31s' is not a duration of at most 1h (like 30s)", w);
		return -1;
	}
	return 0;
}

static void ladder_text(const struct announcer *ann, uint64_t window_ms, char *buf, size_t cap)
{
	char w[32];

	if (!announcer_can_deprefer(ann))
		snprintf(buf, cap,
			"withdrawn now (announce: interface cannot announce "
			"de-preferred), then serving forwarded sessions until they end "
			"or drain_timeout");
	else if (window_ms == UINT64_MAX)
		snprintf(buf, cap,
			"announced de-preferred for bgp.drain_window, then withdrawn, "
			"then serving forwarded sessions until they end or drain_timeout");
	else
		snprintf(buf, cap,
			"announced de-preferred for %s, then withdrawn, then serving "
			"forwarded sessions until they end or drain_timeout",
			duration_format(window_ms, w, (int)sizeof(w)));
}

/*
 * POST /drain-site[?window=D], /undrain-site, /services/NAME/withdraw?graceful[&window=D]: the
 * drain ladder of every anycast service, or of svc.
 */
static void do_ladder(const struct admin_route_ctx *ctx, const struct admin_http_req *req,
	struct lb_service *svc, int drain, struct admin_response *out)
{
	const char *name = svc != NULL ? svc->conf->name : NULL;
	uint64_t window = UINT64_MAX;
	char what[256];

	if (svc != NULL && !svc->conf->anycast.enabled) {
		errorf(out, 404, "service %s has no anycast section: there is nothing to drain",
			name);
		return;
	}
	if (drain && query_window(req, &window, out) < 0)
		return;
	int rc = announcer_drain(ctx->ann, name, drain, window);
	if (rc == -ENOENT && svc == NULL) {
		errorf(out, 404, "no service has an anycast section: there is nothing to drain");
		return;
	}
	if (rc < 0) {
		errorf(out, 404, "anycast is not running here: there is nothing to drain");
		return;
	}
	/* A state file keeps a drained ladder (lb/state_file.c): one change for the writes. */
	for (size_t i = 0; i < ctx->rt->nservices; i++)
		if (ctx->rt->services[i].conf->anycast.enabled &&
			(svc == NULL || svc == &ctx->rt->services[i]))
			runtime_service_changed(&ctx->rt->services[i]);
	ladder_text(ctx->ann, window, what, sizeof(what));
	log_info("admin: %s %s%s, from %s", drain ? "drain" : "undrain",
		name != NULL ? "service " : "the site", name != NULL ? name : "", ctx->peer);
	json_t *extra = json_pack("{s:s,s:s}", "service", name != NULL ? name : "*", "ladder",
		drain ? "drain" : "undrain");
	if (drain)
		ok_json(out, extra, "%s%s: %s; 'anylbctl status' shows the step",
			name != NULL ? "service " : "site", name != NULL ? name : "", what);
	else
		ok_json(out, extra, "%s%s: announced again (as health decides)",
			name != NULL ? "service " : "site", name != NULL ? name : "");
}

static void do_reload(const struct admin_route_ctx *ctx, struct admin_response *out)
{
	if (ctx->hooks == NULL || ctx->hooks->reload == NULL) {
		admin_response_error(out, 501, "reload is not available here");
		return;
	}
	char *msg = calloc(1, ROUTE_RELOAD_MSG);
	if (msg == NULL) {
		admin_response_error(out, 500, "out of memory");
		return;
	}
	log_info("admin: reload, from %s", ctx->peer);
	int rc = ctx->hooks->reload(ctx->hooks->arg, msg, ROUTE_RELOAD_MSG);
	msg[ROUTE_RELOAD_MSG - 1] = '\0';
	if (rc == 0)
		ok_json(out, NULL, "%s", msg[0] != '\0' ? msg : "configuration reloaded");
	else
		admin_response_error(out,
			rc == -EINVAL  ? 422
			: rc == -EBUSY ? 503
				       : 500,
			msg[0] != '\0' ? msg : "reload failed");
	free(msg);
}

/* Runs the backends hook; the generation in ctx may be gone once it returns: names are copies. */
static void backends_change(const struct admin_route_ctx *ctx, int remove, const char *name,
	const char *addr, unsigned weight, const char *zone, struct admin_response *out)
{
	char *msg = calloc(1, ROUTE_RELOAD_MSG);

	if (msg == NULL) {
		admin_response_error(out, 500, "out of memory");
		return;
	}
	int rc = ctx->hooks->backends(
		ctx->hooks->arg, remove, name, addr, weight, zone, msg, ROUTE_RELOAD_MSG);
	msg[ROUTE_RELOAD_MSG - 1] = '\0';
	if (rc == 0) {
		log_info("admin: service %s backend %s %s (runtime), from %s", name, addr,
			remove ? "removed: draining" : "added", ctx->peer);
		ok_json(out,
			json_pack("{s:s,s:s,s:s}", "service", name, "backend", addr, "change",
				remove ? "removed" : "added"),
			remove ? "backend %s of service %s removed (runtime): it takes no new "
				 "sessions, and goes once its sessions end (or at drain_timeout)"
			       : "backend %s of service %s added (runtime): it starts as "
				 "initial_state says and joins the balancers",
			addr, name);
	} else {
		log_warn("admin: service %s backend %s: %s refused, from %s", name, addr,
			remove ? "remove" : "add", ctx->peer);
		admin_response_error(out,
			rc == -EINVAL   ? 422
			: rc == -EEXIST ? 409
			: rc == -EBUSY  ? 503
					: 500,
			msg[0] != '\0' ? msg : "the change could not be applied");
	}
	free(msg);
}

/* POST /services/NAME/backends, body {"address": "A:P", "weight": N, "zone": "Z"}. */
static void do_add(const struct admin_route_ctx *ctx, struct lb_service *svc,
	const struct admin_http_req *req, struct admin_response *out)
{
	char name[CONF_NAME_MAX + 1], why[ADDR_WHY_MAX];
	json_error_t je;
	json_t *doc = req->body != NULL ? json_loadb(req->body, req->body_len, 0, &je) : NULL;
	json_t *a = json_object_get(doc, "address"), *w = json_object_get(doc, "weight");
	json_t *z = json_object_get(doc, "zone");
	struct addr parsed;

	if (!json_is_object(doc) || !json_is_string(a) || (w != NULL && !json_is_integer(w)) ||
		(z != NULL && !json_is_string(z) && !json_is_null(z))) {
		admin_response_error(out, 400,
			"the body must be a JSON object, {\"address\": \"HOST:PORT\", \"weight\": "
			"N, \"zone\": \"Z\"} (weight and zone optional)");
		goto done;
	}
	const char *addr = json_string_value(a);
	json_int_t weight = w != NULL ? json_integer_value(w) : 100;
	const char *zone = json_is_string(z) ? json_string_value(z) : NULL;
	if (addr_parse(addr, 0, &parsed, why, sizeof(why)) < 0) {
		errorf(out, 400, "bad address '%.100s': %s", addr, why);
		goto done;
	}
	if (weight < 1 || weight > CONF_MAX_WEIGHT) {
		errorf(out, 400, "weight %lld: a whole number from 1 to %d", (long long)weight,
			CONF_MAX_WEIGHT);
		goto done;
	}
	if (zone != NULL && (zone[0] == '\0' || strlen(zone) > CONF_NAME_MAX)) {
		errorf(out, 400, "zone: 1 to %d bytes", CONF_NAME_MAX);
		goto done;
	}
	if (find_backend(svc, addr) != NULL) {
		errorf(out, 409, "service %s already has backend %.100s", svc->conf->name, addr);
		goto done;
	}
	if (svc->conf->nbackends >= CONF_MAX_BACKENDS) {
		errorf(out, 409, "service %s has %d backends, the most there may be",
			svc->conf->name, CONF_MAX_BACKENDS);
		goto done;
	}
	snprintf(name, sizeof(name), "%s", svc->conf->name);
	backends_change(ctx, 0, name, addr, (unsigned)weight, zone, out);
done:
	json_decref(doc);
}

/*
 * POST /upgrade, body optional: {"binary": "/path/to/anylb"}. Only the unix socket (root's, mode
 * 0600) may name a binary: over TCP, a token would otherwise be the power to run any program.
 */
static void do_upgrade(const struct admin_route_ctx *ctx, const struct admin_http_req *req,
	struct admin_response *out)
{
	const char *binary = NULL;
	json_t *doc = NULL;
	char msg[1024] = "";

	if (ctx->hooks == NULL || ctx->hooks->upgrade == NULL) {
		admin_response_error(out, 501, "upgrade is not available here");
		return;
	}
	if (req->body != NULL && req->body_len > 0) {
		json_error_t je;
		doc = json_loadb(req->body, req->body_len, 0, &je);
		json_t *b = doc != NULL ? json_object_get(doc, "binary") : NULL;
		if (doc == NULL || !json_is_object(doc) || (b != NULL && !json_is_string(b))) {
			admin_response_error(out, 400,
				"the body must be a JSON object, {\"binary\": \"/path/to/anylb\"}");
			json_decref(doc);
			return;
		}
		binary = b != NULL ? json_string_value(b) : NULL;
	}
	if (binary != NULL && ctx->tcp) {
		admin_response_error(
			out, 403, "only the admin unix socket may name the binary to upgrade to");
		json_decref(doc);
		return;
	}
	log_info("admin: upgrade%s%s, from %s", binary != NULL ? " to " : "",
		binary != NULL ? binary : "", ctx->peer);
	int rc = ctx->hooks->upgrade(ctx->hooks->arg, binary, msg, sizeof(msg));
	json_decref(doc);
	if (rc < 0) {
		admin_response_error(out,
			rc == -EBUSY     ? 409
			: rc == -ENOTSUP ? 501
			: rc == -EINVAL  ? 400
					 : 500,
			msg[0] != '\0' ? msg : "the upgrade could not start");
		return;
	}
	char *body = ctx->hooks->upgrade_status(ctx->hooks->arg);
	json_t *st = body != NULL ? json_loads(body, 0, NULL) : NULL;
	free(body);
	ok_json(out, st, "%s", msg[0] != '\0' ? msg : "upgrade started");
	out->status = out->status == 200 ? 202 : out->status;
}

/* GET /upgrade: where the last upgrade is. */
static void upgrade_status(const struct admin_route_ctx *ctx, struct admin_response *out)
{
	if (ctx->hooks == NULL || ctx->hooks->upgrade_status == NULL) {
		admin_response_error(out, 501, "upgrade is not available here");
		return;
	}
	char *body = ctx->hooks->upgrade_status(ctx->hooks->arg);
	take_text(out, CT_JSON, body, body != NULL ? strlen(body) : 0);
}

/* Splits path (no query) into decoded segments in dec; -1 when a segment cannot be decoded. */
static int split(const char *path, size_t len, char *dec, size_t cap, char **seg, int max)
{
	int n = 0;
	size_t o = 0;

	if (len == 0 || path[0] != '/')
		return -1;
	size_t i = 1;
	for (;;) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		if (n == max)
			return max + 1; /* too many: no route has that many */
		long d = admin_http_url_decode(path + i, j - i, dec + o, cap - o);
		if (d < 0)
			return -1;
		seg[n++] = dec + o;
		o += (size_t)d + 1;
		if (j >= len)
			break;
		i = j + 1;
	}
	return n;
}

void admin_route(const struct admin_route_ctx *ctx, const struct admin_http_req *req,
	struct admin_response *out)
{
	const char *m = req->method;
	int get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
	int post = strcmp(m, "POST") == 0;
	char *seg[ROUTE_MAX_SEGMENTS];

	memset(out, 0, sizeof(*out));
	if (!get && !head && !post) {
		out->allow = "GET, HEAD, POST";
		errorf(out, 405, "method '%s' is not allowed: use GET or POST",
			m[0] != '\0' ? m : "(too long)");
		return;
	}
	size_t plen = strcspn(req->target, "?#");
	char *dec = malloc(plen + ROUTE_MAX_SEGMENTS + 2);
	if (dec == NULL) {
		admin_response_error(out, 500, "out of memory");
		return;
	}
	int n = split(
		req->target, plen, dec, plen + ROUTE_MAX_SEGMENTS + 2, seg, ROUTE_MAX_SEGMENTS);
	if (n < 0) {
		admin_response_error(out, 400, "bad %-escape in the path");
		goto done;
	}
	if (n == 1 &&
		seg[0][0] == '\0') { /* GET /: the page, holding no data: its script asks /status */
		if (post) {
			out->allow = "GET, HEAD";
			errorf(out, 405, "/ takes GET");
		} else {
			status_page(out);
		}
		goto done;
	}
	int is_read = n == 1 && (strcmp(seg[0], "status") == 0 || strcmp(seg[0], "metrics") == 0 ||
					strcmp(seg[0], "healthz") == 0);
	int is_reload = n == 1 && strcmp(seg[0], "reload") == 0;
	int is_ladder = n == 1 &&
			(strcmp(seg[0], "drain-site") == 0 || strcmp(seg[0], "undrain-site") == 0);
	int is_upgrade = n == 1 && strcmp(seg[0], "upgrade") == 0;
	int is_svc = n == 3 && strcmp(seg[0], "services") == 0 &&
		     (strcmp(seg[2], "withdraw") == 0 || strcmp(seg[2], "announce") == 0 ||
			     strcmp(seg[2], "auto") == 0);
	int is_be = n == 5 && strcmp(seg[0], "services") == 0 && strcmp(seg[2], "backends") == 0 &&
		    (strcmp(seg[4], "drain") == 0 || strcmp(seg[4], "enable") == 0 ||
			    strcmp(seg[4], "maint") == 0 || strcmp(seg[4], "ready") == 0);
	int is_add = n == 3 && strcmp(seg[0], "services") == 0 && strcmp(seg[2], "backends") == 0;
	int is_remove = n == 5 && strcmp(seg[0], "services") == 0 &&
			strcmp(seg[2], "backends") == 0 && strcmp(seg[4], "remove") == 0;
	is_be = is_be || is_remove;
	int is_weight = n == 6 && strcmp(seg[0], "services") == 0 &&
			strcmp(seg[2], "backends") == 0 && strcmp(seg[4], "weight") == 0;
	if (!is_read && !is_reload && !is_upgrade && !is_svc && !is_be && !is_weight && !is_add &&
		!is_ladder) {
		errorf(out, 404,
			"no such path: try GET /, /status, /metrics, /healthz or /upgrade, or POST "
			"/services/NAME/backends, "
			"/services/NAME/backends/ADDRESS/drain|enable|maint|ready|remove, "
			"/services/NAME/backends/ADDRESS/weight/N, "
			"/services/NAME/withdraw[?graceful]|announce|auto, /drain-site[?window=D], "
			"/undrain-site, /reload, /upgrade");
		goto done;
	}
	if (is_upgrade && !post) {
		if (ctx->token_for_reads && !authorized(ctx, req, out))
			goto done;
		upgrade_status(ctx, out);
		goto done;
	}
	if (is_read) {
		if (post) {
			out->allow = "GET, HEAD";
			errorf(out, 405, "/%s takes GET", seg[0]);
			goto done;
		}
		/* /healthz tells nothing but "up": probes without the token keep working. */
		if (ctx->token_for_reads && strcmp(seg[0], "healthz") != 0 &&
			!authorized(ctx, req, out))
			goto done;
		struct status_source src = {
			.rt = ctx->rt,
			.ann = ctx->ann,
			.uptime_s = ctx->uptime_s,
			.reload = ctx->hooks != NULL ? ctx->hooks->record : NULL,
			.handoff = ctx->hooks != NULL ? ctx->hooks->handoff : NULL,
			.resolved = ctx->hooks != NULL ? ctx->hooks->resolved : NULL,
		};
		size_t len = 0;
		if (strcmp(seg[0], "status") == 0) {
			char *body = status_json(&src, &len);
			take_text(out, CT_JSON, body, len);
		} else if (strcmp(seg[0], "metrics") == 0) {
			char *body = metrics_text(&src, &len);
			take_text(out, METRICS_CONTENT_TYPE, body, len);
		} else {
			take_text(out, CT_TEXT, strdup("ok\n"), 3);
		}
		goto done;
	}
	if (!post) {
		out->allow = "POST";
		admin_response_error(out, 405, "this path takes POST");
		goto done;
	}
	if (!authorized(ctx, req, out))
		goto done;
	if (is_reload) {
		do_reload(ctx, out);
		goto done;
	}
	if (is_upgrade) {
		do_upgrade(ctx, req, out);
		goto done;
	}
	if (is_ladder) {
		do_ladder(ctx, req, NULL, strcmp(seg[0], "drain-site") == 0, out);
		goto done;
	}
	struct lb_service *svc = find_service(ctx->rt, seg[1]);
	if (svc == NULL) {
		errorf(out, 404, "no service named '%.64s'", seg[1]);
		goto done;
	}
	if (is_svc) {
		enum anycast_override o =
			strcmp(seg[2], "withdraw") == 0   ? ANYCAST_OVERRIDE_WITHDRAW
			: strcmp(seg[2], "announce") == 0 ? ANYCAST_OVERRIDE_ANNOUNCE
							  : ANYCAST_OVERRIDE_NONE;
		char g[8];
		if (o == ANYCAST_OVERRIDE_WITHDRAW &&
			query_get(req->target, "graceful", g, sizeof(g))) {
			do_ladder(ctx, req, svc, 1, out);
			goto done;
		}
		/* announce and auto end a drain ladder too: the operator takes over again. */
		if (o != ANYCAST_OVERRIDE_WITHDRAW && svc->conf->anycast.enabled)
			(void)announcer_drain(ctx->ann, svc->conf->name, 0, 0);
		do_override(ctx, svc, o, out);
		goto done;
	}
	if ((is_add || is_remove) && (ctx->hooks == NULL || ctx->hooks->backends == NULL)) {
		admin_response_error(out, 501, "runtime backends are not available here");
		goto done;
	}
	if (is_add) {
		do_add(ctx, svc, req, out);
		goto done;
	}
	struct lb_backend *b = find_backend(svc, seg[3]);
	if (b == NULL) {
		errorf(out, 404, "service %s has no backend '%.100s'", svc->conf->name, seg[3]);
		goto done;
	}
	if (is_remove) {
		char name[CONF_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", svc->conf->name);
		char *addr = strdup(b->conf->address);
		if (addr == NULL)
			admin_response_error(out, 500, "out of memory");
		else
			backends_change(ctx, 1, name, addr, 0, NULL, out);
		free(addr);
	} else if (is_weight)
		do_weight(ctx, svc, b, seg[5], out);
	else if (strcmp(seg[4], "maint") == 0 || strcmp(seg[4], "ready") == 0)
		do_maint(ctx, svc, b, strcmp(seg[4], "maint") == 0, out);
	else
		do_drain(ctx, svc, b, strcmp(seg[4], "drain") == 0, out);
done:
	free(dec);
}

char *admin_response_bytes(const struct admin_response *r, int head, size_t *len)
{
	char hdr[1024];
	int n = snprintf(hdr, sizeof(hdr),
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s%s%s%s"
		"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		"Connection: close\r\n\r\n",
		r->status, admin_http_reason(r->status),
		r->content_type != NULL ? r->content_type : CT_JSON, r->body_len,
		r->allow != NULL ? "Allow: " : "", r->allow != NULL ? r->allow : "",
		r->allow != NULL ? "\r\n" : "", r->www_auth != NULL ? "WWW-Authenticate: " : "",
		r->www_auth != NULL ? r->www_auth : "", r->www_auth != NULL ? "\r\n" : "",
		r->csp != NULL ? "Content-Security-Policy: " : "", r->csp != NULL ? r->csp : "",
		r->csp != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return NULL;
	size_t body = head ? 0 : r->body_len;
	char *msg = malloc((size_t)n + body + 1);
	if (msg == NULL)
		return NULL;
	memcpy(msg, hdr, (size_t)n);
	if (body > 0)
		memcpy(msg + n, r->body, body);
	msg[(size_t)n + body] = '\0';
	*len = (size_t)n + body;
	return msg;
}
