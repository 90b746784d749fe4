/*
 * DOC: bounded copies of text (see strbuf.h)
 */
#include "lib/strbuf.h"

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
