#!/bin/bash
# tgt_lu_cycle.sh - creating and deleting a sheepdog LU many times leaks
# nothing in tgtd: after a warm-up, LU_CYCLES (default 1000) create/delete
# cycles leave tgtd with the same open file descriptors and threads, its
# resident memory grows by less than LU_CYCLE_RSS_KB (default 1024 KiB, so a
# leak of about 1 KiB or more per cycle shows), and the VDI lock is released
# every time (minisheep runs with --lock: a leaked lock fails the next create).
#
# Then the scale phase: LU_SCALE (default 1000) LUs on as many VDIs at once,
# 250 LUNs per target.  What they share must not grow with their number:
# tgtd gains at most 16 threads and at most 64 sockets into the sheep (one
# connection pool for them all), and at most 40 KiB (LU_SCALE_LU_BYTES)
# of resident memory per idle LU.  Every LU then takes a write and a
# read-back in one session per target (iscsi_lun_sweep: commands of many
# LUs in flight together), all
# LUs and targets are deleted, and tgtd is back to its fds and threads
# with no VDI left locked.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

CYCLES=${LU_CYCLES:-1000}
RSS_SLACK_KB=${LU_CYCLE_RSS_KB:-1024}
SCALE=${LU_SCALE:-1000}
SCALE_LU_BYTES=${LU_SCALE_LU_BYTES:-40960}	# RSS per idle LU
PER_TARGET=250

tgt_setup lu-cycle --lock
VDI=$(vdi_name cycle)
make_vdi "$VDI" $((16 * 1024 * 1024))

# fds, threads, resident KiB and sockets of tgtd
tgtd_counts() {
	local fds threads rss socks
	fds=$(ls "/proc/$TGT_PID/fd" | wc -l)
	threads=$(ls "/proc/$TGT_PID/task" | wc -l)
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$TGT_PID/status")
	socks=$(find "/proc/$TGT_PID/fd" -lname 'socket:*' | wc -l)
	echo "$fds $threads $rss $socks"
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
read -r fds0 threads0 rss0 _ < <(tgtd_counts)

start=$SECONDS
failed=
for ((i = 0; i < CYCLES; i++)); do
	if ! cycle; then
		failed="cycle $i: $(cat "$TGT_OUT" "$T_TMP/del.out")"
		break
	fi
done
read -r fds1 threads1 rss1 _ < <(tgtd_counts)
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

# ---- scale: SCALE LUs at once ------------------------------------------
tgtadm_c --lld iscsi --mode logicalunit --op delete --tid 1 --lun 1 \
	>"$T_TMP/del.out" 2>&1
read -r fds0 threads0 rss0 socks0 < <(tgtd_counts)
ntargets=$(((SCALE + PER_TARGET - 1) / PER_TARGET))
failed=
for ((i = 1; i <= SCALE; i++)); do
	"$SDCTL" -a "$SHEEP" vdi create "$(vdi_name "s$i")" 4M \
		>"$T_TMP/sdctl.out" 2>&1 || { failed="vdi $i: $(cat "$T_TMP/sdctl.out")"; break; }
done
for ((t = 0; t < ntargets && !${#failed}; t++)); do
	tgt_target $((t + 2)) "$IQN-s$t" || failed="target $((t + 2))"
done
start_ms=$(date +%s%3N)
for ((i = 1; i <= SCALE && !${#failed}; i++)); do
	tgt_lu $(((i - 1) / PER_TARGET + 2)) $(((i - 1) % PER_TARGET + 1)) \
		"$SHEEP:$(vdi_name "s$i")" ||
		failed="LU $i: $(cat "$TGT_OUT"; tail -n 3 "$TGT_LOG")"
done
create_ms=$(($(date +%s%3N) - start_ms))
check "lu-scale-$SCALE-creates" want "$failed" == "" "$failed"
read -r fds1 threads1 rss1 socks1 < <(tgtd_counts)
echo "# $SCALE LUs created in $create_ms ms ($((create_ms * 1000 / SCALE)) us each):" \
	"threads $threads0 -> $threads1, fds $fds0 -> $fds1," \
	"sockets $socks0 -> $socks1, rss $rss0 -> $rss1 KiB" \
	"($(((rss1 - rss0) * 1024 / SCALE)) bytes per LU)"
check "lu-scale-threads-do-not-grow-per-lu" want $((threads1 - threads0)) -le 16 \
	"$SCALE LUs added $((threads1 - threads0)) tgtd threads (max 16)"
check "lu-scale-one-connection-pool" want $((socks1 - socks0)) -le 64 \
	"$SCALE LUs opened $((socks1 - socks0)) sockets (max 64)"
check "lu-scale-memory-per-idle-lu" want $(((rss1 - rss0) * 1024 / SCALE)) -le "$SCALE_LU_BYTES" \
	"tgtd RSS grew $(((rss1 - rss0) * 1024 / SCALE)) bytes per idle LU (max $SCALE_LU_BYTES)"

# every LU works: one session per target, commands of many LUs at once
for ((t = 0; t < ntargets; t++)); do
	n=$((SCALE - t * PER_TARGET < PER_TARGET ? SCALE - t * PER_TARGET : PER_TARGET))
	check "lu-scale-io-target-$((t + 2))" "$TOP/build/test/tools/iscsi_lun_sweep" \
		"$(tgt_url "$IQN-s$t" 1)" --count "$n" --seed $((t + 7))
done

# delete them all: nothing of them stays behind
failed=
for ((i = 1; i <= SCALE; i++)); do
	tgtadm_c --lld iscsi --mode logicalunit --op delete \
		--tid $(((i - 1) / PER_TARGET + 2)) --lun $(((i - 1) % PER_TARGET + 1)) \
		>"$T_TMP/del.out" 2>&1 || { failed="LU $i: $(cat "$T_TMP/del.out")"; break; }
done
check "lu-scale-deletes" want "$failed" == "" "$failed"
read -r fds2 threads2 rss2 socks2 < <(tgtd_counts)
echo "# after deleting them: threads $threads2, fds $fds2, sockets $socks2, rss $rss2 KiB"
check "lu-scale-no-fd-leak" want "$fds2" -eq "$fds0" "tgtd fds $fds0 -> $fds2"
check "lu-scale-no-thread-leak" want "$threads2" -eq "$threads0" \
	"tgtd threads $threads0 -> $threads2"
# minisheep --lock: a VDI still locked would say so to `vdi unlock`
locked=
for ((i = 1; i <= SCALE; i++)); do
	if "$SDCTL" -a "$SHEEP" vdi unlock "$(vdi_name "s$i")" >"$T_TMP/unl.out" 2>&1; then
		locked+=" $i"
	fi
done
check "lu-scale-no-lock-left" want "$locked" == "" "VDIs still locked:$locked"
check "tgtd-alive-after-scale" tgtd_alive
