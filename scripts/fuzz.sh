#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with clang into build-fuzz/ and runs each one for
# SECONDS (default 30), one after the other, pinned to the last core when there is more than one.
# Fails when any target finds a crash, a leak, a timeout or a broken invariant (the input is kept
# in build-fuzz/artifacts/). Prints the executions of every target, from libFuzzer's final stats.
# New inputs a run discovers go to build-fuzz/corpus/, never into the repo's fuzz/corpus/.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (TARGET: conf, admin_http, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true

scripts/deps.sh

dir=build-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi
echo "== fuzz: build ($dir)"
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANYLB_FUZZ=ON \
	-DANYLB_TESTS=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

pin=()
cpus=$(nproc)
[ "$cpus" -gt 1 ] && pin=(taskset -c $((cpus - 1)))
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

rc=0
total=0
failed=()
lines=()
mkdir -p "$dir/artifacts"
for t in "${targets[@]}"; do
	work="$dir/corpus/$t"
	log="$dir/fuzz-$t.log"
	mkdir -p "$work"
	dict=()
	[ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
	echo "== fuzz: $t for ${secs}s"
	trc=0
	"${pin[@]}" "$dir/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/$t-" \
		"${dict[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || trc=$?
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	execs=${execs:-0}
	total=$((total + execs))
	if [ "$trc" -ne 0 ]; then
		rc=1
		failed+=("$t")
		# The report: libFuzzer's and the sanitizer's lines, the invariant, the saved input.
		grep -E 'ERROR|fuzz invariant|SUMMARY|Test unit written|^ +#[0-9]+ .* in ' "$log" |
			grep -vE 'fuzzer::|libc_start|_start |sanitizer_print|pthread_kill|raise|abort' |
			head -n 30 || true
		lines+=("fuzz: $t: FAILED after $execs executions (exit $trc), see $log")
	else
		lines+=("fuzz: $t: $execs executions in ${secs}s, no crash")
	fi
	echo "${lines[-1]}"
done

echo "== fuzz: summary"
printf '%s\n' "${lines[@]}"
echo "fuzz: ${#targets[@]} targets, $total executions, ${#failed[@]} failed${failed:+ (${failed[*]})}"
exit $rc
