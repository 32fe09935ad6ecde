#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/bench.sh        (what `make bench` runs)
#
# Boot BENCH_KERNEL (default sid, the newest) under QEMU and run
# tools/bar-dmabuf-bench there (rig/guest/bench): revoke scaling against
# our one-by-one revoke and upstream VFIO's, idle revoke, map cost against
# udmabuf and VFIO, CPU throughput against sysfs resourceN(_wc), footprint,
# scale. Every figure is a ratio against a reference measured in the same
# run; nothing here passes or fails on a number, only when a figure could
# not be measured.
#   BENCH_KERNEL=6.1     another kernel (6.1, 6.12, 7.2 (or 7, sid), debug)
#   BENCH_FIGURES=scaling,map   a subset of scaling,idle,map,cpu,footprint,scale
#   BENCH_ARGS="-d 50 -N 1,8 -r 3"   more options for bar-dmabuf-bench
#   BENCH_RESULTS=dir    where the results go (default bench/results)
# A run appends its figures to BENCH_RESULTS/<kernel>.tsv (date, commit,
# kernel, figure, median, min, max; "absent" where this kernel has no
# reference), says which medians moved more than 20% from the last stored
# row of the same figure, writes BENCH_RESULTS/<kernel>.md (the table for
# README) and, when it measured revoke scaling, the plot README shows,
# BENCH_RESULTS/revoke-scaling.svg, for the default kernel (sid), or
# revoke-scaling-<kernel>.svg for another, so that no other kernel's run
# replaces it (gnuplot; installed here with rig/install-deps.sh if missing).
# The guest gets 3 GiB and a 64 MiB BAR for the 10,000 buffers of "scale"
# (RIG_MEM, RIG_BAR0_SIZE), and an hour (RIG_TIMEOUT).
# Exit status: vm-run.sh's (0 ok, 1 the benchmark failed, 2 kernel warning...),
# 1 also when the benchmark ran but a figure could not be measured.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

kernel=${BENCH_KERNEL:-sid}
results=${BENCH_RESULTS:-$TREE_DIR/bench/results}
log=$(mktemp)
out=$(mktemp)
script=$(mktemp)
trap 'rm -f "$log" "$out" "$script" "$out.plot"' EXIT

# The guest runs what the tree holds now: name that now, not after an hour
# in which HEAD may move, and say when it is not a commit.
commit=$(git -C "$TREE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$TREE_DIR" status --porcelain \
	--untracked-files=no -- . ':!*.md' ':!bench/results' 2>/dev/null)" ]; then
	commit=$commit+dirty
fi

# The guest sees only rig_guest_env's variables: put ours in the script.
{
	printf '#!/bin/sh\nBENCH_FIGURES=%q\nBENCH_ARGS=%q\n' \
		"${BENCH_FIGURES:-}" "${BENCH_ARGS:-}"
	tail -n +2 "$RIG_DIR/guest/bench"
} >"$script"

bash "$RIG_DIR/install-deps.sh" gnuplot-nox
export RIG_MEM=${RIG_MEM:-3072} RIG_BAR0_SIZE=${RIG_BAR0_SIZE:-64M}
export RIG_TIMEOUT=${RIG_TIMEOUT:-3600}
say bench "boot $kernel, run bar-dmabuf-bench ${BENCH_FIGURES:+-f $BENCH_FIGURES} ${BENCH_ARGS:-}"
set +e
bash "$RIG_DIR/vm-run.sh" "$kernel" "$script" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

tr -d '\r' <"$log" | sed -n '/^@@BENCH-BEGIN@@$/,/^@@BENCH-END@@$/p' |
	grep -v '^@@BENCH-' >"$out" || true
say bench "$kernel: what bar-dmabuf-bench printed"
grep -v '^@@' "$out" || say bench "no benchmark output in the console (see above)"
# A figure that could not be measured fails the run; the figures measured
# before it are stored all the same.
if [ "$rc" != 0 ] || ! grep -q '^bar-dmabuf-bench: exit status 0$' "$out"; then
	say bench "$kernel: the benchmark failed (vm-run exit status $rc)"
	[ "$rc" = 0 ] && rc=1
fi
if ! grep -q '^@@\(FIG\|ABSENT\)' "$out"; then
	say bench "$kernel: no figure measured; nothing stored"
	exit "$rc"
fi

release=$(awk -F'\t' '$1 == "@@KERNEL" { print $2 }' "$out")
case $release in
6.1.*) short=6.1 ;;
6.12.*) short=6.12 ;;
*) short=$(printf '%s' "$release" | cut -d. -f1-2) ;;
esac
[ "$kernel" = debug ] && short=$short-debug
mkdir -p "$results"
tsv=$results/$short.tsv
[ -f "$tsv" ] || printf 'date\tcommit\tkernel\tfigure\tmedian\tmin\tmax\n' >"$tsv"
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# The new rows, and a flag on medians that moved >20% from the last stored.
awk -F'\t' -v OFS='\t' -v date="$date" -v commit="$commit" \
	-v rel="$release" -v tsv="$tsv" -v moved="$out.moved" '
	BEGIN {
		while ((getline line < tsv) > 0) {
			split(line, f, "\t")
			if (f[5] != "absent" && f[4] != "figure")
				last[f[4]] = f[5]
		}
	}
	$1 == "@@FIG" {
		print date, commit, rel, $2, $3, $4, $5
		if (($2 in last) && last[$2] != 0) {
			d = ($3 - last[$2]) / last[$2]
			if (d > 0.2 || d < -0.2)
				printf "%s: median %s, last stored %s (%+.0f%%)\n",
					$2, $3, last[$2], d * 100 > moved
		}
	}
	$1 == "@@ABSENT" { print date, commit, rel, $2, "absent", "absent", "absent" }
' "$out" >>"$tsv"
say bench "appended $(grep -c '^@@\(FIG\|ABSENT\)' "$out") rows to $tsv"
if [ -s "$out.moved" ]; then
	say bench "medians that moved more than 20% from the last stored result:"
	cat "$out.moved"
else
	say bench "no median moved more than 20% from the last stored result"
fi
rm -f "$out.moved"

# README's table: this run's figures, absent ones with their reason.
md=$results/$short.md
{
	printf 'Run of %s at %s on %s (%s%s).\n\n' "$date" "$commit" "$release" \
		"${BENCH_FIGURES:-all figures}" \
		"$([ "$rc" = 0 ] || echo '; the run failed after these')"
	printf '| figure | median | min | max |\n|---|---:|---:|---:|\n'
	awk -F'\t' '
		$1 == "@@FIG" { printf "| %s | %.3g | %.3g | %.3g |\n", $2, $3, $4, $5 }
		$1 == "@@ABSENT" { printf "| %s | absent: %s | | |\n", $2, $3 }
	' "$out"
} >"$md"
say bench "wrote $md"

# The plot: revoke time against N, log-log, with the floor D.
window=$(sed -n 's/.*importer unmaps \([0-9]*\) ms after the invalidate.*/\1/p' "$out" | head -1)
awk -F'\t' '$1 == "@@FIG" && $2 ~ /^scaling\.(batched|serial|vfio)_ms\.n/ {
	split($2, p, "."); sub(/^n/, "", p[3]); sub(/_ms$/, "", p[2])
	v[p[3], p[2]] = $3; lo[p[3], p[2]] = $4; hi[p[3], p[2]] = $5; ns[p[3]] = 1
}
END {
	for (n in ns)
		printf "%s %s %s %s %s %s %s %s %s %s\n", n,
			v[n, "batched"], lo[n, "batched"], hi[n, "batched"],
			v[n, "serial"], lo[n, "serial"], hi[n, "serial"],
			(v[n, "vfio"] == "" ? "NaN" : v[n, "vfio"]),
			(lo[n, "vfio"] == "" ? "NaN" : lo[n, "vfio"]),
			(hi[n, "vfio"] == "" ? "NaN" : hi[n, "vfio"])
}' "$out" | sort -n >"$out.plot"
if [ -s "$out.plot" ] && [ -n "$window" ]; then
	if command -v gnuplot >/dev/null; then
		svg=$results/revoke-scaling.svg
		case $kernel in
		sid | 7 | 7.*) ;;
		*) svg=$results/revoke-scaling-$short.svg ;;
		esac
		plot="\"$out.plot\" using 1:2:3:4 with yerrorlines title \"bar_dmabuf batched\""
		plot="$plot, \"$out.plot\" using 1:5:6:7 with yerrorlines title \"bar_dmabuf one by one\""
		awk '$8 != "NaN" { found = 1 } END { exit !found }' "$out.plot" &&
			plot="$plot, \"$out.plot\" using 1:8:9:10 with yerrorlines dashtype 3 title \"VFIO memory-disable\""
		plot="$plot, $window with lines dashtype 2 linewidth 2 title \"floor D\""
		gnuplot <<-EOF
			set terminal svg size 720,480 dynamic font "sans,12" noenhanced
			set output "$svg"
			set title "Revoke of N buffers, importer drain D = $window ms ($release, $commit)"
			set xlabel "N buffers"
			set ylabel "revoke time (ms)"
			set logscale xy
			set xrange [0.7:*]
			set yrange [$window / 2.0:*]
			set key top left
			set grid
			plot $plot
		EOF
		say bench "wrote $svg"
	else
		say bench "no gnuplot (install gnuplot-nox): no plot"
	fi
fi
say bench "$kernel: exit status $rc"
exit "$rc"
