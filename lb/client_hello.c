/*
 * DOC: TLS ClientHello reader (see client_hello.h)
 *
 * Two passes: the records' payloads are gathered into one handshake message (as far as the
 * bytes go), then the message, once whole, is read field by field with a cursor that refuses
 * to step past its end. "Not TLS" is said only of the first record header, so that a client
 * speaking another protocol can go to the default service; from the second record on, a
 * wrong header is a broken ClientHello.
 */
#include "lb/client_hello.h"

#include <string.h>

#define REC_HEADER      5
#define REC_MAX         (1u << 14)
#define HS_HEADER       4
#define TLS_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define SNI_HOST_NAME   0

struct cursor {
	const uint8_t *p;
	size_t left;
};

static int take(struct cursor *c, size_t n, const uint8_t **out)
{
	if (c->left < n)
		return -1;
	if (out != NULL)
		*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static int take_u8(struct cursor *c, size_t *v)
{
	const uint8_t *p;

	if (take(c, 1, &p) < 0)
		return -1;
	*v = p[0];
	return 0;
}

static int take_u16(struct cursor *c, size_t *v)
{
	const uint8_t *p;

	if (take(c, 2, &p) < 0)
		return -1;
	*v = (size_t)p[0] << 8 | p[1];
	return 0;
}

static enum client_hello_result fail(
	struct client_hello *out, enum client_hello_result r, const char *why)
{
	out->why = why;
	out->name[0] = '\0'; /* nothing of a refused ClientHello's name is left */
	return r;
}

/*
 * A host name as RFC 6066 wants it: LDH labels (and '_', seen in the wild), dots between;
 * written to name lower-cased and NUL-terminated. -1 when it is not one (fail() empties name).
 */
static int copy_host_name(const uint8_t *s, size_t n, char *name)
{
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= CLIENT_HELLO_NAME_MAX)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];
		if (ch == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			   ch == '_') {
			label++;
		} else if (ch >= 'A' && ch <= 'Z') {
			ch = (uint8_t)(ch - 'A' + 'a');
			label++;
		} else {
			return -1;
		}
		if (label > 63)
			return -1;
		name[i] = (char)ch;
	}
	if (label == 0)
		return -1;
	name[n] = '\0';
	return 0;
}

/* server_name's body: a list of (name_type, name); the first host_name is taken. */
static enum client_hello_result read_sni(struct cursor *e, struct client_hello *out)
{
	size_t list;

	if (take_u16(e, &list) < 0 || list != e->left || list == 0)
		return fail(out, CLIENT_HELLO_MALFORMED, "server_name list has a wrong length");
	while (e->left > 0) {
		size_t type, len;
		const uint8_t *name;
		if (take_u8(e, &type) < 0 || take_u16(e, &len) < 0 || take(e, len, &name) < 0)
			return fail(
				out, CLIENT_HELLO_MALFORMED, "server_name entry overruns its list");
		if (type != SNI_HOST_NAME)
			continue;
		if (copy_host_name(name, len, out->name) < 0)
			return fail(out, CLIENT_HELLO_MALFORMED, "server_name is not a host name");
		return CLIENT_HELLO_SNI;
	}
	return CLIENT_HELLO_NO_SNI; /* names of other types only */
}

/* The ClientHello's body, whole, in b[0..n). */
static enum client_hello_result read_body(const uint8_t *b, size_t n, struct client_hello *out)
{
	struct cursor c = {b, n};
	const uint8_t *version;
	size_t len;

	if (take(&c, 2, &version) < 0 || take(&c, 32, NULL) < 0)
		return fail(out, CLIENT_HELLO_MALFORMED, "ClientHello shorter than its random");
	if (version[0] != 3)
		return fail(out, CLIENT_HELLO_MALFORMED, "ClientHello legacy_version is not 3.x");
	if (take_u8(&c, &len) < 0 || len > 32 || take(&c, len, NULL) < 0)
		return fail(out, CLIENT_HELLO_MALFORMED, "bad legacy_session_id");
	if (take_u16(&c, &len) < 0 || len == 0 || len % 2 != 0 || take(&c, len, NULL) < 0)
		return fail(out, CLIENT_HELLO_MALFORMED, "bad cipher_suites");
	if (take_u8(&c, &len) < 0 || len == 0 || take(&c, len, NULL) < 0)
		return fail(out, CLIENT_HELLO_MALFORMED, "bad legacy_compression_methods");
	if (c.left == 0)
		return CLIENT_HELLO_NO_SNI; /* no extensions at all (SSL 3.0, TLS 1.0 style) */
	if (take_u16(&c, &len) < 0 || len != c.left)
		return fail(out, CLIENT_HELLO_MALFORMED, "extensions do not fill the ClientHello");
	enum client_hello_result r = CLIENT_HELLO_NO_SNI;
	int seen = 0;
	while (c.left > 0) {
		size_t type;
		const uint8_t *body;
		if (take_u16(&c, &type) < 0 || take_u16(&c, &len) < 0 || take(&c, len, &body) < 0)
			return fail(
				out, CLIENT_HELLO_MALFORMED, "extension overruns the ClientHello");
		if (type != EXT_SERVER_NAME)
			continue;
		if (seen++)
			return fail(out, CLIENT_HELLO_MALFORMED, "two server_name extensions");
		struct cursor e = {body, len};
		r = read_sni(&e, out);
		if (r == CLIENT_HELLO_MALFORMED)
			return r;
	}
	return r;
}

enum client_hello_result client_hello_parse(const uint8_t *b, size_t n, struct client_hello *out)
{
	uint8_t hs[CLIENT_HELLO_MAX];
	size_t have = 0, want = 0,
	       pos = 0; /* want: the message's length with its header, once known */

	out->need = 0;
	out->name[0] = '\0';
	out->why = NULL;
	for (;;) {
		size_t missing = want > 0 ? want - have : HS_HEADER - have;
		if (n - pos < REC_HEADER) {
			/* What there is of the header must already be one of a handshake record. */
			if (n > pos && b[pos] != TLS_HANDSHAKE)
				return pos == 0 ? fail(out, CLIENT_HELLO_NOT_TLS,
							  "not a TLS handshake")
						: fail(out, CLIENT_HELLO_MALFORMED,
							  "ClientHello interrupted by another "
							  "record");
			if (n > pos + 1 && b[pos + 1] != 3)
				return fail(out,
					pos == 0 ? CLIENT_HELLO_NOT_TLS : CLIENT_HELLO_MALFORMED,
					"not a TLS record version");
			out->need = pos + REC_HEADER + missing;
			break;
		}
		const uint8_t *h = b + pos;
		size_t rlen = (size_t)h[3] << 8 | h[4];
		if (h[0] != TLS_HANDSHAKE || h[1] != 3)
			return pos == 0 ? fail(out, CLIENT_HELLO_NOT_TLS, "not a TLS handshake")
					: fail(out, CLIENT_HELLO_MALFORMED,
						  "ClientHello interrupted by another record");
		if (rlen == 0 || rlen > REC_MAX)
			return fail(out, CLIENT_HELLO_MALFORMED, "TLS record of a wrong length");
		size_t avail = n - pos - REC_HEADER < rlen ? n - pos - REC_HEADER : rlen;
		size_t used = 0;
		while (used < avail && (want == 0 || have < want)) {
			size_t step = want > 0 ? want - have : HS_HEADER - have;
			if (step > avail - used)
				step = avail - used;
			memcpy(hs + have, h + REC_HEADER + used, step);
			have += step;
			used += step;
			if (want == 0 && have == HS_HEADER) {
				if (hs[0] != HS_CLIENT_HELLO)
					return fail(out, CLIENT_HELLO_MALFORMED,
						"first handshake message is not a ClientHello");
				size_t mlen = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
				/* The fewest stream bytes it can take: one record header. */
				if (HS_HEADER + mlen + REC_HEADER > CLIENT_HELLO_MAX)
					return fail(out, CLIENT_HELLO_MALFORMED,
						"ClientHello longer than 16 KiB");
				want = HS_HEADER + mlen;
			}
		}
		if (want > 0 && have == want) {
			if (pos + REC_HEADER + used > CLIENT_HELLO_MAX)
				return fail(out, CLIENT_HELLO_MALFORMED,
					"ClientHello longer than 16 KiB");
			return read_body(hs + HS_HEADER, want - HS_HEADER, out);
		}
		missing = want > 0 ? want - have : HS_HEADER - have;
		if (avail < rlen) {
			out->need = n + missing;
			break;
		}
		pos += REC_HEADER + rlen;
		if (pos + REC_HEADER >= CLIENT_HELLO_MAX)
			return fail(out, CLIENT_HELLO_MALFORMED, "ClientHello longer than 16 KiB");
	}
	if (out->need > CLIENT_HELLO_MAX)
		return fail(out, CLIENT_HELLO_MALFORMED, "ClientHello longer than 16 KiB");
	return CLIENT_HELLO_MORE;
}
