#!/usr/bin/env bash
# See anylb balance in one step: installs what is missing, builds, starts three demo backends on
# 127.0.0.1:9101-9103 and anylb on examples/quickstart.yaml (127.0.0.1:8080). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh build -DANYLB_TESTS=ON >/dev/null

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

for i in 1 2 3; do
	build/anylb-demo-backend -n "demo-$i" "127.0.0.1:910$i" &
	pids+=($!)
done

cat <<MSG

  anylb is balancing 127.0.0.1:8080 over three demo backends (127.0.0.1:9101-9103).
  Try, in another terminal:
      for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:8080/; done
      nc 127.0.0.1 8080
  Ctrl-C stops anylb (graceful drain) and the demo backends.

MSG
build/anylb -c examples/quickstart.yaml &
pids+=($!)
wait "${pids[-1]}" || true
