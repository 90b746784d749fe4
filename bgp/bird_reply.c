/*
 * DOC: BIRD reply parsing
 *
 * Everything here reads bytes it does not trust (another daemon's output) through explicit
 * lengths: no input needs a NUL, nothing reads past len, and any byte sequence gives either an
 * answer or -EINVAL. The unit tests feed real BIRD 2.0.12 captures (tests/data/bird/) and random
 * bytes under ASan.
 *
 * The formats follow BIRD's own client (client/client.c, server_got_reply): a line is
 * `DDDD-text` (more follow), `DDDD text` (the last one), ` text` (continues the previous code) or
 * `+text` (an asynchronous message). The tables are read by words rather than by columns because
 * BIRD pads with printf("%-10s"): a long protocol name pushes every later column to the right.
 */
#include "bgp/bird_reply.h"

#include <errno.h>
#include <string.h>

static int br_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int br_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int bird_line_parse(const char *line, size_t len, struct bird_line *out)
{
	if (line == NULL || len == 0)
		return -EINVAL;
	if (line[0] == ' ' || line[0] == '+') {
		out->code = line[0] == ' ' ? BIRD_LINE_CONT : BIRD_LINE_ASYNC;
		out->last = 0;
		out->text = line + 1;
		out->len = len - 1;
		return 0;
	}
	/* Like birdc: four digits and a separator; a bare "0000" without it is not a line. */
	if (len < 5 || !br_digit(line[0]) || !br_digit(line[1]) || !br_digit(line[2]) ||
		!br_digit(line[3]) || (line[4] != '-' && line[4] != ' '))
		return -EINVAL;
	out->code = (line[0] - '0') * 1000 + (line[1] - '0') * 100 + (line[2] - '0') * 10 +
		    (line[3] - '0');
	out->last = line[4] == ' ';
	out->text = line + 5;
	out->len = len - 5;
	return 0;
}

/* A cursor over one line of a table. */
struct br_words {
	const char *p;
	const char *end;
};

/* The next blank-separated word, or 0 at the end of the line. */
static int br_word(struct br_words *w, const char **s, size_t *n)
{
	while (w->p < w->end && br_blank(*w->p))
		w->p++;
	if (w->p == w->end)
		return 0;
	*s = w->p;
	while (w->p < w->end && !br_blank(*w->p))
		w->p++;
	*n = (size_t)(w->p - *s);
	return 1;
}

/* Copies n bytes of s into dst[cap], cutting what does not fit; dst is always terminated. */
static void br_copy(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "2026-11-26": the date half of an `iso long` time stamp. */
static int br_is_date(const char *s, size_t n)
{
	return n == 10 && br_digit(s[0]) && br_digit(s[3]) && s[4] == '-' && s[7] == '-' &&
	       br_digit(s[9]);
}

/* "09:10:03" or "09:10:03.386": the time half. */
static int br_is_time(const char *s, size_t n)
{
	return n >= 5 && br_digit(s[0]) && br_digit(s[1]) && s[2] == ':';
}

/* Collapses runs of blanks in s[n] into one space and appends the result to dst[cap]. */
static void br_copy_squeezed(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = strlen(dst);
	int gap = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (br_blank(s[i])) {
			gap = 1;
			continue;
		}
		if (gap && o > 0) {
			if (o + 2 >= cap)
				break;
			dst[o++] = ' ';
		}
		gap = 0;
		dst[o++] = s[i];
	}
	dst[o] = '\0';
}

/* The line starting at p (up to end) and where the next one starts. */
static const char *br_line(const char *p, const char *end, const char **eol)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	*eol = nl != NULL ? nl : end;
	return nl != NULL ? nl + 1 : end;
}

static int br_is_header(const char *p, const char *eol)
{
	struct br_words w = {p, eol};
	const char *s;
	size_t n;

	if (!br_word(&w, &s, &n) || n != 4 || memcmp(s, "Name", 4) != 0)
		return 0;
	return br_word(&w, &s, &n) && n == 5 && memcmp(s, "Proto", 5) == 0;
}

/* Reads one table row into e (which may be NULL); 0 or -EINVAL. */
static int br_protocol_row(const char *p, const char *eol, struct bird_protocol *e)
{
	struct br_words w = {p, eol};
	const char *f[5];
	size_t n[5];
	struct bird_protocol dummy;

	if (e == NULL)
		e = &dummy;
	/* BIRD never writes a NUL; one would silently cut a field short ("web\0x" read as "web").
	 */
	if (memchr(p, '\0', (size_t)(eol - p)) != NULL)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (!br_word(&w, &f[i], &n[i]))
			return -EINVAL;
	}
	br_copy(e->name, sizeof(e->name), f[0], n[0]);
	br_copy(e->proto, sizeof(e->proto), f[1], n[1]);
	br_copy(e->table, sizeof(e->table), f[2], n[2]);
	br_copy(e->state, sizeof(e->state), f[3], n[3]);
	e->since[0] = '\0';
	e->info[0] = '\0';
	if (!br_word(&w, &f[4], &n[4]))
		return 0;
	br_copy(e->since, sizeof(e->since), f[4], n[4]);
	if (br_is_date(f[4], n[4])) {
		struct br_words peek = w;
		const char *t;
		size_t tn;

		if (br_word(&peek, &t, &tn) && br_is_time(t, tn)) {
			br_copy(e->since, sizeof(e->since), f[4], (size_t)(t + tn - f[4]));
			w = peek;
		}
	}
	br_copy_squeezed(e->info, sizeof(e->info), w.p, (size_t)(eol - w.p));
	return 0;
}

int bird_parse_protocols(const char *text, size_t len, struct bird_protocol *out, size_t cap)
{
	const char *p = text, *end, *eol, *next;
	int header = 0;
	size_t found = 0;

	if (text == NULL || (out == NULL && cap > 0))
		return -EINVAL;
	for (end = text + len; p < end; p = next) {
		next = br_line(p, end, &eol);
		if (p == eol || br_blank(*p))
			continue; /* `show protocols all` details, blank lines */
		if (!header) {
			if (!br_is_header(p, eol))
				return -EINVAL;
			header = 1;
			continue;
		}
		if (br_protocol_row(p, eol, found < cap ? &out[found] : NULL) < 0)
			return -EINVAL;
		found++;
		if (found > (size_t)0x7fffffff)
			return -EINVAL;
	}
	return header ? (int)found : -EINVAL;
}

/* "192.0.2.10/32", "2001:db8::10/128": a network as BIRD prints it at the start of a route. */
static int br_is_net(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);

	if (slash == NULL || slash == s || slash + 1 == s + n)
		return 0;
	for (const char *q = s; q < slash; q++) {
		char c = *q;
		if (!br_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') &&
			c != ':' && c != '.')
			return 0;
	}
	for (const char *q = slash + 1; q < s + n; q++) {
		if (!br_digit(*q))
			return 0;
	}
	return 1;
}

/*
 * Whether the line p..eol is a route: `NET  how [proto since ...] * (pref)`, or a further route
 * of the same net with the NET column left blank. Sets *pname and *plen to the protocol name and
 * *best to whether BIRD marked it with '*'.
 */
static int br_route_line(
	const char *p, const char *eol, int net_seen, const char **pname, size_t *plen, int *best)
{
	struct br_words w = {p, eol};
	const char *s, *open, *close;
	size_t n;

	if (*p == '\t')
		return 0; /* attributes of `show route all` */
	if (!br_blank(*p)) {
		if (!br_word(&w, &s, &n) || !br_is_net(s, n))
			return 0;
	} else if (!net_seen) {
		return 0;
	}
	open = memchr(w.p, '[', (size_t)(eol - w.p));
	if (open == NULL)
		return 0;
	close = memchr(open, ']', (size_t)(eol - open));
	if (close == NULL)
		return 0;
	w.p = open + 1;
	w.end = close;
	if (!br_word(&w, pname, plen))
		return 0;
	w.p = close + 1;
	w.end = eol;
	*best = br_word(&w, &s, &n) && n == 1 && *s == '*';
	return 1;
}

int bird_route_present_from(const char *text, size_t len, const char *proto, int *best)
{
	const char *p = text, *end, *eol, *next;
	int net_seen = 0, found = 0;
	size_t want = proto != NULL ? strlen(proto) : 0;

	if (best != NULL)
		*best = 0;
	if (text == NULL)
		return 0;
	for (end = text + len; p < end; p = next) {
		const char *name;
		size_t nlen;
		int is_best;

		next = br_line(p, end, &eol);
		if (p == eol)
			continue;
		if (!br_route_line(p, eol, net_seen, &name, &nlen, &is_best)) {
			/* "Table master4:" starts a new table: a blank-NET line needs a net again.
			 */
			if (!br_blank(*p))
				net_seen = 0;
			continue;
		}
		net_seen = 1;
		if (proto != NULL && (nlen != want || memcmp(name, proto, want) != 0))
			continue;
		found = 1;
		if (best != NULL && is_best)
			*best = 1;
	}
	return found;
}

int bird_route_present(const char *text, size_t len)
{
	return bird_route_present_from(text, len, NULL, NULL);
}
