#!/bin/bash
# tgt_snapshot.sh - snapshot LUNs: ADDR:VDI:TAG and ADDR:VDI:SNAPID open the
# snapshot read-only and unlocked; they read the data of snapshot time while
# the working VDI (another LUN) moves on, writes through them fail with
# DATA PROTECT, and tgtadm shows them read-only.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_setup snapshot --lock
M=$((1024 * 1024))
VDI=$(vdi_name snap)
make_vdi "$VDI" $((16 * M))
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI"
URL1=$(tgt_url "$IQN" 1)

if ! qio "$URL1" "write -P 0x61 0 $M"; then
	fail "write-before-snapshot" "$(head -2 "$QIO_OUT")"
fi
# snapshot with the LU closed (the VDI moves to a new vid)
tgtadm_c --lld iscsi --mode logicalunit --op delete --tid 1 --lun 1
check "sdctl-snapshot" "$SDCTL" -a "$SHEEP" vdi snapshot -s snap1 "$VDI"
check "lu-working-again" tgt_lu 1 1 "$SHEEP:$VDI"
check "lu-snapshot-tag" tgt_lu 1 2 "$SHEEP:$VDI:snap1"
check "lu-snapshot-id" tgt_lu 1 3 "$SHEEP:$VDI:1"
URL2=$(tgt_url "$IQN" 2)
URL3=$(tgt_url "$IQN" 3)

check "working-write-after-snapshot" qio "$URL1" "write -P 0x62 0 $M" \
	"read -P 0x62 0 $M"
both_read_old() {
	qio_ro "$URL2" "read -P 0x61 0 $M" && qio_ro "$URL3" "read -P 0x61 0 $M"
}
check "snapshot-reads-old-data" both_read_old
# qemu sees the write protection (MODE SENSE WP) and refuses a r/w open
qio_all() { qio "$@" >/dev/null || { cat "$QIO_OUT"; return 1; }; }
check "snapshot-open-rw-refused" fails_saying 'write protected' \
	qio_all "$URL2" "write -P 0x63 0 4k"
# every write-class command is refused with DATA PROTECT (libiscsi)
if command -v iscsi-test-cu >/dev/null; then
	iscsi-test-cu --dataloss -n -t ALL.ReadOnly.ReadOnlySBC "$URL2" \
		>"$T_TMP/cu.ro" 2>&1
	check "snapshot-writes-rejected" grep -Eq '^ +tests +1 +1 +1 +0' "$T_TMP/cu.ro"
fi
snapshot_and_working() {
	qio_ro "$URL2" "read -P 0x61 0 $M" && sd_holds "$VDI" 0 "$M" 0x62
}
check "snapshot-unchanged-working-untouched" snapshot_and_working
tgtadm_c --lld iscsi --mode target --op show >"$T_TMP/show"
ro=$(grep -c 'Readonly: Yes' "$T_TMP/show")
check "snapshot-luns-readonly" want "$ro" -eq 2 "$ro LUNs read-only, want 2"
# the working VDI is locked by this tgtd: another client cannot open it,
# while a second LU of the same tgtd with the same bsopts shares LUN 1's lock
if own_sheep; then
	if command -v nbdkit >/dev/null; then
		check "second-open-locked" not timeout 20 "${T_PRELOAD_ENV[@]}" \
			nbdkit -U - "$TOP/build/lib/nbdkit-sheepdog-plugin.so" \
			addr="$SHEEP" vdi="$VDI" lock=normal --run true
	else
		skip "second-open-locked" "nbdkit not installed"
	fi
	check "same-tgtd-lu-shares-lock" tgt_lu 1 4 "$SHEEP:$VDI"
fi
check "tgtd-alive" tgtd_alive
