#include "lb/runtime.h"

#include "lb/backend.h"

#include <stdlib.h>
#include <unistd.h>

const double lb_connect_bounds[LB_CONNECT_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

const char *lb_result_name(enum lb_result r)
{
	switch (r) {
	case LB_RESULT_DONE:
		return "done";
	case LB_RESULT_CLIENT_ERROR:
		return "client_error";
	case LB_RESULT_BACKEND_ERROR:
		return "backend_error";
	case LB_RESULT_TIMEOUT:
		return "timeout";
	case LB_RESULT_NO_BACKEND:
		return "no_backend";
	case LB_RESULT_BACKEND_DEAD:
		return "backend_dead";
	case LB_RESULT_DRAIN:
		return "drain";
	case LB_RESULT_RESOURCE:
		return "resource";
	case LB_RESULT_COUNT:
		break;
	}
	return "unknown";
}

static int service_init(
	struct lb_runtime *rt, struct lb_service *svc, const struct conf_service *sc, size_t index)
{
	const struct conf_outlier *oc = &sc->outlier;
	struct outlier_conf ocf = {
		.consecutive_failures = oc->consecutive_failures,
		.base_ejection_ms = oc->base_ejection_ms,
		.max_ejection_ms = oc->max_ejection_ms,
		.max_ejection_percent = oc->max_ejection_percent,
	};

	svc->conf = sc;
	svc->rt = rt;
	svc->index = index;
	if (pthread_mutex_init(&svc->lock, NULL) != 0)
		return -1;
	svc->outlier = outlier_new(&ocf, sc->nbackends);
	svc->backends = calloc(sc->nbackends, sizeof(*svc->backends));
	if (svc->outlier == NULL || svc->backends == NULL)
		return -1;
	for (size_t j = 0; j < sc->nbackends; j++)
		backend_init(&svc->backends[j], svc, j);
	return 0;
}

struct lb_runtime *runtime_new(struct conf *conf)
{
	struct lb_runtime *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		goto fail;
	rt->conf = conf;
	rt->services = calloc(conf->nservices, sizeof(*rt->services));
	if (rt->services == NULL)
		goto fail;
	for (size_t i = 0; i < conf->nservices; i++) {
		rt->nservices = i + 1; /* what runtime_free must undo */
		if (service_init(rt, &rt->services[i], &conf->services[i], i) < 0)
			goto fail;
	}
	return rt;
fail:
	if (rt != NULL)
		runtime_free(rt);
	else
		conf_free(conf);
	return NULL;
}

void runtime_free(struct lb_runtime *rt)
{
	if (rt->services != NULL) {
		for (size_t i = 0; i < rt->nservices; i++) {
			struct lb_service *svc = &rt->services[i];
			free(svc->backends);
			if (svc->outlier != NULL)
				outlier_free(svc->outlier);
			pthread_mutex_destroy(&svc->lock);
		}
		free(rt->services);
	}
	conf_free(rt->conf);
	free(rt);
}

unsigned runtime_workers(const struct lb_runtime *rt)
{
	if (rt->conf->global.workers > 0)
		return rt->conf->global.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > CONF_MAX_WORKERS)
		n = CONF_MAX_WORKERS;
	return (unsigned)n;
}
