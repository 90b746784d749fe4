/*
 * DOC: TLS for active checks (implementation)
 *
 * No state machine lives here: check.c owns the run and its states; these are the calls it
 * makes and the words it reports. OpenSSL initialises itself on first use (OpenSSL 3), so there
 * is no global set-up to call.
 *
 * OpenSSL's error queue is per thread and sticky: every call that can fail starts with
 * ERR_clear_error() so a reason read after a failure is the one that failure left.
 *
 * Options, and why:
 * - TLS 1.2 at least: a backend still on 1.0/1.1 fails with "TLS handshake failed: ..." which
 *   an operator should hear about.
 * - SSL_OP_IGNORE_UNEXPECTED_EOF: many HTTP servers close without close_notify after a
 *   `Connection: close` response; the HTTP framing, not TLS, tells whether the body is whole.
 * - No session resumption: every run is a full handshake, so every run checks the certificate.
 * - Partial writes: a request is written as far as the socket takes it, like a plain one.
 */
#include "health/check_tls.h"

#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* One shared context: what it was made from and how many checks hold it. */
struct tls_ctx_entry {
	struct tls_ctx_entry *next;
	int verify;
	char *ca_file; /* NULL: OpenSSL's default paths (or verify off) */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	SSL_CTX *ctx;
	unsigned refs;
};

/*
 * Process-wide, because that is what sharing means; the mutex is only taken when a check is
 * created or freed, never during a run.
 */
static pthread_mutex_t tls_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_ctx_entry *tls_ctx_list;

static int is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static const char *err_reason(unsigned long e)
{
	const char *s = e != 0 ? ERR_reason_error_string(e) : NULL;

	return s != NULL ? s : "unknown error";
}

static int64_t cert_not_after(X509 *cert)
{
	struct tm tm;

	if (cert == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/*
 * OpenSSL keeps no peer certificate after a failed verification, yet "certificate expired" is
 * most useful with the date: note the leaf's notAfter while it is being verified. The verdict
 * is OpenSSL's, unchanged.
 */
static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	int64_t *not_after = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (not_after != NULL && *not_after == 0)
		*not_after = cert_not_after(X509_STORE_CTX_get0_cert(store));
	return preverify_ok;
}

static SSL_CTX *tls_ctx_create(const struct tls_ctx_entry *key, char *err, size_t cap)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, cap, "cannot create TLS context: %s", err_reason(ERR_get_error()));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!key->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_cb);
	if (key->ca_file != NULL ? SSL_CTX_load_verify_file(ctx, key->ca_file) != 1
				 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, cap, "cannot load CA certificates from %s: %s",
			key->ca_file != NULL ? key->ca_file : "the default paths",
			err_reason(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int same_key(const struct tls_ctx_entry *a, const struct tls_ctx_entry *b)
{
	if (a->verify != b->verify)
		return 0;
	if (!a->verify)
		return 1;
	if ((a->ca_file == NULL) != (b->ca_file == NULL))
		return 0;
	if (a->ca_file == NULL)
		return 1;
	return strcmp(a->ca_file, b->ca_file) == 0 && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

SSL_CTX *check_tls_ctx_get(const struct conf_check_tls *t, char *err, size_t cap)
{
	struct tls_ctx_entry key = {.verify = t->verify != 0}, *e;
	struct stat st;

	if (key.verify && t->ca_file != NULL) {
		if (stat(t->ca_file, &st) != 0) {
			snprintf(err, cap, "cannot read CA file %s: %s", t->ca_file,
				strerror(errno));
			return NULL;
		}
		/* OpenSSL would block on a FIFO, and read a directory as nothing. */
		if (!S_ISREG(st.st_mode)) {
			snprintf(
				err, cap, "cannot read CA file %s: not a regular file", t->ca_file);
			return NULL;
		}
		key.ca_file = t->ca_file;
		key.dev = st.st_dev;
		key.ino = st.st_ino;
		key.size = st.st_size;
		key.mtime = st.st_mtim;
	}

	pthread_mutex_lock(&tls_ctx_lock);
	for (e = tls_ctx_list; e != NULL; e = e->next) {
		if (same_key(e, &key)) {
			e->refs++;
			pthread_mutex_unlock(&tls_ctx_lock);
			return e->ctx;
		}
	}
	/* Loading under the lock keeps two checks from loading the same bundle twice. */
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		pthread_mutex_unlock(&tls_ctx_lock);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	*e = key;
	if (key.ca_file != NULL && (e->ca_file = strdup(key.ca_file)) == NULL) {
		pthread_mutex_unlock(&tls_ctx_lock);
		free(e);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	e->ctx = tls_ctx_create(e, err, cap);
	if (e->ctx == NULL) {
		pthread_mutex_unlock(&tls_ctx_lock);
		free(e->ca_file);
		free(e);
		return NULL;
	}
	e->refs = 1;
	e->next = tls_ctx_list;
	tls_ctx_list = e;
	pthread_mutex_unlock(&tls_ctx_lock);
	return e->ctx;
}

SSL_CTX *check_tls_ctx_ref(SSL_CTX *ctx)
{
	if (ctx == NULL)
		return NULL;
	pthread_mutex_lock(&tls_ctx_lock);
	for (struct tls_ctx_entry *e = tls_ctx_list; e != NULL; e = e->next) {
		if (e->ctx == ctx) {
			e->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&tls_ctx_lock);
	return ctx;
}

void check_tls_ctx_put(SSL_CTX *ctx)
{
	struct tls_ctx_entry **pp, *e;

	if (ctx == NULL)
		return;
	pthread_mutex_lock(&tls_ctx_lock);
	for (pp = &tls_ctx_list; (e = *pp) != NULL; pp = &e->next) {
		if (e->ctx != ctx)
			continue;
		if (--e->refs == 0) {
			*pp = e->next;
			SSL_CTX_free(e->ctx);
			free(e->ca_file);
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&tls_ctx_lock);
}

SSL *check_tls_new(SSL_CTX *ctx, int fd, const char *sni, const char *verify_name, int verify,
	int64_t *not_after, char *err, size_t cap)
{
	SSL *ssl;

	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto fail;
	if (SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	SSL_set_app_data(ssl, not_after);
	if (sni != NULL && *sni != '\0' && !is_ip_literal(sni) &&
		SSL_set_tlsext_host_name(ssl, sni) != 1)
		goto fail;
	if (verify && verify_name != NULL) {
		if (is_ip_literal(verify_name)) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name) != 1)
				goto fail;
		} else {
			SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (SSL_set1_host(ssl, verify_name) != 1)
				goto fail;
		}
	}
	return ssl;
fail:
	snprintf(err, cap, "cannot set up TLS: %s", err_reason(ERR_get_error()));
	SSL_free(ssl);
	return NULL;
}

static void verify_reason(long v, char *why, size_t cap)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		snprintf(why, cap, "certificate expired");
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		snprintf(why, cap, "certificate not yet valid");
		break;
	default:
		/* X509_V_ERR_* is an open set of ints, not an enum: a default is the only way. */
		snprintf(why, cap, "certificate verify failed: %s",
			X509_verify_cert_error_string(v));
		break;
	}
}

/* Maps a failed SSL_* call (rc, errno saved right after it) to what the run does next. */
static enum check_tls_io tls_outcome(
	SSL *ssl, int rc, int saved_errno, const char *what, char *why, size_t cap)
{
	unsigned long e;

	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return CHECK_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CHECK_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return CHECK_TLS_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (saved_errno == 0 || saved_errno == EPIPE)
				return CHECK_TLS_EOF;
			if (saved_errno == ECONNRESET) {
				snprintf(why, cap, "reset by peer");
				return CHECK_TLS_FAIL;
			}
			snprintf(why, cap, "%s: %s", what, strerror(saved_errno));
			return CHECK_TLS_FAIL;
		}
		break;
	case SSL_ERROR_SSL:
		if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
			SSL_get_verify_result(ssl) != X509_V_OK) {
			verify_reason(SSL_get_verify_result(ssl), why, cap);
			return CHECK_TLS_FAIL;
		}
		break;
	default:
		/* SSL_get_error() returns an int with more values than a run can meet here. */
		break;
	}
	e = ERR_get_error();
	snprintf(why, cap, "%s: %s", what, err_reason(e));
	return CHECK_TLS_FAIL;
}

enum check_tls_io check_tls_handshake(SSL *ssl, char *why, size_t cap)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return CHECK_TLS_DONE;
	return tls_outcome(ssl, rc, errno, "TLS handshake failed", why, cap);
}

enum check_tls_io check_tls_read(
	SSL *ssl, void *buf, size_t len, size_t *got, char *why, size_t cap)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(ssl, buf, len, got);
	if (rc == 1)
		return CHECK_TLS_DONE;
	return tls_outcome(ssl, rc, errno, "TLS read failed", why, cap);
}

enum check_tls_io check_tls_write(
	SSL *ssl, const void *buf, size_t len, size_t *put, char *why, size_t cap)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_write_ex(ssl, buf, len, put);
	if (rc == 1)
		return CHECK_TLS_DONE;
	return tls_outcome(ssl, rc, errno, "TLS write failed", why, cap);
}

void check_tls_shutdown(SSL *ssl)
{
	ERR_clear_error();
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

int64_t check_tls_not_after(SSL *ssl)
{
	return cert_not_after(SSL_get0_peer_certificate(ssl));
}
