/*
 * DOC: PROXY protocol header, receiving side (see proxy_in.h)
 *
 * Strict where the specification is: v1's fields are single-space separated, the addresses
 * are what inet_pton takes for the family named, the ports are 1 to 5 decimal digits up to
 * 65535, and the line ends in CRLF within 107 bytes; v2 must be version 2, LOCAL or PROXY,
 * with an address block as long as its family needs. UNKNOWN, LOCAL, AF_UNSPEC and AF_UNIX
 * carry no usable addresses: the connection's own apply (as the specification says).
 */
#include "lb/proxy_in.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define V1_MAX 107

static const uint8_t v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int bad(struct proxy_in *out, const char *why)
{
	out->why = why;
	return -EINVAL;
}

/* Whether b[0..n) is a prefix of (or starts with) what[0..wn). */
static int prefix(const uint8_t *b, size_t n, const void *what, size_t wn)
{
	return memcmp(b, what, n < wn ? n : wn) == 0;
}

/* A port: 1..5 digits, at most 65535. */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_ip(int family, const char *s, size_t n, struct addr *a)
{
	char text[48];

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->in.sin_family = AF_INET;
		a->len = sizeof(a->in);
		return inet_pton(AF_INET, text, &a->in.sin_addr) == 1 ? 0 : -1;
	}
	a->in6.sin6_family = AF_INET6;
	a->len = sizeof(a->in6);
	return inet_pton(AF_INET6, text, &a->in6.sin6_addr) == 1 ? 0 : -1;
}

static void set_port(struct addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET)
		a->in.sin_port = htons(port);
	else
		a->in6.sin6_port = htons(port);
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n" */
static int parse_v1(const uint8_t *b, size_t n, struct proxy_in *out)
{
	const char *line = (const char *)b;
	size_t len = 0;

	int crlf = 0;

	/* The CRLF must end at byte 107 at the latest. */
	for (; !crlf && len + 1 < n && len + 2 <= V1_MAX; len += !crlf)
		crlf = b[len] == '\r' && b[len + 1] == '\n';
	if (!crlf) {
		if (n >= V1_MAX)
			return bad(out, "PROXY v1 header without CRLF in 107 bytes");
		return 0;
	}
	/* line[0..len) without the CRLF; fields split by single spaces. */
	const char *f[7];
	size_t fl[7], nf = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || line[i] == ' ') {
			if (nf == 7)
				return bad(out, "PROXY v1 header with too many fields");
			f[nf] = line + start;
			fl[nf++] = i - start;
			start = i + 1;
		}
	}
	if (nf >= 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		out->local = 1;
		return (int)len + 2;
	}
	if (nf != 6)
		return bad(out, "PROXY v1 header: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT");
	int family;
	if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return bad(out, "PROXY v1 header: protocol is not TCP4, TCP6 or UNKNOWN");
	uint16_t sport, dport;
	if (parse_ip(family, f[2], fl[2], &out->src) < 0 ||
		parse_ip(family, f[3], fl[3], &out->dst) < 0)
		return bad(out, "PROXY v1 header: an address is not of the family named");
	if (parse_port(f[4], fl[4], &sport) < 0 || parse_port(f[5], fl[5], &dport) < 0)
		return bad(out, "PROXY v1 header: a port is not 0..65535");
	set_port(&out->src, sport);
	set_port(&out->dst, dport);
	out->local = 0;
	return (int)len + 2;
}

static int parse_v2(const uint8_t *b, size_t n, struct proxy_in *out)
{
	if (n < 16)
		return 0;
	if ((b[12] >> 4) != 2)
		return bad(out, "PROXY v2 header: version is not 2");
	unsigned cmd = b[12] & 0x0f, fam = b[13];
	size_t len = ((size_t)b[14] << 8) | b[15];
	if (cmd > 1)
		return bad(out, "PROXY v2 header: command is neither LOCAL nor PROXY");
	if (16 + len > PROXY_IN_MAX)
		return bad(out, "PROXY v2 header longer than 256 bytes");
	if (n < 16 + len)
		return 0;
	out->local = 1;
	if (cmd == 0 || fam == 0x00 || fam == 0x31 || fam == 0x32)
		return (int)(16 + len); /* LOCAL, AF_UNSPEC, AF_UNIX: the connection's addresses */
	const uint8_t *a = b + 16;
	if (fam == 0x11) {
		if (len < 12)
			return bad(out, "PROXY v2 header: IPv4 address block too short");
		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
		out->src.in.sin_family = out->dst.in.sin_family = AF_INET;
		out->src.len = out->dst.len = sizeof(struct sockaddr_in);
		memcpy(&out->src.in.sin_addr, a, 4);
		memcpy(&out->dst.in.sin_addr, a + 4, 4);
		memcpy(&out->src.in.sin_port, a + 8, 2);
		memcpy(&out->dst.in.sin_port, a + 10, 2);
	} else if (fam == 0x21) {
		if (len < 36)
			return bad(out, "PROXY v2 header: IPv6 address block too short");
		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
		out->src.in6.sin6_family = out->dst.in6.sin6_family = AF_INET6;
		out->src.len = out->dst.len = sizeof(struct sockaddr_in6);
		memcpy(&out->src.in6.sin6_addr, a, 16);
		memcpy(&out->dst.in6.sin6_addr, a + 16, 16);
		memcpy(&out->src.in6.sin6_port, a + 32, 2);
		memcpy(&out->dst.in6.sin6_port, a + 34, 2);
	} else {
		return bad(out, "PROXY v2 header: not TCP over IPv4 or IPv6");
	}
	out->local = 0;
	return (int)(16 + len);
}

int proxy_in_parse(enum conf_accept_proxy mode, const uint8_t *b, size_t n, struct proxy_in *out)
{
	int v1 = mode == CONF_ACCEPT_V1 || mode == CONF_ACCEPT_ANY;
	int v2 = mode == CONF_ACCEPT_V2 || mode == CONF_ACCEPT_ANY;

	out->why = NULL;
	out->local = 0;
	if (n == 0)
		return 0;
	if (v2 && prefix(b, n, v2_sig, sizeof(v2_sig)))
		return n < sizeof(v2_sig) ? 0 : parse_v2(b, n, out);
	if (v1 && prefix(b, n, "PROXY ", 6))
		return n < 6 ? 0 : parse_v1(b, n, out);
	switch (mode) {
	case CONF_ACCEPT_V1:
		return bad(out, "no PROXY v1 header");
	case CONF_ACCEPT_V2:
		return bad(out, "no PROXY v2 header");
	case CONF_ACCEPT_ANY:
	case CONF_ACCEPT_OFF:
		break;
	}
	return bad(out, "no PROXY header");
}
