/*
 * DOC: watching logs
 *
 * Until anylb has an admin API, a test sees a backend's state only in the log: each transition
 * is logged once, `backend ADDR (SERVICE): OLD -> NEW: REASON`, with a millisecond UTC timestamp
 * at the start of the line. Waiting for such a line is polling: the file is read again every
 * SC_LOG_POLL_MS from the caller's offset (logs of a test are small, a few hundred KiB at most),
 * and only whole lines count: anylb writes a line with one write(2), so a line without its '\n'
 * is still being written. The timestamp in the line is what detection times are measured with;
 * seen_ms (when the poll found it) is only as good as the polling.
 */
#include "tests/support/harness_int.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t sc_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t sc_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* "2026-01-02T03:04:05.678Z" at p: unix ms, or 0. */
static int64_t parse_stamp(const char *p)
{
	int y, mo, d, h, mi, s, ms, n = 0;
	struct tm tm;

	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &ms, &n) != 7 ||
		n != 24)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static int64_t line_stamp(const char *line)
{
	const char *ts = strstr(line, "\"ts\":\"");

	if (line[0] >= '0' && line[0] <= '9')
		return parse_stamp(line);
	return ts != NULL && ts - line < 8 ? parse_stamp(ts + 6) : 0;
}

struct matcher {
	enum sc_match how;
	const char *pattern;
	regex_t re;
};

static int matcher_init(struct matcher *m, enum sc_match how, const char *pattern)
{
	m->how = how;
	m->pattern = pattern;
	if (how == SC_MATCH_REGEX && regcomp(&m->re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		fprintf(stderr, "logwatch: bad regex '%s'\n", pattern);
		return -EINVAL;
	}
	return 0;
}

static void matcher_free(struct matcher *m)
{
	if (m->how == SC_MATCH_REGEX)
		regfree(&m->re);
}

static int matches(const struct matcher *m, const char *line)
{
	if (m->how == SC_MATCH_REGEX)
		return regexec(&m->re, line, 0, NULL, 0) == 0;
	return strstr(line, m->pattern) != NULL;
}

/*
 * Walks the whole lines of text from offset from; for each match calls fn (which returns
 * non-zero to stop). Returns the number of matches visited. Lines are NUL-terminated in place
 * and restored.
 */
static int scan(char *text, size_t len, size_t from, const struct matcher *m,
	int (*fn)(void *arg, const char *line, size_t off, size_t next), void *arg)
{
	size_t off = from;
	int n = 0;

	while (off < len) {
		char *nl = memchr(text + off, '\n', len - off);
		size_t next;
		int stop = 0;

		if (nl == NULL)
			break; /* still being written */
		*nl = '\0';
		next = (size_t)(nl - text) + 1;
		if (matches(m, text + off)) {
			n++;
			stop = fn != NULL && fn(arg, text + off, off, next);
		}
		*nl = '\n';
		if (stop)
			break;
		off = next;
	}
	return n;
}

static int fill_line(void *arg, const char *line, size_t off, size_t next)
{
	struct sc_log_line *out = arg;

	if (out != NULL) {
		out->off = off;
		out->next = next;
		out->seen_ms = sc_now_ms();
		out->wall_ms = line_stamp(line);
		snprintf(out->text, sizeof(out->text), "%s", line);
	}
	return 1;
}

/* Reads the file; an absent file reads as empty (a log not created yet). */
static char *read_all(const char *path, size_t *len)
{
	char *text = sc_read_file(path);

	if (text == NULL && errno != ENOENT)
		return NULL;
	if (text == NULL)
		text = strdup("");
	if (text != NULL)
		*len = strlen(text);
	return text;
}

int sc_file_find_line(const char *path, size_t from, enum sc_match how, const char *pattern,
	struct sc_log_line *out)
{
	struct matcher m;
	size_t len = 0;
	char *text;
	int rc = matcher_init(&m, how, pattern);

	if (rc < 0)
		return rc;
	text = read_all(path, &len);
	if (text == NULL) {
		rc = -errno;
		matcher_free(&m);
		return rc;
	}
	rc = scan(text, len, from, &m, fill_line, out) > 0;
	free(text);
	matcher_free(&m);
	return rc;
}

int sc_file_wait_line(const char *path, size_t from, enum sc_match how, const char *pattern,
	int timeout_ms, struct sc_log_line *out)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		int rc = sc_file_find_line(path, from, how, pattern, out);

		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
		if (sc_now_ms() >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(SC_LOG_POLL_MS);
	}
}

int sc_file_count_lines(const char *path, size_t from, enum sc_match how, const char *pattern)
{
	struct matcher m;
	size_t len = 0;
	char *text;
	int rc = matcher_init(&m, how, pattern);

	if (rc < 0)
		return rc;
	text = read_all(path, &len);
	if (text == NULL) {
		rc = -errno;
		matcher_free(&m);
		return rc;
	}
	rc = scan(text, len, from, &m, NULL, NULL);
	free(text);
	matcher_free(&m);
	return rc;
}

size_t sc_lb_log_offset(const struct sc_lb *lb)
{
	return sc_file_size(sc_lb_log_path(lb));
}

int sc_lb_wait_log(const struct sc_lb *lb, size_t from, const char *needle, int timeout_ms,
	struct sc_log_line *out)
{
	return sc_file_wait_line(
		sc_lb_log_path(lb), from, SC_MATCH_SUBSTR, needle, timeout_ms, out);
}

int sc_lb_wait_log_re(const struct sc_lb *lb, size_t from, const char *regex, int timeout_ms,
	struct sc_log_line *out)
{
	return sc_file_wait_line(sc_lb_log_path(lb), from, SC_MATCH_REGEX, regex, timeout_ms, out);
}

int sc_lb_log_count(const struct sc_lb *lb, size_t from, const char *needle)
{
	return sc_file_count_lines(sc_lb_log_path(lb), from, SC_MATCH_SUBSTR, needle);
}

int sc_lb_log_count_re(const struct sc_lb *lb, size_t from, const char *regex)
{
	return sc_file_count_lines(sc_lb_log_path(lb), from, SC_MATCH_REGEX, regex);
}

const char *sc_re_quote(const char *s, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return buf;
	for (; *s != '\0' && o + 2 < cap; s++) {
		if (strchr(".[]()*+?{}|^$\\", *s) != NULL)
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

const char *sc_transition_re(char *buf, size_t cap, const char *addr, const char *svc,
	const char *from, const char *to, const char *reason)
{
	char qa[SC_ADDRSTRLEN * 2], qs[160], qr[400];

	snprintf(buf, cap, "backend %s \\(%s\\): %s -> %s: %s", sc_re_quote(addr, qa, sizeof(qa)),
		sc_re_quote(svc, qs, sizeof(qs)), from != NULL ? from : "[a-z_]+",
		to != NULL ? to : "[a-z_]+",
		reason != NULL ? sc_re_quote(reason, qr, sizeof(qr)) : "");
	return buf;
}

int sc_lb_wait_transition(const struct sc_lb *lb, size_t from, const char *addr, const char *svc,
	const char *from_state, const char *to_state, const char *reason, int timeout_ms,
	struct sc_log_line *out)
{
	char re[1024];

	sc_transition_re(re, sizeof(re), addr, svc, from_state, to_state, reason);
	return sc_lb_wait_log_re(lb, from, re, timeout_ms, out);
}

int sc_lb_wait_first_verdict(const struct sc_lb *lb, size_t from, const char *addr, const char *svc,
	const char *reason, int timeout_ms, struct sc_log_line *out)
{
	char re[1024], qa[SC_ADDRSTRLEN * 2], qs[160], qr[400];

	if (reason == NULL)
		return sc_lb_wait_transition(lb, from, addr, svc, "not_ready", "ready",
			"first readiness check passed", timeout_ms, out);
	snprintf(re, sizeof(re), "backend %s \\(%s\\): first readiness check failed: %s",
		sc_re_quote(addr, qa, sizeof(qa)), sc_re_quote(svc, qs, sizeof(qs)),
		sc_re_quote(reason, qr, sizeof(qr)));
	return sc_lb_wait_log_re(lb, from, re, timeout_ms, out);
}
