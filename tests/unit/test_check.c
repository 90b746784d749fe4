/*
 * DOC: active check tests
 *
 * Real sockets on 127.0.0.1 (and ::1 when the host has it). Each test runs its own libev loop
 * until the check has reported the wanted number of results or a deadline passes; servers are
 * threads of the test process with blocking sockets (and blocking OpenSSL for TLS), each one
 * connection at a time, every read and write bounded by SO_RCVTIMEO/SO_SNDTIMEO. Server threads
 * never call Criterion; they record what they saw and the test thread asserts.
 *
 * Certificates are made at test time with the OpenSSL API (EC P-256): a CA, leaves signed by it
 * (valid, expired, not yet valid), a self-signed leaf and a leaf from a second CA that the check
 * does not trust. Only the trusted CA is written to disk, in a temp dir, as the check's ca_file.
 * Leaves are for DNS:localhost, IP:127.0.0.1 and IP:::1.
 */
#include "health/check.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXRES 64

/* ---- certificates ---------------------------------------------------------------------------- */

struct cert {
	EVP_PKEY *key;
	X509 *x509;
	int64_t not_after;
};

static struct {
	char dir[64];
	char ca_file[96];
	struct cert ca, ca2, leaf, expired, future, selfsigned, foreign;
} pki;

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* issuer NULL: self-signed. Validity from now+nb to now+na seconds. */
static void make_cert(
	struct cert *out, const char *cn, const struct cert *issuer, int is_ca, long nb, long na)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;
	struct tm tm;

	out->key = EVP_EC_gen("P-256");
	cr_assert_not_null(out->key);
	cr_assert_not_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, out->key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer->x509) : name);

	X509 *signer = issuer != NULL ? issuer->x509 : x;
	add_ext(x, signer, NID_subject_key_identifier, "hash");
	if (is_ca) {
		add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, signer, NID_basic_constraints, "CA:FALSE");
		add_ext(x, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
		add_ext(x, signer, NID_ext_key_usage, "serverAuth");
	}
	if (issuer != NULL)
		add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
	cr_assert_gt(X509_sign(x, issuer != NULL ? issuer->key : out->key, EVP_sha256()), 0);
	cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	out->not_after = (int64_t)timegm(&tm);
	out->x509 = x;
}

static void pki_make(void)
{
	FILE *f;

	strcpy(pki.dir, "/tmp/anylb-test-check-XXXXXX");
	cr_assert_not_null(mkdtemp(pki.dir));
	snprintf(pki.ca_file, sizeof(pki.ca_file), "%s/ca.pem", pki.dir);
	make_cert(&pki.ca, "anylb test CA", NULL, 1, -3600, 30 * 86400);
	make_cert(&pki.ca2, "anylb untrusted CA", NULL, 1, -3600, 30 * 86400);
	make_cert(&pki.leaf, "localhost", &pki.ca, 0, -3600, 86400);
	make_cert(&pki.expired, "localhost", &pki.ca, 0, -2 * 86400, -86400);
	make_cert(&pki.future, "localhost", &pki.ca, 0, 86400, 2 * 86400);
	make_cert(&pki.selfsigned, "localhost", NULL, 0, -3600, 86400);
	make_cert(&pki.foreign, "localhost", &pki.ca2, 0, -3600, 86400);
	f = fopen(pki.ca_file, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, pki.ca.x509), 1);
	fclose(f);
}

static void cert_free(struct cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x509);
	c->key = NULL;
	c->x509 = NULL;
}

static void pki_free(void)
{
	if (pki.dir[0] == '\0')
		return;
	unlink(pki.ca_file);
	rmdir(pki.dir);
	pki.dir[0] = '\0';
	cert_free(&pki.ca);
	cert_free(&pki.ca2);
	cert_free(&pki.leaf);
	cert_free(&pki.expired);
	cert_free(&pki.future);
	cert_free(&pki.selfsigned);
	cert_free(&pki.foreign);
}

/* ---- test servers ---------------------------------------------------------------------------- */

enum srv_mode {
	SRV_DISCARD, /* accept and close at once */
	SRV_HANG,    /* accept, then never read or write */
	SRV_HTTP,    /* read a request head, write `reply`, close */
	SRV_CLOSE,   /* read a request head, close without a word */
	SRV_RESET,   /* read a request head, reset */
	SRV_EXPECT,  /* read until `until` arrives, write `reply`, close */
	SRV_GREET,   /* write `reply` at once, then read until the client goes */
	SRV_HOLD,    /* (TLS) after the handshake, read until the client goes */
};

struct srv {
	int lfd, port, family;
	enum srv_mode mode;
	const char *reply;
	const char *until;
	SSL_CTX *tls;
	pthread_t th;
	atomic_int stop;
	atomic_int accepted;
	atomic_int handshakes;
	int held[MAXRES];
	int nheld;
	char request[2048]; /* the last request head read */
	char sni[256];      /* the last server name received */
};

static int srv_sni_cb(SSL *ssl, int *al, void *arg)
{
	struct srv *s = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	(void)al;

	snprintf(s->sni, sizeof(s->sni), "%s", name != NULL ? name : "");
	return SSL_TLSEXT_ERR_OK;
}

static ssize_t srv_read(SSL *ssl, int fd, char *buf, size_t cap)
{
	if (ssl != NULL) {
		size_t n = 0;

		return SSL_read_ex(ssl, buf, cap, &n) == 1 ? (ssize_t)n : -1;
	}
	return recv(fd, buf, cap, 0);
}

static void srv_write(SSL *ssl, int fd, const char *buf, size_t len)
{
	size_t n;

	if (ssl != NULL) {
		SSL_write_ex(ssl, buf, len, &n);
		return;
	}
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

/* Reads until `until` has been seen (NULL: until the peer goes); keeps the start in out. */
static void srv_read_until(SSL *ssl, int fd, const char *until, char *out, size_t cap)
{
	size_t len = 0;
	char buf[1024];

	out[0] = '\0';
	for (;;) {
		ssize_t n = srv_read(ssl, fd, buf, sizeof(buf));

		if (n <= 0)
			return;
		size_t k = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
		memcpy(out + len, buf, k);
		len += k;
		out[len] = '\0';
		if (until != NULL && strstr(out, until) != NULL)
			return;
	}
}

static void srv_handle(struct srv *s, int fd)
{
	struct timeval tv = {.tv_sec = 3};
	SSL *ssl = NULL;
	char scratch[2048];

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	switch (s->mode) {
	case SRV_DISCARD:
		close(fd);
		return;
	case SRV_HANG:
		if (s->nheld < MAXRES)
			s->held[s->nheld++] = fd;
		else
			close(fd);
		return;
	case SRV_HTTP:
	case SRV_CLOSE:
	case SRV_RESET:
	case SRV_EXPECT:
	case SRV_GREET:
	case SRV_HOLD:
		break;
	}
	if (s->tls != NULL) {
		ssl = SSL_new(s->tls);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1) {
			SSL_free(ssl);
			close(fd);
			return;
		}
		atomic_fetch_add(&s->handshakes, 1);
	}
	switch (s->mode) {
	case SRV_HTTP:
		srv_read_until(ssl, fd, "\r\n\r\n", s->request, sizeof(s->request));
		srv_write(ssl, fd, s->reply, strlen(s->reply));
		break;
	case SRV_CLOSE:
		srv_read_until(ssl, fd, "\r\n\r\n", s->request, sizeof(s->request));
		break;
	case SRV_RESET: {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		srv_read_until(ssl, fd, "\r\n\r\n", s->request, sizeof(s->request));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		break;
	}
	case SRV_EXPECT:
		srv_read_until(ssl, fd, s->until, s->request, sizeof(s->request));
		srv_write(ssl, fd, s->reply, strlen(s->reply));
		break;
	case SRV_GREET:
		srv_write(ssl, fd, s->reply, strlen(s->reply));
		srv_read_until(ssl, fd, NULL, scratch, sizeof(scratch));
		break;
	case SRV_HOLD:
		srv_read_until(ssl, fd, NULL, scratch, sizeof(scratch));
		break;
	case SRV_DISCARD:
	case SRV_HANG:
		break;
	}
	if (ssl != NULL) {
		if (s->mode != SRV_RESET)
			SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		srv_handle(s, fd);
	}
	return NULL;
}

/* Binds a loopback socket on an ephemeral port; listens when listen_too. -1 when ::1 is absent. */
static int loopback_socket(int family, int listen_too, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (listen_too && listen(fd, 128) < 0)) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static SSL_CTX *server_tls(struct srv *s, const struct cert *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	cr_assert_not_null(ctx);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, c->x509), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, c->key), 1);
	SSL_CTX_set_tlsext_servername_callback(ctx, srv_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, s);
	return ctx;
}

/*
 * Servers live in static storage (each test is its own process): what a stopped server recorded
 * stays readable after srv_stop() joined its thread, and nothing is left to free.
 */
static struct srv servers[8];
static int nservers;

static struct srv *srv_start_family(
	int family, enum srv_mode mode, const char *reply, const struct cert *tls)
{
	struct srv *s;

	cr_assert_lt(nservers, 8);
	s = &servers[nservers++];
	memset(s, 0, sizeof(*s));
	s->family = family;
	s->mode = mode;
	s->reply = reply != NULL ? reply : "";
	s->lfd = loopback_socket(family, 1, &s->port);
	if (s->lfd < 0)
		return NULL;
	if (tls != NULL)
		s->tls = server_tls(s, tls);
	cr_assert_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static struct srv *srv_start(enum srv_mode mode, const char *reply, const struct cert *tls)
{
	struct srv *s = srv_start_family(AF_INET, mode, reply, tls);

	cr_assert_not_null(s);
	return s;
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	for (int i = 0; i < s->nheld; i++)
		close(s->held[i]);
	close(s->lfd);
	SSL_CTX_free(s->tls);
	s->tls = NULL;
}

/* ---- driving a check ------------------------------------------------------------------------- */

struct run {
	struct ev_loop *loop;
	struct check *c;
	int n, want;
	int in_start;      /* set around check_new/check_start */
	int synchronous;   /* a result arrived while in_start was set */
	int fast_on_first; /* call check_set_fast(c, 1) from the first result */
	int free_on_first; /* call check_free(c) from the first result */
	struct check_result r[MAXRES];
	double at[MAXRES];
};

static void on_result(void *arg, const struct check_result *r)
{
	struct run *x = arg;

	if (x->in_start)
		x->synchronous = 1;
	if (x->n < MAXRES) {
		x->r[x->n] = *r;
		x->at[x->n] = ev_time();
	}
	x->n++;
	if (x->n == 1 && x->fast_on_first)
		check_set_fast(x->c, 1);
	if (x->n == 1 && x->free_on_first) {
		check_free(x->c);
		x->c = NULL;
	}
	if (x->n >= x->want)
		ev_break(x->loop, EVBREAK_ONE);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until x->want results or `seconds`, whichever first. */
static void run_for(struct run *x, double seconds)
{
	ev_timer dl;

	ev_timer_init(&dl, deadline_cb, seconds, 0.);
	ev_timer_start(x->loop, &dl);
	ev_run(x->loop, 0);
	ev_timer_stop(x->loop, &dl);
}

static struct conf_check cc_make(enum conf_check_type type)
{
	struct conf_check cc;

	memset(&cc, 0, sizeof(cc));
	cc.enabled = 1;
	cc.type = type;
	cc.interval_ms = 10000; /* one run per test unless the test says otherwise */
	cc.fast_interval_ms = 500;
	cc.timeout_ms = 2000;
	cc.jitter_pct = 0;
	cc.rise = 2;
	cc.fall = 3;
	cc.tls.verify = 1;
	cc.tls.ca_file = pki.ca_file;
	return cc;
}

static struct addr addr_of(int family, int port)
{
	char text[64];
	struct addr a;
	const char *why;

	snprintf(text, sizeof(text), family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", port);
	cr_assert_eq(addr_parse(text, 0, &a, &why), 0, "%s", text);
	return a;
}

static void run_init(struct run *x)
{
	memset(x, 0, sizeof(*x));
	x->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(x->loop);
	x->want = 1;
}

static void run_start(
	struct run *x, const struct conf_check *cc, const struct addr *a, double first_delay)
{
	x->in_start = 1;
	x->c = check_new(x->loop, cc, a, on_result, x);
	cr_assert_not_null(x->c);
	check_start(x->c, first_delay);
	x->in_start = 0;
	cr_assert_eq(x->n, 0, "a result was reported from check_start()");
}

static void run_done(struct run *x)
{
	check_free(x->c);
	x->c = NULL;
	ev_loop_destroy(x->loop);
	cr_assert_not(x->synchronous, "a result was reported synchronously");
}

/* One run of cc against a, its result checked for ok and reason. */
static struct check_result one(const struct conf_check *cc, const struct addr *a)
{
	struct run x;
	struct check_result r;

	run_init(&x);
	run_start(&x, cc, a, 0);
	run_for(&x, 5.0);
	cr_assert_eq(x.n, 1, "no result within 5s");
	r = x.r[0];
	run_done(&x);
	return r;
}

static void expect_result(const struct check_result *r, int ok, const char *reason)
{
	cr_assert_str_eq(r->reason, reason);
	cr_assert_eq(r->ok, ok, "%s", r->reason);
	cr_assert_geq(r->duration, 0.0);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

static void setup_tls(void)
{
	signal(SIGPIPE, SIG_IGN);
	pki_make();
}

TestSuite(check, .init = setup, .fini = pki_free, .timeout = 20);
TestSuite(check_tls, .init = setup_tls, .fini = pki_free, .timeout = 20);

/* ---- tcp ------------------------------------------------------------------------------------- */

Test(check, tcp_ok)
{
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, 0);
	cr_assert_lt(r.duration, 1.0);
	srv_stop(s);
}

Test(check, tcp_refused)
{
	int port, fd = loopback_socket(AF_INET, 0, &port); /* bound, not listening: RST */
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, port);
	struct check_result r;

	cr_assert_geq(fd, 0);
	r = one(&cc, &a);
	expect_result(&r, 0, "connect refused");
	close(fd);
}

Test(check, tcp_ipv6_ok)
{
	struct srv *s = srv_start_family(AF_INET6, SRV_DISCARD, NULL, NULL);

	if (s == NULL)
		cr_skip_test("no ::1 on this host");
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET6, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 1, "ok");
	srv_stop(s);
}

Test(check, port_override)
{
	int port, fd = loopback_socket(AF_INET, 0, &port);
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, port); /* the backend's port refuses */
	struct check_result r;

	cc.port = (unsigned)s->port; /* the check's port answers */
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	srv_stop(s);
	close(fd);
}

/* ---- http ------------------------------------------------------------------------------------ */

static const char *const http_ok_reply =
	"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nready\n";

Test(check, http_request_text)
{
	struct srv *s = srv_start(SRV_HTTP, http_ok_reply, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	char want[256], got[2048];
	struct check_result r;

	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	srv_stop(s);
	snprintf(got, sizeof(got), "%s", s->request);
	snprintf(want, sizeof(want),
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: anylb-check\r\n"
		"Connection: close\r\n\r\n",
		ntohs(a.in.sin_port));
	cr_assert_str_eq(got, want);
}

Test(check, http_host_header)
{
	struct srv *s = srv_start(SRV_HTTP, http_ok_reply, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.host = "api.example.com";
	cc.path = "/ready?full=1";
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	srv_stop(s);
	cr_assert(strstr(s->request, "GET /ready?full=1 HTTP/1.1\r\n") == s->request);
	cr_assert_not_null(strstr(s->request, "\r\nHost: api.example.com\r\n"));
}

Test(check, http_503)
{
	struct srv *s = srv_start(
		SRV_HTTP, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "status 503");
	srv_stop(s);
}

Test(check, http_expect_status_ranges)
{
	struct srv *s = srv_start(
		SRV_HTTP, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct conf_status_range ranges[] = {{200, 200}, {500, 503}};
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_status = ranges;
	cc.nexpect_status = 2;
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	ranges[1].hi = 502;
	r = one(&cc, &a);
	expect_result(&r, 0, "status 503");
	srv_stop(s);
}

Test(check, http_body)
{
	struct srv *s = srv_start(SRV_HTTP,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot "
		"\r\n5\r\nready\r\n0\r\n\r\n",
		NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_body = "not ready";
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	cc.expect_body = "all good";
	r = one(&cc, &a);
	expect_result(&r, 0, "body does not contain 'all good'");
	srv_stop(s);
}

Test(check, http_body_close_delimited)
{
	struct srv *s = srv_start(SRV_HTTP, "HTTP/1.0 200 OK\r\n\r\nstarting", NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.expect_body = "ready";
	r = one(&cc, &a);
	expect_result(&r, 0, "body does not contain 'ready'");
	srv_stop(s);
}

Test(check, http_hang_times_out)
{
	struct srv *s = srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.timeout_ms = 300;
	r = one(&cc, &a);
	cr_assert_not(r.ok);
	cr_assert(starts_with(r.reason, "timeout after 300ms"), "%s", r.reason);
	cr_assert_str_eq(r.reason, "timeout after 300ms (waiting for response)");
	cr_assert_geq(r.duration, 0.29);
	cr_assert_lt(r.duration, 1.0);
	srv_stop(s);
}

Test(check, http_closed_reset_garbage)
{
	struct srv *s = srv_start(SRV_CLOSE, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "closed before a response");
	srv_stop(s);

	s = srv_start(SRV_RESET, NULL, NULL);
	a = addr_of(AF_INET, s->port);
	r = one(&cc, &a);
	expect_result(&r, 0, "reset by peer");
	srv_stop(s);

	s = srv_start(SRV_HTTP, "SSH-2.0-OpenSSH_9.2\r\n\r\n", NULL);
	a = addr_of(AF_INET, s->port);
	r = one(&cc, &a);
	expect_result(&r, 0, "bad HTTP response: bad status line");
	srv_stop(s);

	s = srv_start(SRV_HTTP, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", NULL);
	a = addr_of(AF_INET, s->port);
	cc.expect_body = "long";
	r = one(&cc, &a);
	expect_result(&r, 0, "bad HTTP response: body truncated");
	srv_stop(s);
}

/* ---- send_expect ----------------------------------------------------------------------------- */

Test(check, send_expect)
{
	struct srv *s = srv_start(SRV_EXPECT, "+PONG\r\n", NULL);
	struct conf_check cc = cc_make(CONF_CHECK_SEND_EXPECT);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	s->until = "PING\r\n";
	cc.send = "PING\r\n";
	cc.send_len = 6;
	cc.expect = "PONG";
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	cr_assert_str_eq(s->request, "PING\r\n");

	cc.expect = "PANG";
	r = one(&cc, &a);
	expect_result(&r, 0, "expected 'PANG' not received");
	srv_stop(s);
}

Test(check, send_expect_binary_and_timeout)
{
	struct srv *s = srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_SEND_EXPECT);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.send = "\x01\x02";
	cc.send_len = 2;
	cc.expect = "\x7f"
		    "OK";
	cc.timeout_ms = 200;
	r = one(&cc, &a);
	expect_result(&r, 0, "timeout after 200ms, expected '\\x7fOK' not received");
	srv_stop(s);
}

/* ---- scheduling ------------------------------------------------------------------------------ */

Test(check, never_synchronous)
{
	int port, fd = loopback_socket(AF_INET, 0, &port);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, port);
	struct run x;

	/* A refused connect fails inside connect(2) itself: still reported from the loop. */
	run_init(&x);
	run_start(&x, &cc, &a, 0);
	cr_assert_eq(x.n, 0);
	run_for(&x, 2.0);
	cr_assert_eq(x.n, 1);
	cr_assert_str_eq(x.r[0].reason, "connect refused");
	run_done(&x);
	close(fd);
}

static int runs_in(const struct conf_check *cc, const struct addr *a, int fast, double seconds)
{
	struct run x;
	int n;

	run_init(&x);
	x.want = MAXRES;
	run_start(&x, cc, a, 0);
	check_set_fast(x.c, fast);
	run_for(&x, seconds);
	n = x.n;
	run_done(&x);
	return n;
}

Test(check, fast_and_normal_interval)
{
	int fds = count_fds(), normal, fast;
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);

	cc.interval_ms = 200;
	cc.fast_interval_ms = 50;
	normal = runs_in(&cc, &a, 0, 1.0);
	fast = runs_in(&cc, &a, 1, 1.0);
	/* Runs at 0, 0.2, ... 1.0 at most; at 0, 0.05, ... for fast. */
	cr_assert_leq(normal, 6, "normal %d", normal);
	cr_assert_geq(normal, 3, "normal %d", normal);
	cr_assert_leq(fast, 21, "fast %d", fast);
	cr_assert_geq(fast, 2 * normal, "fast %d normal %d", fast, normal);
	srv_stop(s);
	cr_assert_eq(
		count_fds(), fds, "file descriptors leaked: %d before, %d after", fds, count_fds());
}

Test(check, set_fast_from_callback_rearms)
{
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x;

	cc.interval_ms = 10000;
	cc.fast_interval_ms = 50;
	run_init(&x);
	x.want = 4;
	x.fast_on_first = 1;
	run_start(&x, &cc, &a, 0);
	run_for(&x, 2.0);
	cr_assert_eq(x.n, 4, "only %d runs: the 10s wait was not shortened", x.n);
	run_done(&x);
	srv_stop(s);
}

Test(check, interval_counts_from_end_of_run)
{
	struct srv *s = srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x;

	cc.interval_ms = 200;
	cc.timeout_ms = 200;
	run_init(&x);
	x.want = MAXRES;
	run_start(&x, &cc, &a, 0);
	run_for(&x, 1.1);
	/* Ends at 0.2, 0.6, 1.0: never a run every 0.2s. */
	cr_assert_geq(x.n, 2);
	cr_assert_leq(x.n, 3, "%d runs: they piled up", x.n);
	for (int i = 1; i < x.n; i++)
		cr_assert_geq(x.at[i] - x.at[i - 1], 0.38, "gap %f", x.at[i] - x.at[i - 1]);
	for (int i = 0; i < x.n; i++)
		cr_assert(starts_with(x.r[i].reason, "timeout after 200ms"), "%s", x.r[i].reason);
	run_done(&x);
	srv_stop(s);
}

Test(check, jitter_spreads_within_bounds)
{
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);
	double lo = 1e9, hi = 0;
	struct run x;

	cc.interval_ms = 100;
	cc.jitter_pct = 50;
	run_init(&x);
	x.want = 16;
	run_start(&x, &cc, &a, 0);
	run_for(&x, 5.0);
	cr_assert_eq(x.n, 16);
	for (int i = 1; i < x.n; i++) {
		double gap = x.at[i] - x.at[i - 1];

		lo = gap < lo ? gap : lo;
		hi = gap > hi ? gap : hi;
	}
	cr_assert_geq(lo, 0.049, "shortest gap %f", lo);
	cr_assert_leq(hi, 0.25, "longest gap %f", hi);
	cr_assert_gt(hi - lo, 0.01, "no jitter: %f..%f", lo, hi);
	run_done(&x);
	srv_stop(s);
}

Test(check, first_delay)
{
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x;
	double t0;

	run_init(&x);
	t0 = ev_time();
	run_start(&x, &cc, &a, 0.3);
	run_for(&x, 2.0);
	cr_assert_eq(x.n, 1);
	cr_assert_geq(x.at[0] - t0, 0.29);
	run_done(&x);
	srv_stop(s);
}

Test(check, free_from_callback)
{
	struct srv *s = srv_start(SRV_DISCARD, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TCP);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x;

	cc.interval_ms = 50;
	run_init(&x);
	x.want = 5;
	x.free_on_first = 1;
	run_start(&x, &cc, &a, 0);
	run_for(&x, 0.5);
	cr_assert_eq(x.n, 1);
	cr_assert_null(x.c);
	run_done(&x);
	srv_stop(s);
}

Test(check, free_mid_run_reports_nothing)
{
	int fds = count_fds();
	struct srv *s = srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x;

	cc.timeout_ms = 1000;
	run_init(&x);
	run_start(&x, &cc, &a, 0);
	run_for(&x, 0.2); /* connected, request sent, waiting */
	cr_assert_eq(x.n, 0);
	cr_assert_eq(atomic_load(&s->accepted), 1);
	check_free(x.c);
	x.c = NULL;
	run_for(&x, 1.2);
	cr_assert_eq(x.n, 0);
	ev_loop_destroy(x.loop);
	srv_stop(s);
	cr_assert_eq(
		count_fds(), fds, "file descriptors leaked: %d before, %d after", fds, count_fds());
}

Test(check, bad_request_text_refused)
{
	struct conf_check cc = cc_make(CONF_CHECK_HTTP);
	struct addr a = addr_of(AF_INET, 9);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	cc.path = "/x\r\nInjected: 1";
	cr_assert_null(check_new(loop, &cc, &a, on_result, NULL));
	ev_loop_destroy(loop);
}

/* ---- tls and https --------------------------------------------------------------------------- */

Test(check_tls, tls_ok_with_expiry)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.leaf);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	r = one(&cc, &a); /* no name configured: the certificate must be for 127.0.0.1 */
	expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, pki.leaf.not_after);
	cr_assert_gt(r.cert_not_after, (int64_t)time(NULL));
	srv_stop(s);
	cr_assert_eq(atomic_load(&s->handshakes), 1);
	cr_assert_str_eq(s->sni, "", "an IP literal must not be sent as SNI");
}

Test(check_tls, tls_sends_sni)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.leaf);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.tls.sni = "localhost";
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	srv_stop(s);
	cr_assert_str_eq(s->sni, "localhost");
}

Test(check_tls, tls_expired)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.expired);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "certificate expired");
	/* Still says when it expired, for the operator's log. */
	cr_assert_eq(r.cert_not_after, pki.expired.not_after);
	srv_stop(s);
}

Test(check_tls, tls_not_yet_valid)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.future);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "certificate not yet valid");
	srv_stop(s);
}

Test(check_tls, tls_untrusted)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.foreign);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "certificate verify failed: unable to get local issuer certificate");

	/* verify: false takes any certificate and still reports when it expires. */
	cc.tls.verify = 0;
	cc.tls.ca_file = NULL;
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, pki.foreign.not_after);
	srv_stop(s);
}

Test(check_tls, tls_self_signed)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.selfsigned);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "certificate verify failed: self-signed certificate");
	srv_stop(s);
}

Test(check_tls, tls_hostname_mismatch)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.leaf);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.tls.sni = "db.example.com";
	r = one(&cc, &a);
	expect_result(&r, 0, "certificate verify failed: hostname mismatch");
	srv_stop(s);
}

Test(check_tls, tls_against_plain_server)
{
	struct srv *s = srv_start(SRV_GREET, "HTTP/1.1 400 Bad Request\r\n\r\n", NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	cr_assert_not(r.ok);
	cr_assert(starts_with(r.reason, "TLS handshake failed: "), "%s", r.reason);
	srv_stop(s);
}

Test(check_tls, tls_handshake_timeout)
{
	struct srv *s = srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.timeout_ms = 250;
	r = one(&cc, &a);
	expect_result(&r, 0, "timeout after 250ms (TLS handshake)");
	srv_stop(s);
}

Test(check_tls, https_ok_503_body)
{
	struct srv *s = srv_start(SRV_HTTP, http_ok_reply, &pki.leaf);
	struct conf_check cc = cc_make(CONF_CHECK_HTTPS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r;

	cc.host = "localhost";
	cc.expect_body = "ready";
	r = one(&cc, &a);
	expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, pki.leaf.not_after);
	cc.expect_body = "steady";
	r = one(&cc, &a);
	expect_result(&r, 0, "body does not contain 'steady'");
	srv_stop(s);
	cr_assert_not_null(strstr(s->request, "\r\nHost: localhost\r\n"));
	cr_assert_str_eq(s->sni, "localhost");

	s = srv_start(SRV_HTTP, "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", &pki.leaf);
	a = addr_of(AF_INET, s->port);
	r = one(&cc, &a);
	expect_result(&r, 0, "status 503");
	srv_stop(s);
}

Test(check_tls, https_expired)
{
	struct srv *s = srv_start(SRV_HTTP, http_ok_reply, &pki.expired);
	struct conf_check cc = cc_make(CONF_CHECK_HTTPS);
	struct addr a = addr_of(AF_INET, s->port);
	struct check_result r = one(&cc, &a);

	expect_result(&r, 0, "certificate expired");
	srv_stop(s);
}

Test(check_tls, missing_ca_file_refused)
{
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, 443);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	cc.tls.ca_file = "/nonexistent/ca.pem";
	cr_assert_null(check_new(loop, &cc, &a, on_result, NULL));
	ev_loop_destroy(loop);
}

Test(check_tls, contexts_are_shared)
{
	struct srv *s = srv_start(SRV_HOLD, NULL, &pki.leaf);
	struct conf_check cc = cc_make(CONF_CHECK_TLS);
	struct addr a = addr_of(AF_INET, s->port);
	struct run x[8];

	/* Many checks on one CA file, all against one server, all on their own loop. */
	for (int i = 0; i < 8; i++) {
		run_init(&x[i]);
		run_start(&x[i], &cc, &a, 0);
	}
	for (int i = 0; i < 8; i++) {
		run_for(&x[i], 5.0);
		cr_assert_eq(x[i].n, 1);
		expect_result(&x[i].r[0], 1, "ok");
	}
	for (int i = 0; i < 8; i++)
		run_done(&x[i]);
	srv_stop(s);
}
