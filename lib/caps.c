/*
 * DOC: capability sets over capget/capset
 *
 * glibc has no wrapper for capget(2) and capset(2) (libcap's are the usual ones), so they are
 * called through syscall(2) with the version 3 header: two 32-bit data words per set.
 */
#include "lib/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int caps_read(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

	memset(data, 0, 2 * sizeof(*data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	return 0;
}

int caps_get(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_data_struct data[2];
	int rc = caps_read(data);

	if (rc < 0)
		return rc;
	if (effective != NULL)
		*effective = (uint64_t)data[1].effective << 32 | data[0].effective;
	if (permitted != NULL)
		*permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	return 0;
}

int caps_set(uint64_t keep)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(keep >> (32 * i));
		data[i].permitted = (uint32_t)(keep >> (32 * i));
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

uint64_t caps_pass_on(uint64_t set)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	uint64_t passed = 0;

	if (caps_read(data) < 0)
		return 0;
	uint64_t permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	set &= permitted;
	for (int i = 0; i < 2; i++)
		data[i].inheritable |= (uint32_t)(set >> (32 * i));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return 0;
	for (unsigned c = 0; c < 64; c++)
		if ((set & CAPS_BIT(c)) &&
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) == 0)
			passed |= CAPS_BIT(c);
	return passed;
}

const char *caps_format(uint64_t set, char *buf, size_t cap)
{
	static const char *const names[] = {
		[CAP_CHOWN] = "chown",
		[CAP_DAC_OVERRIDE] = "dac_override",
		[CAP_SETGID] = "setgid",
		[CAP_SETUID] = "setuid",
		[CAP_SETPCAP] = "setpcap",
		[CAP_NET_BIND_SERVICE] = "net_bind_service",
		[CAP_NET_ADMIN] = "net_admin",
		[CAP_NET_RAW] = "net_raw",
		[CAP_SYS_ADMIN] = "sys_admin",
	};
	size_t off = 0;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	if (set == 0) {
		snprintf(buf, cap, "none");
		return buf;
	}
	for (unsigned i = 0; i < 64 && off < cap; i++) {
		if (!(set & CAPS_BIT(i)))
			continue;
		const char *n = i < sizeof(names) / sizeof(names[0]) ? names[i] : NULL;
		int w = n != NULL ? snprintf(buf + off, cap - off, "%s%s", off ? "," : "", n)
				  : snprintf(buf + off, cap - off, "%scap_%u", off ? "," : "", i);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}
