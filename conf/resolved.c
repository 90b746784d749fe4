#include "conf/resolved.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* addr_parse() and lb/resolver.c zero an addr before filling it: bytes compare as values do. */
static int addr_cmp(const void *pa, const void *pb)
{
	const struct addr *a = pa, *b = pb;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(&a->ss, &b->ss, a->len);
}

static void entry_free(struct resolved_entry *e)
{
	free(e->service);
	free(e->address);
	free(e->host);
	free(e->v);
}

struct resolved_entry *resolved_find(
	const struct resolved *r, const char *service, const char *address)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].service, service) == 0 && strcmp(r->v[i].address, address) == 0)
			return &r->v[i];
	return NULL;
}

static int entry_add(struct resolved *r, const char *service, const struct conf_name *nm)
{
	struct resolved_entry *v = realloc(r->v, (r->n + 1) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	r->v = v;
	struct resolved_entry *e = &v[r->n];
	*e = (struct resolved_entry){.service = strdup(service),
		.address = strdup(nm->address),
		.host = strdup(nm->host),
		.port = nm->port,
		.family = nm->family,
		.interval_ms = nm->interval_ms,
		.seen = 1};
	if (e->service == NULL || e->address == NULL || e->host == NULL) {
		entry_free(e);
		return -ENOMEM;
	}
	r->n++;
	return 0;
}

int resolved_sync(struct resolved *r, const struct conf *c)
{
	int added = 0;

	for (size_t i = 0; i < r->n; i++)
		r->v[i].seen = 0;
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];
		for (size_t j = 0; j < s->nnames; j++) {
			const struct conf_name *nm = &s->names[j];
			struct resolved_entry *e = resolved_find(r, s->name, nm->address);
			if (e == NULL) {
				if (entry_add(r, s->name, nm) < 0)
					return -ENOMEM;
				added++;
				continue;
			}
			e->seen = 1;
			if (e->family != nm->family) {
				e->family = nm->family;
				e->due_ms = 0;
			}
			e->interval_ms = nm->interval_ms;
		}
	}
	for (size_t i = r->n; i-- > 0;) {
		if (r->v[i].seen)
			continue;
		entry_free(&r->v[i]);
		memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
		r->n--;
	}
	return added;
}

static int family_ok(enum conf_family f, const struct addr *a)
{
	switch (f) {
	case CONF_FAMILY_ANY:
		return a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6;
	case CONF_FAMILY_IPV4:
		return a->sa.sa_family == AF_INET;
	case CONF_FAMILY_IPV6:
		return a->sa.sa_family == AF_INET6;
	}
	return 0;
}

/* v[n] sorted, u[m] sorted: the ones of v not in u, into *out (malloc'ed; NULL when none). */
static int minus(const struct addr *v, size_t n, const struct addr *u, size_t m, struct addr **out,
	size_t *nout)
{
	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && bsearch(&v[i], u, m, sizeof(*u), addr_cmp) != NULL)
			continue;
		if (*out == NULL && (*out = malloc(n * sizeof(**out))) == NULL)
			return -ENOMEM;
		(*out)[(*nout)++] = v[i];
	}
	return 0;
}

static void failed(
	struct resolved_entry *e, const char *why, uint64_t now_ms, enum resolved_outcome *out)
{
	*out = e->failing ? RESOLVED_FAILED_AGAIN : RESOLVED_FAILED_FIRST;
	e->failing = 1;
	e->failed_ms = now_ms;
	e->n_failed++;
	snprintf(e->error, sizeof(e->error), "%s", why != NULL ? why : "lookup failed");
}

int resolved_result(struct resolved_entry *e, int ok, const struct addr *a, size_t n,
	const char *why, uint64_t now_ms, enum resolved_outcome *out, struct resolved_diff *d)
{
	*d = (struct resolved_diff){0};
	if (!ok) {
		failed(e, why, now_ms, out);
		return 0;
	}
	struct addr *v = malloc((n > 0 ? n : 1) * sizeof(*v));
	size_t m = 0;
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (family_ok(e->family, &a[i]))
			v[m++] = a[i];
	qsort(v, m, sizeof(*v), addr_cmp);
	size_t u = 0;
	for (size_t i = 0; i < m; i++)
		if (u == 0 || addr_cmp(&v[u - 1], &v[i]) != 0)
			v[u++] = v[i];
	if (u > RESOLVED_MAX_ADDRS)
		u = RESOLVED_MAX_ADDRS;
	if (u == 0) {
		free(v);
		failed(e,
			e->family == CONF_FAMILY_IPV4   ? "no IPv4 address in the answer"
			: e->family == CONF_FAMILY_IPV6 ? "no IPv6 address in the answer"
							: "no address in the answer",
			now_ms, out);
		return 0;
	}
	if (minus(v, u, e->v, e->n, &d->added, &d->nadded) < 0 ||
		minus(e->v, e->n, v, u, &d->removed, &d->nremoved) < 0) {
		free(v);
		resolved_diff_free(d);
		return -ENOMEM;
	}
	d->recovered = e->failing;
	e->failing = 0;
	e->have = 1;
	e->resolved_ms = now_ms;
	if (d->nadded == 0 && d->nremoved == 0) {
		free(v);
		e->n_same++;
		*out = RESOLVED_SAME;
		return 0;
	}
	d->prev = e->v;
	d->nprev = e->n;
	e->v = v;
	e->n = u;
	e->n_changed++;
	*out = RESOLVED_CHANGED;
	return 0;
}

void resolved_revert(struct resolved_entry *e, struct resolved_diff *d)
{
	free(e->v);
	e->v = d->prev;
	e->n = d->nprev;
	d->prev = NULL;
	d->nprev = 0;
}

void resolved_diff_free(struct resolved_diff *d)
{
	free(d->added);
	free(d->removed);
	free(d->prev);
	*d = (struct resolved_diff){0};
}

static int has_addr(const struct conf_service *s, const struct addr *a)
{
	for (size_t i = 0; i < s->nbackends; i++)
		if (addr_equal(&s->backends[i].addr, a))
			return 1;
	return 0;
}

static int expand(
	const struct resolved_entry *e, const struct conf_name *nm, struct conf_service *s)
{
	for (size_t i = 0; i < e->n && s->nbackends < CONF_MAX_BACKENDS; i++) {
		char text[ADDR_STRLEN];
		if (has_addr(s, &e->v[i]))
			continue;
		struct conf_backend *v = realloc(s->backends, (s->nbackends + 1) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->backends = v;
		struct conf_backend *b = &v[s->nbackends];
		*b = nm->tmpl;
		b->address = strdup(addr_format(&e->v[i], text, sizeof(text)));
		b->addr = e->v[i];
		b->zone = nm->tmpl.zone != NULL ? strdup(nm->tmpl.zone) : NULL;
		b->from = nm->address;
		if (b->address == NULL || (nm->tmpl.zone != NULL && b->zone == NULL)) {
			free(b->address);
			free(b->zone);
			return -ENOMEM;
		}
		s->nbackup += b->backup != 0;
		s->nbackends++;
	}
	return 0;
}

int resolved_apply(const struct resolved *r, struct conf *c)
{
	for (size_t i = 0; i < c->nservices; i++) {
		struct conf_service *s = &c->services[i];
		for (size_t j = 0; j < s->nnames; j++) {
			const struct resolved_entry *e =
				resolved_find(r, s->name, s->names[j].address);
			if (e != NULL && expand(e, &s->names[j], s) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

const char *resolved_list(const struct addr *v, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, cap, "none");
	for (size_t i = 0; i < n && len + 1 < cap; i++) {
		char text[ADDR_STRLEN];
		int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "",
			addr_format(&v[i], text, sizeof(text)));
		if (w < 0)
			break;
		len += (size_t)w;
	}
	return buf;
}

void resolved_free(struct resolved *r)
{
	for (size_t i = 0; i < r->n; i++)
		entry_free(&r->v[i]);
	free(r->v);
	*r = (struct resolved){0};
}
