/*
 * DOC: anylb, the program
 *
 * Parses the command line, loads the configuration, binds every listener in every worker
 * before any thread runs (so a port in use is an error at start, not a surprise later), then
 * runs the workers and waits for signals on the main thread's default loop.
 *
 * SIGTERM and SIGINT run the stop of lb/shutdown.c (withdraw, grace, drain, exit 0); the
 * heartbeat for the watchdog runs on its own thread (lb/heartbeat.c). Callbacks reach the
 * process's state through their argument, never through the one static instance.
 */
#include "conf/conf.h"
#include "conf/overlay.h"
#include "conf/resolved.h"
#include "bgp/watchdog.h"
#include "lb/logs.h"
#include "lb/names.h"
#include "lb/admin.h"
#include "lb/announcer.h"
#include "lb/heartbeat.h"
#include "lb/inherited.h"
#include "lb/listener.h"
#include "lb/monitor.h"
#include "lb/prepare.h"
#include "lb/handoff.h"
#include "lb/privdrop.h"
#include "lb/reload.h"
#include "lb/runtime.h"
#include "lb/shutdown.h"
#include "lb/snapshot.h"
#include "lb/state_file.h"
#include "lb/successor.h"
#include "lb/udp_listener.h"
#include "lb/upgrade.h"
#include "lb/worker.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/readfile.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long a stop waits for the monitor to confirm the withdraw before draining anyway. */
#define WITHDRAW_WAIT 3.0

/*
 * Signals the documentation gives no meaning. Their default action would end the process at
 * once, with no withdraw and no drain: each is logged and otherwise ignored. (SIGPIPE is ignored
 * outright; faults such as SIGSEGV and SIGABRT keep their default: nothing sane follows them.)
 */
static const int ignored_signals[] = {
	SIGALRM,
	SIGQUIT,
	SIGVTALRM,
	SIGPROF,
	SIGPOLL,
	SIGPWR,
	SIGXCPU,
	SIGXFSZ,
	SIGSTKFLT,
};
#define NIGNORED (sizeof(ignored_signals) / sizeof(ignored_signals[0]))

struct anylb {
	struct ev_loop *loop;
	struct lb_runtime *rt;
	struct worker *workers;
	unsigned nworkers;
	struct monitor *monitor;
	struct admin *admin;
	struct announcer *ann; /* borrowed: the monitor owns it */
	struct heartbeat *hb;  /* its own thread (lb/heartbeat.c) */
	/* Who hears of service changes (lb_process.on_change), under its lock: NULL at exit. */
	pthread_mutex_t change_lock;
	struct monitor *change_monitor;
	ev_async rearm; /* the heartbeat found the watchdog gone */
	unsigned rearm_failures;
	struct shutdown stop;       /* lb/shutdown.c */
	struct upgrade up;          /* lb/upgrade.c: this process handing over to a new one */
	struct successor *succ;     /* lb/successor.c: this process taking over; NULL if not */
	struct lb_handoff *handoff; /* lb/handoff.c: the flow hand-off, whatever its state */
	ev_signal sigterm, sigint, sighup, sigusr1, sigusr2;
	ev_signal ignored[NIGNORED];
	ev_async worker_done;
	_Atomic unsigned ndone;
	struct reload_record reloads;
	/* lb/state_file.c: --state-file (or NULL: global.state_file), and its writer */
	const char *state_path;
	struct state_file *state;
	struct snapshot *up_first; /* upgrade, old side: the state as handed over at HELLO */
	struct overlay overlay;    /* runtime backends (conf/overlay.h): main thread */
	struct names *names;       /* backends by name (lb/names.h): main thread */
};

/* How long start-up may spend looking names up before it serves. */
#define NAMES_START_BUDGET_MS 3000

static struct anylb anylb;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anylb [-t] [--state-file PATH] -c FILE\n"
		"       anylb -V | --version | -h | --help\n"
		"\n"
		"  -c FILE  run with the YAML configuration FILE, in the foreground, logging to\n"
		"           stderr (or where global.log.target says)\n"
		"  -t       only check FILE: exit 0 if valid, 1 with one FILE:LINE:COL: message\n"
		"           line per problem if not\n"
		"  --state-file PATH\n"
		"           keep drains, anycast overrides and health verdicts in PATH across\n"
		"           restarts (instead of global.state_file; see README.md)\n"
		"  -V, --version\n"
		"           print the version and exit\n"
		"  -h, --help\n"
		"           print this help and exit\n"
		"\n"
		"Signals: SIGTERM or SIGINT stop accepting and let sessions finish for up to\n"
		"global.drain_timeout, then exit 0. SIGHUP reloads FILE: if it is valid, the\n"
		"new configuration applies without closing listeners or cutting sessions; if\n"
		"not, the errors are logged and the running configuration stays. SIGUSR2\n"
		"upgrades in place, as `anylbctl upgrade` does: the binary this process was\n"
		"started from is started again with the same arguments and takes over the\n"
		"listening sockets; this process then drains and exits 0 (if the new one fails,\n"
		"this one goes on serving). SIGUSR1 reopens the log files (global.log.path,\n"
		"global.access_log.path), for logrotate. Other signals that would end a\n"
		"process (SIGALRM, SIGQUIT, ...) are logged and ignored.\n"
		"\n"
		"Only one anylb runs per admin socket: a second one refuses to start and names\n"
		"the running pid. ANYLB_UPGRADE_FD in the environment is for the upgrade only.\n"
		"\n"
		"-t opens what the file names (CA files, the admin token file) as start-up does;\n"
		"it does not bind listeners or drop privileges (docs/CONFIG.md).\n");
}

/* Called on a worker's thread when it has finished: wake the main loop. */
static void on_worker_done(struct worker *w, void *arg)
{
	struct anylb *a = arg;
	(void)w;

	atomic_fetch_add(&a->ndone, 1);
	ev_async_send(a->loop, &a->worker_done);
}

/* A backend went dead: every worker closes that backend's sessions. Any thread. */
static void on_backend_dead(void *arg)
{
	struct anylb *a = arg;

	for (unsigned i = 0; i < a->nworkers; i++)
		worker_command(&a->workers[i], WORKER_CMD_SWEEP);
}

/* An operator's runtime weight: every worker applies it now. Any thread. */
static void on_backend_weights(void *arg)
{
	struct anylb *a = arg;

	for (unsigned i = 0; i < a->nworkers; i++)
		worker_command(&a->workers[i], WORKER_CMD_WEIGHTS);
}

/* A service's backends or listeners changed. Any thread, maybe under a service lock. */
static void on_service_change(void *arg)
{
	struct anylb *a = arg;

	pthread_mutex_lock(&a->change_lock);
	if (a->change_monitor != NULL)
		monitor_changed(a->change_monitor);
	if (a->change_monitor != NULL)
		state_file_changed(a->state); /* written on the main loop (lb/state_file.c) */
	pthread_mutex_unlock(&a->change_lock);
}

static void worker_done_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct anylb *a = container_of(as, struct anylb, worker_done);
	(void)loop;
	(void)revents;

	if (atomic_load(&a->ndone) == a->nworkers)
		shutdown_workers_done(&a->stop);
}

/*
 * The heartbeat thread found the watchdog gone: our loops stalled past watchdog_timeout
 * (stopped?) and it withdrew everything. Recreate the interface here, where the announcer was
 * made; the heartbeat beats the new watchdog, or asks again a period later.
 */
static void rearm_cb(struct ev_loop *loop, ev_async *as, int revents)
{
	struct anylb *a = container_of(as, struct anylb, rearm);
	(void)loop;
	(void)revents;

	if (a->up.state == UPGRADE_HANDED_OVER)
		return; /* the successor holds the interface now */
	if (a->rearm_failures++ == 0)
		log_error("the watchdog is gone, every prefix was withdrawn: recreating the "
			  "interface");
	int rc = announcer_rearm(a->ann);
	if (rc < 0 && a->rearm_failures == 1)
		log_warn("cannot recreate the interface yet (%s): retrying", strerror(-rc));
	if (rc == 0)
		a->rearm_failures = 0;
	heartbeat_set_fd(a->hb, announcer_watchdog_fd(a->ann));
}

/* On the heartbeat's thread. */
static void on_watchdog_gone(void *arg)
{
	struct anylb *a = arg;
	ev_async_send(a->loop, &a->rearm);
}

/* ---- the state file's view of the announcer (lb/state_file.c) ---- */

static int state_get_override(void *arg, const char *service, int *drained)
{
	struct anylb *a = arg;
	struct announcer_status st;

	*drained = 0;
	if (announcer_status(a->ann, service, &st) < 0)
		return SNAP_NO_OVERRIDE;
	*drained = st.drained;
	return st.override;
}

/* A drained service comes back withdrawn (window 0): it was leaving the set when it stopped. */
static int state_set_override(void *arg, const char *service, int override, int drained)
{
	struct anylb *a = arg;
	int rc = 0;

	if (override > ANYCAST_OVERRIDE_NONE)
		rc = announcer_override(a->ann, service, override);
	if (rc == 0 && drained)
		rc = announcer_drain(a->ann, service, 1, 0);
	return rc;
}

/* ---- the stop's hooks (lb/shutdown.c) ---- */

/* On the monitor thread, once every prefix is withdrawn. */
static void on_withdrawn(void *arg)
{
	struct anylb *a = arg;
	shutdown_withdrawn(&a->stop);
}

static void stop_withdraw(void *arg)
{
	struct anylb *a = arg;
	monitor_withdraw_all(a->monitor, on_withdrawn, a);
}

static void stop_drain(void *arg)
{
	struct anylb *a = arg;

	/* Draining workers finish and stop turning: no reason for the heartbeat to stop. */
	heartbeat_draining(a->hb);
	for (unsigned i = 0; i < a->nworkers; i++)
		worker_command(&a->workers[i], WORKER_CMD_DRAIN);
}

static void stop_force(void *arg)
{
	struct anylb *a = arg;
	for (unsigned i = 0; i < a->nworkers; i++)
		worker_command(&a->workers[i], WORKER_CMD_FORCE);
}

static struct shutdown_times stop_times(const struct anylb *a)
{
	const struct conf *c = a->rt->conf;
	int anycast = 0;

	for (size_t i = 0; i < c->nservices; i++)
		anycast |= c->services[i].anycast.enabled;
	struct shutdown_times t = {
		.withdraw_wait = WITHDRAW_WAIT,
		.grace = anycast ? (double)c->bgp.shutdown_grace_ms / 1000.0 : 0,
		.drain = (double)c->global.drain_timeout_ms / 1000.0,
	};
	return t;
}

static void stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct anylb *a = sig->data;
	(void)loop;
	(void)revents;

	if (a->up.state == UPGRADE_STARTING || a->up.state == UPGRADE_HANDING_OVER)
		log_info("stopping: the upgrade under way is abandoned");
	upgrade_destroy(&a->up);
	struct shutdown_times t = stop_times(a);
	shutdown_begin(&a->stop, sig->signum, &t);
}

/* ---- the upgrade's hooks (lb/upgrade.c: this process hands over to a new one) ---- */

/* Every started listener's socket and the admin sockets, duplicated. */
static struct upgrade_fd *upgrade_collect(void *arg, size_t *n, int *err)
{
	struct anylb *a = arg;
	size_t total = 0, cap;

	*n = 0;
	runtime_socks_dup(a->rt->proc, NULL, 0, &total, err);
	cap = total + 16;
	struct lb_sock *socks = calloc(cap, sizeof(*socks));
	struct upgrade_fd *v = calloc(cap + 2, sizeof(*v));
	if (socks == NULL || v == NULL) {
		*err = -ENOMEM;
		goto fail;
	}
	size_t k = runtime_socks_dup(a->rt->proc, socks, cap, &total, err);
	for (size_t i = 0; i < k; i++) {
		v[i].fd = socks[i].fd;
		v[i].kind = socks[i].kind;
		addr_format(&socks[i].addr, v[i].what, sizeof(v[i].what));
	}
	*n = k;
	if (*err < 0 || k < total) {
		*err = *err < 0 ? *err : -EAGAIN; /* a reload is being applied: try again */
		goto fail;
	}
	int ufd, tfd;
	if ((*err = admin_dup_listeners(a->admin, &ufd, &tfd)) < 0)
		goto fail;
	const struct conf_admin *ca = &a->rt->conf->global.admin;
	struct upgrade_fd *u = &v[*n];
	if (ufd >= 0) {
		*u = (struct upgrade_fd){.fd = ufd, .kind = INHERITED_ADMIN_UNIX};
		snprintf(u++->what, sizeof(v->what), "%s", ca->socket);
	}
	if (tfd >= 0) {
		*u = (struct upgrade_fd){.fd = tfd, .kind = INHERITED_ADMIN_TCP};
		snprintf(u++->what, sizeof(v->what), "%s", ca->listen);
	}
	*n = (size_t)(u - v);
	free(socks);
	return v;
fail:
	for (size_t i = 0; v != NULL && i < *n; i++)
		close(v[i].fd);
	*n = 0;
	free(socks);
	free(v);
	return NULL;
}

static void upgrade_handed_over(void *arg, pid_t successor)
{
	struct anylb *a = arg;

	/* systemd: the successor is the service's main process now (NotifyAccess=main). */
	sd_notifyf(0, "MAINPID=%ld\nSTATUS=handed over to pid %ld, draining", (long)successor,
		(long)successor);
	heartbeat_handed_over(a->hb); /* before the announcer stops the watchdog it beats */
	announcer_handed_over(a->ann);
	lb_handoff_handed_over(a->handoff);
	admin_handed_over(a->admin);
	struct shutdown_times t = stop_times(a);
	shutdown_handover(&a->stop, &t);
}

static char *snapshot_text(struct snapshot *sn, size_t *len)
{
	char *buf = NULL;

	if (snapshot_format(sn, &buf, len) < 0) {
		log_error("upgrade: out of memory: the successor starts without the state");
		return NULL;
	}
	return buf;
}

/* At HELLO: the whole state (health, drains, overrides, counters), kept for counted_since. */
static char *upgrade_state(void *arg, size_t *len)
{
	struct anylb *a = arg;

	*len = 0;
	if (a->up_first != NULL) {
		snapshot_free(a->up_first);
		free(a->up_first);
	}
	a->up_first = calloc(1, sizeof(*a->up_first));
	if (a->up_first == NULL || snapshot_take(a->rt, state_get_override, a, clock_wall_ms(),
					   clock_ms(), a->up_first) < 0) {
		free(a->up_first);
		a->up_first = NULL;
		log_error("upgrade: out of memory: the successor starts without the state");
		return NULL;
	}
	return snapshot_text(a->up_first, len);
}

/* The announcement, for the successor (NULL without bgp). */
static char *upgrade_anycast(void *arg, size_t *len)
{
	struct anylb *a = arg;
	return announcer_hand_over(a->ann, len);
}

/* The attempt failed: what the successor may have applied before it went is undone. */
static void upgrade_failed(void *arg)
{
	struct anylb *a = arg;
	announcer_reassert(a->ann);
	lb_handoff_reclaim(a->handoff);
}

/* After the handover: what was counted here since upgrade_state. */
static char *upgrade_counted_since(void *arg, size_t *len)
{
	struct anylb *a = arg;
	struct snapshot now;
	char *text = NULL;

	*len = 0;
	if (a->up_first == NULL)
		return NULL;
	if (snapshot_take(a->rt, state_get_override, a, clock_wall_ms(), clock_ms(), &now) == 0) {
		snapshot_counters_since(&now, a->up_first);
		text = snapshot_text(&now, len);
		snapshot_free(&now);
	}
	snapshot_free(a->up_first);
	free(a->up_first);
	a->up_first = NULL;
	return text;
}

/* The successor: what the old process handed over (what: SNAP_*). */
static void apply_handover_state(const char *text, size_t len, unsigned what)
{
	struct snapshot sn;
	struct snapshot_applied res = {0};
	char err[256];

	if (snapshot_parse(text, len, &sn, err, sizeof(err)) < 0) {
		log_error("upgrade: the state handed over is unreadable (%s): starting without it",
			err);
		return;
	}
	snapshot_apply(anylb.rt, &sn, what, clock_wall_ms(), clock_ms(), UINT64_MAX,
		state_set_override, &anylb, &res);
	if (what & SNAP_HEALTH)
		log_info("upgrade: state taken over: %zu health verdicts, %zu drains, %zu "
			 "maints, %zu runtime weights, %zu overrides, counters of %zu services "
			 "and backends",
			res.verdicts, res.drains, res.maints, res.weights, res.overrides,
			res.counters);
	snapshot_free(&sn);
}

/* POST /upgrade and SIGUSR2. */
static int upgrade(void *arg, const char *binary, char *msg, size_t cap)
{
	struct anylb *a = arg;

	if (shutdown_state(&a->stop) != SHUTDOWN_RUNNING) {
		snprintf(msg, cap, "this process is stopping (%s): no upgrade",
			shutdown_state_name(shutdown_state(&a->stop)));
		return -EBUSY;
	}
	return upgrade_start(&a->up, binary, msg, cap);
}

static char *upgrade_status(void *arg)
{
	struct anylb *a = arg;
	return upgrade_status_json(&a->up);
}

static void usr2_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	char msg[1024];
	(void)loop;
	(void)revents;

	log_info("SIGUSR2: upgrading");
	if (upgrade(sig->data, NULL, msg, sizeof(msg)) < 0)
		log_error("upgrade: %s", msg);
}

/* SIGHUP and POST /reload. */
static int reload(void *arg, char *msg, size_t cap)
{
	struct anylb *a = arg;
	struct reload_targets t = {
		.rt = &a->rt,
		.workers = a->workers,
		.nworkers = a->nworkers,
		.monitor = a->monitor,
		.admin = a->admin,
		.stopping = shutdown_state(&a->stop) != SHUTDOWN_RUNNING,
		.overlay = &a->overlay,
		.resolved = a->names != NULL ? names_resolved(a->names) : NULL,
	};

	sd_notify(0, "RELOADING=1");
	int rc = reload_apply(&t, &a->reloads, msg, cap);
	if (rc == 0 && a->names != NULL)
		names_sync(a->names, a->rt->conf); /* new NAME:PORT entries: looked up now */
	sd_notifyf(0, "READY=1\nSTATUS=%s, generation %llu",
		rc == 0 ? "reloaded" : "reload failed, running the previous configuration",
		(unsigned long long)a->rt->generation);
	return rc;
}

/*
 * POST /services/NAME/backends and .../remove: the change is tried on a copy of the overlay
 * through a reload; only a generation in force keeps it.
 */
static int backends(void *arg, int remove, const char *service, const char *address,
	unsigned weight, const char *zone, char *msg, size_t cap)
{
	struct anylb *a = arg;
	struct overlay next;
	int rc;

	msg[0] = '\0';
	if (overlay_copy(&a->overlay, &next) < 0)
		return -ENOMEM;
	rc = remove ? overlay_remove(&next, service, address, msg, cap)
		    : overlay_add(&next, service, address, weight, zone, msg, cap);
	if (rc == 0) {
		struct overlay prev = a->overlay;
		a->overlay = next;
		rc = reload(a, msg, cap);
		if (rc < 0) {
			next = a->overlay;
			a->overlay = prev;
		} else {
			next = prev;
		}
	}
	overlay_free(&next);
	if (rc == 0)
		state_file_changed(a->state);
	return rc;
}

static void usr1_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	(void)loop;
	(void)sig;
	(void)revents;
	logs_reopen();
}

static void hup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	char msg[4096];
	(void)loop;
	(void)revents;
	log_info("SIGHUP: reloading");
	reload(sig->data, msg, sizeof(msg));
}

/* The errors as conf_errs_print writes them, into why (an upgrade's FAIL says them). */
static void errs_text(const struct conf_errs *errs, char *why, size_t cap)
{
	int fd = memfd_create("anylb-errors", MFD_CLOEXEC);

	why[0] = '\0';
	if (fd < 0)
		return;
	conf_errs_print(errs, fd);
	ssize_t n = pread(fd, why, cap - 1, 0);
	why[n > 0 ? n : 0] = '\0';
	close(fd);
}

/*
 * Loads file into a generation with everything it names opened (lb/prepare.c): what `-t` and
 * start-up both do, so that they accept the same files. NULL after printing the errors (and
 * copying them into why, when not NULL).
 */
static struct lb_runtime *load(
	const char *file, const struct resolved *names, struct overlay *o, char *why, size_t cap)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	struct lb_runtime *rt = NULL;
	int rc = conf_load(file, &c, &errs);

	/* The answers first: a runtime remove-backend may name a resolved address. */
	if (rc == 0 && names != NULL)
		rc = resolved_apply(names, c);
	if (rc == 0 && o != NULL && o->n > 0)
		rc = overlay_apply(o, c, &errs);
	if (rc < 0) {
		conf_free(c);
		c = NULL;
	}
	if (rc == 0 && (rt = runtime_new(c)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && o != NULL) {
		overlay_settle(o);
		rc = overlay_copy(o, &rt->overlay);
	}
	if (rc == 0 && (rc = runtime_prepare(rt, &errs)) == 0)
		rc = prepare_process(rt->conf, &errs);
	if (rc < 0) {
		conf_errs_print(&errs, STDERR_FILENO);
		if (why != NULL)
			errs_text(&errs, why, cap);
		if (rc == -ENOMEM)
			fprintf(stderr, "%s: out of memory\n", file);
		if (why != NULL && rc == -ENOMEM && why[0] == '\0')
			snprintf(why, cap, "%s: out of memory", file);
		runtime_put(rt);
		rt = NULL;
	}
	conf_errs_free(&errs);
	return rt;
}

static void ignored_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	(void)loop;
	(void)revents;
	log_warn("signal %d (%s) has no meaning for anylb: ignored", sig->signum,
		sigabbrev_np(sig->signum));
}

static int check_only(const char *file)
{
	struct lb_runtime *rt = load(file, NULL, NULL, NULL, 0);

	if (rt == NULL)
		return 1;
	fprintf(stderr, "%s: configuration is valid\n", file);
	runtime_put(rt);
	return 0;
}

/*
 * Another anylb answering on our admin socket: refuse, naming it. (An upgrade's successor
 * inherits that socket instead.) Without an admin socket, the listeners' probe bind refuses.
 */
static int refuse_second_instance(const struct conf *c)
{
	const struct conf_admin *ca = &c->global.admin;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ucred cr = {0};
	socklen_t l = sizeof(cr);

	if (!ca->enabled || strlen(ca->socket) >= sizeof(sun.sun_path))
		return 0;
	memcpy(sun.sun_path, ca->socket, strlen(ca->socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int rc = connect(fd, (const struct sockaddr *)&sun, sizeof(sun));
	if (rc < 0 && errno != EAGAIN) {
		close(fd);
		return 0; /* nobody there (a stale file is admin.c's to remove) */
	}
	if (rc == 0)
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l);
	close(fd);
	char pid[32] = "";
	if (cr.pid > 0)
		snprintf(pid, sizeof(pid), " (pid %ld)", (long)cr.pid);
	log_error("another anylb%s runs with the admin socket %s: not starting a second one; "
		  "stop it first, or replace it with `anylbctl upgrade`",
		pid, ca->socket);
	return -EADDRINUSE;
}

/* An upgrade's successor: systemd's watchdog was meant for the old process; it is ours now. */
static void take_over_sd_watchdog(pid_t previous)
{
	const char *w = getenv("WATCHDOG_PID");
	char me[32];

	if (w == NULL || atol(w) != (long)previous)
		return;
	snprintf(me, sizeof(me), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", me, 1);
}

/* An upgrade's successor: more inherited sockets of an address than workers take, spread. */
static int adopt_extra_listeners(struct inherited *in)
{
	const struct conf *c = anylb.rt->conf;
	size_t k = 0;

	for (size_t i = 0; in != NULL && i < c->nservices; i++) {
		for (size_t j = 0; j < c->services[i].nlisten; j++) {
			const struct conf_listen *lc = &c->services[i].listen[j];
			int fd;
			if (lc->proto == CONF_PROTO_UDP) {
				while ((fd = inherited_take(in, INHERITED_UDP, &lc->addr)) >= 0)
					if (worker_adopt_udp(&anylb.workers[k++ % anylb.nworkers],
						    &anylb.rt->services[i], lc, fd) < 0)
						return -ENOMEM;
				continue;
			}
			while ((fd = inherited_take(in, INHERITED_LISTEN, &lc->addr)) >= 0)
				if (worker_adopt_listener(&anylb.workers[k++ % anylb.nworkers],
					    &anylb.rt->services[i], lc, fd) < 0)
					return -ENOMEM;
		}
	}
	return 0;
}

/*
 * At start, before anything uses the generation: the runtime backends that the state (handed
 * over by an upgrade, else the state file) says the last process ran with. When there are any,
 * the first generation is built again from the file plus them; a file that adopted them, or no
 * longer has their service, settles them as a reload would. When the file no longer takes them
 * (a service would be left without a backend), the file's alone runs and they are dropped.
 */
static void restore_overlay(
	const char *file, const char *handed, size_t handed_len, char *why, size_t cap)
{
	const char *path =
		anylb.state_path != NULL ? anylb.state_path : anylb.rt->conf->global.state_file;
	char *buf = NULL, err[256];
	size_t len = handed_len;
	struct snapshot sn;
	mode_t mode;

	if (handed == NULL) {
		if (path == NULL || readfile_regular(path, SNAP_MAX_BYTES, &buf, &len, &mode) < 0)
			return; /* state_file_restore() says why */
		handed = buf;
	}
	int rc = snapshot_parse(handed, len, &sn, err, sizeof(err));
	free(buf);
	if (rc < 0 || sn.overlay.n == 0) {
		if (rc == 0)
			snapshot_free(&sn);
		return;
	}
	overlay_free(&anylb.overlay);
	anylb.overlay = sn.overlay;
	sn.overlay = (struct overlay){0};
	snapshot_free(&sn);
	size_t n = anylb.overlay.n;
	struct lb_runtime *rt = load(file, names_resolved(anylb.names), &anylb.overlay, why, cap);
	if (rt == NULL) {
		/* The file alone was valid: it runs, and the saved changes are dropped. */
		log_warn("the %zu runtime backend change%s saved in the state cannot apply to %s "
			 "(%.*s): starting with the file's backends",
			n, n == 1 ? "" : "s", file, (int)strcspn(why, "\n"), why);
		overlay_free(&anylb.overlay);
		why[0] = '\0';
		return;
	}
	runtime_put(anylb.rt);
	anylb.rt = rt;
	log_info("restored %zu runtime backend change%s (add-backend, remove-backend); %zu kept "
		 "after the file's",
		n, n == 1 ? "" : "s", anylb.overlay.n);
}

/* A change in a name's answer: applied as a reload (lb/names.h). */
static int names_apply(void *arg, char *msg, size_t cap)
{
	return reload(arg, msg, cap);
}

/*
 * At start, before anything serves: every NAME:PORT entry looked up once (bounded), and the
 * first generation built again with the answers. A name without one starts with no backends.
 */
static int start_names(const char *file)
{
	struct names_hooks nh = {.apply = names_apply, .arg = &anylb};
	char why[4096];

	anylb.names = names_new(anylb.loop, &nh);
	if (anylb.names == NULL) {
		log_error("out of memory");
		return -1;
	}
	if (names_resolve_now(anylb.names, anylb.rt->conf, NAMES_START_BUDGET_MS) == 0)
		return 0;
	struct lb_runtime *rt = load(file, names_resolved(anylb.names), NULL, why, sizeof(why));
	if (rt == NULL) {
		log_warn("the names' answers cannot apply (%.*s): starting without them",
			(int)strcspn(why, "\n"), why);
		return 0;
	}
	runtime_put(anylb.rt);
	anylb.rt = rt;
	return 0;
}

static int run(const char *file, char *const *argv)
{
	int status = 1;
	struct inherited *in = NULL;
	struct announcer *ann = NULL;
	char why[8192] = "";
	struct successor_texts handed = {
		0};                /* an upgrade's successor: what came with the sockets */
	char *handed_state = NULL; /* ... and what was counted since */
	size_t handed_len = 0;

	pthread_mutex_init(&anylb.change_lock, NULL);
	if (successor_open(&anylb.succ) < 0)
		return 1;
	anylb.rt = load(file, NULL, NULL, why, sizeof(why));
	if (anylb.rt == NULL) {
		successor_fail(anylb.succ, why[0] != '\0' ? why : "invalid configuration");
		successor_free(anylb.succ);
		return 1;
	}
	const struct conf *c = anylb.rt->conf;
	if (logs_apply(c, why, sizeof(why)) < 0) {
		log_error("%s", why);
		successor_fail(anylb.succ, why);
		successor_free(anylb.succ);
		runtime_put(anylb.rt);
		return 1;
	}

	/* A peer that closes while we write must give EPIPE, not kill the process. */
	signal(SIGPIPE, SIG_IGN);

	if (anylb.succ != NULL) {
		pid_t prev = successor_previous(anylb.succ);
		log_info("upgrade: taking over from pid %ld", (long)prev);
		take_over_sd_watchdog(prev);
		in = inherited_new();
		if (in == NULL) {
			snprintf(why, sizeof(why), "out of memory");
			goto out;
		}
		if (successor_receive(anylb.succ, in, &handed, why, sizeof(why)) < 0) {
			log_error("upgrade: %s", why);
			goto out;
		}
	} else if (refuse_second_instance(c) < 0) {
		goto out;
	}
	anylb.loop = ev_default_loop(EVFLAG_AUTO);
	if (start_names(file) < 0)
		goto out;
	restore_overlay(file, handed.state, handed.state_len, why, sizeof(why));
	c = anylb.rt->conf;

	/* Before any thread: interface mode forks the watchdog. */
	int aerr;
	ann = announcer_new(anylb.rt, handed.anycast, &aerr);
	if (ann == NULL && aerr != 0)
		goto out;
	free(handed.anycast);
	handed.anycast = NULL;
	successor_step(anylb.succ, "attached");
	int watchdog_fd = announcer_watchdog_fd(ann);
	/* Before the privileges drop (CAP_BPF, CAP_NET_ADMIN); never fatal. */
	anylb.handoff = lb_handoff_start(c, anylb.loop);
	if (anylb.handoff == NULL)
		goto out;
	anylb.ann = ann;
	anylb.nworkers = runtime_workers(anylb.rt);
	anylb.workers = calloc(anylb.nworkers, sizeof(*anylb.workers));
	if (anylb.workers == NULL) {
		log_error("out of memory");
		goto out;
	}
	for (unsigned i = 0; i < anylb.nworkers; i++) {
		if (worker_init(&anylb.workers[i], i, anylb.rt, in) < 0)
			goto out;
		anylb.workers[i].on_done = on_worker_done;
		anylb.workers[i].on_done_arg = &anylb;
	}
	if (adopt_extra_listeners(in) < 0) {
		log_error("out of memory");
		goto out;
	}

	anylb.rt->proc->on_dead = on_backend_dead;
	anylb.rt->proc->on_dead_arg = &anylb;
	anylb.rt->proc->on_weights = on_backend_weights;
	anylb.rt->proc->on_weights_arg = &anylb;
	anylb.rt->proc->on_change = on_service_change;
	anylb.rt->proc->on_change_arg = &anylb;
	anylb.monitor = monitor_new(anylb.rt, ann);
	ann = NULL; /* the monitor's now, even on failure */
	if (anylb.monitor == NULL)
		goto out;
	anylb.change_monitor = anylb.monitor;
	/* Saved drains, overrides and verdicts: restored before the monitor's checks start. */
	struct state_file_conf sfc = {.loop = anylb.loop,
		.rt = &anylb.rt,
		.path = anylb.state_path,
		.get = state_get_override,
		.set = state_set_override,
		.arg = &anylb};
	anylb.state = state_file_new(&sfc);
	/* An upgrade hands over the running state: newer than any file. */
	if (handed.state != NULL)
		apply_handover_state(handed.state, handed.state_len,
			SNAP_OPERATOR | SNAP_HEALTH | SNAP_TRANSIENT | SNAP_COUNTERS);
	else
		state_file_restore(anylb.state);
	free(handed.state);
	handed.state = NULL;
	struct admin_hooks hooks = {
		.reload = reload,
		.backends = backends,
		.arg = &anylb,
		.record = &anylb.reloads,
		.upgrade = upgrade,
		.upgrade_status = upgrade_status,
		.handoff = anylb.handoff,
		.resolved = names_resolved(anylb.names),
		.inherited = in,
	};
	int adm_err;
	anylb.admin = admin_new(anylb.loop, anylb.rt, anylb.ann, &hooks, &adm_err);
	if (anylb.admin == NULL && adm_err != 0)
		goto out; /* -EADDRINUSE: another anylb started in the meantime */
	/* What the new configuration does not listen on any more goes now. */
	inherited_free(in);
	in = NULL;
	struct upgrade_hooks uh = {
		.collect = upgrade_collect,
		.anycast = upgrade_anycast,
		.state = upgrade_state,
		.failed = upgrade_failed,
		.handed_over = upgrade_handed_over,
		.counted_since = upgrade_counted_since,
		.arg = &anylb,
	};
	upgrade_init(&anylb.up, anylb.loop, &uh, argv,
		anylb.succ != NULL ? successor_previous(anylb.succ) : 0, privdrop_needed_caps(c));
	/* Set up: become global.user before any thread starts (lb/privdrop.c). */
	if (privdrop_apply(c) < 0)
		goto out;

	struct shutdown_hooks sh = {
		.withdraw = stop_withdraw, .drain = stop_drain, .force = stop_force, .arg = &anylb};
	shutdown_init(&anylb.stop, anylb.loop, &sh);
	ev_async_init(&anylb.rearm, rearm_cb);
	ev_async_start(anylb.loop, &anylb.rearm);
	ev_async_init(&anylb.worker_done, worker_done_cb);
	ev_async_start(anylb.loop, &anylb.worker_done);
	ev_signal_init(&anylb.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&anylb.sigint, stop_cb, SIGINT);
	ev_signal_init(&anylb.sighup, hup_cb, SIGHUP);
	ev_signal_init(&anylb.sigusr1, usr1_cb, SIGUSR1);
	ev_signal_init(&anylb.sigusr2, usr2_cb, SIGUSR2);
	anylb.sigterm.data = anylb.sigint.data = anylb.sighup.data = anylb.sigusr2.data = &anylb;
	ev_signal_start(anylb.loop, &anylb.sigterm);
	ev_signal_start(anylb.loop, &anylb.sigint);
	ev_signal_start(anylb.loop, &anylb.sighup);
	ev_signal_start(anylb.loop, &anylb.sigusr1);
	ev_signal_start(anylb.loop, &anylb.sigusr2);
	for (size_t i = 0; i < NIGNORED; i++) {
		ev_signal_init(&anylb.ignored[i], ignored_cb, ignored_signals[i]);
		ev_signal_start(anylb.loop, &anylb.ignored[i]);
	}

	/*
	 * Workers inherit this mask: signals are for the main thread's loop only. libev's signal
	 * watchers on the default loop unblock them there.
	 */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	for (size_t i = 0; i < NIGNORED; i++)
		sigaddset(&set, ignored_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (unsigned i = 0; i < anylb.nworkers; i++) {
		if (worker_start(&anylb.workers[i]) < 0) {
			log_error("cannot start worker %u", i);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			for (unsigned j = 0; j < i; j++)
				worker_command(
					&anylb.workers[j], WORKER_CMD_DRAIN | WORKER_CMD_FORCE);
			goto out;
		}
	}
	if (names_start(anylb.names) < 0)
		log_error("no resolver thread: names are not looked up again");
	if (monitor_start(anylb.monitor) < 0) {
		log_error("cannot start the monitor thread");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		for (unsigned j = 0; j < anylb.nworkers; j++)
			worker_command(&anylb.workers[j], WORKER_CMD_DRAIN | WORKER_CMD_FORCE);
		goto out;
	}
	/* Heartbeats for our watchdog process and for systemd's, a quarter of the shorter. */
	uint64_t sd_usec = 0;
	double period = 0;
	int sd_watchdog = sd_watchdog_enabled(0, &sd_usec) > 0 && sd_usec > 0;
	if (watchdog_fd >= 0)
		period = (double)c->bgp.watchdog_timeout_ms / 4000.0;
	if (sd_watchdog && (period == 0 || (double)sd_usec / 4e6 < period))
		period = (double)sd_usec / 4e6;
	if (period > 0) {
		struct heartbeat_conf hc = {
			.period = period,
			.wd_fd = watchdog_fd,
			.sd_watchdog = sd_watchdog,
			.workers = anylb.workers,
			.nworkers = anylb.nworkers,
			.monitor = anylb.monitor,
			.gone = watchdog_fd >= 0 ? on_watchdog_gone : NULL,
			.gone_arg = &anylb,
		};
		anylb.hb = heartbeat_start(&hc);
		if (anylb.hb == NULL)
			log_error("cannot start the heartbeat thread: the watchdog will withdraw");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	size_t nlisten = 0;
	for (size_t i = 0; i < c->nservices; i++)
		nlisten += c->services[i].nlisten;
	log_info("anylb %s started: site %s, %u workers, %zu services, %zu listeners",
		ANYLB_VERSION, c->global.site, anylb.nworkers, c->nservices, nlisten);
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];
		for (size_t j = 0; j < s->nlisten; j++)
			log_info("service %s listening on %s, %zu backends, %s", s->name,
				s->listen[j].address, s->nbackends, conf_balance_name(s->balance));
	}

	/* systemd Type=notify: listeners are bound and every thread runs. */
	sd_notifyf(0, "READY=1\nSTATUS=serving %zu services on %u workers\nMAINPID=%lu",
		c->nservices, anylb.nworkers, (unsigned long)getpid());
	if (anylb.succ != NULL) {
		/* What the old one counted meanwhile, added before this one answers anybody. */
		int told = successor_ready(anylb.succ, &handed_state, &handed_len);
		if (told == 0 && handed_state != NULL)
			apply_handover_state(handed_state, handed_len, SNAP_COUNTERS);
		free(handed_state);
		handed_state = NULL;
		upgrade_took_over(&anylb.up);
		log_info("upgrade: serving; pid %ld %s", (long)successor_previous(anylb.succ),
			told == 0 ? "drains and exits" : "is gone");
	}
	ev_run(anylb.loop, 0);
	status = 0;
	state_file_flush(anylb.state);
	log_info("all sessions finished: exiting");
out:
	if (status != 0 && anylb.succ != NULL)
		successor_fail(anylb.succ,
			why[0] != '\0' ? why : "the new process could not start: see its log");
	/* A successor that failed leaves the filters: the old process takes them back. */
	lb_handoff_close(anylb.handoff, status == 0 || anylb.succ == NULL);
	anylb.handoff = NULL;
	successor_free(anylb.succ);
	anylb.succ = NULL;
	inherited_free(in);
	free(handed_state);
	free(handed.state);
	overlay_free(&anylb.overlay);
	free(handed.anycast);
	upgrade_destroy(&anylb.up);
	if (anylb.up_first != NULL) {
		snapshot_free(anylb.up_first);
		free(anylb.up_first);
		anylb.up_first = NULL;
	}
	names_free(anylb.names); /* its hook reloads: it goes while everything is there */
	anylb.names = NULL;
	/* It reads the loops' counters: it goes before them. */
	heartbeat_stop(anylb.hb);
	anylb.hb = NULL;
	admin_free(anylb.admin);
	anylb.admin = NULL;
	announcer_free(ann);
	/* Workers may still report changes: nobody hears them once the monitor goes. */
	pthread_mutex_lock(&anylb.change_lock);
	anylb.change_monitor = NULL;
	pthread_mutex_unlock(&anylb.change_lock);
	/* The monitor may call into the workers (on_dead): it goes first. */
	monitor_free(anylb.monitor);
	anylb.monitor = NULL;
	if (anylb.workers != NULL) {
		for (unsigned i = 0; i < anylb.nworkers; i++)
			worker_destroy(&anylb.workers[i]);
		free(anylb.workers);
	}
	state_file_free(anylb.state); /* every thread that could tell it of a change is gone */
	logs_close();                 /* no worker writes an access line any more */
	runtime_put(anylb.rt);
	shutdown_destroy(&anylb.stop);
	ev_loop_destroy(anylb.loop);
	return status;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	int test = 0, opt;
	static const struct option longopts[] = {
		{"state-file", required_argument, NULL, 'S'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};

	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			anylb.state_path = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("anylb %s\n", ANYLB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (file == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	return test ? check_only(file) : run(file, argv);
}
