/*
 * DOC: logging
 *
 * One line per event, written with a single write(2) (or one datagram) so lines from several
 * worker threads never interleave. A line goes to a stream: stderr, a file (reopened on
 * request, for logrotate), or syslog (RFC 3164 datagrams on a unix socket, /dev/log by
 * default). Formats:
 *
 *   text    2026-11-26T08:40:07.123Z warn  backend 10.0.0.1:80 (web): ready -> dead: ...
 *   json    {"ts":"...","level":"warn","event":"backend_state","msg":"...","service":"web",...}
 *   logfmt  ts=... level=warn event=backend_state msg="..." service=web backend=10.0.0.1:80 ...
 *
 * An event is a short name ("backend_state", "reload", "access") with fields; plain log_msg()
 * lines are event "log" with no field. Text shows the message only: it already says what the
 * fields say. On stderr under systemd (JOURNAL_STREAM names stderr), each line starts with the
 * syslog priority, `<3>` for error ... `<7>` for debug, so that `journalctl -p warning` works.
 *
 * The main log has a level (lines below it are dropped cheaply); other streams (the access log)
 * take every line they are given. Streams are changed and reopened on the main thread while
 * workers write: a stream's file descriptors are replaced with dup2(2), never closed under a
 * writer.
 */
#ifndef ANYLB_LIB_LOG_H
#define ANYLB_LIB_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_LOGFMT };
enum log_target { LOG_TARGET_STDERR, LOG_TARGET_FILE, LOG_TARGET_SYSLOG };

#define LOG_SYSLOG_SOCKET "/dev/log"

/* Where and how a stream writes. */
struct log_dest {
	enum log_target target;
	enum log_format format;
	const char *path; /* FILE: the file (appended to); SYSLOG: the socket, NULL for /dev/log */
	int facility;     /* SYSLOG: 0..23 (daemon is 3, local0 16) */
};

/* One field of an event: a string (NULL is written as "-") or, when str is NULL, a number. */
struct log_field {
	const char *key;
	const char *str;
	long long num;
	int is_num;
};

#define LOG_S(k, v) ((struct log_field){.key = (k), .str = (v)})
#define LOG_N(k, v) ((struct log_field){.key = (k), .num = (long long)(v), .is_num = 1})

/* Parses "debug|info|warn|error", "text|json|logfmt", "stderr|file|syslog", and a syslog
 * facility name ("daemon", "local0".."local7", "user", ...); 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
int log_target_parse(const char *s, enum log_target *out);
int log_facility_parse(const char *s, int *out);
const char *log_format_name(enum log_format f);

struct log_stream;

/* A stream on stderr in text, or NULL without memory. */
struct log_stream *log_stream_new(void);
void log_stream_free(struct log_stream *s);

/*
 * Points the stream at d: opens the file (O_APPEND, created 0640) or the syslog socket first,
 * so that a failure leaves the stream as it was. 0, or -errno with why filled.
 */
int log_stream_set(struct log_stream *s, const struct log_dest *d, char *why, size_t cap);

/* Opens a file stream's path again (after logrotate moved it): 0 (also when not a file), or
 * -errno with why filled; the old file stays in use then. */
int log_stream_reopen(struct log_stream *s, char *why, size_t cap);

/* Writes one line; msg is the text format's message. Any thread. */
void log_stream_write(struct log_stream *s, enum log_level level, const char *event,
	const struct log_field *f, size_t n, const char *msg);

/* The stream's format now. */
enum log_format log_stream_format(const struct log_stream *s);

/* Lines that could not be written (syslog socket full or gone, file error), since start. */
uint64_t log_stream_dropped(const struct log_stream *s);

/* The line as the stream would write it, into buf (NUL-terminated, ends in '\n'); its length.
 * Exposed for the tests. */
size_t log_format_line(char *buf, size_t cap, enum log_format format, enum log_level level,
	const char *event, const struct log_field *f, size_t n, const char *msg);

/* ---- the main log ---- */

/* Sets the main log's threshold and format (the target stays). */
void log_setup(enum log_level level, enum log_format format);

/* Sets the main log's threshold and where it goes: 0, or -errno (why filled; nothing changed). */
int log_configure(enum log_level level, const struct log_dest *d, char *why, size_t cap);

/* Reopens the main log's file, if it has one. */
int log_reopen(char *why, size_t cap);

struct log_stream *log_main(void);

int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* An event with fields on the main log, its text message printf-style. */
void log_event(enum log_level level, const char *event, const struct log_field *f, size_t n,
	const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Debug lines sit on hot paths (every session close): their arguments are not even evaluated
 * unless debug logging is on. */
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG))                                                  \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                     \
	} while (0)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
