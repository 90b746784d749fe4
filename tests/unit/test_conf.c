/*
 * DOC: configuration loader tests
 *
 * Golden files first: every tests/conf/ok-*.yaml must load without a message, every
 * tests/conf/err-*.yaml must fail with exactly the lines of its err-*.err sibling. Files are
 * loaded as "tests/conf/NAME.yaml" from the source directory, which is how FILE reads in the
 * .err files. A mismatch names the file and shows expected and actual output.
 *
 * Then direct checks of the values and defaults that ok-* files produce (those of bgp and
 * anycast are in test_conf_bgp.c; the shared loaders in tests/support/conf_util.c), of the entry
 * points, and of robustness: truncated, mutated, deep, huge and repetitive input must be rejected
 * cleanly. Leaks are caught by the sanitizer build (-DANYLB_SANITIZE=ON): every suite runs the
 * leak checker after each test and fails the test on a leak.
 */
#include <criterion/criterion.h>

#include "conf/conf.h"
#include "tests/support/conf_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONF_DIR SC_CONF_DIR

TestSuite(conf_golden, .fini = sc_conf_check_leaks);
TestSuite(conf_values, .fini = sc_conf_check_leaks);
TestSuite(conf_load, .fini = sc_conf_check_leaks);
TestSuite(conf_robust, .fini = sc_conf_check_leaks);

struct names {
	char **v;
	size_t n;
};

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names in tests/conf starting with prefix and ending with suffix. */
static struct names list_files(const char *prefix, const char *suffix)
{
	struct names l = {0};
	DIR *d = opendir(CONF_DIR);
	struct dirent *e;

	cr_assert_not_null(d, "opendir(%s): %s", CONF_DIR, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
			!has_suffix(e->d_name, suffix))
			continue;
		l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
		cr_assert_not_null(l.v);
		l.v[l.n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	return l;
}

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* The whole file, NUL-terminated; *len without the NUL. NULL if it cannot be read. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

/* Next line of *s (without its newline) into buf; 0 at the end. */
static int next_line(const char **s, char *buf, size_t cap)
{
	if (**s == '\0')
		return 0;
	size_t n = strcspn(*s, "\n");
	snprintf(buf, cap, "%.*s", (int)n, *s);
	*s += n + ((*s)[n] == '\n');
	return 1;
}

/* A line-by-line diff, "-expected" / "+got" for each line that differs; malloc'ed. */
static char *diff_lines(const char *want, const char *got)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	char a[1024], b[1024];

	cr_assert_not_null(f);
	for (int line = 1;; line++) {
		int ha = next_line(&want, a, sizeof(a)), hb = next_line(&got, b, sizeof(b));
		if (!ha && !hb)
			break;
		if (ha && hb && strcmp(a, b) == 0)
			continue;
		fprintf(f, "  line %d:\n", line);
		if (ha)
			fprintf(f, "  -%s\n", a);
		if (hb)
			fprintf(f, "  +%s\n", b);
	}
	fclose(f);
	return out;
}

/* ---- golden files ---- */

Test(conf_golden, ok_files_load_without_messages)
{
	sc_conf_to_source_dir();
	struct names ok = list_files("ok-", ".yaml");
	cr_assert_gt(ok.n, 0, "no " CONF_DIR "/ok-*.yaml");
	for (size_t i = 0; i < ok.n; i++) {
		char path[256];
		struct conf_errs errs = {0};
		struct conf *c = NULL;
		snprintf(path, sizeof(path), CONF_DIR "/%s", ok.v[i]);
		int rc = conf_load(path, &c, &errs);
		char *got = sc_conf_print_errs(&errs);
		cr_expect(rc == 0 && c != NULL && errs.n == 0,
			"%s: expected to load, got rc %d and messages:\n%s", path, rc, got);
		free(got);
		conf_free(c);
		conf_errs_free(&errs);
	}
	names_free(&ok);
}

Test(conf_golden, err_files_print_exactly_their_err_file)
{
	sc_conf_to_source_dir();
	struct names bad = list_files("err-", ".yaml");
	cr_assert_gt(bad.n, 0, "no " CONF_DIR "/err-*.yaml");
	for (size_t i = 0; i < bad.n; i++) {
		char path[256], errpath[256];
		struct conf_errs errs = {0};
		struct conf *c = NULL;
		snprintf(path, sizeof(path), CONF_DIR "/%s", bad.v[i]);
		snprintf(errpath, sizeof(errpath), "%.*s.err", (int)strlen(path) - 5, path);
		int rc = conf_load(path, &c, &errs);
		char *got = sc_conf_print_errs(&errs);
		char *want = read_all(errpath, NULL);
		cr_expect_not_null(want, "%s: missing %s", path, errpath);
		cr_expect_eq(rc, -EINVAL, "%s: expected rc -EINVAL, got %d", path, rc);
		cr_expect_null(c, "%s: loaded although it should not", path);
		if (want != NULL && strcmp(want, got) != 0) {
			char *diff = diff_lines(want, got);
			cr_expect_fail("%s: output differs from %s (-expected +got):\n%s", path,
				errpath, diff);
			free(diff);
		}
		free(want);
		free(got);
		conf_free(c);
		conf_errs_free(&errs);
	}
	names_free(&bad);
}

Test(conf_golden, cases_are_complete)
{
	sc_conf_to_source_dir();
	struct names ok = list_files("ok-", ".yaml");
	struct names bad = list_files("err-", ".yaml");
	struct names errs = list_files("err-", ".err");
	struct names all = list_files("", "");

	cr_expect_geq(ok.n, 5, "only %zu ok-*.yaml", ok.n);
	cr_expect_geq(bad.n, 30, "only %zu err-*.yaml", bad.n);
	/*
	 * Every err-X.err has its err-X.yaml, and nothing else sits in the folder but include/,
	 * the fixtures of tests/unit/test_conf_include.c.
	 */
	for (size_t i = 0; i < errs.n; i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), CONF_DIR "/%.*s.yaml", (int)strlen(errs.v[i]) - 4,
			errs.v[i]);
		cr_expect_eq(access(yaml, F_OK), 0, "%s has no %s", errs.v[i], yaml);
	}
	for (size_t i = 0; i < all.n; i++) {
		const char *n = all.v[i];
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "include") == 0)
			continue;
		cr_expect((strncmp(n, "ok-", 3) == 0 && has_suffix(n, ".yaml")) ||
				  (strncmp(n, "err-", 4) == 0 &&
					  (has_suffix(n, ".yaml") || has_suffix(n, ".err"))),
			"%s/%s is neither ok-*.yaml nor err-*.{yaml,err}", CONF_DIR, n);
	}
	names_free(&ok);
	names_free(&bad);
	names_free(&errs);
	names_free(&all);
}

/* Runs under the sanitizer build too: every path through the loader must free what it took. */
Test(conf_golden, every_file_loads_and_frees_repeatedly)
{
	sc_conf_to_source_dir();
	struct names all = list_files("", ".yaml");
	for (int round = 0; round < 3; round++) {
		struct conf_errs errs = {0};
		for (size_t i = 0; i < all.n; i++) {
			char path[256];
			struct conf *c = NULL;
			snprintf(path, sizeof(path), CONF_DIR "/%s", all.v[i]);
			int rc = conf_load(path, &c, &errs);
			if (strncmp(all.v[i], "err-", 4) == 0)
				cr_expect(rc == -EINVAL && c == NULL, "%s was not rejected", path);
			else
				cr_expect(rc == 0 && c != NULL, "%s did not load", path);
			conf_free(c);
		}
		/* One list across loads: messages accumulate, nothing is lost or freed twice. */
		cr_expect_gt(errs.n, 0);
		conf_errs_free(&errs);
	}
	names_free(&all);
}

/* ---- values and defaults ---- */

Test(conf_values, minimal_takes_every_default)
{
	struct conf *c = sc_conf_load_ok("ok-minimal.yaml");

	cr_expect_str_eq(c->file, CONF_DIR "/ok-minimal.yaml");
	cr_expect_str_eq(c->global.site, "default");
	cr_expect_eq(c->global.workers, 0);
	cr_expect_eq(c->global.max_connections, 100000);
	cr_expect_eq(c->global.drain_timeout_ms, 30000);
	cr_expect_null(c->global.state_file, "no state file unless asked for");
	cr_expect_eq(c->global.state_max_age_ms, 30000);
	cr_expect_eq(c->global.log_level, LOG_LEVEL_INFO);
	cr_expect_eq(c->global.log.format, LOG_FORMAT_TEXT);
	cr_assert_eq(c->nservices, 1);
	const struct conf_service *s = &c->services[0];
	cr_expect_str_eq(s->name, "web");
	cr_expect_eq(s->pos.line, 3);
	cr_expect_eq(s->pos.col, 5);
	cr_assert_eq(s->nlisten, 1);
	cr_expect_str_eq(s->listen[0].address, "0.0.0.0:80");
	cr_expect_eq(s->listen[0].addr.sa.sa_family, AF_INET);
	cr_expect_eq(addr_port(&s->listen[0].addr), 80);
	cr_expect_eq(s->listen[0].pos.line, 4);
	cr_expect_eq(s->listen[0].pos.col, 13);
	cr_expect_eq(s->balance, CONF_BALANCE_ROUND_ROBIN);
	cr_expect_eq(s->hash_key, CONF_HASH_SOURCE_IP);
	cr_expect_eq(s->proxy_protocol, CONF_PROXY_OFF);
	cr_expect_eq(s->retries, 2);
	cr_expect_eq(s->max_connections, 0);
	cr_expect_eq(s->timeouts.connect_ms, 2000);
	cr_expect_eq(s->timeouts.idle_ms, 300000);
	cr_expect_eq(s->timeouts.half_close_ms, 30000);
	cr_assert_eq(s->nbackends, 1);
	cr_expect_str_eq(s->backends[0].address, "10.0.0.1:8080");
	cr_expect_eq(s->backends[0].weight, 100);
	cr_expect_null(s->backends[0].zone);
	cr_expect_eq(s->backends[0].max_connections, 0);
	cr_expect_eq(s->backends[0].pos.line, 6);
	cr_expect_eq(s->backends[0].pos.col, 9);
	conf_free(c);
}

Test(conf_values, state_file)
{
	struct conf *c = sc_conf_load_ok("ok-state-file.yaml");

	cr_expect_str_eq(c->global.state_file, "/var/lib/anylb/state");
	cr_expect_eq(c->global.state_max_age_ms, 120000);
	conf_free(c);
}

Test(conf_values, explicit_defaults_equal_implicit_ones)
{
	struct conf *a = sc_conf_load_ok("ok-minimal.yaml");
	struct conf *b = sc_conf_load_ok("ok-defaults-explicit.yaml");

	cr_expect_str_eq(a->global.site, b->global.site);
	cr_expect_eq(a->global.workers, b->global.workers);
	cr_expect_eq(a->global.max_connections, b->global.max_connections);
	cr_expect_eq(a->global.drain_timeout_ms, b->global.drain_timeout_ms);
	cr_expect_eq(a->global.log_level, b->global.log_level);
	cr_expect_eq(a->global.log.format, b->global.log.format);
	const struct conf_service *x = &a->services[0], *y = &b->services[0];
	cr_expect_eq(x->balance, y->balance);
	cr_expect_eq(x->hash_key, y->hash_key);
	cr_expect_eq(x->proxy_protocol, y->proxy_protocol);
	cr_expect_eq(x->retries, y->retries);
	cr_expect_eq(x->max_connections, y->max_connections);
	cr_expect_eq(memcmp(&x->timeouts, &y->timeouts, sizeof(x->timeouts)), 0);
	cr_expect_eq(x->backends[0].weight, y->backends[0].weight);
	cr_expect(addr_equal(&x->backends[0].addr, &y->backends[0].addr));
	conf_free(a);
	conf_free(b);
}

Test(conf_values, full_file)
{
	struct conf *c = sc_conf_load_ok("ok-full.yaml");

	cr_expect_str_eq(c->global.site, "ams1");
	cr_expect_eq(c->global.workers, 4);
	cr_expect_eq(c->global.max_connections, 50000);
	cr_expect_eq(c->global.drain_timeout_ms, 45000);
	cr_expect_eq(c->global.log_level, LOG_LEVEL_DEBUG);
	cr_expect_eq(c->global.log.format, LOG_FORMAT_JSON);
	cr_assert_eq(c->nservices, 3);

	const struct conf_service *web = &c->services[0];
	cr_expect_str_eq(web->name, "web");
	cr_assert_eq(web->nlisten, 2);
	cr_expect_str_eq(web->listen[0].address, "0.0.0.0:443");
	cr_expect_str_eq(web->listen[1].address, "[::]:443");
	cr_expect_eq(web->listen[1].addr.sa.sa_family, AF_INET6);
	cr_expect_eq(web->balance, CONF_BALANCE_MAGLEV);
	cr_expect_str_eq(conf_balance_name(web->balance), "maglev");
	cr_expect_eq(web->hash_key, CONF_HASH_SOURCE_IP_PORT);
	cr_expect_eq(web->proxy_protocol, CONF_PROXY_V2);
	cr_expect_eq(web->retries, 3);
	cr_expect_eq(web->max_connections, 20000);
	cr_expect_eq(web->timeouts.connect_ms, 1500);
	cr_expect_eq(web->timeouts.idle_ms, 600000);
	cr_expect_eq(web->timeouts.half_close_ms, 60000);
	cr_assert_eq(web->nbackends, 3);
	cr_expect_str_eq(web->backends[0].address, "10.0.1.11:8443");
	cr_expect_eq(web->backends[0].weight, 200);
	cr_expect_str_eq(web->backends[0].zone, "a");
	cr_expect_eq(web->backends[0].max_connections, 1000);
	cr_expect_eq(web->backends[1].weight, 100);
	cr_expect_str_eq(web->backends[1].zone, "b");
	cr_expect_eq(web->backends[1].max_connections, 0);
	cr_expect_str_eq(web->backends[2].address, "[2001:db8::12]:8443");
	cr_expect_eq(web->backends[2].weight, 1);
	cr_expect_null(web->backends[2].zone);
	cr_expect_eq(addr_port(&web->backends[2].addr), 8443);

	const struct conf_service *api = &c->services[1];
	cr_expect_str_eq(api->name, "api.v2-internal_1");
	cr_expect_eq(api->nlisten, 1);
	cr_expect_eq(api->balance, CONF_BALANCE_LEAST_CONNECTIONS);
	cr_expect_eq(api->hash_key, CONF_HASH_SOURCE_IP);
	cr_expect_eq(api->proxy_protocol, CONF_PROXY_V1);
	cr_expect_eq(api->retries, 0);
	cr_expect_eq(api->timeouts.connect_ms, 2000);
	cr_expect_eq(api->timeouts.idle_ms, 3600000);
	cr_expect_eq(api->timeouts.half_close_ms, 30000);
	cr_assert_eq(api->nbackends, 2);
	cr_expect_eq(api->backends[0].weight, 1000);
	cr_expect_eq(api->backends[1].weight, 100);

	const struct conf_service *dns = &c->services[2];
	cr_expect_eq(dns->balance, CONF_BALANCE_RANDOM_TWO);
	cr_expect_eq(dns->proxy_protocol, CONF_PROXY_OFF);
	conf_free(c);
}

Test(conf_values, ipv6)
{
	struct conf *c = sc_conf_load_ok("ok-ipv6.yaml");
	char buf[ADDR_STRLEN];

	cr_assert_eq(c->nservices, 1);
	const struct conf_service *s = &c->services[0];
	cr_assert_eq(s->nlisten, 2);
	cr_expect_str_eq(addr_format(&s->listen[0].addr, buf, sizeof(buf)), "[::]:8443");
	cr_expect_str_eq(addr_format(&s->listen[1].addr, buf, sizeof(buf)), "[2001:db8::1]:443");
	cr_assert_eq(s->nbackends, 3);
	for (size_t i = 0; i < s->nbackends; i++)
		cr_expect_eq(s->backends[i].addr.sa.sa_family, AF_INET6, "backend %zu", i);
	cr_expect_str_eq(s->backends[1].zone, "c");
	conf_free(c);
}

Test(conf_values, udp_service_and_its_defaults)
{
	struct conf *c = sc_conf_load_ok("ok-udp.yaml");

	cr_assert_eq(c->nservices, 2);
	const struct conf_service *u = &c->services[0], *t = &c->services[1];
	cr_expect_eq(u->protocol, CONF_PROTO_UDP);
	cr_expect_eq(u->balance, CONF_BALANCE_MAGLEV, "maglev is a udp service's default");
	cr_expect_eq(u->udp.responses, 1);
	cr_expect_eq(u->udp.max_flows, 1000);
	cr_expect_eq(u->udp.reply_timeout_ms, 500);
	cr_expect_eq(u->timeouts.udp_idle_ms, 10000);
	for (size_t i = 0; i < u->nlisten; i++)
		cr_expect_eq(u->listen[i].proto, CONF_PROTO_UDP, "listen %zu", i);
	cr_expect_eq(t->protocol, CONF_PROTO_TCP);
	cr_expect_eq(t->balance, CONF_BALANCE_ROUND_ROBIN);
	cr_expect_eq(t->listen[0].proto, CONF_PROTO_TCP);
	conf_free(c);

	c = sc_conf_load_buffer_ok("services:\n  - name: d\n    protocol: udp\n"
				   "    listen: 127.0.0.1:53\n    balance: round_robin\n"
				   "    backends: [{address: 127.0.0.1:5301}]\n");
	u = &c->services[0];
	cr_expect_eq(u->balance, CONF_BALANCE_ROUND_ROBIN, "an explicit balance stays");
	cr_expect_eq(u->udp.responses, 0);
	cr_expect_eq(u->udp.max_flows, CONF_UDP_FLOWS);
	cr_expect_eq(u->udp.reply_timeout_ms, 2000);
	cr_expect_eq(u->timeouts.udp_idle_ms, 30000);
	conf_free(c);
}

Test(conf_values, edges_and_empty_sections)
{
	struct conf *c = sc_conf_load_ok("ok-empty-sections.yaml");

	cr_expect_eq(c->global.workers, 256);
	cr_expect_eq(c->global.log_level, LOG_LEVEL_INFO);
	cr_assert_eq(c->nservices, 2);
	const struct conf_service *s = &c->services[0];
	cr_expect_eq(s->proxy_protocol, CONF_PROXY_OFF);
	cr_expect_eq(s->retries, CONF_MAX_RETRIES);
	cr_expect_eq(s->timeouts.idle_ms, 300000);
	cr_expect_eq(addr_port(&s->listen[0].addr), 65535);
	cr_expect_eq(s->backends[0].weight, 1);
	cr_expect_eq(s->backends[1].weight, CONF_MAX_WEIGHT);
	cr_expect_str_eq(c->services[1].name, "007");
	cr_expect_eq(c->services[1].timeouts.connect_ms, 1);
	conf_free(c);
}

Test(conf_values, flow_style)
{
	struct conf *c = sc_conf_load_ok("ok-flow-style.yaml");

	cr_expect_str_eq(c->global.site, "lon-3");
	cr_expect_eq(c->global.workers, 2);
	cr_expect_eq(c->global.drain_timeout_ms, 0);
	cr_assert_eq(c->nservices, 2);
	cr_expect_eq(c->services[0].nlisten, 2);
	cr_expect_str_eq(c->services[1].backends[0].zone, "1");
	conf_free(c);
}

/* A check that was never written: off, and nothing else set. */
static void expect_check_absent(const struct conf_check *c, const char *what)
{
	static const struct conf_check zero;

	cr_expect_eq(memcmp(c, &zero, sizeof(zero)), 0, "%s is not all zero", what);
}

static void expect_outlier_defaults(const struct conf_outlier *o, const char *what)
{
	cr_expect_eq(o->consecutive_failures, 5, "%s", what);
	cr_expect_eq(o->base_ejection_ms, 30000, "%s", what);
	cr_expect_eq(o->max_ejection_ms, 300000, "%s", what);
	cr_expect_eq(o->max_ejection_percent, 50, "%s", what);
}

/* Every default of an enabled check whose section said nothing but maybe its type. */
static void expect_check_defaults(const struct conf_check *c, enum conf_check_type type)
{
	const char *t = conf_check_type_name(type);
	int http = type == CONF_CHECK_HTTP || type == CONF_CHECK_HTTPS;
	int tls = type == CONF_CHECK_HTTPS || type == CONF_CHECK_TLS;

	cr_expect_eq(c->enabled, 1, "%s", t);
	cr_expect_eq(c->type, type, "%s", t);
	cr_expect_eq(c->port, 0, "%s", t);
	cr_expect_eq(c->interval_ms, 2000, "%s", t);
	cr_expect_eq(c->fast_interval_ms, 500, "%s", t);
	cr_expect_eq(c->timeout_ms, 1000, "%s", t);
	cr_expect_eq(c->jitter_pct, 10, "%s", t);
	cr_expect_eq(c->rise, 2, "%s", t);
	cr_expect_eq(c->fall, 3, "%s", t);
	cr_expect_null(c->host, "%s", t);
	cr_expect_null(c->expect_body, "%s", t);
	cr_expect_null(c->send, "%s", t);
	cr_expect_eq(c->send_len, 0, "%s", t);
	cr_expect_null(c->expect, "%s", t);
	cr_expect_null(c->tls.sni, "%s", t);
	if (http) {
		cr_expect_str_eq(c->path, "/", "%s", t);
		cr_assert_eq(c->nexpect_status, 1, "%s", t);
		cr_expect_eq(c->expect_status[0].lo, 200, "%s", t);
		cr_expect_eq(c->expect_status[0].hi, 399, "%s", t);
	} else {
		cr_expect_null(c->path, "%s", t);
		cr_expect_null(c->expect_status, "%s", t);
		cr_expect_eq(c->nexpect_status, 0, "%s", t);
	}
	if (tls) {
		cr_expect_eq(c->tls.verify, 1, "%s", t);
		cr_expect_str_eq(c->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt", "%s", t);
	} else {
		cr_expect_eq(c->tls.verify, 0, "%s", t);
		cr_expect_null(c->tls.ca_file, "%s", t);
	}
}

Test(conf_values, health_absent_takes_defaults)
{
	struct conf *c = sc_conf_load_ok("ok-minimal.yaml");
	const struct conf_service *s = &c->services[0];

	expect_check_absent(&s->health.liveness, "liveness");
	expect_check_absent(&s->health.readiness, "readiness");
	expect_outlier_defaults(&s->outlier, "outlier");
	cr_expect_eq(s->outlier.pos.line, 0);
	cr_expect_eq(s->slow_start_ms, 0);
	conf_free(c);

	/* Files written before health existed keep loading the same way. */
	c = sc_conf_load_ok("ok-full.yaml");
	for (size_t i = 0; i < c->nservices; i++) {
		expect_check_absent(&c->services[i].health.liveness, c->services[i].name);
		expect_check_absent(&c->services[i].health.readiness, c->services[i].name);
		expect_outlier_defaults(&c->services[i].outlier, c->services[i].name);
	}
	conf_free(c);
}

Test(conf_values, health_empty_sections_take_defaults)
{
	struct conf *c = sc_conf_load_ok("ok-health-defaults.yaml");

	cr_assert_eq(c->nservices, 4);
	const struct conf_service *tcp = &c->services[0];
	expect_check_defaults(&tcp->health.liveness, CONF_CHECK_TCP);
	expect_check_defaults(&tcp->health.readiness, CONF_CHECK_TCP);
	cr_expect_eq(tcp->health.liveness.pos.line, 8);
	cr_expect_eq(tcp->health.liveness.pos.col, 7);
	cr_expect_eq(tcp->health.readiness.pos.line, 9);
	expect_outlier_defaults(&tcp->outlier, "outlier: null");
	cr_expect_eq(tcp->outlier.pos.line, 10);
	cr_expect_eq(tcp->outlier.pos.col, 5);

	const struct conf_service *http = &c->services[1];
	expect_check_defaults(&http->health.readiness, CONF_CHECK_HTTP);
	expect_check_defaults(&http->health.liveness, CONF_CHECK_HTTPS);

	const struct conf_service *tls = &c->services[2];
	expect_check_defaults(&tls->health.liveness, CONF_CHECK_TLS);
	/* timeout and fast_interval follow a short interval down. */
	const struct conf_check *r = &tls->health.readiness;
	cr_expect_eq(r->interval_ms, 300);
	cr_expect_eq(r->fast_interval_ms, 300);
	cr_expect_eq(r->timeout_ms, 300);

	const struct conf_service *empty = &c->services[3];
	expect_check_absent(&empty->health.liveness, "health: null");
	expect_check_absent(&empty->health.readiness, "health: null");
	cr_expect_eq(empty->slow_start_ms, 0);
	conf_free(c);
}

Test(conf_values, health_full_file)
{
	struct conf *c = sc_conf_load_ok("ok-health.yaml");

	cr_assert_eq(c->nservices, 3);
	const struct conf_service *web = &c->services[0];
	cr_expect_eq(web->slow_start_ms, 30000);
	const struct conf_check *l = &web->health.liveness;
	cr_expect_eq(l->enabled, 1);
	cr_expect_eq(l->type, CONF_CHECK_TCP);
	cr_expect_eq(l->interval_ms, 2000);
	cr_expect_eq(l->fast_interval_ms, 500);
	cr_expect_eq(l->timeout_ms, 1000);
	cr_expect_eq(l->rise, 2);
	cr_expect_eq(l->fall, 3);
	cr_expect_null(l->path);
	cr_expect_null(l->tls.ca_file);
	cr_expect_eq(l->pos.line, 10);
	cr_expect_eq(l->pos.col, 7);
	const struct conf_check *r = &web->health.readiness;
	cr_expect_eq(r->enabled, 1);
	cr_expect_eq(r->type, CONF_CHECK_HTTPS);
	cr_expect_eq(r->port, 8444);
	cr_expect_str_eq(r->path, "/ready");
	cr_expect_str_eq(r->host, "www.example.com");
	cr_assert_eq(r->nexpect_status, 1);
	cr_expect_eq(r->expect_status[0].lo, 200);
	cr_expect_eq(r->expect_status[0].hi, 299);
	cr_expect_null(r->expect_body);
	cr_expect_null(r->send);
	cr_expect_null(r->expect);
	cr_expect_str_eq(r->tls.sni, "www.example.com");
	cr_expect_eq(r->tls.verify, 1);
	cr_expect_str_eq(r->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	cr_expect_eq(r->interval_ms, 1000);
	cr_expect_eq(r->fast_interval_ms, 250);
	cr_expect_eq(r->timeout_ms, 500);
	cr_expect_eq(r->jitter_pct, 10);
	cr_expect_eq(r->rise, 2);
	cr_expect_eq(r->fall, 2);
	expect_outlier_defaults(&web->outlier, "web");
	cr_expect_eq(web->outlier.pos.line, 35);

	const struct conf_service *api = &c->services[1];
	cr_expect_eq(api->slow_start_ms, 120000);
	expect_check_absent(&api->health.liveness, "api liveness");
	r = &api->health.readiness;
	cr_expect_eq(r->type, CONF_CHECK_HTTP);
	cr_expect_eq(r->port, 0);
	cr_expect_str_eq(r->path, "/healthz?full=1&x=%20y");
	cr_expect_str_eq(r->host, "api.internal:8080");
	cr_assert_eq(r->nexpect_status, 3);
	cr_expect_eq(r->expect_status[0].lo, 200);
	cr_expect_eq(r->expect_status[0].hi, 200);
	cr_expect_eq(r->expect_status[1].lo, 204);
	cr_expect_eq(r->expect_status[1].hi, 204);
	cr_expect_eq(r->expect_status[2].lo, 301);
	cr_expect_eq(r->expect_status[2].hi, 302);
	cr_expect_str_eq(r->expect_body, "\"status\":\"ok\"");
	cr_expect_null(r->tls.ca_file);
	cr_expect_eq(r->interval_ms, 5000);
	cr_expect_eq(r->fast_interval_ms, 1000);
	cr_expect_eq(r->timeout_ms, 3000);
	cr_expect_eq(r->jitter_pct, 0);
	cr_expect_eq(r->rise, 1);
	cr_expect_eq(r->fall, 5);
	cr_expect_eq(api->outlier.consecutive_failures, 0);
	cr_expect_eq(api->outlier.base_ejection_ms, 30000);
	cr_expect_eq(api->outlier.max_ejection_ms, 300000);

	const struct conf_service *redis = &c->services[2];
	cr_expect_eq(redis->slow_start_ms, 0);
	l = &redis->health.liveness;
	cr_expect_eq(l->type, CONF_CHECK_SEND_EXPECT);
	cr_expect_str_eq(l->send, "PING\r\n");
	cr_expect_eq(l->send_len, 6);
	cr_expect_str_eq(l->expect, "+PONG");
	cr_expect_null(l->path);
	cr_expect_null(l->expect_status);
	cr_expect_eq(l->interval_ms, 500);
	cr_expect_eq(l->fast_interval_ms, 500);
	cr_expect_eq(l->timeout_ms, 500);
	cr_expect_eq(l->jitter_pct, 50);
	r = &redis->health.readiness;
	cr_expect_eq(r->type, CONF_CHECK_TLS);
	cr_expect_eq(r->port, 6380);
	cr_expect_str_eq(r->tls.sni, "redis.internal");
	cr_expect_eq(r->tls.verify, 0);
	cr_expect_str_eq(r->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	cr_expect_null(r->path);
	/* max_ejection_time follows a long base_ejection_time up. */
	cr_expect_eq(redis->outlier.consecutive_failures, 5);
	cr_expect_eq(redis->outlier.base_ejection_ms, 600000);
	cr_expect_eq(redis->outlier.max_ejection_ms, 600000);
	cr_expect_eq(redis->outlier.max_ejection_percent, 100);
	conf_free(c);
}

Test(conf_values, health_edges)
{
	struct conf *c = sc_conf_load_ok("ok-health-edges.yaml");

	cr_assert_eq(c->nservices, 2);
	const struct conf_service *low = &c->services[0];
	const struct conf_check *l = &low->health.liveness;
	cr_expect_eq(l->port, 1);
	cr_expect_str_eq(l->path, "/");
	cr_assert_eq(l->nexpect_status, 1);
	cr_expect_eq(l->expect_status[0].lo, 100);
	cr_expect_eq(l->expect_status[0].hi, 599);
	cr_expect_eq(l->interval_ms, 1);
	cr_expect_eq(l->fast_interval_ms, 1);
	cr_expect_eq(l->timeout_ms, 1);
	cr_expect_eq(l->jitter_pct, 0);
	cr_expect_eq(l->rise, 1);
	cr_expect_eq(l->fall, 1);
	const struct conf_check *r = &low->health.readiness;
	cr_expect_eq(r->port, 65535);
	cr_assert_eq(r->nexpect_status, 1);
	cr_expect_eq(r->expect_status[0].lo, 599);
	cr_expect_eq(r->expect_status[0].hi, 599);
	cr_expect_eq(r->tls.verify, 0);
	cr_expect_str_eq(r->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	cr_expect_eq(r->interval_ms, UINT64_C(1193) * 3600 * 1000);
	cr_expect_eq(r->timeout_ms, r->interval_ms);
	cr_expect_eq(r->jitter_pct, 50);
	cr_expect_eq(r->rise, 100);
	cr_expect_eq(r->fall, 100);
	cr_expect_eq(low->outlier.consecutive_failures, 1000);
	cr_expect_eq(low->outlier.base_ejection_ms, 1);
	cr_expect_eq(low->outlier.max_ejection_ms, 1);
	cr_expect_eq(low->outlier.max_ejection_percent, 0);

	const struct conf_service *high = &c->services[1];
	cr_expect_eq(high->slow_start_ms, 3600000);
	r = &high->health.readiness;
	cr_expect_eq(r->type, CONF_CHECK_SEND_EXPECT);
	cr_expect_str_eq(r->send, "x");
	cr_expect_eq(r->send_len, 1);
	cr_expect_str_eq(r->expect, "y");
	cr_expect_null(r->expect_body);
	cr_expect_null(r->tls.ca_file);
	cr_expect_eq(r->interval_ms, 2000);
	cr_expect_eq(r->timeout_ms, 2000);
	cr_expect_eq(r->fast_interval_ms, 2000);
	cr_expect_eq(high->outlier.consecutive_failures, 1);
	cr_expect_eq(high->outlier.base_ejection_ms, UINT64_C(1193) * 3600 * 1000);
	cr_expect_eq(high->outlier.max_ejection_ms, high->outlier.base_ejection_ms);
	cr_expect_eq(high->outlier.max_ejection_percent, 100);
	conf_free(c);
}

Test(conf_values, initial_state_defaults_follow_readiness)
{
	struct conf *c = sc_conf_load_ok("ok-initial-state.yaml");

	cr_assert_eq(c->nservices, 5);
	/* A readiness check makes a new backend wait for its first verdict... */
	cr_expect_eq(c->services[0].initial_state, CONF_INITIAL_NOT_READY);
	/* ...nothing to wait for without one. */
	cr_expect_eq(c->services[1].initial_state, CONF_INITIAL_READY);
	cr_expect_eq(c->services[2].initial_state, CONF_INITIAL_READY);
	cr_expect_eq(c->services[3].initial_state, CONF_INITIAL_NOT_READY);
	cr_expect_eq(c->services[4].initial_state, CONF_INITIAL_READY);
	conf_free(c);

	/* Files written before initial_state: no readiness check, ready as before. */
	c = sc_conf_load_ok("ok-full.yaml");
	for (size_t i = 0; i < c->nservices; i++)
		cr_expect_eq(c->services[i].initial_state, CONF_INITIAL_READY, "%s",
			c->services[i].name);
	conf_free(c);
}

Test(conf_values, check_type_names)
{
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_TCP), "tcp");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_HTTP), "http");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_HTTPS), "https");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_TLS), "tls");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_SEND_EXPECT), "send_expect");
	cr_expect_str_eq(conf_check_type_name((enum conf_check_type)99), "unknown");
}

Test(conf_load, health_keys_follow_the_type_wherever_it_stands)
{
	/* type after the keys it governs, in flow style: still read first. */
	static const char y[] =
		"services:\n"
		"  - name: a\n"
		"    listen: 1.2.3.4:5\n"
		"    backends: [{address: 10.0.0.1:80}]\n"
		"    health: {readiness: {path: /x, expect_status: 204, type: http}}\n";
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_buffer("t.yaml", y, strlen(y), &c, &errs), 0);
	const struct conf_check *r = &c->services[0].health.readiness;
	cr_expect_eq(r->type, CONF_CHECK_HTTP);
	cr_expect_str_eq(r->path, "/x");
	cr_assert_eq(r->nexpect_status, 1);
	cr_expect_eq(r->expect_status[0].lo, 204);
	conf_free(c);
	conf_errs_free(&errs);
}

Test(conf_values, balance_names)
{
	cr_expect_str_eq(conf_balance_name(CONF_BALANCE_ROUND_ROBIN), "round_robin");
	cr_expect_str_eq(conf_balance_name(CONF_BALANCE_LEAST_CONNECTIONS), "least_connections");
	cr_expect_str_eq(conf_balance_name(CONF_BALANCE_MAGLEV), "maglev");
	cr_expect_str_eq(conf_balance_name(CONF_BALANCE_RANDOM_TWO), "random_two");
}

/* ---- entry points ---- */

/* ---- global.admin and global.log.access ---- */

Test(conf_values, admin_absent_takes_defaults)
{
	struct conf *c = sc_conf_load_ok("ok-minimal.yaml");
	const struct conf_admin *a = &c->global.admin;

	cr_expect_eq(a->enabled, 1);
	cr_expect_str_eq(a->socket, "/run/anylb/admin.sock");
	cr_expect_null(a->listen);
	cr_expect_eq(a->allow_remote, 0);
	cr_expect_null(a->token_file);
	cr_expect_eq(c->global.access_log, 0);
	conf_free(c);

	c = sc_conf_load_ok("ok-admin-empty.yaml");
	cr_expect_eq(c->global.admin.enabled, 1);
	cr_expect_str_eq(c->global.admin.socket, "/run/anylb/admin.sock");
	cr_expect_null(c->global.admin.listen);
	cr_expect_eq(c->global.admin.pos.line, 3);
	cr_expect_eq(c->global.admin.pos.col, 3);
	cr_expect_eq(c->global.access_log, 0);
	conf_free(c);
}

Test(conf_values, backup_backends)
{
	struct conf *c = sc_conf_load_buffer_ok("services:\n  - name: web\n    listen: 0.0.0.0:80\n"
						"    backends:\n      - address: 10.0.0.1:80\n"
						"      - {address: 10.0.0.2:80, backup: true}\n"
						"      - {address: 10.0.0.3:80, backup: false}\n");

	cr_expect_eq(c->services[0].nbackup, 1);
	cr_expect_eq(c->services[0].panic_threshold_pct, 0, "panic mode is off by default");
	cr_expect_eq(c->services[0].backends[0].backup, 0, "the default");
	cr_expect_eq(c->services[0].backends[1].backup, 1);
	cr_expect_eq(c->services[0].backends[2].backup, 0);
	conf_free(c);
}

Test(conf_values, panic_threshold)
{
	struct conf *c = sc_conf_load_buffer_ok("services:\n  - name: web\n    listen: 0.0.0.0:80\n"
						"    panic_threshold: 50%\n"
						"    backends: [{address: 10.0.0.1:80}]\n"
						"  - name: api\n    listen: 0.0.0.0:81\n"
						"    panic_threshold: 100\n"
						"    backends: [{address: 10.0.0.2:80}]\n");

	cr_expect_eq(c->services[0].panic_threshold_pct, 50);
	cr_expect_eq(c->services[1].panic_threshold_pct, 100);
	conf_free(c);
}

Test(conf_values, log_streams)
{
	struct conf *c = sc_conf_load_ok("ok-log.yaml");
	const struct conf_global *g = &c->global;

	cr_expect_eq(g->log_level, LOG_LEVEL_WARN);
	cr_expect_eq(g->log.format, LOG_FORMAT_LOGFMT);
	cr_expect_eq(g->log.target, LOG_TARGET_SYSLOG);
	cr_expect_str_eq(g->log.path, "/run/test-syslog.sock");
	cr_expect_eq(g->log.facility, 19, "local3");
	cr_expect_eq(g->access_log, 1, "an access_log section turns it on");
	cr_expect_eq(g->access.target, LOG_TARGET_FILE);
	cr_expect_eq(g->access.format, LOG_FORMAT_JSON);
	cr_expect_str_eq(g->access.path, "/tmp/anylb-test-access.log");
	cr_expect_eq(g->access.facility, 3, "daemon, the default");
	conf_free(c);

	c = sc_conf_load_ok("ok-minimal.yaml");
	cr_expect_eq(c->global.log.target, LOG_TARGET_STDERR);
	cr_expect_eq(c->global.access.format, LOG_FORMAT_TEXT);
	cr_expect_null(c->global.access.path);
	conf_free(c);
}

Test(conf_values, admin_full)
{
	struct conf *c = sc_conf_load_ok("ok-admin.yaml");
	const struct conf_admin *a = &c->global.admin;
	char buf[ADDR_STRLEN];

	cr_expect_eq(a->enabled, 1);
	cr_expect_str_eq(a->socket, "/tmp/anylb-test/admin.sock");
	cr_expect_str_eq(a->listen, "127.0.0.1:9901");
	cr_expect_eq(a->listen_addr.sa.sa_family, AF_INET);
	cr_expect_str_eq(addr_format(&a->listen_addr, buf, sizeof(buf)), "127.0.0.1:9901");
	cr_expect_eq(a->allow_remote, 0);
	cr_expect_str_eq(a->token_file, "/etc/anylb/admin.token");
	cr_expect_eq(a->pos.line, 3);
	cr_expect_eq(c->global.access_log, 1);
	conf_free(c);
}

Test(conf_values, admin_ipv6_remote_and_off)
{
	struct conf *c = sc_conf_load_ok("ok-admin-ipv6.yaml");
	char buf[ADDR_STRLEN];

	cr_expect_str_eq(c->global.admin.listen, "[::1]:9901");
	cr_expect_eq(c->global.admin.listen_addr.sa.sa_family, AF_INET6);
	cr_expect_str_eq(addr_format(&c->global.admin.listen_addr, buf, sizeof(buf)), "[::1]:9901");
	cr_expect_str_eq(c->global.admin.token_file, "admin.token");
	cr_expect_eq(c->global.access_log, 0);
	conf_free(c);

	c = sc_conf_load_ok("ok-admin-remote.yaml");
	cr_expect_str_eq(c->global.admin.listen, "0.0.0.0:9901");
	cr_expect_eq(c->global.admin.allow_remote, 1);
	conf_free(c);

	c = sc_conf_load_ok("ok-admin-off.yaml");
	cr_expect_eq(c->global.admin.enabled, 0);
	cr_expect_str_eq(c->global.admin.socket, "/tmp/unused.sock");
	cr_expect_null(c->global.admin.listen);
	conf_free(c);
}

Test(conf_values, user_and_group_are_resolved)
{
	struct passwd *pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user 'nobody' on this system");
	uid_t nobody_uid = pw->pw_uid;
	gid_t nobody_gid = pw->pw_gid;

	struct conf *c = sc_conf_load_ok("ok-user.yaml");
	cr_expect_str_eq(c->global.user, "nobody");
	cr_expect_str_eq(c->global.group, "root");
	cr_expect_eq(c->global.uid, nobody_uid);
	cr_expect_eq(c->global.gid, 0, "group root, not the user's primary group");
	conf_free(c);

	/* Without group: the user's primary group. */
	const char *y = "global:\n  user: nobody\n"
			"services:\n  - name: web\n    listen: 1.2.3.4:5\n"
			"    backends: [{address: 10.0.0.1:80}]\n";
	struct conf_errs errs = {0};
	cr_assert_eq(conf_load_buffer("t.yaml", y, strlen(y), &c, &errs), 0);
	cr_expect_eq(c->global.uid, nobody_uid);
	cr_expect_eq(c->global.gid, nobody_gid);
	conf_free(c);
	conf_errs_free(&errs);

	/* The default: no change of user. */
	c = sc_conf_load_ok("ok-admin-off.yaml");
	cr_expect_null(c->global.user);
	cr_expect_null(c->global.group);
	conf_free(c);
}

Test(conf_values, admin_loopback_edges)
{
	static const struct {
		const char *listen;
		int ok;
		const char *why; /* when not ok; default: not loopback */
	} cases[] = {
		{"127.0.0.1:1", 1, NULL},
		{"127.255.255.254:65535", 1, NULL},
		{"127.8.9.10:9901", 1, NULL},
		{"[::1]:9901", 1, NULL},
		{"126.255.255.255:9901", 0, NULL},
		{"128.0.0.1:9901", 0, NULL},
		{"0.0.0.0:9901", 0, NULL},
		{"[::]:9901", 0, NULL},
		{"[::2]:9901", 0, NULL},
		/* the brief's rule: 127/8 or ::1, nothing mapped (no address is) */
		{"[::ffff:127.0.0.1]:9901", 0, "an IPv4-mapped IPv6 address, write 127.0.0.1:9901"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512];
		int rc;
		int n = snprintf(buf, sizeof(buf),
			"global:\n  admin:\n    listen: \"%s\"\n    token_file: t\n"
			"services:\n  - name: web\n    listen: 0.0.0.0:80\n"
			"    backends: [{address: 10.0.0.1:80}]\n",
			cases[i].listen);
		char *got = sc_conf_load_buffer_msgs(buf, (size_t)n, &rc);
		if (cases[i].ok)
			cr_expect_eq(rc, 0, "%s: %s", cases[i].listen, got);
		else
			cr_expect(
				rc == -EINVAL &&
					strstr(got, cases[i].why != NULL
							    ? cases[i].why
							    : "is not a loopback address") != NULL,
				"%s: rc %d: %s", cases[i].listen, rc, got);
		free(got);
	}
}

Test(conf_load, missing_file)
{
	struct conf_errs errs = {0};
	struct conf *c = (struct conf *)&errs; /* must be reset to NULL */

	int rc = conf_load("/nonexistent/anylb.yaml", &c, &errs);
	cr_expect_eq(rc, -ENOENT);
	cr_expect_null(c);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got,
		"/nonexistent/anylb.yaml:1:1: cannot read the file: No such file or directory\n");
	free(got);
	conf_errs_free(&errs);
}

Test(conf_load, directory)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	sc_conf_to_source_dir();
	cr_expect_eq(conf_load(CONF_DIR, &c, &errs), -EISDIR);
	cr_expect_null(c);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got,
		CONF_DIR ":1:1: cannot read the file: it is a directory, not a regular file\n");
	free(got);
	conf_errs_free(&errs);
}

/*
 * A FIFO at the config path (defect 8): open(2) without O_NONBLOCK waited for a writer forever,
 * on SIGHUP and under anylb -t alike. It must be refused at once, at 1:1 like the other
 * file-level errors; the timeout turns a hang into a failure.
 */
Test(conf_load, fifo_refused_at_once, .timeout = 10)
{
	char dir[] = "/tmp/anylb-conf-XXXXXX", path[64];
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	struct timespec t0, t1;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/anylb.yaml", dir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = conf_load(path, &c, &errs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_null(c);
	char *got = sc_conf_print_errs(&errs), want[128];
	snprintf(want, sizeof(want),
		"%s:1:1: cannot read the file: it is a FIFO, not a regular file\n", path);
	cr_expect_str_eq(got, want);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_expect_lt(took, 1.0, "took %.3f s", took);
	free(got);
	conf_errs_free(&errs);
	unlink(path);
	rmdir(dir);
}

/* What a file rewritten in place during the read looks like (size and bytes disagree). */
Test(conf_load, file_changed_while_read)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	cr_expect_eq(conf_load("/proc/self/status", &c, &errs), -EAGAIN);
	cr_expect_null(c);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got, "/proc/self/status:1:1: the file changed while it was read: write it "
			      "elsewhere and rename it into place\n");
	free(got);
	conf_errs_free(&errs);
}

Test(conf_load, too_large_file_refused_unread)
{
	char path[] = "/tmp/anylb-conf-big-XXXXXX";
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (16 << 20) + 1), 0); /* a hole: nothing to write */
	close(fd);
	cr_expect_eq(conf_load(path, &c, &errs), -EINVAL); /* as conf_load_buffer says */
	char *got = sc_conf_print_errs(&errs), want[128];
	snprintf(want, sizeof(want), "%s:1:1: file is too large (more than 16 MiB)\n", path);
	cr_expect_str_eq(got, want);
	free(got);
	conf_errs_free(&errs);
	unlink(path);
}

Test(conf_load, buffer_uses_the_given_name)
{
	static const char y[] = "services:\n  - name: a\n    listen: 1.2.3.4:5\n";
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	cr_expect_eq(conf_load_buffer("<admin>", y, strlen(y), &c, &errs), -EINVAL);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got, "<admin>:2:5: service 'a' is missing 'backends'\n");
	free(got);
	conf_errs_free(&errs);

	cr_expect_eq(conf_load_buffer("<empty>", NULL, 0, &c, &errs), -EINVAL);
	got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(
		got, "<empty>:1:1: empty file: expected a mapping with a 'services' list\n");
	free(got);
	conf_errs_free(&errs);
}

Test(conf_load, messages_append_to_a_used_list)
{
	static const char a[] = "x: 1\n", b[] = "services: []\n";
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	cr_expect_eq(conf_load_buffer("a", a, strlen(a), &c, &errs), -EINVAL);
	cr_expect_eq(conf_load_buffer("b", b, strlen(b), &c, &errs), -EINVAL);
	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got, "a:1:1: unknown key 'x' at the top level (expected one of: global, "
			      "bgp, services, include)\n"
			      "a:1:1: no services: add a 'services' list\n"
			      "b:1:11: 'services' is empty: at least one service is required\n");
	free(got);
	conf_errs_free(&errs);
}

Test(conf_load, print_writes_file_line_col_message)
{
	struct conf_err v[] = {
		{.file = "f.yaml", .line = 3, .col = 7, .msg = "first"},
		{.file = "dir/g.yaml", .line = 12, .col = 1, .msg = "'x' is not supported yet"},
	};
	struct conf_errs errs = {.v = v, .n = 2, .cap = 2};

	char *got = sc_conf_print_errs(&errs);
	cr_expect_str_eq(got, "f.yaml:3:7: first\ndir/g.yaml:12:1: 'x' is not supported yet\n");
	free(got);
}

/* ---- robustness: none of this may crash, leak or take long ---- */

Test(conf_robust, every_prefix_of_every_file)
{
	sc_conf_to_source_dir();
	struct names all = list_files("", ".yaml");
	for (size_t i = 0; i < all.n; i++) {
		char path[256];
		size_t len;
		snprintf(path, sizeof(path), CONF_DIR "/%s", all.v[i]);
		char *buf = read_all(path, &len);
		cr_assert_not_null(buf, "%s", path);
		for (size_t n = 0; n <= len; n++) {
			/* A private copy of exactly n bytes lets ASan catch reads past the end. */
			char *cut = malloc(n ? n : 1);
			cr_assert_not_null(cut);
			memcpy(cut, buf, n);
			int rc;
			free(sc_conf_load_buffer_msgs(cut, n, &rc));
			free(cut);
		}
		free(buf);
	}
	names_free(&all);
}

Test(conf_robust, mutated_files)
{
	static const char junk[] = "\0\t\n\r :-[]{}&*!|>'\"%@`#,?\\\xff\xc3";
	uint32_t seed = 12345;

	sc_conf_to_source_dir();
	struct names all = list_files("", ".yaml");
	for (size_t i = 0; i < all.n; i++) {
		char path[256];
		size_t len;
		snprintf(path, sizeof(path), CONF_DIR "/%s", all.v[i]);
		char *buf = read_all(path, &len);
		cr_assert_not_null(buf);
		for (int round = 0; round < 200 && len > 0; round++) {
			char *m = malloc(len);
			cr_assert_not_null(m);
			memcpy(m, buf, len);
			for (int k = 0; k < 1 + round % 4; k++) {
				seed = seed * 1103515245u + 12345u;
				size_t at = (seed >> 8) % len;
				m[at] = junk[(seed >> 20) % (sizeof(junk) - 1)];
			}
			int rc;
			free(sc_conf_load_buffer_msgs(m, len, &rc));
			free(m);
		}
		free(buf);
	}
	names_free(&all);
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail, size_t *len)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * times + tl + 1);
	cr_assert_not_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < times; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + ul * times, tail, tl + 1);
	*len = hl + ul * times + tl;
	return s;
}

Test(conf_robust, deep_nesting_is_refused)
{
	size_t len;
	int rc;
	char *s = repeat("services: ", "[", 100000, "", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(
		got, "t.yaml:1:42: lists and mappings are nested too deep (more than 32 levels)\n");
	free(got);
	free(s);
}

Test(conf_robust, too_many_values)
{
	size_t len;
	int rc;
	char *s = repeat("services: [", "1,", 1100000, "1]", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(got, "too many YAML values (more than 1048576)\n") != NULL, "%s", got);
	free(got);
	free(s);
}

Test(conf_robust, too_large)
{
	size_t len = (16u << 20) + 1;
	char *s = malloc(len);
	int rc;

	cr_assert_not_null(s);
	memset(s, '\n', len);
	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(got, "t.yaml:1:1: file is too large (more than 16 MiB)\n");
	free(got);
	free(s);
}

Test(conf_robust, wide_mapping_with_duplicates_is_fast_and_capped)
{
	/* 200000 keys, all the same: sorting finds the duplicates, the cap bounds the output. */
	size_t len;
	int rc;
	char *s = repeat("global:\n", "  k: 1\n", 200000, "services: []\n", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_eq(rc, -EINVAL);
	size_t lines = 0;
	for (const char *p = got; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 101, "%zu lines", lines);
	cr_expect(strstr(got, "t.yaml:102:3: too many errors, stopped after 100\n") != NULL, "%s",
		got + (strlen(got) > 300 ? strlen(got) - 300 : 0));
	free(got);
	free(s);
}

Test(conf_robust, too_many_backends)
{
	size_t len;
	int rc;
	char *s = repeat("services:\n  - name: a\n    listen: 1.2.3.4:5\n    backends:\n",
		"      - address: 10.0.0.1:80\n", CONF_MAX_BACKENDS + 1, "", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_str_eq(got, "t.yaml:5:7: 'backends' has 10001 entries, more than 10000\n");
	free(got);
	free(s);
}

Test(conf_robust, many_duplicate_backends_are_found_by_sorting)
{
	size_t len;
	int rc;
	char *s = repeat("services:\n  - name: a\n    listen: 1.2.3.4:5\n    backends:\n",
		"      - address: 10.0.0.1:80\n", CONF_MAX_BACKENDS, "", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strncmp(got, "t.yaml:6:18: duplicate backend '10.0.0.1:80' (first at line 5)\n",
			  60) == 0,
		"%.200s", got);
	free(got);
	free(s);
}

Test(conf_robust, raw_nul_and_long_values)
{
	static const char nul[] = "services:\n  - name: a\0b\n";
	int rc;

	char *got = sc_conf_load_buffer_msgs(nul, sizeof(nul) - 1, &rc);
	cr_expect_str_eq(
		got, "t.yaml:2:12: cannot read YAML: control characters are not allowed\n");
	free(got);

	/* Long values are shortened in messages, at a character boundary. */
	size_t len;
	char *s = repeat("services:\n  - name: ", "\xc3\xa9", 5000, "\n", &len);
	got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect(strstr(got, "t.yaml:2:11: 'name' is longer than 64 characters\n") != NULL, "%s",
		got);
	cr_expect_lt(strlen(got), 300);
	free(got);
	free(s);
}

Test(conf_robust, unknown_key_is_shortened_and_escaped)
{
	size_t len;
	int rc;
	char *s = repeat("\"", "\\t", 100, "\": 1\nservices: []\n", &len);

	char *got = sc_conf_load_buffer_msgs(s, len, &rc);
	cr_expect(strstr(got, "t.yaml:1:1: unknown key '\\x09\\x09") != NULL, "%s", got);
	cr_expect(strstr(got, "...' at the top level (expected one of: global, bgp, services, "
			      "include)\n") != NULL,
		"%s", got);
	free(got);
	free(s);
}

Test(conf_values, health_dns_file)
{
	struct conf *c = sc_conf_load_ok("ok-health-dns.yaml");

	cr_assert_eq(c->nservices, 2);
	const struct conf_check *l = &c->services[0].health.liveness;
	cr_expect_eq(l->type, CONF_CHECK_DNS);
	cr_expect_str_eq(l->dns.name, "example.org.");
	cr_expect_eq(l->dns.qtype, 6, "SOA, written in lower case");
	cr_expect_eq(l->dns.tcp, 1);
	cr_expect_eq(l->dns.expect_rcode, 0);
	cr_expect_null(l->dns.expect_answer);
	cr_expect_null(l->send);
	cr_expect_null(l->tls.ca_file);
	const struct conf_check *r = &c->services[0].health.readiness;
	cr_expect_eq(r->dns.qtype, 28);
	cr_expect_eq(r->dns.tcp, 0, "udp by default");
	cr_expect_str_eq(r->dns.expect_answer, "2001:db8::10");

	const struct conf_check *u = &c->services[1].health.liveness;
	cr_expect_eq(u->type, CONF_CHECK_UDP_SEND_EXPECT);
	cr_expect_str_eq(u->send, "PING\n");
	cr_expect_eq(u->send_len, 5);
	cr_expect_str_eq(u->expect, "PONG");
	cr_expect_null(u->dns.name);
	cr_expect_eq(u->dns.qtype, 0, "no dns fields on other types");
	const struct conf_check *root = &c->services[1].health.readiness;
	cr_expect_str_eq(root->dns.name, ".");
	cr_expect_eq(root->dns.qtype, 1, "A by default");
	cr_expect_null(root->dns.expect_answer, "null: not set");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_DNS), "dns");
	cr_expect_str_eq(conf_check_type_name(CONF_CHECK_UDP_SEND_EXPECT), "udp_send_expect");
	conf_free(c);
}
