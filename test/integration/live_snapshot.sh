#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# live_snapshot.sh - snapshots taken while a handle keeps writing (the
# library follows the working VDI after READONLY and loses no acknowledged
# write), and two SD_LOCK_SHARED handles writing one VDI (INODE_INVALIDATED
# refreshes, hole re-checks).  Uses a locking minisheep; the shared-lock
# part needs minisheep's per-connection coherence and is skipped against an
# external sheep (SHEEP_ADDR).  Its two shared handles live in this one
# process, which minisheep by default counts as one participant (a second
# shared lock would be VDI_LOCKED), hence --participant connection.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/test/integration/live_snapshot
[[ -x $BIN ]] || { fail "live snapshot: binary" "$BIN not built"; exit 1; }
sheep_addr --lock --participant connection || { fail "live snapshot: sheep" "cannot start minisheep"; exit 1; }
it_run "live snapshot" "$BIN" "$SHEEP" "$(vdi_name live)" snap
if own_sheep; then
	it_run "shared handles" "$BIN" "$SHEEP" "$(vdi_name shared)" shared
else
	skip "shared handles" "needs minisheep's per-connection coherence (SHEEP_ADDR set)"
fi
exit $T_FAILED
