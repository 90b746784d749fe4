#!/usr/bin/env python3
"""The flow hand-off's cost on the wire: bulk throughput with and without the program, and the
extra latency of a flow that a box forwards to its owner.

    python3 bench/handoff.py [--reps N] [--secs S] [--rtts N]    (root; built with ANYLB_BPF)

Four network namespaces, made here and removed at the end:

    client 10.77.9.2 -- router -- box A 10.77.1.2 (192.0.2.77 on lo, anylb, iperf3 -s, echo)
                              \\-- box B 10.77.2.2 (192.0.2.77 on lo, anylb)

The router sends 192.0.2.77 to A. Bulk: iperf3 from the client through A's anylb to A's iperf3
server, client to server (every data segment goes through A's tc ingress program), with A's
anylb running with `bgp.flow_handoff` and without it, in turn, N times. Latency: one
connection through A's anylb to an echo server, 64-byte round trips measured by the client;
then the router's route is switched to B, whose program finds no socket and forwards every
segment to A (IPv4/UDP), and A answers the client directly: the same connection's round trips
again. Both printed as a Markdown table. Every load goes to addresses inside the namespaces
this script made, is bounded in time and count, and stops by itself; the processes it starts
are stopped by their pid.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PID = os.getpid()
NS = {k: f"anylb-hb{PID}-{k}" for k in ("c", "r", "a", "b")}
VIP = "192.0.2.77"
PROCS = []

ECHO = r"""
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7000)); s.listen(16)
def serve(c):
    while True:
        b = c.recv(65536)
        if not b:
            return
        c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

RTT = r"""
import socket, sys, time, json
n = int(sys.argv[1])
c = socket.create_connection(("%s", 7000), timeout=5)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"x" * 64
def run(k):
    out = []
    for _ in range(k):
        t = time.perf_counter_ns()
        c.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(c.recv(4096))
        out.append((time.perf_counter_ns() - t) / 1000)
    return out
run(200)
print(json.dumps({"direct": run(n)}), flush=True)
sys.stdin.readline()  # the driver switches the route, then says go
run(200)
print(json.dumps({"forwarded": run(n)}), flush=True)
""" % VIP


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return r.stdout


def nsx(ns, cmd, check=True):
    return sh(f"ip netns exec {NS[ns]} {cmd}", check)


def start(ns, argv, log):
    p = subprocess.Popen(["ip", "netns", "exec", NS[ns]] + argv, stdout=open(log, "w"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def topo_up():
    for n in NS.values():
        sh(f"ip netns add {n}")
    for box, net in (("c", 9), ("a", 1), ("b", 2)):
        sh(f"ip -n {NS['r']} link add r{box} type veth peer name {box}0 netns {NS[box]}")
        sh(f"ip -n {NS['r']} addr add 10.77.{net}.1/24 dev r{box}")
        sh(f"ip -n {NS['r']} link set r{box} up")
        sh(f"ip -n {NS[box]} addr add 10.77.{net}.2/24 dev {box}0")
        sh(f"ip -n {NS[box]} link set {box}0 up")
        sh(f"ip -n {NS[box]} link set lo up")
        sh(f"ip -n {NS[box]} route add default via 10.77.{net}.1")
        for k in ("all", f"{box}0"):
            nsx(box, f"sysctl -qw net.ipv4.conf.{k}.rp_filter=0")
    sh(f"ip -n {NS['r']} link set lo up")
    nsx("r", "sysctl -qw net.ipv4.ip_forward=1")
    for k in ("all", "rc", "ra", "rb"):
        nsx("r", f"sysctl -qw net.ipv4.conf.{k}.rp_filter=0")
    for box in ("a", "b"):
        sh(f"ip -n {NS[box]} addr add {VIP}/32 dev lo")
        nsx(box, "sysctl -qw net.ipv4.ip_forward=1")
        nsx(box, "sysctl -qw net.ipv4.conf.all.accept_local=1")
    sh(f"ip -n {NS['r']} route add {VIP}/32 via 10.77.1.2")


def topo_down():
    for p in list(PROCS):
        stop(p)
    for n in NS.values():
        sh(f"ip netns del {n}", check=False)


def anylb_conf(d, box, handoff):
    self_ip, peer = ("10.77.1.2", "10.77.2.2") if box == "a" else ("10.77.2.2", "10.77.1.2")
    fh = (f"  flow_handoff:\n    interfaces: [{box}0]\n    self: {self_ip}\n"
          f"    peers: [{peer}]\n") if handoff else ""
    svc = "".join(
        f"  - name: {name}\n    listen: [\"{VIP}:{port}\"]\n"
        f"    anycast:\n      prefixes: [{VIP}/32]\n      bird_protocol: anylb_{name}\n"
        f"    backends:\n      - address: 127.0.0.1:{port}\n" if first else
        f"  - name: {name}\n    listen: [\"{VIP}:{port}\"]\n"
        f"    backends:\n      - address: 127.0.0.1:{port}\n"
        for name, port, first in (("bulk", 5201, True), ("echo", 7000, False)))
    path = f"{d}/{box}-{int(handoff)}.yaml"
    with open(path, "w") as f:
        f.write(f"global:\n  workers: 1\n  drain_timeout: 1s\n  admin:\n    socket: {d}/{box}.sock\n"
                f"bgp:\n  announce: bird_protocol\n  bird_socket: {d}/no-bird.ctl\n{fh}"
                f"services:\n{svc}")
    return path


def status(d, box):
    out = subprocess.run(["curl", "-s", "--max-time", "2", "--unix-socket", f"{d}/{box}.sock",
                          "http://anylb/status"], capture_output=True, text=True).stdout
    try:
        return json.loads(out)
    except ValueError:
        return None


def anylb_start(d, anylb, box, handoff):
    """anylb in box, serving, with its program attached when handoff (else it raises)."""
    p = start(box, [anylb, "-c", anylb_conf(d, box, handoff)], f"{d}/anylb-{box}.log")
    deadline = time.time() + 10
    while True:
        st = status(d, box)
        if st is not None and (not handoff or
                               (st.get("flow_handoff") or {}).get("state") == "on"):
            return p
        if time.time() > deadline or p.poll() is not None:
            raise RuntimeError(f"box {box}: anylb not serving with the hand-off "
                               f"{'on' if handoff else 'off'}: {json.dumps(st)[:300]}; "
                               f"see {d}/anylb-{box}.log")
        time.sleep(0.1)


def iperf(secs):
    out = nsx("c", f"iperf3 -c {VIP} -p 5201 -t {secs} -J")
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anylb", default=os.path.join(ROOT, "build", "anylb"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--rtts", type=int, default=3000)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/handoff.py: needs root (namespaces, tc, BPF)")
    d = tempfile.mkdtemp(prefix="anylb-hb-")
    bulk = {0: [], 1: []}
    try:
        topo_up()
        start("a", ["iperf3", "-s", "-B", "127.0.0.1", "-p", "5201"], f"{d}/iperf3.log")
        start("a", [sys.executable, "-c", ECHO], f"{d}/echo.log")
        time.sleep(0.5)
        for rep in range(opts.reps):
            for handoff in (0, 1):
                p = anylb_start(d, opts.anylb, "a", handoff)
                try:
                    bulk[handoff].append(iperf(opts.secs))
                finally:
                    stop(p)
                print(f"rep {rep + 1}: hand-off {'on' if handoff else 'off'}: "
                      f"{bulk[handoff][-1]:.2f} Gbit/s", file=sys.stderr, flush=True)
        pa = anylb_start(d, opts.anylb, "a", 1)
        pb = anylb_start(d, opts.anylb, "b", 1)
        c = subprocess.Popen(["ip", "netns", "exec", NS["c"], sys.executable, "-c", RTT,
                              str(opts.rtts)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        PROCS.append(c)
        direct = json.loads(c.stdout.readline())["direct"]
        sh(f"ip -n {NS['r']} route replace {VIP}/32 via 10.77.2.2")
        c.stdin.write("go\n")
        c.stdin.flush()
        fwd = json.loads(c.stdout.readline())["forwarded"]
        c.wait(timeout=30)
        PROCS.remove(c)
        st = subprocess.run(["curl", "-s", "--unix-socket", f"{d}/b.sock", "http://anylb/metrics"],
                            capture_output=True, text=True).stdout
        forwarded = [ln for ln in st.splitlines()
                     if ln.startswith("anylb_flow_handoff") and "forwarded" in ln]
        stop(pb)
        stop(pa)
    finally:
        topo_down()
        shutil.rmtree(d, ignore_errors=True)
    on, off = statistics.median(bulk[1]), statistics.median(bulk[0])
    ratios = sorted(a / b for a, b in zip(bulk[1], bulk[0]))
    print(f"| figure | without the program | with it | ratio |")
    print("|---|---|---|---|")
    print(f"| bulk, client to server through box A (Gbit/s, median of {opts.reps}) | "
          f"{off:.2f} | {on:.2f} | {statistics.median(ratios):.3f} "
          f"({ratios[0]:.3f}–{ratios[-1]:.3f}) |")
    print("")
    print(f"| 64-byte round trip, one connection, {opts.rtts} each (µs) | p50 | p99 |")
    print("|---|---|---|")
    print(f"| router sends the flow to its owner A | {pct(direct, .5):.0f} | {pct(direct, .99):.0f} |")
    print(f"| router sends it to B, which forwards it to A | {pct(fwd, .5):.0f} | "
          f"{pct(fwd, .99):.0f} |")
    print(f"| extra for a forwarded flow | {pct(fwd, .5) - pct(direct, .5):.0f} | "
          f"{pct(fwd, .99) - pct(direct, .99):.0f} |")
    print("")
    print("B's forwarded counters: " + "; ".join(forwarded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
