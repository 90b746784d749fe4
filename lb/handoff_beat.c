/*
 * DOC: lb/handoff_beat.c: the flow hand-off's heartbeats on the wire (see handoff_beat.h)
 *
 * One fd, the socket, owned here from handoff_beat_new to handoff_beat_free; one timer for the
 * rounds; one io watcher for what comes in. Neither keeps the loop alive (ev_unref): the stop
 * ends the loop when the sessions are done, heartbeats or not. Time is clock_ms(), monotonic:
 * the judging must not jump with the wall clock, which ev_now() follows.
 */
#include "lb/handoff_beat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"

#define BEAT_BATCH 16 /* messages read per wakeup at most */

struct handoff_beat {
	struct ev_loop *loop;
	struct handoff_beat_conf conf;
	uint32_t peers4[FLOW_MAX_PEERS];
	struct handoff_beat_hooks hooks;
	int fd; /* -1 until bound */
	int bind_said;
	uint32_t send_said; /* bit i: a failed send to peer i was logged, until one succeeds */
	ev_timer round;
	ev_io in;
	uint64_t sent, received;
};

static struct sockaddr_in beat_addr(uint32_t addr4, uint16_t port)
{
	return (struct sockaddr_in){
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr4};
}

static void beat_send(struct handoff_beat *b, enum flow_kind kind)
{
	struct flow_hdr m = {.magic = FLOW_HDR_MAGIC, .family = FLOW_FAMILY_CONTROL, .kind = kind};

	for (size_t i = 0; b->fd >= 0 && i < b->conf.npeers; i++) {
		struct sockaddr_in to = beat_addr(b->peers4[i], b->conf.port);
		if (sendto(b->fd, &m, sizeof(m), MSG_DONTWAIT, (struct sockaddr *)&to,
			    sizeof(to)) == (ssize_t)sizeof(m)) {
			b->sent++;
			continue;
		}
		/* An unreachable peer is what the heartbeats are there to find: said once. */
		if (!b->send_said) {
			char a[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &b->peers4[i], a, sizeof(a));
			log_warn("flow hand-off: heartbeat to %s: %s (said once)", a,
				strerror(errno));
			b->send_said = 1;
		}
	}
}

/* 0 bound, -1 not yet (said once). */
static int beat_bind(struct handoff_beat *b)
{
	struct sockaddr_in me = beat_addr(b->conf.self4, b->conf.port);

	if (b->fd >= 0)
		return 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0) {
		b->fd = fd;
		ev_io_set(&b->in, fd, EV_READ);
		ev_io_start(b->loop, &b->in);
		ev_unref(b->loop);
		if (b->bind_said)
			log_info("flow hand-off: heartbeat socket bound at last");
		b->hooks.bound(b->hooks.arg, clock_ms());
		return 0;
	}
	if (!b->bind_said) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &b->conf.self4, a, sizeof(a));
		log_warn("flow hand-off: heartbeat socket %s:%u: %s (trying again every heartbeat)",
			a, (unsigned)b->conf.port, strerror(errno));
		b->bind_said = 1;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

static void beat_round(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct handoff_beat *b = w->data;

	(void)loop;
	(void)revents;
	if (beat_bind(b) < 0)
		return;
	beat_send(b, FLOW_KIND_BEAT);
	b->hooks.tick(b->hooks.arg, clock_ms());
}

static void beat_in(struct ev_loop *loop, ev_io *w, int revents)
{
	struct handoff_beat *b = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < BEAT_BATCH; i++) {
		struct flow_hdr m;
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(b->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC,
			(struct sockaddr *)&from, &flen);
		if (n < 0)
			return; /* EAGAIN, or an ICMP error queued for a send: nothing to read */
		/* Exactly one control message; anything else on this port is not ours to judge. */
		if (n != (ssize_t)sizeof(m) || flen != sizeof(from) || m.magic != FLOW_HDR_MAGIC ||
			m.family != FLOW_FAMILY_CONTROL ||
			(m.kind != FLOW_KIND_BEAT && m.kind != FLOW_KIND_LEAVING))
			continue;
		b->received++;
		b->hooks.heard(
			b->hooks.arg, from.sin_addr.s_addr, (enum flow_kind)m.kind, clock_ms());
	}
}

struct handoff_beat *handoff_beat_new(
	struct ev_loop *loop, const struct handoff_beat_conf *c, const struct handoff_beat_hooks *h)
{
	struct handoff_beat *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		log_error("flow hand-off: heartbeats: out of memory");
		return NULL;
	}
	b->loop = loop;
	b->conf = *c;
	b->conf.npeers = c->npeers > FLOW_MAX_PEERS ? FLOW_MAX_PEERS : c->npeers;
	memcpy(b->peers4, c->peers4, b->conf.npeers * sizeof(b->peers4[0]));
	b->conf.peers4 = b->peers4;
	b->hooks = *h;
	b->fd = -1;
	double every = (double)c->every_ms / 1000.0;
	ev_timer_init(&b->round, beat_round, 0.0, every);
	b->round.data = b;
	ev_init(&b->in, beat_in);
	b->in.data = b;
	ev_timer_start(loop, &b->round);
	ev_unref(loop);
	return b;
}

void handoff_beat_free(struct handoff_beat *b, int leaving)
{
	if (b == NULL)
		return;
	if (leaving)
		beat_send(b, FLOW_KIND_LEAVING);
	ev_ref(b->loop);
	ev_timer_stop(b->loop, &b->round);
	if (b->fd >= 0) {
		ev_ref(b->loop);
		ev_io_stop(b->loop, &b->in);
		close(b->fd);
	}
	free(b);
}

uint64_t handoff_beat_sent(const struct handoff_beat *b)
{
	return b != NULL ? b->sent : 0;
}

uint64_t handoff_beat_received(const struct handoff_beat *b)
{
	return b != NULL ? b->received : 0;
}
