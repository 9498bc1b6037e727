#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tgt_resize.sh - online growth of an exported VDI through stock tgtd:
# `sdctl vdi resize` on the host while initiators are logged in.  Each
# step runs build/test/tools/iscsi_ua with several iSCSI sessions (one
# I_T nexus each) logged in before the resize: every session must get
# CAPACITY DATA HAS CHANGED (2A/09) exactly once, READ CAPACITY (16) must
# report the new size, and a block written at each end of the new space
# through one session must read back through another.  The new size must
# show within BOUND_MS: bs_sheepdog(8) documents 5 seconds (the library's
# 3 s poll, the module's 1 s look, tgtd's 500 ms timer); the check allows
# twice that for a loaded machine.  Steps:
#   1. one LU (loop=tgtd, lock=normal), two sessions; the data before the
#      old end intact; the new space written through qemu-io reads back
#      from the sheep; a shrink refused, the LU keeps its size;
#   2. two LUNs on that VDI (one shared handle), a session on each, and a
#      second LU (loop=thread) on another VDI grown at the same time;
#   3. two gateways in shared-lock mode (each LUN through its own sheep
#      node: its own client and handle, as in fault_shared.sh) on a
#      sheep with locking, grown by sdctl on the host.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

UA=$TOP/build/test/tools/iscsi_ua
BOUND_MS=10000

tgt_require tgt_resize
"$UA" >/dev/null 2>&1
if [[ ! -x $UA ]] || (($? == 77)); then
	skip tgt_resize "build/test/tools/iscsi_ua needs libiscsi (apt-get install libiscsi-dev)"
	exit 0
fi
tgt_io_setup resize --lock "$(node_arg 2)"

UA_PID=
UA_OUT=$T_TMP/ua.out
on_exit stop_var_pid UA_PID

# grown NEW VDI URL...: iscsi_ua logged in on every URL, then `sdctl vdi
# resize VDI NEW` (more VDIs: set MORE_VDIS); its verdict, and every
# session saw the new size within BOUND_MS
MORE_VDIS=()
grown() {
	local new=$1 vdi=$2 i rc ms v
	shift 2
	"$UA" --grow-to "$new" --timeout 30 "$@" >"$UA_OUT" 2>&1 &
	UA_PID=$!
	for ((i = 0; i < 1200; i++)); do	# up to 60 s to log in
		grep -q '^ready' "$UA_OUT" && break
		kill -0 "$UA_PID" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -q '^ready' "$UA_OUT"; then
		cat "$UA_OUT"
		return 1
	fi
	for v in "$vdi" "${MORE_VDIS[@]}"; do
		"$SDCTL" -a "$SHEEP" vdi resize "$v" "$new" || return 1
	done
	wait "$UA_PID"
	rc=$?
	UA_PID=
	cat "$UA_OUT"
	((rc == 0)) || return 1
	for ms in $(sed -n 's/.*new_size_after_ms=//p' "$UA_OUT"); do
		want "$ms" -le "$BOUND_MS" "new size after $ms ms (> $BOUND_MS)" ||
			return 1
	done
}

# the LUN at URL reports BYTES to a new session (READ CAPACITY 16)
lun_size_is() {
	local got
	got=$(iscsi-readcapacity16 -s "$1" 2>&1)
	[[ $got == "$2" ]] && return 0
	echo "READ CAPACITY 16 total size '$got', wanted $2"
	return 1
}

# ---- 1. one LU, two sessions -------------------------------------------
check "lu1-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL1=$(tgt_url "$IQN" 1)
check "lu1-data-at-the-old-end" qio_sd "$URL1" "$VDI" 0x21 \
	$((SIZE - 65536)) 65536
S1=$((96 * M))
check "lu1-two-sessions-grow-once-each" grown "$S1" "$VDI" "$URL1" "$URL1"
check "lu1-new-size-for-a-new-session" lun_size_is "$URL1" "$S1"
check "lu1-old-data-intact" qio "$URL1" "read -P 0x21 $((SIZE - 65536)) 65536"
check "lu1-new-space-reaches-the-sheep" qio_sd "$URL1" "$VDI" 0x22 \
	$((SIZE + OBJ - 4096)) $((OBJ + 8192))
check "lu1-past-the-new-end-refused" not qio "$URL1" "read 0 $((S1 + 4096))"
check "shrink-refused" fails_saying "shrinking is not supported" \
	"$SDCTL" -a "$SHEEP" vdi resize "$VDI" "$SIZE"
check "shrink-leaves-the-lu-size" lun_size_is "$URL1" "$S1"

# ---- 2. two LUNs on one VDI, and a loop=thread LU beside them ----------
check "lu2-same-vdi" tgt_lu 1 2 "$SHEEP:$VDI"
VDI3=$(vdi_name thread)
make_vdi "$VDI3" "$S1"
check "lu3-loop-thread" tgt_lu 1 3 "$SHEEP:$VDI3" sheepdog "loop=thread"
URL2=$(tgt_url "$IQN" 2)
URL3=$(tgt_url "$IQN" 3)
S2=$((128 * M))
MORE_VDIS=("$VDI3")
# (the data goes in through the first session, out through the last)
check "two-luns-one-vdi-and-loop-thread-grow" grown "$S2" "$VDI" \
	"$URL1" "$URL3" "$URL3" "$URL2"
MORE_VDIS=()
check "lu2-new-size" lun_size_is "$URL2" "$S2"
check "lu3-new-space-reaches-the-sheep" qio_sd "$URL3" "$VDI3" 0x23 \
	$((S2 - 65536)) 65536

# ---- 3. two gateways, shared lock, each through its own sheep node ------
VDIS=$(vdi_name shared)
make_vdi "$VDIS" "$SIZE"
check "gw1-shared" tgt_lu 1 4 "$SHEEP:$VDIS" sheepdog "lock=shared"
check "gw2-shared" tgt_lu 1 5 "$(sheep_node 2):$VDIS" sheepdog "lock=shared"
URL4=$(tgt_url "$IQN" 4)
URL5=$(tgt_url "$IQN" 5)
check "gw2-reads-before-the-resize" qio "$URL5" \
	"read -P 0 $((SIZE - 4096)) 4096"
check "shared-two-gateways-grow" grown "$S1" "$VDIS" "$URL4" "$URL5"
# the reverse direction: written through gateway 2, read through 1
written_across() {
	qio "$URL5" "write -P 0x24 $((SIZE + 2 * OBJ)) 65536" &&
		qio "$URL4" "read -P 0x24 $((SIZE + 2 * OBJ)) 65536" &&
		sd_holds "$VDIS" $((SIZE + 2 * OBJ)) 65536 0x24
}
check "shared-gw2-to-gw1-in-the-new-space" written_across
check "tgtd-alive" tgtd_alive
exit $T_FAILED
