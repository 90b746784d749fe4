/*
 * DOC: capability sets, without libcap
 *
 * The two calls anylb needs from the capability API, over the raw capget/capset system calls:
 * read the calling thread's effective and permitted sets, and shrink them. A set is a 64-bit
 * mask, bit N for capability N (CAP_NET_ADMIN is 12): the kernel's two 32-bit words of
 * _LINUX_CAPABILITY_VERSION_3, joined. libcap would bring text forms, file capabilities and
 * the all-threads "psx" machinery, none of which is used here.
 *
 * Capabilities belong to a thread, not to the process: these act on the caller only, so they
 * are meant for a process that has one thread (before the workers start, or a forked child).
 */
#ifndef ANYLB_LIB_CAPS_H
#define ANYLB_LIB_CAPS_H

#include <stddef.h>
#include <stdint.h>

#define CAPS_BIT(cap) (UINT64_C(1) << (cap))

/* The calling thread's effective and permitted sets (either may be NULL). 0 or -errno. */
int caps_get(uint64_t *effective, uint64_t *permitted);

/*
 * Makes keep the calling thread's permitted and effective sets and empties its inheritable set.
 * keep must be within the permitted set (capabilities can be dropped, never gained): -EPERM
 * otherwise. 0 or -errno.
 */
int caps_set(uint64_t keep);

/*
 * For a program about to be executed (in a forked child, between fork and execve: raw system
 * calls only): makes the capabilities of set that the caller has permitted inheritable and
 * ambient, so that they survive execve although the process is not root. Returns the ones
 * passed on (the others are silently left out: the program then starts without them).
 */
uint64_t caps_pass_on(uint64_t set);

/* "net_bind_service,net_admin" for a mask, or "none"; names only for the ones anylb cares
 * about, "cap_N" for the rest. Writes into buf (cap bytes) and returns it. */
const char *caps_format(uint64_t set, char *buf, size_t cap);

#endif
