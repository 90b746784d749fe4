/*
 * DOC: fuzz target: the PROXY header anylb reads (lb/proxy_in.c, listen[].accept_proxy)
 *
 * The input's last byte picks the mode (v1, v2, any); the rest is what a client sent first.
 * Whatever it is, the reader must not read past it, must say why when it refuses, and must be
 * consistent with itself: a header of length L is exactly the first L bytes (the input cut
 * there reads as the same header, with the same addresses), every shorter prefix of it reads
 * as "more", and "more" only while the input is shorter than the longest header taken.
 */
#include "fuzz/fuzz.h"
#include "lb/proxy_in.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	static const enum conf_accept_proxy modes[3] = {
		CONF_ACCEPT_V1, CONF_ACCEPT_V2, CONF_ACCEPT_ANY};
	enum conf_accept_proxy mode = modes[fuzz_u8(&in) % 3];
	struct proxy_in a, b;
	/* A copy of exactly n bytes, so that ASan sees any read past the end. */
	uint8_t *buf = malloc(in.n ? in.n : 1);

	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, in.p, in.n);
	int r = proxy_in_parse(mode, buf, in.n, &a);
	FUZZ_CHECK(r == 0 || r == -EINVAL || (r > 0 && (size_t)r <= in.n), "r %d for %zu bytes", r,
		in.n);
	if (r < 0)
		FUZZ_CHECK(a.why != NULL && a.why[0] != '\0', "refused without a reason");
	if (r == 0)
		FUZZ_CHECK(in.n < PROXY_IN_MAX, "more asked for after %zu bytes", in.n);
	if (r > 0) {
		FUZZ_CHECK(proxy_in_parse(mode, buf, (size_t)r, &b) == r, "not the same header");
		FUZZ_CHECK(a.local == b.local, "local differs");
		if (!a.local)
			FUZZ_CHECK(addr_equal(&a.src, &b.src) && addr_equal(&a.dst, &b.dst),
				"addresses differ");
		for (int k = 0; k < r; k++)
			FUZZ_CHECK(proxy_in_parse(mode, buf, (size_t)k, &b) == 0,
				"prefix %d of a %d-byte header is not 'more'", k, r);
	}
	free(buf);
	return 0;
}
