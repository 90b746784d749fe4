/*
 * DOC: admin HTTP/1.1 request parser
 *
 * See admin_http.h for the states and what is refused. The input is cut into lines with memchr;
 * a line is stored only up to what its state allows, so neither memory nor time grows with what
 * a client sends beyond the limits. Syntax after RFC 9110/9112, strict where leniency would only
 * help request smuggling or confuse the router: single spaces in the request line, no obs-fold,
 * no whitespace before a field's colon, one Content-Length value. The grammar it shares with the
 * health check's response parser (tokens, field lines, lists, numbers) is lib/http1.c's.
 *
 * The state changes in place rather than through a logging setter: the parser is pure and fed
 * untrusted bytes, so it never logs; lb/admin.c logs the outcome of each request once.
 */
#include "lb/admin_http.h"

#include "lib/http1.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_HTTP_LINE_START 256 /* first allocation of the line buffer */
/*
 * The bound a Content-Length's digits are read against. At the digit that crosses it the field
 * is too large (413) whatever follows it; a stray byte before that makes it malformed (400). Any
 * bound above ADMIN_HTTP_BODY_MAX refuses the same bodies; this one (the largest x with
 * x / 10 == (2^64 - 10) / 10) keeps the answer to a 20-digit field with junk after it as it was.
 */
#define ADMIN_HTTP_LENGTH_BOUND ((UINT64_MAX - 9) / 10 * 10 + 9)

void admin_http_init(struct admin_http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->state = ADMIN_HTTP_LINE;
	r->content_length = -1;
}

void admin_http_free(struct admin_http_req *r)
{
	free(r->target);
	free(r->body);
	free(r->line);
	admin_http_init(r);
}

static int fail(struct admin_http_req *r, int status, const char *why)
{
	r->state = ADMIN_HTTP_ERROR;
	r->status = status;
	r->why = why;
	return -1;
}

/* Appends seg to the line buffer; the caller has checked the limit. */
static int line_append(struct admin_http_req *r, const char *seg, size_t n)
{
	if (r->line_len + n + 1 > r->line_cap) {
		size_t cap = r->line_cap ? r->line_cap : ADMIN_HTTP_LINE_START;
		while (cap < r->line_len + n + 1)
			cap *= 2;
		char *nl = realloc(r->line, cap);
		if (nl == NULL)
			return -1;
		r->line = nl;
		r->line_cap = cap;
	}
	memcpy(r->line + r->line_len, seg, n);
	r->line_len += n;
	r->line[r->line_len] = '\0';
	return 0;
}

static int parse_version(struct admin_http_req *r, const char *v, size_t n)
{
	int major, minor;

	if (http1_version(v, n, &major, &minor) < 0)
		return fail(r, 400, "malformed HTTP version");
	if (major != 1)
		return fail(r, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
	/* A later 1.x minor is answered as 1.1 (RFC 9110, 6.2). */
	r->minor = minor == 0 ? 0 : 1;
	r->close = r->minor == 0;
	return 0;
}

/* METHOD SP request-target SP HTTP-version, already without its line end. */
static int parse_request_line(struct admin_http_req *r)
{
	const char *l = r->line, *end = l + r->line_len;
	const char *sp1 = l + http1_token_len(l, r->line_len), *sp2;

	if (sp1 == l || sp1 == end || *sp1 != ' ')
		return fail(r, 400, "malformed request line");
	for (sp2 = sp1 + 1; sp2 < end && (unsigned char)*sp2 > 0x20 && *sp2 != 0x7f; sp2++)
		;
	if (sp2 == sp1 + 1 || sp2 == end || *sp2 != ' ')
		return fail(r, 400, "malformed request line");
	if (parse_version(r, sp2 + 1, (size_t)(end - sp2 - 1)) < 0)
		return -1;
	if (sp1[1] != '/')
		return fail(r, 400, "the request target must be a path starting with '/'");
	size_t mlen = (size_t)(sp1 - l);
	if (mlen <= ADMIN_HTTP_METHOD_MAX) {
		memcpy(r->method, l, mlen);
		r->method[mlen] = '\0';
	}
	size_t tlen = (size_t)(sp2 - sp1 - 1);
	r->target = malloc(tlen + 1);
	if (r->target == NULL)
		return fail(r, 500, "out of memory");
	memcpy(r->target, sp1 + 1, tlen);
	r->target[tlen] = '\0';
	r->state = ADMIN_HTTP_HEADERS;
	return 0;
}

static void connection_options(struct admin_http_req *r, const char *v, size_t n)
{
	const char *s;
	size_t pos = 0, len;

	while (http1_list_next(v, n, &pos, &s, &len)) {
		if (http1_token_is(s, len, "close"))
			r->close = 1;
		else if (http1_token_is(s, len, "keep-alive") && r->minor == 0)
			r->close = 0;
	}
}

/*
 * The last coding decides: chunked must be the final one (RFC 9112, 6.1). A coding with
 * parameters is not chunked. An empty list is no coding we know.
 */
static void transfer_codings(struct admin_http_req *r, const char *v, size_t n)
{
	const char *s;
	size_t pos = 0, len;

	while (http1_list_next(v, n, &pos, &s, &len)) {
		r->te_chunked = http1_token_is(s, len, "chunked");
		r->te_other = !r->te_chunked;
	}
	if (!r->te_chunked && !r->te_other)
		r->te_other = 1;
}

/* One value, digits only: a list ("5, 5") is refused, unlike in a response. */
static int content_length(struct admin_http_req *r, const char *v, size_t n)
{
	uint64_t x;
	size_t k;

	if (http1_decimal(v, n, ADMIN_HTTP_LENGTH_BOUND, &x, &k) < 0)
		return fail(r, 413, "request body too large");
	if (k == 0 || k != n)
		return fail(r, 400, "malformed Content-Length");
	if (x > ADMIN_HTTP_BODY_MAX)
		return fail(r, 413, "request body too large");
	if (r->content_length >= 0 && (uint64_t)r->content_length != x)
		return fail(r, 400, "conflicting Content-Length fields");
	r->content_length = (long long)x;
	return 0;
}

static int parse_header(struct admin_http_req *r)
{
	const char *l = r->line, *v;
	size_t nlen, vlen;

	if (http1_is_ows(l[0]))
		return fail(r, 400, "folded header lines are not accepted");
	if (http1_field_split(l, r->line_len, &nlen, &v, &vlen) < 0)
		return fail(r, 400, "malformed header field");
	/* Only OWS was trimmed, which is allowed: the value as sent passes or fails alike. */
	for (size_t i = 0; i < vlen; i++)
		if (!http1_is_field_char(v[i]))
			return fail(r, 400, "invalid character in a header field");

	if (http1_token_is(l, nlen, "content-length"))
		return content_length(r, v, vlen);
	if (http1_token_is(l, nlen, "transfer-encoding")) {
		transfer_codings(r, v, vlen);
		return 0;
	}
	if (http1_token_is(l, nlen, "connection")) {
		connection_options(r, v, vlen);
		return 0;
	}
	if (http1_token_is(l, nlen, "authorization")) {
		r->auth_seen = 1;
		r->auth_too_long = vlen > ADMIN_HTTP_AUTH_MAX;
		if (r->auth_too_long)
			vlen = 0;
		memcpy(r->auth, v, vlen);
		r->auth[vlen] = '\0';
	}
	return 0;
}

static int end_of_headers(struct admin_http_req *r)
{
	if (r->te_chunked)
		return fail(r, 411, "chunked request bodies are not accepted: send Content-Length");
	if (r->te_other)
		return fail(r, 501, "transfer codings are not supported");
	if (r->content_length <= 0) {
		r->state = ADMIN_HTTP_DONE;
		return 1;
	}
	r->body = malloc((size_t)r->content_length + 1);
	if (r->body == NULL)
		return fail(r, 500, "out of memory");
	r->body_len = 0;
	r->state = ADMIN_HTTP_BODY;
	return 0;
}

/* A whole line is in r->line (its LF consumed). */
static int end_of_line(struct admin_http_req *r)
{
	size_t n = r->line_len;

	if (n > 0 && r->line[n - 1] == '\r')
		r->line[--n] = '\0';
	r->line_len = n;
	int rc = 0;
	switch (r->state) {
	case ADMIN_HTTP_LINE:
		if (n == 0) {
			r->skipped += 2;
			if (r->skipped > ADMIN_HTTP_LINE_MAX)
				return fail(r, 400, "no request line");
			break;
		}
		if (n > ADMIN_HTTP_LINE_MAX)
			return fail(r, 414, "request line too long");
		rc = parse_request_line(r);
		break;
	case ADMIN_HTTP_HEADERS:
		rc = n == 0 ? end_of_headers(r) : parse_header(r);
		break;
	case ADMIN_HTTP_BODY:
	case ADMIN_HTTP_DONE:
	case ADMIN_HTTP_ERROR:
		break;
	}
	r->line_len = 0;
	return rc;
}

int admin_http_feed(struct admin_http_req *r, const char *data, size_t len, size_t *used)
{
	size_t i = 0;

	while (r->state != ADMIN_HTTP_DONE && r->state != ADMIN_HTTP_ERROR && i < len) {
		if (r->state == ADMIN_HTTP_BODY) {
			size_t want = (size_t)r->content_length - r->body_len;
			size_t n = len - i < want ? len - i : want;
			memcpy(r->body + r->body_len, data + i, n);
			r->body_len += n;
			i += n;
			if (r->body_len == (size_t)r->content_length) {
				r->body[r->body_len] = '\0';
				r->state = ADMIN_HTTP_DONE;
			}
			continue;
		}
		const char *nl = memchr(data + i, '\n', len - i);
		size_t seg = nl != NULL ? (size_t)(nl - (data + i)) : len - i;
		if (r->state == ADMIN_HTTP_LINE) {
			/* +1: the CR that may end the line. */
			if (r->line_len + seg > ADMIN_HTTP_LINE_MAX + 1)
				return fail(r, 414, "request line too long");
		} else if (r->header_bytes + r->line_len + seg + 1 > ADMIN_HTTP_HEADERS_MAX) {
			return fail(r, 431, "request header fields too large");
		}
		if (line_append(r, data + i, seg) < 0)
			return fail(r, 500, "out of memory");
		i += seg;
		if (nl == NULL)
			break;
		i++;
		if (r->state == ADMIN_HTTP_HEADERS)
			r->header_bytes += r->line_len + 1;
		if (end_of_line(r) < 0)
			return -1;
	}
	if (r->state == ADMIN_HTTP_ERROR)
		return -1;
	if (r->state != ADMIN_HTTP_DONE)
		return 0;
	if (used != NULL)
		*used = i;
	free(r->line);
	r->line = NULL;
	r->line_len = r->line_cap = 0;
	return 1;
}

long admin_http_url_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = http1_hex_value(in[i + 1]), lo = http1_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}

const char *admin_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 422:
		return "Unprocessable Content";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

const char *admin_http_bearer(const char *auth, size_t *len)
{
	if (strncasecmp(auth, "bearer", 6) != 0 || (auth[6] != ' ' && auth[6] != '\t'))
		return NULL;
	const char *t = auth + 6;
	while (*t == ' ' || *t == '\t')
		t++;
	size_t n = strlen(t);
	if (n == 0)
		return NULL;
	*len = n;
	return t;
}

int admin_http_token_equal(const char *want, size_t want_len, const char *got, size_t got_len)
{
	/* Every byte of want is looked at whatever got holds: the time says nothing about it. */
	volatile unsigned char diff = (unsigned char)(want_len != got_len);

	for (size_t i = 0; i < want_len; i++) {
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0 && want_len > 0;
}
