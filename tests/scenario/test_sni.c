/*
 * DOC: scenario: sni, TLS passthrough routed by the ClientHello's server name
 *
 * A front service with `sni` routes to two target services, each with a TLS backend of its own
 * (a thread here: it completes the handshake with the test's certificate, says which backend
 * it is, and echoes a line; a client that does not start with a TLS record gets the same in
 * plain text). Real OpenSSL clients with a server name: www.a.test by an exact route reaches A
 * and completes its handshake through anylb (so the ClientHello reached the backend untouched),
 * x.y.b.test by a wildcard reaches B, an unknown name and a client that is not TLS reach the
 * default. Without a default, such clients are closed and counted, and so is one that sends
 * half a ClientHello and stalls, at timeouts.client_hello. Behind accept_proxy, the PROXY
 * header is read first and the ClientHello after it. A reload that moves a route applies to
 * the next client.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(sni, .fini = fini, .timeout = 60);

/* ---- a TLS backend that says who it is --------------------------------------------------------
 */

struct tls_be {
	const char *id;
	int lfd;
	char addr[SC_ADDRSTRLEN];
	SSL_CTX *ctx;
	pthread_t thread;
	atomic_int stop;
	atomic_uint handshakes, plain;
};

static void serve_one(struct tls_be *b, int fd)
{
	struct timeval tv = {.tv_sec = 2};
	char line[256], hello[64];
	uint8_t first;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(hello, sizeof(hello), "I am %s\n", b->id);
	if (recv(fd, &first, 1, MSG_PEEK) != 1)
		return;
	if (first != 22) {
		atomic_fetch_add(&b->plain, 1);
		ssize_t n = recv(fd, line, sizeof(line), 0);
		if (send(fd, hello, strlen(hello), MSG_NOSIGNAL) > 0 && n > 0)
			send(fd, line, (size_t)n, MSG_NOSIGNAL);
		return;
	}
	SSL *ssl = SSL_new(b->ctx);
	if (ssl == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		atomic_fetch_add(&b->handshakes, 1);
		int n = SSL_read(ssl, line, sizeof(line));
		if (SSL_write(ssl, hello, (int)strlen(hello)) > 0 && n > 0)
			SSL_write(ssl, line, n);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
}

static void *tls_be_main(void *arg)
{
	struct tls_be *b = arg;

	while (!atomic_load(&b->stop)) {
		struct pollfd p = {.fd = b->lfd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(b->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_one(b, fd);
		close(fd);
	}
	return NULL;
}

static void tls_be_start(struct tls_be *b, const char *id, const struct sc_cert *cert)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	memset(b, 0, sizeof(*b));
	b->id = id;
	b->ctx = sc_tls_server_ctx(cert);
	cr_assert_not_null(b->ctx);
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(b->lfd, 0);
	cr_assert_eq(bind(b->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(b->lfd, 16), 0);
	cr_assert_eq(getsockname(b->lfd, (struct sockaddr *)&sin, &len), 0);
	snprintf(b->addr, sizeof(b->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	cr_assert_eq(pthread_create(&b->thread, NULL, tls_be_main, b), 0);
}

static void tls_be_stop(struct tls_be *b)
{
	atomic_store(&b->stop, 1);
	pthread_join(b->thread, NULL);
	close(b->lfd);
	SSL_CTX_free(b->ctx);
}

/* ---- clients ----------------------------------------------------------------------------------
 */

/* sc_connect's sockets are non-blocking; these clients block, bounded by SO_RCVTIMEO. */
static void blocking(int fd)
{
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
}

/*
 * A TLS client asking for sni (NULL: none) at addr: a whole handshake, then a line each way.
 * Returns the backend's "I am X" line in who (empty when the handshake or the echo failed).
 */
static void tls_client_after(
	const char *addr, const char *header, const char *sni, char *who, size_t cap)
{
	struct timeval tv = {.tv_sec = 3};
	char buf[256];
	int fd = sc_connect(addr, 2000);

	who[0] = '\0';
	cr_assert_geq(fd, 0, "connect %s: %s", addr, strerror(-fd));
	blocking(fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (header != NULL)
		cr_assert_eq(
			send(fd, header, strlen(header), MSG_NOSIGNAL), (ssize_t)strlen(header));
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(ctx);
	SSL *ssl = SSL_new(ctx);
	cr_assert_not_null(ssl);
	SSL_set_fd(ssl, fd);
	if (sni != NULL)
		cr_assert(SSL_set_tlsext_host_name(ssl, sni));
	if (SSL_connect(ssl) == 1 && SSL_write(ssl, "ping\n", 5) == 5) {
		size_t have = 0;
		int n;
		while (have < 64 &&
			(n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - have - 1))) > 0)
			have += (size_t)n;
		buf[have] = '\0';
		char *nl = strchr(buf, '\n');
		if (nl != NULL && strcmp(nl + 1, "ping\n") == 0) {
			*nl = '\0';
			snprintf(who, cap, "%.60s", buf);
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void tls_client(const char *addr, const char *sni, char *who, size_t cap)
{
	tls_client_after(addr, NULL, sni, who, cap);
}

/* A client that speaks plain text: what came back ("I am X\nhello\n"), or "". */
static void plain_client(const char *addr, char *got, size_t cap)
{
	int fd = sc_connect(addr, 2000);
	struct timeval tv = {.tv_sec = 3};
	size_t have = 0;
	ssize_t n;

	cr_assert_geq(fd, 0);
	blocking(fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(sc_send_all(fd, "hello\n", 6, 2000), 0);
	while (have + 1 < cap && (n = recv(fd, got + have, cap - have - 1, 0)) > 0)
		have += (size_t)n;
	got[have] = '\0';
	close(fd);
}

static unsigned long long metric(const char *where, const char *name, const char *service)
{
	struct sc_http_resp h;
	char key[256];
	unsigned long long v = ~0ull;

	snprintf(key, sizeof(key), "%s{service=\"%s\"} ", name, service);
	cr_assert_eq(sc_http(where, "GET", "/metrics", NULL, 2000, &h), 0);
	const char *p = strstr(h.body, key);
	if (p != NULL)
		v = strtoull(p + strlen(key), NULL, 10);
	sc_http_free(&h);
	return v;
}

/* ---- the rig ----------------------------------------------------------------------------------
 */

struct rig {
	struct sc_pki pki;
	struct tls_be a, b, d;
	char listen[SC_ADDRSTRLEN], proxied[SC_ADDRSTRLEN], where[300], dir[256];
	char la[SC_ADDRSTRLEN], lb_addr[SC_ADDRSTRLEN], ld[SC_ADDRSTRLEN];
	struct sc_lb *lb;
};

/* The file: www.a.test goes to a_target; a default (d) or none. */
static void config(
	const struct rig *r, int with_default, const char *a_target, char *out, size_t cap)
{
	snprintf(out, cap,
		"global:\n"
		"  workers: 1\n"
		"  drain_timeout: 1s\n"
		"  admin: {socket: %s/admin.sock}\n"
		"services:\n"
		"  - name: front\n"
		"    listen:\n"
		"      - {address: \"%s\"}\n"
		"      - {address: \"%s\", accept_proxy: v1}\n"
		"    timeouts: {client_hello: 400ms}\n"
		"    sni:\n"
		"      routes:\n"
		"        WWW.A.test: %s\n"
		"        \"*.b.test\": b\n"
		"%s"
		"    backends: [{address: \"127.0.0.1:1\"}]\n"
		"  - {name: a, listen: \"%s\", backends: [{address: \"%s\"}]}\n"
		"  - {name: b, listen: \"%s\", backends: [{address: \"%s\"}]}\n"
		"  - {name: d, listen: \"%s\", backends: [{address: \"%s\"}]}\n",
		r->dir, r->listen, r->proxied, a_target, with_default ? "      default: d\n" : "",
		r->la, r->a.addr, r->lb_addr, r->b.addr, r->ld, r->d.addr);
}

static void start(struct rig *r, int with_default)
{
	const char *dir = sc_admin_temp_dir();
	char text[2048];

	cr_assert_not_null(dir);
	cr_assert_eq(sc_pki_make(&r->pki), 0);
	tls_be_start(&r->a, "A", r->pki.leaf);
	tls_be_start(&r->b, "B", r->pki.leaf);
	tls_be_start(&r->d, "D", r->pki.leaf);
	snprintf(r->where, sizeof(r->where), "unix:%s/admin.sock", dir);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->proxied, sizeof(r->proxied)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->la, sizeof(r->la)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->lb_addr, sizeof(r->lb_addr)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, r->ld, sizeof(r->ld)), 0);
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	config(r, with_default, "a", text, sizeof(text));
	r->lb = sc_lb_start("%s", text);
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->where, 3000), 0, "the admin socket never answered");
}

static void stop(struct rig *r)
{
	cr_assert_eq(sc_lb_stop(r->lb), 0);
	tls_be_stop(&r->a);
	tls_be_stop(&r->b);
	tls_be_stop(&r->d);
	sc_pki_free(&r->pki);
}

Test(sni, names_route_to_their_services_and_the_rest_to_the_default)
{
	struct rig r;
	char who[64], got[256];

	start(&r, 1);
	tls_client(r.listen, "www.a.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am A", "an exact route, in another case");
	tls_client(r.listen, "x.y.b.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am B", "a wildcard, two labels deep");
	tls_client(r.listen, "unknown.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am D", "no route: the default");
	tls_client(r.listen, NULL, who, sizeof(who));
	cr_expect_str_eq(who, "I am D", "no server name: the default");
	plain_client(r.listen, got, sizeof(got));
	cr_expect_str_eq(got, "I am D\nhello\n", "not TLS: the default");
	/* Behind an upstream balancer: the PROXY header first, then the ClientHello. */
	tls_client_after(r.proxied, "PROXY TCP4 192.0.2.7 192.0.2.1 40000 443\r\n", "x.b.test", who,
		sizeof(who));
	cr_expect_str_eq(who, "I am B", "accept_proxy, then sni");
	cr_expect_eq(atomic_load(&r.a.handshakes), 1);
	cr_expect_eq(atomic_load(&r.b.handshakes), 2);
	cr_expect_eq(atomic_load(&r.d.handshakes), 2);
	cr_expect_eq(atomic_load(&r.d.plain), 1);

	cr_expect_eq(metric(r.where, "anylb_service_sni_routed_total", "front"), 3);
	cr_expect_eq(metric(r.where, "anylb_service_sni_default_total", "front"), 3);
	cr_expect_eq(metric(r.where, "anylb_service_sni_errors_total", "front"), 0);
	/* The sessions are the targets': counted there, front's own backend never tried. */
	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/metrics", NULL, 2000, &h), 0);
	cr_expect_not_null(strstr(h.body, "anylb_sessions_accepted_total{service=\"a\"} 1\n"));
	cr_expect_not_null(strstr(h.body, "anylb_sessions_accepted_total{service=\"b\"} 2\n"));
	cr_expect_not_null(strstr(h.body, "anylb_sessions_accepted_total{service=\"d\"} 3\n"));
	cr_expect_not_null(
		strstr(h.body, "anylb_sessions_total{service=\"front\",result=\"done\"} 0\n"));
	cr_expect_not_null(strstr(h.body, "anylb_sessions_refused_total{service=\"front\"} 0\n"));
	sc_http_free(&h);
	stop(&r);
}

Test(sni, without_a_default_the_rest_is_closed_and_counted_and_a_stall_times_out)
{
	struct rig r;
	char who[64];
	uint8_t hello[4096];

	start(&r, 0);
	tls_client(r.listen, "www.a.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am A");
	tls_client(r.listen, "unknown.test", who, sizeof(who));
	cr_expect_str_eq(who, "", "no route, no default: closed");
	int fd = sc_connect(r.listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18, 2000), 0);
	cr_expect_eq(sc_wait_close(fd, 2000, NULL), 0, "not TLS, no default: a clean close");
	close(fd);

	/* Half a ClientHello, then nothing: closed at client_hello (400ms). A second later, so
	 * that its log line is not held back by the once-a-second limit. */
	sc_sleep_ms(1100);
	size_t n = sc_client_hello("www.a.test", TLS1_3_VERSION, hello, sizeof(hello));
	cr_assert_gt(n, 0);
	fd = sc_connect(r.listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_send_all(fd, hello, n / 2, 2000), 0);
	int64_t t0 = sc_now_ms();
	cr_expect_eq(sc_wait_close(fd, 3000, NULL), 0, "a stalled ClientHello is closed");
	int64_t waited = sc_now_ms() - t0;
	cr_expect(waited >= 300 && waited < 2500, "closed after %lld ms, client_hello 400ms",
		(long long)waited);
	close(fd);

	/* Sent in two pieces, it is read whole and routed. */
	fd = sc_connect(r.listen, 2000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_send_all(fd, hello, 20, 2000), 0);
	sc_sleep_ms(100);
	cr_assert_eq(sc_send_all(fd, hello + 20, n - 20, 2000), 0);
	for (int64_t end = sc_now_ms() + 3000;
		atomic_load(&r.a.handshakes) + atomic_load(&r.a.plain) < 2 && sc_now_ms() < end;)
		sc_sleep_ms(10);
	close(fd);
	cr_expect_eq(metric(r.where, "anylb_service_sni_routed_total", "front"), 2);

	cr_expect_eq(metric(r.where, "anylb_service_sni_errors_total", "front"), 3);
	cr_expect_eq(metric(r.where, "anylb_service_sni_default_total", "front"), 0);
	cr_expect_eq(atomic_load(&r.d.handshakes) + atomic_load(&r.d.plain), 0);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "ClientHello timeout", 2000, NULL), 0);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "sni has no default", 2000, NULL), 0);
	stop(&r);
}

/* A reload that moves www.a.test from a to b applies to the next client. */
Test(sni, a_reload_changes_the_routes)
{
	struct rig r;
	char who[64], text[2048], tmp[600];
	struct sc_http_resp h;

	start(&r, 1);
	tls_client(r.listen, "www.a.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am A");
	config(&r, 1, "b", text, sizeof(text));
	snprintf(tmp, sizeof(tmp), "%s.new", sc_lb_config_path(r.lb));
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert(fputs(text, f) >= 0 && fclose(f) == 0);
	cr_assert_eq(rename(tmp, sc_lb_config_path(r.lb)), 0);
	cr_assert_eq(sc_http(r.where, "POST", "/reload", NULL, 5000, &h), 0);
	cr_expect_eq(h.status, 200, "%s", h.body != NULL ? h.body : "");
	sc_http_free(&h);
	tls_client(r.listen, "www.a.test", who, sizeof(who));
	cr_expect_str_eq(who, "I am B", "the reloaded route");
	stop(&r);
}
