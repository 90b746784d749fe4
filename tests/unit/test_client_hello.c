/*
 * DOC: unit: the ClientHello reader (lb/client_hello.c) and sni route matching (conf/sni.c)
 *
 * Real ClientHellos, made by OpenSSL's client over memory BIOs (TLS 1.3 and TLS 1.2 at most,
 * with and without a server name), every proper prefix of each read as "more" with a need
 * beyond it; the same hello cut into many small records; hand-built ones for each malformed
 * case with its reason. Then the routes of a loaded file: exact, wildcard, longest wildcard,
 * case, and the default.
 */
#include "conf/conf.h"
#include "lb/client_hello.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <openssl/ssl.h>
#include <string.h>

/* What OpenSSL's client sends first, for sni (NULL: none) and a highest version. */
static size_t real_hello(const char *sni, int max_version, uint8_t *out, size_t cap)
{
	size_t n = sc_client_hello(sni, max_version, out, cap);

	cr_assert_gt(n, 0, "no ClientHello from OpenSSL");
	return n;
}

static void every_prefix_is_more(const uint8_t *b, size_t n)
{
	struct client_hello ch;

	for (size_t k = 0; k < n; k++) {
		cr_assert_eq(client_hello_parse(b, k, &ch), CLIENT_HELLO_MORE,
			"prefix of %zu of %zu", k, n);
		cr_assert(ch.need > k && ch.need <= n, "prefix of %zu: need %zu of %zu", k, ch.need,
			n);
	}
}

/* The handshake message of a one-record hello cut into records of at most `size` bytes. */
static size_t reframe(const uint8_t *in, size_t n, size_t size, uint8_t *out)
{
	size_t len = (size_t)in[3] << 8 | in[4], o = 0;

	cr_assert_eq(len + 5, n, "one record");
	for (size_t i = 0; i < len; i += size) {
		size_t k = len - i < size ? len - i : size;
		out[o++] = 22;
		out[o++] = 3;
		out[o++] = 1;
		out[o++] = (uint8_t)(k >> 8);
		out[o++] = (uint8_t)k;
		memcpy(out + o, in + 5 + i, k);
		o += k;
	}
	return o;
}

Test(client_hello, tls13_with_sni_and_every_prefix)
{
	uint8_t b[4096];
	struct client_hello ch;
	size_t n = real_hello("www.a.test", TLS1_3_VERSION, b, sizeof(b));

	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_SNI);
	cr_expect_str_eq(ch.name, "www.a.test");
	every_prefix_is_more(b, n);
}

Test(client_hello, tls12_with_sni_and_without)
{
	uint8_t b[4096];
	struct client_hello ch;
	size_t n = real_hello("x.b.test", TLS1_2_VERSION, b, sizeof(b));

	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_SNI);
	cr_expect_str_eq(ch.name, "x.b.test");
	every_prefix_is_more(b, n);
	n = real_hello(NULL, TLS1_2_VERSION, b, sizeof(b));
	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_NO_SNI);
	cr_expect_str_eq(ch.name, "");
	every_prefix_is_more(b, n);
	n = real_hello(NULL, TLS1_3_VERSION, b, sizeof(b));
	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_NO_SNI);
}

Test(client_hello, names_are_lower_case_without_the_trailing_dot)
{
	uint8_t b[4096];
	struct client_hello ch;
	size_t n = real_hello("WWW.A.Test.", TLS1_3_VERSION, b, sizeof(b));

	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_SNI);
	cr_expect_str_eq(ch.name, "www.a.test");
}

Test(client_hello, spread_over_many_records_with_bytes_behind)
{
	uint8_t b[4096], r[8192];
	struct client_hello ch;
	size_t n = real_hello("www.a.test", TLS1_3_VERSION, b, sizeof(b));

	for (size_t size = 1; size <= 64; size = size * 2 + 1) {
		size_t m = reframe(b, n, size, r);
		cr_assert_eq(
			client_hello_parse(r, m, &ch), CLIENT_HELLO_SNI, "records of %zu", size);
		cr_expect_str_eq(ch.name, "www.a.test");
		if (size == 7)
			every_prefix_is_more(r, m);
	}
	/* What follows the ClientHello (early data, garbage) is not looked at. */
	memset(b + n, 0xee, 100);
	cr_assert_eq(client_hello_parse(b, n + 100, &ch), CLIENT_HELLO_SNI);
}

Test(client_hello, not_tls_from_the_first_bytes)
{
	struct client_hello ch;
	const uint8_t http[] = "GET / HTTP/1.1\r\n", sslv2[] = {0x80, 0x2e, 0x01};
	const uint8_t v2[] = {22, 2, 0};

	cr_expect_eq(client_hello_parse(http, 1, &ch), CLIENT_HELLO_NOT_TLS);
	cr_expect_str_eq(ch.why, "not a TLS handshake");
	cr_expect_eq(client_hello_parse(http, sizeof(http) - 1, &ch), CLIENT_HELLO_NOT_TLS);
	cr_expect_eq(client_hello_parse(sslv2, sizeof(sslv2), &ch), CLIENT_HELLO_NOT_TLS);
	cr_expect_eq(client_hello_parse(v2, 2, &ch), CLIENT_HELLO_NOT_TLS);
	cr_expect_str_eq(ch.why, "not a TLS record version");
	cr_expect_eq(client_hello_parse(v2, 1, &ch), CLIENT_HELLO_MORE);
	cr_expect_eq(client_hello_parse(v2, 0, &ch), CLIENT_HELLO_MORE);
}

/* A hand-built hello: the body's parts, then framed in one record. */
struct hb {
	uint8_t b[20000];
	size_t n;
};

static void put(struct hb *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void put16(struct hb *h, size_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(h, x, 2);
}

/* ext: the extensions block as written (NULL: none); sid, cs, comp: their lengths. */
static size_t build(
	uint8_t *out, size_t sid, size_t cs, size_t comp, const struct hb *ext, int ext_len_delta)
{
	static struct hb body;
	static const uint8_t zero[8192]; /* the longest part written */

	body.n = 0;
	put(&body, "\x03\x03", 2);
	put(&body, zero, 32);
	body.b[body.n++] = (uint8_t)sid;
	put(&body, zero, sid);
	put16(&body, cs);
	put(&body, zero, cs);
	body.b[body.n++] = (uint8_t)comp;
	put(&body, zero, comp);
	if (ext != NULL) {
		put16(&body, (size_t)((long)ext->n + ext_len_delta));
		put(&body, ext->b, ext->n);
	}
	size_t hl = body.n + 4, o = 0;
	out[o++] = 22;
	out[o++] = 3;
	out[o++] = 1;
	out[o++] = (uint8_t)(hl >> 8);
	out[o++] = (uint8_t)hl;
	out[o++] = 1;
	out[o++] = (uint8_t)(body.n >> 16);
	out[o++] = (uint8_t)(body.n >> 8);
	out[o++] = (uint8_t)body.n;
	memcpy(out + o, body.b, body.n);
	return o + body.n;
}

static void sni_ext(struct hb *e, const char *name)
{
	size_t n = strlen(name);

	put16(e, 0);
	put16(e, n + 5);
	put16(e, n + 3);
	e->b[e->n++] = 0;
	put16(e, n);
	put(e, name, n);
}

static void expect_malformed(const uint8_t *b, size_t n, const char *why)
{
	struct client_hello ch;

	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_MALFORMED, "wanted '%s'", why);
	cr_expect_str_eq(ch.why, why);
	/* Nothing of a refused name is left behind (fuzz_client_hello's first finding). */
	cr_expect_str_eq(ch.name, "", "for '%s'", why);
}

Test(client_hello, hand_built_good_ones)
{
	static uint8_t b[20000];
	struct hb e = {.n = 0};
	struct client_hello ch;

	cr_assert_eq(client_hello_parse(b, build(b, 0, 2, 1, NULL, 0), &ch), CLIENT_HELLO_NO_SNI);
	sni_ext(&e, "a.example.net");
	size_t n = build(b, 32, 4, 1, &e, 0);
	cr_assert_eq(client_hello_parse(b, n, &ch), CLIENT_HELLO_SNI);
	cr_expect_str_eq(ch.name, "a.example.net");
	every_prefix_is_more(b, n);
}

Test(client_hello, malformed_each_with_its_reason)
{
	static uint8_t b[20000];
	struct hb e = {.n = 0}, two = {.n = 0}, bad = {.n = 0}, over = {.n = 0};
	size_t n;

	sni_ext(&e, "a.example.net");
	n = build(b, 0, 2, 1, &e, 0);
	b[5] = 2;
	expect_malformed(b, n, "first handshake message is not a ClientHello");
	b[5] = 1;
	b[9] = 2;
	expect_malformed(b, n, "ClientHello legacy_version is not 3.x");
	expect_malformed(b, build(b, 33, 2, 1, &e, 0), "bad legacy_session_id");
	expect_malformed(b, build(b, 0, 3, 1, &e, 0), "bad cipher_suites");
	expect_malformed(b, build(b, 0, 0, 1, &e, 0), "bad cipher_suites");
	expect_malformed(b, build(b, 0, 2, 0, &e, 0), "bad legacy_compression_methods");
	expect_malformed(b, build(b, 0, 2, 1, &e, -1), "extensions do not fill the ClientHello");
	expect_malformed(b, build(b, 0, 2, 1, &e, 1), "extensions do not fill the ClientHello");
	sni_ext(&two, "a.test");
	sni_ext(&two, "b.test");
	expect_malformed(b, build(b, 0, 2, 1, &two, 0), "two server_name extensions");
	sni_ext(&bad, "a b.test");
	expect_malformed(b, build(b, 0, 2, 1, &bad, 0), "server_name is not a host name");
	bad.n = 0;
	sni_ext(&bad, "a..test");
	expect_malformed(b, build(b, 0, 2, 1, &bad, 0), "server_name is not a host name");
	put16(&over, 0);
	put16(&over, 40); /* longer than what follows */
	put16(&over, 3);
	expect_malformed(b, build(b, 0, 2, 1, &over, 0), "extension overruns the ClientHello");
	over.n = 0;
	put16(&over, 0);
	put16(&over, 4);
	put16(&over, 9); /* the list claims more than the extension holds */
	put16(&over, 0);
	expect_malformed(b, build(b, 0, 2, 1, &over, 0), "server_name list has a wrong length");

	/* Records. */
	n = build(b, 0, 2, 1, &e, 0);
	b[3] = 0;
	b[4] = 0;
	expect_malformed(b, n, "TLS record of a wrong length");
	b[3] = 0x40;
	b[4] = 1;
	expect_malformed(b, n, "TLS record of a wrong length");
	/* A first record that holds only the handshake header, then an alert. */
	const uint8_t cut[] = {22, 3, 1, 0, 4, 1, 0, 0, 60, 21, 3, 1, 0, 2, 2, 40};
	expect_malformed(cut, sizeof(cut), "ClientHello interrupted by another record");
	expect_malformed(cut, 10, "ClientHello interrupted by another record");
	const uint8_t huge[] = {22, 3, 1, 0, 4, 1, 0, 0x40, 0};
	expect_malformed(huge, sizeof(huge), "ClientHello longer than 16 KiB");
	const uint8_t short_body[] = {22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0};
	expect_malformed(short_body, sizeof(short_body), "ClientHello shorter than its random");
}

Test(client_hello, a_hello_in_one_byte_records_cannot_pass_16_KiB)
{
	static uint8_t b[20000], r[CLIENT_HELLO_MAX * 6 + 64];
	struct hb e = {.n = 0};
	struct client_hello ch;

	sni_ext(&e, "a.test");
	size_t n = build(b, 32, 4000, 1, &e, 0);
	size_t m = reframe(b, n, 1, r);
	cr_assert_eq(client_hello_parse(r, m, &ch), CLIENT_HELLO_MALFORMED);
	cr_expect_str_eq(ch.why, "ClientHello longer than 16 KiB");
	/* The same hello in records of 2000 bytes fits. */
	m = reframe(b, n, 2000, r);
	cr_assert_eq(client_hello_parse(r, m, &ch), CLIENT_HELLO_SNI);
}

/* ---- routes ---------------------------------------------------------------------------------- */

static const char routes_yaml[] =
	"global: {admin: {enabled: false}}\n"
	"services:\n"
	"  - name: front\n"
	"    listen: ['127.0.0.1:1443']\n"
	"    backends: [{address: '127.0.0.1:1'}]\n"
	"    sni:\n"
	"      routes:\n"
	"        WWW.A.test: a\n"
	"        '*.b.test': b\n"
	"        '*.deep.b.test': deep\n"
	"        exact.b.test: a\n"
	"        self.test: front\n"
	"      default: dflt\n"
	"  - {name: a, listen: ['127.0.0.1:1001'], backends: [{address: '127.0.0.1:1'}]}\n"
	"  - {name: b, listen: ['127.0.0.1:1002'], backends: [{address: '127.0.0.1:1'}]}\n"
	"  - {name: deep, listen: ['127.0.0.1:1003'], backends: [{address: "
	"'127.0.0.1:1'}]}\n"
	"  - {name: dflt, listen: ['127.0.0.1:1004'], backends: [{address: "
	"'127.0.0.1:1'}]}\n";

static const char *pick(const struct conf *c, const char *name, int *routed)
{
	long i = conf_sni_pick(&c->services[0].sni, name, routed);

	return i < 0 ? "-" : c->services[i].name;
}

Test(sni_routes, exact_wildcard_longest_case_default)
{
	struct conf *c = NULL;
	struct conf_errs errs = {0};
	int routed;

	cr_assert_eq(conf_load_buffer("routes.yaml", routes_yaml, strlen(routes_yaml), &c, &errs),
		0, "%s", errs.n ? errs.v[0].msg : "");
	cr_expect_str_eq(pick(c, "www.a.test", &routed), "a");
	cr_expect_eq(routed, 1);
	cr_expect_str_eq(pick(c, "x.b.test", &routed), "b");
	cr_expect_str_eq(pick(c, "x.y.b.test", &routed), "b");       /* one label or more */
	cr_expect_str_eq(pick(c, "exact.b.test", &routed), "a");     /* exact over wildcard */
	cr_expect_str_eq(pick(c, "x.deep.b.test", &routed), "deep"); /* longest wildcard */
	cr_expect_str_eq(pick(c, "deep.b.test", &routed), "b");
	cr_expect_str_eq(pick(c, "self.test", &routed), "front");
	cr_expect_str_eq(pick(c, "b.test", &routed), "dflt"); /* the wildcard needs a label */
	cr_expect_eq(routed, 0);
	cr_expect_str_eq(pick(c, "xb.test", &routed), "dflt");
	cr_expect_str_eq(pick(c, "other.test", &routed), "dflt");
	cr_expect_str_eq(pick(c, "", &routed), "dflt");
	cr_expect_str_eq(pick(c, NULL, &routed), "dflt");
	cr_expect_eq(routed, 0);
	/* Without a default: nowhere. */
	free(c->services[0].sni.dflt);
	c->services[0].sni.dflt = NULL;
	cr_expect_str_eq(pick(c, "other.test", &routed), "-");
	cr_expect_str_eq(pick(c, NULL, &routed), "-");
	cr_expect_str_eq(pick(c, "www.a.test", &routed), "a");
	conf_free(c);
	conf_errs_free(&errs);
}
