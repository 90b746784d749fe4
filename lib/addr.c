/*
 * DOC: socket addresses
 *
 * addr_parse() takes numeric forms only: a load balancer that resolved names at start-up would
 * silently keep stale addresses, and one that resolved them on its event loop would block it.
 * addr_parse_name() reads the NAME:PORT form that a backend entry may use instead: it is
 * resolved off the event loops and again every resolve_interval (lb/resolver.c).
 */
#include "lib/addr.h"

#include "lib/hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A letter, '-' or '_' in the n bytes of a host part: no numeric address has one, a name does. */
static int looks_like_name(const char *host, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = host[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_')
			return 1;
	}
	return 0;
}

static int parse_port(const char *s, int allow_port0, int *port, char *why, size_t cap)
{
	long v = 0;

	if (*s == '\0') {
		snprintf(why, cap, "missing port (1-65535)");
		return -EINVAL;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > 65535) {
			snprintf(why, cap, "bad port (1-65535)");
			return -EINVAL;
		}
		v = v * 10 + (*p - '0');
	}
	if (v > 65535 || (v == 0 && !allow_port0)) {
		snprintf(why, cap, "bad port (1-65535)");
		return -EINVAL;
	}
	/* To some tools a leading zero means octal (0443 is 291): refuse it rather than guess. */
	if (s[0] == '0' && s[1] != '\0') {
		snprintf(why, cap, "port with a leading zero: write %ld", v);
		return -EINVAL;
	}
	*port = (int)v;
	return 0;
}

static int parse_v6(const char *s, int allow_port0, struct addr *out, char *why, size_t cap)
{
	char host[INET6_ADDRSTRLEN + 1], v4[INET_ADDRSTRLEN];
	const char *close = strchr(s, ']');
	int port;

	if (close == NULL || close[1] != ':') {
		snprintf(why, cap, "expected [IPv6]:PORT");
		return -EINVAL;
	}
	size_t n = (size_t)(close - s - 1);
	if (n == 0 || n >= sizeof(host)) {
		snprintf(why, cap, "bad IPv6 address");
		return -EINVAL;
	}
	memcpy(host, s + 1, n);
	host[n] = '\0';
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1) {
		snprintf(why, cap, "bad IPv6 address");
		return -EINVAL;
	}
	if (parse_port(close + 2, allow_port0, &port, why, cap) < 0)
		return -EINVAL;
	/*
	 * IPv6 listeners are IPV6_V6ONLY, so [::ffff:a.b.c.d] could never be bound there; as a
	 * backend it is the IPv4 address under another name. One spelling per address.
	 */
	if (IN6_IS_ADDR_V4MAPPED(&out->in6.sin6_addr)) {
		inet_ntop(AF_INET, &out->in6.sin6_addr.s6_addr[12], v4, sizeof(v4));
		snprintf(why, cap, "an IPv4-mapped IPv6 address, write %s:%d", v4, port);
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	out->in6.sin6_family = AF_INET6;
	out->in6.sin6_port = htons((uint16_t)port);
	out->len = sizeof(out->in6);
	return 0;
}

int addr_parse(const char *s, int allow_port0, struct addr *out, char *why, size_t cap)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	int port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[')
		return parse_v6(s, allow_port0, out, why, cap);
	colon = strrchr(s, ':');
	if (colon == NULL) {
		snprintf(why, cap, "expected IP:PORT or [IPv6]:PORT");
		return -EINVAL;
	}
	if (strchr(s, ':') != colon) {
		snprintf(why, cap, "IPv6 addresses need brackets: [IPv6]:PORT");
		return -EINVAL;
	}
	size_t n = (size_t)(colon - s);
	if (n == 0 || (n == 1 && s[0] == '*')) {
		snprintf(why, cap, "%s: for every address write 0.0.0.0:PORT or [::]:PORT",
			n == 0 ? "missing address" : "'*' is not an address");
		return -EINVAL;
	}
	if (looks_like_name(s, n)) {
		snprintf(why, cap, "host names are not resolved: numeric addresses only");
		return -EINVAL;
	}
	if (n >= sizeof(host)) {
		snprintf(why, cap, "bad IPv4 address");
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &out->in.sin_addr) != 1) {
		snprintf(why, cap, "bad IPv4 address");
		return -EINVAL;
	}
	if (parse_port(colon + 1, allow_port0, &port, why, cap) < 0)
		return -EINVAL;
	out->in.sin_family = AF_INET;
	out->in.sin_port = htons((uint16_t)port);
	out->len = sizeof(out->in);
	return 0;
}

/* One label of a host name: 1..63 bytes of [A-Za-z0-9-], no '-' at either end. */
static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-'))
			return 0;
	}
	return 1;
}

int addr_parse_name(const char *s, char *host, size_t hostcap, int *port, char *why, size_t cap)
{
	const char *colon = strrchr(s, ':');

	if (s[0] == '[' || colon == NULL || strchr(s, ':') != colon)
		return 0;
	size_t n = (size_t)(colon - s);
	if (n == 0 || !looks_like_name(s, n))
		return 0;
	size_t len = n > 0 && s[n - 1] == '.' ? n - 1 : n; /* a final dot: absolute */
	if (len > 253 || len + 2 > hostcap) {
		snprintf(why, cap, "bad host name: longer than 253 characters");
		return -EINVAL;
	}
	const char *last = s;
	for (const char *p = s; p <= s + len; p++) {
		if (p < s + len && *p != '.')
			continue;
		if (!label_ok(last, (size_t)(p - last))) {
			snprintf(why, cap,
				"bad host name: each label is 1 to 63 letters, digits or "
				"'-', not starting or ending with '-'");
			return -EINVAL;
		}
		if (p == s + len && strspn(last, "0123456789") >= (size_t)(p - last)) {
			snprintf(why, cap, "bad host name: its last label is all digits");
			return -EINVAL;
		}
		last = p + 1;
	}
	if (parse_port(colon + 1, 0, port, why, cap) < 0)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	return 1;
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
