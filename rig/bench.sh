#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/bench.sh        (what `make bench` runs)
#
# Boot BENCH_KERNEL (default sid, the newest) under QEMU and run
# tools/bar-dmabuf-bench there (rig/guest/bench): a batched revoke of every
# buffer against the same buffers revoked one by one, in one run. Prints the
# benchmark's table and the ratio lines. The numbers are ratios against a
# reference measured in the same run; nothing here passes or fails on time.
#   BENCH_KERNEL=6.1   another kernel (6.1, 6.12, 7.2 (or 7, sid), debug)
#   BENCH_ARGS="-n 16 -d 100 -r 5"   options for bar-dmabuf-bench
# Exit status: vm-run.sh's (0 ok, 1 the benchmark failed, 2 kernel warning...).

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

kernel=${BENCH_KERNEL:-sid}
script=$RIG_DIR/guest/bench
log=$(mktemp)
trap 'rm -f "$log" "${tmp_script:-}"' EXIT

# The guest sees only rig_guest_env's variables: put BENCH_ARGS in the script.
if [ -n "${BENCH_ARGS:-}" ]; then
	tmp_script=$(mktemp)
	{
		printf '#!/bin/sh\nBENCH_ARGS=%q\n' "$BENCH_ARGS"
		tail -n +2 "$script"
	} >"$tmp_script"
	script=$tmp_script
fi

bash "$RIG_DIR/install-deps.sh"
say bench "boot $kernel, load bar_dmabuf + bar_dmabuf_importer, run bar-dmabuf-bench ${BENCH_ARGS:-}"
set +e
bash "$RIG_DIR/vm-run.sh" "$kernel" "$script" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

say bench "$kernel: what bar-dmabuf-bench printed"
tr -d '\r' <"$log" | sed -n '/^@@BENCH-BEGIN@@$/,/^@@BENCH-END@@$/p' | grep -v '^@@BENCH-' ||
	say bench "no benchmark output in the console (see above)"
say bench "$kernel: the ratio lines"
tr -d '\r' <"$log" | sed -n '/^@@BENCH-BEGIN@@$/,/^@@BENCH-END@@$/p' |
	grep -E 'ratio|floor|ideal|odd' | grep -v -e '^ ' -e repetition || true
say bench "$kernel: vm-run exit status $rc"
exit "$rc"
