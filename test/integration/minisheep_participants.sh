#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# minisheep_participants.sh - minisheep's shared-lock participant identity.
# By default (--participant process) every connection of one client
# process is one participant ("sheep node"): several test/integration/
# participants processes, each driven line by line through FIFOs, check
# that two processes (two connections each) are two participants, that a
# TGT-flagged request on a connection that never locked is still refused
# with INODE_INVALIDATED when its process is stale, that a refresh read on
# any connection of the process clears it, that a handle opened before
# another process allocated an object reads that object's data, that a
# second shared lock from the same process is VDI_LOCKED / -EBUSY, and that
# a participant leaves with its last connection only.  TCP peers fall back
# to one participant per connection, and so does --participant connection.
# Needs minisheep itself (skipped with SHEEP_ADDR).
source "$(dirname "$0")/../lib.sh"

BIN=$TOP/test/integration/participants
[[ -x $BIN ]] || { fail "participants: binary" "$BIN not built"; exit 1; }
if ! own_sheep; then
	skip "participants" "tests minisheep's participant identity (SHEEP_ADDR set)"
	exit 0
fi

TCP_PORT=$(free_port)
start_minisheep --lock --listen "tcp:127.0.0.1:$TCP_PORT" ||
	{ fail "participants: minisheep" "cannot start"; exit 1; }
VDI=$(vdi_name part)
check "participants: create vdi" "$SDCTL" -a "$SHEEP" vdi create "$VDI" $((64 * 1024 * 1024))

declare -A P_IN P_OUT P_PID
ANS=

# proc_start NAME ADDR VDI: one participants process, commands via FIFOs
proc_start() {
	local name=$1 w r
	mkfifo "$T_TMP/$name.in" "$T_TMP/$name.out"
	"$BIN" "$2" "$3" <"$T_TMP/$name.in" >"$T_TMP/$name.out" \
		2>>"$T_TMP/$name.err" &
	P_PID[$name]=$!
	on_exit "stop_pid ${P_PID[$name]}"
	exec {w}>"$T_TMP/$name.in"
	exec {r}<"$T_TMP/$name.out"
	P_IN[$name]=$w
	P_OUT[$name]=$r
}

# ask NAME CMD...: send one command, the one-line answer goes to $ANS
ask() {
	local name=$1
	shift
	echo "$*" >&"${P_IN[$name]}" 2>/dev/null
	IFS= read -r -t 60 -u "${P_OUT[$name]}" ANS || ANS="(no answer)"
}

# expect NAME CHECK-NAME PATTERN CMD...: the answer must match PATTERN
expect() {
	local name=$1 what=$2 pat=$3
	shift 3
	ask "$name" "$@"
	if [[ $ANS == $pat ]]; then
		pass "participants: $what"
	else
		fail "participants: $what" "$name: '$*' answered '$ANS', wanted '$pat'"
	fi
}

# expect_state NAME CHECK-NAME PATTERN: state must match within 5 s (the
# server notices a closed connection asynchronously)
expect_state() {
	local name=$1 what=$2 pat=$3 i
	for ((i = 0; i < 50; i++)); do
		ask "$name" state
		[[ $ANS == $pat ]] && break
		sleep 0.1
	done
	if [[ $ANS == $pat ]]; then
		pass "participants: $what"
	else
		fail "participants: $what" "$name: state is '$ANS', wanted '$pat'"
	fi
}

proc_start A "$SHEEP" "$VDI"
proc_start B "$SHEEP" "$VDI"

expect A "process A shared lock" "ok" open
expect B "process B shared lock" "ok" open
expect A "two processes with two connections each are two participants" \
	"ok n=2 *" state

# B's extra connection never sent LOCK_VDI; it belongs to B all the same
expect B "B opens a connection that never locks" "ok" raw-connect 0
expect A "A allocates object 5" "ok" write 5 7
expect A "A's index update: A MODIFIED, B INVALIDATED" \
	"ok n=2 modified=1 shared=0 invalidated=1" state
expect B "TGT read on B's unlocked connection: INODE_INVALIDATED" \
	"res 0x1d *" raw-read 0 5
expect B "refresh read on that connection succeeds" "res 0x00 *" raw-refresh 0
expect A "the refresh cleared B (and A's MODIFIED)" \
	"ok n=2 modified=0 shared=2 invalidated=0" state
expect B "TGT read on that connection after the refresh" "res 0x00 *" raw-read 0 5

# the library: B opened before A allocated object 6 and must see its data
expect A "A allocates object 6" "ok" write 6 8
expect A "A MODIFIED again, B INVALIDATED" \
	"ok n=2 modified=1 shared=0 invalidated=1" state
expect B "B's handle reads the object A allocated after B opened" "ok" read 6 8
expect B "B's handle reads object 5 as A wrote it" "ok" read 5 7
expect A "B's library refreshed (any of its connections)" \
	"ok n=2 modified=0 shared=2 invalidated=0" state

# same process, same vid: as one sheep node locking twice
expect A "A opens a second connection" "ok" raw-connect 0
expect A "shared LOCK_VDI from A's second connection: VDI_LOCKED" \
	"res 0x07 *" raw-lock 0
expect A "second shared open in process A: -EBUSY" "err -16 *" open
expect A "the refused locks left A a participant" "ok n=2 *" state
expect A "A still reads through its handle" "ok" read 6 8

# a participant leaves with its last connection, not its first
proc_start C "$SHEEP" "$VDI"
expect C "C connection 0" "ok" raw-connect 0
expect C "C connection 1" "ok" raw-connect 1
expect C "C locks on connection 0" "res 0x00 *" raw-lock 0
expect C "C locks again on connection 1: VDI_LOCKED" "res 0x07 *" raw-lock 1
expect A "three participants" "ok n=3 *" state
expect C "C closes the connection it locked on" "ok" raw-close 0
sleep 0.5
expect A "C stays a participant while it has a connection" "ok n=3 *" state
expect C "C closes its last connection" "ok" raw-close 1
expect_state A "C left with its last connection" "ok n=2 *"

# a gateway that dies without releasing leaves too
ask B exit
expect_state A "crashed process B left" "ok n=1 *"

# TCP peers: no pid, one participant per connection
proc_start E "tcp:127.0.0.1:$TCP_PORT" "$VDI"
expect E "TCP connection 0" "ok" raw-connect 0
expect E "TCP connection 1" "ok" raw-connect 1
expect E "TCP connection 0 locks" "res 0x00 *" raw-lock 0
expect E "TCP connection 1 is another participant" "res 0x00 *" raw-lock 1
expect A "A + two TCP connections are three participants" "ok n=3 *" state
ask E exit
expect A "A releases by close" "ok" close
expect_state A "no participant left after release and exits" "ok n=0 *"

# --participant connection: the old behaviour, per connection
SHEEP_DIR=$T_TMP/connsheep
start_minisheep --lock --participant connection ||
	{ fail "participants: minisheep --participant connection" "cannot start"; exit 1; }
check "participants: create vdi (connection mode)" \
	"$SDCTL" -a "$SHEEP" vdi create "$VDI" $((64 * 1024 * 1024))
proc_start D "$SHEEP" "$VDI"
expect D "connection mode: connection 0" "ok" raw-connect 0
expect D "connection mode: connection 1" "ok" raw-connect 1
expect D "connection mode: lock on connection 0" "res 0x00 *" raw-lock 0
expect D "connection mode: lock on connection 1 (another participant)" \
	"res 0x00 *" raw-lock 1
expect D "connection mode: two participants" "ok n=2 *" state
expect D "connection mode: open through the library too" "ok" open
expect D "connection mode: three participants" "ok n=3 *" state
expect D "connection mode: release" "ok" close
exit $T_FAILED
