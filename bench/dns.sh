#!/usr/bin/env bash
# The DNS benchmark: dnsperf against Knot DNS directly, through nginx stream (udp) and through
# anylb (protocol: udp), every proxy capped at the same CPU quota (bench/dns.py says how).
#
#   bench/dns.sh            3 repetitions, medians; writes its section of docs/BENCHMARKS.md
#   bench/dns.sh --quick    1 short repetition, a smoke test; docs/ are left alone
#
# Other options go to bench/dns.py (--reps N, --secs N, --quota PCT, --flows N, --no-docs).
# Needs root (apt-get, cgroup v1 cpu at /sys/fs/cgroup/cpu), Debian 12, two cores. Every load is
# bounded in time and goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/deps.sh

pkgs=(nginx libnginx-mod-stream dnsperf knot util-linux python3)
bench_install "${pkgs[@]}"
if [ ! -d /sys/fs/cgroup/cpu ]; then
	echo "bench: needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu" >&2
	exit 1
fi
anylb=$(bench_anylb)
exec python3 bench/dns.py --anylb "$anylb" "$@"
