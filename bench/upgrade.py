#!/usr/bin/env python3
"""What a binary upgrade costs: its duration, the longest accept gap a client sees, the RSS of
both processes while the old one drains. Run by hand: bench/upgrade.py [--upgrades N]; results
go to docs/BENCHMARKS.md ("Upgrade") by hand, with the machine and date it prints.

anylb (build/anylb) runs on CPU 0 with one demo backend; the client runs on CPU 1: connections
back to back (connect, a request, the answer, close), each one's connect time and completion
recorded. The same client runs for the same time without an upgrade first, so the gap and the
connect times during upgrades are compared with a baseline from the same run. IDLE sessions are
held open on the old process so that it has something to drain while both run. Every load is
bounded in time and goes to 127.0.0.1 only.
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDLE = 500


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def admin_get(sock, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


class Client(threading.Thread):
    """Connections back to back; (start, connect seconds, done time or None) per connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.rec, self.failed = port, False, [], 0

    def run(self):
        os.sched_setaffinity(0, {1})
        while not self.stop:
            t0 = time.monotonic()
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                t1 = time.monotonic()
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while s.recv(4096):
                    pass
                s.close()
                self.rec.append((t0, t1 - t0, time.monotonic()))
            except OSError:
                self.failed += 1
                self.rec.append((t0, None, None))


def window_stats(rec, t_from, t_to):
    done = sorted(r[2] for r in rec if r[2] is not None and t_from <= r[2] <= t_to)
    gaps = [b - a for a, b in zip(done, done[1:])]
    conn = sorted(r[1] for r in rec if r[1] is not None and t_from <= r[0] <= t_to)
    return (max(gaps) if gaps else 0, conn[-1] if conn else 0,
            conn[int(len(conn) * 0.99)] if conn else 0, len(done))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upgrades", type=int, default=10)
    ap.add_argument("--anylb", default=os.path.join(ROOT, "build", "anylb"))
    args = ap.parse_args()
    bindir = os.path.dirname(args.anylb)
    tmp = tempfile.mkdtemp(prefix="anylb-upbench-")
    be_port, port = free_port(), free_port()
    sock = os.path.join(tmp, "admin.sock")
    conf = os.path.join(tmp, "anylb.yaml")
    with open(conf, "w") as f:
        f.write(f"global:\n  workers: 1\n  drain_timeout: 60s\n  admin: {{socket: {sock}}}\n"
                f"services:\n  - name: web\n    listen: [\"127.0.0.1:{port}\"]\n"
                f"    backends: [{{address: \"127.0.0.1:{be_port}\"}}]\n")
    log = open(os.path.join(tmp, "anylb.log"), "w")
    be = subprocess.Popen(["taskset", "-c", "1", os.path.join(bindir, "anylb-demo-backend"),
                           f"127.0.0.1:{be_port}"], stdout=subprocess.DEVNULL)
    lb = subprocess.Popen(["taskset", "-c", "0", args.anylb, "-c", conf], stdout=log,
                          stderr=log)
    pids = [lb.pid]
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        c = Client(port)
        c.start()
        time.sleep(1.0)
        t_base = time.monotonic()
        time.sleep(3.0)
        base = window_stats(c.rec, t_base, time.monotonic())
        durations, windows, rss_pairs = [], [], []
        cur = lb.pid
        for _ in range(args.upgrades):
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE)]
            time.sleep(0.2)
            rss_before = rss_kib(cur)
            t0 = time.monotonic()
            r = subprocess.run([os.path.join(bindir, "anylbctl"), "-s", sock, "upgrade"],
                               capture_output=True, text=True, timeout=90)
            t1 = time.monotonic()
            if r.returncode != 0:
                print("upgrade failed:", r.stdout, r.stderr, file=sys.stderr)
                break
            st = admin_get(sock, "/upgrade")
            new = st["pid"]
            time.sleep(0.3)
            rss_pairs.append((rss_before, rss_kib(cur), rss_kib(new)))
            durations.append(t1 - t0)
            time.sleep(0.5)
            windows.append(window_stats(c.rec, t0 - 0.2, time.monotonic()))
            for s in idle:
                s.close()
            pids.append(new)
            cur = new
            time.sleep(0.5)
        c.stop = True
        c.join(10)
    finally:
        for p in pids[1:]:
            try:
                os.kill(p, 15)
            except OSError:
                pass
        lb.terminate()
        lb.wait(10)
        be.terminate()
        be.wait(10)
    n = len(durations)
    durations.sort()
    print(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.node()} · "
          f"{os.cpu_count()} cores · kernel {platform.release()}")
    print(f"{n} upgrades, {IDLE} idle sessions held on the old process each time, one worker; "
          f"client connections back to back: {len(c.rec)} made, {c.failed} failed")
    print(f"- upgrade (anylbctl upgrade, wall clock): median {durations[n // 2] * 1000:.0f} ms, "
          f"max {durations[-1] * 1000:.0f} ms")
    g = [w[0] for w in windows]
    print(f"- longest gap between two completed connections: baseline {base[0] * 1000:.1f} ms; "
          f"around upgrades median {sorted(g)[n // 2] * 1000:.1f} ms, max {max(g) * 1000:.1f} ms")
    cm = [w[1] for w in windows]
    print(f"- slowest connect: baseline {base[1] * 1000:.2f} ms (p99 {base[2] * 1000:.2f}); "
          f"around upgrades max {max(cm) * 1000:.2f} ms")
    extra = sorted(o + nw - b for b, o, nw in rss_pairs)
    print(f"- RSS while both run: old {rss_pairs[-1][1]} KiB + new {rss_pairs[-1][2]} KiB; "
          f"extra over the old alone: median {extra[n // 2]} KiB, max {extra[-1]} KiB")
    return 0 if c.failed == 0 and n == args.upgrades else 1


if __name__ == "__main__":
    sys.exit(main())
