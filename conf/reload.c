/*
 * DOC: what a reload may change
 *
 * Almost everything applies live (lb/reload.c): services, listeners, backends, checks, limits,
 * timeouts, balancing, logging. What does not is what the process set up once at start-up and
 * cannot rebuild under traffic without a gap: the worker threads, the admin sockets, the user it
 * runs as (privileges, once dropped, do not come back), the BIRD
 * connection or TUN interface and the announcement policy of each prefix. Changing those in a
 * reload is refused (the running configuration stays) rather than half applied.
 *
 * A service's allow, deny, rate_limit and tcp_keepalive are per-generation configuration and
 * may change: they apply to the connections accepted from then on (lb/runtime.c keeps a
 * rate_limit table whose settings did not change).
 *
 * global.state_file and global.state_max_age may change: the file is written where the running
 * configuration says at each write (lb/state_file.c), and the age only matters at start.
 */
#include "conf/conf.h"

#include "conf/internal.h"

#include <errno.h>
#include <string.h>

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int conf_check_equal(const struct conf_check *a, const struct conf_check *b)
{
	if (a->enabled != b->enabled || a->type != b->type || a->port != b->port ||
		!str_eq(a->path, b->path) || !str_eq(a->host, b->host) ||
		a->nexpect_status != b->nexpect_status || !str_eq(a->expect_body, b->expect_body) ||
		a->send_len != b->send_len || !str_eq(a->expect, b->expect) ||
		a->tls.verify != b->tls.verify || !str_eq(a->tls.sni, b->tls.sni) ||
		!str_eq(a->tls.ca_file, b->tls.ca_file) || a->interval_ms != b->interval_ms ||
		a->fast_interval_ms != b->fast_interval_ms || a->timeout_ms != b->timeout_ms ||
		a->jitter_pct != b->jitter_pct || a->rise != b->rise || a->fall != b->fall)
		return 0;
	if (!str_eq(a->dns.name, b->dns.name) || a->dns.qtype != b->dns.qtype ||
		a->dns.tcp != b->dns.tcp || a->dns.expect_rcode != b->dns.expect_rcode ||
		!str_eq(a->dns.expect_answer, b->dns.expect_answer))
		return 0;
	if (a->send_len > 0 && memcmp(a->send, b->send, a->send_len) != 0)
		return 0;
	for (size_t i = 0; i < a->nexpect_status; i++)
		if (a->expect_status[i].lo != b->expect_status[i].lo ||
			a->expect_status[i].hi != b->expect_status[i].hi)
			return 0;
	return 1;
}

static int admin_equal(const struct conf_admin *a, const struct conf_admin *b)
{
	return a->enabled == b->enabled && str_eq(a->socket, b->socket) &&
	       str_eq(a->listen, b->listen) && a->allow_remote == b->allow_remote &&
	       str_eq(a->token_file, b->token_file) && a->token_for_reads == b->token_for_reads;
}

/* bgp.flow_handoff: refused on reload as the rest of bgp is (the program is set up once). */
static int flow_equal(const struct conf_flow_handoff *a, const struct conf_flow_handoff *b)
{
	if (a->enabled != b->enabled || a->ninterfaces != b->ninterfaces ||
		a->npeers != b->npeers || a->self.addr4 != b->self.addr4 || a->port != b->port ||
		a->max_hops != b->max_hops || a->mss_clamp != b->mss_clamp ||
		a->heartbeat_ms != b->heartbeat_ms || a->peer_timeout_ms != b->peer_timeout_ms)
		return 0;
	for (size_t i = 0; i < a->ninterfaces; i++)
		if (!str_eq(a->interfaces[i], b->interfaces[i]))
			return 0;
	for (size_t i = 0; i < a->npeers; i++)
		if (a->peers[i].addr4 != b->peers[i].addr4)
			return 0;
	return 1;
}

static int bgp_equal(const struct conf_bgp *a, const struct conf_bgp *b)
{
	return flow_equal(&a->flow, &b->flow) && a->enabled == b->enabled &&
	       a->announce == b->announce && str_eq(a->interface, b->interface) &&
	       a->watchdog_timeout_ms == b->watchdog_timeout_ms &&
	       str_eq(a->bird_socket, b->bird_socket) &&
	       a->announce_delay_ms == b->announce_delay_ms &&
	       a->max_announce_delay_ms == b->max_announce_delay_ms &&
	       a->flap_window_ms == b->flap_window_ms &&
	       a->shutdown_grace_ms == b->shutdown_grace_ms &&
	       a->drain_window_ms == b->drain_window_ms;
}

static int anycast_equal(const struct conf_anycast *a, const struct conf_anycast *b)
{
	if (a->enabled != b->enabled || a->nprefixes != b->nprefixes ||
		!str_eq(a->bird_protocol, b->bird_protocol) || a->min_ready != b->min_ready ||
		a->min_capacity != b->min_capacity)
		return 0;
	for (size_t i = 0; i < a->nprefixes; i++)
		if (!str_eq(a->prefixes[i].text, b->prefixes[i].text))
			return 0;
	return 1;
}

static const struct conf_service *find_service(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

/* A position to report at: where the thing is, or the top of the file when it is absent. */
static struct conf_pos at(struct conf_pos p)
{
	return p.line > 0 ? p : (struct conf_pos){.line = 1, .col = 1};
}

int conf_reload_check(const struct conf *old, const struct conf *new, struct conf_errs *errs)
{
	struct conf_report r;
	struct conf_pos p;

	conf_report_init(&r, new->file, errs);
	if (old->global.workers != new->global.workers) {
		p = at(new->global.workers_pos);
		conf_report_pos(&r, p,
			"global.workers cannot change on reload (%u, was %u; 0 is auto): restart "
			"anylb to apply it",
			new->global.workers, old->global.workers);
	}
	if (!admin_equal(&old->global.admin, &new->global.admin)) {
		p = at(new->global.admin.pos);
		conf_report_pos(
			&r, p, "global.admin cannot change on reload: restart anylb to apply it");
	}
	if (!str_eq(old->global.user, new->global.user) ||
		!str_eq(old->global.group, new->global.group) ||
		old->global.uid != new->global.uid || old->global.gid != new->global.gid) {
		p = at(new->global.user_pos);
		conf_report_pos(&r, p,
			"global.user and global.group cannot change on reload: restart anylb to "
			"apply them");
	}
	if (!bgp_equal(&old->bgp, &new->bgp)) {
		p = at(new->bgp.pos);
		conf_report_pos(&r, p, "bgp cannot change on reload: restart anylb to apply it");
	}
	for (size_t i = 0; i < new->nservices; i++) {
		const struct conf_service *ns = &new->services[i];
		const struct conf_service *os = find_service(old, ns->name);
		const struct conf_anycast none = {0};
		const struct conf_anycast *oa = os != NULL ? &os->anycast : &none;
		if (anycast_equal(oa, &ns->anycast))
			continue;
		p = at(ns->anycast.enabled ? ns->anycast.pos : ns->pos);
		conf_report_pos(&r, p,
			"service %s: anycast cannot change on reload (a service with anycast "
			"cannot "
			"be added or removed either): restart anylb to apply it",
			ns->name);
	}
	for (size_t i = 0; i < old->nservices; i++) {
		const struct conf_service *os = &old->services[i];
		if (os->anycast.enabled && find_service(new, os->name) == NULL)
			conf_report_at(&r, 1, 1,
				"service %s has anycast and cannot be removed on reload: restart "
				"anylb "
				"to apply it",
				os->name);
	}
	conf_report_finish(&r);
	if (r.nomem)
		return -ENOMEM;
	return conf_report_failed(&r) ? -EINVAL : 0;
}
