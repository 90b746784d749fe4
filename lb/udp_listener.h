/*
 * DOC: udp listeners
 *
 * A udp service's socket on one listen address in one worker (SO_REUSEPORT: the kernel spreads
 * clients over the workers by their address and port), and the flows of the clients it
 * heard. Datagrams are read in batches (recvmmsg). A client's first datagram makes a flow: the
 * service's balancer picks a backend (maglev on the client address by default), a socket
 * connected to it carries the client's datagrams there, and what comes back on it goes to the
 * client in a batch (sendmmsg), from the address the client sent to (IP_PKTINFO, so wildcard
 * and anycast listeners answer from the right address). A flow ends after timeouts.udp_idle
 * without a client datagram, once every reply udp.responses promises came, when its backend
 * refuses (ICMP port unreachable: a failure for outlier detection, as a reply missing after
 * udp.reply_timeout is) or when its backend is dead at the client's next datagram (which then
 * makes a new flow to another backend). The flow table is bounded; a new client in a full table
 * evicts the least recently used flow.
 *
 * Backend side: one connected socket per flow (what nginx does). The kernel then matches
 * replies to flows and drops datagrams from any other address, at the cost of an fd per flow:
 * concurrent flows are capped by the fd limit, and a datagram that finds none is dropped and
 * counted.
 *
 *   (prepared) --udp_listener_start--> OPEN --udp_listener_drain--> DRAINING --flows gone-->
 *   DRAINED; udp_listener_close from any of them (flows ended, socket closed, freed)
 *
 * Draining stops reading but keeps the socket to send the replies its flows still await; each
 * flow ends udp.reply_timeout after its last datagram (or with the replies udp.responses
 * promised). After an upgrade handed the socket over
 * (it is the same socket in both processes: lb/inherited.h), the successor reads every
 * datagram from then on, so no datagram and no awaited reply is lost.
 *
 * One thread: the worker's, once started.
 */
#ifndef ANYLB_LB_UDP_LISTENER_H
#define ANYLB_LB_UDP_LISTENER_H

#include "lb/runtime.h"
#include "lb/session.h"

struct udp_listener;
struct udp_batch;

/*
 * Binds a socket for lconf (a udp listen entry of svc) for worker worker_id, without starting
 * it; probe: first make sure no other process holds the address. NULL with *err (-errno), the
 * reason logged.
 */
struct udp_listener *udp_listener_prepare(const struct lb_service *svc,
	const struct conf_listen *lconf, unsigned worker_id, int probe, int *err);

/* The receive buffers of one worker's udp listeners (about 1 MiB), or NULL. */
struct udp_batch *udp_batch_new(void);
void udp_batch_free(struct udp_batch *bt);

/*
 * Sends the replies that wait for the loop's next turn (they leave in one sendmmsg per socket
 * then): before a reload's switch lets a generation go. NULL is fine.
 */
void udp_batch_flush(struct udp_batch *bt);

/* The same over fd, a udp socket an upgrade handed over (lb/inherited.h), which it takes. */
struct udp_listener *udp_listener_adopt(const struct lb_service *svc,
	const struct conf_listen *lconf, unsigned worker_id, int fd, int *err);

/*
 * Stops reading; on_empty(arg) is called once no flow is left (at once if none is). The
 * listener stays for the worker to close.
 */
void udp_listener_drain(struct udp_listener *l, void (*on_empty)(void *arg), void *arg);

/*
 * Starts reading on set's loop (its balancers pick the backends) into bt, which must outlive
 * l. Worker thread.
 */
void udp_listener_start(struct udp_listener *l, struct session_set *set, struct udp_batch *bt);

const struct addr *udp_listener_addr(const struct udp_listener *l);

/* A reload kept the address: new flows are svc's; existing ones keep their backend. */
void udp_listener_rebind(
	struct udp_listener *l, struct lb_service *svc, const struct conf_listen *lconf);

/* Flows now. */
size_t udp_listener_flows(const struct udp_listener *l);

/* Draining, with flows still awaiting their replies. */
int udp_listener_draining_flows(const struct udp_listener *l);

/* Ends every flow and closes the socket. NULL is fine. */
void udp_listener_close(struct udp_listener *l);

#endif
