#!/usr/bin/env bash
# Builds the Debian package (dpkg-buildpackage -us -uc -b) from a copy of the tracked files in
# a scratch directory, so the worktree stays clean, then tests it: unpacks the .deb into a fresh
# root (dpkg-deb -x), runs the unpacked `anylb -V` and `anylb -t` on the shipped
# /etc/anylb/anylb.yaml (inside a mount namespace whose passwd/group hold the anylb user, as the
# postinst creates it), checks the files, the conffile list, and runs lintian (errors and
# warnings fail). Prints `deb: ok ...` or `deb: FAILED ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
work=$(mktemp -d /tmp/anylb-deb-XXXXXX)
trap 'rm -rf -- "$work"' EXIT
fail() {
	echo "deb: FAILED: $*"
	exit 1
}

mkdir "$work/src"
git ls-files -z | xargs -0 cp --parents -t "$work/src"
(cd "$work/src" && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1 || {
	tail -n 30 "$work/build.log"
	fail "dpkg-buildpackage (log above)"
}
build_s=$((SECONDS - start))
deb=$(ls "$work"/anylb_*.deb)
root=$work/root
dpkg-deb -x "$deb" "$root"

for f in usr/sbin/anylb usr/bin/anylbctl lib/systemd/system/anylb.service etc/anylb/anylb.yaml \
	usr/share/man/man8/anylb.8.gz usr/share/man/man8/anylbctl.8.gz \
	usr/share/man/man5/anylb.yaml.5.gz usr/share/doc/anylb/CONFIG.md \
	usr/share/doc/anylb/DEPLOY.md usr/share/doc/anylb/copyright \
	usr/share/doc/anylb/examples/anylb.service.d/anycast.conf \
	usr/share/doc/anylb/examples/anylb.yaml usr/share/doc/anylb/examples/anylb.d/dns.yaml \
	usr/share/doc/anylb/grafana/anylb.json \
	usr/share/doc/anylb/prometheus/anylb-alerts.yaml \
	usr/share/bash-completion/completions/anylbctl; do
	# dh_compress gzips documents larger than 4 KiB.
	[ -e "$root/$f" ] || [ -e "$root/$f.gz" ] || fail "not in the package: /$f"
done
version=$(sed -nE 's/^project\(anylb VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
"$root/usr/sbin/anylb" -V | grep -q "anylb $version" || fail "anylb -V does not say $version"
grep -q 'RuntimeDirectory=anylb' "$root/lib/systemd/system/anylb.service" ||
	fail "the unit has no RuntimeDirectory=anylb"
if grep -q '^SupplementaryGroups=' "$root/lib/systemd/system/anylb.service"; then
	fail "the unit requires a supplementary group without anycast"
fi
dpkg-deb -I "$deb" conffiles | grep -qx /etc/anylb/anylb.yaml || fail "anylb.yaml is no conffile"
dpkg-deb -I "$deb" postinst | grep -q 'adduser --quiet --system' || fail "no user in postinst"
if dpkg-deb -I "$deb" postinst | grep -qE 'deb-systemd-invoke (start|restart)'; then
	fail "the postinst starts the unit"
fi

# The passwd and group the postinst would make, for `anylb -t` (global.user: anylb).
cp /etc/passwd "$work/passwd"
cp /etc/group "$work/group"
getent passwd anylb >/dev/null || echo 'anylb:x:64999:64999::/nonexistent:/usr/sbin/nologin' >>"$work/passwd"
getent group anylb >/dev/null || echo 'anylb:x:64999:' >>"$work/group"
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
out=$(unshare -m sh -c 'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group &&
	exec "$2/usr/sbin/anylb" -t -c "$2/etc/anylb/anylb.yaml"' sh "$work" "$root" 2>&1) ||
	fail "anylb -t on the shipped config: $out"

lint=$(lintian --fail-on error,warning "$deb" 2>&1 | grep -v "running with root privileges" || true)
[ -z "$lint" ] || fail "lintian: $lint"
echo "deb: ok ($(basename "$deb"), build ${build_s} s, total $((SECONDS - start)) s; lintian: ${lint:-clean})"
