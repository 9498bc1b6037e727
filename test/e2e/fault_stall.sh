#!/bin/bash
# fault_stall.sh - a sheep that stops answering (minisheep `stall on`) while
# an initiator keeps 8 writes in flight on an LU with bsopts timeout=3:
# every command, those in flight and those sent during the stall, completes
# within timeout + 1 s with ABORTED COMMAND / LU COMMUNICATION FAILURE
# (0x0b 08/00, which initiators retry); tgtadm --op show keeps answering
# within 1 s; after `stall off` writes and reads succeed again and every
# acknowledged write reads back.
source "$(dirname "$0")/fault_common.sh"

fault_setup stall
TIMEOUT_S=3
LIMIT_MS=$(((TIMEOUT_S + 1) * 1000))
VDI=$(vdi_name stall)
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI" sheepdog "timeout=$TIMEOUT_S"
URL=$(tgt_url "$IQN" 1)
LOG=$T_TMP/load.log

check "write-before" iv "$URL" --one write 8000 --seed 9
run_load LOAD "$IV" "$URL" 14 --qd 8 --seed 1 --blocks 4096 --log "$LOG" \
	--expect-errors any
sleep 1.5

T_ON=$(now_ms)
ms_ctl stall on || fail "stall-on" "minisheep control failed"
# fresh commands sent while the sheep is silent
sleep 0.5
iv "$URL" --one read 8000 --qd 4 >"$T_TMP/one.out" 2>&1 &
ONE=$!
bg_started ONE
# tgtd's management interface while commands hang: ~7 s, every 0.25 s
watch_tgtadm "$T_ON" 7000
T_OFF=$(now_ms)
ms_ctl stall off || fail "stall-off" "minisheep control failed"
echo "tgtadm --op show: slowest answer ${MAX_SHOW} ms during the stall"
check_tgtadm_responsive

bg_wait ONE
# four reads sent into the stall: each CHECK 0x0b 08/00 within the limit
check "stalled-reads-aborted" aborted_in_time "$T_TMP/one.out"

bg_check "load-ran" LOAD
# writes in flight or sent during the stall: all failed retryably in time
echo "writes failed during the stall: $(failed_writes "$LOG")"
check "stalled-writes-aborted" writes_aborted "$LOG"
check "bounded-latency" latency_bounded "$LOG"
# the load went on after the stall
check "writes-after-stall" acked_after "$LOG" "$T_OFF"
check "write-after" iv "$URL" --one write 8000 --seed 9
check "read-after" iv "$URL" --one read 8000
verify_logs "$URL" "acked-writes-present" "$LOG"
check "tgtd-alive" tgtd_alive
