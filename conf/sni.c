/*
 * DOC: a service's sni section: TLS passthrough routed by server name
 *
 *     sni:
 *       routes: {www.example.org: web, "*.example.net": net}
 *       default: fallback
 *
 * `routes` maps server names to the names of other services in the file (tcp ones; a route to
 * the service itself is fine). A name is a host name, matched without regard to case; one that
 * starts with "*." is a wildcard, which matches one label or more in front of the rest
 * ("*.example.net": a.example.net and a.b.example.net, not example.net). An exact name wins
 * over wildcards, and the longest wildcard over shorter ones (conf_sni_pick()). `default` takes
 * clients with no server name, a name no route matches, or that do not speak TLS; without it
 * they are closed. The target services are looked up once the whole list is read
 * (conf_sni_resolve()), each error at the value that names them.
 */
#include "conf/internal.h"

#include <stdlib.h>
#include <string.h>

enum conf_sni_key { CONF_SNI_ROUTES, CONF_SNI_DEFAULT };

static const struct conf_key conf_sni_keys[] = {
	[CONF_SNI_ROUTES] = {"routes", 0},
	[CONF_SNI_DEFAULT] = {"default", 0},
};

/* Lower-cases name in place, without a trailing dot; 0 when it is a host name (or "*." and one),
 * else -1. */
static int sni_name_ok(char *name, int *wildcard)
{
	char *p = name;
	size_t label = 0, n = strlen(name);

	if (n > 1 && name[n - 1] == '.') /* absolute: the same name */
		name[--n] = '\0';
	*wildcard = n > 2 && p[0] == '*' && p[1] == '.';
	if (*wildcard)
		p += 2;
	if (*p == '\0' || n > 253)
		return -1;
	for (; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		if (*p == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			   *p == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
	}
	return label == 0 ? -1 : 0;
}

static void conf_map_sni_routes(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_sni *sni)
{
	char show[CONF_SHOW_MAX];
	const struct conf_node *key, *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	if (v->n > CONF_SNI_MAX_ROUTES) {
		conf_report_node(
			r, k, v, "'routes': at most %d routes, got %zu", CONF_SNI_MAX_ROUTES, v->n);
		return;
	}
	sni->routes = calloc(v->n ? v->n : 1, sizeof(*sni->routes));
	if (sni->routes == NULL) {
		r->nomem = 1;
		return;
	}
	for (key = conf_map_next(v, NULL, &val); key != NULL; key = conf_map_next(v, key, &val)) {
		struct conf_sni_route *rt = &sni->routes[sni->nroutes];
		if ((rt->name = strdup(key->str)) == NULL) {
			r->nomem = 1;
			return;
		}
		if (sni_name_ok(rt->name, &rt->wildcard) < 0) {
			conf_report_node(r, NULL, key,
				"sni route %s is not a host name or '*.' and one",
				conf_show(key->str, show, sizeof(show)));
			free(rt->name);
			rt->name = NULL;
			continue;
		}
		for (size_t i = 0; i < sni->nroutes; i++) {
			if (strcmp(sni->routes[i].name, rt->name) == 0) {
				char where[CONF_WHERE_MAX];
				conf_where(r, sni->routes[i].pos.file, key->file,
					sni->routes[i].pos.line, where, sizeof(where));
				conf_report_node(r, NULL, key,
					"duplicate sni route %s (first at %s)",
					conf_show(key->str, show, sizeof(show)), where);
				free(rt->name);
				rt->name = NULL;
				break;
			}
		}
		if (rt->name == NULL)
			continue;
		if (conf_get_string(r, key, val, CONF_NAME_MAX, &rt->target) < 0) {
			free(rt->name);
			rt->name = NULL;
			continue;
		}
		rt->pos = conf_node_pos(val);
		sni->nroutes++;
	}
}

void conf_map_sni(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_sni *sni)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) < 0)
		return;
	const struct conf_node *sk = k;
	int written = 0; /* routes or default written, even if wrong (then reported there) */
	sni->enabled = 1;
	sni->pos = conf_node_pos(k);
	for (k = conf_map_next(v, NULL, &val); !conf_node_is_null(v) && k != NULL;
		k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'sni'", conf_sni_keys, CONF_NKEYS(conf_sni_keys));
		if (key < 0)
			continue;
		switch ((enum conf_sni_key)key) {
		case CONF_SNI_ROUTES:
			written |= !conf_node_is_null(val) &&
				   (val->kind != CONF_NODE_MAP || val->n > 0);
			conf_map_sni_routes(r, k, val, sni);
			break;
		case CONF_SNI_DEFAULT:
			written = 1;
			if (conf_get_string(r, k, val, CONF_NAME_MAX, &sni->dflt) == 0)
				sni->dflt_pos = conf_node_pos(val);
			break;
		}
	}
	if (!written && sni->dflt == NULL)
		conf_report_node(r, sk, v,
			"'sni' has no routes and no default: every client would be closed");
}

/* The index of the tcp service called name, or -1 after reporting at pos why not. */
static long sni_target(
	struct conf_report *r, const struct conf *c, const char *name, struct conf_pos pos)
{
	char show[CONF_SHOW_MAX];

	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];
		if (s->name == NULL || strcmp(s->name, name) != 0)
			continue;
		if (s->protocol != CONF_PROTO_TCP) {
			conf_report_pos(r, pos, "sni target %s is a udp service",
				conf_show(name, show, sizeof(show)));
			return -1;
		}
		return (long)i;
	}
	conf_report_pos(r, pos, "sni target %s is not a service in this file",
		conf_show(name, show, sizeof(show)));
	return -1;
}

void conf_sni_resolve(struct conf_report *r, struct conf *c)
{
	for (size_t i = 0; i < c->nservices; i++) {
		struct conf_sni *sni = &c->services[i].sni;
		long t;
		for (size_t j = 0; j < sni->nroutes; j++)
			if ((t = sni_target(r, c, sni->routes[j].target, sni->routes[j].pos)) >= 0)
				sni->routes[j].service = (size_t)t;
		if (sni->dflt != NULL && (t = sni_target(r, c, sni->dflt, sni->dflt_pos)) >= 0)
			sni->dflt_service = (size_t)t;
	}
}

/* Whether name ends in the wildcard's suffix ("*.b.c": ".b.c") after at least one byte. */
static int wildcard_match(const char *wild, const char *name, size_t nlen)
{
	const char *suffix = wild + 1; /* ".b.c" */
	size_t slen = strlen(suffix);

	return nlen > slen && strcmp(name + nlen - slen, suffix) == 0;
}

long conf_sni_pick(const struct conf_sni *sni, const char *name, int *routed)
{
	const struct conf_sni_route *best = NULL;
	size_t nlen = name != NULL ? strlen(name) : 0, blen = 0;

	*routed = 1;
	if (nlen == 0) {
		*routed = 0;
		return sni->dflt != NULL ? (long)sni->dflt_service : -1;
	}
	for (size_t i = 0; i < sni->nroutes; i++) {
		const struct conf_sni_route *rt = &sni->routes[i];
		if (!rt->wildcard) {
			if (strcmp(rt->name, name) == 0)
				return (long)rt->service;
			continue;
		}
		size_t len = strlen(rt->name);
		if (len > blen && wildcard_match(rt->name, name, nlen)) {
			best = rt;
			blen = len;
		}
	}
	if (best != NULL)
		return (long)best->service;
	*routed = 0;
	return sni->dflt != NULL ? (long)sni->dflt_service : -1;
}

void conf_sni_free(struct conf_sni *sni)
{
	for (size_t i = 0; i < sni->nroutes; i++) {
		free(sni->routes[i].name);
		free(sni->routes[i].target);
	}
	free(sni->routes);
	free(sni->dflt);
	memset(sni, 0, sizeof(*sni));
}

void conf_sni_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "services[].sni", conf_sni_keys, CONF_NKEYS(conf_sni_keys));
}
