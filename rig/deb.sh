#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/deb.sh build     (what `make deb` runs)
#        rig/deb.sh check     (a stage of `make check`)
#
# build: the Debian packages bar-dmabuf-dkms (the modules' sources in
#   /usr/src/bar-dmabuf-<version> for dkms, through dh-dkms; the udev rule;
#   the modprobe.d example) and bar-dmabuf-tools (bar-dmabuf, its man page,
#   the uapi headers) from a copy of the tree (debian/), into
#   RIG_DEB_OUT (default build/deb/ of the tree). Installs what it needs
#   (debhelper, dh-dkms, dpkg-dev, gcc, libc6-dev, make) with apt-get when
#   missing, as install-deps.sh does: only here, not for the whole rig.
# check: build into the cache, then in a throwaway bookworm chroot holding
#   dkms and the headers of the rig's 6.1 kernel (made once with mmdebstrap
#   from the host's bookworm sources and cached as a tarball in
#   $CACHE/chroot/) install both packages with dpkg and check that dkms
#   built and installed both modules for those headers (dkms status, the
#   files in updates/dkms/, their vermagic), that the headers compile from
#   the system include path and bar-dmabuf runs; then purge them and check
#   that dkms and the files are gone. The chroot is extracted into a
#   temporary directory and removed afterwards; the host is not touched.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=rig/lib.sh
. "$(dirname "$0")/lib.sh"

mode=${1:-build}
ver=$(sed -n 's/^PACKAGE_VERSION="\?\([^"]*\)"\?$/\1/p' "$TREE_DIR/dkms.conf")
[ -n "$ver" ] || die "no PACKAGE_VERSION in dkms.conf"
debver=$(sed -n '1s/^bar-dmabuf (\([^)]*\)).*/\1/p' "$TREE_DIR/debian/changelog")
[ "${debver%-*}" = "$ver" ] ||
	die "debian/changelog says ${debver:-nothing}, dkms.conf $ver: make them agree"

# Build dependencies from the host's Debian suites, as install-deps.sh.
deb_deps() {
	local p st missing=
	for p in debhelper dh-dkms dpkg-dev gcc libc6-dev make; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case $st in *" installed") ;; *) missing="$missing $p" ;; esac
	done
	[ -n "$missing" ] || return 0
	[ "$(id -u)" = 0 ] || die "make deb needs:$missing (apt-get install$missing, as root)"
	say deb "apt-get install$missing"
	rig_apt_setup host
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null || die "apt-get install$missing failed"
}

# deb_build OUTDIR: the two .deb files into OUTDIR.
deb_build() {
	local out=$1 work src
	deb_deps
	mkdir -p "$CACHE/deb" "$out"
	work=$(mktemp -d "$CACHE/deb/build.XXXXXX")
	src=$work/bar-dmabuf-$ver
	mkdir -p "$src"
	tar -C "$TREE_DIR" --exclude=.git --exclude=./build --exclude='*.o' \
		--exclude='*.ko' --exclude='*.mod*' --exclude='*.cmd' \
		--exclude=./compat/generated -cf - . | tar -C "$src" -xf -
	say deb "dpkg-buildpackage -b in $src"
	if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
		tail -n 30 "$work/build.log" >&2
		die "dpkg-buildpackage failed; log $work/build.log"
	fi
	rm -f "$out"/bar-dmabuf-*.deb
	cp "$work"/bar-dmabuf-dkms_"$debver"_all.deb "$work"/bar-dmabuf-tools_"$debver"_*.deb "$out/" ||
		die "dpkg-buildpackage made no bar-dmabuf-dkms/-tools packages"
	rm -rf "$work"
	say deb "built:"
	ls -l "$out"/bar-dmabuf-*.deb >&2
}

# The host's apt lines of bookworm (main), its updates and security.
bookworm_sources() {
	# shellcheck disable=SC2016 # apt expands them
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(IDENTIFIER)' 2>/dev/null |
		awk '$4 == "Packages" && $3 == "main" &&
			$2 ~ /^bookworm(-updates|-security)?$/ { print "deb " $1 " " $2 " main" }' |
		sort -u
}

# The chroot tarball: bookworm with dkms and the 6.1 headers, made once.
chroot_tarball() {
	local tar=$CACHE/chroot/bookworm-dkms-$KREL.tar incl srcs
	incl="dkms,openssl,libc6-dev,linux-headers-$KREL"
	if [ -f "$tar" ] && [ "$(cat "$tar.done" 2>/dev/null)" = "$incl" ]; then
		echo "$tar"
		return 0
	fi
	srcs=$(bookworm_sources)
	[ -n "$srcs" ] || die "no bookworm sources in the host's apt configuration"
	mkdir -p "$CACHE/chroot"
	say deb "mmdebstrap bookworm with $incl into $tar (once)"
	rm -rf "$tar" "$tar.done" "${tar%.tar}.tmp.tar"
	(unset APT_CONFIG && printf '%s\n' "$srcs" |
		nice -n 10 mmdebstrap --quiet --variant=apt --include="$incl" \
			bookworm "${tar%.tar}.tmp.tar" -) >&2 || die "mmdebstrap of bookworm failed"
	mv "${tar%.tar}.tmp.tar" "$tar"
	echo "$incl" >"$tar.done"
	echo "$tar"
}

# in_chroot ROOT COMMAND...: run COMMAND in ROOT with /proc and /dev.
in_chroot() {
	local root=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare -m --propagation private bash -c '
		set -e
		root=$1
		shift
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' bash "$root" "$@"
}

deb_check() {
	local out tar t0 rc=0
	t0=$(rig_now)
	bash "$RIG_DIR/fetch-kernel.sh" 6.1 >/dev/null || die "cannot fetch 6.1"
	rig_load_kernel 6.1
	out=$CACHE/deb/out
	deb_build "$out"
	tar=$(chroot_tarball)
	deb_root=$(mktemp -d "$CACHE/deb/chroot.XXXXXX")
	trap 'rm -rf "$deb_root"' EXIT
	tar -C "$deb_root" -xf "$tar" || die "cannot extract $tar"
	mkdir -p "$deb_root/debs"
	cp "$out"/bar-dmabuf-*.deb "$deb_root/debs/"
	say deb "in a bookworm chroot with linux-headers-$KREL: dpkg -i" "$(cd "$out" && echo bar-dmabuf-*.deb)"
	# shellcheck disable=SC2016 # expanded by the chroot's sh
	in_chroot "$deb_root" /bin/sh -c '
		set -u
		krel=$1 ver=$2
		bad=0
		no() { echo "deb-check: $*"; bad=1; }
		if ! dpkg -i /debs/*.deb; then
			echo "deb-check: dpkg -i failed; the end of dkms make.log:"
			tail -n 20 /var/lib/dkms/bar-dmabuf/"$ver"/build/make.log
			exit 1
		fi
		st=$(dkms status -m bar-dmabuf -v "$ver" -k "$krel")
		echo "deb-check: dkms status: $st"
		case $st in *": installed"*) ;; *) no "dkms did not install bar-dmabuf/$ver for $krel" ;; esac
		for m in bar_dmabuf bar_dmabuf_importer; do
			f=$(ls /lib/modules/"$krel"/updates/dkms/"$m".ko* 2>/dev/null | head -n1)
			if [ -z "$f" ]; then
				no "no $m.ko in /lib/modules/$krel/updates/dkms"
				continue
			fi
			vm=$(modinfo -F vermagic "$f")
			case $vm in "$krel "*) echo "deb-check: $f: vermagic $vm" ;;
			*) no "$f has vermagic \"$vm\", not $krel" ;; esac
		done
		printf "#include <linux/bar_dmabuf.h>\n#include <linux/bar_dmabuf_importer.h>\nint main(void) { return BAR_DMABUF_IOCTL_INFO == 0; }\n" >/tmp/h.c
		gcc -Wall -o /tmp/h /tmp/h.c || no "the uapi headers do not compile from the system include path"
		bar-dmabuf --help >/dev/null || no "bar-dmabuf --help failed"
		bar-dmabuf list 2>/tmp/err; rc=$?
		[ "$rc" = 3 ] && grep -q "module is not loaded" /tmp/err ||
			no "bar-dmabuf list without the module: exit $rc, $(cat /tmp/err)"
		[ -f /usr/share/man/man8/bar-dmabuf.8.gz ] || no "no man page"
		[ -f /usr/lib/udev/rules.d/60-bar-dmabuf.rules ] || no "no udev rule"
		[ -f /etc/modprobe.d/bar-dmabuf.conf ] || no "no modprobe.d example"
		dpkg --purge bar-dmabuf-tools bar-dmabuf-dkms || no "dpkg --purge failed"
		[ -z "$(dkms status -m bar-dmabuf)" ] || no "dkms still lists bar-dmabuf after the purge"
		ls /lib/modules/"$krel"/updates/dkms/bar_dmabuf*.ko* >/dev/null 2>&1 &&
			no "modules left in /lib/modules/$krel/updates/dkms after the purge"
		[ ! -e /usr/src/bar-dmabuf-"$ver" ] || no "/usr/src/bar-dmabuf-$ver left after the purge"
		[ ! -e /usr/sbin/bar-dmabuf ] || no "/usr/sbin/bar-dmabuf left after the purge"
		exit $bad
	' sh "$KREL" "$ver" || rc=$?
	say deb "check done in $(($(rig_now) - t0)) s (exit $rc)"
	return "$rc"
}

case $mode in
build)
	deb_build "${RIG_DEB_OUT:-$TREE_DIR/build/deb}"
	;;
check)
	deb_check
	;;
*)
	die "usage: deb.sh build | check"
	;;
esac
