/*
 * DOC: configuration test helpers (tests/unit/test_conf*.c)
 *
 * Every function asserts with Criterion: call them from the test's own thread.
 */
#ifndef ANYLB_TESTS_SUPPORT_CONF_UTIL_H
#define ANYLB_TESTS_SUPPORT_CONF_UTIL_H

#include "conf/conf.h"

#include <stddef.h>

/* The golden files, relative to the source directory. */
#define SC_CONF_DIR "tests/conf"

/* A suite's .fini: fails the test (abort) when the sanitizer build finds a leak. */
void sc_conf_check_leaks(void);

/* chdir to the source directory, where SC_CONF_DIR is. */
void sc_conf_to_source_dir(void);

/* What conf_errs_print() writes, as a malloc'ed string. */
char *sc_conf_print_errs(const struct conf_errs *errs);

/* Loads SC_CONF_DIR/name, which must load; the caller frees the conf. */
struct conf *sc_conf_load_ok(const char *name);

/* Loads buf as "t.yaml" and returns the printed messages (empty when it loaded); *rc as
 * conf_load_buffer. The caller frees the string. */
char *sc_conf_load_buffer_msgs(const char *buf, size_t len, int *rc);

/* Loads a buffer that must be valid; the caller frees the conf. */
struct conf *sc_conf_load_buffer_ok(const char *buf);

#endif
