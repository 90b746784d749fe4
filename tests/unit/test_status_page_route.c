/*
 * DOC: status page route tests
 *
 * GET / answers the embedded page (lb/status_page.html) as HTML with a strict
 * Content-Security-Policy, with or without the token even when reads need one (the page holds
 * no data); HEAD sends the headers alone; POST / is 405 with Allow. The route touches no
 * runtime for these, so the context is empty.
 */
#include <criterion/criterion.h>

#include "lb/admin_http.h"
#include "lb/admin_route.h"
#include "lb/status_page.h"

#include <stdlib.h>
#include <string.h>

static struct admin_response answer(const char *method, const char *target, int token_for_reads)
{
	struct admin_route_ctx ctx = {.peer = "test", .token_for_reads = token_for_reads};
	struct admin_http_req req;
	struct admin_response out;

	admin_http_init(&req);
	strcpy(req.method, method);
	req.target = strdup(target);
	cr_assert_not_null(req.target);
	req.state = ADMIN_HTTP_DONE;
	admin_route(&ctx, &req, &out);
	admin_http_free(&req);
	return out;
}

Test(status_page_route, get_root_is_the_html_page)
{
	struct admin_response r = answer("GET", "/", 0);

	cr_assert_eq(r.status, 200);
	cr_expect_str_eq(r.content_type, "text/html; charset=utf-8");
	cr_assert_not_null(r.csp);
	cr_expect_not_null(strstr(r.csp, "default-src 'none'"));
	cr_expect_not_null(strstr(r.csp, "connect-src 'self'"));
	cr_assert_gt(r.body_len, 1000);
	cr_expect_eq(strncmp(r.body, "<!DOCTYPE html>", 15), 0);
	cr_expect_not_null(strstr(r.body, "fetch(\"/status\""));
	cr_expect_eq(strlen(r.body), r.body_len, "the page has no NUL inside");

	size_t len = 0;
	char *bytes = admin_response_bytes(&r, 0, &len);
	cr_assert_not_null(bytes);
	cr_expect_not_null(strstr(bytes, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
	cr_expect_not_null(strstr(bytes, "\r\nContent-Security-Policy: default-src 'none';"));
	cr_expect_not_null(strstr(bytes, "\r\nCache-Control: no-store\r\n"));
	free(bytes);
	admin_response_free(&r);
}

Test(status_page_route, query_and_fragment_are_ignored)
{
	struct admin_response r = answer("GET", "/?refresh=1", 0);

	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.content_type, STATUS_PAGE_CONTENT_TYPE);
	admin_response_free(&r);
}

Test(status_page_route, needs_no_token_even_when_reads_do)
{
	struct admin_response r = answer("GET", "/", 1);

	cr_expect_eq(r.status, 200);
	cr_expect_null(r.www_auth);
	admin_response_free(&r);
}

Test(status_page_route, head_sends_headers_only)
{
	struct admin_response r = answer("HEAD", "/", 0);
	size_t len = 0;

	cr_assert_eq(r.status, 200);
	char *bytes = admin_response_bytes(&r, 1, &len);
	cr_assert_not_null(bytes);
	cr_expect_eq(strcmp(bytes + len - 4, "\r\n\r\n"), 0);
	cr_expect_null(strstr(bytes, "<!DOCTYPE"));
	free(bytes);
	admin_response_free(&r);
}

Test(status_page_route, post_is_405)
{
	struct admin_response r = answer("POST", "/", 0);

	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(r.allow, "GET, HEAD");
	cr_expect_null(r.csp);
	admin_response_free(&r);
}

Test(status_page_route, other_paths_have_no_csp)
{
	struct admin_response r = answer("GET", "/nope", 0);

	cr_expect_eq(r.status, 404);
	cr_expect_null(r.csp);
	admin_response_free(&r);
}
