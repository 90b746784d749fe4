/*
 * DOC: include: the files of one load
 *
 * The main file's top level may hold `include:`, a path or a list of paths; each may be a glob
 * (it holds *, ? or [). Relative paths are taken from the directory of the file that includes
 * them. A glob's files are read in sorted order and a glob matching nothing adds nothing; a
 * plain path that cannot be read is an error at its entry. Included files may include others,
 * up to CONF_MAX_INCLUDE_DEPTH levels and CONF_MAX_INCLUDES files in all; a file that includes
 * itself, directly or through others, is refused with the chain ("a.yaml -> b.yaml -> a.yaml").
 *
 * Each file is parsed on its own (its nodes remember the file, so every message names the file
 * and its own LINE:COL) and has its ${NAME} expanded (env.c) before its includes are read: a
 * path may come from the environment. An included file holds a mapping of top-level keys, or
 * nothing; its keys are added to the including file's top level after that file's own:
 * `services` lists are appended one after the other, any other key written in two files is an
 * error at the second naming the first. Then conf.c maps the merged top level as if it were one
 * file. A reload reads the whole set again.
 *
 * Files are read as the main one is (conf_read_file(): lib/readfile, regular files only,
 * refused when they change while read). The trees stay in the struct conf_fileset until the
 * mapping is done, since the merged root links nodes of several trees.
 */
#include "conf/internal.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One file being read, with the files that led to it: the include chain. */
struct conf_incl_link {
	const struct conf_incl_link *up;
	const char *name; /* as messages name it */
	char *real;       /* realpath(), or NULL when it has none (a buffer's name) */
};

struct conf_incl {
	struct conf_report *r;
	struct conf_fileset *fs;
};

static struct conf_node *conf_incl_file(struct conf_incl *in, const struct conf_incl_link *me,
	int depth, const char *buf, size_t len);

void conf_fileset_free(struct conf_fileset *fs)
{
	for (size_t i = 0; i < fs->ntrees; i++)
		conf_tree_free(fs->trees[i]);
	fs->ntrees = 0;
}

/* The value of key name in map m, or NULL (skipped keys do not count). */
static struct conf_node *conf_incl_find(struct conf_node *m, const char *name)
{
	for (struct conf_node *k = m->first; k != NULL && k->next != NULL; k = k->next->next)
		if (!k->skip && strcmp(k->str, name) == 0)
			return k;
	return NULL;
}

/* Adds src's top-level pairs to dst's, as the DOC block says. */
static void conf_incl_merge(struct conf_report *r, struct conf_node *dst, struct conf_node *src)
{
	char where[CONF_WHERE_MAX];
	struct conf_node *tail = dst->first;

	while (tail != NULL && tail->next != NULL)
		tail = tail->next;
	for (struct conf_node *k = src->first, *nk; k != NULL && k->next != NULL; k = nk) {
		struct conf_node *v = k->next;
		nk = v->next;
		if (k->skip)
			continue;
		struct conf_node *had = conf_incl_find(dst, k->str);
		if (had == NULL) {
			v->next = NULL;
			if (tail == NULL)
				dst->first = k;
			else
				tail->next = k;
			tail = v;
			dst->n++;
			continue;
		}
		struct conf_node *hv = had->next;
		if (strcmp(k->str, "services") == 0 && hv->kind == CONF_NODE_LIST &&
			v->kind == CONF_NODE_LIST) {
			struct conf_node *last = hv->first;
			while (last != NULL && last->next != NULL)
				last = last->next;
			if (last == NULL)
				hv->first = v->first;
			else
				last->next = v->first;
			hv->n += v->n;
			continue;
		}
		conf_where(r, had->file, k->file, had->line, where, sizeof(where));
		conf_report_at_node(r, k, "'%s' is already set (first at %s)%s", k->str, where,
			strcmp(k->str, "services") == 0 ? ": 'services' lists are appended" : "");
	}
}

/* "a.yaml -> b.yaml -> name" for a loop message; buf holds cap bytes. */
static void conf_incl_chain(
	const struct conf_incl_link *me, const char *name, char *buf, size_t cap)
{
	const struct conf_incl_link *v[CONF_MAX_INCLUDE_DEPTH + 2];
	size_t n = 0, off = 0;

	for (const struct conf_incl_link *l = me; l != NULL && n < sizeof(v) / sizeof(v[0]);
		l = l->up)
		v[n++] = l;
	buf[0] = '\0';
	while (n > 0 && off < cap) {
		int w = snprintf(buf + off, cap - off, "%s -> ", v[--n]->name);
		if (w < 0)
			return;
		off += (size_t)w;
	}
	if (off < cap)
		snprintf(buf + off, cap - off, "%s", name);
}

/* Reads one included file, named path, for the entry at. */
static void conf_incl_one(struct conf_incl *in, const struct conf_incl_link *me, int depth,
	const struct conf_node *at, const char *path, struct conf_node *root)
{
	struct conf_report *r = in->r;
	char chain[1024], desc[CONF_SHOW_MAX];

	if (depth >= CONF_MAX_INCLUDE_DEPTH) {
		conf_report_at_node(r, at,
			"'include': files include each other too deep (more than %d levels)",
			CONF_MAX_INCLUDE_DEPTH);
		return;
	}
	char *real = realpath(path, NULL);
	for (const struct conf_incl_link *l = me; real != NULL && l != NULL; l = l->up) {
		if (l->real != NULL && strcmp(l->real, real) == 0) {
			conf_incl_chain(me, path, chain, sizeof(chain));
			conf_report_at_node(r, at, "'include': include loop: %s", chain);
			free(real);
			return;
		}
	}
	if (in->fs->ntrees >= CONF_MAX_INCLUDES) {
		conf_report_at_node(
			r, at, "'include': more than %d files in all", CONF_MAX_INCLUDES);
		free(real);
		return;
	}
	char *buf;
	size_t len;
	if (conf_read_file(r, at, path, &buf, &len) < 0) {
		free(real);
		return;
	}
	const char *name = conf_report_file(r, path);
	if (name != NULL) {
		struct conf_incl_link link = {.up = me, .name = name, .real = real};
		const char *saved = r->file;
		r->file = name;
		struct conf_node *sub = conf_incl_file(in, &link, depth + 1, buf, len);
		r->file = saved;
		if (sub != NULL && sub->kind == CONF_NODE_MAP)
			conf_incl_merge(r, root, sub);
		else if (sub != NULL && sub->kind != CONF_NODE_BAD && !conf_node_is_null(sub))
			conf_report_at_node(r, sub,
				"an included file must hold a mapping of top-level keys, got %s",
				conf_node_desc(sub, desc, sizeof(desc)));
	}
	free(buf);
	free(real);
}

/* One entry of `include:`, a path or a glob, relative to the including file's directory. */
static void conf_incl_entry(struct conf_incl *in, const struct conf_incl_link *me, int depth,
	const struct conf_node *k, const struct conf_node *v, struct conf_node *root)
{
	struct conf_report *r = in->r;
	const char *p;
	char path[CONF_PATH_TEXT_MAX + PATH_MAX];

	if (conf_get_word(in->r, k, v, "a path", &p) < 0)
		return;
	if (*p == '\0') {
		conf_report_node(r, k, v, "'include': an empty path");
		return;
	}
	const char *slash = strrchr(me->name, '/');
	int n;
	if (p[0] == '/' || slash == NULL)
		n = snprintf(path, sizeof(path), "%s", p);
	else
		n = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - me->name), me->name, p);
	if (n < 0 || (size_t)n >= sizeof(path) || (size_t)n >= PATH_MAX) {
		conf_report_node(
			r, k, v, "'include': the path is longer than %d bytes", PATH_MAX - 1);
		return;
	}
	if (strpbrk(p, "*?[") == NULL) {
		conf_incl_one(in, me, depth, v, path, root);
		return;
	}
	glob_t g;
	/* No GLOB_ERR: a directory that is missing or unreadable matches nothing, as in a shell. */
	int rc = glob(path, 0, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return;
	if (rc != 0) {
		if (rc == GLOB_NOSPACE)
			r->nomem = 1;
		else
			conf_report_at_node(r, v, "'include': cannot list the files of the glob");
		globfree(&g);
		return;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		conf_incl_one(in, me, depth, v, g.gl_pathv[i], root);
	globfree(&g);
}

static struct conf_node *conf_incl_file(struct conf_incl *in, const struct conf_incl_link *me,
	int depth, const char *buf, size_t len)
{
	struct conf_report *r = in->r;

	struct conf_tree *t = conf_tree_parse(r, buf != NULL ? buf : "", len);
	if (t == NULL)
		return NULL;
	in->fs->trees[in->fs->ntrees++] = t;
	struct conf_node *root = conf_tree_root_mut(t);
	if (root == NULL || root->kind != CONF_NODE_MAP)
		return root;
	conf_env_expand(r, t, root);
	for (struct conf_node *k = root->first; k != NULL && k->next != NULL; k = k->next->next) {
		if (k->skip || strcmp(k->str, "include") != 0)
			continue;
		/* Read here; conf_map_top() steps over it. */
		k->skip = 1;
		struct conf_node *v = k->next;
		if (v->kind == CONF_NODE_LIST) {
			for (struct conf_node *i = v->first; i != NULL; i = i->next)
				conf_incl_entry(in, me, depth, k, i, root);
		} else if (!conf_node_is_null(v)) {
			conf_incl_entry(in, me, depth, k, v, root);
		}
	}
	return root;
}

struct conf_node *conf_fileset_load(
	struct conf_report *r, struct conf_fileset *fs, const char *buf, size_t len)
{
	struct conf_incl in = {.r = r, .fs = fs};
	const char *name = conf_report_file(r, r->file);

	if (name == NULL)
		return NULL;
	r->file = name;
	struct conf_incl_link top = {.name = name, .real = realpath(name, NULL)};
	struct conf_node *root = conf_incl_file(&in, &top, 0, buf, len);
	free(top.real);
	return root;
}
