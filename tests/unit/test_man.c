/*
 * DOC: the man pages say what the programs do
 *
 * anylb.yaml(5) is docs/CONFIG.md converted at build time; this holds it to the loader: every
 * key conf_keys() walks (but the `later` ones) has an entry of its own in the page (a line of
 * its name in bold, as a row of CONFIG.md's tables becomes). anylb(8) and
 * anylbctl(8) are written by hand: every option of `anylb --help` and every option and command
 * of `anylbctl --help` must be in them. Skipped when the build had no scdoc (no pages made).
 */
#include "conf/conf.h"
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(man, .timeout = 30);

/* The file's text, NUL-terminated (NULL: not there). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	rewind(f);
	char *t = calloc(1, (size_t)len + 1);
	cr_assert_not_null(t);
	cr_assert_eq(fread(t, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return t;
}

static char *page(const char *dir, const char *name)
{
	char path[512];

	if (ANYLB_MAN_DIR[0] == '\0')
		cr_skip_test("built without scdoc: no man pages");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *t = slurp(path);
	cr_assert_not_null(t, "%s was not made", path);
	return t;
}

/* s as scdoc's source spells it: '_' and '*' escaped. */
static void scd_spelling(const char *s, char *out, size_t cap)
{
	size_t k = 0;

	for (; *s != '\0' && k + 3 < cap; s++) {
		if (*s == '_' || *s == '*')
			out[k++] = '\\';
		out[k++] = *s;
	}
	out[k] = '\0';
}

struct keys {
	const char *text;
	unsigned checked, missing;
};

static void key_in_page(void *arg, const char *section, const char *key, int later)
{
	struct keys *k = arg;
	char want[160];

	if (later)
		return;
	k->checked++;
	if (section[0] == '\0') { /* a top-level key is a section of the page: "# GLOBAL" */
		size_t i = 0;
		want[i++] = '\n';
		want[i++] = '#';
		want[i++] = ' ';
		for (const char *c = key; *c != '\0' && i + 1 < sizeof(want); c++)
			want[i++] = (char)toupper((unsigned char)*c);
		want[i] = '\0';
		if (strstr(k->text, want) == NULL) {
			cr_log_error("anylb.yaml(5): no section for the top-level key `%s`", key);
			k->missing++;
		}
		return;
	}
	scd_spelling(key, want, sizeof(want));
	/* An entry of its own: a line "*KEY*" or "*SECTION.KEY*" (a table row of CONFIG.md). */
	size_t n = strlen(want);
	int found = 0;
	for (const char *p = strstr(k->text, want); p != NULL && !found; p = strstr(p + 1, want)) {
		if (p == k->text || strncmp(p + n, "*\n", 2) != 0 || (p[-1] != '*' && p[-1] != '.'))
			continue;
		const char *bol = p;
		while (bol > k->text && bol[-1] != '\n')
			bol--;
		found = bol[0] == '*';
	}
	if (!found) {
		cr_log_error(
			"anylb.yaml(5): no `%s` (%s)", key, section[0] ? section : "top level");
		k->missing++;
	}
}

Test(man, anylb_yaml_5_has_every_key_the_loader_reads)
{
	char *t = page(ANYLB_MAN_DIR, "anylb.yaml.5.scd");
	struct keys k = {.text = t};

	conf_keys(key_in_page, &k);
	cr_expect_gt(k.checked, 50);
	cr_expect_eq(k.missing, 0, "%u of %u keys missing (above)", k.missing, k.checked);
	free(t);
	t = page(ANYLB_MAN_DIR, "anylb.yaml.5");
	cr_expect(strstr(t, ".TH \"anylb.yaml\" \"5\"") != NULL, "not a rendered section-5 page");
	free(t);
}

/* Every "-x" and "--long" word of a --help text, each checked in the page's source. */
static void options_in_page(const char *help, const char *scd, const char *name)
{
	unsigned n = 0;

	for (const char *p = help; *p != '\0'; p++) {
		if (*p != '-' || (p > help && !isspace((unsigned char)p[-1]) && p[-1] != '[' &&
					 p[-1] != '|'))
			continue;
		size_t len = 1;
		while (isalnum((unsigned char)p[len]) || p[len] == '-')
			len++;
		if (len < 2 || (len == 2 && p[1] == '-'))
			continue;
		char opt[64], want[80];
		snprintf(opt, sizeof(opt), "%.*s", (int)len, p);
		snprintf(want, sizeof(want), "*%s*", opt);
		cr_expect(strstr(scd, want) != NULL, "%s: %s of --help is not in the page", name,
			opt);
		n++;
		p += len - 1;
	}
	cr_expect_gt(n, 3, "%s: no options read from --help", name);
}

/* A hand-written page: rendered by the build (or skipped), its scdoc source returned. */
static char *hand_page(const char *name)
{
	char path[512];

	free(page(ANYLB_MAN_DIR, name));
	snprintf(path, sizeof(path), "%s/man/%s.scd", ANYLB_SOURCE_DIR, name);
	char *scd = slurp(path);
	cr_assert_not_null(scd, "%s", path);
	return scd;
}

Test(man, anylb_8_has_every_option_of_its_help)
{
	struct sc_run r;
	char *scd = hand_page("anylb.8");
	cr_assert_eq(sc_run_anylb(&r, 5000, "--help", NULL), 0);
	/* The options block: from the start to the first blank line after it. */
	char *end = strstr(r.out, "\n\nSignals");
	if (end != NULL)
		*end = '\0';
	options_in_page(r.out, scd, "anylb(8)");
	sc_run_free(&r);
	free(scd);
}

Test(man, anylbctl_8_has_every_option_and_command_of_its_help)
{
	struct sc_run r;
	char *scd = hand_page("anylbctl.8");
	cr_assert_eq(sc_run_anylbctl(&r, 5000, "--help", NULL), 0);
	char *cmds = strstr(r.out, "\nCommands:\n");
	cr_assert_not_null(cmds, "%s", r.out);
	*cmds = '\0';
	options_in_page(r.out, scd, "anylbctl(8)");
	/* Each command: the first word of a line indented by two spaces. */
	unsigned n = 0;
	for (char *p = cmds + strlen("\nCommands:\n") + 1; p != NULL && *p != '\0';) {
		char *eol = strchr(p, '\n');
		if (strncmp(p, "  ", 2) == 0 && isalpha((unsigned char)p[2])) {
			char word[32], want[40];
			sscanf(p + 2, "%31s", word);
			snprintf(want, sizeof(want), "*%s*", word);
			cr_expect(strstr(scd, want) != NULL, "anylbctl(8): command %s is missing",
				word);
			n++;
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	cr_expect_gt(n, 5, "no commands read from --help");
	sc_run_free(&r);
	free(scd);
}
