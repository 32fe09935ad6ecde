#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/dkms-build.sh KERNEL
#
# `dkms add` + `dkms build` of the tree against KERNEL's headers (fetched by
# fetch-kernel.sh), the way a user's machine would, but with dkms' trees
# under the cache (--dkmstree/--sourcetree/--installtree) so the host's
# dkms state is not touched. For sid it runs inside the sid chroot.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: dkms-build.sh KERNEL}
rig_load_kernel "$alias"
[ -f "$TREE_DIR/dkms.conf" ] || die "no dkms.conf in $TREE_DIR"
name=$(sed -n 's/^PACKAGE_NAME="\?\([^"]*\)"\?$/\1/p' "$TREE_DIR/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\?\([^"]*\)"\?$/\1/p' "$TREE_DIR/dkms.conf")
if [ -z "$name" ] || [ -z "$ver" ]; then
	die "dkms.conf lacks PACKAGE_NAME or PACKAGE_VERSION"
fi

base=$CACHE/dkms/$KREL
rm -rf "$base"
mkdir -p "$base/source/$name-$ver" "$base/tree" "$base/install"
tar -C "$TREE_DIR" --exclude=.git --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
	--exclude='*.cmd' --exclude=./compat/generated -cf - . |
	tar -C "$base/source/$name-$ver" -xf -

dkms_opts=(--dkmstree "$base/tree" --sourcetree "$base/source" --installtree "$base/install")
say dkms-build "$alias: dkms add + build $name/$ver for $KREL (KDIR $KDIR)"
if [ "$KSUITE" = sid ]; then
	bash "$RIG_DIR/sid-chroot.sh" ensure >/dev/null
fi
run() {
	if [ "$KSUITE" = sid ]; then
		bash "$RIG_DIR/sid-chroot.sh" run "$base" "$@"
	else
		"$@"
	fi
}
run dkms add -m "$name" -v "$ver" "${dkms_opts[@]}" >&2
if ! run dkms build -m "$name" -v "$ver" -k "$KREL" --kernelsourcedir "$KDIR" \
	"${dkms_opts[@]}" >&2; then
	find "$base/tree" -name make.log -exec tail -n 30 {} \; >&2
	die "dkms build failed for $KREL"
fi
find "$base/tree" -name '*.ko*' -printf '    dkms built %P\n' >&2
