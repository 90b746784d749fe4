/*
 * DOC: unit tests for the announcer's "listener bound" input (lb/listener.c, lb/announcer.c)
 *
 * A service must never stay announced without a bound listener behind it (a black hole). Real
 * workers (lb/worker.c, on loops that do not run) bind real sockets on loopback; the count of
 * the service's listening sockets follows them from start to close, and what the policy
 * (bgp/policy.c) is told says "listener not bound" once nothing listens any more.
 */
#include "bgp/policy.h"
#include "lb/announcer.h"
#include "lb/runtime.h"
#include "lb/worker.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

TestSuite(listeners_bound, .fini = sc_cleanup);

static struct lb_runtime *runtime_of(const char *listen)
{
	char y[1024];
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	snprintf(y, sizeof(y),
		"bgp: {announce: interface}\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    anycast: {prefixes: [192.0.2.10/32], min_ready: 1}\n"
		"    backends:\n"
		"      - address: 127.0.0.1:9\n",
		listen);
	int rc = conf_load_buffer("t.yaml", y, strlen(y), &c, &errs);
	if (rc < 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0);
	struct lb_runtime *rt = runtime_new(c);
	cr_assert_not_null(rt);
	return rt;
}

/* What the policy makes of svc now: 1 healthy, 0 not, with why. */
static int verdict(const struct lb_service *svc, char *why, size_t cap)
{
	struct anycast_policy p;
	struct anycast_policy_conf pc = {.min_ready = 1, .announce_delay_ms = 0};
	struct anycast_health h;

	anycast_init(&p, &pc);
	announcer_service_health(svc, &h);
	return anycast_evaluate(&p, &h, why, cap);
}

Test(listeners_bound, not_bound_means_not_announced)
{
	char listen[SC_ADDRSTRLEN], why[128];
	struct worker w[2];

	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	struct lb_runtime *rt = runtime_of(listen);
	struct lb_service *svc = &rt->services[0];

	cr_expect_eq(verdict(svc, why, sizeof(why)), 0, "nothing listens before a worker");
	cr_expect_str_eq(why, "listener not bound");

	for (int i = 0; i < 2; i++)
		cr_assert_eq(worker_init(&w[i], (unsigned)i, rt, NULL), 0);
	cr_expect_eq(atomic_load(&svc->st->listening), 2, "one socket per worker");
	cr_expect_eq(verdict(svc, why, sizeof(why)), 1, "%s", why);

	/* One worker gone: the address is still served. */
	worker_destroy(&w[1]);
	cr_expect_eq(atomic_load(&svc->st->listening), 1);
	cr_expect_eq(verdict(svc, why, sizeof(why)), 1, "%s", why);

	/* The last socket closed: whatever the backends say, not announced. */
	worker_destroy(&w[0]);
	cr_expect_eq(atomic_load(&svc->st->listening), 0);
	cr_expect_eq(verdict(svc, why, sizeof(why)), 0);
	cr_expect_str_eq(why, "listener not bound");
	runtime_put(rt);
}
