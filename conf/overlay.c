#include "conf/overlay.h"

#include "lib/addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct overlay_entry *find(struct overlay *o, const char *service, const struct addr *a)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->v[i].service, service) == 0 && addr_equal(&o->v[i].addr, a))
			return &o->v[i];
	return NULL;
}

static void entry_free(struct overlay_entry *e)
{
	free(e->service);
	free(e->address);
	free(e->zone);
}

static void drop(struct overlay *o, struct overlay_entry *e)
{
	size_t i = (size_t)(e - o->v);

	entry_free(e);
	memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof(o->v[0]));
	o->n--;
}

static int append(struct overlay *o, const char *service, const char *address, const struct addr *a,
	int removed, unsigned weight, const char *zone)
{
	struct overlay_entry *v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	o->v = v;
	struct overlay_entry *e = &v[o->n];
	*e = (struct overlay_entry){.service = strdup(service),
		.address = strdup(address),
		.addr = *a,
		.removed = removed,
		.weight = weight,
		.zone = zone != NULL ? strdup(zone) : NULL};
	if (e->service == NULL || e->address == NULL || (zone != NULL && e->zone == NULL)) {
		entry_free(e);
		return -ENOMEM;
	}
	o->n++;
	return 0;
}

int overlay_add(struct overlay *o, const char *service, const char *address, unsigned weight,
	const char *zone, char *why, size_t cap)
{
	struct addr a;

	if (addr_parse(address, 0, &a, why, cap) < 0)
		return -EINVAL;
	struct overlay_entry *e = find(o, service, &a);
	if (e != NULL && !e->removed)
		return -EEXIST;
	if (e != NULL) {
		/* Cancelling a removal: a file's backend comes back as the file has it. */
		drop(o, e);
		return 0;
	}
	return append(o, service, address, &a, 0, weight, zone);
}

int overlay_remove(
	struct overlay *o, const char *service, const char *address, char *why, size_t cap)
{
	struct addr a;

	if (addr_parse(address, 0, &a, why, cap) < 0)
		return -EINVAL;
	struct overlay_entry *e = find(o, service, &a);
	if (e != NULL && e->removed)
		return -EEXIST;
	if (e != NULL) {
		drop(o, e);
		return 0;
	}
	return append(o, service, address, &a, 1, 0, NULL);
}

static struct conf_service *service_of(struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

static struct conf_backend *backend_of(struct conf_service *s, const struct addr *a)
{
	for (size_t i = 0; i < s->nbackends; i++)
		if (addr_equal(&s->backends[i].addr, a))
			return &s->backends[i];
	return NULL;
}

static int grow(struct conf_service *s, const struct overlay_entry *e)
{
	struct conf_backend *v = realloc(s->backends, (s->nbackends + 1) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	s->backends = v;
	struct conf_backend *b = &v[s->nbackends];
	*b = (struct conf_backend){.address = strdup(e->address),
		.addr = e->addr,
		.weight = e->weight,
		.zone = e->zone != NULL ? strdup(e->zone) : NULL,
		.runtime = 1};
	if (b->address == NULL || (e->zone != NULL && b->zone == NULL)) {
		free(b->address);
		free(b->zone);
		return -ENOMEM;
	}
	s->nbackends++;
	return 0;
}

static void shrink(struct conf_service *s, struct conf_backend *b)
{
	size_t i = (size_t)(b - s->backends);

	s->nbackup -= b->backup != 0;
	free(b->address);
	free(b->zone);
	memmove(&s->backends[i], &s->backends[i + 1], (s->nbackends - i - 1) * sizeof(*b));
	s->nbackends--;
}

int overlay_apply(struct overlay *o, struct conf *c, struct conf_errs *errs)
{
	int rc = 0;

	for (size_t i = 0; i < o->n; i++) {
		struct overlay_entry *e = &o->v[i];
		struct conf_service *s = service_of(c, e->service);
		struct conf_backend *b = s != NULL ? backend_of(s, &e->addr) : NULL;
		e->svc_in_file = s != NULL;
		e->in_file = b != NULL;
		if (s == NULL || (b != NULL) != (e->removed != 0))
			continue; /* no service, an add the file adopted, a removal already so */
		if (e->removed) {
			shrink(s, b);
		} else if (s->nbackends >= CONF_MAX_BACKENDS) {
			rc = conf_errs_add(errs, c->file, (struct conf_pos){0},
				"service %s: adding backend %s would make more than %d backends",
				s->name, e->address, CONF_MAX_BACKENDS);
			rc = rc < 0 ? rc : -EINVAL;
		} else if (grow(s, e) < 0) {
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < c->nservices && rc != -ENOMEM; i++) {
		const struct conf_service *s = &c->services[i];
		/* A service with NAME:PORT entries may have none for a while (conf/resolved.h). */
		if (s->nnames == 0 && (s->nbackends == 0 || s->nbackup == s->nbackends)) {
			int r = conf_errs_add(errs, c->file, (struct conf_pos){0},
				"service %s: removing backends at run time would leave it %s",
				s->name,
				s->nbackends == 0 ? "without a backend" : "with backups only");
			rc = r < 0 ? r : -EINVAL;
		}
	}
	return rc;
}

void overlay_settle(struct overlay *o)
{
	for (size_t i = o->n; i-- > 0;) {
		const struct overlay_entry *e = &o->v[i];
		if (!e->svc_in_file || (e->in_file != e->removed))
			drop(o, &o->v[i]);
	}
}

int overlay_copy(const struct overlay *o, struct overlay *out)
{
	*out = (struct overlay){0};
	for (size_t i = 0; i < o->n; i++) {
		const struct overlay_entry *e = &o->v[i];
		if (append(out, e->service, e->address, &e->addr, e->removed, e->weight, e->zone) <
			0) {
			overlay_free(out);
			return -ENOMEM;
		}
		out->v[i].in_file = e->in_file;
		out->v[i].svc_in_file = e->svc_in_file;
	}
	return 0;
}

void overlay_free(struct overlay *o)
{
	for (size_t i = 0; i < o->n; i++)
		entry_free(&o->v[i]);
	free(o->v);
	*o = (struct overlay){0};
}
