/*
 * DOC: listeners
 *
 * Each worker has its own socket on every listening address (SO_REUSEPORT), so the kernel
 * spreads connections over the workers. Before the first of them binds, a probe makes sure no
 * other process listens there already: a second anylb started by mistake is refused at start
 * (and a reload adding an address someone else holds is refused) instead of silently taking a
 * share of the connections.
 *
 * A pause is a timer, not a retry loop: when accept(2) fails for lack of fds the pending
 * connection stays in the kernel's queue and the socket stays readable, so a level-triggered
 * loop that kept the watcher running would spin at 100% CPU without making progress.
 *
 * The flow hand-off's MSS clamp (bgp.flow_handoff.mss_clamp): the listeners of a service with
 * an anycast section set TCP_MAXSEG before listen(2), so the SYN-ACK advertises the clamped
 * MSS and the client's segments leave room for the encapsulation when a peer forwards them
 * here. An IPv6 listener sets 20 bytes less: the clamp is the IPv4 figure (uplink MTU - 20 IP -
 * 20 TCP - 32 encapsulation), and an IPv6 segment travels in the same IPv4 outer with a header 20
 * bytes longer. Accepted sockets inherit it. A successor sets it again on the sockets it inherits
 * (an older process may not have); a reload cannot change it (bgp is fixed), and a listener kept
 * across a reload keeps it.
 */
#include "lb/listener.h"

#include "lb/session.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections accepted per wake-up before other watchers get a turn. */
#define ACCEPT_BATCH 64
/* How long accepting pauses when fds or memory run out (relayd pauses a second). */
#define ACCEPT_PAUSE_ERR 0.5
/* How often a listener paused at global.max_connections looks again. */
#define ACCEPT_PAUSE_LIMIT 0.05
#define LISTEN_BACKLOG     4096

enum listener_state { LISTENER_ACCEPTING, LISTENER_PAUSED, LISTENER_CLOSED };

struct listener {
	struct session_set *set; /* where accepted clients go; NULL until started */
	unsigned worker;         /* the id of the worker whose set it is, for the log */
	struct lb_service *svc;
	const struct conf_listen *lconf;
	int fd;
	enum listener_state state;
	ev_io io;
	ev_timer pause;
	struct lb_sock sock; /* in proc's sockets while started, for an upgrade */
};

static const char *listener_state_name(enum listener_state st)
{
	switch (st) {
	case LISTENER_ACCEPTING:
		return "accepting";
	case LISTENER_PAUSED:
		return "paused";
	case LISTENER_CLOSED:
		return "closed";
	}
	return "?";
}

static void listener_set_state(struct listener *l, enum listener_state st, const char *why)
{
	if (l->state == st)
		return;
	/* Pauses for the connection limit come and go many times a second under load: debug. */
	log_msg(st == LISTENER_PAUSED && strcmp(why, "max_connections reached") != 0
			? LOG_LEVEL_WARN
			: LOG_LEVEL_DEBUG,
		"listener %s (%s) worker %u: %s -> %s: %s", l->lconf->address, l->svc->conf->name,
		l->worker, listener_state_name(l->state), listener_state_name(st), why);
	l->state = st;
}

static void listener_pause(struct listener *l, ev_tstamp how_long, const char *why)
{
	ev_io_stop(l->set->loop, &l->io);
	ev_timer_stop(l->set->loop, &l->pause);
	ev_timer_set(&l->pause, how_long, 0.);
	ev_timer_start(l->set->loop, &l->pause);
	listener_set_state(l, LISTENER_PAUSED, why);
}

void listener_pause_resources(struct listener *l, const char *why)
{
	if (l->state != LISTENER_ACCEPTING)
		return;
	atomic_fetch_add(&l->set->rt->proc->accept_pauses, 1);
	listener_pause(l, ACCEPT_PAUSE_ERR, why);
}

static void pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct listener *l = container_of(t, struct listener, pause);
	(void)revents;

	if (!session_reserve_ready(l->set)) {
		/* Still no spare fd: an accepted client could not get its backend. */
		listener_pause(l, ACCEPT_PAUSE_ERR, "fd reserve not refilled yet");
		return;
	}
	ev_io_start(loop, &l->io);
	listener_set_state(l, LISTENER_ACCEPTING, "pause over");
}

/* The counters of the listener's address (its lconf is one of its service's listen[]). */
static struct lb_listen_stats *listen_stats(const struct listener *l)
{
	const struct conf_service *sc = l->svc->conf;

	if (l->svc->listen_stats == NULL || l->lconf < sc->listen ||
		l->lconf >= sc->listen + sc->nlisten)
		return NULL;
	return l->svc->listen_stats[l->lconf - sc->listen];
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = container_of(io, struct listener, io);
	(void)loop;
	(void)revents;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (session_set_full(l->set)) {
			/* Leave the connection queued in the kernel; look again shortly. */
			atomic_fetch_add(&l->set->rt->proc->limit_pauses, 1);
			listener_pause(l, ACCEPT_PAUSE_LIMIT, "max_connections reached");
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				listener_pause_resources(l, strerror(errno));
				return;
			default:
				log_error("accept on %s: %s", l->lconf->address, strerror(errno));
				listener_pause(l, ACCEPT_PAUSE_ERR, strerror(errno));
				return;
			}
		}
		atomic_fetch_add(&l->svc->st->accepted, 1);
		struct lb_listen_stats *ls = listen_stats(l);
		if (ls != NULL)
			atomic_fetch_add_explicit(&ls->accepted, 1, memory_order_relaxed);
		struct addr client;
		addr_from_sockaddr(&client, (struct sockaddr *)&ss, len);
		/* Admission is the session set's: at a limit the client is refused, the next one
		 * accepted. */
		int rc = session_start(l->set, l->svc, fd, &client, l->lconf->accept_proxy);
		if (rc == -EBUSY && ls != NULL)
			atomic_fetch_add_explicit(&ls->refused, 1, memory_order_relaxed);
		if (rc < 0)
			continue;
		if (l->state != LISTENER_ACCEPTING)
			return; /* that session ran out of fds and paused us */
	}
}

/*
 * Does another socket listen on lc's address already? The workers' listeners share it with
 * SO_REUSEPORT, which would also let a second anylb (or anything of the same user) share it
 * and silently take part of the traffic. A socket without SO_REUSEPORT cannot bind where one
 * listens (wildcard or specific), but can where connections linger in TIME_WAIT: a probe bind
 * before the first worker's tells. 0, -EADDRINUSE, or another -errno.
 */
int listener_probe_free(const struct conf_listen *lc, int type)
{
	int one = 1, rc = 0;
	int fd = socket(lc->addr.sa.sa_family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if ((type == SOCK_STREAM &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
		(lc->addr.sa.sa_family == AF_INET6 &&
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
		bind(fd, &lc->addr.sa, lc->addr.len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

void listener_log_failure(
	const struct lb_service *svc, const struct conf_listen *lconf, unsigned worker_id, int err)
{
	log_error("%s:%d:%d: cannot listen on %s%s for service %s (worker %u): %s%s",
		conf_pos_file(svc->rt->conf, lconf->pos), lconf->pos.line, lconf->pos.col,
		lconf->proto == CONF_PROTO_UDP ? "udp " : "", lconf->address, svc->conf->name,
		worker_id, strerror(-err),
		err == -EADDRINUSE ? " (another process listens there; anylb does not share "
				     "a listening address)"
				   : "");
}

unsigned listener_mss_clamp(const struct lb_service *svc)
{
	const struct conf_flow_handoff *f = &svc->rt->conf->bgp.flow;

	return f->enabled && svc->conf->anycast.enabled ? f->mss_clamp : 0;
}

/* The IPv6 header is 20 bytes longer than IPv4's, inside the same encapsulation. */
#define MSS_IPV6_LESS 20

static int set_mss(int fd, unsigned mss, int family)
{
	int v = (int)mss - (family == AF_INET6 ? MSS_IPV6_LESS : 0);

	return mss == 0 ? 0 : setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof(v));
}

static int open_socket(const struct conf_listen *lc, int first, unsigned mss)
{
	int one = 1, rc;

	if (first && (rc = listener_probe_free(lc, SOCK_STREAM)) < 0)
		return rc;
	int fd = socket(lc->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	/* [::]:443 and 0.0.0.0:443 are separate listeners in the config: keep them apart. */
	if (lc->addr.sa.sa_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	/*
	 * Anycast addresses are on the announcement interface only while announced: FREEBIND
	 * lets the listener exist either way, so announcing never races binding.
	 */
	if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
		goto fail;
	/* Accepted sockets inherit TCP_NODELAY: one setsockopt here, none per client. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	/* Before listen: the SYN-ACKs advertise it (see the DOC block). */
	if (set_mss(fd, mss, lc->addr.sa.sa_family) < 0)
		goto fail;
	if (bind(fd, &lc->addr.sa, lc->addr.len) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:;
	int err = errno;
	close(fd);
	return -err;
}

/* Takes fd (a listening socket, or -errno from open_socket). */
static struct listener *wrap(const struct lb_service *svc, const struct conf_listen *lconf,
	unsigned worker_id, int fd, int *err)
{
	struct listener *l = fd >= 0 ? calloc(1, sizeof(*l)) : NULL;

	if (fd >= 0 && l == NULL) {
		log_error("listen %s: out of memory", lconf->address);
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	if (fd < 0) {
		*err = fd;
		listener_log_failure(svc, lconf, worker_id, fd);
		return NULL;
	}
	l->svc = (struct lb_service *)svc;
	l->worker = worker_id;
	l->lconf = lconf;
	l->fd = fd;
	l->state = LISTENER_CLOSED; /* until started */
	ev_io_init(&l->io, accept_cb, fd, EV_READ);
	ev_init(&l->pause, pause_cb);
	return l;
}

struct listener *listener_prepare(
	const struct lb_service *svc, const struct conf_listen *lconf, unsigned worker_id, int *err)
{
	/* Worker 0 binds an address first, at start and in a reload's preparation. */
	return wrap(svc, lconf, worker_id,
		open_socket(lconf, worker_id == 0, listener_mss_clamp(svc)), err);
}

struct listener *listener_adopt(struct session_set *set, unsigned worker_id, struct lb_service *svc,
	const struct conf_listen *lconf, int fd)
{
	int err, one = 1;

	/* An older anylb's socket may not have it yet; what it accepts from now on inherits it. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (set_mss(fd, listener_mss_clamp(svc), lconf->addr.sa.sa_family) < 0)
		log_warn("listen %s: cannot set the MSS clamp %u on the inherited socket: %s",
			lconf->address, listener_mss_clamp(svc), strerror(errno));
	struct listener *l = wrap(svc, lconf, worker_id, fd, &err);
	if (l != NULL)
		listener_start(l, set);
	return l;
}

void listener_start(struct listener *l, struct session_set *set)
{
	l->sock = (struct lb_sock){.fd = l->fd, .kind = INHERITED_LISTEN, .addr = l->lconf->addr};
	runtime_sock_link(l->svc->rt->proc, &l->sock);
	l->set = set;
	l->state = LISTENER_ACCEPTING;
	atomic_fetch_add(&l->svc->st->listening, 1);
	runtime_service_changed(l->svc);
	ev_io_start(set->loop, &l->io);
}

struct listener *listener_new(struct session_set *set, unsigned worker_id, struct lb_service *svc,
	const struct conf_listen *lconf)
{
	int err;
	struct listener *l = listener_prepare(svc, lconf, worker_id, &err);

	if (l != NULL)
		listener_start(l, set);
	return l;
}

const struct addr *listener_addr(const struct listener *l)
{
	return &l->lconf->addr;
}

void listener_rebind(struct listener *l, struct lb_service *svc, const struct conf_listen *lconf)
{
	/* The address may now belong to another service: it listens for that one. */
	if (l->set != NULL && svc->st != l->svc->st) {
		atomic_fetch_sub(&l->svc->st->listening, 1);
		atomic_fetch_add(&svc->st->listening, 1);
		runtime_service_changed(l->svc);
		runtime_service_changed(svc);
	}
	l->svc = svc;
	l->lconf = lconf;
}

void listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->set != NULL) { /* started */
		ev_io_stop(l->set->loop, &l->io);
		ev_timer_stop(l->set->loop, &l->pause);
		listener_set_state(l, LISTENER_CLOSED, "closing");
		atomic_fetch_sub(&l->svc->st->listening, 1);
		runtime_service_changed(l->svc);
	}
	runtime_sock_unlink(&l->sock);
	close(l->fd);
	l->fd = -1;
	free(l);
}
