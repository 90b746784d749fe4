/*
 * DOC: admin interface helpers for tests
 *
 * A small HTTP/1.1 client for anylb's admin interface over a unix socket or TCP, written
 * against raw sockets so that tests can also send what no real client would (garbage, half a
 * request, a flood); temp directories for admin sockets; and `promtool check metrics`.
 *
 * Same rules as harness.h: every wait has a deadline, errors are -errno, and what is created
 * is removed by sc_admin_cleanup() (registered with atexit too; meant for a suite's .fini
 * beside sc_cleanup()).
 */
#ifndef ANYLB_TESTS_SUPPORT_ADMIN_CLIENT_H
#define ANYLB_TESTS_SUPPORT_ADMIN_CLIENT_H

#include <stddef.h>

/* An admin endpoint: "unix:/path/to/admin.sock" or "IP:PORT" / "[IPv6]:PORT". */

/* Connects to where; a non-blocking, close-on-exec fd or -errno. */
int sc_admin_connect(const char *where, int timeout_ms);

/* Waits until where accepts a connection (an anylb that just started): 0, or the last -errno. */
int sc_admin_wait(const char *where, int timeout_ms);

struct sc_http_resp {
	int status; /* from the status line; 0 when none was read */
	char *head; /* status line and header fields, NUL-terminated */
	char *body; /* after the blank line, NUL-terminated (may hold NULs) */
	size_t body_len;
	size_t content_length; /* from the header; (size_t)-1 when absent */
};

/*
 * Sends req[0..len) to where and reads until the server closes the connection (every admin
 * answer closes it), at most timeout_ms. 0 with out filled (status 0 when the server closed
 * without answering), or -errno (-ETIMEDOUT). Free with sc_http_free.
 */
int sc_http_raw(
	const char *where, const void *req, size_t len, int timeout_ms, struct sc_http_resp *out);

/* A well-formed request: METHOD PATH HTTP/1.1, Host, Content-Length: 0, and the bearer token
 * when token is not NULL. */
int sc_http(const char *where, const char *method, const char *path, const char *token,
	int timeout_ms, struct sc_http_resp *out);

/* POST path with a JSON body (NULL: none) and the bearer token (NULL: none): as sc_http. */
int sc_http_post(const char *where, const char *token, const char *path, const char *body,
	int timeout_ms, struct sc_http_resp *out);

/* Reads what is left of an answer on fd (after the test wrote a request itself). */
int sc_http_read(int fd, int timeout_ms, struct sc_http_resp *out);

/* The value of header name (case-insensitive) into buf, or NULL. */
const char *sc_http_header(const struct sc_http_resp *r, const char *name, char *buf, size_t cap);

void sc_http_free(struct sc_http_resp *r);

/* POST /services/SERVICE/backends/BACKEND/ACTION (drain, enable): the HTTP status, or -errno. */
int sc_admin_backend(
	const char *where, const char *service, const char *backend, const char *action);

/* A new empty directory under /tmp, removed with everything in it by sc_admin_cleanup(). */
const char *sc_admin_temp_dir(void);

/*
 * What a scenario test with the admin API on both transports needs, in a new temp directory:
 * the unix socket's path (sock) and its endpoint (where, "unix:..."), a free loopback address
 * for the TCP listener (tcp), a token file holding token (mode 0600), and a path for the state
 * file. 0, or -errno.
 */
struct sc_admin_rig {
	const char *dir;
	char sock[256], where[270], tcp[64], token_path[256], state[256];
};
int sc_admin_rig_init(struct sc_admin_rig *r, const char *token);

/*
 * Runs `promtool check metrics` on text. Returns its exit status (0: valid and no lint problem)
 * with what it printed in *out (malloc'ed, may be NULL), or -errno when it could not run
 * (-ENOENT: promtool is not installed; scripts/deps.sh installs it).
 */
int sc_promtool_check(const char *text, size_t len, char **out);

/*
 * Runs anylbctl (built next to ANYLB_BIN) with the NULL-terminated arguments, bounded by
 * timeout_ms (then SIGKILL): as sc_run_anylb in harness.h. Free with sc_run_free.
 */
struct sc_run;
int sc_run_anylbctl(struct sc_run *r, int timeout_ms, ...) __attribute__((sentinel));

/* The path of that anylbctl. */
const char *sc_anylbctl_path(void);

/* ---- the binary upgrade (upgrade.c) ------------------------------------------------------ */

/* What GET /upgrade says (the fields tests read). */
struct sc_upgrade_status {
	long pid, successor, previous; /* 0 where the answer has null */
	int took_over;
	char state[32], reason[512];
};

/* GET /upgrade of whichever process answers on where: 0 with st filled, or -1. */
int sc_upgrade_status(const char *where, struct sc_upgrade_status *st);

/*
 * Waits until a process other than old answers on where and says it took over from old: its
 * pid, or -1 (printing the last answer) after timeout_ms or as soon as old says "failed".
 */
long sc_upgrade_wait_successor(const char *where, long old, int timeout_ms);

/*
 * Reaps (WNOHANG) every pid of v[0..n) not yet reaped, which the test can wait for once it is
 * their child subreaper (PR_SET_CHILD_SUBREAPER) and their parent exited: reaped[i] set and
 * status[i] as sc_lb_wait.
 */
void sc_reap_pids(const long *v, size_t n, int *status, int *reaped);

/*
 * Stops a successor the test is the child subreaper of (SIGTERM) and reaps it: 1 when it was
 * reaped within timeout_ms, 0 when not.
 */
int sc_stop_successor(long pid, int timeout_ms);

/* Removes the temp directories. Idempotent. */
void sc_admin_cleanup(void);

#endif
