/*
 * DOC: the binary upgrade, old side (a state machine)
 *
 * `anylbctl upgrade` (POST /upgrade) or SIGUSR2 starts the new binary (by default the same path,
 * read from disk again) with the same command line, and hands it what lets it take over without
 * refusing a connection: the listening sockets themselves, the admin sockets, and (when the
 * hook gives one) the state snapshot. The wire is lb/handover.h, the new side lb/successor.c.
 *
 *   IDLE/FAILED --upgrade_start()--> STARTING      (forked and executed, with the socket pair)
 *   STARTING --HELLO--> HANDING_OVER               (its configuration loaded: fds, state, END)
 *   HANDING_OVER --READY--> HANDED_OVER            (it serves: hooks.handed_over, for good;
 *                                                   then the counting since the state, END)
 *   STARTING/HANDING_OVER --FAIL, EOF, exit, UPGRADE_TIMEOUT--> FAILED (reason kept)
 *
 * Until HANDED_OVER nothing changes here: a successor that fails to start, refuses its
 * configuration or crashes leaves this process serving exactly as before (its copies of the
 * sockets die with it; ours never left). After it, this process stops accepting and drains
 * (lb/shutdown.c shutdown_handover), withdrawing nothing. One setter logs every transition.
 * Main thread's loop (the default loop: it reaps the child with ev_child).
 */
#ifndef ANYLB_LB_UPGRADE_H
#define ANYLB_LB_UPGRADE_H

#include "lb/inherited.h"

#include <ev.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How long a successor may take from its start to READY before it is killed. */
#define UPGRADE_TIMEOUT 60.0

enum upgrade_state {
	UPGRADE_IDLE,
	UPGRADE_STARTING,
	UPGRADE_HANDING_OVER,
	UPGRADE_HANDED_OVER,
	UPGRADE_FAILED,
};

/* One socket to hand over: the fd is a duplicate the upgrade closes once sent. */
struct upgrade_fd {
	int fd;
	enum inherited_kind kind;
	char what[128]; /* "192.0.2.1:443", the unix socket's path: for the successor's log */
};

struct upgrade_hooks {
	/*
	 * The sockets to hand over, malloc'ed array (*n of them); NULL with *n == 0 when there is
	 * nothing (or memory ran out, with *err -ENOMEM).
	 */
	struct upgrade_fd *(*collect)(void *arg, size_t *n, int *err);
	/*
	 * The announcement (malloc'ed text, *len bytes), or NULL: none (no bgp). Sent after the
	 * sockets; from then on this process's announcer applies nothing until `failed`.
	 */
	char *(*anycast)(void *arg, size_t *len);
	/* The state snapshot to send (malloc'ed text, *len bytes), or NULL: none. */
	char *(*state)(void *arg, size_t *len);
	/* The attempt failed or was abandoned: this process goes on as before. */
	void (*failed)(void *arg);
	/* The successor (pid) serves: stop accepting, drain. */
	void (*handed_over)(void *arg, pid_t successor);
	/*
	 * Right after handed_over: what was counted since the state was taken (malloc'ed text),
	 * or NULL. Sent as the last STATE packets, END: the successor adds it before it answers.
	 */
	char *(*counted_since)(void *arg, size_t *len);
	void *arg;
};

struct upgrade {
	struct ev_loop *loop;
	struct upgrade_hooks hooks;
	enum upgrade_state state;
	char *const *argv;          /* this process's command line, for the successor */
	char self[PATH_MAX];        /* the binary this process was started from */
	char binary[PATH_MAX];      /* the current or last attempt's */
	char fail_text[512];        /* what the successor said before it went */
	char reason[768];           /* why the last attempt failed */
	pid_t pid;                  /* the successor, 0 without one */
	pid_t previous;             /* the process this one took over from (lb/successor.c), or 0 */
	int took_over;              /* ... and this one serves since (upgrade_took_over) */
	int sock;                   /* our end of the socket pair, -1 */
	int exited;                 /* the successor's exit was seen */
	uint64_t caps;              /* capabilities to pass on (lib/caps.h caps_pass_on) */
	double started_at, done_at; /* ev_now() */
	unsigned attempts, failures;
	ev_io io;
	ev_child child;
	ev_timer deadline;
};

/*
 * argv: this process's command line (kept, not copied); self: its binary (NULL: read from
 * /proc/self/exe now). previous: the pid this process took over from, or 0. caps: what the
 * successor must be started with when this process is not root (privdrop_needed_caps).
 */
void upgrade_init(struct upgrade *u, struct ev_loop *loop, const struct upgrade_hooks *h,
	char *const *argv, pid_t previous, uint64_t caps);

/*
 * Starts an upgrade to binary (NULL: the binary this process was started from). 0 when the
 * successor was started; -EBUSY when one is under way or done, or -errno, with why in msg.
 */
int upgrade_start(struct upgrade *u, const char *binary, char *msg, size_t cap);

/* This process, the successor of u->previous, serves (GET /upgrade tells, for anylbctl). */
void upgrade_took_over(struct upgrade *u);

/* The upgrade's state as a JSON object (malloc'ed), for GET /upgrade. NULL: out of memory. */
char *upgrade_status_json(const struct upgrade *u);

const char *upgrade_state_name(enum upgrade_state st);

/* Stops the watchers and closes the socket; a successor still starting is killed. */
void upgrade_destroy(struct upgrade *u);

#endif
