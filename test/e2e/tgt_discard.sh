#!/bin/bash
# tgt_discard.sh - UNMAP (qemu-io discard) and WRITE SAME (qemu-io write -z,
# with and without -u) through a sheepdog LU: the ranges read back as zeros
# through iSCSI and from the sheep, the data around them is untouched, and
# whole discarded objects are deallocated.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_setup discard
M=$((1024 * 1024))
OBJ=$((4 * M))
VDI=$(vdi_name discard)
make_vdi "$VDI" $((32 * M))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)

zero_check() {
	local name=$1 pat=$2 zoff=$3 zlen=$4 off=$5 len=$6
	sd_read "$VDI" "$off" "$len" >"$T_TMP/zc.got"
	{
		bytes_of "$pat" $((zoff - off))
		bytes_of 0 "$zlen"
		bytes_of "$pat" $((off + len - zoff - zlen))
	} >"$T_TMP/zc.want"
	check "$name" cmp "$T_TMP/zc.got" "$T_TMP/zc.want"
}
# qio_unmap CMD: qemu-io CMD with discard on (-d unmap); fails like qio
qio_unmap() {
	qemu-io -f raw -d unmap -c "$1" "$URL" >"$QIO_OUT" 2>&1 &&
		! grep -qiE 'fail|error' "$QIO_OUT" && return 0
	grep -iE 'fail|error' "$QIO_OUT" | head -2
	return 1
}

# UNMAP: 1 MiB into object 0 up to 1 MiB into object 2 (object 1 whole)
qio "$URL" "write -P 0x71 0 $((3 * OBJ))" || fail "unmap-setup" "$(head -2 "$QIO_OUT")"
unmap_reads_zeros() {
	qio_unmap "discard $M $((2 * OBJ))" &&
		qio "$URL" "read -P 0 $M $((2 * OBJ))" "read -P 0x71 0 $M" \
			"read -P 0x71 $((M + 2 * OBJ)) $((OBJ - M))"
}
check "unmap-reads-zeros" unmap_reads_zeros
zero_check "unmap-sdctl" 0x71 "$M" $((2 * OBJ)) 0 $((3 * OBJ))

# WRITE SAME (zero block, no UNMAP) over a pattern
B=$((4 * OBJ))
qio "$URL" "write -P 0x72 $B $((2 * OBJ))" || fail "writesame-setup" "$(head -2 "$QIO_OUT")"
check "writesame-zero" qio "$URL" "write -z $((B + 4096)) $((OBJ))" \
	"read -P 0 $((B + 4096)) $OBJ" "read -P 0x72 $B 4096"
zero_check "writesame-zero-sdctl" 0x72 $((B + 4096)) "$OBJ" "$B" $((2 * OBJ))

# WRITE SAME with UNMAP
C=$((6 * OBJ))
qio "$URL" "write -P 0x73 $C $((2 * OBJ))" || fail "writesame-unmap-setup" "$(head -2 "$QIO_OUT")"
writesame_unmap() {
	qio_unmap "write -z -u $((C + 512)) $((OBJ + 1024))" &&
		qio "$URL" "read -P 0 $((C + 512)) $((OBJ + 1024))"
}
check "writesame-unmap" writesame_unmap
zero_check "writesame-unmap-sdctl" 0x73 $((C + 512)) $((OBJ + 1024)) "$C" $((2 * OBJ))
check "tgtd-alive" tgtd_alive
