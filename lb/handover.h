/*
 * DOC: the handover wire between an anylb and its successor
 *
 * A binary upgrade (lb/upgrade.c) starts the new anylb with one end of a SOCK_SEQPACKET socket
 * pair (its number in ANYLB_UPGRADE_FD). Every message is one packet: a type, then text, and the
 * fds of a HANDOVER_FDS message travel with it (SCM_RIGHTS), described one per line of its text
 * in the order they are attached:
 *
 *   new -> old   HELLO  "pid P version V"      the new one loaded and checked its configuration
 *   old -> new   FDS    "listen ADDR" | "admin-unix PATH" | "admin-tcp ADDR" (1..HANDOVER_MAX_FDS)
 *   old -> new   ANYCAST the announcement, when bgp is on (lb/announcer_handover.c): from here
 *                       the old process applies nothing more unless the upgrade fails
 *   old -> new   STATE  a chunk of the state snapshot (lb/snapshot.h), in order
 *   old -> new   END    everything was sent
 *   new -> old   READY  the new one serves: its workers accept on the sockets
 *   new -> old   FAIL   why it gives up (it exits after that)
 *
 * The socket pair keeps the order and the boundaries, and fds in flight are the kernel's: if the
 * receiver dies before it reads them, they are closed with its end. Pure framing plus the two
 * system calls; the conversation is lb/upgrade.c's (old side) and lb/successor.c's (new side).
 */
#ifndef ANYLB_LB_HANDOVER_H
#define ANYLB_LB_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#define HANDOVER_ENV      "ANYLB_UPGRADE_FD"
#define HANDOVER_MAX_FDS  64
#define HANDOVER_MAX_TEXT 65536 /* bytes of text per message */

enum handover_type {
	HANDOVER_HELLO = 1,
	HANDOVER_FDS,
	HANDOVER_STATE,
	HANDOVER_END,
	HANDOVER_READY,
	HANDOVER_FAIL,
	HANDOVER_ANYCAST,
};

/* One received message: text is NUL-terminated (len bytes before the NUL). */
struct handover_msg {
	enum handover_type type;
	char *text;
	size_t len;
	int fds[HANDOVER_MAX_FDS];
	size_t nfds;
};

const char *handover_type_name(enum handover_type t);

/*
 * Sends one message (text of len bytes, at most HANDOVER_MAX_TEXT; fds[0..nfds) attached, at
 * most HANDOVER_MAX_FDS; the caller keeps its copies). Waits at most timeout_ms for room.
 * 0 or -errno (-EPIPE: the peer is gone, -ETIMEDOUT).
 */
int handover_send(int sock, enum handover_type type, const char *text, size_t len, const int *fds,
	size_t nfds, int timeout_ms);

/*
 * Receives one message into m, waiting at most timeout_ms (-1: as long as it takes; 0: only
 * what is there). m->text is malloc'ed and the fds are m's (close-on-exec): handover_msg_free
 * releases both, handover_msg_take_fd hands one on. 0, -EAGAIN (nothing yet with timeout 0),
 * -ECONNRESET (the peer closed), -EPROTO (a malformed or truncated packet: the peer is not an
 * anylb of this protocol), -ETIMEDOUT, or another -errno.
 */
int handover_recv(int sock, struct handover_msg *m, int timeout_ms);

/* Takes fd i out of m (m will not close it); -1 when there is no such fd. */
int handover_msg_take_fd(struct handover_msg *m, size_t i);

void handover_msg_free(struct handover_msg *m);

#endif
