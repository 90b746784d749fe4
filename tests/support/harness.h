/*
 * DOC: scenario test harness
 *
 * Scenario tests run the real anylb binary (ANYLB_BIN) against real sockets on loopback. This
 * header is everything they need:
 *
 *   util     monotonic time, free loopback ports, address text, a deterministic byte pattern,
 *            temp files, the fd count of a process;
 *   backend  test servers, each one poll() loop in a thread of the test process (backend.c);
 *   client   connect and byte helpers over non-blocking sockets, all bounded in time (client.c);
 *   proc     start and stop anylb, run it as a CLI (proc.c);
 *   proxy    a small PROXY protocol v1/v2 parser (proxyhdr.c);
 *   logwatch bounded waits for log lines, e.g. a backend's state transition (logwatch.c);
 *   tool     programs of tests/tools run as processes to kill, stop and restart (tool.c);
 *   tls      certificates made at test time and a TLS handshake server (tls.c).
 *
 * Rules the harness keeps so that tests stay honest and cheap:
 * - Nothing waits without a deadline. Functions take a timeout in milliseconds and report
 *   -ETIMEDOUT instead of hanging; Criterion's .timeout is only the last line of defence.
 * - Ports are never hard-coded: several test processes run at once (Criterion runs one process
 *   per test, ctest may run binaries in parallel).
 * - Everything a test starts is registered and released by sc_cleanup(): backends are stopped,
 *   anylb processes that still run get SIGTERM, then SIGKILL, and their log is printed, temp
 *   files are unlinked. Suites use it as their .fini so a failed assertion, which longjmps out
 *   of the test body, still cleans up. An anylb child also gets PR_SET_PDEATHSIG so a test killed
 *   by its timeout does not leave it behind. Only pids the harness started are ever signalled.
 * - Backend threads never call Criterion: assertions in another thread are not supported.
 *   They record what they saw (struct sc_conn_result) and the test thread asserts on it.
 *
 * Return convention as in the product: 0 (or a non-negative value) on success, -errno on failure.
 */
#ifndef ANYLB_TESTS_SUPPORT_HARNESS_H
#define ANYLB_TESTS_SUPPORT_HARNESS_H

#include <netinet/in.h>
#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SC_MIB (1024ull * 1024ull)

/* Room for "[" + an IPv6 address + "]:65535" and a NUL. */
#define SC_ADDRSTRLEN 64

/* ---- util.c ---------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t sc_now_ms(void);
void sc_sleep_ms(int ms);

/*
 * Returns a TCP port that is free on the loopback address of family (AF_INET: 127.0.0.1,
 * AF_INET6: ::1), or -errno. Ports are drawn at random below the kernel's ephemeral range, so a
 * port handed out here is never taken meanwhile as the source port of some outgoing connection;
 * a port is never handed out twice by one process. The port is released before returning:
 * anylb binds it a moment later.
 */
int sc_port_free(int family);

/* Writes "127.0.0.1:PORT" or "[::1]:PORT" for a free port into buf; returns the port or -errno. */
int sc_free_addr(int family, char *buf, size_t cap);

/* Parses numeric "IP:PORT" / "[IPv6]:PORT". Returns 0 or -EINVAL. */
int sc_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Formats a sockaddr as "IP:PORT" / "[IPv6]:PORT" (or "?" for other families); returns buf. */
const char *sc_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* Non-zero when a and b are the same family, address and port. */
int sc_addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/*
 * The deterministic byte stream used to check payloads end to end: byte i of stream `seed` is a
 * pure function of (seed, i), so a receiver verifies bytes at any offset without the sender's
 * help, and a reordering, a loss or a duplication shows up at its exact offset. That is stronger
 * than comparing two checksums at the end.
 */
void sc_pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t n);

/* Returns the offset (relative to buf) of the first byte of buf that differs from stream seed
 * at off, or -1 when all n bytes match. */
int64_t sc_pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t n);

/*
 * Number of open fds of pid (entries of /proc/PID/fd), or -errno. With kind (e.g. SC_FD_SOCKETS)
 * only fds whose link target starts with kind are counted. Leak checks count sockets: anylb keeps
 * a bounded per-worker pool of splice pipes, so its total fd count legitimately grows with the
 * highest concurrency seen, while every socket must go away with its session.
 */
#define SC_FD_ALL     NULL
#define SC_FD_SOCKETS "socket:"
#define SC_FD_PIPES   "pipe:"
int sc_pid_fd_count(pid_t pid, const char *kind);

/* Resident memory of pid in KiB (VmRSS in /proc/PID/status), or -errno. */
int64_t sc_pid_rss_kib(pid_t pid);

/* CPU time pid has used so far, user + system (/proc/PID/stat), in milliseconds, or -errno. */
int64_t sc_pid_cpu_ms(pid_t pid);

/*
 * Creates a file under /tmp (mkstemps, "anylb-scn-XXXXXX<suffix>") holding the printf-style
 * text. Returns the path (owned by the harness, valid until sc_cleanup(), which unlinks it) or
 * NULL.
 */
const char *sc_temp_file(const char *suffix, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Unlinks a file of sc_temp_file() now and forgets it (path is invalid afterwards). */
void sc_temp_release(const char *path);

/* Removes path and everything under it, not following links (what a test made under /tmp). */
void sc_rm_tree(const char *path);

/* Reads a whole file into a NUL-terminated malloc'd buffer (NULL on error); caller frees. */
char *sc_read_file(const char *path);

/*
 * Waits until the file at path holds needle, at most timeout_ms: 0, or -ETIMEDOUT with the
 * file's last content in *last (malloc'd, may be NULL; the caller frees) when last is not NULL.
 */
int sc_wait_file_has(const char *path, const char *needle, int timeout_ms, char **last);

/* Releases everything the harness registered: backends, anylb processes, temp files. Idempotent;
 * meant as a TestSuite .fini and registered with atexit() as well. */
void sc_cleanup(void);

/* ---- backend.c ------------------------------------------------------------------------------- */

enum sc_backend_mode {
	SC_BACKEND_ECHO,        /* writes back what it reads; FIN after the peer's FIN */
	SC_BACKEND_HELLO,       /* writes "<id>\n", then echoes */
	SC_BACKEND_SOURCE_SINK, /* sends send_bytes of stream send_seed then FIN, while reading and
				   verifying stream recv_seed until EOF */
	SC_BACKEND_SINK_SOURCE, /* reads and verifies until EOF, only then sends send_bytes and FIN:
				   shows data still flowing backend->client after the client's FIN
				 */
	SC_BACKEND_PROXY_HEADER, /* parses a PROXY v1/v2 header and records it, then echoes */
	SC_BACKEND_REFUSE,       /* a bound socket that never listens: every connect is refused */
	SC_BACKEND_RESET,     /* echoes, then closes with RST once reset_after bytes were echoed */
	SC_BACKEND_STALL,     /* accepts, then neither reads nor writes until sc_backend_release();
				 from then on exactly SINK_SOURCE (reads and verifies recv_seed until
				 EOF, then sends send_bytes and FIN) */
	SC_BACKEND_BLACKHOLE, /* a listening socket whose accept queue is full: the kernel drops
				 every SYN, so connects to it time out. No thread, never accepts */
	SC_BACKEND_GARBAGE,   /* once the peer's first byte arrived, sends stream send_seed
				 while discarding what it reads, and closes with RST once
				 reset_after bytes were sent */
};

struct sc_backend_opts {
	const char *id;       /* HELLO: the line it writes first (default: its address) */
	uint64_t send_bytes;  /* SOURCE_SINK, SINK_SOURCE */
	uint64_t send_seed;   /* stream sent */
	uint64_t recv_seed;   /* stream expected; 0: count bytes without checking them */
	uint64_t reset_after; /* RESET: bytes echoed before the RST, GARBAGE: bytes sent before
				 it (default 16 KiB) */
	/*
	 * Non-zero: the same thread also serves HTTP on a second port of the same address, for
	 * a health check's `port:` (see sc_backend_set_http_status). Its connections are not
	 * counted by accepts/open/results, which stay about the traffic port.
	 */
	int http;
	unsigned http_port; /* the second port; 0: the kernel's choice */
};

enum sc_close_kind {
	SC_CLOSE_EOF,     /* orderly: the peer's FIN was seen and our side finished */
	SC_CLOSE_RESET,   /* the peer reset (ECONNRESET/EPIPE) */
	SC_CLOSE_ERROR,   /* another socket error, see err */
	SC_CLOSE_PROTO,   /* PROXY_HEADER: missing or malformed header, see proxy.err */
	SC_CLOSE_LOCAL,   /* RESET mode: we sent the RST as told */
	SC_CLOSE_STOPPED, /* still open when the backend was stopped */
};

/* What a PROXY header said. */
struct sc_proxy_info {
	int version; /* 1 or 2; 0 when none was parsed */
	int local;   /* v2 LOCAL command or v1 UNKNOWN: no addresses */
	struct sockaddr_storage src, dst;
	size_t header_len;
	char err[96]; /* why parsing failed */
};

/* One finished connection, as the backend saw it. */
struct sc_conn_result {
	uint64_t received;   /* payload bytes read (after a PROXY header) */
	uint64_t sent;       /* bytes written */
	int64_t mismatch_at; /* first received byte that broke stream recv_seed, -1 when none */
	enum sc_close_kind close;
	int err;        /* errno of the failed call for RESET / ERROR */
	int64_t eof_ms; /* sc_now_ms() when the peer's FIN arrived; 0 if it never did */
	int64_t end_ms; /* when the connection was closed */
	struct sockaddr_storage peer; /* who connected (anylb's outgoing address) */
	struct sc_proxy_info proxy;
};

struct sc_backend;

/*
 * Starts a backend on 127.0.0.1 (AF_INET) or ::1 (AF_INET6) on a port of the kernel's choosing,
 * which it keeps until stopped. opts may be NULL. Returns NULL on failure (errno is set).
 */
struct sc_backend *sc_backend_start(
	enum sc_backend_mode mode, int family, const struct sc_backend_opts *opts);

/* Stops the thread, closes every socket, frees b. NULL is fine. Also done by sc_cleanup(). */
void sc_backend_stop(struct sc_backend *b);

/* "127.0.0.1:PORT" / "[::1]:PORT", valid while b lives. */
const char *sc_backend_addr(const struct sc_backend *b);

unsigned sc_backend_accepts(const struct sc_backend *b); /* connections accepted so far */
unsigned sc_backend_open(const struct sc_backend *b);    /* connections open right now */

/* STALL: lets every connection, open and future, read and write from now on. Otherwise a no-op. */
void sc_backend_release(struct sc_backend *b);

/* Payload bytes written and read so far over all connections, updated live (while a
 * connection is still open, unlike its sc_conn_result). Not zeroed by sc_backend_reset_counts. */
uint64_t sc_backend_bytes_sent(const struct sc_backend *b);
uint64_t sc_backend_bytes_received(const struct sc_backend *b);

/* Zeroes the accept counter and forgets the recorded results. */
void sc_backend_reset_counts(struct sc_backend *b);

/* Number of finished connections recorded, and a copy of result i (0 or -ENOENT). */
size_t sc_backend_nresults(struct sc_backend *b);
int sc_backend_result(struct sc_backend *b, size_t i, struct sc_conn_result *out);

/* Waits until at least n results are recorded: 0, or -ETIMEDOUT. */
int sc_backend_wait_results(struct sc_backend *b, size_t n, int timeout_ms);

/* Waits until no connection is open at the backend: 0, or -ETIMEDOUT. */
int sc_backend_wait_idle(struct sc_backend *b, int timeout_ms);

const char *sc_close_kind_name(enum sc_close_kind k);

/*
 * The HTTP side port (opts.http). Every request (a head up to its blank line) is answered
 * "HTTP/1.1 <status>" with a short body and Connection: close, with the status set here
 * (default 200). Status 0 makes it hang instead: the request is read and never answered, the
 * connection stays open until the client goes. Setting a status restarts the answered count.
 */
unsigned sc_backend_http_port(const struct sc_backend *b);
void sc_backend_set_http_status(struct sc_backend *b, int status);
/* Requests answered with the current status since it was set (hung ones are not answered). */
unsigned sc_backend_http_answered(struct sc_backend *b);
unsigned sc_backend_http_requests(const struct sc_backend *b); /* whole heads read, ever */
unsigned sc_backend_http_open(const struct sc_backend *b);     /* side connections open now */
/* Closes the side listener: from then on a connect to the side port is refused. */
void sc_backend_http_refuse(struct sc_backend *b);

/* ---- client.c -------------------------------------------------------------------------------- */

/* Client helpers keep no shared state: client threads of a test may use them at once. */

/*
 * Connects to addr ("IP:PORT" / "[IPv6]:PORT"), from src_ip (port 0) when it is not NULL.
 * Returns a non-blocking, close-on-exec fd, or -errno (-ECONNREFUSED, -ETIMEDOUT, ...).
 */
int sc_connect(const char *addr, int timeout_ms);
int sc_connect_from(const char *src_ip, const char *addr, int timeout_ms);

/* Sends all of buf: 0, or -errno (-ETIMEDOUT, -EPIPE, -ECONNRESET). Never raises SIGPIPE. */
int sc_send_all(int fd, const void *buf, size_t len, int timeout_ms);

/* Reads exactly len bytes: 0; -EPIPE on EOF first; -ECONNRESET; -ETIMEDOUT. */
int sc_recv_exact(int fd, void *buf, size_t len, int timeout_ms);

/* Reads one line up to '\n' (not stored) into buf, NUL-terminated; returns its length or -errno
 * as sc_recv_exact (-EMSGSIZE when it does not fit). */
int sc_recv_line(int fd, char *buf, size_t cap, int timeout_ms);

/* Sends msg and reads the same bytes back: 0, -EBADMSG when they differ, or as above. */
int sc_echo(int fd, const char *msg, int timeout_ms);

/* Connects (from src_ip unless NULL), reads the HELLO backend's first line into id, closes. */
int sc_hello(const char *src_ip, const char *addr, char *id, size_t cap, int timeout_ms);

/*
 * n sessions to addr, each read for its HELLO backend's id and closed: counts[i] is how many
 * reached ids[i]. 0, -EBADMSG for an id not in ids, or as sc_hello.
 */
int sc_hello_tally(const char *addr, int n, const char *const *ids, size_t nids, int *counts);

/*
 * Reads and discards until the peer closes: 0 on EOF, -ECONNRESET on a reset, -ETIMEDOUT.
 * *discarded (may be NULL) gets the number of bytes thrown away.
 */
int sc_wait_close(int fd, int timeout_ms, uint64_t *discarded);

/*
 * Keeps writing garbage and reading whatever comes until the peer closes or resets: 0 when the
 * close was seen (EOF, ECONNRESET or EPIPE), -ETIMEDOUT otherwise.
 */
int sc_pump_until_close(int fd, int timeout_ms);

/* Closes fd with SO_LINGER {1, 0}: the peer gets a RST. */
void sc_close_reset(int fd);

/* Non-zero when fd's peer has closed or reset (a non-blocking peek), without consuming data. */
int sc_peer_closed(int fd);

struct sc_xfer {
	uint64_t sent, received;
	int64_t mismatch_at; /* as in struct sc_conn_result */
	int eof;             /* the peer's FIN was read */
	int err;             /* errno that ended the transfer, 0 */
};

enum { SC_XFER_NO_SHUT = 1 }; /* do not shutdown(SHUT_WR) after sending */

/*
 * Sends send_bytes of stream send_seed, then shutdown(SHUT_WR) (unless SC_XFER_NO_SHUT), while
 * reading and verifying stream recv_seed (0: unchecked) until EOF, both at once with poll() so
 * that neither side can deadlock on full buffers. Returns 0 when everything was sent and EOF was
 * read, else -errno (-ETIMEDOUT); x (never NULL) says how far it got.
 */
int sc_transfer(int fd, uint64_t send_bytes, uint64_t send_seed, uint64_t recv_seed, int flags,
	int timeout_ms, struct sc_xfer *x);

/* ---- proc.c ---------------------------------------------------------------------------------- */

struct sc_lb;

/*
 * Writes the printf-style YAML to a temp file, starts `ANYLB_BIN -c FILE` with stdout and stderr
 * going to a temp log and the environment inherited (sanitizer options included), then waits up
 * to 5 s until every address in the file's `listen: ["...", ...]` lists is in LISTEN state.
 * Readiness is read from /proc/net/tcp{,6} rather than probed with a connect: a probe would be
 * a real session, counted by backends and by connection limits. Returns NULL on failure, after
 * printing the log.
 */
struct sc_lb *sc_lb_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* How the anylb process is started; zero-initialise for the defaults of sc_lb_start(). */
struct sc_lb_opts {
	unsigned long nofile; /* RLIMIT_NOFILE (soft and hard) set in the child; 0: inherited */
	/*
	 * Non-NULL: the child gets a private mount namespace in which bind_src is bind-mounted
	 * over bind_dst (e.g. a 0666 node of the TUN device over /dev/net/tun), seen by it and
	 * its children only. Root only.
	 */
	const char *bind_src, *bind_dst;
	/*
	 * Non-NULL: a NULL-terminated list of "NAME=VALUE" added to the inherited environment
	 * (replacing NAME where it is set), e.g. {"ANYLB_UPGRADE_STOP_AT=ready", NULL}. The
	 * strings are copied nowhere: they must live until sc_lb_start_opts() returns.
	 */
	const char *const *env;
};

/* sc_lb_start() with opts (NULL: the defaults). */
struct sc_lb *sc_lb_start_opts(const struct sc_lb_opts *opts, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

pid_t sc_lb_pid(const struct sc_lb *lb);
const char *sc_lb_config_path(const struct sc_lb *lb);

/* Changes the RLIMIT_NOFILE (soft and hard) of the running anylb with prlimit(2): lets a test
 * place the limit relative to the fds anylb turned out to need at start. 0 or -errno. */
int sc_lb_set_nofile(struct sc_lb *lb, unsigned long nofile);

/* Sends sig to the anylb process (only if it still runs). 0 or -errno. */
int sc_lb_signal(struct sc_lb *lb, int sig);

/*
 * Waits up to timeout_ms for the process to exit. Returns its exit code (0..255), 128 + N when
 * killed by signal N, or -ETIMEDOUT when it still runs. Once it has exited, every later call
 * returns the same value at once.
 */
int sc_lb_wait(struct sc_lb *lb, int timeout_ms);

/*
 * SIGTERM, then waits 10 s (SIGKILL after that, reported as -ETIMEDOUT); a process that has
 * already exited is just reaped. Prints the log unless the result is 0. Frees lb; returns as
 * sc_lb_wait.
 */
int sc_lb_stop(struct sc_lb *lb);

/* The fd count of the process (kind as for sc_pid_fd_count), and waiting (up to timeout_ms)
 * for it to become want: returns the last count seen. */
int sc_lb_fd_count(const struct sc_lb *lb, const char *kind);
int sc_lb_wait_fd_count(const struct sc_lb *lb, const char *kind, int want, int timeout_ms);

/* Waits until the fd count stays the same for 200 ms (at most timeout_ms); returns it. */
int sc_lb_settle_fd_count(const struct sc_lb *lb, const char *kind, int timeout_ms);

/* Non-zero when the log written so far contains needle. */
int sc_lb_log_contains(const struct sc_lb *lb, const char *needle);

/* Prints the config and the log to stderr, framed, for a failed test. */
void sc_lb_dump_log(const struct sc_lb *lb);

/* One run of anylb as a command-line tool. */
struct sc_run {
	int status; /* as sc_lb_wait */
	char *out;  /* stdout, NUL-terminated (never NULL after a successful sc_run_anylb) */
	char *err;  /* stderr */
};

/* Runs ANYLB_BIN with the NULL-terminated arguments (argv[1]...), bounded by timeout_ms (then
 * SIGKILL). Returns 0 when it ran (see r->status) or -errno. Free with sc_run_free. */
int sc_run_anylb(struct sc_run *r, int timeout_ms, ...) __attribute__((sentinel));
void sc_run_free(struct sc_run *r);

/* Path of the anylb log (stdout and stderr of the process). */
const char *sc_lb_log_path(const struct sc_lb *lb);

/* ---- logwatch.c ------------------------------------------------------------------------------ */

/*
 * anylb has no admin API yet, so tests observe backend states through its log: every transition
 * is one line `backend ADDR (SERVICE): OLD -> NEW: REASON`. These scan a text file line by line
 * from a byte offset, for a substring or a POSIX extended regex, and wait for a line, bounded,
 * by polling the file every SC_LOG_POLL_MS. A line is looked at once its '\n' is written.
 */
#define SC_LOG_POLL_MS 2

enum sc_match { SC_MATCH_SUBSTR, SC_MATCH_REGEX };

struct sc_log_line {
	size_t off;      /* offset of the line's first byte */
	size_t next;     /* offset just past its '\n': where a search for a later line starts */
	int64_t seen_ms; /* sc_now_ms() when found (by polling: up to SC_LOG_POLL_MS late) */
	int64_t wall_ms; /* the line's own timestamp ("2026-01-02T03:04:05.678Z" at its start,
			    or in a JSON "ts"), unix ms; 0 when it has none */
	char text[512];  /* the line without its '\n', cut to fit */
};

/* Wall-clock (CLOCK_REALTIME) milliseconds: what log timestamps are compared with. */
int64_t sc_wall_ms(void);

/* Size of the file now (0 when it does not exist): the offset where "from now on" starts. */
size_t sc_file_size(const char *path);

/* First line at or after from that matches: 1 (out filled; out may be NULL), 0 when none,
 * -EINVAL for a bad regex, -errno when the file cannot be read. */
int sc_file_find_line(const char *path, size_t from, enum sc_match how, const char *pattern,
	struct sc_log_line *out);

/* Waits up to timeout_ms for such a line: 0, -ETIMEDOUT, or as sc_file_find_line. */
int sc_file_wait_line(const char *path, size_t from, enum sc_match how, const char *pattern,
	int timeout_ms, struct sc_log_line *out);

/* Number of matching lines at or after from, or -errno. */
int sc_file_count_lines(const char *path, size_t from, enum sc_match how, const char *pattern);

/* The same on the log of an anylb. */
size_t sc_lb_log_offset(const struct sc_lb *lb);
int sc_lb_wait_log(const struct sc_lb *lb, size_t from, const char *needle, int timeout_ms,
	struct sc_log_line *out);
int sc_lb_wait_log_re(const struct sc_lb *lb, size_t from, const char *regex, int timeout_ms,
	struct sc_log_line *out);
int sc_lb_log_count(const struct sc_lb *lb, size_t from, const char *needle);
int sc_lb_log_count_re(const struct sc_lb *lb, size_t from, const char *regex);

/*
 * Escapes the ERE metacharacters of s (addresses have '.', '[' and ']', log lines '(' and ')')
 * into buf so that it matches literally inside a regex; returns buf.
 */
const char *sc_re_quote(const char *s, char *buf, size_t cap);

/*
 * A regex for the transition line of backend addr in service svc. from and to are state names
 * ("ready", "not_ready", "dead", "ejected", "draining") or NULL for any; reason is NULL (any) or
 * what the reason starts with, matched literally. Returns buf.
 */
const char *sc_transition_re(char *buf, size_t cap, const char *addr, const char *svc,
	const char *from, const char *to, const char *reason);

/* Waits for that line in the log of lb, at or after offset from: as sc_lb_wait_log_re. */
int sc_lb_wait_transition(const struct sc_lb *lb, size_t from, const char *addr, const char *svc,
	const char *from_state, const char *to_state, const char *reason, int timeout_ms,
	struct sc_log_line *out);

/*
 * A backend held by initial_state not_ready gets its first readiness verdict: reason NULL waits
 * for the pass (the transition "not_ready -> ready: first readiness check passed"), else for
 * the failure line "backend ADDR (SVC): first readiness check failed: REASON..." (no
 * transition: it stays not_ready). As sc_lb_wait_log_re.
 */
int sc_lb_wait_first_verdict(const struct sc_lb *lb, size_t from, const char *addr, const char *svc,
	const char *reason, int timeout_ms, struct sc_log_line *out);

/* ---- tool.c ---------------------------------------------------------------------------------- */

/*
 * Programs from tests/tools (built into ANYLB_TEST_TOOLS_DIR) run as separate processes, so that
 * a test can SIGKILL, SIGSTOP and restart them. Same rules as anylb processes: started from the
 * test's main thread with PR_SET_PDEATHSIG, stdout and stderr to a temp file, registered and
 * killed (SIGCONT first, for a stopped one) by sc_cleanup(); only these pids are signalled.
 */
struct sc_tool;

/* Starts ANYLB_TEST_TOOLS_DIR/name with the NULL-terminated arguments. NULL on failure. */
struct sc_tool *sc_tool_start(const char *name, ...) __attribute__((sentinel));

pid_t sc_tool_pid(const struct sc_tool *t);
const char *sc_tool_output_path(const struct sc_tool *t);

/* Sends sig (only while the process runs): 0 or -errno. */
int sc_tool_signal(struct sc_tool *t, int sig);

/* As sc_lb_wait: exit code, 128 + signal, or -ETIMEDOUT while it runs. */
int sc_tool_wait(struct sc_tool *t, int timeout_ms);

/* Waits for an output line containing needle at or after from (sc_file_wait_line). */
int sc_tool_wait_output(struct sc_tool *t, size_t from, const char *needle, int timeout_ms,
	struct sc_log_line *out);
size_t sc_tool_output_offset(const struct sc_tool *t);

/* SIGCONT, SIGTERM, up to 5 s, then SIGKILL; prints the output unless the exit was 0 (or the
 * SIGKILL of the test). Frees t; NULL is fine. Returns as sc_tool_wait (-ETIMEDOUT when it had
 * to be killed). */
int sc_tool_stop(struct sc_tool *t);

/* ---- tls.c ----------------------------------------------------------------------------------- */

/*
 * Certificates made at test time with the OpenSSL API (EC P-256), and a TLS server that does
 * handshakes. A leaf is for DNS:localhost, IP:127.0.0.1 and IP:::1.
 */
struct sc_cert;

struct sc_pki {
	const char *ca_file;        /* the trusted CA as PEM, a harness temp file */
	struct sc_cert *ca;         /* trusted: written to ca_file */
	struct sc_cert *leaf;       /* signed by ca, valid for a day */
	struct sc_cert *expired;    /* signed by ca, expired yesterday */
	struct sc_cert *future;     /* signed by ca, valid from tomorrow */
	struct sc_cert *selfsigned; /* a valid self-signed leaf */
	struct sc_cert *foreign;    /* signed by a second CA that is not in ca_file */
	struct sc_cert *ca2;        /* that second CA */
};

/* Makes them all: 0 or -errno (printing OpenSSL's reason). sc_pki_free releases. */
int sc_pki_make(struct sc_pki *p);
void sc_pki_free(struct sc_pki *p);

/* The certificate's notAfter as unix time. */
int64_t sc_cert_not_after(const struct sc_cert *c);

/* A new server context presenting cert (the caller frees it); NULL on failure. */
SSL_CTX *sc_tls_server_ctx(const struct sc_cert *cert);

struct sc_tls_server;

/*
 * A thread on 127.0.0.1 / ::1 (port of the kernel's choice) that accepts one connection at a
 * time, completes a TLS handshake with cert, then reads until the peer goes (at most 1 s) and
 * closes. cert must outlive the server. NULL on failure.
 */
struct sc_tls_server *sc_tls_server_start(int family, const struct sc_cert *cert);
/* From the next handshake on, presents cert. */
int sc_tls_server_set_cert(struct sc_tls_server *s, const struct sc_cert *cert);
const char *sc_tls_server_addr(const struct sc_tls_server *s);
unsigned sc_tls_server_accepts(const struct sc_tls_server *s);
unsigned sc_tls_server_handshakes(const struct sc_tls_server *s); /* completed */
void sc_tls_server_stop(struct sc_tls_server *s);

/*
 * The ClientHello OpenSSL's client sends first (over memory BIOs), asking for server name sni
 * (NULL: none), offering at most max_version (TLS1_2_VERSION, TLS1_3_VERSION). Its length, or
 * 0 when it could not be made or is longer than cap.
 */
size_t sc_client_hello(const char *sni, int max_version, uint8_t *out, size_t cap);

/* ---- proxyhdr.c ------------------------------------------------------------------------------ */

/*
 * Parses a PROXY protocol header at the start of buf (n bytes so far). Returns its length (> 0)
 * and fills out; 0 when more bytes are needed; -EINVAL with out->err set when it is not a valid
 * v1 or v2 header. Strict on purpose: single spaces, CRLF, at most 107 bytes for v1; signature,
 * version 2, and a length that holds the address block for v2 (TLVs after it are skipped).
 */
int sc_proxy_parse(const uint8_t *buf, size_t n, struct sc_proxy_info *out);

#endif
