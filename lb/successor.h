/*
 * DOC: the binary upgrade, new side
 *
 * An anylb started by an upgrade (lb/upgrade.c) finds its end of the socket pair in
 * ANYLB_UPGRADE_FD. Start-up then goes: load and check the configuration (on failure: FAIL with
 * the FILE:LINE:COL lines, exit 1), HELLO, receive the sockets (lb/inherited.h) and the state
 * until END, set up everything on them, start the threads, READY. From READY on this process is
 * the one that serves, and the old one drains. Anything that fails before READY is said in a
 * FAIL (the old process reports it to whoever asked for the upgrade) and ends this process;
 * the old one has lost nothing.
 *
 * Blocking, at start-up, before any thread runs, each wait bounded.
 */
#ifndef ANYLB_LB_SUCCESSOR_H
#define ANYLB_LB_SUCCESSOR_H

#include <stddef.h>
#include <sys/types.h>

struct inherited;
struct successor;

/*
 * Is this process an upgrade's successor? 1 with *out (and the variable removed from the
 * environment, so that nothing this process starts inherits it), 0 when not, -EBADF (logged)
 * when the variable names no usable socket.
 */
int successor_open(struct successor **out);

/* The pid of the process this one takes over from. */
pid_t successor_previous(const struct successor *s);

/* What came with the sockets: malloc'ed texts (NULL without), NUL-terminated. */
struct successor_texts {
	char *state; /* the state snapshot (lb/snapshot.h) */
	size_t state_len;
	char *anycast; /* the announcement (lb/announcer_handover.c) */
	size_t anycast_len;
};

/*
 * The configuration is loaded: HELLO, then every socket into in and the texts until END.
 * 0 or -errno, with why in msg.
 */
int successor_receive(struct successor *s, struct inherited *in, struct successor_texts *t,
	char *msg, size_t cap);

/*
 * Tests of the handover only: ANYLB_UPGRADE_STOP_AT=STEP in the environment of the old
 * process makes its successor stop itself (SIGSTOP) at that step: `hello` (HELLO sent, nothing
 * received), `end` (sockets and state received), `attached` (the announcement taken over),
 * `ready` (READY sent). The successor removes the variable: its own successor does not stop.
 */
void successor_step(struct successor *s, const char *step);

/*
 * This process serves: READY; then the old one's counting since the state (malloc'ed into
 * *state, NULL without) until END, waiting at most a few seconds. 0 or -errno (the old process
 * went: nothing to add).
 */
int successor_ready(struct successor *s, char **state, size_t *len);

/* Start-up failed: FAIL with why (truncated to a packet). */
void successor_fail(struct successor *s, const char *why);

/* Closes the socket pair's end, frees. NULL is fine. */
void successor_free(struct successor *s);

#endif
