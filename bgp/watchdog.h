/*
 * DOC: the watchdog process
 *
 * A tiny child process that holds the announcement interface's TUN fd and nothing else of
 * anylb's. It exits — closing the fd, so the interface and every prefix on it disappear — when
 * anylb's end of the heartbeat socket closes (anylb exited, crashed or was killed) or when no
 * heartbeat arrives for the timeout (anylb's event loops are stuck or it was stopped).
 * anylb sends a heartbeat only when all its event loops have shown life recently.
 */
#ifndef ANYLB_BGP_WATCHDOG_H
#define ANYLB_BGP_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

/* Who the watchdog runs as: anylb's global.user, resolved. */
struct watchdog_ids {
	uid_t uid;
	gid_t gid;
};

/*
 * Forks the watchdog holding tun_fd (which the caller then closes). Must be called before any
 * thread is started, from the thread that stays (PR_SET_PDEATHSIG follows the forking thread).
 * timeout_ms must be > 0. ids NULL: the watchdog keeps the caller's user; else it becomes
 * ids->uid:ids->gid without supplementary groups (when it is not already). Either way it drops
 * every capability and sets no_new_privs before it runs: holding an fd and reading a socket
 * need none, and a watchdog forked by root stays harmless once anylb has dropped to its user.
 * On success returns 0 with *pid and *hb_fd (non-blocking, close-on-exec; the caller's end of
 * the heartbeat socket). Returns -errno on failure.
 * The watchdog's exit status says why it went: 0 heartbeat socket closed, 1 heartbeat timeout,
 * 2 or 3 internal failure (3: set-up, a failed drop included); a signal if someone killed it.
 * It leaves anylb's process group.
 */
int watchdog_spawn(
	int tun_fd, uint64_t timeout_ms, const struct watchdog_ids *ids, pid_t *pid, int *hb_fd);

/* Sends one heartbeat; never blocks. Returns 0 or -errno (-EPIPE: the watchdog is gone). */
int watchdog_beat(int hb_fd);

/*
 * Stops the watchdog on purpose (graceful shutdown, after everything was withdrawn): closes
 * hb_fd and reaps pid, waiting at most timeout_ms before SIGKILLing it. Returns 0 (also when
 * someone else, such as libev's SIGCHLD handler, reaped it already), -ETIMEDOUT if it had to
 * be killed, -EINVAL for pid <= 0 (hb_fd is closed in every case).
 */
int watchdog_stop(pid_t pid, int hb_fd, uint64_t timeout_ms);

#endif
