#!/bin/bash
# fault_cluster_timeout.sh - issue 15 (f): when no node can serve for
# longer than the LU's timeout (bsopts timeout=3, fallbacks to every
# node), every command fails within timeout + 1 s with the retryable
# sense, ABORTED COMMAND / 08/00 LOGICAL UNIT COMMUNICATION FAILURE, and
# `tgtadm --op show` keeps answering within 1 s.  Three nodes, three
# copies, strict, under an 8-deep write load (errors expected):
#  1. the cluster halts for 5 s (node 3 killed: HALT to every write);
#  2. no node answers for 5.5 s: nodes 2 and 3 stall and node 1 (the
#     gateway's) is killed.
# During each, four writes (then four reads) are sent and timed.  After
# each the load goes on by itself; every acknowledged write is present.
source "$(dirname "$0")/fault_common.sh"

CL_TIMEOUT=3
LIMIT_MS=$(((CL_TIMEOUT + 1) * 1000))
cl_setup cluster_timeout --strict
cl_lu "$CL_N1" "$CL_N2" "$CL_N3"
check "write-before" iv "$URL" --one write 8000 --seed 9
CL_LOG=$T_TMP/load1.log
CL_LOGS+=("$CL_LOG")
run_load CL_LOAD "$IV" "$URL" 19 --qd 8 --seed 1 --blocks 4096 --log "$CL_LOG" \
	--expect-errors any
cl_start_clock

# one_batch NAME OP: 4 commands sent now, each must be CHECK 0b/08/00
# within the limit (in the background; one_check checks)
one_batch() {
	iv "$URL" --one "$2" 8000 --qd 4 >"$T_TMP/$1.out" 2>&1 &
	printf -v "ONE_${1//-/_}" '%s' $!
}
one_check() {
	local pid=ONE_${1//-/_}
	wait "${!pid}"
	check "$1-aborted-in-time" aborted_in_time "$T_TMP/$1.out"
}

cl_at 1500 node 3 kill
sleep 0.3
one_batch halt-writes write
watch_tgtadm "$CL_T0" 6500
cl_at 6500 node 3 start
one_check halt-writes

cl_at 8500 stall on
cl_at 8500 node 1 kill
sleep 0.3
one_batch outage-reads read
watch_tgtadm "$CL_T0" 14000
cl_at 14000 stall off
cl_at 14000 node 1 start
one_check outage-reads
echo "tgtadm --op show: slowest answer ${MAX_SHOW} ms during the outages"
check_tgtadm_responsive

cl_wait_load
# every write that failed: the retryable sense, in time
echo "writes failed during the outages: $(failed_writes "$CL_LOG")"
check "load-writes-aborted" writes_aborted "$CL_LOG"
check "bounded-latency" latency_bounded "$CL_LOG"
for t in 6500 14000; do
	check "writes-after-${t}ms" acked_after "$CL_LOG" $((CL_T0 + t))
done
check "write-after" iv "$URL" --one write 8000 --seed 9
check "read-after" iv "$URL" --one read 8000
verify_logs "$URL" "acked-writes-present" "${CL_LOGS[@]}"
check "tgtd-alive" tgtd_alive
