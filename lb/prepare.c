#include "lb/prepare.h"

#include "health/check_tls.h"
#include "lb/admin_token.h"
#include "lb/backend.h"
#include "lb/logs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct conf_check *check_of(const struct conf_service *sc, enum backend_check which)
{
	return which == BACKEND_CHECK_LIVENESS ? &sc->health.liveness : &sc->health.readiness;
}

static int uses_tls(const struct conf_check *cc)
{
	return cc->enabled && (cc->type == CONF_CHECK_TLS || cc->type == CONF_CHECK_HTTPS);
}

int runtime_prepare(struct lb_runtime *rt, struct conf_errs *errs)
{
	int rc = logs_probe(rt->conf, errs);

	if (rc == -ENOMEM)
		return rc;

	for (size_t i = 0; i < rt->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		for (int w = BACKEND_CHECK_LIVENESS; w <= BACKEND_CHECK_READINESS; w++) {
			const struct conf_check *cc = check_of(svc->conf, (enum backend_check)w);
			char why[512];
			if (!uses_tls(cc) || svc->check_tls[w] != NULL)
				continue;
			svc->check_tls[w] = check_tls_ctx_get(&cc->tls, why, sizeof(why));
			if (svc->check_tls[w] != NULL)
				continue;
			/* The place of ca_file, or of the check when it is the default. */
			struct conf_pos at =
				cc->tls.ca_file_pos.line > 0 ? cc->tls.ca_file_pos : cc->pos;
			if (conf_errs_add(errs, rt->conf->file, at, "service '%s': %s check: %s",
				    svc->conf->name,
				    w == BACKEND_CHECK_LIVENESS ? "liveness" : "readiness",
				    why) < 0)
				return -ENOMEM;
			rc = -EINVAL;
		}
	}
	return rc;
}

int prepare_process(const struct conf *c, struct conf_errs *errs)
{
	const struct conf_admin *ad = &c->global.admin;
	char why[512], *token = NULL;
	size_t len = 0;
	mode_t mode;

	if (!ad->enabled || ad->listen == NULL)
		return 0;
	int rc = admin_token_read(ad->token_file, &token, &len, &mode, why, sizeof(why));
	if (rc == 0) {
		explicit_bzero(token, len);
		free(token);
		return 0;
	}
	if (conf_errs_add(errs, c->file, ad->token_file_pos, "%s", why) < 0)
		return -ENOMEM;
	return -EINVAL;
}
