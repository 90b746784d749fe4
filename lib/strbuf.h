/*
 * DOC: bounded copies of text
 *
 * A reason, a name or a message kept in a fixed buffer is cut to fit on purpose: these say so,
 * where snprintf(dst, cap, "%s", src) would leave the compiler asking (-Wformat-truncation,
 * at -O2 and above) whether the cut was meant.
 */
#ifndef ANYLB_LIB_STRBUF_H
#define ANYLB_LIB_STRBUF_H

#include <stddef.h>

/*
 * Copies src into dst (cap bytes, > 0), cut to cap - 1 bytes and always NUL-terminated; src
 * NULL copies "". Returns strlen(src): a value >= cap means it was cut. dst and src may not
 * overlap.
 */
size_t str_copy(char *dst, size_t cap, const char *src);

#endif
