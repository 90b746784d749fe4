/*
 * DOC: the binary upgrade, new side (see successor.h)
 */
#include "lb/successor.h"

#include "lb/handover.h"
#include "lb/inherited.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Each packet of the handover must come within this (the old process sends them at once). */
#define RECV_TIMEOUT_MS 10000
/* A state snapshot larger than this is refused (a sane site's is a few MB). */
#define STATE_MAX (256u << 20)

struct successor {
	int sock;
	pid_t previous;
	char stop_at[16]; /* ANYLB_UPGRADE_STOP_AT, or "" */
};

#define STOP_ENV "ANYLB_UPGRADE_STOP_AT"

int successor_open(struct successor **out)
{
	const char *v = getenv(HANDOVER_ENV);
	char *end;
	int type = 0;
	socklen_t tl = sizeof(type);

	*out = NULL;
	if (v == NULL)
		return 0;
	long fd = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || fd < 3 || fd > 1 << 20 ||
		getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		type != SOCK_SEQPACKET) {
		log_error("%s=%s names no handover socket: not started by an upgrade?",
			HANDOVER_ENV, v);
		unsetenv(HANDOVER_ENV);
		return -EBADF;
	}
	unsetenv(HANDOVER_ENV);
	struct successor *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	s->sock = (int)fd;
	s->previous = getppid();
	const char *stop = getenv(STOP_ENV);
	if (stop != NULL)
		snprintf(s->stop_at, sizeof(s->stop_at), "%s", stop);
	unsetenv(STOP_ENV);
	*out = s;
	return 1;
}

pid_t successor_previous(const struct successor *s)
{
	return s->previous;
}

/* One FDS packet: one line per fd, "KIND WHAT". */
static int take_fds(struct handover_msg *m, struct inherited *in, size_t *n, char *msg, size_t cap)
{
	const char *p = m->text;

	for (size_t i = 0; i < m->nfds; i++) {
		const char *nl = strchr(p, '\n');
		const char *sp = nl != NULL ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		enum inherited_kind k = INHERITED_LISTEN;
		if (sp == NULL || inherited_kind_parse(p, (size_t)(sp - p), &k) < 0) {
			snprintf(msg, cap,
				"the old process described fd %zu of a packet as '%.60s'", i, p);
			return -EPROTO;
		}
		char what[256];
		snprintf(what, sizeof(what), "%.*s", (int)(nl - sp - 1), sp + 1);
		int rc = inherited_add(in, k, what, handover_msg_take_fd(m, i));
		if (rc == -ENOMEM) {
			snprintf(msg, cap, "out of memory");
			return rc;
		}
		*n += rc == 0;
		p = nl + 1;
	}
	return 0;
}

void successor_step(struct successor *s, const char *step)
{
	if (s == NULL || strcmp(s->stop_at, step) != 0)
		return;
	log_info("upgrade: stopping at '%s' (%s)", step, STOP_ENV);
	raise(SIGSTOP);
}

/* Appends m's text to *buf (*len bytes so far); 0 or -errno with why in msg. */
static int append(char **buf, size_t *len, const struct handover_msg *m, char *msg, size_t cap)
{
	if (*len + m->len > STATE_MAX) {
		snprintf(msg, cap, "the %s is larger than %u MiB", handover_type_name(m->type),
			STATE_MAX >> 20);
		return -EMSGSIZE;
	}
	char *nb = realloc(*buf, *len + m->len + 1);
	if (nb == NULL) {
		snprintf(msg, cap, "out of memory");
		return -ENOMEM;
	}
	*buf = nb;
	memcpy(nb + *len, m->text, m->len);
	*len += m->len;
	nb[*len] = '\0';
	return 0;
}

static void texts_free(struct successor_texts *t)
{
	free(t->state);
	free(t->anycast);
	memset(t, 0, sizeof(*t));
}

/* STATE and ANYCAST packets (and FDS into in, when not NULL) until END. 0 or -errno, why in msg. */
static int receive_until_end(struct successor *s, struct inherited *in, struct successor_texts *t,
	size_t *nfds, char *msg, size_t cap)
{
	int rc;

	memset(t, 0, sizeof(*t));
	for (;;) {
		struct handover_msg m;
		if ((rc = handover_recv(s->sock, &m, RECV_TIMEOUT_MS)) < 0) {
			snprintf(msg, cap, "the handover broke off: %s", strerror(-rc));
			texts_free(t);
			return rc;
		}
		switch (m.type) {
		case HANDOVER_FDS:
			if (in == NULL) {
				snprintf(msg, cap, "the old process sent sockets out of turn");
				rc = -EPROTO;
				break;
			}
			rc = take_fds(&m, in, nfds, msg, cap);
			break;
		case HANDOVER_STATE:
			rc = append(&t->state, &t->state_len, &m, msg, cap);
			break;
		case HANDOVER_ANYCAST:
			rc = append(&t->anycast, &t->anycast_len, &m, msg, cap);
			break;
		case HANDOVER_END:
			handover_msg_free(&m);
			return 0;
		case HANDOVER_HELLO:
		case HANDOVER_READY:
		case HANDOVER_FAIL:
			snprintf(msg, cap, "the old process sent '%s' out of turn",
				handover_type_name(m.type));
			rc = -EPROTO;
			break;
		}
		handover_msg_free(&m);
		if (rc < 0) {
			texts_free(t);
			return rc;
		}
	}
}

int successor_receive(
	struct successor *s, struct inherited *in, struct successor_texts *t, char *msg, size_t cap)
{
	char hello[64];
	size_t nfds = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	int n = snprintf(hello, sizeof(hello), "pid %ld version %s", (long)getpid(), ANYLB_VERSION);
	if ((rc = handover_send(
		     s->sock, HANDOVER_HELLO, hello, (size_t)n, NULL, 0, RECV_TIMEOUT_MS)) < 0) {
		snprintf(msg, cap, "cannot reach the old process: %s", strerror(-rc));
		return rc;
	}
	successor_step(s, "hello");
	if ((rc = receive_until_end(s, in, t, &nfds, msg, cap)) < 0)
		return rc;
	log_info("upgrade: took over %zu sockets, %zu bytes of state and %zu of the announcement "
		 "from pid %ld",
		nfds, t->state_len, t->anycast_len, (long)s->previous);
	successor_step(s, "end");
	return 0;
}

int successor_ready(struct successor *s, char **state, size_t *len)
{
	char msg[256];
	size_t nfds = 0;
	struct successor_texts t;
	int rc = handover_send(s->sock, HANDOVER_READY, NULL, 0, NULL, 0, RECV_TIMEOUT_MS);

	*state = NULL;
	*len = 0;
	if (rc < 0) {
		log_warn("upgrade: cannot tell pid %ld that this process serves: %s",
			(long)s->previous, strerror(-rc));
		return rc;
	}
	successor_step(s, "ready");
	rc = receive_until_end(s, NULL, &t, &nfds, msg, sizeof(msg));
	free(t.anycast);
	*state = t.state;
	*len = t.state_len;
	if (rc < 0)
		log_warn("upgrade: pid %ld did not say what it counted since the handover began "
			 "(%s): the counters miss that much",
			(long)s->previous, msg);
	return rc;
}

void successor_fail(struct successor *s, const char *why)
{
	size_t n = strlen(why);

	if (s == NULL)
		return;
	handover_send(s->sock, HANDOVER_FAIL, why, n < HANDOVER_MAX_TEXT ? n : HANDOVER_MAX_TEXT,
		NULL, 0, 1000);
}

void successor_free(struct successor *s)
{
	if (s == NULL)
		return;
	close(s->sock);
	free(s);
}
