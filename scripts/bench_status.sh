#!/bin/bash
# bench_status.sh - what watching costs: I/O throughput of one LU while
# nobody looks, while `sdctl gateway status --watch` runs (a snapshot a
# second), and while status snapshots are taken back to back (the worst
# case), measured side by side in one run and printed as ratios for
# doc/benchmarks.md ("Status while under load").  As root: stock tgtd with
# build/lib/bs_sheepdog.so, own minisheep, iscsi_load (libiscsi-dev).
#   STATUS_BENCH_TIME  seconds per run (default 4)
#   STATUS_BENCH_RUNS  runs per case, interleaved (default 5)
#   STATUS_BENCH_MODE  iscsi_load mode (default randread), 4 KiB, QD 16
source "$(dirname "$0")/../test/lib.sh"
source "$TOP/test/lib_tgt.sh"

TIME=${STATUS_BENCH_TIME:-4}
RUNS=${STATUS_BENCH_RUNS:-5}
MODE=${STATUS_BENCH_MODE:-randread}
ISCSI_LOAD=$TOP/build/test/tools/iscsi_load
RANGE=$((64 * 1024 * 1024))

"$ISCSI_LOAD" --help >/dev/null 2>&1 ||
	{ echo "bench_status: iscsi_load needs libiscsi-dev (make after installing it)" >&2; exit 1; }
tgt_io_setup bench_status
tgt_lu 1 1 "$SHEEP:$VDI" || { echo "bench_status: no LU" >&2; exit 1; }
URL=$(tgt_url "$IQN" 1)
"$ISCSI_LOAD" -m write -b 1M -q 4 -r "$RANGE" --once "$URL" >/dev/null ||
	{ echo "bench_status: cannot fill the LU" >&2; exit 1; }

# one run of CASE: its IOPS on stdout
run_case() {
	local pid= iops
	case $1 in
	watch)
		"$SDCTL" gateway status --watch >/dev/null &
		pid=$!
		;;
	busy)
		while :; do "$SDCTL" gateway status --json >/dev/null; done &
		pid=$!
		;;
	esac
	iops=$("$ISCSI_LOAD" -m "$MODE" -b 4096 -q 16 -r "$RANGE" -t "$TIME" \
		"$URL" | sed -n 's/.* iops=\([0-9.]*\).*/\1/p')
	if [[ -n $pid ]]; then
		kill "$pid"
		wait "$pid" 2>/dev/null
	fi
	echo "${iops:-0}"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A all all_m
for ((r = 1; r <= RUNS; r++)); do
	for c in idle watch busy; do
		all[$c]+="$(run_case "$c") "
	done
done
snaps=$(
	s=$(date +%s%N)
	for ((i = 0; i < 100; i++)); do "$SDCTL" gateway status --json >/dev/null; done
	echo $((($(date +%s%N) - s) / 100000))
)
echo "bench_status: $MODE 4 KiB QD 16 on one LU, $RUNS x $TIME s per case, interleaved"
for c in idle watch busy; do
	m=$(tr ' ' '\n' <<<"${all[$c]}" | grep . | median)
	all_m[$c]=$m
	printf '%-6s median %8.0f IOPS (runs: %s)\n' "$c" "$m" "${all[$c]% }"
done
awk -v i="${all_m[idle]}" -v w="${all_m[watch]}" -v b="${all_m[busy]}" \
	'BEGIN { printf "ratio watch/idle %.3f, busy/idle %.3f\n", w / i, b / i }'
echo "one status snapshot (sdctl start to exit, mean of 100): ${snaps} us"
