/*
 * DOC: YAML to a node tree
 *
 * libyaml's event parser turns the text into events (mapping start, scalar, ..., mapping end)
 * with marks; this file folds them into a tree of struct conf_node, each knowing its 1-based
 * line and column (libyaml's marks are 0-based and count characters, not bytes, which is what an
 * editor's column shows too).
 *
 * Decisions about YAML itself are made here, once:
 * - One document per file; a second one is an error.
 * - Aliases (*name) are rejected: a merged or shared value would make "line:col of the value at
 *   fault" ambiguous, and expanding them is how billion-laughs files explode. Anchors alone do no
 *   harm and are ignored.
 * - Explicit tags (!!str, !foo) are rejected: types come from the key, not from the file.
 * - Mapping keys must be scalars and unique within their mapping (libyaml checks neither).
 * - Nesting depth, node count and input size are capped (see internal.h): bad input must cost
 *   bounded memory and time, since the admin API and fuzzers feed this arbitrary bytes.
 * A YAML syntax error ends parsing: after one, libyaml's later marks mean little.
 *
 * Nodes and strings live in an arena owned by the tree, so that every exit, including the
 * error paths in the middle of a document, frees everything with one conf_tree_free().
 */
#include "conf/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define ARENA_CHUNK (64u << 10)
#define ARENA_ALIGN (_Alignof(max_align_t))

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct conf_tree {
	struct arena_chunk *chunks;
	struct conf_node *root;
};

/* An open list or mapping, while its children arrive. */
struct conf_level {
	struct conf_node *node;
	struct conf_node *last; /* last child, where the next one is linked */
	size_t nkids;
};

struct conf_builder {
	struct conf_report *r;
	struct conf_tree *t;
	const char *buf;
	size_t len;
	struct conf_level stack[CONF_MAX_DEPTH];
	int depth;
	size_t nodes;
	int docs;
};

static void *conf_arena_alloc(struct conf_tree *t, size_t size)
{
	struct arena_chunk *c = t->chunks;

	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (c == NULL || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->next = t->chunks;
		c->used = 0;
		c->cap = cap;
		t->chunks = c;
	}
	void *p = (unsigned char *)c->data + c->used;
	c->used += size;
	return p;
}

void conf_tree_free(struct conf_tree *t)
{
	if (t == NULL)
		return;
	while (t->chunks != NULL) {
		struct arena_chunk *c = t->chunks;
		t->chunks = c->next;
		free(c);
	}
	free(t);
}

const struct conf_node *conf_tree_root(const struct conf_tree *t)
{
	return t->root;
}

struct conf_node *conf_tree_root_mut(struct conf_tree *t)
{
	return t->root;
}

void *conf_tree_alloc(struct conf_tree *t, size_t size)
{
	return conf_arena_alloc(t, size);
}

static int conf_clamp(size_t v)
{
	return v >= INT_MAX ? INT_MAX : (int)v + 1;
}

/* Where libyaml's reader gave up, as a byte offset: count lines and characters up to it. */
static void conf_offset_pos(const char *buf, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == '\n') {
			(*line)++;
			*col = 1;
		} else if ((ch & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static void conf_yaml_error(struct conf_builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown problem";
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		b->r->nomem = 1;
		return;
	case YAML_READER_ERROR:
		conf_offset_pos(b->buf, b->len, p->problem_offset, &line, &col);
		conf_report_at(b->r, line, col, "cannot read YAML: %s", problem);
		return;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		line = conf_clamp(p->problem_mark.line);
		col = conf_clamp(p->problem_mark.column);
		if (p->context != NULL)
			conf_report_at(b->r, line, col,
				"YAML syntax error: %s (%s at line %d, column %d)", problem,
				p->context, conf_clamp(p->context_mark.line),
				conf_clamp(p->context_mark.column));
		else
			conf_report_at(b->r, line, col, "YAML syntax error: %s", problem);
		return;
	case YAML_NO_ERROR:
	case YAML_COMPOSER_ERROR:
	case YAML_WRITER_ERROR:
	case YAML_EMITTER_ERROR:
		break;
	}
	conf_report_at(b->r, 1, 1, "YAML error: %s", problem);
}

static struct conf_node *conf_node_new(
	struct conf_builder *b, enum conf_node_kind kind, yaml_mark_t mark)
{
	if (++b->nodes > CONF_MAX_NODES) {
		conf_report_at(b->r, conf_clamp(mark.line), conf_clamp(mark.column),
			"too many YAML values (more than %u)", CONF_MAX_NODES);
		return NULL;
	}
	struct conf_node *n = conf_arena_alloc(b->t, sizeof(*n));
	if (n == NULL) {
		b->r->nomem = 1;
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = conf_clamp(mark.line);
	n->col = conf_clamp(mark.column);
	n->file = b->r->file;
	return n;
}

/* Links n under the innermost open list or mapping, or makes it the root. */
static void conf_attach(struct conf_builder *b, struct conf_node *n)
{
	char desc[CONF_SHOW_MAX];

	if (b->depth == 0) {
		b->t->root = n;
		return;
	}
	struct conf_level *l = &b->stack[b->depth - 1];
	if (l->last != NULL)
		l->last->next = n;
	else
		l->node->first = n;
	l->last = n;
	if (l->node->kind == CONF_NODE_MAP && l->nkids % 2 == 0) {
		if (n->kind == CONF_NODE_BAD) {
			n->skip = 1;
		} else if (n->kind != CONF_NODE_SCALAR) {
			conf_report_at(b->r, n->line, n->col, "a key must be a string, got %s",
				conf_node_desc(n, desc, sizeof(desc)));
			n->skip = 1;
		}
	} else {
		l->node->n++;
	}
	l->nkids++;
}

static int conf_key_cmp(const void *a, const void *b)
{
	const struct conf_node *x = *(const struct conf_node *const *)a;
	const struct conf_node *y = *(const struct conf_node *const *)b;
	int c = strcmp(x->str, y->str);
	if (c != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->col > y->col) - (x->col < y->col);
}

/*
 * Flags every repeated key of m after its first occurrence. Sorting rather than comparing each
 * pair keeps a mapping with a million keys from costing a million squared.
 */
static int conf_check_dup_keys(struct conf_builder *b, struct conf_node *m)
{
	char show[CONF_SHOW_MAX];

	if (m->n < 2)
		return 0;
	struct conf_node **keys = malloc(m->n * sizeof(*keys));
	if (keys == NULL) {
		b->r->nomem = 1;
		return -1;
	}
	size_t nkeys = 0;
	for (struct conf_node *k = m->first; k != NULL && k->next != NULL; k = k->next->next) {
		if (!k->skip)
			keys[nkeys++] = k;
	}
	qsort(keys, nkeys, sizeof(*keys), conf_key_cmp);
	for (size_t i = 1, first = 0; i < nkeys; i++) {
		if (strcmp(keys[i]->str, keys[first]->str) != 0) {
			first = i;
			continue;
		}
		conf_report_at(b->r, keys[i]->line, keys[i]->col,
			"duplicate key %s (first at line %d)",
			conf_show(keys[i]->str, show, sizeof(show)), keys[first]->line);
		keys[i]->skip = 1;
	}
	free(keys);
	return 0;
}

static void conf_check_tag(struct conf_builder *b, const yaml_char_t *tag, yaml_mark_t mark)
{
	static const char core[] = "tag:yaml.org,2002:";
	char show[CONF_SHOW_MAX], written[CONF_SHOW_MAX];
	const char *t = (const char *)tag;

	if (t == NULL)
		return;
	/* Show the tag as it is usually written: libyaml expands `!!` to the core prefix. */
	if (strncmp(t, core, sizeof(core) - 1) == 0)
		snprintf(written, sizeof(written), "!!%s", t + sizeof(core) - 1);
	else
		snprintf(written, sizeof(written), "%s", t);
	conf_report_at(b->r, conf_clamp(mark.line), conf_clamp(mark.column),
		"YAML tags are not supported: %s", conf_show(written, show, sizeof(show)));
}

static int conf_on_scalar(struct conf_builder *b, const yaml_event_t *ev)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	conf_check_tag(b, ev->data.scalar.tag, ev->start_mark);
	struct conf_node *n = conf_node_new(b, CONF_NODE_SCALAR, ev->start_mark);
	if (n == NULL)
		return -1;
	if (memchr(value, '\0', len) != NULL) {
		conf_report_at(b->r, n->line, n->col, "a value must not contain a NUL character");
		n->kind = CONF_NODE_BAD;
	} else {
		char *s = conf_arena_alloc(b->t, len + 1);
		if (s == NULL) {
			b->r->nomem = 1;
			return -1;
		}
		memcpy(s, value, len);
		s[len] = '\0';
		n->str = s;
		n->len = len;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	}
	conf_attach(b, n);
	return 0;
}

static int conf_on_open(struct conf_builder *b, const yaml_event_t *ev, enum conf_node_kind kind,
	const yaml_char_t *tag)
{
	if (b->depth == CONF_MAX_DEPTH) {
		conf_report_at(b->r, conf_clamp(ev->start_mark.line),
			conf_clamp(ev->start_mark.column),
			"lists and mappings are nested too deep (more than %d levels)",
			CONF_MAX_DEPTH);
		return -1;
	}
	conf_check_tag(b, tag, ev->start_mark);
	struct conf_node *n = conf_node_new(b, kind, ev->start_mark);
	if (n == NULL)
		return -1;
	conf_attach(b, n);
	b->stack[b->depth++] = (struct conf_level){.node = n};
	return 0;
}

static int conf_on_close(struct conf_builder *b)
{
	/* libyaml pairs every end with a start; the check keeps a bug there from being ours. */
	if (b->depth == 0)
		return 0;
	struct conf_node *n = b->stack[--b->depth].node;
	if (n->kind == CONF_NODE_MAP)
		return conf_check_dup_keys(b, n);
	return 0;
}

static int conf_on_alias(struct conf_builder *b, const yaml_event_t *ev)
{
	struct conf_node *n = conf_node_new(b, CONF_NODE_BAD, ev->start_mark);
	if (n == NULL)
		return -1;
	conf_report_at(
		b->r, n->line, n->col, "YAML aliases are not supported: write the value out");
	conf_attach(b, n);
	return 0;
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on an error that ends parsing. */
static int conf_on_event(struct conf_builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (b->docs++ > 0) {
			conf_report_at(b->r, conf_clamp(ev->start_mark.line),
				conf_clamp(ev->start_mark.column),
				"only one YAML document is allowed in the file");
			return -1;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		return conf_on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return conf_on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return conf_on_open(b, ev, CONF_NODE_LIST, ev->data.sequence_start.tag);
	case YAML_MAPPING_START_EVENT:
		return conf_on_open(b, ev, CONF_NODE_MAP, ev->data.mapping_start.tag);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return conf_on_close(b);
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	}
	return 0;
}

struct conf_tree *conf_tree_parse(struct conf_report *r, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0;

	struct conf_tree *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		r->nomem = 1;
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		r->nomem = 1;
		free(t);
		return NULL;
	}
	struct conf_builder b = {.r = r, .t = t, .buf = buf, .len = len};
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			conf_yaml_error(&b, &parser);
			rc = -1;
			break;
		}
		rc = conf_on_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc < 0) {
		conf_tree_free(t);
		return NULL;
	}
	return t;
}
