#!/usr/bin/env bash
# Builds anylb and its tests in every CMake build type (Debug, Release, RelWithDebInfo,
# MinSizeRel) with GCC and with Clang, and once more with Debian's hardening flags
# (dpkg-buildflags, hardening=+all, build type None as debhelper uses it), each with
# -DANYLB_WERROR=ON: what a packager's build would warn about fails here first. Builds go to
# build-types/; nothing is run. Exit 0 only if every build succeeded.
# Usage: scripts/build-types.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

rc=0
results=()
build() {
	local name=$1 cc=$2 type=$3
	shift 3
	local dir=build-types/$name start=$SECONDS
	if CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DANYLB_WERROR=ON \
		-DANYLB_TESTS=ON "$@" >"$dir.log" 2>&1 &&
		cmake --build "$dir" -j"$(nproc)" >>"$dir.log" 2>&1; then
		results+=("$name: ok ($((SECONDS - start)) s)")
	else
		results+=("$name: FAILED (see $dir.log)")
		grep -E 'error|warning' "$dir.log" | head -n 20 >&2 || true
		rc=1
	fi
}

mkdir -p build-types
for cc in gcc clang; do
	for type in Debug Release RelWithDebInfo MinSizeRel; do
		build "$cc-$type" "$cc" "$type"
	done
done
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
build gcc-dpkg-buildflags gcc None \
	-DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
	-DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)"

printf 'build types: %s\n' "${results[@]}"
exit $rc
