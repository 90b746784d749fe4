/*
 * DOC: the access log
 *
 * With `global.log.access: true` or a `global.access_log` section, one line per finished
 * session, on its own stream (lb/logs.c: stderr, a file or syslog; text, json or logfmt),
 * whatever `log.level` says. What HAProxy's `tcplog` has, in the text format:
 *
 *   access service=web client=192.0.2.7:50112 listener=192.0.2.10:443 backend=10.0.1.11:8443
 *     connect_ms=1 retries=0 queue_ms=0 bytes_in=517 bytes_out=18230 duration_ms=1250
 *     result=done reason="done"
 *
 * bytes_in is client -> backend, bytes_out backend -> client; listener is the address the client
 * connected to; backend is "-" when the session never reached one, connect_ms "-" when no connect
 * succeeded; retries counts the other backends tried; queue_ms is the time waited for a free
 * backend in the service's queue (lb/queue.h); result is an lb_result_name(); reason is the
 * session's own words, quoted. json and logfmt carry the same fields under the same names (event
 * "access"). A udp service's flow (lb/udp_listener.c) writes one line too, when it ends.
 */
#ifndef ANYLB_LB_ACCESSLOG_H
#define ANYLB_LB_ACCESSLOG_H

#include "lb/runtime.h"
#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

/* One finished session, as the access log tells it. */
struct access_record {
	const struct lb_service *svc;
	const struct addr *client;
	const struct lb_backend *backend; /* connected (or connecting) to when it ended; NULL */
	const struct addr *listener;      /* where the client connected; NULL: unknown */
	uint64_t bytes_in, bytes_out;
	double duration_s; /* accept to close */
	double connect_s;  /* the connect that succeeded; < 0: none did */
	unsigned retries;  /* backends tried after the first */
	uint32_t queue_ms; /* waited in the queue */
	enum lb_result result;
	const char *reason; /* may be NULL */
};

/* Whether svc's configuration has the access log on: the caller skips building a record. */
int access_log_on(const struct lb_service *svc);

/* Writes the line for a, if svc's configuration has the access log on. Any thread; no lock, no
 * allocation. */
void access_log_line(const struct access_record *a);

/* The text format's line (after the timestamp and level), into buf; snprintf's length. */
int access_log_format(char *buf, size_t cap, const struct access_record *a);

#endif
