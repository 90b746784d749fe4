/*
 * DOC: the access log line in each format
 *
 * The text line (what HAProxy's tcplog has: listener, backend, connect time, retries, queue
 * time, bytes each way, duration, termination), and the same record through a stream in json and
 * logfmt: a file stream the test reads back.
 */
#include "conf/conf.h"
#include "lb/accesslog.h"
#include "lb/logs.h"
#include "lib/log.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct lb_runtime *rt_of(const char *y)
{
	struct conf_errs errs = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_buffer("t.yaml", y, strlen(y), &c, &errs), 0);
	struct lb_runtime *rt = runtime_new(c);
	cr_assert_not_null(rt);
	return rt;
}

static struct addr addr_of(const char *text)
{
	struct addr a;
	char why[ADDR_WHY_MAX];

	cr_assert_eq(addr_parse(text, 0, &a, why, sizeof(why)), 0, "%s", why);
	return a;
}

#define YAML                                                                                       \
	"global:\n  log: {access: true}\nservices:\n  - name: web\n"                               \
	"    listen: 127.0.0.1:80\n    backends: [{address: \"[::1]:9001\"}]\n"

Test(accesslog, text)
{
	struct lb_runtime *rt = rt_of(YAML);
	struct addr client = addr_of("192.0.2.7:50112"), listener = addr_of("192.0.2.10:443");
	char line[640];
	struct access_record a = {
		.svc = &rt->services[0],
		.client = &client,
		.backend = &rt->services[0].backends[0],
		.listener = &listener,
		.bytes_in = 517,
		.bytes_out = 18230,
		.duration_s = 1.2504,
		.connect_s = 0.0012,
		.retries = 1,
		.result = LB_RESULT_DONE,
		.reason = "done",
	};

	access_log_format(line, sizeof(line), &a);
	cr_expect_str_eq(line, "access service=web client=192.0.2.7:50112 listener=192.0.2.10:443 "
			       "backend=[::1]:9001 connect_ms=1 retries=1 queue_ms=0 bytes_in=517 "
			       "bytes_out=18230 duration_ms=1250 result=done reason=\"done\"");
	a = (struct access_record){.svc = &rt->services[0],
		.client = &client,
		.duration_s = -1,
		.connect_s = -1,
		.result = LB_RESULT_NO_BACKEND,
		.reason = "no \"usable\" backend\\\n"};
	access_log_format(line, sizeof(line), &a);
	cr_expect_str_eq(line, "access service=web client=192.0.2.7:50112 listener=- backend=- "
			       "connect_ms=- retries=0 queue_ms=0 bytes_in=0 bytes_out=0 "
			       "duration_ms=0 result=no_backend "
			       "reason=\"no \\\"usable\\\" backend\\\\\"");
	a.reason = NULL;
	a.result = LB_RESULT_TIMEOUT;
	access_log_format(line, sizeof(line), &a);
	cr_expect(strstr(line, "result=timeout reason=\"\"") != NULL, "%s", line);
	runtime_put(rt);
}

/* The record through the access stream into a file, in format; the file's text. */
static char *through_stream(const char *format)
{
	char path[] = "/tmp/anylb-access-XXXXXX", yaml[1024];
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(yaml, sizeof(yaml),
		"global:\n  access_log: {target: file, path: %s, format: %s}\n"
		"services:\n  - name: web\n    listen: 127.0.0.1:80\n"
		"    backends: [{address: \"[::1]:9001\"}]\n",
		path, format);
	struct lb_runtime *rt = rt_of(yaml);
	char why[256];
	cr_assert_eq(logs_apply(rt->conf, why, sizeof(why)), 0, "%s", why);
	struct addr client = addr_of("[2001:db8::7]:50112");
	struct access_record a = {.svc = &rt->services[0],
		.client = &client,
		.backend = &rt->services[0].backends[0],
		.bytes_in = 5,
		.bytes_out = 7,
		.duration_s = 0.002,
		.connect_s = -1,
		.result = LB_RESULT_BACKEND_ERROR,
		.reason = "backend reset"};
	access_log_line(&a);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char *text = calloc(1, 4096);
	size_t n = fread(text, 1, 4095, f);
	fclose(f);
	text[n] = '\0';
	unlink(path);
	logs_close();
	runtime_put(rt);
	return text;
}

Test(accesslog, json_has_every_field)
{
	char *text = through_stream("json");
	json_error_t e;
	json_t *j = json_loads(text, JSON_DISABLE_EOF_CHECK, &e);

	cr_assert_not_null(j, "not JSON: %s: %s", e.text, text);
	cr_expect_str_eq(json_string_value(json_object_get(j, "event")), "access");
	cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "info");
	cr_expect_str_eq(json_string_value(json_object_get(j, "service")), "web");
	cr_expect_str_eq(json_string_value(json_object_get(j, "client")), "[2001:db8::7]:50112");
	cr_expect_str_eq(json_string_value(json_object_get(j, "backend")), "[::1]:9001");
	cr_expect_str_eq(json_string_value(json_object_get(j, "connect_ms")), "-");
	cr_expect_eq(json_integer_value(json_object_get(j, "bytes_in")), 5);
	cr_expect_eq(json_integer_value(json_object_get(j, "bytes_out")), 7);
	cr_expect_eq(json_integer_value(json_object_get(j, "duration_ms")), 2);
	cr_expect_eq(json_integer_value(json_object_get(j, "retries")), 0);
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "backend_error");
	cr_expect_str_eq(json_string_value(json_object_get(j, "reason")), "backend reset");
	json_decref(j);
	free(text);
}

Test(accesslog, logfmt)
{
	char *text = through_stream("logfmt");

	cr_expect(strstr(text,
			  " level=info event=access msg=\"backend reset\" service=web "
			  "client=[2001:db8::7]:50112 listener=- backend=[::1]:9001 "
			  "connect_ms=- retries=0 queue_ms=0 bytes_in=5 bytes_out=7 "
			  "duration_ms=2 result=backend_error reason=\"backend reset\"\n") != NULL,
		"%s", text);
	cr_expect_eq(strncmp(text, "ts=", 3), 0, "%s", text);
	free(text);
}
