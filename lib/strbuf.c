/*
 * DOC: text in buffers (see strbuf.h)
 */
#include "lib/strbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (cap == 0)
		return n;
	size_t k = n < cap ? n : cap - 1;
	if (k > 0)
		memcpy(dst, src, k);
	dst[k] = '\0';
	return n;
}

int strbuf_reserve(struct strbuf *b, size_t more)
{
	if (b->err)
		return -1;
	if (b->p != NULL && b->len + more + 1 <= b->cap)
		return 0;
	if (more > SIZE_MAX / 4 - b->len || (b->max != 0 && b->len + more > b->max)) {
		b->err = -E2BIG;
		return -1;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->err = -ENOMEM;
		return -1;
	}
	if (b->p == NULL)
		p[0] = '\0';
	b->p = p;
	b->cap = cap;
	return 0;
}

void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
	va_list again;

	if (strbuf_reserve(b, 0) < 0)
		return;
	va_copy(again, ap);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	if (n >= 0 && (size_t)n >= b->cap - b->len) {
		if (strbuf_reserve(b, (size_t)n) == 0)
			n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
		else
			n = -2;
	}
	va_end(again);
	if (n == -2)
		return;
	if (n < 0 || (b->max != 0 && b->len + (size_t)n > b->max)) {
		b->err = n < 0 ? -EINVAL : -E2BIG;
		b->p[b->len] = '\0'; /* what fitted before stays, whole */
		return;
	}
	b->len += (size_t)n;
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *strbuf_take(struct strbuf *b, size_t *len)
{
	char *p = b->err ? NULL : b->p;

	if (p == NULL && !b->err && strbuf_reserve(b, 0) == 0)
		p = b->p; /* nothing written: "" */
	if (b->err)
		free(b->p);
	if (len != NULL)
		*len = p != NULL ? b->len : 0;
	*b = (struct strbuf){.max = b->max};
	return p;
}
