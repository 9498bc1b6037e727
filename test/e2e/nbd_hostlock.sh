#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd_hostlock.sh - an nbdkit killed with -9 leaves its VDI lock in sheep
# (minisheep --lock keeps a normal lock when its client goes, as sheep 1.0
# does).  nbdkit 1 serves a VDI (lock=normal) and data is written through
# it.  While it lives a second nbdkit on the same host exits with one error
# line naming nbdkit 1's pid.  After kill -9 of nbdkit 1, a new nbdkit
# serves the VDI within 2 s with no manual step (its trial open takes the
# dead predecessor's lock over) and the data reads back.
source "$(dirname "$0")/../lib.sh"

PLUGIN=${NBD_PLUGIN:-$TOP/build/lib/nbdkit-sheepdog-plugin.so}
MIB=1048576
OBJ=$((4 * MIB))
missing=
for tool in nbdkit qemu-io; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
if [[ -n $missing ]]; then
	skip nbd_hostlock "missing:$missing"
	exit 0
fi
if ! own_sheep; then
	skip nbd_hostlock "needs a locking minisheep (SHEEP_ADDR set)"
	exit 0
fi
[[ -f $PLUGIN ]] || { fail nbd_hostlock "$PLUGIN is not built"; exit 1; }
start_minisheep --lock || { fail nbd_hostlock "cannot start minisheep"; exit 1; }
NBDKIT=("${T_PRELOAD_ENV[@]}" nbdkit)
UNPRELOAD=
[[ -n ${T_PRELOAD:-} ]] && UNPRELOAD='env -u LD_PRELOAD '

V=$(vdi_name nbdhl)
"$SDCTL" -a "$SHEEP" vdi create "$V" $((16 * MIB)) ||
	{ fail nbd_hostlock_create "sdctl vdi create failed"; exit 1; }
on_exit nbdkit_stop

qemu_io() {	# qemu-io, failing on any failed command or mismatch
	local out
	out=$(qemu-io -f raw "$@" 2>&1) || { echo "$out"; return 1; }
	! grep -qiE 'fail|error|mismatch' <<<"$out" || { echo "$out"; return 1; }
}

SOCK1=$T_TMP/nbd1.sock
first_writes() {
	nbdkit_start "$SOCK1" "$PLUGIN" addr="$SHEEP" vdi="$V" &&
		qemu_io -c "write -P 0x6b $((OBJ - 4096)) 8192" \
			"nbd+unix:///?socket=$SOCK1"
}
check nbd_hostlock_first_writes first_writes || exit 1
N1=$NBD_PID

# a second nbdkit on the same host while nbdkit 1 lives
out=$("${NBDKIT[@]}" -U - "$PLUGIN" addr="$SHEEP" vdi="$V" \
	--run "${UNPRELOAD}true" 2>&1)
rc=$?
nerr=$(grep -c 'error:' <<<"$out")
refused_with_pid() {
	((rc != 0 && nerr == 1)) &&
		grep -qF "VDI '$V' is already locked by pid $N1 on this host" \
			<<<"$out" && return 0
	echo "rc=$rc: $out"
	return 1
}
check nbd_hostlock_second_refused_with_pid refused_with_pid

# kill -9 nbdkit 1; a new one serves within 2 s
kill -9 "$N1"
wait "$N1" 2>/dev/null
NBD_PID=
t0=$(date +%s%N)
SOCK2=$T_TMP/nbd2.sock
if nbdkit_start "$SOCK2" "$PLUGIN" addr="$SHEEP" vdi="$V"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "nbdkit serving again ${ms} ms after the kill"
	check nbd_hostlock_restart_within_2s want "$ms" -le 2000 "took $ms ms"
	check nbd_hostlock_data_reads_back qemu_io -r \
		-c "read -P 0x6b $((OBJ - 4096)) 8192" \
		-c "read -P 0 0 4096" "nbd+unix:///?socket=$SOCK2"
	# (the trial open took it over and closed; .after_fork locked again)
	names_holder() {
		grep -q "^pid=$NBD_PID\$" "$SHEEP_LOCK_DIR"/*.lock &&
			grep -q '^state=held$' "$SHEEP_LOCK_DIR"/*.lock && return 0
		cat "$SHEEP_LOCK_DIR"/*.lock
		return 1
	}
	check nbd_hostlock_record_names_holder names_holder
else
	fail nbd_hostlock_restart_within_2s "nbdkit did not start: $(tail -n 3 "$T_TMP/nbdkit.log")"
fi
nbdkit_stop
exit 0
