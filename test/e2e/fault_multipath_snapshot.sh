#!/bin/bash
# fault_multipath_snapshot.sh - two tgtd gateways export one VDI (bsopts
# lock=shared on both, minisheep --lock, each gateway through its own
# sheep node: a lock participant is a node) and write to it at once while
# `sdctl vdi snapshot` is taken twice.  The
# snapshot turns the vid both gateways write into a read-only snapshot;
# their writes get READONLY (or INODE_INVALIDATED) from the sheep and the
# library must reload the working VDI and resend, so the initiators see no
# error at all.  Checked afterwards:
#  - no write failed on either gateway;
#  - the working VDI read through each gateway and with `sdctl vdi read`
#    holds the model of all write logs (every acknowledged write present);
#  - each snapshot exists, reads back at the VDI's size, and holds the model
#    of the writes as of its time: writes acknowledged before the snapshot
#    command started must be there (unless overwritten by a write in flight
#    across it), writes in flight across it may or may not be, and writes
#    submitted after it returned must not be (their blocks hold older data
#    or zeros);
#  - after both snapshots are deleted, the working VDI still holds the
#    model over both gateways and from the sheep (no shared object lost);
#  - last, with no load: a third snapshot, gateway 2 overwrites a block,
#    and gateway 1, which has not written since, must read that write (not
#    the snapshot's copy it still indexes); then gateway 2 overwrites a
#    block of an object gateway 1 now indexes as inherited, and gateway 1
#    must read that too (the read fences of usr/lib/sd_io.c).
# Load layout (4 KiB blocks; object = 1024 blocks; VDI 32 MiB, fresh):
#   A gw1 [0, 3072)     12 s, from the start       objects 0-2
#   B gw2 [2048, 5120)  12 s, from the start       objects 2-4 (2 shared)
#   C gw1 [5120, 6144)   7 s, started just before snap1 (first writes of
#   D gw2 [6144, 7168)   7 s, started just before snap1  objects 5 and 6)
# snap1 at about 2 s (the sheep delays replies by 20 ms while C and D log
# in and snap1 runs), snap2 about 3.5 s later; every load runs on for at
# least 3 s after snap2.  After each snapshot every object of the working
# VDI is inherited, so the next write to it allocates (copy-on-write).
source "$(dirname "$0")/fault_common.sh"

fault_setup multipath_snapshot --lock "$(node_arg 2)" "$(node_arg 3)"
VDI=$(vdi_name mpsnap)
SIZE=$((32 * 1024 * 1024))
make_vdi "$VDI" "$SIZE"
fault_two_gateways "$VDI" "$(sheep_node 2)"
# sdctl, the third party, talks to a third node: its refresh-sized inode
# read at open would validate a gateway's node (gateway_read_obj())
SHEEP=$(sheep_node 3)

now_us() { date +%s%6N; }

# load NAME URL SECONDS SEED FIRST BLOCKS: background verified write load,
# pid in L_NAME, log in $T_TMP/NAME.log
load() {
	run_load "L_$1" "$IV" "$2" "$3" --qd 8 --seed "$4" --first-block "$5" \
		--blocks "$6" --log "$T_TMP/$1.log"
}

# snap TAG: take a snapshot, its start and end (us) in S0_TAG / S1_TAG
snap() {
	local t0 t1
	t0=$(now_us)
	check "$1-taken-under-load" "$SDCTL" -a "$SHEEP" vdi snapshot -s "$1" "$VDI"
	t1=$(now_us)
	printf -v "S0_$1" '%s' "$t0"
	printf -v "S1_$1" '%s' "$t1"
	echo "$1: $(((t1 - t0) / 1000)) ms"
}

load A "$URL1" 12 1 0 3072
load B "$URL2" 12 2 2048 3072
sleep 2
# snapshot as soon as C and D are logged in (their log header is written
# then), so their first writes (allocations) race with it; a 20 ms reply
# delay while it runs widens the window (informational: printed below)
ms_ctl delay 20 || fail "delay-on" "minisheep control refused 'delay 20'"
load C "$URL1" 7 3 5120 1024
load D "$URL2" 7 4 6144 1024
for ((i = 0; i < 500; i++)); do
	[[ -s $T_TMP/C.log && -s $T_TMP/D.log ]] && break
	sleep 0.01
done
snap snap1
ms_ctl delay 0 || fail "delay-off" "minisheep control refused 'delay 0'"
sleep 3.5
snap snap2

LOGS=()
for l in A B C D; do
	bg_check "load-$l-no-error" "L_$l"
	LOGS+=("$T_TMP/$l.log")
done
check "no-failed-write" all_writes_acked "${LOGS[@]}"

# holds_model IMAGE MODEL: the snapshot's image holds MODEL, which has
# writes acknowledged before the snapshot
holds_model() {
	if ! grep -q '^W ' "$2"; then
		echo "no write was acknowledged before the snapshot"
		return 1
	fi
	"$NV" "$1" --check "$2"
}

# writes acknowledged after each snapshot returned: the loads really went
# on across it (else the test proves nothing about the reload)
for s in snap1 snap2; do
	s1_var=S1_$s
	s0_var=S0_$s
	after=$(awk -v s1="${!s1_var}" '$1 == "W" && $5 > s1' "${LOGS[@]}" | wc -l)
	across=$(awk -v s0="${!s0_var}" -v s1="${!s1_var}" \
		'($1 == "W" || $1 == "F") && $5 < s1 && $6 > s0' "${LOGS[@]}" | wc -l)
	echo "$s: $across writes in flight across it, $after submitted after it and acknowledged"
	if [[ $s == snap1 ]]; then
		# informational: did C's and D's first writes race with snap1?
		for l in C D; do
			awk -v s0="${!s0_var}" -v s1="${!s1_var}" -v l="$l" '
				$1 == "W" || $1 == "F" {
					if (!n || $5 < t0) { t0 = $5; t1 = $6 }
					n++
				}
				END { printf "load %s first write: submitted %+.1f ms, done %+.1f ms from snap1 start (snap1 took %.1f ms)\n", l, (t0 - s0) / 1000, (t1 - s0) / 1000, (s1 - s0) / 1000 }' \
				"$T_TMP/$l.log"
		done
	fi
	check "$s-writes-continue" want "$after" -gt 0 \
		"no write submitted after the snapshot was acknowledged"
done

# the working VDI
verify_image "image-matches-model" "$VDI" "$SIZE" "${LOGS[@]}"
verify_logs "$URL1" "gw1-reads-model" "${LOGS[@]}"
verify_logs "$URL2" "gw2-reads-model" "${LOGS[@]}"

# the snapshots
"$SDCTL" -a "$SHEEP" vdi list -r >"$T_TMP/list" 2>&1
cat "$T_TMP/list"
for s in snap1 snap2; do
	check "$s-listed" grep -q "^\"$VDI\" [1-9][0-9]* $SIZE .* \"$s\" " "$T_TMP/list"
	img=$T_TMP/$s.img
	if ! "$SDCTL" -a "$SHEEP" vdi read -s "$s" "$VDI" >"$img" 2>"$img.err"
	then
		fail "$s-readable" "sdctl: $(cat "$img.err")"
		continue
	fi
	got=$(stat -c %s "$img")
	check "$s-readable" want "$got" -eq "$SIZE" "read $got bytes, want $SIZE"
	# the model as of the snapshot: acknowledged before it started = W;
	# in flight across it = F (may or may not be there); submitted after
	# it returned = a block that may only hold the earlier writes, or
	# zeros (an F record of seed 0, which no load uses, adds the block to
	# the checked set without allowing any stamp)
	s0_var=S0_$s
	s1_var=S1_$s
	awk -v s0="${!s0_var}" -v s1="${!s1_var}" '
		$1 != "W" && $1 != "F" { next }
		$5 >= s1 { print "F 0 0", $4, "0 0 LATER"; next }
		$1 == "W" && $6 < s0 { print; next }
		{ print "F", $2, $3, $4, $5, $6, "ACROSS" }' \
		"${LOGS[@]}" >"$T_TMP/$s.model"
	before=$(grep -c '^W ' "$T_TMP/$s.model")
	echo "$s: $before writes acknowledged before it"
	check "$s-holds-writes-before-it" holds_model "$img" "$T_TMP/$s.model"
done

# delete the snapshots: the working VDI shares their objects
for s in snap1 snap2; do
	check "$s-deleted" "$SDCTL" -a "$SHEEP" vdi delete -s "$s" "$VDI"
done
"$SDCTL" -a "$SHEEP" vdi list -r >"$T_TMP/list" 2>&1
check "snapshots-gone" not grep '"snap[12]"' "$T_TMP/list"
verify_image "image-after-delete-matches-model" "$VDI" "$SIZE" "${LOGS[@]}"
verify_logs "$URL1" "gw1-after-delete-reads-model" "${LOGS[@]}"
verify_logs "$URL2" "gw2-after-delete-reads-model" "${LOGS[@]}"
check "gw2-alive" tgtd_alive
check "gw1-alive" kill -0 "${GW1[0]}"

# A gateway that only reads after a snapshot: gateway 1 has not written
# since snap3 (so it was never told READONLY and still reads the old vid's
# objects, which are the snapshot's now); gateway 2 overwrites a block of
# an object both index as owned by the old vid (copy-on-write into the new
# working vid).  Gateway 1 must then read gateway 2's acknowledged write,
# not the snapshot's copy.  Done last: it overwrites a logged block.
OFF=$((6144 * 4096))
if "$SDCTL" -a "$SHEEP" vdi snapshot -s snap3 "$VDI" >"$T_TMP/snap3.out" 2>&1
then
	if ! qio_ro "$URL1" "read 0 4k" "read $OFF 4k"; then
		fail "gw1-read-before-gw2-cow" "$(head -2 "$QIO_OUT")"
	elif ! qio "$URL2" "write -P 0x5a $OFF 4k"; then
		fail "gw2-write-after-snap3" "$(head -2 "$QIO_OUT")"
	elif ! cmp -s <(sd_read "$VDI" "$OFF" 4096) <(bytes_of 0x5a 4096); then
		fail "gw2-write-after-snap3" "sdctl does not read it back"
	elif qio_ro "$URL1" "read -P 0x5a $OFF 4k"; then
		pass "gw1-reads-gw2-cow-after-snapshot"
	else
		fail "gw1-reads-gw2-cow-after-snapshot" "gateway 1 reads the snapshot's old copy of block 6144, not gateway 2's acknowledged write: $(grep -m1 -iE 'fail|mismatch|error' "$QIO_OUT")"
	fi
	# block 5120 (object 5) is inherited from snap3 in both indexes now
	OFF5=$((5120 * 4096))
	if ! qio "$URL2" "write -P 0x5b $OFF5 4k"; then
		fail "gw2-write-inherited" "$(head -2 "$QIO_OUT")"
	elif qio_ro "$URL1" "read -P 0x5b $OFF5 4k"; then
		pass "gw1-reads-gw2-cow-of-inherited-object"
	else
		fail "gw1-reads-gw2-cow-of-inherited-object" "gateway 1 reads snap3's copy of block 5120: $(grep -m1 -iE 'fail|mismatch|error' "$QIO_OUT")"
	fi
else
	fail "snap3-taken" "$(cat "$T_TMP/snap3.out")"
fi
