/*
 * DOC: services and backends
 *
 * `services:` is a list of mappings, each one a service: the addresses it listens on, how it
 * balances and its backends. Checks that span entries run once a whole list is read: service
 * names are unique, a backend address appears once per service, and a listen address once in
 * the whole file (two services cannot own one socket). Duplicates are found by sorting, so a
 * file with thousands of backends costs n log n, and each is reported at the later occurrence
 * with the line of the first.
 *
 * A backend entry whose address is NAME:PORT (a DNS name, lib/addr.h addr_parse_name) goes to
 * the service's names, not its backends: it becomes backends at run time (conf/resolved.h).
 * Nothing is resolved here (`anylb -t` neither); resolve_interval and resolve_family are
 * refused on an IP address, and "every backend is a backup" counts the names too.
 *
 * `health` and `outlier` are read by health.c, `anycast` by bgp.c once the rest of its service
 * is known (min_ready is checked against the number of backends). What spans services is
 * checked here with the same duplicate finder: a prefix is announced by one service only, and
 * in bird_protocol mode two services cannot drive one BIRD protocol.
 */
#include "conf/internal.h"

#include <stdlib.h>
#include <string.h>

enum conf_service_key {
	CONF_SERVICE_NAME,
	CONF_SERVICE_LISTEN,
	CONF_SERVICE_ANYCAST,
	CONF_SERVICE_BALANCE,
	CONF_SERVICE_HASH_KEY,
	CONF_SERVICE_PROXY_PROTOCOL,
	CONF_SERVICE_RETRIES,
	CONF_SERVICE_MAX_CONNECTIONS,
	CONF_SERVICE_SLOW_START,
	CONF_SERVICE_INITIAL_STATE,
	CONF_SERVICE_TIMEOUTS,
	CONF_SERVICE_BACKENDS,
	CONF_SERVICE_HEALTH,
	CONF_SERVICE_OUTLIER,
	CONF_SERVICE_PANIC_THRESHOLD,
	CONF_SERVICE_QUEUE,
	CONF_SERVICE_PROTOCOL,
	CONF_SERVICE_UDP,
	CONF_SERVICE_ALLOW,
	CONF_SERVICE_DENY,
	CONF_SERVICE_RATE_LIMIT,
	CONF_SERVICE_TCP_KEEPALIVE,
	CONF_SERVICE_SNI,
	CONF_SERVICE_RESOLVE_INTERVAL,
	CONF_SERVICE_NKEYS,
};

static const struct conf_key conf_service_keys[] = {
	[CONF_SERVICE_NAME] = {"name", 0},
	[CONF_SERVICE_LISTEN] = {"listen", 0},
	[CONF_SERVICE_ANYCAST] = {"anycast", 0},
	[CONF_SERVICE_BALANCE] = {"balance", 0},
	[CONF_SERVICE_HASH_KEY] = {"hash_key", 0},
	[CONF_SERVICE_PROXY_PROTOCOL] = {"proxy_protocol", 0},
	[CONF_SERVICE_RETRIES] = {"retries", 0},
	[CONF_SERVICE_MAX_CONNECTIONS] = {"max_connections", 0},
	[CONF_SERVICE_SLOW_START] = {"slow_start", 0},
	[CONF_SERVICE_INITIAL_STATE] = {"initial_state", 0},
	[CONF_SERVICE_TIMEOUTS] = {"timeouts", 0},
	[CONF_SERVICE_BACKENDS] = {"backends", 0},
	[CONF_SERVICE_HEALTH] = {"health", 0},
	[CONF_SERVICE_OUTLIER] = {"outlier", 0},
	[CONF_SERVICE_PANIC_THRESHOLD] = {"panic_threshold", 0},
	[CONF_SERVICE_QUEUE] = {"queue", 0},
	[CONF_SERVICE_PROTOCOL] = {"protocol", 0},
	[CONF_SERVICE_UDP] = {"udp", 0},
	[CONF_SERVICE_ALLOW] = {"allow", 0},
	[CONF_SERVICE_DENY] = {"deny", 0},
	[CONF_SERVICE_RATE_LIMIT] = {"rate_limit", 0},
	[CONF_SERVICE_TCP_KEEPALIVE] = {"tcp_keepalive", 0},
	[CONF_SERVICE_SNI] = {"sni", 0},
	[CONF_SERVICE_RESOLVE_INTERVAL] = {"resolve_interval", 0},
};

enum conf_backend_key {
	CONF_BACKEND_ADDRESS,
	CONF_BACKEND_WEIGHT,
	CONF_BACKEND_ZONE,
	CONF_BACKEND_MAX_CONNECTIONS,
	CONF_BACKEND_BACKUP,
	CONF_BACKEND_RESOLVE_INTERVAL,
	CONF_BACKEND_RESOLVE_FAMILY,
};

static const struct conf_key conf_backend_keys[] = {
	[CONF_BACKEND_ADDRESS] = {"address", 0},
	[CONF_BACKEND_WEIGHT] = {"weight", 0},
	[CONF_BACKEND_ZONE] = {"zone", 0},
	[CONF_BACKEND_MAX_CONNECTIONS] = {"max_connections", 0},
	[CONF_BACKEND_BACKUP] = {"backup", 0},
	[CONF_BACKEND_RESOLVE_INTERVAL] = {"resolve_interval", 0},
	[CONF_BACKEND_RESOLVE_FAMILY] = {"resolve_family", 0},
};

static const char *const conf_family_names[] = {
	[CONF_FAMILY_ANY] = "any",
	[CONF_FAMILY_IPV4] = "ipv4",
	[CONF_FAMILY_IPV6] = "ipv6",
};

enum conf_timeout_key {
	CONF_TIMEOUT_CONNECT,
	CONF_TIMEOUT_IDLE,
	CONF_TIMEOUT_HALF_CLOSE,
	CONF_TIMEOUT_QUEUE,
	CONF_TIMEOUT_PROXY_HEADER,
	CONF_TIMEOUT_UDP_IDLE,
	CONF_TIMEOUT_CLIENT_HELLO,
	CONF_TIMEOUT_NKEYS,
};

static const struct conf_key conf_timeout_keys[] = {
	[CONF_TIMEOUT_CONNECT] = {"connect", 0},
	[CONF_TIMEOUT_IDLE] = {"idle", 0},
	[CONF_TIMEOUT_HALF_CLOSE] = {"half_close", 0},
	[CONF_TIMEOUT_QUEUE] = {"queue", 0},
	[CONF_TIMEOUT_PROXY_HEADER] = {"proxy_header", 0},
	[CONF_TIMEOUT_UDP_IDLE] = {"udp_idle", 0},
	[CONF_TIMEOUT_CLIENT_HELLO] = {"client_hello", 0},
};

enum conf_listen_key { CONF_LISTEN_ADDRESS, CONF_LISTEN_ACCEPT_PROXY };

static const struct conf_key conf_listen_keys[] = {
	[CONF_LISTEN_ADDRESS] = {"address", 0},
	[CONF_LISTEN_ACCEPT_PROXY] = {"accept_proxy", 0},
};

static const char *const conf_accept_proxy_names[] = {
	[CONF_ACCEPT_OFF] = "off",
	[CONF_ACCEPT_V1] = "v1",
	[CONF_ACCEPT_V2] = "v2",
	[CONF_ACCEPT_ANY] = "any",
};

enum conf_udp_key { CONF_UDP_RESPONSES, CONF_UDP_MAX_FLOWS, CONF_UDP_REPLY_TIMEOUT };

static const struct conf_key conf_udp_keys[] = {
	[CONF_UDP_RESPONSES] = {"responses", 0},
	[CONF_UDP_MAX_FLOWS] = {"max_flows", 0},
	[CONF_UDP_REPLY_TIMEOUT] = {"reply_timeout", 0},
};

static const char *const conf_protocol_names[] = {
	[CONF_PROTO_TCP] = "tcp",
	[CONF_PROTO_UDP] = "udp",
};

enum conf_queue_key { CONF_QUEUE_MAX };

static const struct conf_key conf_queue_keys[] = {
	[CONF_QUEUE_MAX] = {"max", 0},
};

/* Indexed by the enums of conf.h. */
static const char *const conf_balance_names[] = {
	[CONF_BALANCE_ROUND_ROBIN] = "round_robin",
	[CONF_BALANCE_LEAST_CONNECTIONS] = "least_connections",
	[CONF_BALANCE_MAGLEV] = "maglev",
	[CONF_BALANCE_RANDOM_TWO] = "random_two",
};

static const char *const conf_hash_key_names[] = {
	[CONF_HASH_SOURCE_IP] = "source_ip",
	[CONF_HASH_SOURCE_IP_PORT] = "source_ip_port",
};

static const char *const conf_initial_state_names[] = {
	[CONF_INITIAL_READY] = "ready",
	[CONF_INITIAL_NOT_READY] = "not_ready",
};

static const char *const conf_proxy_names[] = {
	[CONF_PROXY_OFF] = "off",
	[CONF_PROXY_V1] = "v1",
	[CONF_PROXY_V2] = "v2",
};

const char *conf_balance_name(enum conf_balance b)
{
	switch (b) {
	case CONF_BALANCE_ROUND_ROBIN:
	case CONF_BALANCE_LEAST_CONNECTIONS:
	case CONF_BALANCE_MAGLEV:
	case CONF_BALANCE_RANDOM_TWO:
		return conf_balance_names[b];
	}
	return "unknown";
}

/* One entry in a duplicate check: a name, or an address when addr is set. */
struct conf_dup {
	const char *text;
	const struct addr *addr;
	int line, col;
	const char *file; /* NULL: the main file */
	size_t seq;       /* order in the file: the first occurrence is the one kept */
};

static int conf_dup_cmp(const void *pa, const void *pb)
{
	const struct conf_dup *a = pa, *b = pb;
	int c;

	if ((a->addr == NULL) != (b->addr == NULL))
		return a->addr == NULL ? -1 : 1; /* names apart from addresses */
	if (a->addr != NULL) {
		/* addr_parse() zeroes the struct first, so the bytes compare as the values do. */
		if (a->addr->len != b->addr->len)
			c = a->addr->len < b->addr->len ? -1 : 1;
		else
			c = memcmp(&a->addr->ss, &b->addr->ss, a->addr->len);
	} else {
		c = strcmp(a->text, b->text);
	}
	if (c != 0)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Reports every entry of v equal to an earlier one, "duplicate WHAT 'x' (first at line N)". */
static void conf_report_dups(struct conf_report *r, struct conf_dup *v, size_t n, const char *what)
{
	char show[CONF_SHOW_MAX];

	qsort(v, n, sizeof(*v), conf_dup_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		struct conf_dup a = v[first], b = v[i];
		a.seq = b.seq = 0;
		if (conf_dup_cmp(&a, &b) != 0) {
			first = i;
			continue;
		}
		char where[CONF_WHERE_MAX];
		conf_where(r, v[first].file, v[i].file, v[first].line, where, sizeof(where));
		conf_report_pos(r, ((struct conf_pos){v[i].line, v[i].col, v[i].file}),
			"duplicate %s %s (first at %s)", what,
			conf_show(v[i].text, show, sizeof(show)), where);
	}
}

/* [A-Za-z0-9_.-]+: names end up in URLs, metric labels and BIRD protocol names. */
static int conf_name_ok(const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return 0;
	}
	return 1;
}

/* seen[key]: the key's node where it was written (for what the protocol allows). */
static void conf_map_timeouts(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_timeouts *t, const struct conf_node **seen)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(
			r, k, "in 'timeouts'", conf_timeout_keys, CONF_NKEYS(conf_timeout_keys));
		if (key < 0)
			continue;
		seen[key] = k;
		switch ((enum conf_timeout_key)key) {
		case CONF_TIMEOUT_CONNECT:
			conf_get_duration(r, k, val, 1, &t->connect_ms);
			break;
		case CONF_TIMEOUT_IDLE:
			conf_get_duration(r, k, val, 1, &t->idle_ms);
			break;
		case CONF_TIMEOUT_HALF_CLOSE:
			conf_get_duration(r, k, val, 1, &t->half_close_ms);
			break;
		case CONF_TIMEOUT_QUEUE:
			conf_get_duration(r, k, val, 1, &t->queue_ms);
			break;
		case CONF_TIMEOUT_PROXY_HEADER:
			conf_get_duration(r, k, val, 1, &t->proxy_header_ms);
			break;
		case CONF_TIMEOUT_UDP_IDLE:
			conf_get_duration(r, k, val, 1, &t->udp_idle_ms);
			break;
		case CONF_TIMEOUT_CLIENT_HELLO:
			conf_get_duration(r, k, val, 1, &t->client_hello_ms);
			break;
		case CONF_TIMEOUT_NKEYS:
			break;
		}
	}
}

static void conf_map_queue(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_service *s)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(
			r, k, "in 'queue'", conf_queue_keys, CONF_NKEYS(conf_queue_keys));
		if (key < 0)
			continue;
		switch ((enum conf_queue_key)key) {
		case CONF_QUEUE_MAX:
			conf_get_uint(r, k, val, 0, CONF_MAX_CONNECTIONS, &s->queue_max);
			break;
		}
	}
}

static void conf_map_udp(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_udp *u)
{
	const struct conf_node *val;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'udp'", conf_udp_keys, CONF_NKEYS(conf_udp_keys));
		if (key < 0)
			continue;
		switch ((enum conf_udp_key)key) {
		case CONF_UDP_RESPONSES:
			conf_get_uint(r, k, val, 0, 1000, &u->responses);
			break;
		case CONF_UDP_MAX_FLOWS:
			conf_get_uint(r, k, val, 1, CONF_MAX_CONNECTIONS, &u->max_flows);
			break;
		case CONF_UDP_REPLY_TIMEOUT:
			conf_get_duration(r, k, val, 1, &u->reply_timeout_ms);
			break;
		}
	}
}

/*
 * What a udp service cannot have: keys of TCP sessions (their nodes in seen[], tseen[]) and
 * PROXY headers; and what only a udp service may have. Each refused at its key.
 */
static void conf_check_protocol(struct conf_report *r, const struct conf_service *s,
	const struct conf_node *const *seen, const struct conf_node *const *tseen)
{
	static const int tcp_only[] = {CONF_SERVICE_PROXY_PROTOCOL, CONF_SERVICE_RETRIES,
		CONF_SERVICE_MAX_CONNECTIONS, CONF_SERVICE_QUEUE, CONF_SERVICE_TCP_KEEPALIVE,
		CONF_SERVICE_SNI};
	static const int tcp_timeouts[] = {CONF_TIMEOUT_CONNECT, CONF_TIMEOUT_IDLE,
		CONF_TIMEOUT_HALF_CLOSE, CONF_TIMEOUT_QUEUE, CONF_TIMEOUT_PROXY_HEADER,
		CONF_TIMEOUT_CLIENT_HELLO};

	if (s->protocol == CONF_PROTO_TCP) {
		if (seen[CONF_SERVICE_UDP] != NULL)
			conf_report_node(r, NULL, seen[CONF_SERVICE_UDP],
				"'udp' is for a service with 'protocol: udp'");
		if (tseen[CONF_TIMEOUT_UDP_IDLE] != NULL)
			conf_report_node(r, NULL, tseen[CONF_TIMEOUT_UDP_IDLE],
				"'udp_idle' is for a service with 'protocol: udp'");
		return;
	}
	for (size_t i = 0; i < sizeof(tcp_only) / sizeof(tcp_only[0]); i++)
		if (seen[tcp_only[i]] != NULL)
			conf_report_node(r, NULL, seen[tcp_only[i]],
				"'%s' has no meaning for a udp service",
				conf_service_keys[tcp_only[i]].name);
	for (size_t i = 0; i < sizeof(tcp_timeouts) / sizeof(tcp_timeouts[0]); i++)
		if (tseen[tcp_timeouts[i]] != NULL)
			conf_report_node(r, NULL, tseen[tcp_timeouts[i]],
				"timeouts '%s' has no meaning for a udp service (it has "
				"'udp_idle')",
				conf_timeout_keys[tcp_timeouts[i]].name);
	for (size_t i = 0; i < s->nlisten; i++)
		if (s->listen[i].accept_proxy != CONF_ACCEPT_OFF)
			conf_report_pos(r, s->listen[i].pos,
				"'accept_proxy' has no meaning for a udp service");
}

/* One listen entry written as a mapping: {address: ..., accept_proxy: v2}. */
static void conf_map_listen_entry(
	struct conf_report *r, const struct conf_node *m, struct conf_listen *l)
{
	const struct conf_node *k, *val;
	int e, have_address = 0;

	for (k = conf_map_next(m, NULL, &val); k != NULL; k = conf_map_next(m, k, &val)) {
		int key = conf_key_find(
			r, k, "in a listen entry", conf_listen_keys, CONF_NKEYS(conf_listen_keys));
		if (key < 0)
			continue;
		switch ((enum conf_listen_key)key) {
		case CONF_LISTEN_ADDRESS:
			have_address = 1;
			l->pos = conf_node_pos(val);
			conf_get_addr(r, k, val, &l->address, &l->addr);
			break;
		case CONF_LISTEN_ACCEPT_PROXY:
			/* A YAML 1.1 reader would make `off` a boolean: take `false` as off too. */
			if (val->kind == CONF_NODE_SCALAR && val->plain &&
				strcmp(val->str, "false") == 0)
				l->accept_proxy = CONF_ACCEPT_OFF;
			else if (conf_get_enum(r, k, val, conf_accept_proxy_names,
					 CONF_NKEYS(conf_accept_proxy_names), &e) == 0)
				l->accept_proxy = (enum conf_accept_proxy)e;
			break;
		}
	}
	if (!have_address)
		conf_report_at_node(r, m, "a listen entry is missing 'address'");
}

/* A single address, a mapping with one, or a list of those; at least one. */
static void conf_map_listen(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_service *s)
{
	char desc[CONF_SHOW_MAX];
	const struct conf_node *item = v;
	size_t n = 1;

	if (conf_node_is_null(v) || (v->kind == CONF_NODE_LIST && v->n == 0)) {
		conf_report_node(
			r, k, v, "'listen' is empty: a service needs at least one address");
		return;
	}
	const struct conf_node *first_val;
	if (v->kind == CONF_NODE_MAP && conf_map_next(v, NULL, &first_val) == NULL) {
		conf_report_node(r, k, v,
			"'listen': expected an address or a list of addresses, got %s",
			conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	if (v->kind == CONF_NODE_BAD)
		return;
	if (v->kind == CONF_NODE_LIST) {
		item = v->first;
		n = v->n;
	}
	s->listen = calloc(n, sizeof(*s->listen));
	if (s->listen == NULL) {
		r->nomem = 1;
		return;
	}
	s->nlisten = n;
	for (size_t i = 0; i < n && item != NULL; i++, item = item->next) {
		struct conf_listen *l = &s->listen[i];
		l->pos = conf_node_pos(item);
		if (item->kind == CONF_NODE_MAP)
			conf_map_listen_entry(r, item, l);
		else
			conf_get_addr(r, k, item, &l->address, &l->addr);
	}
}

/*
 * The address of a backend entry: IP:PORT, or NAME:PORT (then nm is filled and 1 returned).
 * 0: an IP address in b; -1: reported.
 */
static int conf_backend_address(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_backend *b, struct conf_name *nm)
{
	char show[CONF_SHOW_MAX], why[ADDR_WHY_MAX], host[CONF_DNS_NAME_MAX + 2];
	const char *s;
	int port;

	if (conf_get_word(r, k, v, "an address", &s) < 0)
		return -1;
	int rc = addr_parse_name(s, host, sizeof(host), &port, why, sizeof(why));
	if (rc == 0)
		return conf_get_addr(r, k, v, &b->address, &b->addr);
	if (rc < 0) {
		conf_report_node(r, k, v, "'%s': bad address %s: %s", k->str,
			conf_show(s, show, sizeof(show)), why);
		return -1;
	}
	nm->address = strdup(s);
	nm->host = strdup(host);
	nm->port = (unsigned)port;
	if (nm->address == NULL || nm->host == NULL) {
		r->nomem = 1;
		return -1;
	}
	return 1;
}

/* One backend entry; *is_name: it is NAME:PORT, read into nm (b's values then go to nm). */
static void conf_map_backend(struct conf_report *r, const struct conf_node *m,
	struct conf_backend *b, struct conf_dup *dup, struct conf_name *nm, int *is_name)
{
	const struct conf_node *k, *val, *rk[2] = {NULL, NULL};
	int e;

	b->weight = 100;
	b->pos = conf_node_pos(m);
	*is_name = 0;
	for (k = conf_map_next(m, NULL, &val); k != NULL; k = conf_map_next(m, k, &val)) {
		int key = conf_key_find(
			r, k, "in a backend", conf_backend_keys, CONF_NKEYS(conf_backend_keys));
		if (key < 0)
			continue;
		switch ((enum conf_backend_key)key) {
		case CONF_BACKEND_ADDRESS: {
			int rc = conf_backend_address(r, k, val, b, nm);
			if (rc >= 0) {
				*is_name = rc == 1;
				*dup = (struct conf_dup){.text = rc == 1 ? nm->address : b->address,
					.addr = rc == 1 ? NULL : &b->addr,
					.line = val->line,
					.col = val->col,
					.file = val->file};
			} else {
				dup->line = -1; /* present but bad: not "missing" */
			}
			break;
		}
		case CONF_BACKEND_WEIGHT:
			conf_get_uint(r, k, val, 1, CONF_MAX_WEIGHT, &b->weight);
			break;
		case CONF_BACKEND_ZONE:
			conf_get_string(r, k, val, CONF_NAME_MAX, &b->zone);
			break;
		case CONF_BACKEND_MAX_CONNECTIONS:
			conf_get_uint(r, k, val, 0, CONF_MAX_CONNECTIONS, &b->max_connections);
			break;
		case CONF_BACKEND_BACKUP:
			conf_get_bool(r, k, val, &b->backup);
			break;
		case CONF_BACKEND_RESOLVE_INTERVAL:
			rk[0] = k;
			conf_get_duration(r, k, val, 1, &nm->interval_ms);
			break;
		case CONF_BACKEND_RESOLVE_FAMILY:
			rk[1] = k;
			if (conf_get_enum(r, k, val, conf_family_names,
				    CONF_NKEYS(conf_family_names), &e) == 0)
				nm->family = (enum conf_family)e;
			break;
		}
	}
	if (dup->line == 0)
		conf_report_at_node(r, m, "backend is missing 'address'");
	for (size_t i = 0; i < 2 && dup->line > 0 && !*is_name; i++)
		if (rk[i] != NULL)
			conf_report_node(r, rk[i], NULL,
				"'%s' applies to an address written as NAME:PORT, not to an IP "
				"address",
				rk[i]->str);
	if (*is_name) {
		nm->tmpl = *b;
		*b = (struct conf_backend){0};
	}
}

static void conf_map_backends(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_service *s)
{
	char desc[CONF_SHOW_MAX];

	if (conf_node_is_null(v) || (v->kind == CONF_NODE_LIST && v->n == 0)) {
		conf_report_node(
			r, k, v, "'backends' is empty: a service needs at least one backend");
		return;
	}
	if (v->kind == CONF_NODE_BAD)
		return;
	if (v->kind != CONF_NODE_LIST) {
		conf_report_node(r, k, v, "'backends': expected a list, got %s",
			conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	if (v->n > CONF_MAX_BACKENDS) {
		conf_report_node(r, k, v, "'backends' has %zu entries, more than %d", v->n,
			CONF_MAX_BACKENDS);
		return;
	}
	s->backends = calloc(v->n, sizeof(*s->backends));
	s->names = calloc(v->n, sizeof(*s->names));
	struct conf_dup *dups = calloc(v->n, sizeof(*dups));
	if (s->backends == NULL || s->names == NULL || dups == NULL) {
		r->nomem = 1;
		free(dups);
		return;
	}
	size_t ndups = 0, nbackup = 0;
	const struct conf_node *item = v->first;
	for (size_t i = 0; i < v->n && item != NULL; i++, item = item->next) {
		struct conf_dup d = {0};
		int is_name = 0;
		/* Entries fill both arrays in order; a name leaves its backend slot empty. */
		struct conf_backend *b = &s->backends[s->nbackends];
		struct conf_name *nm = &s->names[s->nnames];
		if (item->kind == CONF_NODE_MAP) {
			conf_map_backend(r, item, b, &d, nm, &is_name);
		} else if (item->kind != CONF_NODE_BAD) {
			conf_report_node(r, NULL, item, "backend: expected a mapping, got %s",
				conf_node_desc(item, desc, sizeof(desc)));
		}
		if (is_name) {
			nbackup += nm->tmpl.backup != 0;
			s->nnames++;
		} else {
			nbackup += b->backup != 0;
			s->nbackends++;
			/* A name's own keys were refused for an IP address; its leftovers go. */
			free(nm->address);
			free(nm->host);
			*nm = (struct conf_name){0};
		}
		if (d.text != NULL) {
			d.seq = i;
			dups[ndups++] = d;
		}
	}
	conf_report_dups(r, dups, ndups, "backend");
	free(dups);
	for (size_t i = 0; i < s->nbackends; i++)
		s->nbackup += s->backends[i].backup != 0;
	if (nbackup > 0 && nbackup == s->nbackends + s->nnames)
		conf_report_node(r, k, NULL,
			"every backend is 'backup: true': backups serve only while no other "
			"backend "
			"can, so at least one must not be a backup");
}

/*
 * initial_state, once the checks are read (k NULL: absent). The default follows readiness: a
 * backend that has a readiness check takes no session before that check has said yes once. A
 * not_ready with no check at all is refused: nothing would ever make the backends ready.
 */
static void conf_map_initial_state(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_service *s)
{
	const struct conf_health *h = &s->health;
	int e;

	s->initial_state = h->readiness.enabled ? CONF_INITIAL_NOT_READY : CONF_INITIAL_READY;
	if (k == NULL)
		return;
	if (conf_get_enum(r, k, v, conf_initial_state_names, CONF_NKEYS(conf_initial_state_names),
		    &e) < 0)
		return;
	if (e == CONF_INITIAL_NOT_READY && !h->liveness.enabled && !h->readiness.enabled) {
		conf_report_node(r, k, v,
			"'initial_state': not_ready needs a liveness or readiness check in "
			"'health': without one no backend would ever turn ready");
		return;
	}
	s->initial_state = (enum conf_initial_state)e;
}

static void conf_map_service(struct conf_report *r, const struct conf_node *m,
	struct conf_service *s, struct conf_dup *name_dup, const struct conf_bgp *b,
	const struct conf_bgp_seen *bgp)
{
	char show[CONF_SHOW_MAX];
	const struct conf_node *k, *val, *anycast_k = NULL, *anycast_v = NULL;
	const struct conf_node *initial_k = NULL, *initial_v = NULL;
	int have_listen = 0, have_backends = 0, have_name = 0;
	const struct conf_node *seen[CONF_SERVICE_NKEYS] = {0}, *tseen[CONF_TIMEOUT_NKEYS] = {0};
	int e;

	s->pos = conf_node_pos(m);
	s->balance = CONF_BALANCE_ROUND_ROBIN;
	s->hash_key = CONF_HASH_SOURCE_IP;
	s->proxy_protocol = CONF_PROXY_OFF;
	s->retries = 2;
	s->timeouts =
		(struct conf_timeouts){2000, 5 * 60 * 1000, 30 * 1000, 0, 3000, 30 * 1000, 3000};
	s->queue_max = CONF_QUEUE_DEFAULT;
	s->udp = (struct conf_udp){0, CONF_UDP_FLOWS, 2000};
	conf_outlier_init(&s->outlier);
	for (k = conf_map_next(m, NULL, &val); k != NULL; k = conf_map_next(m, k, &val)) {
		int key = conf_key_find(
			r, k, "in a service", conf_service_keys, CONF_NKEYS(conf_service_keys));
		if (key < 0)
			continue;
		seen[key] = k;
		switch ((enum conf_service_key)key) {
		case CONF_SERVICE_NAME:
			have_name = 1;
			if (conf_get_string(r, k, val, CONF_NAME_MAX, &s->name) < 0)
				break;
			if (!conf_name_ok(s->name)) {
				conf_report_node(r, k, val,
					"'name' %s may only hold letters, digits, '_', '.' and '-'",
					conf_show(s->name, show, sizeof(show)));
				break;
			}
			*name_dup = (struct conf_dup){.text = s->name,
				.line = val->line,
				.col = val->col,
				.file = val->file};
			break;
		case CONF_SERVICE_LISTEN:
			have_listen = 1;
			conf_map_listen(r, k, val, s);
			break;
		case CONF_SERVICE_BALANCE:
			if (conf_get_enum(r, k, val, conf_balance_names,
				    CONF_NKEYS(conf_balance_names), &e) == 0)
				s->balance = (enum conf_balance)e;
			break;
		case CONF_SERVICE_HASH_KEY:
			if (conf_get_enum(r, k, val, conf_hash_key_names,
				    CONF_NKEYS(conf_hash_key_names), &e) == 0)
				s->hash_key = (enum conf_hash_key)e;
			break;
		case CONF_SERVICE_PROXY_PROTOCOL:
			/* A YAML 1.1 reader would make `off` a boolean: take `false` as off too. */
			if (val->kind == CONF_NODE_SCALAR && val->plain &&
				strcmp(val->str, "false") == 0)
				s->proxy_protocol = CONF_PROXY_OFF;
			else if (conf_get_enum(r, k, val, conf_proxy_names,
					 CONF_NKEYS(conf_proxy_names), &e) == 0)
				s->proxy_protocol = (enum conf_proxy_protocol)e;
			break;
		case CONF_SERVICE_RETRIES:
			conf_get_uint(r, k, val, 0, CONF_MAX_RETRIES, &s->retries);
			break;
		case CONF_SERVICE_MAX_CONNECTIONS:
			conf_get_uint(r, k, val, 0, CONF_MAX_CONNECTIONS, &s->max_connections);
			break;
		case CONF_SERVICE_TIMEOUTS:
			conf_map_timeouts(r, k, val, &s->timeouts, tseen);
			break;
		case CONF_SERVICE_BACKENDS:
			have_backends = 1;
			conf_map_backends(r, k, val, s);
			break;
		case CONF_SERVICE_SLOW_START:
			conf_get_duration(r, k, val, 0, &s->slow_start_ms);
			break;
		case CONF_SERVICE_RESOLVE_INTERVAL:
			conf_get_duration(r, k, val, 1, &s->resolve_interval_ms);
			break;
		case CONF_SERVICE_PANIC_THRESHOLD:
			conf_get_percent(r, k, val, 100, &s->panic_threshold_pct);
			break;
		case CONF_SERVICE_QUEUE:
			conf_map_queue(r, k, val, s);
			break;
		case CONF_SERVICE_PROTOCOL:
			if (conf_get_enum(r, k, val, conf_protocol_names,
				    CONF_NKEYS(conf_protocol_names), &e) == 0)
				s->protocol = (enum conf_protocol)e;
			break;
		case CONF_SERVICE_UDP:
			conf_map_udp(r, k, val, &s->udp);
			break;
		case CONF_SERVICE_NKEYS:
			break;
		case CONF_SERVICE_INITIAL_STATE:
			initial_k = k; /* read below, once the checks are known */
			initial_v = val;
			break;
		case CONF_SERVICE_HEALTH:
			conf_map_health(r, k, val, &s->health);
			break;
		case CONF_SERVICE_OUTLIER:
			conf_map_outlier(r, k, val, &s->outlier);
			break;
		case CONF_SERVICE_ANYCAST:
			anycast_k = k; /* read below, once the backends are known */
			anycast_v = val;
			break;
		case CONF_SERVICE_ALLOW:
			conf_map_cidrs(r, k, val, &s->allow, &s->nallow);
			break;
		case CONF_SERVICE_DENY:
			conf_map_cidrs(r, k, val, &s->deny, &s->ndeny);
			break;
		case CONF_SERVICE_RATE_LIMIT:
			conf_map_rate_limit(r, k, val, &s->rate_limit);
			break;
		case CONF_SERVICE_TCP_KEEPALIVE:
			conf_map_keepalive(r, k, val, &s->keepalive);
			break;
		case CONF_SERVICE_SNI:
			conf_map_sni(r, k, val, &s->sni);
			break;
		}
	}
	s->admit_checks = s->nallow > 0 || s->ndeny > 0 || s->rate_limit.enabled;
	if (s->timeouts.queue_ms == 0) /* HAProxy's default too: the connect timeout */
		s->timeouts.queue_ms = s->timeouts.connect_ms;
	/* A udp flow follows its client address: the same backend for every port it uses. */
	if (s->protocol == CONF_PROTO_UDP && seen[CONF_SERVICE_BALANCE] == NULL)
		s->balance = CONF_BALANCE_MAGLEV;
	for (size_t i = 0; i < s->nlisten; i++)
		s->listen[i].proto = s->protocol;
	conf_check_protocol(r, s, seen, tseen);
	if (s->resolve_interval_ms == 0)
		s->resolve_interval_ms = CONF_RESOLVE_INTERVAL_MS;
	for (size_t i = 0; i < s->nnames; i++)
		if (s->names[i].interval_ms == 0)
			s->names[i].interval_ms = s->resolve_interval_ms;
	if (anycast_k != NULL)
		conf_map_anycast(r, anycast_k, anycast_v, b, bgp, s);
	conf_map_initial_state(r, initial_k, initial_v, s);
	const char *what = s->name != NULL ? conf_show(s->name, show, sizeof(show)) : NULL;
	const char *missing[3] = {NULL, NULL, NULL};
	size_t nmissing = 0;
	if (!have_name)
		missing[nmissing++] = "name";
	if (!have_listen)
		missing[nmissing++] = "listen";
	if (!have_backends)
		missing[nmissing++] = "backends";
	for (size_t i = 0; i < nmissing; i++)
		conf_report_at_node(r, m, "service%s%s is missing '%s'", what ? " " : "",
			what ? what : "", missing[i]);
}

/* Across services: a prefix is announced once, a BIRD protocol driven by one service. */
static void conf_check_anycast(struct conf_report *r, const struct conf *c)
{
	size_t nprefixes = 0, n = 0, nbird = 0;

	for (size_t i = 0; i < c->nservices; i++)
		nprefixes += c->services[i].anycast.nprefixes;
	struct conf_dup *prefixes = calloc(nprefixes ? nprefixes : 1, sizeof(*prefixes));
	struct conf_dup *bird = calloc(c->nservices ? c->nservices : 1, sizeof(*bird));
	if (prefixes == NULL || bird == NULL) {
		r->nomem = 1;
		free(prefixes);
		free(bird);
		return;
	}
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_anycast *a = &c->services[i].anycast;
		for (size_t j = 0; j < a->nprefixes; j++) {
			const struct conf_prefix *p = &a->prefixes[j];
			if (p->text == NULL)
				continue;
			/* Prefixes are in canonical form: equal text is equal bytes. */
			prefixes[n] = (struct conf_dup){.text = p->text,
				.line = p->pos.line,
				.col = p->pos.col,
				.file = p->pos.file,
				.seq = n};
			n++;
		}
		if (a->bird_protocol != NULL) {
			bird[nbird] = (struct conf_dup){.text = a->bird_protocol,
				.line = a->bird_protocol_pos.line,
				.col = a->bird_protocol_pos.col,
				.file = a->bird_protocol_pos.file,
				.seq = nbird};
			nbird++;
		}
	}
	conf_report_dups(r, prefixes, n, "prefix");
	conf_report_dups(r, bird, nbird, "bird_protocol");
	free(prefixes);
	free(bird);
}

static void conf_listen_dups(
	struct conf_report *r, const struct conf *c, struct conf_dup *listen, int proto);

void conf_map_services(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf *c, const struct conf_bgp_seen *bgp)
{
	char desc[CONF_SHOW_MAX];

	if (conf_node_is_null(v) || (v->kind == CONF_NODE_LIST && v->n == 0)) {
		conf_report_node(r, k, v, "'services' is empty: at least one service is required");
		return;
	}
	if (v->kind == CONF_NODE_BAD)
		return;
	if (v->kind != CONF_NODE_LIST) {
		conf_report_node(r, k, v, "'services': expected a list, got %s",
			conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	c->services = calloc(v->n, sizeof(*c->services));
	struct conf_dup *names = calloc(v->n, sizeof(*names));
	if (c->services == NULL || names == NULL) {
		r->nomem = 1;
		free(names);
		return;
	}
	c->nservices = v->n;
	size_t nnames = 0, nlisten = 0;
	const struct conf_node *item = v->first;
	for (size_t i = 0; i < v->n && item != NULL; i++, item = item->next) {
		struct conf_dup d = {0};
		if (item->kind == CONF_NODE_MAP) {
			conf_map_service(r, item, &c->services[i], &d, &c->bgp, bgp);
		} else if (item->kind != CONF_NODE_BAD) {
			conf_report_node(r, NULL, item, "service: expected a mapping, got %s",
				conf_node_desc(item, desc, sizeof(desc)));
		}
		if (d.text != NULL) {
			d.seq = i;
			names[nnames++] = d;
		}
		nlisten += c->services[i].nlisten;
	}
	conf_report_dups(r, names, nnames, "service name");
	free(names);

	/* Across services: two services of one protocol cannot listen on one address. */
	struct conf_dup *listen = calloc(nlisten ? nlisten : 1, sizeof(*listen));
	if (listen == NULL) {
		r->nomem = 1;
		return;
	}
	for (int proto = CONF_PROTO_TCP; proto <= CONF_PROTO_UDP; proto++)
		conf_listen_dups(r, c, listen, proto);
	free(listen);
	conf_check_anycast(r, c);
	conf_sni_resolve(r, c);
}

static void conf_listen_dups(
	struct conf_report *r, const struct conf *c, struct conf_dup *listen, int proto)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nservices; i++) {
		for (size_t j = 0; j < c->services[i].nlisten; j++) {
			const struct conf_listen *l = &c->services[i].listen[j];
			if (l->address == NULL || (int)l->proto != proto)
				continue;
			listen[n] = (struct conf_dup){.text = l->address,
				.addr = &l->addr,
				.line = l->pos.line,
				.col = l->pos.col,
				.file = l->pos.file,
				.seq = n};
			n++;
		}
	}
	conf_report_dups(
		r, listen, n, proto == CONF_PROTO_UDP ? "udp listen address" : "listen address");
}

void conf_service_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "services[]", conf_service_keys, CONF_NKEYS(conf_service_keys));
	conf_keys_table(
		cb, arg, "services[].backends[]", conf_backend_keys, CONF_NKEYS(conf_backend_keys));
	conf_keys_table(
		cb, arg, "services[].timeouts", conf_timeout_keys, CONF_NKEYS(conf_timeout_keys));
	conf_keys_table(cb, arg, "services[].queue", conf_queue_keys, CONF_NKEYS(conf_queue_keys));
	conf_keys_table(cb, arg, "services[].udp", conf_udp_keys, CONF_NKEYS(conf_udp_keys));
	conf_keys_table(
		cb, arg, "services[].listen[]", conf_listen_keys, CONF_NKEYS(conf_listen_keys));
	conf_sni_keys_each(cb, arg);
}
