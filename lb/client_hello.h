/*
 * DOC: TLS ClientHello reader (SNI routing)
 *
 * Finds the server name a TLS client asks for, in the ClientHello it sends first, without
 * decrypting anything and without consuming a byte: the caller peeks at the socket and hands
 * what it has so far. The ClientHello may span several handshake records (RFC 8446 5.1); it
 * may also be cut anywhere. Read are: the record headers (type 22, version 3.x, 1 to 2^14
 * bytes), the handshake header (type 1, ClientHello), legacy_version, random, legacy_session_id
 * (at most 32 bytes), cipher_suites (even, non-empty), legacy_compression_methods (non-empty)
 * and the extensions; of those, server_name (RFC 6066 3) with its first host_name entry.
 * Everything is bounds-checked against both the record and the field it is in.
 * Pure: no I/O, no allocation.
 */
#ifndef ANYLB_LB_CLIENT_HELLO_H
#define ANYLB_LB_CLIENT_HELLO_H

#include <stddef.h>
#include <stdint.h>

/* The most stream bytes (records with their headers) a ClientHello may take. */
#define CLIENT_HELLO_MAX (16 * 1024)
/* A host name: at most 253 characters (one trailing dot is dropped), and its NUL. */
#define CLIENT_HELLO_NAME_MAX 254

enum client_hello_result {
	CLIENT_HELLO_MORE,      /* a proper prefix of a ClientHello: read more (out->need) */
	CLIENT_HELLO_SNI,       /* a whole ClientHello with a host name: out->name */
	CLIENT_HELLO_NO_SNI,    /* a whole ClientHello without server_name */
	CLIENT_HELLO_NOT_TLS,   /* the first bytes are not a TLS handshake record */
	CLIENT_HELLO_MALFORMED, /* TLS, but not a ClientHello anylb takes: out->why */
};

struct client_hello {
	/* MORE: at least this many bytes in all are needed before the answer can change */
	size_t need;
	char name[CLIENT_HELLO_NAME_MAX]; /* SNI: lower case, without a trailing dot */
	const char *why;                  /* NOT_TLS, MALFORMED: a constant string for the log */
};

/*
 * Reads b[0..n), the first bytes a client sent. Returns what they are (see the enum). MORE is
 * only returned while n < CLIENT_HELLO_MAX: a ClientHello that does not fit is MALFORMED.
 */
enum client_hello_result client_hello_parse(const uint8_t *b, size_t n, struct client_hello *out);

#endif
