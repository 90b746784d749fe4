/*
 * DOC: the announcement interface
 *
 * Creating the TUN interface is three ioctls: TUNSETIFF on /dev/net/tun (with IFF_TUN_EXCL, so
 * that an existing interface of that name, a TUN left by a previous anylb's watchdog or anything
 * else, is refused with EBUSY instead of being silently attached to), then SIOCGIFFLAGS /
 * SIOCSIFFLAGS on a throw-away socket to bring it up. The interface is not persistent: it lives
 * exactly as long as some process holds a queue of it.
 *
 * It is multi-queue (IFF_MULTI_QUEUE) for the binary upgrade: each fd opened on the name with the
 * same flags is one more queue of the same interface, and the interface goes with the last one.
 * Attaching is the same TUNSETIFF without IFF_TUN_EXCL, which would also create the interface if
 * it were gone by then: so the index is compared with the one expected, and a fresh interface is
 * closed (and so removed) at once.
 *
 * Addresses go over a private rtnetlink socket, one request at a time, each answered by an ack
 * that we wait for with a deadline. rtnetlink handles requests synchronously in sendmsg(), so the
 * ack is normally already queued when we start waiting; the deadline only guards against a
 * kernel or a sandbox that never answers. Replies whose sequence number is not the one we wait
 * for (left over from a request that timed out) are skipped. With NETLINK_EXT_ACK the kernel's
 * own explanation of a refusal is appended to the message in err.
 */
#include "bgp/iface.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How long an address request may wait for its ack. */
#define IFACE_NL_TIMEOUT_MS 1000
/* libmnl's MNL_SOCKET_BUFFER_SIZE is a sysconf() call, which would make these VLAs. */
#define IFACE_NL_RXBUF 8192
#define IFACE_NL_TXBUF 512

struct iface_nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
};

/*
 * The kernel's dev_valid_name() plus '%': TUNSETIFF would expand "anylb%d" to the first free
 * name, and we must own exactly the name BIRD is configured for.
 */
static int iface_name_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c == ':' || c == '%' || c <= ' ' || c >= 0x7f)
			return 0;
	}
	return 1;
}

/* TUNSETIFF on a fresh /dev/net/tun fd; the fd (>= 0) or -errno with a message in err. */
static int tun_open(const char *name, int excl, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, rc;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: opening /dev/net/tun: %s", name, strerror(-rc));
		return rc;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	/* ifr_flags is a short and IFF_TUN_EXCL its sign bit: the wrap is what the kernel reads. */
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (excl ? IFF_TUN_EXCL : 0));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		if (rc == -EBUSY && excl)
			snprintf(err, errlen,
				"%s: an interface of that name already exists (a previous "
				"anylb's watchdog still running?)",
				name);
		else if (rc == -EINVAL && !excl)
			snprintf(err, errlen,
				"%s: not a multi-queue TUN interface (made by an older anylb, or "
				"by something else)",
				name);
		else
			snprintf(err, errlen, "%s: TUNSETIFF: %s", name, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

/* SIOCGIFINDEX, and IFF_UP when up is set; 0 or -errno with a message in err. */
static int tun_index(const char *name, int up, int *ifindex, char *err, size_t errlen)
{
	struct ifreq ifr;
	int sock, rc = 0;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	/* Any socket reaches the SIOC*IF* ioctls; netlink exists even without IPv4. */
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: socket: %s", name, strerror(-rc));
		return rc;
	}
	if (up && ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: SIOCGIFFLAGS: %s", name, strerror(-rc));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (up && ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: bringing it up: %s", name, strerror(-rc));
		goto out;
	}
	if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: SIOCGIFINDEX: %s", name, strerror(-rc));
		goto out;
	}
	*ifindex = ifr.ifr_ifindex;
out:
	close(sock);
	return rc;
}

int iface_create(const char *name, int *ifindex, char *err, size_t errlen)
{
	int fd, rc;

	if (!iface_name_valid(name)) {
		snprintf(err, errlen, "invalid interface name \"%s\"",
			name != NULL ? name : "(null)");
		return -EINVAL;
	}
	if ((fd = tun_open(name, 1, err, errlen)) < 0)
		return fd;
	if ((rc = tun_index(name, 1, ifindex, err, errlen)) < 0) {
		close(fd); /* the interface goes with it */
		return rc;
	}
	return fd;
}

int iface_attach(const char *name, int ifindex, char *err, size_t errlen)
{
	int fd, rc, got = 0;

	if (!iface_name_valid(name) || ifindex <= 0) {
		snprintf(err, errlen, "invalid interface name \"%s\" or index %d",
			name != NULL ? name : "(null)", ifindex);
		return -EINVAL;
	}
	/* Without IFF_TUN_EXCL: a name that is gone is made afresh, and refused just below. */
	if ((fd = tun_open(name, 0, err, errlen)) < 0)
		return fd;
	if ((rc = tun_index(name, 0, &got, err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	if (got != ifindex) {
		close(fd); /* a fresh interface of that name, ours alone: it goes with the fd */
		snprintf(err, errlen, "%s: index %d, not %d: the interface was gone", name, got,
			ifindex);
		return -ENODEV;
	}
	return fd;
}

struct iface_nl *iface_nl_open(char *err, size_t errlen)
{
	struct iface_nl *nl;
	int one = 1;

	nl = calloc(1, sizeof(*nl));
	if (nl == NULL) {
		snprintf(err, errlen, "rtnetlink: out of memory");
		return NULL;
	}
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (nl->sock == NULL) {
		snprintf(err, errlen, "rtnetlink: socket: %s", strerror(errno));
		free(nl);
		return NULL;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink: bind: %s", strerror(errno));
		mnl_socket_close(nl->sock);
		free(nl);
		return NULL;
	}
	/* Both are optional (kernel >= 4.12): a reason with refusals, no echoed request. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	return nl;
}

void iface_nl_close(struct iface_nl *nl)
{
	if (nl == NULL)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

static int64_t iface_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies the extended ack's NLMSGERR_ATTR_MSG, if the kernel sent one, into msg. */
static void iface_nl_extack(const struct nlmsghdr *nlh, char *msg, size_t msglen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	const struct nlattr *a;

	msg[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* The TLVs follow the echoed request, or only its header if the ack was capped. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(e->msg))
			return;
		off += e->msg.nlmsg_len - sizeof(e->msg);
	}
	off = MNL_ALIGN(off);
	if (off >= mnl_nlmsg_get_payload_len(nlh))
		return;
	mnl_attr_for_each(a, nlh, off)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
			mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(msg, msglen, " (%s)", mnl_attr_get_str(a));
			return;
		}
	}
}

/*
 * Sends the request in nlh and waits for the ack with its sequence number. Returns 0 or the
 * kernel's -errno; kmsg gets the kernel's extended-ack text or "".
 */
static int iface_nl_talk(struct iface_nl *nl, struct nlmsghdr *nlh, char *kmsg, size_t kmsglen)
{
	char buf[IFACE_NL_RXBUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = mnl_socket_get_fd(nl->sock);
	int64_t deadline = iface_now_ms() + IFACE_NL_TIMEOUT_MS;
	unsigned seq = nlh->nlmsg_seq;

	kmsg[0] = '\0';
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		int64_t left = deadline - iface_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		const struct nlmsghdr *r = (const struct nlmsghdr *)buf;
		int rem = (int)len;
		for (; mnl_nlmsg_ok(r, rem); r = mnl_nlmsg_next(r, &rem)) {
			if (r->nlmsg_seq != seq || r->nlmsg_pid != nl->portid)
				continue; /* an ack for a request we gave up on */
			if (r->nlmsg_type != NLMSG_ERROR)
				continue;
			if (r->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
				return -EBADMSG;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(r);
			if (e->error != 0)
				iface_nl_extack(r, kmsg, kmsglen);
			return e->error; /* already -errno, 0 for the ack */
		}
	}
}

static int iface_addr_change(struct iface_nl *nl, int add, int ifindex, int family,
	const void *addr, unsigned plen, char *err, size_t errlen)
{
	char buf[IFACE_NL_TXBUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	char text[INET6_ADDRSTRLEN] = "?";
	char kmsg[200];
	const char *verb = add ? "adding" : "removing";
	size_t alen;
	unsigned maxlen;
	int rc;

	switch (family) {
	case AF_INET:
		alen = sizeof(struct in_addr);
		maxlen = 32;
		break;
	case AF_INET6:
		alen = sizeof(struct in6_addr);
		maxlen = 128;
		break;
	default:
		snprintf(err, errlen, "%s an address: unsupported family %d", verb, family);
		return -EAFNOSUPPORT;
	}
	if (addr == NULL) {
		snprintf(err, errlen, "%s an address: no address", verb);
		return -EINVAL;
	}
	inet_ntop(family, addr, text, sizeof(text));
	if (plen > maxlen || ifindex <= 0) {
		snprintf(err, errlen, "%s %s/%u on ifindex %d: invalid prefix length or ifindex",
			verb, text, plen, ifindex);
		return -EINVAL;
	}

	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (add)
		nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = ++nl->seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (unsigned char)family;
	ifa->ifa_prefixlen = (unsigned char)plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	/*
	 * Without NODAD an IPv6 address sits tentative for a second or more of duplicate address
	 * detection, during which it cannot be bound and BIRD ignores it. ifa_flags carries only
	 * 8 bits; IFA_FLAGS is the modern spelling and both say the same.
	 */
	if (family == AF_INET6 && add) {
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	}
	mnl_attr_put(nlh, IFA_LOCAL, alen, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, addr);

	rc = iface_nl_talk(nl, nlh, kmsg, sizeof(kmsg));
	if (add && rc == -EEXIST)
		rc = 0; /* already there: that is what we wanted */
	if (!add && (rc == -EADDRNOTAVAIL || rc == -ENOENT))
		rc = 0; /* already gone */
	if (rc < 0) {
		snprintf(err, errlen, "%s %s/%u on ifindex %d: %s%s", verb, text, plen, ifindex,
			rc == -ETIMEDOUT ? "no answer from rtnetlink" : strerror(-rc), kmsg);
	}
	return rc;
}

int iface_addr_add(struct iface_nl *nl, int ifindex, int family, const void *addr, unsigned plen,
	char *err, size_t errlen)
{
	return iface_addr_change(nl, 1, ifindex, family, addr, plen, err, errlen);
}

int iface_addr_del(struct iface_nl *nl, int ifindex, int family, const void *addr, unsigned plen,
	char *err, size_t errlen)
{
	return iface_addr_change(nl, 0, ifindex, family, addr, plen, err, errlen);
}
