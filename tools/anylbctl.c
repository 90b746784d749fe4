/*
 * DOC: anylbctl, the operator's command line
 *
 * Talks to a running anylb through its admin interface (docs/ADMIN.md): over the unix socket
 * (default /run/anylb/admin.sock, -s) or over TCP (-H HOST:PORT), where writes need the bearer
 * token of -t FILE. One request per command, HTTP/1.1 with Connection: close, written here in
 * a few lines rather than pulled in from libcurl; JSON is read with jansson.
 *
 * Exit status: 0 done; 1 anylb answered with an error (its message is printed); 2 a usage
 * mistake, or anylb could not be reached or answered something that is not the admin API.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_DEFAULT_SOCKET  "/run/anylb/admin.sock"
#define CTL_TIMEOUT_MS      30000        /* a reload may take a while */
#define CTL_MAX_ANSWER      (512u << 20) /* far above any status page */
#define CTL_TOKEN_MAX       4096
#define CTL_UPGRADE_WAIT_MS 75000 /* the successor has 60 s (lb/upgrade.h UPGRADE_TIMEOUT) */

enum { CTL_OK = 0, CTL_ERR_ANYLB = 1, CTL_ERR_USAGE = 2 };

struct ctl {
	const char *socket; /* unix socket, or NULL with host */
	const char *host;   /* HOST:PORT */
	char *token;        /* bearer token, or NULL */
};

struct answer {
	int status;
	char *body;
	size_t len;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anylbctl [-s SOCKET | -H HOST:PORT] [-t TOKEN_FILE] COMMAND [ARGS]\n"
		"\n"
		"Talks to a running anylb through its admin interface.\n"
		"\n"
		"  -s SOCKET      the admin unix socket (default " CTL_DEFAULT_SOCKET ";\n"
		"                 global.admin.socket)\n"
		"  -H HOST:PORT   the admin TCP listener instead (global.admin.listen); IPv6 as\n"
		"                 [::1]:9901\n"
		"  -t TOKEN_FILE  file holding the bearer token that writes over TCP need\n"
		"                 (global.admin.token_file); not needed on the unix socket\n"
		"  -h, --help     print this help and exit\n"
		"\n"
		"Commands:\n"
		"  status                     services, backends (state and reason, sessions, "
		"each\n"
		"                             check's last run), NAME:PORT backends and their\n"
		"                             answers, redundancy, anycast prefixes and why, BGP\n"
		"                             sessions\n"
		"  status --json              the same, as anylb's JSON (GET /status)\n"
		"  drain SERVICE BACKEND      stop sending new sessions to BACKEND (its address "
		"as\n"
		"                             written in the configuration); open ones go on\n"
		"  enable SERVICE BACKEND     undo drain\n"
		"  maint SERVICE BACKEND      maintenance: no new sessions to BACKEND, open ones\n"
		"                             go on; kept across reloads and restarts\n"
		"  ready SERVICE BACKEND      leave maintenance: its health checks decide again\n"
		"  weight SERVICE BACKEND N   balance BACKEND by weight N (0..1000; 0: no new\n"
		"                             sessions) until the file changes its weight\n"
		"  add-backend SERVICE ADDRESS [--weight N] [--zone Z]\n"
		"                             add a backend at run time, as a reload adding it\n"
		"                             would; kept across reloads and restarts until the\n"
		"                             file lists it\n"
		"  remove-backend SERVICE BACKEND\n"
		"                             remove a backend at run time: it drains (open\n"
		"                             sessions go on), then it is gone; kept while the\n"
		"                             file lists it\n"
		"  withdraw SERVICE|--all     withdraw the service's anycast prefixes, whatever "
		"its\n"
		"                             health, until announce or auto\n"
		"  announce SERVICE|--all     announce them whatever its health, until withdraw "
		"or\n"
		"                             auto\n"
		"  withdraw SERVICE --graceful [--window D]\n"
		"                             the drain ladder for one service (see drain-site)\n"
		"  auto SERVICE|--all         clear withdraw/announce: health decides again\n"
		"  drain-site [--window D]    the drain ladder for every anycast service: "
		"announced\n"
		"                             de-preferred (community 65535:0, AS path prepended)\n"
		"                             for D (default bgp.drain_window), then withdrawn,\n"
		"                             then serving forwarded sessions until they end or\n"
		"                             drain_timeout; status shows the step\n"
		"  undrain-site               end the drain ladder: announced again as health\n"
		"                             decides (announce and auto end it for one service)\n"
		"  reload                     reload the configuration file (as SIGHUP)\n"
		"  upgrade [--binary PATH]    replace the running anylb with a new process of\n"
		"                             PATH (default: the binary it was started from,\n"
		"                             read again), which takes over its listening\n"
		"                             sockets: no connection is refused, open sessions\n"
		"                             finish in the old process. Waits until the new one\n"
		"                             serves; exit 1 with the reason if it failed (the "
		"old\n"
		"                             one then goes on serving). --binary: unix socket "
		"only\n"
		"\n"
		"Exit status: 0 done; 1 anylb refused or failed (its message is printed); 2 usage\n"
		"error, or anylb could not be reached.\n");
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "anylbctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_fd(int fd, short events, int64_t deadline, const char *what)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			die(CTL_ERR_USAGE, "timed out %s", what);
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(CTL_ERR_USAGE, "poll: %s", strerror(errno));
		if (n > 0)
			return;
	}
}

static char *read_token(const char *path)
{
	char buf[CTL_TOKEN_MAX + 2];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		die(CTL_ERR_USAGE, "cannot read the token file %s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n > CTL_TOKEN_MAX)
		die(CTL_ERR_USAGE, "token file %s is too large", path);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0)
		die(CTL_ERR_USAGE, "token file %s is empty", path);
	buf[n] = '\0';
	return strdup(buf);
}

/* Splits HOST:PORT ([v6]:PORT); host and port are malloc'ed. */
static void split_host(const char *hp, char **host, char **port)
{
	const char *colon;

	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');
		if (end == NULL || end[1] != ':' || end[2] == '\0')
			die(CTL_ERR_USAGE, "-H %s: expected HOST:PORT or [IPv6]:PORT", hp);
		*host = strndup(hp + 1, (size_t)(end - hp - 1));
		*port = strdup(end + 2);
		return;
	}
	colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp || colon[1] == '\0' || strchr(hp, ':') != colon)
		die(CTL_ERR_USAGE, "-H %s: expected HOST:PORT or [IPv6]:PORT", hp);
	*host = strndup(hp, (size_t)(colon - hp));
	*port = strdup(colon + 1);
}

static int connect_nb(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -errno;
	wait_fd(fd, POLLOUT, deadline, "connecting");
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

static int open_conn(const struct ctl *c, int64_t deadline)
{
	if (c->host == NULL) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(c->socket) >= sizeof(sun.sun_path))
			die(CTL_ERR_USAGE, "socket path %s is too long", c->socket);
		strcpy(sun.sun_path, c->socket);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die(CTL_ERR_USAGE, "socket: %s", strerror(errno));
		int rc = connect_nb(fd, (struct sockaddr *)&sun, sizeof(sun), deadline);
		if (rc < 0)
			die(CTL_ERR_USAGE, "cannot connect to %s: %s%s", c->socket, strerror(-rc),
				rc == -ENOENT ? " (is anylb running? see global.admin.socket)"
				: rc == -EACCES
					? " (the socket is mode 0600: run as anylb's user or root)"
					: "");
		return fd;
	}
	char *host, *port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	split_host(c->host, &host, &port);
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		die(CTL_ERR_USAGE, "-H %s: %s", c->host, gai_strerror(gai));
	int fd = -1, last = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = -errno;
			continue;
		}
		last = connect_nb(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (last == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	free(host);
	free(port);
	if (fd < 0)
		die(CTL_ERR_USAGE, "cannot connect to %s: %s", c->host, strerror(-last));
	return fd;
}

/* Parses "HTTP/1.x NNN ...\r\nheaders\r\n\r\nbody"; the body is what follows, up to EOF. */
static void parse_answer(char *buf, size_t len, struct answer *a)
{
	char *end = NULL;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i;
			break;
		}
	}
	if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", &a->status) != 1)
		die(CTL_ERR_USAGE, "the answer is not HTTP: is this anylb's admin interface?");
	*end = '\0';
	size_t off = (size_t)(end + 4 - buf);
	size_t blen = len - off;
	/* Content-Length, when present, bounds the body (nothing follows it anyway). */
	for (char *l = strstr(buf, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0) {
			unsigned long long cl = strtoull(l + 17, NULL, 10);
			if (cl < blen)
				blen = (size_t)cl;
			else if (cl > blen)
				die(CTL_ERR_USAGE, "the answer was cut short (%zu of %llu bytes)",
					blen, cl);
		}
	}
	a->body = malloc(blen + 1);
	if (a->body == NULL)
		die(CTL_ERR_USAGE, "out of memory");
	memcpy(a->body, buf + off, blen);
	a->body[blen] = '\0';
	a->len = blen;
}

/* One request (body: NULL or JSON) and its whole answer. */
static struct answer request_body(
	const struct ctl *c, const char *method, const char *path, const char *body)
{
	int64_t deadline = now_ms() + CTL_TIMEOUT_MS;
	struct answer a = {0};
	char req[8192];
	size_t blen = body != NULL ? strlen(body) : 0;

	int n = snprintf(req, sizeof(req),
		"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anylbctl\r\nAccept: */*\r\n%s%s%s"
		"%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		method, path, c->host != NULL ? c->host : "localhost",
		c->token != NULL ? "Authorization: Bearer " : "", c->token != NULL ? c->token : "",
		c->token != NULL ? "\r\n" : "",
		body != NULL ? "Content-Type: application/json\r\n" : "", blen,
		body != NULL ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		die(CTL_ERR_USAGE, "request too long");
	int fd = open_conn(c, deadline);
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(fd, POLLOUT, deadline, "sending the request");
			continue;
		}
		if (w < 0)
			die(CTL_ERR_USAGE, "sending the request: %s", strerror(errno));
		off += (size_t)w;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	if (buf == NULL)
		die(CTL_ERR_USAGE, "out of memory");
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= CTL_MAX_ANSWER)
				die(CTL_ERR_USAGE, "the answer is too large");
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die(CTL_ERR_USAGE, "out of memory");
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EAGAIN || errno == EINTR) {
			wait_fd(fd, POLLIN, deadline, "waiting for the answer");
			continue;
		}
		if (errno == ECONNRESET && len > 0)
			break;
		die(CTL_ERR_USAGE, "reading the answer: %s", strerror(errno));
	}
	close(fd);
	buf[len] = '\0';
	parse_answer(buf, len, &a);
	free(buf);
	return a;
}

static struct answer request(const struct ctl *c, const char *method, const char *path)
{
	return request_body(c, method, path, NULL);
}

/* Percent-encodes everything but unreserved characters (RFC 3986). */
static char *encode(const char *s)
{
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		die(CTL_ERR_USAGE, "out of memory");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			ch == '~')
			*o++ = (char)ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	*o = '\0';
	return out;
}

static json_t *parse_json(const struct answer *a)
{
	json_error_t e;
	return json_loadb(a->body, a->len, 0, &e);
}

/* Prints the error of a failed answer; returns the exit status. */
static int report_error(const struct answer *a)
{
	json_t *j = parse_json(a);
	const char *msg = j != NULL ? json_string_value(json_object_get(j, "error")) : NULL;

	if (msg != NULL)
		fprintf(stderr, "anylbctl: %s (HTTP %d)\n", msg, a->status);
	else
		fprintf(stderr, "anylbctl: HTTP %d: %.*s\n", a->status, (int)a->len, a->body);
	json_decref(j);
	return a->status >= 400 && a->status < 600 ? CTL_ERR_ANYLB : CTL_ERR_USAGE;
}

/* A POST whose answer's message is printed. */
/* POST path with body (NULL: none); prints anylb's message. */
static int post_body(const struct ctl *c, const char *path, const char *body)
{
	struct answer a = request_body(c, "POST", path, body);
	int rc = CTL_OK;

	if (a.status != 200) {
		rc = report_error(&a);
	} else {
		json_t *j = parse_json(&a);
		const char *msg =
			j != NULL ? json_string_value(json_object_get(j, "message")) : NULL;
		printf("%s\n", msg != NULL ? msg : "done");
		json_decref(j);
	}
	free(a.body);
	return rc;
}

static int post(const struct ctl *c, const char *path)
{
	return post_body(c, path, NULL);
}

/* add-backend SERVICE ADDRESS [--weight N] [--zone Z] */
static int add_backend(const struct ctl *c, int nargs, char **args)
{
	json_t *j = json_pack("{s:s}", "address", args[1]);

	for (int i = 2; j != NULL && i + 1 < nargs; i += 2) {
		if (strcmp(args[i], "--weight") == 0) {
			char *end;
			long w = strtol(args[i + 1], &end, 10);
			if (end == args[i + 1] || *end != '\0')
				die(CTL_ERR_USAGE, "--weight %s: a whole number", args[i + 1]);
			json_object_set_new(j, "weight", json_integer(w));
		} else if (strcmp(args[i], "--zone") == 0) {
			json_object_set_new(j, "zone", json_string(args[i + 1]));
		} else {
			die(CTL_ERR_USAGE, "add-backend: unknown option %s", args[i]);
		}
	}
	char *body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (body == NULL)
		die(CTL_ERR_USAGE, "out of memory");
	char path[512], *s = encode(args[0]);
	snprintf(path, sizeof(path), "/services/%s/backends", s);
	free(s);
	int rc = post_body(c, path, body);
	free(body);
	return rc;
}

/* ---- status as a table ---- */

static const char *jstr(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : dflt;
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v)
				  : (long long)json_number_value(v);
}

static const char *duration(double s, char *buf, size_t cap)
{
	unsigned long long t = s > 0 ? (unsigned long long)s : 0;

	if (t < 60)
		snprintf(buf, cap, "%llus", t);
	else if (t < 3600)
		snprintf(buf, cap, "%llum%02llus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, cap, "%lluh%02llum", t / 3600, t / 60 % 60);
	else
		snprintf(buf, cap, "%llud%02lluh", t / 86400, t / 3600 % 24);
	return buf;
}

static int width(int w, const char *s)
{
	int n = (int)strlen(s);
	return n > w ? n : w;
}

/*
 * Under a backend's row, the last run of each of its checks: "readiness ok 2s ago (1.2 ms)" or
 * "readiness FAILED 1s ago (0.3 ms): connect refused"; "not run yet" before the first.
 */
static void print_checks(int wa, json_t *checks)
{
	static const char *const kinds[] = {"liveness", "readiness"};
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	char ago[32];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_t *c = json_object_get(checks, kinds[k]);
		if (!json_is_object(c))
			continue;
		printf("    %-*s  %s (%s): ", wa, "", kinds[k], jstr(c, "type", "?"));
		json_t *ok = json_object_get(c, "last_ok");
		if (!json_is_boolean(ok)) {
			printf("not run yet\n");
			continue;
		}
		int64_t at = (int64_t)jint(c, "last_run_ms");
		printf("%s %s ago (%.1f ms)", json_is_true(ok) ? "ok" : "FAILED",
			duration(
				now_ms > at ? (double)(now_ms - at) / 1000.0 : 0, ago, sizeof(ago)),
			json_number_value(json_object_get(c, "last_duration_ms")));
		if (!json_is_true(ok))
			printf(": %s", jstr(c, "last_result", "?"));
		printf("\n");
	}
}

static void print_backends(json_t *bs)
{
	int wa = 7, wz = 4, ws = 5;
	size_t i;
	json_t *b;

	json_array_foreach(bs, i, b)
	{
		wa = width(wa, jstr(b, "address", ""));
		wz = width(wz, jstr(b, "zone", "-"));
		ws = width(ws, jstr(b, "state", "?"));
	}
	printf("    %-*s  %-*s  %6s  %-*s  %6s  %9s  %6s  %s\n", wa, "BACKEND", wz, "ZONE",
		"WEIGHT", ws, "STATE", "ACTIVE", "SESSIONS", "FAILS", "REASON");
	json_array_foreach(bs, i, b)
	{
		char wbuf[32];
		json_t *rw = json_object_get(b, "runtime_weight");
		long long w = json_is_integer(rw) ? json_integer_value(rw) : jint(b, "weight");
		long long ew = jint(b, "effective_weight");
		if (ew != w)
			snprintf(wbuf, sizeof(wbuf), "%lld/%lld", ew, w);
		else
			snprintf(wbuf, sizeof(wbuf), "%lld", w);
		printf("    %-*s  %-*s  %6s  %-*s  %6lld  %9lld  %6lld  %s\n", wa,
			jstr(b, "address", ""), wz, jstr(b, "zone", "-"), wbuf, ws,
			jstr(b, "state", "?"), jint(b, "active"), jint(b, "sessions"),
			jint(b, "connect_fails"), jstr(b, "reason", ""));
		if (json_is_integer(rw))
			printf("    %-*s  runtime weight %lld (the file says %lld)\n", wa, "", w,
				jint(b, "weight"));
		if (strcmp(jstr(b, "added", "file"), "runtime") == 0)
			printf("    %-*s  added at run time (add-backend)\n", wa, "");
		if (jstr(b, "resolved_from", NULL) != NULL)
			printf("    %-*s  resolved from %s\n", wa, "",
				jstr(b, "resolved_from", ""));
		if (json_is_true(json_object_get(b, "backup")))
			printf("    %-*s  backup: takes sessions only while no other backend can\n",
				wa, "");
		print_checks(wa, json_object_get(b, "checks"));
		const char *cert = jstr(b, "cert_not_after", NULL);
		if (cert != NULL)
			printf("    %-*s  certificate valid until %s\n", wa, "", cert);
	}
}

/* The NAME:PORT entries: "  name        app1.internal:8080 -> A, B (resolved 12s ago)". */
static void print_names(json_t *names)
{
	json_t *n, *a;
	size_t i, j;

	json_array_foreach(names, i, n)
	{
		printf("  name        %s ->", jstr(n, "address", "?"));
		json_t *addrs = json_object_get(n, "addresses");
		if (json_array_size(addrs) == 0)
			printf(" no address yet");
		json_array_foreach(addrs, j, a)
			printf("%s%s", j ? ", " : " ", json_string_value(a));
		printf(" (every %lld ms", jint(n, "resolve_interval_ms"));
		if (strcmp(jstr(n, "family", "any"), "any") != 0)
			printf(", %s only", jstr(n, "family", ""));
		const char *at = jstr(n, "resolved", NULL);
		printf("; last answer %s)\n", at != NULL ? at : "never");
		if (json_is_true(json_object_get(n, "failing")))
			printf("              lookup FAILING: %s%s\n",
				jstr(n, "last_error", "not yet"),
				json_array_size(addrs) > 0 ? " (keeping the last good answer)"
							   : "");
	}
}

static void print_anycast(json_t *ac)
{
	json_t *p;
	size_t i;

	if (!json_is_true(json_object_get(ac, "enabled"))) {
		printf("  anycast     off\n");
		return;
	}
	printf("  anycast     %s:",
		json_is_true(json_object_get(ac, "announced")) ? "announced" : "withdrawn");
	json_array_foreach(json_object_get(ac, "prefixes"), i, p)
		printf("%s%s", i ? ", " : " ", json_string_value(p));
	printf("\n              why: %s", jstr(ac, "reason", "unknown"));
	const char *ov = jstr(ac, "override", "none");
	if (strcmp(ov, "none") != 0 && strncmp(jstr(ac, "reason", ""), "operator", 8) != 0)
		printf(" (operator %s in force)", ov);
	if (strcmp(jstr(ac, "state", ""), "pending") == 0)
		printf(" (announce delay %llds)", jint(ac, "delay_ms") / 1000);
	if (jint(ac, "flaps") > 0)
		printf("; %lld flaps", jint(ac, "flaps"));
	printf("\n");
	json_t *l = json_object_get(ac, "ladder");
	const char *step = jstr(l, "step", "announced");
	if (l != NULL && strcmp(step, "announced") != 0) {
		printf("              drain ladder: %s", step);
		if (strcmp(step, "depreferred") == 0 || strcmp(step, "withdrawn") == 0)
			printf(", %llds left", (jint(l, "left_ms") + 999) / 1000);
		printf(": %s\n", jstr(l, "reason", ""));
	}
}

static void print_service(json_t *s)
{
	json_t *c = json_object_get(s, "counters"), *red = json_object_get(s, "redundancy"), *l;
	size_t i;

	printf("\nservice %s  (", jstr(s, "name", "?"));
	json_array_foreach(json_object_get(s, "listen"), i, l)
		printf("%s%s", i ? ", " : "", json_string_value(l));
	printf("; %s%s)\n", strcmp(jstr(s, "protocol", "tcp"), "udp") == 0 ? "udp, " : "",
		jstr(s, "balance", "?"));
	json_t *u = json_object_get(s, "udp");
	if (u != NULL)
		printf("  flows       %lld active, %lld created, %lld evicted; datagrams %lld in, "
		       "%lld out; %lld replies missing, %lld dropped\n",
			jint(u, "flows_active"), jint(u, "flows_created"), jint(u, "flows_evicted"),
			jint(u, "datagrams_in"), jint(u, "datagrams_out"),
			jint(u, "replies_missing"), jint(u, "dropped"));
	else
		printf("  sessions    %lld active, %lld accepted, %lld refused at the limit, %lld "
		       "without "
		       "a "
		       "backend, %lld retries\n",
			jint(s, "active"), jint(c, "accepted"), jint(c, "refused_limit"),
			jint(c, "no_backend"), jint(c, "retries"));
	printf("  redundancy  %s: %lld failure domain%s with a ready backend",
		jstr(red, "text", "?"), jint(red, "domains"), jint(red, "domains") == 1 ? "" : "s");
	if (json_is_integer(json_object_get(red, "capacity")))
		printf(", capacity %lld for %lld sessions", jint(red, "capacity"),
			jint(red, "load"));
	else
		printf(", no connection limits set (capacity unknown)");
	if (json_is_true(json_object_get(red, "overloaded")))
		printf(" (cannot carry the load now)");
	printf("\n");
	if (json_is_true(json_object_get(s, "panic")))
		printf("  PANIC       fewer than %lld%% of the backends are ready: new sessions go "
		       "to "
		       "every backend that is not dead\n",
			jint(s, "panic_threshold"));
	long long denied = jint(c, "denied"), limited = jint(c, "rate_limited");
	if (denied > 0 || limited > 0)
		printf("  refused     %lld by allow/deny, %lld over rate_limit\n", denied, limited);
	json_t *q = json_object_get(s, "queue");
	if (jint(q, "length") > 0 || jint(q, "queued") > 0 || jint(q, "full") > 0)
		printf("  queue       %lld waiting (max %lld, timeout %lld ms); %lld waited, %lld "
		       "served, %lld closed full, %lld timed out\n",
			jint(q, "length"), jint(q, "max"), jint(q, "timeout_ms"), jint(q, "queued"),
			jint(q, "served"), jint(q, "full"), jint(q, "timeouts"));
	print_anycast(json_object_get(s, "anycast"));
	print_names(json_object_get(s, "names"));
	print_backends(json_object_get(s, "backends"));
}

static void print_bgp(json_t *bgp)
{
	json_t *s;
	size_t i;

	if (!json_is_true(json_object_get(bgp, "enabled")))
		return;
	printf("\nBGP (through BIRD, %s)\n", json_is_true(json_object_get(bgp, "connected"))
						     ? "control socket connected"
						     : "control socket NOT connected");
	json_t *l = json_object_get(bgp, "ladder");
	if (l != NULL) {
		const char *step = jstr(l, "step", "announced");
		printf("    drain ladder: %s", step);
		if (strcmp(step, "announced") != 0)
			printf(" (%lld of %lld services on the ladder", jint(l, "on_ladder"),
				jint(l, "services"));
		if (strcmp(step, "depreferred") == 0 || strcmp(step, "withdrawn") == 0)
			printf(", %llds left", (jint(l, "left_ms") + 999) / 1000);
		if (strcmp(step, "announced") != 0)
			printf(")");
		printf("\n");
	}
	json_t *ss = json_object_get(bgp, "sessions");
	if (json_array_size(ss) == 0) {
		printf("    no BGP session in BIRD's table\n");
		return;
	}
	int wn = 7, wst = 5;
	json_array_foreach(ss, i, s)
	{
		wn = width(wn, jstr(s, "name", ""));
		wst = width(wst, jstr(s, "state", ""));
	}
	printf("    %-*s  %-*s  %-20s  %s\n", wn, "SESSION", wst, "STATE", "SINCE", "INFO");
	json_array_foreach(ss, i, s) printf("    %-*s  %-*s  %-20s  %s\n", wn, jstr(s, "name", ""),
		wst, jstr(s, "state", ""), jstr(s, "since", ""), jstr(s, "info", ""));
}

/* One line for the flow hand-off (lb/handoff.c), unless it is off. */
static void print_flow_handoff(json_t *f)
{
	const char *state = jstr(f, "state", "off");
	json_t *p;
	size_t i;
	long long fwd = 0, decap = 0;

	if (strcmp(state, "off") == 0)
		return;
	json_array_foreach(json_object_get(f, "peers"), i, p)
	{
		fwd += jint(p, "forwarded");
		decap += jint(p, "decapsulated");
	}
	if (strcmp(state, "failed") == 0) {
		printf("\nflow hand-off: failed: %s\n", jstr(f, "reason", ""));
		return;
	}
	printf("\nflow hand-off: %s (%s), %lld forwarded, %lld decapsulated\n", state,
		jstr(f, "reason", ""), fwd, decap);
	if (json_object_get(f, "next") == NULL)
		return;
	/* The ring as the heartbeats judge it: where segments go, and who is skipped. */
	printf("  forwarding to %s", jstr(f, "next", "?"));
	int downs = 0;
	json_array_foreach(json_object_get(f, "peers"), i, p)
	{
		json_t *alive = json_object_get(p, "alive");
		if (!json_is_false(alive))
			continue;
		printf("%s%s (%s)", downs++ == 0 ? "; down: " : ", ", jstr(p, "address", "?"),
			jstr(p, "liveness", "?"));
	}
	printf("\n");
}

/* "configuration generation N", and the last reload's errors when it failed. */
static void print_reloads(json_t *r)
{
	if (!json_is_object(r))
		return;
	printf("configuration generation %lld, reloads %lld ok, %lld failed", jint(r, "generation"),
		jint(r, "ok"), jint(r, "failed"));
	if (strcmp(jstr(r, "last_result", ""), "failed") != 0) {
		printf("\n");
		return;
	}
	printf("; the last one (%s) FAILED, the previous configuration runs:\n",
		jstr(r, "last", "?"));
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(r, "last_errors"), i, e)
		printf("  %s\n", json_string_value(e));
}

static int status(const struct ctl *c, int as_json)
{
	struct answer a = request(c, "GET", "/status");
	char up[32];

	if (a.status != 200) {
		int rc = report_error(&a);
		free(a.body);
		return rc;
	}
	if (as_json) {
		fwrite(a.body, 1, a.len, stdout);
		free(a.body);
		return CTL_OK;
	}
	json_t *st = parse_json(&a);
	free(a.body);
	if (st == NULL)
		die(CTL_ERR_USAGE, "the status is not JSON");
	printf("anylb %s, site %s, up %s, %lld sessions\n", jstr(st, "version", "?"),
		jstr(st, "site", "?"),
		duration(json_number_value(json_object_get(st, "uptime")), up, sizeof(up)),
		jint(st, "active"));
	print_reloads(json_object_get(st, "reloads"));
	json_t *s;
	size_t i;
	json_array_foreach(json_object_get(st, "services"), i, s) print_service(s);
	print_bgp(json_object_get(st, "bgp"));
	print_flow_handoff(json_object_get(st, "flow_handoff"));
	json_decref(st);
	return CTL_OK;
}

/* withdraw|announce|auto for one service, or for every service with anycast (--all). */
static int override(const struct ctl *c, const char *action, const char *svc)
{
	char path[512];

	if (strcmp(svc, "--all") != 0) {
		char *e = encode(svc);
		snprintf(path, sizeof(path), "/services/%s/%s", e, action);
		free(e);
		return post(c, path);
	}
	struct answer a = request(c, "GET", "/status");
	if (a.status != 200) {
		int rc = report_error(&a);
		free(a.body);
		return rc;
	}
	json_t *st = parse_json(&a), *s;
	free(a.body);
	if (st == NULL)
		die(CTL_ERR_USAGE, "the status is not JSON");
	int rc = CTL_OK, n = 0;
	size_t i;
	json_array_foreach(json_object_get(st, "services"), i, s)
	{
		if (!json_is_true(json_object_get(json_object_get(s, "anycast"), "enabled")))
			continue;
		char *e = encode(jstr(s, "name", ""));
		snprintf(path, sizeof(path), "/services/%s/%s", e, action);
		free(e);
		int r = post(c, path);
		if (r != CTL_OK && rc == CTL_OK)
			rc = r;
		n++;
	}
	json_decref(st);
	if (n == 0) {
		fprintf(stderr, "anylbctl: no service has anycast\n");
		return CTL_ERR_ANYLB;
	}
	return rc;
}

/* drain-site|undrain-site, or withdraw SERVICE --graceful: [--window D] in args. */
static int ladder(const struct ctl *c, const char *path, int nargs, char **args)
{
	char full[512];

	if (nargs == 2 && strcmp(args[0], "--window") == 0) {
		char *w = encode(args[1]);
		snprintf(full, sizeof(full), "%s%swindow=%s", path, strchr(path, '?') ? "&" : "?",
			w);
		free(w);
		return post(c, full);
	}
	if (nargs != 0) {
		usage(stderr);
		return CTL_ERR_USAGE;
	}
	return post(c, path);
}

/*
 * POST /upgrade, then GET /upgrade until it is over: answered by the old process (handed_over
 * or failed, for this successor) or by the successor itself once it serves.
 */
static int upgrade(const struct ctl *c, const char *binary)
{
	char *body = NULL;

	if (binary != NULL) {
		json_t *j = json_pack("{s:s}", "binary", binary);
		body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (body == NULL)
			die(CTL_ERR_USAGE, "out of memory");
	}
	struct answer a = request_body(c, "POST", "/upgrade", body);
	free(body);
	if (a.status != 202) {
		int rc = report_error(&a);
		free(a.body);
		return rc;
	}
	json_t *j = parse_json(&a);
	long long old = jint(j, "pid"), succ = jint(j, "successor");
	json_decref(j);
	free(a.body);
	int64_t start = now_ms(), deadline = start + CTL_UPGRADE_WAIT_MS;
	while (now_ms() < deadline) {
		struct answer s = request(c, "GET", "/upgrade");
		json_t *st = s.status == 200 ? parse_json(&s) : NULL;
		long long pid = jint(st, "pid");
		const char *state = jstr(st, "state", "");
		int mine = jint(st, "successor") == succ;
		int done = 0, rc = CTL_OK;
		if (pid == old && mine && strcmp(state, "handed_over") == 0) {
			done = 1;
		} else if (pid == succ && json_is_true(json_object_get(st, "took_over"))) {
			done = 1;
		} else if (pid == old && mine && strcmp(state, "failed") == 0) {
			fprintf(stderr, "anylbctl: upgrade failed: %s; pid %lld goes on serving\n",
				jstr(st, "reason", "?"), old);
			done = 1;
			rc = CTL_ERR_ANYLB;
		}
		json_decref(st);
		free(s.body);
		if (done && rc == CTL_OK)
			printf("upgraded: pid %lld serves (%.1fs); pid %lld drains its sessions "
			       "and "
			       "exits\n",
				succ, (double)(now_ms() - start) / 1000.0, old);
		if (done)
			return rc;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "anylbctl: the upgrade to pid %lld did not finish within %ds\n", succ,
		CTL_UPGRADE_WAIT_MS / 1000);
	return CTL_ERR_ANYLB;
}

int main(int argc, char **argv)
{
	struct ctl c = {.socket = CTL_DEFAULT_SOCKET};
	const char *token_file = NULL;
	int opt, socket_set = 0;
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};

	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "+s:H:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c.socket = optarg;
			socket_set = 1;
			break;
		case 'H':
			c.host = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_ERR_USAGE;
		}
	}
	if (socket_set && c.host != NULL) {
		fprintf(stderr, "anylbctl: -s and -H exclude each other\n");
		return CTL_ERR_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_ERR_USAGE;
	}
	if (token_file != NULL)
		c.token = read_token(token_file);
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	int rc;

	if (strcmp(cmd, "status") == 0 && nargs == 0) {
		rc = status(&c, 0);
	} else if (strcmp(cmd, "status") == 0 && nargs == 1 && strcmp(args[0], "--json") == 0) {
		rc = status(&c, 1);
	} else if ((strcmp(cmd, "drain") == 0 || strcmp(cmd, "enable") == 0 ||
			   strcmp(cmd, "maint") == 0 || strcmp(cmd, "ready") == 0) &&
		   nargs == 2) {
		char path[1024], *s = encode(args[0]), *b = encode(args[1]);
		snprintf(path, sizeof(path), "/services/%s/backends/%s/%s", s, b, cmd);
		free(s);
		free(b);
		rc = post(&c, path);
	} else if (strcmp(cmd, "add-backend") == 0 && nargs >= 2 && nargs % 2 == 0 && nargs <= 6) {
		rc = add_backend(&c, nargs, args);
	} else if (strcmp(cmd, "remove-backend") == 0 && nargs == 2) {
		char path[1024], *s = encode(args[0]), *b = encode(args[1]);
		snprintf(path, sizeof(path), "/services/%s/backends/%s/remove", s, b);
		free(s);
		free(b);
		rc = post(&c, path);
	} else if (strcmp(cmd, "weight") == 0 && nargs == 3) {
		char path[1024], *s = encode(args[0]), *b = encode(args[1]), *n = encode(args[2]);
		snprintf(path, sizeof(path), "/services/%s/backends/%s/weight/%s", s, b, n);
		free(s);
		free(b);
		free(n);
		rc = post(&c, path);
	} else if ((strcmp(cmd, "withdraw") == 0 || strcmp(cmd, "announce") == 0 ||
			   strcmp(cmd, "auto") == 0) &&
		   nargs == 1) {
		rc = override(&c, cmd, args[0]);
	} else if (strcmp(cmd, "withdraw") == 0 && (nargs == 2 || nargs == 4) &&
		   strcmp(args[1], "--graceful") == 0) {
		char path[512], *s = encode(args[0]);
		snprintf(path, sizeof(path), "/services/%s/withdraw?graceful", s);
		free(s);
		rc = ladder(&c, path, nargs - 2, args + 2);
	} else if (strcmp(cmd, "drain-site") == 0 && (nargs == 0 || nargs == 2)) {
		rc = ladder(&c, "/drain-site", nargs, args);
	} else if (strcmp(cmd, "undrain-site") == 0 && nargs == 0) {
		rc = post(&c, "/undrain-site");
	} else if (strcmp(cmd, "reload") == 0 && nargs == 0) {
		rc = post(&c, "/reload");
	} else if (strcmp(cmd, "upgrade") == 0 && nargs == 0) {
		rc = upgrade(&c, NULL);
	} else if (strcmp(cmd, "upgrade") == 0 && nargs == 2 && strcmp(args[0], "--binary") == 0) {
		rc = upgrade(&c, args[1]);
	} else {
		fprintf(stderr, "anylbctl: unknown command or wrong arguments: %s\n", cmd);
		usage(stderr);
		rc = CTL_ERR_USAGE;
	}
	free(c.token);
	return rc;
}
