/*
 * DOC: PROXY protocol parser for test backends
 *
 * Written from the HAProxy specification (proxy-protocol.txt), independently of anylb's
 * encoder, so that a scenario test checks anylb against the spec rather than against itself.
 * It is stricter than a production receiver would be: a test wants to hear about a header that
 * a lenient parser would accept.
 */
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V1_MAX 107

static int fail(struct sc_proxy_info *out, const char *why)
{
	snprintf(out->err, sizeof(out->err), "%s", why);
	return -EINVAL;
}

/* Takes the next token up to a single space (or the end of the line); returns its length. */
static size_t v1_token(const char *s, size_t n, char *tok, size_t cap)
{
	size_t i = 0;

	while (i < n && s[i] != ' ' && s[i] != '\r') {
		if (i + 1 < cap)
			tok[i] = s[i];
		i++;
	}
	tok[i < cap ? i : cap - 1] = '\0';
	return i;
}

static int v1_port(const char *tok, uint16_t *out)
{
	unsigned long v = 0;
	size_t len = strlen(tok);

	if (len == 0 || len > 5 || (len > 1 && tok[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(tok[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static void set_addr(struct sockaddr_storage *ss, int family, const void *ip, uint16_t port_net)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ip, 4);
		s4->sin_port = port_net;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip, 16);
		s6->sin6_port = port_net;
	}
}

static int parse_v1(const uint8_t *buf, size_t n, struct sc_proxy_info *out)
{
	const char *s = (const char *)buf;
	const char *crlf = NULL;
	char tok[5][48];
	size_t pos = 6, len, hlen;
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;

	for (size_t i = 0; i + 1 < n && i + 1 < V1_MAX; i++) {
		if (s[i] == '\r' && s[i + 1] == '\n') {
			crlf = s + i;
			break;
		}
	}
	if (crlf == NULL)
		return n >= V1_MAX ? fail(out, "v1: no CRLF within 107 bytes") : 0;
	hlen = (size_t)(crlf - s) + 2;
	out->version = 1;
	out->header_len = hlen;

	len = v1_token(s + pos, hlen - 2 - pos, tok[0], sizeof(tok[0]));
	pos += len;
	if (strcmp(tok[0], "UNKNOWN") == 0) {
		out->local = 1;
		return (int)hlen;
	}
	if (strcmp(tok[0], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(tok[0], "TCP6") == 0)
		family = AF_INET6;
	else
		return fail(out, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	for (int t = 1; t < 5; t++) {
		if (pos >= hlen - 2 || s[pos] != ' ')
			return fail(out, "v1: missing field or not a single space");
		pos++;
		len = v1_token(s + pos, hlen - 2 - pos, tok[t], sizeof(tok[t]));
		if (len == 0 || len >= sizeof(tok[t]))
			return fail(out, "v1: empty or overlong field");
		pos += len;
	}
	if (pos != hlen - 2)
		return fail(out, "v1: trailing bytes before CRLF");
	if (inet_pton(family, tok[1], src) != 1 || inet_pton(family, tok[2], dst) != 1)
		return fail(out, "v1: address does not parse for the protocol family");
	if (v1_port(tok[3], &sport) != 0 || v1_port(tok[4], &dport) != 0)
		return fail(out, "v1: bad port");
	set_addr(&out->src, family, src, htons(sport));
	set_addr(&out->dst, family, dst, htons(dport));
	return (int)hlen;
}

/* Two wire bytes as a port in network order, as sockaddr wants it. */
static uint16_t wire16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static int parse_v2(const uint8_t *buf, size_t n, struct sc_proxy_info *out)
{
	size_t len, need;
	int cmd;

	if (n < 16)
		return 0;
	if ((buf[12] >> 4) != 2)
		return fail(out, "v2: version nibble is not 2");
	cmd = buf[12] & 0x0f;
	len = ((size_t)buf[14] << 8) | buf[15];
	if (n < 16 + len)
		return 0;
	out->version = 2;
	out->header_len = 16 + len;
	if (cmd == 0) {
		out->local = 1;
		return (int)(16 + len);
	}
	if (cmd != 1)
		return fail(out, "v2: command is neither LOCAL nor PROXY");
	switch (buf[13]) {
	case 0x11: /* TCP over IPv4 */
		need = 12;
		if (len < need)
			return fail(out, "v2: length shorter than the IPv4 address block");
		set_addr(&out->src, AF_INET, buf + 16, wire16(buf + 24));
		set_addr(&out->dst, AF_INET, buf + 20, wire16(buf + 26));
		break;
	case 0x21: /* TCP over IPv6 */
		need = 36;
		if (len < need)
			return fail(out, "v2: length shorter than the IPv6 address block");
		set_addr(&out->src, AF_INET6, buf + 16, wire16(buf + 48));
		set_addr(&out->dst, AF_INET6, buf + 32, wire16(buf + 50));
		break;
	default:
		return fail(out, "v2: family/protocol byte is not TCP4 (0x11) or TCP6 (0x21)");
	}
	return (int)(16 + len);
}

int sc_proxy_parse(const uint8_t *buf, size_t n, struct sc_proxy_info *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return 0;
	k = n < sizeof(v2_sig) ? n : sizeof(v2_sig);
	if (memcmp(buf, v2_sig, k) == 0)
		return parse_v2(buf, n, out);
	k = n < 6 ? n : 6;
	if (memcmp(buf, "PROXY ", k) == 0)
		return n < 6 ? 0 : parse_v1(buf, n, out);
	return fail(out, "no PROXY header (neither v1 text nor v2 signature)");
}
