#!/bin/bash
# fault_errors.sh - error results from the sheep reach the initiator as the
# sense the man page promises, for exactly the command that got them, and
# the LU stays usable: WRITE_OBJ EIO -> MEDIUM ERROR 0C/00, WRITE_OBJ
# NO_SPACE -> DATA PROTECT 27/07, READ_OBJ EIO -> MEDIUM ERROR 11/00, and a
# first write of an object refused by CREATE_AND_WRITE_OBJ NO_SPACE -> DATA
# PROTECT 27/07.  Each failure logs one line in tgtd's log.
source "$(dirname "$0")/fault_common.sh"

fault_setup errors
VDI=$(vdi_name errors)
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
BLK=100			# object 0, allocated by the first write below
FRESH=$((5 * 1024))	# 4 KiB block in object 5, never written

check "first-write" iv "$URL" --one write $BLK --seed 1
lines0=$(tgt_module_lines)

# got_sense RC OUT SENSE: iscsi_verify --one exited 3 with CHECK SENSE
got_sense() {
	(($1 == 3)) && [[ $2 == *"result=CHECK $3 "* ]] && return 0
	echo "want CHECK $3, got: $2"
	return 1
}

# inject: OP RESULT; then one command: read|write BLOCK; expect: SENSE
inject() {
	local name=$1 op=$2 res=$3 cmd=$4 block=$5 want=$6 out rc
	if ! ms_ctl error "$op" "$res" 1; then
		fail "$name" "minisheep refused 'error $op $res 1'"
		return
	fi
	out=$(iv "$URL" --one "$cmd" "$block" --seed 2 2>&1)
	rc=$?
	echo "$name: $out"
	check "$name" got_sense "$rc" "$out" "$want"
	# the fault was for one request: the same command works again
	check "$name-then-$cmd-ok" iv "$URL" --one "$cmd" "$block" --seed 2
}

inject write-eio WRITE_OBJ EIO write $BLK "key=0x03 asc=0x0c ascq=0x00"
inject write-nospace WRITE_OBJ NO_SPACE write $BLK "key=0x07 asc=0x27 ascq=0x07"
inject read-eio READ_OBJ EIO read $BLK "key=0x03 asc=0x11 ascq=0x00"
inject create-nospace CREATE_AND_WRITE_OBJ NO_SPACE write $FRESH \
	"key=0x07 asc=0x27 ascq=0x07"

lines=$(($(tgt_module_lines) - lines0))
check "one-log-line-each" want "$lines" -eq 4 \
	"$lines module lines in tgtd's log for 4 failures"

# the LU is fully usable afterwards: a verified load across both objects
LOG=$T_TMP/load.log
load_and_check() {
	iv "$URL" --write-load 2 --qd 8 --seed 3 --blocks $((6 * 1024)) \
		--log "$LOG" && iv "$URL" --check "$LOG"
}
check "usable-afterwards" load_and_check
check "tgtd-alive" tgtd_alive
