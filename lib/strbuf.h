/*
 * DOC: text in buffers
 *
 * Two jobs. A reason, a name or a message kept in a fixed buffer is cut to fit on purpose:
 * str_copy says so, where snprintf(dst, cap, "%s", src) would leave the compiler asking
 * (-Wformat-truncation, at -O2 and above) whether the cut was meant. And text built up piece by
 * piece (/metrics, the state snapshot, the upgrade's announcement) goes into a struct strbuf
 * that grows as needed, up to a limit, and remembers its first failure so that the writer checks
 * once at the end.
 */
#ifndef ANYLB_LIB_STRBUF_H
#define ANYLB_LIB_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Copies src into dst (cap bytes, > 0), cut to cap - 1 bytes and always NUL-terminated; src
 * NULL copies "". Returns strlen(src): a value >= cap means it was cut. dst and src may not
 * overlap.
 */
size_t str_copy(char *dst, size_t cap, const char *src);

/*
 * A growing, NUL-terminated text. Zero it (or set max: the most bytes it may hold, 0 for no
 * limit) before the first use. After a failure nothing more is written and err says which:
 * -ENOMEM, or -E2BIG past max.
 */
struct strbuf {
	char *p; /* NULL until something is written */
	size_t len, cap, max;
	int err;
};

/* Room for more bytes after len (and the NUL): 0, or -1 with err set. */
int strbuf_reserve(struct strbuf *b, size_t more);

void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap);

/* The text (the caller frees it, *len bytes; len may be NULL), or NULL after a failure. b is
 * empty afterwards either way. */
char *strbuf_take(struct strbuf *b, size_t *len);

#endif
