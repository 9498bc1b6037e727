#!/bin/bash
# tgt_status.sh - `sdctl gateway status` against one tgtd (own status
# directory, BS_SHEEPDOG_RUN_DIR): the process's socket appears with its
# first LU; a scripted qemu-io sequence (10 writes of 4 KiB, then 6 reads of
# 8 KiB) moves the LU's counters by exactly that; the sheep results are
# counted; --json parses (python3 -m json.tool) and says the same;
# --prometheus passes `promtool check metrics` (or, without promtool, a
# check of the exposition format's line grammar); --watch prints again;
# 50 LUs, 4 of them under a write load, are all listed within a generous
# bound (a responsiveness check, like tgtadm's in fault_common.sh); a
# deleted LU logs one "closed" line with its counters; the socket goes
# away with the last LU.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

IV=$TOP/build/test/tools/iscsi_verify
tgt_io_setup status
SOCK=$BS_SHEEPDOG_RUN_DIR/tgtd-$TGT_PID.sock
check "no-socket-before-lu" not test -e "$SOCK"
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
check "socket-with-first-lu" test -S "$SOCK"

# usage errors exit 2 with one line
usage_error() {
	local rc
	"$SDCTL" "$@" >/dev/null 2>"$T_TMP/usage.err"
	rc=$?
	want "$rc" -eq 2 "exit $rc: $(cat "$T_TMP/usage.err")" &&
		want "$(wc -l <"$T_TMP/usage.err")" -eq 1
}
check "usage-both-formats" usage_error gateway status --json --prometheus
check "usage-unknown-verb" usage_error gateway stats
check "usage-bad-option" usage_error gateway status --jsn
check "usage-extra-argument" usage_error gateway status lu1
check "help" "$SDCTL" gateway status --help

JSON=$T_TMP/status.json
status_json() { "$SDCTL" gateway status --json >"$JSON"; }
# lu_field LUN KEY: KEY of LUN of our tgtd in $JSON (null when absent)
lu_field() {
	jq -r --argjson pid "$TGT_PID" --argjson lun "$1" \
		'.gateways[] | select(.pid == $pid) | .entries[] |
		 select(.lun == $lun) | .'"$2" "$JSON"
}
# counted KEY DELTA: KEY grew by exactly DELTA since $BASE_JSON
counted() {
	local before after
	before=$(JSON=$BASE_JSON lu_field 1 "$1")
	after=$(lu_field 1 "$1")
	want "$((after - before))" -eq "$2" "$1: $before -> $after (want +$2)"
}

check "status-json-parses" status_json
check "json-tool" python3 -m json.tool "$JSON"
BASE_JSON=$T_TMP/base.json
cp "$JSON" "$BASE_JSON"

writes=() reads=()
for ((i = 0; i < 10; i++)); do writes+=("write -P 0x5a $((i * 65536)) 4k"); done
for ((i = 0; i < 6; i++)); do reads+=("read -P 0x5a $((i * 65536)) 4k"); done
check "ten-writes" qio "$URL" "${writes[@]}"
check "status-after-writes" status_json
check "writes-counted" counted writes 10
check "write-bytes-counted" counted write_bytes $((10 * 4096))
check "no-reads-for-writes" counted reads 0
cp "$JSON" "$BASE_JSON"
check "six-reads" qio "$URL" "${reads[@]}"
check "status-after-reads" status_json
check "reads-counted" counted reads 6
check "read-bytes-counted" counted read_bytes $((6 * 4096))
check "no-writes-for-reads" counted writes 0
check "no-errors" want "$(lu_field 1 errors)" -eq 0
check "nothing-in-flight" want "$(lu_field 1 in_flight)" -eq 0
check "in-flight-high-water" want "$(lu_field 1 in_flight_max)" -ge 1
check "sheep-successes-counted" want "$(lu_field 1 result_0x00)" -ge 16
check "vdi-named" want "$(lu_field 1 vdi)" = "$VDI"
check "address-in-use" want "$(lu_field 1 addr)" = "$SHEEP"
check "no-failover" want "$(lu_field 1 failovers)" -eq 0
check "latency-percentiles" want "$(lu_field 1 lat_p50_us)" -le \
	"$(lu_field 1 lat_p999_us)"

# --prometheus: promtool when Debian's prometheus package is there
PROM=$T_TMP/status.prom
prom_ok() {
	"$SDCTL" gateway status --prometheus >"$PROM" || return 1
	grep -q "^sheepdog_gateway_writes_total{process=\"tgtd\",pid=\"$TGT_PID\",target=\"$IQN\",tid=\"1\",lun=\"1\"" "$PROM" ||
		{ echo "no writes sample for LUN 1"; return 1; }
	if command -v promtool >/dev/null; then
		promtool check metrics <"$PROM"
	else
		# HELP/TYPE comments and NAME{LABELS} VALUE samples only
		! grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+\{([a-z_]+="([^"\\]|\\.)*",?)+\} [0-9]+(\.[0-9]+)?)$' "$PROM"
	fi
}
check "prometheus-format" prom_ok

# --watch prints a snapshot every second until stopped
watch_prints() {
	timeout 2.5 "$SDCTL" gateway status --watch >"$T_TMP/watch.out"
	want "$(grep -c "tgtd pid $TGT_PID " "$T_TMP/watch.out")" -ge 2
}
check "watch-refreshes" watch_prints
"$SDCTL" gateway status >"$T_TMP/human.out"
check "human-lists-lu" has_lines "$T_TMP/human.out" \
	"^tgtd pid $TGT_PID " \
	"^  lu target=$IQN tid=1 lun=1 vdi=$VDI addr=$SHEEP  last failover: never"

# ---- 50 LUs, 4 of them under load: status answers and lists them all
for ((lun = 2; lun <= 50; lun++)); do
	tgt_lu 1 "$lun" "$SHEEP:$VDI" || fail "lu-$lun" "$(cat "$TGT_OUT")"
done
LOADS=()
for lun in 1 2 3 4; do
	"$IV" "$(tgt_url "$IQN" "$lun")" --write-load 6 --qd 8 \
		--seed "$lun" --blocks 4096 --log "$T_TMP/load$lun.log" \
		>"$T_TMP/load$lun.out" 2>&1 &
	LOADS+=($!)
done
kill_quiet() { kill "$@" 2>/dev/null; }
on_exit kill_quiet "${LOADS[@]}"
sleep 1
fifty_listed() {
	local t0=$(date +%s%N)

	timeout 5 "$SDCTL" gateway status --json >"$JSON" || return 1
	echo "# the status of 50 LUs, 4 under load, took $((($(date +%s%N) - t0) / 1000000)) ms"
	want "$(jq --argjson pid "$TGT_PID" \
		'[.gateways[] | select(.pid == $pid) | .entries[]] | length' \
		"$JSON")" -eq 50
}
check "fifty-lus-under-load" fifty_listed
check "loaded-lu-counts" want "$(lu_field 2 writes)" -gt 0
wait "${LOADS[@]}"

# ---- deleting an LU logs its counters in one line
lu1_logged() {
	grep -E "bs_sheepdog: closed lu lun=1 tid=1 target=$IQN backing=[^ ]+ vdi=$VDI reads=[0-9]+ writes=[0-9]+ .* addr=$SHEEP reconnects=0 failovers=0 " "$TGT_LOG" ||
		{ echo "no closed line for LU 1 in the format of the snapshot"; return 1; }
	want "$(grep -c 'bs_sheepdog: closed lu lun=1 ' "$TGT_LOG")" -eq 1
}
check "lu1-delete" tgtadm_c --lld iscsi --mode logicalunit --op delete \
	--tid 1 --lun 1
check "lu1-closed-line" lu1_logged
for ((lun = 2; lun <= 50; lun++)); do
	tgtadm_c --lld iscsi --mode logicalunit --op delete --tid 1 \
		--lun "$lun" >/dev/null || fail "lu-$lun-delete"
done
check "socket-gone-with-last-lu" not test -e "$SOCK"
check "one-closed-line-per-lu" want \
	"$(grep -c 'bs_sheepdog: closed lu lun=' "$TGT_LOG")" -eq 50
check "tgtd-alive" tgtd_alive
