#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/dkms-install.sh [KERNELRELEASE]   (what `make dkms-install` runs)
#
# On a real machine, as root: register this tree with dkms and build and
# install both modules for KERNELRELEASE (default: the running kernel).
# Afterwards: modprobe bar_dmabuf bdf=0000:03:00.0
# An earlier registration of the same version is removed first.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
krel=${1:-$(uname -r)}
name=$(sed -n 's/^PACKAGE_NAME="\?\([^"]*\)"\?$/\1/p' "$top/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\?\([^"]*\)"\?$/\1/p' "$top/dkms.conf")

[ "$(id -u)" = 0 ] || { echo "dkms-install: run as root (sudo make dkms-install)" >&2; exit 1; }
command -v dkms >/dev/null || { echo "dkms-install: install dkms first (apt-get install dkms)" >&2; exit 1; }
[ -d "/lib/modules/$krel/build" ] ||
	{ echo "dkms-install: no headers for $krel: apt-get install linux-headers-$krel" >&2; exit 1; }

echo "==> dkms-install: $name/$ver for $krel from $top"
if dkms status -m "$name" -v "$ver" | grep -q .; then
	echo "==> dkms-install: removing the earlier $name/$ver"
	dkms remove -m "$name" -v "$ver" --all
fi
dkms add "$top"
dkms build -m "$name" -v "$ver" -k "$krel"
dkms install -m "$name" -v "$ver" -k "$krel"
echo "==> dkms-install: done; now: modprobe bar_dmabuf bdf=<dddd:bb:dd.f>"
