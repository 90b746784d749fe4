/*
 * DOC: log streams: stderr, a file, syslog
 *
 * A stream holds at most two descriptors of its own, made once and then only ever replaced with
 * dup2(2): the file's (so a reopen or a new path swaps the file under writers that are using
 * it) and the syslog socket's. The target and format are atomics that writers read per line.
 * Lines are formatted on the stack (lib/log_format.c) and written with one write(2) or one
 * send(2); a syslog datagram that cannot go at once (socket full, daemon gone) is dropped and
 * counted, never waited for: a worker never blocks on logging.
 */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048

struct log_stream {
	_Atomic int target, format, facility;
	_Atomic int journald; /* stderr is the journal's stream: prefix the priority */
	_Atomic int file_fd;  /* -1 until a file was opened */
	_Atomic int sock_fd;  /* -1 until a syslog socket was made */
	_Atomic uint64_t dropped;
	pthread_mutex_t lock; /* set and reopen (the main thread's, but tests call from others) */
	char path[4096];      /* the file, for reopen */
	struct sockaddr_un sun;
	socklen_t sun_len;
};

static struct log_stream main_stream = {
	.target = LOG_TARGET_STDERR,
	.format = LOG_FORMAT_TEXT,
	.facility = 3,
	.journald = -1, /* not looked at yet */
	.file_fd = -1,
	.sock_fd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};
static _Atomic int main_level = LOG_LEVEL_INFO;

/* Does JOURNAL_STREAM ("DEV:INO") name our stderr? Then systemd's journal reads it. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

struct log_stream *log_stream_new(void)
{
	struct log_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	atomic_init(&s->target, LOG_TARGET_STDERR);
	atomic_init(&s->format, LOG_FORMAT_TEXT);
	atomic_init(&s->facility, 3);
	atomic_init(&s->journald, stderr_is_journal());
	atomic_init(&s->file_fd, -1);
	atomic_init(&s->sock_fd, -1);
	return s;
}

void log_stream_free(struct log_stream *s)
{
	if (s == NULL || s == &main_stream)
		return;
	int fd = atomic_load(&s->file_fd);
	if (fd >= 0)
		close(fd);
	fd = atomic_load(&s->sock_fd);
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Puts fd where *slot's descriptor is (dup2), or makes it the slot's own; closes fd. */
static int install(_Atomic int *slot, int fd, char *why, size_t cap, const char *what)
{
	int cur = atomic_load(slot);

	if (cur < 0) {
		atomic_store(slot, fd);
		return 0;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		int e = errno;
		snprintf(why, cap, "%s: dup3: %s", what, strerror(e));
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

static int open_file(struct log_stream *s, const char *path, char *why, size_t cap)
{
	int fd =
		open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);

	if (fd < 0) {
		int e = errno;
		snprintf(why, cap, "cannot open the log file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, cap, "the log file %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	return install(&s->file_fd, fd, why, cap, path);
}

static int open_socket(struct log_stream *s, const char *path, char *why, size_t cap)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, cap, "the syslog socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(why, cap, "syslog socket: %s", strerror(e));
		return -e;
	}
	/* Not connected: each line is sent to the path, so a restarted daemon is found again. */
	int rc = install(&s->sock_fd, fd, why, cap, path);
	if (rc == 0) {
		s->sun = sun;
		s->sun_len = (socklen_t)sizeof(sun);
	}
	return rc;
}

int log_stream_set(struct log_stream *s, const struct log_dest *d, char *why, size_t cap)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (d->target == LOG_TARGET_FILE) {
		if (d->path == NULL || d->path[0] == '\0') {
			snprintf(why, cap, "a file target needs a path");
			rc = -EINVAL;
		} else if (strlen(d->path) >= sizeof(s->path)) {
			snprintf(why, cap, "the log file path is too long");
			rc = -ENAMETOOLONG;
		} else if ((rc = open_file(s, d->path, why, cap)) == 0) {
			memcpy(s->path, d->path, strlen(d->path) + 1);
		}
	} else if (d->target == LOG_TARGET_SYSLOG) {
		rc = open_socket(s, d->path != NULL ? d->path : LOG_SYSLOG_SOCKET, why, cap);
	}
	if (rc == 0) {
		atomic_store(&s->format, (int)d->format);
		atomic_store(&s->facility, d->facility);
		atomic_store(&s->journald, d->target == LOG_TARGET_STDERR && stderr_is_journal());
		atomic_store(&s->target, (int)d->target);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int log_stream_reopen(struct log_stream *s, char *why, size_t cap)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->target) == LOG_TARGET_FILE)
		rc = open_file(s, s->path, why, cap);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

enum log_format log_stream_format(const struct log_stream *s)
{
	return (enum log_format)atomic_load_explicit(&s->format, memory_order_relaxed);
}

uint64_t log_stream_dropped(const struct log_stream *s)
{
	return atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

/* syslog(3)'s numbers: error 3, warning 4, info 6, debug 7. */
static int priority(enum log_level level)
{
	static const int prio[] = {7, 6, 4, 3};
	return prio[(unsigned)level < 4 ? level : LOG_LEVEL_ERROR];
}

static void send_syslog(struct log_stream *s, enum log_level level, const char *line, size_t len)
{
	char dgram[LINE_MAX_BYTES + 64], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd = atomic_load_explicit(&s->sock_fd, memory_order_relaxed);

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	/* RFC 3164: <PRI>TIMESTAMP TAG: MSG, without the line's own '\n'. */
	int n = snprintf(dgram, sizeof(dgram), "<%d>%s anylb[%ld]: %.*s",
		atomic_load_explicit(&s->facility, memory_order_relaxed) * 8 + priority(level),
		stamp, (long)getpid(), (int)(len > 0 ? len - 1 : 0), line);
	if (n < 0 || fd < 0 ||
		sendto(fd, dgram, (size_t)n < sizeof(dgram) ? (size_t)n : sizeof(dgram) - 1,
			MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&s->sun,
			s->sun_len) < 0)
		atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
}

void log_stream_write(struct log_stream *s, enum log_level level, const char *event,
	const struct log_field *f, size_t n, const char *msg)
{
	int saved = errno;
	char line[LINE_MAX_BYTES + 4];
	int target = atomic_load_explicit(&s->target, memory_order_relaxed);
	enum log_format fmt =
		(enum log_format)atomic_load_explicit(&s->format, memory_order_relaxed);
	size_t off = 0;

	if (target == LOG_TARGET_STDERR &&
		atomic_load_explicit(&s->journald, memory_order_relaxed) == 1) {
		line[0] = '<';
		line[1] = (char)('0' + priority(level));
		line[2] = '>';
		off = 3;
	}
	size_t len =
		off + log_format_line(line + off, sizeof(line) - off, fmt, level, event, f, n, msg);
	if (target == LOG_TARGET_SYSLOG) {
		send_syslog(s, level, line, len);
	} else {
		int fd = target == LOG_TARGET_FILE
				 ? atomic_load_explicit(&s->file_fd, memory_order_relaxed)
				 : STDERR_FILENO;
		if (fd < 0 || write(fd, line, len) != (ssize_t)len)
			atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
	}
	errno = saved;
}

/* ---- the main log ---- */

struct log_stream *log_main(void)
{
	int expected = -1;

	/* Whether stderr is the journal is looked at once, on the first use. */
	atomic_compare_exchange_strong(&main_stream.journald, &expected, stderr_is_journal());
	return &main_stream;
}

void log_setup(enum log_level level, enum log_format format)
{
	atomic_store(&main_level, (int)level);
	atomic_store(&main_stream.format, (int)format);
}

int log_configure(enum log_level level, const struct log_dest *d, char *why, size_t cap)
{
	int rc = log_stream_set(log_main(), d, why, cap);

	if (rc == 0)
		atomic_store(&main_level, (int)level);
	return rc;
}

int log_reopen(char *why, size_t cap)
{
	return log_stream_reopen(log_main(), why, cap);
}

int log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&main_level, memory_order_relaxed);
}

static void vevent(enum log_level level, const char *event, const struct log_field *f, size_t n,
	const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	errno = saved;
	log_stream_write(log_main(), level, event, f, n, msg);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (log_enabled(level))
		vevent(level, "log", NULL, 0, fmt, ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level level, const char *event, const struct log_field *f, size_t n,
	const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	vevent(level, event, f, n, fmt, ap);
	va_end(ap);
}
