/*
 * DOC: container_of
 *
 * libev watchers are embedded in the struct that owns them (ev.pod, "associating custom data with
 * a watcher"); a callback recovers its owner from the watcher's address with this.
 */
#ifndef ANYLB_LIB_CONTAINER_H
#define ANYLB_LIB_CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
