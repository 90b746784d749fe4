/*
 * DOC: the log sections: global.log and global.access_log
 *
 * Both name a stream (lib/log.h): `target` stderr (the default), file or syslog, `format` text
 * (the default), json or logfmt, `path` (the file, required with `target: file`; with syslog
 * the socket, /dev/log by default) and `facility` (syslog only, daemon by default). `global.log`
 * also has `level`, which the access log does not: it is written whatever the level. The
 * access log is on with `global.log.access: true` or an `access_log` section; `access: false`
 * beside an `access_log` section is a contradiction and refused. Rules across keys are checked
 * once each section is read, so that their order does not matter. Nothing is opened here:
 * lb/logs.c opens the streams at start and at reload.
 */
#include "conf/internal.h"

#include <stdlib.h>
#include <string.h>

enum conf_log_key {
	CONF_LOG_LEVEL,
	CONF_LOG_FORMAT,
	CONF_LOG_ACCESS,
	CONF_LOG_TARGET,
	CONF_LOG_PATH,
	CONF_LOG_FACILITY,
};

static const struct conf_key conf_log_keys[] = {
	[CONF_LOG_LEVEL] = {"level", 0},
	[CONF_LOG_FORMAT] = {"format", 0},
	[CONF_LOG_ACCESS] = {"access", 0},
	[CONF_LOG_TARGET] = {"target", 0},
	[CONF_LOG_PATH] = {"path", 0},
	[CONF_LOG_FACILITY] = {"facility", 0},
};

/* The access log's keys: the same stream keys, without level and access. */
static const struct conf_key conf_access_keys[] = {
	{"format", 0},
	{"target", 0},
	{"path", 0},
	{"facility", 0},
};

static const enum conf_log_key access_key_ids[] = {
	CONF_LOG_FORMAT, CONF_LOG_TARGET, CONF_LOG_PATH, CONF_LOG_FACILITY};

/* One key of a stream (format, target, path, facility) into d. */
static void stream_key(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	enum conf_log_key key, struct conf_log_dest *d)
{
	const char *s;

	if (key == CONF_LOG_PATH) {
		free(d->path);
		d->path = NULL;
		if (conf_get_string(r, k, v, CONF_PATH_TEXT_MAX, &d->path) == 0)
			d->path_pos = conf_node_pos(k);
		return;
	}
	if (conf_get_word(r, k, v, "a string", &s) < 0)
		return;
	switch (key) {
	case CONF_LOG_FORMAT:
		if (log_format_parse(s, &d->format) < 0)
			conf_report_value(r, k, v, "text, json, logfmt");
		break;
	case CONF_LOG_TARGET:
		if (log_target_parse(s, &d->target) < 0)
			conf_report_value(r, k, v, "stderr, file, syslog");
		break;
	case CONF_LOG_FACILITY:
		if (log_facility_parse(s, &d->facility) < 0)
			conf_report_value(r, k, v,
				"kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, "
				"authpriv, ftp, local0 .. local7");
		else
			d->facility_pos = conf_node_pos(k);
		break;
	case CONF_LOG_LEVEL:
	case CONF_LOG_ACCESS:
	case CONF_LOG_PATH:
		break; /* not stream keys, or read above */
	}
}

/* The rules across a stream's keys, once its section is read. */
static void stream_check(struct conf_report *r, const char *section, const struct conf_log_dest *d)
{
	if (d->target == LOG_TARGET_FILE && d->path == NULL)
		conf_report_pos(r, d->pos,
			"'%s': 'target: file' needs a 'path' (the file to append to)", section);
	if (d->target == LOG_TARGET_STDERR && d->path != NULL)
		conf_report_pos(r, d->path_pos,
			"'path' applies only to 'target: file' or 'target: syslog'");
	if (d->target != LOG_TARGET_SYSLOG && d->facility_pos.line != 0)
		conf_report_pos(r, d->facility_pos, "'facility' applies only to 'target: syslog'");
	if (d->target == LOG_TARGET_SYSLOG && d->path != NULL && strlen(d->path) > 107)
		conf_report_pos(r, d->path_pos, "'path': a unix socket path is at most 107 bytes");
}

void conf_map_log(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_global *g)
{
	const struct conf_node *val;
	const char *s;

	g->log.pos = conf_node_pos(k);
	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(
			r, k, "in 'global.log'", conf_log_keys, CONF_NKEYS(conf_log_keys));
		if (key < 0)
			continue;
		if (key == CONF_LOG_ACCESS) {
			if (conf_get_bool(r, k, val, &g->access_log) == 0)
				g->access_pos = conf_node_pos(k);
		} else if (key == CONF_LOG_LEVEL) {
			if (conf_get_word(r, k, val, "a string", &s) == 0 &&
				log_level_parse(s, &g->log_level) < 0)
				conf_report_value(r, k, val, "debug, info, warn, error");
		} else {
			stream_key(r, k, val, (enum conf_log_key)key, &g->log);
		}
	}
	stream_check(r, "global.log", &g->log);
}

void conf_map_access_log(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_global *g)
{
	const struct conf_node *val;

	g->access.pos = conf_node_pos(k);
	g->access_section = 1;
	if (conf_get_section(r, k, v) < 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'global.access_log'", conf_access_keys,
			CONF_NKEYS(conf_access_keys));
		if (key >= 0)
			stream_key(r, k, val, access_key_ids[key], &g->access);
	}
	stream_check(r, "global.access_log", &g->access);
}

void conf_log_finish(struct conf_report *r, struct conf_global *g)
{
	if (!g->access_section)
		return;
	if (g->access_pos.line != 0 && !g->access_log)
		conf_report_pos(r, g->access_pos,
			"'access: false' contradicts the 'access_log' section at line %d: remove "
			"one",
			g->access.pos.line);
	g->access_log = 1;
}

void conf_log_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "global.log", conf_log_keys, CONF_NKEYS(conf_log_keys));
	conf_keys_table(
		cb, arg, "global.access_log", conf_access_keys, CONF_NKEYS(conf_access_keys));
}
