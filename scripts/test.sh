#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks the layout with clang-format (and that
# no merge conflict marker was committed), builds in every build type with GCC and Clang
# (scripts/build-types.sh, warnings as errors), builds, runs every test, then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again against the
# instrumented binary, then runs every fuzz target for 30 s (scripts/fuzz.sh). Exit 0 only if
# all of it passed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

echo "== format: clang-format --dry-run on every C file"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
echo "== merge: no conflict markers left in a tracked file"
if git grep -nE '^(<<<<<<<|>>>>>>>)( |$)' -- . ':!scripts/test.sh'; then
	echo "conflict markers left in the files above" >&2
	exit 1
fi

summary=()
run_suite() {
	local name=$1 dir=$2
	shift 2
	echo "== $name: build ($dir)"
	scripts/build.sh "$dir" "$@"
	echo "== $name: run"
	local log="$dir/ctest.log" rc=0
	(cd "$dir" && ctest --output-on-failure --timeout 900) 2>&1 | tee "$log" || rc=$?
	summary+=("$name: $(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -n 1)")
	return $rc
}

# Sanitizer reports end the process with a distinct status, which the scenario harness asserts
# is 0 at every anylb exit; leaks in anylb fail the test that stopped it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

rc=0
# Every build type with both compilers, and Debian's hardening flags (about 4 minutes).
types_log=$(mktemp)
scripts/build-types.sh 2>&1 | tee "$types_log" || rc=1
types_ok=$(grep -cE '^build types: .*: ok' "$types_log" || true)
types_failed=$(grep -cE '^build types: .*FAILED' "$types_log" || true)
rm -f "$types_log"
summary+=("build types: $types_ok built, $types_failed failed")

# The Debian package: built from a copy of the tracked files, unpacked into a fresh root and
# checked (scripts/deb.sh, about 20 s).
deb_log=$(mktemp)
scripts/deb.sh 2>&1 | tee "$deb_log" || rc=1
deb_line=$(grep -E '^deb: ' "$deb_log" | tail -n 1 || true)
rm -f "$deb_log"
summary+=("${deb_line:-deb: did not run to the end (see above)}")

run_suite plain build -DANYLB_TESTS=ON -DANYLB_WERROR=ON || rc=1
run_suite sanitizers build-asan -DANYLB_TESTS=ON -DANYLB_WERROR=ON -DANYLB_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug || rc=1

# The fuzz targets (fuzz/), 30 s each: any crash or broken invariant fails the suite.
fuzz_log=$(mktemp)
scripts/fuzz.sh 30 2>&1 | tee "$fuzz_log" || rc=1
fuzz_line=$(grep -E '^fuzz: [0-9]+ targets' "$fuzz_log" | tail -n 1 || true)
rm -f "$fuzz_log"

echo "== summary"
printf '%s\n' "${summary[@]}"
passed=0
failed=0
for dir in build build-asan; do
	line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -n 1)
	f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
	t=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
	passed=$((passed + t - f))
	failed=$((failed + f))
done
echo "ctest: $passed passed, $failed failed"
echo "${fuzz_line:-fuzz: did not run to the end (see above)}"
exit $rc
