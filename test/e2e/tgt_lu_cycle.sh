#!/bin/bash
# tgt_lu_cycle.sh - creating and deleting a sheepdog LU many times leaks
# nothing in tgtd: after a warm-up, LU_CYCLES (default 1000) create/delete
# cycles leave tgtd with the same open file descriptors and threads, its
# resident memory grows by less than LU_CYCLE_RSS_KB (default 1024 KiB, so a
# leak of about 1 KiB or more per cycle shows), and the VDI lock is released
# every time (minisheep runs with --lock: a leaked lock fails the next create).
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

CYCLES=${LU_CYCLES:-1000}
RSS_SLACK_KB=${LU_CYCLE_RSS_KB:-1024}

tgt_setup lu-cycle --lock
VDI=$(vdi_name cycle)
make_vdi "$VDI" $((16 * 1024 * 1024))

# fds, threads and resident KiB of tgtd
tgtd_counts() {
	local fds threads rss
	fds=$(ls "/proc/$TGT_PID/fd" | wc -l)
	threads=$(ls "/proc/$TGT_PID/task" | wc -l)
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$TGT_PID/status")
	echo "$fds $threads $rss"
}

# one create/delete cycle; prints nothing, fails on any tgtadm error
cycle() {
	tgt_lu 1 1 "$SHEEP:$VDI" || return 1
	tgtadm_c --lld iscsi --mode logicalunit --op delete --tid 1 --lun 1 \
		>"$T_TMP/del.out" 2>&1
}

# warm-up: malloc arenas, the first dlopen'd paths, tgtd's own tables
for ((i = 0; i < 50; i++)); do
	if ! cycle; then
		fail "lu-cycle-warmup" "cycle $i: $(cat "$TGT_OUT" "$T_TMP/del.out")"
		exit 1
	fi
done
read -r fds0 threads0 rss0 < <(tgtd_counts)

start=$SECONDS
failed=
for ((i = 0; i < CYCLES; i++)); do
	if ! cycle; then
		failed="cycle $i: $(cat "$TGT_OUT" "$T_TMP/del.out")"
		break
	fi
done
read -r fds1 threads1 rss1 < <(tgtd_counts)
echo "# $CYCLES cycles in $((SECONDS - start)) s: fds $fds0 -> $fds1," \
	"threads $threads0 -> $threads1, rss ${rss0} KiB -> ${rss1} KiB"

check "lu-cycle-$CYCLES-creates-and-deletes" want "$failed" == "" "$failed"
check "lu-cycle-no-fd-leak" want "$fds1" -eq "$fds0" \
	"tgtd fds $fds0 -> $fds1 after $CYCLES cycles"
check "lu-cycle-no-thread-leak" want "$threads1" -eq "$threads0" \
	"tgtd threads $threads0 -> $threads1 after $CYCLES cycles"
check "lu-cycle-no-memory-growth" want $((rss1 - rss0)) -lt "$RSS_SLACK_KB" \
	"tgtd RSS grew $((rss1 - rss0)) KiB over $CYCLES cycles (slack $RSS_SLACK_KB KiB)"

# the LU still works after all that
check "lu-cycle-final-lu" tgt_lu 1 1 "$SHEEP:$VDI"
check "lu-cycle-final-io" qio "$(tgt_url "$IQN" 1)" "write -P 0x5a 4M 64k" \
	"read -P 0x5a 4M 64k"
check "tgtd-alive" tgtd_alive
