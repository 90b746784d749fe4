/*
 * DOC: logging
 *
 * One line per event, written with a single write(2) so lines from several worker threads never
 * interleave. Text lines look like `2026-11-26T08:40:07.123Z info  message`; JSON lines carry the
 * same fields as {"ts":...,"level":...,"msg":...}. Level and format are process-wide and set
 * once at start-up (and on reload) before or between worker activity.
 */
#ifndef ANYLB_LIB_LOG_H
#define ANYLB_LIB_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Sets the threshold and line format; messages below the level are dropped cheaply. */
void log_setup(enum log_level level, enum log_format format);

/* Parses "debug|info|warn|error" / "text|json"; 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

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
