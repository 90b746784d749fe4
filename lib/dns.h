/*
 * DOC: DNS names, types and rcodes (pure)
 *
 * What both sides of a dns check need: conf/ validates `query` and `expect_rcode` with it, and
 * health/dns_msg.c builds and judges the messages with it. Only the record types a health check
 * has reason to ask for are known by name (ANY is left out: RFC 8482 lets servers answer it
 * with anything). No I/O, no allocation.
 */
#ifndef ANYLB_LIB_DNS_H
#define ANYLB_LIB_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_WIRE_MAX 255 /* bytes of a name in wire form, the root label included */
#define DNS_LABEL_MAX     63

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33,
	DNS_TYPE_CAA = 257,
};

/* "A", "aaaa", ... -> the type's number; 0 or -EINVAL when the name is not one we know. */
int dns_type_from_name(const char *s, uint16_t *out);
/* The type's mnemonic, or NULL when it is not one we know. */
const char *dns_type_name(uint16_t t);
/* The types dns_type_from_name knows, as a message lists them: "A, AAAA, ...". */
const char *dns_type_list(void);

/* "NOERROR", "servfail", ... (RFC 1035 and 2136 codes 0..10) -> the code; 0 or -EINVAL. */
int dns_rcode_from_name(const char *s, unsigned *out);
/* The rcode's mnemonic; NULL above 10 (callers print the number). */
const char *dns_rcode_name(unsigned rcode);

/*
 * An absolute name in presentation form ("example.org.", "." for the root; letters, digits,
 * '-', '_' and '.', no escapes) in wire form: out gets at most DNS_NAME_WIRE_MAX bytes and *len
 * their count. Returns 0, or -EINVAL with why (a sentence fragment, static) set: not absolute,
 * an empty label, a label longer than 63 bytes, a character outside the set, too long.
 */
int dns_name_to_wire(
	const char *name, uint8_t out[DNS_NAME_WIRE_MAX], size_t *len, const char **why);

#endif
