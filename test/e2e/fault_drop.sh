#!/bin/bash
# fault_drop.sh - connections to the sheep lost under a verified write load:
# minisheep closes every connection after 50 requests (`drop-after 50`)
# and, every second, all of them (`kill-connections`).  The initiator sees
# no error, and every acknowledged write reads back over iSCSI and straight
# from the sheep.  Two LUs on two VDIs take the load at once: they share
# the module's connection pool, so requests of both VDIs are in flight on
# every connection that is cut, and each must be resent to its own VDI.
source "$(dirname "$0")/fault_common.sh"

fault_setup drop
VDI=$(vdi_name drop)
VDI2=$(vdi_name drop2)
BLOCKS=8192			# 32 MiB: first writes to 8 objects included
make_vdi "$VDI" $((64 * 1024 * 1024))
make_vdi "$VDI2" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
check "lu-new-2" tgt_lu 1 2 "$SHEEP:$VDI2"
URL=$(tgt_url "$IQN" 1)
URL2=$(tgt_url "$IQN" 2)
LOG=$T_TMP/load.log
LOG2=$T_TMP/load2.log

conns() {
	"$MINISHEEP" --ctl "$SHEEP_CTL" stats | tr ' ' '\n' |
		sed -n 's/^connections=//p'
}
C0=$(conns)
ms_ctl drop-after 50 || fail "drop-after" "minisheep control failed"
run_load LOAD "$IV" "$URL" 8 --qd 16 --seed 1 --blocks $BLOCKS --log "$LOG"
run_load LOAD2 "$IV" "$URL2" 8 --qd 16 --seed 2 --blocks $BLOCKS --log "$LOG2"
kills=0
while kill -0 "$LOAD" 2>/dev/null || kill -0 "$LOAD2" 2>/dev/null; do
	sleep 1
	ms_ctl kill-connections && kills=$((kills + 1))
done
bg_check "no-initiator-errors" LOAD
bg_check "no-initiator-errors-lu-2" LOAD2
C1=$(conns)
echo "sheep connections: $((C1 - C0)) opened during the load, $kills kill-connections"
ms_ctl reset
# the fault must have hit: many more connections than the module keeps
check "connections-dropped" want $((C1 - C0)) -ge 20 \
	"only $((C1 - C0)) connections: the faults did not hit"
check "all-writes-acked" all_writes_acked "$LOG"
check "all-writes-acked-lu-2" all_writes_acked "$LOG2"
verify_logs "$URL" "verify-iscsi" "$LOG"
verify_logs "$URL2" "verify-iscsi-lu-2" "$LOG2"
verify_image "verify-sheep" "$VDI" $((BLOCKS * 4096)) "$LOG"
verify_image "verify-sheep-lu-2" "$VDI2" $((BLOCKS * 4096)) "$LOG2"
check "tgtd-alive" tgtd_alive
