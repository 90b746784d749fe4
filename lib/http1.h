/*
 * DOC: HTTP/1 grammar
 *
 * The pieces of RFC 9110/9112 syntax that both of anylb's HTTP/1 parsers read: the health
 * check's response parser (health/http_resp.c) and the admin server's request parser
 * (lb/admin_http.c). Character classes, tokens, the HTTP version, a field line cut into name and
 * value, the elements of a list, decimal numbers. Each parser keeps its own state machine and
 * its own policy (what it refuses, with which reason or status, and how leniently); these
 * functions only say what the bytes are.
 *
 * Pure: no state, no allocation, no I/O. Text is (pointer, length), never NUL-terminated.
 */
#ifndef ANYLB_LIB_HTTP1_H
#define ANYLB_LIB_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* DIGIT: '0' to '9'. */
int http1_is_digit(char c);

/* OWS: space or horizontal tab (RFC 9110 5.6.3). */
int http1_is_ows(char c);

/* tchar (RFC 9110 5.6.2): a character of a token (a method, a field name, a coding). */
int http1_is_tchar(char c);

/*
 * A character of a field value or a reason phrase: HTAB, SP, VCHAR or obs-text (RFC 9110 5.5,
 * RFC 9112 4); not a control character, not DEL.
 */
int http1_is_field_char(char c);

/* The value of a hex digit (either case), or -1. */
int http1_hex_value(char c);

/* The length of the token at the start of s[0..n): 0 when s does not start with a tchar. */
size_t http1_token_len(const char *s, size_t n);

/* Whether s[0..n) is want (NUL-terminated), ignoring ASCII case: field names, codings, options. */
int http1_token_is(const char *s, size_t n, const char *want);

/*
 * An HTTP-version, exactly n == 8 bytes "HTTP/D.D" (RFC 9112 2.3). Returns 0 with *major and
 * *minor, or -EINVAL for anything else.
 */
int http1_version(const char *s, size_t n, int *major, int *minor);

/*
 * Cuts a field line "name: value" (without its line end): *name_len is the length of the token
 * that starts the line, *value and *value_len the value without the OWS around it (it may be
 * empty). Returns 0, or -EINVAL when the line does not start with a token followed by ':'
 * (white space before the colon or at the start of the line included). The value's characters
 * are not judged here.
 */
int http1_field_split(
	const char *line, size_t len, size_t *name_len, const char **value, size_t *value_len);

/*
 * Steps through a comma-separated list (RFC 9110 5.6.1): from *pos (0 to start), finds the next
 * element that is not empty once the OWS around it is trimmed. Returns 1 with *elem and
 * *elem_len set and *pos moved past it, or 0 when no element is left. Empty elements (",,")
 * are skipped, as a recipient must.
 */
int http1_list_next(const char *v, size_t n, size_t *pos, const char **elem, size_t *elem_len);

/*
 * Reads the decimal digits at the start of s[0..n), up to the first byte that is not one.
 * Returns 0 with *ndigits (0: s does not start with a digit) and *value (0 without digits), or
 * -ERANGE at the first digit that would take the value above max: a caller bounds the work an
 * endless number costs, and learns that it is too large before what follows it is read.
 */
int http1_decimal(const char *s, size_t n, uint64_t max, uint64_t *value, size_t *ndigits);

#endif
