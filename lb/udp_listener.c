/*
 * DOC: udp listeners
 *
 * Memory: a flow is struct udp_flow (under 256 bytes with its bucket pointer, held by a static
 * assertion) and its socket. The receive buffers (UDP_BATCH datagrams of the largest size) are
 * the worker's, shared by its udp listeners: every callback runs to its end on the worker's
 * thread before the next, so one set is enough.
 */
#include "lb/udp_listener.h"

#include "lb/accesslog.h"
#include "lb/admit.h"
#include "lb/backend.h"
#include "lb/balance.h"
#include "lb/listener.h"
#include "lb/pick.h"
#include "lb/udp_flow.h"
#include "lib/clock.h"
#include "lib/container.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Datagrams read per recvmmsg(2) and handled per wake-up of one socket. */
#define UDP_BATCH 16
/* Replies that wait for one sendmmsg, and the largest that waits (a DNS answer fits). */
#define UDP_OUT     64
#define UDP_OUT_MAX 1500
/* The largest UDP payload over IPv4 or IPv6 without jumbograms. */
#define UDP_MAX 65535
/* The receive buffer asked for a listening socket (bytes). */
#define UDP_RCVBUF (4 << 20)
/* How often the flows are looked at for udp_idle and reply_timeout (seconds). */
#define UDP_SWEEP 0.1

struct udp_flow {
	struct udp_flow_node node;
	struct udp_listener *l;
	struct lb_runtime *rt; /* a reference: b lives in it */
	struct lb_backend *b;
	int fd;            /* connected to b */
	int trial;         /* the backend's outlier trial: its first verdict goes with it */
	uint32_t expect;   /* replies still due (udp.responses), when it is set */
	uint64_t start_ms; /* its first datagram, for the access log */
	uint64_t bytes_in, bytes_out; /* client -> backend, backend -> client */
	ev_io io;
};

_Static_assert(sizeof(struct udp_flow) + sizeof(void *) <= 256, "a udp flow costs <= 256 bytes");

struct udp_listener {
	struct session_set *set; /* NULL until started */
	unsigned worker;
	struct lb_service *svc;
	const struct conf_listen *lconf;
	int fd;
	int wildcard;            /* bound to 0.0.0.0 or ::: replies say their source address */
	struct udp_batch *batch; /* the worker's */
	int listening;           /* counted in the service's listening (started, not draining) */
	int draining;
	void (*on_empty)(void *arg);
	void *on_empty_arg;
	struct lb_sock sock; /* in proc's sockets while started and not draining, for an upgrade */
	ev_io io;
	ev_timer sweep;
	struct udp_flow_table table;
};

/* The worker thread's receive buffers, shared by its listeners. */
union udp_ctl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

/*
 * Replies to clients wait here until the loop is about to block again (an ev_prepare), so
 * that the replies of every flow that became readable in one turn of the loop leave in one
 * sendmmsg per listening socket. Larger replies than UDP_OUT_MAX go at once (after what
 * waits: a flow's replies keep their order).
 */
struct udp_out {
	struct mmsghdr msg[UDP_OUT];
	struct iovec iov[UDP_OUT];
	struct sockaddr_storage to[UDP_OUT];
	union udp_ctl ctl[UDP_OUT];
	int fd[UDP_OUT];                      /* the listening socket each leaves from */
	struct lb_service_state *st[UDP_OUT]; /* its service's, for a drop */
	uint8_t data[UDP_OUT][UDP_OUT_MAX];
	unsigned n;
	struct ev_loop *loop;
	ev_prepare flush;
};

struct udp_batch {
	struct mmsghdr msg[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage name[UDP_BATCH];
	union udp_ctl ctl[UDP_BATCH];
	uint8_t data[UDP_BATCH][UDP_MAX];
	struct udp_out out;
};

/* Sends what waits in out, one sendmmsg per run of one listening socket. */
static void out_flush(struct udp_out *o)
{
	for (unsigned i = 0; i < o->n;) {
		unsigned k = 1;
		while (i + k < o->n && o->fd[i + k] == o->fd[i])
			k++;
		int sent = sendmmsg(o->fd[i], &o->msg[i], k, MSG_DONTWAIT);
		for (unsigned j = sent < 0 ? 0 : (unsigned)sent; j < k; j++)
			atomic_fetch_add(&o->st[i + j]->udp.dropped, 1);
		i += k;
	}
	o->n = 0;
	if (o->loop != NULL)
		ev_prepare_stop(o->loop, &o->flush);
}

static void flush_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	(void)loop;
	(void)revents;
	out_flush(container_of(p, struct udp_out, flush));
}

struct udp_batch *udp_batch_new(void)
{
	struct udp_batch *bt = malloc(sizeof(struct udp_batch));

	if (bt != NULL) {
		bt->out.n = 0;
		bt->out.loop = NULL;
		ev_prepare_init(&bt->out.flush, flush_cb);
	}
	return bt;
}

void udp_batch_flush(struct udp_batch *bt)
{
	if (bt != NULL)
		out_flush(&bt->out);
}

void udp_batch_free(struct udp_batch *bt)
{
	if (bt == NULL)
		return;
	out_flush(&bt->out);
	free(bt);
}

/*
 * Ready for recvmmsg (names and control buffers have to be reset each time). With addressed,
 * each message gets room for the sender's address and the local one (IP_PKTINFO): a listening
 * socket's; without, only data: a flow's connected socket, whose peer is known.
 */
static void batch_arm(struct udp_batch *bt, int addressed)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		bt->iov[i] = (struct iovec){bt->data[i], UDP_MAX};
		bt->msg[i].msg_hdr = (struct msghdr){.msg_iov = &bt->iov[i], .msg_iovlen = 1};
		if (addressed) {
			bt->msg[i].msg_hdr.msg_name = &bt->name[i];
			bt->msg[i].msg_hdr.msg_namelen = sizeof(bt->name[i]);
			bt->msg[i].msg_hdr.msg_control = bt->ctl[i].buf;
			bt->msg[i].msg_hdr.msg_controllen = sizeof(bt->ctl[i].buf);
		}
		bt->msg[i].msg_len = 0;
	}
}

/* ---- logging, at most once a second per service ---- */

static void log_drop(struct udp_listener *l, const struct addr *client, const char *why)
{
	uint64_t now = clock_ms();
	uint64_t last = atomic_load_explicit(&l->svc->st->nobackend_log_ms, memory_order_relaxed);
	char cbuf[ADDR_STRLEN];

	if ((now - last < 1000 && last != 0) ||
		!atomic_compare_exchange_strong(&l->svc->st->nobackend_log_ms, &last, now))
		return;
	struct log_field f[] = {LOG_S("service", l->svc->conf->name),
		LOG_S("client", addr_format(client, cbuf, sizeof(cbuf))), LOG_S("reason", why),
		LOG_N("total", atomic_load(&l->svc->st->udp.dropped))};
	log_event(LOG_LEVEL_WARN, "udp_dropped", f, 4,
		"service %s: datagram from %s dropped: %s (%llu so far)", l->svc->conf->name,
		f[1].str, why, (unsigned long long)f[3].num);
}

/* ---- flows ---- */

static void key_client(const struct udp_key *k, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (k->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = k->port;
		memcpy(&s6->sin6_addr, k->ip, 16);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = k->port;
		memcpy(&s4->sin_addr, k->ip, 4);
		*len = sizeof(*s4);
	}
}

/* The access log's line of a flow that ends (lb/accesslog.h): one per flow. */
static void flow_log(const struct udp_flow *f, enum lb_result r, const char *why)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct addr client, local;

	key_client(&f->node.key, &ss, &len);
	addr_from_sockaddr(&client, (struct sockaddr *)&ss, len);
	local = f->l->lconf->addr;
	if (local.sa.sa_family == AF_INET6)
		memcpy(&local.in6.sin6_addr, f->node.key.local, 16);
	else
		memcpy(&local.in.sin_addr, f->node.key.local, 4);
	struct access_record a = {.svc = f->b->svc,
		.client = &client,
		.backend = f->b,
		.listener = &local,
		.bytes_in = f->bytes_in,
		.bytes_out = f->bytes_out,
		.duration_s = (double)(clock_ms() - f->start_ms) / 1000.0,
		.connect_s = 0,
		.result = r,
		.reason = why};
	access_log_line(&a);
}

/* The single exit of a flow: r and why say how it ended (the access log's result, reason). */
static void flow_end(struct udp_flow *f, enum lb_result r, const char *why)
{
	struct udp_listener *l = f->l;

	if (access_log_on(f->b->svc))
		flow_log(f, r, why);
	/* A flow of an older generation may hold the last reference to its service's state,
	 * which waiting replies point to (for a drop): they leave first. */
	if (f->rt != l->svc->rt)
		out_flush(&l->batch->out);

	udp_flow_remove(&l->table, &f->node);
	ev_io_stop(l->set->loop, &f->io);
	close(f->fd);
	if (f->trial)
		backend_trial_abandoned(f->b);
	atomic_fetch_sub(&f->b->st->active, 1);
	atomic_fetch_sub(&f->b->svc->st->udp.flows_active, 1);
	runtime_put(f->rt);
	free(f);
	if (l->table.n == 0) {
		ev_timer_stop(l->set->loop, &l->sweep);
		if (l->draining && l->on_empty != NULL) {
			void (*cb)(void *) = l->on_empty;
			l->on_empty = NULL; /* once */
			cb(l->on_empty_arg);
		}
	}
}

/* A verdict on f's backend: a reply (ok), a refusal or a reply that never came. */
static void flow_verdict(struct udp_flow *f, int ok, const char *why)
{
	backend_session_outcome(f->b, ok, f->trial, why, clock_ms());
	f->trial = 0;
}

static void flow_reply_cb(struct ev_loop *loop, ev_io *io, int revents);

/* The backend for a new flow from client: as a session picks one (lb/pick.h), without retries
 * or max_connections. */
static int pick_flow_backend(struct udp_listener *l, const struct addr *client, int *trial)
{
	struct pick p = {.svc = l->svc};

	return pick_backend(&p, l->set->balancers[l->svc->index],
		addr_hash(client, l->svc->conf->hash_key == CONF_HASH_SOURCE_IP_PORT), trial);
}

/* A socket connected to b; -errno. */
static int backend_socket(const struct lb_backend *b)
{
	const struct addr *ba = &b->conf->addr;
	int fd = socket(ba->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, &ba->sa, ba->len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A flow for key k (from client); NULL when the datagram must be dropped (counted, logged). */
static struct udp_flow *flow_new(
	struct udp_listener *l, const struct udp_key *k, const struct addr *client, uint64_t now)
{
	struct lb_service_state *st = l->svc->st;
	const char *why = NULL;
	int trial = 0;

	/* allow, deny, rate_limit: judged once a flow, at its first datagram. */
	if (l->svc->conf->admit_checks && (why = admit_refusal(l->svc, client)) != NULL) {
		admit_log_refused(l->svc, client, why);
		return NULL;
	}
	int idx = pick_flow_backend(l, client, &trial);
	if (idx < 0) {
		why = "no usable backend";
		goto drop;
	}
	struct lb_backend *b = &l->svc->backends[idx];
	if (udp_flow_full(&l->table)) {
		struct udp_flow *old =
			container_of(udp_flow_oldest(&l->table), struct udp_flow, node);
		flow_end(old, LB_RESULT_RESOURCE, "evicted: udp.max_flows reached");
		atomic_fetch_add(&st->udp.flows_evicted, 1);
	}
	struct udp_flow *f = calloc(1, sizeof(*f));
	int fd = f != NULL ? backend_socket(b) : -ENOMEM;
	if (fd < 0) {
		free(f);
		why = fd == -EMFILE || fd == -ENFILE ? "out of file descriptors"
		      : fd == -ENOMEM                ? "out of memory"
						     : "cannot open a socket to the backend";
		if (trial)
			backend_trial_abandoned(b);
		goto drop;
	}
	f->node.key = *k;
	f->l = l;
	f->rt = runtime_get(l->svc->rt);
	f->b = b;
	f->fd = fd;
	f->trial = trial;
	f->start_ms = now;
	atomic_fetch_add(&b->st->active, 1);
	atomic_fetch_add(&b->st->sessions, 1);
	atomic_fetch_add(&st->udp.flows_created, 1);
	atomic_fetch_add(&st->udp.flows_active, 1);
	ev_io_init(&f->io, flow_reply_cb, fd, EV_READ);
	ev_io_start(l->set->loop, &f->io);
	udp_flow_insert(&l->table, &f->node, now);
	if (!ev_is_active(&l->sweep))
		ev_timer_again(l->set->loop, &l->sweep);
	return f;
drop:
	atomic_fetch_add(&st->udp.dropped, 1);
	log_drop(l, client, why);
	return NULL;
}

/* One datagram from a client: to its flow's backend. */
static void from_client(struct udp_listener *l, const struct addr *client, const struct addr *local,
	const uint8_t *data, size_t len, uint64_t now)
{
	struct udp_key k;

	udp_key_make(&k, client, local);
	struct udp_flow_node *n = udp_flow_find(&l->table, &k);
	struct udp_flow *f = n != NULL ? container_of(n, struct udp_flow, node) : NULL;
	/* A dead backend's flow moves: the client's next datagram makes a new one. */
	if (f != NULL && backend_is_dead(f->b)) {
		flow_end(f, LB_RESULT_BACKEND_DEAD,
			"backend dead: the next datagram makes a new flow");
		f = NULL;
	}
	if (f == NULL && (f = flow_new(l, &k, client, now)) == NULL)
		return;
	struct lb_service_state *st = f->b->svc->st;
	if (send(f->fd, data, len, 0) < 0) {
		int err = errno;
		atomic_fetch_add(&st->udp.dropped, 1);
		if (err == ECONNREFUSED) { /* an ICMP error of an earlier datagram */
			atomic_fetch_add(&st->udp.backend_errors, 1);
			flow_verdict(f, 0, "port unreachable");
			flow_end(f, LB_RESULT_BACKEND_ERROR, "port unreachable");
		}
		log_drop(l, client, strerror(err));
		return;
	}
	atomic_fetch_add_explicit(&st->udp.rx, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->udp.rx_bytes, len, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->b->st->bytes_in, len, memory_order_relaxed);
	f->bytes_in += len;
	udp_flow_from_client(&l->table, &f->node, now);
	if (l->svc->conf->udp.responses > 0)
		f->expect += l->svc->conf->udp.responses;
}

/* The address a datagram was sent to, from its IP_PKTINFO / IPV6_PKTINFO. */
static void local_of(const struct msghdr *m, const struct udp_listener *l, struct addr *local)
{
	*local = l->lconf->addr;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL;
		c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local->in.sin_addr = pi.ipi_addr;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local->in6.sin6_addr = pi.ipi6_addr;
		}
	}
}

static void client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_listener *l = container_of(io, struct udp_listener, io);
	struct udp_batch *bt = l->batch;
	(void)loop;
	(void)revents;

	batch_arm(bt, 1);
	int n = recvmmsg(l->fd, bt->msg, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_debug("udp %s: recvmmsg: %s", l->lconf->address, strerror(errno));
		return;
	}
	uint64_t now = clock_ms();
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &bt->msg[i].msg_hdr;
		struct addr client, local;
		addr_from_sockaddr(&client, m->msg_name, m->msg_namelen);
		local_of(m, l, &local);
		from_client(l, &client, &local, bt->data[i], bt->msg[i].msg_len, now);
	}
}

/* What came back on f's socket: to its client, from the address the client sent to. */
static void flow_reply_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_flow *f = container_of(io, struct udp_flow, io);
	struct udp_listener *l = f->l;
	struct lb_service_state *st = f->b->svc->st; /* the flow's: a reload may move l */
	struct udp_batch *bt = l->batch;
	struct sockaddr_storage to;
	socklen_t tolen;
	(void)loop;
	(void)revents;

	batch_arm(bt, 0);
	int n = recvmmsg(f->fd, bt->msg, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		const char *why = errno == ECONNREFUSED ? "port unreachable" : strerror(errno);
		atomic_fetch_add(&st->udp.backend_errors, 1);
		flow_verdict(f, 0, why);
		flow_end(f, LB_RESULT_BACKEND_ERROR, why);
		return;
	}
	key_client(&f->node.key, &to, &tolen);
	union udp_ctl ctl;
	size_t ctllen = 0;
	if (l->wildcard) {
		memset(&ctl, 0, sizeof(ctl));
		struct cmsghdr *c = &ctl.align;
		if (f->node.key.family == AF_INET6) {
			struct in6_pktinfo pi = {0};
			memcpy(&pi.ipi6_addr, f->node.key.local, 16);
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			ctllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in_pktinfo pi = {0};
			memcpy(&pi.ipi_spec_dst, f->node.key.local, 4);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			ctllen = CMSG_SPACE(sizeof(pi));
		}
	}
	uint64_t bytes = 0;
	struct udp_out *o = &bt->out;
	for (int i = 0; i < n; i++) {
		size_t len = bt->msg[i].msg_len;
		bytes += len;
		if (o->n == UDP_OUT || len > UDP_OUT_MAX)
			out_flush(o);
		if (len > UDP_OUT_MAX) { /* at once, from the receive buffer */
			struct msghdr m = {.msg_name = &to,
				.msg_namelen = tolen,
				.msg_iov = &bt->iov[i],
				.msg_iovlen = 1,
				.msg_control = ctllen > 0 ? ctl.buf : NULL,
				.msg_controllen = ctllen};
			bt->iov[i].iov_len = len;
			if (sendmsg(l->fd, &m, MSG_DONTWAIT) < 0)
				atomic_fetch_add(&st->udp.dropped, 1);
			continue;
		}
		unsigned k = o->n++;
		memcpy(o->data[k], bt->data[i], len);
		o->to[k] = to;
		o->iov[k] = (struct iovec){o->data[k], len};
		if (ctllen > 0)
			o->ctl[k] = ctl;
		o->msg[k].msg_hdr = (struct msghdr){.msg_name = &o->to[k],
			.msg_namelen = tolen,
			.msg_iov = &o->iov[k],
			.msg_iovlen = 1,
			.msg_control = ctllen > 0 ? o->ctl[k].buf : NULL,
			.msg_controllen = ctllen};
		o->fd[k] = l->fd;
		o->st[k] = st;
	}
	if (o->n > 0 && !ev_is_active(&o->flush)) {
		o->loop = l->set->loop;
		ev_prepare_start(o->loop, &o->flush);
	}
	atomic_fetch_add_explicit(&st->udp.tx, (uint64_t)n, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->udp.tx_bytes, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->b->st->bytes_out, bytes, memory_order_relaxed);
	f->bytes_out += bytes;
	int awaited = udp_flow_from_backend(&l->table, &f->node, clock_ms()) >= 0;
	if (awaited || f->trial)
		flow_verdict(f, 1, "reply");
	if (l->svc->conf->udp.responses > 0) {
		f->expect = f->expect > (uint32_t)n ? f->expect - (uint32_t)n : 0;
		if (f->expect == 0)
			flow_end(f, LB_RESULT_DONE, "every reply came");
	}
}

/* udp_idle and reply_timeout. */
static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct udp_listener *l = container_of(t, struct udp_listener, sweep);
	const struct conf_service *sc = l->svc->conf;
	uint64_t now = clock_ms();
	struct udp_flow_node *n;
	(void)loop;
	(void)revents;

	while (now >= sc->udp.reply_timeout_ms &&
		(n = udp_flow_reply_missing(&l->table, now - sc->udp.reply_timeout_ms)) != NULL) {
		struct udp_flow *f = container_of(n, struct udp_flow, node);
		atomic_fetch_add(&l->svc->st->udp.replies_missing, 1);
		flow_verdict(f, 0, "no reply within udp.reply_timeout");
		if (sc->udp.responses > 0) /* the promised replies will not come */
			flow_end(f, LB_RESULT_TIMEOUT, "no reply within udp.reply_timeout");
	}
	/* Draining, no client datagram comes any more: a flow waits reply_timeout for the
	 * replies to what it sent last, then ends. */
	uint64_t idle = sc->timeouts.udp_idle_ms;
	if (l->draining && sc->udp.reply_timeout_ms < idle)
		idle = sc->udp.reply_timeout_ms;
	while ((n = udp_flow_oldest(&l->table)) != NULL && now - n->last_ms >= idle)
		flow_end(container_of(n, struct udp_flow, node), LB_RESULT_DONE,
			l->draining ? "drained" : "idle");
}

/* ---- the socket ---- */

static int is_wildcard(const struct addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
	return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
}

static int open_socket(const struct conf_listen *lc, int probe)
{
	int one = 1, rc;
	int v6 = lc->addr.sa.sa_family == AF_INET6;

	if (probe && (rc = listener_probe_free(lc, SOCK_DGRAM)) < 0)
		return rc;
	int fd = socket(lc->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
		(v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
		(v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
		    : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))) < 0 ||
		bind(fd, &lc->addr.sa, lc->addr.len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	/*
	 * A burst of new clients must wait in the socket, not be dropped by the kernel, while
	 * the worker makes their flows: a large receive buffer, as DNS servers keep (past
	 * net.core.rmem_max with CAP_NET_ADMIN; else as large as that allows). Best effort.
	 */
	int size = UDP_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

/* Takes fd (a bound udp socket, or -errno from open_socket). */
static struct udp_listener *wrap(const struct lb_service *svc, const struct conf_listen *lconf,
	unsigned worker_id, int fd, int *err)
{
	struct udp_listener *l = NULL;
	uint64_t seed = 0;

	if (fd < 0) {
		*err = fd;
		listener_log_failure(svc, lconf, worker_id, fd);
		return NULL;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = clock_ms() ^ ((uint64_t)worker_id << 32) ^ (uint64_t)(uintptr_t)&seed;
	l = calloc(1, sizeof(*l));
	if (l == NULL || udp_flow_table_init(&l->table, svc->conf->udp.max_flows, seed) < 0) {
		log_error("udp %s: out of memory", lconf->address);
		free(l);
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	l->svc = (struct lb_service *)svc;
	l->worker = worker_id;
	l->lconf = lconf;
	l->fd = fd;
	l->wildcard = is_wildcard(&lconf->addr);
	ev_io_init(&l->io, client_cb, fd, EV_READ);
	ev_init(&l->sweep, sweep_cb);
	l->sweep.repeat = UDP_SWEEP;
	return l;
}

struct udp_listener *udp_listener_prepare(const struct lb_service *svc,
	const struct conf_listen *lconf, unsigned worker_id, int probe, int *err)
{
	return wrap(svc, lconf, worker_id, open_socket(lconf, probe), err);
}

struct udp_listener *udp_listener_adopt(const struct lb_service *svc,
	const struct conf_listen *lconf, unsigned worker_id, int fd, int *err)
{
	return wrap(svc, lconf, worker_id, fd, err);
}

void udp_listener_start(struct udp_listener *l, struct session_set *set, struct udp_batch *bt)
{
	l->batch = bt;
	l->set = set;
	l->listening = 1;
	l->sock = (struct lb_sock){.fd = l->fd, .kind = INHERITED_UDP, .addr = l->lconf->addr};
	runtime_sock_link(l->svc->rt->proc, &l->sock);
	atomic_fetch_add(&l->svc->st->listening, 1);
	runtime_service_changed(l->svc);
	ev_io_start(set->loop, &l->io);
}

static void stop_listening(struct udp_listener *l)
{
	if (!l->listening)
		return;
	l->listening = 0;
	ev_io_stop(l->set->loop, &l->io);
	runtime_sock_unlink(&l->sock);
	atomic_fetch_sub(&l->svc->st->listening, 1);
	runtime_service_changed(l->svc);
}

void udp_listener_drain(struct udp_listener *l, void (*on_empty)(void *arg), void *arg)
{
	if (l->set == NULL || l->draining)
		return;
	stop_listening(l);
	l->draining = 1;
	l->on_empty = on_empty;
	l->on_empty_arg = arg;
	/* Each flow ends reply_timeout after its last datagram (sweep_cb) or with its replies. */
	if (l->table.n == 0 && l->on_empty != NULL) {
		l->on_empty = NULL;
		on_empty(arg);
	}
}

int udp_listener_draining_flows(const struct udp_listener *l)
{
	return l->draining && l->table.n > 0;
}

const struct addr *udp_listener_addr(const struct udp_listener *l)
{
	return &l->lconf->addr;
}

void udp_listener_rebind(
	struct udp_listener *l, struct lb_service *svc, const struct conf_listen *lconf)
{
	if (l->listening && svc->st != l->svc->st) {
		atomic_fetch_sub(&l->svc->st->listening, 1);
		atomic_fetch_add(&svc->st->listening, 1);
		runtime_service_changed(l->svc);
		runtime_service_changed(svc);
	}
	l->svc = svc;
	l->lconf = lconf;
	l->wildcard = is_wildcard(&lconf->addr);
}

size_t udp_listener_flows(const struct udp_listener *l)
{
	return l->table.n;
}

void udp_listener_close(struct udp_listener *l)
{
	struct udp_flow_node *n;

	if (l == NULL)
		return;
	if (l->set != NULL) {              /* started */
		out_flush(&l->batch->out); /* what waits may leave from this socket */
		l->on_empty = NULL;
		while ((n = udp_flow_oldest(&l->table)) != NULL)
			flow_end(container_of(n, struct udp_flow, node), LB_RESULT_DRAIN, "closed");
		ev_timer_stop(l->set->loop, &l->sweep);
		stop_listening(l);
	}
	udp_flow_table_destroy(&l->table);
	close(l->fd);
	free(l);
}
