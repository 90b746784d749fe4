/*
 * DOC: real DNS servers for scenario tests (Knot DNS)
 *
 * knotd processes on loopback ports, each from a configuration this file writes into a
 * directory of the test's, with one zone. Started with fork/exec (PR_SET_PDEATHSIG, so none
 * can outlive the test), stopped by their pid only; sc_knot_stop_all() (a suite's .fini) stops
 * what a failed assertion left running. Tests skip when knotd is not installed
 * (scripts/deps.sh installs knot).
 */
#ifndef ANYLB_TESTS_SUPPORT_KNOT_H
#define ANYLB_TESTS_SUPPORT_KNOT_H

#include <sys/types.h>

#define SC_KNOTD "/usr/sbin/knotd"

/*
 * Starts a knotd on 127.0.0.1:port (udp and tcp) in dir/name, serving domain from file
 * (relative to dir). Returns its pid once it answers on TCP; asserts on failure.
 */
pid_t sc_knot_start(
	const char *dir, const char *name, int port, const char *domain, const char *file);

/* Stops one started here (SIGTERM, then SIGKILL after 5 s). */
void sc_knot_stop(pid_t pid);

void sc_knot_stop_all(void);

/* Writes text to path; asserts on failure. */
void sc_write_file(const char *path, const char *text);

#endif
