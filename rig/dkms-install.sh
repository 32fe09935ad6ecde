#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/dkms-install.sh [KERNELRELEASE]   (what `sudo make dkms-install` runs)
#
# On a real machine, as root, for KERNELRELEASE (default: the running
# kernel), printing each command before it runs it:
#   dkms remove -m NAME -v VERSION --all   only if that version is registered
#                                          already
#   rm -rf /usr/src/NAME-VERSION           an earlier copy, if there is one
#   dkms add TREE                          copies this tree to /usr/src/NAME-VERSION
#   dkms build -m NAME -v VERSION -k KERNELRELEASE
#   dkms install -m NAME -v VERSION -k KERNELRELEASE
#                                          /lib/modules/KERNELRELEASE/updates/dkms/
#                                          and depmod; dkms rebuilds them for
#                                          every kernel installed later
# then shows where modprobe finds each module and what to run next:
#   modprobe bar_dmabuf bdf=0000:03:00.0
# NAME and VERSION come from dkms.conf. The rig's test of the same steps,
# in private trees, is rig/dkms-build.sh.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
krel=${1:-$(uname -r)}
name=$(sed -n 's/^PACKAGE_NAME="\?\([^"]*\)"\?$/\1/p' "$top/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\?\([^"]*\)"\?$/\1/p' "$top/dkms.conf")
modules=$(sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\?\([^"]*\)"\?$/\1/p' "$top/dkms.conf")

say() {
	echo "==> dkms-install: $*"
}

fail() {
	echo "dkms-install: $*" >&2
	exit 1
}

# run CMD...: print it, then run it
run() {
	echo "+ $*"
	"$@"
}

if [ -z "$name" ] || [ -z "$ver" ]; then
	fail "$top/dkms.conf lacks PACKAGE_NAME or PACKAGE_VERSION"
fi
[ "$(id -u)" = 0 ] || fail "run as root: sudo make dkms-install"
command -v dkms >/dev/null || fail "dkms is not installed: apt-get install dkms"
[ -e "/lib/modules/$krel/build" ] ||
	fail "no headers for $krel (/lib/modules/$krel/build): apt-get install linux-headers-$krel"

say "$name $ver for kernel $krel from $top"
if [ -n "$(dkms status -m "$name" -v "$ver")" ]; then
	say "$name/$ver is registered already: remove it first"
	run dkms remove -m "$name" -v "$ver" --all
fi
src=/usr/src/$name-$ver
if [ "$top" = "$src" ]; then
	# the tree is dkms' own source copy: register it in place
	run dkms add -m "$name" -v "$ver"
else
	if [ -e "$src" ]; then
		run rm -rf "$src"
	fi
	run dkms add "$top"
fi
run dkms build -m "$name" -v "$ver" -k "$krel"
run dkms install -m "$name" -v "$ver" -k "$krel"

say "installed; modprobe finds:"
for m in $modules; do
	f=$(modinfo -k "$krel" -n "$m" 2>/dev/null || true)
	echo "    $m: ${f:-NOT FOUND}"
	case $f in
	*/updates/dkms/*) ;;
	*) fail "$m is not the one dkms installed for $krel (depmod?)" ;;
	esac
done
if [ "$krel" != "$(uname -r)" ]; then
	say "done; after booting $krel: modprobe bar_dmabuf bdf=<dddd:bb:dd.f>"
elif [ -d /sys/module/bar_dmabuf ] || [ -d /sys/module/bar_dmabuf_importer ]; then
	say "done; an older build is loaded: modprobe -r bar_dmabuf_importer bar_dmabuf, then"
	say "modprobe bar_dmabuf bdf=<dddd:bb:dd.f>"
else
	say "done; now: modprobe bar_dmabuf bdf=<dddd:bb:dd.f> (the device must be unbound from any driver)"
fi
