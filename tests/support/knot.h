/*
 * DOC: real DNS servers for scenario tests (Knot DNS)
 *
 * knotd processes on loopback ports, each from a configuration this file writes into a
 * directory of the test's, with one zone. Started with fork/exec (PR_SET_PDEATHSIG, so none
 * can outlive the test), stopped by their pid only; sc_knot_stop_all() (a suite's .fini) stops
 * what a failed assertion left running. A knotd may run in a network namespace of
 * tests/support/netns.h (an anycast site's). Tests skip when knotd is not installed
 * (scripts/deps.sh installs knot).
 *
 * And the client side: one query over UDP, its answer matched against the addresses a test's
 * zones hold, so that the answer says which server gave it.
 */
#ifndef ANYLB_TESTS_SUPPORT_KNOT_H
#define ANYLB_TESTS_SUPPORT_KNOT_H

#include <stddef.h>
#include <sys/types.h>

#define SC_KNOTD "/usr/sbin/knotd"

/*
 * Starts a knotd on 127.0.0.1:port (udp and tcp) in dir/name, serving domain from file
 * (relative to dir). Returns its pid once it answers on TCP; asserts on failure.
 */
pid_t sc_knot_start(
	const char *dir, const char *name, int port, const char *domain, const char *file);

/*
 * sc_knot_start() in network namespace ns (tests/support/netns.h; NULL: the test's own): the
 * knotd is forked from inside it, and the test's thread is back in its own namespace on return.
 */
pid_t sc_knot_start_in(const char *ns, const char *dir, const char *name, int port,
	const char *domain, const char *file);

/* Stops one started here (SIGTERM, then SIGKILL after 5 s). */
void sc_knot_stop(pid_t pid);

/* SIGKILLs the n servers in pids (those started here; 0 is skipped) at once, as servers that
 * die, then reaps them. */
void sc_knot_kill(const pid_t *pids, int n);

void sc_knot_stop_all(void);

/*
 * One query for name's A record over UDP to addr ("IP:PORT", "[IPv6]:PORT"), from a socket (so
 * a source port) of its own made in the calling thread's namespace, waiting up to timeout_ms:
 * the index of the first of the n addresses in answers that the reply holds (NOERROR, the id
 * and question matching), -1 for a reply that holds none, or -errno (-ETIMEDOUT: no reply).
 * Asserts nothing, so that a caller may run it inside another namespace.
 */
int sc_dns_query_a(
	const char *addr, const char *name, const char *const *answers, int n, int timeout_ms);

/* Writes text to path; asserts on failure. */
void sc_write_file(const char *path, const char *text);

#endif
