/*
 * DOC: ${NAME} in configuration values
 *
 * Before a file's tree is mapped, every scalar value in it (never a mapping key: keys are the
 * file's structure, not data) is rewritten:
 *
 *   ${NAME}          the environment variable NAME; unset is an error at the scalar
 *   ${NAME:-default} NAME, or default when NAME is unset or empty (as the shell does)
 *   $$               a literal $
 *
 * A $ followed by anything else stays as written, so that existing values with a $ (a
 * send_expect string, a password-like path) keep their meaning. NAME is [A-Za-z_][A-Za-z0-9_]*;
 * a default holds no '}' and is not expanded again. The result is typed afterwards like any
 * value: `port: ${PORT}` is an integer when PORT holds digits, and a plain scalar that becomes
 * empty is null. The scalar keeps its FILE:LINE:COL, which is where errors about the value,
 * substituted or not, point.
 *
 * The environment is the process's (getenv): the main thread's, read at load and at every
 * reload; nothing in anylb sets variables after start.
 */
#include "conf/internal.h"

#include <stdlib.h>
#include <string.h>

/* A value may grow this much through substitution; beyond, the file is probably wrong. */
#define CONF_ENV_MAX (64u << 10)

struct conf_sbuf {
	char *p;
	size_t len, cap;
	int over; /* CONF_ENV_MAX passed */
	int nomem;
};

static void conf_sbuf_add(struct conf_sbuf *b, const char *s, size_t n)
{
	if (b->over || b->nomem)
		return;
	if (b->len + n > CONF_ENV_MAX) {
		b->over = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->nomem = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static int conf_env_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int conf_env_name_char(char c)
{
	return conf_env_name_start(c) || (c >= '0' && c <= '9');
}

/* Returns 0 with b holding the new value, -1 after reporting (b is then to be dropped). */
static int conf_env_scalar(struct conf_report *r, const struct conf_node *n, struct conf_sbuf *b)
{
	char show[CONF_SHOW_MAX];
	const char *s = n->str, *end = n->str + n->len;

	while (s < end) {
		const char *d = memchr(s, '$', (size_t)(end - s));
		if (d == NULL) {
			conf_sbuf_add(b, s, (size_t)(end - s));
			break;
		}
		conf_sbuf_add(b, s, (size_t)(d - s));
		if (d + 1 < end && d[1] == '$') {
			conf_sbuf_add(b, "$", 1);
			s = d + 2;
			continue;
		}
		if (d + 1 >= end || d[1] != '{') {
			conf_sbuf_add(b, "$", 1);
			s = d + 1;
			continue;
		}
		const char *name = d + 2, *p = name;
		while (p < end && conf_env_name_char(*p))
			p++;
		size_t nlen = (size_t)(p - name);
		const char *close = memchr(p, '}', (size_t)(end - p));
		if (close == NULL) {
			conf_report_at_node(
				r, n, "'${' without a closing '}' (write '$$' for a '$')");
			return -1;
		}
		int has_default = end - p >= 2 && p[0] == ':' && p[1] == '-';
		if (nlen == 0 || !conf_env_name_start(*name) || (p != close && !has_default)) {
			char ref[CONF_SHOW_MAX];
			size_t rl = (size_t)(close - d + 1);
			if (rl >= sizeof(ref))
				rl = sizeof(ref) - 1;
			memcpy(ref, d, rl);
			ref[rl] = '\0';
			conf_report_at_node(r, n,
				"%s is not a variable reference: expected ${NAME} or "
				"${NAME:-default}, "
				"NAME of letters, digits and '_'",
				conf_show(ref, show, sizeof(show)));
			return -1;
		}
		char key[256];
		if (nlen >= sizeof(key)) {
			conf_report_at_node(
				r, n, "variable name longer than %zu characters", sizeof(key) - 1);
			return -1;
		}
		memcpy(key, name, nlen);
		key[nlen] = '\0';
		const char *val = getenv(key);
		if (has_default && (val == NULL || *val == '\0')) {
			conf_sbuf_add(b, p + 2, (size_t)(close - (p + 2)));
		} else if (val == NULL) {
			conf_report_at_node(r, n,
				"environment variable '%s' is not set (write ${%s:-default} for a "
				"default)",
				key, key);
			return -1;
		} else {
			conf_sbuf_add(b, val, strlen(val));
		}
		s = close + 1;
	}
	if (b->nomem) {
		r->nomem = 1;
		return -1;
	}
	if (b->over) {
		conf_report_at_node(
			r, n, "the value is longer than %u bytes after substitution", CONF_ENV_MAX);
		return -1;
	}
	return 0;
}

static void conf_env_node(struct conf_report *r, struct conf_tree *t, struct conf_node *n)
{
	switch (n->kind) {
	case CONF_NODE_SCALAR: {
		if (memchr(n->str, '$', n->len) == NULL)
			return;
		struct conf_sbuf b = {0};
		if (conf_env_scalar(r, n, &b) < 0) {
			/* Reported: the readers skip it quietly instead of judging the text. */
			n->kind = CONF_NODE_BAD;
		} else {
			char *s = conf_tree_alloc(t, b.len + 1);
			if (s == NULL) {
				r->nomem = 1;
			} else {
				if (b.len > 0)
					memcpy(s, b.p, b.len);
				s[b.len] = '\0';
				n->str = s;
				n->len = b.len;
			}
		}
		free(b.p);
		return;
	}
	case CONF_NODE_LIST:
		for (struct conf_node *i = n->first; i != NULL; i = i->next)
			conf_env_node(r, t, i);
		return;
	case CONF_NODE_MAP:
		for (struct conf_node *k = n->first; k != NULL && k->next != NULL;
			k = k->next->next)
			conf_env_node(r, t, k->next);
		return;
	case CONF_NODE_BAD:
		return;
	}
}

void conf_env_expand(struct conf_report *r, struct conf_tree *t, struct conf_node *n)
{
	if (n != NULL)
		conf_env_node(r, t, n);
}
