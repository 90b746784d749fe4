/*
 * DOC: least privilege
 *
 * Once anylb is set up (listeners, TUN interface and watchdog, admin sockets bound), it needs
 * root no longer: privdrop_apply() switches to global.user / global.group and keeps only the
 * capabilities the run needs. See privdrop.c for what is dropped and in which order.
 */
#ifndef ANYLB_LB_PRIVDROP_H
#define ANYLB_LB_PRIVDROP_H

#include "conf/conf.h"

#include <stdint.h>

/*
 * The capabilities a run with configuration c needs after set-up, as a lib/caps.h mask:
 * CAP_NET_BIND_SERVICE always (a reload may add a listener below 1024), CAP_NET_ADMIN when
 * bgp announces through the TUN interface (addresses over rtnetlink, and recreating the
 * interface if the watchdog went).
 */
uint64_t privdrop_needed_caps(const struct conf *c);

/*
 * Drops privileges as c->global says; nothing at all when global.user is not set (the
 * default). Must be called while the process has a single thread: capabilities are per
 * thread, and a thread started earlier would keep root's. On success returns 0 and the
 * process runs as the user, with its permitted and effective sets at most
 * privdrop_needed_caps(c), an empty inheritable and ambient set, a bounding set cut to the
 * same (when it could be cut) and no_new_privs set; the change cannot be undone. On failure
 * it logs why and returns -errno: the caller must not go on serving (the process may be
 * half-way).
 */
int privdrop_apply(const struct conf *c);

#endif
