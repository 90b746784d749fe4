/*
 * DOC: unit tests for what a reload keeps and refuses
 *
 * conf/reload.c: which changes need a restart (reported at their place in the new file), and
 * when two checks count as the same. lb/runtime.c: the next generation shares the state objects
 * of kept services and backends and starts fresh ones for new ones. lb/backend.c: adopting a
 * generation keeps an ejection under way, marks removed backends draining and restarts the
 * rise/fall count of a changed check only. Everything runs on the test's thread, with time
 * passed in.
 */
#include "conf/conf.h"
#include "health/outlier.h"
#include "lb/backend.h"
#include "lb/runtime.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct conf *load(const char *y)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	int rc = conf_load_buffer("t.yaml", y, strlen(y), &c, &errs);

	if (rc < 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0, "the test's YAML must be valid");
	return c;
}

/* "FILE:LINE:COL: message" lines of errs, one string. */
static char *errs_text(const struct conf_errs *errs)
{
	size_t cap = 4096, len = 0;
	char *s = calloc(1, cap);

	for (size_t i = 0; i < errs->n && len < cap; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s:%d:%d: %s\n", errs->v[i].file,
			errs->v[i].line, errs->v[i].col, errs->v[i].msg);
	return s;
}

/* conf_reload_check(old, new): its return value, and the messages in *text (caller frees). */
static int reload_check(const char *old_y, const char *new_y, char **text)
{
	struct conf *a = load(old_y), *b = load(new_y);
	struct conf_errs errs = {0};
	int rc = conf_reload_check(a, b, &errs);

	*text = errs_text(&errs);
	conf_errs_free(&errs);
	conf_free(a);
	conf_free(b);
	return rc;
}

#define BASE                                                                                       \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: [\"127.0.0.1:8080\"]\n"                                                       \
	"    health:\n"                                                                            \
	"      readiness: {type: http, path: /ready, interval: 1s}\n"                              \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"                                                        \
	"      - address: 127.0.0.1:9002\n"

Test(reload_check, allows_what_applies_live)
{
	char *text;
	const char *changed = "global:\n"
			      "  workers: 2\n"
			      "  max_connections: 500\n"
			      "  log: {level: debug}\n"
			      "services:\n"
			      "  - name: web\n"
			      "    listen: [\"127.0.0.1:8081\"]\n"
			      "    balance: least_connections\n"
			      "    health:\n"
			      "      readiness: {type: tcp, interval: 3s}\n"
			      "    backends:\n"
			      "      - address: 127.0.0.1:9003\n"
			      "  - name: api\n"
			      "    listen: [\"127.0.0.1:8090\"]\n"
			      "    backends:\n"
			      "      - address: 127.0.0.1:9001\n";

	cr_expect_eq(reload_check(BASE, changed, &text), 0, "%s", text);
	cr_expect_str_eq(text, "");
	free(text);
}

/* sni is per generation: added, changed and removed by a reload, routes and targets alike. */
Test(reload_check, allows_sni_to_change)
{
	char *text;
	const char *with = "global:\n"
			   "  workers: 2\n"
			   "services:\n"
			   "  - name: web\n"
			   "    listen: [\"127.0.0.1:8080\"]\n"
			   "    timeouts: {client_hello: 1s}\n"
			   "    sni: {routes: {a.test: api, \"*.b.test\": web}, default: api}\n"
			   "    backends:\n"
			   "      - address: 127.0.0.1:9001\n"
			   "  - name: api\n"
			   "    listen: [\"127.0.0.1:8090\"]\n"
			   "    backends:\n"
			   "      - address: 127.0.0.1:9001\n";
	const char *changed = "global:\n"
			      "  workers: 2\n"
			      "services:\n"
			      "  - name: api\n"
			      "    listen: [\"127.0.0.1:8090\"]\n"
			      "    backends:\n"
			      "      - address: 127.0.0.1:9001\n"
			      "  - name: web\n"
			      "    listen: [\"127.0.0.1:8080\"]\n"
			      "    sni: {routes: {c.test: web}}\n"
			      "    backends:\n"
			      "      - address: 127.0.0.1:9001\n";

	cr_expect_eq(reload_check(BASE, with, &text), 0, "%s", text);
	free(text);
	cr_expect_eq(reload_check(with, changed, &text), 0, "%s", text);
	free(text);
	cr_expect_eq(reload_check(changed, BASE, &text), 0, "%s", text);
	free(text);
}

Test(reload_check, refuses_workers_with_its_position)
{
	char *text;
	const char *y = "global:\n"
			"  workers: 3\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n";

	cr_expect_eq(reload_check(BASE, y, &text), -EINVAL);
	cr_expect_str_eq(text, "t.yaml:2:3: global.workers cannot change on reload (3, was 2; 0 "
			       "is auto): restart anylb to apply it\n");
	free(text);
}

Test(reload_check, refuses_admin_and_bgp)
{
	char *text;
	const char *y = "global:\n"
			"  workers: 2\n"
			"  admin: {socket: /tmp/other.sock}\n"
			"bgp:\n"
			"  announce: bird_protocol\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n";

	cr_expect_eq(reload_check(BASE, y, &text), -EINVAL);
	cr_expect(strstr(text, "t.yaml:3:3: global.admin cannot change on reload") != NULL, "%s",
		text);
	cr_expect(strstr(text, "t.yaml:4:1: bgp cannot change on reload") != NULL, "%s", text);
	free(text);
}

#define ANY(prefix)                                                                                \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"bgp: {}\n"                                                                                \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: [\"127.0.0.1:8080\"]\n"                                                       \
	"    anycast:\n"                                                                           \
	"      prefixes: [\"" prefix "\"]\n"                                                       \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"

Test(reload_check, refuses_anycast_changes)
{
	char *text;

	cr_expect_eq(reload_check(ANY("192.0.2.1/32"), ANY("192.0.2.1/32"), &text), 0, "%s", text);
	free(text);
	cr_expect_eq(reload_check(ANY("192.0.2.1/32"), ANY("192.0.2.2/32"), &text), -EINVAL);
	cr_expect(strstr(text, "t.yaml:7:5: service web: anycast cannot change on reload") != NULL,
		"%s", text);
	free(text);
	/* Removing the service with anycast: reported, though it has no place in the new file. */
	const char *gone = "global:\n"
			   "  workers: 2\n"
			   "bgp: {}\n"
			   "services:\n"
			   "  - name: other\n"
			   "    listen: [\"127.0.0.1:8080\"]\n"
			   "    backends:\n"
			   "      - address: 127.0.0.1:9001\n";
	cr_expect_eq(reload_check(ANY("192.0.2.1/32"), gone, &text), -EINVAL);
	cr_expect(strstr(text, "service web has anycast and cannot be removed on reload") != NULL,
		"%s", text);
	free(text);
}

Test(reload_check, check_equality_sees_every_setting)
{
	struct conf *a = load(BASE), *b = load(BASE);
	struct conf_check *x = &a->services[0].health.readiness,
			  *y = &b->services[0].health.readiness;

	cr_expect(conf_check_equal(x, y), "the same text gives equal checks");
	cr_expect(x->path != y->path, "in different places");
	y->interval_ms++;
	cr_expect(!conf_check_equal(x, y));
	y->interval_ms--;
	y->rise++;
	cr_expect(!conf_check_equal(x, y));
	y->rise--;
	y->path[1] = 'x';
	cr_expect(!conf_check_equal(x, y));
	y->path[1] = 'r';
	y->expect_status[0].hi++;
	cr_expect(!conf_check_equal(x, y));
	y->expect_status[0].hi--;
	cr_expect(conf_check_equal(x, y));
	conf_free(a);
	conf_free(b);
}

Test(reload_check, check_equality_sees_the_dns_settings)
{
	struct conf_check x = {.enabled = 1, .type = CONF_CHECK_DNS, .interval_ms = 1000};
	struct conf_check y = x;
	char n1[] = "example.org.", n2[] = "example.org.", a1[] = "192.0.2.1", a2[] = "192.0.2.1";

	x.dns = (struct conf_check_dns){.name = n1, .qtype = 1, .expect_answer = a1};
	y.dns = (struct conf_check_dns){.name = n2, .qtype = 1, .expect_answer = a2};
	cr_expect(conf_check_equal(&x, &y));
	y.dns.qtype = 28;
	cr_expect(!conf_check_equal(&x, &y));
	y.dns.qtype = 1;
	y.dns.tcp = 1;
	cr_expect(!conf_check_equal(&x, &y));
	y.dns.tcp = 0;
	y.dns.expect_rcode = 3;
	cr_expect(!conf_check_equal(&x, &y));
	y.dns.expect_rcode = 0;
	n2[0] = 'x';
	cr_expect(!conf_check_equal(&x, &y));
	n2[0] = 'e';
	a2[8] = '2';
	cr_expect(!conf_check_equal(&x, &y));
	y.dns.expect_answer = NULL;
	cr_expect(!conf_check_equal(&x, &y));
}

/* ---- generations ----------------------------------------------------------------------------- */

static struct lb_backend *be(struct lb_runtime *rt, size_t svc, size_t j)
{
	cr_assert_lt(svc, rt->nservices);
	cr_assert_lt(j, rt->services[svc].conf->nbackends);
	return &rt->services[svc].backends[j];
}

static void feed(struct lb_backend *b, int ok, int n, uint64_t now)
{
	struct check_result r = {.ok = ok, .duration = 0.001};
	snprintf(r.reason, sizeof(r.reason), "%s", ok ? "ok" : "status 503");
	for (int i = 0; i < n; i++)
		backend_check_result(b, BACKEND_CHECK_READINESS, &r, now);
}

static void feed_check(struct lb_backend *b, enum backend_check which, int ok, int n, uint64_t now)
{
	struct check_result r = {.ok = ok, .duration = 0.001};
	snprintf(r.reason, sizeof(r.reason), "%s", ok ? "ok" : "connect refused");
	for (int i = 0; i < n; i++)
		backend_check_result(b, which, &r, now);
}

/*
 * initial_state (issue 11, defect 4): with a readiness check a new backend takes no session
 * until its first verdict, and that verdict decides alone (Envoy: healthy on the first pass);
 * after a first failure it needs rise passes like any backend that is down.
 */
Test(generation, not_ready_until_the_first_verdict_which_decides)
{
	const char *y = "global:\n"
			"  workers: 2\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    health:\n"
			"      readiness: {type: http, interval: 1s, rise: 3, fall: 2}\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n"
			"      - address: 127.0.0.1:9002\n"
			"  - name: eager\n"
			"    listen: [\"127.0.0.1:8081\"]\n"
			"    initial_state: ready\n"
			"    health:\n"
			"      readiness: {type: http, interval: 1s}\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n"
			"  - name: live\n"
			"    listen: [\"127.0.0.1:8082\"]\n"
			"    initial_state: not_ready\n"
			"    health:\n"
			"      liveness: {type: tcp, interval: 1s}\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n"
			"  - name: plain\n"
			"    listen: [\"127.0.0.1:8083\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n";
	struct lb_runtime *g = runtime_new(load(y));
	uint64_t now = 1000;

	cr_assert_eq(atomic_load(&be(g, 0, 0)->st->state), BACKEND_NOT_READY);
	cr_expect_str_eq(be(g, 0, 0)->st->h.reason,
		"waiting for the first readiness check (initial_state: not_ready)");
	cr_expect(!backend_accepts(be(g, 0, 0)));
	cr_expect_eq(atomic_load(&be(g, 1, 0)->st->state), BACKEND_READY, "initial_state: ready");
	cr_expect_eq(atomic_load(&be(g, 2, 0)->st->state), BACKEND_NOT_READY);
	cr_expect_eq(atomic_load(&be(g, 3, 0)->st->state), BACKEND_READY);
	cr_expect_str_eq(be(g, 3, 0)->st->h.reason, "no health checks");

	/* One pass is enough although rise is 3. */
	feed(be(g, 0, 0), 1, 1, now);
	cr_expect_eq(atomic_load(&be(g, 0, 0)->st->state), BACKEND_READY);
	cr_expect_str_eq(be(g, 0, 0)->st->h.reason, "first readiness check passed");
	/* One failure keeps it out, and then it needs rise passes. */
	feed(be(g, 0, 1), 0, 1, now);
	cr_expect_eq(atomic_load(&be(g, 0, 1)->st->state), BACKEND_NOT_READY);
	cr_expect_str_eq(be(g, 0, 1)->st->h.reason, "readiness: status 503");
	feed(be(g, 0, 1), 1, 2, now);
	cr_expect_eq(atomic_load(&be(g, 0, 1)->st->state), BACKEND_NOT_READY);
	feed(be(g, 0, 1), 1, 1, now);
	cr_expect_eq(atomic_load(&be(g, 0, 1)->st->state), BACKEND_READY);
	/* Liveness alone vouches when there is no readiness check. */
	feed_check(be(g, 2, 0), BACKEND_CHECK_LIVENESS, 0, 1, now);
	cr_expect_eq(atomic_load(&be(g, 2, 0)->st->state), BACKEND_DEAD);
	runtime_put(g);
}

Test(generation, kept_services_and_backends_share_their_state)
{
	struct lb_runtime *g1 = runtime_new(load(BASE));
	const char *y = "global:\n"
			"  workers: 2\n"
			"services:\n"
			"  - name: api\n"
			"    listen: [\"127.0.0.1:8090\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9002\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9002\n"
			"      - address: 127.0.0.1:9003\n";

	atomic_store(&be(g1, 0, 1)->st->sessions, 42);
	struct lb_runtime *g2 = runtime_next(g1, load(y));
	cr_assert_not_null(g2);
	cr_expect_eq(g2->generation, 2);
	cr_expect_eq(g2->proc, g1->proc);
	struct lb_service *web = runtime_service(g2, "web"), *api = runtime_service(g2, "api");
	cr_assert_not_null(web);
	cr_assert_not_null(api);
	cr_expect_eq(web->st, g1->services[0].st, "web keeps its counters");
	cr_expect_neq(api->st, g1->services[0].st, "api is new");
	cr_expect_eq(web->backends[0].st, be(g1, 0, 1)->st, "web's 9002 is kept");
	cr_expect_eq(atomic_load(&web->backends[0].st->sessions), 42);
	cr_expect_eq(web->backends[0].st->h.oidx, 1, "its place in the detector, until adopted");
	cr_expect_eq(web->backends[1].st->h.oidx, SIZE_MAX, "9003 is not in the detector yet");
	cr_expect_neq(api->backends[0].st, be(g1, 0, 1)->st, "same address, other service");
	cr_expect_eq(api->backends[0].st->h.oidx, 0, "a new service has a detector of its own");
	cr_expect_eq(atomic_load(&be(g1, 0, 1)->st->refs), 2);
	runtime_put(g1);
	cr_expect_eq(atomic_load(&web->backends[0].st->refs), 1, "g1 let go of it");
	runtime_put(g2);
}

Test(generation, adopting_keeps_ejections_and_drains_removed_backends)
{
	struct lb_runtime *g1 = runtime_new(load(BASE));
	struct lb_service *w1 = &g1->services[0];
	uint64_t now = 1000000;

	/* initial_state not_ready (the default with readiness): the first verdicts. */
	feed(be(g1, 0, 0), 1, 1, now);
	feed(be(g1, 0, 1), 1, 1, now);
	/* Eject 9002 with outlier failures (5 by default). */
	for (int i = 0; i < 5; i++)
		backend_session_outcome(be(g1, 0, 1), 0, 0, "connect refused", now);
	cr_assert_eq(atomic_load(&be(g1, 0, 1)->st->state), BACKEND_EJECTED);

	const char *y = "global:\n"
			"  workers: 2\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    health:\n"
			"      readiness: {type: http, path: /ready, interval: 1s}\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9003\n"
			"      - address: 127.0.0.1:9002\n";
	struct lb_runtime *g2 = runtime_next(g1, load(y));
	struct lb_service *w2 = &g2->services[0];
	backend_adopt_generation(w2, w1, now + 10);

	struct lb_backend *b9002 = &w2->backends[1], *b9003 = &w2->backends[0];
	cr_expect_eq(b9002->st->h.oidx, 1);
	cr_expect_eq(b9003->st->h.oidx, 0);
	cr_expect_eq(atomic_load(&b9002->st->state), BACKEND_EJECTED, "the ejection goes on");
	cr_expect_eq(atomic_load(&b9003->st->state), BACKEND_NOT_READY,
		"added by a reload: no session before its first verdict");
	feed(b9003, 1, 1, now + 10);
	cr_expect_eq(atomic_load(&b9003->st->state), BACKEND_READY);
	cr_expect_eq(atomic_load(&be(g1, 0, 0)->st->state), BACKEND_DRAINING, "9001 was removed");
	cr_expect(be(g1, 0, 0)->st->h.removed);
	cr_expect_eq(be(g1, 0, 0)->st->h.oidx, SIZE_MAX);
	/* A session of the old generation reporting on the removed backend changes nothing. */
	backend_session_outcome(be(g1, 0, 0), 0, 0, "connect refused", now + 20);
	cr_expect_eq(atomic_load(&be(g1, 0, 0)->st->state), BACKEND_DRAINING);
	/* The ejection ends on time, through the new detector's indexes. */
	backend_tick(w2, now + 10 * 60 * 1000);
	cr_expect_eq(atomic_load(&b9002->st->trial), 1, "ejection over: a trial on offer");
	runtime_put(g1);
	runtime_put(g2);
}

Test(generation, a_changed_check_restarts_its_count_an_unchanged_one_does_not)
{
	struct lb_runtime *g1 = runtime_new(load(BASE));
	uint64_t now = 5000;

	/* 9001 fully up (health at its top); 9002 down. */
	feed(be(g1, 0, 0), 1, 5, now);
	feed(be(g1, 0, 1), 0, 5, now);
	cr_assert_eq(atomic_load(&be(g1, 0, 1)->st->state), BACKEND_NOT_READY);
	uint16_t top = be(g1, 0, 0)->st->h.ready.health;

	struct lb_runtime *g2 = runtime_next(g1, load(BASE));
	backend_adopt_generation(&g2->services[0], &g1->services[0], now);
	cr_expect_eq(be(g2, 0, 0)->st->h.ready.health, top, "unchanged: the count goes on");
	cr_expect_eq(atomic_load(&be(g2, 0, 1)->st->state), BACKEND_NOT_READY);

	const char *y = "global:\n"
			"  workers: 2\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    health:\n"
			"      readiness: {type: http, path: /healthz, interval: 1s, rise: 3}\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n"
			"      - address: 127.0.0.1:9002\n";
	struct lb_runtime *g3 = runtime_next(g2, load(y));
	backend_adopt_generation(&g3->services[0], &g2->services[0], now);
	cr_expect_eq(be(g3, 0, 0)->st->h.ready.rise, 3);
	cr_expect_eq(be(g3, 0, 0)->st->h.ready.health, 3, "restarted: up, but unproven");
	cr_expect_eq(atomic_load(&be(g3, 0, 0)->st->state), BACKEND_READY);
	cr_expect_eq(be(g3, 0, 1)->st->h.ready.health, 0, "restarted: down stays down");
	feed(be(g3, 0, 1), 1, 2, now);
	cr_expect_eq(atomic_load(&be(g3, 0, 1)->st->state), BACKEND_NOT_READY, "rise is 3 now");
	feed(be(g3, 0, 1), 1, 1, now);
	cr_expect_eq(atomic_load(&be(g3, 0, 1)->st->state), BACKEND_READY);
	runtime_put(g1);
	runtime_put(g2);
	runtime_put(g3);
}

Test(generation, a_removed_service_drains_every_backend)
{
	struct lb_runtime *g1 = runtime_new(load(BASE));

	backend_retire_service(&g1->services[0], 1);
	cr_expect_eq(atomic_load(&be(g1, 0, 0)->st->state), BACKEND_DRAINING);
	cr_expect_eq(atomic_load(&be(g1, 0, 1)->st->state), BACKEND_DRAINING);
	cr_expect_str_eq(be(g1, 0, 1)->st->h.reason, "removed from the configuration");
	runtime_put(g1);
}

Test(outlier_remap, carries_state_by_mapping)
{
	struct outlier_conf oc = {.consecutive_failures = 1,
		.base_ejection_ms = 1000,
		.max_ejection_ms = 10000,
		.max_ejection_percent = 100};
	struct outlier *o = outlier_new(&oc, 3);

	cr_assert_eq(outlier_report(o, 2, 0, 100), OUTLIER_EV_EJECTED);
	size_t from[2] = {2, SIZE_MAX};
	struct outlier *n = outlier_remap(o, &oc, 2, from);
	cr_assert_not_null(n);
	cr_expect_eq(outlier_state(n, 0), OUTLIER_EJECTED);
	cr_expect_eq(outlier_ejected_until(n, 0), 1100);
	cr_expect_eq(outlier_state(n, 1), OUTLIER_OK);
	cr_expect_eq(outlier_ejected_count(n), 1);
	outlier_free(o);
	outlier_free(n);
}

Test(reload_check, refuses_a_new_user)
{
	char *text;
	const char *y = "global:\n"
			"  workers: 2\n"
			"  user: nobody\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    backends:\n"
			"      - address: 127.0.0.1:9001\n";

	cr_expect_eq(reload_check(BASE, y, &text), -EINVAL);
	cr_expect_str_eq(text, "t.yaml:3:3: global.user and global.group cannot change on "
			       "reload: restart anylb to apply them\n");
	free(text);
}

/* ---- the service-level edge ------------------------------------------------------------------ */

/* stderr (where lib/log writes) into a temporary file from now on; returns its fd. */
static int capture_stderr(void)
{
	char path[] = "/tmp/anylb-test-log-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	fflush(stderr);
	cr_assert_geq(dup2(fd, 2), 0);
	return fd;
}

/* How many lines written since capture_stderr() contain needle. */
static int captured(int fd, const char *needle)
{
	static char buf[1 << 16];
	int n = 0;

	fflush(stderr);
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_geq(len, 0);
	buf[len] = '\0';
	for (const char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#define EDGE                                                                                       \
	"global:\n"                                                                                \
	"  workers: 1\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: [\"127.0.0.1:8080\"]\n"                                                       \
	"    health:\n"                                                                            \
	"      readiness: {type: tcp, interval: 1s, rise: 1, fall: 1}\n"                           \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"                                                        \
	"      - address: 127.0.0.1:9002\n"

#define NONE  "service web: no usable backend (2 backends: 2 not_ready): new clients are refused"
#define AGAIN "service web: usable again (1 of 2 backends ready)"

/*
 * Issue 11, defect 7: a service that loses its last usable backend says so once, with the
 * states of its backends, and once when one is back; start-up (first verdicts still awaited)
 * is not an outage.
 */
Test(generation, a_service_logs_losing_its_last_usable_backend_once_and_its_recovery)
{
	int log = capture_stderr();
	struct lb_runtime *g = runtime_new(load(EDGE));
	uint64_t now = 1000;

	backend_tick(&g->services[0], now); /* the monitor's first tick: it runs this generation */
	feed(be(g, 0, 0), 0, 1, now);
	cr_expect_eq(captured(log, "no usable backend"), 0, "9002 has not answered yet");
	feed(be(g, 0, 1), 0, 1, now);
	cr_expect_eq(captured(log, NONE), 1, "every first verdict failed");
	feed(be(g, 0, 0), 0, 3, now);
	feed(be(g, 0, 1), 0, 3, now);
	cr_expect_eq(captured(log, "no usable backend"), 1, "once, not per check");
	feed(be(g, 0, 1), 1, 1, now);
	cr_expect_eq(captured(log, AGAIN), 1);
	feed(be(g, 0, 0), 1, 1, now);
	cr_expect_eq(captured(log, "usable again"), 1, "the second ready backend is no edge");

	/* Across a reload the count follows the new generation; a drain counts as unusable. */
	struct lb_runtime *g2 = runtime_next(g, load(EDGE));
	backend_adopt_generation(&g2->services[0], &g->services[0], now);
	cr_expect_eq(captured(log, "no usable backend"), 1);
	backend_set_draining(be(g2, 0, 0), 1, "operator drain", now);
	backend_set_draining(be(g2, 0, 1), 1, "operator drain", now);
	cr_expect_eq(captured(log,
			     "service web: no usable backend (2 backends: 2 draining): new clients "
			     "are refused"),
		1);
	/* A removed service is gone, not down. */
	backend_set_draining(be(g2, 0, 0), 0, "operator enable", now);
	cr_expect_eq(captured(log, "usable again"), 2);
	backend_retire_service(&g2->services[0], now);
	cr_expect_eq(captured(log, "no usable backend"), 2);
	runtime_put(g);
	runtime_put(g2);
	close(log);
}

/*
 * Issue 11, defect 3: after a reload changed a weight, the weight reported (backend_weight, what
 * /status and /metrics show) is the one balancing uses in that generation, and the shared
 * eff_weight follows it (it used to keep the first configuration's value for good).
 */
Test(generation, a_reloaded_weight_is_the_weight_reported)
{
	struct lb_runtime *g1 = runtime_new(load(BASE));
	const char *y = "global:\n"
			"  workers: 2\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"127.0.0.1:8080\"]\n"
			"    health:\n"
			"      readiness: {type: http, path: /ready, interval: 1s}\n"
			"    backends:\n"
			"      - {address: 127.0.0.1:9001, weight: 7}\n"
			"      - address: 127.0.0.1:9002\n";

	cr_expect_eq(backend_weight(be(g1, 0, 0)), 100);
	struct lb_runtime *g2 = runtime_next(g1, load(y));
	cr_expect_eq(backend_weight(be(g2, 0, 0)), 7, "before the monitor adopts it, too");
	uint64_t gen = atomic_load(&g2->services[0].st->weights_gen);
	backend_adopt_generation(&g2->services[0], &g1->services[0], 1000);
	cr_expect_eq(backend_weight(be(g2, 0, 0)), 7);
	cr_expect_eq(atomic_load(&be(g2, 0, 0)->st->eff_weight), 7);
	cr_expect_gt(atomic_load(&g2->services[0].st->weights_gen), gen, "workers are told");
	cr_expect_eq(backend_weight(be(g2, 0, 1)), 100);
	runtime_put(g1);
	runtime_put(g2);
}

/* A service of n backends 10.x.y.z:80, listed from offset `first` (a rotation) on. */
static char *many(size_t n, size_t first)
{
	size_t cap = 128 + n * 40, len = 0;
	char *y = malloc(cap);

	cr_assert_not_null(y);
	len += (size_t)snprintf(y + len, cap - len,
		"services:\n  - name: big\n    listen: [\"127.0.0.1:8080\"]\n    backends:\n");
	for (size_t i = 0; i < n; i++) {
		size_t k = (first + i) % n;
		len += (size_t)snprintf(y + len, cap - len, "      - address: 10.%zu.%zu.%zu:80\n",
			(k >> 16) & 255, (k >> 8) & 255, k & 255);
	}
	return y;
}

Test(generation, thousands_of_backends_are_matched_by_address_in_any_order)
{
	const size_t n = 10000;                      /* the documented maximum per service */
	char *a = many(n, 0), *b = many(n - 1, 777); /* one fewer, listed from another place */
	struct lb_runtime *g1 = runtime_new(load(a));
	struct lb_runtime *g2 = runtime_next(g1, load(b));
	struct lb_service *s1 = &g1->services[0], *s2 = &g2->services[0];
	size_t kept = 0;

	cr_assert_not_null(g2);
	for (size_t j = 0; j < s2->conf->nbackends; j++) {
		struct lb_backend *old = runtime_backend_by_state(s1, s2->backends[j].st);
		cr_assert_not_null(old, "%s kept", s2->backends[j].conf->address);
		cr_assert_str_eq(old->conf->address, s2->backends[j].conf->address);
		kept++;
	}
	cr_expect_eq(kept, n - 1);
	/* The one left out, 9999 = n - 1 (10.0.39.15), is not in g2. */
	size_t gone = 0;
	for (size_t j = 0; j < s1->conf->nbackends; j++)
		if (runtime_backend_by_state(s2, s1->backends[j].st) == NULL) {
			gone++;
			cr_expect_str_eq(s1->backends[j].conf->address, "10.0.39.15:80");
		}
	cr_expect_eq(gone, 1);
	runtime_put(g1);
	runtime_put(g2);
	free(a);
	free(b);
}

#define EDGE_Y(allow, rate)                                                                        \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: [\"127.0.0.1:8080\"]\n"                                                       \
	"    allow: " allow "\n"                                                                   \
	"    rate_limit: {rate: " rate "}\n"                                                       \
	"    tcp_keepalive: {client: {idle: 30s}}\n"                                               \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"

Test(reload_check, allows_the_edge_knobs_to_change)
{
	char *text;

	cr_expect_eq(reload_check(BASE, EDGE_Y("10.0.0.0/8", "5/s"), &text), 0, "%s", text);
	cr_expect_str_eq(text, "");
	free(text);
	cr_expect_eq(reload_check(EDGE_Y("10.0.0.0/8", "5/s"),
			     EDGE_Y("[10.0.0.0/8, 127.0.0.1]", "9/s"), &text),
		0, "%s", text);
	free(text);
	cr_expect_eq(reload_check(EDGE_Y("10.0.0.0/8", "5/s"), BASE, &text), 0, "%s", text);
	free(text);
}

Test(generation, a_rate_limit_table_is_kept_while_its_settings_are)
{
	struct lb_runtime *g1 = runtime_new(load(EDGE_Y("10.0.0.0/8", "5/s")));

	cr_assert_not_null(g1);
	cr_assert_not_null(g1->services[0].rl);
	struct lb_runtime *g2 = runtime_next(g1, load(EDGE_Y("127.0.0.1", "5/s")));
	cr_assert_not_null(g2);
	cr_expect_eq(g2->services[0].rl, g1->services[0].rl, "the same rate_limit: kept buckets");
	struct lb_runtime *g3 = runtime_next(g2, load(EDGE_Y("127.0.0.1", "6/s")));
	cr_assert_not_null(g3);
	cr_expect_neq(g3->services[0].rl, g2->services[0].rl, "a changed rate: a new table");
	struct lb_runtime *g4 = runtime_next(g3, load(BASE));
	cr_assert_not_null(g4);
	cr_expect_null(g4->services[0].rl, "no rate_limit, no table");
	runtime_put(g1);
	runtime_put(g2);
	runtime_put(g3);
	runtime_put(g4);
}

Test(reload_check, refuses_a_changed_flow_handoff)
{
#define FLOW_Y(peers)                                                                              \
	"bgp:\n  flow_handoff:\n    interfaces: [eth0]\n    self: 10.1.0.1\n"                      \
	"    peers: " peers "\n"                                                                   \
	"services:\n  - name: web\n    listen: [\"127.0.0.1:8080\"]\n"                             \
	"    backends:\n      - address: 127.0.0.1:9001\n"
	char *text;

	cr_expect_eq(
		reload_check(FLOW_Y("[10.1.0.2, 10.1.0.3]"), FLOW_Y("[10.1.0.2, 10.1.0.3]"), &text),
		0, "%s", text);
	free(text);
	/* The same peers in another order are another ring. */
	cr_expect_eq(
		reload_check(FLOW_Y("[10.1.0.2, 10.1.0.3]"), FLOW_Y("[10.1.0.3, 10.1.0.2]"), &text),
		-EINVAL);
	cr_expect(strstr(text, "t.yaml:1:1: bgp cannot change on reload") != NULL, "%s", text);
	free(text);
#undef FLOW_Y
}
