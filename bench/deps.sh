# Sourced by the benchmark scripts (bench/run.sh, bench/dns.sh): bench_install PKG... installs
# the Debian packages among PKG that are missing, and bench_anylb prints the anylb binary to
# measure ($ANYLB, else build/anylb, built with scripts/build.sh when missing).

bench_install() {
	local missing=() p sudo="" rc_policy=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	echo "bench: installing ${missing[*]}" >&2
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	# Installing nginx, haproxy or knot must not start them as system services (port 80, pid
	# files): policy-rc.d refuses every service start during the install, if nobody set one.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		rc_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ -z "$rc_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}

bench_anylb() {
	local anylb=${ANYLB:-build/anylb}
	if [ ! -x "$anylb" ]; then
		echo "bench: $anylb missing: building it with scripts/build.sh" >&2
		scripts/build.sh "$(dirname "$anylb")" >&2
	fi
	realpath "$anylb"
}
