#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# sdctl_cli.sh - behaviour of the sdctl command line: help texts, usage
# errors (exit 2, one line), runtime errors (exit 1, one line naming the
# VDI or address), and a full VDI life cycle against minisheep (or the
# sheep in $SHEEP_ADDR): create, resize, list (table and -r), write from
# stdin and read back, zeros for unwritten ranges, snapshot, reads of a
# snapshot by tag and by id, clone, delete.  One PASS/FAIL line per check.
source "$(dirname "$0")/../lib.sh"

OUT=$T_TMP/out
ERR=$T_TMP/err
RC=0

# run CMD...: RC = exit status, stdout in $OUT, stderr in $ERR
run() {
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
}

# expect NAME RC [REGEX]: last run exited RC; for RC != 0 stderr is one
# line starting with "sdctl: " and matching REGEX (case-insensitive)
expect() {
	local name=$1 rc=$2 re=${3:-} lines
	if ((RC != rc)); then
		fail "$name" "exit $RC, wanted $rc; stderr: $(head -c 300 "$ERR")"
		return
	fi
	if ((rc != 0)); then
		lines=$(wc -l <"$ERR")
		if ((lines != 1)); then
			fail "$name" "$lines stderr lines, wanted 1: $(head -c 300 "$ERR")"
			return
		fi
		if ! grep -q '^sdctl: ' "$ERR"; then
			fail "$name" "stderr does not start with 'sdctl: ': $(cat "$ERR")"
			return
		fi
		if [[ -n $re ]] && ! grep -qiE -- "$re" "$ERR"; then
			fail "$name" "stderr lacks /$re/: $(cat "$ERR")"
			return
		fi
	fi
	pass "$name"
}

# raw list line of NAME with snapshot id ID ("" if none), fields split into
# L_NAME L_ID L_SIZE L_USED L_SHARED L_CTIME L_VID L_TAG L_SHIFT
raw_line() {
	local want_name=$1 want_id=$2 n id size used shared ctime vid tag shift
	L_NAME="" L_ID="" L_SIZE="" L_USED="" L_SHARED="" L_CTIME="" L_VID=""
	L_TAG="" L_SHIFT=""
	"$SDCTL" -a "$SHEEP" vdi list -r >"$T_TMP/list" 2>"$ERR" || return 1
	while read -r n id size used shared ctime vid tag shift; do
		if [[ $n == "\"$want_name\"" && $id == "$want_id" ]]; then
			L_NAME=$n L_ID=$id L_SIZE=$size L_USED=$used
			L_SHARED=$shared L_CTIME=$ctime L_VID=$vid L_TAG=$tag
			L_SHIFT=$shift
			return 0
		fi
	done <"$T_TMP/list"
	return 1
}

# ---- no server needed ---------------------------------------------------

run "$SDCTL" --help
expect "help: sdctl --help exits 0" 0
grep -q '^Usage: sdctl' "$OUT" && pass "help: sdctl --help prints usage" ||
	fail "help: sdctl --help prints usage" "$(head -3 "$OUT")"
run "$SDCTL" vdi --help
expect "help: sdctl vdi --help exits 0" 0
for verb in create resize snapshot clone list delete read write; do
	run "$SDCTL" vdi "$verb" --help
	if ((RC == 0)) && grep -q "^Usage: sdctl vdi $verb" "$OUT"; then
		pass "help: vdi $verb --help"
	else
		fail "help: vdi $verb --help" "exit $RC: $(head -c 200 "$OUT")"
	fi
done

run "$SDCTL"
expect "usage: no command exits 2" 2 "missing command"
run "$SDCTL" frob
expect "usage: unknown command exits 2" 2 "unknown command 'frob'"
run "$SDCTL" vdi frob x
expect "usage: unknown verb exits 2" 2 "unknown verb 'frob'"
run "$SDCTL" vdi list -z
expect "usage: unknown option exits 2" 2 "unknown option"
run "$SDCTL" vdi create onlyname
expect "usage: missing argument exits 2" 2 "missing"
run "$SDCTL" vdi list extra
expect "usage: extra argument exits 2" 2 "unexpected argument 'extra'"
run "$SDCTL" vdi create x 12Q
expect "usage: bad size suffix exits 2" 2 "bad size '12Q'"
run "$SDCTL" vdi create x -5
expect "usage: negative size exits 2" 2 "size|option"
run "$SDCTL" vdi create x 1000
expect "usage: size not a multiple of 512 exits 2" 2 "multiple of 512"
run "$SDCTL" vdi create x 0
expect "usage: zero size exits 2" 2 "bad size"
run "$SDCTL" vdi create x 99999999999999999999
expect "usage: overflowing size exits 2" 2 "bad size"
run "$SDCTL" vdi create x 20000000T
expect "usage: size suffix overflow exits 2" 2 "bad size"
run "$SDCTL" vdi create -b 19 x 1M
expect "usage: block shift out of range exits 2" 2 "block shift"
run "$SDCTL" vdi resize x 1000
expect "usage: resize to a size not a multiple of 512 exits 2" 2 "multiple of 512"
run "$SDCTL" vdi resize x 12Q
expect "usage: resize to a bad size exits 2" 2 "bad size '12Q'"
run "$SDCTL" vdi read x abc
expect "usage: bad offset exits 2" 2 "bad offset 'abc'"
run "$SDCTL" vdi read x 0 1X
expect "usage: bad length exits 2" 2 "bad length '1X'"
run "$SDCTL" vdi read -s 0 x
expect "usage: snapshot id 0 exits 2" 2 "snapshot id"
run "$SDCTL" vdi clone a b
expect "usage: clone without -s exits 2" 2 "-s"
run "$SDCTL" vdi snapshot -s 42 x
expect "usage: all-digit snapshot tag exits 2" 2 "digits"
run "$SDCTL" -t 0 vdi list
expect "usage: zero timeout exits 2" 2 "timeout"
run "$SDCTL" vdi list -a
expect "usage: option without value exits 2" 2 "needs a value"
run "$SDCTL" -a bogus:addr vdi list
expect "usage: bad address exits 2" 2 "bogus"

# unreachable sheep: fails fast, message names the address
start=$EPOCHREALTIME
run "$SDCTL" -a unix:/nonexistent/sock vdi list
end=$EPOCHREALTIME
expect "unreachable address exits 1 naming it" 1 "unix:/nonexistent/sock"
ms=$(( (${end/./} - ${start/./}) / 1000 ))
if ((ms < 3000)); then
	pass "unreachable address fails in under 3 s"
else
	fail "unreachable address fails in under 3 s" "took ${ms} ms"
fi
run "$SDCTL" -a unix:/nonexistent/sock vdi read somevdi
expect "unreachable address: read exits 1 naming it" 1 "unix:/nonexistent/sock"

# ---- against a sheep ----------------------------------------------------

if ! sheep_addr; then
	fail "start sheep" "minisheep did not start"
	exit 1
fi

V=$(vdi_name cli)
V2=$(vdi_name cli2)
V3=$(vdi_name big)
C=$(vdi_name clone)
MiB=1048576

# SHEEP_ADDR as the default address
SHEEP_ADDR=$SHEEP run "$SDCTL" vdi create "$V" 12M
expect "create with size suffix M (address from \$SHEEP_ADDR)" 0
cleanup() {
	local a
	for a in "-s snap1 $V" "-s 2 $V" "$V" "$C" "$V2" "$V3"; do
		"$SDCTL" -a "$SHEEP" vdi delete $a >/dev/null 2>&1
	done
	return 0
}
on_exit cleanup
if raw_line "$V" 0; then
	pass "list -r shows the new VDI"
	[[ $L_SIZE == $((12 * MiB)) && $L_USED == 0 && $L_SHARED == 0 &&
	   $L_TAG == '""' && $L_VID =~ ^[0-9a-f]{6}$ && $L_CTIME =~ ^[0-9]+$ &&
	   $L_CTIME -gt 0 && $L_SHIFT =~ ^[0-9]+$ ]] &&
		pass "list -r fields of a new VDI" ||
		fail "list -r fields of a new VDI" "$(grep -F "\"$V\"" "$T_TMP/list")"
else
	fail "list -r shows the new VDI" "$(cat "$T_TMP/list" "$ERR")"
fi
SHIFT=${L_SHIFT:-22}
VID0=$L_VID

run "$SDCTL" -a "$SHEEP" vdi list
if ((RC == 0)) && head -1 "$OUT" | grep -q 'Name.*Id.*Size.*Used.*Shared.*Creation time.*VDI id.*Tag.*Block shift' &&
   grep -qE "^$V +0 +12\.0 MiB" "$OUT"; then
	pass "list table: header and row"
else
	fail "list table: header and row" "$(cat "$OUT" "$ERR")"
fi

run "$SDCTL" -a "$SHEEP" vdi create "$V" 4M
expect "duplicate create exits 1 with a clear message" 1 "'$V' already exists"

run "$SDCTL" -a "$SHEEP" vdi create -b 20 "$V2" 512k
expect "create -b 20 with lower-case suffix" 0
raw_line "$V2" 0 && [[ $L_SHIFT == 20 && $L_SIZE == 524288 ]] &&
	pass "list -r shows block shift 20 and size 512k" ||
	fail "list -r shows block shift 20 and size 512k" "$(cat "$T_TMP/list")"

# resize: dog's rules (grow only, at most 2^20 objects), data kept, the
# new space usable
head -c 4096 /dev/urandom >"$T_TMP/rz"
run "$SDCTL" -a "$SHEEP" vdi write "$V2" 4096 <"$T_TMP/rz"
expect "resize: data before growing" 0
run "$SDCTL" -a "$SHEEP" vdi resize "$V2" 256k
expect "resize: shrinking exits 1" 1 "'$V2'.*shrinking is not supported"
run "$SDCTL" -a "$SHEEP" vdi resize "$V2" 2T
expect "resize: over 2^20 objects exits 1 with the maximum" 1 \
	"too large.*1099511627776"
run "$SDCTL" -a "$SHEEP" vdi resize "$(vdi_name nosuch)" 1M
expect "resize: missing VDI exits 1" 1 "nosuch"
run "$SDCTL" -a "$SHEEP" vdi resize "$V2" 512k
expect "resize: the same size is a no-op" 0
run "$SDCTL" -a "$SHEEP" vdi resize "$V2" 3M
expect "resize: grow 512k to 3M" 0
raw_line "$V2" 0 && [[ $L_SIZE == $((3 * MiB)) && $L_SHIFT == 20 ]] &&
	pass "resize: list -r shows the new size" ||
	fail "resize: list -r shows the new size" "$(cat "$T_TMP/list")"
"$SDCTL" -a "$SHEEP" vdi read "$V2" 4096 4096 >"$T_TMP/r" 2>"$ERR"
check "resize: old data intact" cmp -s "$T_TMP/rz" "$T_TMP/r"
run "$SDCTL" -a "$SHEEP" vdi write "$V2" $((2 * MiB)) <"$T_TMP/rz"
expect "resize: write into the new space" 0
"$SDCTL" -a "$SHEEP" vdi read "$V2" $((2 * MiB)) 4096 >"$T_TMP/r" 2>"$ERR"
check "resize: the new space reads back" cmp -s "$T_TMP/rz" "$T_TMP/r"
run "$SDCTL" -a "$SHEEP" vdi resize "$V2" 1T
expect "resize: up to exactly 2^20 objects" 0

run "$SDCTL" -a "$SHEEP" vdi create -b 22 "$V3" 5T
expect "create over 2^20 objects exits 1 with the maximum" 1 "too large.*4398046511104"
run "$SDCTL" -a "$SHEEP" vdi create -b 22 "$V3" 1T
expect "create 1T" 0
raw_line "$V3" 0 && [[ $L_SIZE == 1099511627776 ]] &&
	pass "size suffix T" || fail "size suffix T" "$(cat "$T_TMP/list")"
run "$SDCTL" -a "$SHEEP" vdi delete "$V3"
expect "delete a 1T VDI" 0

# data: write from stdin, read back
head -c $((5 * MiB)) /dev/urandom >"$T_TMP/f1"
head -c $((5 * MiB)) /dev/urandom >"$T_TMP/f2"
run "$SDCTL" -a "$SHEEP" vdi write "$V" 1M <"$T_TMP/f1"
expect "write from stdin at 1M" 0
"$SDCTL" -a "$SHEEP" vdi read "$V" 1M 5M >"$T_TMP/r1" 2>"$ERR"
check "read back equals what was written" cmp -s "$T_TMP/f1" "$T_TMP/r1"
"$SDCTL" -a "$SHEEP" vdi read "$V" 8M 1M >"$T_TMP/z" 2>"$ERR"
head -c $MiB /dev/zero >"$T_TMP/zero"
check "unwritten range reads as zeros" cmp -s "$T_TMP/zero" "$T_TMP/z"
"$SDCTL" -a "$SHEEP" vdi read "$V" >"$T_TMP/all" 2>"$ERR"
n=$(stat -c %s "$T_TMP/all")
if [[ $n == $((12 * MiB)) ]] &&
   cmp -s <(tail -c +$((MiB + 1)) "$T_TMP/all" | head -c $((5 * MiB))) "$T_TMP/f1" &&
   cmp -s <(head -c $MiB "$T_TMP/all") "$T_TMP/zero"; then
	pass "read of the whole VDI: size and contents"
else
	fail "read of the whole VDI: size and contents" "got $n bytes"
fi
"$SDCTL" -a "$SHEEP" vdi read "$V" 1M+0 >/dev/null 2>"$ERR"
RC=$?
expect "bad offset syntax exits 2" 2 "bad offset"

run "$SDCTL" -a "$SHEEP" vdi write "$V" 100 1000 <"$T_TMP/f2"
expect "write with LEN" 0
"$SDCTL" -a "$SHEEP" vdi read "$V" 100 1100 >"$T_TMP/r" 2>"$ERR"
if cmp -s <(head -c 1000 "$T_TMP/r") <(head -c 1000 "$T_TMP/f2") &&
   cmp -s <(tail -c 100 "$T_TMP/r") <(head -c 100 "$T_TMP/zero"); then
	pass "write with LEN stops after LEN bytes"
else
	fail "write with LEN stops after LEN bytes"
fi

run "$SDCTL" -a "$SHEEP" vdi write "$V" 11M 2M <"$T_TMP/f2"
expect "write range past the end exits 1" 1 "past the end"
run "$SDCTL" -a "$SHEEP" vdi write "$V" 11M <"$T_TMP/f2"
expect "write input longer than the VDI exits 1" 1 "longer than"
run "$SDCTL" -a "$SHEEP" vdi read "$V" 12M 1
expect "read past the end exits 1" 1 "past the end"
run "$SDCTL" -a "$SHEEP" vdi read "$V" 12M
expect "read at the end reads nothing" 0
[[ ! -s $OUT ]] && pass "read at the end: empty output" ||
	fail "read at the end: empty output"

# used objects: [0, 12M) was written at 100..1100, 1M..6M, 11M..12M
objs_in() { echo $(( (($2 - 1) >> SHIFT) - ($1 >> SHIFT) + 1 )); }
used_set=$(for r in "100 1100" "$MiB $((6 * MiB))" "$((11 * MiB)) $((12 * MiB))"; do
	set -- $r
	for ((o = $1 >> SHIFT; o <= ($2 - 1) >> SHIFT; o++)); do echo $o; done
done | sort -u | wc -l)
raw_line "$V" 0 && [[ $L_USED == $((used_set << SHIFT)) && $L_SHARED == 0 ]] &&
	pass "list -r: used counts written objects" ||
	fail "list -r: used counts written objects" "used $L_USED shared $L_SHARED, wanted $((used_set << SHIFT))"

# snapshot
run "$SDCTL" -a "$SHEEP" vdi snapshot -s snap1 "$V"
expect "snapshot -s snap1" 0
if raw_line "$V" 1 && [[ $L_TAG == '"snap1"' && $L_VID == "$VID0" &&
			  $L_USED == $((used_set << SHIFT)) ]]; then
	pass "list -r shows the snapshot with id 1, tag, old vid"
else
	fail "list -r shows the snapshot with id 1, tag, old vid" "$(cat "$T_TMP/list")"
fi
if raw_line "$V" 0 && [[ $L_VID != "$VID0" && $L_USED == 0 &&
			  $L_SHARED == $((used_set << SHIFT)) ]]; then
	pass "working VDI moved to a new vid, sharing every object"
else
	fail "working VDI moved to a new vid, sharing every object" "$(cat "$T_TMP/list")"
fi
run "$SDCTL" -a "$SHEEP" vdi list
grep -qE "^$V +1 .* snap1 " "$OUT" && pass "list table shows the snapshot" ||
	fail "list table shows the snapshot" "$(cat "$OUT")"
run "$SDCTL" -a "$SHEEP" vdi snapshot -s snap1 "$V"
expect "snapshot with an existing tag exits 1" 1 "snap1.*exists"
run "$SDCTL" -a "$SHEEP" vdi snapshot "$V"
expect "snapshot without a tag" 0
raw_line "$V" 2 && [[ $L_TAG == '""' ]] && pass "untagged snapshot has id 2" ||
	fail "untagged snapshot has id 2" "$(cat "$T_TMP/list")"

# overwrite the working VDI; snapshots keep the old data
run "$SDCTL" -a "$SHEEP" vdi write "$V" 1M <"$T_TMP/f2"
expect "write the working VDI after snapshots" 0
"$SDCTL" -a "$SHEEP" vdi read "$V" 1M 5M >"$T_TMP/r" 2>"$ERR"
check "working VDI reads the new data" cmp -s "$T_TMP/f2" "$T_TMP/r"
"$SDCTL" -a "$SHEEP" vdi read -s snap1 "$V" 1M 5M >"$T_TMP/r" 2>"$ERR"
check "read -s TAG reads the snapshot" cmp -s "$T_TMP/f1" "$T_TMP/r"
"$SDCTL" -a "$SHEEP" vdi read -s 1 "$V" 1M 5M >"$T_TMP/r" 2>"$ERR"
check "read -s SNAPID reads the snapshot" cmp -s "$T_TMP/f1" "$T_TMP/r"
run "$SDCTL" -a "$SHEEP" vdi read -s nosuchtag "$V"
expect "read of a missing tag exits 1" 1 "$V"
run "$SDCTL" -a "$SHEEP" vdi write -s snap1 "$V"
expect "write has no -s option (exit 2)" 2 "unknown option"

# clone
run "$SDCTL" -a "$SHEEP" vdi clone -s snap1 "$V" "$C"
expect "clone -s TAG" 0
raw_line "$C" 0 && [[ $L_SIZE == $((12 * MiB)) && $L_USED == 0 &&
		     $L_SHARED == $((used_set << SHIFT)) ]] &&
	pass "list -r shows the clone sharing the snapshot's objects" ||
	fail "list -r shows the clone sharing the snapshot's objects" "$(cat "$T_TMP/list")"
"$SDCTL" -a "$SHEEP" vdi read "$C" 1M 5M >"$T_TMP/r" 2>"$ERR"
check "clone reads the snapshot's data" cmp -s "$T_TMP/f1" "$T_TMP/r"
run "$SDCTL" -a "$SHEEP" vdi clone -s 1 "$V" "$C"
expect "clone onto an existing VDI exits 1" 1 "'$C' already exists"
run "$SDCTL" -a "$SHEEP" vdi clone -s nosuchtag "$V" "$(vdi_name other)"
expect "clone of a missing snapshot exits 1" 1 "$V"

# -t: a request the sheep does not answer fails after the timeout
if own_sheep; then
	"$MINISHEEP" --ctl "$SHEEP_CTL" stall on >/dev/null
	run timeout 10 "$SDCTL" -a "$SHEEP" -t 1 vdi list
	expect "-t 1 against a stalled sheep exits 1 after the timeout" 1 "tim"
	run timeout 10 "$SDCTL" -a "$SHEEP" -t 1 vdi delete "$V"
	expect "timeout message names the VDI" 1 "'$V'.*tim"
	"$MINISHEEP" --ctl "$SHEEP_CTL" stall off >/dev/null
	raw_line "$V" 0 && pass "VDI still there after the timed-out delete" ||
		fail "VDI still there after the timed-out delete" "$(cat "$T_TMP/list")"
else
	skip "-t 1 against a stalled sheep exits 1 after the timeout" "external sheep"
fi

# a failed snapshot reports the sheep's reason and leaves no tag behind
if own_sheep; then
	"$MINISHEEP" --ctl "$SHEEP_CTL" error NEW_VDI FULL_VDI 1 >/dev/null
	run "$SDCTL" -a "$SHEEP" vdi snapshot -s t1 "$V2"
	expect "snapshot refused by the sheep exits 1 with its reason" 1 "'$V2'.*maximum VDIs"
	raw_line "$V2" 0 && [[ $L_TAG == '""' ]] &&
		pass "failed snapshot leaves the working VDI untagged" ||
		fail "failed snapshot leaves the working VDI untagged" "$(cat "$T_TMP/list")"
	raw_line "$V2" 1 && fail "failed snapshot created nothing" "$(cat "$T_TMP/list")" ||
		pass "failed snapshot created nothing"
fi

# delete
run "$SDCTL" -a "$SHEEP" vdi delete -s snap1 "$V"
expect "delete snapshot by tag" 0
raw_line "$V" 1 && fail "deleted snapshot is gone from the list" "$(cat "$T_TMP/list")" ||
	pass "deleted snapshot is gone from the list"
"$SDCTL" -a "$SHEEP" vdi read "$C" 1M 5M >"$T_TMP/r" 2>"$ERR"
check "clone keeps its data after the snapshot is deleted" cmp -s "$T_TMP/f1" "$T_TMP/r"
run "$SDCTL" -a "$SHEEP" vdi delete -s 2 "$V"
expect "delete snapshot by id" 0
run "$SDCTL" -a "$SHEEP" vdi delete "$V"
expect "delete working VDI" 0
raw_line "$V" 0 && fail "deleted VDI is gone from the list" "$(cat "$T_TMP/list")" ||
	pass "deleted VDI is gone from the list"
run "$SDCTL" -a "$SHEEP" vdi read "$V"
expect "read of a deleted VDI exits 1 with 'No VDI found'" 1 "'$V'.*no vdi"
run "$SDCTL" -a "$SHEEP" vdi delete "$V"
expect "delete of a missing VDI exits 1" 1 "'$V'.*no vdi"
run "$SDCTL" -a "$SHEEP" vdi snapshot -s x "$V"
expect "snapshot of a missing VDI exits 1" 1 "'$V'.*no vdi"
run "$SDCTL" -a "$SHEEP" vdi delete "$C"
expect "delete the clone" 0
run "$SDCTL" -a "$SHEEP" vdi delete "$V2"
expect "delete the second VDI" 0

# delete zeroes the index in batches of at most 128 entries (dog's way):
# 130 allocated objects take exactly 2 index writes
if own_sheep; then
	B=$(vdi_name batch)
	stat_of() {
		"$MINISHEEP" --ctl "$SHEEP_CTL" stats | tr ' ' '\n' |
			sed -n "s/^$1=//p" | grep . || echo 0
	}
	run "$SDCTL" -a "$SHEEP" vdi create -b 20 "$B" 130M
	expect "batch: create 130 x 1 MiB objects VDI" 0
	yes | head -c $((130 * MiB)) |
		timeout 30 "$SDCTL" -a "$SHEEP" vdi write "$B" 2>"$ERR"
	RC=$?
	expect "batch: fill every object" 0
	raw_line "$B" 0 && [[ $L_USED == $((130 * MiB)) ]] &&
		pass "batch: 130 objects used" ||
		fail "batch: 130 objects used" "$(cat "$T_TMP/list")"
	w0=$(stat_of WRITE_OBJ)
	run "$SDCTL" -a "$SHEEP" vdi delete "$B"
	expect "batch: delete" 0
	w1=$(stat_of WRITE_OBJ)
	(( w1 - w0 == 2 )) && pass "batch: delete zeroed the index in 2 writes" ||
		fail "batch: delete zeroed the index in 2 writes" "$((w1 - w0)) WRITE_OBJ"
	raw_line "$B" 0 && fail "batch: VDI gone" "$(cat "$T_TMP/list")" ||
		pass "batch: VDI gone"
fi

exit $T_FAILED
