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
iv "$URL" --write-load 14 --qd 8 --seed 1 --blocks 4096 --log "$LOG" \
	--expect-errors any >"$T_TMP/load.out" 2>&1 &
LOAD=$!
bg_started LOAD
sleep 1.5

T_ON=$(now_ms)
ms_ctl stall on || fail "stall-on" "minisheep control failed"
# fresh commands sent while the sheep is silent
sleep 0.5
iv "$URL" --one read 8000 --qd 4 >"$T_TMP/one.out" 2>&1 &
ONE=$!
bg_started ONE
# tgtd's management interface while commands hang: ~7 s, every 0.25 s
max_show=0
while (($(now_ms) - T_ON < 7000)); do
	ms=$(tgtadm_show_ms)
	((ms > max_show)) && max_show=$ms
	sleep 0.25
done
T_OFF=$(now_ms)
ms_ctl stall off || fail "stall-off" "minisheep control failed"
echo "tgtadm --op show: slowest answer ${max_show} ms during the stall"
if ((max_show <= 1000)); then
	pass "tgtadm-responsive"
else
	fail "tgtadm-responsive" "tgtadm --op show took ${max_show} ms (limit 1000)"
fi

bg_wait ONE
# four reads sent into the stall: each CHECK 0x0b 08/00 within the limit
n=0 bad=
while read -r line; do
	[[ $line == block=* ]] || continue
	n=$((n + 1))
	ms=${line##*ms=}
	if [[ $line != *"result=CHECK key=0x0b asc=0x08 ascq=0x00"* ]] ||
		((ms > LIMIT_MS)); then
		bad=$line
	fi
done <"$T_TMP/one.out"
cat "$T_TMP/one.out"
if ((n == 4)) && [[ -z $bad ]]; then
	pass "stalled-reads-aborted"
else
	fail "stalled-reads-aborted" "${bad:-$n of 4 reads answered: $(head -c 300 "$T_TMP/one.out")}"
fi

if bg_wait LOAD; then
	pass "load-ran"
else
	fail "load-ran" "$(tail -n 2 "$T_TMP/load.out")"
fi
cat "$T_TMP/load.out"
# writes in flight or sent during the stall: all failed retryably in time
nf=$(failed_writes "$LOG")
wrong=$(awk '$1 == "F" && !($7 == "CHECK" && $8 == 11 && $9 == 8 && $10 == 0)' "$LOG" | head -n 1)
slow=$(awk -v lim=$LIMIT_MS '($6 - $5) / 1000 > lim { printf "%s %.0f ms\n", $1, ($6 - $5) / 1000; exit }' "$LOG")
echo "writes failed during the stall: $nf"
if ((nf == 0)); then
	fail "stalled-writes-aborted" "no write failed: the stall had no effect"
elif [[ -n $wrong ]]; then
	fail "stalled-writes-aborted" "not ABORTED COMMAND 08/00: $wrong"
else
	pass "stalled-writes-aborted"
fi
if [[ -z $slow ]]; then
	pass "bounded-latency"
else
	fail "bounded-latency" "a write took $slow (limit $LIMIT_MS ms)"
fi
# the load went on after the stall
resumed=$(awk -v t=$((T_OFF * 1000)) '$1 == "W" && $5 > t' "$LOG" | wc -l)
if ((resumed > 0)); then
	pass "writes-after-stall"
else
	fail "writes-after-stall" "no write acknowledged after stall off"
fi
check "write-after" iv "$URL" --one write 8000 --seed 9
check "read-after" iv "$URL" --one read 8000
verify_logs "$URL" "acked-writes-present" "$LOG"
check "tgtd-alive" tgtd_alive
