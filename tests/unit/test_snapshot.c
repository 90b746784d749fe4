/*
 * DOC: unit tests for the state snapshot (lb/snapshot.c)
 *
 * A runtime is built from YAML on the test's thread; its state is changed through lb/backend.c
 * as the monitor and the admin API change it, taken, written and read back. The parser's
 * refusals one by one, a valid file cut at every byte offset (always refused), and what
 * snapshot_apply() restores: drains always, verdicts only while young, overrides through the
 * callback, counters added, backends and services no longer configured dropped. Time passed in.
 */
#include "bgp/policy.h"
#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/runtime.h"
#include "lb/snapshot.h"
#include "lib/hash.h"
#include "tests/support/conf_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1700000000000ull /* a wall-clock time, unix ms */

#define YAML                                                                                       \
	"bgp:\n"                                                                                   \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    listen: 0.0.0.0:80\n"                                                                 \
	"    anycast:\n"                                                                           \
	"      prefixes: [192.0.2.10/32]\n"                                                        \
	"    health:\n"                                                                            \
	"      liveness: {type: tcp, rise: 2, fall: 3}\n"                                          \
	"    backends:\n"                                                                          \
	"      - address: 10.0.0.1:8080\n"                                                         \
	"      - address: 10.0.0.2:8080\n"                                                         \
	"  - name: api\n"                                                                          \
	"    listen: 0.0.0.0:81\n"                                                                 \
	"    initial_state: not_ready\n"                                                           \
	"    health:\n"                                                                            \
	"      readiness: {type: tcp, rise: 2, fall: 2}\n"                                         \
	"    backends:\n"                                                                          \
	"      - address: \"[2001:db8::1]:8443\"\n"                                                \
	"      - address: 10.0.1.2:8443\n"

static struct lb_runtime *rt_of(const char *y)
{
	struct lb_runtime *rt = runtime_new(sc_conf_load_buffer_ok(y));

	cr_assert_not_null(rt);
	return rt;
}

static struct lb_backend *be(struct lb_runtime *rt, const char *svc, size_t i)
{
	struct lb_service *s = runtime_service(rt, svc);
	cr_assert_not_null(s);
	cr_assert_lt(i, s->conf->nbackends);
	return &s->backends[i];
}

static void result(struct lb_backend *b, enum backend_check which, int ok, uint64_t now)
{
	struct check_result r = {.ok = ok, .duration = 0.002};
	snprintf(r.reason, sizeof(r.reason), "%s", ok ? "ok" : "connect refused");
	backend_check_result(b, which, &r, now);
}

/* web: withdrawn by the operator, and its drain ladder started; api: no anycast. */
static int get_withdraw(void *arg, const char *service, int *drained)
{
	(void)arg;
	*drained = 1; /* taken only for a service with anycast */
	return strcmp(service, "web") == 0 ? ANYCAST_OVERRIDE_WITHDRAW : SNAP_NO_OVERRIDE;
}

struct set_log {
	char service[64];
	int override, drained, calls;
};

static int set_cb(void *arg, const char *service, int override, int drained)
{
	struct set_log *l = arg;
	snprintf(l->service, sizeof(l->service), "%s", service);
	l->override = override;
	l->drained = drained;
	l->calls++;
	return 0;
}

/* Wall-clock unix ms: later than every check a busy_runtime() ran. */
static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int state_of(const struct lb_backend *b)
{
	return atomic_load(&b->st->state);
}

/* A runtime with something in every field worth saving, and its snapshot written. */
static struct lb_runtime *busy_runtime(char **buf, size_t *len)
{
	struct lb_runtime *rt = rt_of(YAML);
	struct snapshot s;

	backend_set_draining(be(rt, "web", 1), 1, "operator drain", 10);
	result(be(rt, "web", 0), BACKEND_CHECK_LIVENESS, 0, 20); /* fresh: one failure, dead */
	result(be(rt, "web", 1), BACKEND_CHECK_LIVENESS, 1, 20);
	result(be(rt, "api", 1), BACKEND_CHECK_READINESS, 1, 20);
	result(be(rt, "api", 1), BACKEND_CHECK_READINESS, 1, 30);
	atomic_store(&be(rt, "api", 1)->st->bytes_in, 12345);
	atomic_store(&be(rt, "api", 1)->st->connect_hist[3], 7);
	atomic_store(&runtime_service(rt, "web")->st->accepted, 99);
	atomic_store(&runtime_service(rt, "web")->st->results[LB_RESULT_TIMEOUT], 5);
	atomic_store(&runtime_service(rt, "web")->st->duration_hist[4], 6);
	atomic_store(&runtime_service(rt, "web")->st->duration_sum_us, 7000000);
	atomic_store(&runtime_service(rt, "web")->st->denied, 11);
	atomic_store(&runtime_service(rt, "web")->st->queue.timeouts, 12);
	atomic_store(&runtime_service(rt, "api")->st->udp.flows_evicted, 13);
	atomic_store(&rt->proc->accept_pauses, 3);
	cr_assert_eq(snapshot_take(rt, get_withdraw, NULL, T0, 1000, &s), 0);
	cr_assert_eq(snapshot_format(&s, buf, len), 0);
	snapshot_free(&s);
	return rt;
}

Test(snapshot, round_trip)
{
	char *buf, *again;
	size_t len, len2;
	struct snapshot s;
	char err[256];
	struct lb_runtime *rt = busy_runtime(&buf, &len);

	cr_assert_eq(strncmp(buf, "anylb-state 7\nwritten 1700000000000\n", 36), 0, "%s", buf);
	cr_assert_eq(snapshot_parse(buf, len, &s, err, sizeof(err)), 0, "%s\n%s", err, buf);
	cr_expect_eq(s.written_ms, T0);
	cr_assert_eq(s.nservices, 2);
	cr_assert_eq(s.nbackends, 4);
	const struct snap_service *web = snapshot_service(&s, "web"),
				  *api = snapshot_service(&s, "api");
	cr_assert(web != NULL && api != NULL);
	cr_expect_eq(web->override, ANYCAST_OVERRIDE_WITHDRAW);
	cr_expect_eq(api->override, SNAP_NO_OVERRIDE, "no anycast");
	cr_expect(web->drained, "the ladder is kept");
	cr_expect(!api->drained, "a service without anycast has no ladder");
	cr_expect_not_null(strstr(buf, "service web override withdraw\ndrained web\n"), "%s", buf);
	cr_expect_null(strstr(buf, "drained api"), "%s", buf);
	cr_expect_eq(web->c.accepted, 99);
	cr_expect_eq(web->c.results[LB_RESULT_TIMEOUT], 5);
	cr_expect_eq(web->c.duration_hist[4], 6);
	cr_expect_eq(web->c.duration_sum_us, 7000000);
	cr_expect_not_null(
		strstr(buf, "counters more web proxy_header_errors 0 denied 11 "), "%s", buf);
	const struct snap_service *webm = snapshot_service(&s, "web");
	cr_expect_eq(webm->c.more[1], 11, "denied");
	cr_expect_eq(webm->c.more[7], 12, "queue_timeouts");
	cr_expect_eq(api->c.more[13], 13, "udp_flows_evicted");
	const struct snap_backend *w0 = snapshot_backend(&s, "web", "10.0.0.1:8080");
	const struct snap_backend *w1 = snapshot_backend(&s, "web", "10.0.0.2:8080");
	const struct snap_backend *a0 = snapshot_backend(&s, "api", "[2001:db8::1]:8443");
	const struct snap_backend *a1 = snapshot_backend(&s, "api", "10.0.1.2:8443");
	cr_assert(w0 && w1 && a0 && a1);
	cr_expect_eq(w0->state, BACKEND_DEAD);
	cr_expect_neq(w0->verdict_ms, 0, "a check ran");
	cr_expect_eq(w0->checks[0].health, 0);
	cr_expect_eq(w0->checks[0].rise, 2);
	cr_expect_eq(w0->checks[0].fall, 3);
	cr_expect(w1->draining);
	cr_expect_neq(w1->verdict_ms, 0, "checked while drained");
	cr_expect_eq(
		snapshot_backend(&s, "api", "[2001:db8::1]:8443")->verdict_ms, 0, "never checked");
	cr_expect_eq(a1->state, BACKEND_READY);
	cr_expect_eq(a1->checks[1].health, 3);
	cr_expect_eq(a1->c.bytes_in, 12345);
	cr_expect_eq(a1->c.connect_hist[3], 7);
	cr_expect_eq(a1->c.check_ok[1], 2);
	cr_expect_eq(a1->c.check_duration_us[1], 4000);
	cr_expect_eq(a1->c.check_hist[1][2] + a1->c.check_hist[1][3], 2, "two 2 ms checks");
	cr_expect_eq(a1->c.state_changes, 1, "not_ready -> ready");
	cr_expect_eq(w0->c.state_changes, 1, "ready -> dead");
	cr_expect_eq(a0->state, BACKEND_NOT_READY);
	cr_expect(a1->have_transient && w0->have_transient);
	cr_expect_eq(a1->ready_for_ms, 1000 - 20, "ready since its first verdict");
	cr_expect_eq(w0->ready_for_ms, UINT64_MAX, "not ready");
	cr_expect_eq(w0->outlier.state, OUTLIER_OK);
	cr_expect(s.have_process);
	cr_expect_eq(s.accept_pauses, 3);
	/* What parses writes back the same bytes. */
	cr_assert_eq(snapshot_format(&s, &again, &len2), 0);
	cr_expect_eq(len2, len);
	cr_expect_str_eq(again, buf);
	free(again);
	snapshot_free(&s);
	free(buf);
	runtime_put(rt);
}

Test(snapshot, truncated_at_every_offset_is_refused)
{
	char *buf;
	size_t len;
	struct snapshot s;
	char err[256];
	struct lb_runtime *rt = busy_runtime(&buf, &len);

	for (size_t n = 0; n < len; n++) {
		int rc = snapshot_parse(buf, n, &s, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "a cut at byte %zu of %zu was accepted", n, len);
		cr_assert_neq(err[0], '\0', "a refusal says why");
		cr_assert_eq(s.nservices + s.nbackends, 0, "nothing is left of a refused file");
	}
	/* Any flipped byte is refused too (a name in a record, a digit, the hash). */
	for (size_t n = 0; n < len; n += 7) {
		char save = buf[n];
		buf[n] = buf[n] == 'x' ? 'y' : 'x';
		cr_assert_eq(snapshot_parse(buf, len, &s, err, sizeof(err)), -EINVAL,
			"byte %zu changed and accepted", n);
		buf[n] = save;
	}
	cr_assert_eq(snapshot_parse(buf, len, &s, err, sizeof(err)), 0, "%s", err);
	snapshot_free(&s);
	free(buf);
	runtime_put(rt);
}

/* body with its `end` line; the caller frees. */
static char *sealed(const char *body)
{
	size_t n = strlen(body);
	char *out = malloc(n + 32);
	cr_assert_not_null(out);
	memcpy(out, body, n);
	snprintf(out + n, 32, "end %016llx\n", (unsigned long long)hash_bytes(body, n, 0));
	return out;
}

static void refused(const char *body, int seal, const char *want)
{
	char *buf = seal ? sealed(body) : strdup(body);
	struct snapshot s;
	char err[256];

	int rc = snapshot_parse(buf, strlen(buf), &s, err, sizeof(err));
	cr_expect_eq(rc, -EINVAL, "accepted:\n%s", buf);
	cr_expect(strstr(err, want) != NULL, "error \"%s\", want \"%s\", for:\n%s", err, want, buf);
	free(buf);
}

#define HEAD "anylb-state 1\nwritten 1700000000000\n"
#define SVC  "service web override none\n"
#define BE   "backend web 10.0.0.1:8080 drain 0 state ready verdict 1 live 1/1/1 ready 1/1/1\n"

Test(snapshot, refusals)
{
	char *ok = sealed(HEAD SVC BE);
	struct snapshot s;
	char err[256];
	cr_assert_eq(snapshot_parse(ok, strlen(ok), &s, err, sizeof(err)), 0, "%s", err);
	snapshot_free(&s);
	free(ok);

	refused("", 0, "empty");
	refused("GIF89a\n", 1, "line 1: not an anylb state file");
	refused("anylb-state 8\nwritten 1\n", 1,
		"line 1: version 8: this anylb reads versions 1 to 7");
	refused("anylb-state 01\nwritten 1\n", 1, "version 01");
	refused(HEAD SVC BE, 0, "truncated: no 'end' line");
	refused(HEAD SVC "backend web", 0, "truncated: the last line has no end");
	refused(HEAD "end 0000000000000000\n", 0, "line 3: 'end': the hash does not match");
	refused("anylb-state 1\nwritten 17000000000000000000000\n", 1,
		"line 2: written: not a decimal number");
	refused("anylb-state 1\nwritten -1\n", 1, "line 2: written: not a decimal");
	refused("anylb-state 1\nwritten 012\n", 1, "line 2: written: not a decimal");
	refused("anylb-state 1\nwriten 12\n", 1, "line 2: expected 'written N'");
	refused(HEAD "frobnicate web\n", 1, "line 3: unknown record 'frobnicate'");
	refused(HEAD SVC SVC, 1, "service web: two records");
	refused(HEAD SVC BE BE, 1, "backend 10.0.0.1:8080 of service web: two records");
	refused(HEAD BE, 1, "backend 10.0.0.1:8080: service web has no record");
	refused(HEAD "service w\x01"
		     "b override none\n",
		1, "line 3: a control or non-ASCII byte");
	refused(HEAD "service w\xc3\xa9 override none\n", 1, "non-ASCII byte");
	refused(HEAD "service web  override none\n", 1, "an empty field");
	refused(HEAD "service web override none \n", 1, "an empty field");
	refused(HEAD "service web override maybe\n", 1, "unknown override 'maybe'");
	refused(HEAD "service "
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa override "
		     "none\n",
		1, "service name: empty, longer than 64 bytes");
	refused(HEAD SVC "backend web 10.0.0.1:8080 drain 2 state ready verdict 1 live 1/1/1 "
			 "ready 1/1/1\n",
		1, "drain: 0 or 1");
	refused(HEAD SVC "backend web 10.0.0.1:8080 drain 0 state happy verdict 1 live 1/1/1 "
			 "ready 1/1/1\n",
		1, "unknown state 'happy'");
	refused(HEAD SVC "backend web 10.0.0.1:8080 drain 0 state ready verdict 1 live 1/1 "
			 "ready 1/1/1\n",
		1, "live: not HEALTH/RISE/FALL of 0..65535");
	refused(HEAD SVC "backend web 10.0.0.1:8080 drain 0 state ready verdict 1 live 1/1/70000 "
			 "ready 1/1/1\n",
		1, "live: not HEALTH/RISE/FALL of 0..65535");
	refused(HEAD SVC "backend web 10.0.0.1:8080 drain 0\n", 1, "backend: expected");
	refused(HEAD SVC "counters service web accepted 1\n", 1,
		"counters service: expected NAME and five fields");
	refused(HEAD SVC "counters service web accepted 1 refused_limit 1 no_backend 1 retries 1 "
			 "results 1,2,3\n",
		1, "results: not 8 comma-separated decimal numbers");
	refused(HEAD SVC "counters service api accepted 1 refused_limit 1 no_backend 1 retries 1 "
			 "results 0,0,0,0,0,0,0,0\n",
		1, "counters of service api: the service has no record");
	refused(HEAD SVC "counters service web accepted 1 refused_limit 1 no_backend 1 retries 1 "
			 "results 0,0,0,0,0,0,0,0\n"
			 "counters service web accepted 1 refused_limit 1 no_backend 1 retries 1 "
			 "results 0,0,0,0,0,0,0,0\n",
		1, "counters of service web: two records");
	refused(HEAD "counters process accept_pauses 1 limit_pauses 2\n"
		     "counters process accept_pauses 1 limit_pauses 2\n",
		1, "counters process: a second time");
	refused(HEAD "counters thread 1\n", 1, "counters: unknown kind 'thread'");
	refused(HEAD SVC
		"counters backend web 10.0.0.9:1 sessions 0 connect_fails 0 ejections 0 "
		"closed_dead 0 bytes_in 0 bytes_out 0 connect_hist 0,0,0,0,0,0,0,0,0,0,0,0 "
		"connect_sum_us 0 check_ok 0,0 check_failed 0,0 check_duration_us 0,0\n",
		1, "counters of backend 10.0.0.9:1 (web): the backend has no record");

	/* Data after the end line. */
	char *s2 = sealed(HEAD SVC);
	size_t n = strlen(s2);
	char *more = malloc(n + 8);
	memcpy(more, s2, n);
	strcpy(more + n, "x\n");
	cr_expect_eq(snapshot_parse(more, n + 2, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "data after the 'end' line") != NULL, "%s", err);
	free(more);
	free(s2);
}

Test(snapshot, oversize_lines_and_files_are_refused)
{
	struct snapshot s;
	char err[256];
	size_t n = SNAP_MAX_LINE + 100;
	char *buf = malloc(n);

	memset(buf, 'a', n);
	memcpy(buf, HEAD, strlen(HEAD));
	cr_expect_eq(snapshot_parse(buf, n, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "line 3: longer than 2047 bytes") != NULL, "%s", err);
	/* A size check comes first: the content is never looked at. */
	cr_expect_eq(
		snapshot_parse(buf, (size_t)SNAP_MAX_BYTES + 1, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "larger than") != NULL, "%s", err);
	free(buf);
}

Test(snapshot, names_that_cannot_be_written_are_refused_by_format)
{
	struct snapshot s = {0};
	struct snap_service sv = {.name = "we b", .override = SNAP_NO_OVERRIDE};
	char *buf;
	size_t len;

	s.services = &sv;
	s.nservices = 1;
	cr_expect_eq(snapshot_format(&s, &buf, &len), -EINVAL);
}

/* A snapshot of a runtime, as the previous process left it, parsed back. */
static void saved_of(struct lb_runtime *rt, uint64_t at, struct snapshot *out)
{
	struct snapshot s;
	char *buf, err[256];
	size_t len;

	cr_assert_eq(snapshot_take(rt, get_withdraw, NULL, at, 1000, &s), 0);
	cr_assert_eq(snapshot_format(&s, &buf, &len), 0);
	snapshot_free(&s);
	cr_assert_eq(snapshot_parse(buf, len, out, err, sizeof(err)), 0, "%s", err);
	free(buf);
}

Test(snapshot, apply_restores_drains_young_verdicts_and_overrides)
{
	char *buf;
	size_t len;
	struct snapshot s;
	struct lb_runtime *old = busy_runtime(&buf, &len);
	struct lb_runtime *rt = rt_of(YAML);
	struct set_log log = {0};
	struct snapshot_applied r;
	uint64_t at = wall_ms(); /* the verdicts are at most this old */

	saved_of(old, at, &s);
	cr_assert_eq(state_of(be(rt, "api", 1)), BACKEND_NOT_READY, "initial_state: not_ready");
	snapshot_apply(
		rt, &s, SNAP_OPERATOR | SNAP_HEALTH, at + 5000, 1000, 30000, set_cb, &log, &r);
	cr_expect_eq(r.drains, 1);
	cr_expect_eq(r.verdicts, 3, "the three checked backends");
	cr_expect_eq(r.stale, 0);
	cr_expect_eq(r.overrides, 1);
	cr_expect_eq(r.dropped, 0);
	cr_expect_eq(r.counters, 0, "counters are the upgrade's");
	cr_expect_eq(log.calls, 1);
	cr_expect_str_eq(log.service, "web");
	cr_expect_eq(log.override, ANYCAST_OVERRIDE_WITHDRAW);
	cr_expect_eq(r.ladders, 1);
	cr_expect(log.drained, "the drain ladder starts again");
	cr_expect_eq(state_of(be(rt, "web", 0)), BACKEND_DEAD, "the saved verdict");
	cr_expect_eq(state_of(be(rt, "web", 1)), BACKEND_DRAINING);
	cr_expect(be(rt, "web", 1)->st->h.draining);
	cr_expect_eq(state_of(be(rt, "api", 1)), BACKEND_READY, "not held for a first verdict");
	cr_expect_eq(state_of(be(rt, "api", 0)), BACKEND_NOT_READY, "no verdict: still waiting");
	cr_expect_eq(atomic_load(&be(rt, "api", 1)->st->bytes_in), 0);
	cr_expect(strstr(be(rt, "web", 0)->st->h.reason, "saved verdict restored") != NULL, "%s",
		be(rt, "web", 0)->st->h.reason);
	snapshot_free(&s);
	free(buf);
	runtime_put(rt);
	runtime_put(old);
}

/* The upgrade's SNAP_TRANSIENT: an ejection goes on in the successor for what was left. */
Test(snapshot, an_upgrade_carries_an_ejection_over)
{
	struct lb_runtime *old = rt_of(YAML), *rt = rt_of(YAML), *cold = rt_of(YAML);
	struct snapshot s;
	uint64_t at = wall_ms(); /* the verdict is at most this old */

	result(be(old, "web", 0), BACKEND_CHECK_LIVENESS, 1, 20);
	for (int i = 0; i < 5; i++) /* the default: 5 in a row, 30 s */
		backend_session_outcome(be(old, "web", 0), 0, 0, "connect refused", 100);
	cr_assert_eq(state_of(be(old, "web", 0)), BACKEND_EJECTED);
	saved_of(old, at, &s); /* at monotonic 1000: 29100 ms left */
	const struct snap_backend *w0 = snapshot_backend(&s, "web", "10.0.0.1:8080");
	cr_assert_not_null(w0);
	cr_expect_eq(w0->outlier.state, OUTLIER_EJECTED);
	cr_expect_eq(w0->outlier.left_ms, 29100);
	cr_expect_eq(w0->outlier.ejections, 1u);

	struct snapshot_applied r;
	snapshot_apply(rt, &s, SNAP_HEALTH | SNAP_TRANSIENT, at + 100, 5000, 30000, NULL, NULL, &r);
	cr_expect_eq(r.verdicts, 1);
	struct lb_backend *b = be(rt, "web", 0);
	cr_expect_eq(state_of(b), BACKEND_EJECTED, "%s: %s", backend_state_name(state_of(b)),
		b->st->h.reason);
	cr_expect_eq(outlier_ejected_until(b->svc->st->outlier, b->st->h.oidx), 5000 + 29000,
		"what was left, less the 100 ms since it was written");
	/* A cold restart (the state file) does not carry it. */
	snapshot_apply(cold, &s, SNAP_HEALTH, at + 100, 5000, 30000, NULL, NULL, NULL);
	cr_expect_eq(state_of(be(cold, "web", 0)), BACKEND_READY);
	snapshot_free(&s);
	runtime_put(cold);
	runtime_put(rt);
	runtime_put(old);
}

Test(snapshot, stale_verdicts_are_ignored_drains_kept)
{
	char *buf;
	size_t len;
	struct snapshot s;
	struct lb_runtime *old = busy_runtime(&buf, &len);
	struct lb_runtime *rt = rt_of(YAML);
	struct snapshot_applied r;
	uint64_t at = wall_ms();

	saved_of(old, at, &s);
	snapshot_apply(
		rt, &s, SNAP_OPERATOR | SNAP_HEALTH, at + 30001, 1000, 30000, NULL, NULL, &r);
	cr_expect_eq(r.drains, 1);
	cr_expect_eq(r.verdicts, 0);
	cr_expect_eq(r.stale, 3);
	cr_expect_eq(r.overrides, 0, "no setter");
	cr_expect_eq(state_of(be(rt, "web", 0)), BACKEND_READY, "not checked yet: passing");
	cr_expect_eq(state_of(be(rt, "web", 1)), BACKEND_DRAINING);
	cr_expect_eq(state_of(be(rt, "api", 1)), BACKEND_NOT_READY);
	snapshot_free(&s);

	/* A verdict from the future (the clock went back): not trusted either. */
	struct lb_runtime *rt2 = rt_of(YAML);
	saved_of(old, at, &s);
	snapshot_apply(rt2, &s, SNAP_HEALTH, at - 2000, 1000, 30000, NULL, NULL, &r);
	cr_expect_eq(r.stale, 3);
	cr_expect_eq(r.drains, 0, "not asked for");
	cr_expect_eq(state_of(be(rt2, "web", 1)), BACKEND_READY);
	snapshot_free(&s);
	free(buf);
	runtime_put(rt2);
	runtime_put(rt);
	runtime_put(old);
}

Test(snapshot, removed_backends_and_services_are_dropped)
{
	char *buf, *out;
	size_t len, olen;
	struct snapshot s, now;
	struct lb_runtime *old = busy_runtime(&buf, &len);
	/* web keeps only its dead backend, api is gone, new is new. */
	struct lb_runtime *rt = rt_of("services:\n"
				      "  - name: web\n"
				      "    listen: 0.0.0.0:80\n"
				      "    health:\n"
				      "      liveness: {type: tcp, rise: 2, fall: 3}\n"
				      "    backends:\n"
				      "      - address: 10.0.0.1:8080\n"
				      "  - name: new\n"
				      "    listen: 0.0.0.0:82\n"
				      "    backends:\n"
				      "      - address: 10.0.0.2:8080\n");
	struct snapshot_applied r;
	struct set_log log = {0};
	uint64_t at = wall_ms();

	saved_of(old, at, &s);
	snapshot_apply(rt, &s, SNAP_OPERATOR | SNAP_HEALTH | SNAP_COUNTERS, at, 1000, 30000, set_cb,
		&log, &r);
	cr_expect_eq(r.dropped, 4, "api, its two backends, web's second backend");
	cr_expect_eq(r.drains, 0, "the drained backend is gone from web");
	cr_expect_eq(r.verdicts, 1);
	cr_expect_eq(log.calls, 0, "web has no anycast any more");
	cr_expect_eq(state_of(be(rt, "web", 0)), BACKEND_DEAD);
	cr_expect_eq(state_of(be(rt, "new", 0)), BACKEND_READY, "same address, other service");
	cr_expect_eq(atomic_load(&runtime_service(rt, "web")->st->accepted), 99, "counters added");
	cr_expect_eq(atomic_load(&rt->proc->accept_pauses), 3);
	/* The next write knows only what is configured. */
	cr_assert_eq(snapshot_take(rt, NULL, NULL, at + 1, 1001, &now), 0);
	cr_assert_eq(snapshot_format(&now, &out, &olen), 0);
	cr_expect_null(strstr(out, "api"), "%s", out);
	cr_expect_null(strstr(out, "10.0.0.2:8080 drain 1"), "%s", out);
	cr_expect_eq(now.nbackends, 2);
	free(out);
	snapshot_free(&now);
	snapshot_free(&s);
	free(buf);
	runtime_put(rt);
	runtime_put(old);
}

Test(snapshot, counters_are_added)
{
	char *buf;
	size_t len;
	struct snapshot s;
	struct lb_runtime *old = busy_runtime(&buf, &len);
	struct lb_runtime *rt = rt_of(YAML);

	saved_of(old, T0, &s);
	atomic_store(&runtime_service(rt, "web")->st->accepted, 1);
	snapshot_apply(rt, &s, SNAP_COUNTERS, T0, 1000, 0, NULL, NULL, NULL);
	cr_expect_eq(atomic_load(&runtime_service(rt, "web")->st->accepted), 100);
	cr_expect_eq(atomic_load(&runtime_service(rt, "web")->st->results[LB_RESULT_TIMEOUT]), 5);
	cr_expect_eq(atomic_load(&be(rt, "api", 1)->st->bytes_in), 12345);
	cr_expect_eq(atomic_load(&be(rt, "api", 1)->st->connect_hist[3]), 7);
	cr_expect_eq(atomic_load(&be(rt, "api", 1)->st->checks[1].ok), 2);
	cr_expect_eq(atomic_load(&runtime_service(rt, "web")->st->duration_hist[4]), 6);
	cr_expect_eq(atomic_load(&runtime_service(rt, "web")->st->duration_sum_us), 7000000);
	cr_expect_eq(atomic_load(&be(rt, "web", 0)->st->state_changes), 1);
	uint64_t checks = 0;
	for (int k = 0; k < LB_CHECK_BUCKETS; k++)
		checks += atomic_load(&be(rt, "api", 1)->st->checks[1].duration_hist[k]);
	cr_expect_eq(checks, 2, "the check histogram goes along with its sum");
	cr_expect_eq(state_of(be(rt, "web", 1)), BACKEND_READY, "operator state not asked for");
	snapshot_free(&s);
	free(buf);
	runtime_put(rt);
	runtime_put(old);
}

/* A version 2 file (the binary before this one, in an upgrade) has shorter counters records. */
Test(snapshot, version_2_counters_are_read)
{
	char *buf = sealed("anylb-state 2\nwritten 1700000000000\n" SVC BE
			   "counters service web accepted 4 refused_limit 0 no_backend 0 retries 0 "
			   "results 1,2,3,4,5,6,7,8\n"
			   "counters backend web 10.0.0.1:8080 sessions 3 connect_fails 0 "
			   "ejections 0 closed_dead 0 bytes_in 0 bytes_out 0 connect_hist "
			   "0,0,0,0,0,0,0,0,0,0,0,1 connect_sum_us 9 check_ok 1,2 check_failed 0,0 "
			   "check_duration_us 5,6\n");
	struct snapshot s;
	char err[256];

	cr_assert_eq(snapshot_parse(buf, strlen(buf), &s, err, sizeof(err)), 0, "%s", err);
	const struct snap_service *web = snapshot_service(&s, "web");
	const struct snap_backend *b = snapshot_backend(&s, "web", "10.0.0.1:8080");
	cr_assert(web != NULL && b != NULL);
	cr_expect_eq(web->c.accepted, 4);
	cr_expect_eq(web->c.results[7], 8);
	cr_expect_eq(web->c.duration_sum_us, 0, "not in version 2");
	cr_expect_eq(b->c.sessions, 3);
	cr_expect_eq(b->c.check_duration_us[1], 6);
	cr_expect_eq(b->c.state_changes, 0, "not in version 2");
	snapshot_free(&s);
	free(buf);
}

/* Version 4's runtime record: maint and a runtime weight, written, read back, applied. */
Test(snapshot, runtime_records_round_trip_and_apply)
{
	struct lb_runtime *old = rt_of(YAML);
	struct snapshot s;
	char *buf, err[256];
	size_t len;

	backend_set_maint(be(old, "web", 0), 1, "operator maint", 10);
	backend_set_weight(be(old, "web", 1), 7, 10);
	backend_set_weight(be(old, "api", 1), 0, 10);
	cr_assert_eq(snapshot_take(old, NULL, NULL, T0, 1000, &s), 0);
	cr_assert_eq(snapshot_format(&s, &buf, &len), 0);
	snapshot_free(&s);
	cr_expect(strstr(buf, "runtime web 10.0.0.1:8080 maint 1 weight - file_weight 0\n") != NULL,
		"%s", buf);
	cr_expect(
		strstr(buf, "runtime web 10.0.0.2:8080 maint 0 weight 7 file_weight 100\n") != NULL,
		"%s", buf);
	cr_expect(
		strstr(buf, "runtime api 10.0.1.2:8443 maint 0 weight 0 file_weight 100\n") != NULL,
		"%s", buf);
	cr_expect(strstr(buf, "runtime api [2001") == NULL, "nothing to say: no record");
	cr_expect(strstr(buf, "state maint") != NULL, "%s", buf);
	cr_assert_eq(snapshot_parse(buf, len, &s, err, sizeof(err)), 0, "%s\n%s", err, buf);
	const struct snap_backend *m = snapshot_backend(&s, "web", "10.0.0.1:8080"),
				  *w = snapshot_backend(&s, "web", "10.0.0.2:8080"),
				  *z = snapshot_backend(&s, "api", "10.0.1.2:8443");
	cr_assert(m != NULL && w != NULL && z != NULL);
	cr_expect(m->maint && !m->weight_set);
	cr_expect_eq(m->state, BACKEND_MAINT);
	cr_expect(!w->maint && w->weight_set && w->weight == 7 && w->weight_file == 100);
	cr_expect(z->weight_set && z->weight == 0);

	/* A restart: the file kept web's weights, but says 50 for api's 10.0.1.2. */
	char *y = strdup(YAML), *at = strstr(y, "      - address: 10.0.1.2:8443\n");
	cr_assert_not_null(at);
	size_t cap = strlen(y) + 32;
	char *y2 = malloc(cap);
	cr_assert_not_null(y2);
	*at = '\0';
	snprintf(y2, cap, "%s      - address: 10.0.1.2:8443\n        weight: 50\n", y);
	struct lb_runtime *rt = rt_of(y2);
	struct snapshot_applied r;
	snapshot_apply(rt, &s, SNAP_OPERATOR, T0 + 10, 2000, 30000, NULL, NULL, &r);
	cr_expect_eq(r.maints, 1);
	cr_expect_eq(r.weights, 1);
	cr_expect_eq(r.weights_dropped, 1, "the file changed api's weight: the file wins");
	cr_expect_eq(state_of(be(rt, "web", 0)), BACKEND_MAINT);
	cr_expect_eq(backend_weight(be(rt, "web", 1)), 7);
	cr_expect_eq(atomic_load(&be(rt, "web", 1)->st->runtime_weight), 7);
	cr_expect_eq(backend_weight(be(rt, "api", 1)), 50);
	cr_expect_eq(atomic_load(&be(rt, "api", 1)->st->runtime_weight), -1);
	cr_expect(backend_accepts(be(rt, "api", 1)) || state_of(be(rt, "api", 1)) != BACKEND_READY);
	snapshot_free(&s);
	free(buf);
	free(y);
	free(y2);
	runtime_put(rt);
	runtime_put(old);
}

/* A version 3 file (the binary before this one) has no runtime records, and may not have one. */
Test(snapshot, version_3_is_read_without_runtime_records)
{
	char *buf = sealed("anylb-state 3\nwritten 1700000000000\n" SVC BE
			   "transient web 10.0.0.1:8080 ready_for 5 outlier ok failures 0 "
			   "ejections 0 left 0\n");
	struct snapshot s;
	char err[256];

	cr_assert_eq(snapshot_parse(buf, strlen(buf), &s, err, sizeof(err)), 0, "%s", err);
	const struct snap_backend *b = snapshot_backend(&s, "web", "10.0.0.1:8080");
	cr_assert_not_null(b);
	cr_expect(!b->have_runtime && !b->maint && !b->weight_set);
	cr_expect(b->have_transient);
	snapshot_free(&s);
	free(buf);
	refused("anylb-state 3\nwritten 1700000000000\n" SVC BE
		"runtime web 10.0.0.1:8080 maint 1 weight - file_weight 0\n",
		1, "line 5: unknown record 'runtime'");
}

Test(snapshot, overlay_records_round_trip_and_bad_ones_are_refused)
{
/* Written back at the current version: the records are those of version 6. */
#define HEAD6 "anylb-state 7\nwritten 1700000000000\n"
	char *ok = sealed(HEAD6 SVC BE "added web 10.0.0.3:8080 weight 7 zone z1\n"
				       "added web [::1]:8080 weight 1 zone -\n"
				       "removed web 10.0.0.1:8080\n");
	struct snapshot s;
	char err[256], *buf;
	size_t len;
	cr_assert_eq(snapshot_parse(ok, strlen(ok), &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.overlay.n, 3);
	cr_expect_str_eq(s.overlay.v[0].address, "10.0.0.3:8080");
	cr_expect_eq(s.overlay.v[0].weight, 7);
	cr_expect_str_eq(s.overlay.v[0].zone, "z1");
	cr_expect_null(s.overlay.v[1].zone);
	cr_expect(s.overlay.v[2].removed);
	cr_assert_eq(snapshot_format(&s, &buf, &len), 0);
	cr_expect_eq(len, strlen(ok));
	cr_expect_str_eq(buf, ok, "%s", buf);
	free(buf);
	snapshot_free(&s);
	free(ok);
	refused(HEAD6 SVC BE "added web 10.0.0.3:8080 weight 0 zone -\n", 1, "weight: 1 to 1000");
	refused(HEAD6 SVC BE "added web 10.0.0.3:8080 weight 1\n", 1, "added: expected");
	refused(HEAD6 SVC BE "added web nonsense weight 1 zone -\n", 1,
		"backend address nonsense:");
	refused(HEAD6 SVC BE "removed web 10.0.0.3:8080\nremoved web 10.0.0.3:8080\n", 1,
		"two records");
	refused(HEAD6 SVC BE "removed web\n", 1, "removed: expected");
	/* Version 5 has no such records. */
	refused("anylb-state 5\nwritten 1700000000000\n" SVC BE "removed web 10.0.0.3:8080\n", 1,
		"unknown record 'removed'");
#undef HEAD6
}

/* Version 5's `counters more`: by key, unknown keys skipped, only after `counters service`. */
Test(snapshot, more_counters_are_read_by_key)
{
	char *buf = sealed("anylb-state 5\nwritten 1700000000000\n" SVC BE
			   "counters service web accepted 1 refused_limit 0 no_backend 0 retries 0 "
			   "results 0,0,0,0,0,0,0,0 duration_hist 0,0,0,0,0,0,0,0,0,0,0,0 "
			   "duration_sum_us 0\n"
			   "counters more web rate_limited 5 from_the_future 9 udp_rx 6\n");
	struct snapshot s;
	char err[256];

	cr_assert_eq(snapshot_parse(buf, strlen(buf), &s, err, sizeof(err)), 0, "%s", err);
	const struct snap_service *web = snapshot_service(&s, "web");
	cr_assert_not_null(web);
	cr_expect_eq(web->c.more[2], 5, "rate_limited");
	cr_expect_eq(web->c.more[8], 6, "udp_rx");
	cr_expect_eq(web->c.more[0], 0, "not written: 0");
	snapshot_free(&s);
	free(buf);
	refused("anylb-state 5\nwritten 1700000000000\n" SVC BE "counters more web denied 1\n", 1,
		"no 'counters service' record before it");
	refused("anylb-state 5\nwritten 1700000000000\n" SVC BE
		"counters service web accepted 1 refused_limit 0 no_backend 0 retries 0 "
		"results 0,0,0,0,0,0,0,0 duration_hist 0,0,0,0,0,0,0,0,0,0,0,0 duration_sum_us 0\n"
		"counters more web denied x\n",
		1, "denied: not a decimal");
	refused("anylb-state 4\nwritten 1700000000000\n" SVC BE
		"counters service web accepted 1 refused_limit 0 no_backend 0 retries 0 "
		"results 0,0,0,0,0,0,0,0 duration_hist 0,0,0,0,0,0,0,0,0,0,0,0 duration_sum_us 0\n"
		"counters more web denied 1\n",
		1, "counters: unknown kind 'more'");
}

Test(snapshot, bad_runtime_records_are_refused)
{
#define HEAD4 "anylb-state 4\nwritten 1700000000000\n"
	refused(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 2 weight - file_weight 0\n", 1,
		"maint: 0 or 1");
	refused(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 0 weight 1001 file_weight 1\n", 1,
		"weight: 0 to 1000");
	refused(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 0 weight x file_weight 1\n", 1,
		"weight: not a decimal");
	refused(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 0 weight 3\n", 1,
		"runtime: expected");
	refused(HEAD4 SVC BE "runtime web 10.0.0.9:8080 maint 1 weight - file_weight 0\n", 1,
		"runtime of backend 10.0.0.9:8080 (web): the backend has no record");
	refused(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 1 weight - file_weight 0\n"
			     "runtime web 10.0.0.1:8080 maint 1 weight - file_weight 0\n",
		1, "two records");
	char *ok =
		sealed(HEAD4 SVC BE "runtime web 10.0.0.1:8080 maint 0 weight 0 file_weight 1\n");
	struct snapshot s;
	char err[256];
	cr_expect_eq(snapshot_parse(ok, strlen(ok), &s, err, sizeof(err)), 0, "%s", err);
	snapshot_free(&s);
	free(ok);
#undef HEAD4
}

/* The `drained` record (version 7): kept only right after its service's, which has anycast. */
Test(snapshot, drained_records_apply_alone_and_bad_ones_are_refused)
{
#define HEAD7 "anylb-state 7\nwritten 1700000000000\n"
	char *ok = sealed(HEAD7 SVC "drained web\n" BE);
	struct snapshot s;
	struct snapshot_applied r;
	struct set_log log = {0};
	char err[256];
	cr_assert_eq(snapshot_parse(ok, strlen(ok), &s, err, sizeof(err)), 0, "%s", err);
	cr_assert(snapshot_service(&s, "web")->drained);
	struct lb_runtime *rt = rt_of(YAML);
	snapshot_apply(rt, &s, SNAP_OPERATOR, T0 + 10, 2000, 30000, set_cb, &log, &r);
	cr_expect_eq(log.calls, 1, "drained alone is worth a call: the override is none");
	cr_expect_eq(log.override, ANYCAST_OVERRIDE_NONE);
	cr_expect(log.drained);
	cr_expect_eq(r.overrides, 0);
	cr_expect_eq(r.ladders, 1);
	runtime_put(rt);
	snapshot_free(&s);
	free(ok);
	refused(HEAD7 SVC "drained web\ndrained web\n", 1, "drained web: two records");
	refused(HEAD7 SVC "drained api\n", 1, "drained api: not right after its service");
	refused(HEAD7 "drained web\n" SVC, 1, "drained web: not right after its service");
	refused(HEAD7 "service web override -\ndrained web\n", 1,
		"drained web: the service has no anycast");
	refused(HEAD7 SVC "drained\n", 1, "drained: expected 'drained SERVICE'");
	refused("anylb-state 6\nwritten 1700000000000\n" SVC "drained web\n", 1,
		"unknown record 'drained'");
#undef HEAD7
}
