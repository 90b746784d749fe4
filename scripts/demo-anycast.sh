#!/usr/bin/env bash
# Anycast in one command (root, Debian 12 with bird2): builds anylb, then makes a router and two
# sites out of network namespaces, with BIRD in each (eBGP, ECMP at the router), anylb and two
# demo backends per site, and a client in the router namespace. It shows the router's paths and
# which site answers the client while site 1 loses its backends and recovers, and while site 1's
# anylb is killed and restarted. Everything it made is removed at exit, Ctrl-C included.
#
#   scripts/demo-anycast.sh            build into build/ (ANYLB_BUILD=DIR to change)
#   ANYLB_DEMO_PAUSE=1 scripts/...     wait for Enter between the steps
#
# Nothing outside the three namespaces is touched: no host route, address or interface.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ANYLB_BUILD:-build}
pause=${ANYLB_DEMO_PAUSE:-0}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo-anycast: run as root (network namespaces, veth pairs, a TUN interface, BIRD)" >&2
	exit 1
fi
for p in ip bird birdc; do
	if ! command -v "$p" >/dev/null; then
		echo "demo-anycast: '$p' is missing: scripts/deps.sh installs it (bird2, iproute2)" >&2
		exit 1
	fi
done

echo "== building anylb into $build/"
scripts/build.sh "$build" >/dev/null

P="anylb-demo$$"
R="$P-router"
S=("$P-s1" "$P-s2")
dir=$(mktemp -d "/tmp/$P-XXXXXX")
pids=()
namespaces=()
declare -A backend_pid # "SITE-NAME" (0-a, 0-b, 1-a, ...) -> pid
declare -A anylb_pid   # SITE (0, 1) -> pid

cleanup() {
	set +e
	trap - EXIT INT TERM
	echo "== cleaning up: processes, namespaces (with their veth pairs), $dir"
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	echo
	echo "== $*"
	if [ "$pause" = 1 ]; then read -r -p "   (Enter to go on) " _; fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Number of next hops the router's kernel has for $1 (0 when there is no route).
paths() {
	local out fam=-4
	[[ $1 == *:* ]] && fam=-6
	out=$(ip -n "$R" "$fam" route show "$1" 2>/dev/null)
	if [ -z "$out" ]; then echo 0; return; fi
	if grep -q nexthop <<<"$out"; then grep -c nexthop <<<"$out"; else echo 1; fi
}

# mark: the moment an event is caused, for wait_paths' report.
t0=0
mark() { t0=$(now_ms); }

# Waits up to $3 ms until prefix $1 has $2 paths; prints the time since mark (polling `ip route`
# costs a few ms per look, so this is a demo's stopwatch, not the test suite's measurement).
wait_paths() {
	local deadline
	deadline=$(($(now_ms) + $3))
	while [ "$(paths "$1")" != "$2" ]; do
		if [ "$(now_ms)" -gt "$deadline" ]; then
			echo "   (still $(paths "$1") paths for $1 after $3 ms)"
			return 1
		fi
		sleep 0.005
	done
	echo "   $1: $2 path(s) at the router, $(($(now_ms) - t0)) ms later"
}

show_router() {
	echo "-- the router's BIRD: show route for 192.0.2.10"
	birdc -s "$dir/router.ctl" show route for 192.0.2.10 | sed '1d; s/^/   /'
	echo "-- the router's kernel table (ip -n router route)"
	ip -n "$R" route show 192.0.2.10 | sed 's/^/   /'
	ip -n "$R" -6 route show 2001:db8::10 | sed 's/^/   /'
}

# One HTTP request from the router namespace; prints the demo backend's answer.
ask() {
	# shellcheck disable=SC2016 # $1 is the inner shell's, on purpose
	timeout 3 ip netns exec "$R" bash -c '
		exec 3<>"/dev/tcp/$1/8080" || exit 1
		printf "GET / HTTP/1.0\r\n\r\n" >&3
		tail -n 1 <&3' _ "$1" 2>/dev/null || echo "(no answer)"
}

show_client() {
	echo "-- a client in the router namespace, 8 connections to each anycast address:"
	for a in 192.0.2.10 2001:db8::10; do
		local answers=()
		for _ in 1 2 3 4 5 6 7 8; do answers+=("$(ask "$a" | sed -E 's/hello from ([^ ]*).*/\1/')"); done
		printf '   %-13s %s\n' "$a" "${answers[*]}"
	done
}

start_backends() {
	local i=$1
	for b in a:9101 b:9102; do
		ip netns exec "${S[$i]}" "$build/anylb-demo-backend" -n "site$((i + 1))-${b%%:*}" \
			"127.0.0.1:${b##*:}" >>"$dir/backends$((i + 1)).log" 2>&1 &
		pids+=($!)
		backend_pid["$i-${b%%:*}"]=$!
	done
}

start_anylb() {
	local i=$1
	ip netns exec "${S[$i]}" "$build/anylb" -c "$dir/site$((i + 1)).yaml" \
		>>"$dir/anylb$((i + 1)).log" 2>&1 &
	pids+=($!)
	anylb_pid[$i]=$!
}

step "1. the network: a router and two sites, each a network namespace"
for n in "$R" "${S[@]}"; do
	ip netns add "$n"
	namespaces+=("$n")
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0
done
# L4 hashing: a client's connections spread over both sites instead of one per address pair.
ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
ip netns exec "$R" sysctl -qw net.ipv6.fib_multipath_hash_policy=1 2>/dev/null || true
for i in 0 1; do
	n=$((i + 1))
	ip link add "r-s$n" netns "$R" type veth peer name s-r netns "${S[$i]}"
	ip -n "$R" addr add "10.0.$n.1/24" dev "r-s$n"
	ip -n "$R" addr add "fd00:$n::1/64" dev "r-s$n" nodad
	ip -n "${S[$i]}" addr add "10.0.$n.2/24" dev s-r
	ip -n "${S[$i]}" addr add "fd00:$n::2/64" dev s-r nodad
	ip -n "$R" link set "r-s$n" up
	ip -n "${S[$i]}" link set s-r up
	ip -n "${S[$i]}" route add default via "10.0.$n.1"
	ip -n "${S[$i]}" -6 route add default via "fd00:$n::1"
done
cat <<EOF
                 client (this script, in $R)
                        |
          +------------ router: BIRD AS 65000, ECMP into its kernel table
          | r-s1       r-s2 |
     10.0.1.0/24       10.0.2.0/24  (and fd00:1::/64, fd00:2::/64)
          |                 |
        site 1            site 2    each: BIRD AS 65001, anylb, two demo backends
   anycast 192.0.2.10/32 and 2001:db8::10/128, port 8080, announced by both
EOF

step "2. BIRD everywhere (fast timers for the demo; see examples/bird.conf for a real site)"
fast="hold time 3; keepalive time 1; connect delay time 0; connect retry time 1; error wait time 1, 2;"
cat >"$dir/router.conf" <<EOF
router id 10.255.0.1;
log "$dir/router.bird.log" all;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol kernel { ipv6 { import none; export all; }; merge paths on; }
template bgp site { local as 65000; $fast }
protocol bgp site1_v4 from site { neighbor 10.0.1.2 as 65001; ipv4 { import all; export none; }; }
protocol bgp site1_v6 from site { neighbor fd00:1::2 as 65001; ipv6 { import all; export none; }; }
protocol bgp site2_v4 from site { neighbor 10.0.2.2 as 65001; ipv4 { import all; export none; }; }
protocol bgp site2_v6 from site { neighbor fd00:2::2 as 65001; ipv6 { import all; export none; }; }
EOF
for i in 0 1; do
	n=$((i + 1))
	cat >"$dir/site$n.conf" <<EOF
router id 10.0.$n.2;
log "$dir/site$n.bird.log" all;
define ANYCAST4 = [ 192.0.2.10/32 ];
define ANYCAST6 = [ 2001:db8::10/128 ];
protocol device {}
# anylb keeps each announced prefix as an address on its TUN interface anylb0.
protocol direct anylb {
	ipv4 { import where net ~ ANYCAST4; };
	ipv6 { import where net ~ ANYCAST6; };
	interface "anylb*";
}
template bgp upstream { local as 65001; $fast }
protocol bgp up_v4 from upstream { neighbor 10.0.$n.1 as 65000; ipv4 { import none; export where net ~ ANYCAST4; }; }
protocol bgp up_v6 from upstream { neighbor fd00:$n::1 as 65000; ipv6 { import none; export where net ~ ANYCAST6; }; }
EOF
	cat >"$dir/site$n.yaml" <<EOF
global:
  site: site$n
  workers: 1
  drain_timeout: 5s
bgp:
  announce: interface
  watchdog_timeout: 500ms
  bird_socket: $dir/site$n.ctl
  announce_delay: 2s
  flap_window: 1m
services:
  - name: web
    listen: ["192.0.2.10:8080", "[2001:db8::10]:8080"]
    anycast:
      prefixes: [192.0.2.10/32, "2001:db8::10/128"]
    health:
      readiness: {interval: 200ms, timeout: 200ms, fall: 2, rise: 2}
    backends:
      - address: 127.0.0.1:9101
      - address: 127.0.0.1:9102
EOF
done
ip netns exec "$R" bird -f -c "$dir/router.conf" -s "$dir/router.ctl" -P "$dir/router.pid" &
pids+=($!)
for i in 0 1; do
	n=$((i + 1))
	ip netns exec "${S[$i]}" bird -f -c "$dir/site$n.conf" -s "$dir/site$n.ctl" -P "$dir/site$n.pid" &
	pids+=($!)
done
for _ in $(seq 100); do
	[ "$(birdc -s "$dir/router.ctl" show protocols 2>/dev/null | grep -c Established)" = 4 ] && break
	sleep 0.1
done
birdc -s "$dir/router.ctl" show protocols | sed '1d; s/^/   /'

step "3. anylb and two demo backends in each site; both sites announce after announce_delay (2s)"
mark
for i in 0 1; do
	start_backends "$i"
	start_anylb "$i"
done
wait_paths 192.0.2.10/32 2 10000
wait_paths 2001:db8::10/128 2 10000
show_router
show_client

step "4. site 1 loses both backends: anylb withdraws, the router keeps only site 2"
off=$(wc -l <"$dir/anylb1.log")
mark
kill "${backend_pid[0-a]}" "${backend_pid[0-b]}"
wait_paths 192.0.2.10/32 1 5000
wait_paths 2001:db8::10/128 1 5000
echo "-- site 1's anylb log:"
tail -n +"$((off + 1))" "$dir/anylb1.log" | grep -E 'backend|service web' | sed 's/^/   /'
show_router
show_client

step "5. site 1's backends come back: announced again once healthy for announce_delay"
off=$(wc -l <"$dir/anylb1.log")
mark
start_backends 0
wait_paths 192.0.2.10/32 2 10000
wait_paths 2001:db8::10/128 2 10000
tail -n +"$((off + 1))" "$dir/anylb1.log" | grep -E 'backend|service web' | sed 's/^/   /'
show_client

step "6. kill -9 of site 1's anylb: its watchdog removes anylb0, BIRD withdraws (fail closed)"
mark
kill -9 "${anylb_pid[0]}"
wait "${anylb_pid[0]}" 2>/dev/null || true
wait_paths 192.0.2.10/32 1 5000
wait_paths 2001:db8::10/128 1 5000
echo "-- site 1's interfaces (anylb0 is gone):"
ip -n "${S[0]}" -br link | sed 's/^/   /'
show_client

step "7. anylb restarted at site 1: announced after announce_delay"
mark
start_anylb 0
wait_paths 192.0.2.10/32 2 10000
wait_paths 2001:db8::10/128 2 10000
show_router
show_client

step "done: logs were in $dir (removed now)"
