/*
 * DOC: BIRD control-socket client
 *
 * Talks to BIRD 2's control socket (`birdc`'s protocol) without blocking, on a libev loop: a
 * unix stream socket, one command per line; replies are lines `DDDD-text` (more follow),
 * ` text` (continuation of the previous code), `DDDD text` (the last line). `0001` greets on
 * connect. 8xxx are run-time errors, 9xxx parse errors.
 *
 * Commands are queued and sent one at a time; each gets exactly one callback, with the reply,
 * or with NULL when the connection was lost before it was answered. The client reconnects by
 * itself with a doubling back-off (100 ms up to 5 s) and says so through on_state.
 */
#ifndef ANYLB_BGP_BIRD_CLIENT_H
#define ANYLB_BGP_BIRD_CLIENT_H

#include <ev.h>
#include <stddef.h>

struct bird_client;

/*
 * What BIRD 2.0.12 answers (tests/data/bird/): `enable` 0011 enabled / 0010 already enabled,
 * `disable` 0009 disabled / 0008 already disabled, each followed by `0000 `; `configure`
 * 0002 (reading) then 0003 (reconfigured) or 0004 (in progress), both success, or 8002 when the
 * file is broken; `show route for` 8001 "Network not found"; parse errors 9001.
 */
struct bird_reply {
	int code;       /* the last line's code (e.g. 0 for a plain success, 8xxx/9xxx errors) */
	int first_code; /* the first line's code: 0008..0011 (disable/enable), 0002 (configure) */
	char *text;     /* every line's text joined with '\n', codes stripped; NUL-terminated. An
			 * empty last line (`0000 `) adds nothing, so "x: disabled" has no '\n'. */
	size_t len;
};

/* Limits; bird_client_tune changes them (tests do, to keep time short). */
#define BIRD_CLIENT_TIMEOUT     5.0           /* s to connect and greet, or to answer: else hung */
#define BIRD_CLIENT_BACKOFF_MIN 0.1           /* s, first reconnect delay, doubled per failure */
#define BIRD_CLIENT_BACKOFF_MAX 5.0           /* s */
#define BIRD_CLIENT_REPLY_MAX   (1024 * 1024) /* bytes of one reply's text */
#define BIRD_CLIENT_QUEUE_MAX   256           /* commands waiting or in flight */
#define BIRD_CLIENT_CMD_MAX     1000          /* bytes of one command line */

/*
 * Creates a client for socket_path (copied) and starts connecting. on_state(arg, 1) after each
 * successful connect (greeting received), on_state(arg, 0) after each loss of such a connection
 * (failed attempts in between say nothing). on_state may be NULL. Never calls back
 * synchronously. Returns NULL when out of memory (errno ENOMEM) or when socket_path does not
 * fit a unix socket address (errno ENAMETOOLONG).
 */
struct bird_client *bird_client_new(struct ev_loop *loop, const char *socket_path,
	void (*on_state)(void *arg, int connected), void *arg);

/*
 * Queues cmd (a single line, without newline; copied). cb(arg, reply) is called once: with the
 * reply, or with NULL if the connection is lost first or the client is not connected when the
 * command's turn comes. The reply and its text belong to the client and are valid only during
 * the callback, which may send further commands or free the client.
 *
 * Queue policy: fail fast, never replay. A command sent while a connection attempt is under way
 * waits for it; one sent while the client waits out its back-off (BIRD is down) gets NULL on
 * the next loop iteration, and every command still queued when the connection is lost gets NULL
 * right after on_state(0). Nothing is kept for the next connection: a command held back until
 * BIRD returns could undo a later decision (enable after disable); the owner re-asserts its
 * whole desired state on on_state(1) instead.
 *
 * Returns 0, or -ENOMEM, -EINVAL (cmd empty, longer than BIRD_CLIENT_CMD_MAX or holding '\n' or
 * '\r'; cb NULL), -ENOBUFS (BIRD_CLIENT_QUEUE_MAX commands already queued) or -ESHUTDOWN
 * (called from a callback run by bird_client_free). cb is not called when it fails.
 */
int bird_client_send(struct bird_client *c, const char *cmd,
	void (*cb)(void *arg, const struct bird_reply *r), void *arg);

/* 1 while a greeted connection is up, else 0. */
int bird_client_connected(const struct bird_client *c);

/*
 * Changes the limits above: timeout and back-off in seconds, reply_max in bytes (0 keeps a
 * value). A running timeout starts again with the new value; the back-off applies from the next
 * failure.
 */
void bird_client_tune(struct bird_client *c, double timeout, double backoff_min, double backoff_max,
	size_t reply_max);

/*
 * Cancels queued commands (their callbacks get NULL, during this call), closes, frees; on_state
 * is not called. May be called from any of the client's callbacks.
 */
void bird_client_free(struct bird_client *c);

#endif
