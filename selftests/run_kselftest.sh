#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the bar_dmabuf selftests here, as root: loads the modules if they are
# not loaded, runs every test binary found next to this script, prints KTAP
# (each binary's own KTAP nested under "# ") and a closing summary line, and
# exits non-zero if anything failed. POSIX sh: the test VM has busybox only.
#
# Environment (see README): BAR_DMABUF_BDF, BAR_DMABUF_BDF2,
# BAR_DMABUF_IOBAR_BDF, BAR_DMABUF_IMPORTER_BDF, BAR_DMABUF_HOTPLUG,
# BAR_DMABUF_SW_BDF and BAR_DMABUF_SW_IMPORTER_BDF (a device to export and
# an unbound function for the importer, below one PCIe switch), and
#   BAR_DMABUF_P2PDMA  y|n: this kernel proves the P2P path from the
#       exported BARs to BAR_DMABUF_IMPORTER_BDF (the test VM sets it from
#       the kernel's CONFIG_PCI_P2PDMA; its CPU model makes the host bridge
#       one the kernel trusts). Unset: read from /boot/config-$(uname -r)
#       (or /lib/modules/$(uname -r)/config); set n on a box whose host
#       bridge is not on the kernel's P2P list. Passed on to the tests.
#   BAR_DMABUF_ALLOW_UNPROVEN_P2P  value of the exporter's allow_unproven_p2p
#       when this script loads it (default 0 where the path is provable, so
#       the suite runs on the proven path; 1 where it is not: no
#       CONFIG_PCI_P2PDMA, or the importer's software device)
#   BAR_DMABUF_DMABUF_DEBUG  y|n: the kernel has CONFIG_DMABUF_DEBUG (read
#       like BAR_DMABUF_P2PDMA when unset); the test of an importer that
#       never unmaps skips there, the core's copy of the table would leak
#   BAR_DMABUF_TESTS  space-separated subset of the binaries to run
#       (default: every *_test binary next to this script)
#   KSFT_TIMEOUT      per-binary timeout in seconds (default: ./settings)

DIR=$(cd "$(dirname "$0")" && pwd)
TESTS=${BAR_DMABUF_TESTS:-$(cd "$DIR" && for f in *_test; do
	[ -x "$f" ] && echo "$f"; done)}

# kernel_has CONFIG_X: y or n (empty: no config to read)
kernel_has() {
	for f in "/boot/config-$(uname -r)" "/lib/modules/$(uname -r)/config"; do
		[ -r "$f" ] || continue
		if grep -q "^$1=y\$" "$f"; then echo y; else echo n; fi
		return
	done
}

BAR_DMABUF_P2PDMA=${BAR_DMABUF_P2PDMA:-$(kernel_has CONFIG_PCI_P2PDMA)}
BAR_DMABUF_DMABUF_DEBUG=${BAR_DMABUF_DMABUF_DEBUG:-$(kernel_has CONFIG_DMABUF_DEBUG)}
export BAR_DMABUF_P2PDMA BAR_DMABUF_DMABUF_DEBUG
if [ "$BAR_DMABUF_P2PDMA" = y ] && [ -n "$BAR_DMABUF_IMPORTER_BDF" ]; then
	P2P=${BAR_DMABUF_ALLOW_UNPROVEN_P2P:-0}
else
	P2P=${BAR_DMABUF_ALLOW_UNPROVEN_P2P:-1}
fi
TMP=${TMPDIR:-/tmp}/bar_dmabuf_ksft.$$
rc=0
loaded=""

timeout_s=${KSFT_TIMEOUT:-}
if [ -z "$timeout_s" ] && [ -r "$DIR/settings" ]; then
	timeout_s=$(sed -n 's/^timeout=//p' "$DIR/settings")
fi
timeout_s=${timeout_s:-600}

msg() {
	echo "# $*"
}

# The exporter's bdf= list: every device the tests were given.
exporter_bdfs() {
	list=""
	for b in "$BAR_DMABUF_BDF" "$BAR_DMABUF_BDF2" "$BAR_DMABUF_IOBAR_BDF" \
		"$BAR_DMABUF_SW_BDF"; do
		[ -n "$b" ] || continue
		case ",$list," in *",$b,"*) continue ;; esac
		list=${list:+$list,}$b
	done
	echo "$list"
}

load_modules() {
	if [ ! -d /sys/kernel/debug/dma_buf ] && [ -d /sys/kernel/debug ]; then
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	fi
	bdfs=$(exporter_bdfs)
	if [ -z "$bdfs" ]; then
		msg "BAR_DMABUF_BDF is not set: every test will skip"
	elif [ -d /sys/module/bar_dmabuf ]; then
		msg "bar_dmabuf already loaded; using it as it is"
	else
		msg "P2P path: BAR_DMABUF_P2PDMA=${BAR_DMABUF_P2PDMA:-unknown}, importer ${BAR_DMABUF_IMPORTER_BDF:-(software device)}"
		msg "modprobe bar_dmabuf bdf=$bdfs allow_unproven_p2p=$P2P"
		if modprobe bar_dmabuf bdf="$bdfs" allow_unproven_p2p="$P2P"; then
			loaded="bar_dmabuf"
		else
			msg "FAILED to load bar_dmabuf (is it installed? make install or dkms)"
			rc=1
		fi
	fi
	if [ -d /sys/module/bar_dmabuf_importer ]; then
		msg "bar_dmabuf_importer already loaded; using it as it is"
	elif [ -n "$BAR_DMABUF_IMPORTER_BDF" ]; then
		msg "modprobe bar_dmabuf_importer bdf=$BAR_DMABUF_IMPORTER_BDF"
		if modprobe bar_dmabuf_importer bdf="$BAR_DMABUF_IMPORTER_BDF"; then
			loaded="bar_dmabuf_importer $loaded"
		else
			msg "FAILED to load bar_dmabuf_importer"
			rc=1
		fi
	elif [ -n "$bdfs" ]; then
		msg "modprobe bar_dmabuf_importer (software device)"
		if modprobe bar_dmabuf_importer; then
			loaded="bar_dmabuf_importer $loaded"
		else
			msg "FAILED to load bar_dmabuf_importer"
			rc=1
		fi
	fi
}

# Unload what this script loaded (the unload path is part of the test).
unload_modules() {
	for m in $loaded; do
		[ -d "/sys/module/$m" ] || continue
		msg "rmmod $m"
		if ! rmmod "$m"; then
			msg "FAILED to unload $m"
			rc=1
		fi
	done
}

# Count the results of one binary's KTAP in $TMP.out.
count_results() {
	awk '
		/^ok [0-9]+ .*# SKIP/ { s++; next }
		/^ok [0-9]+/ { p++; next }
		/^not ok [0-9]+/ { f++; next }
		END { printf "%d %d %d\n", p, f, s }
	' "$TMP.out"
}

total_pass=0
total_fail=0
total_skip=0

load_modules

# shellcheck disable=SC2086 # a list of names, split on purpose
set -- $TESTS
echo "TAP version 13"
echo "1..$#"
n=0
for t in "$@"; do
	n=$((n + 1))
	hdr="selftests: bar_dmabuf: $t"
	echo "# $hdr"
	if [ ! -x "$DIR/$t" ]; then
		msg "$DIR/$t is missing (make -C selftests)"
		echo "not ok $n $hdr # missing"
		total_fail=$((total_fail + 1))
		rc=1
		continue
	fi
	(cd "$DIR" && timeout "$timeout_s" "./$t" 2>&1; echo $? >"$TMP.rc") |
		tee "$TMP.out" | sed 's/^/# /'
	trc=$(cat "$TMP.rc" 2>/dev/null)
	read -r np nf ns <<-EOF
	$(count_results)
	EOF
	total_pass=$((total_pass + np))
	total_fail=$((total_fail + nf))
	total_skip=$((total_skip + ns))
	case "$trc" in
	0)	echo "ok $n $hdr" ;;
	4)	echo "ok $n $hdr # SKIP" ;;
	124|143)
		echo "not ok $n $hdr # TIMEOUT $timeout_s seconds"
		total_fail=$((total_fail + 1))
		rc=1 ;;
	*)	echo "not ok $n $hdr # exit=$trc"
		# A binary that died without reporting its failure still fails.
		[ "$nf" -gt 0 ] || total_fail=$((total_fail + 1))
		rc=1 ;;
	esac
done
rm -f "$TMP.out" "$TMP.rc"

unload_modules

echo "# bar_dmabuf: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $rc
