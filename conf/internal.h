/*
 * DOC: conf/ internals
 *
 * Shared by the files of conf/ and by nothing else: callers include conf/conf.h only.
 *
 * A load runs in two passes so that the YAML library's event stream never meets the
 * configuration's rules:
 *
 *   text --(yaml_tree.c)--> node tree with file:line:col --(conf.c, global.c, service.c,
 *           per file, then   |                                 health.c)--> struct conf
 *           env.c's ${NAME}  |                                 \-- typed readers: fields.c
 *           and include.c's  +-- included files' trees, merged into the main root
 *           merge            |
 *
 * Every problem goes through a struct conf_report (errs.c), which keeps the messages of this one
 * load, caps their number and sorts them by position at the end.
 *
 * Message conventions, kept by every file here: lower case, no final period; key names and
 * values in single quotes (values escaped and shortened by conf_show()); "expected X, got Y" for
 * wrong types; "(first at line N)" on duplicates. Errors point at the value at fault, or at the
 * key when the fault is the key itself or the value is missing.
 */
#ifndef ANYLB_CONF_INTERNAL_H
#define ANYLB_CONF_INTERNAL_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>

/* Sanity limits against hostile or broken files; a real configuration is far below each. */
#define CONF_MAX_FILE_SIZE (16u << 20) /* bytes */
#define CONF_MAX_NODES     (1u << 20)  /* YAML scalars, lists and mappings */
#define CONF_MAX_DEPTH     32          /* nested lists and mappings */
#define CONF_MAX_ERRORS    100         /* messages per load; one more says that it stopped */

/* Room for a value as conf_show() writes it: quotes, about 40 characters and "...". */
#define CONF_SHOW_MAX 56

/* A path is read up to this many bytes, so that a longer one is named as too long. */
#define CONF_PATH_TEXT_MAX 4096

/* ---- errs.c: the messages of one load ---- */

struct conf_report {
	const char *file; /* as messages name it: the file being parsed, else the main one */
	char **files;     /* every file of this load, the main one first (conf_report_file()) */
	size_t nfiles;
	struct conf_errs *errs;
	size_t first;  /* errs->v[first..] belong to this load */
	size_t count;  /* messages added by this load */
	int truncated; /* CONF_MAX_ERRORS reached, later messages dropped */
	int nomem;     /* an allocation failed: the load fails with -ENOMEM */
};

void conf_report_init(struct conf_report *r, const char *file, struct conf_errs *errs);

/* Adds "message" at 1-based line:col. Never fails: on ENOMEM it sets r->nomem. */
void conf_report_at(struct conf_report *r, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Same, at a node: in the file the node was read from. */
struct conf_node;
void conf_report_at_node(struct conf_report *r, const struct conf_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, at a position of the struct conf being built (a NULL file: r->file). */
void conf_report_pos(struct conf_report *r, struct conf_pos p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Adds name to the load's files and returns the copy nodes and positions point to (the same
 * copy for the same name), or NULL with r->nomem set. The copies are the report's until
 * conf_report_take_files() hands them to the struct conf; conf_report_finish() frees the rest.
 */
const char *conf_report_file(struct conf_report *r, const char *name);
void conf_report_take_files(struct conf_report *r, char ***files, size_t *n);

/* "line N" when first is in the same file as here (NULL: the main file), else "FILE:N". */
#define CONF_WHERE_MAX 300
const char *conf_where(const struct conf_report *r, const char *first, const char *here, int line,
	char *buf, size_t cap);

/* Sorts this load's messages by file and position (stably) and adds the closing ones. */
void conf_report_finish(struct conf_report *r);

static inline int conf_report_failed(const struct conf_report *r)
{
	return r->count > 0 || r->truncated || r->nomem;
}

/* ---- yaml_tree.c: YAML text to a tree of nodes ---- */

enum conf_node_kind {
	CONF_NODE_SCALAR,
	CONF_NODE_LIST,
	CONF_NODE_MAP,
	CONF_NODE_BAD, /* an alias, a scalar with a NUL byte or a failed ${NAME}: already
			* reported, skip quietly */
};

/*
 * A list's items are first, first->next, ...; a mapping's children alternate key, value, key,
 * value, so a pair is (k, k->next). Keys already reported (duplicates, non-strings) have skip
 * set; conf_map_next() steps over them.
 */
struct conf_node {
	enum conf_node_kind kind;
	int line, col;    /* 1-based, where the node starts */
	const char *file; /* the file it was read from (conf_report_file()) */
	int plain;        /* scalar written without quotes: only then can it be null */
	int skip;         /* mapping key to ignore, already reported */
	const char *str;  /* scalar: NUL-terminated, holds no other NUL */
	size_t len;       /* scalar: strlen(str) */
	struct conf_node *first, *next;
	size_t n; /* list: items; mapping: pairs (skipped ones included) */
};

struct conf_tree;

/*
 * Parses buf[0..len) (one YAML document). Returns a tree, whose root is NULL when the file holds
 * no document, or NULL after reporting an error that ends parsing (YAML syntax, nesting depth,
 * node count, memory). Lesser problems (aliases, tags, duplicate keys) are reported and the tree
 * is still returned, so that the configuration's own errors are found in the same pass.
 */
struct conf_tree *conf_tree_parse(struct conf_report *r, const char *buf, size_t len);
const struct conf_node *conf_tree_root(const struct conf_tree *t);
/* The same root, for include.c and env.c, which rewrite the tree before it is mapped. */
struct conf_node *conf_tree_root_mut(struct conf_tree *t);
/* size bytes in t's arena, freed with it; NULL when memory runs out. */
void *conf_tree_alloc(struct conf_tree *t, size_t size);

/* Where a node is, as a struct conf keeps it. */
static inline struct conf_pos conf_node_pos(const struct conf_node *n)
{
	return (struct conf_pos){n->line, n->col, n->file};
}

/* ---- env.c: ${NAME} in scalar values ---- */

/*
 * Replaces ${NAME}, ${NAME:-default} and $$ in every scalar value under n (not in mapping
 * keys), in place, keeping each scalar's position. Unset variables and bad references are
 * reported at their scalar, which then becomes CONF_NODE_BAD (no second message about it).
 */
void conf_env_expand(struct conf_report *r, struct conf_tree *t, struct conf_node *n);

/* ---- include.c: the file set of one load ---- */

#define CONF_MAX_INCLUDE_DEPTH 8  /* files including files */
#define CONF_MAX_INCLUDES      64 /* files in one load, the main one included */

struct conf_fileset {
	struct conf_tree *trees[CONF_MAX_INCLUDES];
	size_t ntrees;
};

/*
 * Parses buf (the main file, named r->file), expands ${NAME} in it and reads the files its
 * top-level `include:` names, recursively, merging their top-level keys into the main root.
 * Returns that root (NULL when the main file holds no document or failed to parse); the trees
 * stay in fs until conf_fileset_free(). Every problem is reported.
 */
struct conf_node *conf_fileset_load(
	struct conf_report *r, struct conf_fileset *fs, const char *buf, size_t len);
void conf_fileset_free(struct conf_fileset *fs);

/*
 * Reads path (a regular file, at most CONF_MAX_FILE_SIZE bytes, unchanged while read) into *buf
 * (malloc'ed). Returns 0, or -errno after reporting why: at 1:1 of r->file when at is NULL (the
 * main file), else at the include entry at, naming path.
 */
int conf_read_file(struct conf_report *r, const struct conf_node *at, const char *path, char **buf,
	size_t *len);
void conf_tree_free(struct conf_tree *t);

/* ---- fields.c: typed readers over nodes ---- */

/* One key a mapping may hold. later: in the spec, implemented by a later issue. */
struct conf_key {
	const char *name;
	int later;
};

#define CONF_NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))

/* Each section file's key tables, for conf_keys() (conf/keys.c): cb for every key, in order. */
void conf_keys_table(
	conf_key_cb cb, void *arg, const char *section, const struct conf_key *keys, size_t n);
void conf_top_keys_each(conf_key_cb cb, void *arg);
void conf_global_keys_each(conf_key_cb cb, void *arg);

/* conf/log.c: global.log and global.access_log, and the rule between them (once global is read). */
void conf_map_log(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_global *g);
void conf_map_access_log(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_global *g);
void conf_log_finish(struct conf_report *r, struct conf_global *g);
void conf_log_keys_each(conf_key_cb cb, void *arg);
void conf_bgp_keys_each(conf_key_cb cb, void *arg);
void conf_service_keys_each(conf_key_cb cb, void *arg);
void conf_health_keys_each(conf_key_cb cb, void *arg);
void conf_edge_keys_each(conf_key_cb cb, void *arg);

/*
 * Looks the key up in keys[]. Returns its index, or -1 after reporting an unknown key (with a
 * suggestion or the list of allowed keys; where is "in 'global'", "in a service", ...) or a key
 * that is not supported yet.
 */
int conf_key_find(struct conf_report *r, const struct conf_node *k, const char *where,
	const struct conf_key *keys, size_t nkeys);

/* Next pair of mapping m after key prev (NULL: the first); NULL at the end. */
const struct conf_node *conf_map_next(
	const struct conf_node *m, const struct conf_node *prev, const struct conf_node **val);

int conf_node_is_null(const struct conf_node *n);

/* 'text' escaped and shortened for a message; buf holds CONF_SHOW_MAX bytes. */
const char *conf_show(const char *s, char *buf, size_t cap);

/* "a mapping", "a list", "nothing", "null" or 'text', for "got ..." in messages. */
const char *conf_node_desc(const struct conf_node *n, char *buf, size_t cap);

/*
 * The reader functions below take the key k and its value v (for list items: the list's key
 * and the item). They return 0 and store the value, or -1 after reporting why (quietly for
 * nodes that are already bad). Positions: v, or k when v is missing (an empty value).
 */
void conf_report_node(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A mapping to walk: 1; a null value, taken as an empty mapping: 0; anything else: -1. */
int conf_get_section(struct conf_report *r, const struct conf_node *k, const struct conf_node *v);

/* A scalar that is not null; *s points into the tree. */
int conf_get_word(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *want, const char **s);

/* A non-empty string without control characters, at most maxlen bytes; *out is malloc'ed. */
int conf_get_string(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	size_t maxlen, char **out);

/*
 * Bytes to send or look for: a non-empty string of at most maxlen bytes, control characters
 * allowed (a double-quoted "PING\r\n" is what a send/expect check needs); *out is malloc'ed
 * and NUL-terminated, *len (unless len is NULL) its length.
 */
int conf_get_bytes(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	size_t maxlen, char **out, size_t *len);

/* true or yes: 1; false or no: 0 (lower case only). */
int conf_get_bool(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, int *out);

/* Digits only, no sign, no leading zero, no overflow: 0 or -1. */
int conf_parse_u64(const char *s, uint64_t *out);

/* An integer in min..max. */
int conf_get_uint(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	unsigned min, unsigned max, unsigned *out);

/* A duration; positive: 0 is out of range. */
int conf_get_duration(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	int positive, uint64_t *ms);

/* "10%", or an integer taken as percent: 0..max (conf/health.c). */
int conf_get_percent(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	unsigned max, unsigned *out);

/* One of names[0..n) (joined with ", " in the message); stores the index. */
int conf_get_enum(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *const *names, size_t n, int *out);

/* Reports "'key': unknown value 'x' (expected one of: allowed)". */
void conf_report_value(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *allowed);

/*
 * The path of a unix socket (global.admin.socket, bgp.bird_socket): a string that fits in
 * sun_path, since a longer one can be neither bound nor connected to; *out is malloc'ed.
 */
int conf_get_socket_path(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, char **out);

/* IP:PORT or [IPv6]:PORT, port 1..65535; *text is malloc'ed, as written. */
int conf_get_addr(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	char **text, struct addr *a);

/* "2s", or "2s, the default" when dflt is set: a duration inside a message. */
const char *conf_show_ms(uint64_t ms, int dflt, char *buf, int cap);

/* ---- bgp.c: the bgp section and services[].anycast ---- */

/* What the top level said about bgp: services need it to judge their anycast section. */
struct conf_bgp_seen {
	int written;          /* the key `bgp` is in the file, whatever its value */
	int announce_known;   /* bgp->announce is the default or was read cleanly */
	int announce_written; /* `announce` was written (for "(the default)" in messages) */
};

/* Reads `bgp` into b (defaults of conf.h first) and says what was seen. */
void conf_map_bgp(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_bgp *b, struct conf_bgp_seen *seen);

/*
 * Reads a service's `anycast` into s->anycast. Runs once the rest of the service is read, since
 * min_ready is checked against the number of backends; bgp is what the top level held.
 */
void conf_map_anycast(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const struct conf_bgp *b, const struct conf_bgp_seen *bgp, struct conf_service *s);

/* Free the strings and arrays of b or a; the structs themselves are the caller's. */
void conf_bgp_free(struct conf_bgp *b);
void conf_anycast_free(struct conf_anycast *a);

/* ---- global.c, service.c: the sections ---- */

void conf_map_global(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_global *g);
/* bgp: what the top level said about bgp, read before the services wherever it stands. */
void conf_map_services(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf *c, const struct conf_bgp_seen *bgp);

/* ---- edge.c: a service's client-facing knobs: allow, deny, rate_limit, tcp_keepalive ---- */

/* allow or deny (which k says): a prefix or a list of them into *v, *n. */
void conf_map_cidrs(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct cidr **out, size_t *n);
void conf_map_rate_limit(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_rate_limit *rl);
void conf_map_keepalive(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_keepalive *ka);

/* ---- sni.c: a service's sni section ---- */

void conf_map_sni(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_sni *sni);
/* Once every service is read: each route's and the default's target named and checked. */
void conf_sni_resolve(struct conf_report *r, struct conf *c);
void conf_sni_free(struct conf_sni *sni);
void conf_sni_keys_each(conf_key_cb cb, void *arg);

/* ---- health.c: a service's active checks and passive outlier ejection ---- */

/* Sets o to the defaults of conf.h (outlier ejection on), for a service without `outlier`. */
void conf_outlier_init(struct conf_outlier *o);
void conf_map_outlier(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_outlier *o);
void conf_map_health(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_health *h);
/* Frees the strings and arrays of h's checks; h itself is the caller's. */
void conf_health_free(struct conf_health *h);

#endif
