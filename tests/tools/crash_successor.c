/*
 * DOC: crash_successor, a successor that crashes after taking the sockets
 *
 * Started by an anylb upgrade in place of the anylb binary (tests/scenario/test_upgrade.c):
 * speaks the handover wire (lb/handover.h) far enough to receive every socket and the state,
 * then aborts. The old process must go on serving as if nothing happened.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
	const char *v = getenv("ANYLB_UPGRADE_FD");
	struct rlimit no_core = {0, 0};
	char buf[70000];

	setrlimit(RLIMIT_CORE, &no_core);
	if (v == NULL)
		return 2;
	int fd = atoi(v);
	char hello[] = {0, 0, 0, 1, 'p', 'i', 'd', ' ', '0'};
	if (send(fd, hello, sizeof(hello), 0) < 0)
		return 3;
	for (;;) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 64)];
			struct cmsghdr align;
		} u;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = u.b,
			.msg_controllen = sizeof(u)};
		ssize_t n = recvmsg(fd, &mh, 0);
		if (n < 4)
			return 4;
		if (buf[3] == 4) /* END: it holds everything now */
			abort();
	}
}
