/*
 * DOC: the /metrics page
 *
 * Written family by family into one growing buffer: Prometheus wants each family's samples
 * together, so the loops run over services and backends once per family. Counters are read with
 * relaxed atomics; a histogram is read once into a snapshot so that its buckets are cumulative
 * and its +Inf bucket equals its _count whatever the workers do meanwhile.
 */
#include "lb/metrics.h"

#include "bgp/bird_reply.h"
#include "bgp/policy.h"
#include "health/state.h"
#include "lb/announcer.h"
#include "conf/resolved.h"
#include "lb/handoff.h"
#include "lb/backend.h"
#include "lb/logs.h"
#include "lib/dirent_count.h"
#include "lib/log.h"
#include "lib/procstat.h"
#include "lib/strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ANYLB_VERSION
#define ANYLB_VERSION "unknown"
#endif

/* A label value as the format wants it: \\, \" and \n escaped. */
static void mb_label(struct strbuf *m, const char *name, const char *value, int first)
{
	if (strbuf_reserve(m, strlen(name) + 2 * strlen(value) + 5) < 0)
		return;
	char *o = m->p + m->len;
	if (!first)
		*o++ = ',';
	o += sprintf(o, "%s=\"", name);
	for (const char *s = value; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"') {
			*o++ = '\\';
			*o++ = *s;
		} else if (*s == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = *s;
		}
	}
	*o++ = '"';
	*o = '\0';
	m->len = (size_t)(o - m->p);
}

static void family(struct strbuf *m, const char *name, const char *type, const char *help)
{
	strbuf_printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{service="..."` with the brace left open for more labels. */
static void open_svc(struct strbuf *m, const char *name, const struct lb_service *svc)
{
	strbuf_printf(m, "%s{", name);
	mb_label(m, "service", svc->conf->name, 1);
}

static void open_backend(struct strbuf *m, const char *name, const struct lb_backend *b)
{
	open_svc(m, name, b->svc);
	mb_label(m, "backend", b->conf->address, 0);
}

static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* One value per service: a counter or gauge read by get. */
static void per_service(struct strbuf *m, const struct lb_runtime *rt, const char *name,
	uint64_t (*get)(const struct lb_service *svc))
{
	for (size_t i = 0; i < rt->nservices; i++) {
		open_svc(m, name, &rt->services[i]);
		strbuf_printf(m, "} %llu\n", (unsigned long long)get(&rt->services[i]));
	}
}

static void per_backend(struct strbuf *m, const struct lb_runtime *rt, const char *name,
	uint64_t (*get)(const struct lb_backend *b))
{
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			open_backend(m, name, &svc->backends[j]);
			strbuf_printf(m, "} %llu\n", (unsigned long long)get(&svc->backends[j]));
		}
	}
}

static uint64_t svc_active(const struct lb_service *s)
{
	return atomic_load_explicit(&s->st->active, memory_order_relaxed);
}

static uint64_t svc_accepted(const struct lb_service *s)
{
	return ld(&s->st->accepted);
}

static uint64_t svc_refused(const struct lb_service *s)
{
	return ld(&s->st->refused_limit);
}

static uint64_t svc_panic(const struct lb_service *s)
{
	return atomic_load_explicit(&s->st->panic, memory_order_relaxed) != 0;
}

static uint64_t svc_retries(const struct lb_service *s)
{
	return ld(&s->st->retries);
}

static uint64_t svc_proxy_header_errors(const struct lb_service *s)
{
	return ld(&s->st->proxy_header_errors);
}

static uint64_t svc_sni_routed(const struct lb_service *s)
{
	return ld(&s->st->sni_routed);
}

static uint64_t svc_sni_default(const struct lb_service *s)
{
	return ld(&s->st->sni_default);
}

static uint64_t svc_sni_errors(const struct lb_service *s)
{
	return ld(&s->st->sni_errors);
}

static uint64_t svc_denied(const struct lb_service *s)
{
	return ld(&s->st->denied);
}

static uint64_t svc_rate_limited(const struct lb_service *s)
{
	return ld(&s->st->rate_limited);
}

static uint64_t svc_rate_limit_evictions(const struct lb_service *s)
{
	return ld(&s->st->rate_limit_evictions);
}

static uint64_t svc_queue_len(const struct lb_service *s)
{
	return atomic_load_explicit(&s->st->queue.len, memory_order_relaxed);
}

static uint64_t svc_queued(const struct lb_service *s)
{
	return ld(&s->st->queue.queued);
}

static uint64_t svc_queue_full(const struct lb_service *s)
{
	return ld(&s->st->queue.full);
}

static uint64_t svc_queue_timeouts(const struct lb_service *s)
{
	return ld(&s->st->queue.timeouts);
}

static uint64_t be_active(const struct lb_backend *b)
{
	return atomic_load_explicit(&b->st->active, memory_order_relaxed);
}

static uint64_t be_sessions(const struct lb_backend *b)
{
	return ld(&b->st->sessions);
}

static uint64_t be_connect_fails(const struct lb_backend *b)
{
	return ld(&b->st->connect_fails);
}

static uint64_t be_ejections(const struct lb_backend *b)
{
	return ld(&b->st->ejections);
}

static uint64_t be_state_changes(const struct lb_backend *b)
{
	return ld(&b->st->state_changes);
}

static uint64_t be_backup(const struct lb_backend *b)
{
	return b->conf->backup != 0;
}

static uint64_t be_weight(const struct lb_backend *b)
{
	return backend_weight(b);
}

int metrics_open_fds(void)
{
	int n = dirent_count("/proc/self/fd");

	/* Not the fd opendir() itself held while it counted. */
	return n < 0 ? n : n > 0 ? n - 1 : 0;
}

/* The names every Prometheus client library exports about its process. */
static void standard_process_families(struct strbuf *m, int fds)
{
	struct procstat ps;
	long max = procstat_max_fds();

	if (procstat_read(&ps) == 0) {
		family(m, "process_cpu_seconds_total", "counter",
			"Total user and system CPU time spent in seconds.");
		strbuf_printf(m, "process_cpu_seconds_total %.2f\n", ps.cpu_seconds);
		family(m, "process_resident_memory_bytes", "gauge",
			"Resident memory size in bytes.");
		strbuf_printf(m, "process_resident_memory_bytes %llu\n",
			(unsigned long long)ps.rss_bytes);
		family(m, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
		strbuf_printf(m, "process_virtual_memory_bytes %llu\n",
			(unsigned long long)ps.vsize_bytes);
		family(m, "process_start_time_seconds", "gauge",
			"Start time of the process since unix epoch in seconds.");
		strbuf_printf(m, "process_start_time_seconds %.2f\n", ps.start_time);
	}
	if (fds >= 0) {
		family(m, "process_open_fds", "gauge", "Number of open file descriptors.");
		strbuf_printf(m, "process_open_fds %d\n", fds);
	}
	if (max > 0) {
		family(m, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		strbuf_printf(m, "process_max_fds %ld\n", max);
	}
}

static void names_families(struct strbuf *m, const struct status_source *src);

static void process_families(struct strbuf *m, const struct status_source *src)
{
	const struct lb_runtime *rt = src->rt;

	family(m, "anylb_up", "gauge", "1 while the process serves.");
	strbuf_printf(m, "anylb_up 1\n");
	family(m, "anylb_build_info", "gauge", "Version and site of this process, always 1.");
	strbuf_printf(m, "anylb_build_info{");
	mb_label(m, "version", ANYLB_VERSION, 1);
	mb_label(m, "site", rt->conf->global.site, 0);
	strbuf_printf(m, "} 1\n");
	family(m, "anylb_uptime_seconds", "gauge", "Seconds since the process started.");
	strbuf_printf(m, "anylb_uptime_seconds %.3f\n", src->uptime_s);
	int fds = metrics_open_fds();
	if (fds >= 0) {
		family(m, "anylb_open_fds", "gauge", "File descriptors open in the process.");
		strbuf_printf(m, "anylb_open_fds %d\n", fds);
	}
	family(m, "anylb_process_sessions_active", "gauge",
		"Sessions open in the whole process (global.max_connections counts these).");
	strbuf_printf(m, "anylb_process_sessions_active %u\n",
		atomic_load_explicit(&rt->proc->active, memory_order_relaxed));
	family(m, "anylb_process_max_connections", "gauge",
		"global.max_connections: sessions the whole process takes before accepting "
		"pauses.");
	strbuf_printf(m, "anylb_process_max_connections %u\n", rt->conf->global.max_connections);
	standard_process_families(m, fds);
	family(m, "anylb_log_lines_dropped_total", "counter",
		"Log lines that could not be written (syslog socket full or gone, file error).");
	strbuf_printf(m, "anylb_log_lines_dropped_total{stream=\"main\"} %llu\n",
		(unsigned long long)log_stream_dropped(log_main()));
	if (logs_access() != NULL)
		strbuf_printf(m, "anylb_log_lines_dropped_total{stream=\"access\"} %llu\n",
			(unsigned long long)log_stream_dropped(logs_access()));
	family(m, "anylb_accept_pauses_total", "counter",
		"Times accepting paused for lack of fds or memory (EMFILE, ENFILE, ENOBUFS, "
		"ENOMEM).");
	strbuf_printf(m, "anylb_accept_pauses_total %llu\n",
		(unsigned long long)ld(&rt->proc->accept_pauses));
	family(m, "anylb_accept_limit_pauses_total", "counter",
		"Times accepting paused because global.max_connections was reached.");
	strbuf_printf(m, "anylb_accept_limit_pauses_total %llu\n",
		(unsigned long long)ld(&rt->proc->limit_pauses));
	const struct reload_record none = {.last_ok = 1};
	const struct reload_record *rr = src->reload != NULL ? src->reload : &none;
	family(m, "anylb_reloads_total", "counter", "Configuration reloads by result.");
	strbuf_printf(m, "anylb_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)rr->ok);
	strbuf_printf(
		m, "anylb_reloads_total{result=\"failed\"} %llu\n", (unsigned long long)rr->failed);
	family(m, "anylb_config_last_reload_successful", "gauge",
		"1 if the last reload applied (or none was asked for), 0 if it failed.");
	strbuf_printf(m, "anylb_config_last_reload_successful %d\n", rr->last_ok ? 1 : 0);
	family(m, "anylb_config_generation", "gauge",
		"The configuration in force: 1 at start, plus one per successful reload.");
	strbuf_printf(m, "anylb_config_generation %llu\n", (unsigned long long)rt->generation);
	lb_handoff_metrics(src->handoff, m);
	names_families(m, src);
}

/* `name{service="...",name="..."}` for a NAME:PORT entry. */
static void open_name(struct strbuf *m, const char *family_name, const struct resolved_entry *e)
{
	strbuf_printf(m, "%s{", family_name);
	mb_label(m, "service", e->service, 1);
	mb_label(m, "name", e->address, 0);
}

/* The NAME:PORT entries' lookups (conf/resolved.h). */
static void names_families(struct strbuf *m, const struct status_source *src)
{
	const struct resolved *r = src->resolved;
	static const char *const results[] = {"same", "changed", "failed"};

	family(m, "anylb_resolve_total", "counter",
		"Lookups of a backend entry written as NAME:PORT, by result: same (the answer "
		"in force confirmed), changed (backends added or removed), failed (the last "
		"good answer kept).");
	for (size_t i = 0; r != NULL && i < r->n; i++) {
		const struct resolved_entry *e = &r->v[i];
		const uint64_t n[] = {e->n_same, e->n_changed, e->n_failed};
		for (size_t k = 0; k < 3; k++) {
			open_name(m, "anylb_resolve_total", e);
			mb_label(m, "result", results[k], 0);
			strbuf_printf(m, "} %llu\n", (unsigned long long)n[k]);
		}
	}
	family(m, "anylb_resolve_addresses", "gauge",
		"Addresses in the answer in force of a NAME:PORT entry (each one a backend).");
	for (size_t i = 0; r != NULL && i < r->n; i++) {
		open_name(m, "anylb_resolve_addresses", &r->v[i]);
		strbuf_printf(m, "} %zu\n", r->v[i].n);
	}
	family(m, "anylb_resolve_failing", "gauge",
		"1 while the last lookup of a NAME:PORT entry failed (or none succeeded yet).");
	for (size_t i = 0; r != NULL && i < r->n; i++) {
		open_name(m, "anylb_resolve_failing", &r->v[i]);
		strbuf_printf(m, "} %d\n", r->v[i].failing || !r->v[i].have);
	}
}

/* The labels of one sample: the service's, the backend's when b is set, the check's. */
static void open_labels(struct strbuf *m, const char *name, const char *suffix,
	const struct lb_service *svc, const struct lb_backend *b, const char *check)
{
	strbuf_printf(m, "%s%s{", name, suffix);
	mb_label(m, "service", svc->conf->name, 1);
	if (b != NULL)
		mb_label(m, "backend", b->conf->address, 0);
	if (check != NULL)
		mb_label(m, "check", check, 0);
}

/*
 * One histogram's samples, from n counters that are not cumulative (the last one +Inf): read
 * once into a snapshot, so the buckets are cumulative and +Inf equals _count.
 */
static void hist_samples(struct strbuf *m, const char *name, const struct lb_service *svc,
	const struct lb_backend *b, const char *check, const _Atomic uint64_t *hist,
	const double *bounds, size_t n, uint64_t sum_us)
{
	uint64_t cum = 0;

	for (size_t k = 0; k < n; k++) {
		char le[32];
		cum += ld(&hist[k]);
		if (k < n - 1)
			snprintf(le, sizeof(le), "%g", bounds[k]);
		else
			snprintf(le, sizeof(le), "+Inf");
		open_labels(m, name, "_bucket", svc, b, check);
		mb_label(m, "le", le, 0);
		strbuf_printf(m, "} %llu\n", (unsigned long long)cum);
	}
	open_labels(m, name, "_sum", svc, b, check);
	strbuf_printf(m, "} %.6f\n", (double)sum_us / 1e6);
	open_labels(m, name, "_count", svc, b, check);
	strbuf_printf(m, "} %llu\n", (unsigned long long)cum);
}

/* Per listening address of each service in this generation. */
static void listener_families(struct strbuf *m, const struct lb_runtime *rt)
{
	static const char *const names[2] = {
		"anylb_listener_accepted_total", "anylb_listener_refused_total"};
	static const char *const helps[2] = {"Connections accepted on the listening address.",
		"Of those, clients closed at once because the service was at its "
		"max_connections."};

	for (int k = 0; k < 2; k++) {
		family(m, names[k], "counter", helps[k]);
		for (size_t i = 0; i < rt->nservices; i++) {
			const struct lb_service *svc = &rt->services[i];
			for (size_t j = 0; j < svc->conf->nlisten; j++) {
				const struct lb_listen_stats *ls =
					svc->listen_stats != NULL ? svc->listen_stats[j] : NULL;
				if (ls == NULL)
					continue;
				open_svc(m, names[k], svc);
				mb_label(m, "listener", ls->address, 0);
				strbuf_printf(m, "} %llu\n",
					(unsigned long long)ld(
						k == 0 ? &ls->accepted : &ls->refused));
			}
		}
	}
}

/* The udp services' datagrams and flows (lb/udp_listener.h); tcp services have none. */
static void udp_families(struct strbuf *m, const struct lb_runtime *rt)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} f[] = {
		{"anylb_udp_flows_active", "gauge", "UDP flows (client, port, local address) open.",
			offsetof(struct lb_udp_stats, flows_active)},
		{"anylb_udp_flows_created_total", "counter",
			"UDP flows made by a client's first datagram.",
			offsetof(struct lb_udp_stats, flows_created)},
		{"anylb_udp_flows_evicted_total", "counter",
			"UDP flows ended early to make room in a full table (udp.max_flows).",
			offsetof(struct lb_udp_stats, flows_evicted)},
		{"anylb_udp_replies_missing_total", "counter",
			"Client datagrams whose backend sent no reply within udp.reply_timeout.",
			offsetof(struct lb_udp_stats, replies_missing)},
		{"anylb_udp_dropped_total", "counter",
			"Datagrams not forwarded: no usable backend, no fd, a full socket buffer.",
			offsetof(struct lb_udp_stats, dropped)},
		{"anylb_udp_backend_errors_total", "counter",
			"Errors from a backend's socket (ICMP port unreachable and others).",
			offsetof(struct lb_udp_stats, backend_errors)},
	};
	static const struct {
		const char *dir;
		size_t n, bytes;
	} dirs[] = {
		{"in", offsetof(struct lb_udp_stats, rx), offsetof(struct lb_udp_stats, rx_bytes)},
		{"out", offsetof(struct lb_udp_stats, tx), offsetof(struct lb_udp_stats, tx_bytes)},
	};
	int any = 0;

	for (size_t i = 0; i < rt->nservices; i++)
		any |= rt->services[i].conf->protocol == CONF_PROTO_UDP;
	if (!any)
		return;
	for (int b = 0; b < 2; b++) {
		const char *name = b ? "anylb_udp_bytes_total" : "anylb_udp_datagrams_total";
		family(m, name, "counter",
			b ? "UDP payload bytes forwarded: in, client to backend; out, backend to "
			    "client."
			  : "UDP datagrams forwarded: in, client to backend; out, backend to "
			    "client.");
		for (size_t i = 0; i < rt->nservices; i++) {
			const struct lb_service *svc = &rt->services[i];
			if (svc->conf->protocol != CONF_PROTO_UDP)
				continue;
			for (size_t d = 0; d < 2; d++) {
				const char *base = (const char *)&svc->st->udp;
				open_svc(m, name, svc);
				mb_label(m, "direction", dirs[d].dir, 0);
				strbuf_printf(m, "} %llu\n",
					(unsigned long long)ld((
						const _Atomic uint64_t *)(base + (b ? dirs[d].bytes
										    : dirs[d].n))));
			}
		}
	}
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		family(m, f[k].name, f[k].type, f[k].help);
		for (size_t i = 0; i < rt->nservices; i++) {
			const struct lb_service *svc = &rt->services[i];
			if (svc->conf->protocol != CONF_PROTO_UDP)
				continue;
			const char *base = (const char *)&svc->st->udp;
			open_svc(m, f[k].name, svc);
			strbuf_printf(m, "} %llu\n",
				(unsigned long long)ld(
					(const _Atomic uint64_t *)(base + f[k].off)));
		}
	}
}

/* The service queue (lb/queue.h): clients waiting for a backend with room. */
static void queue_families(struct strbuf *m, const struct lb_runtime *rt)
{
	family(m, "anylb_service_queue_length", "gauge",
		"Clients waiting for a backend with room (every usable one at max_connections).");
	per_service(m, rt, "anylb_service_queue_length", svc_queue_len);
	family(m, "anylb_service_queued_total", "counter",
		"Clients that had to wait in the queue.");
	per_service(m, rt, "anylb_service_queued_total", svc_queued);
	family(m, "anylb_service_queue_full_total", "counter",
		"Clients closed at once because the queue held queue.max already.");
	per_service(m, rt, "anylb_service_queue_full_total", svc_queue_full);
	family(m, "anylb_service_queue_timeouts_total", "counter",
		"Clients closed after waiting timeouts.queue for a backend with room.");
	per_service(m, rt, "anylb_service_queue_timeouts_total", svc_queue_timeouts);
	family(m, "anylb_service_queue_wait_seconds", "histogram",
		"Time clients waited in the queue, served or not.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		hist_samples(m, "anylb_service_queue_wait_seconds", svc, NULL, NULL,
			svc->st->queue.wait_hist, queue_bounds, QUEUE_BUCKETS,
			ld(&svc->st->queue.wait_sum_us));
	}
}

static void service_families(struct strbuf *m, const struct status_source *src)
{
	const struct lb_runtime *rt = src->rt;

	family(m, "anylb_sessions_total", "counter", "Finished sessions by how they ended.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (int r = 0; r < LB_RESULT_COUNT; r++) {
			open_svc(m, "anylb_sessions_total", svc);
			mb_label(m, "result", lb_result_name((enum lb_result)r), 0);
			strbuf_printf(m, "} %llu\n", (unsigned long long)ld(&svc->st->results[r]));
		}
	}
	family(m, "anylb_sessions_accepted_total", "counter", "Client connections accepted.");
	per_service(m, rt, "anylb_sessions_accepted_total", svc_accepted);
	family(m, "anylb_sessions_refused_total", "counter",
		"Clients closed at once because the service was at its max_connections.");
	per_service(m, rt, "anylb_sessions_refused_total", svc_refused);
	family(m, "anylb_sessions_active", "gauge", "Sessions open, connecting or connected.");
	per_service(m, rt, "anylb_sessions_active", svc_active);
	family(m, "anylb_service_panic", "gauge",
		"1 while the service is in panic mode (fewer ready backends than panic_threshold: "
		"every backend that is not dead takes sessions).");
	per_service(m, rt, "anylb_service_panic", svc_panic);
	family(m, "anylb_service_max_connections", "gauge",
		"The service's max_connections (only services that have one): a full service "
		"refuses new clients.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		if (svc->conf->max_connections == 0)
			continue;
		open_svc(m, "anylb_service_max_connections", svc);
		strbuf_printf(m, "} %u\n", svc->conf->max_connections);
	}
	family(m, "anylb_session_duration_seconds", "histogram",
		"Length of finished sessions, from accept to close.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		hist_samples(m, "anylb_session_duration_seconds", svc, NULL, NULL,
			svc->st->duration_hist, lb_session_bounds, LB_SESSION_BUCKETS,
			ld(&svc->st->duration_sum_us));
	}
	queue_families(m, rt);
	udp_families(m, rt);
	family(m, "anylb_service_proxy_header_errors_total", "counter",
		"Clients of accept_proxy listeners closed for a missing, malformed or late PROXY "
		"header.");
	per_service(m, rt, "anylb_service_proxy_header_errors_total", svc_proxy_header_errors);
	family(m, "anylb_service_sni_routed_total", "counter",
		"Clients of an sni service sent to a route's service by their server name.");
	per_service(m, rt, "anylb_service_sni_routed_total", svc_sni_routed);
	family(m, "anylb_service_sni_default_total", "counter",
		"Clients of an sni service sent to its default: no server name, no route matched, "
		"or not TLS.");
	per_service(m, rt, "anylb_service_sni_default_total", svc_sni_default);
	family(m, "anylb_service_sni_errors_total", "counter",
		"Clients of an sni service closed: a malformed or late ClientHello, or no route "
		"and "
		"no default.");
	per_service(m, rt, "anylb_service_sni_errors_total", svc_sni_errors);
	family(m, "anylb_service_denied_total", "counter",
		"Clients closed at once by the service's allow or deny list.");
	per_service(m, rt, "anylb_service_denied_total", svc_denied);
	family(m, "anylb_service_rate_limited_total", "counter",
		"Clients closed at once for going over the service's per-source rate_limit.");
	per_service(m, rt, "anylb_service_rate_limited_total", svc_rate_limited);
	family(m, "anylb_service_rate_limit_evictions_total", "counter",
		"Sources forgotten by rate_limit to make room in a full table (max_sources).");
	per_service(m, rt, "anylb_service_rate_limit_evictions_total", svc_rate_limit_evictions);
	listener_families(m, rt);
	family(m, "anylb_service_retries_total", "counter",
		"Connects retried on another backend after a failure.");
	per_service(m, rt, "anylb_service_retries_total", svc_retries);
	family(m, "anylb_service_redundancy", "gauge",
		"Failure domains (zones) the service can lose and still carry its current load: "
		"the k of N+k.");
	for (size_t i = 0; i < rt->nservices; i++) {
		struct redundancy_report r;
		if (status_redundancy(&rt->services[i], &r) < 0) {
			m->err = -ENOMEM;
			return;
		}
		open_svc(m, "anylb_service_redundancy", &rt->services[i]);
		strbuf_printf(m, "} %u\n", r.k);
	}
}

static void histogram(struct strbuf *m, const struct lb_runtime *rt)
{
	const char *name = "anylb_backend_connect_seconds";

	family(m, name, "histogram", "Time to connect to the backend, of connects that succeeded.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			hist_samples(m, name, svc, b, NULL, b->st->connect_hist, lb_connect_bounds,
				LB_CONNECT_BUCKETS, ld(&b->st->connect_sum_us));
		}
	}
}

static void backend_families(struct strbuf *m, const struct status_source *src)
{
	const struct lb_runtime *rt = src->rt;
	static const enum backend_state states[] = {BACKEND_READY, BACKEND_NOT_READY, BACKEND_DEAD,
		BACKEND_EJECTED, BACKEND_DRAINING, BACKEND_MAINT};

	family(m, "anylb_backend_sessions_active", "gauge",
		"Sessions connecting or connected to the backend.");
	per_backend(m, rt, "anylb_backend_sessions_active", be_active);
	family(m, "anylb_backend_sessions_total", "counter", "Sessions that reached the backend.");
	per_backend(m, rt, "anylb_backend_sessions_total", be_sessions);
	family(m, "anylb_backend_connect_failures_total", "counter",
		"Connects to the backend that failed (refused, unreachable, timed out).");
	per_backend(m, rt, "anylb_backend_connect_failures_total", be_connect_fails);
	family(m, "anylb_backend_ejections_total", "counter",
		"Times passive outlier detection ejected the backend.");
	per_backend(m, rt, "anylb_backend_ejections_total", be_ejections);
	family(m, "anylb_backend_state_changes_total", "counter",
		"Times the backend's state changed (ready, not_ready, dead, ejected, draining, "
		"maint).");
	per_backend(m, rt, "anylb_backend_state_changes_total", be_state_changes);
	family(m, "anylb_backend_state_last_change_timestamp_seconds", "gauge",
		"When the backend's state last changed (or anylb first had it), unix time.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			uint64_t ms = ld(&svc->backends[j].st->state_changed_ms);
			open_backend(m, "anylb_backend_state_last_change_timestamp_seconds",
				&svc->backends[j]);
			strbuf_printf(m, "} %llu.%03u\n", (unsigned long long)(ms / 1000),
				(unsigned)(ms % 1000));
		}
	}
	family(m, "anylb_backend_max_connections", "gauge",
		"The backend's max_connections (only backends that have one): a full backend "
		"takes no new session.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			if (svc->conf->backends[j].max_connections == 0)
				continue;
			open_backend(m, "anylb_backend_max_connections", &svc->backends[j]);
			strbuf_printf(m, "} %u\n", svc->conf->backends[j].max_connections);
		}
	}
	family(m, "anylb_backend_backup", "gauge",
		"1 for a backup backend (used only while no other backend of its service can "
		"take a session), 0 for the others.");
	per_backend(m, rt, "anylb_backend_backup", be_backup);
	family(m, "anylb_backend_weight", "gauge",
		"Effective weight of the backend (its weight or the operator's runtime weight, "
		"less "
		"during slow start).");
	per_backend(m, rt, "anylb_backend_weight", be_weight);
	family(m, "anylb_backend_bytes_total", "counter",
		"Bytes moved, direction in = client to backend, out = backend to client; added "
		"when "
		"a session ends.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			open_backend(m, "anylb_backend_bytes_total", b);
			mb_label(m, "direction", "in", 0);
			strbuf_printf(m, "} %llu\n", (unsigned long long)ld(&b->st->bytes_in));
			open_backend(m, "anylb_backend_bytes_total", b);
			mb_label(m, "direction", "out", 0);
			strbuf_printf(m, "} %llu\n", (unsigned long long)ld(&b->st->bytes_out));
		}
	}
	histogram(m, rt);
	family(m, "anylb_backend_state", "gauge",
		"1 for the backend's current state, 0 for the others.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			int cur = atomic_load_explicit(&b->st->state, memory_order_relaxed);
			for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
				open_backend(m, "anylb_backend_state", b);
				mb_label(m, "state", backend_state_name(states[k]), 0);
				strbuf_printf(m, "} %d\n", cur == (int)states[k]);
			}
		}
	}
	family(m, "anylb_backend_certificate_expiry_timestamp_seconds", "gauge",
		"notAfter of the certificate the last tls or https check saw, unix time.");
	for (size_t i = 0; i < rt->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			struct lb_backend *b = &svc->backends[j];
			pthread_mutex_lock(&svc->st->lock);
			int64_t na = b->st->cert_not_after;
			pthread_mutex_unlock(&svc->st->lock);
			if (na == 0)
				continue;
			open_backend(m, "anylb_backend_certificate_expiry_timestamp_seconds", b);
			strbuf_printf(m, "} %lld\n", (long long)na);
		}
	}
}

enum last_value { LAST_OK, LAST_RUN, LAST_DURATION };

/*
 * One family about the last run of every enabled check that has run: each value copied under
 * the service lock with the run it belongs to (the lock is taken per backend, never while
 * formatting). A check that never ran has no sample yet.
 */
static void last_family(struct strbuf *m, const struct lb_runtime *rt, const char *name,
	const char *help, enum last_value what)
{
	static const char *const names[2] = {"liveness", "readiness"};

	family(m, name, "gauge", help);
	for (size_t i = 0; i < rt->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		const struct conf_check *cc[2] = {
			&svc->conf->health.liveness, &svc->conf->health.readiness};
		if (!cc[0]->enabled && !cc[1]->enabled)
			continue;
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			uint64_t at[2], us[2];
			int ok[2];
			pthread_mutex_lock(&svc->st->lock);
			for (int c = 0; c < 2; c++) {
				at[c] = b->st->last[c].at_ms;
				us[c] = b->st->last[c].duration_us;
				ok[c] = b->st->last[c].ok;
			}
			pthread_mutex_unlock(&svc->st->lock);
			for (int c = 0; c < 2; c++) {
				if (!cc[c]->enabled || at[c] == 0)
					continue;
				open_backend(m, name, b);
				mb_label(m, "check", names[c], 0);
				switch (what) {
				case LAST_OK:
					strbuf_printf(m, "} %d\n", ok[c]);
					break;
				case LAST_RUN:
					strbuf_printf(m, "} %llu.%03u\n",
						(unsigned long long)(at[c] / 1000),
						(unsigned)(at[c] % 1000));
					break;
				case LAST_DURATION:
					strbuf_printf(m, "} %.6f\n", (double)us[c] / 1e6);
					break;
				}
			}
		}
	}
}

static void check_families(struct strbuf *m, const struct status_source *src)
{
	const struct lb_runtime *rt = src->rt;
	static const char *const names[2] = {"liveness", "readiness"};

	family(m, "anylb_check_total", "counter", "Active check results.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct conf_check *cc[2] = {
			&svc->conf->health.liveness, &svc->conf->health.readiness};
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			for (int c = 0; c < 2; c++) {
				if (!cc[c]->enabled)
					continue;
				open_backend(m, "anylb_check_total", b);
				mb_label(m, "check", names[c], 0);
				strbuf_printf(m, ",result=\"ok\"} %llu\n",
					(unsigned long long)ld(&b->st->checks[c].ok));
				open_backend(m, "anylb_check_total", b);
				mb_label(m, "check", names[c], 0);
				strbuf_printf(m, ",result=\"failed\"} %llu\n",
					(unsigned long long)ld(&b->st->checks[c].failed));
			}
		}
	}
	family(m, "anylb_check_duration_seconds", "histogram", "Time active checks took.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct conf_check *cc[2] = {
			&svc->conf->health.liveness, &svc->conf->health.readiness};
		for (size_t j = 0; j < svc->conf->nbackends; j++) {
			const struct lb_backend *b = &svc->backends[j];
			for (int c = 0; c < 2; c++) {
				if (!cc[c]->enabled)
					continue;
				const struct lb_check_stats *st = &b->st->checks[c];
				hist_samples(m, "anylb_check_duration_seconds", svc, b, names[c],
					st->duration_hist, lb_connect_bounds, LB_CHECK_BUCKETS,
					ld(&st->duration_sum_us));
			}
		}
	}
	last_family(m, rt, "anylb_backend_check_last_ok",
		"1 if the check's last run passed, 0 if it failed (its reason is in /status).",
		LAST_OK);
	last_family(m, rt, "anylb_backend_check_last_run_timestamp_seconds",
		"When the check's last run ended, unix time.", LAST_RUN);
	last_family(m, rt, "anylb_backend_check_last_duration_seconds",
		"How long the check's last run took.", LAST_DURATION);
}

static void anycast_families(struct strbuf *m, const struct status_source *src)
{
	const struct lb_runtime *rt = src->rt;
	struct announcer_status st;

	family(m, "anylb_anycast_announced", "gauge",
		"1 while the service's prefix is announced, 0 while it is withdrawn.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct conf_anycast *ac = &svc->conf->anycast;
		if (!ac->enabled)
			continue;
		int on = announcer_status(src->ann, svc->conf->name, &st) == 0 && st.announced;
		for (size_t p = 0; p < ac->nprefixes; p++) {
			open_svc(m, "anylb_anycast_announced", svc);
			mb_label(m, "prefix", ac->prefixes[p].text, 0);
			strbuf_printf(m, "} %d\n", on);
		}
	}
	family(m, "anylb_anycast_ladder_step", "gauge",
		"The service's step on the drain ladder: 0 announced, 1 de-preferred, 2 withdrawn "
		"serving forwarded sessions, 3 done.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		if (!svc->conf->anycast.enabled)
			continue;
		int step =
			announcer_status(src->ann, svc->conf->name, &st) == 0 ? st.ladder_step : 0;
		open_svc(m, "anylb_anycast_ladder_step", svc);
		strbuf_printf(m, "} %d\n", step);
	}
	family(m, "anylb_anycast_flaps_total", "counter",
		"Health withdraws that came within flap_window of the previous one.");
	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		if (!svc->conf->anycast.enabled)
			continue;
		unsigned flaps =
			announcer_status(src->ann, svc->conf->name, &st) == 0 ? st.flaps : 0;
		open_svc(m, "anylb_anycast_flaps_total", svc);
		strbuf_printf(m, "} %u\n", flaps);
	}
	if (!rt->conf->bgp.enabled)
		return;
	size_t n;
	int connected;
	struct bird_protocol *v = status_bgp_sessions(src->ann, &n, &connected);
	family(m, "anylb_bird_connected", "gauge", "1 while BIRD's control socket is connected.");
	strbuf_printf(m, "anylb_bird_connected %d\n", connected);
	family(m, "anylb_bgp_session_up", "gauge",
		"1 while the BGP session is Established, as BIRD last reported it.");
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(m, "anylb_bgp_session_up{");
		mb_label(m, "session", v[i].name, 1);
		strbuf_printf(m, "} %d\n", strcmp(v[i].info, "Established") == 0);
	}
	free(v);
}

char *metrics_text(const struct status_source *src, size_t *len)
{
	struct strbuf m = {0};

	process_families(&m, src);
	service_families(&m, src);
	backend_families(&m, src);
	check_families(&m, src);
	anycast_families(&m, src);
	return strbuf_take(&m, len);
}
