/*
 * DOC: the admin bearer token file
 *
 * global.admin.token_file holds the bearer token that writes over TCP must carry: the file's
 * bytes without trailing CR/LF, printable ASCII without spaces, at most ADMIN_TOKEN_MAX bytes.
 * Read once at start-up by the admin interface, and by `anylb -t` and start-up's preparation
 * (lb/prepare.c) so that a file that cannot serve is refused with its place in the
 * configuration. Nothing is logged here: callers say where the file was named.
 */
#ifndef ANYLB_LB_ADMIN_TOKEN_H
#define ANYLB_LB_ADMIN_TOKEN_H

#include <stddef.h>
#include <sys/types.h>

#define ADMIN_TOKEN_MAX 4096

/*
 * Reads path. Returns 0 with *token (malloc'ed, NUL-terminated, wipe with explicit_bzero before
 * free) and *len, and *mode set to the file's permission bits; or -errno with a reason in why.
 */
int admin_token_read(
	const char *path, char **token, size_t *len, mode_t *mode, char *why, size_t cap);

#endif
