/*
 * DOC: the reference configuration shows every key and is valid
 *
 * examples/anylb.yaml (with the file it includes, examples/anylb.d/dns.yaml, and
 * examples/anylb-bird-protocol.yaml for the keys of the other announcement mode) is the file
 * docs/CONFIG.md and the man page send the reader to. Every key of the loader's tables
 * (conf_keys()) must be set in one of them at its place, and both must pass `anylb -t`. A key added
 * to the loader without its line in the example fails here.
 */
#include "conf/conf.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_PATHS    512
#define PATH_MAX_LEN 160

/* The dotted paths of every mapping key: "global.admin.listen", "services[].backends[].zone". */
struct paths {
	char path[MAX_PATHS][PATH_MAX_LEN];
	size_t n;
};

static void walk(yaml_document_t *doc, yaml_node_t *node, const char *at, struct paths *out)
{
	char sub[PATH_MAX_LEN];

	if (node->type == YAML_SEQUENCE_NODE) {
		snprintf(sub, sizeof(sub), "%s[]", at);
		for (yaml_node_item_t *it = node->data.sequence.items.start;
			it < node->data.sequence.items.top; it++)
			walk(doc, yaml_document_get_node(doc, *it), sub, out);
		return;
	}
	if (node->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
		p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		cr_assert_eq(k->type, YAML_SCALAR_NODE);
		snprintf(sub, sizeof(sub), "%s%s%s", at, at[0] != '\0' ? "." : "",
			(const char *)k->data.scalar.value);
		cr_assert_lt(out->n, MAX_PATHS);
		snprintf(out->path[out->n++], PATH_MAX_LEN, "%s", sub);
		walk(doc, yaml_document_get_node(doc, p->value), sub, out);
	}
}

static void load(const char *name, struct paths *out)
{
	char path[512];
	yaml_parser_t parser;
	yaml_document_t doc;

	snprintf(path, sizeof(path), "%s/examples/%s", ANYLB_SOURCE_DIR, name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, f);
	cr_assert(yaml_parser_load(&parser, &doc), "%s: not YAML", path);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	cr_assert_not_null(root, "%s: empty", path);
	walk(&doc, root, "", out);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
}

/* Does the path "a.b.c" match the section "a.*" and key "c"? A `*` stands for one segment. */
static int matches(const char *path, const char *section, const char *key)
{
	char want[PATH_MAX_LEN];

	snprintf(want, sizeof(want), "%s%s%s", section, section[0] != '\0' ? "." : "", key);
	const char *p = path, *w = want;
	while (*p != '\0' && *w != '\0') {
		if (*w == '*') {
			while (*p != '\0' && *p != '.')
				p++;
			w++;
			continue;
		}
		if (*p != *w)
			return 0;
		p++;
		w++;
	}
	return *p == '\0' && *w == '\0';
}

static struct paths paths;
static unsigned checked, missing;

static void check_key(void *arg, const char *section, const char *key, int later)
{
	(void)arg;
	if (later)
		return;
	checked++;
	for (size_t i = 0; i < paths.n; i++)
		if (matches(paths.path[i], section, key))
			return;
	cr_log_error("examples/anylb.yaml: no `%s` under `%s`", key,
		section[0] != '\0' ? section : "(top level)");
	missing++;
}

Test(example, sets_every_key_the_loader_reads)
{
	load("anylb.yaml", &paths);
	load("anylb.d/dns.yaml", &paths);
	load("anylb-bird-protocol.yaml", &paths);
	conf_keys(check_key, NULL);
	cr_expect_gt(checked, 60, "the loader's tables were not walked (%u keys)", checked);
	cr_expect_eq(missing, 0, "%u of %u keys are missing from the reference (above)", missing,
		checked);
}

Test(example, the_matcher_reads_one_segment_per_star)
{
	cr_expect(matches("services[].health.liveness.type", "services[].health.*", "type"));
	cr_expect(matches("global.admin.listen", "global.admin", "listen"));
	cr_expect(matches("bgp", "", "bgp"));
	cr_expect_not(matches("services[].health.type", "services[].health.*", "type"));
	cr_expect_not(matches("global.admin.listen", "global", "listen"));
	cr_expect_not(matches("global.admin.listen_x", "global.admin", "listen"));
}

/* The reference with its token file replaced by a scratch one, written to conf. */
static void copy_with_token(const char *conf, const char *token)
{
	static const char want[] = "/etc/anylb/admin.token";
	char path[512], text[16384];

	snprintf(path, sizeof(path), "%s/examples/anylb.yaml", ANYLB_SOURCE_DIR);
	FILE *in = fopen(path, "r");
	cr_assert_not_null(in, "%s", path);
	size_t len = fread(text, 1, sizeof(text) - 1, in);
	cr_assert_lt(len, sizeof(text) - 1, "%s is larger than this test reads", path);
	text[len] = '\0';
	fclose(in);
	char *at = strstr(text, want);
	cr_assert_not_null(at, "%s names no %s", path, want);
	FILE *out = fopen(conf, "w");
	cr_assert_not_null(out);
	fprintf(out, "%.*s%s%s", (int)(at - text), text, token, at + strlen(want));
	cr_assert_eq(fclose(out), 0);
}

/* anylb -t on each file; the token file the reference names is a scratch one here. */
Test(example, both_files_pass_anylb_t)
{
	char out[4096], token[] = "/tmp/anylb-example-token-XXXXXX",
			conf[] = "/tmp/anylb-example-XXXXXX.yaml";
	int rc;

	int fd = mkstemp(token);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "example-token-0123456789\n", 25), 25);
	close(fd);
	fd = mkstemps(conf, 5);
	cr_assert_geq(fd, 0);
	close(fd);
	copy_with_token(conf, token);
	rc = sc_cmd(out, sizeof(out), 10000, "%s -t -c %s", ANYLB_BIN, conf);
	cr_expect_eq(rc, 0, "anylb -t examples/anylb.yaml: %d: %s", rc, out);
	rc = sc_cmd(out, sizeof(out), 10000, "%s -t -c %s/examples/anylb-bird-protocol.yaml",
		ANYLB_BIN, ANYLB_SOURCE_DIR);
	cr_expect_eq(rc, 0, "anylb -t examples/anylb-bird-protocol.yaml: %d: %s", rc, out);
	unlink(conf);
	unlink(token);
}
