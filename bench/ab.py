#!/usr/bin/env python3
"""Two proxies at equal CPU, interleaved: is a change faster, and by how much?

    python3 bench/ab.py [--rounds N] [--secs S] [--cap PCT] [--fastopen] BASE NEW

BASE and NEW are each an anylb binary or the name of another of bench.py's targets (haproxy,
nginx, floor, floormd; floormdf with --fastopen): `ab.py haproxy build-rel/anylb` measures anylb against HAProxy the same
way, which is the steadiest form of issue 17's ratios on a shared machine. --fastopen lets
the nginx backend listen with TCP Fast Open and sets net.ipv4.tcp_fastopen to 3 for the run
(restored after), for the floor's experiment `ab.py --fastopen floormd floormdf`.

Both run at once, each capped at PCT % of one core (bench.py's Cap), on its own port. Each
round gives both the same short loads back to back, new connections (Connection: close) and
keep-alive requests, the order swapped every round; the report is the median of the per-round
ratios NEW ÷ BASE with their range. Interleaving in seconds-long slices is the point: on a
shared machine the capped run's targets, measured minutes apart, drift by ±15 %, which hides a
change of a few per cent; two binaries measured seconds apart drift together. Run it after
bench/run.sh has installed the tools (or with them installed). Every load goes to 127.0.0.0/8
and ends by itself.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the proxies, the backend and the loads, shared)


def measure(t, proxy, kind, secs):
    """One load; returns (units per second, proxy CPU µs per unit)."""
    c0 = proxy.cpu_ticks()
    r = B.wrk(t[2], secs, close=kind == "cc")
    c1 = proxy.cpu_ticks()
    if not r["requests"] or r["errors"]:
        sys.exit(f"ab: {t[1]}: {r['requests']} requests, {r['errors']} errors")
    return r["rps"], (c1 - c0) / B.CLK_TCK * 1e6 / r["requests"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--cap", type=int, default=30)
    ap.add_argument("--fastopen", action="store_true")
    opts = ap.parse_args()
    os.sched_setaffinity(0, {int(B.LOAD_CPU)})
    named = {t[0]: t for t in B.TARGETS
             if t[0] in ("haproxy", "nginx", "floor", "floormd", "floormdf")}
    if "floormdf" in (opts.base, opts.new) and not opts.fastopen:
        sys.exit("ab: floormdf needs --fastopen")
    if opts.base in named and opts.base == opts.new:
        sys.exit("ab: BASE and NEW are the same target")
    # A binary is anylb: BASE's runs as the target 'base', NEW's as 'anylb' (their own ports).
    base_t = named.get(opts.base, ("base", "base", 27080, 27201, 1, B.PROXY_CPU))
    new_t = named.get(opts.new, ("anylb", "new", 22080, 22201, 1, B.PROXY_CPU))
    B.BASE_BINARY = opts.base
    B.FASTOPEN = opts.fastopen
    tfo_path, tfo_was = "/proc/sys/net/ipv4/tcp_fastopen", None
    if opts.fastopen:
        tfo_was = open(tfo_path).read().strip()
    procs, caps, backend = [], [], None
    try:
        if opts.fastopen:
            with open(tfo_path, "w") as f:
                f.write("3")  # client and server
        d, backend = B.start_backend("anylb-ab-")
        for t in (base_t, new_t):
            p = B.start_proxy(t, d, opts.new, 1000)
            procs.append(p)
            caps.append(B.Cap(t[0] + "-ab", opts.cap, p.pids()))
            B.wrk(t[2], 1, conns=1)
        ratios = {k: [] for k in ("cps", "cps_cpu", "ka", "ka_cpu")}
        for i in range(opts.rounds):
            order = [0, 1] if i % 2 == 0 else [1, 0]
            got = {}
            for kind in ("cc", "ka"):
                for j in order:
                    got[(kind, j)] = measure((base_t, new_t)[j], procs[j], kind, opts.secs)
                    time.sleep(0.3)
            ratios["cps"].append(got[("cc", 1)][0] / got[("cc", 0)][0])
            ratios["cps_cpu"].append(got[("cc", 1)][1] / got[("cc", 0)][1])
            ratios["ka"].append(got[("ka", 1)][0] / got[("ka", 0)][0])
            ratios["ka_cpu"].append(got[("ka", 1)][1] / got[("ka", 0)][1])
            B.log(f"round {i + 1}: new conn/s {got[('cc', 0)][0]:.0f} -> {got[('cc', 1)][0]:.0f}, "
                  f"µs/conn {got[('cc', 0)][1]:.1f} -> {got[('cc', 1)][1]:.1f}, "
                  f"ka/s {got[('ka', 0)][0]:.0f} -> {got[('ka', 1)][0]:.0f}, "
                  f"µs/req {got[('ka', 0)][1]:.2f} -> {got[('ka', 1)][1]:.2f}")
    finally:
        if tfo_was is not None:  # first: the machine's setting comes back whatever fails below
            with open(tfo_path, "w") as f:
                f.write(tfo_was)
        for c in caps:
            c.close()
        for p in procs:
            p.stop()
        if backend is not None:
            backend.stop()
    print(f"NEW ({new_t[1]}) ÷ BASE ({base_t[1]}) at {opts.cap} % of a core, "
          f"{opts.rounds} rounds of {opts.secs} s, median (range), rounds NEW was ahead:")
    names = {"cps": "new connections/s ↑", "cps_cpu": "CPU per new connection ↓",
             "ka": "keep-alive req/s ↑", "ka_cpu": "CPU per keep-alive request ↓"}
    for k, v in ratios.items():
        ahead = sum(1 for x in v if (x > 1) == (k in ("cps", "ka")))
        print(f"  {names[k]:30} {statistics.median(v):.3f} ({min(v):.3f}–{max(v):.3f}), "
              f"{ahead} of {len(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
