#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# snapshot_clone.sh - snapshot then write, read both; snapshots are
# read-only (-EROFS); clones hold the snapshot's data and writes to a clone
# change neither the snapshot nor the source.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/snapshot_clone
[[ -x $BIN ]] || { fail "snapshot: binary" "$BIN not built"; exit 1; }
sheep_addr || { fail "snapshot: sheep" "cannot start minisheep"; exit 1; }
it_run "snapshot" "$BIN" "$SHEEP" "$(vdi_name snap)"
exit $T_FAILED
