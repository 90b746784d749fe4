/*
 * DOC: live reload
 *
 * SIGHUP and POST /reload land here, on the main thread. The new file is loaded and validated
 * completely first, then checked for settings only a restart applies (conf_reload_check). Only
 * then is the next generation built (lb/runtime.h: services matched by name and backends by
 * address keep their health and counters), and everything that can fail is prepared: every
 * worker's balancers, and sockets bound for addresses that are new. Any failure up to here
 * leaves the running configuration untouched. The commit cannot fail: the admin interface reads
 * the new generation at once, the monitor and every worker are handed it and switch on their
 * own threads within a loop turn, and the previous generation is freed when its last session
 * ends. A listener on an address both generations have is never closed, so no connection is
 * refused during a reload; established sessions are never cut.
 *
 *   IDLE --reload--> LOADING --valid, reloadable--> PREPARING --all prepared--> COMMITTED
 *                      |                                |
 *                      +--invalid------> FAILED <-------+--bind/memory failure
 */
#ifndef ANYLB_LB_RELOAD_H
#define ANYLB_LB_RELOAD_H

#include "conf/resolved.h"
#include "lb/runtime.h"

#include <stddef.h>
#include <stdint.h>

struct worker;
struct monitor;
struct admin;

/* What /status and /metrics say about reloads. Main thread. */
struct reload_record {
	uint64_t ok, failed;
	int64_t last_unix; /* when the last reload was asked for; 0: never */
	int last_ok;
	char last_error[4096]; /* the last failed reload's messages, one per line */
};

/* What a reload moves to the new generation. */
struct reload_targets {
	struct lb_runtime **rt; /* the current generation: replaced (and put) on success */
	struct worker *workers;
	unsigned nworkers;
	struct monitor *monitor;
	struct admin *admin; /* may be NULL */
	int stopping;        /* a stop is under way: reloads are refused */
	/*
	 * The runtime backends (conf/overlay.h), merged into the file's configuration; settled by
	 * the reload rule once the new generation is in force. NULL: none.
	 */
	struct overlay *overlay;
	/* The answers of the NAME:PORT entries (conf/resolved.h), expanded first. NULL: none. */
	const struct resolved *resolved;
};

/*
 * Reloads the file *t->rt was loaded from. Returns 0 when the new configuration is in force
 * (every thread has switched to it, normally within a loop turn; waited for up to 200 ms),
 * else -EINVAL (the file is invalid or changes what needs a restart), -EBUSY (stopping, or the
 * previous reload is still being applied) or -ENOMEM / -EADDRINUSE / ... (preparing failed);
 * msg (cap bytes) says why, one FILE:LINE:COL: message line per problem, or what changed. Every
 * outcome is logged and counted in rec.
 */
int reload_apply(const struct reload_targets *t, struct reload_record *rec, char *msg, size_t cap);

#endif
