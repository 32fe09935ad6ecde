#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/vm-run.sh KERNEL [GUEST_SCRIPT]
#
# The dev loop: fetch KERNEL (6.1, 6.12, 7.2 (or 7, sid), debug), build the
# modules and selftests for it, pack an initramfs with GUEST_SCRIPT, boot it
# under QEMU and print the guest console. GUEST_SCRIPT runs as root (busybox
# sh) with the modules installed (not loaded) and this environment:
#   BAR_DMABUF_BDF           ivshmem0, the device to export    (0000:01:00.0)
#   BAR_DMABUF_BDF2          ivshmem1, a second one            (0000:02:00.0)
#   BAR_DMABUF_IMPORTER_BDF  QEMU's edu device                 (0000:03:00.0)
#   BAR_DMABUF_IOBAR_BDF     pci-testdev, has an I/O BAR       (0000:04:00.0)
#   BAR_DMABUF_SW_BDF        ivshmem2, below a PCIe switch       (0000:07:00.0)
#   BAR_DMABUF_SW_IMPORTER_BDF  a second edu, below the same switch (0000:08:00.0)
#   BAR_DMABUF_VFIO_BDF      ivshmem3, for vfio-pci (conformance_test) (0000:09:00.0)
#   BAR_DMABUF_HOTPLUG       /rig/hotplug: `$BAR_DMABUF_HOTPLUG del|add`
#                            unplugs/replugs ivshmem0 and waits for sysfs
#   BAR_DMABUF_AER           /rig/aer: `$BAR_DMABUF_AER [fatal|nonfatal] [BDF]`
#                            injects an AER error at the root port above
#                            ivshmem0 (or the switch) and waits for the
#                            kernel's recovery
#   BAR_DMABUF_HOSTFILE_CHECK, BAR_DMABUF_HOSTFILE
#                            /rig/hostfile-check: `... OFFSET HEXBYTES` has
#                            the host compare ivshmem0's BAR2 backing file
#   BAR_DMABUF_P2PDMA        y|n: the kernel has CONFIG_PCI_P2PDMA (the
#                            rig's CPU model makes its path provable)
#   RIG_KERNEL               the KERNEL alias
#   BAR_DMABUF_GPU_BDF       virtio-gpu gpu0, blob resources if
#                            BAR_DMABUF_GPU_BLOB=y (6.14+)  (0000:0a:00.0)
#   BAR_DMABUF_GPU_PLAIN_BDF virtio-gpu gpu1, never blob     (0000:0b:00.0)
# The selftests are in /selftests. Without GUEST_SCRIPT: list the PCI devices.
#
# On the debug kernel, after GUEST_SCRIPT: kmemleak scans (must find
# nothing) and the DMA-API debug error count (must be 0).
#
# Exit status: 0 all good; 1 the guest script failed; 2 kernel warnings in
# the guest log, a kmemleak report or DMA-API errors; 3 timeout or no exit status from the guest; 4 a host-side
# check (host file, screendump, QEMU trace) failed; 5 fetch/build/pack failed. The run's files stay in
# $CACHE/runs/<release>/<n>/ (console.log, result, *.bar, qemu.cmd).

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: vm-run.sh KERNEL [GUEST_SCRIPT]}
script=${2:-}
if [ -z "$script" ]; then
	script=$(mktemp)
	trap 'rm -f "$script"' EXIT
	cat >"$script" <<-'EOF'
		echo "PCI devices:"
		for d in /sys/bus/pci/devices/*; do
			echo "  ${d##*/} $(cat $d/vendor):$(cat $d/device) class $(cat $d/class)"
		done
	EOF
fi
[ -f "$script" ] || die "no guest script $script"

# Each run builds in its own directory, so runs can go in parallel.
bash "$RIG_DIR/fetch-kernel.sh" "$alias" || exit 5
rig_load_kernel "$alias"

base=$CACHE/runs/$KREL
mkdir -p "$base"
n=$(mktemp -d "$base/run.XXXXXX")
export RIG_BUILD_DIR=$n/build
bash "$RIG_DIR/build-for-kernel.sh" "$alias" || exit 5
envfile=$n/guest.env
rig_guest_env "$alias" >"$envfile"
bash "$RIG_DIR/make-initramfs.sh" "$alias" "$script" "$n/initramfs.cpio.gz" "$envfile" || exit 5
ln -sfn "$n" "$base/last"
# keep the 10 newest runs of this kernel
find "$base" -maxdepth 1 -name "run.*" -printf "%T@ %p\n" | sort -rn | tail -n +11 |
	cut -d" " -f2- | xargs -r rm -rf

bash "$RIG_DIR/boot-and-run.sh" "$alias" "$n/initramfs.cpio.gz" "$n"

rc=0
grep -q '^\(hostfile\|screendump\|qemutrace\) not ok' "$n/result" && rc=4
bash "$RIG_DIR/check-kernel-log.sh" "$n/console.log" || rc=2
grep -q '^check not ok' "$n/result" && rc=2
if grep -q '^timeout' "$n/result" || ! grep -q '^guest_rc ' "$n/result"; then
	say vm-run "$alias: the guest did not finish"
	rc=3
elif ! grep -q '^guest_rc 0$' "$n/result"; then
	[ "$rc" = 0 ] && rc=1
fi
say vm-run "$alias ($KREL): $(grep '^guest_rc' "$n/result" || echo 'no guest_rc'); exit $rc; files in $n"
exit "$rc"
