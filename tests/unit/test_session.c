/*
 * DOC: unit tests for the session state machine (lb/session.c)
 *
 * A session set needs a loop, a generation and balancers, nothing of a worker or a listener:
 * the test builds a generation from YAML, one balancer per service and a libev loop of its own,
 * hands the set client sockets the way a listener would, and plays the backend with sockets on
 * 127.0.0.1. Each transition of the diagram in session.c is observed through what it leaves
 * behind: the counts it takes and gives back, the result it is recorded under, the bytes the
 * peers see, and the set's "empty" callback.
 *
 *   CONNECTING -> PROXYING -> CLOSED (done)       CONNECTING -> CONNECTING (refused, next one)
 *   CONNECTING -> CLOSED (no backend, limit)      PROXYING -> CLOSED (reset by either side,
 *                                                 idle timeout, abort)
 */
#include "conf/conf.h"
#include "lb/balance.h"
#include "lb/runtime.h"
#include "lb/session.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A backend: a listening socket (or, refusing, a bound one that does not listen). */
struct fake_backend {
	int fd;
	int port;
};

static struct fake_backend backend_open(int listening)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (listening)
		cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return (struct fake_backend){.fd = fd, .port = ntohs(sin.sin_port)};
}

struct env {
	struct ev_loop *loop;
	struct lb_runtime *rt;
	struct lb_service *svc;
	struct balancer **balancers;
	struct session_set set;
	int empty_calls;
	int pauses;
};

static void on_empty(void *arg)
{
	((struct env *)arg)->empty_calls++;
}

static void on_pause(void *arg, const char *why)
{
	(void)why;
	((struct env *)arg)->pauses++;
}

/* One service "web" over the backends' ports, with extra YAML lines for the service. */
static void env_init(struct env *e, const int *ports, size_t nports, const char *extra)
{
	char y[2048];
	int n = snprintf(y, sizeof(y),
		"services:\n"
		"  - name: web\n"
		"    listen: [\"127.0.0.1:1\"]\n"
		"    balance: round_robin\n"
		"%s"
		"    backends:\n",
		extra);
	for (size_t i = 0; i < nports; i++)
		n += snprintf(
			y + n, sizeof(y) - (size_t)n, "      - address: 127.0.0.1:%d\n", ports[i]);

	struct conf_errs errs = {0};
	struct conf *c = NULL;
	int rc = conf_load_buffer("t.yaml", y, strlen(y), &c, &errs);
	if (rc < 0)
		conf_errs_print(&errs, 2);
	conf_errs_free(&errs);
	cr_assert_eq(rc, 0, "the test's YAML must be valid");

	memset(e, 0, sizeof(*e));
	e->rt = runtime_new(c);
	cr_assert_not_null(e->rt);
	e->svc = &e->rt->services[0];
	for (size_t i = 0; i < nports; i++)
		atomic_store(&e->svc->backends[i].st->state, BACKEND_READY);
	struct balance_member m[8];
	for (size_t i = 0; i < nports; i++)
		m[i] = (struct balance_member){
			.name = e->svc->conf->backends[i].address, .weight = 1};
	e->balancers = calloc(1, sizeof(*e->balancers));
	e->balancers[0] = balancer_new(e->svc->conf->balance, m, nports, 1);
	cr_assert_not_null(e->balancers[0]);
	e->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_eq(session_set_init(&e->set, e->loop, e->rt, e->balancers, 4), 0);
	e->set.empty = on_empty;
	e->set.pause_accepting = on_pause;
	e->set.arg = e;
}

static void env_free(struct env *e)
{
	session_abort_all(&e->set, "test over");
	session_set_destroy(&e->set);
	balancer_free(e->balancers[0]);
	free(e->balancers);
	ev_loop_destroy(e->loop);
	runtime_put(e->rt);
}

/* Turns the loop until cond holds (or a second passed: then the assertion fails). */
#define RUN_UNTIL(e, cond)                                                                         \
	do {                                                                                       \
		for (int i_ = 0; i_ < 1000 && !(cond); i_++) {                                     \
			ev_run((e)->loop, EVRUN_NOWAIT);                                           \
			if (!(cond))                                                               \
				usleep(1000);                                                      \
		}                                                                                  \
		cr_assert(cond, "timed out waiting for: %s", #cond);                               \
	} while (0)

/* A client connection: the test's end and the end a listener would have accepted. */
static void client_pair(int *ours, int *accepted, struct addr *peer)
{
	struct fake_backend l = backend_open(1);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	sin.sin_port = htons((uint16_t)l.port);
	*ours = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(*ours, 0);
	cr_assert_eq(connect(*ours, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*accepted = accept4(l.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	cr_assert_geq(*accepted, 0);
	addr_from_sockaddr(peer, (struct sockaddr *)&ss, len);
	close(l.fd);
}

/* Starts a session as a listener would; returns the client's end. */
static int start(struct env *e)
{
	int ours, cfd;
	struct addr peer;

	client_pair(&ours, &cfd, &peer);
	cr_assert_eq(session_start(&e->set, e->svc, cfd, &peer, CONF_ACCEPT_OFF), 0);
	return ours;
}

static int accept_backend(struct env *e, const struct fake_backend *b)
{
	int fd = -1;

	for (int i = 0; i < 1000 && fd < 0; i++) {
		ev_run(e->loop, EVRUN_NOWAIT);
		fd = accept4(b->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			usleep(1000);
	}
	cr_assert_geq(fd, 0, "the session never reached the backend");
	return fd;
}

static uint64_t result(const struct env *e, enum lb_result r)
{
	return atomic_load(&e->svc->st->results[r]);
}

/* Reads exactly n bytes from fd (blocking client socket or non-blocking backend one). */
static void read_n(struct env *e, int fd, char *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 1000 && got < n; i++) {
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else
			ev_run(e->loop, EVRUN_NOWAIT), usleep(1000);
	}
	cr_assert_eq(got, n);
}

/* A peer's reset: SO_LINGER 0, then close. */
static void reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

Test(session, connects_proxies_and_closes_once_both_fins_passed)
{
	struct fake_backend b = backend_open(1);
	struct env e;
	char buf[8];

	env_init(&e, &b.port, 1, "");
	int client = start(&e);
	struct lb_backend_state *bst = e.svc->backends[0].st;
	cr_expect_eq(e.set.nlive, 1);
	cr_expect_eq(atomic_load(&e.svc->st->active), 1, "admitted: the service counts it");
	cr_expect_eq(atomic_load(&e.rt->proc->active), 1, "and the process");
	int bfd = accept_backend(&e, &b);
	RUN_UNTIL(&e, atomic_load(&bst->sessions) == 1); /* CONNECTING -> PROXYING */
	cr_expect_eq(atomic_load(&bst->active), 1);

	cr_assert_eq(write(client, "ping", 4), 4);
	read_n(&e, bfd, buf, 4);
	cr_expect_eq(memcmp(buf, "ping", 4), 0);
	cr_assert_eq(write(bfd, "pong!", 5), 5);
	read_n(&e, client, buf, 5);
	cr_expect_eq(memcmp(buf, "pong!", 5), 0);

	cr_assert_eq(shutdown(client, SHUT_WR), 0);
	RUN_UNTIL(&e, recv(bfd, buf, 1, MSG_DONTWAIT) == 0); /* the client's FIN passed on */
	cr_expect_eq(e.set.nlive, 1, "half-closed: still proxying the other way");
	close(bfd);
	RUN_UNTIL(&e, e.set.nlive == 0); /* PROXYING -> CLOSED */
	cr_expect_eq(recv(client, buf, 1, 0), 0, "the backend's FIN reached the client");
	cr_expect_eq(result(&e, LB_RESULT_DONE), 1);
	cr_expect_eq(e.empty_calls, 1, "the owner hears that the set is empty");
	cr_expect_eq(atomic_load(&e.svc->st->active), 0, "the counts are given back");
	cr_expect_eq(atomic_load(&e.rt->proc->active), 0);
	cr_expect_eq(atomic_load(&bst->active), 0);
	cr_expect_eq(atomic_load(&bst->bytes_in), 4);
	cr_expect_eq(atomic_load(&bst->bytes_out), 5);
	cr_expect_eq(e.set.nrecycled, 1, "the struct is kept for the next session");
	close(client);
	env_free(&e);
	close(b.fd);
}

Test(session, a_refused_connect_moves_on_to_the_next_backend)
{
	struct fake_backend refusing = backend_open(0), good = backend_open(1);
	int ports[2] = {refusing.port, good.port};
	struct env e;
	int clients[2], bfds[2];

	env_init(&e, ports, 2, "    retries: 1\n");
	/* Round robin: one of two sessions picks the refusing backend first. */
	for (int i = 0; i < 2; i++) {
		clients[i] = start(&e);
		bfds[i] = accept_backend(&e, &good);
	}
	RUN_UNTIL(&e, atomic_load(&e.svc->backends[1].st->sessions) == 2);
	uint64_t fails = atomic_load(&e.svc->backends[0].st->connect_fails);
	cr_expect_geq(fails, 1);
	cr_expect_eq(atomic_load(&e.svc->st->retries), fails, "CONNECTING -> CONNECTING");
	cr_expect_eq(atomic_load(&e.svc->backends[0].st->active), 0, "the attempt was given up");
	cr_expect_eq(atomic_load(&e.svc->backends[1].st->active), 2);
	cr_expect_eq(e.set.nlive, 2);
	for (int i = 0; i < 2; i++) {
		close(clients[i]);
		close(bfds[i]);
	}
	RUN_UNTIL(&e, e.set.nlive == 0);
	cr_expect_eq(result(&e, LB_RESULT_DONE), 2);
	env_free(&e);
	close(refusing.fd);
	close(good.fd);
}

Test(session, no_backend_left_resets_the_client)
{
	struct fake_backend refusing = backend_open(0);
	struct env e;
	char c;

	env_init(&e, &refusing.port, 1, "    retries: 0\n");
	int client = start(&e);
	RUN_UNTIL(&e, e.set.nlive == 0); /* CONNECTING -> CLOSED */
	cr_expect_eq(result(&e, LB_RESULT_NO_BACKEND), 1);
	cr_expect_eq(atomic_load(&e.svc->st->no_backend), 1);
	errno = 0;
	cr_expect_eq(recv(client, &c, 1, 0), -1);
	cr_expect_eq(errno, ECONNRESET, "an RST: nobody will serve it");
	cr_expect_eq(atomic_load(&e.svc->st->active), 0);
	cr_expect_eq(atomic_load(&e.rt->proc->active), 0);
	cr_expect_eq(e.empty_calls, 1);
	close(client);
	env_free(&e);
	close(refusing.fd);
}

Test(session, the_service_limit_refuses_at_start)
{
	struct fake_backend b = backend_open(1);
	struct env e;
	int ours, cfd;
	struct addr peer;
	char c;

	env_init(&e, &b.port, 1, "    max_connections: 1\n");
	int first = start(&e);
	client_pair(&ours, &cfd, &peer);
	cr_expect_eq(session_start(&e.set, e.svc, cfd, &peer, CONF_ACCEPT_OFF), -EBUSY);
	cr_expect_eq(atomic_load(&e.svc->st->refused_limit), 1);
	cr_expect_eq(atomic_load(&e.svc->st->active), 1, "nothing counted for the refused one");
	cr_expect_eq(atomic_load(&e.rt->proc->active), 1);
	cr_expect_eq(e.set.nlive, 1);
	cr_expect_eq(recv(ours, &c, 1, 0), 0, "its fd was closed");
	close(ours);
	close(first);
	env_free(&e);
	close(b.fd);
}

/* A reset by one side closes the session with that side's result. */
static void reset_by(int backend_side)
{
	struct fake_backend b = backend_open(1);
	struct env e;
	char buf[4];

	env_init(&e, &b.port, 1, "");
	int client = start(&e);
	int bfd = accept_backend(&e, &b);
	RUN_UNTIL(&e, atomic_load(&e.svc->backends[0].st->sessions) == 1);
	cr_assert_eq(write(bfd, "hi", 2), 2);
	read_n(&e, client, buf, 2);
	reset(backend_side ? bfd : client);
	RUN_UNTIL(&e, e.set.nlive == 0); /* PROXYING -> CLOSED */
	cr_expect_eq(result(&e, LB_RESULT_BACKEND_ERROR), backend_side ? 1 : 0);
	cr_expect_eq(result(&e, LB_RESULT_CLIENT_ERROR), backend_side ? 0 : 1);
	cr_expect_eq(atomic_load(&e.svc->st->active), 0);
	close(backend_side ? client : bfd);
	env_free(&e);
	close(b.fd);
}

Test(session, a_backend_reset_is_a_backend_error)
{
	reset_by(1);
}

Test(session, a_client_reset_is_a_client_error)
{
	reset_by(0);
}

Test(session, an_idle_session_times_out)
{
	struct fake_backend b = backend_open(1);
	struct env e;

	env_init(&e, &b.port, 1, "    timeouts: {idle: 50ms}\n");
	int client = start(&e);
	int bfd = accept_backend(&e, &b);
	RUN_UNTIL(&e, atomic_load(&e.svc->backends[0].st->sessions) == 1);
	RUN_UNTIL(&e, e.set.nlive == 0); /* PROXYING -> CLOSED */
	cr_expect_eq(result(&e, LB_RESULT_TIMEOUT), 1);
	close(client);
	close(bfd);
	env_free(&e);
	close(b.fd);
}

Test(session, abort_all_ends_every_session_and_empties_the_set)
{
	struct fake_backend b = backend_open(1);
	struct env e;
	int clients[3], bfds[3];

	env_init(&e, &b.port, 1, "");
	for (int i = 0; i < 3; i++) {
		clients[i] = start(&e);
		bfds[i] = accept_backend(&e, &b);
	}
	RUN_UNTIL(&e, atomic_load(&e.svc->backends[0].st->sessions) == 3);
	session_abort_all(&e.set, "drain timeout");
	cr_expect_eq(e.set.nlive, 0);
	cr_expect_eq(result(&e, LB_RESULT_DRAIN), 3);
	cr_expect_eq(e.empty_calls, 1, "once, when the last one went");
	cr_expect_eq(atomic_load(&e.svc->backends[0].st->active), 0);
	for (int i = 0; i < 3; i++) {
		close(clients[i]);
		close(bfds[i]);
	}
	env_free(&e);
	close(b.fd);
}
