/*
 * DOC: PROXY protocol header (sending side)
 *
 * Builds the header HAProxy's PROXY protocol defines (v1 text, v2 binary) so a backend learns the
 * client's real address and the address the client connected to. Pure: no I/O.
 */
#ifndef ANYLB_LB_PROXY_PROTO_H
#define ANYLB_LB_PROXY_PROTO_H

#include "conf/conf.h"
#include "lib/addr.h"

#include <stddef.h>

/* Longest header built: v1 "PROXY TCP6 " + 2 x 39 + 2 x 5 + 3 spaces + CRLF is 107 bytes. */
#define PROXY_PROTO_MAX 108

/*
 * Writes the header for a TCP connection from src to dst into buf (cap >= PROXY_PROTO_MAX).
 * Returns its length, or -EAFNOSUPPORT when the two addresses are not of one family.
 */
int proxy_proto_build(enum conf_proxy_protocol version, const struct addr *src,
	const struct addr *dst, char *buf, size_t cap);

#endif
