/*
 * DOC: fuzz target: the BIRD control-socket reply parser (bgp/bird_reply.c)
 *
 * The input is what BIRD's control socket sends. Each wire line goes through bird_line_parse,
 * and the texts of the parsed lines are joined the way bgp/bird_client.c does before a reply is
 * handed to the table readers; the readers get both that text and the raw input. Invariants:
 * a parsed line points inside its input with a code in range; how many protocols a table has
 * does not depend on the room given for them, and every field is NUL-terminated within its
 * array; a route "from a protocol" is a route, and the best one only when there is one.
 */
#include "bgp/bird_reply.h"
#include "fuzz/fuzz.h"

#include <errno.h>

#define NPROTO 4

static void check_protocols(const char *text, size_t len)
{
	struct bird_protocol p[NPROTO];

	memset(p, 0x5a, sizeof(p)); /* unterminated garbage: the parser must terminate fields */
	int n0 = bird_parse_protocols(text, len, NULL, 0);
	int n1 = bird_parse_protocols(text, len, p, 1);
	int n = bird_parse_protocols(text, len, p, NPROTO);

	FUZZ_CHECK(n0 == n && n1 == n, "count depends on room: %d, %d, %d", n0, n1, n);
	FUZZ_CHECK(n >= 0 || n == -EINVAL, "rc %d", n);
	for (int i = 0; i < n && i < NPROTO; i++) {
		FUZZ_CHECK(memchr(p[i].name, '\0', sizeof(p[i].name)) != NULL, "name");
		FUZZ_CHECK(memchr(p[i].proto, '\0', sizeof(p[i].proto)) != NULL, "proto");
		FUZZ_CHECK(memchr(p[i].table, '\0', sizeof(p[i].table)) != NULL, "table");
		FUZZ_CHECK(memchr(p[i].state, '\0', sizeof(p[i].state)) != NULL, "state");
		FUZZ_CHECK(memchr(p[i].since, '\0', sizeof(p[i].since)) != NULL, "since");
		FUZZ_CHECK(memchr(p[i].info, '\0', sizeof(p[i].info)) != NULL, "info");
		FUZZ_CHECK(p[i].name[0] != '\0', "a row without a name");
		FUZZ_CHECK(strstr(p[i].info, "  ") == NULL, "blanks in info not squeezed");
	}
	if (n > 0) {
		/* The first protocol's name may name the route's protocol. */
		int best = -1;
		int from = bird_route_present_from(text, len, p[0].name, &best);

		FUZZ_CHECK(best == 0 || best == 1, "best not set");
		FUZZ_CHECK(!from || bird_route_present(text, len), "a route from x is a route");
		FUZZ_CHECK(!best || from, "best without a route");
	}
}

static void check_routes(const char *text, size_t len, const char *proto)
{
	int any = bird_route_present(text, len);
	int best = -1, best_any = -1;
	int any2 = bird_route_present_from(text, len, NULL, &best_any);
	int from = bird_route_present_from(text, len, proto, &best);

	FUZZ_CHECK(any == 0 || any == 1, "rc %d", any);
	FUZZ_CHECK(any2 == any, "NULL proto differs from present");
	FUZZ_CHECK(from == 0 || from == 1, "rc %d", from);
	FUZZ_CHECK(best == 0 || best == 1, "best not set");
	FUZZ_CHECK(!from || any, "a route from %s is a route", proto);
	FUZZ_CHECK(!best || from, "best without a route");
	FUZZ_CHECK(!best || best_any, "best from %s but no best at all", proto);
	FUZZ_CHECK(!best_any || any, "best without a route");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char proto[16];
	size_t plen = fuzz_u8(&in) % sizeof(proto);

	plen = fuzz_bytes(&in, proto, plen);
	proto[plen] = '\0';
	proto[strcspn(proto, " \t\r\n[]")] = '\0';

	const char *wire = (const char *)in.p;
	size_t len = in.n;
	/* The joined text is never longer than the input. */
	char *joined = malloc(len + 1);
	size_t jlen = 0, nlines = 0;
	FUZZ_CHECK(joined != NULL, "out of memory");

	for (size_t off = 0; off < len;) {
		const char *nl = memchr(wire + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (wire + off)) : len - off;
		struct bird_line bl;

		memset(&bl, 0x5a, sizeof(bl));
		if (bird_line_parse(wire + off, n, &bl) == 0) {
			FUZZ_CHECK(bl.text >= wire + off && bl.len <= n &&
					   bl.text + bl.len == wire + off + n,
				"text outside the line");
			FUZZ_CHECK((bl.code >= 0 && bl.code <= 9999) || bl.code == BIRD_LINE_CONT ||
					   bl.code == BIRD_LINE_ASYNC,
				"code %d", bl.code);
			FUZZ_CHECK(
				bl.last == 0 || (bl.last == 1 && bl.code >= 0), "last %d", bl.last);
			if (bl.code != BIRD_LINE_ASYNC && !(bl.last && bl.len == 0)) {
				if (nlines++ > 0)
					joined[jlen++] = '\n';
				memcpy(joined + jlen, bl.text, bl.len);
				jlen += bl.len;
			}
		} else {
			const char *l = wire + off;
			int coded = n >= 5 && l[0] >= '0' && l[0] <= '9' && l[1] >= '0' &&
				    l[1] <= '9' && l[2] >= '0' && l[2] <= '9' && l[3] >= '0' &&
				    l[3] <= '9' && (l[4] == ' ' || l[4] == '-');

			FUZZ_CHECK(!coded && (n == 0 || (l[0] != ' ' && l[0] != '+')),
				"refused a well-formed line");
		}
		off += n + 1;
	}
	FUZZ_CHECK(jlen <= len, "joined %zu of %zu", jlen, len);
	/* An exact-size copy, so that ASan sees a read past the end. */
	char *exact = malloc(jlen > 0 ? jlen : 1);
	FUZZ_CHECK(exact != NULL, "out of memory");
	memcpy(exact, joined, jlen);
	free(joined);

	check_protocols(exact, jlen);
	check_protocols(wire, len);
	check_routes(exact, jlen, proto);
	check_routes(wire, len, proto);
	free(exact);
	return 0;
}
