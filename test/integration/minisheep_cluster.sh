#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# minisheep_cluster.sh - what a client meets on minisheep's sheep nodes
# while the cluster changes, one plain request at a time
# (test/integration/cluster_probe), as sheep 1.0 answers it
# (sheep/request.c queue_request(), queue_gateway_request(),
# request_in_recovery(); see doc/reliability.md).  Three nodes, three
# copies, strict (dog cluster format -t):
#  - a node lost: writes and creates HALT, reads go on; back: writes go on;
#  - a node started with a join delay answers WAIT_FOR_JOIN with the epoch
#    it went down with (READ_VDIS is served), then joins;
#  - a recovery window after a node returned: a write to a data object
#    whose copy on it is missing gets NO_OBJ (100% not in the recovery
#    list) while a read (another copy, also through the recovering node:
#    gateway_replication_read()) and a create go on; after the
#    window the write succeeds; with 0% every request waits instead and
#    succeeds within the window;
#  - with a cluster lag, a write waits until every node applied a leave;
#  - a clean stop (node N shutdown): a connected client gets KILLED, new
#    connects are refused, then the node has left (epoch up);
#  - cluster shutdown: SHUTDOWN; nodes started again answer WAIT_FOR_JOIN
#    until all three are back, at the same epoch;
#  - sheep's internal results can be injected by name (OLD_NODE_VER).
# Needs minisheep itself (skipped with SHEEP_ADDR).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

it_bin cluster cluster_probe
it_own_minisheep cluster "tests minisheep's cluster model (SHEEP_ADDR set)" \
	--copies 3 --strict "$(node_arg 2)" "$(node_arg 3)"
N2=$(sheep_node 2) N3=$(sheep_node 3)
VDI=$(vdi_name cluster)
MIB=$((1024 * 1024))
check "cluster: create vdi" "$SDCTL" -a "$N1" vdi create "$VDI" $((16 * MIB))
head -c $((16 * MIB)) /dev/zero | tr '\0' 'x' >"$T_TMP/data"
check "cluster: allocate it" "$SDCTL" -a "$N1" vdi write "$VDI" 0 $((16 * MIB)) \
	<"$T_TMP/data"
VID=$("$SDCTL" -a "$N1" vdi list -r | awk -v n="\"$VDI\"" '$1 == n && $2 == 0 { print $7 }')
oid() { printf '%x%08x' $((16#$VID)) "$1"; }
OBJ=$(oid 1)

ctl() { "$MINISHEEP" --ctl "$SHEEP_CTL" "$@" >/dev/null; }
ANS=
# expect NAME GLOB ARGS...: one probe, its answer must match GLOB
expect() {
	local name=$1 want=$2
	shift 2
	ANS=$("$BIN" "$@")
	# shellcheck disable=SC2053
	if [[ $ANS == $want ]]; then
		pass "cluster: $name"
	else
		fail "cluster: $name" "got '$ANS', want '$want'"
	fi
}
ms_of() { echo "${ANS##* ms }"; }

expect "write through node 1" "res 0x00 * epoch 1 *" "$N1" write "$OBJ"

# strict: too few nodes for three copies
ctl node 3 kill
expect "a node lost: write HALT" "res 0x19 *" "$N1" write "$OBJ"
expect "a node lost: create HALT" "res 0x19 *" "$N1" create "$(oid 7)"
expect "a node lost: read goes on" "res 0x00 *" "$N1" read "$OBJ"
ctl node 3 start
expect "the node is back: write goes on" "res 0x00 * epoch 3 *" "$N1" write "$OBJ"

# a node that returns with its old epoch
ctl node 2 kill
ctl node 2 start 1500
expect "returning node: WAIT_FOR_JOIN, its old epoch" "res 0x17 * epoch 3 *" \
	"$N2" read "$OBJ"
expect "returning node: READ_VDIS is served" "res 0x00 *" "$N2" read-vdis
sleep 1.7
expect "returning node joined" "res 0x00 * epoch 5 *" "$N2" read "$OBJ"

# recovery window: every data object not in the list -> NO_OBJ
ctl recovery 2500 100
ctl node 3 kill
ctl node 3 start
# each copy has its own time in the window: one of four objects at least
# is still missing on node 3
got=
for i in 0 1 2 3; do
	got+=" $("$BIN" "$N1" write "$(oid "$i")" | cut -d' ' -f2)"
done
if [[ $got == *0x02* && $got != *0x[1-9a-f]* && $got != *0x0[13-9a-f]* ]]; then
	pass "cluster: recovery: write NO_OBJ"
else
	fail "cluster: recovery: write NO_OBJ" "results:$got"
fi
expect "recovery: read of another copy" "res 0x00 *" "$N1" read "$OBJ"
expect "recovery: create is served" "res 0x00 *" "$N1" create "$(oid 9)"
expect "recovery: read on the recovering node takes another copy" \
	"res 0x00 *" "$N3" read "$(oid 2)"
sleep 2.7
expect "recovered: write goes on" "res 0x00 *" "$N1" write "$OBJ"
# recovery window: everything waits
ctl recovery 1500 0
ctl node 3 kill
ctl node 3 start
expect "recovery: a write waits" "res 0x00 *" "$N1" write "$(oid 3)"
w=$(ms_of)
expect "recovery: a read on the recovering node waits" "res 0x00 *" \
	"$N3" read "$(oid 2)"
r=$(ms_of)
echo "waited: write ${w} ms, read ${r} ms (window 1500 ms)"
if ((w <= 2000 && r <= 2000)); then
	pass "cluster: the waits end with the window"
else
	fail "cluster: the waits end with the window" "write $w ms, read $r ms"
fi
ctl recovery 0

# a cluster lag: the write waits until every node applied the leave (then
# it is HALT: two nodes for three copies)
ctl lag 600
ctl node 3 kill
expect "lag: after the leave HALT" "res 0x19 *" "$N1" write "$OBJ"
if (($(ms_of) >= 400)); then
	pass "cluster: lag: the write waited for the epoch ($(ms_of) ms)"
else
	fail "cluster: lag: the write waited for the epoch" "$(ms_of) ms"
fi
ctl lag 0
ctl node 3 start

# clean stop of node 2 with a client connected to it
"$BIN" --send-after 300 "$N2" write "$OBJ" >"$T_TMP/stop.out" &
P=$!
sleep 0.1
ctl node 2 shutdown 1000
wait "$P"
ANS=$(cat "$T_TMP/stop.out")
[[ $ANS == "res 0x8d "* ]] && pass "cluster: clean stop: KILLED" ||
	fail "cluster: clean stop: KILLED" "got '$ANS'"
expect "clean stop: new connects refused" "err -111 *" "$N2" read "$OBJ"
sleep 1.2
ANS=$("$MINISHEEP" --ctl "$SHEEP_CTL" node 2 stats)
[[ $ANS == "ok node=2 state=killed "* ]] &&
	pass "cluster: clean stop: the node left" ||
	fail "cluster: clean stop: the node left" "$ANS"
ctl node 2 start
E=$("$BIN" "$N1" read "$OBJ" | sed 's/.* epoch \([0-9]*\) .*/\1/')

# cluster shutdown, then a restart of all nodes
"$BIN" --send-after 300 "$N1" read "$OBJ" >"$T_TMP/shut.out" &
P=$!
sleep 0.1
ctl cluster shutdown 800
wait "$P"
ANS=$(cat "$T_TMP/shut.out")
[[ $ANS == "res 0x11 "* ]] && pass "cluster: cluster shutdown: SHUTDOWN" ||
	fail "cluster: cluster shutdown: SHUTDOWN" "got '$ANS'"
sleep 1
ctl node 1 start
ctl node 2 start
expect "restart: WAIT_FOR_JOIN until all are back" "res 0x17 *" "$N1" read "$OBJ"
ctl node 3 start
expect "restart: all back, same epoch" "res 0x00 * epoch $E *" "$N1" read "$OBJ"

ctl error WRITE_OBJ OLD_NODE_VER 1
expect "injected OLD_NODE_VER" "res 0x81 *" "$N1" write "$OBJ"
expect "then writes go on" "res 0x00 *" "$N1" write "$OBJ"
