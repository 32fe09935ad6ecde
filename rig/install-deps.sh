#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/install-deps.sh [PACKAGE...]
#
# Install (with apt-get, from the host's own Debian suites) whatever the rig
# needs and is missing, and the PACKAGEs a caller adds (make bench: gnuplot).
# Runs `apt-get update` once first when something is missing. Needs root;
# without it, only says what is missing.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

pkgs="qemu-system-x86 busybox-static mmdebstrap sparse dkms flex bison bc
libelf-dev libssl-dev cpio zstd xz-utils gzip kmod gcc make libc6-dev python3
perl dwarves util-linux $*"

missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in *" installed") ;; *) missing="$missing $p" ;; esac
done
if [ -z "$missing" ]; then
	echo "==> install-deps: everything present" >&2
	exit 0
fi
echo "==> install-deps: missing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
	echo "rig: error: run as root, or: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "==> install-deps: installed$missing" >&2
