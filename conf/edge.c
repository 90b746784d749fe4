/*
 * DOC: a service's edge: who may connect, how often, and keepalive
 *
 * `allow` and `deny` are prefixes (lib/cidr.h), one or a list; a prefix with host bits set is
 * refused with the spelling to write, not masked (a typo there would silently match another
 * network). `rate_limit` is a per-source token bucket (lb/ratelimit.h): `rate` written as
 * `N/s` or `N/m`. `tcp_keepalive` has a section per side, `client` and `backend`, each with
 * idle, interval and count; a side that is written (even `client: {}`) is on with the
 * defaults, a side that is not keeps the kernel's (keepalive off).
 *
 * All of it is per-generation configuration: a reload applies it to the connections accepted
 * from then on (conf/reload.c does not look at it).
 */
#include "conf/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum conf_rate_key { CONF_RATE_RATE, CONF_RATE_BURST, CONF_RATE_MAX_SOURCES };

static const struct conf_key conf_rate_keys[] = {
	[CONF_RATE_RATE] = {"rate", 0},
	[CONF_RATE_BURST] = {"burst", 0},
	[CONF_RATE_MAX_SOURCES] = {"max_sources", 0},
};

enum conf_ka_key { CONF_KA_CLIENT, CONF_KA_BACKEND };

static const struct conf_key conf_ka_keys[] = {
	[CONF_KA_CLIENT] = {"client", 0},
	[CONF_KA_BACKEND] = {"backend", 0},
};

enum conf_ka_side_key { CONF_KA_IDLE, CONF_KA_INTERVAL, CONF_KA_COUNT };

static const struct conf_key conf_ka_side_keys[] = {
	[CONF_KA_IDLE] = {"idle", 0},
	[CONF_KA_INTERVAL] = {"interval", 0},
	[CONF_KA_COUNT] = {"count", 0},
};

#define CONF_RATE_MAX     1000000u /* a second; the same bound for burst */
#define CONF_KA_MAX_S     7200u    /* 2h, what operators set at most; the kernel takes 32767 */
#define CONF_KA_MAX_COUNT 127u     /* the kernel's MAX_TCP_KEEPCNT */
#define CONF_SOURCES_DFLT 65536u

static int conf_get_cidr(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, struct cidr *c)
{
	char show[CONF_SHOW_MAX], why[CIDR_WHY_MAX];
	const char *s;

	if (conf_get_word(r, k, v, "a prefix such as 10.0.0.0/8", &s) < 0)
		return -1;
	if (cidr_parse(s, c, why, sizeof(why)) < 0) {
		conf_report_node(r, k, v, "'%s': bad prefix %s: %s", k->str,
			conf_show(s, show, sizeof(show)), why);
		return -1;
	}
	return 0;
}

void conf_map_cidrs(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct cidr **out, size_t *n)
{
	char desc[CONF_SHOW_MAX];
	const struct conf_node *item = v;
	size_t count = 1;

	if (v->kind == CONF_NODE_BAD)
		return;
	if (conf_node_is_null(v) || (v->kind == CONF_NODE_LIST && v->n == 0)) {
		conf_report_node(r, k, v,
			"'%s' is empty: list at least one prefix, or leave it out", k->str);
		return;
	}
	if (v->kind == CONF_NODE_MAP) {
		conf_report_node(r, k, v, "'%s': expected a prefix or a list of prefixes, got %s",
			k->str, conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	if (v->kind == CONF_NODE_LIST) {
		item = v->first;
		count = v->n;
	}
	if (count > CONF_MAX_CIDRS) {
		conf_report_node(r, k, v, "'%s' has %zu entries, more than %u", k->str, count,
			CONF_MAX_CIDRS);
		return;
	}
	free(*out);
	*out = calloc(count, sizeof(**out));
	*n = 0;
	if (*out == NULL) {
		r->nomem = 1;
		return;
	}
	for (size_t i = 0; i < count && item != NULL; i++, item = item->next) {
		if (item->kind == CONF_NODE_LIST || item->kind == CONF_NODE_MAP) {
			conf_report_node(r, NULL, item, "'%s': expected a prefix, got %s", k->str,
				conf_node_desc(item, desc, sizeof(desc)));
			continue;
		}
		if (conf_get_cidr(r, k, item, &(*out)[*n]) == 0)
			(*n)++;
	}
}

/* "100/s" or "6000/m": connections a minute in *per_min. */
static int conf_get_rate(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, uint64_t *per_min)
{
	char show[CONF_SHOW_MAX], num[24];
	const char *s;
	uint64_t n;

	if (conf_get_word(r, k, v, "a rate such as 100/s", &s) < 0)
		return -1;
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : 0;
	if (slash == NULL || len == 0 || len >= sizeof(num) ||
		(strcmp(slash, "/s") != 0 && strcmp(slash, "/m") != 0)) {
		conf_report_node(r, k, v,
			"'%s': bad rate %s: write connections per second or "
			"minute, such as '100/s' or '30/m'",
			k->str, conf_show(s, show, sizeof(show)));
		return -1;
	}
	memcpy(num, s, len);
	num[len] = '\0';
	uint64_t mul = slash[1] == 's' ? 60 : 1;
	if (conf_parse_u64(num, &n) < 0 || n == 0 || n * mul > (uint64_t)CONF_RATE_MAX * 60 ||
		n > (uint64_t)CONF_RATE_MAX * 60) {
		conf_report_node(r, k, v, "'%s': bad rate %s: between 1/m and %u/s", k->str,
			conf_show(s, show, sizeof(show)), CONF_RATE_MAX);
		return -1;
	}
	*per_min = n * mul;
	return 0;
}

void conf_map_rate_limit(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_rate_limit *rl)
{
	const struct conf_node *key, *val;
	int have_rate = 0, have_burst = 0;

	rl->pos = conf_node_pos(k);
	rl->max_sources = CONF_SOURCES_DFLT;
	int sec = conf_get_section(r, k, v);
	if (sec < 0)
		return;
	for (key = sec > 0 ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, "in 'rate_limit'", conf_rate_keys, CONF_NKEYS(conf_rate_keys));
		if (i < 0)
			continue;
		switch ((enum conf_rate_key)i) {
		case CONF_RATE_RATE:
			have_rate = 1;
			conf_get_rate(r, key, val, &rl->per_min);
			break;
		case CONF_RATE_BURST:
			have_burst = 1;
			conf_get_uint(r, key, val, 1, CONF_RATE_MAX, &rl->burst);
			break;
		case CONF_RATE_MAX_SOURCES:
			conf_get_uint(r, key, val, 1, CONF_MAX_SOURCES, &rl->max_sources);
			break;
		}
	}
	if (!have_rate) {
		conf_report_at_node(r, k, "'rate_limit' is missing 'rate'");
		return;
	}
	if (rl->per_min == 0)
		return; /* reported */
	if (!have_burst)
		rl->burst = (unsigned)((rl->per_min + 59) / 60); /* a second's worth */
	if (rl->burst == 0)
		return;
	rl->enabled = 1;
}

/* A whole number of seconds in 1s..2h. */
static int conf_get_seconds(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, unsigned *out)
{
	uint64_t ms;

	if (conf_get_duration(r, k, v, 1, &ms) < 0)
		return -1;
	if (ms % 1000 != 0 || ms > (uint64_t)CONF_KA_MAX_S * 1000) {
		conf_report_node(r, k, v,
			"'%s' must be a whole number of seconds between 1s and 2h (the kernel "
			"counts "
			"keepalive in seconds)",
			k->str);
		return -1;
	}
	*out = (unsigned)(ms / 1000);
	return 0;
}

static void conf_map_ka_side(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_keepalive_side *side)
{
	const struct conf_node *key, *val;
	char where[64];

	int sec = conf_get_section(r, k, v);
	if (sec < 0)
		return;
	*side = (struct conf_keepalive_side){
		.enabled = 1, .idle_s = 60, .interval_s = 10, .count = 5};
	snprintf(where, sizeof(where), "in 'tcp_keepalive.%s'", k->str);
	for (key = sec > 0 ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, where, conf_ka_side_keys, CONF_NKEYS(conf_ka_side_keys));
		if (i < 0)
			continue;
		switch ((enum conf_ka_side_key)i) {
		case CONF_KA_IDLE:
			conf_get_seconds(r, key, val, &side->idle_s);
			break;
		case CONF_KA_INTERVAL:
			conf_get_seconds(r, key, val, &side->interval_s);
			break;
		case CONF_KA_COUNT:
			conf_get_uint(r, key, val, 1, CONF_KA_MAX_COUNT, &side->count);
			break;
		}
	}
}

void conf_map_keepalive(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_keepalive *ka)
{
	const struct conf_node *key, *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (key = conf_map_next(v, NULL, &val); key != NULL; key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, "in 'tcp_keepalive'", conf_ka_keys, CONF_NKEYS(conf_ka_keys));
		if (i < 0)
			continue;
		switch ((enum conf_ka_key)i) {
		case CONF_KA_CLIENT:
			conf_map_ka_side(r, key, val, &ka->client);
			break;
		case CONF_KA_BACKEND:
			conf_map_ka_side(r, key, val, &ka->backend);
			break;
		}
	}
}

void conf_edge_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(
		cb, arg, "services[].rate_limit", conf_rate_keys, CONF_NKEYS(conf_rate_keys));
	conf_keys_table(
		cb, arg, "services[].tcp_keepalive", conf_ka_keys, CONF_NKEYS(conf_ka_keys));
	conf_keys_table(cb, arg, "services[].tcp_keepalive.*", conf_ka_side_keys,
		CONF_NKEYS(conf_ka_side_keys));
}
