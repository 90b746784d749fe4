/*
 * DOC: reading an operator's file: tests
 *
 * lib/readfile against real files of every kind the configuration path could name: a regular
 * file reads whole; a FIFO, a directory and a device are refused at once (each test has a
 * timeout: a FIFO that blocked open(2) would hang it, not fail it); a file larger than the bound
 * is refused unread. The change check is pure and tested on crafted stat results; a /proc file
 * (its size says 0, it holds bytes) goes through the real path to the same verdict.
 */
#include "lib/readfile.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

TestSuite(readfile, .timeout = 10);

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/anylb-readfile-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static const char *in_dir(const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads path, expecting rc; returns the time it took. */
static double expect_rc(const char *path, size_t max, int want, mode_t *mode)
{
	char *buf = (char *)1;
	size_t len = 99;
	double t0 = now_s();
	int rc = readfile_regular(path, max, &buf, &len, mode);
	double took = now_s() - t0;

	cr_expect_eq(rc, want, "%s: rc %d (%s), want %d", path, rc, strerror(-rc), want);
	if (rc < 0) {
		cr_expect_null(buf, "%s: a buffer on failure", path);
		cr_expect_eq(len, 0, "%s", path);
	}
	free(rc == 0 ? buf : NULL);
	return took;
}

Test(readfile, regular_file_whole)
{
	char p[128], *buf;
	size_t len;
	mode_t mode;
	static const char text[] = "services:\n  - name: web\n";

	make_dir();
	write_file(in_dir("a.yaml", p, sizeof(p)), text, strlen(text));
	cr_assert_eq(readfile_regular(p, 1 << 20, &buf, &len, &mode), 0);
	cr_expect(S_ISREG(mode));
	cr_expect_eq(len, strlen(text));
	cr_expect_eq(memcmp(buf, text, len), 0);
	free(buf);

	write_file(p, "", 0);
	cr_assert_eq(readfile_regular(p, 1 << 20, &buf, &len, &mode), 0);
	cr_expect_eq(len, 0);
	free(buf);
	unlink(p);
	rmdir(dir);
}

Test(readfile, fifo_refused_without_blocking)
{
	char p[128];
	mode_t mode;

	make_dir();
	cr_assert_eq(mkfifo(in_dir("fifo.yaml", p, sizeof(p)), 0600), 0, "%s", strerror(errno));
	/* No writer: a blocking open(2) would wait here forever (the suite's timeout catches it).
	 */
	double took = expect_rc(p, 1 << 20, -EINVAL, &mode);
	cr_expect(S_ISFIFO(mode));
	cr_expect_str_eq(readfile_type(mode), "a FIFO");
	cr_expect_lt(took, 1.0, "took %.3f s", took);
	unlink(p);
	rmdir(dir);
}

Test(readfile, directory_device_missing_and_too_large)
{
	char p[128];
	mode_t mode;
	char big[4097];

	make_dir();
	expect_rc(dir, 1 << 20, -EISDIR, &mode);
	cr_expect_str_eq(readfile_type(mode), "a directory");
	expect_rc("/dev/null", 1 << 20, -EINVAL, &mode);
	cr_expect_str_eq(readfile_type(mode), "a character device");
	expect_rc(in_dir("missing.yaml", p, sizeof(p)), 1 << 20, -ENOENT, &mode);

	memset(big, 'x', sizeof(big));
	write_file(in_dir("big.yaml", p, sizeof(p)), big, sizeof(big));
	expect_rc(p, 4096, -EFBIG, &mode);
	expect_rc(p, 4097, 0, &mode);
	unlink(p);
	rmdir(dir);
}

Test(readfile, size_that_is_not_what_it_holds_counts_as_changed)
{
	mode_t mode;

	/* Regular, st_size 0, and yet bytes to read: what a file rewritten mid-read looks like. */
	expect_rc("/proc/self/status", 1 << 20, -EAGAIN, &mode);
	cr_expect(S_ISREG(mode));
}

Test(readfile, changed_compares_size_times_and_bytes_read)
{
	struct stat a, b;

	memset(&a, 0, sizeof(a));
	a.st_size = 100;
	a.st_mtim.tv_sec = 1700000000;
	a.st_mtim.tv_nsec = 5;
	a.st_ctim = a.st_mtim;
	b = a;
	cr_expect_not(readfile_changed(&a, &b, 100));
	cr_expect(readfile_changed(&a, &b, 99), "fewer bytes than the size: truncated mid-read");
	cr_expect(readfile_changed(&a, &b, 101), "more bytes than the size: grew mid-read");
	b.st_size = 60;
	cr_expect(readfile_changed(&a, &b, 60), "size before and after differ");
	b = a;
	b.st_mtim.tv_nsec = 6;
	cr_expect(readfile_changed(&a, &b, 100), "rewritten in place to the same size");
	b = a;
	b.st_ctim.tv_sec++;
	cr_expect(readfile_changed(&a, &b, 100), "status changed (written, then mtime set back)");
}
