/*
 * DOC: scenario: the status page in a real browser
 *
 * The real binary with two HELLO backends under a liveness check, its admin TCP listener with a
 * token, and headless Chromium (Debian's `chromium`) loading GET /. The page's script fetches
 * /status and renders it: the DOM must show both backends `ready`; once backend A is stopped
 * and its check has made it `dead`, a new load of the page shows A dead and B ready. The page is
 * served with its content type and Content-Security-Policy, takes no POST, and with
 * `require_token: all` is still served (it holds no data) while /status needs the token, which
 * the page takes from the URL fragment. A screenshot is saved in the build directory
 * (status-page.png; docs/status-page.png is a copy of one).
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(status_page, .fini = fini, .timeout = 120);

#define TOKEN "page-token-0123456789"

struct rig {
	const char *dir;
	char sock[256], where[270], tcp[SC_ADDRSTRLEN], listen[SC_ADDRSTRLEN], token[256];
	struct sc_backend *a, *b;
	char addr_a[SC_ADDRSTRLEN], addr_b[SC_ADDRSTRLEN];
	struct sc_lb *lb;
};

static void rig_start(struct rig *r, const char *require)
{
	struct sc_backend_opts oa = {.id = "A"}, ob = {.id = "B"};

	memset(r, 0, sizeof(*r));
	r->dir = sc_admin_temp_dir();
	cr_assert_not_null(r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", r->dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	snprintf(r->token, sizeof(r->token), "%s/token", r->dir);
	FILE *f = fopen(r->token, "w");
	cr_assert_not_null(f);
	fputs(TOKEN "\n", f);
	fclose(f);
	chmod(r->token, 0600);
	cr_assert_gt(sc_free_addr(AF_INET, r->tcp, sizeof(r->tcp)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	r->a = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &oa);
	r->b = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &ob);
	cr_assert(r->a != NULL && r->b != NULL);
	snprintf(r->addr_a, sizeof(r->addr_a), "%s", sc_backend_addr(r->a));
	snprintf(r->addr_b, sizeof(r->addr_b), "%s", sc_backend_addr(r->b));
	r->lb = sc_lb_start(
		"global:\n"
		"  site: page-test\n"
		"  workers: 1\n"
		"  drain_timeout: 1s\n"
		"  admin: {socket: %s, listen: \"%s\", token_file: %s, require_token: %s}\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    health:\n"
		"      liveness: {type: tcp, interval: 200ms, timeout: 100ms, fall: 1}\n"
		"    backends:\n"
		"      - {address: \"%s\", zone: a}\n"
		"      - {address: \"%s\", zone: b}\n",
		r->sock, r->tcp, r->token, require, r->listen, r->addr_a, r->addr_b);
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->where, 3000), 0, "the admin socket never answered");
}

/* The DOM after the page ran (its first /status fetch included), in out. */
static void dump_dom(const struct rig *r, const char *fragment, char *out, size_t cap)
{
	char profile[] = "/tmp/anylb-chromium-XXXXXX", rm[64];

	cr_assert_not_null(mkdtemp(profile));
	int rc = sc_cmd(out, cap, 60000,
		"chromium --headless --no-sandbox --disable-gpu --no-first-run "
		"--user-data-dir=%s --virtual-time-budget=5000 --dump-dom http://%s/%s",
		profile, r->tcp, fragment);
	snprintf(rm, sizeof(rm), "rm -rf %s", profile);
	sc_cmd(NULL, 0, 10000, "%s", rm);
	cr_assert_neq(rc, 127, "chromium is missing: run scripts/deps.sh");
	cr_assert_eq(rc, 0, "chromium exited %d:\n%s", rc, out);
	cr_assert(strstr(out, "data-loaded=\"1\"") != NULL, "the page did not load /status:\n%s",
		out);
}

static int shows(const char *dom, const char *backend, const char *state)
{
	char want[256];

	snprintf(want, sizeof(want), "data-backend=\"%s\" data-state=\"%s\"", backend, state);
	return strstr(dom, want) != NULL;
}

/* backend's state in a /status document, or "" */
static const char *state_in(json_t *doc, const char *backend)
{
	size_t i, j;
	json_t *svc, *b;

	json_array_foreach(json_object_get(doc, "services"), i, svc)
		json_array_foreach(json_object_get(svc, "backends"), j,
			b) if (strcmp(json_string_value(json_object_get(b, "address")), backend) ==
			       0) return json_string_value(json_object_get(b, "state"));
	return "";
}

/* Waits until /status says backend is in state. */
static void wait_state(const struct rig *r, const char *backend, const char *state)
{
	int64_t deadline = sc_now_ms() + 5000;

	for (;;) {
		struct sc_http_resp h;
		int ok = 0;
		if (sc_http(r->where, "GET", "/status", NULL, 2000, &h) == 0 && h.body != NULL) {
			json_t *doc = json_loads(h.body, 0, NULL);
			ok = doc != NULL && strcmp(state_in(doc, backend), state) == 0;
			json_decref(doc);
		}
		sc_http_free(&h);
		if (ok)
			return;
		cr_assert_lt(sc_now_ms(), deadline, "%s never turned %s", backend, state);
		sc_sleep_ms(20);
	}
}

Test(status_page, the_dom_follows_the_live_states)
{
	static char dom[1 << 17];
	struct rig r;
	struct sc_http_resp h;
	char ct[128], csp[512];

	rig_start(&r, "writes");
	cr_assert_eq(sc_http(r.tcp, "GET", "/", NULL, 5000, &h), 0);
	cr_expect_eq(h.status, 200);
	cr_expect_str_eq(
		sc_http_header(&h, "Content-Type", ct, sizeof(ct)), "text/html; charset=utf-8");
	const char *p = sc_http_header(&h, "Content-Security-Policy", csp, sizeof(csp));
	cr_expect(p != NULL && strstr(p, "default-src 'none'") && strstr(p, "connect-src 'self'"),
		"CSP: %s", p ? p : "(none)");
	cr_expect(strstr(h.body, "<script") != NULL && strstr(h.body, "src=\"http") == NULL,
		"one self-contained page");
	sc_http_free(&h);
	cr_assert_eq(sc_http(r.tcp, "POST", "/", TOKEN, 5000, &h), 0);
	cr_expect_eq(h.status, 405);
	sc_http_free(&h);

	dump_dom(&r, "", dom, sizeof(dom));
	cr_expect(shows(dom, r.addr_a, "ready"), "A is not shown ready:\n%s", dom);
	cr_expect(shows(dom, r.addr_b, "ready"), "B is not shown ready:\n%s", dom);
	cr_expect(strstr(dom, "page-test") != NULL, "the site's name");
	cr_expect(strstr(dom, "N+1") != NULL, "the redundancy report");

	sc_backend_stop(r.a);
	r.a = NULL;
	wait_state(&r, r.addr_a, "dead");
	dump_dom(&r, "", dom, sizeof(dom));
	cr_expect(shows(dom, r.addr_a, "dead"), "A is not shown dead:\n%s", dom);
	cr_expect(shows(dom, r.addr_b, "ready"), "B is not shown ready:\n%s", dom);
	cr_expect(strstr(dom, "connect refused") != NULL, "the reason and the last check");

	/* The screenshot docs/ADMIN.md shows (copied by hand to docs/status-page.png). */
	char png[512], profile[] = "/tmp/anylb-chromium-XXXXXX", out[4096];
	snprintf(png, sizeof(png), "%s/status-page.png", ANYLB_BUILD_DIR);
	unlink(png);
	cr_assert_not_null(mkdtemp(profile));
	int rc = sc_cmd(out, sizeof(out), 60000,
		"chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars "
		"--user-data-dir=%s --virtual-time-budget=5000 --window-size=1100,520 "
		"--screenshot=%s http://%s/",
		profile, png, r.tcp);
	sc_cmd(NULL, 0, 10000, "rm -rf %s", profile);
	cr_expect_eq(rc, 0, "%s", out);
	char *img = sc_read_file(png);
	cr_expect(img != NULL && memcmp(img, "\x89PNG", 4) == 0, "no PNG at %s", png);
	free(img);
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}

Test(status_page, with_require_token_all_the_page_takes_the_token_from_the_fragment)
{
	static char dom[1 << 17];
	struct rig r;
	struct sc_http_resp h;

	rig_start(&r, "all");
	cr_assert_eq(sc_http(r.tcp, "GET", "/", NULL, 5000, &h), 0);
	cr_expect_eq(h.status, 200, "the page holds no data: served without the token");
	sc_http_free(&h);
	cr_assert_eq(sc_http(r.tcp, "GET", "/status", NULL, 5000, &h), 0);
	cr_expect_eq(h.status, 401);
	sc_http_free(&h);

	dump_dom(&r, "#token=" TOKEN, dom, sizeof(dom));
	cr_expect(shows(dom, r.addr_a, "ready") && shows(dom, r.addr_b, "ready"), "%s", dom);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, TOKEN), 0, "the token reached the log");
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}
