/*
 * DOC: redundancy report tests
 *
 * Injected backends (zone, weight, max_connections, ready) and loads; the expected N+k worked out
 * by hand in each comment. Covers the four capacity rules of lb/redundancy.h, zones against
 * zoneless backends, readiness, zero load, overload and a large service.
 */
#include <criterion/criterion.h>

#include "lb/redundancy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct redundancy_report run(
	const struct redundancy_backend *b, size_t n, unsigned svc_max, uint64_t load)
{
	struct redundancy_report r;
	cr_assert_eq(redundancy_compute(b, n, svc_max, load, &r), 0);
	cr_expect_eq(r.load, load);
	return r;
}

Test(redundancy, three_zones_by_max_connections)
{
	/* a: 100 + 100, b: 150, c: 50. Total 400. */
	const struct redundancy_backend b[] = {
		{"a", 100, 100, 1},
		{"a", 100, 100, 1},
		{"b", 100, 150, 1},
		{"c", 100, 50, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 0);
	cr_expect_eq(r.domains, 3);
	cr_expect_eq(r.capacity, 400);
	cr_expect_eq(r.largest, 200);
	cr_expect_str_eq(r.largest_zone, "a");
	cr_expect_eq(r.k, 2, "no load: every domain but one can go");
	cr_expect_eq(r.overloaded, 0);

	/* Losing a leaves 200, then b leaves 50. */
	cr_expect_eq(run(b, N(b), 0, 50).k, 2);
	cr_expect_eq(run(b, N(b), 0, 51).k, 1);
	cr_expect_eq(run(b, N(b), 0, 200).k, 1);
	cr_expect_eq(run(b, N(b), 0, 201).k, 0);
	cr_expect_eq(run(b, N(b), 0, 400).k, 0);
	r = run(b, N(b), 0, 401);
	cr_expect_eq(r.k, 0);
	cr_expect_eq(r.overloaded, 1);
}

Test(redundancy, zoneless_backends_are_domains_of_their_own)
{
	const struct redundancy_backend b[] = {
		{NULL, 100, 100, 1},
		{NULL, 100, 100, 1},
		{NULL, 100, 100, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 150);
	cr_expect_eq(r.domains, 3);
	cr_expect_eq(r.k, 1, "300 - 100 = 200 >= 150, 200 - 100 = 100 < 150");
	cr_expect_null(r.largest_zone);

	/* The same backends in one zone: one domain, N+0 whatever the load. */
	const struct redundancy_backend z[] = {
		{"a", 100, 100, 1},
		{"a", 100, 100, 1},
		{"a", 100, 100, 1},
	};
	r = run(z, N(z), 0, 0);
	cr_expect_eq(r.domains, 1);
	cr_expect_eq(r.k, 0);
	cr_expect_eq(r.capacity, 300);
}

Test(redundancy, mixed_zones_and_zoneless)
{
	/* a: 300 (two backends), NULL: 100, NULL: 100, b: 100. */
	const struct redundancy_backend b[] = {
		{"a", 1, 150, 1},
		{NULL, 1, 100, 1},
		{"b", 1, 100, 1},
		{"a", 1, 150, 1},
		{NULL, 1, 100, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 0);
	cr_expect_eq(r.domains, 4);
	cr_expect_eq(r.k, 3);
	cr_expect_eq(r.largest, 300);
	cr_expect_eq(run(b, N(b), 0, 300).k, 1, "600 - 300 = 300 >= 300, then 200 < 300");
	cr_expect_eq(run(b, N(b), 0, 200).k, 2);
	cr_expect_eq(run(b, N(b), 0, 100).k, 3);
}

Test(redundancy, only_ready_backends_count)
{
	const struct redundancy_backend b[] = {
		{"a", 100, 100, 1},
		{"a", 100, 100, 0},
		{"b", 100, 100, 1},
		{"c", 100, 100, 0},
	};
	struct redundancy_report r = run(b, N(b), 0, 100);
	cr_expect_eq(r.domains, 2, "c has no ready backend");
	cr_expect_eq(r.capacity, 200);
	cr_expect_eq(r.k, 1);
	cr_expect_eq(run(b, N(b), 0, 101).k, 0);

	const struct redundancy_backend none[] = {
		{"a", 100, 100, 0},
		{"b", 100, 100, 0},
	};
	r = run(none, N(none), 0, 0);
	cr_expect_eq(r.domains, 0);
	cr_expect_eq(r.k, 0);
	cr_expect_eq(r.capacity, 0);
	cr_expect_eq(r.overloaded, 1, "no ready backend: cannot carry even nothing");
	r = run(NULL, 0, 0, 0);
	cr_expect_eq(r.domains, 0);
	cr_expect_eq(r.overloaded, 1);
}

Test(redundancy, weight_is_priced_by_the_backends_with_a_limit)
{
	/*
	 * Limited: 200 sessions for weight 100 (2 per unit). x (weight 50) is worth 100, y (weight
	 * 300) 600. Domains: a 200, b 100, c 600. Total 900.
	 */
	const struct redundancy_backend b[] = {
		{"a", 100, 200, 1},
		{"b", 50, 0, 1},
		{"c", 300, 0, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 0);
	cr_expect_eq(r.capacity, 900);
	cr_expect_eq(r.largest, 600);
	cr_expect_str_eq(r.largest_zone, "c");
	cr_expect_eq(run(b, N(b), 0, 300).k, 1, "900 - 600 = 300");
	cr_expect_eq(run(b, N(b), 0, 301).k, 0);
	cr_expect_eq(run(b, N(b), 0, 100).k, 2, "then 300 - 200 = 100");

	/* The anchor uses every backend, ready or not: a down limited backend still prices. */
	const struct redundancy_backend d[] = {
		{"a", 100, 200, 0},
		{"b", 100, 0, 1},
		{"c", 100, 0, 1},
	};
	r = run(d, N(d), 0, 200);
	cr_expect_eq(r.capacity, 400);
	cr_expect_eq(r.k, 1);
}

Test(redundancy, service_limit_shared_by_weight)
{
	/* 1000 sessions over weights 100 + 100 + 200: 250, 250, 500. */
	const struct redundancy_backend b[] = {
		{"a", 100, 0, 1},
		{"b", 100, 0, 1},
		{"c", 200, 0, 1},
	};
	struct redundancy_report r = run(b, N(b), 1000, 0);
	cr_expect_eq(r.capacity, 1000);
	cr_expect_eq(r.largest, 500);
	cr_expect_eq(run(b, N(b), 1000, 500).k, 1);
	cr_expect_eq(run(b, N(b), 1000, 250).k, 2);
	cr_expect_eq(run(b, N(b), 1000, 501).k, 0);
	/* A backend limit wins over the service's: rule 2 before rule 3. */
	const struct redundancy_backend m[] = {
		{"a", 100, 10, 1},
		{"b", 100, 0, 1},
	};
	r = run(m, N(m), 1000, 0);
	cr_expect_eq(r.capacity, 20);
}

Test(redundancy, no_limit_anywhere_is_unbounded)
{
	const struct redundancy_backend b[] = {
		{"a", 100, 0, 1},
		{"b", 100, 0, 1},
		{"b", 100, 0, 1},
		{NULL, 1, 0, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 1000000);
	cr_expect_eq(r.domains, 3);
	cr_expect_eq(r.capacity, REDUNDANCY_UNBOUNDED);
	cr_expect_eq(r.largest, REDUNDANCY_UNBOUNDED);
	cr_expect_eq(r.k, 2);
	cr_expect_eq(r.overloaded, 0);
}

Test(redundancy, text)
{
	struct redundancy_report r = {.k = 2};
	char buf[16];
	cr_expect_str_eq(redundancy_text(&r, buf, sizeof(buf)), "N+2");
	r.k = 0;
	cr_expect_str_eq(redundancy_text(&r, buf, sizeof(buf)), "N+0");
}

Test(redundancy, large_service)
{
	/* 10,000 backends in 100 zones of 100, each backend 10 sessions: 1000 per zone. */
	size_t n = 10000;
	struct redundancy_backend *b = calloc(n, sizeof(*b));
	char(*zones)[8] = calloc(100, sizeof(*zones));
	cr_assert(b != NULL && zones != NULL);
	for (size_t z = 0; z < 100; z++)
		snprintf(zones[z], sizeof(zones[z]), "z%zu", z);
	for (size_t i = 0; i < n; i++)
		b[i] = (struct redundancy_backend){zones[i % 100], 1, 10, 1};
	struct redundancy_report r = run(b, n, 0, 90000);
	cr_expect_eq(r.domains, 100);
	cr_expect_eq(r.capacity, 100000);
	cr_expect_eq(r.k, 10);
	free(b);
	free(zones);
}

Test(redundancy, the_example_of_admin_md)
{
	/* docs/ADMIN.md: zones a (100 + 100), b (150), a zoneless weight-50 backend priced at 58.
	 */
	const struct redundancy_backend b[] = {
		{"a", 100, 100, 1},
		{"a", 100, 100, 1},
		{"b", 100, 150, 1},
		{NULL, 50, 0, 1},
	};
	struct redundancy_report r = run(b, N(b), 0, 200);
	cr_expect_eq(r.capacity, 408);
	cr_expect_eq(r.k, 1);
	cr_expect_eq(run(b, N(b), 0, 250).k, 0, "408 - 200 = 208 < 250");
}
