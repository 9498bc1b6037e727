#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fault_load.sh - pipelined verified async I/O while minisheep misbehaves:
#   reorder   replies sent in reversed batches of 8 (no error allowed)
#   delay     every reply 5 ms late, plus reorder 8 (no error allowed)
#   drop      each connection closed after 50 requests (reconnects)
#   kill      kill-connections twice in the middle of the load
#   restart   kill -9 of minisheep mid-load, restarted on the same --dir
# Every acknowledged write must be present afterwards (also through a new
# client), and I/O must resume after the fault.  Needs our own minisheep.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

if ! own_sheep; then
	for m in reorder delay drop kill restart; do
		skip "fault[$m]" "needs minisheep's fault controls (SHEEP_ADDR set)"
	done
	exit 0
fi
it_bin fault fault_load
sheep_addr || { fail "fault: sheep" "cannot start minisheep"; exit 1; }

ctl() {
	local out
	if ! out=$("$MINISHEEP" --ctl "$SHEEP_CTL" "$@" 2>&1); then
		fail "fault: ctl $*" "$out"
		return 1
	fi
}

# wait for FILE to exist (up to 20 s)
wait_file() {
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# background load for MODE: starts fault_load with --stop/--ready files;
# LOAD_PID, STOP set
start_load() {
	local mode=$1
	shift
	STOP=$T_TMP/$mode.stop
	rm -f "$STOP" "$T_TMP/$mode.ready"
	it_run "fault[$mode]" "$BIN" "$SHEEP" "$(vdi_name "f$mode")" \
		"fault[$mode]" --stop "$STOP" --ready "$T_TMP/$mode.ready" "$@" &
	LOAD_PID=$!
	on_exit stop_pid "$LOAD_PID"
	if ! wait_file "$T_TMP/$mode.ready"; then
		fail "fault[$mode]: load started" "no ready file"
		return 1
	fi
}

finish_load() {
	touch "$STOP"
	wait "$LOAD_PID" || T_FAILED=1
}

# --- reordered replies --------------------------------------------------
ctl reorder 8 && {
	it_run "fault[reorder]" "$BIN" "$SHEEP" "$(vdi_name freorder)" \
		"fault[reorder]" --ops 3000 --max-errors 0
}
ctl reset

# --- delayed and reordered replies --------------------------------------
ctl delay 5 && ctl reorder 8 && {
	it_run "fault[delay]" "$BIN" "$SHEEP" "$(vdi_name fdelay)" \
		"fault[delay]" --ops 2000 --max-errors 0 --depth 48
}
ctl reset

# --- connections dropped after 50 requests ------------------------------
if start_load drop --expect-reconnect --conns 2; then
	ctl drop-after 50
	sleep 3
	ctl reset
	sleep 0.5
	finish_load
fi

# --- kill-connections in the middle of the load -------------------------
if start_load kill --expect-reconnect; then
	sleep 1
	ctl kill-connections
	sleep 0.7
	ctl kill-connections
	sleep 1
	finish_load
fi

# --- kill -9 minisheep mid-load, restart on the same directory ----------
if start_load restart --expect-reconnect --timeout 8000; then
	sleep 1.5
	kill -9 "$SHEEP_PID"
	wait "$SHEEP_PID" 2>/dev/null
	sleep 0.3
	rm -f "$SHEEP_SOCK"
	if start_minisheep; then
		pass "fault[restart]: minisheep restarted on the same dir"
	else
		fail "fault[restart]: minisheep restarted on the same dir" \
			"see $T_TMP/minisheep.log"
	fi
	sleep 1.5
	finish_load
fi
exit $T_FAILED
