#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# open_failures.sh - open errors (missing VDI, tag, snapshot id; an address
# nobody listens on fails fast) and normal locking against a second,
# private minisheep started with --lock (-EBUSY while locked, released by
# close).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/open_failures
[[ -x $BIN ]] || { fail "open: binary" "$BIN not built"; exit 1; }
sheep_addr || { fail "open: sheep" "cannot start minisheep"; exit 1; }
addr=$SHEEP

# the locking sheep: always our own, on its own directory
lockaddr=
if [[ -x $MINISHEEP ]]; then
	SHEEP_DIR=$T_TMP/locksheep
	if start_minisheep --lock; then
		lockaddr=$SHEEP
	else
		fail "open: minisheep --lock starts" "see $T_TMP/minisheep.log"
	fi
fi
it_run "open" "$BIN" "$addr" "$(vdi_name open)" $lockaddr
exit $T_FAILED
