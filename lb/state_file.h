/*
 * DOC: the state file
 *
 * global.state_file (or --state-file) keeps what a cold restart should not forget: operator
 * drains and anycast overrides, and the health verdicts, in lb/snapshot.h's format. It is
 * written whole and atomically (a temporary file in the same directory, fsync, rename, fsync of
 * the directory) after every change, and read once at start, before any check runs.
 *
 * Writes happen on the main thread's loop, never on a worker or on the monitor's check path: a
 * change anywhere only sends an ev_async, and the write follows a short coalescing delay, so a
 * burst of changes (a reload, a backend flapping, a whole service dying) costs one write.
 *
 * What is restored: drains always; overrides always (through the announcer's public API);
 * verdicts only while younger than global.state_max_age. A file that cannot be read or parsed
 * (corrupt, truncated, another program's, another version) is logged in one line and ignored:
 * anylb starts as without one. A service or backend that is no longer configured is dropped,
 * and the next write no longer has it.
 */
#ifndef ANYLB_LB_STATE_FILE_H
#define ANYLB_LB_STATE_FILE_H

#include "lb/runtime.h"
#include "lb/snapshot.h"

#include <ev.h>

struct state_file;

struct state_file_conf {
	struct ev_loop *loop;         /* the main thread's */
	struct lb_runtime *const *rt; /* the main thread's current generation, read at each write */
	const char *path;             /* --state-file (kept by the caller), or NULL: the config's */
	snapshot_override_get get;    /* an anycast service's override now (may be NULL) */
	snapshot_override_set set;    /* restores one at start (may be NULL) */
	void *arg;                    /* for get and set */
};

/*
 * Returns the state file's writer (NULL when out of memory, logged). Main thread. Writes go
 * where path says, else where the running configuration's global.state_file says (nowhere
 * while it says nothing).
 */
struct state_file *state_file_new(const struct state_file_conf *c);

/*
 * Reads the file and restores drains, overrides and verdicts younger than state_max_age into
 * the current generation; logs one line saying what it restored or why it ignored the file.
 * Main thread, after the monitor (and so the announcer) exists and before it starts.
 */
void state_file_restore(struct state_file *sf);

/* Something the file keeps changed. Any thread, under any lock; sf may be NULL. */
void state_file_changed(struct state_file *sf);

/* Writes now if anything changed since the last write (at exit). Main thread. */
void state_file_flush(struct state_file *sf);

/* The path writes go to now, or NULL. Main thread. */
const char *state_file_path(const struct state_file *sf);

/* Stops its watchers and frees it; sf may be NULL. Main thread, after every thread that could
 * call state_file_changed() is gone. */
void state_file_free(struct state_file *sf);

#endif
