#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/soak.sh       (what `make soak` runs)
#
# The long forms of the machinery tests, through check.sh's stages (no
# lint), on the debug kernel unless KERNELS says otherwise:
#   fuzz_test         SOAK_FUZZ_CALLS calls (default 1000000)
#   unplug_test       SOAK_UNPLUG_CYCLES cycles per way (default 100)
#   concurrency_test  SOAK_STRESS_ROUNDS rounds (default 10) of
#                     SOAK_STRESS_MS ms (default 60000), the device unbound
#                     and bound again and the importer reloaded between
# (SOAK_TESTS picks other binaries.) Each binary may take SOAK_KSFT_TIMEOUT
# seconds (default 14400), the guest RIG_TIMEOUT (default 21600). Ends, as
# make check does, with "N passed, N failed, N skipped".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
export RIG_SOAK=1
exec bash "$(dirname "$0")/check.sh"
