/*
 * DOC: least privilege: the drop after set-up
 *
 * anylb needs root (or a few capabilities) to set up: listeners below port 1024, the TUN
 * interface, a unix socket in a root-owned directory, files only root may read. Once that is
 * done it keeps only what the run needs (privdrop_needed_caps) and becomes global.user, in this
 * order, each step while the previous one's privilege is still there:
 *
 *   1. one thread only    capabilities belong to threads: a thread started before the drop
 *                         would keep root's, so a second thread is a broken invariant
 *   2. bounding set       every capability but the kept ones, while CAP_SETPCAP is effective
 *                         (without it, as under systemd's User=, the unit's
 *                         CapabilityBoundingSet= did it; no_new_privs covers the rest)
 *   3. ambient set        emptied: nothing anylb might execute inherits a capability
 *   4. user and groups    PR_SET_KEEPCAPS so the permitted set survives setuid, then
 *                         setgroups(0), setresgid, setresuid (real, effective and saved: no
 *                         way back), and KEEPCAPS off again. Skipped when the process already
 *                         is uid:gid (systemd's User= and Group=): its supplementary groups
 *                         (SupplementaryGroups=bird) are then the launcher's choice and stay.
 *   5. capabilities       permitted = effective = the kept ones, inheritable empty
 *   6. no_new_privs       no execve can gain privileges again (set-uid files, file caps)
 *   7. check              ids, groups and sets are what was asked for, and setuid(0) fails
 *
 * A parent-death signal (a supervisor's PR_SET_PDEATHSIG) is cleared by the kernel when the ids
 * change; it is set again after step 4.
 *
 * The kernel also makes the process non-dumpable once its ids change: other processes of the
 * user cannot ptrace it or read its memory, and /proc/PID stays root's. Sanitizer builds undo
 * that (see privdrop_sanitizer_dumpable), because LeakSanitizer must ptrace its own process.
 *
 * The watchdog process was forked before the drop: it drops to the same user and to no
 * capability at all on its own (bgp/watchdog.c); the announcer tells it the ids.
 */
#include "lb/privdrop.h"

#include "lib/caps.h"
#include "lib/dirent_count.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PRIVDROP_CAPS_TEXT 256

uint64_t privdrop_needed_caps(const struct conf *c)
{
	uint64_t keep = CAPS_BIT(CAP_NET_BIND_SERVICE);

	if (c->bgp.enabled && c->bgp.announce == CONF_ANNOUNCE_INTERFACE)
		keep |= CAPS_BIT(CAP_NET_ADMIN);
	/* The flow hand-off's filter is removed at the stop (lb/handoff.c): tc needs it. */
	if (c->bgp.flow.enabled)
		keep |= CAPS_BIT(CAP_NET_ADMIN);
	return keep;
}

/* Threads of this process (entries of /proc/self/task), or -errno. */
static int privdrop_threads(void)
{
	return dirent_count("/proc/self/task");
}

/* Step 2: 1 when the bounding set is now within keep, 0 when it could not be cut, or -errno. */
static int privdrop_bounding(uint64_t keep, uint64_t effective)
{
	if (!(effective & CAPS_BIT(CAP_SETPCAP)))
		return 0;
	for (int cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break; /* EINVAL: past the last capability this kernel knows */
		if (in == 0 || (keep & CAPS_BIT(cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 1;
}

/* Step 4. */
static int privdrop_ids(uid_t uid, gid_t gid)
{
	int rc = 0;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		rc = -errno;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Step 7: what the kernel says now. Returns 0, or -EPERM with why in buf. */
static int privdrop_check(uid_t uid, gid_t gid, int switched, uint64_t keep, char *why, size_t n)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	uint64_t eff = 0, prm = 0;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
		caps_get(&eff, &prm) < 0) {
		snprintf(why, n, "cannot read the credentials back: %s", strerror(errno));
		return -EPERM;
	}
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
		snprintf(why, n, "uids %u/%u/%u, gids %u/%u/%u", ru, eu, su, rg, eg, sg);
		return -EPERM;
	}
	if (switched && getgroups(0, NULL) != 0) {
		snprintf(why, n, "supplementary groups are left");
		return -EPERM;
	}
	if (eff != keep || prm != keep) {
		snprintf(why, n, "capabilities effective %#llx, permitted %#llx",
			(unsigned long long)eff, (unsigned long long)prm);
		return -EPERM;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(why, n, "setuid(0) still works");
		return -EPERM;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		snprintf(why, n, "no_new_privs is not set");
		return -EPERM;
	}
	return 0;
}

/*
 * LeakSanitizer checks for leaks at exit from a helper task that ptraces this process, which a
 * non-dumpable process refuses: every exit would fail. Only sanitizer builds, never a release,
 * make the process dumpable again.
 */
static void privdrop_sanitizer_dumpable(void)
{
#if defined(__SANITIZE_ADDRESS__)
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
#endif
}

/*
 * With CAP_NET_ADMIN kept, the TUN interface is recreated by this user if the watchdog goes
 * (announcer_rearm), and an upgrade's successor attaches to it, both opening /dev/net/tun again:
 * udev makes it 0666, but a system (or a container) where it is root's 0600 would leave every
 * prefix withdrawn after the first watchdog timeout, and refuse every upgrade (the old process
 * goes on). Better said at start than found out then.
 */
static void privdrop_check_tun(uint64_t keep)
{
	if (!(keep & CAPS_BIT(CAP_NET_ADMIN)))
		return;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return;
	}
	log_warn("privdrop: this user cannot open /dev/net/tun (%s): if the watchdog ever goes, "
		 "the interface cannot be recreated and the prefixes stay withdrawn until a "
		 "restart, and an upgrade cannot take the interface over (it fails, this process "
		 "goes on); make the device 0666 (udev's default)",
		strerror(errno));
}

int privdrop_apply(const struct conf *c)
{
	const struct conf_global *g = &c->global;
	char why[160], kept[PRIVDROP_CAPS_TEXT];
	uint64_t keep = privdrop_needed_caps(c), eff = 0, prm = 0;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int rc;

	if (g->user == NULL)
		return 0;
	rc = privdrop_threads();
	if (rc > 1) {
		log_error("privdrop: %d threads run already; the drop must come before any thread",
			rc);
		return -EBUSY;
	}
	if ((rc = caps_get(&eff, &prm)) < 0 || getresuid(&ru, &eu, &su) < 0 ||
		getresgid(&rg, &eg, &sg) < 0) {
		rc = rc < 0 ? rc : -errno;
		log_error("privdrop: cannot read the credentials: %s", strerror(-rc));
		return rc;
	}
	/* Capabilities can only be dropped: a run started without one does without it. */
	keep &= prm;
	int switched = !(ru == g->uid && eu == g->uid && su == g->uid && rg == g->gid &&
			 eg == g->gid && sg == g->gid);

	int cut = privdrop_bounding(keep, eff);
	if (cut < 0) {
		log_error("privdrop: cannot cut the capability bounding set: %s", strerror(-cut));
		return cut;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		rc = -errno;
		log_error("privdrop: cannot empty the ambient capability set: %s", strerror(-rc));
		return rc;
	}
	/* The kernel forgets a parent-death signal when the ids change: the launcher set it. */
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
	if (switched && (rc = privdrop_ids(g->uid, g->gid)) < 0) {
		log_error("privdrop: cannot become user %s (uid %u, gid %u) from uid %u: %s%s",
			g->user, (unsigned)g->uid, (unsigned)g->gid, (unsigned)eu, strerror(-rc),
			eu != 0 ? " (start anylb as root, or as that user, or leave global.user "
				  "out)"
				: "");
		return rc;
	}
	if (switched && pdeath > 0)
		prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0);
	if ((rc = caps_set(keep)) < 0) {
		log_error("privdrop: cannot set the capabilities: %s", strerror(-rc));
		return rc;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		log_error("privdrop: cannot set no_new_privs: %s", strerror(-rc));
		return rc;
	}
	if ((rc = privdrop_check(g->uid, g->gid, switched, keep, why, sizeof(why))) < 0) {
		log_error("privdrop: the drop did not hold: %s", why);
		return rc;
	}
	privdrop_sanitizer_dumpable();
	privdrop_check_tun(keep);
	log_info("privileges dropped: user %s (uid %u), group %s (gid %u), capabilities %s%s",
		g->user, (unsigned)g->uid, g->group != NULL ? g->group : "of the user",
		(unsigned)g->gid, caps_format(keep, kept, sizeof(kept)),
		cut ? "" : " (bounding set left to the launcher)");
	if (g->uid == 0)
		log_warn("global.user is root: only capabilities were dropped");
	return 0;
}
