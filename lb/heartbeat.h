/*
 * DOC: the heartbeat
 *
 * A thread of its own tells the watchdog process (announce: interface) and systemd's watchdog
 * (WatchdogSec) that anylb is alive, every `period`, but only while every worker loop and the
 * monitor loop have turned since the last beat: a stuck worker or monitor stops the beats and
 * the watchdog withdraws every prefix, as for a dead process. It runs on no event loop, so the
 * main thread (signals, reloads, the admin API) may spend a second building a 100 MB /metrics
 * answer for 50,000 backends without the site being withdrawn; the main thread's own stalls do
 * not stop traffic, so they do not stop the beats either.
 *
 * When a beat finds the watchdog gone (it gave up during a stall of ours, SIGSTOP), the thread
 * stops beating that fd and calls `gone` on its own thread; the owner recreates the interface on
 * the main thread (announcer_rearm) and hands the new fd over with heartbeat_set_fd(). The fd is
 * used under the heartbeat's lock, so it is never written after its owner closed it.
 */
#ifndef ANYLB_LB_HEARTBEAT_H
#define ANYLB_LB_HEARTBEAT_H

#include "lb/monitor.h"
#include "lb/worker.h"

struct heartbeat;

struct heartbeat_conf {
	double period;          /* seconds, > 0 */
	int wd_fd;              /* the watchdog's socket, -1 without one */
	int sd_watchdog;        /* also sd_notify("WATCHDOG=1") */
	struct worker *workers; /* whose alive counters must move */
	unsigned nworkers;
	struct monitor *monitor;
	void (*gone)(void *arg); /* the watchdog is gone; heartbeat thread, no lock held */
	void *gone_arg;
};

/* Starts the thread. NULL when it cannot (out of memory, no thread). */
struct heartbeat *heartbeat_start(const struct heartbeat_conf *c);

/* The watchdog's fd from now on (-1: none for now). Any thread. */
void heartbeat_set_fd(struct heartbeat *hb, int fd);

/* Draining: workers finish and stop turning, which is no reason to withdraw. Any thread. */
void heartbeat_draining(struct heartbeat *hb);

/*
 * An upgrade handed over: the successor is systemd's main process and feeds its watchdog, and
 * holds the announcement interface with a watchdog of its own: this one stops beating either,
 * and never asks for a rearm again. Call it before the announcer stops its watchdog (the fd
 * is closed then). Any thread.
 */
void heartbeat_handed_over(struct heartbeat *hb);

/* Stops and joins the thread, then frees. NULL is fine. */
void heartbeat_stop(struct heartbeat *hb);

#endif
