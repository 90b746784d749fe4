/*
 * DOC: active check test helpers: certificates, test servers, driving a check (check_util.h)
 */
#include "tests/support/check_util.h"

#include "health/check_tls.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sc_pki ct_pki;

/* ---- certificates ---------------------------------------------------------------------------- */

void ct_pki_make(void)
{
	cr_assert_eq(sc_pki_make(&ct_pki), 0, "cannot make the test certificates");
}

void ct_pki_free(void)
{
	sc_pki_free(&ct_pki);
}

/* ---- test servers ---------------------------------------------------------------------------- */

static int srv_sni_cb(SSL *ssl, int *al, void *arg)
{
	struct ct_srv *s = arg;
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

static void srv_handle(struct ct_srv *s, int fd)
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
		if (s->nheld < CT_MAXRES)
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
	struct ct_srv *s = arg;

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
int ct_loopback_socket(int family, int listen_too, int *port)
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

static SSL_CTX *server_tls(struct ct_srv *s, const struct sc_cert *c)
{
	SSL_CTX *ctx = sc_tls_server_ctx(c);

	cr_assert_not_null(ctx);
	SSL_CTX_set_tlsext_servername_callback(ctx, srv_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, s);
	return ctx;
}

/*
 * Servers live in static storage (each test is its own process): what a stopped server recorded
 * stays readable after ct_srv_stop() joined its thread, and nothing is left to free.
 */
static struct ct_srv servers[8];
static int nservers;

struct ct_srv *ct_srv_start_family(
	int family, enum ct_srv_mode mode, const char *reply, const struct sc_cert *tls)
{
	struct ct_srv *s;

	cr_assert_lt(nservers, 8);
	s = &servers[nservers++];
	memset(s, 0, sizeof(*s));
	s->family = family;
	s->mode = mode;
	s->reply = reply != NULL ? reply : "";
	s->lfd = ct_loopback_socket(family, 1, &s->port);
	if (s->lfd < 0)
		return NULL;
	if (tls != NULL)
		s->tls = server_tls(s, tls);
	cr_assert_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

struct ct_srv *ct_srv_start(enum ct_srv_mode mode, const char *reply, const struct sc_cert *tls)
{
	struct ct_srv *s = ct_srv_start_family(AF_INET, mode, reply, tls);

	cr_assert_not_null(s);
	return s;
}

void ct_srv_stop(struct ct_srv *s)
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

void ct_on_result(void *arg, const struct check_result *r)
{
	struct ct_run *x = arg;

	if (x->in_start)
		x->synchronous = 1;
	if (x->n < CT_MAXRES) {
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
void ct_run_for(struct ct_run *x, double seconds)
{
	ev_timer dl;

	ev_timer_init(&dl, deadline_cb, seconds, 0.);
	ev_timer_start(x->loop, &dl);
	ev_run(x->loop, 0);
	ev_timer_stop(x->loop, &dl);
}

struct conf_check ct_cc_make(enum conf_check_type type)
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
	cc.tls.ca_file = (char *)ct_pki.ca_file; /* read only: this conf is never freed */
	return cc;
}

struct addr ct_addr_of(int family, int port)
{
	char text[64];
	struct addr a;
	char why[ADDR_WHY_MAX];

	snprintf(text, sizeof(text), family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", port);
	cr_assert_eq(addr_parse(text, 0, &a, why, sizeof(why)), 0, "%s: %s", text, why);
	return a;
}

void ct_run_init(struct ct_run *x)
{
	memset(x, 0, sizeof(*x));
	x->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(x->loop);
	x->want = 1;
}

void ct_run_start(
	struct ct_run *x, const struct conf_check *cc, const struct addr *a, double first_delay)
{
	SSL_CTX *tls = NULL;
	char why[256];

	/* As lb/prepare.c does: the context is opened before the check is made. */
	if (cc->type == CONF_CHECK_TLS || cc->type == CONF_CHECK_HTTPS) {
		tls = check_tls_ctx_get(&cc->tls, why, sizeof(why));
		cr_assert_not_null(tls, "%s", why);
	}
	x->in_start = 1;
	x->c = check_new(x->loop, cc, tls, a, ct_on_result, x);
	check_tls_ctx_put(tls); /* the check holds its own */
	cr_assert_not_null(x->c);
	check_start(x->c, first_delay);
	x->in_start = 0;
	cr_assert_eq(x->n, 0, "a result was reported from check_start()");
}

void ct_run_done(struct ct_run *x)
{
	check_free(x->c);
	x->c = NULL;
	ev_loop_destroy(x->loop);
	cr_assert_not(x->synchronous, "a result was reported synchronously");
}

/* One run of cc against a, its result checked for ok and reason. */
struct check_result ct_one(const struct conf_check *cc, const struct addr *a)
{
	struct ct_run x;
	struct check_result r;

	ct_run_init(&x);
	ct_run_start(&x, cc, a, 0);
	ct_run_for(&x, 5.0);
	cr_assert_eq(x.n, 1, "no result within 5s");
	r = x.r[0];
	ct_run_done(&x);
	return r;
}

void ct_expect_result(const struct check_result *r, int ok, const char *reason)
{
	cr_assert_str_eq(r->reason, reason);
	cr_assert_eq(r->ok, ok, "%s", r->reason);
	cr_assert_geq(r->duration, 0.0);
}

int ct_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void ct_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

void ct_setup_tls(void)
{
	signal(SIGPIPE, SIG_IGN);
	ct_pki_make();
}
