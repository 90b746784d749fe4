/*
 * DOC: tool processes
 *
 * The helpers of tests/tools (echo_backend, ...) run as processes of their own so that a test can
 * do to them what happens to real backends: SIGKILL, SIGSTOP, a restart on the same port. Each is
 * started with sc_spawn() (PR_SET_PDEATHSIG, nothing inherited but the environment), its stdout
 * and stderr go to one temp file the test reads with sc_tool_wait_output(), and it is registered
 * so that sc_cleanup() kills and reaps what a failed test left behind. A stopped process gets
 * SIGCONT before its SIGTERM or SIGKILL: SIGKILL alone ends it too, but a SIGTERM would wait
 * forever.
 */
#include "tests/support/harness_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ANYLB_TEST_TOOLS_DIR
#error "ANYLB_TEST_TOOLS_DIR must name the build directory of tests/tools (tests/CMakeLists.txt)"
#endif

#define MAX_TOOL 32
#define MAX_ARGS 16
#define STOP_MS  5000
#define DUMP_MAX (16 * 1024)

struct sc_tool {
	pid_t pid;
	int exited;
	int result;
	char name[64];
	const char *out;
};

static struct sc_tool *registry[MAX_TOOL];

struct sc_tool *sc_tool_start(const char *name, ...)
{
	char path[512];
	char *argv[MAX_ARGS + 2];
	struct sc_tool *t;
	size_t argc = 0, slot;
	va_list ap;
	int fd;

	sc_harness_init();
	for (slot = 0; slot < MAX_TOOL && registry[slot] != NULL; slot++)
		;
	if (slot == MAX_TOOL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", ANYLB_TEST_TOOLS_DIR, name);
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "sc_tool_start: %s is not executable: %s\n", path, strerror(errno));
		return NULL;
	}
	argv[argc++] = path;
	va_start(ap, name);
	for (;;) {
		char *a = va_arg(ap, char *);

		if (a == NULL || argc == MAX_ARGS + 1)
			break;
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->out = sc_temp_file(".out", "%s", "");
	if (t->out == NULL) {
		free(t);
		return NULL;
	}
	fd = open(t->out, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		free(t);
		return NULL;
	}
	t->pid = sc_spawn(argv, fd, fd);
	close(fd);
	if (t->pid < 0) {
		free(t);
		return NULL;
	}
	registry[slot] = t;
	return t;
}

pid_t sc_tool_pid(const struct sc_tool *t)
{
	return t->pid;
}

const char *sc_tool_output_path(const struct sc_tool *t)
{
	return t->out;
}

size_t sc_tool_output_offset(const struct sc_tool *t)
{
	return sc_file_size(t->out);
}

int sc_tool_signal(struct sc_tool *t, int sig)
{
	if (sc_tool_wait(t, 0) != -ETIMEDOUT)
		return -ESRCH;
	return kill(t->pid, sig) == 0 ? 0 : -errno;
}

static int decode(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

int sc_tool_wait(struct sc_tool *t, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	while (!t->exited) {
		int st;
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == t->pid) {
			t->exited = 1;
			t->result = decode(st);
			break;
		}
		if (r < 0 && errno != EINTR) {
			t->exited = 1;
			t->result = -errno;
			break;
		}
		if (sc_now_ms() >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(1);
	}
	return t->result;
}

int sc_tool_wait_output(
	struct sc_tool *t, size_t from, const char *needle, int timeout_ms, struct sc_log_line *out)
{
	return sc_file_wait_line(t->out, from, SC_MATCH_SUBSTR, needle, timeout_ms, out);
}

static void dump(const struct sc_tool *t)
{
	char *text = sc_read_file(t->out);
	size_t len = text != NULL ? strlen(text) : 0;

	fprintf(stderr, "----- %s pid %d output (%s) -----\n", t->name, (int)t->pid, t->out);
	if (text != NULL)
		fputs(len > DUMP_MAX ? text + len - DUMP_MAX : text, stderr);
	fprintf(stderr, "----- end of %s pid %d -----\n", t->name, (int)t->pid);
	free(text);
}

static void unregister(struct sc_tool *t)
{
	for (size_t i = 0; i < MAX_TOOL; i++) {
		if (registry[i] == t)
			registry[i] = NULL;
	}
}

static int terminate(struct sc_tool *t, int sig, int grace_ms)
{
	int rc = sc_tool_wait(t, 0);

	if (rc != -ETIMEDOUT)
		return rc;
	/*
	 * SIGCONT first (a frozen tool must run to see sig), never after sig: a SIGCONT that lands
	 * while the exiting tool's LeakSanitizer attaches to it with ptrace cancels the attach's
	 * SIGSTOP, and the sanitizer's tracer then spins forever.
	 */
	kill(t->pid, SIGCONT);
	kill(t->pid, sig);
	rc = sc_tool_wait(t, grace_ms);
	if (rc == -ETIMEDOUT) {
		kill(t->pid, SIGKILL);
		sc_tool_wait(t, 5000);
	}
	return rc;
}

int sc_tool_stop(struct sc_tool *t)
{
	int rc;

	if (t == NULL)
		return 0;
	rc = terminate(t, SIGTERM, STOP_MS);
	if (rc != 0 && rc != 128 + SIGKILL) /* a SIGKILL is what the test did, not news */
		dump(t);
	unregister(t);
	free(t);
	return rc;
}

void sc_tool_cleanup_all(void)
{
	for (size_t i = 0; i < MAX_TOOL; i++) {
		struct sc_tool *t = registry[i];

		if (t == NULL)
			continue;
		terminate(t, SIGKILL, 2000);
		unregister(t);
		free(t);
	}
}
