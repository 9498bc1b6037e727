#!/bin/bash
# fault_failover.sh - failover to a fallback address under a verified write
# load.  One minisheep process serves one store on two unix sockets, A and
# B (two --listen); the LU's backing store is on A with bsopts
# fallback=unix:B.  Making A unavailable: its socket file is renamed away
# (new connects to A fail with ENOENT) and `kill-connections` drops the
# established ones, so the module must reconnect, find A gone and move to
# B.  Then A comes back and B goes away the same way: the module must move
# back to A (the address list wraps).  The initiator sees no error, writes
# resume after each switch, and every acknowledged write reads back.
source "$(dirname "$0")/fault_common.sh"

SOCK_B=$T_TMP/sheep/sockb
fault_setup failover --listen "unix:$SOCK_B"
SOCK_A=$SHEEP_SOCK
VDI=$(vdi_name failover)
BLOCKS=8192
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "unix:$SOCK_A:$VDI" sheepdog "fallback=unix:$SOCK_B"
URL=$(tgt_url "$IQN" 1)
LOG=$T_TMP/load.log
wait_for_socket "$SOCK_B" || fail "listen-b" "minisheep does not listen on B"

run_load LOAD "$IV" "$URL" 7 --qd 16 --seed 1 --blocks $BLOCKS --log "$LOG"

# acks_between T1 T2 WHILE: writes acknowledged that were submitted after
# wall-clock ms T1 and before ms T2 (printed: how many, the first one's
# delay after T1); fails if none
acks_between() {
	local n ms
	read -r n ms < <(awk -v a=$(($1 * 1000)) -v b=$(($2 * 1000)) \
		'$1 == "W" && $5 > a && $5 < b { n++; if (!f || $6 < f) f = $6 }
		 END { printf "%d %.0f\n", n, n ? (f - a) / 1000 : -1 }' "$LOG")
	echo "$3: $n writes acknowledged, the first ${ms} ms after the switch"
	((n > 0)) && return 0
	echo "no write acknowledged while $3"
	return 1
}

# make socket $1 unavailable (renamed to $1.away) and drop every connection
take_away() {
	mv "$1" "$1.away" && ms_ctl kill-connections
}

sleep 1.5
T1=$(now_ms)
take_away "$SOCK_A" || fail "a-away" "cannot take socket A away"
sleep 2.5
T2=$(now_ms)
mv "$SOCK_A.away" "$SOCK_A"
take_away "$SOCK_B" || fail "b-away" "cannot take socket B away"
sleep 2
T3=$(now_ms)

bg_check "no-initiator-errors" LOAD
check "failover-to-b" acks_between "$T1" "$T2" "only B was reachable"
check "failback-to-a" acks_between "$T2" "$T3" "only A was reachable"
nf=$(failed_writes "$LOG")
((nf == 0)) || fail "no-failed-writes" "$nf: $(grep -m1 '^F ' "$LOG")"
verify_logs "$URL" "acked-writes-present" "$LOG"
mv "$SOCK_B.away" "$SOCK_B"
check "tgtd-alive" tgtd_alive
