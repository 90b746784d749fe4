/*
 * DOC: scenario: the logs an operator ships
 *
 * The real binary with the main log in JSON on stderr and the access log in its own file:
 * - an access line per session lands in the file whatever `log.level` says (error here), with
 *   the tcplog fields (listener, backend, connect time, retries, bytes, duration, result);
 * - SIGUSR1 after a logrotate-style rename: the next lines go to a new file at the same path,
 *   the old file keeps what it had, and no session is touched;
 * - the main log's JSON lines carry the fields of their event (a backend that dies: event
 *   backend_state with service, backend, from, to, reason).
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(logs, .fini = sc_cleanup, .timeout = 90);

static int count_lines(const char *path, const char *needle)
{
	int n = sc_file_count_lines(path, 0, SC_MATCH_SUBSTR, needle);
	return n < 0 ? 0 : n;
}

static void wait_lines(const char *path, const char *needle, int want)
{
	int64_t deadline = sc_now_ms() + 5000;

	while (count_lines(path, needle) < want && sc_now_ms() < deadline)
		sc_sleep_ms(10);
	cr_assert_eq(count_lines(path, needle), want, "%s: %d lines with %s, want %d", path,
		count_lines(path, needle), needle, want);
}

Test(logs, access_file_independent_of_level_and_reopened_on_sigusr1)
{
	char dir[] = "/tmp/anylb-logs-XXXXXX", path[256], rotated[256], listen[SC_ADDRSTRLEN];
	char id[16], want[256];
	struct sc_backend_opts o = {.id = "A"};

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct sc_backend *b = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
	cr_assert_not_null(b);
	struct sc_lb *lb = sc_lb_start("global:\n"
				       "  workers: 2\n"
				       "  drain_timeout: 1s\n"
				       "  admin: {enabled: false}\n"
				       "  log: {level: error, format: json}\n"
				       "  access_log: {target: file, path: %s, format: logfmt}\n"
				       "services:\n"
				       "  - name: web\n"
				       "    listen: [\"%s\"]\n"
				       "    backends:\n"
				       "      - address: \"%s\"\n",
		path, listen, sc_backend_addr(b));
	cr_assert_not_null(lb, "anylb did not start");

	for (int i = 0; i < 3; i++)
		cr_assert_eq(sc_hello(NULL, listen, id, sizeof(id), 2000), 0);
	wait_lines(path, "event=access", 3);
	snprintf(want, sizeof(want), " service=web client=127.0.0.1:");
	cr_expect_eq(count_lines(path, want), 3);
	snprintf(want, sizeof(want), " listener=%s backend=%s connect_ms=", listen,
		sc_backend_addr(b));
	cr_expect_eq(count_lines(path, want), 3, "no line has %s", want);
	cr_expect_eq(count_lines(path, " retries=0 queue_ms=0 bytes_in=0 bytes_out=2 "), 3);
	cr_expect_eq(count_lines(path, " result=done "), 3);
	cr_expect_eq(count_lines(path, "level=info"), 3, "written whatever log.level says");
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0077, 0040 & ~(mode_t)0022 & 0077, "mode %o", st.st_mode);

	/* logrotate: rename, then SIGUSR1; the old file keeps its lines, the new one starts. */
	cr_assert_eq(rename(path, rotated), 0);
	cr_assert_eq(sc_hello(NULL, listen, id, sizeof(id), 2000), 0);
	wait_lines(rotated, "event=access", 4);
	cr_assert_eq(sc_lb_signal(lb, SIGUSR1), 0);
	int64_t deadline = sc_now_ms() + 5000;
	while (access(path, F_OK) != 0 && sc_now_ms() < deadline)
		sc_sleep_ms(10);
	cr_assert_eq(access(path, F_OK), 0, "SIGUSR1 did not make a new %s", path);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(sc_hello(NULL, listen, id, sizeof(id), 2000), 0);
	wait_lines(path, "event=access", 2);
	cr_expect_eq(count_lines(rotated, "event=access"), 4, "the old file got more lines");
	cr_expect_eq(sc_lb_log_count(lb, 0, "\"event\":\"access\""), 0,
		"access lines went to the main log too");

	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
	sc_backend_stop(b);
	unlink(path);
	unlink(rotated);
	rmdir(dir);
}

Test(logs, json_events_carry_their_fields)
{
	char listen[SC_ADDRSTRLEN];
	struct sc_backend_opts o = {.id = "A"};
	struct sc_log_line line;

	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct sc_backend *a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
	cr_assert_not_null(a);
	char addr[SC_ADDRSTRLEN];
	snprintf(addr, sizeof(addr), "%s", sc_backend_addr(a));
	struct sc_lb *lb =
		sc_lb_start("global:\n"
			    "  workers: 1\n"
			    "  drain_timeout: 1s\n"
			    "  admin: {enabled: false}\n"
			    "  log: {format: json}\n"
			    "services:\n"
			    "  - name: web\n"
			    "    listen: [\"%s\"]\n"
			    "    health:\n"
			    "      liveness: {type: tcp, interval: 100ms, timeout: 100ms,"
			    " rise: 1, fall: 1}\n"
			    "    backends:\n"
			    "      - address: \"%s\"\n",
			listen, addr);
	cr_assert_not_null(lb, "anylb did not start");
	size_t from = sc_lb_log_offset(lb);
	sc_backend_stop(a); /* the liveness check fails: the backend turns dead */
	cr_assert_eq(sc_lb_wait_log(lb, from, "\"to\":\"dead\"", 5000, &line), 0,
		"no backend_state event with \"to\":\"dead\"");
	json_error_t e;
	json_t *j = json_loads(line.text, 0, &e);
	cr_assert_not_null(j, "%s: %s", e.text, line.text);
	cr_expect_str_eq(json_string_value(json_object_get(j, "event")), "backend_state");
	cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "warn");
	cr_expect_str_eq(json_string_value(json_object_get(j, "service")), "web");
	cr_expect_str_eq(json_string_value(json_object_get(j, "backend")), addr);
	cr_expect_str_eq(json_string_value(json_object_get(j, "from")), "ready");
	cr_expect_not_null(json_string_value(json_object_get(j, "reason")));
	cr_expect_not_null(strstr(json_string_value(json_object_get(j, "msg")), "-> dead"));
	json_decref(j);
	cr_expect_eq(sc_lb_stop(lb), 0, "anylb did not exit cleanly");
}
