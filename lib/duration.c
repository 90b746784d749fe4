#include "lib/duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DURATION_MAX_MS (UINT64_C(1) << 32) /* about 49.7 days */

int duration_parse(const char *s, uint64_t *ms)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	/* As with integers: 010s would be octal 8 to some readers and a typo to others. */
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > DURATION_MAX_MS)
			return -ERANGE;
	}
	uint64_t mul;
	if (strcmp(p, "ms") == 0)
		mul = 1;
	else if (strcmp(p, "s") == 0)
		mul = 1000;
	else if (strcmp(p, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mul = 3600 * 1000;
	else
		return -EINVAL;
	if (v > DURATION_MAX_MS / mul)
		return -ERANGE;
	*ms = v * mul;
	return 0;
}

const char *duration_format(uint64_t ms, char *buf, int cap)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, (size_t)cap, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, (size_t)cap, "%llum", (unsigned long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, (size_t)cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, (size_t)cap, "%llums", (unsigned long long)ms);
	return buf;
}
