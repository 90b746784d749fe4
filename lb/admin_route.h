/*
 * DOC: admin routes (private to lb/admin*.c and their tests)
 *
 * From a parsed request to a response, without sockets: which path is which action, who may
 * write, and what each answer says. lb/admin.c owns the connections and calls admin_route()
 * once per complete request; a parse error becomes admin_route_error().
 *
 *   GET|HEAD /status, /metrics, /healthz
 *   POST     /services/{name}/backends                  (add: a JSON body)
 *   POST     /services/{name}/backends/{address}/drain | enable | maint | ready | remove
 *   POST     /services/{name}/backends/{address}/weight/{0..1000}
 *   POST     /services/{name}/withdraw | announce | auto
 *   POST     /reload
 *
 * Errors are JSON {"error": "..."}; successful writes {"ok": true, "message": "..."}.
 */
#ifndef ANYLB_LB_ADMIN_ROUTE_H
#define ANYLB_LB_ADMIN_ROUTE_H

#include "lb/admin.h"
#include "lb/admin_http.h"

#include <stddef.h>

struct admin_route_ctx {
	struct lb_runtime *rt;
	struct announcer *ann; /* NULL: anycast off */
	const struct admin_hooks *hooks;
	const char *token; /* TCP writes need it; NULL: no TCP listener */
	size_t token_len;
	int tcp;             /* the request came over TCP: writes need the token */
	int token_for_reads; /* ... and so do reads (global.admin.require_token: all) */
	const char *peer;    /* "unix" or the TCP peer, for log lines */
	double uptime_s;
	uint64_t now_ms; /* clock_ms(), for backend state changes */
};

struct admin_response {
	int status;
	const char *content_type; /* static */
	const char *allow;        /* 405: the Allow header's value; static */
	const char *www_auth;     /* 401: the WWW-Authenticate value; static */
	const char *csp;          /* the Content-Security-Policy value (the page); static */
	char *body;               /* malloc'ed */
	size_t body_len;
};

/* Answers req (complete). out->body is the caller's to free (admin_response_free). */
void admin_route(const struct admin_route_ctx *ctx, const struct admin_http_req *req,
	struct admin_response *out);

/* The answer to a request that could not be parsed (req->status, req->why). */
void admin_route_error(const struct admin_http_req *req, struct admin_response *out);

/* A JSON {"error": msg} answer with status. */
void admin_response_error(struct admin_response *out, int status, const char *msg);

/*
 * The whole HTTP message of r (head only when head is set), malloc'ed; *len its length. Every
 * answer closes the connection. NULL when memory ran out.
 */
char *admin_response_bytes(const struct admin_response *r, int head, size_t *len);

void admin_response_free(struct admin_response *r);

#endif
