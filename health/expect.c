/*
 * DOC: send/expect reply matcher (implementation)
 *
 * A match either starts in the carried tail, and then ends within the first wlen - 1 bytes of
 * the new piece, or lies wholly inside the new piece. So each piece costs one search of
 * tail + head (at most 2 * (wlen - 1) bytes, in the window) and one search of the piece itself,
 * whatever its size, and the window never needs more room than that.
 */
#include "health/expect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int expect_match_init(struct expect_match *m, const char *want, size_t wlen)
{
	size_t keep = wlen - 1;

	memset(m, 0, sizeof(*m));
	if (keep > 0) {
		m->win = malloc(2 * keep);
		if (m->win == NULL)
			return -ENOMEM;
	}
	m->want = want;
	m->wlen = wlen;
	return 0;
}

int expect_match_feed(struct expect_match *m, const void *buf, size_t n)
{
	const char *p = buf;
	size_t keep = m->wlen - 1;

	if (m->matched || n == 0)
		return m->matched;
	if (keep > 0) {
		size_t head = n < keep ? n : keep;

		memcpy(m->win + m->win_len, p, head);
		if (m->win_len > 0 && memmem(m->win, m->win_len + head, m->want, m->wlen) != NULL) {
			m->matched = 1;
			return 1;
		}
	}
	if (memmem(p, n, m->want, m->wlen) != NULL) {
		m->matched = 1;
		return 1;
	}
	if (keep == 0)
		return 0;
	if (n >= keep) {
		memcpy(m->win, p + n - keep, keep);
		m->win_len = keep;
	} else {
		/* The window already holds tail + piece: keep its last `keep` bytes. */
		size_t total = m->win_len + n;

		if (total > keep) {
			memmove(m->win, m->win + total - keep, keep);
			total = keep;
		}
		m->win_len = total;
	}
	return 0;
}

void expect_match_free(struct expect_match *m)
{
	free(m->win);
	memset(m, 0, sizeof(*m));
}
