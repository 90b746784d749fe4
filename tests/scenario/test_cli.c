/*
 * DOC: scenario: the command line
 *
 * `-t -c FILE` exit codes and the `FILE:LINE:COL: message` format, `-V`, `-h`, and usage errors.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(cli, .fini = sc_cleanup, .timeout = 20);

#define VALID                                                                                      \
	"global:\n"                                                                                \
	"  site: test1\n"                                                                          \
	"  workers: 1\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: [\"127.0.0.1:18443\", \"[::1]:18443\"]\n"                                     \
	"    balance: maglev\n"                                                                    \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:18444\n"                                                       \
	"        weight: 10\n"                                                                     \
	"      - address: \"[::1]:18445\"\n"

/* Non-zero when some line of text starts with "path:LINE:COL: " with LINE, COL numbers; stores
 * the first such LINE and COL. */
static int find_position(const char *text, const char *path, int *line, int *col)
{
	size_t plen = strlen(path);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, path, plen) == 0 && p[plen] == ':') {
			char *end;
			long l = strtol(p + plen + 1, &end, 10);

			if (end > p + plen + 1 && *end == ':') {
				const char *q = end + 1;
				long c = strtol(q, &end, 10);

				if (end > q && end[0] == ':' && end[1] == ' ' && l > 0 && c > 0) {
					*line = (int)l;
					*col = (int)c;
					return 1;
				}
			}
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

Test(cli, check_valid_file)
{
	const char *path = sc_temp_file(".yaml", VALID);
	struct sc_run r;

	cr_assert_not_null(path);
	cr_assert_eq(sc_run_anylb(&r, 5000, "-t", "-c", path, NULL), 0);
	cr_assert_eq(
		r.status, 0, "anylb -t on a valid file: exit %d\nstderr:\n%s", r.status, r.err);
	sc_run_free(&r);
}

Test(cli, check_invalid_file_reports_position)
{
	/* An unknown key on line 3, column 3. */
	const char *path = sc_temp_file(".yaml", "global:\n"
						 "  workers: 1\n"
						 "  no_such_key: 1\n"
						 "services:\n"
						 "  - name: web\n"
						 "    listen: [\"127.0.0.1:18443\"]\n"
						 "    backends:\n"
						 "      - address: 127.0.0.1:18444\n");
	struct sc_run r;
	int line = 0, col = 0;

	cr_assert_not_null(path);
	cr_assert_eq(sc_run_anylb(&r, 5000, "-t", "-c", path, NULL), 0);
	cr_assert_eq(r.status, 1, "anylb -t on an invalid file: exit %d, want 1\nstderr:\n%s",
		r.status, r.err);
	cr_assert(find_position(r.err, path, &line, &col),
		"no '%s:LINE:COL: message' line on stderr:\n%s", path, r.err);
	cr_assert_eq(line, 3, "error reported on line %d, the unknown key is on line 3:\n%s", line,
		r.err);
	cr_assert_eq(col, 3, "error reported at column %d, the unknown key starts at 3:\n%s", col,
		r.err);
	sc_run_free(&r);
}

Test(cli, check_several_errors_one_line_each)
{
	const char *path = sc_temp_file(".yaml", "services:\n"
						 "  - name: web\n"
						 "    listen: [\"127.0.0.1:99999\"]\n"
						 "    balance: fastest\n"
						 "    backends:\n"
						 "      - address: 127.0.0.1:18444\n");
	struct sc_run r;
	int lines = 0;

	cr_assert_not_null(path);
	cr_assert_eq(sc_run_anylb(&r, 5000, "-t", "-c", path, NULL), 0);
	cr_assert_eq(r.status, 1, "exit %d\nstderr:\n%s", r.status, r.err);
	for (const char *p = r.err; (p = strstr(p, path)) != NULL; p++)
		lines++;
	cr_assert_geq(lines, 2, "want one line per problem (bad port, bad balance):\n%s", r.err);
	sc_run_free(&r);
}

Test(cli, check_missing_file)
{
	struct sc_run r;

	cr_assert_eq(sc_run_anylb(&r, 5000, "-t", "-c", "/nonexistent/anylb.yaml", NULL), 0);
	cr_assert_neq(r.status, 0, "anylb -t on a missing file exited 0");
	cr_assert_lt(r.status, 128, "crashed: status %d\n%s", r.status, r.err);
	cr_assert_not_null(strstr(r.err, "/nonexistent/anylb.yaml"),
		"the message does not name the file:\n%s", r.err);
	sc_run_free(&r);
}

/* A FIFO at the path blocked open(2) for good (defect 8): -t must answer at once. */
Test(cli, check_fifo_refused_at_once)
{
	char dir[] = "/tmp/anylb-scn-fifo-XXXXXX", path[64];
	struct sc_run r;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/anylb.yaml", dir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
	int64_t t0 = sc_now_ms();
	cr_assert_eq(sc_run_anylb(&r, 5000, "-t", "-c", path, NULL), 0);
	int64_t took = sc_now_ms() - t0;
	unlink(path);
	rmdir(dir);
	cr_assert_eq(r.status, 1, "exit %d, want 1 (a killed hang is 128+9)\nstderr:\n%s", r.status,
		r.err);
	char want[128];
	snprintf(want, sizeof(want),
		"%s:1:1: cannot read the file: it is a FIFO, not a regular file\n", path);
	cr_assert_str_eq(r.err, want);
	cr_assert_lt(took, 2000, "took %lld ms", (long long)took);
	sc_run_free(&r);
}

Test(cli, version)
{
	struct sc_run r;

	cr_assert_eq(sc_run_anylb(&r, 5000, "-V", NULL), 0);
	cr_assert_eq(r.status, 0, "anylb -V: exit %d\n%s", r.status, r.err);
	cr_assert_not_null(strstr(r.out, ANYLB_VERSION), "-V prints '%s', want it to contain %s",
		r.out, ANYLB_VERSION);
	sc_run_free(&r);
}

Test(cli, help)
{
	struct sc_run r;

	cr_assert_eq(sc_run_anylb(&r, 5000, "-h", NULL), 0);
	cr_assert_eq(r.status, 0, "anylb -h: exit %d\n%s", r.status, r.err);
	cr_assert_not_null(strstr(r.out, "-c"), "-h output does not mention -c:\n%s", r.out);
	sc_run_free(&r);
	/* The long spellings an operator tries first. */
	cr_assert_eq(sc_run_anylb(&r, 5000, "--help", NULL), 0);
	cr_expect_eq(r.status, 0, "anylb --help: exit %d\n%s", r.status, r.err);
	cr_expect_not_null(strstr(r.out, "--state-file"), "%s", r.out);
	sc_run_free(&r);
	cr_assert_eq(sc_run_anylb(&r, 5000, "--version", NULL), 0);
	cr_expect_eq(r.status, 0, "anylb --version: exit %d\n%s", r.status, r.err);
	cr_expect_not_null(strstr(r.out, ANYLB_VERSION), "%s", r.out);
	sc_run_free(&r);
}

static int mentions_usage(const struct sc_run *r)
{
	return strcasestr(r->err, "usage") != NULL || strcasestr(r->out, "usage") != NULL;
}

Test(cli, unknown_option)
{
	struct sc_run r;

	cr_assert_eq(sc_run_anylb(&r, 5000, "-Z", NULL), 0);
	cr_assert_neq(r.status, 0, "anylb -Z exited 0");
	cr_assert_lt(r.status, 128, "anylb -Z crashed: status %d", r.status);
	cr_assert(mentions_usage(&r),
		"no usage text for an unknown option:\nstdout:\n%s\nstderr:\n%s", r.out, r.err);
	sc_run_free(&r);
}

Test(cli, no_config_given)
{
	struct sc_run r;

	cr_assert_eq(sc_run_anylb(&r, 5000, NULL), 0);
	cr_assert_neq(r.status, 0, "anylb without -c exited 0");
	cr_assert_lt(r.status, 128, "crashed: status %d", r.status);
	cr_assert(mentions_usage(&r), "no usage text without -c:\nstdout:\n%s\nstderr:\n%s", r.out,
		r.err);
	sc_run_free(&r);
}

/* Running (not -t) with a bad file fails at once with the same kind of message. */
Test(cli, run_with_invalid_file_fails)
{
	const char *path = sc_temp_file(".yaml", "services:\n"
						 "  - name: web\n"
						 "    listen: [\"127.0.0.1:18443\"]\n"
						 "    balance: fastest\n"
						 "    backends:\n"
						 "      - address: 127.0.0.1:18444\n");
	struct sc_run r;
	int line, col;

	cr_assert_not_null(path);
	cr_assert_eq(sc_run_anylb(&r, 5000, "-c", path, NULL), 0);
	cr_assert_neq(r.status, -ETIMEDOUT, "anylb kept running with an invalid file");
	cr_assert_neq(r.status, 0);
	cr_assert_lt(r.status, 128, "crashed: status %d\n%s", r.status, r.err);
	cr_assert(find_position(r.err, path, &line, &col), "no FILE:LINE:COL line:\n%s", r.err);
	sc_run_free(&r);
}
