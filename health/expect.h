/*
 * DOC: send/expect reply matcher (pure)
 *
 * A send_expect check passes when its `expect` string appears anywhere in what the backend
 * sends back, and the reply arrives in pieces of any size. The matcher keeps only the last
 * wlen - 1 bytes seen, so a match split across pieces is found and memory does not grow with
 * the reply. No I/O, no clock; fuzzed (fuzz/fuzz_expect.c).
 */
#ifndef ANYLB_HEALTH_EXPECT_H
#define ANYLB_HEALTH_EXPECT_H

#include <stddef.h>

struct expect_match {
	const char *want; /* not owned; must outlive the matcher */
	size_t wlen;
	char *win;      /* the tail carried over (wlen - 1 bytes), then room for as many more */
	size_t win_len; /* bytes of the tail in win */
	int matched;
};

/*
 * Prepares m to look for want[0..wlen), wlen >= 1. Returns 0, or -ENOMEM (m then holds
 * nothing to free, and expect_match_free() on it is harmless).
 */
int expect_match_init(struct expect_match *m, const char *want, size_t wlen);

/*
 * Takes the next n bytes of the reply. Returns 1 once want has appeared in the bytes fed so far
 * (and from then on, whatever is fed), else 0.
 */
int expect_match_feed(struct expect_match *m, const void *buf, size_t n);

/* Releases the window; m is left as if init had failed. */
void expect_match_free(struct expect_match *m);

#endif
