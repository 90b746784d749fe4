#!/usr/bin/env bash
# Installs what building and testing anylb needs on Debian 12, and nothing when it is all there.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang-format libev-dev libyaml-dev libssl-dev libmnl-dev
	libcriterion-dev libsystemd-dev iproute2 procps bird2 libjansson-dev prometheus curl
	clang libclang-rt-14-dev scdoc ca-certificates chromium libbpf-dev bpftool llvm debhelper
	dpkg-dev lintian fakeroot
	haproxy knot knot-dnsutils)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Installing haproxy (a test peer) must not start it as a system service: policy-rc.d refuses
# every service start during the install, if nobody set one already.
rc_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	rc_policy=1
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -z "$rc_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
