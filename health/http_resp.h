/*
 * DOC: HTTP/1.x response parser
 *
 * An incremental parser for the one response an http/https check reads: status line, headers,
 * then a body framed by Content-Length, chunked transfer coding, or the end of the connection.
 * Bytes may arrive split anywhere; the parser keeps what it needs in fixed-size buffers inside
 * struct http_resp and never allocates, so a caller can feed it anything (it is fuzzed) and the
 * worst it does is say "invalid" with a short reason.
 *
 * Bounds: one line (status line, header, chunk-size line, trailer) at most HTTP_RESP_LINE_MAX
 * bytes, the whole head (interim 1xx responses included) and the trailers each at most
 * HTTP_RESP_HEAD_MAX bytes. Of the body only the first HTTP_RESP_BODY_KEEP bytes are kept (after
 * de-chunking), which is the window expect_body is matched in; the rest is framed and dropped.
 *
 * Pure: no I/O, no clock, no logging.
 */
#ifndef ANYLB_HEALTH_HTTP_RESP_H
#define ANYLB_HEALTH_HTTP_RESP_H

#include "conf/conf.h"

#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_LINE_MAX    8192
#define HTTP_RESP_HEAD_MAX    32768
#define HTTP_RESP_BODY_KEEP   16384
#define HTTP_RESP_INTERIM_MAX 8 /* 1xx responses skipped before the final one */

enum http_resp_state {
	HTTP_RESP_ST_STATUS,     /* reading the status line */
	HTTP_RESP_ST_HEADERS,    /* reading header lines */
	HTTP_RESP_ST_BODY_LEN,   /* Content-Length body, `remaining` bytes left */
	HTTP_RESP_ST_CHUNK_SIZE, /* reading a chunk-size line */
	HTTP_RESP_ST_CHUNK_DATA, /* chunk data, `remaining` bytes left */
	HTTP_RESP_ST_CHUNK_END,  /* the CRLF after chunk data */
	HTTP_RESP_ST_TRAILERS,   /* trailer lines after the last chunk */
	HTTP_RESP_ST_BODY_CLOSE, /* body delimited by the end of the connection */
	HTTP_RESP_ST_DONE,       /* the response is complete; later bytes are ignored */
	HTTP_RESP_ST_INVALID,    /* not HTTP, or over a bound; `err` says why */
};

enum http_resp_rc {
	HTTP_RESP_MORE,     /* everything consumed, the response is not complete yet */
	HTTP_RESP_COMPLETE, /* the whole response has been read */
	HTTP_RESP_INVALID,  /* http_resp_error() says why */
};

/* Zero-initialisable apart from http_resp_init(); about 24 KiB, so not for the stack of a hot path.
 */
struct http_resp {
	enum http_resp_state state;
	const char *err; /* static, set with HTTP_RESP_ST_INVALID */
	int status;      /* of the final response, valid once head_done */
	int minor;       /* HTTP/1.<minor> */
	int head_done;   /* the final response's status line and headers are complete */
	int has_length;
	int chunked;      /* last transfer coding is chunked */
	int te_other;     /* a transfer coding other than chunked ends the list: read to close */
	int last_framing; /* the previous header was Content-Length / Transfer-Encoding */
	unsigned ninterim;
	uint64_t length;    /* Content-Length */
	uint64_t remaining; /* body or chunk bytes still to come */
	uint64_t nread;     /* every byte fed so far */
	size_t meta;        /* head bytes (or trailer bytes) so far, against HTTP_RESP_HEAD_MAX */
	size_t line_len;
	size_t body_len;     /* bytes kept in body[] */
	uint64_t body_total; /* body bytes seen, kept or not */
	char line[HTTP_RESP_LINE_MAX];
	char body[HTTP_RESP_BODY_KEEP];
};

void http_resp_init(struct http_resp *r);

/*
 * Feeds len bytes (all of them are consumed). Returns HTTP_RESP_MORE until the response is
 * complete, then HTTP_RESP_COMPLETE for this and every later call, or HTTP_RESP_INVALID (then
 * for good).
 */
enum http_resp_rc http_resp_feed(struct http_resp *r, const void *buf, size_t len);

/*
 * The peer closed. Completes a body delimited by the connection's end; anywhere else before
 * completion the response is truncated and this returns HTTP_RESP_INVALID.
 */
enum http_resp_rc http_resp_eof(struct http_resp *r);

/* Why the response is invalid ("bad status line", "body truncated", ...), or NULL. */
const char *http_resp_error(const struct http_resp *r);

/* Whether the first HTTP_RESP_BODY_KEEP bytes of the body are all there is or all we keep. */
int http_resp_body_final(const struct http_resp *r);

/* Whether the kept body contains needle (an empty needle always matches). */
int http_resp_body_contains(const struct http_resp *r, const char *needle);

/* Whether status is in one of the n ranges; no ranges means the default 200-399. */
int http_status_expected(const struct conf_status_range *ranges, size_t n, int status);

enum http_verdict {
	HTTP_VERDICT_MORE,    /* not decided yet: read on (or, at the end, the response is cut) */
	HTTP_VERDICT_OK,      /* the check passes */
	HTTP_VERDICT_INVALID, /* not a complete HTTP response: http_resp_error() says why */
	HTTP_VERDICT_STATUS,  /* the status is not one of the expected */
	HTTP_VERDICT_BODY,    /* the whole body, or the kept window of it, lacks expect_body */
};

/*
 * What a check of the response so far concludes, given the last rc of http_resp_feed() or
 * http_resp_eof(). Without expect_body the status decides as soon as the head is complete (the
 * body is not looked at). With expect_body only a complete response passes: a body cut short
 * (fewer bytes than Content-Length, a chunked body without its last chunk) is INVALID with
 * "body truncated" once the peer closes, even when the substring was already seen; a full kept
 * window without it fails at once (it can never appear there).
 */
enum http_verdict http_resp_verdict(const struct http_resp *r, enum http_resp_rc rc,
	const struct conf_status_range *ranges, size_t n, const char *expect_body);

#endif
