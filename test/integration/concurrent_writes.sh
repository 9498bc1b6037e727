#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# concurrent_writes.sh - 16 threads writing private, block-serialised and
# unserialised shared ranges of one VDI handle; the result is checked
# against the model, then again through a new client.  CONCURRENT_SEED
# repeats a run.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/concurrent_writes
[[ -x $BIN ]] || { fail "concurrent: binary" "$BIN not built"; exit 1; }
sheep_addr || { fail "concurrent: sheep" "cannot start minisheep"; exit 1; }
it_run "concurrent" "$BIN" "$SHEEP" "$(vdi_name conc)" ${CONCURRENT_SEED:-}
exit $T_FAILED
