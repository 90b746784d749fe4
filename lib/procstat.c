#include "lib/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The n-th space-separated field after p (n = 0: the first), parsed as a decimal. */
static int field_u64(const char *p, int n, uint64_t *v)
{
	for (int i = 0; i < n; i++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -EINVAL;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	*v = x;
	return 0;
}

int procstat_parse(
	const char *stat, long ticks, long page_size, uint64_t boot_time, struct procstat *out)
{
	/* After "PID (COMM) ": field 3, the state, is the first (see proc(5)). */
	const char *p = strrchr(stat, ')');
	uint64_t utime, stime, start, vsize, rss;

	if (p == NULL || p[1] != ' ' || ticks <= 0 || page_size <= 0)
		return -EINVAL;
	p += 2;
	/* utime 14, stime 15, starttime 22, vsize 23, rss 24: 11, 12, 19, 20, 21 after state. */
	if (field_u64(p, 11, &utime) < 0 || field_u64(p, 12, &stime) < 0 ||
		field_u64(p, 19, &start) < 0 || field_u64(p, 20, &vsize) < 0 ||
		field_u64(p, 21, &rss) < 0)
		return -EINVAL;
	out->cpu_seconds = (double)(utime + stime) / (double)ticks;
	out->vsize_bytes = vsize;
	out->rss_bytes = rss * (uint64_t)page_size;
	out->start_time = (double)boot_time + (double)start / (double)ticks;
	return 0;
}

int procstat_boot_time(const char *proc_stat, uint64_t *boot_time)
{
	for (const char *p = proc_stat; p != NULL; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, "btime ", 6) == 0)
			return field_u64(p, 1, boot_time);
	return -EINVAL;
}

/* The start of a /proc file (they have no size to read up to), NUL-terminated. */
static int read_proc(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len < cap - 1) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return 0;
}

/* btime of /proc/stat; it comes after a line per CPU, so the file is read line by line. */
static int read_boot_time(uint64_t *boot)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	int rc = -EINVAL;

	if (f == NULL)
		return -errno;
	while (rc < 0 && fgets(line, sizeof(line), f) != NULL)
		rc = procstat_boot_time(line, boot);
	fclose(f);
	return rc;
}

int procstat_read(struct procstat *out)
{
	char stat[1024];
	uint64_t boot;
	int rc;

	if ((rc = read_proc("/proc/self/stat", stat, sizeof(stat))) < 0 ||
		(rc = read_boot_time(&boot)) < 0)
		return rc;
	return procstat_parse(stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot, out);
}

long procstat_max_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur == RLIM_INFINITY)
		return -ERANGE;
	return (long)rl.rlim_cur;
}
