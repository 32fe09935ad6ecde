#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/install-check.sh     (a stage of `make check`, on the host)
#
# `make install` and `make uninstall` of a copy of the tree into a scratch
# DESTDIR, twice: with the defaults (PREFIX=/usr/local) and with PREFIX=/usr
# plus UDEVDIR/MODPROBEDIR as a package sets them. After install every file
# must be where bar-dmabuf(8) and the Makefile say, with its mode; the
# installed headers must compile from the installed include directory; the
# installed bar-dmabuf must run; nothing may land outside DESTDIR. After
# uninstall no file may be left. The host's own directories are never
# written to.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$CACHE/build"
work=$(mktemp -d "$CACHE/build/install-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree"
tar -C "$TREE_DIR" --exclude=.git --exclude=./build --exclude='*.o' --exclude='*.ko' \
	--exclude='*.mod*' --exclude='*.cmd' --exclude=./compat/generated \
	--exclude=./tools/bar-dmabuf -cf - . | tar -C "$tree" -xf -
bad=0
no() {
	say install-check "FAIL: $*"
	bad=$((bad + 1))
}

# one_round NAME PREFIX UDEVDIR MODPROBEDIR [MAKE ARGS...]
one_round() {
	local name=$1 prefix=$2 udev=$3 modprobe=$4 dest f mode want
	shift 4
	dest=$work/dest-$name
	say install-check "$name: make install DESTDIR=$dest $*"
	(cd "$tree" && make -s install DESTDIR="$dest" "$@") >"$work/$name.log" 2>&1 ||
		{ no "$name: make install failed: $(tail -n 5 "$work/$name.log")"; return; }
	for want in "755 $prefix/sbin/bar-dmabuf" "644 $prefix/share/man/man8/bar-dmabuf.8" \
		"644 $prefix/include/linux/bar_dmabuf.h" \
		"644 $prefix/include/linux/bar_dmabuf_importer.h" \
		"644 $udev/60-bar-dmabuf.rules" "644 $modprobe/bar-dmabuf.conf"; do
		mode=${want%% *}
		f=$dest${want#* }
		if [ ! -f "$f" ]; then
			no "$name: no ${want#* } under DESTDIR"
		elif [ "$(stat -c %a "$f")" != "$mode" ]; then
			no "$name: ${want#* } has mode $(stat -c %a "$f"), not $mode"
		fi
	done
	[ "$(find "$dest" -type f | wc -l)" = 6 ] ||
		no "$name: install put $(find "$dest" -type f | wc -l) files, not 6: $(find "$dest" -type f)"
	cmp -s "$tree/tools/bar-dmabuf.8" "$dest$prefix/share/man/man8/bar-dmabuf.8" ||
		no "$name: the installed man page differs from tools/bar-dmabuf.8"
	printf '#include <linux/bar_dmabuf.h>\n#include <linux/bar_dmabuf_importer.h>\nint main(void) { return BAR_DMABUF_IOCTL_INFO == BAR_DMABUF_IMP_IOCTL_ATTACH; }\n' >"$work/h.c"
	gcc -Wall -Werror -I"$dest$prefix/include" -o "$work/h" "$work/h.c" >>"$work/$name.log" 2>&1 ||
		no "$name: the installed headers do not compile: $(tail -n 3 "$work/$name.log")"
	"$dest$prefix/sbin/bar-dmabuf" --help >/dev/null 2>&1 ||
		no "$name: the installed bar-dmabuf --help failed"
	! ldd "$dest$prefix/sbin/bar-dmabuf" >/dev/null 2>&1 ||
		no "$name: the installed bar-dmabuf is not static"

	(cd "$tree" && make -s uninstall DESTDIR="$dest" "$@") >>"$work/$name.log" 2>&1 ||
		no "$name: make uninstall failed"
	[ -z "$(find "$dest" -type f)" ] ||
		no "$name: make uninstall left: $(find "$dest" -type f | tr '\n' ' ')"
}

one_round default /usr/local /etc/udev/rules.d /etc/modprobe.d
one_round package /usr /usr/lib/udev/rules.d /etc/modprobe.d PREFIX=/usr \
	UDEVDIR=/usr/lib/udev/rules.d
[ "$bad" = 0 ] || die "install-check: $bad problem(s)"
say install-check "make install/uninstall with DESTDIR and PREFIX: all in place, all removed"
