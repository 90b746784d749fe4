/*
 * DOC: active check test helpers (tests/unit/test_check.c, test_check_tls.c)
 *
 * Real sockets on 127.0.0.1 (and ::1 when the host has it). A test runs its own libev loop
 * until the check has reported the wanted number of results or a deadline passes; servers are
 * threads of the test process with blocking sockets (and blocking OpenSSL for TLS), each one
 * connection at a time, every read and write bounded by SO_RCVTIMEO/SO_SNDTIMEO. Server threads
 * never call Criterion; they record what they saw and the test thread asserts. Every other
 * function asserts with Criterion: call them from the test's own thread.
 *
 * Certificates are the harness's (sc_pki_make, tests/support/tls.c): a CA, leaves signed by it
 * (valid, expired, not yet valid), a self-signed leaf and a leaf from a second CA that the check
 * does not trust. Only the trusted CA is written to disk, as the check's ca_file.
 */
#ifndef ANYLB_TESTS_SUPPORT_CHECK_UTIL_H
#define ANYLB_TESTS_SUPPORT_CHECK_UTIL_H

#include "health/check.h"
#include "tests/support/harness.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define CT_MAXRES 64

/* What an SRV_HTTP server answers when all is well. */
#define CT_HTTP_OK "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nready\n"

/* ---- test servers ---- */

enum ct_srv_mode {
	SRV_DISCARD, /* accept and close at once */
	SRV_HANG,    /* accept, then never read or write */
	SRV_HTTP,    /* read a request head, write `reply`, close */
	SRV_CLOSE,   /* read a request head, close without a word */
	SRV_RESET,   /* read a request head, reset */
	SRV_EXPECT,  /* read until `until` arrives, write `reply`, close */
	SRV_GREET,   /* write `reply` at once, then read until the client goes */
	SRV_HOLD,    /* (TLS) after the handshake, read until the client goes */
};

struct ct_srv {
	int lfd, port, family;
	enum ct_srv_mode mode;
	const char *reply;
	const char *until;
	SSL_CTX *tls;
	pthread_t th;
	atomic_int stop;
	atomic_int accepted;
	atomic_int handshakes;
	int held[CT_MAXRES];
	int nheld;
	char request[2048]; /* the last request head read */
	char sni[256];      /* the last server name received */
};

/* ---- driving a check ---- */

struct ct_run {
	struct ev_loop *loop;
	struct check *c;
	int n, want;
	int in_start;      /* set around check_new/check_start */
	int synchronous;   /* a result arrived while in_start was set */
	int fast_on_first; /* call check_set_fast(c, 1) from the first result */
	int free_on_first; /* call check_free(c) from the first result */
	struct check_result r[CT_MAXRES];
	double at[CT_MAXRES];
};

/* The certificates of the check_tls suite (the harness's, tests/support/tls.c); ca_file is
 * NULL until ct_pki_make(). */
extern struct sc_pki ct_pki;

void ct_pki_make(void);
/* A suite's .fini: frees the certificates (nothing when not made); the CA file is the
 * harness's temp file, removed at exit. */
void ct_pki_free(void);
/* Suites' .init: SIGPIPE ignored; ct_setup_tls also makes the certificates. */
void ct_setup(void);
void ct_setup_tls(void);

/* Binds a loopback socket on an ephemeral port; listens when listen_too. -1 when ::1 is absent. */
int ct_loopback_socket(int family, int listen_too, int *port);
/* A server thread on family's loopback (NULL when ::1 is absent); tls: serve TLS with it. */
struct ct_srv *ct_srv_start_family(
	int family, enum ct_srv_mode mode, const char *reply, const struct sc_cert *tls);
/* The same on 127.0.0.1, which must work. */
struct ct_srv *ct_srv_start(enum ct_srv_mode mode, const char *reply, const struct sc_cert *tls);
/* Stops and joins the thread; what the server recorded stays readable (static storage). */
void ct_srv_stop(struct ct_srv *s);

/* A check of type with one run per test (interval 10 s), timeout 2 s, verifying against the
 * test CA. */
struct conf_check ct_cc_make(enum conf_check_type type);
struct addr ct_addr_of(int family, int port);
/* A run's result callback: records, applies fast_on_first/free_on_first, stops at want. */
void ct_on_result(void *arg, const struct check_result *r);
void ct_run_init(struct ct_run *x);
/* check_new + check_start; asserts nothing was reported synchronously. */
void ct_run_start(
	struct ct_run *x, const struct conf_check *cc, const struct addr *a, double first_delay);
/* Runs the loop until x->want results or `seconds`, whichever first. */
void ct_run_for(struct ct_run *x, double seconds);
void ct_run_done(struct ct_run *x);
/* One run of cc against a; its result. */
struct check_result ct_one(const struct conf_check *cc, const struct addr *a);
void ct_expect_result(const struct check_result *r, int ok, const char *reason);
int ct_starts_with(const char *s, const char *prefix);

#endif
