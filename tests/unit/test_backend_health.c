/*
 * DOC: unit tests for the backend state machine (health/backend_health.c)
 *
 * Every transition of the diagram in backend_health.h, driven by one event at a time with the
 * time passed in: the initial state, liveness and readiness rise/fall, the first verdict of
 * initial_state not_ready, outlier ejection, its trial (offered, taken, abandoned, succeeded,
 * failed), a passing check restoring an ejected backend, operator drain and enable, removal by
 * a reload, slow start's ramp, the operator's maint and runtime weight (and what a reload does
 * to that weight). No sleep, no lock, no thread.
 */
#include "health/backend_health.h"
#include "health/slowstart.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

struct fixture {
	struct conf_service sc;
	struct outlier *o;
	struct bh_ctx c;
	struct backend_health h;
	struct bh_out out;
};

static void setup(struct fixture *f, int live, int ready, enum conf_initial_state init)
{
	memset(f, 0, sizeof(*f));
	f->sc.name = "web";
	f->sc.health.liveness.enabled = live;
	f->sc.health.liveness.rise = 2;
	f->sc.health.liveness.fall = 3;
	f->sc.health.readiness.enabled = ready;
	f->sc.health.readiness.rise = 2;
	f->sc.health.readiness.fall = 2;
	f->sc.initial_state = init;
	f->sc.outlier.consecutive_failures = 2;
	f->sc.outlier.base_ejection_ms = 1000;
	f->sc.outlier.max_ejection_ms = 10000;
	f->sc.outlier.max_ejection_percent = 100;
	struct outlier_conf oc = {
		.consecutive_failures = 2,
		.base_ejection_ms = 1000,
		.max_ejection_ms = 10000,
		.max_ejection_percent = 100,
	};
	f->o = outlier_new(&oc, 1);
	cr_assert_not_null(f->o);
	f->c = (struct bh_ctx){.sc = &f->sc, .gen = &f->sc, .o = f->o, .weight = 100};
	bh_init(&f->h, &f->sc, 100, 0);
}

static void teardown(struct fixture *f)
{
	outlier_free(f->o);
}

static int check(struct fixture *f, enum backend_check which, int ok, uint64_t now)
{
	return bh_check_result(
		&f->h, &f->c, which, ok, ok ? "ok" : "connect refused", now, &f->out);
}

/* out holds exactly one transition old -> new, with a reason starting with want. */
static void expect_transition(
	const struct fixture *f, enum backend_state old, enum backend_state st, const char *want)
{
	cr_assert_eq(f->out.n, 1, "%zu notes", f->out.n);
	const struct bh_note *n = &f->out.note[0];
	cr_expect_eq(n->kind, BH_TRANSITION);
	cr_expect_eq(n->old, old, "from %s", backend_state_name(n->old));
	cr_expect_eq(n->new, st, "to %s", backend_state_name(n->new));
	cr_expect_eq(strncmp(n->reason, want, strlen(want)), 0, "reason \"%s\", want \"%s...\"",
		n->reason, want);
	cr_expect_eq(f->h.state, st);
	cr_expect_str_eq(f->h.reason, n->reason, "the state keeps the transition's reason");
}

static void expect_none(const struct fixture *f)
{
	cr_expect_eq(f->out.n, 0, "no transition expected, got %zu", f->out.n);
}

Test(backend_health, initial_states)
{
	struct fixture f;

	setup(&f, 0, 0, CONF_INITIAL_NOT_READY);
	cr_expect_eq(f.h.state, BACKEND_READY, "no checks: ready whatever initial_state says");
	cr_expect_str_eq(f.h.reason, "no health checks");
	cr_expect_eq(f.h.eff_weight, 100);
	teardown(&f);

	setup(&f, 1, 0, CONF_INITIAL_READY);
	cr_expect_eq(f.h.state, BACKEND_READY);
	cr_expect_str_eq(f.h.reason, "not checked yet: taken as passing (initial_state: ready)");
	teardown(&f);

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	cr_expect_eq(f.h.state, BACKEND_NOT_READY);
	cr_expect(f.h.first_pending);
	cr_expect_str_eq(
		f.h.reason, "waiting for the first readiness check (initial_state: not_ready)");
	teardown(&f);
}

Test(backend_health, first_verdict_passes_and_fails)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 10);
	expect_none(&f);
	cr_expect(f.h.first_pending, "liveness does not vouch when there is readiness");
	check(&f, BACKEND_CHECK_READINESS, 1, 20);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "first readiness check passed");
	cr_expect_not(f.h.first_pending);
	teardown(&f);

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	check(&f, BACKEND_CHECK_READINESS, 0, 20);
	cr_assert_eq(f.out.n, 1);
	cr_expect_eq(f.out.note[0].kind, BH_FIRST_FAILED);
	cr_expect_str_eq(f.out.note[0].reason,
		"first readiness check failed: connect refused: stays not_ready");
	cr_expect_str_eq(f.h.reason, "readiness: connect refused");
	cr_expect_not(f.h.first_pending);
	/* Now down on its own count: rise passes bring it up. */
	check(&f, BACKEND_CHECK_READINESS, 1, 30);
	expect_none(&f);
	check(&f, BACKEND_CHECK_READINESS, 1, 40);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "readiness passed 2 times");
	teardown(&f);
}

Test(backend_health, first_verdict_gets_the_full_weight)
{
	struct fixture f;

	setup(&f, 0, 1, CONF_INITIAL_NOT_READY);
	f.sc.slow_start_ms = 10000;
	check(&f, BACKEND_CHECK_READINESS, 1, 50000);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "first readiness check passed");
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 100, "no slow start at start");
	bh_tick(&f.h, &f.c, 50001, &f.out);
	cr_expect_eq(f.h.eff_weight, 100);
	cr_expect_not(f.out.weight_changed);
	teardown(&f);
}

Test(backend_health, liveness_fall_and_rise)
{
	struct fixture f;

	setup(&f, 1, 0, CONF_INITIAL_READY);
	/* Fresh: at the bottom of the up range, so the first failure takes it down. */
	cr_expect_eq(check(&f, BACKEND_CHECK_LIVENESS, 0, 10), 0, "down is the bottom at once");
	expect_transition(&f, BACKEND_READY, BACKEND_DEAD, "liveness: connect refused");
	check(&f, BACKEND_CHECK_LIVENESS, 0, 20);
	expect_none(&f);
	cr_expect_str_eq(f.h.reason, "liveness: connect refused");
	cr_expect_eq(check(&f, BACKEND_CHECK_LIVENESS, 1, 30), 1, "changing: fast interval");
	expect_none(&f);
	cr_expect_str_eq(f.h.reason, "liveness passing again (1 of 2 passes before alive)");
	check(&f, BACKEND_CHECK_LIVENESS, 1, 40);
	expect_transition(&f, BACKEND_DEAD, BACKEND_READY, "liveness passed 2 times");
	/* From fully up, fall failures in a row. */
	check(&f, BACKEND_CHECK_LIVENESS, 1, 50);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 60);
	check(&f, BACKEND_CHECK_LIVENESS, 0, 70);
	expect_none(&f);
	cr_expect_str_eq(f.h.reason, "liveness: connect refused (1 of 3 failures before dead)");
	check(&f, BACKEND_CHECK_LIVENESS, 0, 80);
	check(&f, BACKEND_CHECK_LIVENESS, 0, 90);
	expect_transition(&f, BACKEND_READY, BACKEND_DEAD, "liveness: connect refused");
	teardown(&f);
}

Test(backend_health, readiness_fall_and_rise)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	check(&f, BACKEND_CHECK_READINESS, 0, 10);
	expect_transition(&f, BACKEND_READY, BACKEND_NOT_READY, "readiness: connect refused");
	check(&f, BACKEND_CHECK_READINESS, 1, 20);
	check(&f, BACKEND_CHECK_READINESS, 1, 30);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "readiness passed 2 times");
	/* Dead wins over not_ready: liveness down while readiness is down too. */
	check(&f, BACKEND_CHECK_READINESS, 1, 40);
	check(&f, BACKEND_CHECK_READINESS, 0, 50);
	check(&f, BACKEND_CHECK_READINESS, 0, 60);
	expect_transition(&f, BACKEND_READY, BACKEND_NOT_READY, "readiness: connect refused");
	check(&f, BACKEND_CHECK_LIVENESS, 0, 70);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_DEAD, "liveness: connect refused");
	teardown(&f);
}

/* Two failed sessions eject the backend (consecutive_failures 2), for base_ejection_ms. */
static void eject(struct fixture *f, uint64_t now)
{
	bh_session_outcome(&f->h, &f->c, 0, 0, "connect refused", now, &f->out);
	expect_none(f);
	bh_session_outcome(&f->h, &f->c, 0, 0, "connect refused", now, &f->out);
	expect_transition(f, BACKEND_READY, BACKEND_EJECTED,
		"outlier: 2 consecutive failures, last: connect refused; ejected for");
	cr_expect(f->out.ejected);
	cr_expect_not(bh_trial_offered(&f->h, &f->c));
}

static void on_tick(void *arg, size_t i, enum outlier_event ev)
{
	struct fixture *f = arg;

	cr_assert_eq(i, 0);
	cr_assert_eq(ev, OUTLIER_EV_TRIAL);
	bh_ejection_over(&f->h, &f->c, 0, &f->out);
}

/* The outlier tick at now: an ejection that is over offers one trial (the state stays). */
static void tick(struct fixture *f, uint64_t now)
{
	memset(&f->out, 0, sizeof(f->out));
	outlier_tick(f->o, now, on_tick, f);
}

static void expect_offer(const struct fixture *f)
{
	cr_assert_eq(f->out.n, 1);
	cr_expect_eq(f->out.note[0].kind, BH_TRIAL_OFFER);
	cr_expect_eq(f->h.state, BACKEND_EJECTED, "still ejected for new sessions");
	cr_expect(bh_trial_offered(&f->h, &f->c));
}

Test(backend_health, ejection_and_trial_succeeds)
{
	struct fixture f;

	setup(&f, 0, 0, CONF_INITIAL_READY);
	eject(&f, 1000);
	cr_expect_str_eq(f.h.reason, "outlier: 2 consecutive failures, last: connect refused; "
				     "ejected for 1s (ejection 1)");
	tick(&f, 1999);
	expect_none(&f);
	cr_expect_not(bh_trial_offered(&f.h, &f.c));
	tick(&f, 2000);
	expect_offer(&f);
	/* A session placed before the ejection reports: ignored while the trial is on. */
	bh_session_outcome(&f.h, &f.c, 0, 0, "reset", 2001, &f.out);
	expect_none(&f);
	cr_expect(bh_trial_offered(&f.h, &f.c));
	cr_expect_eq(bh_take_trial(&f.h, &f.c), 1);
	cr_expect_not(bh_trial_offered(&f.h, &f.c), "one trial only");
	cr_expect_eq(bh_take_trial(&f.h, &f.c), 0);
	bh_session_outcome(&f.h, &f.c, 1, 1, "ok", 2100, &f.out);
	expect_transition(&f, BACKEND_EJECTED, BACKEND_READY, "outlier: trial session succeeded");
	cr_expect_not(bh_trial_offered(&f.h, &f.c));
	teardown(&f);
}

Test(backend_health, trial_fails_abandoned_and_check_restores)
{
	struct fixture f;

	setup(&f, 1, 0, CONF_INITIAL_READY);
	eject(&f, 1000);
	tick(&f, 2000);
	expect_offer(&f);
	cr_expect_eq(bh_take_trial(&f.h, &f.c), 1);
	/* The trial session ended without a verdict: the trial is on offer again. */
	bh_trial_abandoned(&f.h, &f.c);
	cr_expect(bh_trial_offered(&f.h, &f.c));
	cr_expect_eq(bh_take_trial(&f.h, &f.c), 1);
	bh_session_outcome(&f.h, &f.c, 0, 1, "connect refused", 2100, &f.out);
	cr_assert_eq(f.out.n, 0, "ejected again: the state does not move");
	cr_expect(f.out.ejected);
	cr_expect_eq(f.h.state, BACKEND_EJECTED);
	cr_expect_not(bh_trial_offered(&f.h, &f.c));
	cr_expect_eq(outlier_ejected_until(f.o, 0), 2100 + 2000, "twice as long");
	/* A passing liveness check (the vouching one here) restores it at once. */
	check(&f, BACKEND_CHECK_LIVENESS, 1, 2200);
	expect_transition(&f, BACKEND_EJECTED, BACKEND_READY, "outlier: liveness check passed");
	teardown(&f);
}

Test(backend_health, trial_failure_reason)
{
	struct fixture f;

	setup(&f, 0, 0, CONF_INITIAL_READY);
	eject(&f, 1000);
	/* Drained meanwhile: the trial ends without a verdict, the backend stays drained. */
	bh_set_draining(&f.h, &f.c, 1, "operator drain", 1500, &f.out);
	expect_transition(&f, BACKEND_EJECTED, BACKEND_DRAINING, "operator drain");
	bh_set_draining(&f.h, &f.c, 0, "operator enable", 1600, &f.out);
	expect_transition(&f, BACKEND_DRAINING, BACKEND_EJECTED, "operator enable");
	tick(&f, 2000);
	expect_offer(&f);
	cr_expect_eq(bh_take_trial(&f.h, &f.c), 1);
	bh_session_outcome(&f.h, &f.c, 0, 1, "reset", 2100, &f.out);
	cr_expect(f.out.ejected);
	cr_expect_str_eq(f.h.reason, "operator enable", "no transition, the reason stays");
	teardown(&f);
}

Test(backend_health, operator_drain_and_enable)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	bh_set_draining(&f.h, &f.c, 1, "operator drain", 10, &f.out);
	expect_transition(&f, BACKEND_READY, BACKEND_DRAINING, "operator drain");
	bh_set_draining(&f.h, &f.c, 1, "operator drain", 20, &f.out);
	expect_none(&f);
	/* Dead wins over draining (its sessions are closed), and gives way to it again. */
	check(&f, BACKEND_CHECK_LIVENESS, 0, 30);
	expect_transition(&f, BACKEND_DRAINING, BACKEND_DEAD, "liveness: connect refused");
	check(&f, BACKEND_CHECK_LIVENESS, 1, 40);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 50);
	expect_transition(&f, BACKEND_DEAD, BACKEND_DRAINING, "liveness passed 2 times");
	bh_set_draining(&f.h, &f.c, 0, "operator enable", 60, &f.out);
	expect_transition(&f, BACKEND_DRAINING, BACKEND_READY, "operator enable");
	teardown(&f);
}

Test(backend_health, removed_for_good)
{
	struct fixture f;

	setup(&f, 0, 0, CONF_INITIAL_READY);
	eject(&f, 1000);
	tick(&f, 2000);
	expect_offer(&f);
	bh_retire(&f.h, &f.c, 2100, &f.out);
	expect_transition(&f, BACKEND_EJECTED, BACKEND_DRAINING, "removed from the configuration");
	cr_expect_eq(f.h.oidx, SIZE_MAX, "out of the outlier detector");
	cr_expect_not(bh_trial_offered(&f.h, &f.c), "no trial for a removed backend");
	bh_retire(&f.h, &f.c, 2200, &f.out);
	expect_none(&f);
	bh_set_draining(&f.h, &f.c, 0, "operator enable", 2300, &f.out);
	expect_none(&f);
	cr_expect_eq(f.h.state, BACKEND_DRAINING, "enable does not bring a removed backend back");
	teardown(&f);
}

Test(backend_health, adopt_a_generation)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	struct conf_health prev = f.sc.health;
	/* The reload asks no longer to wait for the first verdict. */
	f.sc.initial_state = CONF_INITIAL_READY;
	f.c.weight = 50;
	bh_adopt(&f.h, &f.c, 0, &prev, 100, &f.out);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "configuration reloaded");
	cr_expect(f.out.weight_changed, "the reloaded weight, without slow start");
	cr_expect_eq(f.h.eff_weight, 50);
	/* A changed readiness check restarts its count from the current verdict (up). */
	f.sc.health.readiness.fall = 1;
	bh_adopt(&f.h, &f.c, 0, &prev, 200, &f.out);
	expect_none(&f);
	check(&f, BACKEND_CHECK_READINESS, 1, 300);
	check(&f, BACKEND_CHECK_READINESS, 0, 400);
	expect_transition(&f, BACKEND_READY, BACKEND_NOT_READY, "readiness: connect refused");
	teardown(&f);
}

Test(backend_health, slow_start_ramps_in_steps)
{
	struct fixture f;

	setup(&f, 1, 0, CONF_INITIAL_READY);
	f.sc.slow_start_ms = 10000;
	check(&f, BACKEND_CHECK_LIVENESS, 0, 1000);
	expect_transition(&f, BACKEND_READY, BACKEND_DEAD, "liveness: connect refused");
	check(&f, BACKEND_CHECK_LIVENESS, 1, 2000);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 3000);
	expect_transition(&f, BACKEND_DEAD, BACKEND_READY, "liveness passed 2 times");
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 1, "a return from failure starts at the bottom");
	bh_tick(&f.h, &f.c, 3000 + 2500, &f.out);
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 25, "a quarter of the window: a quarter of the weight");
	bh_tick(&f.h, &f.c, 3000 + 2510, &f.out);
	cr_expect_not(f.out.weight_changed, "in steps of weight / 20");
	bh_tick(&f.h, &f.c, 3000 + 10000, &f.out);
	cr_expect_eq(f.h.eff_weight, 100);
	bh_tick(&f.h, &f.c, 3000 + 20000, &f.out);
	cr_expect_not(f.out.weight_changed);
	teardown(&f);
}

Test(backend_health, operator_maint_and_ready)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	bh_set_maint(&f.h, &f.c, 1, "operator maint", 10, &f.out);
	expect_transition(&f, BACKEND_READY, BACKEND_MAINT, "operator maint");
	bh_set_maint(&f.h, &f.c, 1, "operator maint", 20, &f.out);
	expect_none(&f);
	/* A failing readiness check changes nothing visible, and no check writes the reason. */
	check(&f, BACKEND_CHECK_READINESS, 0, 30);
	check(&f, BACKEND_CHECK_READINESS, 0, 40);
	expect_none(&f);
	cr_expect_str_eq(f.h.reason, "operator maint");
	/* A drain under maint is hidden by it; ready shows the drain. */
	bh_set_draining(&f.h, &f.c, 1, "operator drain", 50, &f.out);
	expect_none(&f);
	bh_set_maint(&f.h, &f.c, 0, "operator ready", 60, &f.out);
	expect_transition(&f, BACKEND_MAINT, BACKEND_DRAINING, "operator ready");
	bh_set_maint(&f.h, &f.c, 1, "operator maint", 70, &f.out);
	expect_transition(&f, BACKEND_DRAINING, BACKEND_MAINT, "operator maint");
	bh_set_draining(&f.h, &f.c, 0, "operator enable", 80, &f.out);
	expect_none(&f);
	/* Dead wins over maint and gives way to it again. */
	check(&f, BACKEND_CHECK_LIVENESS, 0, 90);
	expect_transition(&f, BACKEND_MAINT, BACKEND_DEAD, "liveness: connect refused");
	check(&f, BACKEND_CHECK_LIVENESS, 1, 100);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 110);
	expect_transition(&f, BACKEND_DEAD, BACKEND_MAINT, "liveness passed 2 times");
	/* ready: the checks decide again, and readiness failed twice above. */
	bh_set_maint(&f.h, &f.c, 0, "operator ready", 120, &f.out);
	expect_transition(&f, BACKEND_MAINT, BACKEND_NOT_READY, "operator ready");
	check(&f, BACKEND_CHECK_READINESS, 1, 130);
	check(&f, BACKEND_CHECK_READINESS, 1, 140);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "readiness passed 2 times");
	teardown(&f);
}

Test(backend_health, maint_survives_a_reload)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	struct conf_health prev = f.sc.health;
	bh_set_maint(&f.h, &f.c, 1, "operator maint", 10, &f.out);
	bh_adopt(&f.h, &f.c, 0, &prev, 20, &f.out);
	expect_none(&f);
	cr_expect_eq(f.h.state, BACKEND_MAINT);
	teardown(&f);
}

Test(backend_health, runtime_weight_replaces_the_files)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	cr_expect_eq(bh_weight(&f.h, &f.c), 100);
	bh_set_weight(&f.h, &f.c, 3, 10, &f.out);
	expect_none(&f);
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 3);
	cr_expect_eq(bh_weight(&f.h, &f.c), 3);
	bh_set_weight(&f.h, &f.c, 3, 20, &f.out);
	cr_expect_not(f.out.weight_changed, "the same weight again");
	/* 0 is a weight, not a state. */
	bh_set_weight(&f.h, &f.c, 0, 30, &f.out);
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 0);
	cr_expect_eq(f.h.state, BACKEND_READY);
	bh_set_weight(&f.h, &f.c, 5000, 40, &f.out);
	cr_expect_eq(f.h.weight, BH_MAX_WEIGHT, "clamped");
	teardown(&f);
}

Test(backend_health, runtime_weight_and_reloads)
{
	struct fixture f;

	setup(&f, 1, 1, CONF_INITIAL_READY);
	struct conf_health prev = f.sc.health;
	bh_set_weight(&f.h, &f.c, 7, 10, &f.out);
	/* The file's weight unchanged: the runtime weight stays. */
	bh_adopt(&f.h, &f.c, 0, &prev, 20, &f.out);
	expect_none(&f);
	cr_expect_not(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 7);
	cr_expect(f.h.weight_set);
	/* The file changed it: the file wins, and says so. */
	f.c.weight = 40;
	bh_adopt(&f.h, &f.c, 0, &prev, 30, &f.out);
	cr_assert_eq(f.out.n, 1);
	cr_expect_eq(f.out.note[0].kind, BH_WEIGHT_DROPPED);
	cr_expect_str_eq(f.out.note[0].reason,
		"the file's weight changed 100 -> 40: runtime weight 7 dropped");
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 40);
	cr_expect_not(f.h.weight_set);
	/* A new runtime weight remembers the new file weight. */
	bh_set_weight(&f.h, &f.c, 2, 40, &f.out);
	f.c.weight = 40;
	bh_adopt(&f.h, &f.c, 0, &prev, 50, &f.out);
	cr_expect_eq(f.h.eff_weight, 2);
	teardown(&f);
}

Test(backend_health, runtime_weight_under_slow_start)
{
	struct fixture f;

	setup(&f, 1, 0, CONF_INITIAL_READY);
	f.sc.slow_start_ms = 10000;
	check(&f, BACKEND_CHECK_LIVENESS, 0, 1000);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 2000);
	check(&f, BACKEND_CHECK_LIVENESS, 1, 3000);
	expect_transition(&f, BACKEND_DEAD, BACKEND_READY, "liveness passed 2 times");
	/* Mid-ramp, a runtime weight of 40: the ramp goes on towards 40. */
	bh_set_weight(&f.h, &f.c, 40, 3000 + 5000, &f.out);
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 20, "half the window: half of 40");
	bh_tick(&f.h, &f.c, 3000 + 10000, &f.out);
	cr_expect_eq(f.h.eff_weight, 40);
	bh_tick(&f.h, &f.c, 3000 + 20000, &f.out);
	cr_expect_not(f.out.weight_changed);
	teardown(&f);
}

Test(backend_health, a_long_check_reason_is_kept_whole_in_the_note)
{
	struct fixture f;
	char why[160];

	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	setup(&f, 0, 1, CONF_INITIAL_NOT_READY);
	bh_check_result(&f.h, &f.c, BACKEND_CHECK_READINESS, 0, why, 10, &f.out);
	cr_assert_eq(f.out.n, 1);
	cr_expect_eq(f.out.note[0].kind, BH_FIRST_FAILED);
	cr_expect_eq(strlen(f.out.note[0].reason), strlen("first readiness check failed: ") +
							   strlen(why) +
							   strlen(": stays not_ready"));
	teardown(&f);
}

Test(backend_health, restore_a_saved_verdict)
{
	struct fixture f;
	/* liveness 2/3: up at health 4 (the top); readiness 2/2 down at 0 */
	struct bh_saved_check down[2] = {{4, 2, 3}, {0, 2, 2}};
	struct bh_saved_check up[2] = {{3, 2, 3}, {3, 2, 2}};

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	bh_restore(&f.h, &f.c, down, NULL, "saved verdict restored", 100, &f.out);
	/* Held by initial_state, and still not_ready by the saved readiness: no transition. */
	expect_none(&f);
	cr_expect_eq(f.h.state, BACKEND_NOT_READY);
	cr_expect_not(f.h.first_pending, "a saved verdict is the first verdict");
	cr_expect_str_eq(f.h.reason, "saved verdict restored");
	cr_expect_eq(f.h.live.health, 4);
	cr_expect(f.h.live.up);
	cr_expect_not(f.h.ready.up);
	/* Checks go on from the saved counts: two readiness passes make it ready. */
	check(&f, BACKEND_CHECK_READINESS, 1, 200);
	expect_none(&f);
	check(&f, BACKEND_CHECK_READINESS, 1, 300);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "readiness passed 2 times");
	teardown(&f);

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	bh_restore(&f.h, &f.c, up, NULL, "saved verdict restored", 100, &f.out);
	expect_transition(&f, BACKEND_NOT_READY, BACKEND_READY, "saved verdict restored");
	cr_expect_eq(f.h.ready.health, 3, "the saved position, not the fresh bottom");
	/* At the top of the up range: one failure does not take it down (a fresh one would). */
	check(&f, BACKEND_CHECK_READINESS, 0, 200);
	expect_none(&f);
	cr_expect_eq(f.h.state, BACKEND_READY);
	teardown(&f);
}

Test(backend_health, restore_under_changed_settings_keeps_the_verdict_only)
{
	struct fixture f;
	/* Saved against liveness 5/5: down (health 2 < rise 5). */
	struct bh_saved_check saved[2] = {{2, 5, 5}, {99, 2, 2}};

	setup(&f, 1, 1, CONF_INITIAL_READY);
	bh_restore(&f.h, &f.c, saved, NULL, "saved verdict restored", 100, &f.out);
	expect_transition(&f, BACKEND_READY, BACKEND_DEAD, "saved verdict restored");
	cr_expect_eq(f.h.live.health, 0, "the count starts over, from down");
	cr_expect_eq(f.h.live.rise, 2);
	cr_expect_eq(f.h.ready.health, 3, "a position past the top is clamped to it");
	teardown(&f);
}

Test(backend_health, restore_ready_with_slow_start_gets_the_full_weight)
{
	struct fixture f;
	struct bh_saved_check up[2] = {{4, 2, 3}, {3, 2, 2}};

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	f.sc.slow_start_ms = 10000;
	bh_restore(&f.h, &f.c, up, NULL, "saved verdict restored", 50000, &f.out);
	cr_expect_eq(f.h.state, BACKEND_READY);
	cr_expect(f.out.weight_changed);
	cr_expect_eq(f.h.eff_weight, 100);
	bh_tick(&f.h, &f.c, 50001, &f.out);
	cr_expect_eq(f.h.eff_weight, 100, "no ramp after a restored verdict");
	teardown(&f);
}

/* The binary upgrade: a ramp under way goes on where it was, not from 0 and not at full. */
Test(backend_health, restore_with_a_ramp_under_way_goes_on_from_there)
{
	struct fixture f;
	struct bh_saved_check up[2] = {{4, 2, 3}, {3, 2, 2}};
	struct bh_saved_extra x = {.ready_for_ms = 2500};

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	f.sc.slow_start_ms = 10000;
	bh_restore(&f.h, &f.c, up, &x, "saved verdict restored", 50000, &f.out);
	cr_expect_eq(f.h.state, BACKEND_READY);
	cr_expect_eq(f.h.ready_since_ms, 47500);
	cr_expect_eq(f.h.eff_weight, slowstart_weight(100, 47500, 50000, 10000));
	cr_expect_lt(f.h.eff_weight, 100);
	cr_expect_gt(f.h.eff_weight, 1);
	bh_tick(&f.h, &f.c, 57500, &f.out);
	cr_expect_eq(f.h.eff_weight, 100, "the ramp ends when it would have");
	teardown(&f);

	/* Past the window, or not known: the full weight. */
	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	f.sc.slow_start_ms = 10000;
	x.ready_for_ms = UINT64_MAX;
	bh_restore(&f.h, &f.c, up, &x, "saved verdict restored", 50000, &f.out);
	cr_expect_eq(f.h.eff_weight, 100);
	teardown(&f);
}

Test(backend_health, restore_an_ejection_stays_ejected_until_it_is_over)
{
	struct fixture f;
	struct bh_saved_check up[2] = {{4, 2, 3}, {3, 2, 2}};
	struct bh_saved_extra x = {
		.ready_for_ms = UINT64_MAX,
		.outlier = {.state = OUTLIER_EJECTED, .ejections = 1, .left_ms = 700},
	};

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	bh_restore(&f.h, &f.c, up, &x, "saved verdict restored", 1000, &f.out);
	cr_expect_eq(f.h.state, BACKEND_EJECTED);
	cr_expect_not(f.out.ejected, "not a new ejection: not counted again");
	cr_expect_eq(outlier_ejected_until(f.o, 0), 1700);
	outlier_tick(f.o, 1700, NULL, NULL);
	bh_ejection_over(&f.h, &f.c, 1700, &f.out);
	cr_expect(bh_trial_offered(&f.h, &f.c));
	teardown(&f);
}

Test(backend_health, restore_keeps_a_drain)
{
	struct fixture f;
	struct bh_saved_check up[2] = {{4, 2, 3}, {3, 2, 2}};

	setup(&f, 1, 1, CONF_INITIAL_NOT_READY);
	bh_set_draining(&f.h, &f.c, 1, "operator drain", 10, &f.out);
	bh_restore(&f.h, &f.c, up, NULL, "saved verdict restored", 100, &f.out);
	cr_expect_eq(f.h.state, BACKEND_DRAINING);
	cr_expect_str_eq(f.h.reason, "operator drain", "the drain's reason stays");
	bh_set_draining(&f.h, &f.c, 0, "operator enable", 200, &f.out);
	expect_transition(&f, BACKEND_DRAINING, BACKEND_READY, "operator enable");
	teardown(&f);
}
