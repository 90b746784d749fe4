/*
 * DOC: backend state tests
 *
 * SPEC.md's "Backend states" table, row by row, then every one of the 64 combinations of
 * inputs against the precedence dead > draining > not_ready > ejected > ready, the operator's
 * maint over all but dead, and the names that `status`, the JSON and the metrics carry.
 */
#include "health/state.h"

#include <criterion/criterion.h>

#include <string.h>

static enum backend_state eval(int le, int lu, int re, int ru, int ej, int dr)
{
	struct backend_inputs in = {
		.live_enabled = le,
		.live_up = lu,
		.ready_enabled = re,
		.ready_up = ru,
		.ejected = ej,
		.draining = dr,
	};
	return backend_state_eval(&in);
}

/* One row per state, with nothing else in the way. */
Test(state, table_rows)
{
	/* ready: readiness passed and liveness passing */
	cr_assert_eq(eval(1, 1, 1, 1, 0, 0), BACKEND_READY);
	/* no checks configured at all: ready */
	cr_assert_eq(eval(0, 0, 0, 0, 0, 0), BACKEND_READY);
	/* not_ready: readiness failed */
	cr_assert_eq(eval(1, 1, 1, 0, 0, 0), BACKEND_NOT_READY);
	cr_assert_eq(eval(0, 0, 1, 0, 0, 0), BACKEND_NOT_READY);
	/* dead: liveness failed */
	cr_assert_eq(eval(1, 0, 1, 1, 0, 0), BACKEND_DEAD);
	cr_assert_eq(eval(1, 0, 0, 0, 0, 0), BACKEND_DEAD);
	/* ejected: passive outlier detection */
	cr_assert_eq(eval(1, 1, 1, 1, 1, 0), BACKEND_EJECTED);
	cr_assert_eq(eval(0, 0, 0, 0, 1, 0), BACKEND_EJECTED);
	/* draining: operator drain or removed on reload */
	cr_assert_eq(eval(1, 1, 1, 1, 0, 1), BACKEND_DRAINING);
	cr_assert_eq(eval(0, 0, 0, 0, 0, 1), BACKEND_DRAINING);
}

/*
 * initial_state: not_ready: until the first verdict a backend is not_ready even with its
 * counters up (they start up, HAProxy's convention, so that the first verdict decides); dead
 * and draining still win, and ejection cannot make it ready.
 */
Test(state, first_verdict_pending_is_not_ready)
{
	struct backend_inputs in = {.live_enabled = 1,
		.live_up = 1,
		.ready_enabled = 1,
		.ready_up = 1,
		.first_pending = 1};
	cr_assert_eq(backend_state_eval(&in), BACKEND_NOT_READY);
	in.ready_enabled = 0; /* liveness alone vouches */
	cr_assert_eq(backend_state_eval(&in), BACKEND_NOT_READY);
	in.ejected = 1;
	cr_assert_eq(backend_state_eval(&in), BACKEND_NOT_READY);
	in.draining = 1;
	cr_assert_eq(backend_state_eval(&in), BACKEND_DRAINING);
	in.live_up = 0;
	cr_assert_eq(backend_state_eval(&in), BACKEND_DEAD);
	in = (struct backend_inputs){
		.live_enabled = 1, .live_up = 1, .ready_enabled = 1, .ready_up = 1};
	cr_assert_eq(backend_state_eval(&in), BACKEND_READY, "the verdict came: ready");
}

/* A disabled check never counts, whatever its up flag says. */
Test(state, disabled_checks_ignored)
{
	cr_assert_eq(eval(0, 0, 0, 0, 0, 0), BACKEND_READY);
	cr_assert_eq(eval(0, 1, 0, 1, 0, 0), BACKEND_READY);
	cr_assert_eq(eval(0, 0, 1, 1, 0, 0), BACKEND_READY);
	cr_assert_eq(eval(1, 1, 0, 0, 0, 0), BACKEND_READY);
}

/* The precedence, pair by pair. */
Test(state, precedence)
{
	cr_assert_eq(eval(1, 0, 0, 0, 0, 1), BACKEND_DEAD, "dead beats draining");
	cr_assert_eq(eval(1, 0, 1, 0, 0, 0), BACKEND_DEAD, "dead beats not_ready");
	cr_assert_eq(eval(1, 0, 0, 0, 1, 0), BACKEND_DEAD, "dead beats ejected");
	cr_assert_eq(eval(0, 0, 1, 0, 0, 1), BACKEND_DRAINING, "draining beats not_ready");
	cr_assert_eq(eval(0, 0, 0, 0, 1, 1), BACKEND_DRAINING, "draining beats ejected");
	cr_assert_eq(eval(0, 0, 1, 0, 1, 0), BACKEND_NOT_READY, "not_ready beats ejected");
	cr_assert_eq(eval(1, 0, 1, 0, 1, 1), BACKEND_DEAD, "everything at once");
}

/* All 64 combinations. */
Test(state, exhaustive)
{
	int seen[5] = {0};

	for (unsigned bits = 0; bits < 64; bits++) {
		int le = bits & 1, lu = !!(bits & 2), re = !!(bits & 4), ru = !!(bits & 8);
		int ej = !!(bits & 16), dr = !!(bits & 32);
		enum backend_state want, got = eval(le, lu, re, ru, ej, dr);

		if (le && !lu)
			want = BACKEND_DEAD;
		else if (dr)
			want = BACKEND_DRAINING;
		else if (re && !ru)
			want = BACKEND_NOT_READY;
		else if (ej)
			want = BACKEND_EJECTED;
		else
			want = BACKEND_READY;
		cr_assert_eq(got, want, "inputs %02x: got %s, want %s", bits,
			backend_state_name(got), backend_state_name(want));
		seen[got]++;
	}
	/* dead: half of the 32 with liveness enabled */
	cr_assert_eq(seen[BACKEND_DEAD], 16);
	cr_assert_eq(seen[BACKEND_DRAINING], 24);
	cr_assert_eq(seen[BACKEND_NOT_READY], 6);
	cr_assert_eq(seen[BACKEND_EJECTED], 9);
	cr_assert_eq(seen[BACKEND_READY], 9);
}

/* Only the 0/1-ness of the inputs matters. */
Test(state, truthy_inputs)
{
	cr_assert_eq(eval(7, 0, 0, 0, 0, 0), BACKEND_DEAD);
	cr_assert_eq(eval(7, -1, 7, 0, 0, 0), BACKEND_NOT_READY);
	cr_assert_eq(eval(0, 0, 0, 0, 42, 0), BACKEND_EJECTED);
	cr_assert_eq(eval(0, 0, 0, 0, 0, 42), BACKEND_DRAINING);
}

Test(state, names)
{
	cr_assert_str_eq(backend_state_name(BACKEND_READY), "ready");
	cr_assert_str_eq(backend_state_name(BACKEND_NOT_READY), "not_ready");
	cr_assert_str_eq(backend_state_name(BACKEND_DEAD), "dead");
	cr_assert_str_eq(backend_state_name(BACKEND_EJECTED), "ejected");
	cr_assert_str_eq(backend_state_name(BACKEND_DRAINING), "draining");
	cr_assert_str_eq(backend_state_name(BACKEND_MAINT), "maint");
	cr_assert_str_eq(backend_state_name((enum backend_state)99), "unknown");
}

/* maint: every one of the 64 other combinations with maint set is maint, but for dead. */
Test(state, maint_beats_all_but_dead)
{
	size_t nmaint = 0;

	for (unsigned bits = 0; bits < 64; bits++) {
		struct backend_inputs in = {
			.live_enabled = bits & 1,
			.live_up = !!(bits & 2),
			.ready_enabled = !!(bits & 4),
			.ready_up = !!(bits & 8),
			.ejected = !!(bits & 16),
			.draining = !!(bits & 32),
			.maint = 1,
		};
		enum backend_state want =
			(in.live_enabled && !in.live_up) ? BACKEND_DEAD : BACKEND_MAINT;
		enum backend_state got = backend_state_eval(&in);
		cr_assert_eq(got, want, "inputs %02x: got %s, want %s", bits,
			backend_state_name(got), backend_state_name(want));
		nmaint += got == BACKEND_MAINT;
		in.maint = 0;
		cr_assert_neq(
			backend_state_eval(&in), BACKEND_MAINT, "inputs %02x without maint", bits);
	}
	cr_assert_eq(nmaint, 48, "dead in 16 of the 64");
	struct backend_inputs first = {.live_enabled = 1, .live_up = 1, .first_pending = 1};
	first.maint = 1;
	cr_assert_eq(backend_state_eval(&first), BACKEND_MAINT, "maint beats the first verdict");
}
