/*
 * DOC: the runtime backend overlay (conf/overlay.c)
 *
 * Pure: a file's configuration (loaded from a buffer) merged with added and removed backends,
 * the refusals (a service left without a backend, or with backups only), and the reload rule
 * that settles the overlay against each new file: an added backend the file lists is adopted, a
 * removed one stays removed while the file lists it, a vanished service takes its entries.
 */
#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/overlay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(overlay);

static struct conf *load(const char *backends)
{
	char *y = NULL;
	struct conf *c = NULL;
	struct conf_errs errs = {0};
	int n = asprintf(&y,
		"services:\n"
		"  - name: web\n"
		"    listen: [\"127.0.0.1:8080\"]\n"
		"    backends:\n%s"
		"  - name: db\n"
		"    listen: [\"127.0.0.1:5432\"]\n"
		"    backends:\n"
		"      - address: \"10.0.1.1:5432\"\n",
		backends);
	cr_assert_gt(n, 0);
	int rc = conf_load_buffer("test.yaml", y, strlen(y), &c, &errs);
	cr_assert_eq(rc, 0, "%s", errs.n > 0 ? errs.v[0].msg : "?");
	conf_errs_free(&errs);
	free(y);
	return c;
}

static const struct conf_service *svc(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

/* The backends of service name, "address[*]" joined by spaces (* for runtime ones). */
static const char *list(const struct conf *c, const char *name, char *buf, size_t cap)
{
	const struct conf_service *s = svc(c, name);
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; s != NULL && i < s->nbackends; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s%s", i ? " " : "",
			s->backends[i].address, s->backends[i].runtime ? "*" : "");
	return buf;
}

#define TWO                                                                                        \
	"      - address: \"10.0.0.1:80\"\n"                                                       \
	"      - address: \"10.0.0.2:80\"\n"

Test(overlay, merge_adds_and_removes)
{
	struct overlay o = {0};
	struct conf_errs errs = {0};
	char why[128], buf[256];

	cr_assert_eq(overlay_add(&o, "web", "10.0.0.3:80", 7, "z1", why, sizeof(why)), 0);
	cr_assert_eq(overlay_remove(&o, "web", "10.0.0.1:80", why, sizeof(why)), 0);
	cr_expect_eq(overlay_add(&o, "web", "10.0.0.3:80", 1, NULL, why, sizeof(why)), -EEXIST);
	cr_expect_eq(overlay_remove(&o, "web", "10.0.0.1:80", why, sizeof(why)), -EEXIST);
	cr_expect_eq(overlay_add(&o, "web", "nonsense", 1, NULL, why, sizeof(why)), -EINVAL);
	cr_expect_eq(overlay_add(&o, "web", "10.0.0.4:0", 1, NULL, why, sizeof(why)), -EINVAL);
	/* The same address written otherwise is the same backend. */
	cr_expect_eq(overlay_add(&o, "web", "10.0.0.03:80", 1, NULL, why, sizeof(why)) == -EEXIST ||
			     overlay_add(&o, "web", "10.0.0.03:80", 1, NULL, why, sizeof(why)) ==
				     -EINVAL,
		1);
	cr_expect_eq(o.n, 2);

	struct conf *c = load(TWO);
	cr_assert_eq(overlay_apply(&o, c, &errs), 0);
	cr_expect_str_eq(list(c, "web", buf, sizeof(buf)), "10.0.0.2:80 10.0.0.3:80*");
	cr_expect_str_eq(list(c, "db", buf, sizeof(buf)), "10.0.1.1:5432");
	const struct conf_backend *b = &svc(c, "web")->backends[1];
	cr_expect_eq(b->weight, 7);
	cr_expect_str_eq(b->zone, "z1");
	conf_free(c);

	/* A reload with the same file: nothing settles away. */
	overlay_settle(&o);
	cr_expect_eq(o.n, 2);

	/* Undoing both: the add is forgotten, the removal cancelled. */
	cr_assert_eq(overlay_remove(&o, "web", "10.0.0.3:80", why, sizeof(why)), 0);
	cr_assert_eq(overlay_add(&o, "web", "10.0.0.1:80", 1, NULL, why, sizeof(why)), 0);
	cr_expect_eq(o.n, 0);
	overlay_free(&o);
}

Test(overlay, a_service_is_never_left_without_a_backend)
{
	struct overlay o = {0};
	struct conf_errs errs = {0};
	char why[128];

	cr_assert_eq(overlay_remove(&o, "db", "10.0.1.1:5432", why, sizeof(why)), 0);
	struct conf *c = load(TWO);
	cr_expect_eq(overlay_apply(&o, c, &errs), -EINVAL);
	cr_assert_eq(errs.n, 1);
	cr_expect_str_eq(errs.v[0].msg,
		"service db: removing backends at run time would leave it without a backend");
	conf_errs_free(&errs);
	conf_free(c);
	overlay_free(&o);

	/* Removing the only non-backup. */
	cr_assert_eq(overlay_remove(&o, "web", "10.0.0.1:80", why, sizeof(why)), 0);
	c = load("      - address: \"10.0.0.1:80\"\n"
		 "      - {address: \"10.0.0.2:80\", backup: true}\n");
	cr_expect_eq(overlay_apply(&o, c, &errs), -EINVAL);
	cr_assert_eq(errs.n, 1);
	cr_expect(strstr(errs.v[0].msg, "with backups only") != NULL, "%s", errs.v[0].msg);
	conf_errs_free(&errs);
	conf_free(c);
	overlay_free(&o);
}

Test(overlay, the_reload_rule)
{
	struct overlay o = {0}, copy;
	struct conf_errs errs = {0};
	char why[128], buf[256];

	cr_assert_eq(overlay_add(&o, "web", "10.0.0.3:80", 5, NULL, why, sizeof(why)), 0);
	cr_assert_eq(overlay_remove(&o, "web", "10.0.0.1:80", why, sizeof(why)), 0);
	cr_assert_eq(overlay_add(&o, "db", "10.0.1.2:5432", 5, NULL, why, sizeof(why)), 0);

	/* The file now lists the added backend (weight 9): adopted, the file's weight wins. */
	struct conf *c = load(TWO "      - {address: \"10.0.0.3:80\", weight: 9}\n");
	cr_assert_eq(overlay_apply(&o, c, &errs), 0);
	cr_expect_str_eq(list(c, "web", buf, sizeof(buf)), "10.0.0.2:80 10.0.0.3:80");
	cr_expect_eq(svc(c, "web")->backends[1].weight, 9);
	cr_expect_str_eq(list(c, "db", buf, sizeof(buf)), "10.0.1.1:5432 10.0.1.2:5432*");
	conf_free(c);
	cr_assert_eq(overlay_copy(&o, &copy), 0);
	overlay_settle(&o);
	cr_expect_eq(o.n, 2, "the adopted add did not go");
	cr_expect_eq(copy.n, 3);
	overlay_settle(&copy); /* a copy settles as the original: it keeps what apply found */
	cr_expect_eq(copy.n, 2);
	overlay_free(&copy);

	/* The file drops the removed backend: the removal goes; listed again later, it is back. */
	c = load("      - address: \"10.0.0.2:80\"\n");
	cr_assert_eq(overlay_apply(&o, c, &errs), 0);
	conf_free(c);
	overlay_settle(&o);
	cr_expect_eq(o.n, 1);
	c = load(TWO);
	cr_assert_eq(overlay_apply(&o, c, &errs), 0);
	cr_expect_str_eq(list(c, "web", buf, sizeof(buf)), "10.0.0.1:80 10.0.0.2:80");
	conf_free(c);

	/* A file without the service: its entries go. */
	const char *only_web = "services:\n"
			       "  - name: web\n"
			       "    listen: [\"127.0.0.1:8080\"]\n"
			       "    backends: [{address: \"10.0.0.1:80\"}]\n";
	cr_assert_eq(conf_load_buffer("t.yaml", only_web, strlen(only_web), &c, &errs), 0);
	cr_assert_eq(overlay_apply(&o, c, &errs), 0);
	conf_free(c);
	overlay_settle(&o);
	cr_expect_eq(o.n, 0);
	overlay_free(&o);
}

Test(overlay, the_limit_of_backends)
{
	struct overlay o = {0};
	struct conf_errs errs = {0};
	char why[128];
	size_t cap = (size_t)CONF_MAX_BACKENDS * 40 + 1;
	char *list = malloc(cap);
	size_t n = 0;

	cr_assert_not_null(list);
	for (int i = 0; i < CONF_MAX_BACKENDS; i++)
		n += (size_t)snprintf(list + n, cap - n, "      - address: \"10.%d.%d.1:80\"\n",
			i / 250, i % 250);
	struct conf *c = load(list);
	free(list);
	cr_assert_eq(overlay_add(&o, "web", "10.200.0.3:80", 5, NULL, why, sizeof(why)), 0);
	cr_expect_eq(overlay_apply(&o, c, &errs), -EINVAL);
	cr_assert_eq(errs.n, 1);
	cr_expect(strstr(errs.v[0].msg, "more than 10000 backends") != NULL, "%s", errs.v[0].msg);
	cr_expect_eq(c->services[0].nbackends, CONF_MAX_BACKENDS);
	conf_errs_free(&errs);
	conf_free(c);
	overlay_free(&o);
}
