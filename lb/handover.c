/*
 * DOC: the handover wire (see handover.h)
 *
 * A packet is a 4-byte header (type, in network order) and the text. recvmsg with MSG_CMSG_CLOEXEC
 * so that a received fd never leaks into a process the receiver starts; a truncated packet or
 * truncated ancillary data is a protocol error, and every fd that did arrive is closed then.
 */
#include "lb/handover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER 4

const char *handover_type_name(enum handover_type t)
{
	switch (t) {
	case HANDOVER_HELLO:
		return "hello";
	case HANDOVER_FDS:
		return "fds";
	case HANDOVER_STATE:
		return "state";
	case HANDOVER_END:
		return "end";
	case HANDOVER_READY:
		return "ready";
	case HANDOVER_FAIL:
		return "fail";
	case HANDOVER_ANYCAST:
		return "anycast";
	}
	return "?";
}

static int wait_for(int sock, short events, int timeout_ms)
{
	struct pollfd p = {.fd = sock, .events = events};
	int rc;

	while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

int handover_send(int sock, enum handover_type type, const char *text, size_t len, const int *fds,
	size_t nfds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX_FDS)];
		struct cmsghdr align;
	} u;
	uint32_t hdr = htonl((uint32_t)type);
	struct iovec iov[2] = {
		{.iov_base = &hdr, .iov_len = HEADER},
		{.iov_base = (void *)text, .iov_len = len},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};

	if (len > HANDOVER_MAX_TEXT || nfds > HANDOVER_MAX_FDS)
		return -EMSGSIZE;
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return (size_t)n == HEADER + len ? 0 : -EPROTO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int rc = wait_for(sock, POLLOUT, timeout_ms);
		if (rc < 0)
			return rc;
	}
}

/* Every fd that arrived with mh goes to m (up to HANDOVER_MAX_FDS; m NULL: all closed). */
static void collect_fds(struct msghdr *mh, struct handover_msg *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m != NULL && m->nfds < HANDOVER_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
}

int handover_recv(int sock, struct handover_msg *m, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX_FDS)];
		struct cmsghdr align;
	} u;
	uint32_t hdr;
	char *text = malloc(HANDOVER_MAX_TEXT + 1);
	struct iovec iov[2] = {
		{.iov_base = &hdr, .iov_len = HEADER},
		{.iov_base = text, .iov_len = HANDOVER_MAX_TEXT},
	};
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf, .msg_controllen = sizeof(u)};
	ssize_t n;
	int rc;

	memset(m, 0, sizeof(*m));
	if (text == NULL)
		return -ENOMEM;
	for (;;) {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		if (timeout_ms == 0) {
			free(text);
			return -EAGAIN;
		}
		if ((rc = wait_for(sock, POLLIN, timeout_ms)) < 0) {
			free(text);
			return rc;
		}
	}
	if (n < 0) {
		rc = errno == ECONNRESET || errno == EPIPE ? -ECONNRESET : -errno;
		free(text);
		return rc;
	}
	if (n == 0) {
		free(text);
		return -ECONNRESET;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n < HEADER) {
		collect_fds(&mh, NULL);
		free(text);
		return -EPROTO;
	}
	collect_fds(&mh, m);
	m->type = (enum handover_type)ntohl(hdr);
	m->len = (size_t)n - HEADER;
	text[m->len] = '\0';
	m->text = text;
	if (m->type < HANDOVER_HELLO || m->type > HANDOVER_ANYCAST || memchr(text, '\0', m->len)) {
		handover_msg_free(m);
		return -EPROTO;
	}
	return 0;
}

int handover_msg_take_fd(struct handover_msg *m, size_t i)
{
	if (i >= m->nfds || m->fds[i] < 0)
		return -1;
	int fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

void handover_msg_free(struct handover_msg *m)
{
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->text);
	memset(m, 0, sizeof(*m));
}
