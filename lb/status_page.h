/*
 * DOC: the status page
 *
 * GET / on the admin interface: lb/status_page.html, one self-contained page (inline style and
 * script, no external asset) built into the binary by lb/embed.cmake. It shows nothing by
 * itself: its script reads GET /status every 2 s, with the bearer token from the URL fragment
 * (`/#token=...`, never sent to the server) or a form when the listener requires one for reads.
 * Served with a Content-Security-Policy that lets it talk to this origin only.
 */
#ifndef ANYLB_LB_STATUS_PAGE_H
#define ANYLB_LB_STATUS_PAGE_H

#include "lb/admin_route.h"

#define STATUS_PAGE_CONTENT_TYPE "text/html; charset=utf-8"
#define STATUS_PAGE_CSP                                                                            \
	"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "              \
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "                 \
	"frame-ancestors 'none'"

/* Fills out with the page (200); 500 without memory. */
void status_page(struct admin_response *out);

#endif
