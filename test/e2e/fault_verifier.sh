#!/bin/bash
# fault_verifier.sh - the fault tests' verifier can fail: iscsi_verify
# refuses bad arguments with one line and status 2; a verified write load's
# check passes over iSCSI and on the image read with sdctl; then a block of
# the image zeroed, replaced by another block, torn, or filled with noise,
# and a later acknowledged write the image lacks, must each be reported as
# such, while a later write that failed (may or may not have landed) is
# accepted and a malformed log is refused.
source "$(dirname "$0")/fault_common.sh"

fault_setup verifier
# refused_briefly RC OUT: status 2, at most 6 lines said
refused_briefly() {
	(($1 == 2)) && (($(wc -l <<<"$2") <= 6)) && return 0
	echo "rc $1: $2"
	return 1
}
for bad in "--qd 0 --one read 1" "--one frob 1" "--write-load 1" \
	"--write-load x --log /dev/null" "--check" "--frob"; do
	# shellcheck disable=SC2086
	out=$("$IV" iscsi://127.0.0.1/x/1 $bad 2>&1)
	rc=$?
	check "args-refused: $bad" refused_briefly "$rc" "$out"
done

BLK=4096
VDI=$(vdi_name verifier)
make_vdi "$VDI" $((16 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
LOG=$T_TMP/load.log

# a small range so that most blocks are written several times
check "load" iv "$URL" --write-load 2 --qd 8 --seed 7 --blocks 256 --log "$LOG"
check "check-over-iscsi" iv "$URL" --check "$LOG"
IMG=$T_TMP/img
if ! sd_image "$VDI" 0 $((256 * BLK)) "$IMG"; then
	fail "sdctl-read" "$(cat "$IMG.err")"
	exit 1
fi
check "check-image" iv "$IMG" --check "$LOG"

# a logged block: the 1st acknowledged one, and another one
B1=$(awk '$1 == "W" { print $4; exit }' "$LOG")
B2=$(awk -v b="$B1" '$1 == "W" && $4 != b { print $4; exit }' "$LOG")

# the image with block $1 replaced by the stdin bytes
corrupt() {
	cp "$IMG" "$IMG.bad"
	dd of="$IMG.bad" bs=$BLK seek="$1" conv=notrunc status=none
}
# the checker must refuse the corrupted image, saying $2
expect_bad() {
	local name=$1 what=$2
	shift 2
	check "$name" fails_saying "^BAD .*$what" iv "$IMG.bad" --check "$@"
}

head -c $BLK /dev/zero | corrupt "$B1"
expect_bad "detects-zeros" "reads zeros" "$LOG"
dd if="$IMG" bs=$BLK skip="$B2" count=1 status=none | corrupt "$B1"
expect_bad "detects-misplaced" "holds the data written to block $B2" "$LOG"
{ dd if="$IMG" bs=$BLK skip="$B1" count=1 status=none | head -c 2048
  head -c 2048 /dev/urandom; } | corrupt "$B1"
expect_bad "detects-torn" "is torn" "$LOG"
head -c $BLK /dev/urandom | corrupt "$B1"
expect_bad "detects-garbage" "no writer wrote" "$LOG"
# a later acknowledged write of another writer that the image lacks
cp "$IMG" "$IMG.bad"
T=$(now_ms)
echo "W 99 1 $B1 $((T * 1000 + 5000000)) $((T * 1000 + 5000100))" >"$T_TMP/later.log"
expect_bad "detects-stale" "is stale" "$LOG" "$T_TMP/later.log"
# the same write reported as failed may or may not have landed: accepted
echo "F 99 1 $B1 $((T * 1000 + 5000000)) $((T * 1000 + 5000100)) CHECK 11 8 0" >"$T_TMP/later.log"
check "failed-write-optional" iv "$IMG" --check "$LOG" "$T_TMP/later.log"
echo "W 1 2 3" >"$T_TMP/junk.log"
check "malformed-log" fails_saying "malformed log line" iv "$IMG" --check "$T_TMP/junk.log"
check "tgtd-alive" tgtd_alive
