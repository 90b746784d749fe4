/*
 * DOC: HTTP/1.x response parser (implementation)
 *
 *            1xx (not 101): next response
 *          +-----------------------------+
 *          v                             |
 *   --> STATUS --line--> HEADERS --empty line--+--1xx/101/204/304----------------> DONE
 *                                              +--Content-Length: 0-------------->  ^
 *                                              +--Content-Length: n--> BODY_LEN ----+
 *                                              |                                    |
 *                                              +--chunked--> CHUNK_SIZE --0--> TRAILERS
 *                                              |               |    ^                |
 *                                              |              n>0   |          empty line
 *                                              |               v    |                v
 *                                              |        CHUNK_DATA-->CHUNK_END     DONE
 *                                              |
 *                                              +--otherwise--> BODY_CLOSE --eof--> DONE
 *
 *   any state --not HTTP / over a bound / eof too early--> INVALID
 *
 * Line-based states collect one line at a time in r->line (bounded) and act on it when its LF
 * arrives; a CR before the LF is dropped, a bare LF is accepted as a line end (RFC 9112 2.2
 * lets a recipient do so), a CR or NUL inside a line is refused. Body states copy into the
 * kept window and count down. Framing follows RFC 9112 6.3 for a response to GET: a final
 * Transfer-Encoding of chunked wins over Content-Length, any other final coding means "read
 * until close", several Content-Length values must agree. The grammar it shares with the admin
 * server's request parser (tokens, field lines, lists, numbers) is lib/http1.c's.
 *
 * The state setter does not log, unlike the rest of anylb's state machines: the parser is pure
 * and runs per byte range under a fuzzer; the check that drives it logs the outcome.
 */
#include "health/http_resp.h"

#include "lib/http1.h"

#include <string.h>

static void resp_set_state(struct http_resp *r, enum http_resp_state st)
{
	r->state = st;
}

static int resp_fail(struct http_resp *r, const char *why)
{
	r->err = why;
	resp_set_state(r, HTTP_RESP_ST_INVALID);
	return -1;
}

void http_resp_init(struct http_resp *r)
{
	r->state = HTTP_RESP_ST_STATUS;
	r->err = NULL;
	r->status = 0;
	r->minor = 0;
	r->head_done = 0;
	r->has_length = 0;
	r->chunked = 0;
	r->te_other = 0;
	r->last_framing = 0;
	r->ninterim = 0;
	r->length = 0;
	r->remaining = 0;
	r->nread = 0;
	r->meta = 0;
	r->line_len = 0;
	r->body_len = 0;
	r->body_total = 0;
}

static void body_keep(struct http_resp *r, const char *p, size_t n)
{
	size_t room = HTTP_RESP_BODY_KEEP - r->body_len;
	size_t k = n < room ? n : room;

	memcpy(r->body + r->body_len, p, k);
	r->body_len += k;
	r->body_total += n;
}

/* "HTTP/1.1 200 OK": one SP after the version, three digits, then SP and any reason or nothing. */
static int parse_status(struct http_resp *r, const char *l, size_t len)
{
	int major, minor;

	if (len < 12 || http1_version(l, 8, &major, &minor) < 0 || major != 1 || l[8] != ' ')
		return resp_fail(r, "bad status line");
	if (l[9] < '1' || l[9] > '9' || !http1_is_digit(l[10]) || !http1_is_digit(l[11]))
		return resp_fail(r, "bad status line");
	if (len > 12 && l[12] != ' ')
		return resp_fail(r, "bad status line");
	for (size_t i = 13; i < len; i++)
		if (!http1_is_field_char(l[i]))
			return resp_fail(r, "bad status line");
	r->minor = minor;
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->has_length = 0;
	r->length = 0;
	r->chunked = 0;
	r->te_other = 0;
	r->last_framing = 0;
	resp_set_state(r, HTTP_RESP_ST_HEADERS);
	return 0;
}

/* "5" or "5, 5": every element the same decimal number (RFC 9110 8.6). */
static int parse_length(struct http_resp *r, const char *v, size_t len)
{
	size_t i = 0;
	int any = 0;

	while (i < len) {
		uint64_t n;
		size_t k;

		while (i < len && http1_is_ows(v[i]))
			i++;
		if (http1_decimal(v + i, len - i, UINT64_MAX, &n, &k) < 0 || k == 0)
			return resp_fail(r, "bad Content-Length");
		i += k;
		while (i < len && http1_is_ows(v[i]))
			i++;
		if (i < len && v[i] != ',')
			return resp_fail(r, "bad Content-Length");
		if (i < len)
			i++;
		if ((r->has_length || any) && n != r->length)
			return resp_fail(r, "conflicting Content-Length");
		r->length = n;
		r->has_length = 1;
		any = 1;
	}
	if (!any)
		return resp_fail(r, "bad Content-Length");
	return 0;
}

/* A list of codings, possibly with parameters; only whether the last one is chunked matters. */
static void parse_codings(struct http_resp *r, const char *v, size_t len)
{
	const char *e;
	size_t pos = 0, elen;

	while (http1_list_next(v, len, &pos, &e, &elen)) {
		/* The coding's name; an element that does not start with one names none. */
		size_t name = http1_token_len(e, elen);

		if (name == 0)
			continue;
		r->chunked = http1_token_is(e, name, "chunked");
		r->te_other = !r->chunked;
	}
}

static int parse_header(struct http_resp *r, const char *l, size_t len)
{
	const char *v;
	size_t name_len, vlen;

	if (http1_is_ows(l[0])) {
		/*
		 * obs-fold (RFC 9112 5.2). Harmless on a header we ignore; on one that frames the
		 * body it would change the framing, so refuse it.
		 */
		if (r->last_framing)
			return resp_fail(r, "folded framing header");
		return 0;
	}
	if (http1_field_split(l, len, &name_len, &v, &vlen) < 0)
		return resp_fail(r, "bad header");

	r->last_framing = 0;
	if (http1_token_is(l, name_len, "content-length")) {
		r->last_framing = 1;
		return parse_length(r, v, vlen);
	}
	if (http1_token_is(l, name_len, "transfer-encoding")) {
		r->last_framing = 1;
		parse_codings(r, v, vlen);
	}
	return 0;
}

static int end_of_head(struct http_resp *r)
{
	if (r->status / 100 == 1 && r->status != 101) {
		if (++r->ninterim > HTTP_RESP_INTERIM_MAX)
			return resp_fail(r, "too many interim responses");
		resp_set_state(r, HTTP_RESP_ST_STATUS);
		return 0;
	}
	r->head_done = 1;
	r->meta = 0; /* from now on it counts trailer bytes */
	if (r->status / 100 == 1 || r->status == 204 || r->status == 304) {
		resp_set_state(r, HTTP_RESP_ST_DONE);
	} else if (r->chunked) {
		resp_set_state(r, HTTP_RESP_ST_CHUNK_SIZE);
	} else if (r->te_other || !r->has_length) {
		resp_set_state(r, HTTP_RESP_ST_BODY_CLOSE);
	} else if (r->length == 0) {
		resp_set_state(r, HTTP_RESP_ST_DONE);
	} else {
		r->remaining = r->length;
		resp_set_state(r, HTTP_RESP_ST_BODY_LEN);
	}
	return 0;
}

/* "1a;ext=1": hex digits, then nothing, an extension, or whitespace before one. */
static int parse_chunk_size(struct http_resp *r, const char *l, size_t len)
{
	uint64_t n = 0;
	size_t i = 0;

	while (i < len && http1_hex_value(l[i]) >= 0) {
		if (n > (UINT64_MAX >> 4))
			return resp_fail(r, "bad chunk size");
		n = (n << 4) | (uint64_t)http1_hex_value(l[i]);
		i++;
	}
	if (i == 0 || (i < len && l[i] != ';' && !http1_is_ows(l[i])))
		return resp_fail(r, "bad chunk size");
	if (n == 0) {
		resp_set_state(r, HTTP_RESP_ST_TRAILERS);
		return 0;
	}
	r->remaining = n;
	resp_set_state(r, HTTP_RESP_ST_CHUNK_DATA);
	return 0;
}

/* Acts on the complete line in r->line (its CR LF already removed). */
static int line_done(struct http_resp *r)
{
	const char *l = r->line;
	size_t len = r->line_len;

	r->line_len = 0;
	if (memchr(l, '\r', len) != NULL || memchr(l, '\0', len) != NULL)
		return resp_fail(r, "bad character in line");
	switch (r->state) {
	case HTTP_RESP_ST_STATUS:
		return parse_status(r, l, len);
	case HTTP_RESP_ST_HEADERS:
		if (len == 0)
			return end_of_head(r);
		return parse_header(r, l, len);
	case HTTP_RESP_ST_CHUNK_SIZE:
		return parse_chunk_size(r, l, len);
	case HTTP_RESP_ST_CHUNK_END:
		if (len != 0)
			return resp_fail(r, "bad chunk end");
		resp_set_state(r, HTTP_RESP_ST_CHUNK_SIZE);
		return 0;
	case HTTP_RESP_ST_TRAILERS:
		if (len == 0)
			resp_set_state(r, HTTP_RESP_ST_DONE);
		return 0;
	case HTTP_RESP_ST_BODY_LEN:
	case HTTP_RESP_ST_CHUNK_DATA:
	case HTTP_RESP_ST_BODY_CLOSE:
	case HTTP_RESP_ST_DONE:
	case HTTP_RESP_ST_INVALID:
		break;
	}
	return resp_fail(r, "internal: line in a body state");
}

/*
 * Takes bytes up to and including the next LF into r->line. Returns 1 when a line is complete,
 * 0 when the input ran out first, -1 when a bound was crossed.
 */
static int line_take(struct http_resp *r, const char **p, size_t *n)
{
	const char *nl = memchr(*p, '\n', *n);
	size_t seg = nl != NULL ? (size_t)(nl - *p) : *n;
	size_t used = seg + (nl != NULL);
	int meta = r->state == HTTP_RESP_ST_STATUS || r->state == HTTP_RESP_ST_HEADERS ||
		   r->state == HTTP_RESP_ST_TRAILERS;

	if (seg > HTTP_RESP_LINE_MAX - r->line_len)
		return resp_fail(r, "line too long");
	if (meta && used > HTTP_RESP_HEAD_MAX - r->meta)
		return resp_fail(r, r->head_done ? "trailers too large" : "head too large");
	if (meta)
		r->meta += used;
	memcpy(r->line + r->line_len, *p, seg);
	r->line_len += seg;
	*p += used;
	*n -= used;
	if (nl == NULL)
		return 0;
	if (r->line_len > 0 && r->line[r->line_len - 1] == '\r')
		r->line_len--;
	return 1;
}

static enum http_resp_rc resp_rc(const struct http_resp *r)
{
	switch (r->state) {
	case HTTP_RESP_ST_DONE:
		return HTTP_RESP_COMPLETE;
	case HTTP_RESP_ST_INVALID:
		return HTTP_RESP_INVALID;
	case HTTP_RESP_ST_STATUS:
	case HTTP_RESP_ST_HEADERS:
	case HTTP_RESP_ST_BODY_LEN:
	case HTTP_RESP_ST_CHUNK_SIZE:
	case HTTP_RESP_ST_CHUNK_DATA:
	case HTTP_RESP_ST_CHUNK_END:
	case HTTP_RESP_ST_TRAILERS:
	case HTTP_RESP_ST_BODY_CLOSE:
		break;
	}
	return HTTP_RESP_MORE;
}

enum http_resp_rc http_resp_feed(struct http_resp *r, const void *buf, size_t len)
{
	const char *p = buf;
	size_t n = len;

	if (r->state != HTTP_RESP_ST_DONE && r->state != HTTP_RESP_ST_INVALID)
		r->nread += len;
	while (n > 0) {
		size_t k;
		int rc;

		switch (r->state) {
		case HTTP_RESP_ST_STATUS:
		case HTTP_RESP_ST_HEADERS:
		case HTTP_RESP_ST_CHUNK_SIZE:
		case HTTP_RESP_ST_CHUNK_END:
		case HTTP_RESP_ST_TRAILERS:
			rc = line_take(r, &p, &n);
			if (rc == 1)
				rc = line_done(r);
			if (rc < 0)
				return HTTP_RESP_INVALID;
			break;
		case HTTP_RESP_ST_BODY_LEN:
		case HTTP_RESP_ST_CHUNK_DATA:
			k = n < r->remaining ? n : (size_t)r->remaining;
			body_keep(r, p, k);
			p += k;
			n -= k;
			r->remaining -= k;
			if (r->remaining == 0)
				resp_set_state(r, r->state == HTTP_RESP_ST_BODY_LEN
							  ? HTTP_RESP_ST_DONE
							  : HTTP_RESP_ST_CHUNK_END);
			break;
		case HTTP_RESP_ST_BODY_CLOSE:
			body_keep(r, p, n);
			n = 0;
			break;
		case HTTP_RESP_ST_DONE:
		case HTTP_RESP_ST_INVALID:
			return resp_rc(r);
		}
	}
	return resp_rc(r);
}

enum http_resp_rc http_resp_eof(struct http_resp *r)
{
	switch (r->state) {
	case HTTP_RESP_ST_BODY_CLOSE:
		resp_set_state(r, HTTP_RESP_ST_DONE);
		break;
	case HTTP_RESP_ST_STATUS:
		resp_fail(r, r->nread == 0 ? "no response" : "closed in headers");
		break;
	case HTTP_RESP_ST_HEADERS:
		resp_fail(r, "closed in headers");
		break;
	case HTTP_RESP_ST_BODY_LEN:
	case HTTP_RESP_ST_CHUNK_SIZE:
	case HTTP_RESP_ST_CHUNK_DATA:
	case HTTP_RESP_ST_CHUNK_END:
	case HTTP_RESP_ST_TRAILERS:
		resp_fail(r, "body truncated");
		break;
	case HTTP_RESP_ST_DONE:
	case HTTP_RESP_ST_INVALID:
		break;
	}
	return resp_rc(r);
}

const char *http_resp_error(const struct http_resp *r)
{
	return r->state == HTTP_RESP_ST_INVALID ? r->err : NULL;
}

int http_resp_body_final(const struct http_resp *r)
{
	return r->state == HTTP_RESP_ST_DONE || r->body_len == HTTP_RESP_BODY_KEEP;
}

int http_resp_body_contains(const struct http_resp *r, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 1;
	return memmem(r->body, r->body_len, needle, n) != NULL;
}

int http_status_expected(const struct conf_status_range *ranges, size_t n, int status)
{
	if (n == 0)
		return status >= 200 && status <= 399;
	for (size_t i = 0; i < n; i++)
		if (status >= (int)ranges[i].lo && status <= (int)ranges[i].hi)
			return 1;
	return 0;
}

enum http_verdict http_resp_verdict(const struct http_resp *r, enum http_resp_rc rc,
	const struct conf_status_range *ranges, size_t n, const char *expect_body)
{
	if (rc == HTTP_RESP_INVALID)
		return HTTP_VERDICT_INVALID;
	if (!r->head_done)
		return HTTP_VERDICT_MORE;
	if (!http_status_expected(ranges, n, r->status))
		return HTTP_VERDICT_STATUS;
	if (expect_body == NULL)
		return HTTP_VERDICT_OK;
	int found = http_resp_body_contains(r, expect_body);
	/* Seen is not enough: a backend that dies mid-answer must not pass. */
	if (rc == HTTP_RESP_COMPLETE)
		return found ? HTTP_VERDICT_OK : HTTP_VERDICT_BODY;
	if (!found && http_resp_body_final(r))
		return HTTP_VERDICT_BODY;
	return HTTP_VERDICT_MORE;
}
