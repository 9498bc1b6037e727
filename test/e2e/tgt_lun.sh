#!/bin/bash
# tgt_lun.sh - a sheepdog LU through the stock tgtd: the module registers
# "sheepdog" with bsoflags sync (so it shadows the built-in), INQUIRY works,
# READ CAPACITY 16 reports the VDI size with LBPME and LBPRZ set, and
# tgtadm shows the LU as thin-provisioned and writable.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_setup lun
VDI=$(vdi_name lun)
SIZE=$((48 * 1024 * 1024))
make_vdi "$VDI" "$SIZE"

if tgtadm_c --mode system --op show | grep -A1 '^Backing stores:' |
	grep -q 'sheepdog (bsoflags sync)'; then
	pass "module-registered-first"
else
	fail "module-registered-first" "system show does not list 'sheepdog (bsoflags sync)' first"
fi

check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)

if iscsi-inq "$URL" >"$T_TMP/inq" 2>&1 && grep -qi 'device type' "$T_TMP/inq"
then
	pass "inquiry"
else
	fail "inquiry" "$(head -3 "$T_TMP/inq")"
fi

iscsi-readcapacity16 "$URL" >"$T_TMP/rc16" 2>&1
total=$(sed -n 's/^Total size:[[:space:]]*\([0-9]*\).*/\1/p' "$T_TMP/rc16")
last=$(sed -n 's/^RETURNED LOGICAL BLOCK ADDRESS:[[:space:]]*\([0-9]*\).*/\1/p' "$T_TMP/rc16")
if [[ $total == "$SIZE" && $last == $((SIZE / 512 - 1)) ]]; then
	pass "readcapacity16-size"
else
	fail "readcapacity16-size" "total '$total' last LBA '$last', want $SIZE: $(head -3 "$T_TMP/rc16")"
fi
# 4 MiB objects / 512-byte blocks = 2^13 (update_lbppbe from bs_open)
if grep -q 'LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:13' "$T_TMP/rc16"; then
	pass "readcapacity16-lbppbe-object-size"
else
	fail "readcapacity16-lbppbe-object-size" "$(grep EXPONENT "$T_TMP/rc16")"
fi
if grep -Eq 'LBPME:[[:space:]]*1' "$T_TMP/rc16" &&
	grep -Eq 'LBPRZ:[[:space:]]*1' "$T_TMP/rc16"; then
	pass "readcapacity16-lbpme-lbprz"
else
	fail "readcapacity16-lbpme-lbprz" "$(grep -E 'LBP' "$T_TMP/rc16")"
fi

tgtadm_c --lld iscsi --mode target --op show >"$T_TMP/show"
if grep -q 'Backing store type: sheepdog' "$T_TMP/show" &&
	grep -q 'Thin-provisioning: Yes' "$T_TMP/show" &&
	grep -q 'Readonly: No' "$T_TMP/show" &&
	grep -q "Backing store path: $SHEEP:$VDI" "$T_TMP/show"; then
	pass "target-show"
else
	fail "target-show" "unexpected: $(grep -E 'Backing|Thin|Readonly' "$T_TMP/show" | tr '\n' ' ')"
fi

# a second VDI with --bsoflags sync (every write FUA) and every bsopt
VDI2=$(vdi_name lun2)
make_vdi "$VDI2" $((8 * 1024 * 1024))
check "lu-new-bsoflags-sync-bsopts" tgtadm_c --lld iscsi --mode logicalunit \
	--op new --tid 1 --lun 2 --bstype sheepdog --bsoflags sync \
	--backing-store "$SHEEP:$VDI2" \
	--bsopts "lock=shared;timeout=20;connections=4;fallback=unix:$T_TMP/nowhere"
if qio "$(tgt_url "$IQN" 2)" "write -P 0x5a 0 64k" "read -P 0x5a 0 64k" &&
	cmp -s <(sd_read "$VDI2" 0 65536) <(bytes_of 0x5a 65536); then
	pass "bsoflags-sync-io"
else
	fail "bsoflags-sync-io" "$(head -3 "$QIO_OUT")"
fi

# a third VDI with loop=thread: the library's own I/O thread
VDI3=$(vdi_name lun3)
make_vdi "$VDI3" $((8 * 1024 * 1024))
check "lu-new-loop-thread" tgtadm_c --lld iscsi --mode logicalunit \
	--op new --tid 1 --lun 3 --bstype sheepdog \
	--backing-store "$SHEEP:$VDI3" --bsopts "loop=thread"
if qio "$(tgt_url "$IQN" 3)" "write -P 0x3c 4k 1m" "read -P 0x3c 4k 1m" &&
	cmp -s <(sd_read "$VDI3" 4096 1048576) <(bytes_of 0x3c 1048576); then
	pass "loop-thread-io"
else
	fail "loop-thread-io" "$(head -3 "$QIO_OUT")"
fi
check "loop-thread-threads" \
	test "$(grep -l '^sd-io$' /proc/"$TGT_PID"/task/*/comm 2>/dev/null | wc -l)" -eq 1
