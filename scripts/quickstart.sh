#!/usr/bin/env bash
# See anylb balance in one step: installs what is missing, builds, starts three demo backends on
# 127.0.0.1:9101-9103, two Knot DNS servers on 127.0.0.1:9201-9202 and anylb on
# examples/quickstart.yaml (HTTP on 127.0.0.1:8080, DNS over UDP on 127.0.0.1:8053). Ctrl-C stops
# all.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh build -DANYLB_TESTS=ON >/dev/null

pids=()
dns=$(mktemp -d /tmp/anylb-quickstart-dns.XXXXXX)
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dns"
}
trap cleanup EXIT

# Two DNS servers for the udp service: one zone, www.example.org answered by each with its own
# address (192.0.2.1 from the first, 192.0.2.2 from the second), so kdig shows who answered.
for i in 1 2; do
	mkdir -p "$dns/ns$i"
	printf '$ORIGIN example.org.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.%s\n' \
		"$i" >"$dns/ns$i/example.org.zone"
	cat >"$dns/ns$i.conf" <<CONF
server:
    listen: 127.0.0.1@920$i
    rundir: $dns/ns$i
    user: root:root
log:
  - target: stderr
    any: warning
database:
    storage: $dns/ns$i
template:
  - id: default
    storage: $dns/ns$i
zone:
  - domain: example.org.
    file: example.org.zone
CONF
	/usr/sbin/knotd -c "$dns/ns$i.conf" &
	pids+=($!)
done

for i in 1 2 3; do
	build/anylb-demo-backend -n "demo-$i" "127.0.0.1:910$i" &
	pids+=($!)
done

cat <<MSG

  anylb is balancing 127.0.0.1:8080 over three demo backends (127.0.0.1:9101-9103), and DNS
  over UDP on 127.0.0.1:8053 over two Knot DNS servers (127.0.0.1:9201-9202).
  Try, in another terminal:
      for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:8080/; done
      nc 127.0.0.1 8080
      for i in 1 2 3 4; do kdig @127.0.0.1 -p 8053 +short www.example.org; done
  Ctrl-C stops anylb (graceful drain) and the demo backends.

MSG
build/anylb -c examples/quickstart.yaml &
pids+=($!)
wait "${pids[-1]}" || true
