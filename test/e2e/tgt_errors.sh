#!/bin/bash
# tgt_errors.sh - what tgtadm and the tgtd log show for bad input: malformed
# backing-store strings and bad --bsopts are refused with exactly one
# "bs_sheepdog:" log line each and tgtd keeps running; a missing VDI, a
# missing tag and an unreachable sheep (unix and tcp) fail tgtadm well
# before the 15 s request timeout, again with one line each.  So does a
# new LU on a sheep that went away after other LUs connected to it (their
# connection pool is long up; the new LU must not wait for a reconnect).
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_setup errors
VDI=$(vdi_name err)
make_vdi "$VDI" $((8 * 1024 * 1024))

# try_bad NAME WANT-TEXT PATH [BSOPTS]: refused, one log line, tgtd alive
lun=1
try_bad() {
	local name=$1 want=$2 path=$3 bsopts=${4:-} before after
	before=$(tgt_module_lines)
	if timeout 10 "$TGTADM" -C "$TGT_CTL" --lld iscsi --mode logicalunit \
		--op new --tid 1 --lun "$lun" --bstype sheepdog \
		--backing-store "$path" ${bsopts:+--bsopts "$bsopts"} \
		>"$TGT_OUT" 2>&1; then
		fail "$name" "tgtadm accepted '$path' '$bsopts'"
		lun=$((lun + 1))
		return
	fi
	after=$(tgt_module_lines)
	if ! tgtd_alive; then
		fail "$name" "tgtd died"
		exit 1
	elif ! grep -q "$want" "$TGT_OUT"; then
		fail "$name" "tgtadm said '$(cat "$TGT_OUT")', want '$want'"
	elif ((after != before + 1)); then
		fail "$name" "$((after - before)) bs_sheepdog log lines, want 1"
	else
		pass "$name"
	fi
}

try_bad "bad-scheme" "invalid request" "bogus:/x:$VDI"
try_bad "no-vdi-name" "invalid request" "$SHEEP"
try_bad "empty-vdi-name" "invalid request" "$SHEEP:"
try_bad "bad-port" "invalid request" "tcp:127.0.0.1:99999:$VDI"
try_bad "no-port" "invalid request" "tcp:127.0.0.1:$VDI"
try_bad "snapid-zero" "invalid request" "$SHEEP:$VDI:0"
try_bad "long-unix-path" "invalid request" "unix:/$(printf 'p%.0s' {1..120}):$VDI"
try_bad "missing-vdi" "invalid request" "$SHEEP:nosuchvdi$$"
try_bad "missing-tag" "invalid request" "$SHEEP:$VDI:nosuchtag"
try_bad "unreachable-unix" "invalid request" "unix:$T_TMP/nosock:$VDI"
try_bad "unreachable-tcp" "invalid request" "tcp:127.0.0.1:$(free_port):$VDI"
try_bad "bsopts-unknown-key" "unknown parameter" "$SHEEP:$VDI" "foo=1"
try_bad "bsopts-bad-timeout" "invalid request" "$SHEEP:$VDI" "timeout=0"
try_bad "bsopts-bad-connections" "invalid request" "$SHEEP:$VDI" "connections=x"
try_bad "bsopts-bad-lock" "invalid request" "$SHEEP:$VDI" "lock=maybe"
try_bad "bsopts-bad-loop" "invalid request" "$SHEEP:$VDI" "loop=fast"
try_bad "bsopts-bad-fallback" "invalid request" "$SHEEP:$VDI" "fallback=tcp:h"
try_bad "bsopts-not-kv" "invalid request" "$SHEEP:$VDI" "timeout"

check "bsopts-message" has_lines "$TGT_LOG" \
	"bs_sheepdog: bad bsopts 'foo=1': unknown key 'foo'"
check "open-message" has_lines "$TGT_LOG" \
	"bs_sheepdog: cannot open '$SHEEP:nosuchvdi$$': "

# after all that, a good LU still works
check "good-lu-after-errors" tgt_lu 1 1 "$SHEEP:$VDI"
check "good-lu-io" qio "$(tgt_url "$IQN" 1)" "write -P 0x3c 0 4k" \
	"read -P 0x3c 0 4k"
check "tgtd-alive" tgtd_alive

# the sheep of an established connection pool goes away: a new LU on it
# fails fast, and works once the sheep is back
if own_sheep; then
	VDI2=$(vdi_name err2)
	make_vdi "$VDI2" $((8 * 1024 * 1024))
	kill_minisheep
	lun=2
	t0=$SECONDS
	try_bad "pool-sheep-gone" "invalid request" "$SHEEP:$VDI2"
	check "pool-sheep-gone-fast" want $((SECONDS - t0)) -le 3 \
		"tgtadm took $((SECONDS - t0)) s"
	check "pool-sheep-gone-message" has_lines "$TGT_LOG" \
		"bs_sheepdog: cannot open '$SHEEP:$VDI2': cannot open VDI '$VDI2': connect to $SHEEP: Connection refused"
	restart_minisheep
	lu_back() {
		local i
		for ((i = 0; i < 30; i++)); do
			tgt_lu 1 2 "$SHEEP:$VDI2" && return 0
			sleep 0.2
		done
		return 1
	}
	check "pool-sheep-back-new-lu" lu_back
	check "pool-sheep-back-io" qio "$(tgt_url "$IQN" 2)" \
		"write -P 0x4d 0 4k" "read -P 0x4d 0 4k"
	check "pool-sheep-back-old-lu" qio "$(tgt_url "$IQN" 1)" \
		"read -P 0x3c 0 4k"
	check "tgtd-alive-after-sheep-back" tgtd_alive
fi
