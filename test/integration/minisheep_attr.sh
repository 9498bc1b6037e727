#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# minisheep_attr.sh - GET_VDI_ATTR exactly as sheep 1.0 runs it
# (sheep/ops.c cluster_get_vdi_attr(), sheep/vdi.c get_vdi_attr()), the
# primitive a gateway can use as a cluster-wide create-exclusive claim,
# through raw requests of test/integration/participants:
#  - the response names the VDI name's hash vid and the attribute id
#    FNV-1a(name[256] tag[256] snap_id key[256]) & 0xffffffff (computed
#    here independently), and the copies;
#  - CREAT|EXCL creates the attribute object (66,320 bytes, exactly the
#    payload written, ctime = the VDI's create_time), a second one is
#    VDI_EXIST; a lookup without flags finds it, a missing key is NO_OBJ;
#  - plain CREAT replaces the object at the key's first slot;
#  - DEL leaves a "" tombstone at the name: the object stays, lookups
#    probe past it (NO_OBJ), the next CREAT|EXCL lands in the next slot;
#  - REMOVE_OBJ unlinks an attribute object, and its slot is free again;
#  - the lookup uses the header's snapid (a snapshot's attribute), the
#    hash the payload's snap_id; NO_VDI / NO_TAG for a missing VDI / tag;
#  - CREAT|EXCL is serialised cluster-wide: many at once, through three
#    nodes, with slow creates, give exactly one SUCCESS.
# Needs minisheep itself (skipped with SHEEP_ADDR).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

LABEL=attr
it_bin attr participants
it_own_minisheep attr "tests minisheep's GET_VDI_ATTR (SHEEP_ADDR set)" \
	--copies 2 "$(node_arg 2)" "$(node_arg 3)"
N2=$(sheep_node 2) N3=$(sheep_node 3)
VDI=$(vdi_name attr)
check "attr: create vdi" "$SDCTL" -a "$N1" vdi create "$VDI" $((4 * 1024 * 1024))
ctl() { "$MINISHEEP" --ctl "$SHEEP_CTL" "$@" >/dev/null; }

proc_start A "$N1" "$VDI"
expect A "connection" "ok" raw-connect 0
expect A "lookup of the vid" "res 0x00 *" raw-lock 0
ask A attr-expect alloc:7
read -r _ HV H7 <<<"$ANS"
HV=${HV#vid=} H7=${H7#attr=}
ask A attr-expect alloc:8
H8=${ANS##*attr=}
next() { printf '0x%x' $((($1 + 1) & 0xffffffff)); }
H7N=$(next "$H7")

expect A "CREAT|EXCL: created, hash vid, attr id, copies" \
	"res 0x00 vid=$HV attr=$H7 copies=2" attr 0 cx alloc:7 gw1
expect A "CREAT|EXCL again: VDI_EXIST, same slot" \
	"res 0x04 vid=$HV attr=$H7 *" attr 0 cx alloc:7 gw2
expect A "another key: its own slot" "res 0x00 vid=$HV attr=$H8 *" \
	attr 0 cx alloc:8 gw2
expect A "lookup without flags finds it" "res 0x00 vid=$HV attr=$H7 *" \
	attr 0 - alloc:7
expect A "lookup of a missing key: NO_OBJ" "res 0x02 *" attr 0 - alloc:9
ask A inode-ctime 0
CT=${ANS#ok ctime=}
expect A "the object: name, key, value, ctime = the VDI's create_time" \
	"res 0x00 name=$VDI tag= snap=0 ctime=$CT len=3 key=alloc:7 value=gw1" \
	attr-read 0 "${H7#0x}"
expect A "the object is 66,320 bytes" "res 0x00 *" obj-read 0 "${H7#0x}" 66319 1
expect A "not more" "res 0x05 *" obj-read 0 "${H7#0x}" 66320 1

# plain CREAT: no look, created over the first slot
expect A "plain CREAT replaces the object" "res 0x00 vid=$HV attr=$H7 *" \
	attr 0 c alloc:7 again
expect A "with exactly the new payload" \
	"res 0x00 name=$VDI tag= snap=0 ctime=$CT len=5 key=alloc:7 value=again" \
	attr-read 0 "${H7#0x}"

# DEL: tombstone
expect A "DEL" "res 0x00 vid=$HV attr=$H7 *" attr 0 d alloc:7
expect A "the tombstone: the object stays with an empty name" \
	"res 0x00 name= tag= snap=0 * key=alloc:7 value=again" \
	attr-read 0 "${H7#0x}"
expect A "a deleted key is not found (the probe goes on: NO_OBJ)" \
	"res 0x02 *" attr 0 - alloc:7
expect A "CREAT|EXCL after DEL takes the next slot" \
	"res 0x00 vid=$HV attr=$H7N *" attr 0 cx alloc:7 gw3
expect A "and is found there" "res 0x00 vid=$HV attr=$H7N *" attr 0 - alloc:7

# REMOVE_OBJ
expect A "REMOVE_OBJ of the next slot" "res 0x00 *" obj-remove 0 "${H7N#0x}"
expect A "removed" "res 0x02 *" obj-read 0 "${H7N#0x}" 0 1
expect A "REMOVE_OBJ again: NO_OBJ" "res 0x02 *" obj-remove 0 "${H7N#0x}"
expect A "REMOVE_OBJ of the tombstone" "res 0x00 *" obj-remove 0 "${H7#0x}"
expect A "CREAT|EXCL: the first slot is free again" \
	"res 0x00 vid=$HV attr=$H7 *" attr 0 cx alloc:7 gw4

# which snapshot
check "attr: snapshot" "$SDCTL" -a "$N1" vdi snapshot -s s1 "$VDI"
ask A attr-expect alloc:7 1
H7S=${ANS##*attr=}
expect A "the payload's snap_id changes the attribute id" \
	"res 0x00 vid=$HV attr=$H7S *" attr 0 cx alloc:7 snap 1
expect A "the header's snapid looks the snapshot up" \
	"res 0x00 vid=$HV attr=$H7 *" attr 0 - alloc:7 - 0 1
expect A "a missing snapshot id: NO_TAG" "res 0x0e *" attr 0 - alloc:7 - 0 9
expect A "a missing tag: NO_TAG" "res 0x0e *" attr 0 - alloc:7 - 0 0 nosuchtag
proc_start X "$N1" "$(vdi_name nosuch)"
expect X "connection" "ok" raw-connect 0
expect X "a missing VDI: NO_VDI" "res 0x08 *" attr 0 cx alloc:7

# serialised cluster-wide: slow creates, 3 nodes, 8 connections each
ctl create-delay 30
ctl op-delay GET_VDI_ATTR 5
proc_start B "$N2" "$VDI"
proc_start C "$N3" "$VDI"
send A attr-race race:1 8
send B attr-race race:1 8
send C attr-race race:1 8
ok=0 exist=0 other=0
for p in A B C; do
	recv "$p"
	[[ $ANS =~ success=([0-9]+)\ exist=([0-9]+)\ other=([0-9]+) ]] ||
		fail "attr: race answer" "$p: $ANS"
	ok=$((ok + BASH_REMATCH[1]))
	exist=$((exist + BASH_REMATCH[2]))
	other=$((other + BASH_REMATCH[3]))
done
ctl reset
if ((ok == 1 && exist == 23 && other == 0)); then
	pass "attr: 24 CREAT|EXCL at once through 3 nodes: exactly one wins"
else
	fail "attr: 24 CREAT|EXCL at once through 3 nodes: exactly one wins" \
		"success $ok, exist $exist, other $other"
fi
exit $T_FAILED
