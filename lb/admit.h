/*
 * DOC: admission: allow, deny and rate_limit
 *
 * deny wins over allow; with allow set a client outside it is refused; rate_limit is a token
 * bucket per source (lb/ratelimit.h). Any thread: the counters are atomics, the rate-limit
 * table has its own lock.
 */
#ifndef ANYLB_LB_ADMIT_H
#define ANYLB_LB_ADMIT_H

#include "lb/runtime.h"
#include "lib/addr.h"

/*
 * allow, deny and rate_limit, on the client's effective address (the PROXY header's for
 * accept_proxy listeners, the peer's otherwise). NULL when the client may go on, else why not,
 * counted (denied, rate_limited). Only for services with conf->admit_checks.
 */
const char *admit_refusal(struct lb_service *svc, const struct addr *client);

/* Logs a client admit_refusal() refused, at most once a second per service. */
void admit_log_refused(struct lb_service *svc, const struct addr *client, const char *why);

#endif
