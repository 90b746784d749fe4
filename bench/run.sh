#!/usr/bin/env bash
# The benchmark: anylb against HAProxy 2.6 (mode tcp), nginx stream and a direct connection.
#
#   bench/run.sh            5 repetitions, medians; writes docs/BENCHMARKS.md and
#                           docs/bench-ratios.png (about 15 minutes)
#   bench/run.sh --quick    1 short repetition, a smoke test; docs/ are left alone
#   bench/run.sh --cap 30   the same at equal CPU: every proxy in a cpu cgroup with 30 % of one
#                           core, so the proxy saturates before wrk; adds the latency at half
#                           HAProxy's capped rate, open loop (bench/openloop.c); its own
#                           section of docs/BENCHMARKS.md, beside the uncapped one; 2-worker
#                           targets get two shares of the cap
#   every run also measures bench/floor.c, the least a proxy on sockets does per connection;
#   --only ...,floormd adds its two packet experiments (floor -m -d)
#   bench/run.sh --profile  where the time goes: syscalls, anylb's instructions, perf samples of
#                           both cores per unit of work; writes the profile into docs/BENCHMARKS.md
#
# Other options go to bench/bench.py (--only direct,haproxy,nginx,anylb,anylb2,haproxy2,floor,floormd,base, --reps N, --sessions N, --no-docs,
# --keep, --anylb PATH, --base PATH: another anylb binary as the target 'base'). To compare
# two anylb binaries alone, bench/ab.py interleaves them in seconds-long slices. The anylb binary is $ANYLB, else build/anylb, which is built with
# scripts/build.sh when missing. Needs root for apt-get (Debian 12) and two cores or more.
# Every load is bounded in time and goes to 127.0.0.0/8 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/deps.sh

pkgs=(haproxy nginx libnginx-mod-stream wrk iperf3 gnuplot-nox procps util-linux python3)
# --profile counts syscalls (strace), anylb's instructions (valgrind) and samples every core (perf).
case " $* " in *" --profile "*) pkgs+=(strace valgrind linux-perf) ;; esac
bench_install "${pkgs[@]}"

if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs two cores (one for the proxy, one for the load)" >&2
	exit 1
fi

anylb=$(bench_anylb)
exec python3 bench/bench.py --anylb "$anylb" "$@"
