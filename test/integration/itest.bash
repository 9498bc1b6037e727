# SPDX-License-Identifier: GPL-2.0-or-later
# itest.bash - sourced by the integration drivers after test/lib.sh:
#   it_run NAME CMD...          run a test program under a time limit
#                               (IT_TIMEOUT, default 120 s) so a hang
#                               becomes one FAIL line instead of a stuck
#                               suite; returns the program's status
#   it_words NAME               the words of test/integration/NAME.c's
#                               "/* itest: WORD... */" line (run_binary.sh)
#   it_bin LABEL NAME           BIN=build/test/integration/NAME, or one
#                               FAIL "LABEL: binary" and exit when not built
#   it_own_minisheep LABEL WHY ARGS...
#                               with SHEEP_ADDR one SKIP "LABEL" WHY and
#                               exit 0; else start_minisheep ARGS on
#                               $T_TMP/sheep (node N at $T_TMP/sheep/sockN,
#                               see node_arg), N1 its address, or FAIL and
#                               exit
#   proc_start NAME ADDR VDI    "$BIN ADDR VDI" in the background, driven
#                               line by line through two FIFOs:
#   send NAME WORDS... / recv NAME / ask NAME WORDS...
#                               send a line to it, read its answer into ANS
#   expect NAME WHAT PATTERN WORDS...
#                               ask, and one check "$LABEL: WHAT" that the
#                               answer matches PATTERN
it_run() {
	local name=$1 rc
	shift
	timeout -k 5 "${IT_TIMEOUT:-120}" "$@"
	rc=$?
	if ((rc == 124 || rc == 137)); then
		fail "$name: finished in time" "killed after ${IT_TIMEOUT:-120} s (hang?): $*"
	elif ((rc != 0)); then
		T_FAILED=1
	fi
	return $rc
}

it_words() {
	sed -n 's|^/\* itest: \(.*\) \*/$|\1|p' "$TOP/test/integration/$1.c"
}

it_bin() {
	BIN=$TOP/build/test/integration/$2
	[[ -x $BIN ]] && return 0
	fail "$1: binary" "$BIN not built"
	exit 1
}

it_own_minisheep() {
	local label=$1 why=$2
	shift 2
	if ! own_sheep; then
		skip "$label" "$why"
		exit 0
	fi
	SHEEP_DIR=$T_TMP/sheep
	start_minisheep "$@" || { fail "$label: minisheep" "cannot start"; exit 1; }
	N1=$SHEEP
}

# the FIFOs, pids and answer of the processes proc_start started
declare -A P_IN P_OUT P_PID
ANS=
proc_start() {
	local name=$1 w r
	mkfifo "$T_TMP/$name.in" "$T_TMP/$name.out"
	"$BIN" "$2" "$3" <"$T_TMP/$name.in" >"$T_TMP/$name.out" \
		2>>"$T_TMP/$name.err" &
	P_PID[$name]=$!
	on_exit stop_pid "${P_PID[$name]}"
	exec {w}>"$T_TMP/$name.in"
	exec {r}<"$T_TMP/$name.out"
	P_IN[$name]=$w
	P_OUT[$name]=$r
}
send() { echo "${*:2}" >&"${P_IN[$1]}" 2>/dev/null; }
recv() { IFS= read -r -t 60 -u "${P_OUT[$1]}" ANS || ANS="(no answer)"; }
ask() { send "$@"; recv "$1"; }
expect() {
	local name=$1 what=$2 pat=$3
	shift 3
	ask "$name" "$@"
	if [[ $ANS == $pat ]]; then
		pass "$LABEL: $what"
	else
		fail "$LABEL: $what" "$name: '$*' answered '$ANS', wanted '$pat'"
	fi
}
