#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/demo.sh        (what `make demo` runs)
#
# Boot the newest Debian kernel (sid; DEMO_KERNEL=6.1 etc. for another)
# under QEMU with the emulated PCI devices, load the exporter by BDF and show
# what it does (rig/guest/demo). Installs missing packages and fetches the
# kernel first.
#
# Prints only the demo's story (the guest's lines between @@DEMO-BEGIN@@
# and @@DEMO-END@@) as it comes. Everything else (package installs, the
# kernel download, the build, the guest's boot log and kernel messages) goes
# to $CACHE/demo/demo.log, whose path it prints at the end; when anything
# fails it prints that log too and exits non-zero (vm-run.sh's status, or 1
# when the story did not end).

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

kernel=${DEMO_KERNEL:-sid}
mkdir -p "$CACHE/demo"
log=$CACHE/demo/demo.log
: >"$log"
status=$CACHE/demo/story.status

# progress LINE: one line of our own for the rig's long steps, so a cold
# machine does not look stuck (the details are in the log)
progress() {
	case $1 in
	"==> install-deps: missing:"*) say demo "installing Debian packages:${1#*missing:}" ;;
	"==> fetch-kernel: "*" from "*": "*) say demo "downloading the $kernel kernel (first run only)" ;;
	"==> sid-chroot: mmdebstrap"*) say demo "making the sid build chroot (first run only, a few minutes)" ;;
	"==> build-for-kernel: "*": copy "*) say demo "building the modules, selftests and tools" ;;
	"==> boot-and-run: "*": qemu ("*) say demo "booting the VM (QEMU without KVM)" ;;
	esac
}

# story_filter: every line to the log; the story's lines also to stdout.
# Writes the story's end status (or "none") to $status.
story_filter() {
	local line in=0 end=none re_end='^@@DEMO-END ([0-9]+)@@'
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		if [ "$line" = "@@DEMO-BEGIN@@" ]; then
			in=1
		elif [[ $line =~ $re_end ]]; then
			in=0
			end=${BASH_REMATCH[1]}
		elif [ "$in" = 1 ]; then
			printf '%s\n' "$line"
		else
			progress "$line"
		fi
	done
	echo "$end" >"$status"
}

say demo "kernel $kernel; the details go to $log"
set +e
{
	bash "$RIG_DIR/install-deps.sh" &&
		bash "$RIG_DIR/vm-run.sh" "$kernel" "$RIG_DIR/guest/demo"
} 2>&1 | story_filter
rc=${PIPESTATUS[0]}
set -e
end=$(cat "$status")
if [ "$rc" = 0 ] && [ "$end" = 0 ]; then
	echo
	say demo "done; the guest's whole console (boot log, kernel messages): $log"
	exit 0
fi
[ "$rc" != 0 ] || rc=1
echo
say demo "FAILED (exit $rc, story status $end); the whole log follows"
sed 's/^/  | /' "$log"
say demo "FAILED (exit $rc, story status $end); log: $log"
exit "$rc"
