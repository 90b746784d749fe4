/*
 * DOC: systemd notification
 *
 * With NOTIFY_SOCKET and WATCHDOG_USEC set (as systemd sets them for Type=notify with
 * WatchdogSec), anylb says READY=1 once it serves, feeds WATCHDOG=1 from its heartbeat while
 * every event loop turns, and says STOPPING=1 on SIGTERM.
 */
#include "tests/support/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(systemd, ready_watchdog_stopping, .timeout = 20)
{
	char dir[] = "/tmp/anylb-sd-XXXXXX", sock[64], conf[96], listen[SC_ADDRSTRLEN];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/notify", dir);
	snprintf(conf, sizeof(conf), "%s/anylb.yaml", dir);
	cr_assert_gt(sc_free_addr(AF_INET, listen, sizeof(listen)), 0);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"global:\n  workers: 2\n  admin: {enabled: false}\nservices:\n  - name: x\n"
		"    listen: [\"%s\"]\n    backends: [{address: \"127.0.0.1:9\"}]\n",
		listen);
	fclose(f);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100 * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", sock, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
		execl(ANYLB_BIN, "anylb", "-c", conf, (char *)NULL);
		_exit(127);
	}
	int ready = 0, beats = 0, stopping = 0, signalled = 0;
	int64_t t0 = now_ms();
	char buf[512];
	while (now_ms() - t0 < 5000 && !stopping) {
		if (ready && beats >= 5 && !signalled) {
			kill(pid, SIGTERM);
			signalled = 1;
		}
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		ready |= strstr(buf, "READY=1") != NULL;
		beats += strstr(buf, "WATCHDOG=1") != NULL;
		stopping |= strstr(buf, "STOPPING=1") != NULL;
	}
	if (!signalled)
		kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	close(fd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
	cr_expect(ready, "no READY=1");
	cr_expect_geq(beats, 5, "only %d WATCHDOG=1 in the time (period 100 ms)", beats);
	cr_expect(stopping, "no STOPPING=1 after SIGTERM");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}
