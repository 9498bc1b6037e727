#!/bin/bash
# tgt_hostlock.sh - a tgtd killed with -9 leaves its VDI locks in sheep
# (minisheep --lock keeps a normal lock when its client goes, as sheep 1.0
# does).  Gateway 1 exports 4 LUs on 4 VDIs (lock=normal) and data is
# written through each.  While it lives, gateway 2 on the same host is
# refused: tgtadm fails and tgtd logs one line naming gateway 1's pid.
# Gateway 2 is stopped, gateway 1 is killed with -9, and a new tgtd
# (gateway 3) starts and opens all 4 LUs within 2 s of the kill with no
# manual step (the library takes over the locks its dead predecessor on
# this host left), and the data reads back through them.  Each lock record
# then names gateway 3 and the dead gateway 1.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

N=4
M=$((1024 * 1024))
OBJ=$((4 * M))
if ! own_sheep; then
	skip tgt_hostlock "needs a locking minisheep (SHEEP_ADDR set)"
	exit 0
fi
tgt_setup hostlock --lock
VDIS=()
for ((i = 1; i <= N; i++)); do
	VDIS+=("$(vdi_name "hl$i")")
	make_vdi "${VDIS[i - 1]}" $((16 * M))
done

# ---- gateway 1: N LUs, a different pattern through each -------------------
ok=1
for ((i = 1; i <= N; i++)); do
	tgt_lu 1 "$i" "$SHEEP:${VDIS[i - 1]}" ||
		{ ok=0; echo "LU $i: $(cat "$TGT_OUT")"; }
done
((ok)) && pass "gw1-opens-$N-lus" || fail "gw1-opens-$N-lus" "see the log"
ok=1
for ((i = 1; i <= N; i++)); do
	qio "$(tgt_url "$IQN" "$i")" \
		"write -P $((0x40 + i)) $((OBJ - 4096)) 8192" ||
		{ ok=0; cat "$QIO_OUT"; }
done
((ok)) && pass "gw1-writes" || fail "gw1-writes" "qemu-io failed"
GW1=$TGT_PID
GW1_TIDS=("${TGT_TIDS[@]}")
# keep gateway 1's log apart (it appends to the renamed file)
mv "$TGT_LOG" "$T_TMP/gw1.log"
stop_gw1() { kill -9 "$GW1" 2>/dev/null; wait "$GW1" 2>/dev/null; true; }
on_exit stop_gw1

# ---- gateway 2 on the same host: refused while gateway 1 lives ------------
TGT_PID='' TGT_TIDS=()
if ! tgt_start; then
	fail "gw2-start" "cannot start the second tgtd"
	exit 1
fi
check "gw2-target" tgt_target 1 "$IQN"
before=$(tgt_module_lines)
if tgt_lu 1 1 "$SHEEP:${VDIS[0]}"; then
	fail "gw2-refused-while-gw1-lives" "tgtadm accepted the LU"
else
	want="bs_sheepdog: cannot open '$SHEEP:${VDIS[0]}': VDI '${VDIS[0]}' is already locked by pid $GW1 on this host"
	lines=$(($(tgt_module_lines) - before))
	line=$(grep -F 'bs_sheepdog:' "$TGT_LOG" | tail -n 1)
	# tgtd may put "tgtd: " in front
	check "gw2-refused-while-gw1-lives" \
		want "$lines:${line##*"$want"}" == "1:" \
		"$lines lines: $(grep 'bs_sheepdog:' "$TGT_LOG" | tail -n 2)"
fi

tgt_stop

# ---- kill -9 gateway 1; a new tgtd opens every LU on its own ---------------
kill -9 "$GW1"
wait "$GW1" 2>/dev/null
t0=$(date +%s%N)
if ! tgt_start || ! tgt_target 1 "$IQN"; then
	fail "gw3-start" "cannot start the new tgtd"
	exit 1
fi
ok=1
for ((i = 1; i <= N; i++)); do
	tgt_lu 1 "$i" "$SHEEP:${VDIS[i - 1]}" ||
		{ ok=0; echo "LU $i: $(cat "$TGT_OUT")"; tail -n 2 "$TGT_LOG"; }
done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "a new tgtd started and opened $N LUs ${ms} ms after gateway 1 was killed"
check "new-tgtd-reopens-$N-lus-within-2s" want "$ok:$((ms <= 2000))" == "1:1" \
	"ok=$ok after $ms ms"
ok=1
for ((i = 1; i <= N; i++)); do
	qio "$(tgt_url "$IQN" "$i")" \
		"read -P $((0x40 + i)) $((OBJ - 4096)) 8192" \
		"read -P 0 $((OBJ + 4096)) 4096" || { ok=0; cat "$QIO_OUT"; }
done
((ok)) && pass "data-written-before-the-crash-reads-back" ||
	fail "data-written-before-the-crash-reads-back" "qemu-io failed"

# the records: held by gateway 3, taken over from gateway 1
n=$(grep -l "^prev_pid=$GW1\$" "$SHEEP_LOCK_DIR"/*.lock 2>/dev/null |
	xargs -r grep -l "^pid=$TGT_PID\$" | xargs -r grep -l '^state=held$' |
	wc -l)
check "records-name-new-tgtd-and-dead-gw1" want "$n" -eq "$N" \
	"$n of $N: $(head -n 20 "$SHEEP_LOCK_DIR"/*.lock)"
check "new-tgtd-alive" tgtd_alive
