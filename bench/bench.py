#!/usr/bin/env python3
"""anylb against HAProxy, nginx stream and a direct connection, on one box.

Called by bench/run.sh, which installs the tools first; see docs/BENCHMARKS.md for what is
measured and how to read it. Every load here is bounded in time and goes to 127.0.0.0/8 only.

Layout: the proxy under test runs alone on PROXY_CPU; the load generators (wrk, iperf3 client,
the idle-session client), the backends (nginx serving a tiny file, an iperf3 server) and this
driver run on LOAD_CPU. One proxy runs at a time; each repetition visits every target in turn,
so slow drift of the machine spreads over all of them instead of falling on one.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY_CPU, LOAD_CPU = "0", "1"
HTTP_BACKENDS = (19001, 19002)
BULK_PORT = 19201  # one iperf3 server, reached as 127.0.0.1 and 127.0.0.2 (see bulk_backends)
TIMEOUT_CONNECT, TIMEOUT_IDLE, TIMEOUT_HALF = 2, 60, 30  # seconds, the same for every proxy
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name, label, HTTP port, bulk port, workers, CPUs of the proxy
TARGETS = [
    ("direct", "DIRECT", HTTP_BACKENDS[0], BULK_PORT, 0, None),
    ("haproxy", "HAProxy", 20080, 20201, 1, PROXY_CPU),
    ("nginx", "nginx stream", 21080, 21201, 1, PROXY_CPU),
    ("anylb", "anylb", 22080, 22201, 1, PROXY_CPU),
    ("anylb2", "anylb 2 workers*", 23080, 23201, 2, PROXY_CPU + "," + LOAD_CPU),
    ("haproxy2", "HAProxy nbthread 2*", 24080, 24201, 2, PROXY_CPU + "," + LOAD_CPU),
    # bench/floor.c: the least a proxy on sockets can do per connection, a reference, not a rival
    ("floor", "floor", 25080, 25201, 1, PROXY_CPU),
    # the same with its two packet experiments (-m -d, see bench/floor.c); not in a default run
    ("floormd", "floor -m -d", 26080, 26201, 1, PROXY_CPU),
    # another anylb binary (--base), to measure a change beside main in the same run
    ("base", "anylb base", 27080, 27201, 1, PROXY_CPU),
    # floor -m -d with TCP Fast Open to the backend (-f); only with bench/ab.py --fastopen
    ("floormdf", "floor -m -d -f", 28080, 28201, 1, PROXY_CPU),
]
BASE_BINARY = None  # --base
FASTOPEN = False  # the backend listens with TCP Fast Open (bench/ab.py --fastopen)

# key, label, unit, higher is better, format
METRICS = [
    ("ka_rps", "(a) keep-alive rate", "req/s", True, "{:.0f}"),
    ("ka_p50", "(a) p50 latency", "ms", False, "{:.3f}"),
    ("ka_p99", "(a) p99 latency", "ms", False, "{:.3f}"),
    ("ka_cpu_us", "(a) proxy CPU per request", "us", False, "{:.2f}"),
    ("ka_load_us", "(a) load CPU per request", "us", False, "{:.2f}"),
    ("cps", "(b) new connections", "conn/s", True, "{:.0f}"),
    ("cps_cpu_us", "(b) proxy CPU per connection", "us", False, "{:.2f}"),
    ("bulk1", "(c) bulk, 1 stream", "Gbit/s", True, "{:.2f}"),
    ("bulk4", "(c) bulk, 4 streams", "Gbit/s", True, "{:.2f}"),
    ("rss_per", "(d) RSS per idle session", "bytes", False, "{:.0f}"),
    ("cpu_gb", "(e) proxy CPU per GB moved", "CPU s/GB", False, "{:.3f}"),
    ("load_gb", "(e) load CPU per GB moved", "CPU s/GB", False, "{:.3f}"),
    ("ol_p50", "(f) p50 at half HAProxy's rate, open loop", "ms", False, "{:.3f}"),
    ("ol_p99", "(f) p99 at half HAProxy's rate, open loop", "ms", False, "{:.3f}"),
]

# --cap: every proxy in a cgroup v1 cpu group with this quota (cgroup v2: cpu.max).
CGROUP_V1, CGROUP_V2 = "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"


class Cap:
    """A cpu cgroup with quota_pct % of one core, holding the given processes; a 10 ms period,
    so that throttling comes in short gaps (a 100 ms one leaves 70 ms holes in a latency)."""

    def __init__(self, name, quota_pct, pids):
        self.v2 = not os.path.isdir(CGROUP_V1)
        base = CGROUP_V2 if self.v2 else CGROUP_V1
        self.root = base
        self.path = f"{base}/anylb-bench-{name}-{os.getpid()}"
        os.makedirs(self.path, exist_ok=True)
        if self.v2:
            with open(f"{self.path}/cpu.max", "w") as f:
                f.write(f"{quota_pct * 100} 10000")
        else:
            with open(f"{self.path}/cpu.cfs_period_us", "w") as f:
                f.write("10000")
            with open(f"{self.path}/cpu.cfs_quota_us", "w") as f:
                f.write(str(quota_pct * 100))
        for pid in pids:
            with open(f"{self.path}/cgroup.procs", "w") as f:
                f.write(str(pid))

    def close(self):
        try:
            with open(f"{self.path}/cgroup.procs") as f:
                pids = f.read().split()
        except OSError:
            pids = []
        for pid in pids:  # back to the root group before the group goes
            try:
                with open(f"{self.root}/cgroup.procs", "w") as f:
                    f.write(pid)
            except OSError:
                pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def tool(name):
    """bench/NAME.c, built once per run into the temporary directory."""
    exe = os.path.join(tempfile.gettempdir(), f"anylb-{name}-{os.getpid()}")
    if not os.path.exists(exe):
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(ROOT, f"bench/{name}.c")],
                       check=True)
    return exe


def openloop(port, rate, secs, conns=16):
    """bench/openloop.c at a fixed offered rate: latency from each request's due time."""
    exe = tool("openloop")
    out = subprocess.run(["taskset", "-c", LOAD_CPU, exe, str(port), str(int(rate)), str(secs),
                          str(conns)], capture_output=True, text=True, timeout=secs + 30).stdout
    r = dict(kv.split("=") for kv in out.split())
    return {"p50": int(r["p50_us"]) / 1000, "p99": int(r["p99_us"]) / 1000,
            "errors": int(r["errors"]), "late": int(r["late"]), "done": int(r["done"])}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


class Proc:
    """A process this driver started, in its own process group, pinned with taskset."""

    def __init__(self, argv, cpus, logfile, name):
        self.name = name
        self.log = open(logfile, "ab")
        self.p = subprocess.Popen(["taskset", "-c", cpus] + argv, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def pids(self):
        """Every live process of this group: nginx's master and workers, or the one process."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.p.pid and fields[0] != "Z":  # pgrp, state
                out.append(int(d))
        return out

    def cpu_ticks(self):
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (all threads)
            except OSError:
                pass
        return total

    def rss_kb(self):
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def nfds(self):
        n = 0
        for pid in self.pids():
            try:
                n += len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                pass
        return n

    def stop(self):
        if self.p.poll() is None:
            # The whole group this driver created: a proxy under strace or valgrind must get
            # the signal itself, not only the tracer.
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)  # the group this driver created
                self.p.wait(5)
        # nginx workers may outlive a killed master by a moment.
        for _ in range(50):
            if not self.pids():
                break
            time.sleep(0.1)
        self.log.close()


LOAD_PROCS = []  # the backend and the iperf3 server, once started


def load_ticks():
    """CPU ticks of this driver's own load: waited-for children (wrk, iperf3 client) plus the
    backends still running. Unlike the load core's busy time in /proc/stat, other people's
    processes on the same core do not count."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru.ru_utime + ru.ru_stime) * CLK_TCK
    return own + sum(p.cpu_ticks() for p in LOAD_PROCS if p is not None)


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.p.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


# ---- configurations ---------------------------------------------------------------------------

def bulk_backends():
    # iperf3 needs its control and data connections on the same server, and round robin over
    # two backends would split them. So the two bulk backends are one iperf3 server, which
    # listens on the loopback device only and is reached through two loopback addresses.
    return [("127.0.0.1", BULK_PORT), ("127.0.0.2", BULK_PORT)]


def conf_haproxy(t, d, maxconn):
    _, _, hport, bport, workers, _ = t
    be = "\n".join(f"    server h{i} 127.0.0.1:{p}" for i, p in enumerate(HTTP_BACKENDS))
    bb = "\n".join(f"    server b{i} {h}:{p}" for i, (h, p) in enumerate(bulk_backends()))
    return f"""global
    nbthread {workers}
    maxconn {maxconn}
    pidfile {d}/haproxy-{workers}.pid

defaults
    mode tcp
    timeout connect {TIMEOUT_CONNECT}s
    timeout client {TIMEOUT_IDLE}s
    timeout server {TIMEOUT_IDLE}s
    timeout client-fin {TIMEOUT_HALF}s
    timeout server-fin {TIMEOUT_HALF}s

frontend http
    bind 127.0.0.1:{hport}
    maxconn {maxconn}
    default_backend http

backend http
    balance roundrobin
{be}

frontend bulk
    bind 127.0.0.1:{bport}
    default_backend bulk

backend bulk
    balance roundrobin
{bb}
"""


def conf_nginx_stream(t, d):
    _, _, hport, bport, workers, _ = t
    be = "\n".join(f"        server 127.0.0.1:{p};" for p in HTTP_BACKENDS)
    bb = "\n".join(f"        server {h}:{p};" for h, p in bulk_backends())
    timeouts = f"proxy_connect_timeout {TIMEOUT_CONNECT}s; proxy_timeout {TIMEOUT_IDLE}s;"
    return f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes {workers};
worker_rlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[1]};
daemon off;
pid {d}/nginx-stream.pid;
error_log {d}/nginx-stream.err warn;
events {{ worker_connections 20480; multi_accept on; }}
stream {{
    upstream http {{
{be}
    }}
    upstream bulk {{
{bb}
    }}
    server {{ listen 127.0.0.1:{hport} backlog=4096; proxy_pass http; {timeouts} }}
    server {{ listen 127.0.0.1:{bport} backlog=4096; proxy_pass bulk; {timeouts} }}
}}
"""


def conf_anylb(t, d):
    _, _, hport, bport, workers, _ = t
    be = "\n".join(f"      - address: 127.0.0.1:{p}" for p in HTTP_BACKENDS)
    bb = "\n".join(f"      - address: {h}:{p}" for h, p in bulk_backends())
    svc = """    balance: round_robin
    timeouts:
      connect: {c}s
      idle: {i}s
      half_close: {h}s
""".format(c=TIMEOUT_CONNECT, i=TIMEOUT_IDLE, h=TIMEOUT_HALF)
    return f"""global:
  workers: {workers}
  drain_timeout: 1s
  admin:
    socket: {d}/{t[0]}-admin.sock
  log:
    level: warn
services:
  - name: http
    listen: ["127.0.0.1:{hport}"]
{svc}    backends:
{be}
  - name: bulk
    listen: ["127.0.0.1:{bport}"]
{svc}    backends:
{bb}
"""


def conf_nginx_backend(d):
    tfo = " fastopen=4096" if FASTOPEN else ""
    ports = "\n".join(f"        listen 127.0.0.1:{p} backlog=4096{tfo};" for p in HTTP_BACKENDS)
    return f"""worker_processes 1;
worker_rlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[1]};
daemon off;
pid {d}/backend.pid;
error_log {d}/backend.err warn;
events {{ worker_connections 20480; multi_accept on; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
{ports}
        root {d}/www;
    }}
}}
"""


def start_backend(prefix):
    """A new work directory with the tiny static response, and the nginx backend serving it
    on HTTP_BACKENDS, pinned to the load core and ready. Returns (directory, backend Proc)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # nginx's workers run as www-data and serve from here
    os.makedirs(f"{d}/www")
    with open(f"{d}/www/index.html", "w") as f:
        f.write("x" * 100 + "\n")  # a tiny static response: 101 bytes of body
    with open(f"{d}/backend.conf", "w") as f:
        f.write(conf_nginx_backend(d))
    backend = Proc(["nginx", "-e", f"{d}/backend.err", "-p", d, "-c", f"{d}/backend.conf"],
                   LOAD_CPU, f"{d}/backend.log", "nginx backend")
    try:
        for p in HTTP_BACKENDS:
            wait_port(p, proc=backend)
    except BaseException:
        backend.stop()
        raise
    return d, backend


# ---- load generators --------------------------------------------------------------------------

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_latency(s):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", s)
    return float(m.group(1)) * UNIT[m.group(2)]


def wrk(port, secs, close=False, conns=64):
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency",
            "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30).stdout
    res = {"rps": None, "p50": None, "p99": None, "errors": 0, "requests": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            res["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] == "50%":
            res["p50"] = parse_latency(parts[1])
        elif len(parts) == 2 and parts[0] == "99%":
            res["p99"] = parse_latency(parts[1])
        elif "requests in" in line:
            res["requests"] = int(parts[0])
        elif line.strip().startswith("Socket errors:"):
            res["errors"] += sum(int(x) for x in re.findall(r"\d+", line))
        elif line.strip().startswith("Non-2xx"):
            res["errors"] += int(parts[-1])
            res["non2xx"] = int(parts[-1])
    if res["rps"] is None:
        log(f"wrk gave no result:\n{out}")
    elif res["errors"]:
        log(f"wrk on port {port}: {res['errors']} errors")
    return res


class Iperf:
    def __init__(self, d):
        self.d = d
        self.srv = None

    def start(self):
        self.srv = Proc(["iperf3", "-s", "-p", str(BULK_PORT), "--bind-dev", "lo"], LOAD_CPU,
                        f"{self.d}/iperf3.log", "iperf3 server")
        wait_port(BULK_PORT, proc=self.srv)
        wait_port(BULK_PORT, host="127.0.0.2", proc=self.srv)
        LOAD_PROCS[:] = [p for p in LOAD_PROCS if p.name != self.srv.name] + [self.srv]

    def stop(self):
        if self.srv:
            self.srv.stop()

    def run(self, port, secs, streams):
        """Download (-R: the backend sends) through port; returns (bits/s, bytes received)."""
        for attempt in range(2):
            argv = ["taskset", "-c", LOAD_CPU, "iperf3", "-c", "127.0.0.1", "-p", str(port),
                    "-R", "-P", str(streams), "-t", str(secs), "-J", "--connect-timeout", "3000"]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30)
            try:
                r = json.loads(p.stdout)
                s = r["end"]["sum_received"]
                return s["bits_per_second"], s["bytes"]
            except (ValueError, KeyError):
                log(f"iperf3 failed (attempt {attempt + 1}): {p.stdout[-300:]} {p.stderr[-300:]}")
                # A server left busy by a broken test answers nobody: restart it.
                self.stop()
                time.sleep(0.5)
                self.start()
        return None, None


def idle_sessions(proxy, port, n):
    """(d): opens n used-then-idle sessions through the proxy; returns (bytes per session, n)."""
    time.sleep(0.5)
    before = proxy.rss_kb()
    fds_before = proxy.nfds()
    cli = subprocess.Popen(["taskset", "-c", LOAD_CPU, sys.executable,
                            os.path.join(ROOT, "bench", "idle_clients.py"), str(n), "127.0.0.1",
                            str(port)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = cli.stdout.readline().split()
        ok = int(line[1]) if len(line) == 3 else 0
        # Every session has had its response, so the proxy holds it; let it settle.
        time.sleep(1.0)
        after = proxy.rss_kb()
        fds_after = proxy.nfds()
    finally:
        cli.stdin.close()
        cli.wait(60)
    # Wait until the proxy has closed them, so the next test starts clean.
    end = time.time() + 30
    while time.time() < end and proxy.nfds() > fds_before + 16:
        time.sleep(0.2)
    if ok == 0:
        return None, 0
    log(f"  idle: {ok} sessions, proxy fds {fds_before} -> {fds_after}, RSS {before} -> {after} kB")
    return (after - before) * 1024.0 / ok, ok


# ---- one target -------------------------------------------------------------------------------

def start_proxy(t, d, anylb, maxconn, wrap=()):
    name, label, hport, bport, workers, cpus = t
    if name == "direct":
        return None
    if name.startswith("haproxy"):
        path = f"{d}/{name}.cfg"
        open(path, "w").write(conf_haproxy(t, d, maxconn))
        argv = ["haproxy", "-db", "-f", path]
    elif name == "nginx":
        path = f"{d}/nginx-stream.conf"
        open(path, "w").write(conf_nginx_stream(t, d))
        argv = ["nginx", "-e", f"{d}/nginx-stream.err", "-p", d, "-c", path]
    elif name.startswith("floor"):
        flags = {"floormd": ["-m", "-d"], "floormdf": ["-m", "-d", "-f"]}.get(name, [])
        argv = [tool("floor")] + flags + [
                f"{hport}=" + ",".join(f"127.0.0.1:{p}" for p in HTTP_BACKENDS),
                f"{bport}=" + ",".join(f"{h}:{p}" for h, p in bulk_backends())]
    else:
        path = f"{d}/{name}.yaml"
        open(path, "w").write(conf_anylb(t, d))
        argv = [BASE_BINARY if name == "base" else anylb, "-c", path]
    p = Proc(list(wrap) + argv, cpus, f"{d}/{name}.log", label)
    wait_port(hport, proc=p, timeout=30)
    wait_port(bport, proc=p)
    return p


def run_latency(t, d, opts):
    """(f) alone, for a target that ran before the rate was known (HAProxy sets it)."""
    name = t[0]
    proxy = start_proxy(t, d, opts.anylb, opts.maxconn)
    cap = Cap(name, opts.cap * t[4], proxy.pids()) if proxy is not None else None
    try:
        wrk(t[2], 1, conns=1)
        o = openloop(t[2], opts.lat_rate, opts.secs)
        return {"ol_p50": o["p50"], "ol_p99": o["p99"], "ol_errors": o["errors"]}
    finally:
        if cap is not None:
            cap.close()
        if proxy is not None:
            proxy.stop()


def run_target(t, d, opts, iperf):
    name, label, hport, bport, workers, cpus = t
    r = {}
    proxy = start_proxy(t, d, opts.anylb, opts.maxconn)
    # Two workers get two shares: the scaling rows ask what a second core buys.
    cap = Cap(name, opts.cap * workers, proxy.pids()) if opts.cap and proxy is not None else None
    try:
        # One request so lazy start-up work is done before anything is measured.
        wrk(hport, 1, conns=1)
        if proxy is not None:
            r["rss_per"], r["idle_n"] = idle_sessions(proxy, hport, opts.sessions)
        if opts.warmup:
            wrk(hport, opts.warmup)

        c0, l0 = (proxy.cpu_ticks() if proxy else 0), load_ticks()
        a = wrk(hport, opts.secs)
        c1, l1 = (proxy.cpu_ticks() if proxy else 0), load_ticks()
        r["ka_rps"], r["ka_p50"], r["ka_p99"] = a["rps"], a["p50"], a["p99"]
        r["ka_errors"] = a["errors"]
        if proxy and a["requests"]:
            r["ka_cpu_us"] = (c1 - c0) / CLK_TCK * 1e6 / a["requests"]
        if a["requests"]:
            r["ka_load_us"] = (l1 - l0) / CLK_TCK * 1e6 / a["requests"]
        time.sleep(0.5)

        c0 = proxy.cpu_ticks() if proxy else 0
        b = wrk(hport, opts.secs, close=True)
        c1 = proxy.cpu_ticks() if proxy else 0
        r["cps"], r["cps_errors"] = b["rps"], b["errors"]
        if proxy and b["requests"]:
            r["cps_cpu_us"] = (c1 - c0) / CLK_TCK * 1e6 / b["requests"]
        time.sleep(0.5)

        c0, l0 = (proxy.cpu_ticks() if proxy else 0), load_ticks()
        bps1, bytes1 = iperf.run(bport, opts.bulk_secs, 1)
        bps4, bytes4 = iperf.run(bport, opts.bulk_secs, 4)
        c1, l1 = (proxy.cpu_ticks() if proxy else 0), load_ticks()
        if bytes1 and bytes4:
            r["load_gb"] = (l1 - l0) / CLK_TCK / ((bytes1 + bytes4) / 1e9)
        r["bulk1"] = bps1 / 1e9 if bps1 else None
        r["bulk4"] = bps4 / 1e9 if bps4 else None
        if proxy and bytes1 and bytes4:
            r["cpu_gb"] = (c1 - c0) / CLK_TCK / ((bytes1 + bytes4) / 1e9)
        if opts.cap and opts.lat_rate:
            time.sleep(0.5)
            o = openloop(hport, opts.lat_rate, opts.secs)
            r["ol_p50"], r["ol_p99"], r["ol_errors"] = o["p50"], o["p99"], o["errors"]
        if proxy is not None and proxy.p.poll() is not None:
            log(f"{label} died during the run (exit {proxy.p.returncode})")
            r["died"] = True
    finally:
        if cap is not None:
            cap.close()
        if proxy is not None:
            proxy.stop()
    return r


# ---- report -----------------------------------------------------------------------------------

def fmt(v, f):
    return "–" if v is None else f.format(v)


def num(v):
    """A measured amount with about three significant digits."""
    if v is None:
        return "–"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def ratio(v, ref):
    if v is None or ref in (None, 0):
        return None
    return v / ref


def machine_info(anylb):
    cpu = {l.split(":", 1)[0]: l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines()
           if ":" in l}
    model = cpu.get("Model name", "?")
    if "CPU family" in cpu:
        model += f" (family {cpu['CPU family']} model {cpu.get('Model', '?')})"
    if "Hypervisor vendor" in cpu:
        model += f", {cpu['Hypervisor vendor']} guest"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "anylb": sh(f"{anylb} -V").strip(),
        "haproxy": sh("haproxy -v").splitlines()[0] if sh("haproxy -v") else "?",
        "nginx": sh("nginx -v 2>&1").strip(),
        "wrk": sh("dpkg-query -W -f='${Version}' wrk").strip(),
        "iperf3": sh("iperf3 --version").splitlines()[0] if sh("iperf3 --version") else "?",
    }


def medians(runs):
    out = {}
    for name in runs:
        out[name] = {}
        for key, *_ in METRICS + [("idle_n",)]:
            vals = [r[key] for r in runs[name] if r.get(key) is not None]
            out[name][key] = statistics.median(vals) if vals else None
    return out


def paired(runs, key, target, ref):
    """target ÷ ref within each repetition (the two ran minutes apart, in the same pass), so the
    machine's slow drift, which moves both, cancels; a list, one ratio per repetition."""
    out = []
    for x, y in zip(runs.get(target, []), runs.get(ref, [])):
        r = ratio(x.get(key), y.get(key))
        if r is not None:
            out.append(r)
    return out


def paired_median(runs, key, target, ref):
    vals = paired(runs, key, target, ref)
    return statistics.median(vals) if vals else None


TARGET_CHECKS = [
    # label, metric, reference, bound, higher is better
    ("(a) keep-alive req/s ≥ 1.0× HAProxy", "ka_rps", "haproxy", 1.0, True),
    ("(a) p99 ≤ HAProxy's", "ka_p99", "haproxy", 1.0, False),
    ("(b) new connections/s ≥ 1.0× HAProxy", "cps", "haproxy", 1.0, True),
    ("(c) bulk 1 stream ≥ 1.0× HAProxy", "bulk1", "haproxy", 1.0, True),
    ("(c) bulk 4 streams ≥ 1.0× HAProxy", "bulk4", "haproxy", 1.0, True),
    ("(c) bulk 1 stream ≥ 0.8× DIRECT", "bulk1", "direct", 0.8, True),
    ("(d) RSS per idle session ≤ HAProxy's", "rss_per", "haproxy", 1.0, False),
]


# Issue 17's targets, at equal CPU (--cap).
TARGET_CHECKS_CAPPED = [
    ("(b) new connections/s ≥ 1.3× HAProxy", "cps", "haproxy", 1.3, True),
    ("(b) proxy CPU per new connection ≤ 0.75× HAProxy's", "cps_cpu_us", "haproxy", 0.75, False),
    ("(a) keep-alive req/s ≥ 1.3× HAProxy", "ka_rps", "haproxy", 1.3, True),
    ("(a) proxy CPU per keep-alive request ≤ 0.75× HAProxy's", "ka_cpu_us", "haproxy", 0.75,
     False),
    ("(a) keep-alive req/s ≥ 1.0× nginx", "ka_rps", "nginx", 1.0, True),
    ("(b) new connections/s ≥ 1.0× nginx", "cps", "nginx", 1.0, True),
    ("(f) p99 at half HAProxy's rate ≤ HAProxy's", "ol_p99", "haproxy", 1.0, False),
    ("(c) bulk 1 stream ≥ 2× HAProxy", "bulk1", "haproxy", 2.0, True),
    ("(d) RSS per idle session ≤ 0.25× HAProxy's", "rss_per", "haproxy", 0.25, False),
]


def targets_check(runs, checks=TARGET_CHECKS):
    """One row per target: the median of the paired ratios decides; the range and how many
    repetitions met the bound show how firm that is."""
    rows = []
    for label, key, ref, bound, higher in checks:
        vals = paired(runs, key, "anylb", ref)
        if not vals:
            rows.append(f"| {label} | – | – | – | not measured |")
            continue
        med = statistics.median(vals)
        ok = [v >= bound if higher else v <= bound for v in vals]
        met = med >= bound if higher else med <= bound
        verdict = "**met**" if met else "**missed**"
        if 0 < sum(ok) < len(ok):
            verdict += " (not in every repetition)"
        rows.append(f"| {label} | {med:.2f}× | {min(vals):.2f}–{max(vals):.2f} | "
                    f"{sum(ok)} of {len(ok)} | {verdict} |")
    return rows


def report(runs, info, opts, targets):
    med = medians(runs)
    names = [t[0] for t in targets]
    labels = {t[0]: t[1] for t in targets}
    L = []
    L.append(f"Run: {info['date']} · {info['cpu']}, {info['cores']} cores, kernel "
             f"{info['kernel']} · {opts.reps} repetition(s), medians"
             f"{f' · every proxy capped at {opts.cap} % of one core (cpu cgroup, 10 ms period)' if opts.cap else ''}"
             f"{' · QUICK smoke run, not for comparison' if opts.quick else ''}")
    L.append("")
    L.append(f"Versions: {info['anylb']} · {info['haproxy']} · {info['nginx']} · "
             f"wrk {info['wrk']} · {info['iperf3']}")
    L.append("")
    L.append("| metric | " + " | ".join(labels[n] for n in names) + " |")
    L.append("|---" * (len(names) + 1) + "|")
    for key, label, unit, higher, f in METRICS:
        arrow = "↑" if higher else "↓"
        L.append(f"| {label} ({unit}) {arrow} | " +
                 " | ".join(fmt(med[n].get(key), f) for n in names) + " |")
    if any(med[n].get("idle_n") for n in names):
        L.append("| (d) idle sessions held | " +
                 " | ".join(fmt(med[n].get("idle_n"), "{:.0f}") for n in names) + " |")
    L.append("")
    L.append("Ratios (value ÷ reference within each repetition, median over the repetitions; "
             "↑ higher is better, ↓ lower is better):")
    L.append("")
    cols = [(n, ref) for ref in ("direct", "haproxy") if ref in names
            for n in names if n not in ("direct", ref)]
    labels.update({t[0]: t[1] for t in TARGETS})
    L.append("| metric | " + " | ".join(f"{labels[n]} ÷ {labels[ref]}" for n, ref in cols) +
             " |")
    L.append("|---" * (len(cols) + 1) + "|")
    for key, label, unit, higher, f in METRICS:
        arrow = "↑" if higher else "↓"
        cells = [fmt(paired_median(runs, key, n, ref), "{:.2f}") for n, ref in cols]
        L.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    L.append("")
    L.append(("Targets at equal CPU (issue 17)" if opts.cap else "Targets (issue 6)") +
             ", anylb with 1 worker against HAProxy with 1 thread:")
    L.append("")
    L.append("| target | anylb ratio (median) | range over the repetitions | repetitions "
             "meeting it | verdict |")
    L.append("|---|---|---|---|---|")
    L += targets_check(runs, TARGET_CHECKS_CAPPED if opts.cap else TARGET_CHECKS)
    scale = [(a, b, what) for a, b, what in (
        ("anylb2", "anylb", "anylb 2 workers ÷ anylb 1 worker"),
        ("haproxy2", "haproxy", "HAProxy nbthread 2 ÷ nbthread 1"),
        ("anylb2", "haproxy2", "anylb 2 workers ÷ HAProxy nbthread 2")) if a in med and b in med]
    if scale:
        L.append("")
        L.append("\\* the 2-thread rows run on both cores, so they share a core with the load "
                 "generator and the backends; they compare with each other, not with the pinned "
                 "rows. Paired ratios:")
        L.append("")
        for a, b, what in scale:
            L.append(f"- {what}: " + ", ".join(
                f"{lab.split(' ', 1)[1]} {fmt(paired_median(runs, k, a, b), '{:.2f}')}"
                for k, lab, *_ in METRICS if k in ("ka_rps", "cps", "bulk1", "bulk4")))
    L.append("")
    L.append("All repetitions:")
    L.append("")
    L.append("| target | rep | " + " | ".join(k for k, *_ in METRICS) + " |")
    L.append("|---" * (len(METRICS) + 2) + "|")
    for n in names:
        for i, r in enumerate(runs[n]):
            L.append(f"| {labels[n]} | {i + 1} | " +
                     " | ".join(fmt(r.get(k), f) for k, _, _, _, f in METRICS) + " |")
    return "\n".join(L), med


SHORT = {
    "ka_rps": "(a) req/s", "ka_p50": "(a) p50", "ka_p99": "(a) p99",
    "ka_cpu_us": "(a) proxy\\nCPU/req", "ka_load_us": "(a) load\\nCPU/req",
    "cps": "(b) conn/s", "cps_cpu_us": "(b) proxy\\nCPU/conn", "bulk1": "(c) 1 stream",
    "bulk4": "(c) 4 streams", "rss_per": "(d) RSS per\\nidle session",
    "cpu_gb": "(e) proxy\\nCPU/GB", "load_gb": "(e) load\\nCPU/GB",
}


def plot(runs, targets, png, workdir, info):
    labels = {t[0]: t[1].rstrip("*") for t in targets}
    names = [t[0] for t in targets]

    def datafile(path, ref, cols):
        with open(path, "w") as f:
            for key, label, unit, higher, _ in METRICS:
                vals = [paired_median(runs, key, n, ref) for n in cols]
                if all(v is None for v in vals):
                    continue
                arrow = "↑" if higher else "↓"
                f.write(f'"{SHORT.get(key, label)} {arrow}" ' +
                        " ".join("NaN" if v is None else f"{v:.4f}" for v in vals) + "\n")

    vs_h = [n for n in names if n not in ("direct", "haproxy")] if "haproxy" in names else []
    vs_d = [n for n in names if n != "direct"] if "direct" in names else []
    if not vs_h and not vs_d:
        return
    datafile(f"{workdir}/vs_haproxy.dat", "haproxy", vs_h)
    datafile(f"{workdir}/vs_direct.dat", "direct", vs_d)

    def plots(path, cols):
        parts = [f"'{path}' using 2:xtic(1) title '{labels[cols[0]]}'"]
        parts += [f"'' using {i + 2} title '{labels[c]}'" for i, c in enumerate(cols) if i > 0]
        return ", ".join(parts)

    script = f"""set terminal pngcairo size 1600,1000 font "sans,10"
set output '{png}'
set datafile missing "NaN"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key outside right top
set bmargin 4
set xtics font "sans,9"
set multiplot layout 2,1 title "anylb benchmark ratios — {info['date']}, {info['cpu']}, {info['cores']} cores (anylb 2 workers shares a core with the load)"
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2 front
"""
    if vs_h:
        script += f"""set title "ratio to HAProxy 2.6 (1 thread); dashed line = 1.0; ↑ higher is better, ↓ lower is better"
plot {plots(f'{workdir}/vs_haproxy.dat', vs_h)}
"""
    if vs_d:
        script += f"""set title "ratio to DIRECT (client straight to the backend); dashed line = 1.0; ↑ higher is better, ↓ lower is better"
plot {plots(f'{workdir}/vs_direct.dat', vs_d)}
"""
    script += "unset multiplot\n"
    with open(f"{workdir}/ratios.gp", "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", f"{workdir}/ratios.gp"], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"gnuplot failed: {r.stderr}")


# ---- profile mode ------------------------------------------------------------------------------

PROFILE_LOADS = [
    ("ka", "keep-alive request"),
    ("cc", "new connection"),
    ("bulk", "MB moved"),
]


def run_load(kind, t, secs, iperf):
    """Runs one load against target t; returns how many units it moved (requests, MB)."""
    if kind == "ka":
        return wrk(t[2], secs, conns=8)["requests"]
    if kind == "cc":
        return wrk(t[2], secs, close=True, conns=8)["requests"]
    _, nbytes = iperf.run(t[3], secs, 1)
    return (nbytes or 0) / 1e6


def parse_strace(path):
    calls, in_table = {}, False
    for line in open(path):
        if line.startswith("------"):
            if in_table:
                break
            in_table = True
            continue
        parts = line.split()
        if in_table and len(parts) >= 5 and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return calls


def parse_callgrind(path, top):
    out = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True).stdout
    total, funcs = 0, []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = n
        elif len(funcs) < top:
            name = m.group(2).split(" [")[0]
            lib = m.group(2).split(" [")[-1].rstrip("]").rsplit("/", 1)[-1]
            funcs.append((n, name.rsplit("/", 1)[-1], lib))
    return total, funcs


def profile(opts, d, iperf):
    """Syscalls per unit of work for every proxy (strace -c), user-space instructions per unit
    for anylb (callgrind, counting only inside the worker threads). Both count, not time, so
    they hold on a busy machine; the loads are light (8 connections) and short."""
    secs = opts.profile_secs
    targets = [t for t in TARGETS if t[0] in ("haproxy", "nginx", "anylb", "floor") and
               (not opts.only or t[0] in opts.only.split(","))]
    L = [f"Profile: {secs}s per load. Syscalls and instructions: 8 connections (wrk) or 1 stream "
         "(iperf3 -R), the proxy traced; perf and IPIs: the loads of (a), (b) and (c), nothing "
         "traced. All per unit of work.", ""]
    for kind, unit in PROFILE_LOADS:
        per = {}
        for t in targets:
            path = f"{d}/strace-{t[0]}-{kind}.txt"
            p = start_proxy(t, d, opts.anylb, opts.maxconn,
                            wrap=("strace", "-f", "-c", "-o", path))
            try:
                time.sleep(0.3)
                units = run_load(kind, t, secs, iperf)
            finally:
                p.stop()
            calls = parse_strace(path)
            per[t[0]] = {k: v / units for k, v in calls.items()} if units else {}
            log(f"  strace {t[1]} {kind}: {units:.0f} units")
        names = sorted({k for v in per.values() for k, x in v.items() if x >= 0.05},
                       key=lambda k: -max(per[n].get(k, 0) for n in per))
        L.append(f"Syscalls per {unit}:")
        L.append("")
        L.append("| syscall | " + " | ".join(t[1] for t in targets) + " |")
        L.append("|---" * (len(targets) + 1) + "|")
        for k in names:
            L.append(f"| {k} | " + " | ".join(f"{per[t[0]].get(k, 0):.2f}" for t in targets) +
                     " |")
        L.append("| **total** | " + " | ".join(
            f"**{sum(per[t[0]].values()):.2f}**" for t in targets) + " |")
        L.append("")
    anylb_t = next(t for t in TARGETS if t[0] == "anylb")
    for kind, unit in PROFILE_LOADS[:2]:
        path = f"{d}/callgrind-{kind}.out"
        p = start_proxy(anylb_t, d, opts.anylb, opts.maxconn,
                        wrap=("valgrind", "--tool=callgrind", f"--callgrind-out-file={path}",
                              "--toggle-collect=worker_main"))
        try:
            time.sleep(0.5)
            units = run_load(kind, anylb_t, secs, iperf)
        finally:
            p.stop()
        total, funcs = parse_callgrind(path, 12)
        if not units or not total:
            continue
        L.append(f"anylb user-space instructions per {unit} (callgrind, worker threads): "
                 f"{total / units:.0f}; the most expensive functions (self cost):")
        L.append("")
        L.append("| instructions | function | object |")
        L.append("|---|---|---|")
        for n, name, lib in funcs:
            L.append(f"| {n / units:.0f} | `{name}` | {lib} |")
        L.append("")
    L.append(kernel_profile(opts, d, iperf))
    return "\n".join(L)


# perf's software clock samples every CPU every PERF_PERIOD_NS of its time, idle or not: it
# needs no hardware counters (a KVM guest often has none) and sees the kernel, where most of a
# proxied byte's cost is.
PERF_PERIOD_NS = 100_000
KPROF_LOADS = [
    # kind, unit of work, the load, the unit a cost is shown in, that unit in ns
    ("ka", "keep-alive request", "wrk -c64 as in (a)", "µs", 1e3),
    ("cc", "new connection", "wrk -c64 with Connection: close as in (b)", "µs", 1e3),
    ("bulk", "GB moved", "iperf3 -R, 1 stream, as in (c)", "ms", 1e6),
]


def perf_samples(path, sort, cpu):
    """{name: samples} from perf report, for one CPU."""
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", sort,
                          "--cpu", cpu, "-n", "--stdio", "-g", "none"],
                         capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(.*\S)\s*$", line)
        if m and not line.startswith("#"):
            res[m.group(2)] = res.get(m.group(2), 0) + int(m.group(1))
    return res


IPIS = {"RES": "rescheduling", "CAL": "function call"}


def ipi_counts():
    """{(kind, cpu): count} of the inter-processor interrupts each CPU has received so far."""
    out = {}
    for line in open("/proc/interrupts"):
        parts = line.split()
        if parts and parts[0].rstrip(":") in IPIS:
            for cpu, n in enumerate(parts[1:1 + os.cpu_count()]):
                out[(parts[0].rstrip(":"), str(cpu))] = int(n)
    return out


def kernel_profile(opts, d, iperf):
    """Where both cores' time goes per unit of work behind each proxy and DIRECT, from perf's
    cpu-clock samples over the whole system: the load core's functions say what the path
    through a proxy costs the saturated side."""
    secs = opts.profile_secs
    targets = [t for t in TARGETS if t[0] in ("direct", "haproxy", "nginx", "anylb") and
               (not opts.only or t[0] in opts.only.split(","))]
    L = []
    for kind, unit, load, shown, scale in KPROF_LOADS:
        cores, funcs, ipis = {}, {}, {}
        for t in targets:
            path = f"{d}/perf-{t[0]}-{kind}.data"
            p = start_proxy(t, d, opts.anylb, opts.maxconn)
            try:
                rec = subprocess.Popen(["perf", "record", "-q", "-a", "-e", "cpu-clock", "-c",
                                        str(PERF_PERIOD_NS), "-o", path, "--", "sleep",
                                        str(secs + 1)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)
                i0 = ipi_counts()
                if kind in ("ka", "cc"):
                    units = wrk(t[2], secs, close=kind == "cc")["requests"]
                else:
                    _, nbytes = iperf.run(t[3], secs, 1)
                    units = (nbytes or 0) / 1e9
                i1 = ipi_counts()
                rec.wait()
            finally:
                if p is not None:
                    p.stop()
            if not units or rec.returncode != 0:
                log(f"  perf {t[1]} {kind}: no samples or no load (perf exit {rec.returncode})")
                continue
            cost = PERF_PERIOD_NS / scale / units  # one sample, in the unit shown
            cores[t[0]] = {}
            for cpu, role in ((LOAD_CPU, "load core"), (PROXY_CPU, "proxy core")):
                by_comm = perf_samples(path, "comm", cpu)
                busy = sum(v for k, v in by_comm.items() if k != "swapper")
                cores[t[0]][f"{role} (CPU {cpu}), busy"] = busy * cost
                # Who keeps the load core busy (wrk, the nginx backend, iperf3).
                for comm, v in by_comm.items():
                    if role == "load core" and comm != "swapper" and v * 20 >= busy:
                        cores[t[0]][f"{role}: {comm}"] = v * cost
            funcs[t[0]] = {k: v * cost for k, v in perf_samples(path, "sym", LOAD_CPU).items()}
            ipis[t[0]] = {k: (i1[k] - i0.get(k, 0)) / units for k in i1}
            log(f"  perf {t[1]} {kind}: {units:.4g} units")
        if not cores:
            continue
        names = [t for t in targets if t[0] in cores]
        head = "| | " + " | ".join(t[1] for t in names) + " |"
        rows = sorted({k for c in cores.values() for k in c},
                      key=lambda k: (not k.startswith("load"), "busy" not in k, k))
        L.append(f"CPU time per {unit} in {shown}, by core ({load}, {secs} s; perf's cpu-clock "
                 f"sampled every {PERF_PERIOD_NS // 1000} µs on both cores):")
        L.append("")
        L.append(head)
        L.append("|---" * (len(names) + 1) + "|")
        for k in rows:
            L.append(f"| {k} | " + " | ".join(num(cores[t[0]].get(k)) for t in names) + " |")
        L.append("")
        L.append(f"Inter-processor interrupts received per {unit} (/proc/interrupts). Waking a "
                 "task that sleeps on the other core sends one (this kernel mostly uses a "
                 "function call IPI for it); in a KVM guest the sender pays a VM exit:")
        L.append("")
        L.append(head)
        L.append("|---" * (len(names) + 1) + "|")
        for ipi, label in IPIS.items():
            for cpu, role in ((LOAD_CPU, "load core"), (PROXY_CPU, "proxy core")):
                L.append(f"| {label}, {role} (CPU {cpu}) | " + " | ".join(
                    num(ipis[t[0]].get((ipi, cpu))) for t in names) + " |")
        L.append("")
        top = sorted({k for f in funcs.values() for k in f},
                     key=lambda k: -max(f.get(k, 0) for f in funcs.values()))[:12]
        L.append(f"Load core (CPU {LOAD_CPU}): the functions it spends most in, in {shown} per "
                 f"{unit} ([k] kernel, [.] user space):")
        L.append("")
        L.append("| function | " + " | ".join(t[1] for t in names) + " |")
        L.append("|---" * (len(names) + 1) + "|")
        for k in top:
            L.append(f"| `{k}` | " + " | ".join(num(funcs[t[0]].get(k)) for t in names) + " |")
        L.append("")
    return "\n".join(L)


BEGIN, END = "<!-- BEGIN bench/run.sh results -->", "<!-- END bench/run.sh results -->"
CBEGIN, CEND = "<!-- BEGIN bench/run.sh --cap results -->", "<!-- END bench/run.sh --cap results -->"
PBEGIN, PEND = "<!-- BEGIN bench/run.sh --profile -->", "<!-- END bench/run.sh --profile -->"


def write_block(path, begin, end, body):
    block = f"{begin}\n{body}\n{end}"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def write_doc(path, table, capped=False):
    if capped:
        write_block(path, CBEGIN, CEND, f"{table}\n\n![ratios](bench-ratios-capped.png)")
    else:
        write_block(path, BEGIN, END, f"{table}\n\n![ratios](bench-ratios.png)")


# ---- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anylb", default=os.environ.get("ANYLB", os.path.join(ROOT, "build", "anylb")))
    ap.add_argument("--quick", action="store_true", help="1 repetition, short loads (smoke test)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--only", help="comma-separated targets: "
                    "direct,haproxy,nginx,anylb,anylb2,haproxy2,floor,floormd,base")
    ap.add_argument("--base", metavar="BINARY",
                    help="another anylb binary, measured as the target 'base' beside --anylb")
    ap.add_argument("--sessions", type=int, help="idle sessions for (d)")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the benchmark: syscalls (strace -c) per unit of work for "
                    "each proxy, anylb's instructions (callgrind) and both cores' time by "
                    "process and function (perf); with --quick, docs/ are left alone")
    ap.add_argument("--profile-secs", type=int, default=3)
    ap.add_argument("--cap", type=int, metavar="PCT",
                    help="equal CPU: every proxy in a cpu cgroup with PCT %% of one core "
                    "(cgroup v1 cpu.cfs_quota_us, or v2 cpu.max), so the proxy saturates "
                    "before the load generator; adds (f), the latency at half HAProxy's "
                    "capped keep-alive rate, open loop (bench/openloop.c); anylb 2 workers is "
                    "left out")
    opts = ap.parse_args()
    opts.lat_rate = None

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    # Each proxied session costs the proxy two fds; keep a margin for listeners, logs, epoll.
    n_max = (hard - 64) // 2
    opts.maxconn = min(n_max + 16, 10000)
    if opts.quick:
        opts.reps = opts.reps or 1
        opts.secs, opts.bulk_secs, opts.warmup = 2, 2, 0
        opts.sessions = opts.sessions or min(1000, n_max)
    else:
        # More, shorter repetitions: on a shared machine the noise comes and goes within
        # minutes, and the verdicts are medians of per-repetition ratios.
        opts.reps = opts.reps or 5
        opts.secs, opts.bulk_secs, opts.warmup = 8, 5, 1
        opts.sessions = opts.sessions or min(10000, n_max)
    keep = opts.only.split(",") if opts.only else None
    # floormd is an experiment: only when asked for by name; base only with --base; floormdf
    # needs a backend with TCP Fast Open, which only bench/ab.py --fastopen sets up.
    global BASE_BINARY
    BASE_BINARY = opts.base
    targets = [t for t in TARGETS if (t[0] in keep if keep else t[0] != "floormd") and
               (t[0] != "base" or opts.base) and t[0] != "floormdf"]
    if opts.cap:
        # HAProxy first: its capped rate sets the rate of every target's latency run.
        targets.sort(key=lambda t: t[0] != "haproxy")
    if not os.access(opts.anylb, os.X_OK):
        sys.exit(f"bench: no anylb binary at {opts.anylb} (build first, or pass --anylb)")

    info = machine_info(opts.anylb)
    d, backend = start_backend("anylb-bench-")
    log(f"work directory {d}; anylb {opts.anylb}; {opts.reps} repetition(s); "
        f"{opts.sessions} idle sessions")
    iperf = Iperf(d)
    runs = {t[0]: [] for t in targets}
    t0 = time.time()
    try:
        LOAD_PROCS.append(backend)
        iperf.start()
        if opts.profile:
            text = profile(opts, d, iperf)
            print(text)
            if not opts.quick and not opts.no_docs:
                write_block(os.path.join(ROOT, "docs", "BENCHMARKS.md"), PBEGIN, PEND, text)
                log("wrote the profile into docs/BENCHMARKS.md")
            return 0
        for rep in range(opts.reps):
            for t in targets:
                log(f"rep {rep + 1}/{opts.reps}: {t[1]}")
                if opts.cap and t[0] == "haproxy":
                    opts.lat_rate = None
                r = run_target(t, d, opts, iperf)
                if opts.cap and t[0] == "haproxy" and r.get("ka_rps"):
                    opts.lat_rate = r["ka_rps"] / 2
                    # HAProxy's own latency run, now that the rate is known.
                    r.update(run_latency(t, d, opts))
                log("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in r.items()))
                runs[t[0]].append(r)
    finally:
        iperf.stop()
        backend.stop()
    log(f"done in {time.time() - t0:.0f}s")

    table, med = report(runs, info, opts, targets)
    print(table)
    with open(f"{d}/results.json", "w") as f:
        json.dump({"info": info, "runs": runs, "medians": med}, f, indent=1)
    docs = not opts.no_docs and not opts.quick
    pngname = "bench-ratios-capped.png" if opts.cap else "bench-ratios.png"
    png = os.path.join(ROOT, "docs", pngname) if docs else f"{d}/{pngname}"
    plot(runs, targets, png, d, info)
    if docs:
        write_doc(os.path.join(ROOT, "docs", "BENCHMARKS.md"), table, capped=bool(opts.cap))
        log(f"wrote docs/BENCHMARKS.md and docs/{pngname}")
    else:
        log(f"quick run: docs/ left alone; plot in {png}, raw results in {d}/results.json")
    if not opts.keep and docs:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
