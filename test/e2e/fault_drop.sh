#!/bin/bash
# fault_drop.sh - connections to the sheep lost under a verified write load:
# minisheep closes every connection after 50 requests (`drop-after 50`)
# and, every second, all of them (`kill-connections`).  The initiator sees
# no error, and every acknowledged write reads back over iSCSI and straight
# from the sheep.
source "$(dirname "$0")/fault_common.sh"

fault_setup drop
VDI=$(vdi_name drop)
BLOCKS=8192			# 32 MiB: first writes to 8 objects included
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
LOG=$T_TMP/load.log

conns() {
	"$MINISHEEP" --ctl "$SHEEP_CTL" stats | tr ' ' '\n' |
		sed -n 's/^connections=//p'
}
C0=$(conns)
ms_ctl drop-after 50 || fail "drop-after" "minisheep control failed"
iv "$URL" --write-load 8 --qd 16 --seed 1 --blocks $BLOCKS --log "$LOG" \
	>"$T_TMP/load.out" 2>&1 &
LOAD=$!
bg_started LOAD
kills=0
while kill -0 "$LOAD" 2>/dev/null; do
	sleep 1
	ms_ctl kill-connections && kills=$((kills + 1))
done
if bg_wait LOAD; then
	pass "no-initiator-errors"
else
	fail "no-initiator-errors" "$(tail -n 2 "$T_TMP/load.out")"
fi
cat "$T_TMP/load.out"
C1=$(conns)
echo "sheep connections: $((C1 - C0)) opened during the load, $kills kill-connections"
ms_ctl reset
# the fault must have hit: many more connections than the module keeps
if ((C1 - C0 >= 20)); then
	pass "connections-dropped"
else
	fail "connections-dropped" "only $((C1 - C0)) connections: the faults did not hit"
fi
nf=$(failed_writes "$LOG")
if ((nf == 0)) && (($(acked_writes "$LOG") > 0)); then
	pass "all-writes-acked"
else
	fail "all-writes-acked" "$nf failed: $(grep -m1 '^F ' "$LOG")"
fi
verify_logs "$URL" "verify-iscsi" "$LOG"
if ! sd_image "$VDI" 0 $((BLOCKS * 4096)) "$T_TMP/img"; then
	fail "verify-sheep" "sdctl: $(cat "$T_TMP/img.err")"
else
	verify_logs "$T_TMP/img" "verify-sheep" "$LOG"
fi
check "tgtd-alive" tgtd_alive
