/*
 * DOC: PROXY protocol header (receiving side)
 *
 * Reads the header an upstream L4 balancer (HAProxy `send-proxy`/`send-proxy-v2`, an AWS NLB,
 * another anylb) puts before the client's bytes, as HAProxy's proxy-protocol.txt defines it:
 * v1 text (`PROXY TCP4|TCP6|UNKNOWN ...\r\n`, at most 107 bytes) and v2 binary (the 12-byte
 * signature, version 2, LOCAL or PROXY, TCP over IPv4 or IPv6, then TLVs, which are skipped).
 * Pure: the caller hands the bytes it has so far and learns whether they are a whole header
 * (and how long it is, so exactly that much is consumed and the client's own bytes stay in the
 * socket), a prefix of one, or not a header at all, with a reason fit for the log.
 */
#ifndef ANYLB_LB_PROXY_IN_H
#define ANYLB_LB_PROXY_IN_H

#include "conf/conf.h"
#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

/* The longest header taken: v2's 16 bytes, 36 of IPv6 addresses and 204 of TLVs. */
#define PROXY_IN_MAX 256

struct proxy_in {
	int local; /* LOCAL (v2) or UNKNOWN (v1): no addresses; the connection's own apply */
	struct addr src, dst;
	const char *why; /* when refused: a constant string */
};

/*
 * Parses b[0..n) as accepted by mode (v1, v2 or any). Returns the header's length (> 0) when
 * b starts with a whole one, 0 when b is a proper prefix of one (read more; n < PROXY_IN_MAX),
 * or -EINVAL with out->why set. On success out->src and out->dst are the client's and the
 * address it connected to, unless out->local.
 */
int proxy_in_parse(enum conf_accept_proxy mode, const uint8_t *b, size_t n, struct proxy_in *out);

#endif
