#!/bin/bash
# fault_common.sh - helpers for the fault tests (test/e2e/fault_*.sh source
# it; run-tests.sh does not run it on its own).
#
#   fault_setup NAME [MINISHEEP ARGS]  tgtd + own minisheep + target 1;
#                         SKIP unless root, tgt, libiscsi, own minisheep
#   sheep_start [ARGS]    minisheep on $SHEEP_DIR (socket $SHEEP_SOCK, control
#                         $SHEEP_CTL); again after sheep_kill9 = a restart
#   sheep_kill9           kill -9 the minisheep and reap it
#   ms_ctl CMD...         one minisheep control command (fails on error)
#   iv ARGS...            test/tools/iscsi_verify
#   bg_started VAR        stop the background job whose pid is in $VAR at
#                         exit, unless bg_wait VAR reaped it before
#   bg_wait VAR           wait for that job; its exit status
#   now_ms                wall clock in ms (the tool logs wall-clock us)
#   tgtadm_show_ms        ms that `tgtadm --op show` took (9999: no answer)
#   sd_image VDI OFF LEN FILE   VDI bytes read through sdctl into FILE
#   verify_logs SRC NAME LOG...  one check: SRC (iscsi:// URL or image file)
#                         holds what the write logs allow
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

IV=$TOP/test/tools/iscsi_verify
SHEEP_PID=

iv() { "$IV" "$@"; }

# shellcheck disable=SC2016
bg_started() { on_exit "[[ -n \${$1:-} ]] && stop_pid \$$1"; }
bg_wait() {
	local pid=${!1} rc
	wait "$pid"
	rc=$?
	printf -v "$1" ''
	return $rc
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

ms_ctl() { "$MINISHEEP" --ctl "$SHEEP_CTL" "$@" >/dev/null; }

# minisheep that can be killed and restarted on the same dir and socket
sheep_start() {
	SHEEP_DIR=${SHEEP_DIR:-$T_TMP/sheep}
	SHEEP_SOCK=${SHEEP_SOCK:-$SHEEP_DIR/sock}
	SHEEP_CTL=$SHEEP_DIR/ctl
	mkdir -p "$SHEEP_DIR"
	[[ -n ${SHEEP_ARGS+x} ]] || SHEEP_ARGS=("$@")
	"$MINISHEEP" --dir "$SHEEP_DIR" --listen "unix:$SHEEP_SOCK" \
		--control "$SHEEP_CTL" "${SHEEP_ARGS[@]}" \
		>>"$T_TMP/minisheep.log" 2>&1 &
	SHEEP_PID=$!
	if ! wait_for_socket "$SHEEP_SOCK" || ! wait_for_socket "$SHEEP_CTL"
	then
		echo "minisheep did not start:" >&2
		tail -n 20 "$T_TMP/minisheep.log" >&2
		return 1
	fi
	SHEEP=unix:$SHEEP_SOCK
}
# stops whichever minisheep runs at exit (single quotes: the pid is read
# then, after any restarts)
# shellcheck disable=SC2016
on_exit '[[ -n $SHEEP_PID ]] && stop_pid $SHEEP_PID'

sheep_kill9() {
	kill -9 "$SHEEP_PID" 2>/dev/null
	wait "$SHEEP_PID" 2>/dev/null
	SHEEP_PID=
	# the sockets stay behind: new connects get ECONNREFUSED
	return 0
}

tgtadm_show_ms() {
	local t0=$(date +%s%N)
	if ! timeout 10 "$TGTADM" -C "$TGT_CTL" --lld iscsi --mode target \
		--op show >/dev/null 2>&1; then
		echo 9999
		return
	fi
	echo $((($(date +%s%N) - t0) / 1000000))
}

sd_image() {
	"$SDCTL" -a "$SHEEP" vdi read "$1" "$2" "$3" >"$4" 2>"$4.err"
}

# requirements, minisheep, tgtd and target 1 (IQN).  Extra args go to
# minisheep.
fault_setup() {
	local name=$1 rc
	shift
	tgt_require "$name"
	if ! own_sheep; then
		skip "$name" "needs minisheep's fault controls (SHEEP_ADDR is set)"
		exit 0
	fi
	"$IV" >/dev/null 2>&1
	rc=$?
	if [[ ! -x $IV ]] || ((rc == 77)); then
		skip "$name" "test/tools/iscsi_verify needs libiscsi (apt-get install libiscsi-dev)"
		exit 0
	fi
	TGT_SHEEP_START=sheep_start tgt_setup "$name" "$@"
}

# verify_logs URL|IMAGE NAME LOG...: the checker's verdict as one check
verify_logs() {
	local src=$1 name=$2
	shift 2
	if iv "$src" --check "$@" >"$T_TMP/check.out" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tail -n 1 "$T_TMP/check.out"); e.g. $(grep -m2 '^BAD' "$T_TMP/check.out" | tr '\n' ';')"
	fi
}

# lines of LOG that record a failed write
failed_writes() { grep -c '^F ' "$1"; }
acked_writes() { grep -c '^W ' "$1"; }

# fault_two_gateways VDI: LUN 1 of target 1 on VDI with lock=shared on the
# gateway fault_setup started (URL1), then a second tgtd with the same
# (URL2).  GW1 keeps gateway 1's pid, port, control port and tids; it is
# stopped at exit.
stop_gw1() {
	TGT_PID=${GW1[0]} TGT_PORT=${GW1[1]} TGT_CTL=${GW1[2]}
	TGT_TIDS=("${GW1[@]:3}")
	tgt_stop
}
fault_two_gateways() {
	local vdi=$1
	check "gw1-lu-shared" tgt_lu 1 1 "$SHEEP:$vdi" sheepdog "lock=shared"
	URL1=$(tgt_url "$IQN" 1)
	GW1=("$TGT_PID" "$TGT_PORT" "$TGT_CTL" "${TGT_TIDS[@]}")
	on_exit stop_gw1
	TGT_PID=''
	TGT_TIDS=()
	if ! tgt_start; then
		fail "gw2-start" "cannot start the second tgtd"
		exit 1
	fi
	if ! tgt_target 1 "$IQN"; then
		fail "gw2-target" "cannot create the second gateway's target"
		exit 1
	fi
	check "gw2-lu-shared" tgt_lu 1 1 "$SHEEP:$vdi" sheepdog "lock=shared"
	URL2=$(tgt_url "$IQN" 1)
	[[ $URL1 != "$URL2" ]] || fail "two-gateways" "both gateways on one port"
}
