/*
 * DOC: socket addresses
 *
 * Only numeric forms are accepted: a load balancer that resolved names at start-up would silently
 * keep stale addresses, and one that resolved them at run time would block its event loop.
 */
#include "lib/addr.h"

#include "lib/hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int allow_port0, int *port)
{
	if (*s == '\0')
		return -EINVAL;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (v == 0 && !allow_port0)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

int addr_parse(const char *s, int allow_port0, struct addr *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	int port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			*why = "expected [IPv6]:PORT";
			return -EINVAL;
		}
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof(host)) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		if (parse_port(close + 2, allow_port0, &port) < 0) {
			*why = "bad port (1-65535)";
			return -EINVAL;
		}
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons((uint16_t)port);
		out->len = sizeof(out->in6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL) {
		*why = "expected IP:PORT or [IPv6]:PORT";
		return -EINVAL;
	}
	if (strchr(s, ':') != colon) {
		*why = "IPv6 addresses need brackets: [IPv6]:PORT";
		return -EINVAL;
	}
	size_t n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host)) {
		*why = "bad IPv4 address";
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &out->in.sin_addr) != 1) {
		*why = "bad IPv4 address";
		return -EINVAL;
	}
	if (parse_port(colon + 1, allow_port0, &port) < 0) {
		*why = "bad port (1-65535)";
		return -EINVAL;
	}
	out->in.sin_family = AF_INET;
	out->in.sin_port = htons((uint16_t)port);
	out->len = sizeof(out->in);
	return 0;
}

const char *addr_format(const struct addr *a, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%d", host, ntohs(a->in6.sin6_port));
	} else if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%d", host, ntohs(a->in.sin_port));
	} else {
		snprintf(buf, cap, "unknown");
	}
	return buf;
}

void addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len)
{
	memset(out, 0, sizeof(*out));
	if (len > sizeof(out->ss))
		len = sizeof(out->ss);
	memcpy(&out->ss, sa, len);
	out->len = len;
}

int addr_port(const struct addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return ntohs(a->in6.sin6_port);
	if (a->sa.sa_family == AF_INET)
		return ntohs(a->in.sin_port);
	return 0;
}

int addr_equal(const struct addr *a, const struct addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return 0;
}

uint64_t addr_hash(const struct addr *a, int with_port)
{
	uint64_t h;
	uint16_t port;

	if (a->sa.sa_family == AF_INET6) {
		h = hash_bytes(&a->in6.sin6_addr, 16, 0);
		port = a->in6.sin6_port;
	} else {
		h = hash_bytes(&a->in.sin_addr, 4, 0);
		port = a->in.sin_port;
	}
	if (with_port)
		h = hash_bytes(&port, sizeof(port), h);
	return h;
}
