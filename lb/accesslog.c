/*
 * DOC: access log lines
 *
 * key=value pairs in a fixed order, so that a line is easy for people to read and for a shell
 * to cut; only the reason is quoted (it has spaces), with '"' and '\' escaped and control
 * characters dropped, so a line stays one line whatever a reason holds.
 */
#include "lb/accesslog.h"

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

int access_log_format(char *buf, size_t cap, const struct lb_service *svc,
	const struct addr *client, const struct lb_backend *backend, uint64_t bytes_in,
	uint64_t bytes_out, double duration_s, enum lb_result result, const char *reason)
{
	char cbuf[ADDR_STRLEN], rbuf[200];

	if (duration_s < 0)
		duration_s = 0;
	return snprintf(buf, cap,
		"access service=%s client=%s backend=%s bytes_in=%llu bytes_out=%llu "
		"duration_ms=%llu result=%s reason=%s",
		svc->conf->name, addr_format(client, cbuf, sizeof(cbuf)),
		backend != NULL ? backend->conf->address : "-", (unsigned long long)bytes_in,
		(unsigned long long)bytes_out, (unsigned long long)(duration_s * 1000.0 + 0.5),
		lb_result_name(result), quote(reason, rbuf, sizeof(rbuf)));
}

void access_log_line(const struct lb_service *svc, const struct addr *client,
	const struct lb_backend *backend, uint64_t bytes_in, uint64_t bytes_out, double duration_s,
	enum lb_result result, const char *reason)
{
	char line[512];

	if (!svc->rt->conf->global.access_log || !log_enabled(LOG_LEVEL_INFO))
		return;
	access_log_format(line, sizeof(line), svc, client, backend, bytes_in, bytes_out, duration_s,
		result, reason);
	log_info("%s", line);
}
