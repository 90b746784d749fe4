/*
 * DOC: active check tests: tls and https
 *
 * Against the certificates ct_pki_make() makes at test time (tests/support/check_util.h): a
 * valid leaf, an expired and a not-yet-valid one, a self-signed one and one from a CA the check
 * does not trust.
 */
#include "health/check.h"
#include "health/check_tls.h"
#include "tests/support/check_util.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(check_tls, .init = ct_setup_tls, .fini = ct_pki_free, .timeout = 20);

/* ---- tls and https --------------------------------------------------------------------------- */

Test(check_tls, tls_ok_with_expiry)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.leaf);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	r = ct_one(&cc, &a); /* no name configured: the certificate must be for 127.0.0.1 */
	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, sc_cert_not_after(ct_pki.leaf));
	cr_assert_gt(r.cert_not_after, (int64_t)time(NULL));
	ct_srv_stop(s);
	cr_assert_eq(atomic_load(&s->handshakes), 1);
	cr_assert_str_eq(s->sni, "", "an IP literal must not be sent as SNI");
}

Test(check_tls, tls_sends_sni)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.leaf);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.tls.sni = "localhost";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	ct_srv_stop(s);
	cr_assert_str_eq(s->sni, "localhost");
}

Test(check_tls, tls_expired)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.expired);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "certificate expired");
	/* Still says when it expired, for the operator's log. */
	cr_assert_eq(r.cert_not_after, sc_cert_not_after(ct_pki.expired));
	ct_srv_stop(s);
}

Test(check_tls, tls_not_yet_valid)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.future);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "certificate not yet valid");
	ct_srv_stop(s);
}

Test(check_tls, tls_untrusted)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.foreign);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(
		&r, 0, "certificate verify failed: unable to get local issuer certificate");

	/* verify: false takes any certificate and still reports when it expires. */
	cc.tls.verify = 0;
	cc.tls.ca_file = NULL;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, sc_cert_not_after(ct_pki.foreign));
	ct_srv_stop(s);
}

Test(check_tls, tls_self_signed)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.selfsigned);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "certificate verify failed: self-signed certificate");
	ct_srv_stop(s);
}

Test(check_tls, tls_hostname_mismatch)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.leaf);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.tls.sni = "db.example.com";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "certificate verify failed: hostname mismatch");
	ct_srv_stop(s);
}

Test(check_tls, tls_against_plain_server)
{
	struct ct_srv *s = ct_srv_start(SRV_GREET, "HTTP/1.1 400 Bad Request\r\n\r\n", NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	cr_assert_not(r.ok);
	cr_assert(ct_starts_with(r.reason, "TLS handshake failed: "), "%s", r.reason);
	ct_srv_stop(s);
}

Test(check_tls, tls_handshake_timeout)
{
	struct ct_srv *s = ct_srv_start(SRV_HANG, NULL, NULL);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.timeout_ms = 250;
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "timeout after 250ms (TLS handshake)");
	ct_srv_stop(s);
}

Test(check_tls, https_ok_503_body)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP, CT_HTTP_OK, ct_pki.leaf);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTPS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r;

	cc.host = "localhost";
	cc.expect_body = "ready";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 1, "ok");
	cr_assert_eq(r.cert_not_after, sc_cert_not_after(ct_pki.leaf));
	cc.expect_body = "steady";
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "body does not contain 'steady'");
	ct_srv_stop(s);
	cr_assert_not_null(strstr(s->request, "\r\nHost: localhost\r\n"));
	cr_assert_str_eq(s->sni, "localhost");

	s = ct_srv_start(
		SRV_HTTP, "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", ct_pki.leaf);
	a = ct_addr_of(AF_INET, s->port);
	r = ct_one(&cc, &a);
	ct_expect_result(&r, 0, "status 503");
	ct_srv_stop(s);
}

Test(check_tls, https_expired)
{
	struct ct_srv *s = ct_srv_start(SRV_HTTP, CT_HTTP_OK, ct_pki.expired);
	struct conf_check cc = ct_cc_make(CONF_CHECK_HTTPS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct check_result r = ct_one(&cc, &a);

	ct_expect_result(&r, 0, "certificate expired");
	ct_srv_stop(s);
}

Test(check_tls, missing_ca_file_refused)
{
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, 443);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	char why[256];

	cc.tls.ca_file = "/nonexistent/ca.pem";
	cr_assert_null(check_tls_ctx_get(&cc.tls, why, sizeof(why)));
	cr_assert(strstr(why, "cannot read CA file /nonexistent/ca.pem: No such file") != NULL,
		"%s", why);
	/* Without a context a TLS check is refused, never made to run without one. */
	cr_assert_null(check_new(loop, &cc, NULL, &a, ct_on_result, NULL));
	ev_loop_destroy(loop);
}

Test(check_tls, contexts_are_shared)
{
	struct ct_srv *s = ct_srv_start(SRV_HOLD, NULL, ct_pki.leaf);
	struct conf_check cc = ct_cc_make(CONF_CHECK_TLS);
	struct addr a = ct_addr_of(AF_INET, s->port);
	struct ct_run x[8];

	/* Many checks on one CA file, all against one server, all on their own loop. */
	for (int i = 0; i < 8; i++) {
		ct_run_init(&x[i]);
		ct_run_start(&x[i], &cc, &a, 0);
	}
	for (int i = 0; i < 8; i++) {
		ct_run_for(&x[i], 5.0);
		cr_assert_eq(x[i].n, 1);
		ct_expect_result(&x[i].r[0], 1, "ok");
	}
	for (int i = 0; i < 8; i++)
		ct_run_done(&x[i]);
	ct_srv_stop(s);
}
