/*
 * DOC: udp peers for scenario tests
 *
 * A UDP echo server in a child process (so a test can kill it like a real backend dying; it has
 * PR_SET_PDEATHSIG and is stopped by its pid only), and a client that sends one datagram from a
 * socket of its own and waits, bounded, for the reply.
 */
#ifndef ANYLB_TESTS_SUPPORT_UDP_H
#define ANYLB_TESTS_SUPPORT_UDP_H

#include <stddef.h>
#include <sys/types.h>

/*
 * An echo server on a free 127.0.0.1 port (written to addr, cap bytes): its pid, or -errno.
 * delay_ms > 0: each datagram (of at most 2 KiB then) comes back that much later.
 */
pid_t sc_udp_echo_start(char *addr, size_t cap, int delay_ms);

/* Stops one started by sc_udp_echo_start (SIGKILL: a backend that dies), or all (pid 0). */
void sc_udp_echo_stop(pid_t pid);

/* A datagram socket connected to addr ("IP:PORT"): replies from elsewhere are not seen. */
int sc_udp_socket(const char *addr);

/*
 * Sends len bytes on fd and waits up to timeout_ms for one datagram back, into reply (cap
 * bytes). Its length, or -ETIMEDOUT, -ECONNREFUSED, -errno.
 */
ssize_t sc_udp_roundtrip(
	int fd, const void *msg, size_t len, void *reply, size_t cap, int timeout_ms);

#endif
