#!/bin/bash
# tgt_io.sh - data path of a sheepdog LU: qemu-io over iSCSI writes patterns
# across object boundaries, over three objects and at the last LBA, read
# back through qemu-io and straight from the sheep with sdctl; single READs
# that span written and never-written objects return the written bytes then
# zeros; 32 writes in flight at once land where they should.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_io_setup io
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)

# write PAT OFF LEN through iSCSI, read it back both ways
rw_check() { check "$1" qio_sd "$URL" "$VDI" "$2" "$3" "$4"; }

rw_check "object-boundary" 0x11 $((OBJ - 65536)) $((128 * 1024))
rw_check "three-objects" 0x33 $((2 * OBJ - 4096)) $((2 * OBJ + 8192))
rw_check "last-lba" 0x22 $((SIZE - 512)) 512
rw_check "last-object-tail" 0x23 $((SIZE - 3 * 65536)) $((3 * 65536))
rw_check "unaligned-sector" 0x24 $((5 * OBJ + 512 * 7)) $((512 * 3))

ISCSI_OPTS="file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:$TGT_PORT,file.target=$IQN,file.lun=1"
# ---- sparse reads: second half of object 9 written, objects 8, 10 never
W0=$((9 * OBJ + 2 * M)) W1=$((10 * OBJ))
if ! qio "$URL" "write -P 0x44 $W0 $((W1 - W0))"; then
	fail "sparse-setup" "$(head -2 "$QIO_OUT")"
fi
# expected content of [off, off+len)
expect() {
	local off=$1 len=$2 end=$(($1 + $2)) a b
	a=$((off > W0 ? off : W0))
	b=$((end < W1 ? end : W1))
	if ((a >= b)); then
		bytes_of 0 "$len"
		return
	fi
	bytes_of 0 $((a - off))
	bytes_of 0x44 $((b - a))
	bytes_of 0 $((end - b))
}
# read_window BS SKIP: one READ of BS bytes at BS*SKIP (qemu-img dd reads
# one block of bs bytes) returns what expect says
read_window() {
	local bs=$1 skip=$2
	rm -f "$T_TMP/dd.out"
	# a raw window [off, off+bs) over the LUN, copied in one block
	qemu-img dd --image-opts -O raw bs="$bs" count=1 \
		if="driver=raw,offset=$((bs * skip)),size=$bs,$ISCSI_OPTS" \
		of="$T_TMP/dd.out" || return 1
	cmp -s "$T_TMP/dd.out" <(expect $((bs * skip)) "$bs") && return 0
	echo "data differs from written+zeros"
	return 1
}
for spec in "$((4 * M)):9" "$((8 * M)):4" "$((6 * M)):6" "$((3 * M)):12" \
	"$((12 * M)):3" "$((1 * M)):39" "$((2 * M)):19" "$((16 * M)):2"; do
	bs=${spec%%:*} skip=${spec##*:}
	check "sparse-read-$bs@$skip" read_window "$bs" "$skip"
done

# ---- 32 writes in flight: 4 qemu-io processes x 8 aio_write each
P0=$((12 * OBJ)) PL=$((256 * 1024))
pids=()
for p in 0 1 2 3; do
	cmds=()
	for i in 0 1 2 3 4 5 6 7; do
		n=$((p * 8 + i))
		cmds+=(-c "aio_write -P $((0x80 + n)) $((P0 + n * PL)) $PL")
	done
	qemu-io -f raw "${cmds[@]}" -c "aio_flush" "$URL" \
		>"$T_TMP/par.$p" 2>&1 &
	pids+=($!)
done
# the 4 processes succeeded, and sdctl reads the 32 patterns in a row
parallel_landed() {
	local p n perr=0
	for p in 0 1 2 3; do
		wait "${pids[$p]}" || perr=1
		grep -qiE 'fail|error' "$T_TMP/par.$p" && perr=1
	done
	if ((perr)); then
		cat "$T_TMP"/par.* | grep -iE 'fail|error' | head -2
		return 1
	fi
	for n in $(seq 0 31); do bytes_of $((0x80 + n)) "$PL"; done |
		md5sum >"$T_TMP/par.want"
	sd_read "$VDI" "$P0" $((32 * PL)) | md5sum >"$T_TMP/par.got"
	cmp -s "$T_TMP/par.want" "$T_TMP/par.got" && return 0
	echo "sdctl checksum differs"
	return 1
}
check "parallel-32-writes" parallel_landed

check "tgtd-alive" tgtd_alive
