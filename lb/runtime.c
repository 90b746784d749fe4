#include "lb/runtime.h"

#include <stdlib.h>
#include <unistd.h>

struct lb_runtime *runtime_new(struct conf *conf)
{
	struct lb_runtime *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		goto fail;
	rt->conf = conf;
	rt->nservices = conf->nservices;
	rt->services = calloc(conf->nservices, sizeof(*rt->services));
	if (rt->services == NULL)
		goto fail;
	for (size_t i = 0; i < conf->nservices; i++) {
		struct lb_service *svc = &rt->services[i];
		svc->conf = &conf->services[i];
		svc->index = i;
		svc->backends = calloc(svc->conf->nbackends, sizeof(*svc->backends));
		if (svc->backends == NULL)
			goto fail;
		for (size_t j = 0; j < svc->conf->nbackends; j++)
			svc->backends[j].conf = &svc->conf->backends[j];
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
		for (size_t i = 0; i < rt->nservices; i++)
			free(rt->services[i].backends);
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
