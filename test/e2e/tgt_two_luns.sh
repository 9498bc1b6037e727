#!/bin/bash
# tgt_two_luns.sh - two LUNs of one target on the same VDI inside a single
# tgtd, default bsopts (lock=normal) on a sheep with VDI locking (own
# minisheep --lock): both LUs open (they share one client and VDI handle);
# objects first written through LUN 1 read back through LUN 2 and the other
# way round (fresh objects, several, across object boundaries, after both
# LUs loaded the index); a pair with lock=none shares too; deleting LUN 1
# leaves LUN 2 working; while LUN 2 is open the VDI stays locked; a third
# LU naming the VDI with different bsopts is refused with exactly one log
# line and changes nothing; after deleting LUN 2 the lock is gone, so a new
# lock=normal LU in a second target opens and sees the data.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_io_setup two_luns --lock
check "lun1-new" tgt_lu 1 1 "$SHEEP:$VDI"
check "lun2-new-same-vdi-lock-normal" tgt_lu 1 2 "$SHEEP:$VDI"
URL1=$(tgt_url "$IQN" 1)
URL2=$(tgt_url "$IQN" 2)

# both LUs have looked at the (empty) index before anything is written
for n in 1 2; do
	u=$(tgt_url "$IQN" "$n")
	check "initial-read-lun$n" qio "$u" "read -P 0 0 64k" \
		"read -P 0 $((15 * OBJ)) 64k"
done

# write PAT OFF LEN through FROM, read it back through TO and from the sheep
written_across() {
	local from=$1 to=$2 pat=$3 off=$4 len=$5
	qio "$from" "write -P $pat $off $len" &&
		qio "$to" "read -P $pat $off $len" &&
		sd_holds "$VDI" "$off" "$len" "$pat"
}
cross() {
	local name=$1
	shift
	check "$name" written_across "$@"
}

# fresh objects through LUN 1: 0..1 across a boundary, 2..4, the tail of 7
cross "lun1-to-lun2-boundary" "$URL1" "$URL2" 0x31 $((OBJ - 65536)) $((128 * 1024))
cross "lun1-to-lun2-three-objects" "$URL1" "$URL2" 0x32 $((2 * OBJ + 4096)) $((2 * OBJ + 8192))
cross "lun1-to-lun2-object-tail" "$URL1" "$URL2" 0x33 $((8 * OBJ - 512)) 512
# and the reverse: fresh objects 9..10 and 12 through LUN 2
cross "lun2-to-lun1-boundary" "$URL2" "$URL1" 0x41 $((10 * OBJ - 8192)) $((64 * 1024))
cross "lun2-to-lun1-object" "$URL2" "$URL1" 0x42 $((12 * OBJ)) "$OBJ"
# LUN 2 overwrites what LUN 1 allocated, LUN 1 sees the new bytes
cross "lun2-overwrites-lun1" "$URL2" "$URL1" 0x43 $((3 * OBJ)) 65536

# ---- lock=none pair on a second VDI: still one shared index
VDIN=$(vdi_name none)
make_vdi "$VDIN" $((16 * M))
check "lun3-lock-none" tgt_lu 1 3 "$SHEEP:$VDIN" sheepdog "lock=none"
check "lun4-lock-none" tgt_lu 1 4 "$SHEEP:$VDIN" sheepdog "lock=none"
URL3=$(tgt_url "$IQN" 3)
URL4=$(tgt_url "$IQN" 4)
lock_none_shared() {
	qio "$URL4" "read -P 0 $OBJ 4k" &&
		qio "$URL3" "write -P 0x51 $((OBJ - 4096)) $((OBJ + 8192))" &&
		qio "$URL4" "read -P 0x51 $((OBJ - 4096)) $((OBJ + 8192))"
}
check "lock-none-lun3-to-lun4" lock_none_shared

# ---- delete LUN 1: LUN 2 keeps the VDI open and working
check "lun1-delete" tgtadm_c --lld iscsi --mode logicalunit --op delete \
	--tid 1 --lun 1
lun2_works() {
	qio "$URL2" "read -P 0x31 $((OBJ - 65536)) 65536" &&
		qio_sd "$URL2" "$VDI" 0x61 $((14 * OBJ - 4096)) 8192
}
check "lun2-works-after-lun1-delete" lun2_works

# the VDI is still locked by this tgtd (another client cannot take it)
PLUGIN=$TOP/build/lib/nbdkit-sheepdog-plugin.so
nbd_open() {
	timeout 20 "${T_PRELOAD_ENV[@]}" nbdkit -U - "$PLUGIN" addr="$SHEEP" \
		vdi="$VDI" lock=normal --run true >"$T_TMP/nbdkit.out" 2>&1
}
HAVE_NBDKIT=0
own_sheep && command -v nbdkit >/dev/null && [[ -f $PLUGIN ]] && HAVE_NBDKIT=1
if ((HAVE_NBDKIT)); then
	check "vdi-locked-while-lun2-open" not nbd_open
else
	skip "vdi-locked-while-lun2-open" "needs nbdkit and an own minisheep"
fi

# ---- same VDI, different bsopts: refused with one line, nothing changes
before=$(tgt_module_lines)
if tgt_lu 1 5 "$SHEEP:$VDI" sheepdog "timeout=5"; then
	fail "different-bsopts-refused" "tgtadm accepted LUN 5 with timeout=5"
else
	after=$(tgt_module_lines)
	want="bs_sheepdog: '$SHEEP:$VDI' is already open by another LU with different bsopts"
	if ! tgtd_alive; then
		fail "different-bsopts-refused" "tgtd died"
		exit 1
	elif ((after != before + 1)); then
		fail "different-bsopts-refused" "$((after - before)) bs_sheepdog log lines, want 1"
	elif last=$(grep 'bs_sheepdog:' "$TGT_LOG" | tail -1) &&
		[[ $last != *"$want"* ]]; then
		fail "different-bsopts-refused" "log: $last"
	else
		pass "different-bsopts-refused"
	fi
fi
check "lun2-works-after-refusal" qio "$URL2" "read -P 0x43 $((3 * OBJ)) 65536" \
	"read -P 0x42 $((12 * OBJ)) 4096"

# ---- delete LUN 2: the last user closes the VDI and releases the lock
check "lun2-delete" tgtadm_c --lld iscsi --mode logicalunit --op delete \
	--tid 1 --lun 2
IQN2=${IQN}-b
if ! tgt_target 2 "$IQN2"; then
	fail "target2-new" "cannot create the second target"
elif tgt_lu 2 1 "$SHEEP:$VDI" sheepdog "lock=normal"; then
	pass "relock-after-both-deleted"
	check "relocked-lun-reads-data" qio "$(tgt_url "$IQN2" 1)" \
		"read -P 0x32 $((2 * OBJ + 4096)) 65536" \
		"read -P 0x41 $((10 * OBJ - 8192)) 65536" \
		"read -P 0x61 $((14 * OBJ - 4096)) 8192"
else
	fail "relock-after-both-deleted" "tgtadm: $(cat "$TGT_OUT"); log: $(grep 'bs_sheepdog:' "$TGT_LOG" | tail -1)"
fi

check "tgtd-alive" tgtd_alive
