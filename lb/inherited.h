/*
 * DOC: sockets inherited from the anylb this one succeeds
 *
 * A successor (lb/successor.c) receives the running anylb's listening sockets with SCM_RIGHTS
 * and keeps them here until start-up takes them: each worker's listener for an address takes
 * one instead of binding (lb/listener.c), the admin interface takes its unix and TCP sockets
 * (lb/admin.c). So no SYN is refused and nothing queued is lost: the same socket goes on
 * accepting, only in another process. What start-up does not take (an address the new
 * configuration dropped) is closed, with a log line, by inherited_free().
 *
 * Each socket is described by what the kernel says of it (getsockname, SO_ACCEPTCONN), not by
 * what the sender wrote. Main thread, before any thread starts.
 */
#ifndef ANYLB_LB_INHERITED_H
#define ANYLB_LB_INHERITED_H

#include "lib/addr.h"

#include <stddef.h>

enum inherited_kind {
	INHERITED_LISTEN,     /* a service's listener */
	INHERITED_ADMIN_UNIX, /* global.admin.socket */
	INHERITED_ADMIN_TCP,  /* global.admin.listen */
	INHERITED_UDP,        /* a udp service's socket (lb/udp_listener.h) */
};

struct inherited;

/* The word for kind on the handover wire ("listen", "admin-unix", "admin-tcp", "udp"). */
const char *inherited_kind_word(enum inherited_kind kind);

/* The kind the word w (n bytes) names: 0, or -EPROTO for none. */
int inherited_kind_parse(const char *w, size_t n, enum inherited_kind *kind);

struct inherited *inherited_new(void);

/*
 * Takes fd (always: closed on failure) as a socket of kind, described by the sender as what
 * ("192.0.2.1:443", "/run/anylb/admin.sock"). 0, -ENOTSOCK when fd is not a listening stream
 * socket of the family the kind needs (a bound datagram socket for INHERITED_UDP), or -ENOMEM.
 */
int inherited_add(struct inherited *in, enum inherited_kind kind, const char *what, int fd);

/* One socket of kind bound to a (TCP kinds, udp), or -1: the caller owns it. NULL in: -1. */
int inherited_take(struct inherited *in, enum inherited_kind kind, const struct addr *a);

/* The admin unix socket bound at path, or -1: the caller owns it. NULL in: -1. */
int inherited_take_unix(struct inherited *in, const char *path);

/* How many sockets are left (not taken). */
size_t inherited_left(const struct inherited *in);

/* Closes what is left, one log line each, and frees. NULL is fine. */
void inherited_free(struct inherited *in);

#endif
