/*
 * DOC: the state file, read at start and written on the main loop
 *
 * A change sets `dirty` and wakes the main loop (ev_async); the loop starts a COALESCE timer if
 * none runs, and the timer writes one snapshot of whatever is true by then. An override the
 * announcer was just asked to restore shows in announcer_status() only once the monitor's loop
 * applied it: until then (at most AWAIT_MAX) the write waits, so that the first write after a
 * start cannot hand back a "none" it had not yet seen replaced. For the same reason (an operator's
 * override reaches the file only once the monitor applied it) a write is looked at again SETTLE
 * later: when the snapshot then says something else (the `written` line aside), it is written
 * again. That also catches rise/fall positions that moved without a change of state.
 *
 * The write costs a few syscalls and an fsync of the file and of its directory on the main
 * thread, which serves signals and the admin API but no traffic. A failing write (a full disk,
 * a directory gone) is logged once per distinct error, and once when writes work again; each
 * later change tries again.
 */
#include "lb/state_file.h"

#include "bgp/policy.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/duration.h"
#include "lib/log.h"
#include "lib/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COALESCE  0.05 /* seconds between a change and its write */
#define AWAIT_MAX 2.0  /* seconds a write waits for restored overrides to show */
#define SETTLE    1.0  /* seconds after a write, a look at whether it still holds */

struct await_override {
	char name[SNAP_NAME_MAX + 1];
	int override, drained;
};

struct state_file {
	struct state_file_conf c;
	char *path; /* --state-file, or NULL */
	ev_async wake;
	ev_timer delay;
	ev_timer settle;
	char *last; /* what the last write said after its `written` line, or NULL */
	_Atomic int dirty;
	int write_err; /* the errno of the last failed write, 0 while they work */
	struct await_override *await;
	size_t nawait;
	ev_tstamp await_until;
};

const char *state_file_path(const struct state_file *sf)
{
	if (sf == NULL)
		return NULL;
	return sf->path != NULL ? sf->path : (*sf->c.rt)->conf->global.state_file;
}

/* Writes all of buf to fd; 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * path gets buf's len bytes or keeps what it had: a temporary file in the same directory,
 * synced, renamed over path, and the directory synced so that the rename survives a crash.
 * Returns 0, or -errno with what failed in *what.
 */
static int write_atomic(const char *path, const char *buf, size_t len, const char **what)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	char dir[4096], tmp[4096 + 64];
	int fd, rc;

	*what = "use the path";
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -ENAMETOOLONG;
	/* ".state.PID.tmp" beside "state": one writer per process, never a reader's name. */
	if (*base == '\0' || (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, base,
				     (long)getpid()) >= sizeof(tmp))
		return *base == '\0' ? -EISDIR : -ENAMETOOLONG;

	*what = "create a temporary file";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	*what = "write";
	rc = write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) < 0) {
		*what = "fsync";
		rc = -errno;
	}
	if (close(fd) < 0 && rc == 0) {
		*what = "close";
		rc = -errno;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		*what = "rename";
		rc = -errno;
	}
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		*what = "fsync the directory";
		rc = -errno;
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* The text after the `written` line: what a write says, but when. */
static const char *body_of(const char *buf)
{
	const char *p = strchr(buf, '\n');

	p = p != NULL ? strchr(p + 1, '\n') : NULL;
	return p != NULL ? p + 1 : buf;
}

/* The hash line differs with the time too: only the records count. */
static int same_records(const char *last, const char *buf)
{
	const char *a = body_of(buf), *e = strstr(a, "end ");
	size_t n = e != NULL ? (size_t)(e - a) : strlen(a);

	return last != NULL && strlen(last) == n && memcmp(last, a, n) == 0;
}

static void keep_last(struct state_file *sf, const char *buf)
{
	const char *a = body_of(buf), *e = strstr(a, "end ");
	size_t n = e != NULL ? (size_t)(e - a) : strlen(a);
	char *copy = malloc(n + 1);

	free(sf->last);
	sf->last = copy;
	if (copy != NULL) {
		memcpy(copy, a, n);
		copy[n] = '\0';
	}
}

/* Writes a snapshot; when only_if_new, only if its records differ from the last write's. */
static void write_snapshot(struct state_file *sf, int only_if_new)
{
	const char *path = state_file_path(sf), *what = "";
	struct snapshot s;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (path == NULL)
		return;
	rc = snapshot_take(*sf->c.rt, sf->c.get, sf->c.arg, clock_wall_ms(), clock_ms(), &s);
	if (rc == 0) {
		rc = snapshot_format(&s, &buf, &len);
		snapshot_free(&s);
	}
	if (rc < 0)
		what = "take the snapshot";
	else if (only_if_new && sf->write_err == 0 && same_records(sf->last, buf)) {
		free(buf);
		return;
	} else
		rc = write_atomic(path, buf, len, &what);
	if (rc == 0)
		keep_last(sf, buf);
	free(buf);
	if (rc < 0 && -rc != sf->write_err)
		log_error("state file %s: cannot %s: %s: drains, overrides and verdicts are not "
			  "saved until a later change writes it",
			path, what, strerror(-rc));
	else if (rc == 0 && sf->write_err != 0)
		log_info("state file %s: written again", path);
	sf->write_err = rc < 0 ? -rc : 0;
	if (!ev_is_active(&sf->settle) && !only_if_new) {
		ev_timer_set(&sf->settle, SETTLE, 0);
		ev_timer_start(sf->c.loop, &sf->settle);
	}
}

static void write_now(struct state_file *sf)
{
	if (atomic_exchange(&sf->dirty, 0))
		write_snapshot(sf, 0);
}

static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct state_file *sf = container_of(w, struct state_file, settle);
	(void)loop;
	(void)revents;

	write_snapshot(sf, 1);
}

/* Drops the awaited overrides the announcer shows by now; 1 while some are still awaited. */
static int awaiting(struct state_file *sf, struct ev_loop *loop)
{
	size_t k = 0;

	for (size_t i = 0; i < sf->nawait; i++) {
		int drained = 0;
		int o = sf->c.get(sf->c.arg, sf->await[i].name, &drained);
		if ((sf->await[i].override > ANYCAST_OVERRIDE_NONE && o != sf->await[i].override) ||
			(sf->await[i].drained && !drained))
			sf->await[k++] = sf->await[i];
	}
	sf->nawait = k;
	if (k > 0 && ev_now(loop) < sf->await_until)
		return 1;
	sf->nawait = 0;
	return 0;
}

static void delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct state_file *sf = container_of(w, struct state_file, delay);
	(void)revents;

	if (sf->nawait > 0 && awaiting(sf, loop)) {
		ev_timer_set(&sf->delay, COALESCE, 0);
		ev_timer_start(loop, &sf->delay);
		return;
	}
	write_now(sf);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct state_file *sf = container_of(w, struct state_file, wake);
	(void)revents;

	if (!ev_is_active(&sf->delay)) {
		ev_timer_set(&sf->delay, COALESCE, 0);
		ev_timer_start(loop, &sf->delay);
	}
}

struct state_file *state_file_new(const struct state_file_conf *c)
{
	struct state_file *sf = calloc(1, sizeof(*sf));

	if (sf == NULL || (c->path != NULL && (sf->path = strdup(c->path)) == NULL)) {
		free(sf);
		log_error("state file: out of memory: drains and verdicts are not saved");
		return NULL;
	}
	sf->c = *c;
	ev_async_init(&sf->wake, wake_cb);
	ev_async_start(c->loop, &sf->wake);
	ev_init(&sf->delay, delay_cb);
	ev_init(&sf->settle, settle_cb);
	return sf;
}

void state_file_changed(struct state_file *sf)
{
	if (sf == NULL)
		return;
	atomic_store(&sf->dirty, 1);
	ev_async_send(sf->c.loop, &sf->wake);
}

void state_file_flush(struct state_file *sf)
{
	if (sf == NULL)
		return;
	ev_timer_stop(sf->c.loop, &sf->delay);
	ev_timer_stop(sf->c.loop, &sf->settle);
	write_now(sf);
}

void state_file_free(struct state_file *sf)
{
	if (sf == NULL)
		return;
	ev_timer_stop(sf->c.loop, &sf->delay);
	ev_timer_stop(sf->c.loop, &sf->settle);
	ev_async_stop(sf->c.loop, &sf->wake);
	free(sf->last);
	free(sf->await);
	free(sf->path);
	free(sf);
}

/* The overrides restored: the first write waits until the announcer shows them. */
static void await_overrides(struct state_file *sf, const struct snapshot *s)
{
	const struct lb_runtime *rt = *sf->c.rt;

	if (sf->c.get == NULL || s->nservices == 0)
		return;
	sf->await = calloc(s->nservices, sizeof(*sf->await));
	if (sf->await == NULL)
		return; /* the first write may then miss an override for a moment */
	for (size_t i = 0; i < s->nservices; i++) {
		const struct snap_service *ss = &s->services[i];
		const struct lb_service *svc = runtime_service((struct lb_runtime *)rt, ss->name);
		if (svc == NULL || !svc->conf->anycast.enabled ||
			(ss->override <= ANYCAST_OVERRIDE_NONE && !ss->drained))
			continue;
		snprintf(sf->await[sf->nawait].name, sizeof(sf->await[0].name), "%s", ss->name);
		sf->await[sf->nawait].override = ss->override;
		sf->await[sf->nawait++].drained = ss->drained;
	}
	sf->await_until = ev_now(sf->c.loop) + AWAIT_MAX;
}

void state_file_restore(struct state_file *sf)
{
	const char *path = state_file_path(sf);
	struct lb_runtime *rt;
	struct snapshot s;
	struct snapshot_applied r;
	char *buf = NULL, err[256], age[32], max[32];
	size_t len = 0;
	mode_t mode = 0;

	if (path == NULL)
		return;
	rt = *sf->c.rt;
	int rc = readfile_regular(path, SNAP_MAX_BYTES, &buf, &len, &mode);
	if (rc == -ENOENT) {
		log_info("state file %s: none yet: starting without saved state", path);
		state_file_changed(sf);
		return;
	}
	if (rc == -EISDIR || rc == -EINVAL)
		snprintf(err, sizeof(err), "it is %s, not a regular file", readfile_type(mode));
	else if (rc == -EFBIG)
		snprintf(err, sizeof(err), "larger than %u bytes", SNAP_MAX_BYTES);
	else if (rc < 0)
		snprintf(err, sizeof(err), "cannot read it: %s", strerror(-rc));
	else
		rc = snapshot_parse(buf, len, &s, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		log_warn("state file %s: ignored: %s: starting without saved state", path, err);
		state_file_changed(sf); /* replaced at the first write */
		return;
	}
	uint64_t now = clock_wall_ms(), max_age = rt->conf->global.state_max_age_ms;
	snapshot_apply(rt, &s, SNAP_OPERATOR | SNAP_HEALTH, now, clock_ms(), max_age, sf->c.set,
		sf->c.arg, &r);
	duration_format(now > s.written_ms ? now - s.written_ms : 0, age, sizeof(age));
	duration_format(max_age, max, sizeof(max));
	log_info("state file %s: written %s ago: restored %zu drain%s, %zu override%s, %zu health "
		 "verdict%s; %zu verdict%s older than state_max_age (%s) not restored; %zu "
		 "record%s no longer configured, dropped",
		path, age, r.drains, r.drains == 1 ? "" : "s", r.overrides,
		r.overrides == 1 ? "" : "s", r.verdicts, r.verdicts == 1 ? "" : "s", r.stale,
		r.stale == 1 ? "" : "s", max, r.dropped, r.dropped == 1 ? "" : "s");
	if (r.ladders > 0)
		log_info("state file %s: %zu service%s drained before the stop: withdrawn again, "
			 "until undrain-site",
			path, r.ladders, r.ladders == 1 ? "" : "s");
	if (r.maints > 0 || r.weights > 0 || r.weights_dropped > 0)
		log_info("state file %s: restored %zu maint%s, %zu runtime weight%s; %zu runtime "
			 "weight%s dropped (the file changed that weight)",
			path, r.maints, r.maints == 1 ? "" : "s", r.weights,
			r.weights == 1 ? "" : "s", r.weights_dropped,
			r.weights_dropped == 1 ? "" : "s");
	await_overrides(sf, &s);
	snapshot_free(&s);
	state_file_changed(sf); /* what is dropped goes at the next write */
}
