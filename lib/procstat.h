/*
 * DOC: the process's own resource figures, for the standard process_* metrics
 *
 * What Prometheus's client libraries export as process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds and
 * process_max_fds, read from /proc/self/stat, /proc/stat and getrlimit(2). Parsing is pure
 * (procstat_parse) so that a test feeds it crafted text; procstat_read does the reading.
 */
#ifndef ANYLB_LIB_PROCSTAT_H
#define ANYLB_LIB_PROCSTAT_H

#include <stdint.h>

struct procstat {
	double cpu_seconds;   /* user + system time of every thread */
	uint64_t rss_bytes;   /* resident set */
	uint64_t vsize_bytes; /* virtual memory */
	double start_time;    /* unix seconds the process started */
};

/*
 * From the text of /proc/self/stat (the command name may hold spaces and parentheses: fields
 * are counted after the last ')'), the clock ticks per second, the page size and the boot time
 * (btime of /proc/stat, unix seconds). 0, or -EINVAL when the text is not such a line.
 */
int procstat_parse(
	const char *stat, long ticks, long page_size, uint64_t boot_time, struct procstat *out);

/* The boot time from the text of /proc/stat (its "btime N" line): 0, or -EINVAL. */
int procstat_boot_time(const char *proc_stat, uint64_t *boot_time);

/* This process's figures: 0 or -errno. */
int procstat_read(struct procstat *out);

/* The soft limit on open files (RLIMIT_NOFILE), or -errno; -ERANGE when unlimited. */
long procstat_max_fds(void);

#endif
