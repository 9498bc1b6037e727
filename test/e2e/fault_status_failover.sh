#!/bin/bash
# fault_status_failover.sh - what `sdctl gateway status` says through a
# scripted failover (the fault of fault_failover.sh, without the load).
# One minisheep serves one store on unix sockets A and B; the LU is on A
# with fallback=unix:B.  Socket A is renamed away and kill-connections
# drops every connection: the client reconnects to B, and the status
# shows address B, one failover, reconnects and a time since the last
# failover.  Then A comes back and B goes away the same way: address A,
# two failovers.  I/O works after each switch and is counted; a write the
# sheep answers with EIO is counted by errno, sense key and sheep result;
# and the LU's "closed" log line carries the same counters.  A second LU
# on another VDI shares the LU's connection pool: it shows the same
# address and failovers (the pool's), but the EIO only in LU 1's sheep
# results (each VDI counts its own).
source "$(dirname "$0")/fault_common.sh"

SOCK_B=$T_TMP/sheep/sockb
fault_setup status_failover --listen "unix:$SOCK_B"
SOCK_A=$SHEEP_SOCK
VDI=$(vdi_name stfail)
make_vdi "$VDI" $((16 * 1024 * 1024))
VDI2=$(vdi_name stfail2)
make_vdi "$VDI2" $((16 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "unix:$SOCK_A:$VDI" sheepdog "fallback=unix:$SOCK_B"
check "lu-2-new" tgt_lu 1 2 "unix:$SOCK_A:$VDI2" sheepdog "fallback=unix:$SOCK_B"
URL=$(tgt_url "$IQN" 1)
wait_for_socket "$SOCK_B" || fail "listen-b" "minisheep does not listen on B"

JSON=$T_TMP/status.json
# field KEY [LUN]: LUN's (1) KEY in the last status
field() {
	jq -r --argjson pid "$TGT_PID" --argjson lun "${2:-1}" \
		'.gateways[] | select(.pid == $pid) | .entries[] |
		 select(.lun == $lun) | .'"$1" "$JSON"
}
# wait_addr ADDR: within 10 s the status shows ADDR in use
wait_addr() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$SDCTL" gateway status --json >"$JSON" &&
			[[ $(field addr) == "$1" ]] && return 0
		sleep 0.1
	done
	echo "address in use: $(field addr), want $1"
	return 1
}
take_away() {
	mv "$1" "$1.away" && ms_ctl kill-connections
}

check "write-on-a" qio "$URL" "write -P 0x11 0 4k"
check "on-a" wait_addr "unix:$SOCK_A"
check "no-failover-yet" want "$(field failovers)" -eq 0
check "no-reconnect-yet" want "$(field reconnects)" -eq 0
check "never-failed-over" want "$(field since_failover_s)" = null

take_away "$SOCK_A" || fail "a-away" "cannot take socket A away"
check "moved-to-b" wait_addr "unix:$SOCK_B"
check "write-on-b" qio "$URL" "write -P 0x22 4096 4k"
"$SDCTL" gateway status --json >"$JSON"
check "one-failover" want "$(field failovers)" -eq 1
check "reconnects-after-a" want "$(field reconnects)" -ge 1
check "time-since-failover" want "$(field since_failover_s)" -le 60

mv "$SOCK_A.away" "$SOCK_A"
take_away "$SOCK_B" || fail "b-away" "cannot take socket B away"
check "back-to-a" wait_addr "unix:$SOCK_A"
check "read-on-a" qio "$URL" "read -P 0x11 0 4k" "read -P 0x22 4096 4k"
"$SDCTL" gateway status --json >"$JSON"
check "two-failovers" want "$(field failovers)" -eq 2
check "writes-counted" want "$(field writes)" -eq 2
check "reads-counted" want "$(field reads)" -eq 2
check "no-errors" want "$(field errors)" -eq 0
mv "$SOCK_B.away" "$SOCK_B"

# one WRITE_OBJ answered EIO: one error to the initiator, counted by errno
# and sense key (MEDIUM ERROR), and the sheep's EIO result counted
if ms_ctl error WRITE_OBJ EIO 1; then
	"$IV" "$URL" --one write 0 --seed 2 >"$T_TMP/iv.out" 2>&1
	"$SDCTL" gateway status --json >"$JSON"
	check "one-error" want "$(field errors)" -eq 1
	check "error-by-errno" want "$(field err_EIO)" -eq 1
	check "error-by-sense-key" want "$(field sense_0x3)" -eq 1
	check "sheep-eio-counted" want "$(field result_0x03)" -eq 1
	check "writes-with-error" want "$(field writes)" -eq 3
	check "lu-2-shares-the-failovers" want "$(field failovers 2)" -eq 2
	check "lu-2-shares-the-address" want "$(field addr 2)" == "unix:$SOCK_A"
	check "lu-2-not-charged-the-eio" want "$(field result_0x03 2)" == null
	check "lu-2-no-errors" want "$(field errors 2)" -eq 0
else
	fail "inject-eio" "minisheep refused 'error WRITE_OBJ EIO 1'"
fi

check "lu-delete" tgtadm_c --lld iscsi --mode logicalunit --op delete \
	--tid 1 --lun 1
check "closed-line-counts" has_lines "$TGT_LOG" \
	"bs_sheepdog: closed lu lun=1 .* reads=2 writes=3 .* errors=1 err_EIO=1 .* addr=unix:$SOCK_A reconnects=[1-9][0-9]* failovers=2 since_failover_s=[0-9]+ "
check "tgtd-alive" tgtd_alive
