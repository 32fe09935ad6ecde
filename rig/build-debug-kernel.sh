#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/build-debug-kernel.sh
#
# Build the debug kernel from sid's newest linux-source-X.Y package:
# `make ARCH=x86_64 tinyconfig`, merge rig/debug.config, olddefconfig, check
# that every option of the fragment came out as written (the build stops
# otherwise), then bzImage + modules with nice -n 10 -j$(nproc) and the
# host's gcc. Output in $CACHE/debug/<version>-<fragment hash>/ (cached;
# a new source version or fragment builds anew). Writes the alias env for
# KERNEL=debug like fetch-kernel.sh does.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

frag=$RIG_DIR/debug.config
read -r pkg ver deb <<EOT
$(rig_linux_source_deb)
EOT
[ -f "$deb" ] || exit 1
hash=$(sha256sum <"$frag" | cut -c1-12)
out=$CACHE/debug/$ver-$hash
src=$CACHE/debug/src-$ver
build=$out/build

mkdir -p "$CACHE/locks" "$CACHE/debug"
exec 6>"$CACHE/locks/debug-kernel"
flock 6

if [ ! -f "$src/.done" ]; then
	say build-debug-kernel "extract $pkg $ver into $src"
	rm -rf "$CACHE"/debug/src-*
	mkdir -p "$src"
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/src/$pkg.tar.xz" |
		nice -n 10 xz -dc | tar -x -C "$src" --strip-components=1 ||
		die "extracting $deb failed"
	touch "$src/.done"
fi

# check_config: every fragment line must be in .config as written.
check_config() {
	local line opt missing=0 optional=0
	while IFS= read -r line; do
		case $line in
		'# rig:optional') optional=1; continue ;;
		CONFIG_*=*) opt=${line%%=*} ;;
		'# CONFIG_'*' is not set') opt=${line#\# }; opt=${opt%% *} ;;
		*) continue ;;
		esac
		if [ $optional = 1 ] && ! grep -rqsE "^(menu)?config ${opt#CONFIG_}\$" \
			--include='Kconfig*' "$src"; then
			say build-debug-kernel "note: $opt does not exist in $ver (optional)"
		elif case $line in \#*) grep -qE "^$opt=[ym]" "$build/.config" ;; *) ! grep -qxF "$line" "$build/.config" ;; esac then
			echo "    missing: $line (have: $(grep -E "^$opt=|^# $opt is not set" "$build/.config" || echo nothing))" >&2
			missing=$((missing + 1))
		fi
		optional=0
	done <"$frag"
	[ $missing = 0 ] || die "$missing option(s) of rig/debug.config did not survive olddefconfig"
}

if [ ! -f "$out/.done" ]; then
	# an interrupted build is continued, not started over
	mkdir -p "$build"
	kmake() {
		nice -n 10 make -C "$src" O="$build" ARCH=x86_64 "$@"
	}
	# The config is made in a scratch directory: running tinyconfig in the
	# build directory would touch every option and rebuild everything.
	say build-debug-kernel "tinyconfig + rig/debug.config ($hash) for $ver"
	cfg=$out/config
	mkdir -p "$cfg"
	make -s -C "$src" O="$cfg" ARCH=x86_64 tinyconfig >&2
	"$src/scripts/kconfig/merge_config.sh" -m -O "$cfg" "$cfg/.config" "$frag" >/dev/null ||
		die "merge_config.sh failed"
	make -s -C "$src" O="$cfg" ARCH=x86_64 olddefconfig >&2
	cmp -s "$cfg/.config" "$build/.config" || cp "$cfg/.config" "$build/.config"
	kmake -s olddefconfig >&2
	check_config
	start=$(rig_now)
	say build-debug-kernel "make -j$(nproc) bzImage modules (nice 10); ~10 min from cold on 2 cores"
	kmake -j"$(nproc)" bzImage modules >"$out/build.log" 2>&1 || {
		tail -n 40 "$out/build.log" >&2
		die "debug kernel build failed (log: $out/build.log)"
	}
	kmake -s INSTALL_MOD_PATH="$out/root" INSTALL_MOD_STRIP=1 modules_install >/dev/null
	say build-debug-kernel "built in $(($(rig_now) - start))s"
	touch "$out/.done"
	# older builds of this version (other fragments) are not needed any more
	find "$CACHE/debug" -mindepth 1 -maxdepth 1 -name "$ver-*" ! -name "$ver-$hash" \
		! -samefile "$(readlink -f "$out")" -exec rm -rf {} +
fi

krel=$(make -s -C "$src" O="$build" ARCH=x86_64 kernelrelease)
cat >"$(rig_alias_env debug)" <<EOT
KALIAS=debug
KSUITE=debug
KREL=$krel
KIMAGE=$build/arch/x86/boot/bzImage
KDIR=$build
KROOT=$out/root
KMODS=$out/root/lib/modules/$krel
EOT
say build-debug-kernel "debug: KREL=$krel KDIR=$build"
