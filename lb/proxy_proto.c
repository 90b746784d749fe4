/*
 * DOC: PROXY protocol header (sending side)
 *
 * Format from haproxy's doc/proxy-protocol.txt. An IPv4-mapped IPv6 client (::ffff:a.b.c.d)
 * cannot reach us because IPv6 listeners are V6ONLY, so families always match in practice.
 */
#include "lb/proxy_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int build_v1(const struct addr *src, const struct addr *dst, char *buf, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = src->sa.sa_family;
	const void *sa =
		af == AF_INET ? (const void *)&src->in.sin_addr : (const void *)&src->in6.sin6_addr;
	const void *da =
		af == AF_INET ? (const void *)&dst->in.sin_addr : (const void *)&dst->in6.sin6_addr;

	inet_ntop(af, sa, s, sizeof(s));
	inet_ntop(af, da, d, sizeof(d));
	int n = snprintf(buf, cap, "PROXY %s %s %s %d %d\r\n", af == AF_INET ? "TCP4" : "TCP6", s,
		d, addr_port(src), addr_port(dst));
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static int build_v2(const struct addr *src, const struct addr *dst, char *buf, size_t cap)
{
	unsigned char *p = (unsigned char *)buf;
	uint16_t alen;

	if (cap < 16 + 36)
		return -ENOSPC;
	memcpy(p, v2_sig, sizeof(v2_sig));
	p[12] = 0x21; /* version 2, PROXY command */
	if (src->sa.sa_family == AF_INET) {
		p[13] = 0x11; /* TCP over IPv4 */
		alen = 12;
		memcpy(p + 16, &src->in.sin_addr, 4);
		memcpy(p + 20, &dst->in.sin_addr, 4);
		memcpy(p + 24, &src->in.sin_port, 2);
		memcpy(p + 26, &dst->in.sin_port, 2);
	} else {
		p[13] = 0x21; /* TCP over IPv6 */
		alen = 36;
		memcpy(p + 16, &src->in6.sin6_addr, 16);
		memcpy(p + 32, &dst->in6.sin6_addr, 16);
		memcpy(p + 48, &src->in6.sin6_port, 2);
		memcpy(p + 50, &dst->in6.sin6_port, 2);
	}
	p[14] = (unsigned char)(alen >> 8);
	p[15] = (unsigned char)(alen & 0xff);
	return 16 + alen;
}

int proxy_proto_build(enum conf_proxy_protocol version, const struct addr *src,
	const struct addr *dst, char *buf, size_t cap)
{
	int af = src->sa.sa_family;

	if (af != dst->sa.sa_family || (af != AF_INET && af != AF_INET6))
		return -EAFNOSUPPORT;
	switch (version) {
	case CONF_PROXY_OFF:
		return 0;
	case CONF_PROXY_V1:
		return build_v1(src, dst, buf, cap);
	case CONF_PROXY_V2:
		return build_v2(src, dst, buf, cap);
	}
	return -EINVAL;
}
