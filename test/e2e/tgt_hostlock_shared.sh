#!/bin/bash
# tgt_hostlock_shared.sh - the shared-lock (multipath) side of the takeover
# after a crash.  Sheep 1.0 keeps one shared-lock participant per sheep
# node and drops it only when that node releases or leaves
# (sheep/vdi.c add_new_participant(), del_participant(),
# remove_node_from_participants()); minisheep --lock does the same.
# Gateway A (lock=shared through node 1) and gateway B (lock=shared
# through node 2) export one VDI; A writes.  A is killed with -9: node 1's
# participation stays.  A new tgtd on this host, again through node 1,
# must open the VDI within 2 s with no manual step (the library finds its
# dead predecessor's record and takes node 1's participation over), read
# what A wrote, and write; gateway B, alive on node 2, keeps working and
# reads the new tgtd's write.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

M=$((1024 * 1024))
if ! own_sheep; then
	skip tgt_hostlock_shared "needs a locking minisheep (SHEEP_ADDR set)"
	exit 0
fi
tgt_setup hostlock_shared --lock "$(node_arg 2)"
VDI=$(vdi_name hls)
make_vdi "$VDI" $((16 * M))
N1=$SHEEP
N2=$(sheep_node 2)

# ---- gateway A (node 1) and gateway B (node 2), both shared ----------------
check "gwA-opens-shared" tgt_lu 1 1 "$N1:$VDI" sheepdog "lock=shared"
check "gwA-writes" qio "$(tgt_url "$IQN" 1)" "write -P 0x5a 0 65536"
GWA=$TGT_PID
mv "$TGT_LOG" "$T_TMP/gwA.log"
stop_gwA() { kill -9 "$GWA" 2>/dev/null; wait "$GWA" 2>/dev/null; true; }
on_exit stop_gwA

TGT_PID='' TGT_TIDS=()
if ! tgt_start || ! tgt_target 1 "$IQN"; then
	fail "gwB-start" "cannot start gateway B"
	exit 1
fi
check "gwB-opens-shared-through-node-2" \
	tgt_lu 1 1 "$N2:$VDI" sheepdog "lock=shared"
URLB=$(tgt_url "$IQN" 1)
GWB=("$TGT_PID" "$TGT_PORT" "$TGT_CTL" "${TGT_TIDS[@]}")
stop_gwB() {
	TGT_PID=${GWB[0]} TGT_PORT=${GWB[1]} TGT_CTL=${GWB[2]}
	TGT_TIDS=("${GWB[@]:3}")
	tgt_stop
}
on_exit stop_gwB
mv "$TGT_LOG" "$T_TMP/gwB.log"

# ---- kill -9 A; a new tgtd through node 1 takes its participation over ----
kill -9 "$GWA"
wait "$GWA" 2>/dev/null
t0=$(date +%s%N)
TGT_PID='' TGT_TIDS=()
if ! tgt_start || ! tgt_target 1 "$IQN"; then
	fail "gwC-start" "cannot start the new tgtd"
	exit 1
fi
if tgt_lu 1 1 "$N1:$VDI" sheepdog "lock=shared"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "the new tgtd opened the VDI through node 1 ${ms} ms after gateway A was killed"
	if ((ms <= 2000)); then
		pass "new-tgtd-reopens-shared-within-2s"
	else
		fail "new-tgtd-reopens-shared-within-2s" "after $ms ms"
	fi
else
	fail "new-tgtd-reopens-shared-within-2s" "$(cat "$TGT_OUT"); $(grep 'bs_sheepdog:' "$TGT_LOG" | tail -n 1)"
fi
URLC=$(tgt_url "$IQN" 1)
check "gwA-write-reads-back-through-new-tgtd" \
	qio "$URLC" "read -P 0x5a 0 65536"
check "new-tgtd-writes" qio "$URLC" "write -P 0xa5 1048576 65536"
check "gwB-reads-new-tgtd-write" qio "$URLB" "read -P 0xa5 1048576 65536"
check "gwB-still-writes" qio "$URLB" "write -P 0x3c 2097152 4096"
n=$(grep -l "^prev_pid=$GWA\$" "$SHEEP_LOCK_DIR"/*.lock 2>/dev/null |
	xargs -r grep -l "^pid=$TGT_PID\$" | xargs -r grep -l '^state=held$' |
	wc -l)
if ((n == 1)); then
	pass "record-names-new-tgtd-and-dead-gwA"
else
	fail "record-names-new-tgtd-and-dead-gwA" "$(head -n 20 "$SHEEP_LOCK_DIR"/*.lock)"
fi
check "new-tgtd-alive" tgtd_alive
exit $T_FAILED
