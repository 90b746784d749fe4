/*
 * DOC: the admin interface
 *
 * HTTP/1.1 on a unix socket (global.admin.socket, mode 0600) and optionally on a TCP address
 * (global.admin.listen, loopback only unless allow_remote), where every write needs the bearer
 * token of global.admin.token_file. Runs on the main thread's loop, never on a worker's: a slow
 * or hostile admin client cannot delay a session.
 *
 *   GET  /status    JSON: site, services, backends (state, reason, counters), anycast, BGP
 *   GET  /metrics   Prometheus text format 0.0.4, names prefixed anylb_
 *   GET  /healthz   200 while the process serves
 *   POST /services/{name}/backends/{address}/drain | /enable
 *   POST /services/{name}/withdraw | /announce
 *   POST /reload
 *   POST /upgrade, GET /upgrade
 */
#ifndef ANYLB_LB_ADMIN_H
#define ANYLB_LB_ADMIN_H

#include "lb/runtime.h"

#include <ev.h>
#include <stddef.h>

struct admin;
struct announcer;
struct reload_record;

struct admin_hooks {
	/*
	 * POST /reload: returns 0 when the new configuration was applied, or -errno with what
	 * went wrong (one line per problem, FILE:LINE:COL: message) in msg. NULL: reload is not
	 * available (the answer is 501).
	 */
	int (*reload)(void *arg, char *msg, size_t cap);
	/*
	 * POST /services/NAME/backends (remove 0) and /services/NAME/backends/ADDRESS/remove
	 * (remove 1): records the change in the runtime overlay (conf/overlay.h) and applies it as
	 * a reload. 0, or -errno with why in msg (-EINVAL: a bad address or a refused
	 * configuration; -EEXIST: already so). NULL: not available (501).
	 */
	int (*backends)(void *arg, int remove, const char *service, const char *address,
		unsigned weight, const char *zone, char *msg, size_t cap);
	void *arg;
	/* What /status and /metrics report about reloads; NULL: nothing yet. */
	const struct reload_record *record;
	/*
	 * POST /upgrade (lb/upgrade.h): starts the binary upgrade, binary NULL for the default
	 * (only the unix socket may name another). 0, or -errno with why in msg (-EBUSY: one is
	 * under way). GET /upgrade: the upgrade's state as a JSON object (malloc'ed, NULL when
	 * memory ran out). NULL: no upgrade here (501).
	 */
	int (*upgrade)(void *arg, const char *binary, char *msg, size_t cap);
	char *(*upgrade_status)(void *arg);
	/* The flow hand-off (lb/handoff.h) for /status and /metrics; NULL: off. Borrowed. */
	const struct lb_handoff *handoff;
	/* The answers of the NAME:PORT entries (conf/resolved.h) for /status and /metrics; NULL:
	 * none. Borrowed, main thread. */
	const struct resolved *resolved;
	/* An upgrade's successor: the admin sockets it inherited (taken by admin_new); or NULL. */
	struct inherited *inherited;
};

/*
 * Starts the admin listeners of rt's configuration on loop (the main thread's). ann may be NULL
 * (no anycast); hooks is copied. Returns NULL with *err (-errno) and the reason logged when a
 * listener cannot be set up; NULL with *err == 0 when the admin interface is switched off.
 */
struct admin *admin_new(struct ev_loop *loop, struct lb_runtime *rt, struct announcer *ann,
	const struct admin_hooks *hooks, int *err);

/* A reload: from now on the admin interface shows generation rt (borrowed). Main thread. */
void admin_set_runtime(struct admin *a, struct lb_runtime *rt);

/*
 * Upgrade, old side. Close-on-exec duplicates of the listening sockets (-1 where absent), for
 * the successor; 0 or -errno.
 */
int admin_dup_listeners(const struct admin *a, int *unix_fd, int *tcp_fd);

/*
 * Upgrade, old side: the successor answers from now on. Stops accepting and closes the
 * listening sockets (the successor holds them), and leaves the socket file to it; connections
 * already accepted are answered.
 */
void admin_handed_over(struct admin *a);

/* Closes the listeners and every admin connection, removes the unix socket, frees. */
void admin_free(struct admin *a);

#endif
