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
if "$SDCTL" -a "$SHEEP" vdi snapshot -s snap1 "$VDI" >"$T_TMP/snap.out" 2>&1
then
	pass "sdctl-snapshot"
else
	fail "sdctl-snapshot" "$(cat "$T_TMP/snap.out")"
fi
check "lu-working-again" tgt_lu 1 1 "$SHEEP:$VDI"
check "lu-snapshot-tag" tgt_lu 1 2 "$SHEEP:$VDI:snap1"
check "lu-snapshot-id" tgt_lu 1 3 "$SHEEP:$VDI:1"
URL2=$(tgt_url "$IQN" 2)
URL3=$(tgt_url "$IQN" 3)

if qio "$URL1" "write -P 0x62 0 $M" "read -P 0x62 0 $M"; then
	pass "working-write-after-snapshot"
else
	fail "working-write-after-snapshot" "$(head -2 "$QIO_OUT")"
fi
if qio_ro "$URL2" "read -P 0x61 0 $M" && qio_ro "$URL3" "read -P 0x61 0 $M"; then
	pass "snapshot-reads-old-data"
else
	fail "snapshot-reads-old-data" "$(head -2 "$QIO_OUT")"
fi
# qemu sees the write protection (MODE SENSE WP) and refuses a r/w open
if qio "$URL2" "write -P 0x63 0 4k"; then
	fail "snapshot-open-rw-refused" "write to the snapshot LUN succeeded"
elif grep -q 'write protected' "$QIO_OUT"; then
	pass "snapshot-open-rw-refused"
else
	fail "snapshot-open-rw-refused" "unexpected: $(head -2 "$QIO_OUT")"
fi
# every write-class command is refused with DATA PROTECT (libiscsi)
if command -v iscsi-test-cu >/dev/null; then
	iscsi-test-cu --dataloss -n -t ALL.ReadOnly.ReadOnlySBC "$URL2" \
		>"$T_TMP/cu.ro" 2>&1
	if grep -Eq '^ +tests +1 +1 +1 +0' "$T_TMP/cu.ro"; then
		pass "snapshot-writes-rejected"
	else
		fail "snapshot-writes-rejected" "$(grep -E 'FAILED|tests ' "$T_TMP/cu.ro" | head -3)"
	fi
fi
if qio_ro "$URL2" "read -P 0x61 0 $M" &&
	cmp -s <(sd_read "$VDI" 0 "$M") <(bytes_of 0x62 "$M"); then
	pass "snapshot-unchanged-working-untouched"
else
	fail "snapshot-unchanged-working-untouched" "data changed"
fi
tgtadm_c --lld iscsi --mode target --op show >"$T_TMP/show"
ro=$(grep -c 'Readonly: Yes' "$T_TMP/show")
if ((ro == 2)); then
	pass "snapshot-luns-readonly"
else
	fail "snapshot-luns-readonly" "$ro LUNs read-only, want 2"
fi
# the working VDI is locked by this tgtd: another client cannot open it,
# while a second LU of the same tgtd with the same bsopts shares LUN 1's lock
if own_sheep; then
	if command -v nbdkit >/dev/null; then
		if timeout 20 "${T_PRELOAD_ENV[@]}" nbdkit -U - \
			"$TOP/build/lib/nbdkit-sheepdog-plugin.so" \
			addr="$SHEEP" vdi="$VDI" lock=normal --run true \
			>"$T_TMP/nbdkit.out" 2>&1; then
			fail "second-open-locked" "another client opened the locked VDI"
		else
			pass "second-open-locked"
		fi
	else
		skip "second-open-locked" "nbdkit not installed"
	fi
	check "same-tgtd-lu-shares-lock" tgt_lu 1 4 "$SHEEP:$VDI"
fi
check "tgtd-alive" tgtd_alive
