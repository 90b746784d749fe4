#!/usr/bin/env python3
"""The DNS benchmark: dnsperf against a Knot DNS server directly, through nginx stream (udp,
proxy_responses 1) and through anylb (protocol: udp, udp.responses 1), one worker each.

Run by bench/dns.sh (which installs what is missing). Layout on two cores: the proxy on CPU 0,
dnsperf and knotd on CPU 1. Each proxy runs in a cgroup v1 `cpu` group with the same quota
(--quota, default 30 % of one core), so the proxy, not dnsperf or knotd, is what saturates;
DIRECT has no proxy and no cap (the ceiling of the load side). For every repetition, in the same
run and in turn:

  1. saturation: dnsperf closed loop (-c 16 -q 200) for --secs seconds: queries/s, lost queries;
  2. latency: dnsperf open loop at a fixed rate (-Q) of half of nginx's capped queries/s of that
     repetition, every query's latency (-v): p50, p99, lost (the target is 0 lost below
     saturation);
then, once: memory per active flow: --flows clients each send one query from a port of its own
through a proxy whose flows do not end at the reply (anylb udp.responses 0, nginx
without proxy_responses), and the proxy's RSS and fds are read before and after; and what the two
designs of the backend side cost (bench/udp_cost.c).

Ratios are paired within a repetition (anylb / nginx) and reported as their median and range.
Results go between the markers in docs/BENCHMARKS.md (--no-docs: printed only). Every load is
bounded in time and goes to 127.0.0.1 only.
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Cap, Proc, log, machine_info, ROOT  # noqa: E402

PORT_KNOT, PORT_NGINX, PORT_ANYLB = 19531, 19532, 19533
BEGIN, END = "<!-- BEGIN bench/dns.sh results -->", "<!-- END bench/dns.sh results -->"
NAMES = 200  # www0..www199: the query file cycles over them


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def zone_and_queries(d):
    recs = "".join(f"www{i} A 192.0.2.{i % 250 + 1}\n" for i in range(NAMES))
    write(f"{d}/example.org.zone", "$ORIGIN example.org.\n$TTL 300\n"
          "@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\n" + recs)
    write(f"{d}/queries", "".join(f"www{i}.example.org A\n" for i in range(NAMES)))


def start_knot(d):
    os.makedirs(f"{d}/knot", exist_ok=True)
    write(f"{d}/knot.conf",
          f"server:\n    listen: 127.0.0.1@{PORT_KNOT}\n    rundir: {d}/knot\n"
          "    user: root:root\n    udp-workers: 1\n    tcp-workers: 1\n"
          "    background-workers: 1\n"
          "log:\n  - target: stderr\n    any: warning\n"
          f"database:\n    storage: {d}/knot\n"
          f"template:\n  - id: default\n    storage: {d}\n"
          "zone:\n  - domain: example.org.\n    file: example.org.zone\n")
    p = Proc(["/usr/sbin/knotd", "-c", f"{d}/knot.conf"], "1", f"{d}/knot.log", "knotd")
    wait_dns(PORT_KNOT, p)
    return p


def query_packet(qid, name):
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def wait_dns(port, proc, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.p.returncode}")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(query_packet(1, "www1.example.org"), ("127.0.0.1", port))
            if s.recv(512):
                return
        except OSError:
            time.sleep(0.1)
        finally:
            s.close()
    raise RuntimeError(f"{proc.name} does not answer on udp port {port}")


def start_nginx(d, responses):
    write(f"{d}/nginx.conf",
          "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
          f"worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n"
          f"error_log {d}/nginx.err warn;\nevents {{ worker_connections 65536; }}\n"
          "worker_rlimit_nofile 70000;\n"
          f"stream {{\n  server {{\n    listen 127.0.0.1:{PORT_NGINX} udp;\n"
          f"    proxy_pass 127.0.0.1:{PORT_KNOT};\n"
          + (f"    proxy_responses {responses};\n" if responses else "") +
          "    proxy_timeout 30s;\n  }\n}\n")
    p = Proc(["nginx", "-c", f"{d}/nginx.conf", "-p", d, "-e", f"{d}/nginx.err"], "0",
             f"{d}/nginx.log", "nginx")
    wait_dns(PORT_NGINX, p)
    return p


def start_anylb(d, anylb, responses):
    write(f"{d}/anylb.yaml",
          f"global:\n  workers: 1\n  log: {{level: warn}}\n  max_connections: 100000\n"
          f"  admin: {{socket: {d}/admin.sock}}\n"
          "services:\n  - name: dns\n    protocol: udp\n"
          f"    listen: 127.0.0.1:{PORT_ANYLB}\n"
          f"    udp: {{responses: {responses}, max_flows: 20000}}\n"
          f"    backends:\n      - address: 127.0.0.1:{PORT_KNOT}\n")
    p = Proc([anylb, "-c", f"{d}/anylb.yaml"], "0", f"{d}/anylb.log", "anylb")
    wait_dns(PORT_ANYLB, p)
    return p


def dnsperf(port, d, secs, rate=None, verbose=False):
    argv = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
            f"{d}/queries", "-l", str(secs), "-c", "16", "-t", "2"]
    argv += ["-Q", str(rate), "-q", "1000"] if rate else ["-q", "200"]
    if verbose:
        argv.append("-v")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30).stdout

    def grab(pat, cast=float):
        m = re.search(pat, out)
        return cast(m.group(1)) if m else None

    r = {"qps": grab(r"Queries per second:\s+([\d.]+)"),
         "sent": grab(r"Queries sent:\s+(\d+)", int),
         "lost": grab(r"Queries lost:\s+(\d+)", int)}
    if verbose:
        # One line per answer: "> NOERROR www1.example.org A 0.000123"
        lat = sorted(float(m.group(1)) for m in re.finditer(r"^> \S+ .* ([\d.]+)$", out, re.M))
        if lat:
            r["p50"] = lat[len(lat) // 2] * 1e6
            r["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6
            r["answers"] = len(lat)
    return r


def run_target(name, d, opts, rate=None):
    """One target: start it (capped), saturate it, measure latency at rate; stop it."""
    proc, cap, port = None, None, PORT_KNOT
    if name == "nginx":
        proc, port = start_nginx(d, 1), PORT_NGINX
    elif name == "anylb":
        proc, port = start_anylb(d, opts.anylb, 1), PORT_ANYLB
    try:
        if proc is not None:
            cap = Cap(name, opts.quota, proc.pids())
        t0 = proc.cpu_ticks() if proc else 0
        sat = dnsperf(port, d, opts.secs)
        sat["cpu_ticks"] = (proc.cpu_ticks() - t0) if proc else None
        lat = dnsperf(port, d, opts.secs, rate=rate, verbose=True) if rate else {}
        return {"sat": sat, "lat": lat}
    finally:
        if cap:
            cap.close()
        if proc:
            proc.stop()


def flow_memory(name, d, opts):
    """RSS and fds per active flow, as the slope between opts.flows / 2 and opts.flows ports
    (one query each, flows kept open): what a flow adds, without the fixed costs (anylb's
    bucket array, sized for udp.max_flows, nginx's pools) that a small count would spread."""
    proc = start_nginx(d, 0) if name == "nginx" else start_anylb(d, opts.anylb, 0)
    port = PORT_NGINX if name == "nginx" else PORT_ANYLB
    socks, answered, marks = [], 0, []
    try:
        time.sleep(0.5)
        for half in (0, 1):
            for i in range(opts.flows // 2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.sendto(query_packet(i & 0xffff, f"www{i % NAMES}.example.org"),
                         ("127.0.0.1", port))
                socks.append(s)
                if i % 100 == 99:
                    time.sleep(0.01)
            time.sleep(1.0)
            for s in socks[half * (opts.flows // 2):]:
                try:
                    answered += bool(s.recv(512))
                except OSError:
                    pass
            marks.append((answered, proc.rss_kb(), proc.nfds()))
        (a0, r0, f0), (a1, r1, f1) = marks
        n = max(1, a1 - a0)
        return {"flows": opts.flows, "answered": answered,
                "rss_per_flow": (r1 - r0) * 1024 / n, "fds_per_flow": (f1 - f0) / n}
    finally:
        for s in socks:
            s.close()
        proc.stop()


def socket_costs(d):
    """bench/udp_cost.c: a flow's own socket against a shared pool with ID rewriting."""
    exe = f"{d}/udp_cost"
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(ROOT, "bench/udp_cost.c")], check=True)
    out = subprocess.run(["taskset", "-c", "0", exe], capture_output=True, text=True,
                         timeout=120).stdout
    return {k: float(v) for k, v in (kv.split("=") for kv in out.split())}


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(v, f="{:,.0f}"):
    return "–" if v is None else f.format(v)


def report(runs, mem, info, opts, costs):
    lines = [f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, kernel "
             f"{info['kernel']}; {info['anylb']}, {info['nginx']}, dnsperf "
             f"{subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'dnsperf'], capture_output=True, text=True).stdout}, "
             f"Knot DNS {subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'knot'], capture_output=True, text=True).stdout}. "
             f"{opts.reps} repetitions of {opts.secs} s, medians. Each proxy: one worker on CPU 0 "
             f"capped at {opts.quota} % of one core (cgroup v1 cpu, 10 ms period); dnsperf and knotd on CPU 1. "
             "The latency run offers half of nginx's capped queries/s of the same repetition, "
             "open loop.", "",
             "| target | queries/s (capped, closed loop) | lost | CPU µs per query | "
             "p50 µs at the fixed rate | p99 µs at the fixed rate | lost at the fixed rate |",
             "|---|---|---|---|---|---|---|"]
    for t in ("direct", "nginx", "anylb"):
        rs = [r[t] for r in runs]
        cpu = [r["sat"]["cpu_ticks"] * 1e6 / os.sysconf("SC_CLK_TCK") /
               max(1, r["sat"]["qps"] * opts.secs)
               if r["sat"]["cpu_ticks"] is not None and r["sat"]["qps"] else None for r in rs]
        lines.append(
            f"| {t} | {fmt(med([r['sat']['qps'] for r in rs]))} | "
            f"{fmt(med([r['sat']['lost'] for r in rs]))} | {fmt(med(cpu), '{:.1f}')} | "
            f"{fmt(med([r['lat'].get('p50') for r in rs]))} | "
            f"{fmt(med([r['lat'].get('p99') for r in rs]))} | "
            f"{fmt(med([r['lat'].get('lost') for r in rs]))} |")
    qr = [r["anylb"]["sat"]["qps"] / r["nginx"]["sat"]["qps"] for r in runs
          if r["anylb"]["sat"]["qps"] and r["nginx"]["sat"]["qps"]]
    pr = [r["anylb"]["lat"]["p99"] / r["nginx"]["lat"]["p99"] for r in runs
          if r["anylb"]["lat"].get("p99") and r["nginx"]["lat"].get("p99")]
    lines += ["", f"Paired anylb ÷ nginx: queries/s {fmt(med(qr), '{:.2f}')}× "
              f"({fmt(min(qr) if qr else None, '{:.2f}')}–{fmt(max(qr) if qr else None, '{:.2f}')}), "
              f"p99 {fmt(med(pr), '{:.2f}')}× "
              f"({fmt(min(pr) if pr else None, '{:.2f}')}–{fmt(max(pr) if pr else None, '{:.2f}')}). "
              "Targets: queries/s ≥ 1.3×, p99 ≤ 1×, 0 lost below saturation.", "",
              "Memory per active flow (one query each from " + str(opts.flows) +
              " ports, flows kept: anylb `udp.responses: 0`, nginx without `proxy_responses`; "
              "the slope between the first and the second half, so fixed costs do not count):", "",
              "| proxy | answered | RSS bytes per flow | fds per flow |", "|---|---|---|---|"]
    for t in ("nginx", "anylb"):
        m = mem.get(t, {})
        lines.append(f"| {t} | {fmt(m.get('answered'))} | {fmt(m.get('rss_per_flow'))} | "
                     f"{fmt(m.get('fds_per_flow'), '{:.2f}')} |")
    lines += ["", "The backend side's two designs (bench/udp_cost.c, on CPU 0): a flow's own "
              "connected socket costs socket + connect + epoll_ctl + close = "
              f"{fmt(costs.get('cycle_ns'))} ns once per flow, one fd, and "
              f"{fmt(costs.get('kernel_bytes'))} bytes of kernel memory while it is open; a "
              "pool of sockets multiplexed by rewriting the DNS message ID would cost "
              f"{fmt(costs.get('pool_ns'), '{:.1f}')} ns per query for its table and rewrite, "
              "no fd per flow, and 65,536 queries in flight per pooled socket at most."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anylb", default=os.path.join(ROOT, "build/anylb"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--quota", type=int, default=30, help="percent of one core per proxy")
    ap.add_argument("--flows", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="1 repetition of 3 s, no docs")
    ap.add_argument("--no-docs", action="store_true")
    opts = ap.parse_args()
    if opts.quick:
        opts.reps, opts.secs, opts.flows, opts.no_docs = 1, 3, 2000, True
    info = machine_info(opts.anylb)
    runs = []
    with tempfile.TemporaryDirectory(prefix="anylb-dnsbench-") as d:
        zone_and_queries(d)
        knot = start_knot(d)
        try:
            for rep in range(opts.reps):
                r = {"direct": run_target("direct", d, opts)}
                r["nginx"] = run_target("nginx", d, opts)
                rate = int(r["nginx"]["sat"]["qps"] / 2) if r["nginx"]["sat"]["qps"] else 1000
                r["nginx"]["lat"] = run_target("nginx", d, opts, rate)["lat"]
                r["anylb"] = run_target("anylb", d, opts, rate)
                r["direct"]["lat"] = run_target("direct", d, opts, rate)["lat"]
                log(f"rep {rep + 1}: direct {r['direct']['sat']['qps']}, nginx "
                    f"{r['nginx']['sat']['qps']}, anylb {r['anylb']['sat']['qps']} q/s; p99 "
                    f"nginx {r['nginx']['lat'].get('p99')}, anylb {r['anylb']['lat'].get('p99')}")
                runs.append(r)
            mem = {t: flow_memory(t, d, opts) for t in ("nginx", "anylb")}
            costs = socket_costs(d)
        finally:
            knot.stop()
    text = report(runs, mem, info, opts, costs)
    print(text)
    if not opts.no_docs:
        path = os.path.join(ROOT, "docs/BENCHMARKS.md")
        doc = open(path).read()
        block = f"{BEGIN}\n{text}{END}"
        if BEGIN in doc:
            doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
        else:
            doc += f"\n## DNS over UDP: dnsperf through nginx stream and anylb\n\n{block}\n"
        write(path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
