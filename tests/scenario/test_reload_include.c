/*
 * DOC: scenario: a reload reads the included files again
 *
 * anylb runs a file that includes another (by absolute path) holding a service. The included
 * file is replaced (atomically) with a version whose service listens elsewhere; SIGHUP must
 * apply it: the new listener answers, the old one is gone. Then a broken included file: the
 * reload is refused with the included file's FILE:LINE:COL in the log, and the running
 * configuration stays.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(reload_include, .fini = fini, .timeout = 60);

/* Replaces path atomically with text. */
static void replace_file(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
	cr_assert_eq(rename(tmp, path), 0);
}

static void write_part(const char *path, const char *listen, const char *backend)
{
	char text[512];
	snprintf(text, sizeof(text),
		"services:\n"
		"  - name: extra\n"
		"    listen: \"%s\"\n"
		"    backends:\n"
		"      - address: %s\n",
		listen, backend);
	replace_file(path, text);
}

static void echo_ok(const char *addr)
{
	int fd = sc_connect(addr, 3000);
	cr_assert_geq(fd, 0, "connect %s: %s", addr, strerror(-fd));
	cr_expect_eq(sc_echo(fd, "through the included service", 3000), 0);
	close(fd);
}

Test(reload_include, sighup_picks_up_a_changed_included_file)
{
	char web[SC_ADDRSTRLEN], extra[SC_ADDRSTRLEN], moved[SC_ADDRSTRLEN], part[512];
	struct sc_backend *be0 = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	struct sc_backend *be1 = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	cr_assert(be0 != NULL && be1 != NULL);
	cr_assert_gt(sc_free_addr(AF_INET, web, sizeof(web)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, extra, sizeof(extra)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, moved, sizeof(moved)), 0);
	const char *dir = sc_admin_temp_dir();
	cr_assert_not_null(dir);
	snprintf(part, sizeof(part), "%s/part.yaml", dir);
	write_part(part, extra, sc_backend_addr(be1));

	struct sc_lb *lb = sc_lb_start("include: [\"%s\"]\n"
				       "global:\n"
				       "  admin: {socket: %s/admin.sock}\n"
				       "services:\n"
				       "  - name: web\n"
				       "    listen: [\"%s\"]\n"
				       "    backends:\n"
				       "      - address: %s\n",
		part, dir, web, sc_backend_addr(be0));
	cr_assert_not_null(lb);
	echo_ok(web);
	echo_ok(extra);

	/* The included file changes: the service moves to another address. */
	write_part(part, moved, sc_backend_addr(be1));
	size_t off = sc_lb_log_offset(lb);
	cr_assert_eq(sc_lb_signal(lb, SIGHUP), 0);
	int rc = sc_file_wait_line(sc_lb_log_path(lb), off, SC_MATCH_SUBSTR,
		"configuration reloaded (generation 2)", 5000, NULL);
	if (rc != 0)
		sc_lb_dump_log(lb);
	cr_assert_eq(rc, 0, "the reload did not apply");
	echo_ok(moved);
	echo_ok(web);
	int fd = sc_connect(extra, 1000);
	cr_expect_eq(fd, -ECONNREFUSED, "the old listener of the included service is closed");
	if (fd >= 0)
		close(fd);

	/* A broken included file: refused at its own place, nothing changes. */
	write_part(part, moved, "127.0.0.1:0");
	char want[600];
	snprintf(want, sizeof(want), "reload: %s:5:18: 'address': bad address", part);
	off = sc_lb_log_offset(lb);
	cr_assert_eq(sc_lb_signal(lb, SIGHUP), 0);
	rc = sc_file_wait_line(sc_lb_log_path(lb), off, SC_MATCH_SUBSTR, want, 5000, NULL);
	if (rc != 0)
		sc_lb_dump_log(lb);
	cr_expect_eq(rc, 0, "no '%s' in the log", want);
	echo_ok(moved);
	sc_lb_stop(lb);
}
