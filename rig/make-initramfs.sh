#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/make-initramfs.sh KERNEL GUEST_SCRIPT OUTPUT.cpio.gz ENVFILE
#
# Pack the guest: busybox-static, rig/guest/* (init, hotplug, aer, hostfile-check, demo),
# our modules (plus the distro modules they depend on, and RIG_EXTRA_MODULES,
# default "vgem vfio-pci vfio_iommu_type1": conformance_test's foreign
# exporters, when the kernel has them) with depmod run, the built selftests/
# directory as /selftests, tools/'s executables in /usr/bin, the guest
# script as /rig/guest-script and ENVFILE
# as /rig/env. Dynamically linked binaries get their libraries copied in.
# The modules and selftests come from RIG_BUILD_DIR (see build-for-kernel.sh);
# the modules go to /lib/modules/<release>/extra.
# RIG_DKMS_INSTALL=DIR (check.sh, after dkms-build.sh install): our modules
# are instead the files `dkms install` put in DIR (<install tree>/<release>),
# at the same place under /lib/modules/<release> (updates/dkms/), and
# /rig/dkms-modules lists "NAME PATH BUILD-ID" of each for the guest's check
# (rig/guest/run-suite) that modprobe loads exactly those files.

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: make-initramfs.sh KERNEL GUEST_SCRIPT OUTPUT ENVFILE}
script=${2:?guest script}
output=${3:?output file}
envfile=${4:?env file}
rig_load_kernel "$alias"

tree=${RIG_BUILD_DIR:-$CACHE/build/$KREL}/tree
stage=$(mktemp -d "${TMPDIR:-/tmp}/bar-dmabuf-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
say make-initramfs "$alias: $output"

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,rig,root}
lib=$stage/lib/modules/$KREL
mkdir -p "$lib"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is not static: install busybox-static"
cp /bin/busybox "$stage/bin/busybox"
cp "$RIG_DIR"/guest/init "$stage/init"
cp "$RIG_DIR"/guest/hotplug "$RIG_DIR"/guest/aer "$RIG_DIR"/guest/hostfile-check \
	"$RIG_DIR"/guest/demo "$stage/rig/"
cp "$script" "$stage/rig/guest-script"
cp "$envfile" "$stage/rig/env"
chmod 755 "$stage/init" "$stage/rig/"*

# unpack SRC DST: copy a module, decompressed (busybox modprobe may not
# read compressed ones); DST is the name without the compression suffix.
unpack() {
	mkdir -p "$(dirname "$2")"
	case $1 in
	*.xz) xz -dc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*.zst) zstd -qdc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

# hex of a module's GNU build-id note, as the guest sees it in
# /sys/module/NAME/notes/.note.gnu.build-id (empty if it has none)
build_id_hex() {
	local tmp
	tmp=$(mktemp)
	objcopy -O binary --only-section=.note.gnu.build-id "$1" "$tmp" 2>/dev/null || : >"$tmp"
	od -An -v -tx1 "$tmp" | tr -d ' \n'
	rm -f "$tmp"
}

# Our modules: what `dkms install` installed, or what the build made.
if [ -n "${RIG_DKMS_INSTALL:-}" ]; then
	[ -d "$RIG_DKMS_INSTALL" ] || die "RIG_DKMS_INSTALL=$RIG_DKMS_INSTALL is not a directory"
	say make-initramfs "$alias: our modules as dkms installed them in $RIG_DKMS_INSTALL"
	: >"$stage/rig/dkms-modules"
	while read -r f; do
		dst=$lib/${f%.[gx]z}
		dst=${dst%.zst}
		unpack "$RIG_DKMS_INSTALL/$f" "$dst"
		m=$(basename "$dst" .ko)
		echo "$m ${dst#"$stage"} $(build_id_hex "$dst")" >>"$stage/rig/dkms-modules"
	done < <(cd "$RIG_DKMS_INSTALL" && find . -type f -regex '.*\.ko\(\.[gx]z\|\.zst\)?' -printf '%P\n' | sort)
	[ -s "$stage/rig/dkms-modules" ] || die "no modules in $RIG_DKMS_INSTALL"
else
	mkdir -p "$lib/extra"
	find "$tree" -name '*.ko' -exec cp {} "$lib/extra/" \; 2>/dev/null || true
fi
mods=$(find "$lib" -name '*.ko')

# Distro modules: ours may need some, and the tests may want RIG_EXTRA_MODULES.
kmods=${KMODS:?}
if [ -d "$kmods/kernel" ]; then
	if [ ! -f "$kmods/modules.dep" ]; then
		say make-initramfs "depmod for the distro modules of $KREL (once)"
		depmod -b "${kmods%/lib/modules/"$KREL"}" "$KREL"
	fi
	# names whose closure we want: our dependencies + extras
	want=${RIG_EXTRA_MODULES-vgem vfio-pci vfio_iommu_type1}
	for m in $mods; do
		want="$want $(modinfo -F depends "$m" | tr ',' ' ')"
	done
	# virtio_gpu_test's importers: virtio-gpu (and virtio-pci under it,
	# unless built in)
	want="$want ${RIG_GPU_MODULES-virtio-gpu virtio_pci}"
	files=
	for w in $want; do
		line=$(grep -E "(^|/)${w//_/[_-]}\.ko(\.[gx]z|\.zst)?:" "$kmods/modules.dep" || true)
		[ -n "$line" ] || continue
		files="$files ${line%%:*} ${line#*:}"
	done
	for f in $(echo "$files" | tr ' ' '\n' | sort -u); do
		dst=$lib/${f%.[gx]z}
		unpack "$kmods/$f" "${dst%.zst}"
	done
	cp "$kmods"/modules.builtin* "$kmods"/modules.order "$lib/" 2>/dev/null || true
fi
depmod -b "$stage" "$KREL"
find "$lib" -name '*.ko' -printf '    module %P\n' >&2

# Selftests: the whole built directory, so its runner finds its binaries.
if [ -d "$tree/selftests" ]; then
	cp -a "$tree/selftests" "$stage/selftests"
fi

# The project's tools (bar-dmabuf, bar-dmabuf-demo, bar-dmabuf-bench) on the PATH.
if [ -d "$tree/tools" ]; then
	find "$tree/tools" -maxdepth 1 -type f -perm -u+x ! -name '*.sh' \
		-exec cp {} "$stage/usr/bin/" \;
fi

# Libraries of any dynamically linked executable (static is preferred).
find "$stage/selftests" "$stage/usr/bin" -type f -perm -u+x 2>/dev/null | while read -r f; do
	{ ldd "$f" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done

mkdir -p "$(dirname "$output")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$output"
say make-initramfs "$alias: $(du -h "$output" | cut -f1) packed"
