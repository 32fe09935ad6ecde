#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/check-kernel-log.sh CONSOLE_LOG
#
# Fail (exit 1, printing the offending lines) when the guest console shows a
# kernel warning of any kind: WARNING:, BUG:, Oops, lockdep, KASAN, kmemleak
# leaks, debugobjects, RCU stalls, hung tasks, panics, any stack dump, or a
# taint other than an out-of-tree (O) or unsigned (E) module. (DMA-API debug
# errors come as WARNING:; the rig also checks their count on the debug
# kernel.)

log=${1:?usage: check-kernel-log.sh CONSOLE_LOG}
bad='WARNING:|BUG:|Oops|general protection fault|Kernel panic|'
bad=$bad'possible circular locking|possible recursive locking|inconsistent lock state|'
bad=$bad'turning off the locking correctness validator|DEBUG_LOCKS_WARN_ON|'
bad=$bad'INFO: trying to register non-static key|INFO: possible|'
bad=$bad'KASAN|UBSAN|suspected memory leak|unreferenced object|'
bad=$bad'ODEBUG: [a-z]+ (active|not available|destroy)|rcu: INFO|detected stalls|'
bad=$bad'blocked for more than|'
bad=$bad'refcount_t: |list_add corruption|list_del corruption|'
bad=$bad'unchecked MSR access|Call Trace:|------------\[ cut here'
# Taint lines we accept: out-of-tree and unsigned modules.
ok_taint='loading out-of-tree module taints kernel|module verification failed: signature and/or required key missing - tainting kernel'

tmp=$(mktemp)
# Only kernel lines (they carry a printk timestamp, possibly after guest
# output that shared the line): test output may say anything.
klines=$(mktemp)
trap 'rm -f "$tmp" "$klines"' EXIT
tr -d '\r' <"$log" | grep -E '\[ *[0-9]+\.[0-9]{6}\]' >"$klines" || true
grep -E "$bad" "$klines" >"$tmp" || true
grep -Ei 'taint' "$klines" | grep -Ev "$ok_taint" |
	grep -Ev 'Disabling lock debugging due to kernel taint|Not tainted' >>"$tmp" || true
# "Tainted:" in a report header without a report would still be a report.
if [ -s "$tmp" ]; then
	echo "==> check-kernel-log: kernel problems in $log:" >&2
	sed 's/^/    /' "$tmp" | head -n 60 >&2
	exit 1
fi
echo "==> check-kernel-log: clean ($log)" >&2
