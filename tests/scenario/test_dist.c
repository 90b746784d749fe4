/*
 * DOC: the dashboard and the alert rules in dist/ work, and name only metrics that exist
 *
 * - dist/prometheus/anylb-alerts.yaml passes `promtool check rules`, and its unit tests
 *   (anylb-alerts.test.yaml) pass `promtool test rules`: each alert fires on the series that
 *   should fire it, with its labels and annotations, and stays silent on the others.
 * - dist/grafana/anylb.json is a Grafana 10 dashboard (schema version 38): unique panel ids,
 *   panels inside the 24-column grid without overlap, every query on the dashboard's data source
 *   variable, and every query valid PromQL (promtool checks each as a recording rule, with
 *   Grafana's variables replaced).
 * - Every metric either file uses is one that lb/metrics.c writes, and each family that
 *   lb/metrics.c writes has its row in docs/ADMIN.md: a renamed metric fails here, not in an
 *   operator's dashboard.
 */
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(dist, .fini = sc_cleanup, .timeout = 120);

#define MAX_NAMES 256

struct names {
	char v[MAX_NAMES][96];
	size_t n;
};

static int has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

static void add(struct names *s, const char *name)
{
	if (has(s, name))
		return;
	cr_assert_lt(s->n, MAX_NAMES);
	snprintf(s->v[s->n++], sizeof(s->v[0]), "%s", name);
}

/* A histogram's series are its family's: anylb_x_bucket, _sum and _count name anylb_x. */
static void family_of(char *name, const struct names *families)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};

	if (families != NULL && has(families, name))
		return;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(suffixes[i]);
		if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
			name[n - k] = '\0';
			return;
		}
	}
}

/* Every match of pattern's first group in text, as a family name (when families is given). */
static void scan(
	const char *text, const char *pattern, struct names *out, const struct names *families)
{
	regex_t re;
	regmatch_t m[2];

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
	for (const char *p = text; regexec(&re, p, 2, m, 0) == 0; p += m[0].rm_eo) {
		char name[96];
		snprintf(
			name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
		family_of(name, families);
		add(out, name);
	}
	regfree(&re);
}

static char *source(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", ANYLB_SOURCE_DIR, rel);
	char *text = sc_read_file(path);
	cr_assert_not_null(text, "%s", path);
	return text;
}

/*
 * The families lb/metrics.c writes: every metric name it spells as a string of its own (in
 * family(), in a variable, in a table), the _bucket, _sum and _count of a histogram as the
 * histogram; and those lb/handoff.c writes itself (its # TYPE lines).
 */
static void written_families(struct names *out)
{
	char *m = source("lb/metrics.c"), *h = source("lb/handoff.c");

	scan(m, "\"((anylb|process)_[a-z_]+)\"", out, NULL);
	free(m);
	cr_assert_gt(out->n, 40, "%zu families found in lb/metrics.c", out->n);
	size_t n = out->n;
	scan(h, "# TYPE ((anylb|process)_[a-z_]+) ", out, NULL);
	free(h);
	cr_assert_geq(out->n, n + 2, "the flow hand-off's families in lb/handoff.c");
}

Test(dist, every_family_written_is_documented)
{
	struct names written = {0}, documented = {0};
	char *doc = source("docs/ADMIN.md");

	written_families(&written);
	scan(doc, "\n\\| `((anylb|process)_[a-z_]+)` \\|", &documented, NULL);
	free(doc);
	for (size_t i = 0; i < written.n; i++)
		cr_expect(has(&documented, written.v[i]),
			"lb/metrics.c writes %s: docs/ADMIN.md has no row for it", written.v[i]);
	for (size_t i = 0; i < documented.n; i++)
		cr_expect(has(&written, documented.v[i]),
			"docs/ADMIN.md documents %s: lb/metrics.c (or lb/handoff.c) does not write "
			"it",
			documented.v[i]);
}

static void uses_only_written(const char *rel)
{
	struct names written = {0}, used = {0};
	char *text = source(rel);

	written_families(&written);
	scan(text, "[^a-z_]((anylb|process)_[a-z_]+)", &used, &written);
	free(text);
	cr_assert_gt(used.n, 10, "%s: %zu metrics found", rel, used.n);
	for (size_t i = 0; i < used.n; i++)
		cr_expect(has(&written, used.v[i]), "%s uses %s, which anylb does not write", rel,
			used.v[i]);
}

Test(dist, the_alerts_pass_promtool_and_their_unit_tests)
{
	char out[16384];
	int rc;

	rc = sc_cmd(out, sizeof(out), 60000,
		"promtool check rules %s/dist/prometheus/anylb-alerts.yaml", ANYLB_SOURCE_DIR);
	cr_assert_neq(rc, 127, "promtool is missing: run scripts/deps.sh");
	cr_expect_eq(rc, 0, "promtool check rules: %d\n%s", rc, out);
	rc = sc_cmd(out, sizeof(out), 60000,
		"promtool test rules %s/dist/prometheus/anylb-alerts.test.yaml", ANYLB_SOURCE_DIR);
	cr_expect_eq(rc, 0, "promtool test rules: %d\n%s", rc, out);
	cr_expect(strstr(out, "SUCCESS") != NULL, "%s", out);
	uses_only_written("dist/prometheus/anylb-alerts.yaml");
}

/* expr with Grafana's variables replaced by what Prometheus would get, as YAML-quoted text. */
static void write_rule(FILE *f, size_t n, const char *expr)
{
	static const char *const vars[][2] = {{"$__rate_interval", "5m"}, {"$__range", "6h"},
		{"$instance", ".*"}, {"$service", ".*"}};

	fprintf(f, "      - record: anylb:dashboard_query_%zu\n        expr: '", n);
	for (const char *p = expr; *p != '\0';) {
		size_t i;
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			if (strncmp(p, vars[i][0], strlen(vars[i][0])) == 0)
				break;
		if (i < sizeof(vars) / sizeof(vars[0])) {
			fputs(vars[i][1], f);
			p += strlen(vars[i][0]);
			continue;
		}
		cr_assert_neq(*p, '$', "an unknown Grafana variable in: %s", expr);
		if (*p == '\'')
			fputc('\'', f);
		fputc(*p++, f);
	}
	fputs("'\n", f);
}

struct grid {
	unsigned char used[200][24];
};

static void check_panel(json_t *p, struct grid *g, json_t *ids, FILE *rules, size_t *nq)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	json_int_t id = json_integer_value(json_object_get(p, "id"));
	json_t *gp = json_object_get(p, "gridPos");
	char key[32];

	cr_assert_not_null(type);
	cr_expect(strcmp(type, "row") == 0 || strcmp(type, "timeseries") == 0 ||
			  strcmp(type, "stat") == 0,
		"panel %lld: type %s is not one of Grafana 10's core panels used here",
		(long long)id, type);
	cr_assert_gt(id, 0);
	snprintf(key, sizeof(key), "%lld", (long long)id);
	cr_expect_null(json_object_get(ids, key), "panel id %lld twice", (long long)id);
	json_object_set_new(ids, key, json_true());
	json_int_t x = json_integer_value(json_object_get(gp, "x")),
		   y = json_integer_value(json_object_get(gp, "y")),
		   w = json_integer_value(json_object_get(gp, "w")),
		   h = json_integer_value(json_object_get(gp, "h"));
	cr_assert(w > 0 && h > 0 && x >= 0 && y >= 0 && x + w <= 24 && y + h <= 200,
		"panel %lld: gridPos %lld,%lld %lldx%lld is outside the grid", (long long)id,
		(long long)x, (long long)y, (long long)w, (long long)h);
	for (json_int_t r = y; r < y + h; r++)
		for (json_int_t c = x; c < x + w; c++) {
			cr_expect_eq(g->used[r][c], 0, "panel %lld overlaps another at %lld,%lld",
				(long long)id, (long long)c, (long long)r);
			g->used[r][c] = 1;
		}
	if (strcmp(type, "row") == 0)
		return;
	cr_expect_str_eq(
		json_string_value(json_object_get(json_object_get(p, "datasource"), "uid")),
		"${datasource}", "panel %lld is not on the data source variable", (long long)id);
	json_t *targets = json_object_get(p, "targets");
	cr_assert_gt(json_array_size(targets), 0, "panel %lld has no query", (long long)id);
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t)
	{
		const char *expr = json_string_value(json_object_get(t, "expr"));
		cr_assert_not_null(expr, "panel %lld, query %zu has no expr", (long long)id, i);
		cr_expect_not_null(json_string_value(json_object_get(t, "refId")));
		write_rule(rules, (*nq)++, expr);
	}
}

Test(dist, the_dashboard_is_grafana_10_and_its_queries_are_promql)
{
	char path[512], out[16384];
	json_error_t e;
	static struct grid g;
	size_t nq = 0, i;
	json_t *p;

	snprintf(path, sizeof(path), "%s/dist/grafana/anylb.json", ANYLB_SOURCE_DIR);
	json_t *d = json_load_file(path, 0, &e);
	cr_assert_not_null(d, "%s:%d:%d: %s", path, e.line, e.column, e.text);
	cr_expect_eq(json_integer_value(json_object_get(d, "schemaVersion")), 38,
		"Grafana 10.0 writes schema version 38");
	cr_expect_str_eq(json_string_value(json_object_get(d, "uid")), "anylb");
	json_t *vars = json_object_get(json_object_get(d, "templating"), "list");
	cr_expect_str_eq(
		json_string_value(json_object_get(json_array_get(vars, 0), "type")), "datasource");
	const char *rules_path = sc_temp_file(".yaml", "%s", "");
	cr_assert_not_null(rules_path);
	FILE *rules = fopen(rules_path, "w");
	cr_assert_not_null(rules);
	fputs("groups:\n  - name: dashboard\n    rules:\n", rules);
	json_t *ids = json_object();
	json_array_foreach(json_object_get(d, "panels"), i, p) check_panel(p, &g, ids, rules, &nq);
	json_decref(ids);
	json_decref(d);
	cr_assert_eq(fclose(rules), 0);
	cr_expect_gt(nq, 25, "%zu queries", nq);
	int rc = sc_cmd(out, sizeof(out), 60000, "promtool check rules %s", rules_path);
	cr_assert_neq(rc, 127, "promtool is missing: run scripts/deps.sh");
	cr_expect_eq(rc, 0, "a dashboard query is not PromQL: %d\n%s\n%s", rc, out,
		sc_read_file(rules_path));
	uses_only_written("dist/grafana/anylb.json");
}
