#!/bin/bash
# tgt_builtin.sh - smoke test of tgtd's BUILT-IN sheepdog store against
# minisheep (tgtd started with an empty module directory): a qemu-io write
# and read through that LUN, checked with sdctl.  Shows that minisheep
# speaks the protocol the stock client expects, and that the module's
# directory is what selects our store.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_require builtin
if ! sheep_addr; then
	fail "builtin" "cannot start minisheep"
	exit 1
fi
builtin_require "builtin" "$SHEEP"
if ! tgt_start builtin; then
	fail "builtin" "cannot start tgtd"
	exit 1
fi
IQN=iqn.2026-11.org.sheepdog:t$$-builtin
check "target" tgt_target 1 "$IQN"
tgtadm_c --mode system --op show >"$T_TMP/system"
check "no-module-loaded" not grep 'sheepdog (bsoflags' "$T_TMP/system"
M=$((1024 * 1024))
VDI=$(vdi_name builtin)
make_vdi "$VDI" $((16 * M))
check "lu-builtin" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
check "builtin-qemu-io" qio "$URL" "write -P 0x5b $((4 * M - 4096)) 8192" \
	"read -P 0x5b $((4 * M - 4096)) 8192"
check "builtin-sdctl-read" sd_holds "$VDI" $((4 * M - 4096)) 8192 0x5b
check "tgtd-alive" tgtd_alive
