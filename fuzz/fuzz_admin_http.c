/*
 * DOC: fuzz target: the admin HTTP request parser (lb/admin_http.c)
 *
 * The input is a client's bytes. They are parsed whole and again cut into pieces at points the
 * input's last bytes choose; both parses must agree on everything the router reads (a parser
 * that depends on how TCP segmented a request is a smuggling bug). A finished request must be
 * what admin_http.h promises: an origin-form target, HTTP/1.0 or 1.1, a body of exactly
 * Content-Length bytes; an error a 4xx/5xx status with a reason. The helpers the router calls
 * on the parsed fields (URL decoding, bearer token) get the fields as input too, and so does the
 * router itself (lb/admin_route.c, over a runtime built from a fixed configuration): its answer
 * must read back, through the health check's response parser, with its status and body.
 */
#include "conf/conf.h"
#include "fuzz/fuzz.h"
#include "health/http_resp.h"
#include "lb/admin_http.h"
#include "lb/admin_route.h"
#include "lb/runtime.h"
#include "lib/log.h"

struct outcome {
	int rc;
	size_t used; /* bytes of the input the request took, when rc == 1 */
	struct admin_http_req req;
};

/* Feeds data[0..len) in pieces split at cuts; the outcome is the first call's that ends it. */
static void parse(
	const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts, struct outcome *o)
{
	size_t from = 0;

	admin_http_init(&o->req);
	o->rc = 0;
	o->used = 0;
	for (size_t i = 0; i <= ncuts && o->rc == 0; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		size_t used = (size_t)-1;

		o->rc = admin_http_feed(&o->req, (const char *)data + from, to - from, &used);
		if (o->rc == 1) {
			FUZZ_CHECK(used <= to - from, "used %zu of %zu", used, to - from);
			o->used = from + used;
		} else {
			FUZZ_CHECK(used == (size_t)-1, "used set without a complete request");
		}
		from = to;
	}
}

static void check_same(const struct outcome *a, const struct outcome *b)
{
	const struct admin_http_req *x = &a->req, *y = &b->req;

	FUZZ_CHECK(a->rc == b->rc, "whole %d, split %d", a->rc, b->rc);
	FUZZ_CHECK(x->state == y->state, "state %d vs %d", x->state, y->state);
	if (a->rc < 0) {
		FUZZ_CHECK(x->status == y->status, "status %d vs %d", x->status, y->status);
		return;
	}
	if (a->rc == 0)
		return;
	FUZZ_CHECK(a->used == b->used, "used %zu vs %zu", a->used, b->used);
	FUZZ_CHECK(strcmp(x->method, y->method) == 0, "method differs");
	FUZZ_CHECK(strcmp(x->target, y->target) == 0, "target differs");
	FUZZ_CHECK(x->minor == y->minor && x->close == y->close, "version or close differs");
	FUZZ_CHECK(x->content_length == y->content_length, "content-length differs");
	FUZZ_CHECK(x->auth_seen == y->auth_seen && x->auth_too_long == y->auth_too_long &&
			   strcmp(x->auth, y->auth) == 0,
		"authorization differs");
	FUZZ_CHECK(x->body_len == y->body_len &&
			   (x->body_len == 0 || memcmp(x->body, y->body, x->body_len) == 0),
		"body differs");
}

static void check_request(const struct outcome *o, size_t len)
{
	const struct admin_http_req *r = &o->req;

	if (o->rc < 0) {
		FUZZ_CHECK(r->state == ADMIN_HTTP_ERROR, "rc -1 in state %d", r->state);
		FUZZ_CHECK(r->status >= 400 && r->status <= 505, "status %d", r->status);
		FUZZ_CHECK(r->why != NULL && r->why[0] != '\0', "no reason");
		FUZZ_CHECK(strcmp(admin_http_reason(r->status), "Unknown") != 0,
			"status %d has no reason phrase", r->status);
		return;
	}
	if (o->rc == 0) {
		FUZZ_CHECK(r->state != ADMIN_HTTP_DONE && r->state != ADMIN_HTTP_ERROR,
			"rc 0 in state %d", r->state);
		return;
	}
	FUZZ_CHECK(r->state == ADMIN_HTTP_DONE, "rc 1 in state %d", r->state);
	FUZZ_CHECK(o->used <= len, "used %zu > %zu", o->used, len);
	FUZZ_CHECK(r->target != NULL && r->target[0] == '/', "target not origin-form");
	FUZZ_CHECK(strlen(r->target) <= ADMIN_HTTP_LINE_MAX, "target too long");
	FUZZ_CHECK(r->minor == 0 || r->minor == 1, "HTTP/1.%d", r->minor);
	FUZZ_CHECK(strlen(r->method) <= ADMIN_HTTP_METHOD_MAX, "method too long");
	FUZZ_CHECK(strlen(r->auth) <= ADMIN_HTTP_AUTH_MAX, "auth too long");
	if (r->content_length < 0) {
		FUZZ_CHECK(r->content_length == -1 && r->body == NULL && r->body_len == 0,
			"a body without Content-Length");
	} else {
		FUZZ_CHECK(r->content_length <= ADMIN_HTTP_BODY_MAX, "body over the limit");
		FUZZ_CHECK(r->body_len == (size_t)r->content_length, "body %zu of %lld bytes",
			r->body_len, r->content_length);
		FUZZ_CHECK(r->body_len == 0 || r->body != NULL, "body missing");
		FUZZ_CHECK(r->body == NULL || r->body[r->body_len] == '\0', "body not terminated");
	}

	/* What the router does with the fields. */
	size_t tlen = strlen(r->target);
	char *dec = malloc(tlen + 1);
	FUZZ_CHECK(dec != NULL, "out of memory");
	long dn = admin_http_url_decode(r->target, tlen, dec, tlen + 1);
	if (dn >= 0) {
		FUZZ_CHECK((size_t)dn <= tlen && dec[dn] == '\0', "decoded %ld of %zu", dn, tlen);
		FUZZ_CHECK(strlen(dec) == (size_t)dn, "an encoded NUL got through");
	}
	free(dec);
	size_t blen = (size_t)-1;
	const char *tok = admin_http_bearer(r->auth, &blen);
	if (tok != NULL) {
		FUZZ_CHECK(tok >= r->auth && tok + blen <= r->auth + strlen(r->auth),
			"token outside the field");
		FUZZ_CHECK(admin_http_token_equal(tok, blen, tok, blen) == 1, "token != itself");
		FUZZ_CHECK(blen == 0 || admin_http_token_equal(tok, blen, tok, blen - 1) == 0,
			"a prefix matches");
	}
}

/* The runtime the router answers from: built once, from a fixed configuration. */
static struct lb_runtime *runtime(void)
{
	static const char yaml[] = "services:\n"
				   "  - name: web\n"
				   "    listen: 127.0.0.1:8080\n"
				   "    backends:\n"
				   "      - address: 10.0.1.11:8443\n"
				   "      - address: \"[2001:db8::1]:80\"\n"
				   "  - name: api\n"
				   "    listen: 127.0.0.1:8081\n"
				   "    backends:\n"
				   "      - address: 10.0.2.1:80\n";
	static struct lb_runtime *rt;
	struct conf_errs errs = {0};
	struct conf *c;

	if (rt != NULL)
		return rt;
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT); /* drains and enables log at info */
	FUZZ_CHECK(conf_load_buffer("fuzz", yaml, sizeof(yaml) - 1, &c, &errs) == 0, "config");
	rt = runtime_new(c);
	FUZZ_CHECK(rt != NULL, "out of memory");
	return rt;
}

/*
 * The answer, as bytes on the wire, must be one HTTP response that anylb's own check parser
 * reads back with the same status and body.
 */
static void check_response(const struct admin_response *resp)
{
	static struct http_resp back; /* 24 KiB: not on the stack */
	size_t len = 0;

	FUZZ_CHECK(resp->status >= 200 && resp->status <= 505, "status %d", resp->status);
	FUZZ_CHECK(strcmp(admin_http_reason(resp->status), "Unknown") != 0, "status %d unnamed",
		resp->status);
	FUZZ_CHECK(resp->body_len == 0 || resp->body != NULL, "body missing");
	char *wire = admin_response_bytes(resp, 0, &len);
	FUZZ_CHECK(wire != NULL, "out of memory");
	http_resp_init(&back);
	FUZZ_CHECK(http_resp_feed(&back, wire, len) == HTTP_RESP_COMPLETE, "answer unreadable: %s",
		http_resp_error(&back) ? http_resp_error(&back) : "incomplete");
	FUZZ_CHECK(back.status == resp->status, "status %d read back as %d", resp->status,
		back.status);
	FUZZ_CHECK(back.body_total == resp->body_len &&
			   memcmp(back.body, resp->body, back.body_len) == 0,
		"body read back differs");
	free(wire);
}

static void route(const struct admin_http_req *req, int rc, uint8_t sel)
{
	struct admin_route_ctx ctx = {
		.rt = runtime(),
		.token = "s3cr3t-t0ken",
		.token_len = 12,
		.tcp = sel & 1,
		.peer = "fuzz",
		.now_ms = 1000,
	};
	struct admin_response resp;

	memset(&resp, 0, sizeof(resp));
	if (rc == 1)
		admin_route(&ctx, req, &resp);
	else
		admin_route_error(req, &resp);
	check_response(&resp);
	if (rc < 0)
		FUZZ_CHECK(resp.status == req->status, "error %d answered %d", req->status,
			resp.status);
	admin_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t cuts[8], ncuts = fuzz_cuts(&in, in.n, cuts, 8);
	struct outcome whole, split;

	/* The cuts were drawn from the end: the request is what is left, cut within it. */
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = cuts[i] > in.n ? in.n : cuts[i];
	parse(in.p, in.n, NULL, 0, &whole);
	parse(in.p, in.n, cuts, ncuts, &split);
	check_request(&whole, in.n);
	check_same(&whole, &split);
	if (whole.rc != 0)
		route(&whole.req, whole.rc, (uint8_t)ncuts);

	/* Done and error are final. */
	size_t used = 7;
	int again = admin_http_feed(&whole.req, "GET / HTTP/1.1\r\n\r\n", 18, &used);
	if (whole.rc != 0)
		FUZZ_CHECK(again == whole.rc, "a finished parser answered %d after %d", again,
			whole.rc);
	admin_http_free(&whole.req);
	admin_http_free(&split.req);
	return 0;
}
