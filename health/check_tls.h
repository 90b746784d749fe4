/*
 * DOC: TLS for active checks
 *
 * The OpenSSL side of tls and https checks: client contexts, one SSL per run on a non-blocking
 * socket, and the translation of what OpenSSL says into an operator's words ("certificate
 * expired", "certificate verify failed: self-signed certificate", "TLS handshake failed: wrong
 * version number"). The check's state machine (check.c) drives the I/O; this file only wraps it.
 *
 * Contexts are shared: every check with the same verify setting and the same CA file (same
 * path, inode, size and mtime) holds a reference to one SSL_CTX, because a context that loaded
 * the system bundle costs about a megabyte and a site has thousands of checks. A changed CA file
 * gets a new context on the next check_tls_ctx_get(). Getting and putting references is
 * thread-safe; an SSL_CTX is used read-only once set up.
 */
#ifndef ANYLB_HEALTH_CHECK_TLS_H
#define ANYLB_HEALTH_CHECK_TLS_H

#include "conf/conf.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Returns a reference to a client context for t (verify on: peer chain checked against
 * t->ca_file, or OpenSSL's default paths when it is NULL), or NULL with a reason in err.
 * Release with check_tls_ctx_put().
 */
SSL_CTX *check_tls_ctx_get(const struct conf_check_tls *t, char *err, size_t cap);
/* One more reference to ctx (from check_tls_ctx_get), returned; NULL stays NULL. */
SSL_CTX *check_tls_ctx_ref(SSL_CTX *ctx);
void check_tls_ctx_put(SSL_CTX *ctx);

/*
 * A client SSL on fd (not taken over: the caller still closes fd after SSL_free). sni, when not
 * NULL and not an IP literal, is sent as server name. verify_name, when verify is on, is the
 * DNS name or IP address the certificate must be for. *not_after (zeroed by the caller, alive
 * as long as the SSL) receives the leaf's notAfter while it is verified, even when the
 * verification fails. Returns NULL with a reason in err.
 */
SSL *check_tls_new(SSL_CTX *ctx, int fd, const char *sni, const char *verify_name, int verify,
	int64_t *not_after, char *err, size_t cap);

enum check_tls_io {
	CHECK_TLS_DONE,       /* handshake complete / bytes moved */
	CHECK_TLS_WANT_READ,  /* try again when the socket is readable */
	CHECK_TLS_WANT_WRITE, /* try again when the socket is writable */
	CHECK_TLS_EOF,        /* the peer closed (with or without close_notify) */
	CHECK_TLS_FAIL,       /* why holds the reason */
};

enum check_tls_io check_tls_handshake(SSL *ssl, char *why, size_t cap);
enum check_tls_io check_tls_read(
	SSL *ssl, void *buf, size_t len, size_t *got, char *why, size_t cap);
enum check_tls_io check_tls_write(
	SSL *ssl, const void *buf, size_t len, size_t *put, char *why, size_t cap);

/* Sends close_notify once, without waiting for the peer's. */
void check_tls_shutdown(SSL *ssl);

/* The peer certificate's notAfter as unix time, or 0 when there is none. */
int64_t check_tls_not_after(SSL *ssl);

#endif
