/*
 * DOC: scenario: the service queue
 *
 * Two echo backends with max_connections 5 each, so ten sessions fill the service. 50 clients
 * connect one after the other, 10 ms apart, to two workers, each sends its number and holds
 * its session. With queue.max 100 none is reset: the first ten are served at once, the other
 * 40 wait; then the oldest served client closes, one at a time, and each freed slot must serve
 * exactly the oldest waiting client, whichever worker holds it. With queue.max 10 and sessions that
 * are held, the ten after the first ten wait and exactly the 30 after those are closed with `queue
 * full`; the waiting ten are served once the first ten close. A client alone behind a full backend
 * is closed at timeouts.queue with `queue timeout`, not before. /status and /metrics count all of
 * it.
 */
#include "tests/support/admin_client.h"
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fini(void)
{
	sc_cleanup();
	sc_admin_cleanup();
}

TestSuite(queue, .fini = fini, .timeout = 90);

enum { NCLIENTS = 50 };

struct rig {
	char sock[256], where[270], listen[SC_ADDRSTRLEN];
	struct sc_backend *be[2];
	struct sc_lb *lb;
};

static void rig_start(struct rig *r, int workers, const char *queue, int backend_max)
{
	const char *dir = sc_admin_temp_dir();

	cr_assert_not_null(dir);
	snprintf(r->sock, sizeof(r->sock), "%s/admin.sock", dir);
	snprintf(r->where, sizeof(r->where), "unix:%s", r->sock);
	cr_assert_gt(sc_free_addr(AF_INET, r->listen, sizeof(r->listen)), 0);
	for (int i = 0; i < 2; i++) {
		r->be[i] = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
		cr_assert_not_null(r->be[i]);
	}
	r->lb = sc_lb_start("global:\n"
			    "  workers: %d\n"
			    "  drain_timeout: 1s\n"
			    "  admin: {socket: %s}\n"
			    "  access_log: {target: stderr}\n"
			    "services:\n"
			    "  - name: web\n"
			    "    listen: [\"%s\"]\n"
			    "    %s\n"
			    "    backends:\n"
			    "      - {address: \"%s\", max_connections: %d}\n"
			    "      - {address: \"%s\", max_connections: %d}\n",
		workers, r->sock, r->listen, queue, sc_backend_addr(r->be[0]), backend_max,
		sc_backend_addr(r->be[1]), backend_max);
	cr_assert_not_null(r->lb, "anylb did not start");
	cr_assert_eq(sc_admin_wait(r->where, 3000), 0, "the admin socket never answered");
}

/* The value of the first /metrics line that starts with prefix, or -1. */
static long long metric(const struct rig *r, const char *prefix)
{
	struct sc_http_resp h;
	long long v = -1;

	if (sc_http(r->where, "GET", "/metrics", NULL, 2000, &h) < 0)
		return -1;
	for (const char *p = h.body; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			v = atoll(p + strlen(prefix));
			break;
		}
	}
	sc_http_free(&h);
	return v;
}

/* What a client saw. */
enum outcome { WAITING, ECHOED, RESET, CLOSED };

struct client {
	int id; /* the number it sends */
	int fd;
	enum outcome out;
	int order;           /* rank of its echo among all echoes; -1: none */
	int64_t close_at_ms; /* when the test closes it (0: held until told) */
};

/*
 * Polls every client that still waits until each has an echo or was closed, at most
 * timeout_ms. An echoed client is closed hold_ms later when hold_ms > 0. Returns how many
 * echoes came in, counting on from *rank.
 */
static void run_clients(struct client *c, int n, int hold_ms, int timeout_ms, int *rank)
{
	int64_t end = sc_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd[NCLIENTS];
		int idx[NCLIENTS], np = 0, pending = 0;
		int64_t now = sc_now_ms();
		for (int i = 0; i < n; i++) {
			if (c[i].fd >= 0 && c[i].close_at_ms != 0 && now >= c[i].close_at_ms) {
				close(c[i].fd);
				c[i].fd = -1;
			}
			if (c[i].fd >= 0 && c[i].out == WAITING) {
				pfd[np] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
				idx[np++] = i;
			}
			pending += c[i].out == WAITING || (c[i].fd >= 0 && c[i].close_at_ms != 0);
		}
		if (pending == 0 || now >= end)
			return;
		poll(pfd, (nfds_t)np, 5);
		for (int k = 0; k < np; k++) {
			struct client *cl = &c[idx[k]];
			char buf[32];
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = recv(cl->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (got > 0) {
				buf[got] = '\0';
				cr_expect_eq(atoi(buf), cl->id, "client %d got another's echo: %s",
					cl->id, buf);
				cl->out = ECHOED;
				cl->order = (*rank)++;
				if (hold_ms > 0)
					cl->close_at_ms = sc_now_ms() + hold_ms;
			} else if (got == 0) {
				cl->out = CLOSED;
			} else if (errno == ECONNRESET) {
				cl->out = RESET;
			}
		}
	}
}

/* Client i connects and sends its number; a connect refused or reset counts as RESET. */
static void start_client(const struct rig *r, struct client *c, int i)
{
	char msg[16];

	c->id = i;
	c->out = WAITING;
	c->order = -1;
	c->close_at_ms = 0;
	c->fd = sc_connect(r->listen, 2000);
	if (c->fd < 0) {
		c->out = RESET;
		return;
	}
	int n = snprintf(msg, sizeof(msg), "%d\n", i);
	if (sc_send_all(c->fd, msg, (size_t)n, 2000) < 0)
		c->out = RESET;
}

Test(queue, a_full_service_queues_every_client_and_serves_them_in_order)
{
	struct rig r;
	struct client c[NCLIENTS];
	int rank = 0;

	rig_start(&r, 2, "queue: {max: 100}\n    timeouts: {queue: 20s}", 5);
	for (int i = 0; i < NCLIENTS; i++) {
		start_client(&r, &c[i], i);
		run_clients(c, i + 1, 0, 10, &rank); /* 10 ms apart: they arrive in order */
	}
	int64_t end = sc_now_ms() + 5000;
	while (rank < 10 && sc_now_ms() < end)
		run_clients(c, NCLIENTS, 0, 20, &rank);
	cr_assert_eq(rank, 10, "served at once: %d, not the ten slots", rank);
	cr_expect_eq(metric(&r, "anylb_service_queue_length{service=\"web\"} "), 40);

	/*
	 * One slot at a time: the oldest served client closes, and exactly the oldest waiting one
	 * must be the next served, whichever worker accepted it.
	 */
	int out_of_order = 0;
	for (int next = 10; next < NCLIENTS; next++) {
		int oldest = -1;
		for (int i = 0; i < NCLIENTS; i++)
			if (c[i].out == ECHOED && c[i].fd >= 0 &&
				(oldest < 0 || c[i].order < c[oldest].order))
				oldest = i;
		cr_assert_geq(oldest, 0);
		close(c[oldest].fd);
		c[oldest].fd = -1;
		int was = rank;
		end = sc_now_ms() + 3000;
		while (rank == was && sc_now_ms() < end)
			run_clients(c, NCLIENTS, 0, 5, &rank);
		cr_assert_eq(rank, was + 1, "a freed slot served %d clients", rank - was);
		if (c[next].order != was) {
			out_of_order++;
			for (int i = 0; i < NCLIENTS; i++)
				if (c[i].order == was)
					cr_expect(0, "client %d was served before client %d", i,
						next);
		}
	}
	int echoed = 0, reset = 0;
	for (int i = 0; i < NCLIENTS; i++) {
		echoed += c[i].out == ECHOED;
		reset += c[i].out == RESET || c[i].out == CLOSED;
	}
	cr_expect_eq(reset, 0, "%d of %d clients were closed instead of queued", reset, NCLIENTS);
	cr_expect_eq(echoed, NCLIENTS, "%d of %d clients were served", echoed, NCLIENTS);
	cr_expect_eq(out_of_order, 0);
	cr_expect_eq(metric(&r, "anylb_service_queued_total{service=\"web\"} "), 40);
	cr_expect_eq(metric(&r, "anylb_service_queue_full_total{service=\"web\"} "), 0);
	cr_expect_eq(metric(&r, "anylb_service_queue_length{service=\"web\"} "), 0);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "queue full"), 0);
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "is at max_connections"), 0);
	for (int i = 0; i < NCLIENTS; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

Test(queue, past_queue_max_exactly_the_overflow_is_closed_with_queue_full)
{
	struct rig r;
	struct client c[NCLIENTS];
	int rank = 0;

	rig_start(&r, 2, "queue: {max: 10}\n    timeouts: {queue: 20s}", 5);
	for (int i = 0; i < NCLIENTS; i++) {
		start_client(&r, &c[i], i);
		run_clients(c, i + 1, 0, 2, &rank);
	}
	/* Ten served and held, ten waiting, thirty closed: wait until every client has its fate. */
	int64_t end = sc_now_ms() + 10000;
	int echoed, refused;
	do {
		run_clients(c, NCLIENTS, 0, 20, &rank);
		echoed = refused = 0;
		for (int i = 0; i < NCLIENTS; i++) {
			echoed += c[i].out == ECHOED;
			refused += c[i].out == RESET || c[i].out == CLOSED;
		}
	} while ((echoed < 10 || refused < 30) && sc_now_ms() < end);
	cr_expect_eq(echoed, 10, "served while the queue was full: %d", echoed);
	cr_expect_eq(refused, 30, "closed: %d (queue.max 10, 10 slots, 50 clients)", refused);
	cr_expect_eq(metric(&r, "anylb_service_queue_length{service=\"web\"} "), 10);
	cr_expect_eq(metric(&r, "anylb_service_queue_full_total{service=\"web\"} "), 30);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "reason=\"queue full\"", 2000, NULL), 0,
		"no access line with reason queue full");
	cr_expect_eq(sc_lb_log_count(r.lb, 0, "no usable backend"), 0);

	/* The first ten close: the ten that waited are served. */
	for (int i = 0; i < NCLIENTS; i++) {
		if (c[i].out == ECHOED) {
			close(c[i].fd);
			c[i].fd = -1;
		}
	}
	run_clients(c, NCLIENTS, 0, 10000, &rank);
	echoed = 0;
	for (int i = 0; i < NCLIENTS; i++)
		echoed += c[i].out == ECHOED;
	cr_expect_eq(echoed, 20, "the ten that waited were not all served: %d in all", echoed);
	struct sc_http_resp h;
	cr_assert_eq(sc_http(r.where, "GET", "/status", NULL, 2000, &h), 0);
	const char *q = strstr(h.body, "\"queue\": {");
	cr_expect(q != NULL && strstr(q, "\"max\": 10,") != NULL &&
			  strstr(q, "\"full\": 30,") != NULL,
		"/status has no queue with max 10 and full 30: %s", q != NULL ? q : h.body);
	sc_http_free(&h);
	for (int i = 0; i < NCLIENTS; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}

Test(queue, a_client_waits_timeouts_queue_then_is_closed_with_queue_timeout)
{
	struct rig r;
	struct client c[4];
	int rank = 0;

	rig_start(&r, 1, "queue: {max: 10}\n    timeouts: {queue: 400ms}", 1);
	start_client(&r, &c[0], 0);
	start_client(&r, &c[1], 1);
	run_clients(c, 2, 0, 2000, &rank); /* both slots taken */
	cr_assert(c[0].out == ECHOED && c[1].out == ECHOED);
	int64_t t0 = sc_now_ms();
	start_client(&r, &c[2], 2);
	run_clients(c + 2, 1, 0, 3000, &rank);
	int64_t waited = sc_now_ms() - t0;
	cr_expect(
		c[2].out == RESET || c[2].out == CLOSED, "the third client: outcome %d", c[2].out);
	cr_expect(waited >= 350 && waited < 2500, "closed after %lld ms, timeouts.queue 400ms",
		(long long)waited);
	cr_expect_geq(sc_lb_wait_log(r.lb, 0, "reason=\"queue timeout\"", 2000, NULL), 0);
	cr_expect_eq(metric(&r, "anylb_service_queue_timeouts_total{service=\"web\"} "), 1);
	cr_expect_eq(metric(&r, "anylb_service_queue_length{service=\"web\"} "), 0);

	/* A slot frees while one waits: it is served at once, well before the timeout. */
	start_client(&r, &c[3], 3);
	sc_sleep_ms(50);
	close(c[0].fd);
	c[0].fd = -1;
	run_clients(c + 3, 1, 0, 3000, &rank);
	/* Not served by then, it would have been closed at the timeout: an outcome of RESET. */
	cr_expect_eq(c[3].out, ECHOED, "the waiting client was not served when a slot freed");
	for (int i = 0; i < 4; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	cr_assert_eq(sc_lb_stop(r.lb), 0);
}
