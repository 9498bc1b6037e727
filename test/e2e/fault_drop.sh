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
run_load LOAD "$IV" "$URL" 8 --qd 16 --seed 1 --blocks $BLOCKS --log "$LOG"
kills=0
while kill -0 "$LOAD" 2>/dev/null; do
	sleep 1
	ms_ctl kill-connections && kills=$((kills + 1))
done
bg_check "no-initiator-errors" LOAD
C1=$(conns)
echo "sheep connections: $((C1 - C0)) opened during the load, $kills kill-connections"
ms_ctl reset
# the fault must have hit: many more connections than the module keeps
check "connections-dropped" want $((C1 - C0)) -ge 20 \
	"only $((C1 - C0)) connections: the faults did not hit"
check "all-writes-acked" all_writes_acked "$LOG"
verify_logs "$URL" "verify-iscsi" "$LOG"
verify_image "verify-sheep" "$VDI" $((BLOCKS * 4096)) "$LOG"
check "tgtd-alive" tgtd_alive
