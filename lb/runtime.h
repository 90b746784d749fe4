/*
 * DOC: runtime view of the configuration
 *
 * What the threads share: the loaded struct conf, and per service and backend the state and
 * counters that several threads read or update. On the accept and pump paths everything is
 * read with atomics; the per-service lock is taken only on rare paths (a check result that
 * changes something, a connect failure, an outlier trial), never per byte or per healthy
 * session.
 *
 * Generations: a reload builds a new struct lb_runtime from the new file. Its structure (services,
 * backends, their configuration) is immutable; what must survive a reload (health, counters,
 * outlier state) lives in state objects that consecutive generations share by pointer, matched
 * by service name and by (service, backend address). Threads and sessions hold references on
 * the generation they use, so an old one lives until the last session that started under it.
 *
 * Ownership: struct lb_runtime owns the struct conf it was built from and the arrays below; the
 * state objects are reference-counted by the generations that point to them.
 */
#ifndef ANYLB_LB_RUNTIME_H
#define ANYLB_LB_RUNTIME_H

#include "conf/conf.h"
#include "conf/overlay.h"
#include "health/backend_health.h"
#include "health/outlier.h"
#include "lb/inherited.h"
#include "lb/queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lb_service;

/* How sessions end, for sessions_total{result=...}. */
enum lb_result {
	LB_RESULT_DONE,          /* both sides closed normally */
	LB_RESULT_CLIENT_ERROR,  /* client reset or error */
	LB_RESULT_BACKEND_ERROR, /* backend reset or error after connecting */
	LB_RESULT_TIMEOUT,       /* idle or half-close timeout */
	LB_RESULT_NO_BACKEND,    /* no usable backend, or none answered: client reset */
	LB_RESULT_BACKEND_DEAD,  /* closed because its backend went dead */
	LB_RESULT_DRAIN,         /* cut at the drain deadline or at exit */
	LB_RESULT_RESOURCE,      /* out of fds or memory */
	LB_RESULT_COUNT,
};

const char *lb_result_name(enum lb_result r);

/* Connect latency histogram upper bounds, in seconds (the last bucket is +Inf). */
#define LB_CONNECT_BUCKETS 12
extern const double lb_connect_bounds[LB_CONNECT_BUCKETS - 1];

/* Session duration histogram upper bounds, in seconds (the last bucket is +Inf). */
#define LB_SESSION_BUCKETS 12
extern const double lb_session_bounds[LB_SESSION_BUCKETS - 1];

/* Active check durations share the connect bounds: both are one round trip or a few. */
#define LB_CHECK_BUCKETS LB_CONNECT_BUCKETS

/* The bucket of a histogram with these n - 1 upper bounds that v falls in (v <= bound). */
size_t lb_bucket(const double *bounds, size_t n, double v);

/* Counters of one active check of one backend (monitor thread writes, anyone reads). */
struct lb_check_stats {
	_Atomic uint64_t ok, failed;
	_Atomic uint64_t duration_sum_us;                 /* over ok + failed */
	_Atomic uint64_t duration_hist[LB_CHECK_BUCKETS]; /* not cumulative; lb_connect_bounds */
};

/*
 * The last run of one active check of one backend, guarded by the service state's lock (the
 * reason is a string: copied out under the lock with the rest, so a reader never sees the
 * result of one run with the time of another).
 */
struct lb_check_last {
	uint64_t at_ms;       /* unix ms (CLOCK_REALTIME) when it ended; 0: never ran */
	uint64_t duration_us; /* how long it took */
	int ok;
	char reason[160]; /* "ok", or why it failed */
};

/*
 * Health and counters of one backend, shared by every generation whose configuration has the
 * backend (same service name, same address): a reload keeps them.
 */
struct lb_backend_state {
	_Atomic unsigned refs; /* generations holding it */

	/* Published for the workers; read without a lock. */
	_Atomic int state;           /* enum backend_state */
	_Atomic int trial;           /* published offer: one trial session may go to it */
	_Atomic uint32_t fail_hint;  /* failures since the last success was reported */
	_Atomic unsigned eff_weight; /* weight after slow start */
	_Atomic int runtime_weight;  /* the operator's runtime weight (h.weight), -1: none */
	_Atomic uint32_t active;     /* sessions connecting or connected to it */
	_Atomic uint64_t sessions;   /* sessions that reached it */
	_Atomic uint64_t connect_fails;
	_Atomic uint64_t ejections;
	_Atomic uint64_t closed_dead; /* sessions closed because it went dead */
	_Atomic uint64_t bytes_in;    /* client -> backend, added when a session ends */
	_Atomic uint64_t bytes_out;   /* backend -> client */
	_Atomic uint64_t connect_hist[LB_CONNECT_BUCKETS]; /* not cumulative; see bounds */
	_Atomic uint64_t connect_sum_us;
	_Atomic uint64_t state_changes;    /* published state changes (lb/backend.c) */
	_Atomic uint64_t state_changed_ms; /* unix ms of the last one, or of its creation */
	struct lb_check_stats checks[2];   /* enum backend_check: liveness, readiness */

	/*
	 * Guarded by the service state's lock. The state machine's own (health/backend_health.h):
	 * the state, the trial offer and eff_weight above are what lb/backend.c publishes of it.
	 */
	struct backend_health h;
	struct lb_check_last last[2]; /* enum backend_check: liveness, readiness */
	int64_t cert_not_after;       /* from the last tls/https check, unix time; 0 unknown */
	int cert_warned;              /* the expiry warning was logged for this certificate */
};

/* One backend of one generation: its configuration and where its shared state is. */
struct lb_backend {
	const struct conf_backend *conf;
	struct lb_service *svc;
	size_t index;
	struct lb_backend_state *st;
};

/*
 * Counters of one listening address of a service, across workers and generations: made the
 * first time a generation has the address, kept with the service (a reload that drops and
 * brings back an address counts on), freed with it.
 */
struct lb_listen_stats {
	struct lb_listen_stats *next;
	_Atomic uint64_t accepted; /* connections accepted there */
	_Atomic uint64_t refused;  /* of those, closed at once: the service's max_connections */
	char address[];            /* as written in the file */
};

/* A udp service's datagrams and flows (lb/udp_listener.c counts them), across workers. */
struct lb_udp_stats {
	_Atomic uint64_t rx, rx_bytes;    /* client -> backend: datagrams and bytes forwarded */
	_Atomic uint64_t tx, tx_bytes;    /* backend -> client */
	_Atomic uint64_t flows_created;   /* a flow per new (client, port, local address) */
	_Atomic uint64_t flows_evicted;   /* the oldest, for a new one in a full table */
	_Atomic uint64_t flows_active;    /* a gauge */
	_Atomic uint64_t replies_missing; /* no reply within udp.reply_timeout */
	_Atomic uint64_t dropped;         /* client datagrams not forwarded: no backend, no fd */
	_Atomic uint64_t backend_errors;  /* port unreachable and other errors from a backend */
};

/*
 * A backend a reload removed (or remove-backend) while it still had sessions: /status shows it
 * draining until its last session ends. Holds a reference on the state.
 */
struct lb_retired {
	struct lb_retired *next;
	struct lb_backend_state *st;
	char address[]; /* as the configuration wrote it */
};

/* Counters and passive health of one service, shared by the generations that have it. */
struct lb_service_state {
	_Atomic unsigned refs;
	pthread_mutex_t lock;
	/*
	 * Guarded by lock. The outlier detector is indexed by lb_backend_state.oidx; conf is the
	 * service's configuration in the newest generation the monitor runs (what rare paths
	 * under the lock consult: health, outlier and slow-start settings, the name).
	 */
	struct outlier *outlier;
	const struct conf_service *conf;
	/*
	 * Also guarded by lock: the service-level edge "no usable backend" and its recovery,
	 * logged once each (lb/backend.c). cur is the service in the generation the monitor runs,
	 * set by the monitor only (NULL before its first tick and once a reload removed it); nready
	 * and npending count its backends that are ready and that still await their first verdict,
	 * valid while counted is set (recounted from cur otherwise). quiet while a reload is
	 * adopted: the edge is looked at once after.
	 */
	struct lb_service *cur;
	size_t nready, npending;
	int counted, quiet, none_logged;
	_Atomic int panic; /* panic_threshold crossed: workers use every backend not dead */

	_Atomic uint32_t trials;      /* published trial offers (a hint: pickers skip the scan) */
	_Atomic uint64_t weights_gen; /* bumped whenever an eff_weight changes */
	_Atomic uint64_t nobackend_log_ms;
	_Atomic uint32_t active;
	/*
	 * Listening sockets of the service, across workers and generations (lb/listener.c counts
	 * them from start to close): the announcer's "listener bound" input. A prefix is never
	 * announced for a service with nothing listening behind it.
	 */
	_Atomic uint32_t listening;
	/*
	 * Bumped after every published change of what the announcer looks at (a backend's state,
	 * the listening count), then lb_process.on_change is called: the announcer re-reads a
	 * service only when this moved, instead of polling every backend.
	 */
	_Atomic uint64_t changes;
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused_limit; /* closed at once: service max_connections */
	_Atomic uint64_t no_backend;    /* closed at once: no backend could take it */
	_Atomic uint64_t retries;
	_Atomic uint64_t proxy_header_errors; /* accept_proxy: closed for a bad or missing header */
	_Atomic uint64_t sni_routed;  /* sni: sent to a route's service by the ClientHello's name */
	_Atomic uint64_t sni_default; /* sni: sent to the default (no name, no match, not TLS) */
	_Atomic uint64_t sni_errors;  /* sni: closed (bad or late ClientHello, nowhere to go) */
	_Atomic uint64_t denied;      /* closed at once: allow / deny */
	_Atomic uint64_t rate_limited;         /* closed at once: over rate_limit */
	_Atomic uint64_t rate_limit_evictions; /* sources forgotten for room in the table */
	_Atomic uint64_t edge_log_ms;          /* the last denied / rate-limited log line */
	_Atomic uint64_t results[LB_RESULT_COUNT];
	/* Finished sessions by duration, from accept to close; not cumulative. */
	_Atomic uint64_t duration_hist[LB_SESSION_BUCKETS];
	_Atomic uint64_t duration_sum_us;
	struct lb_udp_stats udp;        /* protocol udp only */
	struct lb_listen_stats *listen; /* appended under lock; never removed before the end */
	struct lb_retired *retired;     /* under lock; see runtime_retired_add() */
	/* Clients waiting for a backend with room (lb/queue.h): across workers and generations. */
	struct queue queue;
};

struct lb_runtime;

/* One service of one generation. */
struct lb_service {
	const struct conf_service *conf;
	struct lb_runtime *rt;
	size_t index;
	struct lb_backend *backends; /* conf->nbackends of them */
	/*
	 * The same backends sorted by address text and by state pointer: a reload matches
	 * thousands of backends across generations in O(n log n), never n^2.
	 */
	struct lb_backend **by_addr, **by_state;
	struct lb_service_state *st;
	/* The counters of each conf->listen[] address, in st's list (NULL: out of memory). */
	struct lb_listen_stats **listen_stats;
	/*
	 * The TLS client context of each check (enum backend_check: liveness, readiness) that is
	 * tls or https, a reference opened by runtime_prepare() (lb/prepare.c) before anything
	 * uses the generation; NULL for other checks. Released with the generation.
	 */
	struct ssl_ctx_st *check_tls[2];
	/*
	 * rate_limit's table (lb/ratelimit.h), shared by every worker; NULL without rate_limit.
	 * A reload hands it on (one more reference) when the service's rate_limit is unchanged.
	 */
	struct ratelimit *rl;
};

/* What lives as long as the process, whatever the configuration. */
struct lb_process {
	_Atomic unsigned refs;
	_Atomic uint32_t active; /* sessions in the whole process, for global.max_connections */
	_Atomic uint64_t accept_pauses; /* EMFILE / ENFILE / ENOBUFS / ENOMEM on accept */
	_Atomic uint64_t limit_pauses;  /* global max_connections reached */

	/*
	 * Called (from any thread, under no lock) when a backend turned dead: the owner of the
	 * workers asks them to close that backend's sessions.
	 */
	void (*on_dead)(void *arg);
	void *on_dead_arg;
	/*
	 * Called (any thread, maybe under a service lock) after the operator changed a runtime
	 * weight: the owner of the workers has them apply it now rather than at their next look.
	 */
	void (*on_weights)(void *arg);
	void *on_weights_arg;
	/* Called (any thread, maybe under a service lock) after lb_service_state.changes moved. */
	void (*on_change)(void *arg);
	void *on_change_arg;

	/*
	 * The socket of every started listener of every worker, TCP (lb/listener.c) and udp
	 * (lb/udp_listener.c), linked from start to close, so that an upgrade can hand them over
	 * (runtime_socks_dup).
	 */
	pthread_mutex_t listen_lock;
	struct lb_sock *socks;
};

/* A listening socket as an upgrade hands it over; embedded in its listener. */
struct lb_sock {
	struct lb_sock *next, **pprev; /* in proc->socks, under proc->listen_lock */
	struct lb_process *proc;       /* NULL: not linked */
	int fd;
	enum inherited_kind kind; /* INHERITED_LISTEN or INHERITED_UDP */
	struct addr addr;
};

/* Links s (fd, kind and addr set) into p's sockets; unlinks it (no-op when not linked). */
void runtime_sock_link(struct lb_process *p, struct lb_sock *s);
void runtime_sock_unlink(struct lb_sock *s);

/*
 * Any thread: close-on-exec duplicates of p's sockets (at most cap, into v, with their kind
 * and address), for an upgrade to hand over; the listeners keep theirs. Returns how many;
 * *total is how many there are, *err the last dup failure or 0.
 */
size_t runtime_socks_dup(
	struct lb_process *p, struct lb_sock *v, size_t cap, size_t *total, int *err);

/*
 * A generation: one loaded configuration and the structure built from it, never changed after
 * it is built. A reload builds the next one; threads switch to it at their own pace, and the
 * old one is freed when the last holder (thread or session) puts it.
 */
struct lb_runtime {
	struct conf *conf;
	struct lb_service *services;
	size_t nservices;
	uint64_t generation; /* 1 for the configuration anylb started with */
	/* The runtime backends conf was built with (conf/overlay.h), settled; for the snapshot. */
	struct overlay overlay;
	struct lb_process *proc;
	_Atomic unsigned refs;
};

/* Takes ownership of conf. Returns NULL when out of memory (conf is then freed). */
struct lb_runtime *runtime_new(struct conf *conf);

/*
 * The generation after prev for conf (taken, freed on failure): services with the same name and
 * backends with the same service and address share prev's state objects; the process state is
 * shared. NULL when out of memory.
 */
struct lb_runtime *runtime_next(struct lb_runtime *prev, struct conf *conf);

/*
 * ss's lock held. Remembers bs (one more reference) as removed at address, while it has
 * sessions; out of memory it is just not shown. runtime_retired_prune() forgets those whose
 * sessions all ended.
 */
void runtime_retired_add(
	struct lb_service_state *ss, struct lb_backend_state *bs, const char *address);
void runtime_retired_prune(struct lb_service_state *ss);

/* Bumps svc's `changes` and tells the process (on_change). Any thread. */
void runtime_service_changed(struct lb_service *svc);

/* Reference counting; the creator holds the first reference. Any thread. */
struct lb_runtime *runtime_get(struct lb_runtime *rt);
void runtime_put(struct lb_runtime *rt);

/* The outlier detector's settings for a service. */
struct outlier_conf runtime_outlier_conf(const struct conf_service *sc);

/* The service named name in rt, or NULL. */
struct lb_service *runtime_service(struct lb_runtime *rt, const char *name);

/* The service of rt whose shared state is st (the same service across a reload), or NULL. */
struct lb_service *runtime_service_by_state(
	struct lb_runtime *rt, const struct lb_service_state *st);

/* The backend of svc whose shared state is st, or NULL. */
struct lb_backend *runtime_backend_by_state(
	const struct lb_service *svc, const struct lb_backend_state *st);

/* Takes ownership of conf. Returns NULL when out of memory (conf is then freed). */
struct lb_runtime *runtime_new(struct conf *conf);

/* Resolves global.workers: auto (0) is one per online CPU. */
unsigned runtime_workers(const struct lb_runtime *rt);

#endif
