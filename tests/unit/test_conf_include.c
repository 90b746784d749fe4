/*
 * DOC: include: and ${NAME} in the configuration
 *
 * The file set of one load (conf/include.c) over the fixtures in tests/conf/include/, loaded as
 * "tests/conf/include/NAME.yaml" from the source directory as the golden files are: a file, a
 * glob in sorted order, a glob matching nothing, an empty included file, nested includes; and
 * the refusals with their exact lines: an error inside an included file at its own
 * FILE:LINE:COL, a loop (direct and through another file), a missing file, a key set in two
 * files, an included list, files nested too deep (generated in a scratch directory), a path
 * too long; and `anylb -t`, which prints the included file's lines.
 *
 * Then ${NAME} (conf/env.c) over buffers: set, unset (an error at the scalar), the default,
 * typed after substitution (an integer from a variable), $$, keys left alone, bad references.
 * Variables are named ANYLB_T_* and unset by each test that sets them.
 */
#include <criterion/criterion.h>

#include "conf/conf.h"
#include "tests/support/conf_util.h"
#include "tests/support/netns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INC SC_CONF_DIR "/include/"

TestSuite(conf_include, .fini = sc_conf_check_leaks);
TestSuite(conf_env, .fini = sc_conf_check_leaks);

/* Loads path (from the source directory), which must fail; returns the printed messages. */
static char *load_msgs(const char *path)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	sc_conf_to_source_dir();
	int rc = conf_load(path, &c, &errs);
	cr_assert_eq(rc, -EINVAL, "%s: rc %d", path, rc);
	cr_assert_null(c);
	char *got = sc_conf_print_errs(&errs);
	conf_errs_free(&errs);
	return got;
}

static void expect_msgs(const char *path, const char *want)
{
	char *got = load_msgs(path);
	cr_expect_str_eq(got, want, "%s:\ngot:\n%s\nwant:\n%s", path, got, want);
	free(got);
}

Test(conf_include, file_glob_and_nesting_append_services_in_order)
{
	unsetenv("ANYLB_T_SITE");
	struct conf *c = sc_conf_load_ok("include/main.yaml");

	cr_assert_eq(c->nservices, 3);
	cr_expect_str_eq(c->services[0].name, "a");
	cr_expect_str_eq(c->services[1].name, "b"); /* services.d/b.yaml before c.yaml */
	cr_expect_str_eq(c->services[2].name, "c");
	cr_expect_str_eq(c->global.site, "lab"); /* ${ANYLB_T_SITE:-lab} in global.yaml */
	/* main, global, b, c and the empty file c includes; none.d/ matched nothing. */
	cr_expect_eq(c->nfiles, 5);
	cr_expect_str_eq(c->files[0], INC "main.yaml");
	cr_expect_str_eq(conf_pos_file(c, c->services[0].pos), INC "main.yaml");
	cr_expect_str_eq(conf_pos_file(c, c->services[2].pos), INC "services.d/c.yaml");
	cr_expect_eq(c->services[2].pos.line, 3);
	cr_expect_str_eq(conf_pos_file(c, c->services[2].backends[0].pos), INC "services.d/c.yaml");

	/* A message about the struct later (a failed bind, a CA file) names the included file. */
	struct conf_errs errs = {0};
	cr_assert_eq(conf_errs_add(&errs, c->file, c->services[1].listen[0].pos, "x"), 0);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got, INC "services.d/b.yaml:3:13: x\n");
	free(got);
	conf_errs_free(&errs);
	conf_free(c);
}

Test(conf_include, a_variable_reaches_an_included_file)
{
	setenv("ANYLB_T_SITE", "ams1", 1);
	struct conf *c = sc_conf_load_ok("include/main.yaml");
	cr_expect_str_eq(c->global.site, "ams1");
	conf_free(c);
	unsetenv("ANYLB_T_SITE");
}

Test(conf_include, an_error_in_an_included_file_is_at_its_own_place)
{
	expect_msgs(INC "bad-main.yaml", INC
		"bad-part.yaml:3:13: duplicate listen address '127.0.0.1:8001' (first at " INC
		"bad-main.yaml:4)\n" INC
		"bad-part.yaml:5:18: 'address': bad address '127.0.0.1:0': bad port (1-65535)\n");
}

Test(conf_include, a_loop_through_another_file_is_refused_with_the_chain)
{
	expect_msgs(INC "loop-a.yaml",
		INC "loop-b.yaml:2:5: 'include': include loop: " INC "loop-a.yaml -> " INC
		    "loop-b.yaml -> " INC "loop-a.yaml\n");
}

Test(conf_include, a_file_including_itself_is_refused)
{
	expect_msgs(INC "self.yaml", INC "self.yaml:1:11: 'include': include loop: " INC
					 "self.yaml -> " INC "self.yaml\n");
}

Test(conf_include, a_missing_file_is_refused_at_its_entry)
{
	expect_msgs(INC "missing.yaml",
		INC "missing.yaml:1:11: 'include': '" INC "missing-part.yaml': cannot read the "
		    "file: No such file or directory\n");
}

Test(conf_include, a_key_set_in_two_files_is_refused_naming_both)
{
	expect_msgs(INC "twice-main.yaml", INC "twice-part.yaml:1:1: 'global' is already set "
					       "(first at " INC "twice-main.yaml:1)\n");
}

Test(conf_include, an_included_file_must_hold_a_mapping)
{
	expect_msgs(INC "list-main.yaml",
		INC "list-part.yaml:1:1: an included file must hold a mapping of top-level keys, "
		    "got a list\n");
}

Test(conf_include, include_only_at_the_top_level)
{
	static const char y[] = "services:\n"
				"  - name: a\n"
				"    include: x.yaml\n"
				"    listen: 127.0.0.1:8001\n"
				"    backends: [{address: \"127.0.0.1:9001\"}]\n";
	int rc;
	char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(got, "t.yaml:3:5: unknown key 'include' in a service") == got, "%s", got);
	free(got);
}

/* d0.yaml includes d1.yaml ... d9.yaml: more than CONF_MAX_INCLUDE_DEPTH (8) levels. */
Test(conf_include, files_nested_too_deep_are_refused)
{
	char dir[] = "/tmp/anylb-include-XXXXXX", path[128], want[256];
	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "%s/d%d.yaml", dir, i);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		if (i < 9)
			fprintf(f, "include: d%d.yaml\n", i + 1);
		if (i == 0)
			fprintf(f, "services:\n  - name: a\n    listen: 127.0.0.1:8001\n"
				   "    backends: [{address: \"127.0.0.1:9001\"}]\n");
		cr_assert_eq(fclose(f), 0);
	}
	snprintf(path, sizeof(path), "%s/d0.yaml", dir);
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	cr_expect_eq(conf_load(path, &c, &errs), -EINVAL);
	char *got = sc_conf_print_errs(&errs);
	snprintf(want, sizeof(want),
		"%s/d8.yaml:1:10: 'include': files include each other too deep (more than 8 "
		"levels)\n",
		dir);
	cr_expect_str_eq(got, want);
	free(got);
	conf_errs_free(&errs);
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "%s/d%d.yaml", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

/* ---- ${NAME} ---- */

static const char env_conf[] = "services:\n"
			       "  - name: ${ANYLB_T_NAME}\n"
			       "    listen: \"127.0.0.1:${ANYLB_T_PORT:-8001}\"\n"
			       "    retries: ${ANYLB_T_RETRIES:-2}\n"
			       "    backends:\n"
			       "      - address: 127.0.0.1:9001\n"
			       "        zone: z$$1$x$\n";

Test(conf_env, set_default_typed_and_dollar)
{
	setenv("ANYLB_T_NAME", "web", 1);
	setenv("ANYLB_T_RETRIES", "5", 1);
	unsetenv("ANYLB_T_PORT");
	struct conf *c = sc_conf_load_buffer_ok(env_conf);
	cr_expect_str_eq(c->services[0].name, "web");
	cr_expect_str_eq(c->services[0].listen[0].address, "127.0.0.1:8001"); /* the default */
	cr_expect_eq(c->services[0].retries, 5);                              /* an integer */
	cr_expect_str_eq(c->services[0].backends[0].zone, "z$1$x$");
	conf_free(c);

	setenv("ANYLB_T_PORT", "", 1); /* empty takes the default, as ${X:-d} does in the shell */
	c = sc_conf_load_buffer_ok(env_conf);
	cr_expect_str_eq(c->services[0].listen[0].address, "127.0.0.1:8001");
	conf_free(c);
	setenv("ANYLB_T_PORT", "8443", 1);
	c = sc_conf_load_buffer_ok(env_conf);
	cr_expect_str_eq(c->services[0].listen[0].address, "127.0.0.1:8443");
	conf_free(c);
	unsetenv("ANYLB_T_NAME");
	unsetenv("ANYLB_T_RETRIES");
	unsetenv("ANYLB_T_PORT");
}

Test(conf_env, unset_is_an_error_at_the_scalar)
{
	unsetenv("ANYLB_T_NAME");
	int rc;
	char *got = sc_conf_load_buffer_msgs(env_conf, strlen(env_conf), &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(got, "t.yaml:2:11: environment variable 'ANYLB_T_NAME' is not set "
			      "(write ${ANYLB_T_NAME:-default} for a default)\n");
	free(got);
}

Test(conf_env, a_substituted_value_is_still_typed)
{
	setenv("ANYLB_T_NAME", "web", 1);
	setenv("ANYLB_T_RETRIES", "five", 1);
	int rc;
	char *got = sc_conf_load_buffer_msgs(env_conf, strlen(env_conf), &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strncmp(got, "t.yaml:4:14: 'retries': ", 24) == 0 && strstr(got, "'five'"), "%s",
		got);
	cr_expect_eq(strchr(got, '\n'), got + strlen(got) - 1, "one line: %s", got);
	free(got);
	unsetenv("ANYLB_T_NAME");
	unsetenv("ANYLB_T_RETRIES");
}

Test(conf_env, keys_are_not_substituted)
{
	static const char y[] = "${ANYLB_T_KEY}: 1\n";
	setenv("ANYLB_T_KEY", "services", 1);
	int rc;
	char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(got, "t.yaml:1:1: unknown key '${ANYLB_T_KEY}' at the top level") == got,
		"%s", got);
	free(got);
	unsetenv("ANYLB_T_KEY");
}

Test(conf_env, bad_references_are_errors)
{
	static const struct {
		const char *value, *want;
	} cases[] = {
		{"\"${}\"", "t.yaml:2:11: '${}' is not a variable reference: expected ${NAME} or "
			    "${NAME:-default}, NAME of letters, digits and '_'\n"},
		{"\"${1A}\"", "t.yaml:2:11: '${1A}' is not a variable reference: expected ${NAME} "
			      "or ${NAME:-default}, NAME of letters, digits and '_'\n"},
		{"\"${A-B}\"", "t.yaml:2:11: '${A-B}' is not a variable reference: expected "
			       "${NAME} or ${NAME:-default}, NAME of letters, digits and '_'\n"},
		{"\"a${B\"", "t.yaml:2:11: '${' without a closing '}' (write '$$' for a '$')\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y),
			"services:\n"
			"  - name: %s\n"
			"    listen: 127.0.0.1:8001\n"
			"    backends: [{address: \"127.0.0.1:9001\"}]\n",
			cases[i].value);
		int rc;
		char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
		cr_expect_eq(rc, -EINVAL);
		cr_expect_str_eq(got, cases[i].want, "case %zu", i);
		free(got);
	}
}

Test(conf_include, a_path_too_long_is_refused)
{
	char y[6000];
	int n = snprintf(y, sizeof(y), "include: ");
	memset(y + n, 'a', 5000);
	snprintf(y + n + 5000, sizeof(y) - (size_t)n - 5000,
		"\nservices:\n  - name: a\n    listen: 127.0.0.1:8001\n"
		"    backends: [{address: \"127.0.0.1:9001\"}]\n");
	int rc;
	char *got = sc_conf_load_buffer_msgs(y, strlen(y), &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(got, "t.yaml:1:10: 'include': the path is longer than 4095 bytes\n");
	free(got);
}

/* What an operator sees: `anylb -t` prints the included file's lines and exits 1. */
Test(conf_include, anylb_t_names_the_included_file)
{
	char out[4096];

	sc_conf_to_source_dir();
	int rc = sc_cmd(out, sizeof(out), 10000, "%s -t -c " INC "bad-main.yaml", ANYLB_BIN);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, out);
	cr_expect(
		strstr(out, INC "bad-part.yaml:5:18: 'address': bad address '127.0.0.1:0'") != NULL,
		"%s", out);
}
