/*
 * DOC: admin HTTP/1.1 request parser (pure)
 *
 * Reads one request from bytes fed in pieces of any size: the request line, the header fields
 * and a Content-Length body. No I/O, no clock; every limit is checked before a byte is stored,
 * so hostile input costs at most the limits below. Fuzzed by tests/unit/test_admin_http.c.
 *
 *   LINE --CRLF--> HEADERS --empty line--> BODY --Content-Length bytes--> DONE
 *     |               |                      (skipped without a body)
 *     +---------------+--> ERROR (status and reason for the answer; the connection closes)
 *
 * What it refuses, and with which status:
 *   400  malformed request line or header field, bare CR, control characters, obs-fold,
 *        a bad or conflicting Content-Length, a target that is not origin-form ("/...")
 *   411  Transfer-Encoding: chunked (the admin API takes Content-Length bodies only)
 *   413  a body longer than ADMIN_HTTP_BODY_MAX
 *   414  a request line longer than ADMIN_HTTP_LINE_MAX
 *   431  header fields longer than ADMIN_HTTP_HEADERS_MAX in total
 *   501  another Transfer-Encoding
 *   505  an HTTP version other than 1.0 and 1.1
 * Methods are not judged here: any token is taken, and the router answers 405. A missing Host is
 * tolerated (a unix socket has no host to name). Empty lines before the request line are skipped
 * (RFC 9112, 2.2), counted against the request line's limit.
 */
#ifndef ANYLB_LB_ADMIN_HTTP_H
#define ANYLB_LB_ADMIN_HTTP_H

#include <stddef.h>

#define ADMIN_HTTP_LINE_MAX    (8 * 1024)  /* request line, without its CRLF */
#define ADMIN_HTTP_HEADERS_MAX (16 * 1024) /* all header lines with their CRLFs */
#define ADMIN_HTTP_BODY_MAX    (64 * 1024)
#define ADMIN_HTTP_METHOD_MAX  15   /* longer methods are kept as "" (unknown: 405) */
#define ADMIN_HTTP_AUTH_MAX    1024 /* bytes of Authorization kept; longer never matches */

enum admin_http_state {
	ADMIN_HTTP_LINE,
	ADMIN_HTTP_HEADERS,
	ADMIN_HTTP_BODY,
	ADMIN_HTTP_DONE,
	ADMIN_HTTP_ERROR,
};

struct admin_http_req {
	enum admin_http_state state;

	/* The request, once state is DONE (method and target from HEADERS on). */
	char method[ADMIN_HTTP_METHOD_MAX + 1];
	char *target;             /* as sent, NUL-terminated, e.g. "/status?x=1"; malloc'ed */
	int minor;                /* HTTP/1.minor: 0 or 1 */
	long long content_length; /* -1: none sent */
	int close;                /* the client asked for Connection: close, or HTTP/1.0 */
	int auth_seen;            /* an Authorization field was sent (the last one counts) */
	int auth_too_long;
	char auth[ADMIN_HTTP_AUTH_MAX + 1]; /* its value, trimmed */
	char *body;                         /* content_length bytes (+ NUL); NULL without */
	size_t body_len;

	/* ERROR: the status to answer with and why, for the answer's body and the log. */
	int status;
	const char *why; /* a static string */

	/* Internal. */
	char *line; /* the line being read, without its LF */
	size_t line_len, line_cap;
	size_t skipped;      /* empty lines before the request line, in bytes */
	size_t header_bytes; /* header lines so far, with their line ends */
	int te_chunked, te_other;
};

void admin_http_init(struct admin_http_req *r);

/* Frees what r holds and leaves it as admin_http_init() did. */
void admin_http_free(struct admin_http_req *r);

/*
 * Feeds len bytes. Returns 1 when the request is complete (state DONE; *used, when not NULL,
 * says how many of these bytes belonged to it: the rest is the next request's), 0 when more is
 * needed (all bytes used), or -1 on an error (state ERROR, status and why set). Once DONE or
 * ERROR, further calls change nothing and return the same. -1 with status 500 when memory ran
 * out.
 */
int admin_http_feed(struct admin_http_req *r, const char *data, size_t len, size_t *used);

/*
 * Decodes %XX escapes of in[0..len) into out (NUL-terminated; at most len + 1 bytes needed).
 * Returns the decoded length, or -1 for a bad escape, an encoded NUL, or an output that does
 * not fit in cap. '+' stays '+' (this is a path, not a form).
 */
long admin_http_url_decode(const char *in, size_t len, char *out, size_t cap);

/* "OK", "Not Found", ... for the status codes the admin interface answers; "Unknown" else. */
const char *admin_http_reason(int status);

/*
 * The bearer token of an Authorization value ("Bearer TOKEN", scheme case-insensitive), or NULL
 * when the value is of another scheme or empty. *len gets the token's length.
 */
const char *admin_http_bearer(const char *auth, size_t *len);

/* Compares in time that depends only on want_len: 1 when equal, else 0. */
int admin_http_token_equal(const char *want, size_t want_len, const char *got, size_t got_len);

#endif
