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
	local got=$T_TMP/zc.got
	sd_read "$VDI" "$off" "$len" >"$got"
	if cmp -s "$got" <(bytes_of "$pat" $((zoff - off))
			   bytes_of 0 "$zlen"
			   bytes_of "$pat" $((off + len - zoff - zlen))); then
		pass "$name"
	else
		fail "$name" "sdctl read does not show zeros exactly in $zoff+$zlen"
	fi
}

# UNMAP: 1 MiB into object 0 up to 1 MiB into object 2 (object 1 whole)
qio "$URL" "write -P 0x71 0 $((3 * OBJ))" || fail "unmap-setup" "$(head -2 "$QIO_OUT")"
if qemu-io -f raw -d unmap -c "discard $M $((2 * OBJ))" "$URL" \
	>"$QIO_OUT" 2>&1 && ! grep -qiE 'fail|error' "$QIO_OUT" &&
	qio "$URL" "read -P 0 $M $((2 * OBJ))" "read -P 0x71 0 $M" \
		"read -P 0x71 $((M + 2 * OBJ)) $((OBJ - M))"; then
	pass "unmap-reads-zeros"
else
	fail "unmap-reads-zeros" "$(grep -iE 'fail|error' "$QIO_OUT" | head -2)"
fi
zero_check "unmap-sdctl" 0x71 "$M" $((2 * OBJ)) 0 $((3 * OBJ))

# WRITE SAME (zero block, no UNMAP) over a pattern
B=$((4 * OBJ))
qio "$URL" "write -P 0x72 $B $((2 * OBJ))" || fail "writesame-setup" "$(head -2 "$QIO_OUT")"
if qio "$URL" "write -z $((B + 4096)) $((OBJ))" \
	"read -P 0 $((B + 4096)) $OBJ" "read -P 0x72 $B 4096"; then
	pass "writesame-zero"
else
	fail "writesame-zero" "$(grep -iE 'fail|error' "$QIO_OUT" | head -2)"
fi
zero_check "writesame-zero-sdctl" 0x72 $((B + 4096)) "$OBJ" "$B" $((2 * OBJ))

# WRITE SAME with UNMAP
C=$((6 * OBJ))
qio "$URL" "write -P 0x73 $C $((2 * OBJ))" || fail "writesame-unmap-setup" "$(head -2 "$QIO_OUT")"
if qemu-io -f raw -d unmap -c "write -z -u $((C + 512)) $((OBJ + 1024))" \
	"$URL" >"$QIO_OUT" 2>&1 && ! grep -qiE 'fail|error' "$QIO_OUT" &&
	qio "$URL" "read -P 0 $((C + 512)) $((OBJ + 1024))"; then
	pass "writesame-unmap"
else
	fail "writesame-unmap" "$(grep -iE 'fail|error' "$QIO_OUT" | head -2)"
fi
zero_check "writesame-unmap-sdctl" 0x73 $((C + 512)) $((OBJ + 1024)) "$C" $((2 * OBJ))
check "tgtd-alive" tgtd_alive
