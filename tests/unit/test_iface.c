/*
 * DOC: announcement interface tests
 *
 * Real TUN interfaces and real rtnetlink, each test in a network namespace of its own: Criterion
 * runs every test in a forked process, which unshare()s its network namespace first, so nothing
 * touches the host's interfaces and the namespace (with whatever the test left in it) vanishes
 * when the test process exits. Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN); skipped without.
 * Results are read back with `ip -o addr` and by binding to the addresses, the latter being the
 * proof that an IPv6 address is usable (a tentative one refuses bind with EADDRNOTAVAIL).
 */
#include "bgp/iface.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME "anylbt0"

static void enter_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		if (errno == EPERM)
			cr_skip_test("needs root to create a network namespace");
		cr_assert_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Polls until the interface is gone; returns the wait in ms, or -1 after max_ms. */
static double wait_gone(const char *name, double max_ms)
{
	double t0 = now_ms();
	struct timespec step = {.tv_sec = 0, .tv_nsec = 200 * 1000};

	while (if_nametoindex(name) != 0) {
		if (now_ms() - t0 > max_ms)
			return -1;
		nanosleep(&step, NULL);
	}
	return now_ms() - t0;
}

/* `ip -o addr show dev name` into out (NUL-terminated). */
static void ip_addr_show(const char *name, char *out, size_t outlen)
{
	char cmd[128];
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "ip -o addr show dev %s 2>&1", name);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen: %s", strerror(errno));
	while (n + 1 < outlen) {
		size_t r = fread(out + n, 1, outlen - 1 - n, p);
		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "ip failed: %s", out);
}

/* The line of `ip -o addr` output that mentions needle, copied into line; 0 if none. */
static int find_line(const char *out, const char *needle, char *line, size_t linelen)
{
	const char *hit = strstr(out, needle);

	if (hit == NULL)
		return 0;
	const char *start = hit;
	while (start > out && start[-1] != '\n')
		start--;
	const char *end = strchr(hit, '\n');
	size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
	if (len >= linelen)
		len = linelen - 1;
	memcpy(line, start, len);
	line[len] = '\0';
	return 1;
}

/* bind() to addr:0 succeeds only for a local, non-tentative address (no IP_FREEBIND here). */
static int try_bind(int family, const char *text)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc = 0;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, text, &sin->sin_addr);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &sin6->sin6_addr);
		sl = sizeof(*sin6);
	}
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int create_ok(int *ifindex)
{
	char err[256] = "";
	int fd = iface_create(NAME, ifindex, err, sizeof(err));

	cr_assert_geq(fd, 0, "iface_create: %d %s", fd, err);
	return fd;
}

TestSuite(iface, .timeout = 20);

Test(iface, create_is_up_with_the_right_index)
{
	char out[4096];
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	cr_assert_gt(ifindex, 0);
	cr_assert_eq((unsigned)ifindex, if_nametoindex(NAME));

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ip -o link show dev %s 2>&1", NAME);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	cr_assert(strstr(out, "<POINTOPOINT") != NULL && strstr(out, ",UP") != NULL,
		"not a TUN or not up: %s", out);
	close(fd);
}

Test(iface, add_and_remove_addresses)
{
	char out[4096], line[512], err[256] = "";
	struct in_addr v4;
	struct in6_addr v6;
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	struct iface_nl *nl = iface_nl_open(err, sizeof(err));
	cr_assert_not_null(nl, "%s", err);
	inet_pton(AF_INET, "192.0.2.10", &v4);
	inet_pton(AF_INET6, "2001:db8::10", &v6);

	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
		iface_addr_add(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0, "%s", err);

	ip_addr_show(NAME, out, sizeof(out));
	cr_assert(find_line(out, "inet 192.0.2.10/32", line, sizeof(line)), "no IPv4: %s", out);
	cr_assert(find_line(out, "inet6 2001:db8::10/128", line, sizeof(line)), "no IPv6: %s", out);
	cr_assert_null(strstr(line, "tentative"), "IPv6 address tentative: %s", line);
	cr_assert_not_null(strstr(line, "nodad"), "IPv6 address without nodad: %s", line);
	cr_assert_not_null(strstr(line, "scope global"), "%s", line);
	/* Usable at once: no duplicate address detection to wait for. */
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), 0);
	cr_assert_eq(try_bind(AF_INET6, "2001:db8::10"), 0);

	/* Adding what is there is success, and changes nothing. */
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
		iface_addr_add(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(iface_addr_del(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);
	ip_addr_show(NAME, out, sizeof(out));
	cr_assert_null(strstr(out, "192.0.2.10"), "IPv4 still there: %s", out);
	cr_assert_not_null(strstr(out, "inet6 2001:db8::10/128"), "IPv6 gone too: %s", out);
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), -EADDRNOTAVAIL);

	/* Removing what is not there is success. */
	cr_assert_eq(iface_addr_del(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(
		iface_addr_del(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0, "%s", err);
	ip_addr_show(NAME, out, sizeof(out));
	cr_assert_null(strstr(out, "2001:db8::10"), "IPv6 still there: %s", out);
	cr_assert_eq(
		iface_addr_del(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0, "%s", err);

	iface_nl_close(nl);
	close(fd);
}

Test(iface, many_addresses_both_families)
{
	char out[16384], text[64], err[256] = "";
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	struct iface_nl *nl = iface_nl_open(err, sizeof(err));
	cr_assert_not_null(nl, "%s", err);
	for (int k = 1; k <= 20; k++) {
		struct in_addr v4;
		struct in6_addr v6;
		snprintf(text, sizeof(text), "198.51.100.%d", k);
		inet_pton(AF_INET, text, &v4);
		snprintf(text, sizeof(text), "2001:db8:1::%x", k);
		inet_pton(AF_INET6, text, &v6);
		cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0,
			"%s", err);
		cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0,
			"%s", err);
	}
	ip_addr_show(NAME, out, sizeof(out));
	cr_assert_not_null(strstr(out, "inet 198.51.100.20/32"), "%s", out);
	cr_assert_not_null(strstr(out, "inet6 2001:db8:1::14/128"), "%s", out);
	cr_assert_null(strstr(out, "tentative"), "%s", out);
	iface_nl_close(nl);
	close(fd);
}

Test(iface, second_create_is_busy)
{
	char err[256] = "";
	int ifindex = 0, ifindex2 = -7;

	enter_netns();
	int fd = create_ok(&ifindex);
	cr_assert_eq(iface_create(NAME, &ifindex2, err, sizeof(err)), -EBUSY);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(ifindex2, -7, "out parameter touched on failure");
	cr_assert_eq((unsigned)ifindex, if_nametoindex(NAME), "the first one was disturbed");
	close(fd);
	cr_assert_geq(wait_gone(NAME, 2000), 0);
	fd = create_ok(&ifindex);
	close(fd);
}

/* Neither made over nor attached to: a veth of that name is not ours. */
Test(iface, existing_non_tun_is_busy)
{
	char err[256] = "";
	int ifindex = 0;

	enter_netns();
	cr_assert_eq(system("ip link add " NAME " type veth peer name anylbt0p"), 0);
	cr_assert_eq(iface_create(NAME, &ifindex, err, sizeof(err)), -EBUSY, "%s", err);
	err[0] = '\0';
	int rc = iface_attach(NAME, (int)if_nametoindex(NAME), err, sizeof(err));
	cr_assert_lt(rc, 0, "attached to a veth");
	cr_assert_neq(err[0], '\0');
	cr_assert_neq(if_nametoindex(NAME), 0u, "the veth went");
}

Test(iface, gone_when_fd_closed)
{
	char err[256] = "";
	struct in_addr v4;
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	struct iface_nl *nl = iface_nl_open(err, sizeof(err));
	cr_assert_not_null(nl, "%s", err);
	inet_pton(AF_INET, "192.0.2.10", &v4);
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), 0);

	/* close() returns only after the kernel unregistered the device (an RCU grace period). */
	double t0 = now_ms();
	close(fd);
	double closed = now_ms() - t0;
	double gone = wait_gone(NAME, 2000);
	cr_assert_geq(gone, 0, "interface still there 2 s after close");
	fprintf(stderr,
		"iface: interface gone %.2f ms after close(tun fd) began (close: %.2f ms)\n",
		now_ms() - t0, closed);
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), -EADDRNOTAVAIL, "address outlived it");

	/* The interface is gone: a real error, with a message. */
	err[0] = '\0';
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), -ENODEV);
	cr_assert_not_null(strstr(err, "192.0.2.10/32"), "%s", err);
	iface_nl_close(nl);
}

/* The binary upgrade's handover: a second queue keeps the interface and its addresses. */
Test(iface, attached_queue_keeps_it_after_the_first_closes)
{
	char err[256] = "";
	struct in_addr v4;
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	struct iface_nl *nl = iface_nl_open(err, sizeof(err));
	cr_assert_not_null(nl, "%s", err);
	inet_pton(AF_INET, "192.0.2.10", &v4);
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 32, err, sizeof(err)), 0, "%s", err);

	int fd2 = iface_attach(NAME, ifindex, err, sizeof(err));
	cr_assert_geq(fd2, 0, "%s", err);
	cr_assert_eq(iface_create(NAME, &(int){0}, err, sizeof(err)), -EBUSY, "still exclusive");
	close(fd);
	struct timespec settle = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
	nanosleep(&settle, NULL);
	cr_assert_eq(if_nametoindex(NAME), (unsigned)ifindex, "gone with the first queue");
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), 0, "the address went with the first queue");

	/* The last queue takes it and its addresses away. */
	close(fd2);
	cr_assert_geq(wait_gone(NAME, 2000), 0, "interface still there 2 s after the last close");
	cr_assert_eq(try_bind(AF_INET, "192.0.2.10"), -EADDRNOTAVAIL);
	iface_nl_close(nl);
}

/* An interface that went in the meantime is not silently made again by the attach. */
Test(iface, attach_to_a_gone_interface_is_refused)
{
	char err[256] = "";
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	close(fd);
	cr_assert_geq(wait_gone(NAME, 2000), 0);
	cr_assert_eq(iface_attach(NAME, ifindex, err, sizeof(err)), -ENODEV, "%s", err);
	cr_assert_not_null(strstr(err, "gone"), "%s", err);
	cr_assert_geq(wait_gone(NAME, 2000), 0, "the attach left an interface behind");

	/* Same name, another interface: refused too, and that one is left alone. */
	fd = create_ok(&ifindex);
	cr_assert_eq(iface_attach(NAME, ifindex + 1000, err, sizeof(err)), -ENODEV, "%s", err);
	cr_assert_eq(if_nametoindex(NAME), (unsigned)ifindex, "the attach disturbed it");
	close(fd);
	cr_assert_eq(iface_attach("bad/name", 3, err, sizeof(err)), -EINVAL);
	cr_assert_eq(iface_attach(NAME, 0, err, sizeof(err)), -EINVAL);
}

Test(iface, bad_names_rejected)
{
	static const char *const bad[] = {
		"",
		"0123456789abcdef", /* 16: one too many with the NUL */
		"a/b",
		"a b",
		"a\tb",
		".",
		"..",
		"anylb%d",
		"a:b",
		"caf\xc3\xa9",
	};
	char err[256];
	int ifindex = 0;

	enter_netns();
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err[0] = '\0';
		cr_assert_eq(
			iface_create(bad[k], &ifindex, err, sizeof(err)), -EINVAL, "[%s]", bad[k]);
		cr_assert_neq(err[0], '\0');
	}
	err[0] = '\0';
	cr_assert_eq(iface_create(NULL, &ifindex, err, sizeof(err)), -EINVAL);
	cr_assert_neq(err[0], '\0');

	/* 15 characters is the longest name and is fine. */
	int fd = iface_create("anylb-123456789", &ifindex, err, sizeof(err));
	cr_assert_geq(fd, 0, "%s", err);
	close(fd);
}

Test(iface, bad_address_arguments)
{
	char err[256];
	struct in_addr v4;
	struct in6_addr v6;
	int ifindex = 0;

	enter_netns();
	int fd = create_ok(&ifindex);
	struct iface_nl *nl = iface_nl_open(err, sizeof(err));
	cr_assert_not_null(nl, "%s", err);
	inet_pton(AF_INET, "192.0.2.10", &v4);
	inet_pton(AF_INET6, "2001:db8::10", &v6);

	err[0] = '\0';
	cr_assert_eq(
		iface_addr_add(nl, ifindex, AF_UNIX, &v4, 32, err, sizeof(err)), -EAFNOSUPPORT);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, &v4, 33, err, sizeof(err)), -EINVAL);
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET6, &v6, 129, err, sizeof(err)), -EINVAL);
	cr_assert_eq(iface_addr_add(nl, 0, AF_INET, &v4, 32, err, sizeof(err)), -EINVAL);
	cr_assert_eq(iface_addr_add(nl, ifindex, AF_INET, NULL, 32, err, sizeof(err)), -EINVAL);
	err[0] = '\0';
	cr_assert_eq(
		iface_addr_add(nl, ifindex + 100, AF_INET6, &v6, 128, err, sizeof(err)), -ENODEV);
	cr_assert_not_null(strstr(err, "2001:db8::10/128"), "%s", err);
	/* A tiny error buffer is truncated, not overrun. */
	char tiny[8];
	cr_assert_eq(
		iface_addr_add(nl, ifindex + 100, AF_INET, &v4, 32, tiny, sizeof(tiny)), -ENODEV);
	cr_assert_eq(strlen(tiny), sizeof(tiny) - 1);

	/* The socket still works after errors: no stale ack is taken for the next answer. */
	cr_assert_eq(
		iface_addr_add(nl, ifindex, AF_INET6, &v6, 128, err, sizeof(err)), 0, "%s", err);
	iface_nl_close(nl);
	iface_nl_close(NULL);
	close(fd);
}
