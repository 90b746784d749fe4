/*
 * DOC: fuzz target: the HTTP health-check response parser (health/http_resp.c)
 *
 * The input is what a backend answers to an http check. It is parsed whole and again cut into
 * pieces at points the input's last bytes choose (a check reads in whatever pieces the socket
 * gives); both must end the same: same verdict, status, reason and kept body. Then what
 * http_resp.h promises: a reason exactly when invalid, the kept body bounded and a prefix of
 * the body, a complete Content-Length body exactly that long, and nothing changes once done.
 */
#include "fuzz/fuzz.h"
#include "health/http_resp.h"

/* Feeds the pieces, then the end of the connection unless the response ended before. */
static enum http_resp_rc parse(
	struct http_resp *r, const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts)
{
	enum http_resp_rc rc = HTTP_RESP_MORE;
	size_t from = 0;

	http_resp_init(r);
	for (size_t i = 0; i <= ncuts && rc == HTTP_RESP_MORE; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		rc = http_resp_feed(r, data + from, to - from);
		from = to;
	}
	if (rc == HTTP_RESP_MORE)
		rc = http_resp_eof(r);
	return rc;
}

static void check_same(const struct http_resp *a, enum http_resp_rc ra, const struct http_resp *b,
	enum http_resp_rc rb)
{
	FUZZ_CHECK(ra == rb, "whole %d, split %d", ra, rb);
	FUZZ_CHECK(a->state == b->state, "state %d vs %d", a->state, b->state);
	FUZZ_CHECK(a->err == b->err, "'%s' vs '%s'", a->err ? a->err : "-", b->err ? b->err : "-");
	FUZZ_CHECK(a->head_done == b->head_done, "head_done differs");
	if (a->head_done)
		FUZZ_CHECK(a->status == b->status && a->minor == b->minor, "status differs");
	FUZZ_CHECK(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0,
		"kept body differs");
	FUZZ_CHECK(a->body_total == b->body_total, "body_total %llu vs %llu",
		(unsigned long long)a->body_total, (unsigned long long)b->body_total);
}

static void check_one(const struct http_resp *r, enum http_resp_rc rc)
{
	FUZZ_CHECK(rc == HTTP_RESP_COMPLETE || rc == HTTP_RESP_INVALID, "rc %d after eof", rc);
	FUZZ_CHECK((rc == HTTP_RESP_INVALID) == (http_resp_error(r) != NULL), "reason mismatch");
	FUZZ_CHECK(rc != HTTP_RESP_INVALID || http_resp_error(r)[0] != '\0', "empty reason");
	FUZZ_CHECK(r->body_len <= HTTP_RESP_BODY_KEEP, "kept %zu", r->body_len);
	FUZZ_CHECK(r->body_len <= r->body_total, "kept %zu of %llu", r->body_len,
		(unsigned long long)r->body_total);
	FUZZ_CHECK(r->body_len == HTTP_RESP_BODY_KEEP || r->body_len == r->body_total,
		"dropped body bytes while there was room");
	if (rc != HTTP_RESP_COMPLETE)
		return;
	FUZZ_CHECK(r->head_done, "complete without a head");
	FUZZ_CHECK(r->status >= 100 && r->status <= 999, "status %d", r->status);
	FUZZ_CHECK(r->minor >= 0 && r->minor <= 9, "HTTP/1.%d", r->minor);
	FUZZ_CHECK(http_resp_body_final(r), "complete but the body is not final");
	if (r->status == 204 || r->status == 304 || r->status / 100 == 1)
		FUZZ_CHECK(r->body_total == 0, "a body on status %d", r->status);
	else if (r->has_length && !r->chunked && !r->te_other)
		FUZZ_CHECK(r->body_total == r->length, "body %llu, Content-Length %llu",
			(unsigned long long)r->body_total, (unsigned long long)r->length);
	FUZZ_CHECK(http_resp_body_contains(r, ""), "the empty needle must match");
	if (r->body_len > 0) {
		/* The kept body's own tail is in it (a NUL ends the needle early: still inside). */
		char needle[17];
		size_t k = r->body_len < 16 ? r->body_len : 16;

		memcpy(needle, r->body + r->body_len - k, k);
		needle[k] = '\0';
		FUZZ_CHECK(http_resp_body_contains(r, needle), "body misses its own tail");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_resp whole, split; /* 24 KiB each: not on the stack */
	struct fuzz_in in = {data, size};
	size_t cuts[8], ncuts = fuzz_cuts(&in, in.n, cuts, 8);

	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = cuts[i] > in.n ? in.n : cuts[i];
	enum http_resp_rc rw = parse(&whole, in.p, in.n, NULL, 0);
	enum http_resp_rc rs = parse(&split, in.p, in.n, cuts, ncuts);
	check_one(&whole, rw);
	check_same(&whole, rw, &split, rs);

	/* Final: more bytes and another eof change nothing. */
	size_t kept = whole.body_len;
	FUZZ_CHECK(http_resp_feed(&whole, "HTTP/1.1 200 OK\r\n\r\nxyz", 22) == rw, "not final");
	FUZZ_CHECK(http_resp_eof(&whole) == rw, "eof changed a final verdict");
	FUZZ_CHECK(whole.body_len == kept, "body grew after the end");

	struct conf_status_range ranges[2] = {{200, 299}, {404, 404}};
	int st = whole.status;
	FUZZ_CHECK(http_status_expected(ranges, 2, st) == ((st >= 200 && st <= 299) || st == 404),
		"status ranges");
	FUZZ_CHECK(http_status_expected(NULL, 0, st) == (st >= 200 && st <= 399), "default range");

	/* With expect_body, only a complete response passes (a cut body must not). */
	FUZZ_CHECK(http_resp_verdict(&whole, rw, NULL, 0, "e") != HTTP_VERDICT_OK ||
			   rw == HTTP_RESP_COMPLETE,
		"passed an incomplete response");
	FUZZ_CHECK(http_resp_verdict(&whole, rw, NULL, 0, "e") != HTTP_VERDICT_MORE,
		"undecided after eof");
	return 0;
}
