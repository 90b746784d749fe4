/*
 * DOC: fuzz target: the send/expect matcher of health checks (health/expect.c)
 *
 * The input's last bytes choose the expected string and where the reply is cut (a check gets
 * the reply in whatever pieces the socket gives); the rest is the reply. After every piece the
 * matcher must say exactly what a search of everything fed so far says: no match missed across
 * a cut, none invented, and a match is final.
 */
#include "fuzz/fuzz.h"
#include "health/expect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char want[65];
	size_t wlen = 1 + fuzz_u8(&in) % 64;
	size_t cuts[16], ncuts;
	struct expect_match m;
	int seen = 0;

	wlen = fuzz_bytes(&in, want, wlen);
	if (wlen == 0)
		return 0;
	ncuts = fuzz_cuts(&in, in.n, cuts, 16);
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = cuts[i] > in.n ? in.n : cuts[i];
	FUZZ_CHECK(expect_match_init(&m, want, wlen) == 0, "out of memory");
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : in.n;
		/* An exact-size copy of the piece, so that ASan sees a read past it. */
		char *piece = malloc(to - from > 0 ? to - from : 1);

		FUZZ_CHECK(piece != NULL, "out of memory");
		memcpy(piece, in.p + from, to - from);
		int got = expect_match_feed(&m, piece, to - from);
		free(piece);
		int want_seen = memmem(in.p, to, want, wlen) != NULL;

		FUZZ_CHECK(got == want_seen, "after %zu bytes in %zu pieces: matcher %d, search %d",
			to, i + 1, got, want_seen);
		FUZZ_CHECK(got >= seen, "a match went away");
		seen = got;
		from = to;
	}
	expect_match_free(&m);
	return 0;
}
