/*
 * DOC: the interface mechanism
 *
 * Announced prefixes are addresses on a TUN interface whose fd only the watchdog process holds
 * (bgp/watchdog.c): when anylb dies, or its loops stall past watchdog_timeout, the watchdog
 * exits, the interface goes, BIRD's `direct` protocol loses the routes. Addresses are set over
 * rtnetlink (bgp/iface.c), synchronously.
 *
 * The prefixes are also kept on lo for anylb's whole life, so the addresses stay local when
 * they are withdrawn (or the watchdog takes the interface away): sessions that are established,
 * or clients still routed here while routers converge, keep being served.
 *
 * The binary upgrade. The interface is multi-queue: the successor attaches a queue of its own
 * (bgp/iface.c iface_attach, checked against the index the old process describes) and forks its
 * own watchdog on it, leaving the addresses alone; the interface now lives while either
 * watchdog does. Once the successor serves, the old process stops its watchdog at once (its
 * queue goes, the interface stays with the successor's) and removes nothing, neither from the
 * interface nor from lo, where the successor's listeners need the addresses. Fail closed at
 * every instant: killed before the successor attached, the old process's watchdog takes the
 * interface away (and the successor, finding it gone, starts from a fresh, empty one); killed
 * after, the successor holds it and serves; the successor killed before it serves, the old
 * process's watchdog still holds it and the old process goes on; killed after, nothing holds it.
 */
#include "bgp/announce.h"

#include "bgp/iface.h"
#include "bgp/watchdog.h"
#include "lib/log.h"

#include <errno.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct iface_mech {
	struct announce_mech m;
	char *interface;
	uint64_t timeout_ms;
	struct watchdog_ids ids;
	int drop; /* ids holds who the watchdog runs as */
	const struct announce_target *all;
	size_t nall;
	struct iface_nl *nl;
	_Atomic int ifindex; /* set by rearm (main thread), read by apply (announcer's loop) */
	pid_t wd_pid;
	int wd_fd;
	int lo_index; /* > 0 once the prefixes are on lo */
	int handed;   /* handed over to the successor: no rearm, nothing removed at free */
};

static void lo_addresses(struct iface_mech *im, int add)
{
	char err[160];

	for (size_t i = 0; i < im->nall; i++) {
		for (size_t j = 0; j < im->all[i].nprefixes; j++) {
			const struct announce_prefix *p = &im->all[i].prefixes[j];
			int rc = add ? iface_addr_add(im->nl, im->lo_index, p->family, p->addr,
					       p->len, err, sizeof(err))
				     : iface_addr_del(im->nl, im->lo_index, p->family, p->addr,
					       p->len, err, sizeof(err));
			if (rc < 0)
				log_warn("bgp: cannot %s %s on lo: %s", add ? "add" : "remove",
					p->text, err);
		}
	}
}

static int iface_apply(struct announce_mech *m, const struct announce_target *t, int announce,
	void (*done)(void *arg), void *arg)
{
	struct iface_mech *im = (struct iface_mech *)m;
	int ifindex = atomic_load(&im->ifindex), failed = 0;
	char err[160];
	(void)done;
	(void)arg;

	for (size_t i = 0; i < t->nprefixes; i++) {
		const struct announce_prefix *p = &t->prefixes[i];
		int rc = announce ? iface_addr_add(im->nl, ifindex, p->family, p->addr, p->len, err,
					    sizeof(err))
				  : iface_addr_del(im->nl, ifindex, p->family, p->addr, p->len, err,
					    sizeof(err));
		if (rc < 0) {
			log_error("service %s: cannot %s %s on %s: %s", t->service,
				announce ? "add" : "remove", p->text, im->interface, err);
			failed = rc;
		}
	}
	return failed;
}

/*
 * The interface (attach > 0: a queue of that existing one) and a watchdog holding it; the TUN fd
 * is the watchdog's alone. On failure msg says what failed.
 */
static int spawn(
	struct iface_mech *im, int attach, int *ifindex, pid_t *pid, int *fd, char *msg, size_t cap)
{
	char why[160];
	int tun = attach > 0 ? iface_attach(im->interface, attach, why, sizeof(why))
			     : iface_create(im->interface, ifindex, why, sizeof(why));

	if (tun < 0) {
		snprintf(msg, cap, "cannot %s interface %s: %s",
			attach > 0 ? "attach to" : "create", im->interface, why);
		return tun;
	}
	if (attach > 0)
		*ifindex = attach;
	int rc = watchdog_spawn(tun, im->timeout_ms, im->drop ? &im->ids : NULL, pid, fd);
	close(tun); /* the watchdog's now: the interface lives as long as it does */
	if (rc < 0)
		snprintf(msg, cap, "cannot start the watchdog: %s", strerror(-rc));
	return rc;
}

static int iface_watchdog_fd(const struct announce_mech *m)
{
	return ((const struct iface_mech *)m)->wd_fd;
}

static int iface_rearm(struct announce_mech *m)
{
	struct iface_mech *im = (struct iface_mech *)m;
	char msg[200];
	int ifindex;
	pid_t pid;
	int fd;

	if (im->wd_pid > 0) {
		watchdog_stop(im->wd_pid, im->wd_fd, 100);
		im->wd_pid = -1;
		im->wd_fd = -1;
	}
	if (im->handed)
		return -ECANCELED;
	int rc = spawn(im, 0, &ifindex, &pid, &fd, msg, sizeof(msg));
	if (rc < 0)
		return rc;
	im->wd_pid = pid;
	im->wd_fd = fd;
	atomic_store(&im->ifindex, ifindex);
	log_info("bgp: interface %s (index %d) recreated, held by watchdog %d", im->interface,
		ifindex, (int)pid);
	return 0;
}

static void iface_free(struct announce_mech *m)
{
	struct iface_mech *im = (struct iface_mech *)m;

	if (im == NULL)
		return;
	if (im->nl != NULL && im->lo_index > 0 && !im->handed)
		lo_addresses(im, 0);
	if (im->nl != NULL)
		iface_nl_close(im->nl);
	if (im->wd_pid > 0)
		watchdog_stop(im->wd_pid, im->wd_fd, 500);
	free(im->interface);
	free(im);
}

static int iface_describe(const struct announce_mech *m, char *buf, size_t cap)
{
	const struct iface_mech *im = (const struct iface_mech *)m;
	int n = snprintf(buf, cap, "interface %s ifindex %d", im->interface,
		atomic_load(&((struct iface_mech *)im)->ifindex));

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static void iface_handed_over(struct announce_mech *m)
{
	struct iface_mech *im = (struct iface_mech *)m;

	im->handed = 1;
	if (im->wd_pid > 0) {
		/* Its queue goes with it; the successor's watchdog holds the interface. */
		watchdog_stop(im->wd_pid, im->wd_fd, 500);
		log_info("bgp: interface %s is the successor's now: watchdog %d stopped",
			im->interface, (int)im->wd_pid);
		im->wd_pid = -1;
		im->wd_fd = -1;
	}
}

static const struct announce_ops iface_ops = {
	.name = "interface",
	.apply = iface_apply,
	.kept_by_bird = 0,
	.matches = NULL,
	.watchdog_fd = iface_watchdog_fd,
	.rearm = iface_rearm,
	.describe = iface_describe,
	.handed_over = iface_handed_over,
	.free = iface_free,
};

struct announce_mech *announce_iface_new(const struct announce_iface_conf *c, int *err)
{
	struct iface_mech *im = calloc(1, sizeof(*im));
	char msg[200];
	int ifindex = 0;

	if (im == NULL || (im->interface = strdup(c->interface)) == NULL) {
		free(im);
		log_error("bgp: out of memory");
		*err = -ENOMEM;
		return NULL;
	}
	im->m.ops = &iface_ops;
	im->timeout_ms = c->watchdog_timeout_ms;
	im->drop = c->ids != NULL;
	if (c->ids != NULL)
		im->ids = *c->ids;
	im->all = c->all;
	im->nall = c->nall;
	im->wd_pid = -1;
	im->wd_fd = -1;
	int rc = -ENODEV;
	if (c->adopted != NULL)
		*c->adopted = 0;
	if (c->adopt_ifindex > 0) {
		rc = spawn(
			im, c->adopt_ifindex, &ifindex, &im->wd_pid, &im->wd_fd, msg, sizeof(msg));
		if (rc == 0 && c->adopted != NULL)
			*c->adopted = 1;
		if (rc == -ENODEV)
			log_warn(
				"bgp: %s: starting from a fresh interface, nothing announced", msg);
	}
	if (rc == -ENODEV)
		rc = spawn(im, 0, &ifindex, &im->wd_pid, &im->wd_fd, msg, sizeof(msg));
	atomic_store(&im->ifindex, ifindex);
	if (rc < 0) {
		log_error("bgp: %s", msg);
		*err = rc;
		iface_free(&im->m);
		return NULL;
	}
	im->nl = iface_nl_open(msg, sizeof(msg));
	if (im->nl == NULL) {
		log_error("bgp: netlink: %s", msg);
		*err = -EIO;
		iface_free(&im->m);
		return NULL;
	}
	im->lo_index = (int)if_nametoindex("lo");
	if (im->lo_index > 0)
		lo_addresses(im, 1);
	log_info("bgp: interface %s (index %d) %s by watchdog %d (timeout %llums)", c->interface,
		ifindex, c->adopted != NULL && *c->adopted ? "taken over, also held" : "held",
		(int)im->wd_pid, (unsigned long long)c->watchdog_timeout_ms);
	return &im->m;
}
