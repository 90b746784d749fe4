#include "lb/heartbeat.h"

#include "bgp/watchdog.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

struct heartbeat {
	struct heartbeat_conf c;
	pthread_t thread;
	pthread_mutex_t lock; /* fd, stop */
	pthread_cond_t wake;
	int fd;
	int stop;
	int gone_told; /* gone was called for the current fd-less spell */
	_Atomic int draining;
	_Atomic int not_main; /* an upgrade made another process systemd's main one */
	uint64_t *seen;       /* per worker, then the monitor: counters at the last beat */
};

/* Has every loop turned since the last call? */
static int all_turning(struct heartbeat *hb)
{
	int ok = 1;

	for (unsigned i = 0; i <= hb->c.nworkers; i++) {
		uint64_t now = i < hb->c.nworkers ? worker_alive(&hb->c.workers[i])
						  : monitor_alive(hb->c.monitor);
		if (now == hb->seen[i] && !(i < hb->c.nworkers && atomic_load(&hb->draining)))
			ok = 0;
		hb->seen[i] = now;
	}
	return ok;
}

/* One beat, under hb->lock. Returns non-zero when the owner must be told the watchdog left. */
static int beat_locked(struct heartbeat *hb)
{
	if (hb->fd < 0)
		return !hb->gone_told;
	if (watchdog_beat(hb->fd) == 0)
		return 0;
	/* Our loops stalled past watchdog_timeout: it withdrew everything and left. */
	hb->fd = -1;
	return 1;
}

static void *heartbeat_main(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec next;

	pthread_mutex_lock(&hb->lock);
	while (!hb->stop) {
		uint64_t ns = (uint64_t)(hb->c.period * 1e9);
		/* From now, not from the last deadline: after a SIGSTOP, one beat, not a burst. */
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += (time_t)(ns / 1000000000u);
		next.tv_nsec += (long)(ns % 1000000000u);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!hb->stop &&
			pthread_cond_timedwait(&hb->wake, &hb->lock, &next) != ETIMEDOUT)
			;
		if (hb->stop)
			break;
		if (!all_turning(hb)) {
			log_warn("an event loop is not turning: no heartbeat for the watchdog");
			continue;
		}
		if (hb->c.sd_watchdog && !atomic_load(&hb->not_main))
			sd_notify(0, "WATCHDOG=1");
		if (hb->c.gone == NULL || !beat_locked(hb))
			continue;
		hb->gone_told = 1;
		pthread_mutex_unlock(&hb->lock);
		hb->c.gone(hb->c.gone_arg);
		pthread_mutex_lock(&hb->lock);
	}
	pthread_mutex_unlock(&hb->lock);
	return NULL;
}

struct heartbeat *heartbeat_start(const struct heartbeat_conf *c)
{
	struct heartbeat *hb = calloc(1, sizeof(*hb));
	pthread_condattr_t ca;

	if (hb == NULL)
		return NULL;
	hb->c = *c;
	hb->fd = c->wd_fd;
	hb->seen = calloc(c->nworkers + 1, sizeof(*hb->seen));
	if (hb->seen == NULL) {
		free(hb);
		return NULL;
	}
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->wake, &ca);
	pthread_condattr_destroy(&ca);
	/* The first beat compares against where the loops are now. */
	all_turning(hb);
	if (pthread_create(&hb->thread, NULL, heartbeat_main, hb) != 0) {
		pthread_cond_destroy(&hb->wake);
		pthread_mutex_destroy(&hb->lock);
		free(hb->seen);
		free(hb);
		return NULL;
	}
	return hb;
}

void heartbeat_set_fd(struct heartbeat *hb, int fd)
{
	pthread_mutex_lock(&hb->lock);
	hb->fd = fd;
	/* Without a new fd (the rearm failed), the next turn asks again. */
	hb->gone_told = 0;
	pthread_mutex_unlock(&hb->lock);
}

void heartbeat_draining(struct heartbeat *hb)
{
	if (hb != NULL)
		atomic_store(&hb->draining, 1);
}

void heartbeat_handed_over(struct heartbeat *hb)
{
	if (hb == NULL)
		return;
	atomic_store(&hb->not_main, 1);
	pthread_mutex_lock(&hb->lock);
	hb->fd = -1;
	hb->gone_told = 1; /* gone on purpose: nothing to rearm */
	pthread_mutex_unlock(&hb->lock);
}

void heartbeat_stop(struct heartbeat *hb)
{
	if (hb == NULL)
		return;
	pthread_mutex_lock(&hb->lock);
	hb->stop = 1;
	pthread_cond_signal(&hb->wake);
	pthread_mutex_unlock(&hb->lock);
	pthread_join(hb->thread, NULL);
	pthread_cond_destroy(&hb->wake);
	pthread_mutex_destroy(&hb->lock);
	free(hb->seen);
	free(hb);
}
