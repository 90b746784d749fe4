/*
 * DOC: the global section
 *
 * `global:` holds what is process-wide: the site's name, worker threads, the connection cap,
 * the drain timeout on shutdown and logging. Every key has a default (conf.h), so the whole
 * section may be left out. `admin` belongs to a later issue and is refused by name until then.
 */
#include "conf/internal.h"

#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

enum conf_global_key {
	CONF_GLOBAL_SITE,
	CONF_GLOBAL_WORKERS,
	CONF_GLOBAL_MAX_CONNECTIONS,
	CONF_GLOBAL_DRAIN_TIMEOUT,
	CONF_GLOBAL_ADMIN,
	CONF_GLOBAL_LOG,
};

static const struct conf_key conf_global_keys[] = {
	[CONF_GLOBAL_SITE] = {"site", 0},
	[CONF_GLOBAL_WORKERS] = {"workers", 0},
	[CONF_GLOBAL_MAX_CONNECTIONS] = {"max_connections", 0},
	[CONF_GLOBAL_DRAIN_TIMEOUT] = {"drain_timeout", 0},
	[CONF_GLOBAL_ADMIN] = {"admin", 1},
	[CONF_GLOBAL_LOG] = {"log", 0},
};

enum conf_log_key { CONF_LOG_LEVEL, CONF_LOG_FORMAT };

static const struct conf_key conf_log_keys[] = {
	[CONF_LOG_LEVEL] = {"level", 0},
	[CONF_LOG_FORMAT] = {"format", 0},
};

static void conf_map_log(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_global *g)
{
	const struct conf_node *val;
	const char *s;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'global.log'", conf_log_keys,
			sizeof(conf_log_keys) / sizeof(conf_log_keys[0]));
		if (key < 0)
			continue;
		if (conf_get_word(r, k, val, "a string", &s) < 0)
			continue;
		switch ((enum conf_log_key)key) {
		case CONF_LOG_LEVEL:
			if (log_level_parse(s, &g->log_level) < 0)
				conf_report_value(r, k, val, "debug, info, warn, error");
			break;
		case CONF_LOG_FORMAT:
			if (log_format_parse(s, &g->log_format) < 0)
				conf_report_value(r, k, val, "text, json");
			break;
		}
	}
}

/* `auto` (0: one per online CPU) or 1..CONF_MAX_WORKERS. */
static void conf_map_workers(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_global *g)
{
	char desc[CONF_SHOW_MAX];
	const char *s;
	uint64_t n;

	if (conf_get_word(r, k, v, "'auto' or an integer", &s) < 0)
		return;
	if (strcmp(s, "auto") == 0) {
		g->workers = 0;
		return;
	}
	if (conf_parse_u64(s, &n) < 0) {
		conf_report_node(r, k, v, "'%s': expected 'auto' or an integer, got %s", k->str,
			conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	if (n < 1 || n > CONF_MAX_WORKERS) {
		conf_report_node(r, k, v, "'%s' must be 'auto' or between 1 and %d, got %llu",
			k->str, CONF_MAX_WORKERS, (unsigned long long)n);
		return;
	}
	g->workers = (unsigned)n;
}

void conf_map_global(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_global *g)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'global'", conf_global_keys,
			sizeof(conf_global_keys) / sizeof(conf_global_keys[0]));
		if (key < 0)
			continue;
		switch ((enum conf_global_key)key) {
		case CONF_GLOBAL_SITE:
			free(g->site);
			g->site = NULL;
			conf_get_string(r, k, val, CONF_NAME_MAX, &g->site);
			break;
		case CONF_GLOBAL_WORKERS:
			conf_map_workers(r, k, val, g);
			break;
		case CONF_GLOBAL_MAX_CONNECTIONS:
			conf_get_uint(r, k, val, 1, CONF_MAX_CONNECTIONS, &g->max_connections);
			break;
		case CONF_GLOBAL_DRAIN_TIMEOUT:
			conf_get_duration(r, k, val, 0, &g->drain_timeout_ms);
			break;
		case CONF_GLOBAL_LOG:
			conf_map_log(r, k, val, g);
			break;
		case CONF_GLOBAL_ADMIN:
			break; /* refused by conf_key_find() until the admin API lands */
		}
	}
}
