/*
 * DOC: configuration test helpers
 *
 * Loading configurations that must load (with their messages shown when they do not), the
 * printed messages of one that must not, and the per-test leak check the conf suites share.
 */
#include "tests/support/conf_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define CONF_DIR SC_CONF_DIR

/*
 * The leak checker's own report at process exit comes after Criterion has recorded the test as
 * passed, so each suite runs it once a test is over; abort() in the teardown makes Criterion
 * report the test as crashed and the run fail.
 */
void sc_conf_check_leaks(void)
{
#if defined(__SANITIZE_ADDRESS__)
	if (__lsan_do_recoverable_leak_check() != 0)
		abort();
#endif
}

void sc_conf_to_source_dir(void)
{
	cr_assert_eq(
		chdir(ANYLB_SOURCE_DIR), 0, "chdir(%s): %s", ANYLB_SOURCE_DIR, strerror(errno));
}

/* What conf_errs_print() writes, as a string. */
char *sc_conf_print_errs(const struct conf_errs *errs)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	conf_errs_print(errs, fileno(f));
	long n = lseek(fileno(f), 0, SEEK_END);
	cr_assert_geq(n, 0);
	char *buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fileno(f), buf, (size_t)n, 0), n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

struct conf *sc_conf_load_ok(const char *name)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	char path[256];

	sc_conf_to_source_dir();
	snprintf(path, sizeof(path), CONF_DIR "/%s", name);
	int rc = conf_load(path, &c, &errs);
	char *got = sc_conf_print_errs(&errs);
	cr_assert_eq(rc, 0, "%s: rc %d, messages:\n%s", name, rc, got);
	cr_assert_not_null(c);
	free(got);
	conf_errs_free(&errs);
	return c;
}

/* Loads buf under a name and returns the printed messages (empty when it loaded). */
char *sc_conf_load_buffer_msgs(const char *buf, size_t len, int *rc)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	*rc = conf_load_buffer("t.yaml", buf, len, &c, &errs);
	char *got = sc_conf_print_errs(&errs);
	cr_assert((*rc == 0) == (c != NULL), "rc %d but conf %p", *rc, (void *)c);
	cr_assert((*rc == 0) == (errs.n == 0), "rc %d with %zu messages", *rc, errs.n);
	conf_free(c);
	conf_errs_free(&errs);
	return got;
}

/* Loads a buffer that must be valid; the caller frees the conf. */
struct conf *sc_conf_load_buffer_ok(const char *buf)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	int rc = conf_load_buffer("t.yaml", buf, strlen(buf), &c, &errs);
	char *got = sc_conf_print_errs(&errs);
	cr_assert_eq(rc, 0, "rc %d, messages:\n%s\nfor:\n%s", rc, got, buf);
	free(got);
	conf_errs_free(&errs);
	return c;
}
