/*
 * DOC: unit tests for the announcer's decisions (lb/announcer*.c) over a fake mechanism
 *
 * The announcer is built with announcer_new_with() over a fake announce_ops that records every
 * apply (service, announce or withdraw) and answers at once (0) or later (1, the test calls
 * done), with the test's clock and no BIRD: no TUN, no fork. The runtime comes from a real
 * configuration; backend states change through lb/backend.c (operator drain and enable), the
 * listening count through real workers or the shared state, each followed by the `changes`
 * edge the announcer reads. Time is passed in (announcer_evaluate); the loop only runs with
 * EVRUN_NOWAIT, for what the announcer does on it (overrides, the shutdown's callback).
 *
 * The binary upgrade's cases (lb/announcer_handover.c) play both processes one after the other:
 * the old announcer describes itself and is freed, a new one over a fresh runtime adopts the
 * text, the fake telling what each was asked to apply.
 */
#include "bgp/announce.h"
#include "bgp/ladder.h"
#include "bgp/policy.h"
#include "lb/announcer.h"
#include "lb/backend.h"
#include "lb/runtime.h"
#include "lb/worker.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

TestSuite(announcer, .fini = sc_cleanup);

#define DELAY     10000u /* bgp.announce_delay, ms */
#define MAX_DELAY 80000u
#define WINDOW    60000u /* bgp.flap_window */
#define MAX_REC   64

struct rec {
	char service[32];
	int announce;
};

/* The fake mechanism: what it was made over, what it was told, what still waits for done. */
struct fake {
	struct announce_mech m;
	int async; /* apply answers later */
	const struct announce_target *targets;
	size_t ntargets;
	struct rec rec[MAX_REC];
	size_t nrec;
	struct {
		void (*done)(void *arg);
		void *arg;
	} wait[MAX_REC];
	size_t nwait;
	int made, freed, rearms, handed;
	uint64_t now;  /* the announcer's clock */
	int fail_with; /* mech_new fails with this (-errno) */
};

static struct fake F;

static int fake_apply(struct announce_mech *m, const struct announce_target *t, int announce,
	void (*done)(void *arg), void *arg)
{
	struct fake *f = (struct fake *)m;

	cr_assert_lt(f->nrec, MAX_REC);
	snprintf(f->rec[f->nrec].service, sizeof(f->rec[0].service), "%s", t->service);
	f->rec[f->nrec++].announce = announce;
	if (!f->async)
		return 0;
	f->wait[f->nwait].done = done;
	f->wait[f->nwait++].arg = arg;
	return 1;
}

static int fake_watchdog_fd(const struct announce_mech *m)
{
	(void)m;
	return 42;
}

static int fake_rearm(struct announce_mech *m)
{
	((struct fake *)m)->rearms++;
	return 0;
}

static void fake_free(struct announce_mech *m)
{
	((struct fake *)m)->freed++;
}

static int fake_describe(const struct announce_mech *m, char *buf, size_t cap)
{
	(void)m;
	return snprintf(buf, cap, "interface anylbt0 ifindex 7");
}

static void fake_handed_over(struct announce_mech *m)
{
	((struct fake *)m)->handed++;
}

static const struct announce_ops fake_ops = {
	.name = "fake",
	.apply = fake_apply,
	.kept_by_bird = 0,
	.matches = NULL,
	.watchdog_fd = fake_watchdog_fd,
	.rearm = fake_rearm,
	.describe = fake_describe,
	.handed_over = fake_handed_over,
	.free = fake_free,
};

/* The same, able to announce de-preferred (as bird_protocol is): the drain ladder's cases. */
static const struct announce_ops fake_ops_deprefer = {
	.name = "fake",
	.apply = fake_apply,
	.can_deprefer = 1,
	.watchdog_fd = fake_watchdog_fd,
	.rearm = fake_rearm,
	.describe = fake_describe,
	.handed_over = fake_handed_over,
	.free = fake_free,
};

static int DEPREFER; /* the next fake_new makes a mechanism with can_deprefer */

static struct announce_mech *fake_new(
	void *arg, const struct announce_target *targets, size_t n, int *err)
{
	struct fake *f = arg;

	f->made++;
	f->targets = targets;
	f->ntargets = n;
	if (f->fail_with < 0) {
		*err = f->fail_with;
		return NULL;
	}
	f->m.ops = DEPREFER ? &fake_ops_deprefer : &fake_ops;
	return &f->m;
}

static uint64_t fake_now(void *arg)
{
	return ((struct fake *)arg)->now;
}

/* The done of the i-th answer still waiting (async), as the mechanism would call it. */
static void complete(size_t i)
{
	cr_assert_lt(i, F.nwait);
	cr_assert_not_null(F.wait[i].done, "answer %zu completed twice", i);
	void (*done)(void *) = F.wait[i].done;
	F.wait[i].done = NULL;
	done(F.wait[i].arg);
}

struct env {
	struct lb_runtime *rt;
	struct ev_loop *loop;
	struct announcer *a;
};

/*
 * Two anycast services (web: two backends, two prefixes; api: one backend) and one without
 * anycast, listening where the arguments say (not bound unless a worker binds them).
 */
static void setup_on(
	struct env *e, const char *web_listen, const char *plain_listen, const char *api_listen)
{
	char y[2048];
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	memset(&F, 0, sizeof(F));
	snprintf(y, sizeof(y),
		"bgp:\n"
		"  announce: interface\n"
		"  announce_delay: %ums\n"
		"  max_announce_delay: %ums\n"
		"  flap_window: %ums\n"
		"services:\n"
		"  - name: web\n"
		"    listen: [\"%s\"]\n"
		"    anycast: {prefixes: [192.0.2.10/32, 2001:db8::10/128], min_ready: 1}\n"
		"    backends:\n"
		"      - address: 127.0.0.1:9\n"
		"      - address: 127.0.0.1:10\n"
		"  - name: plain\n"
		"    listen: [\"%s\"]\n"
		"    backends:\n"
		"      - address: 127.0.0.1:11\n"
		"  - name: api\n"
		"    listen: [\"%s\"]\n"
		"    anycast: {prefixes: [192.0.2.20/32], min_ready: 1}\n"
		"    backends:\n"
		"      - address: 127.0.0.1:12\n",
		DELAY, MAX_DELAY, WINDOW, web_listen, plain_listen, api_listen);
	int rc = conf_load_buffer("t.yaml", y, strlen(y), &c, &errs);
	if (rc < 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0);
	e->rt = runtime_new(c);
	cr_assert_not_null(e->rt);
	e->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(e->loop);
	struct announcer_deps d = {.mech_new = fake_new,
		.mech_arg = &F,
		.now_ms = fake_now,
		.now_arg = &F,
		.no_bird = 1};
	int err = 1;
	e->a = announcer_new_with(e->rt, &d, &err);
	cr_assert_not_null(e->a);
	cr_assert_eq(err, 0);
	cr_assert_eq(F.made, 1);
	announcer_attach(e->a, e->loop);
}

static void setup(struct env *e)
{
	setup_on(e, "127.0.0.1:1", "127.0.0.1:3", "127.0.0.1:2");
}

static void teardown(struct env *e)
{
	announcer_free(e->a);
	cr_expect_eq(F.freed, 1, "the announcer frees its mechanism once");
	ev_loop_destroy(e->loop);
	runtime_put(e->rt);
}

static struct lb_service *svc_of(struct env *e, const char *name)
{
	struct lb_service *svc = runtime_service(e->rt, name);
	cr_assert_not_null(svc, "%s", name);
	return svc;
}

/* What the listeners would publish: n sockets of the service listen (shared state + edge). */
static void set_listening(struct env *e, const char *name, uint32_t n)
{
	struct lb_service *svc = svc_of(e, name);
	atomic_store(&svc->st->listening, n);
	runtime_service_changed(svc);
}

static void listen_all(struct env *e)
{
	set_listening(e, "web", 1);
	set_listening(e, "api", 1);
}

/* The operator drains (1) or enables (0) backend i of the service, through lb/backend.c. */
static void drain(struct env *e, const char *name, size_t i, int draining)
{
	struct lb_service *svc = svc_of(e, name);
	cr_assert_lt(i, svc->conf->nbackends);
	backend_set_draining(&svc->backends[i], draining, "test", F.now);
}

static void evaluate(struct env *e, uint64_t now)
{
	F.now = now;
	announcer_evaluate(e->a, now);
}

/* Lets the loop run what is due now, a bounded number of times, never waiting. */
static void spin(struct env *e)
{
	for (int i = 0; i < 10; i++)
		ev_run(e->loop, EVRUN_NOWAIT);
}

static struct announcer_status status(struct env *e, const char *name)
{
	struct announcer_status st;
	cr_assert_eq(announcer_status(e->a, name, &st), 0, "%s", name);
	return st;
}

/* How many applies the service got since record `from`, and the last one (-1: none). */
static size_t applies(const char *name, size_t from, int *last)
{
	size_t n = 0;

	if (last != NULL)
		*last = -1;
	for (size_t i = from; i < F.nrec; i++) {
		if (strcmp(F.rec[i].service, name) != 0)
			continue;
		n++;
		if (last != NULL)
			*last = F.rec[i].announce;
	}
	return n;
}

/* The service got n applies since record `from`, the last of them `announce` (1 or 0). */
static int edges_are(const char *name, size_t from, size_t n, int announce)
{
	int last;
	size_t got = applies(name, from, &last);

	if (got == n && last == announce)
		return 1;
	cr_log_error("%s: %zu applies, the last %d; want %zu, the last %d", name, got, last, n,
		announce);
	return 0;
}

static void expect_edges(const char *name, size_t from, size_t n, int announce)
{
	cr_expect(edges_are(name, from, n, announce), "%s", name);
}

static void assert_edges(const char *name, size_t from, size_t n, int announce)
{
	cr_assert(edges_are(name, from, n, announce), "%s", name);
}

/* Both services listening from t0 and announced at t0 + DELAY; returns that time. */
static uint64_t announce_both(struct env *e, uint64_t t0)
{
	listen_all(e);
	evaluate(e, t0);
	evaluate(e, t0 + DELAY);
	assert_edges("web", 0, 1, 1);
	assert_edges("api", 0, 1, 1);
	return t0 + DELAY;
}

Test(announcer, made_over_every_anycast_service_in_order)
{
	struct env e;

	setup(&e);
	cr_assert_eq(F.ntargets, 2, "plain has no anycast");
	cr_expect_str_eq(F.targets[0].service, "web");
	cr_expect_eq(F.targets[0].nprefixes, 2);
	cr_expect_str_eq(F.targets[0].prefixes[0].text, "192.0.2.10/32");
	cr_expect_str_eq(F.targets[0].prefixes[1].text, "2001:db8::10/128");
	cr_expect_str_eq(F.targets[1].service, "api");
	cr_expect_eq(F.targets[1].nprefixes, 1);
	cr_expect_eq(F.nrec, 0, "nothing applied before a decision");
	cr_expect_eq(announcer_watchdog_fd(e.a), 42, "the mechanism's watchdog fd");
	struct announcer_status st;
	cr_expect_eq(announcer_status(e.a, "plain", &st), -ENOENT);
	cr_expect_eq(announcer_override(e.a, "nope", ANYCAST_OVERRIDE_WITHDRAW), -ENOENT);
	teardown(&e);
}

Test(announcer, a_failing_mechanism_fails_the_announcer)
{
	struct env e;

	setup(&e); /* for a runtime */
	F.fail_with = -EIO;
	F.made = 0;
	struct announcer_deps d = {.mech_new = fake_new, .mech_arg = &F, .no_bird = 1};
	int err = 0;
	cr_expect_null(announcer_new_with(e.rt, &d, &err));
	cr_expect_eq(err, -EIO);
	cr_expect_eq(F.made, 1);
	F.fail_with = 0;
	teardown(&e);
}

Test(announcer, nothing_announced_before_listening_and_announce_delay)
{
	struct env e;

	setup(&e);
	/* Healthy backends but nothing bound: never, however long. */
	evaluate(&e, 1000);
	evaluate(&e, 1000 + 10 * DELAY);
	cr_expect_eq(F.nrec, 0);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.state, ANYCAST_WITHDRAWN);
	cr_expect_str_eq(st.reason, "listener not bound");

	/* Listening from t0: pending for DELAY, announced at t0 + DELAY exactly. */
	uint64_t t0 = 200000;
	listen_all(&e);
	evaluate(&e, t0);
	st = status(&e, "web");
	cr_expect_eq(st.state, ANYCAST_PENDING);
	cr_expect_eq(st.announced, 0);
	cr_expect_eq(st.delay_ms, DELAY);
	evaluate(&e, t0 + DELAY - 1);
	cr_expect_eq(F.nrec, 0, "announced 1 ms early");
	evaluate(&e, t0 + DELAY);
	expect_edges("web", 0, 1, 1);
	expect_edges("api", 0, 1, 1);
	st = status(&e, "web");
	cr_expect_eq(st.announced, 1);
	cr_expect_eq(st.state, ANYCAST_ANNOUNCED);
	cr_expect_str_eq(st.reason, "healthy for 10s");

	/* Edges only: nothing is applied again while nothing changes. */
	evaluate(&e, t0 + 3 * DELAY);
	cr_expect_eq(F.nrec, 2);
	teardown(&e);
}

Test(announcer, reads_a_service_again_only_when_its_changes_moved)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;
	/* The shared state changes behind the announcer's back, without the edge. */
	struct lb_service *web = svc_of(&e, "web");
	for (size_t i = 0; i < web->conf->nbackends; i++)
		atomic_store(&web->backends[i].st->state, BACKEND_DEAD);
	evaluate(&e, t + 1);
	cr_expect_eq(applies("web", from, NULL), 0, "re-read without an edge");
	/* The edge: read again, withdrawn. */
	runtime_service_changed(web);
	evaluate(&e, t + 2);
	expect_edges("web", from, 1, 0);
	cr_expect_eq(applies("api", from, NULL), 0);
	teardown(&e);
}

Test(announcer, withdraws_when_the_last_backend_goes)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;
	drain(&e, "web", 0, 1);
	evaluate(&e, t + 1);
	cr_expect_eq(applies("web", from, NULL), 0, "one ready backend is min_ready");
	cr_expect_eq(status(&e, "web").announced, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, t + 2);
	expect_edges("web", from, 1, 0);
	cr_expect_eq(applies("api", from, NULL), 0, "the other service stays");
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.announced, 0);
	cr_expect_eq(st.state, ANYCAST_WITHDRAWN);
	cr_expect_str_eq(st.reason, "0 ready backends < min_ready 1");
	cr_expect_eq(status(&e, "api").announced, 1);
	teardown(&e);
}

Test(announcer, withdraws_when_no_listener_is_bound)
{
	char addr[3][SC_ADDRSTRLEN];
	struct worker w;
	struct env e;

	for (int i = 0; i < 3; i++) {
		int fresh = 0;
		for (int tries = 0; tries < 20 && !fresh; tries++) {
			cr_assert_gt(sc_free_addr(AF_INET, addr[i], sizeof(addr[i])), 0);
			fresh = 1;
			for (int j = 0; j < i; j++)
				fresh &= strcmp(addr[i], addr[j]) != 0;
		}
		cr_assert(fresh, "three different free addresses");
	}
	setup_on(&e, addr[0], addr[1], addr[2]);
	/* A real worker binds both services' sockets: the listeners publish the edge. */
	cr_assert_eq(worker_init(&w, 0, e.rt, NULL), 0);
	cr_assert_eq(atomic_load(&svc_of(&e, "web")->st->listening), 1);
	evaluate(&e, 1000);
	evaluate(&e, 1000 + DELAY);
	assert_edges("web", 0, 1, 1);
	size_t from = F.nrec;

	/* The worker goes, its listeners close: nothing is bound behind either prefix. */
	worker_destroy(&w);
	cr_assert_eq(atomic_load(&svc_of(&e, "web")->st->listening), 0);
	evaluate(&e, 2000 + DELAY);
	expect_edges("web", from, 1, 0);
	expect_edges("api", from, 1, 0);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.announced, 0);
	cr_expect_str_eq(st.reason, "listener not bound");

	/* One service's count alone: only it comes back. */
	set_listening(&e, "api", 1);
	evaluate(&e, 3000 + DELAY);
	evaluate(&e, 3000 + 2 * DELAY);
	expect_edges("api", from, 2, 1);
	cr_expect_eq(applies("web", from, NULL), 1);
	teardown(&e);
}

Test(announcer, operator_override_withdraws_and_announces)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;

	/* Asked from another thread, applied on the announcer's loop. */
	F.now = t + 1;
	cr_assert_eq(announcer_override(e.a, "web", ANYCAST_OVERRIDE_WITHDRAW), 0);
	cr_expect_eq(applies("web", from, NULL), 0, "not before the loop runs");
	spin(&e);
	expect_edges("web", from, 1, 0);
	cr_expect_eq(applies("api", from, NULL), 0);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.override, ANYCAST_OVERRIDE_WITHDRAW);
	cr_expect_eq(st.announced, 0);
	cr_expect_str_eq(st.reason, "operator withdraw");
	/* Healthy all along: the override holds. */
	evaluate(&e, t + 10 * DELAY);
	cr_expect_eq(applies("web", from, NULL), 1);

	/* Cleared: health decides, from the clearing update, after the delay. */
	uint64_t tc = t + 20 * DELAY;
	F.now = tc;
	cr_assert_eq(announcer_override(e.a, "web", ANYCAST_OVERRIDE_NONE), 0);
	spin(&e);
	cr_expect_eq(applies("web", from, NULL), 1, "not at once");
	st = status(&e, "web");
	cr_expect_eq(st.override, ANYCAST_OVERRIDE_NONE);
	cr_expect_eq(st.state, ANYCAST_PENDING);
	evaluate(&e, tc + DELAY);
	expect_edges("web", from, 2, 1);

	/* No backend left: withdrawn by health; the operator announces anyway. */
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, tc + DELAY + 1);
	expect_edges("web", from, 3, 0);
	F.now = tc + DELAY + 2;
	cr_assert_eq(announcer_override(e.a, "web", ANYCAST_OVERRIDE_ANNOUNCE), 0);
	spin(&e);
	expect_edges("web", from, 4, 1);
	st = status(&e, "web");
	cr_expect_eq(st.override, ANYCAST_OVERRIDE_ANNOUNCE);
	cr_expect_eq(st.announced, 1);
	cr_expect_str_eq(st.reason, "operator announce");
	teardown(&e);
}

Test(announcer, flapping_lengthens_the_delay)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;

	/* A first withdraw: no flap yet, the delay stays. */
	t += 1000;
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, t);
	assert_edges("web", from, 1, 0);
	t += 1;
	drain(&e, "web", 0, 0);
	evaluate(&e, t);
	cr_expect_eq(status(&e, "web").delay_ms, DELAY);
	evaluate(&e, t + DELAY);
	assert_edges("web", from, 2, 1);

	/* Withdrawn again within flap_window: a flap, the delay doubles. */
	t += DELAY + 1000;
	drain(&e, "web", 0, 1);
	evaluate(&e, t);
	assert_edges("web", from, 3, 0);
	t += 1;
	drain(&e, "web", 1, 0);
	evaluate(&e, t);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.flaps, 1);
	cr_expect_eq(st.delay_ms, 2 * DELAY);
	cr_expect_eq(st.state, ANYCAST_PENDING);
	cr_expect_str_eq(st.reason, "healthy, announcing after 20s (lengthened by flapping)");
	evaluate(&e, t + DELAY);
	cr_expect_eq(applies("web", from, NULL), 3, "the first delay is not enough any more");
	evaluate(&e, t + 2 * DELAY - 1);
	cr_expect_eq(applies("web", from, NULL), 3);
	evaluate(&e, t + 2 * DELAY);
	expect_edges("web", from, 4, 1);
	cr_expect_eq(applies("api", from, NULL), 0);
	teardown(&e);
}

Test(announcer, an_async_apply_completes_later)
{
	struct env e;

	setup(&e);
	F.async = 1;
	uint64_t t = announce_both(&e, 1000);
	cr_assert_eq(F.nwait, 2, "both answers to come");
	/* The decision stands while the answer is on its way: no second apply. */
	cr_expect_eq(status(&e, "web").announced, 1);
	evaluate(&e, t + 1);
	cr_expect_eq(F.nrec, 2);
	/* The answers come: nothing to do outside a shutdown. */
	complete(0);
	complete(1);
	spin(&e);
	evaluate(&e, t + 2);
	cr_expect_eq(F.nrec, 2);
	cr_expect_eq(status(&e, "web").announced, 1);
	cr_expect_eq(status(&e, "api").announced, 1);
	/* A withdraw answered later, too. */
	drain(&e, "api", 0, 1);
	evaluate(&e, t + 3);
	expect_edges("api", 2, 1, 0);
	cr_expect_eq(F.nwait, 3);
	complete(2);
	cr_expect_eq(status(&e, "api").announced, 0);
	teardown(&e);
}

static int done_calls;

static void on_done(void *arg)
{
	(void)arg;
	done_calls++;
}

Test(announcer, shutdown_withdraws_every_prefix_and_calls_done_once)
{
	struct env e;

	setup(&e);
	done_calls = 0;
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;
	announcer_shutdown(e.a, on_done, NULL);
	expect_edges("web", from, 1, 0);
	expect_edges("api", from, 1, 0);
	cr_expect_eq(done_calls, 0, "never called back synchronously");
	spin(&e);
	cr_expect_eq(done_calls, 1);
	/* Withdrawn for good: healthy and listening, nothing comes back. */
	evaluate(&e, t + 10 * DELAY);
	cr_expect_eq(F.nrec, from + 2);
	spin(&e);
	cr_expect_eq(done_calls, 1, "done once");
	teardown(&e);
}

Test(announcer, shutdown_waits_for_the_answers_of_its_withdrawals)
{
	struct env e;

	setup(&e);
	done_calls = 0;
	F.async = 1;
	announce_both(&e, 1000);
	complete(0);
	complete(1);
	size_t from = F.nrec;
	announcer_shutdown(e.a, on_done, NULL);
	cr_assert_eq(F.nrec, from + 2);
	cr_assert_eq(F.nwait, 4);
	spin(&e);
	cr_expect_eq(done_calls, 0, "withdrawals not confirmed yet");
	complete(2);
	spin(&e);
	cr_expect_eq(done_calls, 0, "one withdrawal still not confirmed");
	complete(3);
	spin(&e);
	cr_expect_eq(done_calls, 1);
	spin(&e);
	cr_expect_eq(done_calls, 1, "done once");
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.announced, 0);
	cr_expect_eq(st.state, ANYCAST_WITHDRAWN);
	cr_expect_str_eq(st.reason, "shutting down");
	cr_expect_eq(status(&e, "api").announced, 0);
	teardown(&e);
}

Test(announcer, shutdown_does_not_count_an_earlier_answer_as_its_own)
{
	struct env e;

	setup(&e);
	done_calls = 0;
	F.async = 1;
	announce_both(&e, 1000);
	cr_assert_eq(F.nwait, 2, "the announcements are still on their way");
	announcer_shutdown(e.a, on_done, NULL);
	cr_assert_eq(F.nwait, 4);
	/* The answers to the announcements come first (BIRD answers in order). */
	complete(0);
	complete(1);
	spin(&e);
	cr_expect_eq(done_calls, 0, "no withdrawal confirmed yet");
	complete(2);
	spin(&e);
	cr_expect_eq(done_calls, 0, "one withdrawal still not confirmed");
	complete(3);
	spin(&e);
	cr_expect_eq(done_calls, 1);
	teardown(&e);
}

Test(announcer, rearm_starts_over_from_withdrawn)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;
	F.now = t + 1;
	cr_assert_eq(announcer_rearm(e.a), 0);
	cr_expect_eq(F.rearms, 1);
	spin(&e);
	/* The addresses went with the old interface: nothing to withdraw, pending again. */
	cr_expect_eq(F.nrec, from);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.announced, 0);
	cr_expect_eq(st.state, ANYCAST_PENDING);
	evaluate(&e, t + DELAY);
	cr_expect_eq(F.nrec, from, "announce_delay of health first");
	evaluate(&e, t + 1 + DELAY);
	expect_edges("web", from, 1, 1);
	expect_edges("api", from, 1, 1);
	teardown(&e);
}

/* ---- the binary upgrade (lb/announcer_handover.c) ---- */

/*
 * The old process: both services announced at t0 + DELAY, web after one flap (delay doubled);
 * returns its hand_over text (the caller frees) and the time it was taken, after teardown.
 */
static char *old_process(uint64_t *t)
{
	struct env e;
	size_t len = 0;

	setup(&e);
	uint64_t t1 = announce_both(&e, 0);
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, t1 + 100); /* withdrawn */
	drain(&e, "web", 0, 0);
	drain(&e, "web", 1, 0);
	evaluate(&e, t1 + 200);
	evaluate(&e, t1 + 200 + DELAY); /* announced again */
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, t1 + 300 + DELAY); /* a flap: the delay doubles */
	drain(&e, "web", 0, 0);
	drain(&e, "web", 1, 0);
	evaluate(&e, t1 + 400 + DELAY);
	evaluate(&e, t1 + 400 + 3 * DELAY);
	struct announcer_status st = status(&e, "web");
	cr_assert(st.announced);
	cr_assert_eq(st.flaps, 1u);
	cr_assert_eq(st.delay_ms, 2 * DELAY);
	*t = t1 + 500 + 3 * DELAY;
	F.now = *t;
	char *text = announcer_hand_over(e.a, &len);
	cr_assert_not_null(text);
	cr_assert_eq(strlen(text), len);
	cr_assert_eq(strncmp(text, "anycast 1 interface anylbt0 ifindex 7\n", 38), 0, "%s", text);
	cr_assert_eq(announcer_handover_ifindex(text, "anylbt0"), 7);
	cr_assert_eq(announcer_handover_ifindex(text, "anylb0"), 0, "another interface's");
	teardown(&e);
	return text;
}

Test(announcer, an_upgrade_hands_the_decisions_over_without_a_withdrawal)
{
	struct env e;
	uint64_t t;
	char *text = old_process(&t);

	setup(&e);          /* the successor: nothing listens yet, its workers have not started */
	F.now = t + 123456; /* another clock */
	cr_assert_eq(announcer_adopt(e.a, text), 2);
	free(text);
	struct announcer_status st = status(&e, "web");
	cr_expect(st.announced, "announced from the start");
	cr_expect_eq(st.flaps, 1u);
	cr_expect_eq(st.delay_ms, 2 * DELAY, "the flap history came along");
	cr_expect(status(&e, "api").announced);

	/* The first evaluation makes the decisions true again; no listener yet is no withdraw. */
	evaluate(&e, F.now);
	assert_edges("web", 0, 1, 1);
	assert_edges("api", 0, 1, 1);
	evaluate(&e, F.now + 1000);
	listen_all(&e);
	evaluate(&e, F.now + 1001);
	expect_edges("web", 0, 1, 1);
	expect_edges("api", 0, 1, 1);
	/* From here on it decides as the old one would have: a flap doubles to 4x. */
	size_t from = F.nrec;
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, F.now + 10);
	expect_edges("web", from, 1, 0);
	cr_expect_eq(status(&e, "web").delay_ms, 4 * DELAY);
	teardown(&e);
}

Test(announcer, an_adopted_service_whose_listeners_never_come_is_withdrawn_after_a_grace)
{
	struct env e;
	uint64_t t;
	char *text = old_process(&t);

	setup(&e);
	F.now = 1000;
	cr_assert_eq(announcer_adopt(e.a, text), 2);
	free(text);
	evaluate(&e, 1000);
	evaluate(&e, 5999);
	expect_edges("web", 0, 1, 1);
	set_listening(&e, "api", 1); /* api's worker started, web's listener never does */
	evaluate(&e, 6000);
	expect_edges("web", 0, 2, 0);
	expect_edges("api", 0, 1, 1);
	teardown(&e);
}

Test(announcer, what_cannot_be_adopted_starts_withdrawn)
{
	struct env e;

	setup(&e);
	cr_expect_eq(announcer_adopt(e.a, "anycast 1 bird_protocol\n"
					  "service web 2 0 0 1 0 0 5 0 10000 0 healthy\n"),
		0, "another mechanism");
	cr_expect_eq(announcer_adopt(e.a, "anycast 2 interface anylbt0 ifindex 7\n"), 0,
		"another version");
	cr_expect_eq(announcer_adopt(e.a, "garbage"), 0);
	cr_expect_eq(announcer_adopt(e.a, "anycast 1 interface anylbt0 ifindex 7\n"
					  "service web 2 0 0 1\n"
					  "service gone 2 0 0 1 0 0 5 0 10000 0 healthy\n"
					  "service api 2 0 0 1 0 0 5 0 10000 0 healthy for 10s\n"),
		1, "a short line and an unknown service are skipped");
	cr_expect_not(status(&e, "web").announced);
	struct announcer_status st = status(&e, "api");
	cr_expect(st.announced);
	cr_expect_str_eq(st.reason, "healthy for 10s");
	cr_expect_eq(announcer_handover_ifindex("anycast 1 bird_protocol\n", "anylbt0"), 0);
	cr_expect_eq(announcer_handover_ifindex(NULL, "anylbt0"), 0);
	teardown(&e);
}

Test(announcer, a_handed_over_announcer_applies_and_withdraws_nothing)
{
	struct env e;
	size_t len;

	setup(&e);
	done_calls = 0;
	uint64_t t = announce_both(&e, 0);
	free(announcer_hand_over(e.a, &len));
	size_t from = F.nrec;
	announcer_handed_over(e.a);
	cr_expect_eq(F.handed, 1, "the mechanism let go");
	drain(&e, "web", 0, 1);
	drain(&e, "web", 1, 1);
	evaluate(&e, t + 10);
	cr_expect_eq(F.nrec, from, "applied after the handover");
	announcer_shutdown(e.a, on_done, NULL);
	spin(&e);
	cr_expect_eq(done_calls, 1);
	cr_expect_eq(F.nrec, from, "the shutdown withdrew the successor's prefixes");
	teardown(&e);
}

Test(announcer, a_failed_upgrade_reasserts_every_decision)
{
	struct env e;
	size_t len;

	setup(&e);
	uint64_t t = announce_both(&e, 0);
	free(announcer_hand_over(e.a, &len));
	/* It goes on deciding until the successor serves: a withdraw now is applied now. */
	drain(&e, "api", 0, 1);
	evaluate(&e, t + 10);
	assert_edges("api", 0, 2, 0);
	size_t from = F.nrec;
	announcer_reassert(e.a);
	spin(&e);
	expect_edges("web", from, 1, 1);
	expect_edges("api", from, 1, 0);
	teardown(&e);
}

/* ---- the drain ladder (bgp/ladder.h) ---- */

Test(announcer, drain_site_deprefers_then_withdraws_then_waits_for_sessions)
{
	struct env e;

	DEPREFER = 1;
	setup(&e);
	DEPREFER = 0;
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;
	struct lb_service *web = svc_of(&e, "web");

	F.now = t + 1;
	cr_assert_eq(announcer_drain(e.a, NULL, 1, 5000), 0);
	spin(&e);
	expect_edges("web", from, 1, ANNOUNCE_DEPREFERRED);
	expect_edges("api", from, 1, ANNOUNCE_DEPREFERRED);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.ladder_step, LADDER_DEPREFERRED);
	cr_expect_eq(st.level, ANNOUNCE_DEPREFERRED);
	cr_expect(st.announced, "still announced, de-preferred");
	cr_expect_eq(st.ladder_left_ms, 5000);

	/* A session is open on web: withdrawn after the window, then web waits for it. */
	atomic_store(&web->st->active, 1);
	evaluate(&e, t + 1 + 4999);
	cr_expect_eq(applies("web", from, NULL), 1, "not before the window is over");
	evaluate(&e, t + 1 + 5000);
	expect_edges("web", from, 2, ANNOUNCE_WITHDRAW | ANNOUNCE_DRAIN_OFF);
	expect_edges("api", from, 2, ANNOUNCE_WITHDRAW | ANNOUNCE_DRAIN_OFF);
	cr_expect_eq(status(&e, "web").ladder_step, LADDER_WITHDRAWN);
	cr_expect_not(status(&e, "web").announced);
	cr_expect_eq(status(&e, "api").ladder_step, LADDER_DONE, "api has no session");
	evaluate(&e, t + 9000);
	cr_expect_eq(status(&e, "web").ladder_step, LADDER_WITHDRAWN);
	atomic_store(&web->st->active, 0);
	evaluate(&e, t + 9001);
	cr_expect_eq(status(&e, "web").ladder_step, LADDER_DONE);
	cr_expect_eq(applies("web", from, NULL), 2, "done withdraws nothing more");

	/* Undrain: announced again, plain (the drain source is off already). */
	F.now = t + 10000;
	cr_assert_eq(announcer_drain(e.a, "web", 0, 0), 0);
	spin(&e);
	expect_edges("web", from, 3, ANNOUNCE_ON);
	cr_expect_eq(status(&e, "web").ladder_step, LADDER_ANNOUNCED);
	cr_expect_eq(status(&e, "api").ladder_step, LADDER_DONE, "only web was undrained");
	teardown(&e);
}

Test(announcer, undrain_during_the_window_turns_the_drain_source_off)
{
	struct env e;

	DEPREFER = 1;
	setup(&e);
	DEPREFER = 0;
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;

	F.now = t + 1;
	cr_assert_eq(announcer_drain(e.a, "web", 1, UINT64_MAX), 0);
	spin(&e);
	expect_edges("web", from, 1, ANNOUNCE_DEPREFERRED);
	cr_expect_eq(applies("api", from, NULL), 0, "a graceful withdraw of web alone");
	cr_expect_eq(status(&e, "web").ladder_window_ms, 30000, "bgp.drain_window's default");
	F.now = t + 2;
	cr_assert_eq(announcer_drain(e.a, "web", 0, 0), 0);
	spin(&e);
	expect_edges("web", from, 2, ANNOUNCE_ON | ANNOUNCE_DRAIN_OFF);
	teardown(&e);
}

Test(announcer, the_ladder_never_announces_what_health_withdrew)
{
	struct env e;

	DEPREFER = 1;
	setup(&e);
	DEPREFER = 0;
	uint64_t t = announce_both(&e, 1000);
	drain(&e, "api", 0, 1);
	evaluate(&e, t + 1);
	size_t from = F.nrec;
	F.now = t + 2;
	cr_assert_eq(announcer_drain(e.a, NULL, 1, 5 * DELAY), 0);
	spin(&e);
	cr_expect_eq(applies("api", from, NULL), 0, "withdrawn by health, stays so");
	expect_edges("web", from, 1, ANNOUNCE_DEPREFERRED);
	/* Healthy again during the window: de-preferred, not announced plainly. */
	drain(&e, "api", 0, 0);
	evaluate(&e, t + 3);
	evaluate(&e, t + 3 + DELAY);
	expect_edges("api", from, 1, ANNOUNCE_DEPREFERRED);
	teardown(&e);
}

Test(announcer, interface_mode_drains_by_withdrawing_at_once)
{
	struct env e;

	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	size_t from = F.nrec;

	cr_expect_not(announcer_can_deprefer(e.a));
	F.now = t + 1;
	cr_assert_eq(announcer_drain(e.a, NULL, 1, 5000), 0);
	spin(&e);
	expect_edges("web", from, 1, ANNOUNCE_WITHDRAW);
	expect_edges("api", from, 1, ANNOUNCE_WITHDRAW);
	cr_expect_eq(status(&e, "web").ladder_step, LADDER_DONE, "no session: done at once");
	cr_expect_eq(announcer_drain(e.a, "nope", 1, 0), -ENOENT);
	teardown(&e);
}

Test(announcer, an_upgrade_carries_a_ladder_in_progress)
{
	struct env e;
	size_t len = 0;

	DEPREFER = 1;
	setup(&e);
	uint64_t t = announce_both(&e, 1000);
	F.now = t + 1;
	cr_assert_eq(announcer_drain(e.a, NULL, 1, 20000), 0);
	spin(&e);
	F.now = t + 5001;
	announcer_evaluate(e.a, F.now);
	char *text = announcer_hand_over(e.a, &len);
	cr_assert_not_null(text);
	cr_expect_not_null(strstr(text, "\nladder web 1 5000 20000 "), "%s", text);
	teardown(&e);

	setup(&e); /* the successor, on another clock */
	DEPREFER = 0;
	F.now = 777777;
	cr_assert_eq(announcer_adopt(e.a, text), 2);
	free(text);
	struct announcer_status st = status(&e, "web");
	cr_expect_eq(st.ladder_step, LADDER_DEPREFERRED);
	listen_all(&e);
	evaluate(&e, F.now);
	assert_edges("web", 0, 1, ANNOUNCE_DEPREFERRED);
	cr_expect_eq(status(&e, "web").ladder_left_ms, 15000, "the window goes on where it was");
	evaluate(&e, F.now + 15000);
	expect_edges("web", 0, 2, ANNOUNCE_WITHDRAW | ANNOUNCE_DRAIN_OFF);
	teardown(&e);
}
