#!/usr/bin/env python3
"""Counts, not times: syscalls and user-space instructions per unit of work for anylb binaries.

    bench/counts.sh [--reps N] OLD_BINARY NEW_BINARY [...]   (installs what it needs first)

For each binary, the same two loads bench.py runs, light and short (wrk, 8 connections, 3 s):
new connections (Connection: close) and keep-alive requests. Each binary runs once under
`strace -f -c` (syscalls per unit) and once under callgrind, counting only inside the worker
threads (instructions per unit), N times (default 3) in turn; the table gives the median and
the range. Syscalls repeat to the hundredth; instructions move by a few per cent with how many
events one loop turn gathers. Both are counts, so they hold on a busy machine where a timed
benchmark would not: this is the regression check for a change that must not make the accept
path or the pump more expensive (say, a feature that services not using it must not pay for).
Every load goes to 127.0.0.0/8 only and ends by itself.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the proxies, the backend and the loads, shared)

LOADS = (("cc", "new connection"), ("ka", "keep-alive request"))
SECS = 3


def strace_counts(t, d, binary, kind, iperf):
    path = f"{d}/strace-{kind}.txt"
    p = B.start_proxy(t, d, binary, 10000, wrap=("strace", "-f", "-c", "-o", path))
    try:
        time.sleep(0.3)
        units = B.run_load(kind, t, SECS, iperf)
    finally:
        p.stop()
    calls = B.parse_strace(path)
    return units, {k: v / units for k, v in calls.items()} if units else {}


def callgrind_counts(t, d, binary, kind, iperf):
    path = f"{d}/callgrind-{kind}.out"
    p = B.start_proxy(t, d, binary, 10000,
                      wrap=("valgrind", "--tool=callgrind", f"--callgrind-out-file={path}",
                            "--toggle-collect=worker_main"))
    try:
        time.sleep(0.5)
        units = B.run_load(kind, t, SECS, iperf)
    finally:
        p.stop()
    total, _ = B.parse_callgrind(path, 1)
    return total / units if units else 0


def spread(xs, fmt):
    xs = sorted(xs)
    med = xs[len(xs) // 2]
    if len(xs) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(xs[0])}–{fmt.format(xs[-1])})"


def main():
    args = sys.argv[1:]
    reps = 3
    if len(args) > 1 and args[0] == "--reps":
        reps, args = int(args[1]), args[2:]
    bins = args
    if not bins or any(not os.access(b, os.X_OK) for b in bins):
        sys.exit(__doc__)
    os.sched_setaffinity(0, {int(B.LOAD_CPU)})
    d, backend = B.start_backend("anylb-counts-")
    iperf = B.Iperf(d)
    t = next(x for x in B.TARGETS if x[0] == "anylb")
    rows = []
    try:
        for kind, unit in LOADS:
            got = {b: ([], [], None) for b in bins}
            for rep in range(reps):
                for b in bins:
                    units, per = strace_counts(t, d, b, kind, iperf)
                    instr = callgrind_counts(t, d, b, kind, iperf)
                    got[b][0].append(sum(per.values()))
                    got[b][1].append(instr)
                    if rep == 0:
                        got[b] = (got[b][0], got[b][1], per)
                    B.log(f"{unit}: {b}: {units:.0f} units traced, {instr:.0f} instructions each")
            for b in bins:
                sc, ins, per = got[b]
                top = sorted(((k, v) for k, v in per.items() if v >= 0.05), key=lambda kv: -kv[1])
                rows.append((unit, b, spread(sc, "{:.2f}"), spread(ins, "{:.0f}"),
                             ", ".join(f"{k} {v:.2f}" for k, v in top)))
    finally:
        backend.stop()
        shutil.rmtree(d, ignore_errors=True)
    print("| per | binary | syscalls | instructions (workers) | syscalls by name |")
    print("|---|---|---|---|---|")
    for unit, b, sc, instr, names in rows:
        print(f"| {unit} | `{b}` | {sc} | {instr} | {names} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
