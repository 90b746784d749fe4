#!/usr/bin/env bash
# Counts, not times: syscalls (strace) and user-space instructions (callgrind) per new
# connection and per keep-alive request, for each anylb binary given (bench/counts.py says how).
#
#   bench/counts.sh [--reps N] OLD_BINARY NEW_BINARY ...
#
# The regression check that holds on a busy machine. Needs root for apt-get (Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/deps.sh
bench_install nginx wrk iperf3 strace valgrind procps util-linux python3
exec python3 bench/counts.py "$@"
