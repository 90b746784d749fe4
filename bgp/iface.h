/*
 * DOC: the announcement interface
 *
 * announce: interface. anylb owns a TUN interface (non-persistent: it vanishes when the last fd
 * on it is closed) and keeps each announced prefix as an address on it; BIRD's `direct`
 * protocol on that interface exports them. Addresses are added and removed over rtnetlink
 * (libmnl); IPv6 ones with IFA_F_NODAD so they are usable at once instead of sitting tentative.
 *
 * The TUN fd is handed to the watchdog (bgp/watchdog.h) and closed here, so that the interface's
 * life is the watchdog's: anylb dies or hangs -> watchdog exits -> interface gone -> BIRD
 * withdraws everything. Fail closed.
 */
#ifndef ANYLB_BGP_IFACE_H
#define ANYLB_BGP_IFACE_H

#include <stddef.h>

/*
 * Creates TUN interface `name` (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE), brings it up, and returns
 * its fd (>= 0; the caller hands it to the watchdog) with *ifindex set. If an interface of that
 * name already exists (a previous anylb's watchdog has not exited yet, or anything else of that
 * name) it fails with -EBUSY; a name the kernel would refuse or expand ('/', ':', '%', blanks, too
 * long) with -EINVAL. Returns -errno with a message in err on failure.
 */
int iface_create(const char *name, int *ifindex, char *err, size_t errlen);

/*
 * Attaches one more queue to the existing interface `name` of index ifindex (made by
 * iface_create, which makes it multi-queue) and returns its fd: the interface now lives until
 * every queue's fd is closed. -ENODEV when that interface is gone (whatever has the name now),
 * -EINVAL when it is not a multi-queue TUN, else -errno; a message in err.
 */
int iface_attach(const char *name, int ifindex, char *err, size_t errlen);

struct iface_nl;

/*
 * Opens an rtnetlink socket for address changes, owned by one thread at a time.
 * NULL with a message in err on failure.
 */
struct iface_nl *iface_nl_open(char *err, size_t errlen);
void iface_nl_close(struct iface_nl *nl);

/*
 * Adds / removes addr (family AF_INET/AF_INET6, network order, plen bits) on ifindex, blocking
 * on the netlink ack (microseconds: the kernel answers synchronously; -ETIMEDOUT after a
 * second without one). Adding an address that is there, or removing one that is not, is
 * success. Returns 0 or -errno (message in err): -EAFNOSUPPORT for another family, -EINVAL for
 * plen or ifindex out of range, -ENODEV when the interface is gone.
 */
int iface_addr_add(struct iface_nl *nl, int ifindex, int family, const void *addr, unsigned plen,
	char *err, size_t errlen);
int iface_addr_del(struct iface_nl *nl, int ifindex, int family, const void *addr, unsigned plen,
	char *err, size_t errlen);

#endif
