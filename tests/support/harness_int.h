/*
 * DOC: harness internals
 *
 * Shared between the harness's own files only; tests include harness.h. The registry lets
 * sc_cleanup() release what every part of the harness started.
 */
#ifndef ANYLB_TESTS_SUPPORT_HARNESS_INT_H
#define ANYLB_TESTS_SUPPORT_HARNESS_INT_H

#include "tests/support/harness.h"

#include <stdarg.h>

/* Stops every backend still running (backend.c). */
void sc_backend_cleanup_all(void);

/* Stops every anylb still running, printing its log, and frees it (proc.c). */
void sc_lb_cleanup_all(void);

/* Stops every tool process and TLS server still running (tool.c, tls.c). */
void sc_tool_cleanup_all(void);
void sc_tls_cleanup_all(void);

/*
 * Forks and execs argv as proc.c starts anylb (PR_SET_PDEATHSIG, stdin /dev/null, stdout and
 * stderr to the given fds, no other fd). Returns the pid or -errno. Main thread only.
 */
pid_t sc_spawn(char *const argv[], int outfd, int errfd);

/* sc_run_anylb() for any program: prog, then the NULL-terminated arguments in ap. */
int sc_run_va(struct sc_run *r, const char *prog, int timeout_ms, va_list ap);

/* Makes sure sc_cleanup() runs at exit and SIGPIPE is ignored in the test process. */
void sc_harness_init(void);

/* Poll timeout in ms until deadline (a sc_now_ms() value), 0 when it has passed. */
int sc_remaining_ms(int64_t deadline);

#endif
