/*
 * DOC: loading a configuration
 *
 * The entry points of conf.h: read the file, build the YAML tree with the files it includes
 * and its ${NAME} expanded (include.c, env.c), map its top level (`global`, `bgp`, `services`;
 * `include` is read by then) with the section files, and hand back either a complete struct
 * conf or the list of everything wrong with the file set, never both and never half a config.
 * `bgp` is read before the other keys, wherever it stands: a service's `anycast` is judged by
 * its mode.
 *
 * The loader keeps going after an error so that one run reports every problem; a value that
 * failed is left at its default and the struct conf being built is thrown away at the end. The
 * only reads are of the file and of the files it includes, each bounded by CONF_MAX_FILE_SIZE,
 * through lib/readfile (conf_read_file()): a regular file only (a FIFO at the path must not
 * block the main thread), and one that did not change while it was read.
 */
#include "conf/internal.h"

#include "lib/readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum conf_top_key { CONF_TOP_GLOBAL, CONF_TOP_BGP, CONF_TOP_SERVICES, CONF_TOP_INCLUDE };

static const struct conf_key conf_top_keys[] = {
	[CONF_TOP_GLOBAL] = {"global", 0},
	[CONF_TOP_BGP] = {"bgp", 0},
	[CONF_TOP_SERVICES] = {"services", 0},
	[CONF_TOP_INCLUDE] = {"include", 0},
};

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nservices; i++) {
		struct conf_service *s = &c->services[i];
		free(s->name);
		for (size_t j = 0; j < s->nlisten; j++)
			free(s->listen[j].address);
		free(s->listen);
		for (size_t j = 0; j < s->nbackends; j++) {
			free(s->backends[j].address);
			free(s->backends[j].zone);
		}
		free(s->backends);
		for (size_t j = 0; j < s->nnames; j++) {
			free(s->names[j].address);
			free(s->names[j].host);
			free(s->names[j].tmpl.zone);
		}
		free(s->names);
		conf_health_free(&s->health);
		conf_anycast_free(&s->anycast);
		conf_sni_free(&s->sni);
		free(s->allow);
		free(s->deny);
	}
	free(c->services);
	conf_bgp_free(&c->bgp);
	free(c->global.site);
	free(c->global.log.path);
	free(c->global.access.path);
	free(c->global.admin.socket);
	free(c->global.admin.listen);
	free(c->global.admin.token_file);
	free(c->global.user);
	free(c->global.group);
	free(c->global.state_file);
	free(c->file);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c);
}

static void conf_map_top(struct conf_report *r, const struct conf_node *root, struct conf *c)
{
	struct conf_bgp_seen bgp = {0};
	char desc[CONF_SHOW_MAX];
	const struct conf_node *k, *v;
	int have_services = 0;

	if (root == NULL || conf_node_is_null(root)) {
		/* An empty document's value starts at its end: the top is where to look. */
		conf_report_at(r, 1, 1, "empty file: expected a mapping with a 'services' list");
		return;
	}
	if (root->kind == CONF_NODE_BAD)
		return;
	if (root->kind != CONF_NODE_MAP) {
		conf_report_at_node(r, root, "expected a mapping at the top level, got %s",
			conf_node_desc(root, desc, sizeof(desc)));
		return;
	}
	/* bgp first: it decides what a service's anycast may and must say. */
	for (k = conf_map_next(root, NULL, &v); k != NULL; k = conf_map_next(root, k, &v)) {
		if (strcmp(k->str, conf_top_keys[CONF_TOP_BGP].name) == 0)
			conf_map_bgp(r, k, v, &c->bgp, &bgp);
	}
	for (k = conf_map_next(root, NULL, &v); k != NULL; k = conf_map_next(root, k, &v)) {
		int key = conf_key_find(r, k, "at the top level", conf_top_keys,
			sizeof(conf_top_keys) / sizeof(conf_top_keys[0]));
		if (key < 0)
			continue;
		switch ((enum conf_top_key)key) {
		case CONF_TOP_GLOBAL:
			conf_map_global(r, k, v, &c->global);
			break;
		case CONF_TOP_SERVICES:
			have_services = 1;
			conf_map_services(r, k, v, c, &bgp);
			break;
		case CONF_TOP_BGP:
			break; /* read first, above */
		case CONF_TOP_INCLUDE:
			break; /* read by include.c, which marks it skipped */
		}
	}
	if (!have_services)
		conf_report_at_node(r, root, "no services: add a 'services' list");
}

/* Returns 0 or -errno with *out NULL; errors are reported. */
static int conf_parse(struct conf_report *r, const char *buf, size_t len, struct conf **out)
{
	*out = NULL;
	if (len > CONF_MAX_FILE_SIZE) {
		conf_report_at(
			r, 1, 1, "file is too large (more than %u MiB)", CONF_MAX_FILE_SIZE >> 20);
		return -EINVAL;
	}
	struct conf *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		r->nomem = 1;
		return -ENOMEM;
	}
	c->file = strdup(r->file);
	c->global.site = strdup("default");
	c->global.workers = 0;
	c->global.max_connections = 100000;
	c->global.drain_timeout_ms = 30 * 1000;
	c->global.state_max_age_ms = 30 * 1000;
	c->global.log_level = LOG_LEVEL_INFO;
	c->global.log = (struct conf_log_dest){
		.target = LOG_TARGET_STDERR, .format = LOG_FORMAT_TEXT, .facility = 3};
	c->global.access = c->global.log;
	c->global.admin.enabled = 1;
	c->global.admin.socket = strdup("/run/anylb/admin.sock"); /* the default of conf.h */
	if (c->file == NULL || c->global.site == NULL || c->global.admin.socket == NULL)
		r->nomem = 1;

	struct conf_fileset fs = {0};
	struct conf_node *root = conf_fileset_load(r, &fs, buf, len);
	/* A main file that failed to parse has no tree; one without a document has no root. */
	if (fs.ntrees > 0 && !r->nomem)
		conf_map_top(r, root, c);
	conf_fileset_free(&fs);
	if (r->nomem) {
		conf_free(c);
		return -ENOMEM;
	}
	if (conf_report_failed(r)) {
		conf_free(c);
		return -EINVAL;
	}
	conf_report_take_files(r, &c->files, &c->nfiles);
	*out = c;
	return 0;
}

int conf_load_buffer(
	const char *name, const char *buf, size_t len, struct conf **out, struct conf_errs *errs)
{
	struct conf_report r;

	conf_report_init(&r, name, errs);
	int rc = conf_parse(&r, buf, len, out);
	conf_report_finish(&r);
	return rc;
}

int conf_read_file(struct conf_report *r, const struct conf_node *at, const char *path, char **buf,
	size_t *len)
{
	char show[CONF_SHOW_MAX], pre[CONF_SHOW_MAX + 16] = "";
	mode_t mode;

	*buf = NULL;
	/* An included file's problems are its entry's; the main file's are at its top. */
	struct conf_node top = {.line = 1, .col = 1, .file = r->file};
	if (at != NULL)
		snprintf(pre, sizeof(pre), "'include': %s: ", conf_show(path, show, sizeof(show)));
	else
		at = &top;
	/* Never blocks on a FIFO or a device: the main thread also keeps the heartbeat. */
	int rc = readfile_regular(path, CONF_MAX_FILE_SIZE, buf, len, &mode);
	if (rc == -ENOMEM) {
		r->nomem = 1;
	} else if ((rc == -EISDIR || rc == -EINVAL) && mode != 0 && !S_ISREG(mode)) {
		conf_report_at_node(r, at, "%scannot read the file: it is %s, not a regular file",
			pre, readfile_type(mode));
	} else if (rc == -EFBIG) {
		/* As from a buffer: too large is bad content. */
		rc = -EINVAL;
		conf_report_at_node(r, at, "%sfile is too large (more than %u MiB)", pre,
			CONF_MAX_FILE_SIZE >> 20);
	} else if (rc == -EAGAIN) {
		conf_report_at_node(r, at,
			"%sthe file changed while it was read: write it elsewhere and rename it "
			"into place",
			pre);
	} else if (rc < 0) {
		char eb[128];
		/* GNU strerror_r: a reload may run beside other threads. */
		conf_report_at_node(
			r, at, "%scannot read the file: %s", pre, strerror_r(-rc, eb, sizeof(eb)));
	}
	return rc;
}

int conf_load(const char *path, struct conf **out, struct conf_errs *errs)
{
	struct conf_report r;
	char *buf;
	size_t len;

	*out = NULL;
	conf_report_init(&r, path, errs);
	int rc = conf_read_file(&r, NULL, path, &buf, &len);
	if (rc == 0) {
		rc = conf_parse(&r, buf, len, out);
		free(buf);
	}
	conf_report_finish(&r);
	return rc;
}

void conf_top_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "", conf_top_keys, CONF_NKEYS(conf_top_keys));
}
