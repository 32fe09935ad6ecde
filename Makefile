# SPDX-License-Identifier: GPL-2.0
#
# bar-dmabuf: user-facing entry points.
#
#   make [KDIR=/path/to/kernel/build]   build both modules (default: the
#                                       running kernel's headers)
#   make W=1 | make C=2                 extra warnings | sparse
#   make install                        modules_install into updates/
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

.PHONY: all modules compat clean install dkms-install selftests kselftest \
	lint check demo bench soak

all: modules

# The probe step runs every time (a few seconds): KDIR may have changed and
# the header is rewritten only when an answer changes.
compat:
	@sh compat/run-probes.sh $(KDIR) $(COMPAT_H)

modules: compat
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates modules_install

dkms-install:
	sh rig/dkms-install.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf compat/generated
	-$(MAKE) -C selftests clean

selftests:
	$(MAKE) -C selftests

kselftest: selftests
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
