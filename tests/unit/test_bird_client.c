/*
 * DOC: BIRD client tests
 *
 * Two servers. A fake BIRD: a thread serving a unix socket in a temp dir, driven by the commands
 * it receives ("split K" answers with a real capture cut in two writes at byte K, "die" closes
 * mid-reply, "hang" never answers, "big N" answers N bytes...), or by a mode that misbehaves at
 * the greeting. And a real BIRD 2.0.12 started by the test with its own config, control socket
 * and pid file in a temp dir (no kernel protocol: it touches no routing table), killed by that
 * pid at the end; skipped when bird is not installed.
 *
 * Everything is bounded: each wait runs the loop until a condition or a deadline, and each test
 * has a Criterion timeout. The server thread never calls Criterion; it only records, and the test
 * thread asserts. Suites clean up in .fini, which also runs after a failed assertion.
 */
#include "bgp/bird_client.h"
#include "bgp/bird_reply.h"
#include "lib/log.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp_path(const char *path, size_t *len)
{
	FILE *f;
	char *buf;
	long n;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static char *slurp(const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/tests/data/bird/%s", ANYLB_SOURCE_DIR, name);
	return slurp_path(path, len);
}

/* ---- the fake BIRD ---------------------------------------------------------------------- */

enum fake_mode {
	FAKE_NORMAL,        /* greeting, then commands */
	FAKE_SLOW_GREETING, /* the greeting one byte at a time, then commands */
	FAKE_SILENT,        /* accepts, never says anything */
	FAKE_BAD_GREETING,  /* accepts, says `8001 go away`, closes */
	FAKE_CLOSE,         /* accepts and closes at once */
	FAKE_IDLE_GARBAGE,  /* greeting, then an unsolicited `0000 ` line */
};

#define FAKE_MAX_ACCEPTS 64

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	int stop[2];
	pthread_t th;
	int running;
	enum fake_mode mode;
	atomic_int accepts;
	double accept_at[FAKE_MAX_ACCEPTS];
	atomic_int dies;
	double die_at[FAKE_MAX_ACCEPTS]; /* when a "die" arrived, before anything was answered */
	atomic_int commands;
	char *status; /* real captures */
	size_t status_len;
	char *protocols;
	size_t protocols_len;
};

static struct fake fk;

/* Writes all of buf unless told to stop; -1 when the peer went away. */
static int fake_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				poll(&p, 1, 100);
				continue;
			}
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fake_puts(int fd, const char *s)
{
	return fake_write(fd, s, strlen(s));
}

static void pause_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

/* Answers one command; -1 to close the connection. */
static int fake_command(int fd, const char *cmd, int *hung)
{
	unsigned long v;

	atomic_fetch_add(&fk.commands, 1);
	if (*hung)
		return 0;
	if (strcmp(cmd, "show status") == 0)
		return fake_write(fd, fk.status, fk.status_len);
	if (strcmp(cmd, "show protocols") == 0)
		return fake_write(fd, fk.protocols, fk.protocols_len);
	if (sscanf(cmd, "split %lu", &v) == 1 && v < fk.protocols_len) {
		if (fake_write(fd, fk.protocols, v) < 0)
			return -1;
		pause_ms(2);
		return fake_write(fd, fk.protocols + v, fk.protocols_len - v);
	}
	if (strcmp(cmd, "bytes") == 0) {
		for (size_t i = 0; i < fk.status_len; i++) {
			if (fake_write(fd, fk.status + i, 1) < 0)
				return -1;
			if (i % 16 == 0)
				pause_ms(1);
		}
		return 0;
	}
	if (strcmp(cmd, "async") == 0)
		return fake_puts(fd, "+before\n1000-a\n+inside\n b\n0000 c\n+after\n");
	if (strncmp(cmd, "echo ", 5) == 0) {
		char line[256];

		snprintf(line, sizeof(line), "0000 %.200s\n", cmd + 5);
		return fake_puts(fd, line);
	}
	if (strcmp(cmd, "die") == 0) {
		int i = atomic_load(&fk.dies);

		if (i < FAKE_MAX_ACCEPTS)
			fk.die_at[i] = now_s();
		atomic_store(&fk.dies, i + 1);
		fake_puts(fd, "1002-partial\n");
		return -1;
	}
	if (strcmp(cmd, "hang") == 0) {
		*hung = 1;
		return 0;
	}
	if (strcmp(cmd, "idle") == 0)
		return fake_puts(fd, "0000 ok\n0000 unsolicited\n");
	if (sscanf(cmd, "big %lu", &v) == 1) {
		char row[1001];
		size_t sent = 0;

		memset(row, 'x', sizeof(row) - 1);
		row[0] = '1';
		row[1] = '0';
		row[2] = '0';
		row[3] = '7';
		row[4] = '-';
		row[sizeof(row) - 2] = '\n';
		row[sizeof(row) - 1] = '\0';
		while (sent < v) {
			if (fake_write(fd, row, sizeof(row) - 1) < 0)
				return -1;
			sent += sizeof(row) - 1;
		}
		return fake_puts(fd, "0000 \n");
	}
	return fake_puts(fd, "9001 syntax error, unexpected CF_SYM_UNDEFINED\n");
}

/* Serves one connection until the client leaves, a command says so, or the test stops us. */
static void fake_serve(int fd)
{
	char buf[4096];
	size_t len = 0;
	int hung = 0;
	const char *greeting = "0001 BIRD 2.0.12 ready.\n";

	switch (fk.mode) {
	case FAKE_NORMAL:
		if (fake_puts(fd, greeting) < 0)
			return;
		break;
	case FAKE_SLOW_GREETING:
		for (const char *p = greeting; *p; p++) {
			if (fake_write(fd, p, 1) < 0)
				return;
			pause_ms(1);
		}
		break;
	case FAKE_SILENT:
		break;
	case FAKE_BAD_GREETING:
		fake_puts(fd, "8001 go away\n");
		return;
	case FAKE_CLOSE:
		return;
	case FAKE_IDLE_GARBAGE:
		fake_puts(fd, greeting);
		pause_ms(50);
		fake_puts(fd, "0000 \n");
		break;
	}
	for (;;) {
		struct pollfd p[2] = {
			{.fd = fd, .events = POLLIN}, {.fd = fk.stop[0], .events = POLLIN}};
		ssize_t n;
		char *nl;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[1].revents)
			return;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			size_t l = (size_t)(nl - buf);

			*nl = '\0';
			if (fake_command(fd, buf, &hung) < 0)
				return;
			memmove(buf, nl + 1, len - l - 1);
			len -= l + 1;
		}
		if (len == sizeof(buf) - 1)
			return;
	}
}

static void *fake_main(void *unused)
{
	(void)unused;
	for (;;) {
		struct pollfd p[2] = {
			{.fd = fk.lfd, .events = POLLIN}, {.fd = fk.stop[0], .events = POLLIN}};
		int fd, i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		fd = accept4(fk.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		i = atomic_fetch_add(&fk.accepts, 1);
		if (i < FAKE_MAX_ACCEPTS)
			fk.accept_at[i] = now_s();
		fake_serve(fd);
		close(fd);
	}
}

static void fake_make_dir(void)
{
	strcpy(fk.dir, "/tmp/anylb-birdc-XXXXXX");
	cr_assert_not_null(mkdtemp(fk.dir));
	snprintf(fk.path, sizeof(fk.path), "%s/bird.ctl", fk.dir);
}

static void fake_start(enum fake_mode mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	fk.mode = mode;
	fk.status = slurp("show_status.txt", &fk.status_len);
	fk.protocols = slurp("show_protocols.txt", &fk.protocols_len);
	cr_assert_not_null(fk.status);
	cr_assert_not_null(fk.protocols);
	if (fk.dir[0] == '\0')
		fake_make_dir();
	strcpy(sun.sun_path, fk.path);
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fk.lfd, 0);
	cr_assert_eq(bind(fk.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(fk.lfd, 16), 0);
	cr_assert_eq(pipe2(fk.stop, O_CLOEXEC), 0);
	cr_assert_eq(pthread_create(&fk.th, NULL, fake_main, NULL), 0);
	fk.running = 1;
}

static void fake_stop(void)
{
	if (fk.running) {
		ssize_t w = write(fk.stop[1], "x", 1);

		(void)w;
		pthread_join(fk.th, NULL);
		close(fk.stop[0]);
		close(fk.stop[1]);
		close(fk.lfd);
		unlink(fk.path);
		fk.running = 0;
	}
}

static void fake_fini(void)
{
	fake_stop();
	if (fk.dir[0] != '\0')
		rmdir(fk.dir);
	free(fk.status);
	free(fk.protocols);
}

/* ---- the client side -------------------------------------------------------------------- */

#define MAX_REPLIES 512

struct got {
	double at; /* ev_now() when the callback ran */
	int null;
	int code;
	int first_code;
	char *text;
	size_t len;
	int tag;
};

struct ctx {
	struct ev_loop *loop;
	struct bird_client *c;
	int ups;
	int downs;
	int n;
	struct got r[MAX_REPLIES];
	/* behaviours */
	int free_on_reply;
	int free_on_up;
	int chain_left;
	int in_send; /* set around bird_client_send: a callback seeing it was called synchronously
		      */
	int sync_calls;
};

static struct ctx cx;
static ev_timer tick;

static void on_state(void *arg, int up)
{
	struct ctx *x = arg;

	if (x->in_send)
		x->sync_calls++;
	if (up)
		x->ups++;
	else
		x->downs++;
	if (up && x->free_on_up) {
		bird_client_free(x->c);
		x->c = NULL;
	}
}

static int send_tag(struct ctx *x, const char *cmd, int tag);

static void on_reply(void *arg, const struct bird_reply *r)
{
	struct ctx *x = &cx;
	struct got *g;

	if (x->in_send)
		x->sync_calls++;
	cr_assert_lt(x->n, MAX_REPLIES);
	g = &x->r[x->n++];
	g->at = ev_now(x->loop);
	g->tag = (int)(intptr_t)arg;
	g->null = r == NULL;
	if (r != NULL) {
		g->code = r->code;
		g->first_code = r->first_code;
		g->len = r->len;
		g->text = malloc(r->len + 1);
		memcpy(g->text, r->text, r->len + 1);
		cr_assert_eq(strlen(r->text), r->len);
	}
	if (x->free_on_reply && x->c != NULL) {
		bird_client_free(x->c);
		x->c = NULL;
	}
	if (x->chain_left > 0 && x->c != NULL) {
		char cmd[32];

		x->chain_left--;
		snprintf(cmd, sizeof(cmd), "echo %d", x->chain_left);
		cr_assert_eq(send_tag(x, cmd, x->chain_left), 0);
	}
}

static int send_tag(struct ctx *x, const char *cmd, int tag)
{
	int rc;

	x->in_send++;
	rc = bird_client_send(x->c, cmd, on_reply, (void *)(intptr_t)tag);
	x->in_send--;
	return rc;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static void ctx_init(const char *path)
{
	memset(&cx, 0, sizeof(cx));
	cx.loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(cx.loop);
	/* Wakes ev_run(EVRUN_ONCE) so that waits can check their deadline. */
	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(cx.loop, &tick);
	cx.in_send++;
	cx.c = bird_client_new(cx.loop, path, on_state, &cx);
	cx.in_send--;
	cr_assert_not_null(cx.c);
}

static void ctx_fini(void)
{
	if (cx.c != NULL)
		bird_client_free(cx.c);
	cx.c = NULL;
	for (int i = 0; i < cx.n; i++)
		free(cx.r[i].text);
	if (cx.loop != NULL)
		ev_loop_destroy(cx.loop);
	cx.loop = NULL;
}

/*
 * The client's log lines, captured: stderr goes to a temp file from log_capture_start() on, at
 * debug level, and log_capture_stop() hands the text back (the caller frees it) after copying it
 * to the real stderr. The back-off a failed attempt announces ("retrying in 40ms") is what the
 * client computed; the tests compare it with what they expect exactly, and the wall clock only
 * with an ordering (the retry did not come before it).
 */
static int saved_stderr = -1;
static char log_path[64];

static void log_capture_start(void)
{
	strcpy(log_path, "/tmp/anylb-birdc-log-XXXXXX");
	int fd = mkstemp(log_path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	cr_assert_geq(saved_stderr, 0);
	cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
	close(fd);
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
}

static void log_capture_restore(void)
{
	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
}

static char *log_capture_stop(void)
{
	size_t len = 0;
	char *text;

	log_capture_restore();
	text = slurp_path(log_path, &len);
	unlink(log_path);
	cr_assert_not_null(text, "cannot read the captured log");
	fwrite(text, 1, len, stderr);
	return text;
}

/* The delays, in ms, of the `retrying in Nms` / `reconnecting in Nms` lines of text, in order;
 * returns how many (at most cap). */
static int announced_delays(const char *text, const char *verb, int *ms, int cap)
{
	char needle[32];
	int n = 0;

	snprintf(needle, sizeof(needle), "%s in ", verb);
	for (const char *p = strstr(text, needle); p != NULL && n < cap; p = strstr(p + 1, needle))
		ms[n++] = atoi(p + strlen(needle));
	return n;
}

static void suite_fini(void)
{
	log_capture_restore();
	if (log_path[0] != '\0')
		unlink(log_path);
	ctx_fini();
	fake_fini();
}

#define RUN_UNTIL(cond, secs)                                                                      \
	do {                                                                                       \
		double until_ = now_s() + (secs);                                                  \
		while (!(cond) && now_s() < until_)                                                \
			ev_run(cx.loop, EVRUN_ONCE);                                               \
		cr_assert(cond, "timed out waiting for " #cond);                                   \
	} while (0)

/* Runs the loop for secs, whatever happens. */
static void run_for(double secs)
{
	double until = now_s() + secs;

	while (now_s() < until)
		ev_run(cx.loop, EVRUN_ONCE);
}

static void want_text(int i, const char *text)
{
	cr_assert_not(cx.r[i].null, "reply %d is NULL", i);
	cr_assert_str_eq(cx.r[i].text, text);
}

TestSuite(bird_client, .fini = suite_fini, .timeout = 30);

Test(bird_client, greeting_then_replies)
{
	struct bird_protocol p[8];

	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	RUN_UNTIL(cx.ups == 1, 2);
	cr_assert(bird_client_connected(cx.c));
	cr_assert_eq(send_tag(&cx, "show status", 1), 0);
	cr_assert_eq(send_tag(&cx, "show protocols", 2), 0);
	cr_assert_eq(send_tag(&cx, "bogus", 3), 0);
	RUN_UNTIL(cx.n == 3, 2);
	cr_assert_eq(cx.r[0].tag, 1);
	cr_assert_eq(cx.r[0].code, 13);
	cr_assert_eq(cx.r[0].first_code, 1000);
	cr_assert(strncmp(cx.r[0].text, "BIRD 2.0.12\nRouter ID is 10.255.0.1\nHostname is vm\n",
			  50) == 0);
	cr_assert_eq(cx.r[1].code, 0);
	cr_assert_eq(cx.r[1].first_code, 2002);
	cr_assert_eq(bird_parse_protocols(cx.r[1].text, cx.r[1].len, p, 8), 3);
	cr_assert_str_eq(p[2].name, "uplink");
	cr_assert_str_eq(p[2].info, "Active");
	cr_assert_eq(cx.r[2].code, 9001);
	want_text(2, "syntax error, unexpected CF_SYM_UNDEFINED");
	cr_assert_eq(cx.downs, 0);
	cr_assert_eq(cx.sync_calls, 0);
}

/* Sent before the greeting arrived: waits for it rather than failing. */
Test(bird_client, commands_wait_for_the_attempt)
{
	fake_start(FAKE_SLOW_GREETING);
	ctx_init(fk.path);
	cr_assert_not(bird_client_connected(cx.c));
	for (int i = 0; i < 5; i++) {
		char cmd[16];

		snprintf(cmd, sizeof(cmd), "echo %d", i);
		cr_assert_eq(send_tag(&cx, cmd, i), 0);
	}
	cr_assert_eq(cx.n, 0);
	cr_assert_eq(cx.ups, 0);
	RUN_UNTIL(cx.n == 5, 2);
	for (int i = 0; i < 5; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", i);
		cr_assert_eq(cx.r[i].tag, i);
		want_text(i, want);
	}
	cr_assert_eq(cx.ups, 1);
	cr_assert_eq(cx.sync_calls, 0);
}

/* The same capture cut into two writes at every byte reads the same. */
Test(bird_client, split_at_every_byte)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	RUN_UNTIL(cx.ups == 1, 2);
	cr_assert_eq(send_tag(&cx, "show protocols", 0), 0);
	RUN_UNTIL(cx.n == 1, 2);
	for (size_t k = 1; k < fk.protocols_len; k++) {
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "split %zu", k);
		cr_assert_eq(send_tag(&cx, cmd, (int)k), 0);
		RUN_UNTIL(cx.n == (int)k + 1, 2);
		cr_assert_not(cx.r[k].null);
		cr_assert_eq(cx.r[k].len, cx.r[0].len, "cut at %zu", k);
		cr_assert_str_eq(cx.r[k].text, cx.r[0].text, "cut at %zu", k);
		cr_assert_eq(cx.r[k].first_code, 2002);
		free(cx.r[k].text);
		cx.r[k].text = NULL;
	}
	cr_assert_eq(cx.downs, 0);
}

Test(bird_client, byte_by_byte)
{
	fake_start(FAKE_SLOW_GREETING);
	ctx_init(fk.path);
	cr_assert_eq(send_tag(&cx, "show status", 0), 0);
	cr_assert_eq(send_tag(&cx, "bytes", 1), 0);
	RUN_UNTIL(cx.n == 2, 3);
	cr_assert_eq(cx.r[1].code, 13);
	want_text(1, cx.r[0].text);
}

/* `+` lines (asynchronous messages) are skipped inside a reply and between replies. */
Test(bird_client, async_lines_skipped)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	cr_assert_eq(send_tag(&cx, "async", 0), 0);
	cr_assert_eq(send_tag(&cx, "echo next", 1), 0);
	RUN_UNTIL(cx.n == 2, 2);
	want_text(0, "a\nb\nc");
	cr_assert_eq(cx.r[0].first_code, 1000);
	cr_assert_eq(cx.r[0].code, 0);
	want_text(1, "next");
	run_for(0.1); /* the `+after` that may come late */
	cr_assert_eq(cx.downs, 0);
}

/* Lost mid-reply: the command and those behind it get NULL; reconnect; go on. */
Test(bird_client, disconnect_mid_reply)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	RUN_UNTIL(cx.ups == 1, 2);
	cr_assert_eq(send_tag(&cx, "die", 0), 0);
	cr_assert_eq(send_tag(&cx, "echo 1", 1), 0);
	cr_assert_eq(send_tag(&cx, "echo 2", 2), 0);
	RUN_UNTIL(cx.n == 3, 2);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(cx.r[i].tag, i);
		cr_assert(cx.r[i].null, "reply %d not NULL", i);
	}
	cr_assert_eq(cx.downs, 1);
	cr_assert_not(bird_client_connected(cx.c));
	RUN_UNTIL(cx.ups == 2, 2);
	cr_assert_eq(send_tag(&cx, "echo 3", 3), 0);
	RUN_UNTIL(cx.n == 4, 2);
	want_text(3, "3");
	cr_assert_eq(atomic_load(&fk.accepts), 2);
}

/*
 * A BIRD that never answers: the command fails after the timeout, and the client reconnects. The
 * timeout is armed at the send, from the loop's time, so the failure is compared with that time:
 * never before it plus the timeout (an ordering that holds however late the loop runs; 1 ms of
 * room for libev's realtime ev_now() being re-synced with the clock meanwhile); the upper bound is
 * generous, against a deadline that is not armed at all.
 */
Test(bird_client, hung_server_times_out)
{
	double t0;

	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	bird_client_tune(cx.c, 0.3, 0.05, 1, 0);
	RUN_UNTIL(cx.ups == 1, 2);
	t0 = ev_now(cx.loop);
	cr_assert_eq(send_tag(&cx, "hang", 0), 0);
	cr_assert_eq(send_tag(&cx, "echo behind", 1), 0);
	RUN_UNTIL(cx.n == 2, 3);
	cr_assert(cx.r[0].null);
	cr_assert(cx.r[1].null);
	fprintf(stderr, "bird_client: timeout 300 ms, the hung command failed after %.1f ms\n",
		(cx.r[0].at - t0) * 1e3);
	cr_assert_geq(cx.r[0].at - t0, 0.3 - 1e-3, "failed %.1f ms after the send",
		(cx.r[0].at - t0) * 1e3);
	cr_assert_lt(cx.r[0].at - t0, 1.5);
	cr_assert_eq(cx.downs, 1);
	RUN_UNTIL(cx.ups == 2, 2);
	cr_assert_eq(send_tag(&cx, "echo again", 2), 0);
	RUN_UNTIL(cx.n == 3, 2);
	want_text(2, "again");
}

Test(bird_client, reply_too_big)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	RUN_UNTIL(cx.ups == 1, 2);
	/* The default bound, 1 MiB. */
	cr_assert_eq(send_tag(&cx, "big 900000", 0), 0);
	cr_assert_eq(send_tag(&cx, "big 1100000", 1), 0);
	RUN_UNTIL(cx.n == 2, 5);
	cr_assert_not(cx.r[0].null);
	cr_assert_geq(cx.r[0].len, 850000); /* 995 bytes of text per 1000 on the wire */
	cr_assert(cx.r[1].null);
	cr_assert_eq(cx.downs, 1);
	RUN_UNTIL(cx.ups == 2, 2);
	bird_client_tune(cx.c, 0, 0, 0, 4096);
	cr_assert_eq(send_tag(&cx, "big 3000", 2), 0);
	cr_assert_eq(send_tag(&cx, "big 5000", 3), 0);
	RUN_UNTIL(cx.n == 4, 2);
	cr_assert_not(cx.r[2].null);
	cr_assert(cx.r[3].null);
	cr_assert_eq(cx.downs, 2);
}

/* No greeting: no on_state(1), and the attempt is given up after the timeout and retried. */
Test(bird_client, silent_server)
{
	fake_start(FAKE_SILENT);
	ctx_init(fk.path);
	bird_client_tune(cx.c, 0.2, 0.02, 0.05, 0);
	cr_assert_eq(send_tag(&cx, "echo x", 0), 0);
	RUN_UNTIL(cx.n == 1, 2);
	cr_assert(cx.r[0].null);
	RUN_UNTIL(atomic_load(&fk.accepts) >= 2, 2);
	cr_assert_eq(cx.ups, 0);
	cr_assert_eq(cx.downs, 0);
}

Test(bird_client, bad_greeting)
{
	fake_start(FAKE_BAD_GREETING);
	ctx_init(fk.path);
	bird_client_tune(cx.c, 0, 0.01, 0.02, 0);
	RUN_UNTIL(atomic_load(&fk.accepts) >= 4, 2);
	cr_assert_eq(cx.ups, 0);
	cr_assert_eq(cx.downs, 0);
}

/* A final line nobody asked for means we lost track: drop and reconnect. */
Test(bird_client, unsolicited_line_drops)
{
	fake_start(FAKE_IDLE_GARBAGE);
	ctx_init(fk.path);
	RUN_UNTIL(cx.downs >= 1 && cx.ups >= 2, 2);
	cr_assert_eq(cx.n, 0);
}

/* The same after a reply: the reply counts, the extra line drops the connection. */
Test(bird_client, line_after_reply_drops)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	cr_assert_eq(send_tag(&cx, "idle", 0), 0);
	RUN_UNTIL(cx.n == 1 && cx.downs == 1, 2);
	want_text(0, "ok");
	RUN_UNTIL(cx.ups == 2, 2);
}

/*
 * The delay doubles from the minimum up to the maximum while attempts fail. The doubling and the
 * cap are read exactly from the delays the client announces; the clock only has to show each
 * retry after its delay, never before. An attempt is accepted, then closed by the fake: the client
 * sees the EOF, and arms the retry, after accept_at[i], so accept_at[i + 1] - accept_at[i] is at
 * least the delay on any machine. The upper bound is generous, against a retry that does not come
 * when announced; the real figure is the delay plus about a millisecond (printed), and the
 * end-to-end effect of the back-off, how soon a restarted BIRD is repaired, is measured by
 * tests/scenario/test_anycast.c (docs/BENCHMARKS.md, "site BIRD restarted").
 */
Test(bird_client, backoff_doubles)
{
	static const int want[] = {40, 80, 160, 320, 320};
	int ms[8];

	fake_start(FAKE_CLOSE);
	log_capture_start();
	ctx_init(fk.path);
	bird_client_tune(cx.c, 0, 0.04, 0.32, 0);
	RUN_UNTIL(atomic_load(&fk.accepts) >= 6, 4);
	cr_assert_eq(cx.ups, 0);
	char *text = log_capture_stop();
	int n = announced_delays(text, "retrying", ms, 8);
	free(text);
	cr_assert_geq(n, 5, "%d 'retrying in' lines for 6 attempts", n);
	for (int i = 0; i < 5; i++) {
		double gap = fk.accept_at[i + 1] - fk.accept_at[i];

		fprintf(stderr,
			"bird_client: back-off %d: announced %d ms, retried after %.1f ms\n", i,
			ms[i], gap * 1e3);
		cr_assert_eq(
			ms[i], want[i], "back-off %d announced %d ms, want %d", i, ms[i], want[i]);
		cr_assert_geq(gap, want[i] / 1e3 - 1e-6,
			"retry %d came %.1f ms after the attempt, "
			"before its %d ms back-off",
			i, gap * 1e3, want[i]);
		cr_assert_lt(gap, want[i] / 1e3 + 0.5, "retry %d came %.1f ms after the attempt", i,
			gap * 1e3);
	}
}

/*
 * A greeting resets the back-off: a BIRD that drops us once is found again at once. Exactly: every
 * loss announces the minimum delay again (without the reset: 50, 100, 200, 400 ms). The clock only
 * orders: the reconnect is accepted after the fake received "die" plus the delay, never before; the
 * upper bound is generous, as in backoff_doubles.
 */
Test(bird_client, backoff_reset_by_greeting)
{
	int ms[8];

	fake_start(FAKE_NORMAL);
	log_capture_start();
	ctx_init(fk.path);
	bird_client_tune(cx.c, 0, 0.05, 5, 0);
	for (int i = 0; i < 4; i++) {
		RUN_UNTIL(cx.ups == i + 1, 2);
		cr_assert_eq(send_tag(&cx, "die", i), 0);
		RUN_UNTIL(cx.downs == i + 1, 2);
	}
	RUN_UNTIL(cx.ups == 5, 2);
	char *text = log_capture_stop();
	int n = announced_delays(text, "reconnecting", ms, 8);
	free(text);
	cr_assert_eq(n, 4, "%d 'reconnecting in' lines for 4 losses", n);
	cr_assert_eq(atomic_load(&fk.dies), 4);
	cr_assert_eq(atomic_load(&fk.accepts), 5);
	for (int i = 0; i < 4; i++) {
		double gap = fk.accept_at[i + 1] - fk.die_at[i];

		fprintf(stderr,
			"bird_client: loss %d: announced %d ms, reconnected after %.1f ms\n", i,
			ms[i], gap * 1e3);
		cr_assert_eq(
			ms[i], 50, "loss %d announced %d ms: the back-off was not reset", i, ms[i]);
		cr_assert_geq(gap, 0.05 - 1e-6,
			"reconnect %d %.1f ms after the loss, before the back-off", i, gap * 1e3);
		cr_assert_lt(gap, 0.05 + 0.5, "reconnect %d %.1f ms after the loss", i, gap * 1e3);
	}
}

/* BIRD is not there: commands fail fast, but on a later loop iteration, never inside send. */
Test(bird_client, absent_bird_fails_fast)
{
	fake_make_dir();
	ctx_init(fk.path);
	cr_assert_not(bird_client_connected(cx.c));
	cr_assert_eq(send_tag(&cx, "show status", 0), 0);
	cr_assert_eq(send_tag(&cx, "show protocols", 1), 0);
	cr_assert_eq(cx.n, 0);
	ev_run(cx.loop, EVRUN_ONCE);
	RUN_UNTIL(cx.n == 2, 1);
	cr_assert(cx.r[0].null);
	cr_assert(cx.r[1].null);
	cr_assert_eq(cx.ups, 0);
	cr_assert_eq(cx.downs, 0);
	cr_assert_eq(cx.sync_calls, 0);
	/* And it keeps trying: BIRD appears, the client finds it. */
	bird_client_tune(cx.c, 0, 0.02, 0.05, 0);
	fake_start(FAKE_NORMAL);
	RUN_UNTIL(cx.ups == 1, 7);
}

Test(bird_client, send_refused)
{
	char lng[BIRD_CLIENT_CMD_MAX + 2];

	fake_make_dir();
	ctx_init(fk.path);
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	cr_assert_eq(send_tag(&cx, "", 0), -EINVAL);
	cr_assert_eq(send_tag(&cx, "show\nstatus", 0), -EINVAL);
	cr_assert_eq(send_tag(&cx, "show status\r", 0), -EINVAL);
	cr_assert_eq(send_tag(&cx, lng, 0), -EINVAL);
	lng[BIRD_CLIENT_CMD_MAX] = '\0';
	cr_assert_eq(send_tag(&cx, lng, 0), 0);
	for (int i = 1; i < BIRD_CLIENT_QUEUE_MAX; i++)
		cr_assert_eq(send_tag(&cx, "show status", i), 0);
	cr_assert_eq(send_tag(&cx, "show status", 999), -ENOBUFS);
	RUN_UNTIL(cx.n == BIRD_CLIENT_QUEUE_MAX, 1);
	for (int i = 0; i < cx.n; i++) {
		cr_assert(cx.r[i].null);
		cr_assert_eq(cx.r[i].tag, i);
	}
	cr_assert_eq(cx.sync_calls, 0);
}

/* Freed from a reply callback: the commands behind get NULL, nothing else runs. */
Test(bird_client, free_in_reply_callback)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	cx.free_on_reply = 1;
	cr_assert_eq(send_tag(&cx, "echo 0", 0), 0);
	cr_assert_eq(send_tag(&cx, "echo 1", 1), 0);
	cr_assert_eq(send_tag(&cx, "echo 2", 2), 0);
	RUN_UNTIL(cx.c == NULL, 2);
	cr_assert_eq(cx.n, 3);
	want_text(0, "0");
	cr_assert(cx.r[1].null);
	cr_assert(cx.r[2].null);
	run_for(0.2);
	cr_assert_eq(cx.n, 3);
	cr_assert_eq(cx.downs, 0);
}

Test(bird_client, free_in_state_callback)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	cx.free_on_up = 1;
	cr_assert_eq(send_tag(&cx, "echo 0", 0), 0);
	RUN_UNTIL(cx.c == NULL, 2);
	cr_assert_eq(cx.n, 1);
	cr_assert(cx.r[0].null);
	run_for(0.1);
	cr_assert_eq(cx.n, 1);
}

/* bird_client_free answers what is queued, during the call, as its contract says. */
Test(bird_client, free_with_pending)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	RUN_UNTIL(cx.ups == 1, 2);
	cr_assert_eq(send_tag(&cx, "hang", 0), 0);
	cr_assert_eq(send_tag(&cx, "echo 1", 1), 0);
	run_for(0.05);
	bird_client_free(cx.c);
	cx.c = NULL;
	cr_assert_eq(cx.n, 2);
	cr_assert(cx.r[0].null);
	cr_assert(cx.r[1].null);
	cr_assert_eq(cx.downs, 0);
}

/* Commands sent from reply callbacks run in order. */
Test(bird_client, send_from_callback)
{
	fake_start(FAKE_NORMAL);
	ctx_init(fk.path);
	cx.chain_left = 20;
	cr_assert_eq(send_tag(&cx, "echo start", 100), 0);
	RUN_UNTIL(cx.n == 21, 3);
	want_text(0, "start");
	for (int i = 1; i <= 20; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", 20 - i);
		want_text(i, want);
	}
}

Test(bird_client, path_too_long)
{
	char p[200];

	memset(p, 'p', sizeof(p) - 1);
	p[sizeof(p) - 1] = '\0';
	cx.loop = ev_loop_new(EVFLAG_AUTO);
	errno = 0;
	cr_assert_null(bird_client_new(cx.loop, p, NULL, NULL));
	cr_assert_eq(errno, ENAMETOOLONG);
}

/* ---- a real BIRD -------------------------------------------------------------------------- */

struct realbird {
	char dir[64];
	char conf[128];
	char sock[128];
	char pidf[128];
	char log[128];
	pid_t pid;
	int port;
};

static struct realbird rb;

static const char *bird_bin(void)
{
	static const char *const where[] = {
		"/usr/sbin/bird", "/usr/local/sbin/bird", "/usr/bin/bird"};

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		if (access(where[i], X_OK) == 0)
			return where[i];
	}
	return NULL;
}

/*
 * The config of the brief: no kernel protocol, so BIRD touches no routing table; the BGP session
 * goes nowhere (127.0.0.2) on a port of its own, so it stays in Active/Connect and does not fight
 * another BIRD over port 179.
 */
static void realbird_write_conf(void)
{
	FILE *f = fopen(rb.conf, "w");

	cr_assert_not_null(f);
	fprintf(f,
		"router id 10.255.0.1;\n"
		"log \"%s/bird.log\" all;\n"
		"protocol device {}\n"
		"protocol static anylb_web { disabled yes; ipv4; route 192.0.2.10/32 blackhole; }\n"
		"protocol bgp uplink {\n"
		"\tlocal 127.0.0.1 port %d as 65001;\n"
		"\tneighbor 127.0.0.2 port %d as 65000;\n"
		"\tmultihop;\n"
		"\tipv4 { import none; export all; next hop self; };\n"
		"}\n",
		rb.dir, rb.port, rb.port);
	fclose(f);
}

static void realbird_start(void)
{
	const char *bin = bird_bin();
	pid_t parent = getpid();

	rb.pid = fork();
	cr_assert_geq(rb.pid, 0);
	if (rb.pid == 0) {
		int fd = open(rb.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* Goes with the test if the test dies. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "-f", "-c", rb.conf, "-s", rb.sock, "-P", rb.pidf, (char *)NULL);
		_exit(127);
	}
}

/* Kills our BIRD by the pid we started, SIGTERM then SIGKILL, and reaps it. */
static void realbird_stop(void)
{
	if (rb.pid <= 0)
		return;
	kill(rb.pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(rb.pid, NULL, WNOHANG) == rb.pid) {
			rb.pid = 0;
			return;
		}
		pause_ms(10);
	}
	kill(rb.pid, SIGKILL);
	waitpid(rb.pid, NULL, 0);
	rb.pid = 0;
}

static void realbird_fini(void)
{
	char path[192];
	static const char *const files[] = {
		"bird.conf", "bird.ctl", "bird.pid", "bird.log", "stdout.log"};

	ctx_fini();
	realbird_stop();
	if (rb.dir[0] == '\0')
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", rb.dir, files[i]);
		unlink(path);
	}
	rmdir(rb.dir);
}

/*
 * A TCP port free on 127.0.0.1, below the ephemeral range so that no outgoing connection takes
 * it before BIRD binds it: BIRD's BGP listens there, and fails (state down) if it cannot.
 */
static int free_port(void)
{
	int base = 20000 + (int)(getpid() % 10000);

	for (int k = 0; k < 2000; k++) {
		int port = 20000 + (base - 20000 + k * 7) % 12000;
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok;

		cr_assert_geq(fd, 0);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	cr_assert_fail("no free port");
	return 0;
}

static void realbird_setup(void)
{
	if (bird_bin() == NULL)
		cr_skip_test("bird is not installed");
	strcpy(rb.dir, "/tmp/anylb-realbird-XXXXXX");
	cr_assert_not_null(mkdtemp(rb.dir));
	snprintf(rb.conf, sizeof(rb.conf), "%s/bird.conf", rb.dir);
	snprintf(rb.sock, sizeof(rb.sock), "%s/bird.ctl", rb.dir);
	snprintf(rb.pidf, sizeof(rb.pidf), "%s/bird.pid", rb.dir);
	snprintf(rb.log, sizeof(rb.log), "%s/stdout.log", rb.dir);
	rb.port = free_port();
	realbird_write_conf();
	realbird_start();
}

/* Sends cmd and runs the loop until its reply; returns its index in cx.r. */
static int ask(const char *cmd)
{
	int i = cx.n;

	cr_assert_eq(send_tag(&cx, cmd, i), 0);
	RUN_UNTIL(cx.n == i + 1, 5);
	cr_assert_not(cx.r[i].null, "no reply to %s", cmd);
	return i;
}

static const char *web_state(void)
{
	static struct bird_protocol p[16];
	int i = ask("show protocols");
	int n = bird_parse_protocols(cx.r[i].text, cx.r[i].len, p, 16);

	cr_assert_gt(n, 0);
	for (int k = 0; k < n && k < 16; k++) {
		if (strcmp(p[k].name, "anylb_web") == 0)
			return p[k].state;
	}
	cr_assert_fail("anylb_web missing");
	return NULL;
}

/*
 * Polls until anylb_web is in state want. A protocol going down passes through "flush" (BIRD
 * withdraws its routes first): seen between `disable` and `down` on this machine.
 */
static void wait_web_state(const char *want, double secs)
{
	double until = now_s() + secs;
	const char *st;

	while (strcmp(st = web_state(), want) != 0 && now_s() < until)
		run_for(0.02);
	cr_assert_str_eq(st, want);
}

static int web_route(void)
{
	int i = ask("show route for 192.0.2.10");

	return bird_route_present_from(cx.r[i].text, cx.r[i].len, "anylb_web", NULL);
}

TestSuite(real_bird, .fini = realbird_fini, .timeout = 30);

Test(real_bird, enable_disable_configure)
{
	struct bird_protocol p[16];
	int i, n;

	realbird_setup();
	ctx_init(rb.sock);
	RUN_UNTIL(cx.ups == 1, 5);

	i = ask("show status");
	cr_assert_eq(cx.r[i].code, 13);
	cr_assert_eq(cx.r[i].first_code, 1000);
	cr_assert(strstr(cx.r[i].text, "Daemon is up and running") != NULL);

	i = ask("show protocols");
	cr_assert_eq(cx.r[i].first_code, 2002);
	n = bird_parse_protocols(cx.r[i].text, cx.r[i].len, p, 16);
	cr_assert_eq(n, 3, "%s", cx.r[i].text);
	cr_assert_str_eq(p[1].name, "anylb_web");
	cr_assert_str_eq(p[1].state, "down");
	cr_assert_str_eq(p[2].name, "uplink");
	cr_assert_str_eq(p[2].proto, "BGP");
	cr_assert(strcmp(p[2].state, "start") == 0, "%s", cx.r[i].text);
	cr_assert(strcmp(p[2].info, "Active") == 0 || strcmp(p[2].info, "Connect") == 0 ||
			  strncmp(p[2].info, "Active ", 7) == 0,
		"BGP info %s", p[2].info);
	cr_assert_eq(web_route(), 0);

	/* Already disabled by the config: 0008, then the closing 0000. */
	i = ask("disable anylb_web");
	cr_assert_eq(cx.r[i].first_code, 8);
	cr_assert_eq(cx.r[i].code, 0);
	want_text(i, "anylb_web: already disabled");

	i = ask("enable anylb_web");
	cr_assert_eq(cx.r[i].first_code, 11);
	cr_assert_eq(cx.r[i].code, 0);
	want_text(i, "anylb_web: enabled");
	i = ask("enable anylb_web");
	cr_assert_eq(cx.r[i].first_code, 10);
	want_text(i, "anylb_web: already enabled");
	wait_web_state("up", 3);
	cr_assert_eq(web_route(), 1);

	i = ask("disable anylb_web");
	cr_assert_eq(cx.r[i].first_code, 9);
	want_text(i, "anylb_web: disabled");
	wait_web_state("down", 3);
	cr_assert_eq(web_route(), 0);

	/* configure puts back what bird.conf says: the runtime enable does not survive it. */
	i = ask("enable anylb_web");
	cr_assert_eq(cx.r[i].first_code, 11);
	wait_web_state("up", 3);
	i = ask("configure");
	cr_assert_eq(cx.r[i].first_code, 2);
	cr_assert(cx.r[i].code == 3 || cx.r[i].code == 4, "configure answered %d: %s", cx.r[i].code,
		cx.r[i].text);
	wait_web_state("down", 3);
	cr_assert_eq(web_route(), 0);

	/* Errors. */
	i = ask("enable nosuch");
	cr_assert_eq(cx.r[i].code, 9001);
	i = ask("show route for 192.0.2.99");
	cr_assert_eq(cx.r[i].code, 8001);
	want_text(i, "Network not found");
	cr_assert_eq(cx.downs, 0);
	cr_assert_eq(cx.sync_calls, 0);
}

/* BIRD killed and started again: on_state(0), then on_state(1) within the back-off. */
Test(real_bird, restart)
{
	int i;

	realbird_setup();
	ctx_init(rb.sock);
	bird_client_tune(cx.c, 0, 0.05, 0.4, 0);
	RUN_UNTIL(cx.ups == 1, 5);
	realbird_stop();
	RUN_UNTIL(cx.downs == 1, 2);
	cr_assert_not(bird_client_connected(cx.c));
	unlink(rb.sock);
	realbird_start();
	RUN_UNTIL(cx.ups == 2, 5);
	i = ask("show status");
	cr_assert_eq(cx.r[i].code, 13);
}
