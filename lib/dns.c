/*
 * DOC: DNS names, types and rcodes (implementation)
 *
 * Tables, and a name encoder that refuses rather than guesses: a check's name is written by an
 * operator, and a relative name or an escape would mean a question nobody intended.
 */
#include "lib/dns.h"

#include <errno.h>
#include <strings.h>

static const struct {
	uint16_t type;
	const char *name;
} dns_types[] = {
	{DNS_TYPE_A, "A"},
	{DNS_TYPE_AAAA, "AAAA"},
	{DNS_TYPE_CNAME, "CNAME"},
	{DNS_TYPE_NS, "NS"},
	{DNS_TYPE_PTR, "PTR"},
	{DNS_TYPE_MX, "MX"},
	{DNS_TYPE_TXT, "TXT"},
	{DNS_TYPE_SOA, "SOA"},
	{DNS_TYPE_SRV, "SRV"},
	{DNS_TYPE_CAA, "CAA"},
};

static const char *const dns_rcodes[] = {
	"NOERROR",
	"FORMERR",
	"SERVFAIL",
	"NXDOMAIN",
	"NOTIMP",
	"REFUSED",
	"YXDOMAIN",
	"YXRRSET",
	"NXRRSET",
	"NOTAUTH",
	"NOTZONE",
};

int dns_type_from_name(const char *s, uint16_t *out)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++) {
		if (strcasecmp(s, dns_types[i].name) == 0) {
			*out = dns_types[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

const char *dns_type_name(uint16_t t)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (dns_types[i].type == t)
			return dns_types[i].name;
	return NULL;
}

const char *dns_type_list(void)
{
	return "A, AAAA, CNAME, NS, PTR, MX, TXT, SOA, SRV, CAA";
}

int dns_rcode_from_name(const char *s, unsigned *out)
{
	for (unsigned i = 0; i < sizeof(dns_rcodes) / sizeof(dns_rcodes[0]); i++) {
		if (strcasecmp(s, dns_rcodes[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *dns_rcode_name(unsigned rcode)
{
	if (rcode < sizeof(dns_rcodes) / sizeof(dns_rcodes[0]))
		return dns_rcodes[rcode];
	return NULL;
}

static int dns_name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

int dns_name_to_wire(
	const char *name, uint8_t out[DNS_NAME_WIRE_MAX], size_t *len, const char **why)
{
	size_t o = 0;
	const char *p = name;

	if (name[0] == '.' && name[1] == '\0') {
		out[0] = 0;
		*len = 1;
		return 0;
	}
	while (*p != '\0') {
		const char *start = p;
		size_t n;

		while (*p != '\0' && *p != '.') {
			if (!dns_name_char((unsigned char)*p)) {
				*why = "may only hold letters, digits, '-', '_' and '.'";
				return -EINVAL;
			}
			p++;
		}
		n = (size_t)(p - start);
		if (*p != '.') {
			*why = "must be absolute (end in '.')";
			return -EINVAL;
		}
		if (n == 0) {
			*why = "has an empty label";
			return -EINVAL;
		}
		if (n > DNS_LABEL_MAX) {
			*why = "has a label longer than 63 bytes";
			return -EINVAL;
		}
		if (o + 1 + n + 1 > DNS_NAME_WIRE_MAX) {
			*why = "is longer than 255 bytes in wire form";
			return -EINVAL;
		}
		out[o++] = (uint8_t)n;
		for (size_t i = 0; i < n; i++)
			out[o++] = (uint8_t)start[i];
		p++; /* the dot */
	}
	if (o == 0) {
		*why = "is empty";
		return -EINVAL;
	}
	out[o++] = 0;
	*len = o;
	return 0;
}
