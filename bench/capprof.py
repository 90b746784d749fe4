#!/usr/bin/env python3
"""Where a capped proxy's own CPU goes, per new connection and per keep-alive request.

    python3 bench/capprof.py [--secs S] [--cap PCT] [--only haproxy,anylb,floormd] [--anylb PATH]

Each proxy in turn, capped as in `bench/run.sh --cap` (bench.py's Cap), gets wrk's loads of (a)
and (b) (64 connections, keep-alive, then Connection: close) while perf samples the proxy's core
with its software clock (cpu-clock every 100 µs: no hardware counters needed, and it sees the
kernel). Only the proxy's own threads count; on loopback they also run the receiving side of
every packet they send (the softirq runs in the sender's context), so a packet a proxy saves
shows here. The kernel's samples are grouped by what their function does (GROUPS, by name), a
coarse map: without call graphs a TCP function is not told apart by who called it. Prints
markdown tables, µs per unit of work. Run it after `bench/run.sh --profile` has installed the
tools (perf is Debian's linux-perf); needs root (perf, cgroups). Every load goes to 127.0.0.0/8 and ends by itself.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the proxies, the backend and the loads, shared)

PERIOD_NS = 100_000

# First match wins; patterns are matched against the kernel function's name.
GROUPS = [
    ("system call entry and exit", r"^(entry_|do_syscall|syscall_|exit_to_user|__x64_sys_|"
     r"__sys_|ksys_|__fdget|fput|__fput|fget|rseq|switch_fpu)"),
    ("epoll", r"^(ep_|__ep_|epoll|do_epoll|eventpoll)"),
    ("waking the peer (wake-up, IPI)", r"(wake_up|ttwu|try_to_wake|_ipi|send_call_function|"
     r"_raw_spin_unlock_irqrestore|select_task_rq|enqueue_task|check_preempt|resched)"),
    ("sleeping, scheduling", r"^(schedule|__schedule|pick_next|finish_task_switch|"
     r"dequeue_|update_curr|__switch_to|psi_|put_prev|set_next|newidle|load_balance)"),
    ("copying bytes", r"(copy_user|_copy_|memcpy|memmove|rep_movs|copy_page|csum)"),
    ("memory and socket set-up", r"^(kmem_cache|__kmem_cache|kmalloc|__kmalloc|kfree|"
     r"__alloc_skb|alloc_skb|skb_release|__slab|slab_|___slab|kfree_skb|__kfree_skb|"
     r"sk_alloc|sk_free|__sk_free|sk_prot_|sock_alloc|inet_create|__sock_create|sock_init|"
     r"d_alloc|alloc_file|alloc_inode|new_inode|__alloc_fd|alloc_fd|file_free|dput|"
     r"security_|apparmor_|selinux_|percpu_counter|memcg|mod_memcg|__mod_memcg|"
     r"obj_cgroup|refill_obj|page_counter|inet_csk_clone|sk_clone|tcp_create_openreq|"
     r"inet_twsk|tcp_time_wait|inet_ehash|__inet_hash|inet_hash|__inet_check_established|"
     r"__inet_lookup|inet_lhash|inet_bind|__inet_bind|inet_sk_|inet_csk_get_port|"
     r"__inet_hash_connect|inet_hash_connect|secure_|siphash|get_random)"),
    ("TCP and IP (both ends)", r"^(tcp|__tcp|ip_|__ip|ipv4_|inet|__inet|dst_|__dst|"
     r"fib_|__fib|nf_|ipt_|raw_|skb_|__skb|net_|__net|netif|__netif|dev_|__dev|"
     r"loopback|process_backlog|napi|__napi|__do_softirq|handle_softirqs|do_softirq|"
     r"__local_bh|local_bh|sk_|__sk_|sock_|__sock|release_sock|lock_sock|bpf_|"
     r"__release_sock|validate_xmit|eth_|neigh_|__neigh|rt_|__build_skb|build_skb|"
     r"kfree_skbmem|napi_|__napi_|mod_timer|__mod_timer|sk_reset_timer|lock_timer|"
     r"del_timer|timer_|__timer|csum|__cgroup_bpf|tcp_v4|tcp_rcv|tcp_ack)"),
]


def group_of(sym):
    for name, pat in GROUPS:
        if re.search(pat, sym):
            return name
    return "other kernel"


def thread_comms(proc):
    names = set()
    for pid in proc.pids():
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    names.add(f.read().strip())
        except OSError:
            pass
    return names


def samples(path, comms):
    """{(space, function): samples} of the proxy's own threads on the proxy's core."""
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "comm,sym",
                          "--cpu", B.PROXY_CPU, "-n", "--stdio", "-g", "none"],
                         capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.*\S)\s*$", line)
        if m and not line.startswith("#") and m.group(2) in comms:
            key = ("user" if m.group(3) == "." else "kernel", m.group(4))
            res[key] = res.get(key, 0) + int(m.group(1))
    return res


def profile_one(t, d, opts, kind):
    p = B.start_proxy(t, d, opts.anylb, 1000)
    cap = B.Cap(t[0] + "-prof", opts.cap * t[4], p.pids())
    path = f"{d}/capprof-{t[0]}-{kind}.data"
    try:
        B.wrk(t[2], 1, conns=1)
        comms = thread_comms(p)
        rec = subprocess.Popen(["perf", "record", "-q", "-C", B.PROXY_CPU, "-e", "cpu-clock",
                                "-c", str(PERIOD_NS), "-o", path, "--", "sleep",
                                str(opts.secs + 1)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        c0 = p.cpu_ticks()
        r = B.wrk(t[2], opts.secs, close=kind == "cc")
        c1 = p.cpu_ticks()
        rec.wait()
    finally:
        cap.close()
        p.stop()
    units = r["requests"]
    if not units or r["errors"] or rec.returncode != 0:
        sys.exit(f"capprof: {t[1]} {kind}: {units} requests, {r['errors']} errors, "
                 f"perf exit {rec.returncode}")
    us = PERIOD_NS / 1e3 / units
    by, got = {}, samples(path, comms)
    for (space, sym), n in got.items():
        g = "user space" if space == "user" else group_of(sym)
        by[g] = by.get(g, 0) + n * us
    top = sorted(((n * us, sym) for (space, sym), n in got.items() if space == "kernel"),
                 reverse=True)[:8]
    measured = (c1 - c0) / B.CLK_TCK * 1e6 / units
    B.log(f"  {t[1]} {kind}: {units} units, {sum(by.values()):.1f} µs sampled, "
          f"{measured:.1f} µs by /proc")
    return by, top, measured, r["rps"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--cap", type=int, default=30)
    ap.add_argument("--only", default="haproxy,nginx,anylb,floor,floormd")
    ap.add_argument("--anylb", default=os.path.join(B.ROOT, "build", "anylb"))
    opts = ap.parse_args()
    for need in ("perf", "wrk", "nginx", "haproxy"):
        if shutil.which(need) is None:
            sys.exit(f"capprof: {need} is missing: run bench/run.sh --profile once to install")
    os.sched_setaffinity(0, {int(B.LOAD_CPU)})
    targets = [t for t in B.TARGETS if t[0] in opts.only.split(",") and t[0] != "direct"]
    d, backend = B.start_backend("anylb-capprof-")
    res = {}
    try:
        for kind in ("cc", "ka"):
            for t in targets:
                res[(t[0], kind)] = profile_one(t, d, opts, kind)
    finally:
        backend.stop()
    for kind, unit in (("cc", "new connection"), ("ka", "keep-alive request")):
        groups = sorted({g for t in targets for g in res[(t[0], kind)][0]},
                        key=lambda g: -max(res[(t[0], kind)][0].get(g, 0) for t in targets))
        print(f"\nProxy CPU per {unit} in µs, at {opts.cap} % of a core, wrk -c64 "
              f"{'Connection: close ' if kind == 'cc' else ''}for {opts.secs} s "
              "(perf cpu-clock samples of the proxy's threads):\n")
        print("| | " + " | ".join(t[1] for t in targets) + " |")
        print("|---" * (len(targets) + 1) + "|")
        for g in groups:
            print(f"| {g} | " + " | ".join(f"{res[(t[0], kind)][0].get(g, 0):.2f}"
                                          for t in targets) + " |")
        print("| **sampled, all** | " + " | ".join(
            f"**{sum(res[(t[0], kind)][0].values()):.2f}**" for t in targets) + " |")
        print("| measured (/proc, utime + stime) | " + " | ".join(
            f"{res[(t[0], kind)][2]:.2f}" for t in targets) + " |")
        print("| rate (per s) | " + " | ".join(
            f"{res[(t[0], kind)][3]:.0f}" for t in targets) + " |")
        for t in targets:
            top = ", ".join(f"`{s}` {v:.2f}" for v, s in res[(t[0], kind)][1])
            print(f"\n{t[1]}, the kernel functions it spends most in per {unit} (µs): {top}")


if __name__ == "__main__":
    main()
