/*
 * DOC: admin HTTP request parser tests
 *
 * The parser is fed whole requests, then the same bytes split at every byte offset and one byte
 * at a time: the outcome (complete, need more, or the same error status) and every parsed field
 * must not depend on how the bytes arrived. Then the limits at their exact edges, the refusals
 * with their statuses, and seeded garbage and mutations, which must end in a clean verdict under
 * the sanitizers. Also the helpers: URL decoding, bearer tokens, the constant-time compare.
 */
#include <criterion/criterion.h>

#include "lb/admin_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a parse produced, comparable across ways of feeding. */
struct outcome {
	int rc;
	int status;
	char method[ADMIN_HTTP_METHOD_MAX + 1];
	char target[64];
	int minor, close, auth_seen, auth_too_long;
	long long content_length;
	char auth[64];
	size_t body_len;
	char body[64];
	size_t used;
};

static void take(struct outcome *o, struct admin_http_req *r, int rc, size_t used)
{
	memset(o, 0, sizeof(*o));
	o->rc = rc;
	o->used = used;
	if (rc < 0) {
		o->status = r->status;
		cr_assert_not_null(r->why);
		return;
	}
	if (rc == 0)
		return;
	snprintf(o->method, sizeof(o->method), "%s", r->method);
	snprintf(o->target, sizeof(o->target), "%s", r->target ? r->target : "(null)");
	o->minor = r->minor;
	o->close = r->close;
	o->auth_seen = r->auth_seen;
	o->auth_too_long = r->auth_too_long;
	o->content_length = r->content_length;
	snprintf(o->auth, sizeof(o->auth), "%.63s", r->auth);
	o->body_len = r->body_len;
	if (r->body != NULL)
		snprintf(o->body, sizeof(o->body), "%.*s", (int)r->body_len, r->body);
}

/* Feeds buf in pieces that end at the offsets in cuts (sorted), then the rest. */
static void parse_cuts(
	const char *buf, size_t len, const size_t *cuts, size_t ncuts, struct outcome *o)
{
	struct admin_http_req r;
	size_t at = 0, used_total = 0;
	int rc = 0;

	admin_http_init(&r);
	for (size_t c = 0; c <= ncuts && rc == 0; c++) {
		size_t end = c < ncuts ? cuts[c] : len;
		size_t used = 0;
		rc = admin_http_feed(&r, buf + at, end - at, &used);
		if (rc == 1)
			used_total = at + used;
		at = end;
	}
	take(o, &r, rc, used_total);
	admin_http_free(&r);
}

static void parse_whole(const char *buf, size_t len, struct outcome *o)
{
	parse_cuts(buf, len, NULL, 0, o);
}

static void expect_same(const struct outcome *a, const struct outcome *b, const char *what)
{
	cr_expect_eq(a->rc, b->rc, "%s: rc %d vs %d", what, a->rc, b->rc);
	cr_expect_eq(a->status, b->status, "%s: status %d vs %d", what, a->status, b->status);
	cr_expect_eq(memcmp(a, b, sizeof(*a)), 0, "%s: fields differ (target '%s' vs '%s')", what,
		a->target, b->target);
}

/* Whole, split once at every offset, and one byte at a time: all the same outcome. */
static void check_every_split(const char *buf, size_t len, struct outcome *whole)
{
	struct outcome o;
	char what[64];

	parse_whole(buf, len, whole);
	for (size_t cut = 0; cut <= len; cut++) {
		parse_cuts(buf, len, &cut, 1, &o);
		snprintf(what, sizeof(what), "split at %zu of %zu", cut, len);
		expect_same(whole, &o, what);
	}
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	cr_assert_not_null(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	parse_cuts(buf, len, cuts, len, &o);
	expect_same(whole, &o, "byte by byte");
	free(cuts);
}

static struct outcome parse_str(const char *s)
{
	struct outcome o;
	check_every_split(s, strlen(s), &o);
	return o;
}

static int status_of(const char *s)
{
	struct outcome o = parse_str(s);
	return o.rc < 0 ? o.status : o.rc == 1 ? 200 : 0;
}

/* ---- requests that parse ---- */

Test(admin_http, simple_get)
{
	struct outcome o = parse_str("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");

	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.method, "GET");
	cr_expect_str_eq(o.target, "/status");
	cr_expect_eq(o.minor, 1);
	cr_expect_eq(o.close, 0);
	cr_expect_eq(o.content_length, -1);
	cr_expect_eq(o.auth_seen, 0);
	cr_expect_eq(o.body_len, 0);
}

Test(admin_http, post_with_body_and_token)
{
	const char *req = "POST /services/web/backends/127.0.0.1%3A9001/drain HTTP/1.1\r\n"
			  "Host: localhost\r\n"
			  "authorization:   Bearer s3cr3t  \r\n"
			  "Content-Length: 11\r\n"
			  "Connection: keep-alive, close\r\n"
			  "\r\n"
			  "hello world";
	struct outcome o = parse_str(req);

	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.method, "POST");
	cr_expect_str_eq(o.target, "/services/web/backends/127.0.0.1%3A9001/drain");
	cr_expect_eq(o.auth_seen, 1);
	cr_expect_str_eq(o.auth, "Bearer s3cr3t");
	cr_expect_eq(o.content_length, 11);
	cr_expect_eq(o.body_len, 11);
	cr_expect_str_eq(o.body, "hello world");
	cr_expect_eq(o.close, 1);
	cr_expect_eq(o.used, strlen(req));
}

Test(admin_http, http10_lf_only_and_leading_empty_lines)
{
	struct outcome o = parse_str("\r\n\nGET /healthz HTTP/1.0\nX-A: b\n\n");

	cr_assert_eq(o.rc, 1);
	cr_expect_eq(o.minor, 0);
	cr_expect_eq(o.close, 1, "HTTP/1.0 closes unless keep-alive is asked for");
	o = parse_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	cr_expect_eq(o.close, 0);
	/* A later 1.x is answered as 1.1. */
	o = parse_str("GET / HTTP/1.7\r\n\r\n");
	cr_assert_eq(o.rc, 1);
	cr_expect_eq(o.minor, 1);
}

Test(admin_http, pipelined_bytes_are_left_for_the_next_request)
{
	const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	struct outcome o = parse_str(two);

	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.target, "/a");
	cr_expect_eq(o.used, strlen("GET /a HTTP/1.1\r\n\r\n"));
}

Test(admin_http, long_and_odd_methods_go_to_the_router)
{
	struct outcome o = parse_str("BREW /pot HTTP/1.1\r\n\r\n");
	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.method, "BREW");
	o = parse_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n");
	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.method, "", "a method too long to keep is unknown");
	o = parse_str("M-._~!#$%&'*+^`| / HTTP/1.1\r\n\r\n");
	cr_expect_eq(o.rc, 1, "every tchar is allowed in a method");
}

Test(admin_http, duplicate_equal_content_length_and_zero_body)
{
	struct outcome o = parse_str("POST /reload HTTP/1.1\r\nContent-Length: 3\r\n"
				     "content-length: 3\r\n\r\nabc");
	cr_assert_eq(o.rc, 1);
	cr_expect_str_eq(o.body, "abc");
	o = parse_str("POST /reload HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	cr_assert_eq(o.rc, 1);
	cr_expect_eq(o.content_length, 0);
	cr_expect_eq(o.body_len, 0);
}

Test(admin_http, authorization_too_long_is_marked)
{
	size_t n = ADMIN_HTTP_AUTH_MAX + 10;
	char *req = malloc(n + 64);
	cr_assert_not_null(req);
	int off = sprintf(req, "POST / HTTP/1.1\r\nAuthorization: Bearer ");
	memset(req + off, 'a', n);
	strcpy(req + off + n, "\r\n\r\n");
	struct outcome o = parse_str(req);
	cr_assert_eq(o.rc, 1);
	cr_expect_eq(o.auth_seen, 1);
	cr_expect_eq(o.auth_too_long, 1);
	cr_expect_str_eq(o.auth, "");
	free(req);
}

/* ---- refusals ---- */

Test(admin_http, malformed_is_400)
{
	static const char *const bad[] = {
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET /  HTTP/1.1\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.\r\n\r\n",
		"GET / HTTP/11\r\n\r\n",
		"GET / HTTP/1.1x\r\n\r\n",
		"GET http://host/status HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
		"G\"T / HTTP/1.1\r\n\r\n",
		"GET /a\x01 HTTP/1.1\r\n\r\n",
		"GET /a\rb HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nA\x01: b\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(status_of(bad[i]), 400, "case %zu: '%s' gave %d", i, bad[i],
			status_of(bad[i]));
}

Test(admin_http, nul_bytes_are_400)
{
	static const char req[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	struct outcome o;
	check_every_split(req, sizeof(req) - 1, &o);
	cr_expect_eq(o.rc, -1);
	cr_expect_eq(o.status, 400);
	static const char req2[] = "GET /\0 HTTP/1.1\r\n\r\n";
	check_every_split(req2, sizeof(req2) - 1, &o);
	cr_expect_eq(o.status, 400);
}

Test(admin_http, versions)
{
	cr_expect_eq(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
	cr_expect_eq(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
	cr_expect_eq(status_of("GET / HTTP/1.0\r\n\r\n"), 200);
	cr_expect_eq(status_of("GET / HTTP/1.1\r\n\r\n"), 200);
}

Test(admin_http, transfer_encodings)
{
	cr_expect_eq(
		status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 411);
	cr_expect_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"), 411);
	cr_expect_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
	cr_expect_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 501);
	cr_expect_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), 501);
	cr_expect_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n"),
		411, "a body framed two ways is never read");
}

/* A request line of exactly n bytes (without CRLF). */
static char *request_line_of(size_t n, const char *rest)
{
	const char *pre = "GET /", *post = " HTTP/1.1";
	size_t fixed = strlen(pre) + strlen(post);
	cr_assert_geq(n, fixed);
	char *b = malloc(n + strlen(rest) + 8);
	cr_assert_not_null(b);
	strcpy(b, pre);
	memset(b + strlen(pre), 'a', n - fixed);
	strcpy(b + strlen(pre) + n - fixed, post);
	strcat(b, "\r\n");
	strcat(b, rest);
	return b;
}

Test(admin_http, request_line_limit)
{
	char *ok = request_line_of(ADMIN_HTTP_LINE_MAX, "\r\n");
	char *bad = request_line_of(ADMIN_HTTP_LINE_MAX + 1, "\r\n");
	struct outcome o;

	parse_whole(ok, strlen(ok), &o);
	cr_expect_eq(o.rc, 1, "exactly the limit is fine, got %d/%d", o.rc, o.status);
	cr_expect_eq(status_of(bad), 414);
	/* LF-only ending: the CR allowance must not let one more byte in. */
	bad[strlen(bad) - 4] = '\n';
	bad[strlen(bad) - 3] = '\0';
	cr_expect_eq(status_of(bad), 414);
	free(ok);
	free(bad);

	/* Endless bytes without a newline are cut at the limit, not buffered. */
	size_t n = 1 << 20;
	char *flood = malloc(n);
	cr_assert_not_null(flood);
	memset(flood, 'A', n);
	struct admin_http_req r;
	admin_http_init(&r);
	int rc = 0;
	size_t fed = 0;
	for (; fed < n && rc == 0; fed += 1000)
		rc = admin_http_feed(&r, flood + fed, 1000, NULL);
	cr_expect_eq(rc, -1);
	cr_expect_eq(r.status, 414);
	cr_expect_leq(fed, ADMIN_HTTP_LINE_MAX + 1000 + 1000);
	cr_expect_leq(r.line_cap, 2 * (ADMIN_HTTP_LINE_MAX + 2));
	admin_http_free(&r);
	free(flood);
}

Test(admin_http, empty_lines_before_the_request_are_bounded)
{
	size_t n = ADMIN_HTTP_LINE_MAX + 10;
	char *b = malloc(n + 1);
	cr_assert_not_null(b);
	for (size_t i = 0; i < n; i += 2)
		memcpy(b + i, "\r\n", 2);
	b[n] = '\0';
	struct outcome o;
	parse_whole(b, n, &o);
	cr_expect_eq(o.rc, -1);
	cr_expect_eq(o.status, 400);
	free(b);
}

/* A request whose header lines, final empty line included, are exactly n bytes. */
static char *headers_of(size_t n)
{
	const char *line = "GET / HTTP/1.1\r\n";
	char *b = malloc(strlen(line) + n + 1);
	cr_assert_not_null(b);
	strcpy(b, line);
	char *p = b + strlen(line);
	size_t left = n - 2; /* the final CRLF */
	while (left > 0) {
		size_t take = left > 1000 ? 1000 : left;
		if (left - take > 0 && left - take < 6)
			take = left - 6; /* leave room for a whole "X:v\r\n"-sized line */
		cr_assert_geq(take, 5);
		/* "X: " + value + CRLF = take bytes */
		memcpy(p, "X: ", 3);
		memset(p + 3, 'v', take - 5);
		memcpy(p + take - 2, "\r\n", 2);
		p += take;
		left -= take;
	}
	memcpy(p, "\r\n", 2);
	p[2] = '\0';
	return b;
}

Test(admin_http, header_limit)
{
	char *ok = headers_of(ADMIN_HTTP_HEADERS_MAX);
	char *bad = headers_of(ADMIN_HTTP_HEADERS_MAX + 1);
	struct outcome o;

	parse_whole(ok, strlen(ok), &o);
	cr_expect_eq(o.rc, 1, "exactly the limit is fine, got %d/%d", o.rc, o.status);
	cr_expect_eq(status_of(bad), 431);
	free(ok);
	free(bad);

	/* One endless header line. */
	struct admin_http_req r;
	char chunk[4096];
	memset(chunk, 'x', sizeof(chunk));
	admin_http_init(&r);
	int rc = admin_http_feed(&r, "GET / HTTP/1.1\r\nA: ", 19, NULL);
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = admin_http_feed(&r, chunk, sizeof(chunk), NULL);
	cr_expect_eq(rc, -1);
	cr_expect_eq(r.status, 431);
	admin_http_free(&r);
}

Test(admin_http, body_limit)
{
	char head[128];
	snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		ADMIN_HTTP_BODY_MAX);
	size_t hl = strlen(head);
	char *req = malloc(hl + ADMIN_HTTP_BODY_MAX);
	cr_assert_not_null(req);
	memcpy(req, head, hl);
	memset(req + hl, 'b', ADMIN_HTTP_BODY_MAX);
	struct outcome o;
	parse_whole(req, hl + ADMIN_HTTP_BODY_MAX, &o);
	cr_expect_eq(o.rc, 1);
	cr_expect_eq(o.body_len, ADMIN_HTTP_BODY_MAX);
	/* One byte short: more is needed. */
	parse_whole(req, hl + ADMIN_HTTP_BODY_MAX - 1, &o);
	cr_expect_eq(o.rc, 0);
	free(req);

	snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		ADMIN_HTTP_BODY_MAX + 1);
	cr_expect_eq(status_of(head), 413);
	cr_expect_eq(
		status_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
		413);
}

Test(admin_http, done_and_error_are_final)
{
	struct admin_http_req r;
	size_t used = 99;

	admin_http_init(&r);
	cr_assert_eq(admin_http_feed(&r, "GET / HTTP/1.1\r\n\r\nXYZ", 21, &used), 1);
	cr_expect_eq(used, 18);
	cr_expect_eq(admin_http_feed(&r, "garbage", 7, &used), 1);
	cr_expect_eq(used, 0);
	admin_http_free(&r);
	cr_expect_eq(r.state, ADMIN_HTTP_LINE, "free leaves a fresh parser");

	cr_assert_eq(admin_http_feed(&r, "\x01\r\n", 3, NULL), -1);
	cr_expect_eq(r.status, 400);
	cr_expect_eq(admin_http_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, NULL), -1);
	admin_http_free(&r);
}

/* ---- garbage and mutations ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: seeded, so a failure is reproducible. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* Feeds buf in random pieces; the outcome must match feeding it whole. */
static void random_split_matches(const char *buf, size_t len)
{
	struct outcome whole, o;
	size_t cuts[16], n = 0;

	parse_whole(buf, len, &whole);
	if (len > 0) {
		for (size_t i = 0; i < 16 && rng() % 4 != 0; i++)
			cuts[n++] = (size_t)(rng() % (len + 1));
		for (size_t i = 1; i < n; i++) /* insertion sort */
			for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
	}
	parse_cuts(buf, len, cuts, n, &o);
	expect_same(&whole, &o, "random split");
	if (whole.rc < 0)
		cr_expect(whole.status >= 400 && whole.status <= 505, "status %d", whole.status);
}

Test(admin_http, random_garbage)
{
	static const char alphabet[] = "GETPOST /:\r\n\t HTTP/1.01%aZ-,\x00\x01\x7f\xff";
	char buf[512];

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rng() % sizeof(buf));
		int mode = (int)(rng() % 2);
		for (size_t i = 0; i < len; i++)
			buf[i] = mode ? (char)(rng() & 0xff)
				      : alphabet[rng() % (sizeof(alphabet) - 1)];
		random_split_matches(buf, len);
	}
}

Test(admin_http, mutated_requests)
{
	static const char *const seeds[] = {
		"GET /status HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
		("POST /services/web/backends/%5B%3A%3A1%5D%3A9001/drain HTTP/1.1\r\n"
		 "Authorization: Bearer abc\r\nContent-Length: 4\r\n\r\nbody"),
		"POST /reload HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	char buf[256];

	rng_state = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		const char *s = seeds[iter % 3];
		size_t len = strlen(s);
		memcpy(buf, s, len);
		int nmut = 1 + (int)(rng() % 4);
		for (int m = 0; m < nmut; m++) {
			size_t at = (size_t)(rng() % len);
			switch (rng() % 3) {
			case 0:
				buf[at] = (char)(rng() & 0xff);
				break;
			case 1: /* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default: /* duplicate */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					len++;
				}
				break;
			}
			if (len == 0)
				break;
		}
		random_split_matches(buf, len);
	}
}

/* ---- helpers ---- */

Test(admin_http, url_decode)
{
	char out[64];

	cr_expect_eq(admin_http_url_decode("127.0.0.1:9001", 14, out, sizeof(out)), 14);
	cr_expect_str_eq(out, "127.0.0.1:9001");
	cr_expect_eq(admin_http_url_decode("%5B%3a%3A1%5d%3A9001", 20, out, sizeof(out)), 10);
	cr_expect_str_eq(out, "[::1]:9001");
	cr_expect_eq(admin_http_url_decode("a+b", 3, out, sizeof(out)), 3);
	cr_expect_str_eq(out, "a+b");
	cr_expect_eq(admin_http_url_decode("", 0, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "");
	cr_expect_eq(admin_http_url_decode("%", 1, out, sizeof(out)), -1);
	cr_expect_eq(admin_http_url_decode("%4", 2, out, sizeof(out)), -1);
	cr_expect_eq(admin_http_url_decode("a%4", 3, out, sizeof(out)), -1);
	cr_expect_eq(admin_http_url_decode("%zz", 3, out, sizeof(out)), -1);
	cr_expect_eq(admin_http_url_decode("%00", 3, out, sizeof(out)), -1);
	cr_expect_eq(admin_http_url_decode("abcd", 4, out, 4), -1, "no room for the NUL");
	cr_expect_eq(admin_http_url_decode("abcd", 4, out, 5), 4);
	cr_expect_eq(admin_http_url_decode("%41%42", 6, out, 3), 2);
	cr_expect_str_eq(out, "AB");
}

Test(admin_http, bearer)
{
	size_t n = 0;
	const char *t;

	t = admin_http_bearer("Bearer abc", &n);
	cr_assert_not_null(t);
	cr_expect_eq(n, 3);
	cr_expect_eq(strncmp(t, "abc", 3), 0);
	t = admin_http_bearer("bearer \t xyz", &n);
	cr_assert_not_null(t);
	cr_expect_eq(n, 3);
	cr_expect_null(admin_http_bearer("Basic abc", &n));
	cr_expect_null(admin_http_bearer("Bearer", &n));
	cr_expect_null(admin_http_bearer("Bearer ", &n));
	cr_expect_null(admin_http_bearer("Bearerabc", &n));
	cr_expect_null(admin_http_bearer("", &n));
}

Test(admin_http, token_equal)
{
	cr_expect_eq(admin_http_token_equal("secret", 6, "secret", 6), 1);
	cr_expect_eq(admin_http_token_equal("secret", 6, "secreT", 6), 0);
	cr_expect_eq(admin_http_token_equal("secret", 6, "secret2", 7), 0);
	cr_expect_eq(admin_http_token_equal("secret", 6, "secre", 5), 0);
	cr_expect_eq(admin_http_token_equal("secret", 6, "", 0), 0);
	cr_expect_eq(admin_http_token_equal("", 0, "", 0), 0, "an empty token never matches");
}

Test(admin_http, reasons)
{
	cr_expect_str_eq(admin_http_reason(200), "OK");
	cr_expect_str_eq(admin_http_reason(401), "Unauthorized");
	cr_expect_str_eq(admin_http_reason(431), "Request Header Fields Too Large");
	cr_expect_str_eq(admin_http_reason(299), "Unknown");
}
