/*
 * DOC: health checks and outlier ejection
 *
 * A service's `health:` holds up to two active checks, `liveness` and `readiness`, read into
 * struct conf_check; `outlier:` tunes passive ejection (struct conf_outlier). Defaults and
 * ranges are those of conf.h, and health/ takes the values as they are: every rule is here.
 *
 * A check's keys depend on its type: `path`, `host`, `expect_status` and `expect_body` belong to
 * http and https, `tls` to https and tls, `send` and `expect` to send_expect and udp_send_expect,
 * `query`, `transport`, `expect_rcode` and `expect_answer` to dns. A key that the
 * type does not use is an error at the key rather than ignored, so that nobody believes a body
 * is checked when it is not. The type is therefore read first, wherever it stands in the
 * mapping. `expect_body`, `send`, `expect` and `tls` may be null, which means not set (the
 * reference file writes `expect_body: null`).
 *
 * Rules that span keys run once the section is read and only over values that were read
 * cleanly, so that one mistake gives one message: a send_expect or udp_send_expect check needs
 * `send` and `expect`, a dns check `query` with a `name`, `expect_answer` must suit the query's
 * type (an address for A and AAAA, a name for CNAME, NS, PTR and MX, any text for TXT; none for
 * the other types), `timeout` and `fast_interval` may not exceed `interval`, and
 * `max_ejection_time` may not be shorter than `base_ejection_time`. Defaults that depend on another
 * key follow it: `timeout` is min(interval, 1s), `fast_interval` min(interval, 500ms) and
 * `max_ejection_time` max(5m, base_ejection_time), so that setting one key never makes an unwritten
 * one invalid.
 *
 * A dns check's transport defaults to udp whatever the service is: a DNS server that answers
 * over TCP only serves almost nobody, so UDP is what tells whether it serves, and a TCP service
 * in front of DNS servers (today's only kind) still wants to know that.
 *
 * Nothing here opens `ca_file`: conf/ reads no file but the configuration (health/ loads it).
 */
#include "conf/internal.h"

#include "lib/dns.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_PATH_MAX       1024 /* bytes in an http path */
#define CONF_HOST_MAX       255  /* bytes in a Host header or SNI name */
#define CONF_FILE_MAX       4096 /* bytes in ca_file, PATH_MAX */
#define CONF_MAX_RISE_FALL  100
#define CONF_MAX_JITTER     50 /* percent */
#define CONF_MAX_FAILURES   1000
#define CONF_STATUS_MIN     100
#define CONF_STATUS_MAX     599
#define CONF_DEFAULT_STATUS ((struct conf_status_range){200, 399})

enum conf_health_key { CONF_HEALTH_LIVENESS, CONF_HEALTH_READINESS };

static const struct conf_key conf_health_keys[] = {
	[CONF_HEALTH_LIVENESS] = {"liveness", 0},
	[CONF_HEALTH_READINESS] = {"readiness", 0},
};

/* In the order of the reference file; "type" must stay first (see conf_map_check()). */
enum conf_check_key {
	CONF_CK_TYPE,
	CONF_CK_PORT,
	CONF_CK_PATH,
	CONF_CK_HOST,
	CONF_CK_EXPECT_STATUS,
	CONF_CK_EXPECT_BODY,
	CONF_CK_SEND,
	CONF_CK_EXPECT,
	CONF_CK_QUERY,
	CONF_CK_TRANSPORT,
	CONF_CK_EXPECT_RCODE,
	CONF_CK_EXPECT_ANSWER,
	CONF_CK_TLS,
	CONF_CK_INTERVAL,
	CONF_CK_FAST_INTERVAL,
	CONF_CK_TIMEOUT,
	CONF_CK_JITTER,
	CONF_CK_RISE,
	CONF_CK_FALL,
	CONF_CK_COUNT,
};

static const struct conf_key conf_check_keys[] = {
	[CONF_CK_TYPE] = {"type", 0},
	[CONF_CK_PORT] = {"port", 0},
	[CONF_CK_PATH] = {"path", 0},
	[CONF_CK_HOST] = {"host", 0},
	[CONF_CK_EXPECT_STATUS] = {"expect_status", 0},
	[CONF_CK_EXPECT_BODY] = {"expect_body", 0},
	[CONF_CK_SEND] = {"send", 0},
	[CONF_CK_EXPECT] = {"expect", 0},
	[CONF_CK_QUERY] = {"query", 0},
	[CONF_CK_TRANSPORT] = {"transport", 0},
	[CONF_CK_EXPECT_RCODE] = {"expect_rcode", 0},
	[CONF_CK_EXPECT_ANSWER] = {"expect_answer", 0},
	[CONF_CK_TLS] = {"tls", 0},
	[CONF_CK_INTERVAL] = {"interval", 0},
	[CONF_CK_FAST_INTERVAL] = {"fast_interval", 0},
	[CONF_CK_TIMEOUT] = {"timeout", 0},
	[CONF_CK_JITTER] = {"jitter", 0},
	[CONF_CK_RISE] = {"rise", 0},
	[CONF_CK_FALL] = {"fall", 0},
};

enum conf_tls_key { CONF_TLS_SNI, CONF_TLS_VERIFY, CONF_TLS_CA_FILE };

static const struct conf_key conf_tls_keys[] = {
	[CONF_TLS_SNI] = {"sni", 0},
	[CONF_TLS_VERIFY] = {"verify", 0},
	[CONF_TLS_CA_FILE] = {"ca_file", 0},
};

enum conf_query_key { CONF_QUERY_NAME, CONF_QUERY_TYPE };

static const struct conf_key conf_query_keys[] = {
	[CONF_QUERY_NAME] = {"name", 0},
	[CONF_QUERY_TYPE] = {"type", 0},
};

static const char *const conf_transport_names[] = {"udp", "tcp"};

enum conf_outlier_key {
	CONF_OUTLIER_CONSECUTIVE_FAILURES,
	CONF_OUTLIER_BASE_EJECTION_TIME,
	CONF_OUTLIER_MAX_EJECTION_TIME,
	CONF_OUTLIER_MAX_EJECTION_PERCENT,
};

static const struct conf_key conf_outlier_keys[] = {
	[CONF_OUTLIER_CONSECUTIVE_FAILURES] = {"consecutive_failures", 0},
	[CONF_OUTLIER_BASE_EJECTION_TIME] = {"base_ejection_time", 0},
	[CONF_OUTLIER_MAX_EJECTION_TIME] = {"max_ejection_time", 0},
	[CONF_OUTLIER_MAX_EJECTION_PERCENT] = {"max_ejection_percent", 0},
};

/* Indexed by enum conf_check_type. */
static const char *const conf_check_type_names[] = {
	[CONF_CHECK_TCP] = "tcp",
	[CONF_CHECK_HTTP] = "http",
	[CONF_CHECK_HTTPS] = "https",
	[CONF_CHECK_TLS] = "tls",
	[CONF_CHECK_SEND_EXPECT] = "send_expect",
	[CONF_CHECK_DNS] = "dns",
	[CONF_CHECK_UDP_SEND_EXPECT] = "udp_send_expect",
};

const char *conf_check_type_name(enum conf_check_type t)
{
	switch (t) {
	case CONF_CHECK_TCP:
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
	case CONF_CHECK_TLS:
	case CONF_CHECK_SEND_EXPECT:
	case CONF_CHECK_DNS:
	case CONF_CHECK_UDP_SEND_EXPECT:
		return conf_check_type_names[t];
	}
	return "unknown";
}

/* What a check section said, for the rules that span its keys. */
struct conf_check_seen {
	const struct conf_node *k[CONF_CK_COUNT]; /* written and not null; NULL otherwise */
	const struct conf_node *v[CONF_CK_COUNT];
	int bad[CONF_CK_COUNT]; /* written, but refused: already reported */
	int type_known;         /* type is the default or was read cleanly */
};

static void conf_check_free(struct conf_check *c)
{
	free(c->path);
	free(c->host);
	free(c->expect_status);
	free(c->expect_body);
	free(c->send);
	free(c->expect);
	free(c->tls.sni);
	free(c->tls.ca_file);
	free(c->dns.name);
	free(c->dns.expect_answer);
}

void conf_health_free(struct conf_health *h)
{
	conf_check_free(&h->liveness);
	conf_check_free(&h->readiness);
}

void conf_outlier_init(struct conf_outlier *o)
{
	*o = (struct conf_outlier){
		.consecutive_failures = 5,
		.base_ejection_ms = 30 * 1000,
		.max_ejection_ms = 5 * 60 * 1000,
		.max_ejection_percent = 50,
	};
}

/*
 * A Host header (dns 0): printable ASCII without spaces, since it goes on a header line as
 * written; an SNI name (dns 1): a DNS name. International names in their xn-- form.
 */
static int conf_get_host(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, int dns, char **out)
{
	char show[CONF_SHOW_MAX];

	if (conf_get_string(r, k, v, CONF_HOST_MAX, out) < 0)
		return -1;
	for (const char *p = *out; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		int ok;
		if (dns)
			ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
		else
			ok = ch > 0x20 && ch < 0x7f;
		if (ok)
			continue;
		if (dns)
			conf_report_node(r, k, v,
				"'%s' %s may only hold letters, digits, '.', '-' and '_'", k->str,
				conf_show(*out, show, sizeof(show)));
		else
			conf_report_node(r, k, v,
				"'%s' %s may only hold printable ASCII without spaces (write "
				"international names in their xn-- form)",
				k->str, conf_show(*out, show, sizeof(show)));
		return -1;
	}
	return 0;
}

/* An absolute path as it goes on the request line: '/' first, printable ASCII, no space. */
static int conf_get_path(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, char **out)
{
	char show[CONF_SHOW_MAX];

	if (conf_get_string(r, k, v, CONF_PATH_MAX, out) < 0)
		return -1;
	if (**out != '/') {
		conf_report_node(r, k, v, "'%s' must start with '/', got %s", k->str,
			conf_show(*out, show, sizeof(show)));
		return -1;
	}
	for (const char *p = *out; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f) {
			conf_report_node(r, k, v,
				"'%s' %s may only hold printable ASCII without spaces "
				"(percent-encode the rest)",
				k->str, conf_show(*out, show, sizeof(show)));
			return -1;
		}
	}
	return 0;
}

/*
 * The decimal number in s[0..len), as conf_parse_u64() reads one, when it has at most 9 digits
 * (enough for any percentage or status); -1 otherwise.
 */
static int conf_parse_small(const char *s, size_t len, unsigned *out)
{
	char num[10];
	uint64_t n;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len);
	num[len] = '\0';
	if (conf_parse_u64(num, &n) < 0)
		return -1;
	*out = (unsigned)n;
	return 0;
}

int conf_get_percent(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	unsigned max, unsigned *out)
{
	char desc[CONF_SHOW_MAX];
	const char *s;
	unsigned n;

	if (conf_get_word(r, k, v, "a percentage", &s) < 0)
		return -1;
	size_t len = v->len;
	if (len > 0 && s[len - 1] == '%')
		len--;
	if (conf_parse_small(s, len, &n) < 0) {
		conf_report_node(r, k, v, "'%s': expected a percentage such as '10%%', got %s",
			k->str, conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	if (n > max) {
		conf_report_node(
			r, k, v, "'%s' must be between 0%% and %u%%, got %u%%", k->str, max, n);
		return -1;
	}
	*out = n;
	return 0;
}

/* One item of expect_status: "200", 200 or "200-299". */
static int conf_get_status(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_status_range *out)
{
	char show[CONF_SHOW_MAX], desc[CONF_SHOW_MAX];
	const char *s, *dash;
	unsigned lo = 0, hi = 0;
	int bad;

	if (conf_get_word(r, k, v, "a status code or a range such as 200-299", &s) < 0)
		return -1;
	dash = strchr(s, '-');
	if (dash == NULL) {
		bad = conf_parse_small(s, v->len, &lo) < 0;
		hi = lo;
	} else {
		bad = conf_parse_small(s, (size_t)(dash - s), &lo) < 0 ||
		      conf_parse_small(dash + 1, strlen(dash + 1), &hi) < 0;
	}
	if (bad) {
		conf_report_node(r, k, v,
			"'%s': expected a status code or a range such as 200-299, got %s", k->str,
			conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		unsigned code = i == 0 ? lo : hi;
		if (code < CONF_STATUS_MIN || code > CONF_STATUS_MAX) {
			conf_report_node(r, k, v, "'%s': status %u is not between %d and %d",
				k->str, code, CONF_STATUS_MIN, CONF_STATUS_MAX);
			return -1;
		}
	}
	if (lo > hi) {
		conf_report_node(r, k, v, "'%s': range %s ends before it starts", k->str,
			conf_show(s, show, sizeof(show)));
		return -1;
	}
	*out = (struct conf_status_range){lo, hi};
	return 0;
}

/* A status or a list of them; at least one. */
static int conf_get_statuses(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_check *c)
{
	char desc[CONF_SHOW_MAX];
	const struct conf_node *item = v;
	size_t n = 1;
	int rc = 0;

	if (v->kind == CONF_NODE_BAD)
		return -1;
	if (v->kind == CONF_NODE_LIST && v->n == 0) {
		conf_report_node(r, k, v, "'%s' is empty: list at least one status", k->str);
		return -1;
	}
	if (v->kind == CONF_NODE_MAP || conf_node_is_null(v)) {
		conf_report_node(r, k, v, "'%s': expected a status or a list of them, got %s",
			k->str, conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	if (v->kind == CONF_NODE_LIST) {
		item = v->first;
		n = v->n;
	}
	c->expect_status = calloc(n, sizeof(*c->expect_status));
	if (c->expect_status == NULL) {
		r->nomem = 1;
		return -1;
	}
	c->nexpect_status = n;
	for (size_t i = 0; i < n && item != NULL; i++, item = item->next) {
		if (conf_get_status(r, k, item, &c->expect_status[i]) < 0)
			rc = -1;
	}
	return rc;
}

static void conf_map_tls(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, const char *check, struct conf_check_tls *t)
{
	const struct conf_node *val;
	char where[64];

	if (conf_get_section(r, k, v) <= 0)
		return;
	snprintf(where, sizeof(where), "in 'health.%s.tls'", check);
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, where, conf_tls_keys, CONF_NKEYS(conf_tls_keys));
		if (key < 0)
			continue;
		switch ((enum conf_tls_key)key) {
		case CONF_TLS_SNI:
			conf_get_host(r, k, val, 1, &t->sni);
			break;
		case CONF_TLS_VERIFY:
			conf_get_bool(r, k, val, &t->verify);
			break;
		case CONF_TLS_CA_FILE:
			if (conf_get_string(r, k, val, CONF_FILE_MAX, &t->ca_file) == 0)
				t->ca_file_pos = conf_node_pos(val);
			break;
		}
	}
}

/* query: {name: example.org., type: A}; the name is required (conf_check_finish says so). */
static int conf_map_query(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, const char *check, struct conf_check_dns *d)
{
	const struct conf_node *val;
	char where[64], show[CONF_SHOW_MAX];
	const char *s, *why;
	int rc = 0;

	int sec = conf_get_section(r, k, v);

	if (sec <= 0)
		return sec; /* null: an empty query, whose missing name is reported later */
	snprintf(where, sizeof(where), "in 'health.%s.query'", check);
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, where, conf_query_keys, CONF_NKEYS(conf_query_keys));
		uint8_t wire[DNS_NAME_WIRE_MAX];
		size_t len;

		if (key < 0) {
			rc = -1;
			continue;
		}
		switch ((enum conf_query_key)key) {
		case CONF_QUERY_NAME:
			if (conf_get_string(r, k, val, CONF_HOST_MAX, &d->name) < 0) {
				rc = -1;
				break;
			}
			if (dns_name_to_wire(d->name, wire, &len, &why) < 0) {
				conf_report_node(r, k, val, "'%s' %s %s", k->str,
					conf_show(d->name, show, sizeof(show)), why);
				free(d->name);
				d->name = NULL;
				rc = -1;
			}
			break;
		case CONF_QUERY_TYPE:
			if (conf_get_word(r, k, val, "a record type", &s) < 0) {
				rc = -1;
				break;
			}
			if (dns_type_from_name(s, &d->qtype) < 0) {
				conf_report_value(r, k, val, dns_type_list());
				rc = -1;
			}
			break;
		}
	}
	return rc;
}

/* An rcode by its name: NOERROR, NXDOMAIN, ... */
static int conf_get_rcode(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, unsigned *out)
{
	const char *s;

	if (conf_get_word(r, k, v, "an rcode", &s) < 0)
		return -1;
	if (dns_rcode_from_name(s, out) == 0)
		return 0;
	conf_report_value(r, k, v,
		"NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, "
		"NXRRSET, NOTAUTH, NOTZONE");
	return -1;
}

/* Null means "not set" for these keys only. */
static int conf_check_key_nullable(enum conf_check_key key)
{
	return key == CONF_CK_EXPECT_BODY || key == CONF_CK_SEND || key == CONF_CK_EXPECT ||
	       key == CONF_CK_TLS || key == CONF_CK_EXPECT_ANSWER;
}

/* NULL when key applies to type t, else the types it is for, as a message says them. */
static const char *conf_check_key_types(enum conf_check_key key, enum conf_check_type t)
{
	int http = t == CONF_CHECK_HTTP || t == CONF_CHECK_HTTPS;
	int tls = t == CONF_CHECK_HTTPS || t == CONF_CHECK_TLS;

	switch (key) {
	case CONF_CK_PATH:
	case CONF_CK_HOST:
	case CONF_CK_EXPECT_STATUS:
	case CONF_CK_EXPECT_BODY:
		return http ? NULL : "http and https";
	case CONF_CK_TLS:
		return tls ? NULL : "https and tls";
	case CONF_CK_SEND:
	case CONF_CK_EXPECT:
		return t == CONF_CHECK_SEND_EXPECT || t == CONF_CHECK_UDP_SEND_EXPECT
			       ? NULL
			       : "send_expect and udp_send_expect";
	case CONF_CK_QUERY:
	case CONF_CK_TRANSPORT:
	case CONF_CK_EXPECT_RCODE:
	case CONF_CK_EXPECT_ANSWER:
		return t == CONF_CHECK_DNS ? NULL : "dns";
	case CONF_CK_TYPE:
	case CONF_CK_PORT:
	case CONF_CK_INTERVAL:
	case CONF_CK_FAST_INTERVAL:
	case CONF_CK_TIMEOUT:
	case CONF_CK_JITTER:
	case CONF_CK_RISE:
	case CONF_CK_FALL:
	case CONF_CK_COUNT:
		break;
	}
	return NULL;
}

/* Reads one key's value into c; 0 or -1 after reporting. */
static int conf_check_value(struct conf_report *r, const struct conf_node *sk,
	const struct conf_node *k, const struct conf_node *v, enum conf_check_key key,
	struct conf_check *c)
{
	switch (key) {
	case CONF_CK_TYPE:
		return 0; /* read before the other keys */
	case CONF_CK_PORT:
		return conf_get_uint(r, k, v, 1, 65535, &c->port);
	case CONF_CK_PATH:
		return conf_get_path(r, k, v, &c->path);
	case CONF_CK_HOST:
		return conf_get_host(r, k, v, 0, &c->host);
	case CONF_CK_EXPECT_STATUS:
		return conf_get_statuses(r, k, v, c);
	case CONF_CK_EXPECT_BODY:
		return conf_get_bytes(r, k, v, CONF_CHECK_DATA_MAX, &c->expect_body, NULL);
	case CONF_CK_SEND:
		return conf_get_bytes(r, k, v, CONF_CHECK_DATA_MAX, &c->send, &c->send_len);
	case CONF_CK_EXPECT:
		return conf_get_bytes(r, k, v, CONF_CHECK_DATA_MAX, &c->expect, NULL);
	case CONF_CK_QUERY:
		return conf_map_query(r, k, v, sk->str, &c->dns);
	case CONF_CK_TRANSPORT: {
		int e = 0;

		if (conf_get_enum(r, k, v, conf_transport_names, CONF_NKEYS(conf_transport_names),
			    &e) < 0)
			return -1;
		c->dns.tcp = e == 1;
		return 0;
	}
	case CONF_CK_EXPECT_RCODE:
		return conf_get_rcode(r, k, v, &c->dns.expect_rcode);
	case CONF_CK_EXPECT_ANSWER:
		return conf_get_string(r, k, v, CONF_HOST_MAX, &c->dns.expect_answer);
	case CONF_CK_TLS:
		conf_map_tls(r, k, v, sk->str, &c->tls);
		return 0; /* its keys are checked one by one: no rule here depends on them */
	case CONF_CK_INTERVAL:
		return conf_get_duration(r, k, v, 1, &c->interval_ms);
	case CONF_CK_FAST_INTERVAL:
		return conf_get_duration(r, k, v, 1, &c->fast_interval_ms);
	case CONF_CK_TIMEOUT:
		return conf_get_duration(r, k, v, 1, &c->timeout_ms);
	case CONF_CK_JITTER:
		return conf_get_percent(r, k, v, CONF_MAX_JITTER, &c->jitter_pct);
	case CONF_CK_RISE:
		return conf_get_uint(r, k, v, 1, CONF_MAX_RISE_FALL, &c->rise);
	case CONF_CK_FALL:
		return conf_get_uint(r, k, v, 1, CONF_MAX_RISE_FALL, &c->fall);
	case CONF_CK_COUNT:
		break;
	}
	return 0;
}

/* A duration key that must not exceed interval; reported at its value. */
static void conf_check_le_interval(struct conf_report *r, const struct conf_check_seen *seen,
	enum conf_check_key key, uint64_t ms, const struct conf_check *c)
{
	char a[48], b[48];

	if (seen->k[key] == NULL || seen->bad[key] || seen->bad[CONF_CK_INTERVAL] ||
		ms <= c->interval_ms)
		return;
	conf_report_node(r, seen->k[key], seen->v[key],
		"'%s' (%s) must not be longer than 'interval' (%s)", conf_check_keys[key].name,
		conf_show_ms(ms, 0, a, sizeof(a)),
		conf_show_ms(c->interval_ms, seen->k[CONF_CK_INTERVAL] == NULL, b, sizeof(b)));
}

/* Whether text is what expect_answer must be for a query of type t; the why, when not. */
static const char *conf_answer_unfit(uint16_t t, const char *text)
{
	unsigned char a[16];
	uint8_t wire[DNS_NAME_WIRE_MAX];
	char abs[CONF_HOST_MAX + 2];
	size_t n = strlen(text), len;
	const char *why;

	switch (t) {
	case DNS_TYPE_A:
		return inet_pton(AF_INET, text, a) == 1 ? NULL : "is not an IPv4 address";
	case DNS_TYPE_AAAA:
		return inet_pton(AF_INET6, text, a) == 1 ? NULL : "is not an IPv6 address";
	case DNS_TYPE_CNAME:
	case DNS_TYPE_NS:
	case DNS_TYPE_PTR:
	case DNS_TYPE_MX:
		snprintf(abs, sizeof(abs), "%s%s", text, n > 0 && text[n - 1] == '.' ? "" : ".");
		return dns_name_to_wire(abs, wire, &len, &why) == 0 ? NULL : why;
	case DNS_TYPE_TXT:
		return NULL;
	default:
		return "";
	}
}

/* A dns check: the query's name is required, and expect_answer must suit its type. */
static void conf_check_dns_finish(struct conf_report *r, const struct conf_node *sk,
	struct conf_check *c, const struct conf_check_seen *seen)
{
	const struct conf_node *k = seen->k[CONF_CK_EXPECT_ANSWER];
	char show[CONF_SHOW_MAX];
	const char *why;

	if (seen->bad[CONF_CK_QUERY])
		return;
	if (c->dns.name == NULL) {
		conf_report_at_node(r, sk,
			"'%s' is missing 'query' with its 'name' (a dns check needs "
			"'query: {name: example.org., type: A}')",
			sk->str);
		return;
	}
	if (k == NULL || seen->bad[CONF_CK_EXPECT_ANSWER])
		return;
	why = conf_answer_unfit(c->dns.qtype, c->dns.expect_answer);
	if (why == NULL)
		return;
	if (why[0] == '\0')
		conf_report_node(r, k, seen->v[CONF_CK_EXPECT_ANSWER],
			"'%s' works with query types A, AAAA, CNAME, NS, PTR, MX and TXT, not %s",
			k->str, dns_type_name(c->dns.qtype));
	else
		conf_report_node(r, k, seen->v[CONF_CK_EXPECT_ANSWER], "'%s' %s %s (query type %s)",
			k->str, conf_show(c->dns.expect_answer, show, sizeof(show)), why,
			dns_type_name(c->dns.qtype));
}

/* The rules that span keys, and the defaults that depend on the type or on interval. */
static void conf_check_finish(struct conf_report *r, const struct conf_node *sk,
	struct conf_check *c, const struct conf_check_seen *seen)
{
	if (seen->k[CONF_CK_FAST_INTERVAL] == NULL)
		c->fast_interval_ms = c->interval_ms < 500 ? c->interval_ms : 500;
	if (seen->k[CONF_CK_TIMEOUT] == NULL)
		c->timeout_ms = c->interval_ms < 1000 ? c->interval_ms : 1000;
	conf_check_le_interval(r, seen, CONF_CK_TIMEOUT, c->timeout_ms, c);
	conf_check_le_interval(r, seen, CONF_CK_FAST_INTERVAL, c->fast_interval_ms, c);
	if (!seen->type_known)
		return;
	switch (c->type) {
	case CONF_CHECK_SEND_EXPECT:
	case CONF_CHECK_UDP_SEND_EXPECT:
		for (int i = 0; i < 2; i++) {
			enum conf_check_key key = i == 0 ? CONF_CK_SEND : CONF_CK_EXPECT;
			if (seen->k[key] != NULL)
				continue;
			conf_report_at_node(r, sk,
				"'%s' is missing '%s' (a %s check needs 'send' and 'expect')",
				sk->str, conf_check_keys[key].name, conf_check_type_name(c->type));
		}
		break;
	case CONF_CHECK_DNS:
		conf_check_dns_finish(r, sk, c, seen);
		break;
	case CONF_CHECK_HTTP:
	case CONF_CHECK_HTTPS:
		if (c->path == NULL && seen->k[CONF_CK_PATH] == NULL) {
			c->path = strdup("/");
			if (c->path == NULL)
				r->nomem = 1;
		}
		if (c->expect_status == NULL && seen->k[CONF_CK_EXPECT_STATUS] == NULL) {
			c->expect_status = malloc(sizeof(*c->expect_status));
			if (c->expect_status == NULL) {
				r->nomem = 1;
				break;
			}
			c->expect_status[0] = CONF_DEFAULT_STATUS;
			c->nexpect_status = 1;
		}
		break;
	case CONF_CHECK_TCP:
	case CONF_CHECK_TLS:
		break;
	}
	if (c->type != CONF_CHECK_DNS)
		c->dns.qtype = 0;
	/* https and tls always carry their TLS settings, written or not; the others none. */
	if (c->type != CONF_CHECK_HTTPS && c->type != CONF_CHECK_TLS) {
		c->tls.verify = 0;
	} else if (c->tls.ca_file == NULL && !r->nomem) {
		c->tls.ca_file = strdup(CONF_CA_FILE);
		if (c->tls.ca_file == NULL)
			r->nomem = 1;
	}
}

static void conf_map_check(struct conf_report *r, const struct conf_node *sk,
	const struct conf_node *v, struct conf_check *c)
{
	struct conf_check_seen seen = {.type_known = 1};
	const struct conf_node *k, *val;
	char where[48];
	int e;

	*c = (struct conf_check){
		.enabled = 1,
		.type = CONF_CHECK_TCP,
		.interval_ms = 2000,
		.jitter_pct = 10,
		.rise = 2,
		.fall = 3,
		.tls = {.verify = 1},
		.dns = {.qtype = DNS_TYPE_A},
		.pos = conf_node_pos(sk),
	};
	int sec = conf_get_section(r, sk, v);
	if (sec < 0)
		return;
	snprintf(where, sizeof(where), "in 'health.%s'", sk->str);
	/* The type first: it decides which other keys belong. */
	for (k = sec ? conf_map_next(v, NULL, &val) : NULL; k != NULL;
		k = conf_map_next(v, k, &val)) {
		if (strcmp(k->str, conf_check_keys[CONF_CK_TYPE].name) != 0)
			continue;
		seen.k[CONF_CK_TYPE] = k;
		if (conf_get_enum(r, k, val, conf_check_type_names,
			    CONF_NKEYS(conf_check_type_names), &e) == 0)
			c->type = (enum conf_check_type)e;
		else
			seen.type_known = 0;
	}
	for (k = sec ? conf_map_next(v, NULL, &val) : NULL; k != NULL;
		k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, where, conf_check_keys, CONF_NKEYS(conf_check_keys));
		if (key < 0)
			continue;
		if (conf_check_key_nullable((enum conf_check_key)key) && conf_node_is_null(val))
			continue;
		seen.k[key] = k;
		seen.v[key] = val;
		const char *types = conf_check_key_types((enum conf_check_key)key, c->type);
		if (seen.type_known && types != NULL) {
			conf_report_at_node(r, k,
				"'%s' applies only to %s checks, not to type '%s'%s", k->str, types,
				conf_check_type_name(c->type),
				seen.k[CONF_CK_TYPE] == NULL ? " (the default)" : "");
			seen.bad[key] = 1;
			continue;
		}
		if (conf_check_value(r, sk, k, val, (enum conf_check_key)key, c) < 0)
			seen.bad[key] = 1;
	}
	conf_check_finish(r, sk, c, &seen);
}

void conf_map_health(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_health *h)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(
			r, k, "in 'health'", conf_health_keys, CONF_NKEYS(conf_health_keys));
		if (key < 0)
			continue;
		switch ((enum conf_health_key)key) {
		case CONF_HEALTH_LIVENESS:
			conf_map_check(r, k, val, &h->liveness);
			break;
		case CONF_HEALTH_READINESS:
			conf_map_check(r, k, val, &h->readiness);
			break;
		}
	}
}

void conf_map_outlier(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_outlier *o)
{
	const struct conf_node *val, *base_k = NULL, *max_k = NULL, *max_v = NULL;
	int base_bad = 0, max_bad = 0;
	char a[48], b[48];

	o->pos = conf_node_pos(k);
	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(
			r, k, "in 'outlier'", conf_outlier_keys, CONF_NKEYS(conf_outlier_keys));
		if (key < 0)
			continue;
		switch ((enum conf_outlier_key)key) {
		case CONF_OUTLIER_CONSECUTIVE_FAILURES:
			conf_get_uint(r, k, val, 0, CONF_MAX_FAILURES, &o->consecutive_failures);
			break;
		case CONF_OUTLIER_BASE_EJECTION_TIME:
			base_k = k;
			base_bad = conf_get_duration(r, k, val, 1, &o->base_ejection_ms) < 0;
			break;
		case CONF_OUTLIER_MAX_EJECTION_TIME:
			max_k = k;
			max_v = val;
			max_bad = conf_get_duration(r, k, val, 1, &o->max_ejection_ms) < 0;
			break;
		case CONF_OUTLIER_MAX_EJECTION_PERCENT:
			conf_get_uint(r, k, val, 0, 100, &o->max_ejection_percent);
			break;
		}
	}
	if (max_k == NULL) {
		if (o->max_ejection_ms < o->base_ejection_ms)
			o->max_ejection_ms = o->base_ejection_ms;
		return;
	}
	if (max_bad || base_bad || o->max_ejection_ms >= o->base_ejection_ms)
		return;
	conf_report_node(r, max_k, max_v,
		"'max_ejection_time' (%s) must not be shorter than 'base_ejection_time' (%s)",
		conf_show_ms(o->max_ejection_ms, 0, a, sizeof(a)),
		conf_show_ms(o->base_ejection_ms, base_k == NULL, b, sizeof(b)));
}

void conf_health_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(
		cb, arg, "services[].health", conf_health_keys, CONF_NKEYS(conf_health_keys));
	/* liveness and readiness read the same keys */
	conf_keys_table(
		cb, arg, "services[].health.*", conf_check_keys, CONF_NKEYS(conf_check_keys));
	conf_keys_table(
		cb, arg, "services[].health.*.tls", conf_tls_keys, CONF_NKEYS(conf_tls_keys));
	conf_keys_table(
		cb, arg, "services[].health.*.query", conf_query_keys, CONF_NKEYS(conf_query_keys));
	conf_keys_table(
		cb, arg, "services[].outlier", conf_outlier_keys, CONF_NKEYS(conf_outlier_keys));
}
