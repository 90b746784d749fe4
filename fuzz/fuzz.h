/*
 * DOC: what the fuzz targets share
 *
 * FUZZ_CHECK states an invariant: when it does not hold, the target prints why and aborts, which
 * libFuzzer reports as a crash and saves the input. struct fuzz_in hands out the input's bytes
 * as parameters (split points, ports, sizes) the way libFuzzer's FuzzedDataProvider does: from
 * the end, so that the front stays the parser's input and mutations of it stay meaningful.
 */
#ifndef ANYLB_FUZZ_FUZZ_H
#define ANYLB_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__,          \
				__LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The last byte of the input (0 when there is none); the input shrinks by one. */
static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return in->p[in->n];
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* Takes up to len bytes from the end into out; returns how many it took. */
static inline size_t fuzz_bytes(struct fuzz_in *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memset(out, 0, len);
	memcpy(out, in->p + in->n - k, k);
	in->n -= k;
	return k;
}

/*
 * Cut points for feeding len bytes in pieces: up to max cuts, ascending, in 0..len, drawn from
 * the end of the input. Returns how many.
 */
static inline size_t fuzz_cuts(struct fuzz_in *in, size_t len, size_t *cuts, size_t max)
{
	size_t n = fuzz_u8(in) % (max + 1);

	for (size_t i = 0; i < n; i++)
		cuts[i] = len == 0 ? 0 : fuzz_u16(in) % (len + 1);
	for (size_t i = 1; i < n; i++) /* insertion sort */
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	return n;
}

#endif
