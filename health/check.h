/*
 * DOC: active checks
 *
 * One struct check runs one kind of check (tcp, http, https, tls, send_expect, dns over udp or
 * tcp, udp_send_expect; see struct conf_check) against one backend, forever, on the libev loop
 * it is given: run, report, wait interval (or fast_interval while the caller says the backend is
 * changing state) with jitter, run again. A run never overlaps the next: the wait starts when a run
 * ends, and `timeout` covers the whole run (connect, TLS handshake, request, response) and cuts it
 * with a reason. The UDP types need nothing of the service: they work behind today's TCP services.
 * Everything is non-blocking, OpenSSL included; no thread per check.
 *
 * Results are reported through the callback, never synchronously from check_start().
 */
#ifndef ANYLB_HEALTH_CHECK_H
#define ANYLB_HEALTH_CHECK_H

#include "conf/conf.h"
#include "lib/addr.h"

#include <ev.h>
#include <openssl/ssl.h>
#include <stdint.h>

struct check;

struct check_result {
	int ok;
	/*
	 * Why, in an operator's words: "ok", "connect refused", "timeout after 500ms",
	 * "status 503", "body does not contain 'x'", "certificate expired",
	 * "certificate verify failed: self-signed certificate", "reset by peer", ...
	 */
	char reason[160];
	double duration;        /* seconds from start of the run to its result */
	int64_t cert_not_after; /* tls/https: the peer certificate's notAfter (unix time), or 0 */
};

/*
 * Creates a check of kind cc against backend (cc->port, when set, replaces the backend's
 * port). cc and backend must outlive the check. tls is the client context of a tls or https
 * check (check_tls_ctx_get(&cc->tls), opened by the caller before it commits to cc: the check
 * takes its own reference), NULL for the other types. done(arg, result) is called on loop's
 * thread after every run. Returns NULL only when out of memory, or when a tls or https check
 * has no context (a caller's bug, logged).
 */
struct check *check_new(struct ev_loop *loop, const struct conf_check *cc, SSL_CTX *tls,
	const struct addr *backend, void (*done)(void *arg, const struct check_result *r),
	void *arg);

/*
 * A configuration reload kept this check unchanged (cc equal by conf_check_equal, the same
 * backend address) but its configuration now lives in a new place: the check continues its
 * cycle, and its run under way, reading cc from now on. The old cc may be freed afterwards.
 * tls replaces the context (the new generation's, as check_new takes it) from the next run on.
 */
void check_rebind(struct check *c, const struct conf_check *cc, SSL_CTX *tls);

/* Starts the cycle: the first run begins after first_delay seconds (spreading start-up). */
void check_start(struct check *c, double first_delay);

/* Uses fast_interval instead of interval between runs while fast is non-zero. */
void check_set_fast(struct check *c, int fast);

/* Stops the cycle and any run in progress (its result is not reported), then frees. */
void check_free(struct check *c);

#endif
