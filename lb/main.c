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
#include "bgp/watchdog.h"
#include "lb/admin.h"
#include "lb/announcer.h"
#include "lb/heartbeat.h"
#include "lb/monitor.h"
#include "lb/prepare.h"
#include "lb/privdrop.h"
#include "lb/reload.h"
#include "lb/runtime.h"
#include "lb/shutdown.h"
#include "lb/state_file.h"
#include "lb/worker.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a stop waits for the monitor to confirm the withdraw before draining anyway. */
#define WITHDRAW_WAIT 3.0

/*
 * Signals the documentation gives no meaning. Their default action would end the process at
 * once, with no withdraw and no drain: each is logged and otherwise ignored. (SIGPIPE is ignored
 * outright; faults such as SIGSEGV and SIGABRT keep their default: nothing sane follows them.)
 */
static const int ignored_signals[] = {
	SIGUSR1,
	SIGUSR2,
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
	struct shutdown stop; /* lb/shutdown.c */
	ev_signal sigterm, sigint, sighup;
	ev_signal ignored[NIGNORED];
	ev_async worker_done;
	_Atomic unsigned ndone;
	struct reload_record reloads;
	/* lb/state_file.c: --state-file (or NULL: global.state_file), and its writer */
	const char *state_path;
	struct state_file *state;
};

static struct anylb anylb;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anylb [-t] [--state-file PATH] -c FILE\n"
		"       anylb -V | -h\n"
		"\n"
		"  -c FILE  run with the YAML configuration FILE, in the foreground, logging to\n"
		"           stderr\n"
		"  -t       only check FILE: exit 0 if valid, 1 with one FILE:LINE:COL: message\n"
		"           line per problem if not\n"
		"  --state-file PATH\n"
		"           keep drains, anycast overrides and health verdicts in PATH across\n"
		"           restarts (instead of global.state_file; see README.md)\n"
		"  -V       print the version and exit\n"
		"  -h       print this help and exit\n"
		"\n"
		"Signals: SIGTERM or SIGINT stop accepting and let sessions finish for up to\n"
		"global.drain_timeout, then exit 0. SIGHUP reloads FILE: if it is valid, the\n"
		"new configuration applies without closing listeners or cutting sessions; if\n"
		"not, the errors are logged and the running configuration stays. Other signals\n"
		"that would end a process (SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT, ...) are logged\n"
		"and ignored.\n"
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

static int state_get_override(void *arg, const char *service)
{
	struct anylb *a = arg;
	struct announcer_status st;

	return announcer_status(a->ann, service, &st) == 0 ? st.override : SNAP_NO_OVERRIDE;
}

static int state_set_override(void *arg, const char *service, int override)
{
	struct anylb *a = arg;
	return announcer_override(a->ann, service, override);
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

static void stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct anylb *a = sig->data;
	const struct conf *c = a->rt->conf;
	int anycast = 0;
	(void)loop;
	(void)revents;

	for (size_t i = 0; i < c->nservices; i++)
		anycast |= c->services[i].anycast.enabled;
	struct shutdown_times t = {
		.withdraw_wait = WITHDRAW_WAIT,
		.grace = anycast ? (double)c->bgp.shutdown_grace_ms / 1000.0 : 0,
		.drain = (double)c->global.drain_timeout_ms / 1000.0,
	};
	shutdown_begin(&a->stop, sig->signum, &t);
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
	};

	sd_notify(0, "RELOADING=1");
	int rc = reload_apply(&t, &a->reloads, msg, cap);
	sd_notifyf(0, "READY=1\nSTATUS=%s, generation %llu",
		rc == 0 ? "reloaded" : "reload failed, running the previous configuration",
		(unsigned long long)a->rt->generation);
	return rc;
}

static void hup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	char msg[4096];
	(void)loop;
	(void)revents;
	log_info("SIGHUP: reloading");
	reload(sig->data, msg, sizeof(msg));
}

/*
 * Loads file into a generation with everything it names opened (lb/prepare.c): what `-t` and
 * start-up both do, so that they accept the same files. NULL after printing the errors.
 */
static struct lb_runtime *load(const char *file)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	struct lb_runtime *rt = NULL;
	int rc = conf_load(file, &c, &errs);

	if (rc == 0 && (rt = runtime_new(c)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && (rc = runtime_prepare(rt, &errs)) == 0)
		rc = prepare_process(rt->conf, &errs);
	if (rc < 0) {
		conf_errs_print(&errs, STDERR_FILENO);
		if (rc == -ENOMEM)
			fprintf(stderr, "%s: out of memory\n", file);
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
	struct lb_runtime *rt = load(file);

	if (rt == NULL)
		return 1;
	fprintf(stderr, "%s: configuration is valid\n", file);
	runtime_put(rt);
	return 0;
}

static int run(const char *file)
{
	int status = 1;

	pthread_mutex_init(&anylb.change_lock, NULL);
	anylb.rt = load(file);
	if (anylb.rt == NULL)
		return 1;
	const struct conf *c = anylb.rt->conf;
	log_setup(c->global.log_level, c->global.log_format);

	/* A peer that closes while we write must give EPIPE, not kill the process. */
	signal(SIGPIPE, SIG_IGN);

	anylb.loop = ev_default_loop(EVFLAG_AUTO);
	/* Before any thread: interface mode forks the watchdog. */
	int aerr;
	struct announcer *ann = announcer_new(anylb.rt, &aerr);
	if (ann == NULL && aerr != 0)
		goto out;
	int watchdog_fd = announcer_watchdog_fd(ann);
	anylb.ann = ann;
	anylb.nworkers = runtime_workers(anylb.rt);
	anylb.workers = calloc(anylb.nworkers, sizeof(*anylb.workers));
	if (anylb.workers == NULL) {
		log_error("out of memory");
		goto out;
	}
	for (unsigned i = 0; i < anylb.nworkers; i++) {
		if (worker_init(&anylb.workers[i], i, anylb.rt) < 0)
			goto out;
		anylb.workers[i].on_done = on_worker_done;
		anylb.workers[i].on_done_arg = &anylb;
	}

	anylb.rt->proc->on_dead = on_backend_dead;
	anylb.rt->proc->on_dead_arg = &anylb;
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
	state_file_restore(anylb.state);
	struct admin_hooks hooks = {.reload = reload, .arg = &anylb, .record = &anylb.reloads};
	int adm_err;
	anylb.admin = admin_new(anylb.loop, anylb.rt, anylb.ann, &hooks, &adm_err);
	if (anylb.admin == NULL && adm_err == -EADDRINUSE)
		/* Another anylb answers there: serving traffic matters more than our admin. */
		log_warn("running without the admin interface: its socket belongs to another "
			 "process; set global.admin.socket");
	else if (anylb.admin == NULL && adm_err != 0)
		goto out;
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
	anylb.sigterm.data = anylb.sigint.data = anylb.sighup.data = &anylb;
	ev_signal_start(anylb.loop, &anylb.sigterm);
	ev_signal_start(anylb.loop, &anylb.sigint);
	ev_signal_start(anylb.loop, &anylb.sighup);
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
	ev_run(anylb.loop, 0);
	status = 0;
	state_file_flush(anylb.state);
	log_info("all sessions finished: exiting");
out:
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
	return test ? check_only(file) : run(file);
}
