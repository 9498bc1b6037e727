#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# live_snapshot.sh - snapshots taken while a handle keeps writing (the
# library follows the working VDI after READONLY and loses no acknowledged
# write), and two SD_LOCK_SHARED handles writing one VDI (INODE_INVALIDATED
# refreshes, hole re-checks, claims).  Uses a locking minisheep with two
# nodes: sheep counts one shared-lock participant per node, so the two
# shared handles talk to different nodes.  The shared part is skipped
# against an external sheep (SHEEP_ADDR).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/live_snapshot
[[ -x $BIN ]] || { fail "live snapshot: binary" "$BIN not built"; exit 1; }
sheep_addr --lock "$(node_arg 2)" || { fail "live snapshot: sheep" "cannot start minisheep"; exit 1; }
it_run "live snapshot" "$BIN" "$SHEEP" "$(vdi_name live)" snap
if own_sheep; then
	it_run "shared handles" "$BIN" "$SHEEP" "$(vdi_name shared)" shared \
		"$(sheep_node 2)"
else
	skip "shared handles" "needs minisheep's second node (SHEEP_ADDR set)"
fi
exit $T_FAILED
