#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/check.sh       (what `make check` runs)
#
# The whole suite, in numbered stages:
#   0  install-deps      missing Debian packages, with apt-get
#   1  lint              checkpatch, kernel-doc, W=1, sparse (rig/lint.sh)
#      install           make install/uninstall into a DESTDIR, with and
#                        without PREFIX (rig/install-check.sh; one test)
#      deb               make deb, then the packages installed in a bookworm
#                        chroot: dkms builds the modules for 6.1's headers
#                        (rig/deb.sh check; one test)
#   then for each kernel of KERNELS (default "6.1 6.12 sid debug"; 7.2 or 7
#   mean sid, whose newest version is resolved at run time):
#   2  fetch-kernel      image + headers from Debian (or build the debug kernel)
#   3  build-for-kernel  modules + selftests (one test)
#   4  dkms-build        dkms add + build against the kernel's headers (one test)
#      dkms-install      dkms install into a private install tree (one test;
#                        skipped if dkms-build failed)
#   5  make-initramfs, boot-and-run   the selftests' run_kselftest.sh in QEMU,
#                        on the modules dkms installed (the guest first
#                        modprobes them as a user would: the check
#                        dkms-modprobe); on the build's if dkms failed
#   6  summarise         each KTAP test case, the kernel-log check, host-file
#                        checks, kmemleak + DMA-API checks (debug), one test each
# Then a summary page per kernel and, last, "N passed, N failed, N skipped".
# Exit status 1 if anything failed. Results: $CACHE/results/latest.tsv.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

# `make soak` (rig/soak.sh): the long forms, on the debug kernel by default
if [ -n "${RIG_SOAK:-}" ]; then
	kernels=${KERNELS:-debug}
	export RIG_TIMEOUT=${RIG_TIMEOUT:-21600}
else
	kernels=${KERNELS:-6.1 6.12 sid debug}
fi
mkdir -p "$CACHE/results"
results=$CACHE/results/check-$(date -u +%Y%m%dT%H%M%SZ).tsv
: >"$results"
ln -sfn "$(basename "$results")" "$CACHE/results/latest.tsv"
export RIG_RESULTS=$results
t0=$(rig_now)

record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$results"
}

# stage KERNEL NAME COUNTED CMD...: run one stage, print its time, record
# it: COUNTED=yes a test; no: only a failure is a (failed) test; parts: the
# stage records its own tests.
stage() {
	local k=$1 name=$2 counted=$3 start rc=0
	shift 3
	start=$(rig_now)
	echo
	say "$k" "stage $name: $*"
	"$@" || rc=$?
	record time "$k" "$name" "$(($(rig_now) - start))"
	if [ "$rc" = 0 ]; then
		[ "$counted" = yes ] && record pass "$k" "$name"
		say "$k" "stage $name: ok ($(($(rig_now) - start))s)"
	else
		[ "$counted" = parts ] || record fail "$k" "$name" "exit $rc"
		say "$k" "stage $name: FAILED (exit $rc, $(($(rig_now) - start))s)"
	fi
	return "$rc"
}

stage setup install-deps no bash "$RIG_DIR/install-deps.sh" || {
	bash "$RIG_DIR/summarise.sh" page "$results"
	exit 1
}
# lint records its own parts as tests
[ -n "${RIG_SOAK:-}" ] || stage lint lint parts bash "$RIG_DIR/lint.sh" || true
[ -n "${RIG_SOAK:-}" ] || stage host install yes bash "$RIG_DIR/install-check.sh" || true
[ -n "${RIG_SOAK:-}" ] || stage host deb yes bash "$RIG_DIR/deb.sh" check || true

for k in $kernels; do
	rig_suite_of "$k" >/dev/null
	fetch="fetch-kernel"
	[ "$k" = debug ] && fetch=build-debug-kernel
	stage "$k" "$fetch" no bash "$RIG_DIR/fetch-kernel.sh" "$k" || continue
	rig_load_kernel "$k"
	record info "$k" kernel "$KREL"
	run=$CACHE/runs/$KREL/check
	rm -rf "$run"
	mkdir -p "$run"
	export RIG_BUILD_DIR=$run/build
	[ "$KSUITE" = sid ] && { stage "$k" sid-chroot no bash "$RIG_DIR/sid-chroot.sh" ensure || continue; }
	RIG_REQUIRE_MODULES=1 stage "$k" build yes bash "$RIG_DIR/build-for-kernel.sh" "$k" || continue
	export RIG_DKMS_DIR=$run/dkms
	dkms_installed=
	if stage "$k" dkms-build yes bash "$RIG_DIR/dkms-build.sh" "$k" build; then
		stage "$k" dkms-install yes bash "$RIG_DIR/dkms-build.sh" "$k" install &&
			dkms_installed=$RIG_DKMS_DIR/install/$KREL
	else
		record skip "$k" dkms-install "dkms build failed"
	fi
	rig_guest_env "$k" >"$run/guest.env"
	RIG_DKMS_INSTALL=$dkms_installed stage "$k" make-initramfs no bash "$RIG_DIR/make-initramfs.sh" "$k" \
		"$RIG_DIR/guest/run-suite" "$run/initramfs.cpio.gz" "$run/guest.env" || continue
	stage "$k" boot-and-run no bash "$RIG_DIR/boot-and-run.sh" "$k" \
		"$run/initramfs.cpio.gz" "$run" || true
	stage "$k" summarise no bash "$RIG_DIR/summarise.sh" run "$k" "$run" "$results" || true
done

record time total "check" "$(($(rig_now) - t0))"
bash "$RIG_DIR/summarise.sh" page "$results"
