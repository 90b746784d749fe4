/*
 * DOC: flow/handoff.c: the loader (see handoff.h). The program comes from the skeleton that
 * bpftool generates at build time (handoff.skel.h in the build directory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flow/handoff.h"
#include "handoff.skel.h"

struct flow_handoff {
	struct handoff_bpf *skel;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	int attached;
};

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int flow_handoff_open(struct flow_handoff **out, char *err, size_t errlen)
{
	struct flow_handoff *h;
	int rc;

	*out = NULL;
	libbpf_set_print(silent);
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "flow hand-off: out of memory");
		return -ENOMEM;
	}
	h->skel = handoff_bpf__open_and_load();
	if (!h->skel) {
		rc = -errno;
		snprintf(err, errlen, "flow hand-off: BPF program not loaded: %s", strerror(-rc));
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

static int map_update(struct bpf_map *map, const void *key, const void *val)
{
	return bpf_map_update_elem(bpf_map__fd(map), key, val, BPF_ANY) ? -errno : 0;
}

int flow_handoff_set_config(struct flow_handoff *h, const struct flow_cfg *cfg)
{
	uint32_t zero = 0;

	return map_update(h->skel->maps.flow_config, &zero, cfg);
}

int flow_handoff_set_peer4(struct flow_handoff *h, uint32_t index, uint32_t addr4)
{
	struct flow_peer old, peer = {.addr4 = addr4};
	int fd = bpf_map__fd(h->skel->maps.flow_peers);
	int rc;

	if (index >= FLOW_MAX_PEERS)
		return -EINVAL;
	if (bpf_map_lookup_elem(fd, &index, &old) == 0 && old.addr4)
		bpf_map_delete_elem(bpf_map__fd(h->skel->maps.flow_peer_index), &old.addr4);
	rc = map_update(h->skel->maps.flow_peers, &index, &peer);
	if (rc == 0 && addr4)
		rc = map_update(h->skel->maps.flow_peer_index, &addr4, &index);
	return rc;
}

int flow_handoff_prefix4(struct flow_handoff *h, uint32_t addr4, uint32_t len, int del)
{
	struct flow_lpm4 key = {.prefixlen = len, .addr = addr4};
	uint32_t one = 1;
	int fd = bpf_map__fd(h->skel->maps.flow_prefix4);

	if (len > 32)
		return -EINVAL;
	if (del)
		return bpf_map_delete_elem(fd, &key) ? -errno : 0;
	return map_update(h->skel->maps.flow_prefix4, &key, &one);
}

int flow_handoff_prefix6(struct flow_handoff *h, const uint8_t addr6[16], uint32_t len, int del)
{
	struct flow_lpm6 key = {.prefixlen = len};
	uint32_t one = 1;
	int fd = bpf_map__fd(h->skel->maps.flow_prefix6);

	if (len > 128)
		return -EINVAL;
	memcpy(key.addr, addr6, sizeof(key.addr));
	if (del)
		return bpf_map_delete_elem(fd, &key) ? -errno : 0;
	return map_update(h->skel->maps.flow_prefix6, &key, &one);
}

int flow_handoff_counters(struct flow_handoff *h, uint32_t slot, struct flow_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct flow_counters *v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.flow_counters), &slot, v) == 0) {
		for (int cpu = 0; cpu < ncpu; cpu++)
			for (int i = 0; i < FLOW_CNT_MAX; i++)
				out->c[i] += v[cpu].c[i];
	} else {
		rc = -errno;
	}
	free(v);
	return rc;
}

int flow_handoff_prog_fd(const struct flow_handoff *h)
{
	return bpf_program__fd(h->skel->progs.flow_handoff);
}

int flow_handoff_attach(struct flow_handoff *h, int ifindex, char *err, size_t errlen)
{
	int rc;

	if (h->attached)
		return -EBUSY;
	memset(&h->hook, 0, sizeof(h->hook));
	h->hook.sz = sizeof(h->hook);
	h->hook.ifindex = ifindex;
	h->hook.attach_point = BPF_TC_INGRESS;
	rc = bpf_tc_hook_create(&h->hook);
	if (rc && rc != -EEXIST) {
		snprintf(err, errlen, "flow hand-off: clsact on ifindex %d: %s", ifindex,
			strerror(-rc));
		return rc;
	}
	memset(&h->opts, 0, sizeof(h->opts));
	h->opts.sz = sizeof(h->opts);
	/* Fixed, so that an operator (tc filter show) and the tests find it. */
	h->opts.handle = FLOW_TC_HANDLE;
	h->opts.priority = FLOW_TC_PRIORITY;
	h->opts.prog_fd = flow_handoff_prog_fd(h);
	/* Replace: an upgrade's successor takes the filter over from the old process, no gap. */
	h->opts.flags = BPF_TC_F_REPLACE;
	rc = bpf_tc_attach(&h->hook, &h->opts);
	if (rc) {
		snprintf(err, errlen, "flow hand-off: attach to ifindex %d: %s", ifindex,
			strerror(-rc));
		return rc;
	}
	h->attached = 1;
	return 0;
}

void flow_handoff_leave(struct flow_handoff *h)
{
	h->attached = 0;
}

void flow_handoff_close(struct flow_handoff *h)
{
	if (!h)
		return;
	if (h->attached) {
		/* Only our filter: the clsact qdisc may carry someone else's. */
		h->opts.flags = h->opts.prog_fd = h->opts.prog_id = 0;
		bpf_tc_detach(&h->hook, &h->opts);
	}
	handoff_bpf__destroy(h->skel);
	free(h);
}

/* The flow_config map of program fd pfd (a new fd), or -1. */
static int config_map_of(int pfd)
{
	__u32 ids[8] = {0};
	struct bpf_prog_info info = {.nr_map_ids = 8, .map_ids = (__u64)(uintptr_t)ids};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(pfd, &info, &len) < 0 ||
		strncmp(info.name, "flow_handoff", sizeof(info.name)) != 0)
		return -1;
	for (__u32 i = 0; i < info.nr_map_ids && i < 8; i++) {
		struct bpf_map_info mi = {0};
		__u32 mlen = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(ids[i]);
		if (mfd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0 &&
			strncmp(mi.name, "flow_config", sizeof(mi.name)) == 0 &&
			mi.value_size == sizeof(struct flow_cfg) && mi.max_entries == 1)
			return mfd;
		close(mfd);
	}
	return -1;
}

int flow_handoff_peek(int ifindex, struct flow_cfg *out)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(
		bpf_tc_opts, opts, .handle = FLOW_TC_HANDLE, .priority = FLOW_TC_PRIORITY);
	__u32 zero = 0;
	int rc = -ENOENT;

	if (bpf_tc_query(&hook, &opts) < 0)
		return -ENOENT;
	int pfd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (pfd < 0)
		return -errno;
	int mfd = config_map_of(pfd);
	if (mfd >= 0 && bpf_map_lookup_elem(mfd, &zero, out) == 0)
		rc = 0;
	if (mfd >= 0)
		close(mfd);
	close(pfd);
	return rc;
}
