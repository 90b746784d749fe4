/*
 * DOC: the reference documents every key the loader reads
 *
 * conf_keys() walks the loader's own key tables; docs/CONFIG.md must have a table row for each
 * key (not a `later` one) in the section the key belongs to: `| \`admin.socket\` |` or
 * `| \`socket\` |` under "## `global`" for global.admin.socket, `| \`interval\` |` under
 * "### `services[].health`" for a check's interval, a heading of its own for a top-level key. A
 * key added to the loader without its documentation fails here, naming it.
 */
#include "conf/conf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECTIONS 64

struct doc {
	char *text;
	struct {
		char name[96]; /* the heading's backticked text: "global", "services[].health" */
		const char *body, *end;
	} sec[MAX_SECTIONS];
	size_t n;
};

static struct doc doc;
static unsigned checked, missing;

static void doc_load(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/docs/CONFIG.md", ANYLB_SOURCE_DIR);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long len = ftell(f);
	rewind(f);
	doc.text = calloc(1, (size_t)len + 1);
	cr_assert_not_null(doc.text);
	cr_assert_eq(fread(doc.text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	/* Sections: "## `name`..." or "### `name`...", each up to the next heading. */
	for (char *p = doc.text; p != NULL && *p != '\0';
		p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (p[0] != '#')
			continue;
		char *tick = strchr(p, '`'), *eol = strchr(p, '\n');
		if (doc.n > 0)
			doc.sec[doc.n - 1].end = p;
		if (tick == NULL || (eol != NULL && tick > eol) || doc.n == MAX_SECTIONS)
			continue;
		char *close = strchr(tick + 1, '`');
		cr_assert_not_null(close);
		snprintf(doc.sec[doc.n].name, sizeof(doc.sec[0].name), "%.*s",
			(int)(close - tick - 1), tick + 1);
		doc.sec[doc.n].body = eol != NULL ? eol : close;
		doc.sec[doc.n].end = doc.text + len;
		doc.n++;
	}
	cr_assert_gt(doc.n, 5, "no sections found in %s", path);
}

/* Does [body, end) hold a table row whose first cell is `key`? */
static int has_row(const char *body, const char *end, const char *key)
{
	char want[160];
	size_t n = (size_t)snprintf(want, sizeof(want), "\n| `%s` |", key);

	for (const char *p = body; p != NULL && p + n <= end; p++) {
		p = strstr(p, want);
		if (p == NULL || p + n > end)
			return 0;
		return 1;
	}
	return 0;
}

/* The section's own heading: the longest whose name is the section or a prefix of it. */
static int heading_of(const char *section, size_t *rest)
{
	int best = -1;
	size_t blen = 0;

	for (size_t i = 0; i < doc.n; i++) {
		size_t n = strlen(doc.sec[i].name);
		if (strncmp(section, doc.sec[i].name, n) != 0 || n < blen)
			continue;
		if (section[n] != '\0' && section[n] != '.' && section[n] != '[')
			continue;
		best = (int)i;
		blen = n;
	}
	*rest = blen;
	return best;
}

static void check_key(void *arg, const char *section, const char *key, int later)
{
	(void)arg;
	if (later)
		return;
	checked++;
	if (section[0] == '\0') { /* a top-level key has a heading */
		size_t rest;
		int h = heading_of(key, &rest);
		if (h < 0 || strcmp(doc.sec[h].name, key) != 0) {
			cr_log_error("docs/CONFIG.md: no heading for the top-level key `%s`", key);
			missing++;
		}
		return;
	}
	size_t skip;
	int h = heading_of(section, &skip);
	if (h < 0) {
		cr_log_error("docs/CONFIG.md: no section for %s (key `%s`)", section, key);
		missing++;
		return;
	}
	/* What is left of the section past the heading: "admin" for global.admin, "*" ... */
	const char *rest = section + skip;
	while (*rest == '.' || *rest == '[' || *rest == ']')
		rest++;
	char dotted[160];
	snprintf(dotted, sizeof(dotted), "%s.%s", rest, key);
	if (has_row(doc.sec[h].body, doc.sec[h].end, key) ||
		(rest[0] != '\0' && has_row(doc.sec[h].body, doc.sec[h].end, dotted)))
		return;
	cr_log_error("docs/CONFIG.md: no row for `%s` (%s.%s) under `%s`", key, section, key,
		doc.sec[h].name);
	missing++;
}

Test(conf_keys, every_key_the_loader_reads_is_in_config_md)
{
	doc_load();
	conf_keys(check_key, NULL);
	cr_expect_gt(checked, 50, "the loader's tables were not walked (%u keys)", checked);
	cr_expect_eq(missing, 0, "%u of %u keys are not documented in docs/CONFIG.md (above)",
		missing, checked);
	free(doc.text);
}

struct count {
	unsigned keys, sections;
	char last[96];
	int any;
};

static void count_key(void *arg, const char *section, const char *key, int later)
{
	struct count *c = arg;
	(void)later;
	cr_assert_not_null(key);
	cr_assert_neq(key[0], '\0');
	c->keys++;
	if (!c->any || strcmp(c->last, section) != 0)
		c->sections++;
	c->any = 1;
	snprintf(c->last, sizeof(c->last), "%s", section);
}

Test(conf_keys, the_walk_covers_every_table_once)
{
	struct count c = {0};

	conf_keys(count_key, &c);
	cr_expect_eq(c.sections, 23, "%u tables", c.sections);
	cr_expect_gt(c.keys, 60);
}
