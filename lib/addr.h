/*
 * DOC: socket addresses
 *
 * `IP:PORT` and `[IPv6]:PORT` as operators write them, parsed into a sockaddr that can be handed
 * to bind(2) or connect(2) as it is, and formatted back the same way for logs and status.
 */
#ifndef ANYLB_LIB_ADDR_H
#define ANYLB_LIB_ADDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	};
	socklen_t len;
};

/* Longest text addr_format() writes, with its NUL: "[" + INET6_ADDRSTRLEN + "]:65535". */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 8)

/* Room for any reason addr_parse() gives, with its NUL. */
#define ADDR_WHY_MAX 96

/*
 * Parses "1.2.3.4:80" or "[::1]:80" (numeric only, port 1..65535 unless allow_port0, without a
 * leading zero; an IPv4-mapped IPv6 address is refused: it has an IPv4 spelling). Returns 0, or
 * -EINVAL with a short reason for an operator in why (cap bytes, ADDR_WHY_MAX is always enough).
 */
int addr_parse(const char *s, int allow_port0, struct addr *out, char *why, size_t cap);

/*
 * Parses "NAME:PORT" where NAME is a DNS host name (RFC 1123: labels of letters, digits and
 * '-', not starting or ending with '-', 1..63 bytes, 253 in all, a final dot allowed; the last
 * label not all digits, so that a bad IPv4 address is not taken for a name). Returns 1 with the
 * name in host (hostcap bytes, 254 is always enough) and the port, 0 when s is not in the
 * NAME:PORT form at all (no letter in its host part, brackets, several colons: addr_parse()'s
 * business), or -EINVAL with why when it is but the name or the port is bad.
 */
int addr_parse_name(const char *s, char *host, size_t hostcap, int *port, char *why, size_t cap);

/* Writes "1.2.3.4:80" / "[::1]:80" into buf (ADDR_STRLEN bytes is always enough). */
const char *addr_format(const struct addr *a, char *buf, size_t cap);

/* Builds an addr from what accept(2) or getsockname(2) returned. */
void addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len);

int addr_port(const struct addr *a);
int addr_equal(const struct addr *a, const struct addr *b);

/* A 64-bit hash of the IP (and the port when with_port), stable across runs, for maglev. */
uint64_t addr_hash(const struct addr *a, int with_port);

#endif
