/*
 * DOC: log lines and streams (lib/log.c, lib/log_format.c)
 *
 * Each format with hostile text (quotes, backslashes, newlines, control bytes) stays one line
 * and, for json, parses; a file stream is reopened after a logrotate-style rename; a syslog
 * stream sends RFC 3164 datagrams with the facility and priority to the socket it was given;
 * stderr under the journal gets the priority prefix; a failed set leaves the stream as it was.
 */
#include "lib/log.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const struct log_field fields[] = {
	LOG_S("service", "web"),
	LOG_S("reason", "said \"no\"\\\n\tthen = left"),
	LOG_S("backend", NULL),
	LOG_N("bytes_in", 517),
	LOG_S("empty", ""),
};
#define NF (sizeof(fields) / sizeof(fields[0]))

Test(log_format, text_is_the_message_on_one_line)
{
	char line[512];
	size_t n = log_format_line(
		line, sizeof(line), LOG_FORMAT_TEXT, LOG_LEVEL_WARN, "x", fields, NF, "two\nlines");

	cr_expect_eq(n, strlen(line));
	cr_expect_eq(strchr(line, '\n'), line + n - 1, "one line: %s", line);
	cr_expect(strstr(line, "Z warn  two lines\n") != NULL, "%s", line);
	cr_expect_eq(line[4], '-');
}

Test(log_format, json_parses_with_every_field)
{
	char line[1024];
	json_error_t e;

	log_format_line(line, sizeof(line), LOG_FORMAT_JSON, LOG_LEVEL_ERROR, "backend_state",
		fields, NF, "msg \x01 with a control byte");
	cr_expect_eq(strchr(line, '\n'), line + strlen(line) - 1);
	json_t *j = json_loads(line, 0, &e);
	cr_assert_not_null(j, "%s: %s", e.text, line);
	cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "error");
	cr_expect_str_eq(json_string_value(json_object_get(j, "event")), "backend_state");
	cr_expect_str_eq(
		json_string_value(json_object_get(j, "msg")), "msg \x01 with a control byte");
	cr_expect_str_eq(
		json_string_value(json_object_get(j, "reason")), "said \"no\"\\\n\tthen = left");
	cr_expect_str_eq(json_string_value(json_object_get(j, "backend")), "-");
	cr_expect_eq(json_integer_value(json_object_get(j, "bytes_in")), 517);
	cr_expect_str_eq(json_string_value(json_object_get(j, "empty")), "");
	cr_expect_not_null(json_string_value(json_object_get(j, "ts")));
	json_decref(j);
}

Test(log_format, a_json_line_too_long_is_still_json)
{
	char big[3000], line[512];
	json_error_t e;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct log_field f = LOG_S("huge", big);
	log_format_line(line, sizeof(line), LOG_FORMAT_JSON, LOG_LEVEL_INFO, "x", &f, 1, "m");
	json_t *j = json_loads(line, 0, &e);
	cr_assert_not_null(j, "%s: %s", e.text, line);
	cr_expect_str_eq(
		json_string_value(json_object_get(j, "msg")), "line too long: fields dropped");
	json_decref(j);
}

Test(log_format, logfmt_quotes_what_needs_it)
{
	char line[1024];

	log_format_line(line, sizeof(line), LOG_FORMAT_LOGFMT, LOG_LEVEL_INFO, "reload", fields, NF,
		"reloaded");
	cr_expect(strstr(line, " level=info event=reload msg=reloaded service=web "
			       "reason=\"said \\\"no\\\"\\\\then = left\" backend=- bytes_in=517 "
			       "empty=\"\"\n") != NULL,
		"%s", line);
	cr_expect_eq(strncmp(line, "ts=20", 5), 0, "%s", line);
}

Test(log_parse, names)
{
	enum log_format f;
	enum log_target t;
	int fac;

	cr_expect_eq(log_format_parse("logfmt", &f), 0);
	cr_expect_eq(f, LOG_FORMAT_LOGFMT);
	cr_expect_eq(log_format_parse("JSON", &f), -EINVAL);
	cr_expect_eq(log_target_parse("syslog", &t), 0);
	cr_expect_eq(t, LOG_TARGET_SYSLOG);
	cr_expect_eq(log_target_parse("journal", &t), -EINVAL);
	cr_expect_eq(log_facility_parse("daemon", &fac), 0);
	cr_expect_eq(fac, 3);
	cr_expect_eq(log_facility_parse("local7", &fac), 0);
	cr_expect_eq(fac, 23);
	cr_expect_eq(log_facility_parse("local8", &fac), -EINVAL);
	cr_expect_eq(log_facility_parse("local", &fac), -EINVAL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return strdup("");
	char *buf = calloc(1, 8192);
	size_t n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(log_stream, file_reopened_after_rotation)
{
	char dir[] = "/tmp/anylb-logtest-XXXXXX", path[256], rotated[256], why[256];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/anylb.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/anylb.log.1", dir);
	struct log_stream *s = log_stream_new();
	cr_assert_not_null(s);
	struct log_dest d = {.target = LOG_TARGET_FILE, .format = LOG_FORMAT_TEXT, .path = path};

	cr_assert_eq(log_stream_set(s, &d, why, sizeof(why)), 0, "%s", why);
	log_stream_write(s, LOG_LEVEL_INFO, "x", NULL, 0, "before");
	cr_assert_eq(rename(path, rotated), 0);
	log_stream_write(s, LOG_LEVEL_INFO, "x", NULL, 0, "still the old file");
	cr_assert_eq(log_stream_reopen(s, why, sizeof(why)), 0, "%s", why);
	log_stream_write(s, LOG_LEVEL_INFO, "x", NULL, 0, "after");
	char *old = slurp(rotated), *cur = slurp(path);
	cr_expect(strstr(old, "before\n") && strstr(old, "still the old file\n"), "%s", old);
	cr_expect(strstr(cur, "after\n") != NULL && strstr(cur, "before") == NULL, "%s", cur);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0640 & ~(mode_t)umask(022));
	free(old);
	free(cur);

	/* A file that cannot be opened leaves the stream on the old one. */
	d.path = "/nonexistent-dir/anylb.log";
	cr_expect_eq(log_stream_set(s, &d, why, sizeof(why)), -ENOENT);
	cr_expect(strstr(why, "/nonexistent-dir/anylb.log") != NULL, "%s", why);
	log_stream_write(s, LOG_LEVEL_INFO, "x", NULL, 0, "kept");
	cur = slurp(path);
	cr_expect(strstr(cur, "kept\n") != NULL, "%s", cur);
	free(cur);
	cr_expect_eq(log_stream_dropped(s), 0);
	log_stream_free(s);
	unlink(path);
	unlink(rotated);
	rmdir(dir);
}

Test(log_stream, syslog_datagrams_carry_facility_and_priority)
{
	char dir[] = "/tmp/anylb-logtest-XXXXXX", path[256], why[256], got[4096];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log.sock", dir);
	int srv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(srv, (struct sockaddr *)&sun, sizeof(sun)), 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	struct log_stream *s = log_stream_new();
	struct log_dest d = {.target = LOG_TARGET_SYSLOG,
		.format = LOG_FORMAT_LOGFMT,
		.path = path,
		.facility = 16};
	cr_assert_eq(log_stream_set(s, &d, why, sizeof(why)), 0, "%s", why);
	log_stream_write(s, LOG_LEVEL_WARN, "backend_state", fields, 1, "went dead");
	ssize_t n = recv(srv, got, sizeof(got) - 1, 0);
	cr_assert_gt(n, 0, "no datagram: %s", strerror(errno));
	got[n] = '\0';
	/* local0 (16) * 8 + warning (4) = 132. */
	cr_expect_eq(strncmp(got, "<132>", 5), 0, "%s", got);
	char tag[64];
	snprintf(tag, sizeof(tag), " anylb[%ld]: ts=", (long)getpid());
	cr_expect(strstr(got, tag) != NULL, "%s", got);
	cr_expect(strstr(got, "event=backend_state msg=\"went dead\" service=web") != NULL, "%s",
		got);
	cr_expect_neq(got[n - 1], '\n', "a datagram has no newline: %s", got);

	/* The daemon gone: lines are dropped and counted, never waited for. */
	close(srv);
	unlink(path);
	log_stream_write(s, LOG_LEVEL_ERROR, "x", NULL, 0, "nobody listens");
	cr_expect_eq(log_stream_dropped(s), 1);
	log_stream_free(s);
	rmdir(dir);
}

Test(log_stream, stderr_under_the_journal_has_the_priority_prefix)
{
	int p[2], saved = dup(2);
	char why[256], got[1024], js[64];
	struct stat st;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fstat(p[1], &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	dup2(p[1], 2);
	struct log_stream *s = log_stream_new();
	struct log_dest d = {.target = LOG_TARGET_STDERR, .format = LOG_FORMAT_TEXT};
	int rc = log_stream_set(s, &d, why, sizeof(why));
	log_stream_write(s, LOG_LEVEL_ERROR, "x", NULL, 0, "an error");
	log_stream_write(s, LOG_LEVEL_DEBUG, "x", NULL, 0, "a detail");
	dup2(saved, 2);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	close(p[1]);
	ssize_t n = read(p[0], got, sizeof(got) - 1);
	close(p[0]);
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_gt(n, 0);
	got[n] = '\0';
	cr_expect_eq(strncmp(got, "<3>20", 5), 0, "%s", got);
	cr_expect(strstr(got, "\n<7>20") != NULL, "%s", got);
	log_stream_free(s);
}
