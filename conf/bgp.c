/*
 * DOC: the bgp section and a service's anycast
 *
 * `bgp:` says how anylb hands its prefixes to BIRD (struct conf_bgp): as addresses on a TUN
 * interface that a watchdog process holds (`announce: interface`, the default), or by enabling
 * and disabling one BIRD static protocol per service (`announce: bird_protocol`). A service's
 * `anycast:` lists the prefixes it announces and when it stops (struct conf_anycast). Defaults
 * and ranges are those of conf.h; bgp/ and lb/ take the values as they are.
 *
 * The announce mode decides which keys belong, here and in every service, so conf.c reads `bgp`
 * before `services` wherever it stands, and `announce` first within `bgp`. As in health.c, a key
 * that the mode does not use is an error at the key rather than ignored: `interface` and
 * `watchdog_timeout` with bird_protocol, `bird_protocol` with interface. Rules that span keys run
 * only over values that were read cleanly, so that one mistake gives one message; a default
 * that depends on another key follows it (`max_announce_delay` is max(5m, announce_delay)).
 *
 * A prefix must be a host route written exactly as inet_ntop() writes it: then the text that
 * status pages show and BIRD is asked about is the one in the file, and equal prefixes have
 * equal text, which is what service.c's duplicate check across services compares.
 *
 * Nothing here opens `bird_socket`: conf/ reads no file but the configuration.
 */
#include "conf/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONF_BGP_INTERFACE     "anylb0"
#define CONF_BGP_BIRD_SOCKET   "/run/bird/bird.ctl"
#define CONF_IFNAME_MAX        15  /* IFNAMSIZ - 1 */
#define CONF_WATCHDOG_MIN_MS   100 /* as the message in conf_get_watchdog() says */
#define CONF_WATCHDOG_MAX_MS   (60 * 1000)
#define CONF_MAX_DELAY_DEFAULT (5 * 60 * 1000)

enum conf_bgp_key {
	CONF_BGP_ANNOUNCE,
	CONF_BGP_INTERFACE_KEY,
	CONF_BGP_WATCHDOG_TIMEOUT,
	CONF_BGP_BIRD_SOCKET_KEY,
	CONF_BGP_ANNOUNCE_DELAY,
	CONF_BGP_MAX_ANNOUNCE_DELAY,
	CONF_BGP_FLAP_WINDOW,
	CONF_BGP_SHUTDOWN_GRACE,
	CONF_BGP_DRAIN_WINDOW,
	CONF_BGP_FLOW_HANDOFF,
};

static const struct conf_key conf_bgp_keys[] = {
	[CONF_BGP_ANNOUNCE] = {"announce", 0},
	[CONF_BGP_INTERFACE_KEY] = {"interface", 0},
	[CONF_BGP_WATCHDOG_TIMEOUT] = {"watchdog_timeout", 0},
	[CONF_BGP_BIRD_SOCKET_KEY] = {"bird_socket", 0},
	[CONF_BGP_ANNOUNCE_DELAY] = {"announce_delay", 0},
	[CONF_BGP_MAX_ANNOUNCE_DELAY] = {"max_announce_delay", 0},
	[CONF_BGP_FLAP_WINDOW] = {"flap_window", 0},
	[CONF_BGP_SHUTDOWN_GRACE] = {"shutdown_grace", 0},
	[CONF_BGP_DRAIN_WINDOW] = {"drain_window", 0},
	[CONF_BGP_FLOW_HANDOFF] = {"flow_handoff", 0},
};

enum conf_flow_key {
	CONF_FLOW_INTERFACES,
	CONF_FLOW_SELF,
	CONF_FLOW_PEERS,
	CONF_FLOW_PORT_KEY,
	CONF_FLOW_MAX_HOPS,
	CONF_FLOW_MSS_CLAMP,
	CONF_FLOW_HEARTBEAT,
	CONF_FLOW_PEER_TIMEOUT,
};

static const struct conf_key conf_flow_keys[] = {
	[CONF_FLOW_INTERFACES] = {"interfaces", 0},
	[CONF_FLOW_SELF] = {"self", 0},
	[CONF_FLOW_PEERS] = {"peers", 0},
	[CONF_FLOW_PORT_KEY] = {"port", 0},
	[CONF_FLOW_MAX_HOPS] = {"max_hops", 0},
	[CONF_FLOW_MSS_CLAMP] = {"mss_clamp", 0},
	[CONF_FLOW_HEARTBEAT] = {"heartbeat", 0},
	[CONF_FLOW_PEER_TIMEOUT] = {"peer_timeout", 0},
};

enum conf_anycast_key {
	CONF_ANYCAST_PREFIXES,
	CONF_ANYCAST_BIRD_PROTOCOL,
	CONF_ANYCAST_MIN_READY,
	CONF_ANYCAST_MIN_CAPACITY,
};

static const struct conf_key conf_anycast_keys[] = {
	[CONF_ANYCAST_PREFIXES] = {"prefixes", 0},
	[CONF_ANYCAST_BIRD_PROTOCOL] = {"bird_protocol", 0},
	[CONF_ANYCAST_MIN_READY] = {"min_ready", 0},
	[CONF_ANYCAST_MIN_CAPACITY] = {"min_capacity", 0},
};

/* Indexed by enum conf_announce. */
static const char *const conf_announce_names[] = {
	[CONF_ANNOUNCE_INTERFACE] = "interface",
	[CONF_ANNOUNCE_BIRD_PROTOCOL] = "bird_protocol",
};

static const char *conf_announce_name(enum conf_announce a)
{
	switch (a) {
	case CONF_ANNOUNCE_INTERFACE:
	case CONF_ANNOUNCE_BIRD_PROTOCOL:
		return conf_announce_names[a];
	}
	return "unknown";
}

void conf_bgp_free(struct conf_bgp *b)
{
	for (size_t i = 0; i < b->flow.ninterfaces; i++)
		free(b->flow.interfaces[i]);
	free(b->flow.self.text);
	for (size_t i = 0; i < b->flow.npeers; i++)
		free(b->flow.peers[i].text);
	b->flow = (struct conf_flow_handoff){0};
	free(b->interface);
	free(b->bird_socket);
	b->interface = NULL;
	b->bird_socket = NULL;
}

void conf_anycast_free(struct conf_anycast *a)
{
	for (size_t i = 0; i < a->nprefixes; i++)
		free(a->prefixes[i].text);
	free(a->prefixes);
	free(a->bird_protocol);
	a->prefixes = NULL;
	a->nprefixes = 0;
	a->bird_protocol = NULL;
}

/* ---- bgp ---- */

/* A Linux interface name: what ip-link accepts, minus the characters that need quoting. */
static int conf_get_ifname(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, char **out)
{
	char show[CONF_SHOW_MAX];
	char *name = NULL;

	if (conf_get_string(r, k, v, CONF_IFNAME_MAX, &name) < 0)
		return -1;
	for (const char *p = name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-')
			continue;
		conf_report_node(r, k, v, "'%s' %s may only hold letters, digits, '_', '.' and '-'",
			k->str, conf_show(name, show, sizeof(show)));
		free(name);
		return -1;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		/* The kernel refuses both: they would be directories in /sys/class/net. */
		conf_report_node(r, k, v, "'%s' %s is not a valid interface name", k->str,
			conf_show(name, show, sizeof(show)));
		free(name);
		return -1;
	}
	free(*out);
	*out = name;
	return 0;
}

/* ---- bgp.flow_handoff ---- */

/*
 * A scalar or a list of them (a_what: "a prefix", what: "prefix", whats: "prefixes"; why ends
 * the message of an empty one): the first item to read, *n of them; NULL after a report (or quietly
 * for a node already bad).
 */
static const struct conf_node *conf_list_items(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, size_t max, const char *a_what, const char *what,
	const char *whats, const char *why, size_t *n)
{
	char desc[CONF_SHOW_MAX];

	if (conf_node_is_null(v) || (v->kind == CONF_NODE_LIST && v->n == 0)) {
		conf_report_node(
			r, k, v, "'%s' is empty: list at least one %s%s", k->str, what, why);
		return NULL;
	}
	if (v->kind == CONF_NODE_MAP) {
		conf_report_node(r, k, v, "'%s': expected %s or a list of %s, got %s", k->str,
			a_what, whats, conf_node_desc(v, desc, sizeof(desc)));
		return NULL;
	}
	if (v->kind == CONF_NODE_BAD)
		return NULL;
	*n = v->kind == CONF_NODE_LIST ? v->n : 1;
	if (*n > max) {
		conf_report_node(r, k, v, "'%s' lists %zu %s: at most %zu are supported", k->str,
			*n, whats, max);
		return NULL;
	}
	return v->kind == CONF_NODE_LIST ? v->first : v;
}

/*
 * An IPv4 address in canonical form. IPv6 is refused with its own message: the program
 * encapsulates in IPv4/UDP only.
 */
static int conf_get_flow_addr(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_flow_addr *out)
{
	char show[CONF_SHOW_MAX], canon[INET_ADDRSTRLEN];
	unsigned char bytes[16];
	const char *s;

	if (conf_get_word(r, k, v, "an IPv4 address", &s) < 0)
		return -1;
	conf_show(s, show, sizeof(show));
	if (inet_pton(AF_INET6, s, bytes) == 1) {
		conf_report_node(r, k, v,
			"'%s': %s is an IPv6 address: the flow hand-off encapsulates in IPv4 only "
			"for now, write the box's IPv4 uplink address",
			k->str, show);
		return -1;
	}
	if (inet_pton(AF_INET, s, bytes) != 1 ||
		inet_ntop(AF_INET, bytes, canon, sizeof(canon)) == NULL) {
		conf_report_node(r, k, v, "'%s': bad IPv4 address %s", k->str, show);
		return -1;
	}
	if (strcmp(canon, s) != 0) {
		conf_report_node(r, k, v, "'%s': %s is not in canonical form, write '%s'", k->str,
			show, canon);
		return -1;
	}
	out->text = strdup(s);
	if (out->text == NULL) {
		r->nomem = 1;
		return -1;
	}
	memcpy(&out->addr4, bytes, 4);
	out->pos = conf_node_pos(v);
	return 0;
}

static void conf_flow_interfaces(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_flow_handoff *f)
{
	char show[CONF_SHOW_MAX];
	size_t n = 0;
	const struct conf_node *item = conf_list_items(
		r, k, v, CONF_FLOW_MAX_IFACES, "an interface", "interface", "interfaces", "", &n);

	for (size_t i = 0; item != NULL && i < n; i++, item = item->next) {
		char *name = NULL;
		if (conf_get_ifname(r, k, item, &name) < 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < f->ninterfaces; j++)
			dup |= strcmp(f->interfaces[j], name) == 0;
		if (dup) {
			conf_report_node(r, k, item, "'%s': interface %s is listed twice", k->str,
				conf_show(name, show, sizeof(show)));
			free(name);
			continue;
		}
		f->interfaces[f->ninterfaces++] = name;
	}
}

static void conf_flow_peers(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_flow_handoff *f)
{
	size_t n = 0;
	const struct conf_node *item =
		conf_list_items(r, k, v, CONF_FLOW_MAX_PEERS, "a peer", "peer", "peers", "", &n);

	for (size_t i = 0; item != NULL && i < n; i++, item = item->next) {
		struct conf_flow_addr a = {0};
		if (conf_get_flow_addr(r, k, item, &a) < 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < f->npeers; j++)
			dup |= f->peers[j].addr4 == a.addr4;
		if (dup) {
			conf_report_node(
				r, k, item, "'%s': peer %s is listed twice", k->str, a.text);
			free(a.text);
			continue;
		}
		f->peers[f->npeers++] = a;
	}
}

/*
 * bgp.flow_handoff. Rules that span keys (self among the peers, max_hops against the peers)
 * run over values read cleanly only, as in conf_map_bgp().
 */
static void conf_map_flow_handoff(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_flow_handoff *f)
{
	const struct conf_node *key, *val, *hops_k = NULL, *hops_v = NULL;
	const struct conf_node *timeout_k = NULL, *timeout_v = NULL;
	int have_ifaces = 0, have_self = 0, have_peers = 0, peers_bad = 0, beat_bad = 0;
	char a[48], b[48];

	*f = (struct conf_flow_handoff){.enabled = 1,
		.port = CONF_FLOW_PORT,
		.heartbeat_ms = CONF_FLOW_HEARTBEAT_MS,
		.pos = conf_node_pos(k)};
	int sec = conf_get_section(r, k, v);
	if (sec < 0)
		return;
	for (key = sec ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, "in 'flow_handoff'", conf_flow_keys, CONF_NKEYS(conf_flow_keys));
		if (i < 0)
			continue;
		switch ((enum conf_flow_key)i) {
		case CONF_FLOW_INTERFACES:
			have_ifaces = 1;
			conf_flow_interfaces(r, key, val, f);
			break;
		case CONF_FLOW_SELF:
			have_self = 1;
			conf_get_flow_addr(r, key, val, &f->self);
			break;
		case CONF_FLOW_PEERS: {
			have_peers = 1;
			size_t before = r->count;
			conf_flow_peers(r, key, val, f);
			peers_bad = r->count != before;
			break;
		}
		case CONF_FLOW_PORT_KEY:
			conf_get_uint(r, key, val, 1, 65535, &f->port);
			break;
		case CONF_FLOW_MAX_HOPS:
			if (conf_get_uint(r, key, val, 0, CONF_FLOW_MAX_PEERS, &f->max_hops) == 0) {
				hops_k = key;
				hops_v = val;
			}
			break;
		case CONF_FLOW_MSS_CLAMP:
			conf_get_uint(r, key, val, 536, 9000, &f->mss_clamp);
			break;
		case CONF_FLOW_HEARTBEAT:
			if (conf_get_duration(r, key, val, 1, &f->heartbeat_ms) < 0)
				break;
			beat_bad = f->heartbeat_ms < CONF_FLOW_HEARTBEAT_MIN_MS ||
				   f->heartbeat_ms > CONF_FLOW_HEARTBEAT_MAX_MS;
			if (beat_bad)
				conf_report_node(r, key, val,
					"'heartbeat' must be between 50ms and 60s, got %s",
					conf_show_ms(f->heartbeat_ms, 0, a, sizeof(a)));
			break;
		case CONF_FLOW_PEER_TIMEOUT:
			if (conf_get_duration(r, key, val, 0, &f->peer_timeout_ms) == 0) {
				timeout_k = key;
				timeout_v = val;
			}
			break;
		}
	}
	/* Over values read cleanly: a bad heartbeat says so once, not again here. */
	if (timeout_k == NULL)
		f->peer_timeout_ms = 3 * f->heartbeat_ms;
	else if (f->peer_timeout_ms == 0)
		; /* silence not judged: boxes without heartbeats in the ring */
	else if (!beat_bad && f->peer_timeout_ms < 2 * f->heartbeat_ms)
		conf_report_node(r, timeout_k, timeout_v,
			"'peer_timeout' (%s) must be 0s (off) or at least twice 'heartbeat' "
			"(%s): one lost heartbeat would take a peer down",
			conf_show_ms(f->peer_timeout_ms, 0, a, sizeof(a)),
			conf_show_ms(f->heartbeat_ms, 0, b, sizeof(b)));
	else if (f->peer_timeout_ms > CONF_FLOW_PEER_TIMEOUT_MAX_MS)
		conf_report_node(r, timeout_k, timeout_v,
			"'peer_timeout' must be at most 10m, got %s",
			conf_show_ms(f->peer_timeout_ms, 0, a, sizeof(a)));
	if (!have_ifaces)
		conf_report_at_node(r, k, "'%s' is missing 'interfaces'", k->str);
	if (!have_self)
		conf_report_at_node(
			r, k, "'%s' is missing 'self' (this box's IPv4 uplink address)", k->str);
	if (!have_peers)
		conf_report_at_node(r, k, "'%s' is missing 'peers'", k->str);
	for (size_t i = 0; f->self.text != NULL && i < f->npeers; i++)
		if (f->peers[i].addr4 == f->self.addr4)
			conf_report_pos(r, f->peers[i].pos,
				"'peers': %s is 'self': list the other boxes only", f->self.text);
	if (hops_k == NULL)
		f->max_hops = (unsigned)f->npeers;
	else if (!peers_bad && have_peers && f->max_hops > f->npeers)
		conf_report_node(r, hops_k, hops_v,
			"'max_hops' (%u) is more than the %zu peer%s: a segment would come back "
			"here",
			f->max_hops, f->npeers, f->npeers == 1 ? "" : "s");
}

static int conf_get_watchdog(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, uint64_t *out)
{
	char a[48];
	uint64_t ms;

	if (conf_get_duration(r, k, v, 0, &ms) < 0)
		return -1;
	if (ms < CONF_WATCHDOG_MIN_MS || ms > CONF_WATCHDOG_MAX_MS) {
		conf_report_node(r, k, v, "'%s' must be between 100ms and 60s, got %s", k->str,
			conf_show_ms(ms, 0, a, sizeof(a)));
		return -1;
	}
	*out = ms;
	return 0;
}

void conf_map_bgp(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_bgp *b, struct conf_bgp_seen *seen)
{
	const struct conf_node *key, *val, *delay_k = NULL, *max_k = NULL, *max_v = NULL;
	int delay_bad = 0, max_bad = 0, e;
	char a[48], d[48];

	*seen = (struct conf_bgp_seen){.written = 1, .announce_known = 1};
	*b = (struct conf_bgp){
		.enabled = 1,
		.announce = CONF_ANNOUNCE_INTERFACE,
		.watchdog_timeout_ms = 1000,
		.announce_delay_ms = 5000,
		.max_announce_delay_ms = CONF_MAX_DELAY_DEFAULT,
		.flap_window_ms = 10 * 60 * 1000,
		.shutdown_grace_ms = 1000,
		.drain_window_ms = 30000,
		.pos = conf_node_pos(k),
	};
	b->interface = strdup(CONF_BGP_INTERFACE);
	b->bird_socket = strdup(CONF_BGP_BIRD_SOCKET);
	if (b->interface == NULL || b->bird_socket == NULL) {
		r->nomem = 1;
		return;
	}
	int sec = conf_get_section(r, k, v);
	if (sec < 0) {
		seen->announce_known = 0;
		return;
	}
	/* The mode first: it decides which other keys belong. */
	for (key = sec ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		if (strcmp(key->str, conf_bgp_keys[CONF_BGP_ANNOUNCE].name) != 0)
			continue;
		seen->announce_written = 1;
		if (conf_get_enum(r, key, val, conf_announce_names, CONF_NKEYS(conf_announce_names),
			    &e) == 0)
			b->announce = (enum conf_announce)e;
		else
			seen->announce_known = 0;
	}
	for (key = sec ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(r, key, "in 'bgp'", conf_bgp_keys, CONF_NKEYS(conf_bgp_keys));
		if (i < 0)
			continue;
		enum conf_bgp_key bk = (enum conf_bgp_key)i;
		if ((bk == CONF_BGP_INTERFACE_KEY || bk == CONF_BGP_WATCHDOG_TIMEOUT) &&
			seen->announce_known && b->announce != CONF_ANNOUNCE_INTERFACE) {
			conf_report_at_node(r, key,
				"'%s' applies only to 'announce: interface', not to 'announce: %s'",
				key->str, conf_announce_name(b->announce));
			continue;
		}
		switch (bk) {
		case CONF_BGP_ANNOUNCE:
			break; /* read first, above */
		case CONF_BGP_INTERFACE_KEY:
			conf_get_ifname(r, key, val, &b->interface);
			break;
		case CONF_BGP_WATCHDOG_TIMEOUT:
			conf_get_watchdog(r, key, val, &b->watchdog_timeout_ms);
			break;
		case CONF_BGP_BIRD_SOCKET_KEY:
			conf_get_socket_path(r, key, val, &b->bird_socket);
			break;
		case CONF_BGP_ANNOUNCE_DELAY:
			delay_k = key;
			delay_bad = conf_get_duration(r, key, val, 0, &b->announce_delay_ms) < 0;
			break;
		case CONF_BGP_MAX_ANNOUNCE_DELAY:
			max_k = key;
			max_v = val;
			max_bad = conf_get_duration(r, key, val, 0, &b->max_announce_delay_ms) < 0;
			break;
		case CONF_BGP_FLAP_WINDOW:
			conf_get_duration(r, key, val, 1, &b->flap_window_ms);
			break;
		case CONF_BGP_FLOW_HANDOFF:
			conf_map_flow_handoff(r, key, val, &b->flow);
			break;
		case CONF_BGP_DRAIN_WINDOW:
			if (conf_get_duration(r, key, val, 0, &b->drain_window_ms) == 0 &&
				b->drain_window_ms > 3600000)
				conf_report_node(r, key, val,
					"'drain_window' must be at most 1h, got %s",
					conf_show_ms(b->drain_window_ms, 0, a, sizeof(a)));
			break;
		case CONF_BGP_SHUTDOWN_GRACE:
			if (conf_get_duration(r, key, val, 0, &b->shutdown_grace_ms) == 0 &&
				b->shutdown_grace_ms > 60000)
				conf_report_node(r, key, val,
					"'shutdown_grace' must be at most 1m, got %s",
					conf_show_ms(b->shutdown_grace_ms, 0, a, sizeof(a)));
			break;
		}
	}
	if (max_k == NULL) {
		if (b->max_announce_delay_ms < b->announce_delay_ms)
			b->max_announce_delay_ms = b->announce_delay_ms;
		return;
	}
	if (max_bad || delay_bad || b->max_announce_delay_ms >= b->announce_delay_ms)
		return;
	conf_report_node(r, max_k, max_v,
		"'max_announce_delay' (%s) must not be shorter than 'announce_delay' (%s)",
		conf_show_ms(b->max_announce_delay_ms, 0, a, sizeof(a)),
		conf_show_ms(b->announce_delay_ms, delay_k == NULL, d, sizeof(d)));
}

/* ---- anycast ---- */

/*
 * One prefix, "ADDRESS/32" or "ADDRESS/128", in canonical form. Each problem gets its own
 * advice; where the intent is clear (a bare address, another spelling) the message says what to
 * write instead.
 */
static int conf_get_prefix(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_prefix *p)
{
	char show[CONF_SHOW_MAX], addr[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN + 8];
	unsigned char bytes[16] = {0};
	const char *s;
	unsigned long len = 0;

	if (conf_get_word(r, k, v, "a prefix such as 192.0.2.10/32", &s) < 0)
		return -1;
	conf_show(s, show, sizeof(show));
	const char *slash = strrchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : v->len;
	int family = memchr(s, ':', alen) != NULL ? AF_INET6 : AF_INET;
	int ok = alen < sizeof(addr);
	if (ok) {
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		ok = inet_pton(family, addr, bytes) == 1;
	}
	unsigned host = family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		if (ok && inet_ntop(family, bytes, canon, sizeof(canon)) != NULL)
			conf_report_node(r, k, v, "'%s': bad prefix %s: write it as '%s/%u'",
				k->str, show, canon, host);
		else
			conf_report_node(r, k, v,
				"'%s': bad prefix %s: expected ADDRESS/32 (IPv4) or ADDRESS/128 "
				"(IPv6)",
				k->str, show);
		return -1;
	}
	if (!ok) {
		conf_report_node(
			r, k, v, "'%s': bad prefix %s: not an IPv4 or IPv6 address", k->str, show);
		return -1;
	}
	/* Any run of digits is a length here, so that /24 and /024 get the same advice. */
	const char *lp = slash + 1;
	int digits = *lp != '\0';
	for (const char *q = lp; *q != '\0'; q++) {
		if (*q < '0' || *q > '9') {
			digits = 0;
			break;
		}
		if (len <= 1000)
			len = len * 10 + (unsigned long)(*q - '0');
	}
	if (!digits) {
		conf_report_node(r, k, v,
			"'%s': bad prefix %s: expected ADDRESS/32 (IPv4) or ADDRESS/128 (IPv6)",
			k->str, show);
		return -1;
	}
	if (len != host) {
		conf_report_node(r, k, v,
			"'%s': bad prefix %s: only host prefixes can be announced: use /32 for "
			"IPv4, "
			"/128 for IPv6",
			k->str, show);
		return -1;
	}
	if (inet_ntop(family, bytes, canon, sizeof(canon)) == NULL) {
		conf_report_node(r, k, v, "'%s': bad prefix %s", k->str, show);
		return -1;
	}
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)bytes)) {
		/* Routers would carry it as an IPv6 route no client ever uses. */
		char v4[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, bytes + 12, v4, sizeof(v4));
		conf_report_node(r, k, v,
			"'%s': bad prefix %s: an IPv4-mapped IPv6 address, write '%s/32'", k->str,
			show, v4);
		return -1;
	}
	size_t clen = strlen(canon);
	snprintf(canon + clen, sizeof(canon) - clen, "/%u", host);
	if (strcmp(s, canon) != 0) {
		conf_report_node(r, k, v, "'%s': bad prefix %s: not in canonical form, write '%s'",
			k->str, show, canon);
		return -1;
	}
	p->text = strdup(s);
	if (p->text == NULL) {
		r->nomem = 1;
		return -1;
	}
	p->family = family;
	memcpy(p->addr, bytes, sizeof(p->addr));
	p->len = host;
	return 0;
}

/* A prefix or a list of them; at least one. */
static void conf_map_prefixes(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_anycast *a)
{
	char desc[CONF_SHOW_MAX];
	size_t n = 0;
	const struct conf_node *item = conf_list_items(
		r, k, v, SIZE_MAX, "a prefix", "prefix", "prefixes", " to announce", &n);

	if (item == NULL)
		return;
	a->prefixes = calloc(n, sizeof(*a->prefixes));
	if (a->prefixes == NULL) {
		r->nomem = 1;
		return;
	}
	a->nprefixes = n;
	for (size_t i = 0; i < n && item != NULL; i++, item = item->next) {
		struct conf_prefix *p = &a->prefixes[i];
		p->pos = conf_node_pos(item);
		if (item->kind == CONF_NODE_LIST || item->kind == CONF_NODE_MAP) {
			conf_report_node(r, NULL, item, "'%s': expected a prefix, got %s", k->str,
				conf_node_desc(item, desc, sizeof(desc)));
			continue;
		}
		conf_get_prefix(r, k, item, p);
	}
}

/* A BIRD symbol, as bird.conf names a protocol without quotes. */
static int conf_get_bird_name(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_anycast *a)
{
	char show[CONF_SHOW_MAX];
	char *name = NULL;

	if (conf_get_string(r, k, v, CONF_BIRD_NAME_MAX, &name) < 0)
		return -1;
	int ok = !(name[0] >= '0' && name[0] <= '9');
	for (const char *p = name; ok && *p != '\0'; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok) {
		conf_report_node(r, k, v,
			"'%s' %s may only hold letters, digits and '_', and may not start with a "
			"digit (a BIRD protocol name)",
			k->str, conf_show(name, show, sizeof(show)));
		free(name);
		return -1;
	}
	a->bird_protocol = name;
	a->bird_protocol_pos = conf_node_pos(v);
	return 0;
}

/* conf_parse_u64() over s[0..len), len < 20. */
static int conf_parse_u64_n(const char *s, size_t len, uint64_t *out)
{
	char num[20];

	if (len >= sizeof(num))
		return -1;
	memcpy(num, s, len);
	num[len] = '\0';
	return conf_parse_u64(num, out);
}

/*
 * A fraction in 0..1 written as a decimal: "0", "1", "0.5", "0.125". No sign, no leading zero
 * ("00.5"), no exponent, no "inf" or "nan", and no percent: one spelling per value, as for
 * integers. The range is checked on the digits, exactly; the double keeps up to 18 decimals,
 * far finer than any policy needs.
 */
static int conf_get_fraction(
	struct conf_report *r, const struct conf_node *k, const struct conf_node *v, double *out)
{
	char desc[CONF_SHOW_MAX];
	const char *s, *p;
	uint64_t num = 0, den = 1, pct;
	int frac_zero = 1;

	if (conf_get_word(r, k, v, "a number between 0 and 1", &s) < 0)
		return -1;
	/* A sign is read only to say "out of range" rather than "malformed" for -0.1. */
	int neg = *s == '-';
	const char *w = s + neg;
	for (p = w; *p >= '0' && *p <= '9'; p++)
		;
	size_t wlen = (size_t)(p - w);
	int dot = *p == '.';
	int bad = wlen == 0 || (wlen > 1 && w[0] == '0');
	if (!bad && dot) {
		const char *f = ++p;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac_zero = frac_zero && *p == '0';
			if (p - f < 18) {
				num = num * 10 + (uint64_t)(*p - '0');
				den *= 10;
			}
		}
		bad = p == f;
	}
	int zero = wlen == 1 && w[0] == '0' && frac_zero;
	if (bad || *p != '\0' || (neg && zero)) {
		/* "50%": say what to write instead, rather than accept a second spelling. */
		if (!bad && !neg && !dot && strcmp(p, "%") == 0 &&
			conf_parse_u64_n(w, wlen, &pct) == 0 && pct <= 100)
			conf_report_node(r, k, v,
				"'%s' is a fraction between 0 and 1, not a percentage: write %s as "
				"%g",
				k->str, conf_node_desc(v, desc, sizeof(desc)), (double)pct / 100);
		else
			conf_report_node(r, k, v,
				"'%s': expected a number between 0 and 1 such as 0.5, got %s",
				k->str, conf_node_desc(v, desc, sizeof(desc)));
		return -1;
	}
	int one = wlen == 1 && w[0] == '1' && frac_zero;
	if (neg || !(one || (wlen == 1 && w[0] == '0'))) {
		/* Only digits, '-' and '.' here: shown as a number, shortened like conf_show(). */
		conf_report_node(r, k, v, "'%s' must be between 0 and 1, got %.24s%s", k->str, s,
			v->len > 24 ? "..." : "");
		return -1;
	}
	*out = one ? 1.0 : (double)num / (double)den;
	return 0;
}

void conf_map_anycast(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	const struct conf_bgp *b, const struct conf_bgp_seen *bgp, struct conf_service *s)
{
	const struct conf_node *key, *val, *min_ready_k = NULL, *min_ready_v = NULL;
	struct conf_anycast *a = &s->anycast;
	int have_prefixes = 0, have_bird = 0;

	*a = (struct conf_anycast){.enabled = 1, .min_ready = 1, .pos = conf_node_pos(k)};
	if (!bgp->written)
		conf_report_at_node(r, k, "'%s' needs a top-level 'bgp' section", k->str);
	/* Without a bgp section, or with a bad announce, which mode applies is not known. */
	int mode_known = bgp->written && bgp->announce_known;
	int sec = conf_get_section(r, k, v);
	if (sec < 0)
		return;
	for (key = sec ? conf_map_next(v, NULL, &val) : NULL; key != NULL;
		key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, "in 'anycast'", conf_anycast_keys, CONF_NKEYS(conf_anycast_keys));
		if (i < 0)
			continue;
		switch ((enum conf_anycast_key)i) {
		case CONF_ANYCAST_PREFIXES:
			have_prefixes = 1;
			conf_map_prefixes(r, key, val, a);
			break;
		case CONF_ANYCAST_BIRD_PROTOCOL:
			have_bird = 1;
			if (mode_known && b->announce != CONF_ANNOUNCE_BIRD_PROTOCOL) {
				conf_report_at_node(r, key,
					"'%s' applies only to 'announce: bird_protocol', not to "
					"'announce: %s'%s",
					key->str, conf_announce_name(b->announce),
					bgp->announce_written ? "" : " (the default)");
				break;
			}
			conf_get_bird_name(r, key, val, a);
			break;
		case CONF_ANYCAST_MIN_READY:
			if (conf_get_uint(r, key, val, 0, CONF_MAX_BACKENDS, &a->min_ready) == 0) {
				min_ready_k = key;
				min_ready_v = val;
			}
			break;
		case CONF_ANYCAST_MIN_CAPACITY:
			conf_get_fraction(r, key, val, &a->min_capacity);
			break;
		}
	}
	if (!have_prefixes)
		conf_report_at_node(r, k, "'%s' is missing 'prefixes'", k->str);
	if (mode_known && b->announce == CONF_ANNOUNCE_BIRD_PROTOCOL && have_prefixes) {
		int v4 = 0, v6 = 0;
		for (size_t i = 0; i < a->nprefixes; i++) {
			v4 |= a->prefixes[i].family == AF_INET;
			v6 |= a->prefixes[i].family == AF_INET6;
		}
		if (v4 && v6)
			conf_report_at_node(r, k,
				"'%s' mixes IPv4 and IPv6 prefixes, but a BIRD static protocol "
				"holds "
				"one address family: use one service per family with "
				"'announce: bird_protocol'",
				k->str);
	}
	if (mode_known && b->announce == CONF_ANNOUNCE_BIRD_PROTOCOL && !have_bird)
		conf_report_at_node(r, k,
			"'%s' is missing 'bird_protocol' (required with 'announce: bird_protocol')",
			k->str);
	/* nbackends is 0 when `backends` is missing or was refused: reported already. */
	/* With a NAME:PORT entry the count is the answers': not known before run time. */
	if (min_ready_k != NULL && s->nbackends > 0 && s->nnames == 0 &&
		a->min_ready > s->nbackends)
		conf_report_node(r, min_ready_k, min_ready_v,
			"'min_ready' (%u) is more than the service's %zu backend%s: it could never "
			"be announced",
			a->min_ready, s->nbackends, s->nbackends == 1 ? "" : "s");
}

void conf_bgp_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "bgp", conf_bgp_keys, CONF_NKEYS(conf_bgp_keys));
	conf_keys_table(cb, arg, "bgp.flow_handoff", conf_flow_keys, CONF_NKEYS(conf_flow_keys));
	conf_keys_table(
		cb, arg, "services[].anycast", conf_anycast_keys, CONF_NKEYS(conf_anycast_keys));
}
