/*
 * DOC: fuzz target: the YAML configuration loader (conf/)
 *
 * The input is a configuration file, loaded with conf_load_buffer() as `anylb -t` and a reload
 * would load it. Invariants: exactly one of a config or errors; every error a single line with
 * a 1-based position, sorted by position, bounded in number; and a config that loads keeps the
 * promises conf.h makes to the rest of anylb (ranges, defaults relations, canonical prefixes,
 * unique names), because nothing after conf/ checks them again.
 *
 * Inputs that name `include` are skipped: the files an include reads are the machine's, not the
 * input's (and a relative one resolves differently for the buffer and the memfd), so the
 * invariants of one file do not hold for them; tests/unit/test_conf_include.c covers includes.
 * ${NAME} is fuzzed: the environment is the fuzzer's own, the same for every run.
 */
#include "conf/conf.h"
#include "fuzz/fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NAME "fuzz.yaml"

static void check_errors(const struct conf_errs *e, size_t size)
{
	FUZZ_CHECK(e->n >= 1 && e->n <= 100 + 2, "%zu errors", e->n);
	for (size_t i = 0; i < e->n; i++) {
		const struct conf_err *x = &e->v[i];

		FUZZ_CHECK(strcmp(x->file, NAME) == 0, "file '%s'", x->file);
		FUZZ_CHECK(x->line >= 1 && x->col >= 1, "position %d:%d", x->line, x->col);
		FUZZ_CHECK((size_t)x->line <= size + 1 && (size_t)x->col <= size + 1,
			"position %d:%d past a %zu-byte file", x->line, x->col, size);
		FUZZ_CHECK(x->msg != NULL && x->msg[0] != '\0', "empty message");
		FUZZ_CHECK(strchr(x->msg, '\n') == NULL, "message over two lines: '%s'", x->msg);
		if (i > 0) {
			const struct conf_err *p = &e->v[i - 1];

			FUZZ_CHECK(p->line < x->line || (p->line == x->line && p->col <= x->col),
				"not sorted: %d:%d before %d:%d", p->line, p->col, x->line, x->col);
		}
	}
}

static void check_addr(const struct addr *a, int port0)
{
	FUZZ_CHECK(a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6, "family %d",
		a->sa.sa_family);
	FUZZ_CHECK(port0 || addr_port(a) != 0, "port 0");
}

static void check_check(const struct conf_check *k)
{
	if (!k->enabled) {
		FUZZ_CHECK(k->path == NULL && k->send == NULL && k->expect == NULL &&
				   k->interval_ms == 0 && k->rise == 0 && k->nexpect_status == 0,
			"an absent check has fields set");
		return;
	}
	FUZZ_CHECK(k->interval_ms > 0, "interval 0");
	FUZZ_CHECK(k->fast_interval_ms > 0 && k->fast_interval_ms <= k->interval_ms,
		"fast_interval %llu, interval %llu", (unsigned long long)k->fast_interval_ms,
		(unsigned long long)k->interval_ms);
	FUZZ_CHECK(k->timeout_ms > 0 && k->timeout_ms <= k->interval_ms, "timeout %llu",
		(unsigned long long)k->timeout_ms);
	FUZZ_CHECK(k->jitter_pct <= 50, "jitter %u", k->jitter_pct);
	FUZZ_CHECK(k->rise >= 1 && k->rise <= 100 && k->fall >= 1 && k->fall <= 100,
		"rise %u fall %u", k->rise, k->fall);
	FUZZ_CHECK(k->port <= 65535, "port %u", k->port);
	for (size_t i = 0; i < k->nexpect_status; i++) {
		const struct conf_status_range *s = &k->expect_status[i];

		FUZZ_CHECK(s->lo >= 100 && s->lo <= s->hi && s->hi <= 599, "status %u-%u", s->lo,
			s->hi);
	}
	switch (k->type) {
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
		FUZZ_CHECK(k->path != NULL && k->path[0] != '\0', "http check without a path");
		FUZZ_CHECK(k->send == NULL && k->expect == NULL, "send/expect on http");
		FUZZ_CHECK(k->expect_body == NULL || strlen(k->expect_body) <= CONF_CHECK_DATA_MAX,
			"expect_body too long");
		break;
	case CONF_CHECK_SEND_EXPECT:
		FUZZ_CHECK(k->send != NULL && k->expect != NULL, "send_expect without send/expect");
		FUZZ_CHECK(k->send_len <= CONF_CHECK_DATA_MAX &&
				   memchr(k->send, '\0', k->send_len) == NULL,
			"send of %zu bytes", k->send_len);
		FUZZ_CHECK(strlen(k->expect) <= CONF_CHECK_DATA_MAX, "expect too long");
		FUZZ_CHECK(k->path == NULL && k->expect_body == NULL, "http keys on send_expect");
		break;
	case CONF_CHECK_UDP_SEND_EXPECT:
		FUZZ_CHECK(k->send != NULL && k->expect != NULL,
			"udp_send_expect without send/expect");
		FUZZ_CHECK(k->path == NULL && k->dns.name == NULL, "other keys on udp_send_expect");
		break;
	case CONF_CHECK_DNS:
		FUZZ_CHECK(k->dns.name != NULL && k->dns.qtype != 0, "dns check without a query");
		FUZZ_CHECK(k->dns.expect_rcode <= 10, "rcode %u", k->dns.expect_rcode);
		FUZZ_CHECK(k->path == NULL && k->send == NULL, "other keys on dns");
		break;
	case CONF_CHECK_TCP:
	case CONF_CHECK_TLS:
		FUZZ_CHECK(k->path == NULL && k->send == NULL && k->expect == NULL,
			"keys that do not belong to %s", conf_check_type_name(k->type));
		break;
	}
	if (k->type != CONF_CHECK_DNS)
		FUZZ_CHECK(k->dns.name == NULL && k->dns.expect_answer == NULL && k->dns.qtype == 0,
			"dns keys on %s", conf_check_type_name(k->type));
	if (k->type != CONF_CHECK_HTTPS && k->type != CONF_CHECK_TLS)
		FUZZ_CHECK(k->tls.sni == NULL && k->tls.ca_file == NULL && k->tls.verify == 0,
			"tls keys on %s", conf_check_type_name(k->type));
}

static void check_prefix(const struct conf_prefix *p)
{
	char text[INET6_ADDRSTRLEN + 8], ip[INET6_ADDRSTRLEN];

	FUZZ_CHECK(
		(p->family == AF_INET && p->len == 32) || (p->family == AF_INET6 && p->len == 128),
		"prefix family %d len %u", p->family, p->len);
	FUZZ_CHECK(inet_ntop(p->family, p->addr, ip, sizeof(ip)) != NULL, "inet_ntop");
	snprintf(text, sizeof(text), "%s/%u", ip, p->len);
	FUZZ_CHECK(
		strcmp(text, p->text) == 0, "prefix '%s' is not canonical ('%s')", p->text, text);
}

static void check_conf(const struct conf *c)
{
	const struct conf_global *g = &c->global;

	FUZZ_CHECK(c->file != NULL && strcmp(c->file, NAME) == 0, "file");
	FUZZ_CHECK(
		g->site != NULL && g->site[0] != '\0' && strlen(g->site) <= CONF_NAME_MAX, "site");
	FUZZ_CHECK(g->workers <= CONF_MAX_WORKERS, "workers %u", g->workers);
	FUZZ_CHECK(g->max_connections >= 1 && g->max_connections <= CONF_MAX_CONNECTIONS,
		"max_connections %u", g->max_connections);
	if (g->admin.enabled) {
		FUZZ_CHECK(g->admin.socket != NULL, "admin socket");
		if (g->admin.listen != NULL) {
			check_addr(&g->admin.listen_addr, 0);
			FUZZ_CHECK(g->admin.token_file != NULL, "admin listen without token_file");
		}
	}
	if (c->bgp.enabled) {
		const struct conf_bgp *b = &c->bgp;

		FUZZ_CHECK(b->bird_socket != NULL && strlen(b->bird_socket) >= 1 &&
				   strlen(b->bird_socket) <= 107,
			"bird_socket");
		if (b->announce == CONF_ANNOUNCE_INTERFACE) {
			size_t n = b->interface != NULL ? strlen(b->interface) : 0;

			FUZZ_CHECK(n >= 1 && n <= 15 && strcmp(b->interface, ".") != 0 &&
					   strcmp(b->interface, "..") != 0 &&
					   strspn(b->interface,
						   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						   "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n,
				"interface '%s'", b->interface ? b->interface : "(null)");
			FUZZ_CHECK(b->watchdog_timeout_ms >= 100 && b->watchdog_timeout_ms <= 60000,
				"watchdog_timeout %llu",
				(unsigned long long)b->watchdog_timeout_ms);
		}
		FUZZ_CHECK(b->max_announce_delay_ms >= b->announce_delay_ms, "max_announce_delay");
		FUZZ_CHECK(b->flap_window_ms > 0, "flap_window");
		FUZZ_CHECK(b->shutdown_grace_ms <= 60000, "shutdown_grace");
	}

	FUZZ_CHECK(c->nservices >= 1 && c->services != NULL, "no services");
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];

		FUZZ_CHECK(
			s->name != NULL && s->name[0] != '\0' && strlen(s->name) <= CONF_NAME_MAX,
			"service name");
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(c->services[j].name, s->name) != 0,
				"duplicate service '%s'", s->name);
		FUZZ_CHECK(s->nlisten >= 1, "service without listen");
		for (size_t j = 0; j < s->nlisten; j++)
			check_addr(&s->listen[j].addr, 0);
		/* Backends by name (NAME:PORT) count as entries: their addresses come later. */
		FUZZ_CHECK(s->nbackends + s->nnames >= 1 && s->nbackends <= CONF_MAX_BACKENDS,
			"%zu backends, %zu names", s->nbackends, s->nnames);
		for (size_t j = 0; j < s->nnames; j++) {
			const struct conf_name *n = &s->names[j];
			FUZZ_CHECK(n->address != NULL && n->host != NULL && n->host[0] != '\0',
				"name entry without a host");
			FUZZ_CHECK(n->port >= 1 && n->port <= 65535, "name port %u", n->port);
			FUZZ_CHECK(n->interval_ms > 0, "resolve_interval 0");
			FUZZ_CHECK(n->tmpl.weight >= 1 && n->tmpl.weight <= CONF_MAX_WEIGHT,
				"name weight %u", n->tmpl.weight);
		}
		for (size_t j = 0; j < s->nbackends; j++) {
			const struct conf_backend *b = &s->backends[j];

			check_addr(&b->addr, 0);
			FUZZ_CHECK(b->weight >= 1 && b->weight <= CONF_MAX_WEIGHT, "weight %u",
				b->weight);
			FUZZ_CHECK(b->max_connections <= CONF_MAX_CONNECTIONS,
				"backend max_connections");
			FUZZ_CHECK(b->zone == NULL || strlen(b->zone) <= CONF_NAME_MAX, "zone");
			for (size_t k = 0; k < j; k++)
				FUZZ_CHECK(!addr_equal(&s->backends[k].addr, &b->addr),
					"duplicate backend %s", b->address);
		}
		FUZZ_CHECK(s->retries <= CONF_MAX_RETRIES, "retries %u", s->retries);
		FUZZ_CHECK(s->max_connections <= CONF_MAX_CONNECTIONS, "max_connections");
		FUZZ_CHECK(s->timeouts.connect_ms > 0 && s->timeouts.idle_ms > 0 &&
				   s->timeouts.half_close_ms > 0,
			"a zero timeout");
		check_check(&s->health.liveness);
		check_check(&s->health.readiness);
		const struct conf_outlier *o = &s->outlier;
		FUZZ_CHECK(o->consecutive_failures <= 1000 && o->base_ejection_ms > 0 &&
				   o->max_ejection_ms >= o->base_ejection_ms &&
				   o->max_ejection_percent <= 100,
			"outlier");
		const struct conf_anycast *a = &s->anycast;
		if (!a->enabled) {
			FUZZ_CHECK(a->nprefixes == 0 && a->bird_protocol == NULL, "absent anycast");
			continue;
		}
		FUZZ_CHECK(c->bgp.enabled, "anycast without bgp");
		FUZZ_CHECK(a->nprefixes >= 1, "anycast without prefixes");
		/* With names, the number of backends is only known once they resolve. */
		FUZZ_CHECK(s->nnames > 0 || a->min_ready <= s->nbackends, "min_ready %u of %zu",
			a->min_ready, s->nbackends);
		FUZZ_CHECK(a->min_capacity >= 0.0 && a->min_capacity <= 1.0, "min_capacity %g",
			a->min_capacity);
		FUZZ_CHECK((a->bird_protocol != NULL) ==
				   (c->bgp.announce == CONF_ANNOUNCE_BIRD_PROTOCOL),
			"bird_protocol against announce mode");
		if (a->bird_protocol != NULL) {
			size_t n = strlen(a->bird_protocol);

			FUZZ_CHECK(n >= 1 && n <= CONF_BIRD_NAME_MAX, "bird_protocol length");
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(c->services[j].anycast.bird_protocol == NULL ||
						   strcmp(c->services[j].anycast.bird_protocol,
							   a->bird_protocol) != 0,
					"shared bird_protocol");
		}
		for (size_t j = 0; j < a->nprefixes; j++) {
			check_prefix(&a->prefixes[j]);
			/* Unique across the whole file. */
			for (size_t si = 0; si <= i; si++) {
				const struct conf_anycast *o2 = &c->services[si].anycast;
				size_t end = si == i ? j : o2->nprefixes;

				for (size_t k = 0; k < end; k++)
					FUZZ_CHECK(strcmp(o2->prefixes[k].text,
							   a->prefixes[j].text) != 0,
						"duplicate prefix %s", a->prefixes[j].text);
			}
		}
	}
}

/* The same bytes through conf_load() and a file: the same verdict and the same messages. */
static void check_file_load(const uint8_t *data, size_t size, int rc, const struct conf_errs *e)
{
	static int fd = -2;
	static char path[64];
	struct conf_errs fe = {0};
	struct conf *c = NULL;

	if (fd == -2) {
		fd = memfd_create("fuzz_conf", MFD_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return;
	int frc = conf_load(path, &c, &fe);
	FUZZ_CHECK(frc == rc, "file %d, buffer %d", frc, rc);
	FUZZ_CHECK(fe.n == e->n, "file %zu errors, buffer %zu", fe.n, e->n);
	for (size_t i = 0; i < fe.n; i++)
		FUZZ_CHECK(fe.v[i].line == e->v[i].line && fe.v[i].col == e->v[i].col &&
				   strcmp(fe.v[i].msg, e->v[i].msg) == 0 &&
				   strcmp(fe.v[i].file, path) == 0,
			"error %zu differs: '%s' vs '%s'", i, fe.v[i].msg, e->v[i].msg);
	conf_free(c);
	conf_errs_free(&fe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errs errs = {0};
	struct conf *c = (struct conf *)1;

	if (memmem(data, size, "include", 7) != NULL)
		return 0;
	int rc = conf_load_buffer(NAME, (const char *)data, size, &c, &errs);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM, "rc %d", rc);
	check_file_load(data, size, rc, &errs);
	if (rc == 0) {
		FUZZ_CHECK(c != NULL && errs.n == 0, "a config with %zu errors", errs.n);
		check_conf(c);
		conf_free(c);
	} else {
		static int devnull = -2;

		FUZZ_CHECK(c == NULL, "no config expected");
		check_errors(&errs, size);
		if (devnull == -2)
			devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (devnull >= 0)
			conf_errs_print(&errs, devnull); /* what `anylb -t` does with them */
	}
	conf_errs_free(&errs);
	return 0;
}
