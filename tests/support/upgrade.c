/*
 * DOC: the binary upgrade as tests observe it (see admin_client.h)
 *
 * GET /upgrade of whichever anylb answers on an admin socket, waiting for a successor to take
 * over, and reaping the processes the test became the subreaper of. Only pids read from these
 * answers (or the caller's own) are ever waited for; nothing here signals a process.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int sc_upgrade_status(const char *where, struct sc_upgrade_status *st)
{
	struct sc_http_resp r;

	memset(st, 0, sizeof(*st));
	if (sc_http(where, "GET", "/upgrade", NULL, 5000, &r) < 0)
		return -1;
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	sc_http_free(&r);
	if (j == NULL)
		return -1;
	st->pid = (long)json_integer_value(json_object_get(j, "pid"));
	st->successor = (long)json_integer_value(json_object_get(j, "successor"));
	st->previous = (long)json_integer_value(json_object_get(j, "previous"));
	st->took_over = json_is_true(json_object_get(j, "took_over"));
	snprintf(
		st->state, sizeof(st->state), "%s", json_string_value(json_object_get(j, "state")));
	const char *why = json_string_value(json_object_get(j, "reason"));
	snprintf(st->reason, sizeof(st->reason), "%s", why != NULL ? why : "");
	json_decref(j);
	return 0;
}

long sc_upgrade_wait_successor(const char *where, long old, int timeout_ms)
{
	int64_t end = sc_now_ms() + timeout_ms;
	struct sc_upgrade_status st;

	while (sc_now_ms() < end) {
		int rc = sc_upgrade_status(where, &st);
		if (rc == 0 && st.pid != old && st.took_over && st.previous == old)
			return st.pid;
		if (rc == 0 && st.pid == old && strcmp(st.state, "failed") == 0)
			break;
		sc_sleep_ms(20);
	}
	fprintf(stderr,
		"upgrade: no successor of %ld: last answer pid %ld state %s previous %ld "
		"took_over %d reason %s\n",
		old, st.pid, st.state, st.previous, st.took_over, st.reason);
	return -1;
}

void sc_reap_pids(const long *v, size_t n, int *status, int *reaped)
{
	for (size_t i = 0; i < n; i++) {
		int st;
		if (reaped[i] || v[i] <= 0)
			continue;
		if (waitpid((pid_t)v[i], &st, WNOHANG) == (pid_t)v[i]) {
			reaped[i] = 1;
			status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
	}
}

int sc_stop_successor(long pid, int timeout_ms)
{
	int64_t end = sc_now_ms() + timeout_ms;

	kill((pid_t)pid, SIGTERM);
	while (waitpid((pid_t)pid, NULL, WNOHANG) != (pid_t)pid) {
		if (sc_now_ms() >= end)
			return 0;
		sc_sleep_ms(50);
	}
	return 1;
}
