#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/dkms-build.sh KERNEL [build|install]
#
# What a user's `sudo dkms install` does, against KERNEL's headers (fetched
# by fetch-kernel.sh), without touching the host: every dkms tree is private
# and lives in RIG_DKMS_DIR (check.sh gives each run its own; default
# $CACHE/dkms/<release>):
#   source/<name>-<version>/  the tree, copied (--sourcetree)
#   tree/                     dkms' own state, the build (--dkmstree)
#   install/<release>/        where `dkms install` puts the modules
#                             (--installtree; updates/dkms/ on Debian)
#   mok.key, mok.pub          the signing key dkms makes when the kernel has
#                             a sign-file (6.1 on this host), instead of
#                             /var/lib/dkms/mok.*
# depmod is left to whoever uses the install tree (--no-depmod: dkms would
# run `depmod -a <release>` on /lib/modules). For sid, dkms runs inside the
# sid chroot (its gcc); the debug kernel's build tree serves as its headers.
#
# build (default): fresh trees, `dkms add` + `dkms build`.
# install: `dkms install` of that build, then check that every module the
#   rig's own build made (RIG_BUILD_DIR, else bar_dmabuf and
#   bar_dmabuf_importer) is in install/<release>/updates/dkms/ with this
#   kernel's vermagic and that `dkms status` says installed. The guest then
#   loads these files (check.sh hands the directory to make-initramfs.sh as
#   RIG_DKMS_INSTALL).
# Both fail if anything appeared meanwhile in the host's (the chroot's for
# sid) /var/lib/dkms, /usr/src/<name>-<version> or /lib/modules/<release>.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: dkms-build.sh KERNEL [build|install]}
mode=${2:-build}
rig_load_kernel "$alias"
[ -f "$TREE_DIR/dkms.conf" ] || die "no dkms.conf in $TREE_DIR"
name=$(sed -n 's/^PACKAGE_NAME="\?\([^"]*\)"\?$/\1/p' "$TREE_DIR/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\?\([^"]*\)"\?$/\1/p' "$TREE_DIR/dkms.conf")
if [ -z "$name" ] || [ -z "$ver" ]; then
	die "dkms.conf lacks PACKAGE_NAME or PACKAGE_VERSION"
fi

base=${RIG_DKMS_DIR:-$CACHE/dkms/$KREL}
mkdir -p "$base"
base=$(cd "$base" && pwd)
dkms_opts=(--dkmstree "$base/tree" --sourcetree "$base/source" --installtree "$base/install")
# dkms takes its signing key's place from the environment when
# framework.conf does not set it (dkms 3.0.10 and 3.2.2 alike)
sign_env=("mok_signing_key=$base/mok.key" "mok_certificate=$base/mok.pub")

if [ "$KSUITE" = sid ]; then
	# the chroot sees only the cache, at the same path
	case $base/ in "$CACHE"/*) ;; *) die "RIG_DKMS_DIR must be under $CACHE for sid" ;; esac
	bash "$RIG_DIR/sid-chroot.sh" ensure >/dev/null
fi
# the root dkms sees as / (the chroot's for sid)
sysroot=
[ "$KSUITE" = sid ] && sysroot=$CACHE/chroot/sid

# dkms ARGS...: one dkms command, printed, in the chroot for sid.
dkms() {
	say "dkms-$mode" "dkms $*"
	if [ "$KSUITE" = sid ]; then
		bash "$RIG_DIR/sid-chroot.sh" run "$base" env "${sign_env[@]}" dkms "$@"
	else
		env "${sign_env[@]}" dkms "$@"
	fi
}

# host_untouched STAMP: nothing in the host's (the chroot's for sid) dkms
# places changed since STAMP; dkms is told to use the private trees only.
host_untouched() {
	local touched
	touched=$(find "$sysroot/var/lib/dkms" "$sysroot/usr/src/$name-$ver" \
		"$sysroot/lib/modules/$KREL/updates" "$sysroot/lib/modules/$KREL/modules.dep" \
		-newer "$1" 2>/dev/null || true)
	[ -z "$touched" ] && return 0
	say "dkms-$mode" "$alias: dkms wrote outside $base: $(echo "$touched" | tr '\n' ' ')"
	return 1
}

dkms_build() {
	rm -rf "$base/source" "$base/tree" "$base/install" "$base"/mok.*
	touch "$base/build.stamp"
	mkdir -p "$base/source/$name-$ver" "$base/tree" "$base/install"
	tar -C "$TREE_DIR" --exclude=.git --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
		--exclude='*.cmd' --exclude=./compat/generated -cf - . |
		tar -C "$base/source/$name-$ver" -xf -
	say dkms-build "$alias: dkms add + build $name/$ver for $KREL (KDIR $KDIR), trees in $base"
	dkms add -m "$name" -v "$ver" "${dkms_opts[@]}" >&2
	if ! dkms build -m "$name" -v "$ver" -k "$KREL" --kernelsourcedir "$KDIR" \
		"${dkms_opts[@]}" >&2; then
		find "$base/tree" -name make.log -exec tail -n 30 {} \; >&2
		die "dkms build failed for $KREL"
	fi
	find "$base/tree" -name '*.ko*' -printf '    dkms built %P\n' >&2
	host_untouched "$base/build.stamp" || die "dkms build for $KREL wrote outside its private trees"
}

# The modules a plain `make` of the tree built: dkms must install each.
expected_modules() {
	local built=
	if [ -n "${RIG_BUILD_DIR:-}" ] && [ -d "$RIG_BUILD_DIR/tree" ]; then
		built=$(find "$RIG_BUILD_DIR/tree" -name '*.ko' -printf '%f\n' | sed 's/\.ko$//' | sort -u)
	fi
	echo "${built:-bar_dmabuf bar_dmabuf_importer}"
}

dkms_install() {
	local lib=$base/install/$KREL stamp st m f vm bad=0
	[ -d "$base/tree/$name/$ver/$KREL" ] ||
		die "no dkms build of $name/$ver for $KREL in $base (run dkms-build.sh $alias build first)"
	rm -rf "$base/install"
	# dkms installs only into a kernel it finds in the install tree
	mkdir -p "$lib"
	stamp=$base/install.stamp
	touch "$stamp"
	say dkms-install "$alias: dkms install $name/$ver for $KREL into $base/install"
	if ! dkms install -m "$name" -v "$ver" -k "$KREL" --kernelsourcedir "$KDIR" \
		--no-depmod "${dkms_opts[@]}" >&2; then
		die "dkms install failed for $KREL"
	fi
	find "$lib" -type f -printf '    dkms installed %P\n' >&2
	for m in $(expected_modules); do
		f=$(find "$lib/updates/dkms" -maxdepth 1 -regex ".*/$m\.ko\(\.[gx]z\|\.zst\)?" 2>/dev/null | head -n1)
		if [ -z "$f" ]; then
			say dkms-install "$alias: NOT installed: $m (expected $lib/updates/dkms/$m.ko)"
			bad=1
			continue
		fi
		vm=$(modinfo -F vermagic "$f" || true)
		if [ "${vm%% *}" != "$KREL" ]; then
			say dkms-install "$alias: $f has vermagic '$vm', not for $KREL"
			bad=1
		fi
	done
	st=$(dkms status -m "$name" -v "$ver" -k "$KREL" "${dkms_opts[@]}" || true)
	printf '    %s\n' "$st" >&2
	if ! echo "$st" | grep -q ': installed'; then
		say dkms-install "$alias: dkms status does not say installed"
		bad=1
	fi
	host_untouched "$stamp" || bad=1
	[ "$bad" = 0 ] || die "dkms install for $KREL is not what a user would get"
	say dkms-install "$alias: ok: $(expected_modules | tr '\n' ' ')in $lib/updates/dkms"
}

case $mode in
build) dkms_build ;;
install) dkms_install ;;
*) die "usage: dkms-build.sh KERNEL [build|install]" ;;
esac
