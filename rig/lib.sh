# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared helpers for the rig scripts (sourced, never run).
#
# Cache layout (BAR_DMABUF_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/bar-dmabuf):
#   apt/<suite>/          private apt configuration, lists, archives, status
#   kernels/<release>/    extracted image + headers debs (root/), kernel.env
#   kernels/<alias>.env   which release an alias resolved to last time
#   build/<release>/      per-kernel copy of the tree, modules + selftests built
#   chroot/sid/           mmdebstrap chroot used to build for sid's kernel
#   runs/<release>/       last run: initramfs, BAR backing files, console log
#   tools/                checkpatch, kernel-doc, kselftest headers
#
# RIG_TREE=/path builds another checkout of the project instead of this one.

set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this
TREE_DIR=$(cd "${RIG_TREE:-$RIG_DIR/..}" && pwd)
CACHE=${BAR_DMABUF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bar-dmabuf}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

# say STAGE WHAT...: one line per action, so a log reads as a story.
say() {
	local stage=$1
	shift
	printf '==> %s: %s\n' "$stage" "$*" >&2
}

die() {
	printf 'rig: error: %s\n' "$*" >&2
	exit 1
}

# The suite a kernel alias comes from.
#   6.1            bookworm, through the host's own apt configuration
#   6.12           bookworm-backports, private apt configuration
#   7.2, 7, sid    sid (newest version resolved at run time), private apt
#   debug          built here from sid's linux-source (rig/build-debug-kernel.sh)
rig_suite_of() {
	case $1 in
	6.1) echo host ;;
	6.12) echo bookworm-backports ;;
	sid | 7 | 7.*) echo sid ;;
	debug) echo debug ;;
	*) die "unknown kernel '$1' (use 6.1, 6.12, 7.2 (or 7, sid) or debug)" ;;
	esac
}

# The host's Debian mirror: the first URI of the host apt source that carries
# the host's own codename. Never written into the repo.
rig_host_mirror() {
	local codename f
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot tell the host's Debian codename from /etc/os-release"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v cn="$codename" '
			function flush() {
				if (ok && uri != "" && !done) { print uri; done = 1 }
				ok = 0; uri = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			tolower($1) == "enabled:" && tolower($2) == "no" { ok = -1000 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == cn) ok++ }
			END { flush() }' "$f"
	done | head -n1 | grep . && return 0
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+'"$codename"'[ \t].*/\2/p' "$f"
	done | head -n1 | grep . && return 0
	die "no apt source for '$codename' in /etc/apt; cannot find a Debian mirror"
}

# rig_apt_setup SUITE: write a private apt configuration under the cache
# and export APT_CONFIG pointing at it. For "host" nothing is set up: the
# host's own apt configuration and lists are used as they are.
rig_apt_setup() {
	local suite=$1 dir mirror
	if [ "$suite" = host ]; then
		unset APT_CONFIG
		return 0
	fi
	dir=$CACHE/apt/$suite
	mkdir -p "$dir/etc/sources.list.d" "$dir/etc/preferences.d" "$dir/lists/partial" \
		"$dir/cache/archives/partial" "$dir/debs"
	[ -f "$dir/status" ] || : >"$dir/status"
	if [ ! -f "$dir/etc/sources.list" ]; then
		mirror=$(rig_host_mirror)
		if [ "$suite" = sid ]; then
			# sid's Release may be past Valid-Until on a snapshot mirror.
			echo "deb [check-valid-until=no] $mirror sid main" >"$dir/etc/sources.list"
		else
			echo "deb $mirror $suite main" >"$dir/etc/sources.list"
		fi
	fi
	cat >"$dir/etc/apt.conf" <<-EOF
		Dir::Etc::SourceList "$dir/etc/sources.list";
		Dir::Etc::SourceParts "$dir/etc/sources.list.d";
		Dir::Etc::PreferencesParts "$dir/etc/preferences.d";
		Dir::Etc::Preferences "$dir/etc/preferences";
		Dir::State::Lists "$dir/lists";
		Dir::State::status "$dir/status";
		Dir::Cache "$dir/cache";
		APT::Sandbox::User "root";
	EOF
	export APT_CONFIG=$dir/etc/apt.conf
}

# rig_apt_update SUITE: refresh the package lists of a private suite when
# they are older than RIG_APT_MAX_AGE minutes (default 360). The host's lists
# are refreshed only when they lack linux-image-amd64 altogether.
rig_apt_update() {
	local suite=$1 dir max=${RIG_APT_MAX_AGE:-360}
	if [ "$suite" = host ]; then
		if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
			say apt "host lists lack linux-image-amd64: apt-get update"
			apt-get update -qq >&2
		fi
		return 0
	fi
	dir=$CACHE/apt/$suite
	if [ -n "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin "-$max" 2>/dev/null)" ]; then
		return 0
	fi
	say apt "apt-get update for $suite (private lists under $dir)"
	mkdir -p "$CACHE/locks"
	flock "$CACHE/locks/apt-$suite" apt-get update -qq >&2
}

# Depends of a package's candidate, one name per line (alternatives and
# version constraints dropped).
rig_apt_depends() {
	apt-cache show --no-all-versions "$1" |
		sed -n 's/^Depends: //p' | tr ',' '\n' |
		sed 's/|.*//; s/(.*)//; s/[ \t]//g; s/:any$//' | grep .
}

rig_apt_version() {
	apt-cache show --no-all-versions "$1" | sed -n 's/^Version: //p' | head -n1
}

# rig_alias_env ALIAS: path of the env file written by fetch-kernel.sh.
rig_alias_env() {
	echo "$CACHE/kernels/alias-$1.env"
}

# rig_load_kernel ALIAS: source what fetch-kernel.sh recorded:
# KREL (uname -r), KIMAGE (bzImage), KDIR (kbuild dir), KROOT (extracted
# root), KMODS (its lib/modules/$KREL), KSUITE.
rig_load_kernel() {
	local env
	env=$(rig_alias_env "$1")
	[ -f "$env" ] || die "kernel $1 not fetched yet (run rig/fetch-kernel.sh $1)"
	# shellcheck disable=SC1090
	. "$env"
}

# rig_linux_source_deb: download (once, under a lock) sid's newest
# linux-source-X.Y .deb into $CACHE/src and print "PACKAGE VERSION PATH".
rig_linux_source_deb() {
	local pkg ver deb
	mkdir -p "$CACHE/locks" "$CACHE/src"
	(
		flock 8
		rig_apt_setup sid
		rig_apt_update sid
		pkg=$(rig_apt_depends linux-source | grep '^linux-source-' | head -n1) ||
			die "no linux-source-* behind sid's linux-source metapackage"
		ver=$(rig_apt_version "$pkg")
		deb=$CACHE/src/${pkg}_${ver}_all.deb
		if [ ! -f "$deb" ]; then
			say linux-source "download $pkg $ver from sid"
			rm -f "$CACHE"/src/"${pkg}"_*_all.deb
			(cd "$CACHE/src" && apt-get download -q -o APT::Sandbox::User=root "$pkg") >&2 ||
				die "apt-get download $pkg failed"
			# apt escapes ':' in epochs; take what it wrote
			[ -f "$deb" ] || deb=$(find "$CACHE/src" -name "${pkg}_*_all.deb" | head -n1)
		fi
		echo "$pkg $ver $deb"
	) 8>"$CACHE/locks/linux-source"
}

# rig_guest_env KERNEL: the guest's environment (rig/guest/init sources it).
# The BDFs follow from boot-and-run.sh's topology.
# BAR_DMABUF_P2PDMA=y|n says whether the kernel has CONFIG_PCI_P2PDMA; with
# it, boot-and-run.sh's AMD family-23 CPU model makes pci_p2pdma_distance()
# prove the path from the ivshmem BARs to the edu importer, so the suite
# loads the exporter with allow_unproven_p2p=0 and takes the proven path.
# BAR_DMABUF_DMABUF_DEBUG=y|n: CONFIG_DMABUF_DEBUG (the core hands importers
# a copy of each table, which leaks if an importer never unmaps).
# They are exported here because guest/init exports only its own list.
rig_guest_env() {
	local config p2pdma= dmabuf_debug=

	# the kernel's .config: the headers' (or the debug build's), else
	# Debian's /boot/config-* or the modules' config
	config=$(
		rig_load_kernel "$1"
		for f in "$KDIR/.config" "$KROOT/boot/config-$KREL" "$KMODS/config"; do
			[ -f "$f" ] && echo "$f" && break
		done
	) || config=
	if [ -z "$config" ]; then
		say guest-env "no kernel config for $1: BAR_DMABUF_P2PDMA left unset"
	else
		p2pdma=n
		dmabuf_debug=n
		if grep -q '^CONFIG_PCI_P2PDMA=y' "$config"; then p2pdma=y; fi
		if grep -q '^CONFIG_DMABUF_DEBUG=y' "$config"; then dmabuf_debug=y; fi
	fi
	cat <<-EOF
		BAR_DMABUF_BDF=0000:01:00.0
		BAR_DMABUF_BDF2=0000:02:00.0
		BAR_DMABUF_IMPORTER_BDF=0000:03:00.0
		BAR_DMABUF_IOBAR_BDF=0000:04:00.0
		BAR_DMABUF_SW_BDF=0000:07:00.0
		BAR_DMABUF_SW_IMPORTER_BDF=0000:08:00.0
		BAR_DMABUF_VFIO_BDF=0000:09:00.0
		BAR_DMABUF_HOTPLUG=/rig/hotplug
		BAR_DMABUF_AER=/rig/aer
		BAR_DMABUF_HOSTFILE_CHECK=/rig/hostfile-check
		BAR_DMABUF_HOSTFILE=/rig/hostfile-check
		RIG_KERNEL=$1
	EOF
	[ -z "$p2pdma" ] || echo "export BAR_DMABUF_P2PDMA=$p2pdma"
	[ -z "$dmabuf_debug" ] || echo "export BAR_DMABUF_DMABUF_DEBUG=$dmabuf_debug"
	# virtio_gpu_test's devices (boot-and-run.sh's rp7 and rp8)
	cat <<-EOF
		export BAR_DMABUF_GPU_BDF=0000:0a:00.0
		export BAR_DMABUF_GPU_PLAIN_BDF=0000:0b:00.0
		export BAR_DMABUF_GPU_BLOB=$(rig_load_kernel "$1" && rig_gpu_blob "$KREL" && echo y || echo n)
	EOF
	# conformance_test's fd variant: any exporter through the user's
	# commands (README "Conformance"); here bar_dmabuf through its CLI, so
	# the generic path is checked against a known exporter. The export
	# command names its buffer ("PID FD") and holds it until its stdin's
	# EOF; ':' as the close: that end closes the control node. Single
	# quotes: the test's shell expands them, per command.
	cat <<-'EOF'
		export BAR_DMABUF_CONFORMANCE_EXPORT='bar-dmabuf export $BAR_DMABUF_BDF --bar 2 --range $BAR_DMABUF_CONFORMANCE_RANGES --quiet -- sh -c "echo \$\$ \$BAR_DMABUF_FD; read x"'
		export BAR_DMABUF_CONFORMANCE_REVOKE='bar-dmabuf revoke $BAR_DMABUF_BDF --all --timeout $BAR_DMABUF_CONFORMANCE_TIMEOUT_MS >/dev/null'
		export BAR_DMABUF_CONFORMANCE_RESTORE='bar-dmabuf restore $BAR_DMABUF_BDF --all >/dev/null'
		export BAR_DMABUF_CONFORMANCE_RESET='echo 1 > /sys/bus/pci/devices/$BAR_DMABUF_BDF/reset'
		export BAR_DMABUF_CONFORMANCE_CLOSE=':'
	EOF
	[ -z "${RIG_SOAK:-}" ] || cat <<-EOF
		export BAR_DMABUF_TESTS="${SOAK_TESTS:-fuzz_test unplug_test concurrency_test}"
		export BAR_DMABUF_FUZZ_CALLS=${SOAK_FUZZ_CALLS:-1000000}
		export BAR_DMABUF_UNPLUG_CYCLES=${SOAK_UNPLUG_CYCLES:-100}
		export BAR_DMABUF_STRESS_MS=${SOAK_STRESS_MS:-60000}
		export BAR_DMABUF_STRESS_ROUNDS=${SOAK_STRESS_ROUNDS:-10}
		export KSFT_TIMEOUT=${SOAK_KSFT_TIMEOUT:-14400}
	EOF
}

# Whole seconds since the epoch, for stage timings.
rig_now() {
	date +%s
}

# rig_qemu_shim: build (when its source changed) rig/qemu/udmabuf-shim.c
# into the cache and print the .so's path. boot-and-run.sh preloads it into
# its own QEMU process only (see there why).
rig_qemu_shim() {
	local src=$RIG_DIR/qemu/udmabuf-shim.c dir=$CACHE/qemu-shim so
	so=$dir/udmabuf-shim-$(sha256sum "$src" | cut -c1-16).so
	if [ ! -f "$so" ]; then
		mkdir -p "$dir"
		say qemu-shim "build $so"
		gcc -O2 -Wall -Wextra -shared -fPIC -o "$so.tmp.$$" "$src" -ldl ||
			die "cannot build $src"
		mv -f "$so.tmp.$$" "$so"
	fi
	echo "$so"
}

# rig_gpu_blob KREL: does the rig give gpu0 blob resources on this kernel?
# From 6.14, whose virtio-gpu imports foreign dma-bufs as guest blobs.
rig_gpu_blob() {
	[ "$(printf '%s\n' "$1" 6.14 | sort -V | head -n1)" = 6.14 ]
}

# rig_gpu_pattern W H SEED: the RGB bytes, in hex, of the W x H picture
# virtio_gpu_test writes (pixel x, y: R = x + y + SEED, G = 13 y + SEED,
# B = 7 x + SEED, all mod 256), as QEMU's PPM screendump holds them.
rig_gpu_pattern() {
	awk -v w="$1" -v h="$2" -v s="$3" 'BEGIN {
		for (y = 0; y < h; y++)
			for (x = 0; x < w; x++)
				printf "%02x%02x%02x", (x + y + s) % 256, (y * 13 + s) % 256, (x * 7 + s) % 256
		print ""
	}'
}
