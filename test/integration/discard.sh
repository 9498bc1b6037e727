#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# discard.sh - discard and zeroing: whole objects are deallocated and read
# zeros (also after a reopen), partial discards zero only their range.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/discard
[[ -x $BIN ]] || { fail "discard: binary" "$BIN not built"; exit 1; }
sheep_addr || { fail "discard: sheep" "cannot start minisheep"; exit 1; }
it_run "discard" "$BIN" "$SHEEP" "$(vdi_name disc)"
exit $T_FAILED
