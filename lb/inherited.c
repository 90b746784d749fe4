/*
 * DOC: inherited sockets (see inherited.h)
 *
 * A plain array: an upgrade hands over a few hundred sockets at most, looked up once each.
 */
#include "lb/inherited.h"

#include "lib/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct inherited_sock {
	enum inherited_kind kind;
	struct addr addr; /* TCP kinds and udp */
	char path[108];   /* the unix kind: sun_path */
	int fd;           /* -1 once taken */
};

struct inherited {
	struct inherited_sock *v;
	size_t n, cap;
};

struct inherited *inherited_new(void)
{
	return calloc(1, sizeof(struct inherited));
}

static const char *const kind_words[] = {
	[INHERITED_LISTEN] = "listen",
	[INHERITED_ADMIN_UNIX] = "admin-unix",
	[INHERITED_ADMIN_TCP] = "admin-tcp",
	[INHERITED_UDP] = "udp",
};

const char *inherited_kind_word(enum inherited_kind kind)
{
	return (size_t)kind < sizeof(kind_words) / sizeof(kind_words[0]) ? kind_words[kind] : "?";
}

int inherited_kind_parse(const char *w, size_t n, enum inherited_kind *kind)
{
	for (size_t k = 0; k < sizeof(kind_words) / sizeof(kind_words[0]); k++) {
		if (strlen(kind_words[k]) == n && memcmp(w, kind_words[k], n) == 0) {
			*kind = (enum inherited_kind)k;
			return 0;
		}
	}
	return -EPROTO;
}

static const char *kind_name(enum inherited_kind k)
{
	switch (k) {
	case INHERITED_LISTEN:
		return "listener";
	case INHERITED_ADMIN_UNIX:
		return "admin unix socket";
	case INHERITED_ADMIN_TCP:
		return "admin TCP listener";
	case INHERITED_UDP:
		return "udp socket";
	}
	return "?";
}

/* Is fd a listening stream socket (a datagram socket for INHERITED_UDP), and where? */
static int describe(int fd, enum inherited_kind kind, struct inherited_sock *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, acc = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(acc);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 ||
		getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) < 0 ||
		getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -ENOTSOCK;
	if (kind == INHERITED_UDP ? type != SOCK_DGRAM : type != SOCK_STREAM || !acc)
		return -ENOTSOCK;
	int fam = ss.ss_family;
	if (kind == INHERITED_ADMIN_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				      ? len - offsetof(struct sockaddr_un, sun_path)
				      : 0;
		if (fam != AF_UNIX || plen == 0 || plen > sizeof(s->path) - 1 ||
			sun->sun_path[0] == '\0')
			return -ENOTSOCK;
		memcpy(s->path, sun->sun_path, plen);
		s->path[plen] = '\0';
		return 0;
	}
	if (fam != AF_INET && fam != AF_INET6)
		return -ENOTSOCK;
	addr_from_sockaddr(&s->addr, (struct sockaddr *)&ss, len);
	return 0;
}

int inherited_add(struct inherited *in, enum inherited_kind kind, const char *what, int fd)
{
	struct inherited_sock s = {.kind = kind, .fd = fd};
	int rc = describe(fd, kind, &s);

	if (rc < 0) {
		log_error("upgrade: the %s handed over as %s is not a listening socket: closed",
			kind_name(kind), what);
		close(fd);
		return rc;
	}
	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 16;
		struct inherited_sock *v = realloc(in->v, cap * sizeof(*v));
		if (v == NULL) {
			close(fd);
			return -ENOMEM;
		}
		in->v = v;
		in->cap = cap;
	}
	in->v[in->n++] = s;
	return 0;
}

int inherited_take(struct inherited *in, enum inherited_kind kind, const struct addr *a)
{
	for (size_t i = 0; in != NULL && i < in->n; i++) {
		struct inherited_sock *s = &in->v[i];
		if (s->fd >= 0 && s->kind == kind && addr_equal(&s->addr, a)) {
			int fd = s->fd;
			s->fd = -1;
			return fd;
		}
	}
	return -1;
}

int inherited_take_unix(struct inherited *in, const char *path)
{
	for (size_t i = 0; in != NULL && i < in->n; i++) {
		struct inherited_sock *s = &in->v[i];
		if (s->fd >= 0 && s->kind == INHERITED_ADMIN_UNIX && strcmp(s->path, path) == 0) {
			int fd = s->fd;
			s->fd = -1;
			return fd;
		}
	}
	return -1;
}

size_t inherited_left(const struct inherited *in)
{
	size_t n = 0;

	for (size_t i = 0; in != NULL && i < in->n; i++)
		n += in->v[i].fd >= 0;
	return n;
}

void inherited_free(struct inherited *in)
{
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->n; i++) {
		struct inherited_sock *s = &in->v[i];
		char buf[80];
		if (s->fd < 0)
			continue;
		log_info("upgrade: the new configuration has no %s %s: closing it",
			kind_name(s->kind),
			s->kind == INHERITED_ADMIN_UNIX ? s->path
							: addr_format(&s->addr, buf, sizeof(buf)));
		close(s->fd);
	}
	free(in->v);
	free(in);
}
