/*
 * DOC: HTTP response parser tests
 *
 * Pure: bytes in, state out. Every well-formed sample is also fed split at every byte boundary
 * and one byte at a time, and must parse to the same status, body and outcome as when fed
 * whole. Malformed input must be refused with a reason, never crash; a pseudo-random garbage
 * run at the end shakes the bounds (ASan build catches overruns).
 */
#include "health/http_resp.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct http_resp *resp_new(void)
{
	struct http_resp *r = malloc(sizeof(*r));

	cr_assert_not_null(r);
	http_resp_init(r);
	return r;
}

/* Feeds s whole, then signals eof when eof is set; returns the last rc. */
static enum http_resp_rc feed_all(struct http_resp *r, const char *s, size_t len, int eof)
{
	enum http_resp_rc rc = http_resp_feed(r, s, len);

	if (eof && rc == HTTP_RESP_MORE)
		rc = http_resp_eof(r);
	return rc;
}

static enum http_resp_rc feed_str(struct http_resp *r, const char *s)
{
	return http_resp_feed(r, s, strlen(s));
}

static enum http_resp_rc parse(struct http_resp *r, const char *s, int eof)
{
	http_resp_init(r);
	return feed_all(r, s, strlen(s), eof);
}

Test(http_resp, status_line_and_length)
{
	struct http_resp *r = resp_new();
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";

	cr_assert_eq(parse(r, s, 0), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 200);
	cr_assert_eq(r->minor, 1);
	cr_assert(r->head_done);
	cr_assert_eq(r->body_len, 5);
	cr_assert(http_resp_body_contains(r, "ell"));
	cr_assert_not(http_resp_body_contains(r, "world"));
	cr_assert(http_resp_body_final(r));
	free(r);
}

Test(http_resp, status_variants)
{
	struct http_resp *r = resp_new();

	cr_assert_eq(parse(r, "HTTP/1.0 503 Service Unavailable\r\n\r\n", 1), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 503);
	cr_assert_eq(r->minor, 0);
	/* No reason phrase, no space: accepted. */
	cr_assert_eq(parse(r, "HTTP/1.1 204\r\n\r\n", 0), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 204);
	/* Empty reason phrase after the space. */
	cr_assert_eq(parse(r, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", 0), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 404);
	/* Bare LF line ends. */
	cr_assert_eq(parse(r, "HTTP/1.1 301 Moved\nLocation: /x\nContent-Length: 0\n\n", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 301);
	free(r);
}

Test(http_resp, bad_status_lines)
{
	static const char *bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\r\r\n\r\n",
	};
	struct http_resp *r = resp_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(r, bad[i], 1), HTTP_RESP_INVALID, "accepted: %s", bad[i]);
		cr_assert_not_null(http_resp_error(r));
	}
	cr_assert_eq(parse(r, "HTTP/2 200 OK\r\n\r\n", 1), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "bad status line");
	free(r);
}

Test(http_resp, content_length_rules)
{
	struct http_resp *r = resp_new();

	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\ncontent-length:3\r\nContent-Length: 3\r\n\r\nabc", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 0),
		HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "conflicting Content-Length");
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", 0), HTTP_RESP_INVALID);
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "bad Content-Length");
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", 0), HTTP_RESP_INVALID);
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", 0), HTTP_RESP_INVALID);
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0),
		HTTP_RESP_INVALID);
	/* Length 0: complete right after the head. */
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 0);
	/* Short body then close: truncated. */
	cr_assert_eq(
		parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "body truncated");
	/* Bytes after a complete response are ignored. */
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabGARBAGE", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 2);
	free(r);
}

Test(http_resp, chunked)
{
	struct http_resp *r = resp_new();
	const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5\r\nhello\r\n"
			"7;ext=\"x\"\r\n, world\r\n"
			"0\r\nX-Trailer: t\r\n\r\n";

	cr_assert_eq(parse(r, s, 0), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 12);
	cr_assert_eq(memcmp(r->body, "hello, world", 12), 0);
	/* chunked wins over Content-Length. */
	cr_assert_eq(parse(r,
			     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, "
			     "Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			     0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 3);
	/* Upper-case hex sizes. */
	cr_assert_eq(
		parse(r,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0"
			"\r\n\r\n",
			0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 10);
	/* Chunked not last: read until close. */
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", 0),
		HTTP_RESP_MORE);
	cr_assert_eq(http_resp_eof(r), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 3);
	free(r);
}

Test(http_resp, chunked_errors)
{
	static const char *bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n",
		("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "fffffffffffffffffffff\r\n"),
	};
	struct http_resp *r = resp_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(r, bad[i], 0), HTTP_RESP_INVALID, "accepted #%zu", i);
	/* Closed in the middle of a chunk. */
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 1),
		HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "body truncated");
	free(r);
}

Test(http_resp, close_delimited)
{
	struct http_resp *r = resp_new();

	cr_assert_eq(
		parse(r, "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nsome body", 0), HTTP_RESP_MORE);
	cr_assert(r->head_done);
	cr_assert_not(http_resp_body_final(r));
	cr_assert_eq(http_resp_feed(r, " more", 5), HTTP_RESP_MORE);
	cr_assert_eq(http_resp_eof(r), HTTP_RESP_COMPLETE);
	cr_assert(http_resp_body_final(r));
	cr_assert(http_resp_body_contains(r, "body more"));
	/* Feeding after completion changes nothing. */
	cr_assert_eq(http_resp_feed(r, "x", 1), HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, 14);
	free(r);
}

Test(http_resp, no_body_statuses_and_interim)
{
	struct http_resp *r = resp_new();

	cr_assert_eq(parse(r, "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(parse(r, "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(
		parse(r,
			"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n"
			"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			0),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->status, 200);
	cr_assert(http_resp_body_contains(r, "ok"));

	char many[2048] = "";
	for (int i = 0; i < HTTP_RESP_INTERIM_MAX + 1; i++)
		strcat(many, "HTTP/1.1 100 Continue\r\n\r\n");
	cr_assert_eq(parse(r, many, 0), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "too many interim responses");
	free(r);
}

Test(http_resp, header_syntax)
{
	static const char *bad[] = {
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nName : x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n",
	};
	struct http_resp *r = resp_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(r, bad[i], 0), HTTP_RESP_INVALID, "accepted #%zu", i);
	/* NUL inside a header (strlen would stop there, so feed the exact bytes). */
	const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	http_resp_init(r);
	cr_assert_eq(http_resp_feed(r, nul, sizeof(nul) - 1), HTTP_RESP_INVALID);
	/* A folded ordinary header is tolerated. */
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 0\r\n\r\n", 0),
		HTTP_RESP_COMPLETE);
	free(r);
}

Test(http_resp, eof_before_anything)
{
	struct http_resp *r = resp_new();

	cr_assert_eq(http_resp_eof(r), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "no response");
	cr_assert_eq(parse(r, "HTTP/1.1 200 OK\r\nServer", 1), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "closed in headers");
	free(r);
}

Test(http_resp, oversized_head_rejected)
{
	struct http_resp *r = resp_new();
	size_t n = HTTP_RESP_LINE_MAX + 100;
	char *line = malloc(n);
	enum http_resp_rc rc;

	cr_assert_not_null(line);
	/* One header line longer than the line bound. */
	http_resp_init(r);
	cr_assert_eq(feed_str(r, "HTTP/1.1 200 OK\r\nX-Big: "), HTTP_RESP_MORE);
	memset(line, 'a', n);
	cr_assert_eq(http_resp_feed(r, line, n), HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "line too long");

	/* Many short headers over the head bound. */
	http_resp_init(r);
	rc = feed_str(r, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 10000 && rc == HTTP_RESP_MORE; i++)
		rc = feed_str(r, "X-Header: some value\r\n");
	cr_assert_eq(rc, HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "head too large");

	/* Trailers are bounded too. */
	http_resp_init(r);
	rc = feed_str(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < 10000 && rc == HTTP_RESP_MORE; i++)
		rc = feed_str(r, "X-Trailer: some value\r\n");
	cr_assert_eq(rc, HTTP_RESP_INVALID);
	cr_assert_str_eq(http_resp_error(r), "trailers too large");
	free(line);
	free(r);
}

Test(http_resp, body_window)
{
	struct http_resp *r = resp_new();
	size_t n = HTTP_RESP_BODY_KEEP + 5000;
	char head[128], *body = malloc(n);

	cr_assert_not_null(body);
	memset(body, 'x', n);
	memcpy(body + n - 5, "ready", 5);                   /* beyond the window */
	memcpy(body + HTTP_RESP_BODY_KEEP - 5, "alive", 5); /* the window's last bytes */
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	http_resp_init(r);
	cr_assert_eq(http_resp_feed(r, head, strlen(head)), HTTP_RESP_MORE);
	cr_assert_eq(http_resp_feed(r, body, HTTP_RESP_BODY_KEEP), HTTP_RESP_MORE);
	cr_assert(http_resp_body_final(r)); /* the window is full: nothing more will be kept */
	cr_assert_eq(http_resp_feed(r, body + HTTP_RESP_BODY_KEEP, n - HTTP_RESP_BODY_KEEP),
		HTTP_RESP_COMPLETE);
	cr_assert_eq(r->body_len, HTTP_RESP_BODY_KEEP);
	cr_assert_eq(r->body_total, n);
	cr_assert(http_resp_body_contains(r, "alive"));
	cr_assert_not(http_resp_body_contains(r, "ready"));
	cr_assert(http_resp_body_contains(r, ""));
	free(body);
	free(r);
}

Test(http_resp, expected_status)
{
	struct conf_status_range rr[] = {{200, 204}, {301, 302}};

	cr_assert(http_status_expected(NULL, 0, 200));
	cr_assert(http_status_expected(NULL, 0, 399));
	cr_assert_not(http_status_expected(NULL, 0, 400));
	cr_assert_not(http_status_expected(NULL, 0, 199));
	cr_assert(http_status_expected(rr, 2, 204));
	cr_assert(http_status_expected(rr, 2, 302));
	cr_assert_not(http_status_expected(rr, 2, 300));
	cr_assert_not(http_status_expected(rr, 2, 503));
}

/* What a parse ended with, to compare whole feeds with split ones. */
struct outcome {
	enum http_resp_rc rc;
	int status, head_done;
	size_t body_len;
	char body[256];
	const char *err;
};

static struct outcome outcome_of(const struct http_resp *r, enum http_resp_rc rc)
{
	struct outcome o = {.rc = rc, .status = r->status, .head_done = r->head_done};

	o.body_len = r->body_len;
	memcpy(o.body, r->body, r->body_len < sizeof(o.body) ? r->body_len : sizeof(o.body));
	o.err = http_resp_error(r);
	return o;
}

static void assert_same(
	const struct outcome *a, const struct outcome *b, const char *what, size_t at)
{
	cr_assert_eq(a->rc, b->rc, "%s at %zu: rc %d vs %d", what, at, a->rc, b->rc);
	cr_assert_eq(a->status, b->status, "%s at %zu", what, at);
	cr_assert_eq(a->head_done, b->head_done, "%s at %zu", what, at);
	cr_assert_eq(a->body_len, b->body_len, "%s at %zu", what, at);
	cr_assert_eq(memcmp(a->body, b->body, a->body_len < 256 ? a->body_len : 256), 0);
	cr_assert_eq(a->err == NULL, b->err == NULL, "%s at %zu", what, at);
	if (a->err != NULL)
		cr_assert_str_eq(a->err, b->err, "%s at %zu", what, at);
}

Test(http_resp, split_at_every_byte)
{
	static const char *samples[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
		"3;a=b\r\n, w\r\n0\r\nT: x\r\n\r\n",
		"HTTP/1.0 503 Service Unavailable\r\nServer: x\r\n\r\nnot ready yet",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: "
		"3\r\n\r\nno!",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ntrunc",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
	};
	struct http_resp *r = resp_new();

	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		const char *in = samples[s];
		size_t len = strlen(in);
		struct outcome whole, part;
		enum http_resp_rc rc;

		http_resp_init(r);
		whole = outcome_of(r, feed_all(r, in, len, 1));

		for (size_t at = 0; at <= len; at++) {
			http_resp_init(r);
			rc = http_resp_feed(r, in, at);
			if (rc != HTTP_RESP_INVALID)
				rc = http_resp_feed(r, in + at, len - at);
			if (rc == HTTP_RESP_MORE)
				rc = http_resp_eof(r);
			part = outcome_of(r, rc);
			assert_same(&whole, &part, in, at);
		}

		http_resp_init(r);
		rc = HTTP_RESP_MORE;
		for (size_t i = 0; i < len; i++)
			rc = http_resp_feed(r, in + i, 1);
		if (rc == HTTP_RESP_MORE)
			rc = http_resp_eof(r);
		part = outcome_of(r, rc);
		assert_same(&whole, &part, in, (size_t)-1);
	}
	free(r);
}

/* ---- the check's verdict (http_resp_verdict) ------------------------------------------------ */

/* The verdict after feeding s whole, and after the peer's close when eof (expect_body "ready"). */
static enum http_verdict verdict_of(struct http_resp *r, const char *s, int eof, const char *want)
{
	enum http_resp_rc rc = parse(r, s, 0);

	if (eof && rc == HTTP_RESP_MORE)
		rc = http_resp_eof(r);
	return http_resp_verdict(r, rc, NULL, 0, want);
}

/*
 * Defect 11: a check with expect_body passed as soon as the substring arrived, so a backend that
 * died mid-answer (fewer bytes than Content-Length, a chunked body without its last chunk)
 * passed. Seen is not enough: only a complete response passes, a cut one fails as truncated.
 */
Test(http_resp, verdict_truncated_body_fails_even_when_the_substring_was_seen)
{
	static const char *cut[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nready",
		"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nready",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nready\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nready\r\n0\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nready",
	};
	struct http_resp *r = resp_new();

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		cr_expect_eq(verdict_of(r, cut[i], 0, "ready"), HTTP_VERDICT_MORE, "%s", cut[i]);
		cr_expect_eq(verdict_of(r, cut[i], 1, "ready"), HTTP_VERDICT_INVALID, "%s", cut[i]);
		cr_expect_str_eq(http_resp_error(r), "body truncated", "%s", cut[i]);
		/* No prefix of a cut response may pass either. */
		for (size_t at = 0; at <= strlen(cut[i]); at++) {
			http_resp_init(r);
			enum http_resp_rc rc = http_resp_feed(r, cut[i], at);
			cr_expect_neq(http_resp_verdict(r, rc, NULL, 0, "ready"), HTTP_VERDICT_OK,
				"%s: passed after %zu bytes", cut[i], at);
		}
	}
	free(r);
}

Test(http_resp, verdict_complete_bodies)
{
	struct conf_status_range only200[] = {{200, 200}};
	struct http_resp *r = resp_new();

	cr_expect_eq(verdict_of(r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nready", 0, "ready"),
		HTTP_VERDICT_OK);
	cr_expect_eq(
		verdict_of(r,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nrea\r\n2\r\n"
			"dy\r\n0\r\n\r\n",
			0, "ready"),
		HTTP_VERDICT_OK);
	cr_expect_eq(verdict_of(r, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbusy", 0, "ready"),
		HTTP_VERDICT_BODY);
	/* Delimited by the close: complete at the close, not before. */
	cr_expect_eq(verdict_of(r, "HTTP/1.0 200 OK\r\n\r\nready", 0, "ready"), HTTP_VERDICT_MORE);
	cr_expect_eq(verdict_of(r, "HTTP/1.0 200 OK\r\n\r\nready", 1, "ready"), HTTP_VERDICT_OK);
	/* Without expect_body the status decides at the end of the head; the body is not read. */
	cr_expect_eq(verdict_of(r, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0, NULL),
		HTTP_VERDICT_OK);
	cr_expect_eq(verdict_of(r, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nre", 0, NULL),
		HTTP_VERDICT_OK);
	cr_expect_eq(
		verdict_of(r, "HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nready", 0, "ready"),
		HTTP_VERDICT_STATUS);
	enum http_resp_rc rc = parse(r, "HTTP/1.1 204 No Content\r\n\r\n", 0);
	cr_expect_eq(http_resp_verdict(r, rc, only200, 1, NULL), HTTP_VERDICT_STATUS);
	cr_expect_eq(verdict_of(r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, "ready"),
		HTTP_VERDICT_MORE);
	cr_expect_eq(verdict_of(r, "SSH-2.0\r\n\r\n", 0, "ready"), HTTP_VERDICT_INVALID);
	free(r);
}

Test(http_resp, verdict_window_full)
{
	struct http_resp *r = resp_new();
	size_t n = HTTP_RESP_BODY_KEEP + 5000;
	char head[128], *body = malloc(n);

	cr_assert_not_null(body);
	memset(body, 'x', n);
	memcpy(body + 10, "alive", 5);
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	http_resp_init(r);
	enum http_resp_rc rc = http_resp_feed(r, head, strlen(head));
	rc = http_resp_feed(r, body, HTTP_RESP_BODY_KEEP);
	/* Full window without it: it can never be there, fail at once. */
	cr_expect_eq(http_resp_verdict(r, rc, NULL, 0, "ready"), HTTP_VERDICT_BODY);
	/* Seen in the window, but the body goes on: read it to its end first. */
	cr_expect_eq(http_resp_verdict(r, rc, NULL, 0, "alive"), HTTP_VERDICT_MORE);
	enum http_resp_rc cut = http_resp_eof(r);
	cr_expect_eq(http_resp_verdict(r, cut, NULL, 0, "alive"), HTTP_VERDICT_INVALID);
	http_resp_init(r);
	http_resp_feed(r, head, strlen(head));
	rc = http_resp_feed(r, body, n);
	cr_expect_eq(rc, HTTP_RESP_COMPLETE);
	cr_expect_eq(http_resp_verdict(r, rc, NULL, 0, "alive"), HTTP_VERDICT_OK);
	free(body);
	free(r);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random bytes, and random mutations of valid responses: must end in a defined state. */
Test(http_resp, garbage_never_crashes)
{
	static const char *seeds[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	};
	struct http_resp *r = resp_new();
	uint64_t st = 0x1234567887654321ULL;
	char buf[512];
	int invalid = 0;

	for (int round = 0; round < 20000; round++) {
		size_t len;
		enum http_resp_rc rc;

		if (round % 2 == 0) {
			len = xorshift(&st) % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)xorshift(&st);
		} else {
			const char *sd = seeds[(round / 2) % 2];

			len = strlen(sd);
			memcpy(buf, sd, len);
			for (int k = 0; k < 3; k++)
				buf[xorshift(&st) % len] = (char)xorshift(&st);
		}
		http_resp_init(r);
		size_t off = 0;
		rc = HTTP_RESP_MORE;
		while (off < len && rc == HTTP_RESP_MORE) {
			size_t k = 1 + xorshift(&st) % 16;

			if (k > len - off)
				k = len - off;
			rc = http_resp_feed(r, buf + off, k);
			off += k;
		}
		if (rc == HTTP_RESP_MORE)
			rc = http_resp_eof(r);
		cr_assert(rc == HTTP_RESP_COMPLETE || rc == HTTP_RESP_INVALID);
		cr_assert((rc == HTTP_RESP_INVALID) == (http_resp_error(r) != NULL));
		cr_assert_leq(r->body_len, HTTP_RESP_BODY_KEEP);
		invalid += rc == HTTP_RESP_INVALID;
	}
	cr_assert_geq(invalid, 10000);
	free(r);
}
