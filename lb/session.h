/*
 * DOC: sessions
 *
 * A session is one client connection and the backend connection made for it.
 */
#ifndef ANYLB_LB_SESSION_H
#define ANYLB_LB_SESSION_H

#include "lb/runtime.h"
#include "lib/addr.h"

struct worker;
struct session;

/*
 * Starts a session for the accepted client fd cfd (ownership passes to the session, which will
 * close it) on worker w. Counting against the limits has been done by the caller; the session
 * undoes it when it ends.
 */
void session_start(struct worker *w, struct lb_service *svc, int cfd, const struct addr *client);

/* Ends a session at once (drain deadline): both sockets are closed. */
void session_abort(struct session *s, const char *reason);

/* Closes every session of w whose backend is dead (liveness failed). */
void session_close_dead(struct worker *w);

/* Frees a recycled session struct (from the worker's free list). */
void session_free_recycled(struct session *s);
struct session *session_recycled_next(struct session *s);

#endif
