/*
 * DOC: admin interface helpers for tests
 *
 * See admin_client.h. The client reads an answer until EOF rather than by Content-Length: the
 * admin interface closes every connection after its answer, and a test wants to see that too.
 */
#include "tests/support/admin_client.h"

#include "tests/support/harness_int.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SC_ADMIN_MAX_DIRS 32
#define SC_HTTP_MAX       (512u << 20) /* an answer bigger than this is a bug */

static char *dirs[SC_ADMIN_MAX_DIRS];
static size_t ndirs;
static int registered;

void sc_admin_cleanup(void)
{
	for (size_t i = 0; i < ndirs; i++) {
		sc_rm_tree(dirs[i]);
		free(dirs[i]);
		dirs[i] = NULL;
	}
	ndirs = 0;
}

const char *sc_admin_temp_dir(void)
{
	char path[] = "/tmp/anylb-adm-XXXXXX";

	sc_harness_init();
	if (!registered) {
		registered = 1;
		atexit(sc_admin_cleanup);
	}
	if (ndirs == SC_ADMIN_MAX_DIRS || mkdtemp(path) == NULL)
		return NULL;
	dirs[ndirs] = strdup(path);
	return dirs[ndirs] != NULL ? dirs[ndirs++] : NULL;
}

int sc_admin_rig_init(struct sc_admin_rig *r, const char *token)
{
	memset(r, 0, sizeof(*r));
	r->dir = sc_admin_temp_dir();
	if (r->dir == NULL)
		return -errno;
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", r->dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	snprintf(r->token_path, sizeof(r->token_path), "%s/token", r->dir);
	snprintf(r->state, sizeof(r->state), "%s/state", r->dir);
	int fd = open(r->token_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = dprintf(fd, "%s\n", token) < 0 ? -EIO : 0;
	close(fd);
	if (rc == 0 && sc_free_addr(AF_INET, r->tcp, sizeof(r->tcp)) <= 0)
		rc = -EADDRNOTAVAIL;
	return rc;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, sc_remaining_ms(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? 0 : p.revents;
	}
}

int sc_admin_connect(const char *where, int timeout_ms)
{
	sc_harness_init();
	if (strncmp(where, "unix:", 5) != 0)
		return sc_connect(where, timeout_ms);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(where + 5) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, where + 5);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int64_t deadline = sc_now_ms() + timeout_ms;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		/* A full backlog: the server is busy; try again until the deadline. */
		if (errno != EAGAIN || sc_now_ms() >= deadline) {
			int err = errno;
			close(fd);
			return -err;
		}
		sc_sleep_ms(5);
	}
}

int sc_admin_wait(const char *where, int timeout_ms)
{
	int64_t end = sc_now_ms() + timeout_ms;
	int fd;

	while ((fd = sc_admin_connect(where, 1000)) < 0 && sc_now_ms() < end)
		sc_sleep_ms(10);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void parse_answer(char *buf, size_t len, struct sc_http_resp *out)
{
	char *end = NULL;

	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i;
			break;
		}
	}
	out->content_length = (size_t)-1;
	if (end == NULL) {
		out->head = buf;
		out->body = strdup("");
		return;
	}
	size_t hl = (size_t)(end - buf);
	out->head = malloc(hl + 1);
	out->body = malloc(len - hl - 4 + 1);
	if (out->head == NULL || out->body == NULL)
		return;
	memcpy(out->head, buf, hl);
	out->head[hl] = '\0';
	out->body_len = len - hl - 4;
	memcpy(out->body, end + 4, out->body_len);
	out->body[out->body_len] = '\0';
	free(buf);
	int st = 0;
	if (sscanf(out->head, "HTTP/1.%*d %d", &st) == 1)
		out->status = st;
	char v[32];
	if (sc_http_header(out, "Content-Length", v, sizeof(v)) != NULL)
		out->content_length = (size_t)strtoull(v, NULL, 10);
}

int sc_http_read(int fd, int timeout_ms, struct sc_http_resp *out)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);

	memset(out, 0, sizeof(*out));
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= SC_HTTP_MAX) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			int err = errno;
			free(buf);
			return -err;
		}
		int rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0 || rc == 0) {
			free(buf);
			return rc == 0 ? -ETIMEDOUT : rc;
		}
	}
	buf[len] = '\0';
	parse_answer(buf, len, out);
	return out->head != NULL && out->body != NULL ? 0 : -ENOMEM;
}

int sc_http_raw(
	const char *where, const void *req, size_t len, int timeout_ms, struct sc_http_resp *out)
{
	memset(out, 0, sizeof(*out));
	int fd = sc_admin_connect(where, timeout_ms);
	if (fd < 0)
		return fd;
	int rc = sc_send_all(fd, req, len, timeout_ms);
	/* The server may answer (and close) before it has read everything: read anyway. */
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
		close(fd);
		return rc;
	}
	rc = sc_http_read(fd, timeout_ms, out);
	close(fd);
	return rc;
}

int sc_http(const char *where, const char *method, const char *path, const char *token,
	int timeout_ms, struct sc_http_resp *out)
{
	char req[4096];
	int n = snprintf(req, sizeof(req),
		"%s %s HTTP/1.1\r\nHost: anylb\r\nUser-Agent: anylb-tests\r\n%s%s%s"
		"Content-Length: 0\r\n\r\n",
		method, path, token ? "Authorization: Bearer " : "", token ? token : "",
		token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return -EINVAL;
	return sc_http_raw(where, req, (size_t)n, timeout_ms, out);
}

int sc_http_post(const char *where, const char *token, const char *path, const char *body,
	int timeout_ms, struct sc_http_resp *out)
{
	char *req = NULL;
	size_t blen = body != NULL ? strlen(body) : 0;
	int n = asprintf(&req,
		"POST %s HTTP/1.1\r\nHost: anylb\r\nUser-Agent: anylb-tests\r\n"
		"Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n%s",
		path, blen, token != NULL ? "Authorization: Bearer " : "",
		token != NULL ? token : "", token != NULL ? "\r\n" : "", body != NULL ? body : "");
	if (n < 0)
		return -ENOMEM;
	int rc = sc_http_raw(where, req, (size_t)n, timeout_ms, out);
	free(req);
	return rc;
}

const char *sc_http_header(const struct sc_http_resp *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);

	if (r->head == NULL)
		return NULL;
	for (const char *l = strstr(r->head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		const char *f = l + 2;
		if (strncasecmp(f, name, nl) != 0 || f[nl] != ':')
			continue;
		const char *v = f + nl + 1;
		while (*v == ' ')
			v++;
		size_t vl = strcspn(v, "\r\n");
		snprintf(buf, cap, "%.*s", (int)vl, v);
		return buf;
	}
	return NULL;
}

void sc_http_free(struct sc_http_resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int sc_admin_backend(
	const char *where, const char *service, const char *backend, const char *action)
{
	char path[512];
	struct sc_http_resp h;

	snprintf(path, sizeof(path), "/services/%s/backends/%s/%s", service, backend, action);
	int rc = sc_http(where, "POST", path, NULL, 5000, &h);
	if (rc == 0)
		rc = h.status;
	sc_http_free(&h);
	return rc;
}

int sc_promtool_check(const char *text, size_t len, char **out)
{
	char in_path[] = "/tmp/anylb-prom-XXXXXX", out_path[] = "/tmp/anylb-promout-XXXXXX";
	int status = -ENOENT;

	*out = NULL;
	if (access("/usr/bin/promtool", X_OK) != 0)
		return -ENOENT;
	int in = mkstemp(in_path);
	int o = mkstemp(out_path);
	if (in < 0 || o < 0) {
		status = -errno;
		goto done;
	}
	if (write(in, text, len) != (ssize_t)len) {
		status = -EIO;
		goto done;
	}
	lseek(in, 0, SEEK_SET);
	pid_t pid = fork();
	if (pid < 0) {
		status = -errno;
		goto done;
	}
	if (pid == 0) {
		dup2(in, 0);
		dup2(o, 1);
		dup2(o, 2);
		execl("/usr/bin/promtool", "promtool", "check", "metrics", (char *)NULL);
		_exit(127);
	}
	int ws;
	int64_t deadline = sc_now_ms() + 30000;
	for (;;) {
		pid_t w = waitpid(pid, &ws, WNOHANG);
		if (w == pid)
			break;
		if (sc_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			status = -ETIMEDOUT;
			goto done;
		}
		sc_sleep_ms(10);
	}
	status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	*out = sc_read_file(out_path);
done:
	if (in >= 0) {
		close(in);
		unlink(in_path);
	}
	if (o >= 0) {
		close(o);
		unlink(out_path);
	}
	return status;
}

const char *sc_anylbctl_path(void)
{
	static char path[4096];

	if (path[0] == '\0') {
		char bin[4096];
		snprintf(bin, sizeof(bin), "%s", ANYLB_BIN);
		snprintf(path, sizeof(path), "%s/anylbctl", dirname(bin));
	}
	return path;
}

int sc_run_anylbctl(struct sc_run *r, int timeout_ms, ...)
{
	va_list ap;

	va_start(ap, timeout_ms);
	int rc = sc_run_va(r, sc_anylbctl_path(), timeout_ms, ap);
	va_end(ap);
	return rc;
}
