# SPDX-License-Identifier: GPL-2.0
#
# bar-dmabuf: user-facing entry points.
#
#   make [KDIR=/path/to/kernel/build]   build both modules (default: the
#                                       running kernel's headers)
#   make W=1 | make C=2                 extra warnings | sparse
#   make modules_install                the modules into updates/ of KDIR's
#                                       kernel (was `make install`)
#   make install [DESTDIR=] [PREFIX=]   the uapi headers, bar-dmabuf and its
#                                       man page, the udev rule and a
#                                       modprobe.d example (PREFIX=/usr/local;
#                                       UDEVDIR, MODPROBEDIR, DKMSDIR: where)
#   make uninstall                      removes what install put there
#   make deb                            Debian packages bar-dmabuf-dkms and
#                                       bar-dmabuf-tools in build/deb/
#   make dkms-install                   (as root) dkms add + build + install
#                                       for the running kernel
#   make kselftest                      build and run the selftests on this
#                                       machine (BAR_DMABUF_BDF=...)
#   make lint                           checkpatch --strict, W=1, sparse
#   make demo                           boot a VM and show what it does
#   make check                          the whole suite on every kernel
#                                       under QEMU (KERNELS=... for a subset)
#   make bench                          ratios measured against a reference
#
# Kbuild does the real work (see Kbuild, src/Kbuild, importer/Kbuild). This
# file never looks at KERNELRELEASE, since dkms passes one on its own.

KDIR ?= /lib/modules/$(shell uname -r)/build
COMPAT_H := compat/generated/bar_dmabuf_probes.h
PROBES := $(wildcard compat/probes/*.c)

.PHONY: all modules compat clean modules_install install uninstall tools \
	install-dkms-src deb dkms-install selftests kselftest lint check demo \
	bench soak

all: modules

# The probe step runs every time (a few seconds): KDIR may have changed and
# the header is rewritten only when an answer changes.
compat:
	@sh compat/run-probes.sh $(KDIR) $(COMPAT_H)

modules: compat
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

modules_install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates modules_install

# What `make install` puts where. DESTDIR is prepended to each.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/sbin
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
UDEVDIR ?= /etc/udev/rules.d
MODPROBEDIR ?= /etc/modprobe.d
INSTALL ?= install
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
INSTALLED := $(BINDIR)/bar-dmabuf $(MANDIR)/man8/bar-dmabuf.8 \
	$(INCLUDEDIR)/linux/bar_dmabuf.h \
	$(INCLUDEDIR)/linux/bar_dmabuf_importer.h \
	$(UDEVDIR)/60-bar-dmabuf.rules $(MODPROBEDIR)/bar-dmabuf.conf

tools:
	$(MAKE) -C tools bar-dmabuf

install: tools
	$(INSTALL) -D -m 755 tools/bar-dmabuf $(DESTDIR)$(BINDIR)/bar-dmabuf
	$(INSTALL) -D -m 644 tools/bar-dmabuf.8 \
		$(DESTDIR)$(MANDIR)/man8/bar-dmabuf.8
	$(INSTALL) -D -m 644 include/uapi/linux/bar_dmabuf.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/bar_dmabuf.h
	$(INSTALL) -D -m 644 include/uapi/linux/bar_dmabuf_importer.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/bar_dmabuf_importer.h
	$(INSTALL) -D -m 644 udev/60-bar-dmabuf.rules \
		$(DESTDIR)$(UDEVDIR)/60-bar-dmabuf.rules
	$(INSTALL) -D -m 644 modprobe.d/bar-dmabuf.conf \
		$(DESTDIR)$(MODPROBEDIR)/bar-dmabuf.conf

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# The module sources as dkms wants them in /usr/src/<name>-<version>
# (the Debian package's bar-dmabuf-dkms).
DKMSDIR ?= /usr/src/bar-dmabuf-$(VERSION)
install-dkms-src:
	$(INSTALL) -d $(DESTDIR)$(DKMSDIR)
	tar --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
		--exclude='.*' --exclude='*.order' --exclude='*.symvers' \
		-cf - Makefile Kbuild dkms.conf src importer include \
		compat/compat.h compat/run-probes.sh compat/probes | \
		tar -C $(DESTDIR)$(DKMSDIR) -xf -

deb:
	sh rig/deb.sh build

dkms-install:
	sh rig/dkms-install.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf compat/generated
	-$(MAKE) -C selftests clean

selftests:
	$(MAKE) -C selftests

# cli_test runs tools/bar-dmabuf
kselftest: selftests tools
	sh selftests/run_kselftest.sh

lint:
	sh rig/lint.sh

check:
	sh rig/check.sh

demo:
	sh rig/demo.sh

bench:
	sh rig/bench.sh

soak:
	sh rig/soak.sh
