/*
 * DOC: configuration
 *
 * The YAML file becomes plain structs here, fully validated: every value the rest of anylb
 * reads from a struct conf is in range and every address parses. conf/ does no I/O beyond
 * reading the file. A struct conf is immutable once loaded; the proxy keeps a pointer to the one
 * it runs and a reload (a later issue) swaps in a new one.
 *
 * Errors are collected, not just the first: `anylb -t` prints one `FILE:LINE:COL: message` line
 * per problem so an operator fixes a file in one pass. LINE and COL are 1-based and point at the
 * key or value at fault.
 */
#ifndef ANYLB_CONF_CONF_H
#define ANYLB_CONF_CONF_H

#include "lib/addr.h"
#include "lib/cidr.h"
#include "lib/log.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum conf_balance {
	CONF_BALANCE_ROUND_ROBIN,
	CONF_BALANCE_LEAST_CONNECTIONS,
	CONF_BALANCE_MAGLEV,
	CONF_BALANCE_RANDOM_TWO,
};

enum conf_hash_key { CONF_HASH_SOURCE_IP, CONF_HASH_SOURCE_IP_PORT };

enum conf_proxy_protocol { CONF_PROXY_OFF, CONF_PROXY_V1, CONF_PROXY_V2 };
/* listen[].accept_proxy: the PROXY header clients must send first (lb/proxy_in.h). */
enum conf_accept_proxy { CONF_ACCEPT_OFF, CONF_ACCEPT_V1, CONF_ACCEPT_V2, CONF_ACCEPT_ANY };
/* protocol: what a service carries; a udp service's datagrams go through lb/udp_listener.c. */
enum conf_protocol { CONF_PROTO_TCP, CONF_PROTO_UDP };

/*
 * The state a backend starts in, before its first check (at start, or added by a reload):
 * ready takes sessions at once, not_ready waits for the first verdict (HAProxy init-state,
 * Envoy ignore_new_hosts_until_first_hc).
 */
enum conf_initial_state { CONF_INITIAL_READY, CONF_INITIAL_NOT_READY };

/*
 * Where a value was written, for messages that come after loading (e.g. a failed bind). file is
 * the file it was written in, owned by the struct conf (its files[]); NULL means the main file,
 * conf->file (and 0:0 a default).
 */
struct conf_pos {
	int line, col;
	const char *file;
};

struct conf_backend {
	char *address; /* as written, e.g. "10.0.1.11:8443"; the backend's name */
	struct addr addr;
	unsigned weight;          /* 1..1000, default 100 */
	char *zone;               /* NULL when not set */
	unsigned max_connections; /* 0 = unlimited */
	int backup;               /* default 0: used only while no other backend is usable */
	int runtime;              /* added at run time (conf/overlay.h), not by the file */
	/* Resolved from a name entry (conf/resolved.h): its "NAME:PORT", owned by that entry's
	 * struct conf_name (names[].address); NULL for an address the file or operator wrote. */
	const char *from;
	struct conf_pos pos;
};

/* resolve_family: which addresses of a name's answer become backends. */
enum conf_family { CONF_FAMILY_ANY, CONF_FAMILY_IPV4, CONF_FAMILY_IPV6 };

#define CONF_RESOLVE_INTERVAL_MS 30000 /* the default resolve_interval */
#define CONF_DNS_NAME_MAX        253   /* bytes in a DNS name, without the final dot */

/*
 * A backend entry whose address is a DNS name ("app1.internal:8080"): kept apart from the
 * backends, which it becomes at run time, one per address of the last good answer
 * (conf/resolved.h), each with this entry's weight, zone, max_connections and backup.
 */
struct conf_name {
	char *address; /* as written: "app1.internal:8080"; the entry's name */
	char *host;    /* "app1.internal" (a final dot kept as written) */
	unsigned port;
	enum conf_family family;  /* default any */
	uint64_t interval_ms;     /* resolve_interval: the entry's, else its service's */
	struct conf_backend tmpl; /* weight, zone, max_connections, backup, pos; no address */
};

struct conf_listen {
	char *address; /* as written */
	struct addr addr;
	enum conf_accept_proxy accept_proxy; /* default off */
	enum conf_protocol proto;            /* its service's: tcp and udp may share an address */
	struct conf_pos pos;
};

struct conf_timeouts {
	uint64_t connect_ms;    /* default 2s, > 0 */
	uint64_t idle_ms;       /* default 5m, > 0 */
	uint64_t half_close_ms; /* default 30s, > 0 */
	uint64_t queue_ms; /* default connect_ms, > 0: how long a client may wait in the queue */
	uint64_t proxy_header_ms; /* default 3s, > 0: for the PROXY header of accept_proxy */
	uint64_t udp_idle_ms;     /* default 30s, > 0: a udp flow without a datagram ends */
	uint64_t client_hello_ms; /* default 3s, > 0: for the ClientHello of an sni service */
};

/* sni.routes: one server name (or wildcard) and the service it goes to. */
struct conf_sni_route {
	char *name;     /* lower case, as written otherwise; "*.example.net" for a wildcard */
	int wildcard;   /* name starts with "*.": matches one label or more before the rest */
	char *target;   /* the service's name, as written */
	size_t service; /* its index in conf.services, once the whole file is read */
	struct conf_pos pos;
};

#define CONF_SNI_MAX_ROUTES 1024

/* sni: route TLS clients by the server name in their ClientHello (lb/client_hello.h). */
struct conf_sni {
	int enabled; /* the service has an `sni` section */
	struct conf_sni_route *routes;
	size_t nroutes;
	char *dflt;          /* `default`: a service's name; NULL: none (such clients are closed) */
	size_t dflt_service; /* its index, when dflt is set */
	struct conf_pos pos, dflt_pos;
};

/* udp: the flows of a udp service (lb/udp_listener.h). */
struct conf_udp {
	/* Replies each client datagram expects; once all came, the flow ends (nginx's
	 * proxy_responses; DNS: 1). 0 (default): the flow ends only at timeouts.udp_idle. */
	unsigned responses;
	unsigned max_flows;        /* per listen address and worker; default CONF_UDP_FLOWS */
	uint64_t reply_timeout_ms; /* default 2s: a datagram unanswered this long is a failure */
};

enum conf_check_type {
	CONF_CHECK_TCP,             /* connect only */
	CONF_CHECK_HTTP,            /* GET path, status in expect_status, body has expect_body */
	CONF_CHECK_HTTPS,           /* the same over TLS */
	CONF_CHECK_TLS,             /* handshake only (and certificate checks) */
	CONF_CHECK_SEND_EXPECT,     /* send bytes, expect a substring back */
	CONF_CHECK_DNS,             /* one DNS query over udp or tcp, rcode and answer judged */
	CONF_CHECK_UDP_SEND_EXPECT, /* send a datagram, expect a substring in a reply datagram */
};

struct conf_status_range {
	unsigned lo, hi; /* 100..599, lo <= hi; "200" is 200-200, "200-299" a range */
};

/* Set for https and tls checks only; all zero for the other types. */
struct conf_check_tls {
	char *sni;                   /* NULL: none sent unless `host` is set, then host */
	int verify;                  /* default 1: chain and name must verify against ca_file */
	char *ca_file;               /* default CONF_CA_FILE; never opened by conf/ */
	struct conf_pos ca_file_pos; /* of its value; 0:0 when the default */
};

/* Set for dns checks only; all zero for the other types. */
struct conf_check_dns {
	char *name;            /* query.name: absolute, as written ("example.org.") */
	uint16_t qtype;        /* query.type as its number (lib/dns.h); default A */
	int tcp;               /* transport: 0 udp (the default), 1 tcp (2-byte length prefix) */
	unsigned expect_rcode; /* 0..10 (lib/dns.h); default 0, NOERROR */
	char *expect_answer;   /* NULL: any answer; see health/dns_msg.h for what it matches */
};

#define CONF_CA_FILE        "/etc/ssl/certs/ca-certificates.crt"
#define CONF_CHECK_DATA_MAX 4096 /* bytes in send, expect or expect_body */

/*
 * One active check (liveness or readiness) of every backend of a service. Absent section:
 * enabled == 0, every other field zero, and the check does not run (a missing liveness never
 * makes a backend dead, a missing readiness leaves readiness to liveness). A section that is
 * present, even empty (`liveness: {}`), is enabled with every default: a tcp connect check.
 * Fields that do not belong to the type (path for tcp, send for http, ...) are NULL or zero:
 * the loader refuses them rather than ignore them.
 */
struct conf_check {
	int enabled;
	enum conf_check_type type; /* default tcp */
	unsigned port;             /* 0 (default): the backend's port */
	char *path;                /* http/https; default "/" */
	char *host;                /* http/https Host header; NULL: the backend's IP */
	struct conf_status_range *expect_status; /* http/https; default one range 200-399 */
	size_t nexpect_status;
	char *expect_body; /* http/https; NULL: any body */
	/* send_expect, udp_send_expect; required there, with expect; any byte but NUL */
	char *send;
	size_t send_len;
	char *expect; /* send_expect: substring of the reply; udp_send_expect: of one datagram */
	struct conf_check_tls tls; /* https and tls */
	struct conf_check_dns dns; /* dns */
	uint64_t interval_ms;      /* default 2s, > 0 */
	uint64_t fast_interval_ms; /* default min(interval, 500ms), > 0, <= interval */
	uint64_t timeout_ms;       /* default min(interval, 1s), > 0, <= interval */
	unsigned jitter_pct;       /* 0..50, default 10 ("10%") */
	unsigned rise, fall;       /* 1..100, defaults 2 and 3 */
	struct conf_pos pos;       /* of the key `liveness` or `readiness`; 0:0 when absent */
};

struct conf_health {
	struct conf_check liveness;
	struct conf_check readiness;
};

/*
 * Passive outlier ejection; on by default with these defaults. consecutive_failures: 0 turns it
 * off.
 */
struct conf_outlier {
	unsigned consecutive_failures; /* default 5, 0..1000 */
	uint64_t base_ejection_ms;     /* default 30s, > 0 */
	uint64_t max_ejection_ms;      /* default max(5m, base), >= base */
	unsigned max_ejection_percent; /* default 50, 0..100 */
	struct conf_pos pos;           /* of the key `outlier`; 0:0 when absent */
};

/*
 * A prefix to announce: a host route, IPv4 /32 or IPv6 /128, written in the canonical form
 * inet_ntop() gives (so that text and bytes say the same thing, and two spellings of one prefix
 * cannot slip past the duplicate check). Unique across the whole file.
 */
struct conf_prefix {
	char *text;             /* as written, canonical: "2001:db8::10/128" */
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; the first 4 bytes for IPv4, the rest zero */
	unsigned len;           /* 32 (AF_INET) or 128 (AF_INET6) */
	struct conf_pos pos;    /* of the prefix */
};

#define CONF_BIRD_NAME_MAX 63 /* bytes in a BIRD protocol name */

/*
 * services[].anycast; enabled == 0 and every other field zero when absent (the service is not
 * announced). Needs the top-level bgp section.
 */
struct conf_anycast {
	int enabled;
	struct conf_prefix *prefixes; /* at least one */
	size_t nprefixes;
	/*
	 * The BIRD static protocol holding this service's prefixes: required with bgp.announce:
	 * bird_protocol, refused with interface (NULL then). A BIRD symbol: [A-Za-z_][A-Za-z0-9_]*,
	 * 1..CONF_BIRD_NAME_MAX bytes; two services never share one.
	 */
	char *bird_protocol;
	struct conf_pos bird_protocol_pos; /* of its value; 0:0 when NULL */
	unsigned min_ready;  /* default 1, 0..CONF_MAX_BACKENDS and <= the service's nbackends */
	double min_capacity; /* default 0, 0..1: ready weight / total weight, withdraw below */
	struct conf_pos pos; /* of the key `anycast` */
};

/* services[].rate_limit (lb/ratelimit.h); enabled == 0 and the rest zero when absent. */
struct conf_rate_limit {
	int enabled;
	uint64_t per_min;     /* rate, in connections a minute: "100/s" is 6000; 1/m..1000000/s */
	unsigned burst;       /* 1..1000000; default the rate per second rounded up */
	unsigned max_sources; /* 1..CONF_MAX_SOURCES, default 65536 */
	struct conf_pos pos;  /* of the key `rate_limit` */
};

#define CONF_MAX_SOURCES (1u << 24)
#define CONF_MAX_CIDRS   4096 /* entries in allow or deny: a linear scan */

/* One side of services[].tcp_keepalive; enabled == 0 (the default): the kernel's, off. */
struct conf_keepalive_side {
	int enabled;
	unsigned idle_s;     /* TCP_KEEPIDLE, 1..7200, default 60 */
	unsigned interval_s; /* TCP_KEEPINTVL, 1..7200, default 10 */
	unsigned count;      /* TCP_KEEPCNT, 1..127, default 5 */
};

struct conf_keepalive {
	struct conf_keepalive_side client;  /* set on the client socket at accept */
	struct conf_keepalive_side backend; /* set on the backend socket before connect */
};

struct conf_service {
	char *name;
	struct conf_listen *listen;
	size_t nlisten;
	struct conf_backend *backends;
	size_t nbackends;
	/* Of them, backup: true; < nbackends unless the service has names (then even 0 of 0). */
	size_t nbackup;
	/* Backend entries written as NAME:PORT; their addresses join backends at run time. */
	struct conf_name *names;
	size_t nnames;
	uint64_t resolve_interval_ms; /* default CONF_RESOLVE_INTERVAL_MS, for its names */
	enum conf_protocol protocol;  /* default tcp */
	struct conf_udp udp;          /* protocol udp only */
	enum conf_balance balance;    /* default round_robin */
	enum conf_hash_key hash_key;  /* default source_ip */
	enum conf_proxy_protocol proxy_protocol; /* default off */
	unsigned retries;                        /* 0..CONF_MAX_RETRIES, default 2 */
	unsigned max_connections;                /* 0 = unlimited */
	/* queue.max: clients that may wait for a backend with room; 0: none (reset at once) */
	unsigned queue_max;
	struct conf_timeouts timeouts;
	struct conf_health health;
	struct conf_outlier outlier;
	uint64_t slow_start_ms; /* default 0: a backend that turns ready gets its full weight */
	/* default 0 (off): below this share of ready backends, every backend not dead is used */
	unsigned panic_threshold_pct;
	/* default not_ready when a readiness check is configured, else ready */
	enum conf_initial_state initial_state;
	struct conf_anycast anycast;
	/* allow, deny: client prefixes; deny wins; with allow, a client outside it is refused */
	struct cidr *allow, *deny;
	size_t nallow, ndeny;
	struct conf_rate_limit rate_limit;
	struct conf_keepalive keepalive;
	struct conf_sni sni;
	/* allow, deny or rate_limit is set: the one branch the accept path takes without them */
	int admit_checks;
	struct conf_pos pos;
};

#define CONF_MAX_RETRIES     16
#define CONF_MAX_BACKENDS    10000
#define CONF_MAX_WORKERS     256
#define CONF_MAX_WEIGHT      1000
#define CONF_QUEUE_DEFAULT   1024
#define CONF_UDP_FLOWS       16384
#define CONF_MAX_CONNECTIONS 10000000 /* any max_connections, global or per service/backend */
#define CONF_NAME_MAX        64       /* bytes in a service name, site or zone */

/* global.admin: the admin interface (lb/admin.h). */
struct conf_admin {
	int enabled;  /* default 1; `admin: {enabled: false}` switches it off */
	char *socket; /* default "/run/anylb/admin.sock" */
	char *listen; /* NULL (default): no TCP listener; else IP:PORT as written */
	struct addr listen_addr;
	int allow_remote;               /* default 0: listen must be a loopback address */
	char *token_file;               /* required with listen; read at start-up, not by conf/ */
	struct conf_pos token_file_pos; /* of its value; 0:0 when absent */
	int token_for_reads; /* require_token: all (1), or writes (0, default): over TCP only */
	struct conf_pos pos;
};

/* Where a log stream writes (lib/log.h); conf/log.c. */
struct conf_log_dest {
	enum log_target target; /* default stderr */
	enum log_format format; /* default text */
	char *path;             /* file: required; syslog: the socket (NULL: /dev/log) */
	int facility;           /* syslog only: default daemon (3) */
	struct conf_pos pos;    /* of the section's key */
	struct conf_pos path_pos, facility_pos; /* 0:0 when absent */
};

struct conf_global {
	char *site;                  /* default "default" */
	unsigned workers;            /* 0 = auto (one per online CPU) */
	struct conf_pos workers_pos; /* of the key `workers`; 0:0 when absent */
	unsigned max_connections;    /* default 100000, >= 1 */
	uint64_t drain_timeout_ms;   /* default 30s */
	enum log_level log_level;    /* default info */
	struct conf_log_dest log;    /* the main log: default stderr, text */
	/* The access log: one line per finished session, on (1) with `log.access: true` or an
	 * `access_log` section (access_section); written to access, whatever log_level says. */
	int access_log;
	int access_section;
	struct conf_pos access_pos; /* of `log.access`; 0:0 when absent */
	struct conf_log_dest access;
	struct conf_admin admin;
	/*
	 * Least privilege (lb/privdrop.c). user NULL (the default): anylb keeps the user it was
	 * started as. Else, once set up, it runs as uid:gid, which the load resolved from the
	 * passwd and group databases; gid is `group`'s, or the user's primary group when group
	 * is NULL (group is refused without user).
	 */
	char *user;
	char *group;
	uid_t uid;
	gid_t gid;
	struct conf_pos user_pos; /* of the key `user` (else `group`); 0:0 when absent */
	/*
	 * Where the operator's state (drains, overrides) and the health verdicts are kept across
	 * restarts (lb/state_file.c); NULL (the default): nowhere. Verdicts older than
	 * state_max_age_ms (default 30s, 0 allowed: never) are not restored.
	 */
	char *state_file;
	uint64_t state_max_age_ms;
};

enum conf_announce { CONF_ANNOUNCE_INTERFACE, CONF_ANNOUNCE_BIRD_PROTOCOL };

#define CONF_FLOW_MAX_IFACES          8
#define CONF_FLOW_MAX_PEERS           15   /* flow/handoff_abi.h's FLOW_MAX_PEERS, less this box */
#define CONF_FLOW_PORT                6544 /* the encapsulation's UDP port by default */
#define CONF_FLOW_HEARTBEAT_MS        1000 /* bgp.flow_handoff.heartbeat by default */
#define CONF_FLOW_HEARTBEAT_MIN_MS    50
#define CONF_FLOW_HEARTBEAT_MAX_MS    60000
#define CONF_FLOW_PEER_TIMEOUT_MAX_MS 600000

/* An IPv4 address of bgp.flow_handoff: canonical text and the address in network order. */
struct conf_flow_addr {
	char *text;
	uint32_t addr4;
	struct conf_pos pos; /* of the value */
};

/*
 * bgp.flow_handoff (flow/ and lb/handoff.c); enabled == 0 and every other field zero when
 * absent. The ring of boxes as this one sees it: itself (`self`) first, then `peers` in the
 * order flows it does not own are offered to them.
 */
struct conf_flow_handoff {
	int enabled;
	char *interfaces[CONF_FLOW_MAX_IFACES]; /* 1..8, distinct interface names */
	size_t ninterfaces;
	struct conf_flow_addr self;                       /* required: this box's uplink IPv4 */
	struct conf_flow_addr peers[CONF_FLOW_MAX_PEERS]; /* 1..15, distinct, not self */
	size_t npeers;
	unsigned port;            /* default CONF_FLOW_PORT, 1..65535 */
	unsigned max_hops;        /* default npeers (each other box once), 0..npeers */
	unsigned mss_clamp;       /* 0: not written; 536..9000 */
	uint64_t heartbeat_ms;    /* default 1s; 50ms..60s */
	uint64_t peer_timeout_ms; /* default 3 heartbeats; >= 2 heartbeats, <= 10m; 0: no judging */
	struct conf_pos pos;      /* of the key `flow_handoff` */
};

/*
 * The top-level bgp section; enabled == 0 and every other field zero when absent (anycast off).
 * Present, even empty (`bgp: {}` or `bgp:`), it is enabled with every default; it is valid
 * without any anycast service (anylb then only reports BIRD's state).
 */
struct conf_bgp {
	int enabled;
	enum conf_announce announce; /* default interface */
	/*
	 * announce: interface only (the keys are refused with bird_protocol, but these two fields
	 * keep their defaults): the TUN interface, default "anylb0", 1..15 bytes of
	 * [A-Za-z0-9_.-], not "." or ".."; and how long the event loops may stay silent before
	 * the watchdog removes it, default 1s, 100ms..60s.
	 */
	char *interface;
	uint64_t watchdog_timeout_ms;
	char *bird_socket;              /* default "/run/bird/bird.ctl"; 1..107 bytes; not opened */
	uint64_t announce_delay_ms;     /* default 5s, 0 allowed */
	uint64_t max_announce_delay_ms; /* default max(5m, announce_delay), >= announce_delay */
	uint64_t flap_window_ms;        /* default 10m, > 0 */
	uint64_t shutdown_grace_ms; /* default 1s, 0..1m: withdrawn but still accepting at stop */
	uint64_t drain_window_ms;   /* default 30s, 0..1h: the drain ladder's de-preferred step */
	struct conf_flow_handoff flow; /* flow_handoff: absent, enabled == 0 */
	struct conf_pos pos;           /* of the key `bgp` */
};

struct conf {
	char *file;
	char **files; /* every file the load read, the main one first (include:); nfiles of them */
	size_t nfiles;
	struct conf_global global;
	struct conf_bgp bgp;
	struct conf_service *services;
	size_t nservices;
};

struct conf_err {
	char *file;
	int line, col;
	char *msg;
};

/* A growable list of errors owned by the caller; conf_errs_free() releases it. */
struct conf_errs {
	struct conf_err *v;
	size_t n, cap;
};

/*
 * Loads and validates path. On success returns 0 and *out owns a new struct conf (free with
 * conf_free). On failure returns -EINVAL (bad content, too large, or not a regular file: a FIFO
 * or a device at path is refused without blocking), -EISDIR (a directory), -EAGAIN (the file
 * changed while it was read) or -errno (unreadable file), *out is NULL, and errs holds at least
 * one error. errs must be zeroed or previously used by the caller.
 *
 * The file may include others (`include:`) and use `${NAME}`: see docs/CONFIG.md; messages about
 * an included file carry its name. Messages are added after what errs already holds, sorted by
 * file (in the order they were read) and position. Problems with the file
 * itself (cannot open, not a regular file, too large, changed) are reported at 1:1, so that every
 * line keeps the FILE:LINE:COL form. Should memory run out while recording errors, the load still
 * fails (-ENOMEM) but errs may be short of the message saying so.
 */
int conf_load(const char *path, struct conf **out, struct conf_errs *errs);

/* Same, from a buffer; `name` is what messages call the file. */
int conf_load_buffer(
	const char *name, const char *buf, size_t len, struct conf **out, struct conf_errs *errs);

void conf_free(struct conf *c);
void conf_errs_free(struct conf_errs *errs);

/*
 * Adds "FILE:LINE:COL: message" to errs, for the problems found outside conf/ that are still the
 * file's (a CA file that cannot be loaded, a token file that cannot be read). Returns 0 or
 * -ENOMEM.
 */
int conf_errs_add(struct conf_errs *errs, const char *file, struct conf_pos at, const char *fmt,
	...) __attribute__((format(printf, 4, 5)));

/* The file a position of c is in: its own, or the main file. */
static inline const char *conf_pos_file(const struct conf *c, struct conf_pos p)
{
	return p.file != NULL ? p.file : c->file;
}

/* Writes each error as "FILE:LINE:COL: message\n" to fd. */
void conf_errs_print(const struct conf_errs *errs, int fd);

/* Do two checks run the same way (every setting equal)? */
int conf_check_equal(const struct conf_check *a, const struct conf_check *b);

/*
 * Can a running anylb move from old to new by a reload? Settings that only a restart applies
 * (global.workers, global.admin, global.user and group, the bgp section, a service's anycast
 * section, services with anycast appearing or going) are reported in errs at their place in new,
 * FILE:LINE:COL, one line each. Returns 0 when none changed, else -EINVAL (or -ENOMEM).
 */
int conf_reload_check(const struct conf *old, const struct conf *new, struct conf_errs *errs);

const char *conf_balance_name(enum conf_balance b);
/*
 * The service (an index in conf.services) a client asking for server name `name` (lower case;
 * NULL or "" when it named none, or is not TLS) goes to under sni: an exact route, else the
 * longest wildcard that matches, else the default; -1 when there is no default either.
 * *routed says whether a route (1) or the default (0) decided.
 */
long conf_sni_pick(const struct conf_sni *sni, const char *name, int *routed);
const char *conf_check_type_name(enum conf_check_type t);

/*
 * Every key the loader reads, with its section in the documentation's spelling ("" for the top
 * level, "global.admin", "services[]", "services[].health.*" for liveness and readiness, ...),
 * in the tables' order; later: written in the reference, not read yet. For the tests that hold
 * the documentation to the loader.
 */
typedef void (*conf_key_cb)(void *arg, const char *section, const char *key, int later);
void conf_keys(conf_key_cb cb, void *arg);

#endif
