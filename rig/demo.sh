#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/demo.sh        (what `make demo` runs)
#
# Boot the newest Debian kernel (sid; DEMO_KERNEL=6.1 etc. for another)
# under QEMU with the emulated PCI devices, load the exporter by BDF and show
# what it does (rig/guest/demo). Installs missing packages first.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

kernel=${DEMO_KERNEL:-sid}
bash "$RIG_DIR/install-deps.sh"
say demo "boot $kernel and load bar_dmabuf on the emulated devices"
exec bash "$RIG_DIR/vm-run.sh" "$kernel" "$RIG_DIR/guest/demo"
