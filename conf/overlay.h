/*
 * DOC: runtime backend overlay
 *
 * What the operator changed at run time in the backends of services (anylbctl add-backend,
 * remove-backend), kept apart from the file so that every generation is built the same way: the
 * loaded file's configuration, then the overlay merged into it (overlay_apply), then the reload
 * path (lb/reload.c). Pure: no I/O, no threads; the main thread owns an overlay.
 *
 * The reload rule (overlay_settle, after a generation built with the overlay is in force):
 *   - an added backend that the file now lists too is adopted by the file: the entry goes, and
 *     the file's definition (weight, zone, ...) is the one in force;
 *   - a removed backend stays removed while the file still lists it; once a reload's file no
 *     longer lists it, the entry goes (file and operator agree), so a later file that lists it
 *     again brings it back;
 *   - entries of a service the file no longer has go.
 * A reload with an unchanged file therefore keeps the overlay as it is.
 */
#ifndef ANYLB_CONF_OVERLAY_H
#define ANYLB_CONF_OVERLAY_H

#include "conf/conf.h"

#include <stddef.h>

struct overlay_entry {
	char *service;
	char *address; /* as the operator wrote it */
	struct addr addr;
	int removed;     /* 1: remove-backend; 0: add-backend */
	unsigned weight; /* added only: 1..CONF_MAX_WEIGHT */
	char *zone;      /* added only; NULL: none */
	int in_file;     /* set by overlay_apply: the file lists this (service, address) */
	int svc_in_file; /* set by overlay_apply: the file has the service */
};

struct overlay {
	struct overlay_entry *v;
	size_t n;
};

/*
 * Records an added backend (a removal of the same address is cancelled instead, and the
 * backend comes back as the file has it when the file lists it). 0, -EINVAL (bad address, with
 * why in why[cap]), -EEXIST (already added) or -ENOMEM.
 */
int overlay_add(struct overlay *o, const char *service, const char *address, unsigned weight,
	const char *zone, char *why, size_t cap);

/*
 * Records a removed backend: an added one is forgotten, a file's one is marked removed. 0,
 * -EINVAL (bad address), -EEXIST (already removed) or -ENOMEM.
 */
int overlay_remove(
	struct overlay *o, const char *service, const char *address, char *why, size_t cap);

/*
 * Merges o into c (the file's configuration, freshly loaded): added backends are appended to
 * their service (conf_backend.runtime set), removed ones taken out. Sets every entry's in_file.
 * Returns 0, -ENOMEM, or -EINVAL with the problem in errs (a service would be left without a
 * backend, or with backups only, or over CONF_MAX_BACKENDS). c is changed even on failure.
 */
int overlay_apply(struct overlay *o, struct conf *c, struct conf_errs *errs);

/* After a generation built by overlay_apply(o, ...) is in force: the reload rule above. */
void overlay_settle(struct overlay *o);

/* A deep copy of o (flags included) into *out (empty on failure); 0 or -ENOMEM. */
int overlay_copy(const struct overlay *o, struct overlay *out);

/* Frees the entries; o is then empty. */
void overlay_free(struct overlay *o);

#endif
