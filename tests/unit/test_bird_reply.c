/*
 * DOC: BIRD reply parser tests
 *
 * Pure: the samples in tests/data/bird/ are the exact bytes a real BIRD 2.0.12 wrote on its
 * control socket (see the README there). Each is split into lines, joined the way the client
 * joins them, and read as a table or a route listing. Every sample is also read cut at every
 * length and with bytes flipped, and random bytes are fed to every parser: they must answer or
 * refuse, never crash or read past the end (the ASan build checks; every buffer is malloc'd to
 * its exact size).
 */
#include "bgp/bird_reply.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sample {
	char *wire;
	size_t len;
};

static struct sample load(const char *name)
{
	char path[512];
	struct sample s = {NULL, 0};
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/bird/%s", ANYLB_SOURCE_DIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	s.wire = malloc((size_t)n);
	cr_assert_not_null(s.wire);
	cr_assert_eq(fread(s.wire, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	s.len = (size_t)n;
	return s;
}

/* A reply as bird_client delivers it: text joined with '\n', codes stripped, '+' lines gone. */
struct joined {
	char *text; /* malloc'd to exactly len bytes (no NUL), to catch overreads */
	size_t len;
	int code;
	int first_code;
	int lines;
	int complete;
};

static struct joined join(const struct sample *s)
{
	struct joined j = {malloc(s->len + 1), 0, -1, -1, 0, 0};
	size_t off = 0;

	cr_assert_not_null(j.text);
	while (off < s->len) {
		const char *nl = memchr(s->wire + off, '\n', s->len - off);
		struct bird_line bl;

		cr_assert_not_null(nl, "sample does not end with a newline");
		cr_assert_eq(bird_line_parse(s->wire + off, (size_t)(nl - (s->wire + off)), &bl), 0,
			"unparsable line at %zu", off);
		off = (size_t)(nl - s->wire) + 1;
		if (bl.code == BIRD_LINE_ASYNC)
			continue;
		cr_assert_not(j.complete, "a line after the last one");
		if (bl.code >= 0) {
			if (j.first_code < 0)
				j.first_code = bl.code;
			j.code = bl.code;
		}
		if (bl.last)
			j.complete = 1;
		if (bl.last && bl.len == 0)
			continue;
		if (j.lines++ > 0)
			j.text[j.len++] = '\n';
		memcpy(j.text + j.len, bl.text, bl.len);
		j.len += bl.len;
	}
	cr_assert(j.complete, "no last line");
	/* Shrink to the exact size: the parsers must not need a NUL. */
	char *exact = malloc(j.len > 0 ? j.len : 1);
	cr_assert_not_null(exact);
	memcpy(exact, j.text, j.len);
	free(j.text);
	j.text = exact;
	return j;
}

static struct joined load_joined(const char *name)
{
	struct sample s = load(name);
	struct joined j = join(&s);

	free(s.wire);
	return j;
}

static int line(const char *s, struct bird_line *out)
{
	size_t n = strlen(s);
	char *copy = malloc(n > 0 ? n : 1);
	int rc;

	memcpy(copy, s, n);
	rc = bird_line_parse(copy, n, out);
	if (rc == 0)
		out->text = s + (out->text - copy);
	free(copy);
	return rc;
}

Test(bird_line, codes_and_kinds)
{
	struct bird_line l;

	cr_assert_eq(line("0001 BIRD 2.0.12 ready.", &l), 0);
	cr_assert_eq(l.code, 1);
	cr_assert(l.last);
	cr_assert_eq(l.len, strlen("BIRD 2.0.12 ready."));
	cr_assert_eq(memcmp(l.text, "BIRD 2.0.12 ready.", l.len), 0);

	cr_assert_eq(line("1002-device1    Device     ---        up     09:10:05.723  ", &l), 0);
	cr_assert_eq(l.code, 1002);
	cr_assert_not(l.last);
	cr_assert_eq(memcmp(l.text, "device1", 7), 0);

	cr_assert_eq(line(" anylb_web  Static", &l), 0);
	cr_assert_eq(l.code, BIRD_LINE_CONT);
	cr_assert_not(l.last);
	cr_assert_eq(l.len, strlen("anylb_web  Static"));

	cr_assert_eq(line(" ", &l), 0);
	cr_assert_eq(l.code, BIRD_LINE_CONT);
	cr_assert_eq(l.len, 0);

	cr_assert_eq(line("+Enabling protocol uplink", &l), 0);
	cr_assert_eq(l.code, BIRD_LINE_ASYNC);
	cr_assert_not(l.last);
	cr_assert_eq(memcmp(l.text, "Enabling", 8), 0);

	cr_assert_eq(line("0000 ", &l), 0);
	cr_assert_eq(l.code, 0);
	cr_assert(l.last);
	cr_assert_eq(l.len, 0);

	cr_assert_eq(line("9999-x", &l), 0);
	cr_assert_eq(l.code, 9999);
}

Test(bird_line, errors)
{
	struct bird_line l;

	cr_assert_eq(line("8001 Network not found", &l), 0);
	cr_assert_eq(l.code, 8001);
	cr_assert(l.last);
	cr_assert_eq(line("9001 syntax error, unexpected CF_SYM_UNDEFINED", &l), 0);
	cr_assert_eq(l.code, 9001);
	cr_assert(l.last);
}

Test(bird_line, refused)
{
	static const char *const bad[] = {"", "0", "000", "0000", "00000", "00a0 x", "abcd-x",
		"0000x", "-000 x", "12345 x", "\t1000-x", "Name Proto", "\n"};
	struct bird_line l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(line(bad[i], &l), -EINVAL, "accepted \"%s\"", bad[i]);
	cr_assert_eq(bird_line_parse(NULL, 0, &l), -EINVAL);
}

Test(bird_line, every_sample_parses)
{
	static const char *const all[] = {"async_after_reply.txt", "configure.txt",
		"configure_again.txt", "configure_error.txt", "disable.txt", "disable_already.txt",
		"enable.txt", "enable_already.txt", "err_bad_addr.txt", "err_no_tables.txt",
		"err_syntax.txt", "err_unknown_cmd.txt", "greeting.txt", "show_protocols.txt",
		"show_protocols_after_configure.txt", "show_protocols_all.txt",
		"show_protocols_bgp_states.txt", "show_protocols_enabled.txt",
		"show_protocols_isolong.txt", "show_route_absent.txt", "show_route_all.txt",
		"show_route_multipath.txt", "show_route_present.txt", "show_route_v6.txt",
		"show_status.txt"};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct joined j = load_joined(all[i]);

		cr_assert(j.complete, "%s", all[i]);
		free(j.text);
	}
}

/* Continuation lines keep the code of the line before; the text is joined without codes. */
Test(bird_reply, continuation_joined)
{
	struct joined j = load_joined("show_status.txt");
	const char *want = "BIRD 2.0.12\nRouter ID is 10.255.0.1\nHostname is vm\n";

	cr_assert_eq(j.first_code, 1000);
	cr_assert_eq(j.code, 13);
	cr_assert_geq(j.len, strlen(want));
	cr_assert_eq(memcmp(j.text, want, strlen(want)), 0);
	cr_assert_eq(memcmp(j.text + j.len - 24, "Daemon is up and running", 24), 0);
	free(j.text);
}

/* The reply codes BIRD 2.0.12 really answers to what anylb sends. */
Test(bird_reply, real_codes)
{
	static const struct {
		const char *file;
		int first, last;
		const char *text;
	} cases[] = {
		{"greeting.txt", 1, 1, "BIRD 2.0.12 ready."},
		{"enable.txt", 11, 0, "anylb_web: enabled"},
		{"enable_already.txt", 10, 0, "anylb_web: already enabled"},
		{"disable.txt", 9, 0, "anylb_web: disabled"},
		{"disable_already.txt", 8, 0, "anylb_web: already disabled"},
		{"configure.txt", 2, 4, NULL},
		{"configure_again.txt", 2, 3, NULL},
		{"configure_error.txt", 2, 8002, NULL},
		{"show_route_absent.txt", 8001, 8001, "Network not found"},
		{"err_syntax.txt", 9001, 9001, NULL},
		{"err_unknown_cmd.txt", 9001, 9001, "syntax error, unexpected CF_SYM_UNDEFINED"},
		{"err_no_tables.txt", 9001, 9001, NULL},
		{"err_bad_addr.txt", 9001, 9001, "Invalid IPv4 address 300.1.1.1"},
		{"async_after_reply.txt", 11, 0, "uplink: enabled"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct joined j = load_joined(cases[i].file);

		cr_assert_eq(j.first_code, cases[i].first, "%s", cases[i].file);
		cr_assert_eq(j.code, cases[i].last, "%s", cases[i].file);
		if (cases[i].text != NULL) {
			cr_assert_eq(j.len, strlen(cases[i].text), "%s", cases[i].file);
			cr_assert_eq(memcmp(j.text, cases[i].text, j.len), 0, "%s", cases[i].file);
		}
		free(j.text);
	}
}

static int protocols(const char *file, struct bird_protocol *p, size_t cap)
{
	struct joined j = load_joined(file);
	int n = bird_parse_protocols(j.text, j.len, p, cap);

	free(j.text);
	return n;
}

static const struct bird_protocol *find(const struct bird_protocol *p, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(p[i].name, name) == 0)
			return &p[i];
	}
	cr_assert_fail("no protocol %s", name);
	return NULL;
}

Test(bird_protocols, show_protocols)
{
	struct bird_protocol p[8];
	int n = protocols("show_protocols.txt", p, 8);

	cr_assert_eq(n, 3);
	cr_assert_str_eq(p[0].name, "device1");
	cr_assert_str_eq(p[0].proto, "Device");
	cr_assert_str_eq(p[0].table, "---");
	cr_assert_str_eq(p[0].state, "up");
	cr_assert_str_eq(p[0].since, "09:10:05.723");
	cr_assert_str_eq(p[0].info, "");
	cr_assert_str_eq(p[1].name, "anylb_web");
	cr_assert_str_eq(p[1].proto, "Static");
	cr_assert_str_eq(p[1].table, "master4");
	cr_assert_str_eq(p[1].state, "down");
	cr_assert_str_eq(p[2].name, "uplink");
	cr_assert_str_eq(p[2].proto, "BGP");
	cr_assert_str_eq(p[2].state, "start");
	cr_assert_str_eq(p[2].info, "Active");
}

Test(bird_protocols, show_protocols_all_skips_details)
{
	struct bird_protocol p[8];
	int n = protocols("show_protocols_all.txt", p, 8);

	cr_assert_eq(n, 3);
	cr_assert_str_eq(find(p, n, "uplink")->info, "Active");
	cr_assert_str_eq(find(p, n, "anylb_web")->state, "down");
}

Test(bird_protocols, enable_then_configure)
{
	struct bird_protocol p[8];
	int n;

	n = protocols("show_protocols_enabled.txt", p, 8);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(find(p, n, "anylb_web")->state, "up");
	n = protocols("show_protocols_after_configure.txt", p, 8);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(find(p, n, "anylb_web")->state, "down");
}

Test(bird_protocols, iso_long_time_and_long_name)
{
	struct bird_protocol p[8];
	int n = protocols("show_protocols_isolong.txt", p, 8);
	const struct bird_protocol *e;

	cr_assert_eq(n, 6);
	e = find(p, n, "anylb_service_with_a_very_long_name_for_tests");
	cr_assert_str_eq(e->proto, "Static");
	cr_assert_str_eq(e->table, "master4");
	cr_assert_str_eq(e->state, "up");
	cr_assert_str_eq(e->since, "2026-11-26 09:10:03");
	cr_assert_str_eq(e->info, "");
	e = find(p, n, "uplink");
	cr_assert_str_eq(e->since, "2026-11-26 09:10:03");
	cr_assert_str_eq(e->info, "Active");
	cr_assert_str_eq(find(p, n, "anylb_v6")->table, "master6");
}

Test(bird_protocols, bgp_states)
{
	struct bird_protocol p[8];
	int n = protocols("show_protocols_bgp_states.txt", p, 8);

	cr_assert_eq(n, 4);
	cr_assert_str_eq(find(p, n, "uplink")->state, "down");
	cr_assert_str_eq(find(p, n, "uplink")->info, "");
	cr_assert_str_eq(find(p, n, "uplink2")->state, "start");
	cr_assert_str_eq(find(p, n, "uplink2")->info, "Passive");
}

/* Captured from BIRD 2.0.12 (`show protocols uplink`, the session refused), joined. */
Test(bird_protocols, info_blanks_squeezed)
{
	const char *t =
		"Name       Proto      Table      State  Since         Info\n"
		"uplink     BGP        ---        start  09:08:51.884  Active        Socket: "
		"Connection closed";
	struct bird_protocol p[1];

	cr_assert_eq(bird_parse_protocols(t, strlen(t), p, 1), 1);
	cr_assert_str_eq(p[0].info, "Active Socket: Connection closed");
	cr_assert_str_eq(p[0].since, "09:08:51.884");
}

Test(bird_protocols, cap_smaller_than_count)
{
	struct bird_protocol p[1];

	memset(p, 0x5a, sizeof(p));
	cr_assert_eq(protocols("show_protocols.txt", p, 1), 3);
	cr_assert_str_eq(p[0].name, "device1");
	cr_assert_eq(protocols("show_protocols.txt", NULL, 0), 3);
}

Test(bird_protocols, long_fields_cut)
{
	char t[2048];
	struct bird_protocol p[1];
	char name[200];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(t, sizeof(t), "Name Proto Table State Since Info\n%s %s %s %s %s %s", name, name,
		name, name, name, name);
	cr_assert_eq(bird_parse_protocols(t, strlen(t), p, 1), 1);
	cr_assert_eq(strlen(p[0].name), sizeof(p[0].name) - 1);
	cr_assert_eq(strlen(p[0].proto), sizeof(p[0].proto) - 1);
	cr_assert_eq(strlen(p[0].state), sizeof(p[0].state) - 1);
	cr_assert_eq(strlen(p[0].since), sizeof(p[0].since) - 1);
	cr_assert_eq(strlen(p[0].info), sizeof(p[0].info) - 1);
}

Test(bird_protocols, malformed)
{
	static const char *const bad[] = {
		"",
		"Network not found",
		"syntax error, unexpected CF_SYM_UNDEFINED",
		"device1    Device     ---        up     09:10:05.723",
		"Name       Proto      Table      State  Since         Info\nuplink BGP ---",
		"Name Proto\nshort row",
	};
	struct bird_protocol p[4];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(bird_parse_protocols(bad[i], strlen(bad[i]), p, 4), -EINVAL,
			"accepted \"%s\"", bad[i]);
	/* A header alone is an empty table. */
	cr_assert_eq(bird_parse_protocols("Name Proto Table State Since Info", 33, p, 4), 0);
}

/*
 * Found by fuzz/fuzz_bird_reply.c (fuzz/corpus/bird_reply/regress-nul-in-name): a NUL in a row
 * made the name "" instead of refusing the table; "web\0x" would have read as protocol "web".
 */
Test(bird_protocols, nul_in_row_refused)
{
	static const char found[] = "Name Proto\n\0 - c 0";
	static const char cut[] = "Name Proto Table State\nweb\0x Static master4 up\n";
	static const char info[] =
		"Name Proto Table State Since Info\nweb Static master4 up 09:10 A\0B";
	struct bird_protocol p[1];

	cr_expect_eq(bird_parse_protocols(found, sizeof(found) - 1, p, 1), -EINVAL);
	cr_expect_eq(bird_parse_protocols(cut, sizeof(cut) - 1, p, 1), -EINVAL);
	cr_expect_eq(bird_parse_protocols(info, sizeof(info) - 1, p, 1), -EINVAL);
	cr_expect_eq(bird_parse_protocols(info, sizeof(info) - 3, p, 1), 1, "without the NUL");
}

static int route(const char *file, const char *proto, int *best)
{
	struct joined j = load_joined(file);
	int r = proto != NULL ? bird_route_present_from(j.text, j.len, proto, best)
			      : bird_route_present(j.text, j.len);

	free(j.text);
	return r;
}

Test(bird_route, present_and_absent)
{
	cr_assert_eq(route("show_route_present.txt", NULL, NULL), 1);
	cr_assert_eq(route("show_route_v6.txt", NULL, NULL), 1);
	cr_assert_eq(route("show_route_multipath.txt", NULL, NULL), 1);
	cr_assert_eq(route("show_route_all.txt", NULL, NULL), 1);
	cr_assert_eq(route("show_route_absent.txt", NULL, NULL), 0);
	cr_assert_eq(route("show_status.txt", NULL, NULL), 0);
	cr_assert_eq(route("show_protocols.txt", NULL, NULL), 0);
	cr_assert_eq(route("err_bad_addr.txt", NULL, NULL), 0);
	cr_assert_eq(bird_route_present("", 0), 0);
	cr_assert_eq(bird_route_present(NULL, 0), 0);
}

Test(bird_route, from_protocol_and_best)
{
	const char *lng = "anylb_service_with_a_very_long_name_for_tests";
	int best = -1;

	cr_assert_eq(route("show_route_present.txt", "anylb_web", &best), 1);
	cr_assert_eq(best, 1);
	cr_assert_eq(route("show_route_present.txt", "anylb_we", &best), 0);
	cr_assert_eq(best, 0);
	cr_assert_eq(route("show_route_multipath.txt", lng, &best), 1);
	cr_assert_eq(best, 1);
	cr_assert_eq(route("show_route_multipath.txt", "backup_path", &best), 1);
	cr_assert_eq(best, 0);
	cr_assert_eq(route("show_route_all.txt", "backup_path", &best), 1);
	cr_assert_eq(best, 0);
	cr_assert_eq(route("show_route_all.txt", lng, &best), 1);
	cr_assert_eq(best, 1);
	cr_assert_eq(route("show_route_multipath.txt", "uplink", &best), 0);
	cr_assert_eq(route("show_route_absent.txt", "anylb_web", &best), 0);
	cr_assert_eq(route("show_route_v6.txt", "anylb_v6", NULL), 1);
}

/* A blank-NET line counts only after a route of its table. */
Test(bird_route, continuation_needs_a_net)
{
	const char *t =
		"Table master4:\n                      unreachable [backup_path 09:10:03.386] "
		"(100)";

	cr_assert_eq(bird_route_present_from(t, strlen(t), "backup_path", NULL), 0);
	cr_assert_eq(bird_route_present(t, strlen(t)), 0);
}

/* xorshift: deterministic, so a failure can be replayed. */
static unsigned long long rnd_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state >> 11);
}

static void shake(const char *buf, size_t len)
{
	struct bird_protocol p[4];
	struct bird_line l;
	int best;
	int n = bird_parse_protocols(buf, len, p, 4);

	cr_assert(n == -EINVAL || n >= 0);
	for (int i = 0; i < n && i < 4; i++) {
		cr_assert_lt(strlen(p[i].name), sizeof(p[i].name));
		cr_assert_lt(strlen(p[i].info), sizeof(p[i].info));
		cr_assert_lt(strlen(p[i].since), sizeof(p[i].since));
	}
	cr_assert_geq(bird_route_present(buf, len), 0);
	cr_assert_geq(bird_route_present_from(buf, len, "anylb_web", &best), 0);
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n2 = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;

		if (bird_line_parse(buf + off, n2, &l) == 0) {
			cr_assert_leq(l.len, n2);
			cr_assert(l.text >= buf + off && l.text + l.len <= buf + off + n2);
		}
		off += n2 + 1;
	}
}

/* Every sample cut at every length, wire and joined, and with random bytes overwritten. */
Test(bird_fuzz, samples_cut_and_mutated)
{
	static const char *const files[] = {"show_protocols.txt", "show_protocols_all.txt",
		"show_protocols_isolong.txt", "show_route_all.txt", "show_route_multipath.txt",
		"show_status.txt", "async_after_reply.txt"};
	static const char alphabet[] = " \t\n+-/:[]*0123456789abcdefNameProto";

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct sample s = load(files[f]);
		struct joined j = join(&s);

		for (size_t cut = 0; cut <= s.len; cut++) {
			char *b = malloc(cut > 0 ? cut : 1);

			memcpy(b, s.wire, cut);
			shake(b, cut);
			free(b);
		}
		for (size_t cut = 0; cut <= j.len; cut++) {
			char *b = malloc(cut > 0 ? cut : 1);

			memcpy(b, j.text, cut);
			shake(b, cut);
			free(b);
		}
		for (int round = 0; round < 2000; round++) {
			char *b = malloc(j.len > 0 ? j.len : 1);

			memcpy(b, j.text, j.len);
			for (int k = 0; k < 4 && j.len > 0; k++)
				b[rnd() % j.len] = alphabet[rnd() % (sizeof(alphabet) - 1)];
			shake(b, j.len);
			free(b);
		}
		free(j.text);
		free(s.wire);
	}
}

Test(bird_fuzz, random_bytes)
{
	for (int round = 0; round < 20000; round++) {
		size_t len = rnd() % 300;
		char *b = malloc(len > 0 ? len : 1);

		for (size_t i = 0; i < len; i++) {
			unsigned r = rnd();
			/* Mostly table-ish bytes, some anything at all. */
			b[i] = (r & 7) == 0 ? (char)(r >> 8)
					    : " \n\tName0123456789/:[]*+-abc"[(r >> 8) % 27];
		}
		shake(b, len);
		free(b);
	}
}
