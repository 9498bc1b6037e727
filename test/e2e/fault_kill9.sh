#!/bin/bash
# fault_kill9.sh - the sheep process dies (kill -9) under a verified write
# load with 16 writes in flight, stays away 0.3 s, and is restarted on the
# same --dir and socket path; FAULT_KILL9_CYCLES times (5; 50 in make
# check-long).  The initiator sees no error (the LU's timeout, 15 s, covers
# the outage), I/O resumes on its own within 3 s of the listener being
# back in every cycle (the measured time is printed), and every
# acknowledged write reads back over iSCSI and straight from the sheep.
source "$(dirname "$0")/fault_common.sh"

fault_setup kill9
CYCLES=${FAULT_KILL9_CYCLES:-5}
RESUME_LIMIT_MS=3000
VDI=$(vdi_name kill9)
BLOCKS=8192
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL=$(tgt_url "$IQN" 1)
LOG=$T_TMP/load.log

# one load across every cycle: 1.2 s of writes before each kill
run_load LOAD "$IV" "$URL" $((CYCLES * 2 + 2)) --qd 16 --seed 1 \
	--blocks $BLOCKS --log "$LOG"

# the wall-clock ms of the first write acknowledged after $1, log lines
# from $2 on; waits up to 10 s
first_ack_after() {
	local t=$1 from=$2 i got
	for ((i = 0; i < 200; i++)); do
		got=$(awk -v n="$from" -v t=$((t * 1000)) \
			'NR > n && $1 == "W" && $6 > t { printf "%.0f\n", $6 / 1000; exit }' "$LOG")
		[[ -n $got ]] && { echo "$got"; return 0; }
		sleep 0.05
	done
	return 1
}

worst=0 stuck=0 restart_failed=0 measured=0
for ((c = 1; c <= CYCLES; c++)); do
	sleep 1.2
	kill -0 "$LOAD" 2>/dev/null || break
	kill_minisheep
	sleep 0.3
	from=$(wc -l <"$LOG")
	if ! restart_minisheep; then
		restart_failed=1
		break
	fi
	t_back=$(now_ms)
	if t_ack=$(first_ack_after "$t_back" "$from"); then
		ms=$((t_ack - t_back))
		echo "cycle $c: I/O resumed ${ms} ms after the sheep was back"
		((ms > worst)) && worst=$ms
		measured=$((measured + 1))
	else
		echo "cycle $c: no write acknowledged within 10 s of the restart"
		stuck=$((stuck + 1))
	fi
done
if ((restart_failed)); then
	fail "restart" "minisheep did not restart on its directory in cycle $c"
elif ((c <= CYCLES)); then
	fail "restart-$CYCLES-cycles" "the load ended after $((c - 1)) cycles"
else
	pass "restart-$CYCLES-cycles"
fi
check "resume-within-${RESUME_LIMIT_MS}ms" \
	want "$measured:$((worst <= RESUME_LIMIT_MS))" == "$CYCLES:1" \
	"$measured of $CYCLES cycles resumed ($stuck never did), slowest ${worst} ms"
echo "slowest resume: ${worst} ms"

bg_check "no-initiator-errors" LOAD
nf=$(failed_writes "$LOG")
((nf == 0)) || fail "no-failed-writes" "$nf: $(grep -m1 '^F ' "$LOG")"
verify_logs "$URL" "acked-writes-present-iscsi" "$LOG"
verify_image "acked-writes-present-sheep" "$VDI" $((BLOCKS * 4096)) "$LOG"
check "tgtd-alive" tgtd_alive
