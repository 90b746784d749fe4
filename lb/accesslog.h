/*
 * DOC: the access log
 *
 * With `global.log.access: true`, one line per finished session, written through lib/log.c at
 * info level (one write(2) per line, text or JSON like every other line):
 *
 *   access service=web client=192.0.2.7:50112 backend=10.0.1.11:8443 bytes_in=517
 *     bytes_out=18230 duration_ms=1250 result=done reason="done"
 *
 * bytes_in is client -> backend, bytes_out backend -> client; backend is "-" when the session
 * never reached one; result is an lb_result_name(); reason is the session's own words, quoted.
 */
#ifndef ANYLB_LB_ACCESSLOG_H
#define ANYLB_LB_ACCESSLOG_H

#include "lb/runtime.h"
#include "lib/addr.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Logs the line for a session of svc that ended, if svc's configuration has the access log on
 * (else returns at once). backend: the backend it was connected to (or connecting to when it
 * ended), NULL when none. duration_s: from accept to close. reason may be NULL. Any thread; no
 * lock, no allocation.
 */
void access_log_line(const struct lb_service *svc, const struct addr *client,
	const struct lb_backend *backend, uint64_t bytes_in, uint64_t bytes_out, double duration_s,
	enum lb_result result, const char *reason);

/* The line's text after the timestamp and level, into buf; returns snprintf's length. */
int access_log_format(char *buf, size_t cap, const struct lb_service *svc,
	const struct addr *client, const struct lb_backend *backend, uint64_t bytes_in,
	uint64_t bytes_out, double duration_s, enum lb_result result, const char *reason);

#endif
