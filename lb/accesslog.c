/*
 * DOC: access log lines
 *
 * The text format: key=value pairs in a fixed order, so that a line is easy for people to read
 * and for a shell to cut; only the reason is quoted (it has spaces), with '"' and '\' escaped
 * and control characters dropped, so a line stays one line whatever a reason holds. json and
 * logfmt: the same fields, written by the stream (lib/log.c).
 */
#include "lb/accesslog.h"

#include "lb/logs.h"
#include "lib/log.h"

#include <stdio.h>

/* The reason, quoted and escaped, into buf. */
static const char *quote(const char *s, char *buf, size_t cap)
{
	size_t o = 0;

	buf[o++] = '"';
	for (; s != NULL && *s != '\0' && o + 3 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			buf[o++] = '\\';
		buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static unsigned long long ms_of(double s)
{
	return s < 0 ? 0 : (unsigned long long)(s * 1000.0 + 0.5);
}

int access_log_on(const struct lb_service *svc)
{
	return svc->rt->conf->global.access_log;
}

int access_log_format(char *buf, size_t cap, const struct access_record *a)
{
	char cbuf[ADDR_STRLEN], lbuf[ADDR_STRLEN], rbuf[200], connect[24];

	if (a->connect_s < 0)
		snprintf(connect, sizeof(connect), "-");
	else
		snprintf(connect, sizeof(connect), "%llu", ms_of(a->connect_s));
	return snprintf(buf, cap,
		"access service=%s client=%s listener=%s backend=%s connect_ms=%s retries=%u "
		"queue_ms=%u bytes_in=%llu bytes_out=%llu duration_ms=%llu result=%s reason=%s",
		a->svc->conf->name, addr_format(a->client, cbuf, sizeof(cbuf)),
		a->listener != NULL ? addr_format(a->listener, lbuf, sizeof(lbuf)) : "-",
		a->backend != NULL ? a->backend->conf->address : "-", connect, a->retries,
		(unsigned)a->queue_ms, (unsigned long long)a->bytes_in,
		(unsigned long long)a->bytes_out, ms_of(a->duration_s), lb_result_name(a->result),
		quote(a->reason, rbuf, sizeof(rbuf)));
}

void access_log_line(const struct access_record *a)
{
	struct log_stream *s = logs_access();
	char line[640];

	if (!access_log_on(a->svc) || s == NULL)
		return;
	if (log_stream_format(s) == LOG_FORMAT_TEXT) {
		access_log_format(line, sizeof(line), a);
		log_stream_write(s, LOG_LEVEL_INFO, "access", NULL, 0, line);
		return;
	}
	char cbuf[ADDR_STRLEN], lbuf[ADDR_STRLEN];
	struct log_field f[] = {
		LOG_S("service", a->svc->conf->name),
		LOG_S("client", addr_format(a->client, cbuf, sizeof(cbuf))),
		LOG_S("listener",
			a->listener != NULL ? addr_format(a->listener, lbuf, sizeof(lbuf)) : NULL),
		LOG_S("backend", a->backend != NULL ? a->backend->conf->address : NULL),
		a->connect_s < 0 ? LOG_S("connect_ms", NULL)
				 : LOG_N("connect_ms", ms_of(a->connect_s)),
		LOG_N("retries", a->retries),
		LOG_N("queue_ms", a->queue_ms),
		LOG_N("bytes_in", a->bytes_in),
		LOG_N("bytes_out", a->bytes_out),
		LOG_N("duration_ms", ms_of(a->duration_s)),
		LOG_S("result", lb_result_name(a->result)),
		LOG_S("reason", a->reason != NULL ? a->reason : ""),
	};
	log_stream_write(s, LOG_LEVEL_INFO, "access", f, sizeof(f) / sizeof(f[0]),
		a->reason != NULL ? a->reason : "");
}
