/*
 * DOC: scenario: backends that never answer, peers that send garbage
 *
 * A connect that never completes must cost the client about timeouts.connect and then either a
 * retry on another backend (invisible to the client apart from the delay) or, with no retry
 * left, a prompt close. The backend that never answers is a BLACKHOLE: a listening socket whose
 * accept queue is full, so the kernel drops anylb's SYNs, all on loopback.
 *
 * Passive outlier ejection is turned off for the misbehaving backends: these tests are about
 * what one session does, and a detector that ejects a backend after a few failures would change
 * which sessions reach it.
 *
 * Garbage is just bytes to an L4 proxy, but a client that sends a megabyte of it and resets, or a
 * backend that sprays it and resets mid-stream, must only end its own session: an echo session
 * running alongside stays byte-exact, and anylb's socket count returns to where it started.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(proxy_faults, .fini = sc_cleanup, .timeout = 60);

#define CONNECT_MS 300

#define CONFIG_BLACKHOLE                                                                           \
	"global:\n"                                                                                \
	"  workers: 1\n"                                                                           \
	"  drain_timeout: 2s\n"                                                                    \
	"  log:\n"                                                                                 \
	"    level: debug\n"                                                                       \
	"services:\n"                                                                              \
	"  - name: blackhole\n"                                                                    \
	"    listen: [\"%s\"]\n"                                                                   \
	"    balance: round_robin\n"                                                               \
	"    retries: %d\n"                                                                        \
	"    timeouts:\n"                                                                          \
	"      connect: %dms\n"                                                                    \
	"    outlier:\n"                                                                           \
	"      consecutive_failures: 0\n"                                                          \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"      - address: \"%s\"\n"

struct bh {
	struct sc_backend *hole, *echo;
	char listen[SC_ADDRSTRLEN];
	struct sc_lb *lb;
};

static void bh_start(struct bh *t, int retries)
{
	int fd;

	t->hole = sc_backend_start(SC_BACKEND_BLACKHOLE, AF_INET, NULL);
	cr_assert_not_null(t->hole,
		"cannot make a blackhole backend (%s): this kernel does not drop SYNs to a "
		"listener whose accept queue is full",
		strerror(errno));
	t->echo = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	cr_assert_not_null(t->echo);
	/* The blackhole must really swallow SYNs, or the test proves nothing. */
	fd = sc_connect(sc_backend_addr(t->hole), CONNECT_MS);
	cr_assert_eq(fd, -ETIMEDOUT, "a connect to the blackhole %s did not time out: %s",
		sc_backend_addr(t->hole), fd >= 0 ? "it connected" : strerror(-fd));
	cr_assert_gt(sc_free_addr(AF_INET, t->listen, sizeof(t->listen)), 0);
	t->lb = sc_lb_start(CONFIG_BLACKHOLE, t->listen, retries, CONNECT_MS,
		sc_backend_addr(t->hole), sc_backend_addr(t->echo));
	cr_assert_not_null(t->lb, "anylb did not start");
}

enum outcome { OUT_PENDING, OUT_ECHOED, OUT_CLOSED, OUT_GARBLED };

struct probe {
	int fd;
	char msg[32];
	size_t got;
	char back[32];
	int64_t t0, t1; /* connect started, outcome seen */
	enum outcome out;
};

/* Connects n clients at once and sends each its line. */
static void probes_start(struct probe *p, int n, const char *listen)
{
	for (int i = 0; i < n; i++) {
		p[i] = (struct probe){.out = OUT_PENDING};
		p[i].t0 = sc_now_ms();
		p[i].fd = sc_connect(listen, 2000);
		cr_assert_geq(p[i].fd, 0, "connect #%d: %s", i, strerror(-p[i].fd));
		snprintf(p[i].msg, sizeof(p[i].msg), "probe %02d\n", i);
		cr_assert_eq(sc_send_all(p[i].fd, p[i].msg, strlen(p[i].msg), 1000), 0);
	}
}

/* Waits up to timeout_ms until each client has its echo back or was closed by anylb. */
static void probes_wait(struct probe *p, int n, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	int pending = n;

	while (pending > 0 && sc_now_ms() < deadline) {
		struct pollfd pfd[64];

		cr_assert_leq(n, 64);
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){
				.fd = p[i].out == OUT_PENDING ? p[i].fd : -1, .events = POLLIN};
		if (poll(pfd, (nfds_t)n, 50) < 0 && errno != EINTR)
			cr_assert_fail("poll: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			size_t len = strlen(p[i].msg);
			ssize_t r;

			if (p[i].out != OUT_PENDING || pfd[i].revents == 0)
				continue;
			r = recv(p[i].fd, p[i].back + p[i].got, len - p[i].got, MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0) {
				p[i].got += (size_t)r;
				if (p[i].got < len)
					continue;
				p[i].out = memcmp(p[i].back, p[i].msg, len) == 0 ? OUT_ECHOED
										 : OUT_GARBLED;
			} else {
				p[i].out = OUT_CLOSED; /* EOF or RST */
			}
			p[i].t1 = sc_now_ms();
			pending--;
		}
	}
}

static void probes_close(struct probe *p, int n)
{
	for (int i = 0; i < n; i++)
		close(p[i].fd);
}

/* With a retry left, a blackholed connect costs the client one connect timeout, nothing else. */
Test(proxy_faults, connect_timeout_is_retried_on_another_backend)
{
	enum { N = 8 };
	struct probe p[N];
	struct bh t;
	int slow = 0, fast = 0;

	bh_start(&t, 1);
	probes_start(p, N, t.listen);
	probes_wait(p, N, 3000);
	for (int i = 0; i < N; i++) {
		int64_t ms = p[i].t1 - p[i].t0;

		cr_assert_eq(p[i].out, OUT_ECHOED,
			"session %d: %s after %lld ms; with retries: 1 a blackholed connect must "
			"be "
			"retried on the echo backend after %d ms",
			i,
			p[i].out == OUT_PENDING  ? "no answer"
			: p[i].out == OUT_CLOSED ? "closed by anylb"
						 : "garbled echo",
			(long long)(sc_now_ms() - p[i].t0), CONNECT_MS);
		cr_assert_lt(ms, 3 * CONNECT_MS + 500,
			"session %d took %lld ms (connect timeout %d)", i, (long long)ms,
			CONNECT_MS);
		if (ms >= CONNECT_MS - 50)
			slow++;
		else
			fast++;
	}
	fprintf(stderr,
		"connect timeout + retry: %d of %d sessions were retried after the blackhole "
		"(>= %d ms), %d went straight to the echo backend\n",
		slow, N, CONNECT_MS - 50, fast);
	/* Round robin over two backends: about half the first picks are the blackhole. */
	cr_assert_geq(
		slow, 1, "no session waited for a connect timeout: did any pick the blackhole?");
	cr_assert_geq(fast, 1);
	cr_assert_eq(sc_backend_accepts(t.echo), N);
	probes_close(p, N);
	cr_assert_eq(sc_backend_wait_idle(t.echo, 3000), 0);
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}

/* No retry left: the client is closed about one connect timeout after it came. */
Test(proxy_faults, connect_timeout_without_retry_closes_the_client)
{
	enum { N = 8 };
	struct probe p[N];
	struct bh t;
	int closed = 0, echoed = 0, base, n;

	bh_start(&t, 0);
	base = sc_lb_settle_fd_count(t.lb, SC_FD_SOCKETS, 2000);
	probes_start(p, N, t.listen);
	probes_wait(p, N, 3000);
	for (int i = 0; i < N; i++) {
		int64_t ms = p[i].t1 - p[i].t0;

		cr_assert(p[i].out == OUT_ECHOED || p[i].out == OUT_CLOSED,
			"session %d: %s after %lld ms; want its echo, or a close after the %d ms "
			"connect timeout",
			i, p[i].out == OUT_PENDING ? "no answer" : "garbled echo",
			(long long)(sc_now_ms() - p[i].t0), CONNECT_MS);
		if (p[i].out == OUT_ECHOED) {
			echoed++;
			cr_assert_lt(ms, CONNECT_MS - 50,
				"session %d reached the echo backend only after %lld ms", i,
				(long long)ms);
			continue;
		}
		closed++;
		cr_assert(ms >= CONNECT_MS - 50 && ms <= 3 * CONNECT_MS + 500,
			"session %d was closed %lld ms after it connected; connect timeout %d ms",
			i, (long long)ms, CONNECT_MS);
	}
	fprintf(stderr,
		"connect timeout, no retry: %d of %d sessions closed by anylb after the "
		"blackhole's connect timeout, %d echoed\n",
		closed, N, echoed);
	cr_assert_geq(closed, 1, "no session picked the blackhole");
	cr_assert_geq(echoed, 1);
	cr_assert_eq(sc_backend_accepts(t.echo), (unsigned)echoed);
	probes_close(p, N);
	n = sc_lb_wait_fd_count(t.lb, SC_FD_SOCKETS, base, 3000);
	cr_assert_eq(
		n, base, "anylb holds %d sockets after the sessions ended, %d before", n, base);
	cr_assert_eq(sc_lb_stop(t.lb), 0);
}

/* ---- garbage --------------------------------------------------------------------------------- */

#define CONFIG_GARBAGE                                                                             \
	"global:\n"                                                                                \
	"  workers: 2\n"                                                                           \
	"  drain_timeout: 2s\n"                                                                    \
	"services:\n"                                                                              \
	"  - name: good\n"                                                                         \
	"    listen: [\"%s\"]\n"                                                                   \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"                                                                \
	"  - name: spraying\n"                                                                     \
	"    listen: [\"%s\"]\n"                                                                   \
	"    outlier:\n"                                                                           \
	"      consecutive_failures: 0\n"                                                          \
	"    backends:\n"                                                                          \
	"      - address: \"%s\"\n"

#define GARBAGE_BYTES  SC_MIB
#define SPRAY_BYTES    (256 * 1024)
#define SPRAY_SEED     0x5b7a1
#define BYSTANDER_SEED 0xb15

/* An echo session running in its own thread while the test thread makes trouble. It records
 * what went wrong; only the test thread asserts. */
struct bystander {
	const char *addr;
	pthread_t thread;
	atomic_int stop;
	atomic_uint_fast64_t rounds;
	int err;             /* errno of the first failure */
	int64_t mismatch_at; /* offset of the first wrong byte echoed, -1 */
};

static void *bystander_main(void *arg)
{
	struct bystander *by = arg;
	uint8_t out[4096], in[4096];
	uint64_t off = 0;
	int fd = sc_connect(by->addr, 2000), rc;

	if (fd < 0) {
		by->err = -fd;
		return NULL;
	}
	while (!atomic_load(&by->stop)) {
		sc_pattern_fill(BYSTANDER_SEED, off, out, sizeof(out));
		rc = sc_send_all(fd, out, sizeof(out), 3000);
		if (rc == 0)
			rc = sc_recv_exact(fd, in, sizeof(in), 3000);
		if (rc != 0) {
			by->err = -rc;
			break;
		}
		if (memcmp(in, out, sizeof(in)) != 0) {
			by->mismatch_at = (int64_t)off +
					  sc_pattern_check(BYSTANDER_SEED, off, in, sizeof(in));
			break;
		}
		off += sizeof(out);
		atomic_fetch_add(&by->rounds, 1);
	}
	if (by->err == 0 && by->mismatch_at < 0) {
		shutdown(fd, SHUT_WR);
		rc = sc_wait_close(fd, 3000, NULL);
		if (rc != 0)
			by->err = -rc;
	}
	close(fd);
	return NULL;
}

/* Sends n bytes of buf while throwing away whatever comes back, then resets. 0 or -errno. */
static int send_garbage_and_reset(int fd, const uint8_t *buf, size_t n, int timeout_ms)
{
	int64_t deadline = sc_now_ms() + timeout_ms;
	uint8_t sink[16384];
	size_t off = 0;

	while (off < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		int r = poll(&p, 1, sc_now_ms() < deadline ? (int)(deadline - sc_now_ms()) : 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			sc_close_reset(fd);
			return r == 0 ? -ETIMEDOUT : -errno;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t k = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);

			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				int err = k == 0 ? EPIPE : errno;

				sc_close_reset(fd);
				return -err;
			}
		}
		if (p.revents & POLLOUT) {
			ssize_t k = send(fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (k > 0)
				off += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				int err = errno;

				sc_close_reset(fd);
				return -err;
			}
		}
	}
	sc_close_reset(fd);
	return 0;
}

Test(proxy_faults, garbage_and_resets_leave_other_sessions_intact)
{
	enum { ROUNDS = 4, CLIENTS = 3, SPRAYS = 3 };
	struct sc_backend_opts so = {.send_seed = SPRAY_SEED, .reset_after = SPRAY_BYTES};
	struct sc_backend *echo = sc_backend_start(SC_BACKEND_ECHO, AF_INET, NULL);
	struct sc_backend *spray = sc_backend_start(SC_BACKEND_GARBAGE, AF_INET, &so);
	struct bystander by = {.mismatch_at = -1};
	char good[SC_ADDRSTRLEN], bad[SC_ADDRSTRLEN];
	uint8_t *garbage = malloc(GARBAGE_BYTES);
	struct sc_conn_result r;
	struct sc_xfer x;
	struct sc_lb *lb;
	int base, fd, rc, n, sprayed = 0;
	uint64_t rounds_before;

	cr_assert(echo && spray && garbage);
	for (size_t off = 0; off < GARBAGE_BYTES;) {
		ssize_t k = getrandom(garbage + off, GARBAGE_BYTES - off, 0);

		cr_assert(k > 0 || errno == EINTR, "getrandom: %s", strerror(errno));
		if (k > 0)
			off += (size_t)k;
	}
	cr_assert_gt(sc_free_addr(AF_INET, good, sizeof(good)), 0);
	cr_assert_gt(sc_free_addr(AF_INET, bad, sizeof(bad)), 0);
	lb = sc_lb_start(CONFIG_GARBAGE, good, sc_backend_addr(echo), bad, sc_backend_addr(spray));
	cr_assert_not_null(lb, "anylb did not start");

	/* Warm both services up so lazily made resources are in the baseline. */
	fd = sc_connect(good, 2000);
	cr_assert_geq(fd, 0, "connect to %s: %s", good, strerror(-fd));
	cr_assert_eq(sc_echo(fd, "warm\n", 2000), 0);
	close(fd);
	fd = sc_connect(bad, 2000);
	cr_assert_geq(fd, 0, "connect to %s: %s", bad, strerror(-fd));
	rc = sc_transfer(fd, 1, 1, SPRAY_SEED, SC_XFER_NO_SHUT, 3000, &x);
	close(fd);
	cr_assert_eq(sc_backend_wait_idle(echo, 2000), 0);
	cr_assert_eq(sc_backend_wait_idle(spray, 2000), 0);
	base = sc_lb_settle_fd_count(lb, SC_FD_SOCKETS, 3000);
	cr_assert_gt(base, 0, "cannot read /proc/%d/fd", (int)sc_lb_pid(lb));
	sc_backend_reset_counts(echo);
	sc_backend_reset_counts(spray);

	by.addr = good;
	cr_assert_eq(pthread_create(&by.thread, NULL, bystander_main, &by), 0);
	sc_sleep_ms(100);
	rounds_before = atomic_load(&by.rounds);

	for (int round = 0; round < ROUNDS; round++) {
		/* Clients: a megabyte of random bytes each, echo unread, then RST. */
		for (int i = 0; i < CLIENTS; i++) {
			fd = sc_connect(good, 2000);
			cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
			rc = send_garbage_and_reset(fd, garbage, GARBAGE_BYTES, 5000);
			cr_assert_eq(rc, 0,
				"round %d client %d: sending 1 MiB of garbage to an echo backend: "
				"%s",
				round, i, strerror(-rc));
		}
		/* Backends: spray their stream at the first byte and reset mid-stream. */
		for (int i = 0; i < SPRAYS; i++) {
			fd = sc_connect(bad, 2000);
			cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
			rc = sc_transfer(fd, 1, 1, SPRAY_SEED, SC_XFER_NO_SHUT, 3000, &x);
			if (x.received > 0)
				sprayed++;
			close(fd);
			cr_assert(rc == 0 || rc == -ECONNRESET,
				"round %d: a backend reset mid-stream but the client was not "
				"closed "
				"within 3 s: %s (received %llu bytes)",
				round, strerror(-rc), (unsigned long long)x.received);
			cr_assert_eq(x.mismatch_at, -1,
				"round %d: the bytes before the backend's reset arrived corrupt at "
				"offset %lld",
				round, (long long)x.mismatch_at);
			cr_assert_leq(x.received, SPRAY_BYTES);
		}
	}

	atomic_store(&by.stop, 1);
	pthread_join(by.thread, NULL);
	fprintf(stderr,
		"garbage: %d clients sent 1 MiB of random bytes and reset, %d backends sprayed and "
		"reset (%d of their clients got bytes before the close); the bystander echo "
		"session did %llu round trips meanwhile (%llu before)\n",
		ROUNDS * CLIENTS, ROUNDS * SPRAYS, sprayed,
		(unsigned long long)atomic_load(&by.rounds), (unsigned long long)rounds_before);
	cr_assert_eq(by.err, 0, "the bystander echo session failed after %llu round trips: %s",
		(unsigned long long)atomic_load(&by.rounds), strerror(by.err));
	cr_assert_eq(by.mismatch_at, -1, "the bystander's echo came back corrupt at offset %lld",
		(long long)by.mismatch_at);
	cr_assert_gt(atomic_load(&by.rounds), rounds_before,
		"the bystander made no progress during the storm");

	/* Every garbage session ended at the backends, too. */
	rc = sc_backend_wait_results(echo, ROUNDS * CLIENTS + 1, 3000);
	cr_assert_eq(rc, 0, "the echo backend saw %zu of %d sessions end",
		sc_backend_nresults(echo), ROUNDS * CLIENTS + 1);
	for (size_t i = 0; i < sc_backend_nresults(echo); i++) {
		cr_assert_eq(sc_backend_result(echo, i, &r), 0);
		cr_assert(r.close == SC_CLOSE_EOF || r.close == SC_CLOSE_RESET,
			"echo backend session %zu ended with %s (%s)", i,
			sc_close_kind_name(r.close), strerror(r.err));
	}
	cr_assert_eq(sc_backend_wait_results(spray, ROUNDS * SPRAYS, 3000), 0);
	for (size_t i = 0; i < ROUNDS * SPRAYS; i++) {
		cr_assert_eq(sc_backend_result(spray, i, &r), 0);
		cr_assert_eq(r.close, SC_CLOSE_LOCAL, "spraying backend session %zu ended with %s",
			i, sc_close_kind_name(r.close));
	}
	n = sc_lb_wait_fd_count(lb, SC_FD_SOCKETS, base, 3000);
	cr_assert_eq(n, base, "anylb holds %d sockets after the storm, %d before", n, base);

	fd = sc_connect(good, 2000);
	cr_assert_geq(fd, 0);
	rc = sc_echo(fd, "after the storm\n", 2000);
	cr_assert_eq(rc, 0, "echo after the storm: %s", strerror(-rc));
	close(fd);
	free(garbage);
	cr_assert_eq(sc_lb_stop(lb), 0);
}
