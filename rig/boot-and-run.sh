#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/boot-and-run.sh KERNEL INITRAMFS RUNDIR
#
# Boot KERNEL's image with INITRAMFS under QEMU (TCG) in the rig's topology,
# print the guest console as it comes, act on the guest's requests, and
# write RUNDIR/console.log and RUNDIR/result. Hard timeout: RIG_TIMEOUT
# seconds (default 900).
#
# Topology (q35 + intel-iommu, the BDFs below are fixed; rig/guest/init
# checks them at boot). The first four devices sit on root ports of their
# own; the last two share a PCIe switch below rp5 (TI X3130: upstream port
# 05:00.0, downstream ports 06:00.0 and 06:01.0), the layout of switch-local
# P2P and of an error recovery that takes exporter and importer together:
#   0000:01:00.0  ivshmem0  ivshmem-plain, BAR2 = RUNDIR/ivshmem0.bar (share=on,
#                           RIG_BAR0_SIZE, default 16M); hot-pluggable
#   0000:02:00.0  ivshmem1  ivshmem-plain, BAR2 = RUNDIR/ivshmem1.bar (RIG_BAR1_SIZE,
#                           default 8G: more than 4 GiB, so a mapping needs
#                           several sg entries; SeaBIOS puts it in the 64-bit
#                           window; the file is sparse, only touched pages
#                           take host memory or disk)
#   0000:03:00.0  edu       QEMU's edu device (the importer's PCI function)
#   0000:04:00.0  testdev   pci-testdev (has an I/O BAR: bad input)
#   0000:07:00.0  ivshmem2  ivshmem-plain, BAR2 = RUNDIR/ivshmem2.bar (4M),
#                           below the switch's first downstream port
#   0000:08:00.0  edu1      a second edu, below its second downstream port
#   0000:09:00.0  ivshmem3  ivshmem-plain on a root port of its own (rp6),
#                           BAR2 = RUNDIR/ivshmem3.bar (4M): the device the
#                           conformance test binds to vfio-pci, for VFIO's
#                           dma-buf exporter (its IOMMU group holds only it)
# (Root ports rp7 and rp8, addr 0x16 and 0x17, are kept for virtio-gpu.)
#
# Guest requests, as console lines:
#   @@HOTPLUG del|add N@@    device_del / device_add ivshmem0 through the
#                            QEMU monitor (RUNDIR/monitor.log has its answers)
#   @@AER PORT ERROR N@@     pcie_aer_inject_error PORT ERROR through the
#                            monitor (rig/guest/aer: SDN or POISON_TLP at
#                            rp1, ivshmem0's root port, or rp5, the
#                            switch's; the kernel's AER recovery resets
#                            the link below it when asked to)
#   @@HOSTFILE OFF HEX@@     compare HEX with ivshmem0.bar at byte OFF now
#                            (one test each in the result)
#   @@RIG-CHECK [not ]ok WHAT@@  a check of the guest's own (kmemleak and
#                            DMA-API errors after the script, debug kernel)
#   @@RIG-EXIT RC@@          the guest script's exit status
#   @@SCREENDUMP W H SEED ACK@@  screendump gpu0's scanout and compare its
#                            W x H pixels with virtio_gpu_test's pattern
#                            of SEED (rig_gpu_pattern); the verdict goes to
#                            the result and, as 4 bytes ("OK!!" or "BAD!"),
#                            to ivshmem0.bar at byte ACK for the guest to read
#   @@QEMU-TRACE EVENT ARGS ACK@@  wait (5 s at most) for a line "EVENT ARGS"
#                            in RUNDIR/qemu-trace.log; verdict as above
#
# virtio-gpu (virtio_gpu_test): 0000:0a:00.0 gpu0 on root port rp7 (addr
# 0x16; blob=true on kernels 6.14+, whose virtio-gpu imports foreign
# dma-bufs dynamically as guest blobs) and 0000:0b:00.0 gpu1 on rp8 (0x17,
# never blob: a static importer). QEMU 7.2 refuses blob=true unless it can
# open /dev/udmabuf and finds a sealed memory-backend-memfd object (it only
# checks it exists). The host kernel may lack udmabuf, so QEMU, and nothing
# else, runs with rig/qemu/udmabuf-shim.c (built into $CACHE/qemu-shim/)
# preloaded, which answers that one open with /dev/null; QEMU uses
# udmabuf only for blobs of several host iovecs, and one range of
# ivshmem0's RAM-backed BAR is one. QEMU traces virtio_gpu_cmd_* and guest
# errors into RUNDIR/qemu-trace.log.
#
# RUNDIR/result lines: "guest_rc N" (absent: never finished), "timeout",
# "hostfile ok|not ok OFF HEX", "check ok|not ok WHAT",
# "screendump ok|not ok ...", "qemutrace ok|not ok ...".

# Run by bash even when called as "sh script" (the Makefile does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

alias=${1:?usage: boot-and-run.sh KERNEL INITRAMFS RUNDIR}
initrd=${2:?initramfs}
run=${3:?run dir}
rig_load_kernel "$alias"

timeout_s=${RIG_TIMEOUT:-900}
# An AMD Zen family, so the kernel's p2pdma distance check trusts the host
# bridge (cpu_supports_p2pdma(): AMD and family >= 0x17); QEMU's q35 bridge
# is in no whitelist.
cpu=${RIG_CPU:-qemu64,family=23,model=1,stepping=2}
mem=${RIG_MEM:-1024}
smp=${RIG_SMP:-2}
# One host thread runs every vCPU. With multi-threaded TCG, a vCPU can keep
# executing a stale translation of code another vCPU just patched: Debian's
# 6.12 died at boot on "Oops: int3" in sched_clock_cpu while a static key
# was being flipped by text_poke_bp(). Round-robin TCG has no such window.
tcg=${RIG_TCG:-tcg,thread=single}
bar0=${RIG_BAR0_SIZE:-16M}
bar1=${RIG_BAR1_SIZE:-8G}

mkdir -p "$run"
rm -f "$run"/console.log "$run"/result "$run"/mon.in "$run"/mon.out
: >"$run/result"
mkfifo "$run/mon.in" "$run/mon.out"
# The BAR backing files start as zeroes on every boot.
rm -f "$run/ivshmem0.bar" "$run/ivshmem1.bar" "$run/ivshmem2.bar" "$run/ivshmem3.bar"
truncate -s "$bar0" "$run/ivshmem0.bar"
truncate -s "$bar1" "$run/ivshmem1.bar"
truncate -s 4M "$run/ivshmem2.bar"
truncate -s 4M "$run/ivshmem3.bar"

cmdline="console=ttyS0,115200 rdinit=/init panic=-1 loglevel=7 mitigations=off"
cmdline="$cmdline intel_iommu=on iommu.passthrough=0 iommu.strict=1"
# Every slab cache under its own name: the leak checks of unplug_test and
# conformance_test count objects per cache, and a merged cache shows under
# the name of whichever cache came first (6.12 showed the IOMMU's IOVA
# cache as "dmaengine-unmap-2" or "kmalloc-64").
cmdline="$cmdline slab_nomerge"
cmdline="$cmdline ${RIG_CMDLINE:-}"

bar0_backend() {
	echo "memory-backend-file,id=$1,size=$bar0,mem-path=$run/ivshmem0.bar,share=on"
}
ivshmem0_device() {
	echo "ivshmem-plain,id=ivshmem0,memdev=$1,bus=rp1,addr=0"
}
memdev=bar0
# shellcheck disable=SC2054 # commas are inside QEMU options
qemu=(qemu-system-x86_64
	-machine q35 -accel "$tcg" -cpu "$cpu" -m "$mem" -smp "$smp"
	-nodefaults -nographic -no-reboot
	-kernel "$KIMAGE" -initrd "$initrd" -append "$cmdline"
	-serial stdio
	-chardev "pipe,id=mon0,path=$run/mon" -mon chardev=mon0,mode=readline
	-device intel-iommu,intremap=off
	-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10
	-device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11
	-device pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x12
	-device pcie-root-port,id=rp4,bus=pcie.0,chassis=4,slot=4,addr=0x13
	-object "$(bar0_backend bar0)"
	-object "memory-backend-file,id=bar1,size=$bar1,mem-path=$run/ivshmem1.bar,share=on"
	-device "$(ivshmem0_device bar0)"
	-device ivshmem-plain,id=ivshmem1,memdev=bar1,bus=rp2,addr=0
	-device edu,id=edu0,bus=rp3,addr=0
	-device pci-testdev,id=testdev0,bus=rp4,addr=0
	-device pcie-root-port,id=rp5,bus=pcie.0,chassis=5,slot=5,addr=0x14
	-device x3130-upstream,id=sw0,bus=rp5,addr=0
	-device xio3130-downstream,id=sw0p0,bus=sw0,chassis=6,slot=0,addr=0
	-device xio3130-downstream,id=sw0p1,bus=sw0,chassis=6,slot=1,addr=1
	-object "memory-backend-file,id=bar2,size=4M,mem-path=$run/ivshmem2.bar,share=on"
	-device ivshmem-plain,id=ivshmem2,memdev=bar2,bus=sw0p0,addr=0
	-device edu,id=edu1,bus=sw0p1,addr=0
	-device pcie-root-port,id=rp6,bus=pcie.0,chassis=7,slot=7,addr=0x15
	-object "memory-backend-file,id=bar3,size=4M,mem-path=$run/ivshmem3.bar,share=on"
	-device ivshmem-plain,id=ivshmem3,memdev=bar3,bus=rp6,addr=0
)

# monitor CMD: one HMP command; QEMU holds both fifos open read-write, so
# the open never blocks while it runs (the timeout covers a dead QEMU).
monitor() {
	printf '    [rig] monitor: %s\n' "$1"
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout 5 sh -c 'printf "%s\n" "$1" >"$2"' sh "$1" "$run/mon.in" ||
		printf '    [rig] monitor: QEMU did not take "%s"\n' "$1"
}

# hostfile_check OFF HEX: compare now, record one result line.
hostfile_check() {
	local off=$1 hex len got
	hex=$(echo "$2" | tr 'A-F' 'a-f')
	len=$((${#hex} / 2))
	got=$(od -An -tx1 -v -j "$off" -N "$len" "$run/ivshmem0.bar" | tr -d ' \n')
	if [ "$got" = "$hex" ]; then
		echo "hostfile ok $off $hex" >>"$run/result"
		printf '    [rig] host file at %s holds %s: ok\n' "$off" "$hex"
	else
		echo "hostfile not ok $off $hex got $got" >>"$run/result"
		printf '    [rig] host file at %s: want %s, got %s: NOT OK\n' "$off" "$hex" "$got"
	fi
}

# ack OFF WORD: the 4-byte answer to a guest request, at byte OFF of
# ivshmem0.bar, where the guest polls it through a dma-buf mmap.
ack() {
	printf '%s' "$2" | dd of="$run/ivshmem0.bar" bs=1 seek="$1" conv=notrunc status=none
}

# screendump_check W H SEED ACK: dump gpu0's console, compare its pixels
# with the pattern the guest wrote (rig_gpu_pattern).
screendump_check() {
	local w=$1 h=$2 seed=$3 off=$4 ppm=$run/screendump.ppm hdr got want i
	hdr=$(printf 'P6\n%d %d\n255\n' "$w" "$h" | wc -c)
	rm -f "$ppm"
	monitor "screendump $ppm -f ppm gpu0"
	# QEMU writes the file while it runs the command: wait for all of it
	for ((i = 0; i < 50; i++)); do
		[ "$(stat -c %s "$ppm" 2>/dev/null || echo 0)" -ge $((hdr + w * h * 3)) ] && break
		sleep 0.1
	done
	got=$(head -c 20 "$ppm" 2>/dev/null | head -n2 | tr '\n' ' ')
	if [ "$got" != "P6 $w $h " ]; then
		echo "screendump not ok ${w}x$h seed $seed: dump is '$got'" >>"$run/result"
		printf '    [rig] screendump: want a %dx%d P6, got "%s": NOT OK\n' "$w" "$h" "$got"
		ack "$off" 'BAD!'
		return
	fi
	got=$(od -An -v -tx1 -j "$hdr" -N $((w * h * 3)) "$ppm" | tr -d ' \n')
	want=$(rig_gpu_pattern "$w" "$h" "$seed")
	if [ "$got" = "$want" ]; then
		echo "screendump ok ${w}x$h seed $seed" >>"$run/result"
		printf '    [rig] screendump of gpu0: %dx%d pattern %d: ok\n' "$w" "$h" "$seed"
		ack "$off" 'OK!!'
	else
		echo "screendump not ok ${w}x$h seed $seed: first pixels ${got:0:24}, want ${want:0:24}" >>"$run/result"
		printf '    [rig] screendump of gpu0: first pixels %s, want %s: NOT OK\n' "${got:0:24}" "${want:0:24}"
		ack "$off" 'BAD!'
	fi
}

# qemutrace_check EVENT ARGS ACK: has QEMU traced "EVENT ARGS"?
qemutrace_check() {
	local ev=$1 args=$2 off=$3 i
	for ((i = 0; i < 50; i++)); do
		grep -qxF "$ev $args" "$run/qemu-trace.log" 2>/dev/null && break
		sleep 0.1
	done
	if grep -qxF "$ev $args" "$run/qemu-trace.log" 2>/dev/null; then
		echo "qemutrace ok $ev $args" >>"$run/result"
		printf '    [rig] QEMU traced "%s %s": ok\n' "$ev" "$args"
		ack "$off" 'OK!!'
	else
		echo "qemutrace not ok $ev $args" >>"$run/result"
		printf '    [rig] QEMU never traced "%s %s": NOT OK\n' "$ev" "$args"
		ack "$off" 'BAD!'
	fi
}

watch_console() {
	local line n=0 re_hp='@@HOTPLUG (del|add) ([0-9]+)@@' \
		re_hf='@@HOSTFILE ([0-9]+) ([0-9a-fA-F]+)@@' re_exit='@@RIG-EXIT ([0-9]+)@@' \
		re_aer='@@AER ([a-z0-9]+) ([A-Z_]+) ([0-9]+)@@' \
		re_check='@@RIG-CHECK ((not )?ok [^@]*)@@' \
		re_sd='@@SCREENDUMP ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+)@@' \
		re_qt='@@QEMU-TRACE ([a-z0-9_]+) ([^@]*) ([0-9]+)@@'
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line"
		printf '%s\n' "$line" >>"$run/console.log"
		if [[ $line =~ $re_hp ]]; then
			# A repeated request is a retry: acting again is harmless
			# (QEMU refuses a duplicate id or an object in use).
			n=$((n + 1))
			if [ "${BASH_REMATCH[1]}" = del ]; then
				monitor "device_del ivshmem0"
			else
				# QEMU 7.2 cannot re-register the old backend's RAM
				# block: replace it by a new one on the same file.
				monitor "object_del $memdev"
				memdev=bar0-$n
				monitor "object_add $(bar0_backend "$memdev")"
				monitor "device_add $(ivshmem0_device "$memdev")"
			fi
		elif [[ $line =~ $re_aer ]]; then
			monitor "pcie_aer_inject_error ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
		elif [[ $line =~ $re_hf ]]; then
			hostfile_check "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
		elif [[ $line =~ $re_sd ]]; then
			screendump_check "${BASH_REMATCH[@]:1}"
		elif [[ $line =~ $re_qt ]]; then
			qemutrace_check "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
		elif [[ $line =~ $re_check ]]; then
			echo "check ${BASH_REMATCH[1]}" >>"$run/result"
		elif [[ $line =~ $re_exit ]]; then
			echo "guest_rc ${BASH_REMATCH[1]}" >>"$run/result"
		fi
	done
}

# virtio-gpu: see the header. Blob resources from 6.14 on.
gpu_blob=false
if rig_gpu_blob "$KREL"; then gpu_blob=true; fi
# shellcheck disable=SC2054 # commas are inside QEMU options
qemu+=(
	-device pcie-root-port,id=rp7,bus=pcie.0,chassis=8,slot=8,addr=0x16
	-device "virtio-gpu-pci,id=gpu0,bus=rp7,addr=0,blob=$gpu_blob"
	-device pcie-root-port,id=rp8,bus=pcie.0,chassis=9,slot=9,addr=0x17
	-device virtio-gpu-pci,id=gpu1,bus=rp8,addr=0
	-trace "enable=virtio_gpu_cmd_*" -d guest_errors -D "$run/qemu-trace.log"
)
if [ "$gpu_blob" = true ]; then
	qemu+=(-object "memory-backend-memfd,id=gpumemfd,size=2M,seal=on")
	qemu=(env "LD_PRELOAD=$(rig_qemu_shim)" "${qemu[@]}")
fi

say boot-and-run "$alias ($KREL): qemu ($tcg, $smp vCPU, ${mem}M, timeout ${timeout_s}s), run dir $run"
printf '%q ' "${qemu[@]}" >"$run/qemu.cmd"
echo >>"$run/qemu.cmd"
cat "$run/mon.out" >"$run/monitor.log" &
drain=$!
start=$(rig_now)
set +e
timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>"$run/qemu.stderr" | watch_console
qrc=${PIPESTATUS[0]}
set -e
kill "$drain" 2>/dev/null || true
wait "$drain" 2>/dev/null || true
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo timeout >>"$run/result"
	say boot-and-run "$alias: TIMEOUT after ${timeout_s}s"
fi
if [ -s "$run/qemu.stderr" ]; then
	sed 's/^/    [qemu] /' "$run/qemu.stderr" >&2
fi
say boot-and-run "$alias: qemu exited $qrc after $(($(rig_now) - start))s"
