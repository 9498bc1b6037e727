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

registered_first() {
	tgtadm_c --mode system --op show | grep -A1 '^Backing stores:' |
		grep -q 'sheepdog (bsoflags sync)' && return 0
	echo "system show does not list 'sheepdog (bsoflags sync)' first"
	return 1
}
check "module-registered-first" registered_first

check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)

iscsi-inq "$URL" >"$T_TMP/inq" 2>&1
check "inquiry" grep -qi 'device type' "$T_TMP/inq"

iscsi-readcapacity16 "$URL" >"$T_TMP/rc16" 2>&1
total=$(sed -n 's/^Total size:[[:space:]]*\([0-9]*\).*/\1/p' "$T_TMP/rc16")
last=$(sed -n 's/^RETURNED LOGICAL BLOCK ADDRESS:[[:space:]]*\([0-9]*\).*/\1/p' "$T_TMP/rc16")
check "readcapacity16-size" want "$total:$last" == "$SIZE:$((SIZE / 512 - 1))" \
	"total '$total' last LBA '$last', want $SIZE: $(head -3 "$T_TMP/rc16")"
# 4 MiB objects / 512-byte blocks = 2^13 (update_lbppbe from bs_open)
check "readcapacity16-lbppbe-object-size" \
	has_lines "$T_TMP/rc16" 'LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:13'
check "readcapacity16-lbpme-lbprz" has_lines "$T_TMP/rc16" \
	'LBPME:[[:space:]]*1' 'LBPRZ:[[:space:]]*1'

tgtadm_c --lld iscsi --mode target --op show >"$T_TMP/show"
check "target-show" has_lines "$T_TMP/show" 'Backing store type: sheepdog' \
	'Thin-provisioning: Yes' 'Readonly: No' "Backing store path: $SHEEP:$VDI"

# a second VDI with --bsoflags sync (every write FUA) and every bsopt
VDI2=$(vdi_name lun2)
make_vdi "$VDI2" $((8 * 1024 * 1024))
check "lu-new-bsoflags-sync-bsopts" tgtadm_c --lld iscsi --mode logicalunit \
	--op new --tid 1 --lun 2 --bstype sheepdog --bsoflags sync \
	--backing-store "$SHEEP:$VDI2" \
	--bsopts "lock=shared;timeout=20;connections=4;fallback=unix:$T_TMP/nowhere"
check "bsoflags-sync-io" qio_sd "$(tgt_url "$IQN" 2)" "$VDI2" 0x5a 0 65536

# a third VDI with loop=thread: the library's own I/O thread
VDI3=$(vdi_name lun3)
make_vdi "$VDI3" $((8 * 1024 * 1024))
check "lu-new-loop-thread" tgtadm_c --lld iscsi --mode logicalunit \
	--op new --tid 1 --lun 3 --bstype sheepdog \
	--backing-store "$SHEEP:$VDI3" --bsopts "loop=thread"
check "loop-thread-io" qio_sd "$(tgt_url "$IQN" 3)" "$VDI3" 0x3c 4096 1048576
check "loop-thread-threads" \
	test "$(grep -l '^sd-io$' /proc/"$TGT_PID"/task/*/comm 2>/dev/null | wc -l)" -eq 1
