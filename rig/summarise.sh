#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/summarise.sh run KERNEL RUNDIR RESULTS
#        rig/summarise.sh page RESULTS
#
# Results are lines "STATUS<TAB>KERNEL<TAB>NAME<TAB>DETAIL" (STATUS: pass,
# fail, skip; time with NAME a stage and DETAIL seconds; info) in the file
# RESULTS, appended to by check.sh and by "run".
#
# run:  turn one boot's RUNDIR into results: every test case of the KTAP the
#       guest handed over (the nested "# ok/not ok N name [# SKIP]" lines of
#       run_kselftest.sh; a binary that failed without a failing case counts
#       as one failure), each host-file check, each guest check (kmemleak,
#       DMA-API), the kernel-log check, and whether the guest finished.
# page: print a summary page per kernel, then the single last line
#       "N passed, N failed, N skipped"; exit 1 if anything failed.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

summarise_run() {
	local k=$1 run=$2 res=$3 ktap
	ktap=$(mktemp)
	tr -d '\r' <"$run/console.log" |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' >"$ktap" || true
	if [ ! -s "$ktap" ]; then
		printf 'fail\t%s\tselftests\tno KTAP from the guest (did it finish?)\n' "$k" >>"$res"
	else
		awk -v k="$k" '
			function flush() {
				if (bin != "" && top_fail && !case_fail)
					printf "fail\t%s\t%s\tfailed without a failing case: %s\n", k, bin, why
			}
			/^# selftests: / { bin = $0; sub(/^# selftests: /, "", bin) }
			# a case failed: its first failed assertion and the line
			# after it (its TH_LOG) become the DETAIL, so the summary
			# CI prints says why
			/^# #  RUN / { why_case = ""; after = 0; next }
			after && /^# # / {
				l = $0; sub(/^# # /, "", l)
				why_case = why_case " | " l; after = 0
			}
			why_case == "" && /^# # [^ ]+\.c:[0-9]+:.*:Expected / {
				why_case = $0; sub(/^# # /, "", why_case); after = 1
			}
			/^# (not )?ok [0-9]+ / {
				line = $0; sub(/^# /, "", line)
				st = (line ~ /^not ok/) ? "fail" : "pass"
				if (line ~ /# [Ss][Kk][Ii][Pp]/) st = "skip"
				name = line; sub(/^(not )?ok [0-9]+ /, "", name); sub(/ # .*/, "", name)
				detail = ""
				if (st == "fail") {
					case_fail = 1
					gsub(/\t/, " ", why_case)
					detail = substr(why_case, 1, 400)
				}
				printf "%s\t%s\t%s: %s\t%s\n", st, k, bin, name, detail
				why_case = ""; after = 0
				next
			}
			/^(not )?ok [0-9]+ selftests: / {
				top_fail = ($0 ~ /^not ok/); why = $0
				flush()
				bin = ""; top_fail = 0; case_fail = 0
			}' "$ktap" >>"$res"
	fi
	rm -f "$ktap"
	{ grep '^hostfile ' "$run/result" 2>/dev/null || true; } | while read -r _ st rest; do
		if [ "$st" = ok ]; then s=pass; else s=fail rest=${rest#ok }; fi
		printf '%s\t%s\thost file check\t%s\n' "$s" "$k" "$rest"
	done >>"$res"
	grep -q '^hostfile ' "$run/result" 2>/dev/null ||
		printf 'skip\t%s\thost file check\tno test asked for one\n' "$k" >>"$res"
	{ grep '^check ' "$run/result" 2>/dev/null || true; } | while read -r _ st rest; do
		if [ "$st" = ok ]; then s=pass; else s=fail rest=${rest#ok }; fi
		printf '%s\t%s\tguest check: %s\t\n' "$s" "$k" "$rest"
	done >>"$res"
	if bash "$here/check-kernel-log.sh" "$run/console.log" 2>"$run/klog-check.txt"; then
		printf 'pass\t%s\tkernel log clean\t\n' "$k" >>"$res"
	else
		cat "$run/klog-check.txt" >&2
		# the first offending lines, so the summary says what it was
		printf 'fail\t%s\tkernel log clean\t%s; see %s\n' "$k" \
			"$(sed -n '2,4{s/^ *//;p}' "$run/klog-check.txt" | tr '\t\n' '  ' | cut -c1-400)" \
			"$run/klog-check.txt" >>"$res"
	fi
	if grep -q '^timeout' "$run/result" || ! grep -q '^guest_rc ' "$run/result"; then
		printf 'fail\t%s\tguest finished\ttimeout or crash, see %s/console.log\n' "$k" "$run" >>"$res"
	else
		printf 'pass\t%s\tguest finished\t\n' "$k" >>"$res"
	fi
}

summarise_page() {
	local res=$1 k p f s
	echo
	echo "======================== bar-dmabuf check summary ========================"
	for k in $(awk -F'\t' '$1 ~ /^(pass|fail|skip)$/ && !seen[$2]++ { print $2 }' "$res" | tr '\n' ' '); do
		p=$(awk -F'\t' -v k="$k" '$2 == k && $1 == "pass"' "$res" | wc -l)
		f=$(awk -F'\t' -v k="$k" '$2 == k && $1 == "fail"' "$res" | wc -l)
		s=$(awk -F'\t' -v k="$k" '$2 == k && $1 == "skip"' "$res" | wc -l)
		echo
		echo "---- $k: $p passed, $f failed, $s skipped"
		awk -F'\t' -v k="$k" '$2 == k && $1 == "info" { printf "     %s: %s\n", $3, $4 }' "$res"
		awk -F'\t' -v k="$k" '$2 == k && $1 == "time" { t = t sprintf(" %s %ss", $3, $4) }
			END { if (t != "") print "     stage times:" t }' "$res"
		awk -F'\t' -v k="$k" '$2 == k && $1 == "fail" { printf "     FAIL  %s%s\n", $3, ($4 != "" ? "  (" $4 ")" : "") }' "$res"
		awk -F'\t' -v k="$k" '$2 == k && $1 == "skip" { printf "     skip  %s%s\n", $3, ($4 != "" ? "  (" $4 ")" : "") }' "$res" | head -n 20
	done
	p=$(awk -F'\t' '$1 == "pass"' "$res" | wc -l)
	f=$(awk -F'\t' '$1 == "fail"' "$res" | wc -l)
	s=$(awk -F'\t' '$1 == "skip"' "$res" | wc -l)
	echo
	awk -F'\t' '$1 == "time" && ($2 == "setup" || $2 == "total") { t = t sprintf(" %s %ss", $3, $4) }
		END { if (t != "") print "---- times:" t }' "$res"
	echo "$p passed, $f failed, $s skipped"
	[ "$f" = 0 ]
}

case ${1:-} in
run) summarise_run "${2:?kernel}" "${3:?rundir}" "${4:?results}" ;;
page) summarise_page "${2:?results}" ;;
*) echo "usage: summarise.sh run KERNEL RUNDIR RESULTS | page RESULTS" >&2; exit 2 ;;
esac
