#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/fetch-kernel-tools.sh [--tree]
#
# Take the few kernel files the project builds and lints with from Debian's
# newest linux-source-* package in sid (private apt under the cache), never
# from copies in the repository:
#   scripts/checkpatch.pl, spelling.txt, const_structs.checkpatch,
#   scripts/kernel-doc (+ tools/docs/kernel-doc*, tools/lib/python/),
#   tools/testing/selftests/kselftest_harness.h, kselftest.h
#   include/uapi/drm/{drm,drm_mode,virtgpu_drm}.h, linux/bits.h (raw, with
#   __user): virtio_gpu_test's, as the host may have no DRM uapi headers;
#   the selftests take them last (-idirafter)
# With KSRC=/path/to/linux they come from that tree instead (nothing copied).
#
# Output contract (stdout, one line; progress goes to stderr):
#   default  the directory holding kselftest_harness.h and kselftest.h
#            (<tree>/tools/testing/selftests)
#   --tree   the root of that (partial) kernel tree: <tree>/scripts/checkpatch.pl
# Exit non-zero, printing nothing on stdout, when the files cannot be had.

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

want=selftests
[ "${1:-}" = --tree ] && want=tree

files="scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch
scripts/kernel-doc tools/testing/selftests/kselftest_harness.h
tools/testing/selftests/kselftest.h
include/uapi/drm/drm.h include/uapi/drm/drm_mode.h include/uapi/drm/virtgpu_drm.h
include/uapi/linux/bits.h"

emit() {
	if [ "$want" = tree ]; then
		echo "$1"
	else
		echo "$1/tools/testing/selftests"
	fi
}

if [ -n "${KSRC:-}" ]; then
	for f in $files; do
		[ -e "$KSRC/$f" ] || die "KSRC=$KSRC has no $f"
	done
	emit "$(cd "$KSRC" && pwd)"
	exit 0
fi

read -r pkg ver deb <<EOF
$(rig_linux_source_deb)
EOF
[ -f "$deb" ] || exit 1

dir=$CACHE/tools/${pkg}_$ver
exec 6>"$CACHE/locks/tools"
flock 6
# (again when a file was added to the list since)
missing=
for f in $files; do
	[ -e "$dir/$f" ] || missing=1
done
if [ ! -f "$dir/.done" ] || [ -n "$missing" ]; then
	say fetch-kernel-tools "extract checkpatch, kernel-doc, kselftest headers from $(basename "$deb")"
	rm -rf "$dir"
	mkdir -p "$dir"
	inner=./usr/src/$pkg.tar.xz
	top=$pkg
	# shellcheck disable=SC2046 # the member list is split on purpose
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$inner" | nice -n 10 xz -dc |
		tar -x -C "$dir" --strip-components=1 --wildcards \
			$(for f in $files; do echo "$top/$f"; done) \
			"$top/tools/docs/kernel-doc*" "$top/tools/lib/python/*" ||
		die "extracting from $deb failed"
	for f in $files; do
		[ -e "$dir/$f" ] || die "$deb has no $f"
	done
	touch "$dir/.done"
fi
emit "$dir"
