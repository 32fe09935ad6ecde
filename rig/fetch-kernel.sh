#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/fetch-kernel.sh KERNEL
#
# Resolve the newest kernel of KERNEL's suite from the linux-image-amd64 and
# linux-headers-amd64 metapackages, download the image and headers debs with
# apt-get download, and extract them under the cache. Records what it found
# in $CACHE/kernels/alias-KERNEL.env (see rig_load_kernel in lib.sh).
# KERNEL=debug is built instead (rig/build-debug-kernel.sh).

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: fetch-kernel.sh KERNEL}
suite=$(rig_suite_of "$alias")

if [ "$suite" = debug ]; then
	exec bash "$RIG_DIR/build-debug-kernel.sh"
fi

mkdir -p "$CACHE/locks"
exec 7>"$CACHE/locks/fetch-kernel-$suite"
flock 7
rig_apt_setup "$suite"
rig_apt_update "$suite"

img=$(rig_apt_depends linux-image-amd64 | grep '^linux-image-' | head -n1) ||
	die "linux-image-amd64 in $suite depends on no linux-image-* package"
hdr=$(rig_apt_depends linux-headers-amd64 | grep '^linux-headers-' | head -n1) ||
	die "linux-headers-amd64 in $suite depends on no linux-headers-* package"
krel=${img#linux-image-}
krel=${krel%-unsigned}
[ "${hdr#linux-headers-}" = "$krel" ] ||
	die "image ($img) and headers ($hdr) metapackages disagree in $suite"

case $alias in
6.* | 7.*)
	case $krel in
	"$alias".*) ;;
	*) say fetch-kernel "note: $alias resolves to $krel (newest in $suite)" ;;
	esac
	;;
esac

# The image and headers packages and the parts of them that live in other
# packages (sid splits the image into linux-binary-*, linux-modules-*, ...).
pkgs="$img $hdr"
for d in $(rig_apt_depends "$img"); do
	case $d in
	linux-binary-* | linux-modules-* | linux-image-* | linux-base-*-*) pkgs="$pkgs $d" ;;
	esac
done
for d in $(rig_apt_depends "$hdr"); do
	case $d in
	linux-headers-* | linux-kbuild-*)
		pkgs="$pkgs $d"
		for dd in $(rig_apt_depends "$d"); do
			case $dd in linux-kbuild-*) pkgs="$pkgs $dd" ;; esac
		done
		;;
	esac
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | sort -u | tr '\n' ' ')

kdir=$CACHE/kernels/$krel
if [ "$(cat "$kdir/.done" 2>/dev/null)" = "$pkgs" ]; then
	say fetch-kernel "$alias: $krel already in $kdir"
else
	say fetch-kernel "$alias: $krel from $suite: $pkgs"
	rm -rf "$kdir"
	mkdir -p "$kdir/debs" "$kdir/root"
	# shellcheck disable=SC2086
	(cd "$kdir/debs" && apt-get download -q -o APT::Sandbox::User=root $pkgs) ||
		die "apt-get download failed for: $pkgs"
	for deb in "$kdir"/debs/*.deb; do
		say fetch-kernel "extract $(basename "$deb")"
		dpkg-deb -x "$deb" "$kdir/root"
	done
	rm -rf "$kdir/debs"
	echo "$pkgs" >"$kdir/.done"
fi

build=$kdir/root/usr/src/$hdr
# Debian's headers Makefile names the -common tree (and KBUILD_OUTPUT) by
# absolute path: point them into the extraction (idempotent).
sed -i "s|\([ =]\)/usr/src/|\1$kdir/root/usr/src/|g" "$build/Makefile"
[ -f "$build/Makefile" ] || die "no kbuild tree at $build"
image=
for f in boot/vmlinuz-$krel usr/lib/modules/$krel/vmlinuz lib/modules/$krel/vmlinuz; do
	[ -f "$kdir/root/$f" ] && image=$kdir/root/$f && break
done
[ -n "$image" ] || die "no kernel image (vmlinuz) in $kdir/root"
kmods=$kdir/root/lib/modules/$krel
[ -d "$kmods" ] || kmods=$kdir/root/usr/lib/modules/$krel
cat >"$(rig_alias_env "$alias")" <<EOF
KALIAS=$alias
KSUITE=$suite
KREL=$krel
KIMAGE=$image
KDIR=$build
KROOT=$kdir/root
KMODS=$kmods
EOF
say fetch-kernel "$alias: KREL=$krel KDIR=$build"
