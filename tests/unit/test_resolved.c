/*
 * DOC: backends by name, the answers in force (conf/resolved.c)
 *
 * Pure, time passed in: a file with NAME:PORT entries loaded from a buffer, answers fed in as a
 * lookup would give them. The diff (added, removed), order and duplicates not mattering, other
 * families filtered; a failed lookup keeping the last good answer, the first failure of a
 * streak told apart from the others and the success that ends it; a change reverted; the
 * expansion into backends (the entry's weight, zone, backup; a literal address wins over an
 * answer); resolved_sync following a reload's entries.
 */
#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/overlay.h"
#include "conf/resolved.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(resolved);

static struct conf *load(const char *extra)
{
	char *y = NULL;
	struct conf *c = NULL;
	struct conf_errs errs = {0};
	int n = asprintf(&y,
		"services:\n"
		"  - name: web\n"
		"    listen: [\"127.0.0.1:8080\"]\n"
		"    resolve_interval: 5s\n"
		"    backends:\n"
		"      - address: \"10.0.0.1:80\"\n"
		"      - address: app.internal:80\n"
		"        weight: 7\n"
		"        zone: b\n"
		"        backup: true\n"
		"%s",
		extra);
	cr_assert_gt(n, 0);
	int rc = conf_load_buffer("test.yaml", y, strlen(y), &c, &errs);
	cr_assert_eq(rc, 0, "%s", errs.n > 0 ? errs.v[0].msg : "?");
	conf_errs_free(&errs);
	free(y);
	return c;
}

static struct addr A(const char *s) {
	struct addr a;
	char why[ADDR_WHY_MAX];

	cr_assert_eq(addr_parse(s, 0, &a, why, sizeof(why)), 0, "%s: %s", s, why);
	return a;
}

static const char *
list(const struct addr *v, size_t n)
{
	static char buf[512];

	return resolved_list(v, n, buf, sizeof(buf));
}

Test(resolved, conf_keeps_names_apart)
{
	struct conf *c = load("      - address: db.internal.:5432\n"
			      "        resolve_interval: 300ms\n"
			      "        resolve_family: ipv6\n");
	const struct conf_service *s = &c->services[0];

	cr_assert_eq(s->nbackends, 1);
	cr_assert_eq(s->nnames, 2);
	cr_expect_str_eq(s->names[0].address, "app.internal:80");
	cr_expect_str_eq(s->names[0].host, "app.internal");
	cr_expect_eq(s->names[0].port, 80);
	cr_expect_eq(s->names[0].interval_ms, 5000); /* the service's */
	cr_expect_eq(s->names[0].family, CONF_FAMILY_ANY);
	cr_expect_eq(s->names[0].tmpl.weight, 7);
	cr_expect_str_eq(s->names[1].host, "db.internal.");
	cr_expect_eq(s->names[1].interval_ms, 300);
	cr_expect_eq(s->names[1].family, CONF_FAMILY_IPV6);
	conf_free(c);
}

Test(resolved, diff_and_failures)
{
	struct conf *c = load("");
	struct resolved r = {0};
	struct resolved_diff d;
	enum resolved_outcome out;

	cr_assert_eq(resolved_sync(&r, c), 1);
	struct resolved_entry *e = resolved_find(&r, "web", "app.internal:80");
	cr_assert_not_null(e);
	cr_expect_eq(e->interval_ms, 5000);

	/* First answer: everything added, order and duplicates do not matter. */
	struct addr a1[] = {
		A("10.0.0.3:80"), A("10.0.0.2:80"), A("10.0.0.3:80"), A("[2001:db8::1]:80")};
	cr_assert_eq(resolved_result(e, 1, a1, 4, NULL, 1000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_CHANGED);
	cr_expect_str_eq(list(d.added, d.nadded), "10.0.0.2:80, 10.0.0.3:80, [2001:db8::1]:80");
	cr_expect_eq(d.nremoved, 0);
	cr_expect_eq(e->n, 3);
	cr_expect_eq(e->resolved_ms, 1000);
	resolved_diff_free(&d);

	/* The same set in another order: nothing to apply. */
	struct addr a2[] = {A("[2001:db8::1]:80"), A("10.0.0.3:80"), A("10.0.0.2:80")};
	cr_assert_eq(resolved_result(e, 1, a2, 3, NULL, 2000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_SAME);
	cr_expect_eq(e->resolved_ms, 2000);
	resolved_diff_free(&d);

	/* Failures keep the last good answer; the first of a streak is told apart. */
	cr_assert_eq(resolved_result(e, 0, NULL, 0, "SERVFAIL", 3000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_FAILED_FIRST);
	cr_assert_eq(resolved_result(e, 0, NULL, 0, "timed out", 4000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_FAILED_AGAIN);
	cr_expect_eq(e->n, 3);
	cr_expect_str_eq(e->error, "timed out");
	cr_expect_eq(e->failed_ms, 4000);
	cr_expect_eq(e->resolved_ms, 2000);
	/* An empty answer is a failure too: a zone mistake does not empty a service. */
	cr_assert_eq(resolved_result(e, 1, NULL, 0, NULL, 4500, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_FAILED_AGAIN);
	cr_expect_eq(e->n, 3);

	/* The success that ends the streak, with a change: one in, two out. */
	struct addr a3[] = {A("10.0.0.2:80"), A("10.0.0.9:80")};
	cr_assert_eq(resolved_result(e, 1, a3, 2, NULL, 5000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_CHANGED);
	cr_expect(d.recovered);
	cr_expect_str_eq(list(d.added, d.nadded), "10.0.0.9:80");
	cr_expect_str_eq(list(d.removed, d.nremoved), "10.0.0.3:80, [2001:db8::1]:80");
	/* Its reload failed: the previous answer is back. */
	resolved_revert(e, &d);
	resolved_diff_free(&d);
	cr_expect_str_eq(list(e->v, e->n), "10.0.0.2:80, 10.0.0.3:80, [2001:db8::1]:80");
	cr_assert_eq(resolved_result(e, 0, NULL, 0, "x", 6000, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_FAILED_FIRST); /* a new streak */
	cr_expect_eq(e->n_failed, 4);
	cr_expect_eq(e->n_same, 1);
	resolved_free(&r);
	conf_free(c);
}

Test(resolved, family_filter)
{
	struct conf *c = load("      - address: v4.internal:81\n"
			      "        resolve_family: ipv4\n");
	struct resolved r = {0};
	struct resolved_diff d;
	enum resolved_outcome out;

	cr_assert_eq(resolved_sync(&r, c), 2);
	struct resolved_entry *e = resolved_find(&r, "web", "v4.internal:81");
	struct addr only6[] = {A("[2001:db8::1]:81")};
	cr_assert_eq(resolved_result(e, 1, only6, 1, NULL, 10, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_FAILED_FIRST);
	cr_expect_str_eq(e->error, "no IPv4 address in the answer");
	cr_expect_not(e->have);
	struct addr both[] = {A("[2001:db8::1]:81"), A("10.0.0.4:81")};
	cr_assert_eq(resolved_result(e, 1, both, 2, NULL, 20, &out, &d), 0);
	cr_expect_eq(out, RESOLVED_CHANGED);
	cr_expect_str_eq(list(e->v, e->n), "10.0.0.4:81");
	resolved_diff_free(&d);
	resolved_free(&r);
	conf_free(c);
}

Test(resolved, apply_expands_and_first_wins)
{
	struct conf *c = load("      - address: other.internal:80\n");
	struct resolved r = {0};
	struct resolved_diff d;
	enum resolved_outcome out;

	cr_assert_eq(resolved_sync(&r, c), 2);
	/* 10.0.0.1:80 is written in the file: it stays the file's backend. */
	struct addr a[] = {A("10.0.0.1:80"), A("10.0.0.5:80")};
	cr_assert_eq(resolved_result(resolved_find(&r, "web", "app.internal:80"), 1, a, 2, NULL, 1,
			     &out, &d),
		0);
	resolved_diff_free(&d);
	struct addr b[] = {A("10.0.0.5:80"), A("10.0.0.6:80")};
	cr_assert_eq(resolved_result(resolved_find(&r, "web", "other.internal:80"), 1, b, 2, NULL,
			     1, &out, &d),
		0);
	resolved_diff_free(&d);
	cr_assert_eq(resolved_apply(&r, c), 0);
	const struct conf_service *s = &c->services[0];
	cr_assert_eq(s->nbackends, 3);
	cr_expect_str_eq(s->backends[0].address, "10.0.0.1:80");
	cr_expect_null(s->backends[0].from);
	cr_expect_str_eq(s->backends[1].address, "10.0.0.5:80");
	cr_expect_str_eq(s->backends[1].from, "app.internal:80");
	cr_expect_eq(s->backends[1].weight, 7);
	cr_expect_str_eq(s->backends[1].zone, "b");
	cr_expect(s->backends[1].backup);
	cr_expect_str_eq(s->backends[2].address, "10.0.0.6:80");
	cr_expect_str_eq(s->backends[2].from, "other.internal:80");
	cr_expect_eq(s->backends[2].weight, 100);
	cr_expect_eq(s->nbackup, 1);
	resolved_free(&r);
	conf_free(c);
}

/* A service of names only, none answered yet: no backend, and the overlay does not refuse it. */
Test(resolved, names_only_without_answer)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	const char *y = "services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    backends:\n"
			"      - address: app.internal:80\n";
	cr_assert_eq(conf_load_buffer("t.yaml", y, strlen(y), &c, &errs), 0);
	struct resolved r = {0};
	cr_assert_eq(resolved_sync(&r, c), 1);
	cr_assert_eq(resolved_apply(&r, c), 0);
	cr_expect_eq(c->services[0].nbackends, 0);
	struct overlay o = {0};
	cr_expect_eq(overlay_apply(&o, c, &errs), 0);
	resolved_free(&r);
	conf_errs_free(&errs);
	conf_free(c);
}

Test(resolved, sync_follows_reloads)
{
	struct conf *c = load("      - address: gone.internal:80\n");
	struct resolved r = {0};
	cr_assert_eq(resolved_sync(&r, c), 2);
	resolved_find(&r, "web", "app.internal:80")->due_ms = 999;
	conf_free(c);
	/* The next file: gone.internal went, new.internal came, app.internal kept as it was. */
	c = load("      - address: new.internal:80\n");
	cr_assert_eq(resolved_sync(&r, c), 1);
	cr_expect_eq(r.n, 2);
	cr_expect_null(resolved_find(&r, "web", "gone.internal:80"));
	cr_expect_not_null(resolved_find(&r, "web", "new.internal:80"));
	cr_expect_eq(resolved_find(&r, "web", "app.internal:80")->due_ms, 999);
	resolved_free(&r);
	conf_free(c);
}
