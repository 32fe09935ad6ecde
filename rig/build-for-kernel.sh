#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/build-for-kernel.sh KERNEL
#
# Copy the working tree into $CACHE/build/<release>/tree and build there:
# the modules with `make KDIR=<kbuild dir>` (inside the sid chroot for sid's
# kernel), then the selftests with `make -C selftests LDFLAGS=-static` when
# selftests/Makefile exists, and tools/ (bar-dmabuf and the demo, bench) likewise. The copy keeps the source tree clean and lets
# several kernels build side by side.
#
# RIG_REQUIRE_MODULES=1 (set by check.sh): a tree without src/Kbuild is an
# error; otherwise it is a note and only the selftests are built.
# Extra make arguments go in RIG_MAKEFLAGS (e.g. "W=1").

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: build-for-kernel.sh KERNEL}
rig_load_kernel "$alias"

# RIG_BUILD_DIR: where to build (vm-run.sh and check.sh give each run its
# own, so runs in parallel never share a tree).
out=${RIG_BUILD_DIR:-$CACHE/build/$KREL}
tree=$out/tree
say build-for-kernel "$alias ($KREL): copy $TREE_DIR to $tree"
rm -rf "$tree"
mkdir -p "$tree"
tar -C "$TREE_DIR" --exclude=.git --exclude=./build \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod*' --exclude='*.cmd' \
	--exclude=./compat/generated -cf - . | tar -C "$tree" -xf -

# rig_make DIR ARGS...: make for this kernel; in the sid chroot for sid.
rig_make() {
	if [ "$KSUITE" = sid ]; then
		bash "$RIG_DIR/sid-chroot.sh" run "$tree" make "$@"
	else
		make "$@"
	fi
}

[ "$KSUITE" = sid ] && bash "$RIG_DIR/sid-chroot.sh" ensure >/dev/null

if [ -f "$tree/src/Kbuild" ] || [ -f "$tree/importer/Kbuild" ]; then
	say build-for-kernel "$alias: make KDIR=$KDIR ${RIG_MAKEFLAGS:-}"
	# shellcheck disable=SC2086
	(cd "$tree" && rig_make KDIR="$KDIR" ${RIG_MAKEFLAGS:-}) ||
		die "module build failed for $KREL"
	find "$tree" -name '*.ko' -printf '    built %P\n' >&2
elif [ "${RIG_REQUIRE_MODULES:-0}" = 1 ]; then
	die "no src/Kbuild or importer/Kbuild: nothing to build"
else
	say build-for-kernel "$alias: note: no modules in the tree yet (no src/Kbuild)"
fi

if [ -f "$tree/selftests/Makefile" ]; then
	say build-for-kernel "$alias: make -C selftests LDFLAGS=-static"
	if ! (cd "$tree" && make -C selftests LDFLAGS=-static); then
		[ "${RIG_REQUIRE_MODULES:-0}" = 1 ] && die "selftest build failed"
		say build-for-kernel "$alias: NOTE: selftest build FAILED; booting without them"
	fi
else
	say build-for-kernel "$alias: note: no selftests/Makefile yet"
fi

if [ -f "$tree/tools/Makefile" ]; then
	say build-for-kernel "$alias: make -C tools LDFLAGS=-static"
	(cd "$tree" && make -C tools LDFLAGS=-static) || die "tools build failed"
fi
