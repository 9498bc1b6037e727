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
iv "$URL" --write-load 19 --qd 8 --seed 1 --blocks 4096 --log "$CL_LOG" \
	--expect-errors any >"$T_TMP/load1.out" 2>&1 &
CL_LOAD=$!
bg_started CL_LOAD
cl_start_clock

# one_batch NAME OP: 4 commands sent now, each must be CHECK 0b/08/00
# within the limit (in the background; cl_one_check checks)
one_batch() {
	iv "$URL" --one "$2" 8000 --qd 4 >"$T_TMP/$1.out" 2>&1 &
	printf -v "ONE_${1//-/_}" '%s' $!
}
one_check() {
	local name=$1 n=0 bad= line ms pid
	pid=ONE_${name//-/_}
	wait "${!pid}"
	while read -r line; do
		[[ $line == block=* ]] || continue
		n=$((n + 1))
		ms=${line##*ms=}
		if [[ $line != *"result=CHECK key=0x0b asc=0x08 ascq=0x00"* ]] ||
			((ms > LIMIT_MS)); then
			bad=$line
		fi
	done <"$T_TMP/$name.out"
	cat "$T_TMP/$name.out"
	if ((n == 4)) && [[ -z $bad ]]; then
		pass "$name-aborted-in-time"
	else
		fail "$name-aborted-in-time" "${bad:-$n of 4 answered: $(head -c 300 "$T_TMP/$name.out")}"
	fi
}
# tgtadm --op show every 0.25 s until MS after the clock started
max_show=0
watch_tgtadm() {
	local ms
	while (($(now_ms) - CL_T0 < $1)); do
		ms=$(tgtadm_show_ms)
		((ms > max_show)) && max_show=$ms
		sleep 0.25
	done
}

cl_at 1500 node 3 kill
sleep 0.3
one_batch halt-writes write
watch_tgtadm 6500
cl_at 6500 node 3 start
one_check halt-writes

cl_at 8500 stall on
cl_at 8500 node 1 kill
sleep 0.3
one_batch outage-reads read
watch_tgtadm 14000
cl_at 14000 stall off
cl_at 14000 node 1 start
one_check outage-reads
echo "tgtadm --op show: slowest answer ${max_show} ms during the outages"
if ((max_show <= 1000)); then
	pass "tgtadm-responsive"
else
	fail "tgtadm-responsive" "tgtadm --op show took ${max_show} ms (limit 1000)"
fi

cl_wait_load
# every write that failed: the retryable sense, in time
wrong=$(awk '$1 == "F" && !($7 == "CHECK" && $8 == 11 && $9 == 8 && $10 == 0)' "$CL_LOG" | head -n 1)
slow=$(awk -v lim=$LIMIT_MS '($6 - $5) / 1000 > lim { printf "%s %.0f ms\n", $1, ($6 - $5) / 1000; exit }' "$CL_LOG")
nf=$(failed_writes "$CL_LOG")
echo "writes failed during the outages: $nf"
if ((nf == 0)); then
	fail "load-writes-aborted" "no write failed: the outages had no effect"
elif [[ -n $wrong ]]; then
	fail "load-writes-aborted" "not ABORTED COMMAND 08/00: $wrong ($(awk '$1 == "F" { print $7, $8, $9, $10 }' "$CL_LOG" | sort | uniq -c | tr '\n' ';'))"
else
	pass "load-writes-aborted"
fi
[[ -z $slow ]] && pass "bounded-latency" ||
	fail "bounded-latency" "a write took $slow (limit $LIMIT_MS ms)"
for t in 6500 14000; do
	n=$(awk -v t=$(((CL_T0 + t) * 1000)) '$1 == "W" && $5 > t' "$CL_LOG" | wc -l)
	((n > 0)) && pass "writes-after-${t}ms" ||
		fail "writes-after-${t}ms" "no write acknowledged after the outage"
done
check "write-after" iv "$URL" --one write 8000 --seed 9
check "read-after" iv "$URL" --one read 8000
verify_logs "$URL" "acked-writes-present" "${CL_LOGS[@]}"
check "tgtd-alive" tgtd_alive
