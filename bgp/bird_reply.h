/*
 * DOC: BIRD reply parsing (pure)
 *
 * Splits BIRD control-socket output into lines with their codes, and reads the two replies
 * anylb needs: `show protocols` (name, protocol, table, state, since, info) and
 * `show route for PREFIX` (is there a route, from which protocol, is it the best). No I/O; fuzzed.
 */
#ifndef ANYLB_BGP_BIRD_REPLY_H
#define ANYLB_BGP_BIRD_REPLY_H

#include <stddef.h>

/* bird_line.code of a continuation line (" text") and of an asynchronous message ("+text"). */
#define BIRD_LINE_CONT  (-1)
#define BIRD_LINE_ASYNC (-2)

/*
 * One wire line, without its '\n'. BIRD writes asynchronous messages (log lines echoed after
 * `echo`, e.g. "+Enabling protocol x") at any time, even between two replies: they belong to no
 * reply and are never last, so a reader skips them.
 */
struct bird_line {
	int code;         /* 0..9999, BIRD_LINE_CONT (" text") or BIRD_LINE_ASYNC ("+text") */
	int last;         /* `DDDD text`: the reply ends here */
	const char *text; /* points into the input */
	size_t len;
};

/*
 * Parses one line (len bytes, any bytes, no NUL needed). Returns 0, or -EINVAL when it is not a
 * BIRD reply line. out->text points into line.
 */
int bird_line_parse(const char *line, size_t len, struct bird_line *out);

struct bird_protocol {
	char name[64];
	char proto[32]; /* BGP, Static, Direct, Device, Kernel, ... */
	char table[32];
	char state[16]; /* up, down, start, stop, flush (routes being withdrawn), ... */
	char since[32];
	char info[96]; /* e.g. "Established", "Active", "Connect" for BGP */
};

/*
 * Parses the text of a `show protocols` reply (as bird_reply.text: lines without codes, the
 * header line first). Fills up to cap entries, returns how many were found (may exceed cap),
 * or -EINVAL on a malformed table (a row holding a NUL byte is one). Indented lines (the details of
 * `show protocols all`) and empty lines are skipped. Fields longer than their array are cut, always
 * NUL-terminated; a `Since` in `iso long` form ("2026-11-26 09:10:03") is kept whole; runs of
 * blanks in `Info` become one space. out may be NULL when cap is 0.
 */
int bird_parse_protocols(const char *text, size_t len, struct bird_protocol *out, size_t cap);

/*
 * Reads the text of a `show route for PREFIX [all]` reply (as bird_reply.text). Returns 1 when it
 * lists at least one route, 0 when it does not: BIRD answers `8001 Network not found` then, and
 * any text that is not a route listing counts as no route.
 */
int bird_route_present(const char *text, size_t len);

/*
 * Like bird_route_present, but counts only routes learnt from the protocol named proto (the
 * first word inside the route's brackets, `[anylb_web 09:10:08.172]`). best, when not NULL, is
 * set to 1 when that route is the best one (BIRD marks it with `*`), else 0.
 */
int bird_route_present_from(const char *text, size_t len, const char *proto, int *best);

#endif
