# test/lib.sh - helpers for the shell tests (source it).
#
#   pass NAME / fail NAME WHY / skip NAME WHY   print one counted check
#   check NAME CMD...                           PASS if CMD succeeds, else
#                                               FAIL with its last 3 output
#                                               lines; its output (stdout,
#                                               stderr) is in $CHECK_OUT and
#                                               the first 20 lines in the log
#   not CMD... / want A OP B [WHY] /            commands for check: CMD
#   fails_saying PATTERN CMD... /               fails; test A OP B, else
#   has_lines FILE PATTERN...                   print WHY; CMD fails with
#                                               output matching PATTERN;
#                                               FILE matches each PATTERN
#   start_minisheep [ARGS]                      own minisheep on a temp dir;
#                                               sets SHEEP (an address),
#                                               SHEEP_DIR, SHEEP_PID, SHEEP_CTL
#   kill_minisheep / restart_minisheep          kill -9 it; start it again on
#                                               the same dir, sockets, ARGS
#   sheep_addr                                  $SHEEP_ADDR or own minisheep
#   node_arg N / sheep_node N                   minisheep args for its node N
#                                               (N >= 2), and its address
#   free_port                                   a free loopback TCP port
#   on_exit CMD [ARG...]                        run CMD ARG... at exit (LIFO)
#   stop_var_pid VAR                            stop the pid held in $VAR, if any
#   nbdkit_start SOCK ARGS...                   nbdkit on a unix socket;
#                                               sets NBD_PID
#   nbdkit_stop                                 stop it (if started)
#
# Preload hook (make check-asan): when T_PRELOAD is non-empty, tgtd and
# nbdkit (not the shell or mount around them) run with LD_PRELOAD=$T_PRELOAD
# and, if T_PRELOAD_ASAN_OPTIONS is set, with that as their ASAN_OPTIONS, so
# that the sanitized module and plugin work inside these stock binaries.
# "${T_PRELOAD_ENV[@]}" goes before the command; without T_PRELOAD it is
# empty and the command runs as is.
#
# With SHEEP_ADDR set, tests talk to that external sheep instead of starting
# minisheep; tests that need minisheep's fault controls skip themselves.
# SHEEP_LOCK_DIR (the VDI lock records, see sd_hostlock.h) is $T_TMP/locks,
# BS_SHEEPDOG_RUN_DIR (the gateways' status sockets) $T_TMP/run.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SDCTL=$TOP/build/bin/sdctl
MINISHEEP=$TOP/build/bin/minisheep
T_FAILED=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: ${2:-failed}"; T_FAILED=1; }
skip() { echo "SKIP: $1: ${2:-skipped}"; }
check() {
	local name=$1 why
	shift
	"$@" >"$CHECK_OUT" 2>&1
	local rc=$?
	head -n 20 "$CHECK_OUT"
	if ((rc == 0)); then
		pass "$name"
		return 0
	fi
	why=$(tail -n 3 "$CHECK_OUT" | sed -z 's/\n$//; s/\n/; /g')
	fail "$name" "${why:-command failed: $*}"
	return 1
}
# CMD... must fail (for check NAME not CMD...)
not() {
	"$@" && { echo "succeeded: $*"; return 1; }
	return 0
}
# fails_saying PATTERN CMD...: CMD fails and its output matches PATTERN
# (grep -E), else prints why (for check)
fails_saying() {
	local pat=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "succeeded: $*"
		return 1
	fi
	grep -qE -- "$pat" <<<"$out" && return 0
	echo "unexpected: $(head -n 2 <<<"$out")"
	return 1
}
# has_lines FILE PATTERN...: FILE has a line matching each PATTERN (grep
# -E), else prints the first one missing (for check)
has_lines() {
	local file=$1 t
	shift
	for t in "$@"; do
		grep -qE -- "$t" "$file" && continue
		echo "no '$t' in $file"
		return 1
	done
}
# want A OP B [WHY]: test A OP B (test(1)'s -eq, -le, ==...), else prints
# WHY (for check)
want() {
	[ "$1" "$2" "$3" ] && return 0
	echo "${4:-want $1 $2 $3}"
	return 1
}

# The exit actions, last registered first, each stored as its argv: the
# word count, then the words.  No action is a string to evaluate.
T_EXIT_ARGV=()
on_exit() { T_EXIT_ARGV=("$#" "$@" "${T_EXIT_ARGV[@]}"); }
t_run_exit() {
	local i=0 n
	while ((i < ${#T_EXIT_ARGV[@]})); do
		n=${T_EXIT_ARGV[i]}
		"${T_EXIT_ARGV[@]:i+1:n}" || true
		i=$((i + n + 1))
	done
}
trap 't_run_exit' EXIT
trap 'exit 130' INT TERM

T_TMP=$(mktemp -d /tmp/sdtest.XXXXXX)
on_exit rm -rf "$T_TMP"
CHECK_OUT=$T_TMP/check.out
on_exit t_delete_vdis

# The host lock records and the status sockets of every gateway and tool
# this test starts (tgtd, nbdkit, sdctl, the test programs): private to the
# test, not /run.
export SHEEP_LOCK_DIR=$T_TMP/locks
export BS_SHEEPDOG_RUN_DIR=$T_TMP/run

free_port() { "$TOP/build/test/tools/freeport"; }

T_PRELOAD_ENV=()
if [[ -n ${T_PRELOAD:-} ]]; then
	T_PRELOAD_ENV=(env "LD_PRELOAD=$T_PRELOAD")
	[[ -n ${T_PRELOAD_ASAN_OPTIONS:-} ]] &&
		T_PRELOAD_ENV+=("ASAN_OPTIONS=$T_PRELOAD_ASAN_OPTIONS")
fi

# stop a pid we started: TERM, then KILL after 5 s
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
# stop the pid that variable VAR holds when this runs (nothing if empty)
stop_var_pid() {
	[[ -n ${!1:-} ]] && stop_pid "${!1}"
	return 0
}

# wait until a unix socket path exists
wait_for_socket() {
	local path=$1 i
	for ((i = 0; i < 100; i++)); do
		[[ -S $path ]] && return 0
		sleep 0.05
	done
	return 1
}

# nbdkit_start SOCK ARGS...: nbdkit -f -U SOCK ARGS in the background, with
# the preload hook, its stderr appended to $T_TMP/nbdkit.log; NBD_PID is
# its pid.  Fails (with the log's tail, nbdkit stopped) if nbdkit exits or
# the socket does not appear within 10 s.
NBD_PID=
nbdkit_start() {
	local sock=$1 i
	shift
	rm -f "$sock"
	"${T_PRELOAD_ENV[@]}" nbdkit -f -U "$sock" --exit-with-parent "$@" \
		2>>"$T_TMP/nbdkit.log" &
	NBD_PID=$!
	for ((i = 0; i < 200; i++)); do
		[[ -S $sock ]] && return 0
		kill -0 "$NBD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "nbdkit $* did not start:" >&2
	tail -n 5 "$T_TMP/nbdkit.log" >&2
	nbdkit_stop
	return 1
}
nbdkit_stop() {
	[[ -n $NBD_PID ]] && stop_pid "$NBD_PID"
	NBD_PID=
}

start_minisheep() {
	SHEEP_DIR=${SHEEP_DIR:-$T_TMP/sheep}
	mkdir -p "$SHEEP_DIR"
	SHEEP_SOCK=$SHEEP_DIR/sock
	SHEEP_CTL=$SHEEP_DIR/ctl
	SHEEP_ARGS=("$@")
	restart_minisheep
}
# start minisheep again on $SHEEP_DIR, its sockets and SHEEP_ARGS (after
# kill_minisheep: the same store comes back)
restart_minisheep() {
	# a killed minisheep leaves its sockets behind: wait for the new ones
	rm -f "$SHEEP_SOCK" "$SHEEP_CTL"
	"$MINISHEEP" --dir "$SHEEP_DIR" --listen "unix:$SHEEP_SOCK" \
		--control "$SHEEP_CTL" "${SHEEP_ARGS[@]}" \
		>>"$T_TMP/minisheep.log" 2>&1 &
	SHEEP_PID=$!
	on_exit stop_pid "$SHEEP_PID"
	if ! wait_for_socket "$SHEEP_SOCK" || ! wait_for_socket "$SHEEP_CTL"
	then
		echo "minisheep did not start:" >&2
		tail -n 20 "$T_TMP/minisheep.log" >&2
		return 1
	fi
	SHEEP=unix:$SHEEP_SOCK
}
# kill -9 the minisheep and reap it; its sockets stay behind (new connects
# get ECONNREFUSED) until restart_minisheep
kill_minisheep() {
	kill -9 "$SHEEP_PID" 2>/dev/null
	wait "$SHEEP_PID" 2>/dev/null
	return 0
}

# The address the test should use: $SHEEP_ADDR, or an own minisheep.
sheep_addr() {
	if [[ -n ${SHEEP_ADDR:-} ]]; then
		SHEEP=$SHEEP_ADDR
	else
		start_minisheep "$@" || return 1
	fi
}

# a second (third...) sheep node of the same minisheep: pass
# "$(node_arg 2)" to start_minisheep / sheep_addr / fault_setup, talk to it
# at "$(sheep_node 2)"
node_arg() { echo "--listen=$1=unix:${SHEEP_DIR:-$T_TMP/sheep}/sock$1"; }
sheep_node() { echo "unix:${SHEEP_DIR:-$T_TMP/sheep}/sock$1"; }

# true when the test runs against our own minisheep (fault controls exist)
own_sheep() { [[ -z ${SHEEP_ADDR:-} ]]; }

# unique VDI name per test run (safe on a shared external cluster)
vdi_name() { echo "t$$-$1"; }

# At exit, on an external sheep ($SHEEP_ADDR), delete every VDI and
# snapshot named by vdi_name in this run, pass or fail: the suite leaves
# nothing behind on a user's cluster.  Snapshots go first, then the
# working VDIs; a few rounds, since a clone's parent may refuse to go
# before it.  Our own minisheep goes away with $T_TMP.
t_delete_vdis() {
	local round name id rest
	own_sheep && return 0
	[[ -n ${SHEEP:-} && -x $SDCTL ]] || return 0
	for round in 1 2 3; do
		local left=0
		while read -r name id rest; do
			name=${name#\"}
			name=${name%\"}	# vdi list -r quotes the names
			[[ $name == "t$$-"* ]] || continue
			left=1
			if [[ $id != 0 ]]; then
				"$SDCTL" -a "$SHEEP" -t 10 vdi delete -s "$id" "$name"
			else
				"$SDCTL" -a "$SHEEP" -t 10 vdi delete "$name"
			fi >/dev/null 2>&1
		done < <("$SDCTL" -a "$SHEEP" -t 10 vdi list -r 2>/dev/null |
			 sort -k2,2nr)
		((left)) || return 0
	done
	return 0
}
