/*
 * DOC: typed readers
 *
 * Turns nodes into values (strings, socket paths, integers, durations, enums, addresses) and
 * checks keys against the list a section allows. Each reader reports its own errors, worded the
 * same way everywhere (see internal.h), so the section files only say which key takes what.
 *
 * Typing follows the key, not YAML's guess about the scalar: `zone: 1` is the string "1",
 * `weight: "5"` the integer 5 and `verify: "no"` false. Only an unquoted empty value, `~` or `null`
 * is null, which a key of a scalar type rejects and a section (a mapping) takes as empty.
 */
#include "conf/internal.h"

#include "lib/duration.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Keys longer than this get no "did you mean": no key of ours is near that long. */
#define CONF_SUGGEST_MAX 32

const char *conf_show(const char *s, char *buf, size_t cap)
{
	size_t o = 0;

	buf[o++] = '\'';
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (o + 9 > cap) {
			/* Cut at a character boundary, not inside a UTF-8 sequence. */
			while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0)
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

int conf_node_is_null(const struct conf_node *n)
{
	if (n->kind != CONF_NODE_SCALAR || !n->plain)
		return 0;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *conf_node_desc(const struct conf_node *n, char *buf, size_t cap)
{
	switch (n->kind) {
	case CONF_NODE_MAP:
		return "a mapping";
	case CONF_NODE_LIST:
		return "a list";
	case CONF_NODE_BAD:
		return "an invalid value";
	case CONF_NODE_SCALAR:
		break;
	}
	if (n->plain && n->len == 0)
		return "nothing";
	if (conf_node_is_null(n))
		return "null";
	return conf_show(n->str, buf, cap);
}

void conf_report_node(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *fmt, ...)
{
	const struct conf_node *at = v;
	va_list ap;
	char *msg;

	/* An empty value starts wherever the parser noticed it, often the next line. */
	if (k != NULL && (v == NULL || (v->kind == CONF_NODE_SCALAR && v->plain && v->len == 0)))
		at = k;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->nomem = 1;
		return;
	}
	conf_report_at_node(r, at, "%s", msg);
	free(msg);
}

const struct conf_node *conf_map_next(
	const struct conf_node *m, const struct conf_node *prev, const struct conf_node **val)
{
	const struct conf_node *k = prev == NULL ? m->first : prev->next->next;

	while (k != NULL && k->next != NULL && k->skip)
		k = k->next->next;
	if (k == NULL || k->next == NULL)
		return NULL;
	*val = k->next;
	return k;
}

static size_t conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[CONF_SUGGEST_MAX + 1];

	if (la > CONF_SUGGEST_MAX || lb > CONF_SUGGEST_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

int conf_key_find(struct conf_report *r, const struct conf_node *k, const char *where,
	const struct conf_key *keys, size_t nkeys)
{
	char show[CONF_SHOW_MAX];
	char list[512];
	size_t best = SIZE_MAX, besti = 0, o = 0;

	for (size_t i = 0; i < nkeys; i++) {
		if (strcmp(k->str, keys[i].name) != 0)
			continue;
		if (keys[i].later) {
			conf_report_at_node(r, k, "'%s' is not supported yet", keys[i].name);
			return -1;
		}
		return (int)i;
	}
	conf_show(k->str, show, sizeof(show));
	for (size_t i = 0; i < nkeys; i++) {
		size_t d = conf_edit_distance(k->str, keys[i].name);
		if (d < best) {
			best = d;
			besti = i;
		}
	}
	/* Close enough to be a typo, and not so short that every key is "close". */
	if (best <= 2 && best < k->len) {
		conf_report_at_node(r, k, "unknown key %s %s; did you mean '%s'?", show, where,
			keys[besti].name);
		return -1;
	}
	list[0] = '\0';
	for (size_t i = 0; i < nkeys; i++) {
		int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", keys[i].name);
		if (n < 0 || (size_t)n >= sizeof(list) - o)
			break;
		o += (size_t)n;
	}
	conf_report_at_node(r, k, "unknown key %s %s (expected one of: %s)", show, where, list);
	return -1;
}

int conf_get_section(struct conf_report *r, const struct conf_node *k, const struct conf_node *v)
{
	char desc[CONF_SHOW_MAX];

	if (v->kind == CONF_NODE_MAP)
		return 1;
	if (conf_node_is_null(v))
		return 0;
	if (v->kind != CONF_NODE_BAD)
		conf_report_node(r, k, v, "'%s': expected a mapping, got %s", k->str,
			conf_node_desc(v, desc, sizeof(desc)));
	return -1;
}

int conf_get_word(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *want, const char **s)
{
	char desc[CONF_SHOW_MAX];

	if (v->kind == CONF_NODE_BAD)
		return -1;
	if (v->kind != CONF_NODE_SCALAR || conf_node_is_null(v)) {
		conf_report_node(r, k, v, "'%s': expected %s, got %s", k->str, want,
			conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	*s = v->str;
	return 0;
}

int conf_get_string(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	size_t maxlen, char **out)
{
	const char *s;

	if (conf_get_word(r, k, v, "a string", &s) < 0)
		return -1;
	if (*s == '\0') {
		conf_report_node(r, k, v, "'%s' is empty", k->str);
		return -1;
	}
	if (v->len > maxlen) {
		conf_report_node(r, k, v, "'%s' is longer than %zu characters", k->str, maxlen);
		return -1;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			conf_report_node(r, k, v, "'%s' contains a control character", k->str);
			return -1;
		}
	}
	*out = strdup(s);
	if (*out == NULL) {
		r->nomem = 1;
		return -1;
	}
	return 0;
}

/* The most sun_path holds, its terminating NUL aside. */
#define CONF_SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

int conf_get_socket_path(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, char **out)
{
	char *path = NULL;

	if (conf_get_string(r, k, v, CONF_PATH_TEXT_MAX, &path) < 0)
		return -1;
	if (strlen(path) > CONF_SOCKET_PATH_MAX) {
		conf_report_node(r, k, v,
			"'%s' is longer than %zu bytes, the most a unix socket path can hold",
			k->str, CONF_SOCKET_PATH_MAX);
		free(path);
		return -1;
	}
	free(*out);
	*out = path;
	return 0;
}

int conf_get_bytes(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	size_t maxlen, char **out, size_t *len)
{
	const char *s;

	if (conf_get_word(r, k, v, "a string", &s) < 0)
		return -1;
	if (*s == '\0') {
		conf_report_node(r, k, v, "'%s' is empty", k->str);
		return -1;
	}
	if (v->len > maxlen) {
		conf_report_node(r, k, v, "'%s' is longer than %zu bytes", k->str, maxlen);
		return -1;
	}
	*out = malloc(v->len + 1);
	if (*out == NULL) {
		r->nomem = 1;
		return -1;
	}
	memcpy(*out, s, v->len + 1);
	if (len != NULL)
		*len = v->len;
	return 0;
}

int conf_get_bool(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, int *out)
{
	char desc[CONF_SHOW_MAX];
	const char *s;

	if (conf_get_word(r, k, v, "true or false", &s) < 0)
		return -1;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
		*out = 0;
		return 0;
	}
	conf_report_node(r, k, v, "'%s': expected true or false, got %s", k->str,
		conf_node_desc(v, desc, sizeof(desc)));
	return -1;
}

int conf_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	/* A leading zero would be octal to YAML 1.1 readers and decimal to us: refuse both. */
	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int conf_get_uint(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	unsigned min, unsigned max, unsigned *out)
{
	char desc[CONF_SHOW_MAX];
	const char *s;
	uint64_t n;

	if (conf_get_word(r, k, v, "an integer", &s) < 0)
		return -1;
	if (conf_parse_u64(s, &n) < 0) {
		conf_report_node(r, k, v, "'%s': expected an integer, got %s", k->str,
			conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	if (n < min || n > max) {
		conf_report_node(r, k, v, "'%s' must be between %u and %u, got %llu", k->str, min,
			max, (unsigned long long)n);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

int conf_get_duration(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	int positive, uint64_t *ms)
{
	char show[CONF_SHOW_MAX];
	const char *s;
	uint64_t val;

	if (conf_get_word(r, k, v, "a duration", &s) < 0)
		return -1;
	int rc = duration_parse(s, &val);
	if (rc == -ERANGE) {
		conf_report_node(r, k, v, "'%s': duration %s is too long (at most 49 days)", k->str,
			conf_show(s, show, sizeof(show)));
		return -1;
	}
	if (rc < 0) {
		size_t z = strspn(s, "0");
		uint64_t ignored;

		/* 010s, 00s: say what to write when only the zeros are wrong (10s, 0s). */
		if (z > 0 && (s[z] < '1' || s[z] > '9'))
			z--;
		if (z > 0 && duration_parse(s + z, &ignored) == 0) {
			char fix[CONF_SHOW_MAX];

			conf_report_node(r, k, v,
				"'%s': bad duration %s: no leading zero, write %s", k->str,
				conf_show(s, show, sizeof(show)),
				conf_show(s + z, fix, sizeof(fix)));
			return -1;
		}
		conf_report_node(r, k, v,
			"'%s': bad duration %s: use a number and a unit: ms, s, m, h", k->str,
			conf_show(s, show, sizeof(show)));
		return -1;
	}
	if (positive && val == 0) {
		conf_report_node(r, k, v, "'%s' must be longer than 0", k->str);
		return -1;
	}
	*ms = val;
	return 0;
}

const char *conf_show_ms(uint64_t ms, int dflt, char *buf, int cap)
{
	char d[32];

	snprintf(buf, (size_t)cap, "%s%s", duration_format(ms, d, sizeof(d)),
		dflt ? ", the default" : "");
	return buf;
}

void conf_report_value(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *allowed)
{
	char show[CONF_SHOW_MAX];

	conf_report_node(r, k, v, "'%s': unknown value %s (expected one of: %s)", k->str,
		conf_show(v->str, show, sizeof(show)), allowed);
}

int conf_get_enum(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const char *const *names, size_t n, int *out)
{
	char allowed[256];
	const char *s;
	size_t o = 0;

	if (conf_get_word(r, k, v, "a string", &s) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	allowed[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= sizeof(allowed) - o)
			break;
		o += (size_t)w;
	}
	conf_report_value(r, k, v, allowed);
	return -1;
}

int conf_get_addr(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	char **text, struct addr *a)
{
	char show[CONF_SHOW_MAX];
	char why[ADDR_WHY_MAX];
	const char *s;

	if (conf_get_word(r, k, v, "an address", &s) < 0)
		return -1;
	if (addr_parse(s, 0, a, why, sizeof(why)) < 0) {
		conf_report_node(r, k, v, "'%s': bad address %s: %s", k->str,
			conf_show(s, show, sizeof(show)), why);
		return -1;
	}
	*text = strdup(s);
	if (*text == NULL) {
		r->nomem = 1;
		return -1;
	}
	return 0;
}
