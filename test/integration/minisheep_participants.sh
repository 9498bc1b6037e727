#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# minisheep_participants.sh - minisheep's sheep nodes as lock participants,
# as in sheep 1.0 (sheep/vdi.c vdi_lock() keyed by the node that received
# LOCK_VDI).  Several build/test/integration/participants processes, each talking
# to one node and driven line by line through FIFOs, check that:
#  - two gateways on two nodes are two participants, reported with the
#    nodes' ids (127.0.0.1 and the node's TCP port, else 7000+N-1);
#  - a second shared lock through the same node is VDI_LOCKED (-EBUSY for
#    the library), whichever client sends it;
#  - coherence is per node: after an index update through node 1, a
#    TGT-flagged request on any connection of node 2 (even one that never
#    locked) gets INODE_INVALIDATED, and a refresh read on any of them
#    makes node 2 valid again; a library handle opened before reads what
#    the other node allocated;
#  - closing connections (even a client's crash) releases nothing;
#  - "node N kill" refuses new connects, drops the node's shared-lock
#    participations (a normal lock it owns stays) and raises the epoch;
#    "node N start" lets it join again;
#  - with a cluster lag, a node judges with its own, older view: another
#    node's invalidation reaches it only after the lag;
#  - the --participant option of earlier versions is refused.
# Needs minisheep itself (skipped with SHEEP_ADDR).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

LABEL=participants
it_bin participants participants
TCP_PORT=$(free_port)
N4=tcp:127.0.0.1:$TCP_PORT
it_own_minisheep participants "tests minisheep's node model (SHEEP_ADDR set)" \
	--lock "$(node_arg 2)" "$(node_arg 3)" --listen "4=$N4"
N2=$(sheep_node 2) N3=$(sheep_node 3)
VDI=$(vdi_name part)
check "participants: create vdi" "$SDCTL" -a "$N1" vdi create "$VDI" $((64 * 1024 * 1024))
ctl() { "$MINISHEEP" --ctl "$SHEEP_CTL" "$@"; }

# expect_ctl CHECK-NAME PATTERN CMD...: a control answer must match
expect_ctl() {
	local what=$1 pat=$2 out
	shift 2
	out=$(ctl "$@" 2>&1)
	if [[ $out == $pat ]]; then
		pass "participants: $what"
	else
		fail "participants: $what" "control '$*' answered '$out', wanted '$pat'"
	fi
}

P1=7000 P2=7001 P3=7002 P4=$TCP_PORT

proc_start A "$N1" "$VDI"
proc_start B "$N2" "$VDI"

expect A "gateway A through node 1 takes a shared lock" "ok" open
expect B "gateway B through node 2 takes a shared lock" "ok" open
# (B joined INVALIDATED; its refresh read at open validated it and node 1)
expect A "two nodes are two participants, with the nodes' ids" \
	"ok n=2 modified=0 shared=2 invalidated=0 ports=$P1:2,$P2:2" state

# same node: refused whoever sends it
proc_start C "$N1" "$VDI"
expect C "a second gateway through node 1: -EBUSY" "err -16 *" open
expect C "a plain connection to node 1" "ok" raw-connect 0
expect C "shared LOCK_VDI through node 1 again: VDI_LOCKED" \
	"res 0x07 *" raw-lock 0
expect A "the refused locks changed nothing" "ok n=2 *" state

# coherence per node
expect B "B refreshes (node 2 valid)" "ok" read 0 0
expect A "both nodes valid" "ok n=2 modified=0 shared=2 invalidated=0 *" state
expect A "A allocates object 5 (node 1 modified, node 2 invalidated)" "ok" write 5 7
expect A "node 1 MODIFIED, node 2 INVALIDATED" \
	"ok n=2 modified=1 shared=0 invalidated=1 ports=$P1:1,$P2:3" state
proc_start D "$N2" "$VDI"
expect D "a connection to node 2 that never locked" "ok" raw-connect 0
expect D "shared LOCK_VDI through node 2 (B's node): VDI_LOCKED" \
	"res 0x07 *" raw-lock 0
expect D "TGT read on it: INODE_INVALIDATED (node 2 is stale)" \
	"res 0x1d *" raw-read 0 5
expect C "TGT read on node 1 (another client): fine" "res 0x00 *" raw-read 0 5
expect D "refresh read on that connection" "res 0x00 *" raw-refresh 0
expect A "the refresh validated node 2 (and node 1's MODIFIED)" \
	"ok n=2 modified=0 shared=2 invalidated=0 *" state
expect D "TGT read on node 2 now" "res 0x00 *" raw-read 0 5
expect A "A allocates object 6" "ok" write 6 8
expect B "B's handle reads the object A allocated after B opened" "ok" read 6 8
expect B "B's handle reads object 5 as A wrote it" "ok" read 5 7

# connection close releases nothing
expect C "closing node 1's other connection" "ok" raw-close 0
ask B exit
sleep 0.3
expect A "a crashed gateway stays a participant (its node did not leave)" \
	"ok n=2 *" state

# normal lock owned by node 3
V2=$(vdi_name part2)
check "participants: create a second vdi" "$SDCTL" -a "$N1" vdi create "$V2" $((4 * 1024 * 1024))
proc_start E "$N3" "$V2"
expect E "node 3 connection" "ok" raw-connect 0
expect E "normal lock through node 3" "res 0x00 *" raw-lock 0 normal
expect E "a second normal lock: VDI_LOCKED" "res 0x07 *" raw-lock 0 normal
expect E "normal lock owned by node 3" "ok lock=2 owner=$P3 *" lockstate

# kill -9 of node 2 and node 3
expect_ctl "node 2 stats" "ok node=2 state=alive port=$P2 epoch=1 *" node 2 stats
expect_ctl "node 2 killed" "ok node 2 killed, epoch 2" node 2 kill
expect_ctl "node 3 killed" "ok node 3 killed, epoch 3" node 3 kill
expect D "node 2's client connections are closed" "err *" raw-read 0 5
ask D raw-close 0
expect D "new connects to node 2 are refused" "err -111" raw-connect 0
expect A "node 2's participation is dropped" \
	"ok n=1 modified=* ports=$P1:*" state
proc_start F "$N1" "$V2"
expect F "node 1 connection" "ok" raw-connect 0
expect F "normal lock through node 1: still VDI_LOCKED" "res 0x07 *" \
	raw-lock 0 normal
expect F "the normal lock of the dead node 3 stays" \
	"ok lock=2 owner=$P3 *" lockstate
expect_ctl "the epoch went up" "ok node=1 state=alive port=$P1 epoch=3 *" node 1 stats
expect_ctl "node 2 starts again" "ok node 2 started, epoch 4" node 2 start
proc_start G "$N2" "$VDI"
expect G "gateway through the restarted node 2 locks again" "ok" open
expect A "two participants again" "ok n=2 *ports=$P1:*,$P2:*" state
expect G "it reads A's objects" "ok" read 5 7

# a TCP node's id is its port
proc_start H "$N4" "$VDI"
expect H "gateway through node 4 (TCP)" "ok" open
expect A "node 4's id is its TCP port" "ok n=3 *,$P4:*" state

# lag: node 2 learns of node 1's invalidation late
expect G "node 2 refreshes" "ok" read 6 8
expect H "node 4 refreshes" "ok" read 6 8
expect_ctl "cluster lag 700 ms" "ok lag 700 jitter 0" lag 700
expect A "A allocates object 9 through node 1" "ok" write 9 3
expect G "a second connection to node 2" "ok" raw-connect 1
expect G "node 2 has not applied the invalidation yet" "res 0x00 *" raw-read 1 5
ask G state
case $ANS in
"ok n=3 modified=0 shared=3 invalidated=0"*)
	pass "participants: node 2's own view is the old one" ;;
*)	fail "participants: node 2's own view is the old one" "state through node 2: $ANS" ;;
esac
ask A state
case $ANS in
"ok n=3 modified=1 shared=0 invalidated=2"*)
	pass "participants: node 1's view has the new state at once" ;;
*)	fail "participants: node 1's view has the new state at once" "state through node 1: $ANS" ;;
esac
sleep 1
expect G "after the lag node 2 is INVALIDATED" "res 0x1d *" raw-read 1 5
expect_ctl "lag off" "ok lag 0 jitter 0" lag 0
expect A "release" "ok" close
expect A "A left" "ok n=2 *" state

# the per-process and per-connection participant modes of earlier versions
# are gone: a participant is a node
out=$("$MINISHEEP" --dir "$T_TMP/bad" --listen "unix:$T_TMP/bad.sock" \
	--participant connection 2>&1)
if (($? == 2)) && grep -q "participant" <<<"$out"; then
	pass "participants: --participant is gone"
else
	fail "participants: --participant is gone" "$out"
fi
exit $T_FAILED
