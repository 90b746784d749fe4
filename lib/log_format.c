/*
 * DOC: a log line in each format
 *
 * Pure: the time comes from the clock, nothing else from outside. A line is cut at the buffer
 * rather than split, so it stays one line; every format ends it with '\n'. JSON strings escape
 * '"', '\' and control characters; logfmt quotes a value that holds a space, '=', '"' or is
 * empty, and drops control characters.
 */
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json", "logfmt"};

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum log_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_format_name(enum log_format f)
{
	return (unsigned)f < 3 ? format_names[f] : "?";
}

int log_target_parse(const char *s, enum log_target *out)
{
	if (strcmp(s, "stderr") == 0)
		*out = LOG_TARGET_STDERR;
	else if (strcmp(s, "file") == 0)
		*out = LOG_TARGET_FILE;
	else if (strcmp(s, "syslog") == 0)
		*out = LOG_TARGET_SYSLOG;
	else
		return -EINVAL;
	return 0;
}

int log_facility_parse(const char *s, int *out)
{
	static const char *const names[] = {"kern", "user", "mail", "daemon", "auth", "syslog",
		"lpr", "news", "uucp", "cron", "authpriv", "ftp"};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	if (strncmp(s, "local", 5) == 0 && s[5] >= '0' && s[5] <= '7' && s[6] == '\0') {
		*out = 16 + (s[5] - '0');
		return 0;
	}
	return -EINVAL;
}

/* A growing line in a fixed buffer: writes past the end are dropped, len stays <= cap - 2. */
struct line {
	char *p;
	size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->len + n > l->cap - 2)
		n = l->cap - 2 - l->len;
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void json_str(struct line *l, const char *s)
{
	put(l, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc, 6);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
	put(l, "\"", 1);
}

static void logfmt_str(struct line *l, const char *s)
{
	int quote = *s == '\0' || strpbrk(s, " =\"\\") != NULL;

	if (!quote) {
		for (const char *p = s; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x20 && *p != 0x7f)
				put(l, p, 1);
		return;
	}
	put(l, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			put(l, "\\", 1);
		put(l, (const char *)&c, 1);
	}
	put(l, "\"", 1);
}

static void timestamp(char *ts, size_t cap)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(ts, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* How json and logfmt spell the parts of a line; text is the message alone. */
struct style {
	const char *ts, *level, *event, *msg; /* what comes before each of the four */
	const char *sep, *assign, *close;     /* around the fields, and at the end */
	int quote_key;
	void (*str)(struct line *l, const char *s);
};

static const struct style json_style = {
	"{\"ts\":\"", "\",\"level\":\"", "\",\"event\":", ",\"msg\":", ",", ":", "}", 1, json_str};
static const struct style logfmt_style = {
	"ts=", " level=", " event=", " msg=", " ", "=", "", 0, logfmt_str};

static void head(struct line *l, const struct style *st, const char *ts, const char *lv,
	const char *event, const char *msg)
{
	puts_(l, st->ts);
	puts_(l, ts);
	puts_(l, st->level);
	puts_(l, lv);
	puts_(l, st->event);
	st->str(l, event);
	puts_(l, st->msg);
	st->str(l, msg);
}

static void fields(struct line *l, const struct style *st, const struct log_field *f, size_t n)
{
	char num[32];

	for (size_t i = 0; i < n; i++) {
		puts_(l, st->sep);
		if (st->quote_key)
			st->str(l, f[i].key);
		else
			puts_(l, f[i].key);
		puts_(l, st->assign);
		if (f[i].is_num) {
			snprintf(num, sizeof(num), "%lld", f[i].num);
			puts_(l, num);
		} else {
			st->str(l, f[i].str != NULL ? f[i].str : "-");
		}
	}
}

size_t log_format_line(char *buf, size_t cap, enum log_format format, enum log_level level,
	const char *event, const struct log_field *f, size_t n, const char *msg)
{
	struct line l = {buf, 0, cap};
	char ts[40], lv[8];
	const char *name = level_names[(unsigned)level < 4 ? level : LOG_LEVEL_ERROR];

	timestamp(ts, sizeof(ts));
	if (format == LOG_FORMAT_JSON || format == LOG_FORMAT_LOGFMT) {
		const struct style *st = format == LOG_FORMAT_JSON ? &json_style : &logfmt_style;
		head(&l, st, ts, name, event, msg);
		fields(&l, st, f, n);
		puts_(&l, st->close);
		/* A cut JSON line is no longer JSON: end it as one, without the fields. */
		if (format == LOG_FORMAT_JSON && l.len >= cap - 2) {
			l.len = 0;
			head(&l, st, ts, name, event, "line too long: fields dropped");
			puts_(&l, st->close);
		}
	} else {
		snprintf(lv, sizeof(lv), "%-5s ", name);
		puts_(&l, ts);
		put(&l, " ", 1);
		puts_(&l, lv);
		for (const char *p = msg; *p != '\0'; p++)
			put(&l, *p == '\n' ? " " : p, 1);
	}
	buf[l.len++] = '\n';
	buf[l.len] = '\0';
	return l.len;
}
