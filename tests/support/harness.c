/*
 * DOC: harness utilities
 *
 * Time, ports, address text, the byte pattern, temp files and the cleanup registry that the rest
 * of the harness builds on. See harness.h for the contracts.
 */
#include "tests/support/harness_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t sc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sc_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int sc_remaining_ms(int64_t deadline)
{
	int64_t left = deadline - sc_now_ms();

	return left > 0 ? (int)left : 0;
}

/* ---- cleanup registry ------------------------------------------------------------------------ */

#define MAX_TEMP 256

static char *temp_files[MAX_TEMP];
static size_t ntemp;
static int initialised;

void sc_harness_init(void)
{
	if (initialised)
		return;
	initialised = 1;
	/* A write to a socket the proxy closed must show up as EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	atexit(sc_cleanup);
}

void sc_cleanup(void)
{
	sc_lb_cleanup_all();
	sc_tool_cleanup_all();
	sc_tls_cleanup_all();
	sc_backend_cleanup_all();
	for (size_t i = 0; i < ntemp; i++) {
		unlink(temp_files[i]);
		free(temp_files[i]);
		temp_files[i] = NULL;
	}
	ntemp = 0;
}

const char *sc_temp_file(const char *suffix, const char *fmt, ...)
{
	char path[128];
	va_list ap;
	char *text = NULL;
	int fd, len;

	sc_harness_init();
	if (ntemp == MAX_TEMP)
		return NULL;
	snprintf(path, sizeof(path), "/tmp/anylb-scn-XXXXXX%s", suffix);
	fd = mkstemps(path, (int)strlen(suffix));
	if (fd < 0)
		return NULL;
	va_start(ap, fmt);
	len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len < 0 || write(fd, text, (size_t)len) != len) {
		free(text);
		close(fd);
		unlink(path);
		return NULL;
	}
	free(text);
	close(fd);
	temp_files[ntemp] = strdup(path);
	if (temp_files[ntemp] == NULL) {
		unlink(path);
		return NULL;
	}
	return temp_files[ntemp++];
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void sc_rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void sc_temp_release(const char *path)
{
	for (size_t i = 0; i < ntemp; i++) {
		if (temp_files[i] != path)
			continue;
		unlink(temp_files[i]);
		free(temp_files[i]);
		temp_files[i] = temp_files[--ntemp];
		temp_files[ntemp] = NULL;
		return;
	}
}

char *sc_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	if (buf == NULL)
		buf = malloc(1);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

/* ---- ports and addresses --------------------------------------------------------------------- */

#define MAX_PORTS 512

static int ports_given[MAX_PORTS];
static size_t nports_given;

static int port_was_given(int port)
{
	for (size_t i = 0; i < nports_given; i++) {
		if (ports_given[i] == port)
			return 1;
	}
	return 0;
}

/* The range to draw from: below the ephemeral range when there is room, else above it. */
static void port_range(int *lo, int *hi)
{
	int elo = 32768, ehi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	if (f != NULL) {
		if (fscanf(f, "%d %d", &elo, &ehi) != 2) {
			elo = 32768;
			ehi = 60999;
		}
		fclose(f);
	}
	if (elo > 12000) {
		*lo = 10000;
		*hi = elo - 1;
	} else {
		*lo = ehi + 1;
		*hi = 65535;
	}
}

static void loopback(int family, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
}

int sc_port_free(int family)
{
	static unsigned seed;
	int lo, hi;

	sc_harness_init();
	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)sc_now_ms() ^
		       (unsigned)time(NULL);
	port_range(&lo, &hi);
	if (nports_given == MAX_PORTS)
		return -ENOSPC;
	for (int tries = 0; tries < 1000; tries++) {
		int port = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo + 1));
		struct sockaddr_storage ss;
		socklen_t len;
		int fd, ok;

		if (port_was_given(port))
			continue;
		/* No SO_REUSEADDR: a port with a TIME_WAIT or any other socket on it is skipped. */
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		loopback(family, port, &ss, &len);
		ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
		close(fd);
		if (ok) {
			ports_given[nports_given++] = port;
			return port;
		}
	}
	return -EADDRINUSE;
}

int sc_free_addr(int family, char *buf, size_t cap)
{
	int port = sc_port_free(family);

	if (port < 0)
		return port;
	snprintf(buf, cap, family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", port);
	return port;
}

int sc_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	char *end;
	long port;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

const char *sc_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, cap, "?(family %d)", sa->sa_family);
	}
	return buf;
}

int sc_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/* ---- byte pattern ---------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Byte i of stream seed is byte (i % 8) of splitmix64(seed * 2^32 + i / 8), little-endian. */
void sc_pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t n)
{
	uint8_t *p = buf;
	uint64_t base = seed << 32;

	while (n > 0) {
		uint64_t word = splitmix64(base + off / 8);
		unsigned k = (unsigned)(off % 8);

		for (; k < 8 && n > 0; k++, n--, off++)
			*p++ = (uint8_t)(word >> (8 * k));
	}
}

int64_t sc_pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	uint8_t want[4096];
	size_t done = 0;

	while (done < n) {
		size_t chunk = n - done < sizeof(want) ? n - done : sizeof(want);

		sc_pattern_fill(seed, off + done, want, chunk);
		if (memcmp(want, p + done, chunk) != 0) {
			for (size_t i = 0; i < chunk; i++) {
				if (want[i] != p[done + i])
					return (int64_t)(done + i);
			}
		}
		done += chunk;
	}
	return -1;
}

/* ---- processes ------------------------------------------------------------------------------- */

int sc_pid_fd_count(pid_t pid, const char *kind)
{
	char path[64], link[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (kind != NULL) {
			ssize_t len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

			if (len < 0)
				continue; /* closed meanwhile */
			link[len] = '\0';
			if (strncmp(link, kind, strlen(kind)) != 0)
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

int64_t sc_pid_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (kib < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %lld kB", &kib) != 1)
			kib = -1;
	}
	fclose(f);
	return kib < 0 ? -ENOENT : (int64_t)kib;
}

int64_t sc_pid_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last
	 * ')'. utime and stime are fields 14 and 15. */
	p = strrchr(buf, ')');
	if (p == NULL || hz <= 0 ||
		sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			&stime) != 2)
		return -EIO;
	return (int64_t)((utime + stime) * 1000ull / (unsigned long long)hz);
}

int sc_wait_file_has(const char *path, const char *needle, int timeout_ms, char **last)
{
	int64_t deadline = sc_now_ms() + timeout_ms;

	for (;;) {
		char *s = sc_read_file(path);
		if (s != NULL && strstr(s, needle) != NULL) {
			free(s);
			return 0;
		}
		if (sc_now_ms() >= deadline) {
			if (last != NULL)
				*last = s;
			else
				free(s);
			return -ETIMEDOUT;
		}
		free(s);
		sc_sleep_ms(20);
	}
}
