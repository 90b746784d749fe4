/*
 * DOC: scenario: `anylb -t`, start-up and reload agree on what a file needs
 *
 * The files a configuration names (a check's ca_file, the admin token_file) are opened by the
 * same code in all three (lb/prepare.c). What clients and operators must see:
 * - a reload whose CA file cannot be loaded is refused with FILE:LINE:COL, counted as failed,
 *   and the running checks go on: a backend killed afterwards still leaves the rotation;
 * - a reload whose new listen address is taken names the place and the real errno;
 * - `-t` refuses what start-up refuses, with the same lines, over every file in tests/conf and a
 *   generated set; start-up refuses a file `-t` accepts only for what needs the running process
 *   (binding, privileges, the TUN interface, BIRD);
 * - signals the docs give no meaning are logged and ignored, never fatal.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(prepare, .fini = fini, .timeout = 180);

static void write_file(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
	cr_assert_eq(rename(tmp, path), 0);
}

/* POST /reload over the unix socket: the status, the body in *body (caller frees). */
static int post_reload(const char *admin, char **body)
{
	struct sc_http_resp r;

	cr_assert_eq(sc_http(admin, "POST", "/reload", NULL, 5000, &r), 0);
	int status = r.status;
	if (body != NULL)
		*body = strndup(r.body != NULL ? r.body : "", r.body_len);
	sc_http_free(&r);
	return status;
}

/* "FILE:LINE:COL" of the first place of needle in text, which path holds. */
static const char *place(
	char *buf, size_t cap, const char *path, const char *text, const char *needle)
{
	const char *p = strstr(text, needle), *bol = text;
	int line = 1;

	cr_assert_not_null(p, "'%s' in the file", needle);
	for (const char *q = text; q < p; q++) {
		if (*q == '\n') {
			line++;
			bol = q + 1;
		}
	}
	snprintf(buf, cap, "%s:%d:%d", path, line, (int)(p - bol) + 1);
	return buf;
}

/* Listens on 127.0.0.1:port, as some other program would; returns the fd. */
static int hold_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	return fd;
}

/* A service web on listen with backends be0 and be1 (NULL: be0 alone). */
static char *web_config(const char *dir, const char *listen, const char *be0, const char *be1,
	const char *readiness)
{
	char *y = NULL, second[SC_ADDRSTRLEN + 32] = "";

	if (be1 != NULL)
		snprintf(second, sizeof(second), "      - address: %s\n", be1);
	cr_assert_geq(asprintf(&y,
			      "global:\n"
			      "  admin: {socket: %s/admin.sock}\n"
			      "services:\n"
			      "  - name: web\n"
			      "    listen: [\"%s\"]\n"
			      "    health:\n"
			      "      readiness: %s\n"
			      "    outlier: {consecutive_failures: 0}\n"
			      "    backends:\n"
			      "      - address: %s\n"
			      "%s",
			      dir, listen, readiness, be0, second),
		0);
	return y;
}

Test(prepare, a_reload_with_a_missing_ca_file_is_refused_and_checks_go_on)
{
	struct sc_backend *be[2];
	char listen[SC_ADDRSTRLEN], admin[300];
	const char *dir = sc_admin_temp_dir();

	for (int i = 0; i < 2; i++)
		cr_assert_not_null(be[i] = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL));
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	snprintf(admin, sizeof(admin), "unix:%s/admin.sock", dir);
	char *y = web_config(dir, listen, sc_backend_addr(be[0]), sc_backend_addr(be[1]),
		"{interval: 100ms, rise: 1, fall: 1}");
	struct sc_lb *lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(lb);

	char *bad = web_config(dir, listen, sc_backend_addr(be[0]), sc_backend_addr(be[1]),
		"{type: tls, interval: 100ms, tls: {ca_file: /nonexistent/anylb-ca.pem}}");
	write_file(sc_lb_config_path(lb), bad);
	char *body = NULL, want[600];
	cr_expect_eq(post_reload(admin, &body), 422, "refused: %s", body);
	char at[400];
	snprintf(want, sizeof(want),
		"%s: service 'web': readiness check: cannot read CA file "
		"/nonexistent/anylb-ca.pem: No such file or directory",
		place(at, sizeof(at), sc_lb_config_path(lb), bad, "/nonexistent/anylb-ca.pem"));
	cr_expect(strstr(body, want) != NULL, "the answer names the place: %s", body);
	free(bad);
	cr_expect(strstr(body, "cannot read CA file /nonexistent/anylb-ca.pem") != NULL,
		"the answer says why: %s", body);
	cr_expect(strstr(body, "out of memory") == NULL, "%s", body);
	free(body);

	/* Counted as failed in /metrics. */
	struct sc_http_resp r;
	cr_assert_eq(sc_http(admin, "GET", "/metrics", NULL, 3000, &r), 0);
	cr_expect(strstr(r.body, "\nanylb_config_last_reload_successful 0\n") != NULL);
	sc_http_free(&r);

	/* The old checks still run: a backend that dies leaves the rotation. */
	size_t off = sc_lb_log_offset(lb);
	char be0[SC_ADDRSTRLEN];
	snprintf(be0, sizeof(be0), "%s", sc_backend_addr(be[0]));
	sc_backend_stop(be[0]);
	cr_expect_eq(
		sc_lb_wait_transition(lb, off, be0, "web", "ready", "not_ready", NULL, 5000, NULL),
		0, "the readiness check still runs after the refused reload");
	for (int i = 0; i < 6; i++) {
		int fd = sc_connect(listen, 3000);
		cr_assert_geq(fd, 0);
		cr_expect_eq(sc_echo(fd, "to the live one", 3000), 0, "session %d", i);
		close(fd);
	}
	cr_expect_eq(sc_lb_stop(lb), 0);
}

Test(prepare, a_reload_onto_a_taken_address_names_the_place_and_the_errno)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN], taken[SC_ADDRSTRLEN], admin[300];
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(be);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	int port = sc_free_addr(AF_INET, taken, sizeof(taken));
	cr_assert_gt(port, 0);
	snprintf(admin, sizeof(admin), "unix:%s/admin.sock", dir);
	char *y = web_config(dir, listen, sc_backend_addr(be), NULL, "{}");
	struct sc_lb *lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(lb);

	/* Someone else listens there now. */
	int hold = hold_port(port);

	char *two = NULL;
	cr_assert_geq(asprintf(&two, "[\"%s\", \"%s\"]", listen, taken), 0);
	char *bad = NULL;
	cr_assert_geq(asprintf(&bad,
			      "global:\n"
			      "  admin: {socket: %s/admin.sock}\n"
			      "services:\n"
			      "  - name: web\n"
			      "    listen: %s\n"
			      "    backends:\n"
			      "      - address: %s\n",
			      dir, two, sc_backend_addr(be)),
		0);
	free(two);
	write_file(sc_lb_config_path(lb), bad);
	char *body = NULL, want[600], at[400], quoted[SC_ADDRSTRLEN + 2];
	snprintf(quoted, sizeof(quoted), "\"%s\"", taken);
	place(at, sizeof(at), sc_lb_config_path(lb), bad, quoted);
	snprintf(want, sizeof(want), "%s: cannot listen on %s: Address already in use", at, taken);
	cr_expect_eq(post_reload(admin, &body), 422, "refused: %s", body);
	cr_expect(strstr(body, want) != NULL, "want '%s' in: %s", want, body);
	cr_expect(strstr(body, "Cannot assign requested address") == NULL, "%s", body);
	free(body);
	free(bad);
	close(hold);

	int fd = sc_connect(listen, 3000);
	cr_assert_geq(fd, 0);
	cr_expect_eq(sc_echo(fd, "still serving", 3000), 0);
	close(fd);
	cr_expect_eq(sc_lb_stop(lb), 0);
}

Test(prepare, signals_without_a_meaning_are_logged_and_ignored)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	const char *dir = sc_admin_temp_dir();
	static const int sigs[] = {
		SIGALRM, SIGQUIT, SIGVTALRM, SIGPROF}; /* SIGUSR1 reopens logs, SIGUSR2 upgrades */

	cr_assert_not_null(be);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	char *y = web_config(dir, listen, sc_backend_addr(be), NULL, "{}");
	struct sc_lb *lb = sc_lb_start("%s", y);
	free(y);
	cr_assert_not_null(lb);
	/* readiness: {} holds the backend not_ready until its first check (a race under ASan). */
	cr_assert_eq(sc_lb_wait_transition(lb, 0, sc_backend_addr(be), "web", "not_ready", "ready",
			     NULL, 5000, NULL),
		0);
	int fd = sc_connect(listen, 3000);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sc_echo(fd, "before", 3000), 0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		size_t off = sc_lb_log_offset(lb);
		char want[128];
		snprintf(want, sizeof(want), "signal %d (%s) has no meaning for anylb: ignored",
			sigs[i], sigabbrev_np(sigs[i]));
		cr_assert_eq(sc_lb_signal(lb, sigs[i]), 0);
		cr_expect_eq(sc_lb_wait_log(lb, off, want, 3000, NULL), 0, "%s", want);
	}
	cr_expect_eq(sc_lb_wait(lb, 0), -ETIMEDOUT, "still running");
	/* The open session and new ones are served as before. */
	cr_expect_eq(sc_echo(fd, "after", 3000), 0);
	close(fd);
	fd = sc_connect(listen, 3000);
	cr_assert_geq(fd, 0);
	cr_expect_eq(sc_echo(fd, "new", 3000), 0);
	close(fd);
	cr_expect_eq(sc_lb_stop(lb), 0, "and it still stops cleanly");
}

/* ---- the -t <=> start-up property ------------------------------------------------------------ */

/*
 * Is this stderr line one that only the running process can produce: a bind, a privilege, the
 * TUN interface or BIRD (docs/CONFIG.md, "Checking a file")?
 */
static int start_only(const char *line)
{
	static const char *const marks[] = {"cannot listen on", "admin: ", "privdrop: ", "bgp: "};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(line, marks[i]) != NULL)
			return 1;
	return 0;
}

/* Does line look like "PATH:LINE:COL: ..."? */
static int positioned(const char *line, const char *path)
{
	size_t n = strlen(path);
	int l, c;

	return strncmp(line, path, n) == 0 && sscanf(line + n, ":%d:%d: ", &l, &c) == 2;
}

static unsigned nstarted, nrefused;

/*
 * Runs `anylb -t -c path` and `anylb -c path` (given 1.5 s: a file that starts is still running
 * then and is killed, by pid) and asserts the property. may_start: 0 where starting needs what
 * this test does not set up (bgp: the TUN interface and BIRD), then only -t runs.
 */
static void agree(const char *path, int may_start)
{
	struct sc_run t, s;

	int rc = sc_run_anylb(&t, 10000, "-t", "-c", path, NULL);
	cr_assert_eq(rc, 0, "%s: %s", path, strerror(-rc));
	cr_assert(t.status == 0 || t.status == 1, "%s: -t exits 0 or 1, not %d", path, t.status);
	if (!may_start) {
		sc_run_free(&t);
		return;
	}
	cr_assert_eq(sc_run_anylb(&s, 1500, "-c", path, NULL), 0);
	int started = s.status == -ETIMEDOUT;
	cr_assert(started || s.status == 1, "%s: start-up runs or exits 1, not %d:\n%s", path,
		s.status, s.err);
	if (t.status != 0) {
		nrefused++;
		cr_expect(!started, "%s: -t refused it, start-up ran it:\n%s", path, t.err);
		/* Start-up says the same: every line of -t is in its output. */
		char *save = NULL;
		for (char *l = strtok_r(t.err, "\n", &save); l != NULL;
			l = strtok_r(NULL, "\n", &save))
			cr_expect(strstr(s.err, l) != NULL, "%s: start-up does not say '%s':\n%s",
				path, l, s.err);
	} else if (!started) {
		/* -t passed it: start-up may refuse it only for what -t cannot see. */
		int seen = 0;
		char *save = NULL;
		for (char *l = strtok_r(s.err, "\n", &save); l != NULL;
			l = strtok_r(NULL, "\n", &save)) {
			seen |= start_only(l);
			cr_expect(!positioned(l, path) || start_only(l),
				"%s: -t passed it, start-up refused it: '%s'", path, l);
		}
		cr_expect(seen,
			"%s: -t passed it, start-up refused it for no start-only reason:\n%s", path,
			s.err);
	} else {
		nstarted++;
	}
	sc_run_free(&t);
	sc_run_free(&s);
}

Test(prepare, check_only_refuses_exactly_what_start_up_refuses, .timeout = 600)
{
	char dirpath[512];
	DIR *d;
	struct dirent *e;

	snprintf(dirpath, sizeof(dirpath), "%s/tests/conf", ANYLB_SOURCE_DIR);
	cr_assert_not_null(d = opendir(dirpath));
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0)
			continue;
		char path[1024], *text;
		snprintf(path, sizeof(path), "%s/%s", dirpath, e->d_name);
		cr_assert_not_null(text = sc_read_file(path));
		agree(path, strstr(text, "bgp:") == NULL && strstr(text, "anycast:") == NULL);
		free(text);
	}
	closedir(d);

	/* Generated: what names a file, and listeners, each way it can go. */
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	const char *dir = sc_admin_temp_dir();
	char listen[SC_ADDRSTRLEN], tcp_admin[SC_ADDRSTRLEN], taken[SC_ADDRSTRLEN];
	cr_assert_not_null(be);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, tcp_admin, sizeof(tcp_admin)), 0);
	int port = sc_free_addr(AF_INET, taken, sizeof(taken));
	cr_assert_gt(port, 0);
	int hold = hold_port(port);

	const char *token = sc_temp_file(".token", "%s", "s3cret-token\n");
	const char *empty = sc_temp_file(".token", "%s", "");
	const char *not_a_ca = sc_temp_file(".pem", "%s", "this is not a certificate\n");
	cr_assert(token != NULL && empty != NULL && not_a_ca != NULL);
	chmod(token, 0600);
	char mapped[64];
	snprintf(mapped, sizeof(mapped), "[::ffff:127.0.0.1]:%d", sc_port_free(AF_INET));

	struct {
		const char *listen, *readiness, *admin_extra;
	} gen[] = {
		{listen, "{}", ""},
		{listen, "{type: tls, tls: {ca_file: /nonexistent/ca.pem}}", ""},
		{listen, "{type: https, tls: {ca_file: NOT_A_CA}}", ""},
		{listen, "{type: tls, tls: {verify: false}}", ""},
		{listen, "{type: tls}", ""},
		{listen, "{}", ", listen: \"TCP_ADMIN\", token_file: /nonexistent/token"},
		{listen, "{}", ", listen: \"TCP_ADMIN\", token_file: EMPTY"},
		{listen, "{}", ", listen: \"TCP_ADMIN\", token_file: /tmp"},
		{listen, "{}", ", listen: \"TCP_ADMIN\", token_file: TOKEN"},
		{mapped, "{}", ""},
		{taken, "{}", ""},
	};
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
		char extra[512], ready[256];
		/* Fill the placeholders. */
		snprintf(extra, sizeof(extra), "%s", gen[i].admin_extra);
		snprintf(ready, sizeof(ready), "%s", gen[i].readiness);
		struct {
			char *buf;
			const char *key, *val;
		} subst[] = {{extra, "TCP_ADMIN", tcp_admin}, {extra, "EMPTY", empty},
			{extra, "TOKEN", token}, {ready, "NOT_A_CA", not_a_ca}};
		for (size_t k = 0; k < sizeof(subst) / sizeof(subst[0]); k++) {
			char *p = strstr(subst[k].buf, subst[k].key), tail[512];
			if (p == NULL)
				continue;
			snprintf(tail, sizeof(tail), "%s", p + strlen(subst[k].key));
			snprintf(p, 512 - (size_t)(p - subst[k].buf), "%s%s", subst[k].val, tail);
		}
		const char *path = sc_temp_file(".yaml",
			"global:\n"
			"  admin: {socket: %s/admin%zu.sock%s}\n"
			"services:\n"
			"  - name: web\n"
			"    listen: [\"%s\"]\n"
			"    health:\n"
			"      readiness: %s\n"
			"    backends:\n"
			"      - address: %s\n",
			dir, i, extra, gen[i].listen, ready, sc_backend_addr(be));
		cr_assert_not_null(path);
		agree(path, 1);
	}
	close(hold);
	/* The property is only worth something if both verdicts occurred. */
	cr_expect_gt(nstarted, 3, "files that started: %u", nstarted);
	cr_expect_gt(nrefused, 50, "files refused: %u", nrefused);
}

Test(prepare, a_second_anylb_on_the_same_address_is_refused_not_sharing_it)
{
	struct sc_backend *be = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	char listen[SC_ADDRSTRLEN];
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(be);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	char *y = web_config(dir, listen, sc_backend_addr(be), NULL, "{}");
	struct sc_lb *lb = sc_lb_start("%s", y);
	cr_assert_not_null(lb);

	/* The same file again (same user, SO_REUSEPORT would let it in). */
	const char *path = sc_temp_file(".yaml", "%s", y);
	free(y);
	struct sc_run r;
	cr_assert_eq(sc_run_anylb(&r, 10000, "-c", path, NULL), 0);
	cr_expect_eq(r.status, 1, "the second one exits 1, not %d", r.status);
	char want[512];
	snprintf(want, sizeof(want),
		"another anylb (pid %ld) runs with the admin socket %s/admin.sock: not starting a "
		"second one",
		(long)sc_lb_pid(lb), dir);
	cr_expect(strstr(r.err, want) != NULL, "want '%s' in:\n%s", want, r.err);
	sc_run_free(&r);

	/* Another admin socket, the same listener: the listener's probe refuses it. */
	char *y2 = web_config(sc_admin_temp_dir(), listen, sc_backend_addr(be), NULL, "{}");
	const char *path2 = sc_temp_file(".yaml", "%s", y2);
	free(y2);
	cr_assert_eq(sc_run_anylb(&r, 10000, "-c", path2, NULL), 0);
	cr_expect_eq(r.status, 1, "the second one exits 1, not %d", r.status);
	snprintf(want, sizeof(want),
		"cannot listen on %s for service web (worker 0): Address "
		"already in use (another process listens there",
		listen);
	cr_expect(strstr(r.err, want) != NULL, "want '%s' in:\n%s", want, r.err);
	sc_run_free(&r);

	/* The first one is untouched and serves every session. */
	for (int i = 0; i < 10; i++) {
		int fd = sc_connect(listen, 3000);
		cr_assert_geq(fd, 0);
		cr_expect_eq(sc_echo(fd, "the first one", 3000), 0);
		close(fd);
	}
	cr_expect_eq(sc_lb_stop(lb), 0);

	/* Once it is gone, a new one starts at once (TIME_WAIT is no obstacle). */
	char *text = sc_read_file(path);
	cr_assert_not_null(text);
	lb = sc_lb_start("%s", text);
	free(text);
	cr_assert_not_null(lb);
	cr_expect_eq(sc_lb_stop(lb), 0);
}
