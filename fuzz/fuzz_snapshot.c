/*
 * DOC: fuzz target: the state snapshot parser (lb/snapshot.c)
 *
 * The input is a state file, as an operator's disk or a predecessor process hands it over. Its
 * last byte chooses how it is read: odd, the rest goes to snapshot_parse() as it is (the hash
 * must hold, as on disk); even, the target seals it first with the `end` line of its hash, so
 * that mutations reach the records behind the hash. Invariants: an accepted file writes back
 * (snapshot_format) and that text parses again to the same bytes when written once more; every
 * record keeps the promises of lb/snapshot.h (names of 1..64 printable bytes without a space,
 * states and overrides in range, sorted and unique, every backend's service present); a refusal
 * says why in one line and leaves nothing behind.
 */
#include "fuzz/fuzz.h"
#include "lb/snapshot.h"
#include "lib/hash.h"

#include <errno.h>

static void check_name(const char *s)
{
	size_t n = strnlen(s, SNAP_NAME_MAX + 1);

	FUZZ_CHECK(n >= 1 && n <= SNAP_NAME_MAX, "name length %zu", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(
			s[i] > 0x20 && s[i] < 0x7f, "byte 0x%02x in a name", (unsigned char)s[i]);
}

static void check_accepted(const struct snapshot *s)
{
	for (size_t i = 0; i < s->nservices; i++) {
		check_name(s->services[i].name);
		FUZZ_CHECK(
			s->services[i].override >= SNAP_NO_OVERRIDE && s->services[i].override <= 2,
			"override %d", s->services[i].override);
		FUZZ_CHECK(!s->services[i].drained || s->services[i].override != SNAP_NO_OVERRIDE,
			"drained without anycast");
		FUZZ_CHECK(i == 0 || strcmp(s->services[i - 1].name, s->services[i].name) < 0,
			"services not sorted and unique");
		FUZZ_CHECK(snapshot_service(s, s->services[i].name) == &s->services[i], "lookup");
	}
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct snap_backend *b = &s->backends[i];
		check_name(b->service);
		check_name(b->address);
		FUZZ_CHECK(b->state >= 0 && b->state <= BACKEND_MAINT, "state %d", b->state);
		FUZZ_CHECK(b->draining == 0 || b->draining == 1, "drain %d", b->draining);
		FUZZ_CHECK(snapshot_service(s, b->service) != NULL, "backend of no service");
		FUZZ_CHECK(snapshot_backend(s, b->service, b->address) == b, "lookup");
		if (i > 0) {
			const struct snap_backend *a = &s->backends[i - 1];
			int c = strcmp(a->service, b->service);
			FUZZ_CHECK(c < 0 || (c == 0 && strcmp(a->address, b->address) < 0),
				"backends not sorted and unique");
		}
		for (int k = 0; k < 2; k++)
			FUZZ_CHECK(b->checks[k].health <= 0xffff && b->checks[k].rise <= 0xffff &&
					   b->checks[k].fall <= 0xffff,
				"counter out of range");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	int raw = fuzz_u8(&in) & 1;
	size_t len = in.n;
	struct snapshot s, s2;
	char err[256];
	/* An exact-size copy, so that ASan sees a read past the end. */
	char *buf = malloc(len + (raw ? 0 : 32) + 1);

	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, in.p, len);
	if (!raw)
		len += (size_t)snprintf(buf + len, 32, "end %016llx\n",
			(unsigned long long)hash_bytes(buf, len, 0));
	char *exact = malloc(len ? len : 1);
	FUZZ_CHECK(exact != NULL, "out of memory");
	memcpy(exact, buf, len);
	free(buf);

	memset(err, 'x', sizeof(err));
	int rc = snapshot_parse(exact, len, &s, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
	if (rc < 0) {
		size_t n = strnlen(err, sizeof(err));
		FUZZ_CHECK(n > 0 && n < sizeof(err), "a refusal says why, terminated");
		FUZZ_CHECK(memchr(err, '\n', n) == NULL, "one line");
		FUZZ_CHECK(s.nservices == 0 && s.nbackends == 0 && s.services == NULL &&
				   s.backends == NULL,
			"a refusal leaves nothing");
		free(exact);
		return 0;
	}
	check_accepted(&s);

	char *out, *out2;
	size_t olen, olen2;
	rc = snapshot_format(&s, &out, &olen);
	FUZZ_CHECK(rc == 0, "an accepted snapshot does not write back: %d", rc);
	rc = snapshot_parse(out, olen, &s2, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "what format wrote is refused: %s", err);
	FUZZ_CHECK(s2.nservices == s.nservices && s2.nbackends == s.nbackends &&
			   s2.written_ms == s.written_ms && s2.have_process == s.have_process,
		"not the same snapshot");
	rc = snapshot_format(&s2, &out2, &olen2);
	FUZZ_CHECK(rc == 0 && olen2 == olen && memcmp(out, out2, olen) == 0,
		"written twice, not the same bytes");
	free(out);
	free(out2);
	snapshot_free(&s2);
	snapshot_free(&s);
	free(exact);
	return 0;
}
