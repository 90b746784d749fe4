#!/usr/bin/env bash
# The benchmark: anylb against HAProxy 2.6 (mode tcp), nginx stream and a direct connection.
#
#   bench/run.sh            5 repetitions, medians; writes docs/BENCHMARKS.md and
#                           docs/bench-ratios.png (about 15 minutes)
#   bench/run.sh --quick    1 short repetition, a smoke test; docs/ are left alone
#   bench/run.sh --cap 30   the same at equal CPU: every proxy in a cpu cgroup with 30 % of one
#                           core, so the proxy saturates before wrk; adds the latency at half
#                           HAProxy's capped rate, open loop (bench/openloop.c); its own
#                           section of docs/BENCHMARKS.md, beside the uncapped one
#   bench/run.sh --profile  where the time goes: syscalls, anylb's instructions, perf samples of
#                           both cores per unit of work; writes the profile into docs/BENCHMARKS.md
#
# Other options go to bench/bench.py (--only anylb,haproxy, --reps N, --sessions N, --no-docs,
# --keep, --anylb PATH). The anylb binary is $ANYLB, else build/anylb, which is built with
# scripts/build.sh when missing. Needs root for apt-get (Debian 12) and two cores or more.
# Every load is bounded in time and goes to 127.0.0.0/8 only.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(haproxy nginx libnginx-mod-stream wrk iperf3 gnuplot-nox procps util-linux python3)
# --profile counts syscalls (strace), anylb's instructions (valgrind) and samples every core (perf).
case " $* " in *" --profile "*) pkgs+=(strace valgrind linux-perf) ;; esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	# Installing nginx or haproxy must not start them as system services (port 80, pid files):
	# policy-rc.d refuses every service start during the install, if nobody set one already.
	rc_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		rc_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ -z "$rc_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs two cores (one for the proxy, one for the load)" >&2
	exit 1
fi

anylb=${ANYLB:-build/anylb}
if [ ! -x "$anylb" ]; then
	echo "bench: $anylb missing: building it with scripts/build.sh" >&2
	scripts/build.sh "$(dirname "$anylb")"
fi

exec python3 bench/bench.py --anylb "$(realpath "$anylb")" "$@"
