#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/sid-chroot.sh ensure
#        rig/sid-chroot.sh run DIR COMMAND...
#
# sid's kernel is built with sid's gcc and its kbuild tools need sid's libc,
# so modules for it are built in an mmdebstrap chroot of sid holding what
# sid's headers packages depend on (gcc-N, pahole, libelf, ...) plus make
# and dkms (for dkms-build.sh).
# The chroot lives in $CACHE/chroot/sid and is made once (rebuilt when the
# package list changes). "run" bind-mounts the cache at the same path inside
# (so KDIR and the build tree keep their paths), plus /proc and /dev, in a
# private mount namespace, and runs COMMAND in DIR.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

root=$CACHE/chroot/sid

sid_chroot_ensure() {
	local mirror incl pkgs d
	rig_apt_setup sid
	rig_apt_update sid
	# what sid's headers need to be used, without the linux-* packages themselves
	pkgs=
	for d in $(rig_apt_depends linux-headers-amd64); do
		case $d in linux-headers-*) pkgs="$pkgs $(rig_apt_depends "$d")" ;; esac
	done
	incl=
	for d in $pkgs $(for p in $pkgs; do case $p in linux-kbuild-*) rig_apt_depends "$p" ;; esac; done); do
		case $d in linux-* | gcc-*-for-host) ;; *) incl="$incl,$d" ;; esac
	done
	# gcc-N-for-host is a virtual package: ask for gcc-N itself
	for d in $pkgs; do
		case $d in gcc-*-for-host) incl="$incl,${d%-for-host}" ;; esac
	done
	incl="make,libc6-dev,bc,kmod,dkms$(echo "$incl" | tr ',' '\n' | sort -u | tr '\n' ',' | sed 's/,$//')"
	if [ -f "$root/.done" ] && [ "$(cat "$root/.done")" = "$incl" ]; then
		return 0
	fi
	mirror=$(rig_host_mirror)
	say sid-chroot "mmdebstrap sid into $root with $incl"
	rm -rf "$root"
	mkdir -p "$(dirname "$root")"
	(unset APT_CONFIG &&
		nice -n 10 mmdebstrap --quiet --variant=apt --include="$incl" \
			--aptopt='Acquire::Check-Valid-Until "false"' \
			sid "$root" "deb [check-valid-until=no] $mirror sid main") >&2 ||
		die "mmdebstrap of sid failed"
	echo "$incl" >"$root/.done"
}

case ${1:-} in
ensure)
	exec 7>"$CACHE/locks/sid-chroot" 2>/dev/null || {
		mkdir -p "$CACHE/locks"
		exec 7>"$CACHE/locks/sid-chroot"
	}
	flock 7
	sid_chroot_ensure
	echo "$root"
	;;
run)
	dir=${2:?usage: sid-chroot.sh run DIR COMMAND...}
	shift 2
	[ -f "$root/.done" ] || die "no sid chroot yet: run rig/sid-chroot.sh ensure"
	say sid-chroot "in $root: (cd $dir && $*)"
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare -m --propagation private bash -c '
		set -e
		root=$1 cache=$2 dir=$3
		shift 3
		mkdir -p "$root$cache"
		mount --bind "$cache" "$root$cache"
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$dir" "$@"
	' bash "$root" "$CACHE" "$dir" "$@"
	;;
*)
	die "usage: sid-chroot.sh ensure | run DIR COMMAND..."
	;;
esac
