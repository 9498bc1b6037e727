#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# error_results.sh - injected sheep error results (NO_SPACE on writes and
# creates, EIO on reads) come back as -ENOSPC/-EIO for exactly the failed
# request, and the handle stays usable.  Needs our own minisheep.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$TOP/build/test/integration/error_results
if ! own_sheep; then
	skip "errors: injected results" "needs minisheep's fault controls (SHEEP_ADDR set)"
	exit 0
fi
[[ -x $BIN ]] || { fail "errors: binary" "$BIN not built"; exit 1; }
sheep_addr || { fail "errors: sheep" "cannot start minisheep"; exit 1; }
it_run "errors" "$BIN" "$SHEEP" "$(vdi_name err)" "$SHEEP_CTL"
exit $T_FAILED
