/*
 * Unit tests of the upgrade's wire (lb/handover.c) and of the inherited sockets
 * (lb/inherited.c): framing, fds that travel, what a broken peer gets, and how an inherited
 * socket is matched by what the kernel says of it.
 */
#include "lb/handover.h"
#include "lb/inherited.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* A TCP listener on 127.0.0.1, port of the kernel's choice; its address in a. */
static int tcp_listener(struct addr *a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	addr_from_sockaddr(a, (struct sockaddr *)&sin, len);
	return fd;
}

Test(handover, a_message_and_its_fds_arrive_whole_and_in_order)
{
	int sv[2], p[2];
	struct handover_msg m;

	pair(sv);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(handover_send(sv[0], HANDOVER_HELLO, "pid 1", 5, NULL, 0, 1000), 0);
	cr_assert_eq(handover_send(sv[0], HANDOVER_FDS, "listen x\n", 9, &p[1], 1, 1000), 0);
	cr_assert_eq(handover_send(sv[0], HANDOVER_END, NULL, 0, NULL, 0, 1000), 0);

	cr_assert_eq(handover_recv(sv[1], &m, 1000), 0);
	cr_expect_eq(m.type, HANDOVER_HELLO);
	cr_expect_str_eq(m.text, "pid 1");
	cr_expect_eq(m.nfds, 0);
	handover_msg_free(&m);

	cr_assert_eq(handover_recv(sv[1], &m, 1000), 0);
	cr_expect_eq(m.type, HANDOVER_FDS);
	cr_assert_eq(m.nfds, 1);
	int fd = handover_msg_take_fd(&m, 0);
	cr_expect_eq(handover_msg_take_fd(&m, 0), -1, "taken once");
	cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC, "received close-on-exec");
	handover_msg_free(&m);
	/* The received fd is the same pipe: what is written there comes out of ours. */
	cr_assert_eq(write(fd, "z", 1), 1);
	char c = 0;
	cr_expect_eq(read(p[0], &c, 1), 1);
	cr_expect_eq(c, 'z');
	close(fd);

	cr_assert_eq(handover_recv(sv[1], &m, 1000), 0);
	cr_expect_eq(m.type, HANDOVER_END);
	cr_expect_eq(m.len, 0);
	handover_msg_free(&m);
	cr_expect_eq(handover_recv(sv[1], &m, 0), -EAGAIN, "nothing more");
	close(sv[0]);
	cr_expect_eq(handover_recv(sv[1], &m, 1000), -ECONNRESET, "the peer closed");
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

Test(handover, a_packet_that_is_not_the_protocol_is_refused_and_its_fds_closed)
{
	int sv[2];
	struct handover_msg m;

	pair(sv);
	cr_assert_eq(send(sv[0], "ab", 2, 0), 2); /* shorter than the header */
	cr_expect_eq(handover_recv(sv[1], &m, 1000), -EPROTO);
	char bad[] = {0, 0, 0, 99, 'x'}; /* no such type */
	cr_assert_eq(send(sv[0], bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	cr_expect_eq(handover_recv(sv[1], &m, 1000), -EPROTO);
	char nul[] = {0, 0, 0, HANDOVER_FAIL, 'a', 0, 'b'}; /* a NUL inside the text */
	cr_assert_eq(send(sv[0], nul, sizeof(nul), 0), (ssize_t)sizeof(nul));
	cr_expect_eq(handover_recv(sv[1], &m, 1000), -EPROTO);
	cr_expect_eq(handover_recv(sv[1], &m, 50), -ETIMEDOUT);
	cr_expect_eq(handover_send(sv[0], HANDOVER_FDS, "x", 1, NULL, HANDOVER_MAX_FDS + 1, 0),
		-EMSGSIZE);
	close(sv[1]);
	cr_expect_eq(handover_send(sv[0], HANDOVER_READY, NULL, 0, NULL, 0, 100), -EPIPE);
	close(sv[0]);
}

Test(inherited, sockets_are_matched_by_what_the_kernel_says_and_taken_once)
{
	struct addr a, b, other;
	int fa = tcp_listener(&a), fb = tcp_listener(&b);
	struct inherited *in = inherited_new();

	cr_assert_not_null(in);
	/* The sender's description is for the log only: matching goes by getsockname. */
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "whatever", fa), 0);
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "b", dup(fb)), 0);
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "b again", dup(fb)), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "a pipe", p[0]), -ENOTSOCK);
	int conn = socket(AF_INET, SOCK_STREAM, 0);
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "not listening", conn), -ENOTSOCK);
	int tcp_as_unix = tcp_listener(&other);
	cr_expect_eq(inherited_add(in, INHERITED_ADMIN_UNIX, "/x", tcp_as_unix), -ENOTSOCK);
	cr_expect_eq(inherited_left(in), 3);

	cr_expect_eq(inherited_take(in, INHERITED_ADMIN_TCP, &a), -1, "another kind");
	int t = inherited_take(in, INHERITED_LISTEN, &a);
	cr_expect_geq(t, 0);
	cr_expect_eq(inherited_take(in, INHERITED_LISTEN, &a), -1, "taken once");
	close(t);
	cr_expect_geq(t = inherited_take(in, INHERITED_LISTEN, &b), 0);
	close(t);
	cr_expect_eq(inherited_left(in), 1, "one socket of b is left");
	cr_expect_eq(inherited_take(in, INHERITED_LISTEN, &other), -1);
	inherited_free(in); /* closes the one left */
	close(fb);
	close(p[1]);
}

Test(inherited, a_udp_socket_is_its_own_kind)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct addr u, t;
	int fu = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ft = tcp_listener(&t);
	struct inherited *in = inherited_new();

	cr_assert_geq(fu, 0);
	cr_assert_eq(bind(fu, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fu, (struct sockaddr *)&sin, &len), 0);
	addr_from_sockaddr(&u, (struct sockaddr *)&sin, len);
	cr_expect_eq(inherited_add(in, INHERITED_UDP, "u", fu), 0);
	cr_expect_eq(inherited_add(in, INHERITED_UDP, "a tcp listener", dup(ft)), -ENOTSOCK);
	cr_expect_eq(inherited_add(in, INHERITED_LISTEN, "a udp socket", dup(fu)), -ENOTSOCK);
	cr_expect_eq(inherited_take(in, INHERITED_LISTEN, &u), -1, "not a listener");
	int got = inherited_take(in, INHERITED_UDP, &u);
	cr_expect_geq(got, 0);
	close(got);
	enum inherited_kind k;
	cr_expect_eq(inherited_kind_parse("udp", 3, &k), 0);
	cr_expect_eq(k, INHERITED_UDP);
	cr_expect_str_eq(inherited_kind_word(INHERITED_UDP), "udp");
	inherited_free(in);
	close(ft);
}
