#!/bin/bash
# Builds the outpost Debian package from the working tree and checks it with lintian.
#
#   pkg/build-deb.sh            -> pkg/out/outpost_<version>_<arch>.deb (+ dbgsym, .changes,
#                                  .buildinfo, build.log, lintian.txt, snapshot-time)
#
# The tree is copied into a scratch directory with pkg/debian/ as its debian/, so the build
# never writes into the work tree (dh's cmake build dir, obj-<triplet>/, lives there too).
# Tracked and untracked-but-not-ignored files are copied: the package is what is in the
# tree now, committed or not. Fails on a build failure or on any lintian error (E:);
# lintian warnings are printed.
#
# Environment: KEEP=1 keeps the scratch directory; OUT=dir overrides pkg/out.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/pkg/out}

version=$(dpkg-parsechangelog -l "$repo/pkg/debian/changelog" -S Version)
cmake_version=$(sed -n 's/^project(outpost VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
if [ -n "$cmake_version" ] && [ "${version%%[-+~]*}" != "$cmake_version" ]; then
	echo "build-deb: pkg/debian/changelog says $version but CMakeLists.txt says $cmake_version;" \
	     "add a changelog entry (dch -v $cmake_version)" >&2
	exit 1
fi

scratch=$(mktemp -d /tmp/outpost-deb.XXXXXX)
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then echo "build-deb: kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
src=$scratch/outpost-$version
mkdir -p "$src"

echo "build-deb: copying the tree to $src"
snapshot_at=$(date +%s)
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Listed files that were deleted in the work tree are skipped, not fatal.
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	(cd "$repo" && tar --exclude='./build' --exclude='./build-*' --exclude='./pkg/out' \
		--exclude='./.git' --exclude='./tests/results' -cf - .) | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$repo/pkg/debian" "$src/debian"

mkdir -p "$out"
rm -f "$out"/outpost_*.deb "$out"/outpost-dbgsym_*.deb "$out"/outpost_*.changes \
      "$out"/outpost_*.buildinfo "$out"/lintian.txt "$out"/snapshot-time

echo "build-deb: dpkg-buildpackage (log: $out/build.log)"
export DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (full log: $out/build.log)" >&2
	exit 1
fi

cp "$scratch"/outpost_*.deb "$scratch"/outpost_*.changes "$scratch"/outpost_*.buildinfo "$out"/
cp "$scratch"/outpost-dbgsym_*.deb "$out"/ 2>/dev/null || true
deb=$(ls "$out"/outpost_"$version"_*.deb)
# The package holds the tree as it was when copied: files changed after that are newer than
# this stamp (tests/integration/test_package.py rebuilds then), even if older than the .deb.
touch -d "@$snapshot_at" "$out/snapshot-time"
echo "build-deb: built $deb"

# lintian exits non-zero on errors (its default --fail-on=error); warnings are shown too.
echo "build-deb: lintian"
status=0
lintian --display-info --pedantic "$deb" >"$out/lintian.txt" 2>&1 || status=$?
cat "$out/lintian.txt"
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ]; then
	echo "build-deb: lintian reports $errors error(s) (exit $status)" >&2
	exit 1
fi
echo "build-deb: lintian: no errors"
