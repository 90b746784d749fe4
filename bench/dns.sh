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

pkgs=(nginx libnginx-mod-stream dnsperf knot util-linux python3)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}" >&2
	# policy-rc.d: installing nginx or knot must not start them as system services.
	rc_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		rc_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ -z "$rc_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
if [ ! -d /sys/fs/cgroup/cpu ]; then
	echo "bench: needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu" >&2
	exit 1
fi
anylb=${ANYLB:-build/anylb}
if [ ! -x "$anylb" ]; then
	echo "bench: $anylb missing: building it with scripts/build.sh" >&2
	scripts/build.sh "$(dirname "$anylb")"
fi
exec python3 bench/dns.py --anylb "$(realpath "$anylb")" "$@"
