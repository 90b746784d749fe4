#include "lb/logs.h"
#include "lb/reload.h"

#include "conf/conf.h"
#include "conf/overlay.h"
#include "lb/admin.h"
#include "lb/monitor.h"
#include "lb/prepare.h"
#include "lb/worker.h"
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* How long a reload waits for the threads to switch (at most; see settle_budget_ms). */
#define RELOAD_SETTLE_MS 200

/* Appends a line to msg (cap bytes, NUL-terminated, cut when full). */
static void msg_add(char *msg, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void msg_add(char *msg, size_t cap, const char *fmt, ...)
{
	size_t len = strnlen(msg, cap);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + len, cap - len, fmt, ap);
	va_end(ap);
}

static void errs_to_msg(const struct conf_errs *errs, char *msg, size_t cap)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct conf_err *e = &errs->v[i];
		log_error("reload: %s:%d:%d: %s", e->file, e->line, e->col, e->msg);
		msg_add(msg, cap, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
	}
}

/* Have the monitor and every worker moved to generation gen? */
static int settled(const struct reload_targets *t, uint64_t gen)
{
	for (unsigned i = 0; i < t->nworkers; i++)
		if (worker_generation(&t->workers[i]) != gen)
			return 0;
	return monitor_generation(t->monitor) == gen;
}

/*
 * How long the main thread may block waiting for the threads: it also sends the watchdog's
 * heartbeats, and in interface mode a silence of watchdog_timeout withdraws every prefix.
 */
static int settle_budget_ms(const struct conf *c)
{
	uint64_t ms = RELOAD_SETTLE_MS;

	if (c->bgp.enabled && c->bgp.announce == CONF_ANNOUNCE_INTERFACE &&
		c->bgp.watchdog_timeout_ms / 4 < ms)
		ms = c->bgp.watchdog_timeout_ms / 4;
	return (int)ms;
}

/* The previous reload is normally applied within a loop turn; wait a little for it. */
static int wait_settled(const struct reload_targets *t, uint64_t gen)
{
	int budget = settle_budget_ms((*t->rt)->conf);

	for (int waited = 0; !settled(t, gen); waited++) {
		if (waited >= budget)
			return -EBUSY;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return 0;
}

static void count(struct reload_record *rec, int ok, const char *msg)
{
	rec->last_unix = (int64_t)time(NULL);
	rec->last_ok = ok;
	if (ok) {
		rec->ok++;
		rec->last_error[0] = '\0';
	} else {
		rec->failed++;
		snprintf(rec->last_error, sizeof(rec->last_error), "%s", msg);
	}
}

/* One summary line: what the new generation has that the old had not, and the reverse. */
static void summarize(struct lb_runtime *old, const struct lb_runtime *rt, char *msg, size_t cap)
{
	size_t added = 0, removed = 0, kept = 0, be_added = 0, be_removed = 0;

	for (size_t i = 0; i < rt->nservices; i++) {
		const struct lb_service *svc = &rt->services[i];
		const struct lb_service *prev = runtime_service_by_state(old, svc->st);
		if (prev == NULL) {
			added++;
			continue;
		}
		kept++;
		for (size_t j = 0; j < svc->conf->nbackends; j++)
			be_added += runtime_backend_by_state(prev, svc->backends[j].st) == NULL;
		for (size_t j = 0; j < prev->conf->nbackends; j++)
			be_removed += runtime_backend_by_state(svc, prev->backends[j].st) == NULL;
	}
	removed = old->nservices - kept;
	msg_add(msg, cap,
		"configuration reloaded (generation %llu): services %zu kept, %zu added, %zu "
		"removed; backends of kept services %zu added, %zu removed (draining)\n",
		(unsigned long long)rt->generation, kept, added, removed, be_added, be_removed);
	struct log_field f[] = {LOG_S("result", "ok"), LOG_N("generation", rt->generation),
		LOG_N("services_kept", kept), LOG_N("services_added", added),
		LOG_N("services_removed", removed), LOG_N("backends_added", be_added),
		LOG_N("backends_removed", be_removed)};
	log_event(LOG_LEVEL_INFO, "reload", f, sizeof(f) / sizeof(f[0]), "reload: %.*s",
		(int)strcspn(msg, "\n"), msg);
}

static int fail(struct reload_record *rec, int rc, char *msg, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(struct reload_record *rec, int rc, char *msg, size_t cap, const char *fmt, ...)
{
	if (fmt != NULL) {
		char line[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_error("reload: %s", line);
		msg_add(msg, cap, "%s\n", line);
	}
	struct log_field f[] = {LOG_S("result", "failed")};
	log_event(
		LOG_LEVEL_ERROR, "reload", f, 1, "reload failed: the running configuration stays");
	count(rec, 0, msg);
	return rc;
}

int reload_apply(const struct reload_targets *t, struct reload_record *rec, char *msg, size_t cap)
{
	struct lb_runtime *old = *t->rt;
	struct conf_errs errs = {0};
	struct conf *c = NULL;
	int rc;

	msg[0] = '\0';
	log_info("reload: loading %s", old->conf->file);
	if (t->stopping)
		return fail(rec, -EBUSY, msg, cap, "anylb is stopping");
	if (wait_settled(t, old->generation) < 0)
		return fail(rec, -EBUSY, msg, cap,
			"the previous reload is still being applied; try again");
	rc = conf_load(old->conf->file, &c, &errs);
	if (rc == 0 && t->resolved != NULL)
		rc = resolved_apply(t->resolved, c);
	if (rc == 0 && t->overlay != NULL)
		rc = overlay_apply(t->overlay, c, &errs);
	if (rc == 0)
		rc = conf_reload_check(old->conf, c, &errs);
	if (rc < 0) {
		errs_to_msg(&errs, msg, cap);
		conf_errs_free(&errs);
		conf_free(c);
		return fail(rec, rc == -ENOMEM ? -ENOMEM : -EINVAL, msg, cap, NULL);
	}
	struct lb_runtime *rt = runtime_next(old, c);
	if (rt == NULL)
		return fail(rec, -ENOMEM, msg, cap, "out of memory");
	/* What the snapshot says the generation was built with: the overlay as it will be. */
	if (t->overlay != NULL) {
		if (overlay_copy(t->overlay, &rt->overlay) < 0) {
			runtime_put(rt);
			return fail(rec, -ENOMEM, msg, cap, "out of memory");
		}
		overlay_settle(&rt->overlay);
	}
	/* What the file names (CA files): opened now, or the reload is refused. */
	if ((rc = runtime_prepare(rt, &errs)) < 0) {
		errs_to_msg(&errs, msg, cap);
		conf_errs_free(&errs);
		runtime_put(rt);
		return fail(rec, rc, msg, cap, NULL);
	}
	conf_errs_free(&errs);
	for (unsigned i = 0; i < t->nworkers; i++) {
		const struct conf_listen *at = NULL;
		rc = worker_prepare_switch(&t->workers[i], old, rt, &at);
		if (rc < 0) {
			for (unsigned j = 0; j < i; j++)
				worker_cancel_switch(&t->workers[j]);
			/* at lives in rt's configuration: said before rt goes. */
			if (at == NULL)
				rc = fail(rec, rc, msg, cap, "cannot prepare worker %u: %s", i,
					strerror(-rc));
			else /* refused for a place in the file, as a bad value is (422) */
				rc = fail(rec, -EINVAL, msg, cap,
					"%s:%d:%d: cannot listen on %s: %s",
					conf_pos_file(c, at->pos), at->pos.line, at->pos.col,
					at->address, strerror(-rc));
			runtime_put(rt);
			return rc;
		}
	}

	/* Nothing can fail from here on. */
	char lwhy[512];
	if (logs_apply(c, lwhy, sizeof(lwhy)) < 0)
		log_error("reload: %s: that log stays as it was", lwhy);
	if (t->admin != NULL)
		admin_set_runtime(t->admin, rt);
	monitor_switch(t->monitor, rt);
	for (unsigned i = 0; i < t->nworkers; i++)
		worker_commit_switch(&t->workers[i]);
	*t->rt = rt;
	/* So that "reloaded" means in force: removed listeners closed, new checks running. */
	if (wait_settled(t, rt->generation) < 0)
		log_warn("reload: a thread has not switched to generation %llu yet",
			(unsigned long long)rt->generation);
	if (t->overlay != NULL)
		overlay_settle(t->overlay);
	summarize(old, rt, msg, cap);
	runtime_put(old);
	count(rec, 1, msg);
	return 0;
}
