#!/bin/bash
# shellcheck disable=SC2001,SC2086 # file lists split on purpose; sed to indent
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/lint.sh          (what `make lint` runs; `make check` too)
#
# The style gate, each part failing on any error, warning or check:
#   checkpatch   scripts/checkpatch.pl --strict --no-tree on every .c/.h of
#                src/ importer/ include/ compat/ selftests/
#   kernel-doc   scripts/kernel-doc -none -Wall on the uapi headers and on
#                every file that exports a symbol
#   troubleshooting table  every message of warning level or above in src/
#                and importer/ has a row in docs/troubleshooting.md, and every
#                row names one (rig/check-messages.pl)
#   W=1          the modules built against 6.1's headers with W=1
#   sparse       the same with C=2
# checkpatch and kernel-doc come from rig/fetch-kernel-tools.sh (sid's
# linux-source, or KSRC=). With RIG_RESULTS=FILE each part is also written
# there as a result line (see summarise.sh).

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

failed=0
record() {
	[ -n "${RIG_RESULTS:-}" ] || return 0
	printf '%s\tlint\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$RIG_RESULTS"
}
# part NAME OK DETAIL: report one part of the gate
part() {
	if [ "$2" = 0 ]; then
		say lint "$1: clean"
		record pass "$1"
	else
		say lint "$1: FAILED ($3)"
		record fail "$1" "$3"
		failed=$((failed + 1))
	fi
}

tools=$(bash "$RIG_DIR/fetch-kernel-tools.sh" --tree) || die "no kernel tools"
cd "$TREE_DIR"
sources=$(find src importer include compat selftests -name '*.[ch]' \
	-not -path 'compat/generated/*' -not -name '*.mod.c' 2>/dev/null | sort)

# --- checkpatch
say lint "checkpatch --strict --no-tree on $(echo "$sources" | wc -w) files"
bad=0
for f in $sources; do
	out=$("$tools/scripts/checkpatch.pl" --strict --no-tree --no-summary \
		--show-types --terse -f "$f" 2>&1) || true
	if [ -n "$out" ]; then
		echo "$out" | sed 's/^/    /'
		bad=$((bad + $(echo "$out" | wc -l)))
	fi
done
part checkpatch "$bad" "$bad problem(s)"

# --- kernel-doc
docs=$(find include/uapi -name '*.h' 2>/dev/null | sort)
docs="$docs $(grep -l 'EXPORT_SYMBOL' $sources 2>/dev/null | grep -v '^selftests/' || true)"
say lint "kernel-doc -none -Wall on:" $docs
out=$("$tools/scripts/kernel-doc" -none -Wall $docs 2>&1) || true
if [ -n "$out" ]; then echo "$out" | sed 's/^/    /'; fi
part kernel-doc "$(echo -n "$out" | grep -c .)" "$(echo -n "$out" | grep -c .) warning(s)"

# --- the troubleshooting table against the sources' messages
say lint "troubleshooting table: rig/check-messages.pl"
rc=0
out=$(perl "$RIG_DIR/check-messages.pl" "$TREE_DIR" 2>&1) || rc=$?
echo "$out" | sed 's/^/    /'
part "troubleshooting table" "$rc" "$(echo "$out" | tail -n 1)"

# --- W=1 and sparse builds against 6.1's headers, in a copy of the tree
bash "$RIG_DIR/fetch-kernel.sh" 6.1 >/dev/null || die "cannot fetch 6.1"
rig_load_kernel 6.1
mkdir -p "$CACHE/build"
lintdir=$(mktemp -d "$CACHE/build/lint.XXXXXX")
trap 'rm -rf "$lintdir"' EXIT
for mode in W=1 C=2; do
	name=$([ "$mode" = W=1 ] && echo "W=1 build" || echo "sparse (C=2)")
	dir=$lintdir/tree
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -C "$TREE_DIR" --exclude=.git --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
		--exclude='*.cmd' --exclude=./compat/generated -cf - . | tar -C "$dir" -xf -
	say lint "$name: make KDIR=<6.1 headers> $mode"
	log=$CACHE/build/lint-$mode.log
	rc=0
	(cd "$dir" && make KDIR="$KDIR" "$mode") >"$log" 2>&1 || rc=$?
	n=$(grep -cE 'warning:|error:' "$log" || true)
	if [ "$rc" != 0 ] || [ "$n" != 0 ]; then
		grep -E 'warning:|error:' "$log" | sed 's/^/    /' | head -n 50
		[ "$rc" = 0 ] || tail -n 20 "$log" | sed 's/^/    /'
		part "$name" 1 "exit $rc, $n warning(s)/error(s); log $log"
	else
		part "$name" 0
	fi
done

[ "$failed" = 0 ] || die "lint: $failed part(s) failed"
say lint "all clean"
