/*
 * DOC: fuzz target: the ClientHello reader (lb/client_hello.c, a service's sni)
 *
 * The input is what a client sent first. Whatever it is, the reader must not read past it, must
 * say why when it refuses, and must be consistent with itself: "more" only while the input is
 * shorter than CLIENT_HELLO_MAX, with a need beyond what it has; an answer, once given, is the
 * answer for every longer input too (bytes after a ClientHello are not looked at), so the input
 * with a byte more appended reads the same; a name is a lower-case host name.
 */
#include "fuzz/fuzz.h"
#include "lb/client_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
	size_t n = strlen(name);

	FUZZ_CHECK(n > 0 && n < CLIENT_HELLO_NAME_MAX, "name of %zu bytes", n);
	FUZZ_CHECK(name[0] != '.' && name[n - 1] != '.', "name '%s'", name);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((name[i] >= 'a' && name[i] <= 'z') ||
				   (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
				   name[i] == '_' || name[i] == '.',
			"name '%s'", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_hello a, b;
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	uint8_t *buf = malloc(size + 1);

	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, data, size);
	enum client_hello_result r = client_hello_parse(buf, size, &a);
	switch (r) {
	case CLIENT_HELLO_MORE:
		FUZZ_CHECK(size < CLIENT_HELLO_MAX, "more asked for after %zu bytes", size);
		FUZZ_CHECK(a.need > size && a.need <= CLIENT_HELLO_MAX, "need %zu with %zu", a.need,
			size);
		break;
	case CLIENT_HELLO_SNI:
		check_name(a.name);
		break;
	case CLIENT_HELLO_NO_SNI:
		FUZZ_CHECK(a.name[0] == '\0', "a name without SNI");
		break;
	case CLIENT_HELLO_NOT_TLS:
	case CLIENT_HELLO_MALFORMED:
		FUZZ_CHECK(a.why != NULL && a.why[0] != '\0', "refused without a reason");
		break;
	}
	/* One byte more: the same answer, unless it was "more". */
	buf[size] = 0x16;
	enum client_hello_result r2 = client_hello_parse(buf, size + 1, &b);
	if (r != CLIENT_HELLO_MORE) {
		FUZZ_CHECK(r2 == r, "%d then %d with a byte more", r, r2);
		FUZZ_CHECK(strcmp(a.name, b.name) == 0, "'%s' then '%s'", a.name, b.name);
	} else if (r2 == CLIENT_HELLO_MORE) {
		FUZZ_CHECK(b.need >= a.need, "need went down: %zu then %zu", a.need, b.need);
	} else if (size + 1 < a.need) {
		/* An answer before the need was met is only a refusal of the byte just added. */
		FUZZ_CHECK(r2 == CLIENT_HELLO_MALFORMED || r2 == CLIENT_HELLO_NOT_TLS,
			"answer %d at %zu bytes, need was %zu", r2, size + 1, a.need);
	}
	free(buf);
	return 0;
}
