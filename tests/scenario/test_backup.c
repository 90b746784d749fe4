/*
 * DOC: scenario: backup backends
 *
 * Two primaries A and B and two backups C and D behind the real binary, HELLO backends that
 * name themselves. While a primary can take a session, no session reaches a backup. With both
 * primaries drained, the backups take every new session, balanced between them; a session
 * that started on a backup stays there when a primary comes back, and new ones go to the
 * primary again. /status and /metrics say which backends are backups.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(backup, .fini = fini, .timeout = 90);

struct rig {
	char sock[256], where[270], listen[SC_ADDRSTRLEN];
	struct sc_backend *be[4]; /* A, B primaries; C, D backups */
	struct sc_lb *lb;
};

static void post(struct rig *r, const char *action, int i)
{
	cr_expect_eq(sc_admin_backend(r->where, "web", sc_backend_addr(r->be[i]), action), 200,
		"%s %s", action, sc_backend_addr(r->be[i]));
}

static const char *const ids[] = {"A", "B", "C", "D"};

/* n sessions; counts[i] gets how many reached backend i. */
static void sessions(struct rig *r, int n, int counts[4])
{
	cr_assert_eq(sc_hello_tally(r->listen, n, ids, 4, counts), 0);
}

Test(backup, backups_serve_only_while_no_primary_can)
{
	struct rig r;
	int c[4];
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(r.sock, sizeof(r.sock), "%s/admin.sock", dir);
	snprintf(r.where, sizeof(r.where), "unix:%s", r.sock);
	cr_assert_gt(sc_free_addr(AF_INET, r.listen, sizeof(r.listen)), 0);
	for (int i = 0; i < 4; i++) {
		struct sc_backend_opts o = {.id = ids[i]};
		r.be[i] = sc_backend_start(SC_BACKEND_HELLO, AF_INET, &o);
		cr_assert_not_null(r.be[i]);
	}
	r.lb = sc_lb_start("global:\n"
			   "  workers: 2\n"
			   "  drain_timeout: 1s\n"
			   "  admin: {socket: %s}\n"
			   "services:\n"
			   "  - name: web\n"
			   "    listen: [\"%s\"]\n"
			   "    backends:\n"
			   "      - address: \"%s\"\n"
			   "      - address: \"%s\"\n"
			   "      - {address: \"%s\", backup: true}\n"
			   "      - {address: \"%s\", backup: true}\n",
		r.sock, r.listen, sc_backend_addr(r.be[0]), sc_backend_addr(r.be[1]),
		sc_backend_addr(r.be[2]), sc_backend_addr(r.be[3]));
	cr_assert_not_null(r.lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r.where, 3000), 0, "the admin socket never answered");

	sessions(&r, 20, c);
	cr_expect_eq(c[2] + c[3], 0, "a backup got a session while the primaries could: %d %d",
		c[2], c[3]);
	cr_expect(c[0] > 0 && c[1] > 0, "both primaries: %d %d", c[0], c[1]);

	post(&r, "drain", 0);
	sessions(&r, 10, c);
	cr_expect_eq(c[1], 10, "one primary left takes everything: A %d B %d C %d D %d", c[0], c[1],
		c[2], c[3]);

	post(&r, "drain", 1);
	sessions(&r, 20, c);
	cr_expect_eq(c[0] + c[1], 0, "a drained primary got a session");
	cr_expect(c[2] > 0 && c[3] > 0, "the backups share the load: C %d D %d", c[2], c[3]);

	/* A session on a backup stays there when a primary comes back. */
	int keep = sc_connect(r.listen, 2000);
	cr_assert_geq(keep, 0);
	char line[16];
	cr_assert_gt(sc_recv_line(keep, line, sizeof(line), 2000), 0);
	cr_expect(line[0] == 'C' || line[0] == 'D', "%s", line);
	post(&r, "enable", 0);
	sessions(&r, 10, c);
	cr_expect_eq(c[0], 10, "back to the primary: A %d C %d D %d", c[0], c[2], c[3]);
	cr_expect_eq(sc_echo(keep, "still here\n", 2000), 0, "the backup's session was cut");
	close(keep);

	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/status", NULL, 5000, &h), 0);
	cr_expect(strstr(h.body, "\"backup\":true") != NULL || strstr(h.body, "\"backup\": true"),
		"%s", h.body);
	sc_http_free(&h);
	cr_assert_eq(sc_http(r.where, "GET", "/metrics", NULL, 5000, &h), 0);
	char want[256];
	snprintf(want, sizeof(want), "anylb_backend_backup{service=\"web\",backend=\"%s\"} 1\n",
		sc_backend_addr(r.be[3]));
	cr_expect(strstr(h.body, want) != NULL, "%s", h.body);
	snprintf(want, sizeof(want), "anylb_backend_backup{service=\"web\",backend=\"%s\"} 0\n",
		sc_backend_addr(r.be[0]));
	cr_expect(strstr(h.body, want) != NULL, "%s", h.body);
	sc_http_free(&h);
	cr_expect_eq(sc_lb_stop(r.lb), 0, "anylb did not exit cleanly");
}
