/*
 * DOC: running anylb
 *
 * The real binary (ANYLB_BIN, set by CMake) is started with fork/exec from the test's main
 * thread. The child gets PR_SET_PDEATHSIG(SIGKILL), so a test process killed by Criterion's
 * timeout takes its anylb with it; it gets /dev/null as stdin, a temp log as stdout and stderr,
 * no other inherited fd (Criterion's reporting pipes included: an anylb holding them would keep
 * the runner waiting), default signal dispositions and an empty signal mask. The environment is
 * inherited on purpose: the test script sets ASAN_OPTIONS / UBSAN_OPTIONS there; sc_lb_opts.env
 * adds to it (built before the fork, passed to execve).
 *
 * Between fork and exec the child only makes async-signal-safe calls: the test process has
 * backend threads, and anything that takes a lock could deadlock in the child. (setrlimit(2) is
 * not on POSIX's list, but glibc's is a bare prlimit64 system call that takes no lock.)
 *
 * Only pids started here are ever signalled, and each is reaped exactly once.
 */
#include "tests/support/harness_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ANYLB_BIN
#error "ANYLB_BIN must name the anylb binary (set by tests/CMakeLists.txt)"
#endif

#define MAX_LB     16
#define MAX_LISTEN 32
#define START_MS   5000
#define STOP_MS    10000
#define DUMP_MAX   (64 * 1024)

struct sc_lb {
	pid_t pid;
	int exited;
	int result; /* as sc_lb_wait, once exited */
	const char *config;
	const char *log;
};

static struct sc_lb *registry[MAX_LB];

/* Async-signal-safe from here to exec. */
static void child_exec(pid_t parent, char *const argv[], char *const envp[], int outfd, int errfd,
	rlim_t nofile, const char *bind_src, const char *bind_dst)
{
	sigset_t all;
	int devnull;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
	/* A mount namespace of its own, private, so that the bind is seen by this child only. */
	if (bind_src != NULL && (unshare(CLONE_NEWNS) != 0 ||
					mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
					mount(bind_src, bind_dst, NULL, MS_BIND, NULL) != 0))
		_exit(127);
	if (nofile != 0) {
		struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};

		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(127);
	}
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(outfd, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	close_range(3, ~0u, 0);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execve(argv[0], argv, envp != NULL ? envp : environ);
	_exit(127);
}

static pid_t spawn(char *const argv[], char *const envp[], int outfd, int errfd, rlim_t nofile,
	const char *bind_src, const char *bind_dst)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		child_exec(parent, argv, envp, outfd, errfd, nofile, bind_src, bind_dst);
	return pid < 0 ? -errno : pid;
}

pid_t sc_spawn(char *const argv[], int outfd, int errfd)
{
	return spawn(argv, NULL, outfd, errfd, 0, NULL, NULL);
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

/* Waits for pid up to timeout_ms: as sc_lb_wait. */
static int wait_pid(pid_t pid, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return decode_status(st);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (sc_now_ms() >= deadline)
			return -ETIMEDOUT;
		sc_sleep_ms(5);
	}
}

/* ---- readiness: LISTEN sockets in /proc/net/tcp{,6} ------------------------------------------ */

/* Parses the `listen: [...]` flow lists of a config text into addresses. Returns how many. */
static size_t listen_addrs(const char *text, char out[][SC_ADDRSTRLEN], size_t max)
{
	size_t n = 0;
	const char *p = text;

	while ((p = strstr(p, "listen:")) != NULL) {
		p += strlen("listen:");
		while (*p == ' ')
			p++;
		if (*p != '[')
			continue;
		p++;
		while (*p != '\0' && *p != ']' && *p != '\n') {
			const char *start, *end;

			while (*p == ' ' || *p == ',')
				p++;
			if (*p == ']' || *p == '\0' || *p == '\n')
				break;
			if (*p == '"' || *p == '\'') {
				char q = *p++;

				start = p;
				end = strchr(p, q);
				if (end == NULL)
					return n;
				p = end + 1;
			} else {
				start = p;
				while (*p != '\0' && *p != ',' && *p != ']' && *p != ' ' &&
					*p != '\n')
					p++;
				end = p;
			}
			if (n < max && (size_t)(end - start) < SC_ADDRSTRLEN) {
				memcpy(out[n], start, (size_t)(end - start));
				out[n][end - start] = '\0';
				n++;
			}
		}
	}
	return n;
}

/* Non-zero when some socket in this network namespace listens on exactly ss. */
static int is_listening(const struct sockaddr_storage *ss)
{
	int v6 = ss->ss_family == AF_INET6;
	FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "re");
	char line[512];
	int found = 0;

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL) { /* header */
		fclose(f);
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char hex[40];
		unsigned port, state;
		uint8_t ip[16];

		if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", hex, &port,
			    &state) != 3)
			continue;
		if (state != 0x0A) /* TCP_LISTEN */
			continue;
		/* The kernel prints each 32-bit word of the address as the host-order value of its
		 * in-memory bytes; reading it back the same way restores the bytes. */
		for (size_t w = 0; w < (v6 ? 4u : 1u); w++) {
			char word[9];
			uint32_t v;

			memcpy(word, hex + 8 * w, 8);
			word[8] = '\0';
			v = (uint32_t)strtoul(word, NULL, 16);
			memcpy(ip + 4 * w, &v, 4);
		}
		if (v6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

			found = port == ntohs(s6->sin6_port) && strlen(hex) == 32 &&
				memcmp(ip, &s6->sin6_addr, 16) == 0;
		} else {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

			found = port == ntohs(s4->sin_port) && strlen(hex) == 8 &&
				memcmp(ip, &s4->sin_addr, 4) == 0;
		}
	}
	fclose(f);
	return found;
}

/* ---- anylb processes ------------------------------------------------------------------------- */

static void print_tail(const char *title, const char *path)
{
	char *text = sc_read_file(path);
	size_t len;

	fprintf(stderr, "----- %s (%s) -----\n", title, path);
	if (text == NULL) {
		fprintf(stderr, "(unreadable: %s)\n", strerror(errno));
	} else {
		len = strlen(text);
		if (len > DUMP_MAX)
			fprintf(stderr, "[... %zu bytes cut ...]\n", len - DUMP_MAX);
		fputs(len > DUMP_MAX ? text + len - DUMP_MAX : text, stderr);
		if (len > 0 && text[len - 1] != '\n')
			fputc('\n', stderr);
	}
	free(text);
}

void sc_lb_dump_log(const struct sc_lb *lb)
{
	fprintf(stderr, "===== anylb pid %d =====\n", (int)lb->pid);
	print_tail("config", lb->config);
	print_tail("log", lb->log);
	fprintf(stderr, "===== end of anylb pid %d =====\n", (int)lb->pid);
}

static void lb_free(struct sc_lb *lb)
{
	for (size_t i = 0; i < MAX_LB; i++) {
		if (registry[i] == lb)
			registry[i] = NULL;
	}
	free(lb);
}

/*
 * The test's environment with every "NAME=VALUE" of extra set (replacing NAME if present), for
 * execve: built before fork, since the child may not allocate. NULL when extra is NULL (the
 * child then inherits environ as it is) or on allocation failure (*failed set).
 */
static char **env_with(const char *const *extra, int *failed)
{
	size_t n = 0, k = 0, o = 0;
	char **env;

	*failed = 0;
	if (extra == NULL)
		return NULL;
	while (environ[n] != NULL)
		n++;
	while (extra[k] != NULL)
		k++;
	env = calloc(n + k + 1, sizeof(*env));
	if (env == NULL) {
		*failed = 1;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int replaced = 0;
		for (size_t j = 0; j < k && !replaced; j++) {
			size_t len = strcspn(extra[j], "=");
			replaced =
				strncmp(environ[i], extra[j], len) == 0 && environ[i][len] == '=';
		}
		if (!replaced)
			env[o++] = environ[i];
	}
	for (size_t j = 0; j < k; j++)
		env[o++] = (char *)extra[j];
	return env;
}

/*
 * Whether pid has a handler for SIGTERM yet (SigCgt in /proc/PID/status). anylb listens before
 * its loop takes the signals, so a SIGTERM sent as soon as it listens could still kill it.
 */
static int catches_sigterm(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "SigCgt: %llx", &mask) == 1;
	fclose(f);
	return found && (mask >> (SIGTERM - 1)) & 1;
}

static struct sc_lb *lb_vstart(const struct sc_lb_opts *o, const char *fmt, va_list ap)
{
	char addrs[MAX_LISTEN][SC_ADDRSTRLEN];
	struct sockaddr_storage ss[MAX_LISTEN];
	struct sc_lb_opts opts = {0};
	struct sc_lb *lb;
	char *text = NULL;
	size_t naddr, slot;
	int64_t deadline;
	int logfd, len;

	if (o != NULL)
		opts = *o;

	sc_harness_init();
	if (access(ANYLB_BIN, X_OK) != 0) {
		fprintf(stderr, "sc_lb_start: %s is not executable: %s\n", ANYLB_BIN,
			strerror(errno));
		return NULL;
	}
	for (slot = 0; slot < MAX_LB && registry[slot] != NULL; slot++)
		;
	if (slot == MAX_LB)
		return NULL;
	len = vasprintf(&text, fmt, ap);
	if (len < 0)
		return NULL;
	naddr = listen_addrs(text, addrs, MAX_LISTEN);
	for (size_t i = 0; i < naddr; i++) {
		socklen_t sl;

		if (sc_addr_parse(addrs[i], &ss[i], &sl) != 0) {
			fprintf(stderr, "sc_lb_start: cannot parse listen address '%s'\n",
				addrs[i]);
			free(text);
			return NULL;
		}
	}
	lb = calloc(1, sizeof(*lb));
	if (lb == NULL) {
		free(text);
		return NULL;
	}
	lb->config = sc_temp_file(".yaml", "%s", text);
	free(text);
	lb->log = sc_temp_file(".log", "%s", "");
	if (lb->config == NULL || lb->log == NULL) {
		free(lb);
		return NULL;
	}
	logfd = open(lb->log, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (logfd < 0) {
		free(lb);
		return NULL;
	}
	{
		char *argv[] = {(char *)ANYLB_BIN, (char *)"-c", (char *)lb->config, NULL};
		int failed;
		char **env = env_with(opts.env, &failed);

		lb->pid = failed ? -ENOMEM
				 : spawn(argv, env, logfd, logfd, (rlim_t)opts.nofile,
					   opts.bind_src, opts.bind_dst);
		free(env);
	}
	close(logfd);
	if (lb->pid < 0) {
		free(lb);
		return NULL;
	}
	registry[slot] = lb;

	deadline = sc_now_ms() + START_MS;
	for (size_t i = 0; i < naddr;) {
		int rc = sc_lb_wait(lb, 0);

		if (rc != -ETIMEDOUT) {
			fprintf(stderr,
				"sc_lb_start: anylb exited with %d before listening on %s\n", rc,
				addrs[i]);
			sc_lb_dump_log(lb);
			lb_free(lb);
			return NULL;
		}
		if (is_listening(&ss[i])) {
			i++;
			continue;
		}
		if (sc_now_ms() >= deadline) {
			fprintf(stderr, "sc_lb_start: %s not listening after %d ms\n", addrs[i],
				START_MS);
			sc_lb_dump_log(lb);
			sc_lb_stop(lb);
			return NULL;
		}
		sc_sleep_ms(10);
	}
	while (!catches_sigterm(lb->pid)) {
		int rc = sc_lb_wait(lb, 0);

		if (rc != -ETIMEDOUT) {
			fprintf(stderr,
				"sc_lb_start: anylb exited with %d before it took signals\n", rc);
			sc_lb_dump_log(lb);
			lb_free(lb);
			return NULL;
		}
		if (sc_now_ms() >= deadline) {
			fprintf(stderr, "sc_lb_start: no SIGTERM handler after %d ms\n", START_MS);
			sc_lb_dump_log(lb);
			sc_lb_stop(lb);
			return NULL;
		}
		sc_sleep_ms(5);
	}
	return lb;
}

struct sc_lb *sc_lb_start(const char *fmt, ...)
{
	struct sc_lb *lb;
	va_list ap;

	va_start(ap, fmt);
	lb = lb_vstart(NULL, fmt, ap);
	va_end(ap);
	return lb;
}

struct sc_lb *sc_lb_start_opts(const struct sc_lb_opts *opts, const char *fmt, ...)
{
	struct sc_lb *lb;
	va_list ap;

	va_start(ap, fmt);
	lb = lb_vstart(opts, fmt, ap);
	va_end(ap);
	return lb;
}

pid_t sc_lb_pid(const struct sc_lb *lb)
{
	return lb->pid;
}

const char *sc_lb_config_path(const struct sc_lb *lb)
{
	return lb->config;
}

const char *sc_lb_log_path(const struct sc_lb *lb)
{
	return lb->log;
}

int sc_lb_set_nofile(struct sc_lb *lb, unsigned long nofile)
{
	struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};

	if (lb->exited)
		return -ESRCH;
	return prlimit(lb->pid, RLIMIT_NOFILE, &rl, NULL) == 0 ? 0 : -errno;
}

int sc_lb_signal(struct sc_lb *lb, int sig)
{
	if (lb->exited)
		return -ESRCH;
	return kill(lb->pid, sig) == 0 ? 0 : -errno;
}

int sc_lb_wait(struct sc_lb *lb, int timeout_ms)
{
	int rc;

	if (lb->exited)
		return lb->result;
	rc = wait_pid(lb->pid, timeout_ms);
	if (rc == -ETIMEDOUT)
		return rc;
	lb->exited = 1;
	lb->result = rc;
	return rc;
}

static int lb_terminate(struct sc_lb *lb, int grace_ms)
{
	int rc = sc_lb_wait(lb, 0);

	if (rc != -ETIMEDOUT)
		return rc;
	kill(lb->pid, SIGTERM);
	rc = sc_lb_wait(lb, grace_ms);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "anylb pid %d still running %d ms after SIGTERM: SIGKILL\n",
			(int)lb->pid, grace_ms);
		kill(lb->pid, SIGKILL);
		sc_lb_wait(lb, 5000);
		rc = -ETIMEDOUT;
	}
	return rc;
}

int sc_lb_stop(struct sc_lb *lb)
{
	int rc = lb_terminate(lb, STOP_MS);

	if (rc != 0) {
		fprintf(stderr, "anylb pid %d ended with %d (%s)\n", (int)lb->pid, rc,
			rc == -ETIMEDOUT ? "did not exit after SIGTERM"
			: rc > 128       ? strsignal(rc - 128)
					 : "exit code");
		sc_lb_dump_log(lb);
	}
	lb_free(lb);
	return rc;
}

void sc_lb_cleanup_all(void)
{
	for (size_t i = 0; i < MAX_LB; i++) {
		struct sc_lb *lb = registry[i];

		if (lb == NULL)
			continue;
		if (sc_lb_wait(lb, 0) == -ETIMEDOUT)
			fprintf(stderr,
				"cleanup: anylb pid %d was still running (the test did not "
				"stop it)\n",
				(int)lb->pid);
		sc_lb_dump_log(lb);
		lb_terminate(lb, 2000);
		lb_free(lb);
	}
}

int sc_lb_fd_count(const struct sc_lb *lb, const char *kind)
{
	return sc_pid_fd_count(lb->pid, kind);
}

int sc_lb_wait_fd_count(const struct sc_lb *lb, const char *kind, int want, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = sc_lb_fd_count(lb, kind);
		if (n == want || sc_now_ms() >= deadline)
			return n;
		sc_sleep_ms(20);
	}
}

int sc_lb_settle_fd_count(const struct sc_lb *lb, const char *kind, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	int64_t since = sc_now_ms();
	int last = sc_lb_fd_count(lb, kind);

	while (sc_now_ms() < deadline) {
		int n;

		sc_sleep_ms(20);
		n = sc_lb_fd_count(lb, kind);
		if (n != last) {
			last = n;
			since = sc_now_ms();
		} else if (sc_now_ms() - since >= 200) {
			break;
		}
	}
	return last;
}

int sc_lb_log_contains(const struct sc_lb *lb, const char *needle)
{
	char *text = sc_read_file(lb->log);
	int found = text != NULL && strstr(text, needle) != NULL;

	free(text);
	return found;
}

/* ---- anylb as a command-line tool ------------------------------------------------------------ */

int sc_run_va(struct sc_run *r, const char *prog, int timeout_ms, va_list ap)
{
	char *argv[32];
	const char *out_path, *err_path;
	size_t argc = 0;
	int outfd, errfd;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	sc_harness_init();
	argv[argc++] = (char *)prog;
	for (;;) {
		char *a = va_arg(ap, char *);

		if (a == NULL || argc == 31)
			break;
		argv[argc++] = a;
	}
	argv[argc] = NULL;

	out_path = sc_temp_file(".out", "%s", "");
	err_path = sc_temp_file(".err", "%s", "");
	if (out_path == NULL || err_path == NULL)
		return -EIO;
	outfd = open(out_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	errfd = open(err_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (outfd < 0 || errfd < 0) {
		if (outfd >= 0)
			close(outfd);
		if (errfd >= 0)
			close(errfd);
		return -EIO;
	}
	pid = spawn(argv, NULL, outfd, errfd, 0, NULL, NULL);
	close(outfd);
	close(errfd);
	if (pid < 0)
		return (int)pid;
	r->status = wait_pid(pid, timeout_ms);
	if (r->status == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		wait_pid(pid, 5000);
	}
	r->out = sc_read_file(out_path);
	r->err = sc_read_file(err_path);
	/* Read whole: a test may run many commands. */
	sc_temp_release(out_path);
	sc_temp_release(err_path);
	if (r->out == NULL || r->err == NULL) {
		sc_run_free(r);
		return -EIO;
	}
	return 0;
}

int sc_run_anylb(struct sc_run *r, int timeout_ms, ...)
{
	va_list ap;

	va_start(ap, timeout_ms);
	int rc = sc_run_va(r, ANYLB_BIN, timeout_ms, ap);
	va_end(ap);
	return rc;
}

void sc_run_free(struct sc_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
