/*
 * DOC: test certificates and a TLS server
 *
 * Certificates are made at test time with the OpenSSL API (EC P-256), without Criterion: the
 * harness reports failures by return value (the check tests use them too). Only the trusted CA
 * is written to disk, as a harness temp file, for a check's `ca_file`.
 *
 * The server is one thread with blocking sockets, one connection at a time, every read and write
 * bounded by SO_RCVTIMEO/SO_SNDTIMEO: a health check is a handshake and a close, so serial
 * service is enough and keeps the code short. The certificate it presents can be swapped while
 * it runs (sc_tls_server_set_cert), which lets a test turn a failing check into a passing one.
 */
#include "tests/support/harness_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TLS 16

struct sc_cert {
	EVP_PKEY *key;
	X509 *x509;
	int64_t not_after;
};

/* ---- certificates ---------------------------------------------------------------------------- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static void cert_free(struct sc_cert *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	X509_free(c->x509);
	free(c);
}

/* issuer NULL: self-signed. Valid from now+nb to now+na seconds. NULL on failure. */
static struct sc_cert *cert_make(
	const char *cn, const struct sc_cert *issuer, int is_ca, long nb, long na)
{
	static long serial = 1;
	struct sc_cert *c = calloc(1, sizeof(*c));
	X509_NAME *name;
	X509 *signer;
	struct tm tm;
	int bad = 0;

	if (c == NULL)
		return NULL;
	c->key = EVP_EC_gen("P-256");
	c->x509 = X509_new();
	if (c->key == NULL || c->x509 == NULL)
		goto fail;
	X509_set_version(c->x509, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x509), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c->x509), nb);
	X509_gmtime_adj(X509_getm_notAfter(c->x509), na);
	X509_set_pubkey(c->x509, c->key);
	name = X509_get_subject_name(c->x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->x509, issuer != NULL ? X509_get_subject_name(issuer->x509) : name);
	signer = issuer != NULL ? issuer->x509 : c->x509;
	bad |= add_ext(c->x509, signer, NID_subject_key_identifier, "hash");
	if (is_ca) {
		bad |= add_ext(c->x509, signer, NID_basic_constraints, "critical,CA:TRUE");
		bad |= add_ext(c->x509, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		bad |= add_ext(c->x509, signer, NID_basic_constraints, "CA:FALSE");
		bad |= add_ext(
			c->x509, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
		bad |= add_ext(c->x509, signer, NID_ext_key_usage, "serverAuth");
	}
	if (issuer != NULL)
		bad |= add_ext(c->x509, signer, NID_authority_key_identifier, "keyid:always");
	if (bad || X509_sign(c->x509, issuer != NULL ? issuer->key : c->key, EVP_sha256()) <= 0)
		goto fail;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(c->x509), &tm) != 1)
		goto fail;
	c->not_after = (int64_t)timegm(&tm);
	return c;
fail:
	ERR_print_errors_fp(stderr);
	cert_free(c);
	return NULL;
}

int64_t sc_cert_not_after(const struct sc_cert *c)
{
	return c->not_after;
}

int sc_pki_make(struct sc_pki *p)
{
	BIO *bio = NULL;
	char *pem;
	long len;

	sc_harness_init();
	memset(p, 0, sizeof(*p));
	p->ca = cert_make("anylb test CA", NULL, 1, -3600, 30 * 86400);
	p->ca2 = cert_make("anylb untrusted CA", NULL, 1, -3600, 30 * 86400);
	if (p->ca == NULL || p->ca2 == NULL)
		goto fail;
	p->leaf = cert_make("localhost", p->ca, 0, -3600, 86400);
	p->expired = cert_make("localhost", p->ca, 0, -2 * 86400, -86400);
	p->future = cert_make("localhost", p->ca, 0, 86400, 2 * 86400);
	p->selfsigned = cert_make("localhost", NULL, 0, -3600, 86400);
	p->foreign = cert_make("localhost", p->ca2, 0, -3600, 86400);
	if (p->leaf == NULL || p->expired == NULL || p->future == NULL || p->selfsigned == NULL ||
		p->foreign == NULL)
		goto fail;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_X509(bio, p->ca->x509) != 1)
		goto fail;
	len = BIO_get_mem_data(bio, &pem);
	p->ca_file = sc_temp_file(".pem", "%.*s", (int)len, pem);
	BIO_free(bio);
	if (p->ca_file == NULL) {
		sc_pki_free(p);
		return -EIO;
	}
	return 0;
fail:
	BIO_free(bio);
	sc_pki_free(p);
	return -ENOMEM;
}

void sc_pki_free(struct sc_pki *p)
{
	cert_free(p->ca);
	cert_free(p->ca2);
	cert_free(p->leaf);
	cert_free(p->expired);
	cert_free(p->future);
	cert_free(p->selfsigned);
	cert_free(p->foreign);
	p->ca = p->ca2 = p->leaf = p->expired = p->future = p->selfsigned = p->foreign = NULL;
	p->ca_file = NULL; /* the file itself is the harness's (sc_cleanup unlinks it) */
}

/* ---- the server ------------------------------------------------------------------------------ */

struct sc_tls_server {
	int lfd;
	char addr[SC_ADDRSTRLEN];
	pthread_t thread;
	atomic_int stop;
	atomic_uint accepts, handshakes;
	pthread_mutex_t mu;
	SSL_CTX *ctx; /* under mu: the next handshake's */
};

static struct sc_tls_server *registry[MAX_TLS];

SSL_CTX *sc_tls_server_ctx(const struct sc_cert *cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate(ctx, cert->x509) != 1 ||
		SSL_CTX_use_PrivateKey(ctx, cert->key) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void serve(struct sc_tls_server *s, int fd)
{
	struct timeval tv = {.tv_sec = 1};
	char buf[1024];
	SSL *ssl;
	size_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&s->mu);
	ssl = SSL_new(s->ctx); /* takes its own reference on the context */
	pthread_mutex_unlock(&s->mu);
	if (ssl == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		atomic_fetch_add(&s->handshakes, 1);
		while (SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1)
			;
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
}

static void *server_main(void *arg)
{
	struct sc_tls_server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepts, 1);
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

struct sc_tls_server *sc_tls_server_start(int family, const struct sc_cert *cert)
{
	struct sc_tls_server *s;
	struct sockaddr_storage ss;
	socklen_t len;
	size_t slot;
	int one = 1;

	sc_harness_init();
	for (slot = 0; slot < MAX_TLS && registry[slot] != NULL; slot++)
		;
	if (slot == MAX_TLS)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = -1;
	s->ctx = sc_tls_server_ctx(cert);
	if (s->ctx == NULL)
		goto fail;
	sc_addr_parse(family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", &ss, &len);
	s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		goto fail;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&ss, len) != 0 || listen(s->lfd, 128) != 0)
		goto fail;
	len = sizeof(ss);
	if (getsockname(s->lfd, (struct sockaddr *)&ss, &len) != 0)
		goto fail;
	sc_addr_format((struct sockaddr *)&ss, s->addr, sizeof(s->addr));
	if (pthread_create(&s->thread, NULL, server_main, s) != 0)
		goto fail;
	registry[slot] = s;
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

int sc_tls_server_set_cert(struct sc_tls_server *s, const struct sc_cert *cert)
{
	SSL_CTX *ctx = sc_tls_server_ctx(cert), *old;

	if (ctx == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	old = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->mu);
	SSL_CTX_free(old);
	return 0;
}

const char *sc_tls_server_addr(const struct sc_tls_server *s)
{
	return s->addr;
}

unsigned sc_tls_server_accepts(const struct sc_tls_server *s)
{
	return atomic_load(&s->accepts);
}

unsigned sc_tls_server_handshakes(const struct sc_tls_server *s)
{
	return atomic_load(&s->handshakes);
}

void sc_tls_server_stop(struct sc_tls_server *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < MAX_TLS; i++) {
		if (registry[i] == s)
			registry[i] = NULL;
	}
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void sc_tls_cleanup_all(void)
{
	for (size_t i = 0; i < MAX_TLS; i++) {
		if (registry[i] != NULL)
			sc_tls_server_stop(registry[i]);
	}
}

size_t sc_client_hello(const char *sni, int max_version, uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	size_t len = 0;
	char *p;

	if (ssl == NULL || rb == NULL || wb == NULL ||
		!SSL_CTX_set_max_proto_version(ctx, max_version) ||
		(sni != NULL && !SSL_set_tlsext_host_name(ssl, sni))) {
		BIO_free(rb);
		BIO_free(wb);
		goto out;
	}
	SSL_set_bio(ssl, rb, wb); /* ssl owns them from here */
	SSL_set_connect_state(ssl);
	SSL_do_handshake(ssl); /* stops for the ServerHello, its ClientHello written */
	long n = BIO_get_mem_data(wb, &p);
	if (n > 0 && (size_t)n <= cap) {
		memcpy(out, p, (size_t)n);
		len = (size_t)n;
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return len;
}
