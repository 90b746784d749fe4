/*
 * DOC: admission: allow, deny and rate_limit
 *
 * The judge of a new client of a service that has allow, deny or rate_limit
 * (conf_service.admit_checks): a TCP session before it exists (lb/session.c), a udp flow before
 * it is made (lb/udp_listener.c). One branch for the services that have none.
 */
#include "lb/admit.h"

#include "lb/ratelimit.h"
#include "lib/cidr.h"
#include "lib/clock.h"
#include "lib/log.h"

#include <stdatomic.h>

/*
 * allow, deny and rate_limit, on the client's effective address (the PROXY header's for
 * accept_proxy listeners, the peer's otherwise). Returns NULL when the client may go on, else
 * why not, counted. Only services with conf->admit_checks call it.
 */
const char *admit_refusal(struct lb_service *svc, const struct addr *client)
{
	const struct conf_service *sc = svc->conf;

	if (sc->ndeny > 0 && cidr_match_any(sc->deny, sc->ndeny, client)) {
		atomic_fetch_add(&svc->st->denied, 1);
		return "denied (in 'deny')";
	}
	if (sc->nallow > 0 && !cidr_match_any(sc->allow, sc->nallow, client)) {
		atomic_fetch_add(&svc->st->denied, 1);
		return "denied (not in 'allow')";
	}
	if (svc->rl != NULL) {
		uint8_t key[RATELIMIT_KEY_LEN];
		int evicted;

		ratelimit_key(client, key);
		int ok = ratelimit_take(svc->rl, key, clock_ms(), &evicted);
		if (evicted)
			atomic_fetch_add(&svc->st->rate_limit_evictions, 1);
		if (!ok) {
			atomic_fetch_add(&svc->st->rate_limited, 1);
			return "over rate_limit";
		}
	}
	return NULL;
}

/* A client refused by admit_refusal(): logged at most once a second per service. */
void admit_log_refused(struct lb_service *svc, const struct addr *client, const char *why)
{
	uint64_t now = clock_ms();
	uint64_t last = atomic_load_explicit(&svc->st->edge_log_ms, memory_order_relaxed);
	char cbuf[ADDR_STRLEN];

	if (last != 0 && now - last < 1000)
		return;
	if (!atomic_compare_exchange_strong(&svc->st->edge_log_ms, &last, now))
		return;
	unsigned long long denied = atomic_load(&svc->st->denied),
			   limited = atomic_load(&svc->st->rate_limited);
	struct log_field f[] = {LOG_S("service", svc->conf->name),
		LOG_S("client", addr_format(client, cbuf, sizeof(cbuf))), LOG_S("reason", why),
		LOG_N("denied", denied), LOG_N("rate_limited", limited)};
	log_event(LOG_LEVEL_WARN, "refused", f, 5,
		"service %s: client %s refused: %s (%llu denied, %llu rate-limited so far)",
		svc->conf->name, f[1].str, why, denied, limited);
}
