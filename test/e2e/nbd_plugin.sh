#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd_plugin.sh - end-to-end test of the nbdkit sheepdog plugin: qemu-io
# patterns across object boundaries checked again with sdctl, nbdcopy of a
# whole VDI out and back into another VDI, the allocation map (nbdinfo
# --map), trim, read-only snapshot exports, $SHEEP_ADDR as the default
# address, VDI locking, and the start-up errors for bad parameters.  nbdkit
# runs in the foreground on a unix socket (-f -U) and is stopped by pid, or
# in captive mode (-U - --run) where it exits with its command.
source "$(dirname "$0")/../lib.sh"

PLUGIN=${NBD_PLUGIN:-$TOP/build/lib/nbdkit-sheepdog-plugin.so}	# or an installed one
MIB=1048576
OBJ=$((4 * MIB))	# minisheep's default object size (block shift 22)
SIZE=$((64 * MIB))

missing=
for tool in nbdkit nbdinfo nbdcopy qemu-io sha256sum; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
if [[ -n $missing ]]; then
	skip nbd_plugin "missing:$missing"
	exit 0
fi
if [[ ! -f $PLUGIN || ! -x $SDCTL ]]; then
	fail nbd_plugin "build first: $PLUGIN and $SDCTL are needed"
	exit 1
fi

# How to run nbdkit: with the preload hook of test/lib.sh (make check-asan).
# nbdkit passes its environment on to its --run command, which therefore
# starts with $UNPRELOAD.
NBDKIT=("${T_PRELOAD_ENV[@]}" nbdkit)
UNPRELOAD=
[[ -n ${T_PRELOAD:-} ]] && UNPRELOAD='env -u LD_PRELOAD '

# Own minisheep with locking on, so lock=normal is really exercised.
sheep_addr --lock || { fail nbd_plugin "cannot start minisheep"; exit 1; }

sdctl() { "$SDCTL" -a "$SHEEP" "$@"; }

NBD_SOCK=$T_TMP/nbd.sock
URI="nbd+unix:///?socket=$NBD_SOCK"
# start_nbd ARGS...: nbdkit in the background serving $URI
start_nbd() { nbdkit_start "$NBD_SOCK" "$PLUGIN" addr="$SHEEP" "$@"; }
on_exit nbdkit_stop

# serve ARGS... -- CMD...: run CMD (which uses $URI) against an nbdkit
# started with ARGS; returns CMD's status
serve() {
	local args=() rc
	while [[ $1 != -- ]]; do args+=("$1"); shift; done
	shift
	start_nbd "${args[@]}" || return 1
	"$@"
	rc=$?
	nbdkit_stop
	return $rc
}

# expected bytes: pattern OCTAL LEN ('0' for zeros)
pattern() { head -c "$2" /dev/zero | tr '\0' "\\$1"; }

# sdctl_is NAME OFF LEN OCTAL [-s SNAP]: sheep holds that pattern there
sdctl_is() {
	local name=$1 off=$2 len=$3 oct=$4
	shift 4
	cmp -s <(sdctl vdi read "$@" "$name" "$off" "$len") <(pattern "$oct" "$len")
}

# qemu_io URI_ARGS: run qemu-io commands; fails on any failed command or
# pattern mismatch
qemu_io() {
	local out rc
	out=$(qemu-io -f raw "$@" 2>&1)
	rc=$?
	echo "$out" >>"$T_TMP/qemu-io.log"
	((rc == 0)) && ! grep -q -i -E 'fail|error' <<<"$out"
}

V=$(vdi_name nbd)
V2=$(vdi_name nbd2)
# (on an external cluster, t_delete_vdis in lib.sh deletes both at exit)
if ! sdctl vdi create "$V" "$SIZE" || ! sdctl vdi create "$V2" "$SIZE"; then
	fail nbd_create "sdctl vdi create failed"
	exit 1
fi

# ---- patterns across object boundaries ----------------------------------
# A: 8 KiB of 0xa5 across the object 0/1 boundary;
# B: 1 MiB + 1 KiB of 0x5a (written with FUA) across the object 3/4 boundary.
A_OFF=$((OBJ - 4096)) A_LEN=8192
B_OFF=$((4 * OBJ - 512)) B_LEN=$((MIB + 1024))
if serve vdi="$V" -- qemu_io \
	-c "write -P 0xa5 $A_OFF $A_LEN" \
	-c "write -f -P 0x5a $B_OFF $B_LEN" \
	-c "read -P 0xa5 $A_OFF $A_LEN" \
	-c "read -P 0x5a $B_OFF $B_LEN" \
	-c "read -P 0 $((A_OFF - 512)) 512" \
	-c "read -P 0 $((A_OFF + A_LEN)) 512" \
	"$URI"; then
	pass nbd_qemu_io_patterns
else
	fail nbd_qemu_io_patterns "qemu-io write/read-back failed"
	cat "$T_TMP/qemu-io.log" "$T_TMP/nbdkit.log" >&2
fi
if sdctl_is "$V" "$A_OFF" "$A_LEN" 245 &&
   sdctl_is "$V" "$B_OFF" "$B_LEN" 132 &&
   sdctl_is "$V" $((A_OFF - 512)) 512 0 &&
   sdctl_is "$V" $((A_OFF + A_LEN)) 512 0 &&
   sdctl_is "$V" $((B_OFF + B_LEN)) 4096 0; then
	pass nbd_sdctl_sees_patterns
else
	fail nbd_sdctl_sees_patterns "sdctl vdi read does not show what qemu-io wrote"
fi

# ---- export properties ----------------------------------------------------
info=$(serve vdi="$V" -- nbdinfo "$URI" 2>&1)
if grep -q "export-size: $SIZE" <<<"$info" &&
   grep -q 'can_multi_conn: true' <<<"$info" &&
   grep -q 'is_read_only: false' <<<"$info" &&
   grep -q 'can_fua: true' <<<"$info" &&
   grep -q 'can_trim: true' <<<"$info" &&
   grep -q 'can_zero: true' <<<"$info" &&
   grep -q 'block_size_minimum: 512$' <<<"$info" &&
   grep -q "block_size_preferred: $OBJ\$" <<<"$info" &&
   grep -q 'block_size_maximum: 33554432$' <<<"$info"; then
	pass nbd_export_info
else
	fail nbd_export_info "unexpected nbdinfo output: $(tr '\n\t' '  ' <<<"$info")"
fi

# ---- allocation map -------------------------------------------------------
# nbdinfo --map lines: START LENGTH TYPE DESCRIPTION (type 0 data, 3 hole)
map_of() { serve "$@" -- nbdinfo --map "$URI" | awk '{print $1, $2, $3}' | tr '\n' ';'; }
want="0 $((2 * OBJ)) 0;$((2 * OBJ)) $OBJ 3;$((3 * OBJ)) $((2 * OBJ)) 0;$((5 * OBJ)) $((SIZE - 5 * OBJ)) 3;"
got=$(map_of vdi="$V")
if [[ $got == "$want" ]]; then
	pass nbd_map_holes_and_data
else
	fail nbd_map_holes_and_data "map '$got', expected '$want'"
fi

# ---- nbdcopy out to a file and back into another VDI ---------------------
IMG=$T_TMP/img.raw IMG2=$T_TMP/img2.raw
if serve vdi="$V" -- nbdcopy --connections=4 "$URI" "$IMG" &&
   serve vdi="$V2" -- nbdcopy "$IMG" "$URI" &&
   serve vdi="$V2" -- nbdcopy "$URI" "$IMG2"; then
	s1=$(sha256sum <"$IMG") s2=$(sha256sum <"$IMG2")
	if [[ $(stat -c %s "$IMG") == "$SIZE" && $s1 == "$s2" ]] &&
	   cmp -s <(tail -c +$((A_OFF + 1)) "$IMG" | head -c "$A_LEN") \
		  <(pattern 245 "$A_LEN"); then
		pass nbd_nbdcopy_roundtrip
	else
		fail nbd_nbdcopy_roundtrip "copies differ or lack the data ($s1 / $s2)"
	fi
	if sdctl_is "$V2" "$B_OFF" "$B_LEN" 132; then
		pass nbd_nbdcopy_target_on_sheep
	else
		fail nbd_nbdcopy_target_on_sheep "second VDI lacks pattern B on sheep"
	fi
else
	fail nbd_nbdcopy_roundtrip "nbdcopy failed"
fi

# ---- trim -----------------------------------------------------------------
# whole object 1 (holds A's tail) and 512 bytes of B's head in object 3
if serve vdi="$V" -- qemu_io -d unmap \
	-c "discard $OBJ $OBJ" \
	-c "discard $B_OFF 512" \
	-c "read -P 0 $OBJ $OBJ" \
	-c "read -P 0 $B_OFF 512" \
	-c "read -P 0xa5 $A_OFF 4096" \
	-c "read -P 0x5a $((B_OFF + 512)) $((B_LEN - 512))" \
	"$URI"; then
	pass nbd_trim_reads_zeros
else
	fail nbd_trim_reads_zeros "qemu-io discard/read failed"
	tail -n 20 "$T_TMP/qemu-io.log" "$T_TMP/nbdkit.log" >&2
fi
if sdctl_is "$V" "$OBJ" 4096 0 && sdctl_is "$V" "$B_OFF" 512 0 &&
   sdctl_is "$V" "$A_OFF" 4096 245; then
	pass nbd_trim_on_sheep
else
	fail nbd_trim_on_sheep "sdctl vdi read after trim is not zeros"
fi
want="0 $OBJ 0;$OBJ $((2 * OBJ)) 3;$((3 * OBJ)) $((2 * OBJ)) 0;$((5 * OBJ)) $((SIZE - 5 * OBJ)) 3;"
got=$(map_of vdi="$V")
if [[ $got == "$want" ]]; then
	pass nbd_trim_deallocates
else
	fail nbd_trim_deallocates "map '$got', expected '$want'"
fi

# ---- $SHEEP_ADDR is the default address ------------------------------------
if out=$(SHEEP_ADDR=$SHEEP "${NBDKIT[@]}" -U - "$PLUGIN" vdi="$V" \
		--run "$UNPRELOAD"'nbdinfo --size "$uri"' 2>&1) &&
   [[ $out == "$SIZE" ]]; then
	pass nbd_sheep_addr_env
else
	fail nbd_sheep_addr_env "without addr=, \$SHEEP_ADDR was not used: $out"
fi

# ---- several addr=: the first is dead, the next one serves -----------------
if out=$("${NBDKIT[@]}" -U - "$PLUGIN" vdi="$V" \
		addr="unix:$T_TMP/no-such-sheep.sock" addr="$SHEEP" \
		--run "$UNPRELOAD"'nbdinfo --size "$uri"' 2>&1) &&
   [[ $out == "$SIZE" ]]; then
	pass nbd_addr_failover
else
	fail nbd_addr_failover "second addr= was not used after the first failed: $out"
fi

# ---- locking ----------------------------------------------------------------
# second_open ARGS: another nbdkit on the same VDI; prints its output
second_open() {
	"${NBDKIT[@]}" -U - "$PLUGIN" addr="$SHEEP" vdi="$V" "$@" \
		--run "${UNPRELOAD}true" 2>&1
}
if own_sheep; then
	out=$(serve vdi="$V" -- second_open)
	rc=$?
	# on the same host the refusal names the live holder's pid
	if ((rc != 0)) && grep -q "VDI '$V' is already locked by pid" <<<"$out"; then
		pass nbd_lock_excludes_second_server
	else
		fail nbd_lock_excludes_second_server "second nbdkit on a locked VDI: rc=$rc $out"
	fi
	if out=$(serve vdi="$V" lock=none -- second_open lock=normal); then
		pass nbd_lock_none
	else
		fail nbd_lock_none "lock=none server kept another opener out: $out"
	fi
	# the lock is gone once nbdkit has exited
	if out=$(serve vdi="$V" -- true && second_open); then
		pass nbd_lock_released
	else
		fail nbd_lock_released "VDI still locked after nbdkit exited: $out"
	fi
else
	skip nbd_lock "external sheep may not lock"
fi

# ---- read-only snapshot export ------------------------------------------
if sdctl vdi snapshot -s snap1 "$V"; then
	# change the working VDI after the snapshot
	serve vdi="$V" -- qemu_io -c "write -P 0x77 $A_OFF 4096" "$URI" ||
		fail nbd_write_after_snapshot "qemu-io write to working VDI failed"
	if serve vdi="$V" snapshot=snap1 -- qemu_io -r \
		-c "read -P 0xa5 $A_OFF 4096" \
		-c "read -P 0x5a $((B_OFF + 512)) $((B_LEN - 512))" "$URI" &&
	   serve vdi="$V" -- qemu_io -r -c "read -P 0x77 $A_OFF 4096" "$URI"; then
		pass nbd_snapshot_reads_old_data
	else
		fail nbd_snapshot_reads_old_data "snapshot export does not show the old data"
	fi
	out=$(serve vdi="$V" snapshot=snap1 -- \
		qemu-io -f raw -c "write -P 0x11 $A_OFF 512" "$URI" 2>&1)
	rc=$?
	info=$(serve vdi="$V" snapshot=snap1 -- nbdinfo "$URI" 2>&1)
	if ((rc != 0)) && grep -q 'is_read_only: true' <<<"$info" &&
	   sdctl_is "$V" "$A_OFF" 512 245 -s snap1; then
		pass nbd_snapshot_refuses_writes
	else
		fail nbd_snapshot_refuses_writes "rc=$rc: $out / $(tr '\n\t' '  ' <<<"$info")"
	fi
	# the same snapshot by id (the first snapshot of a VDI has id 1)
	if serve vdi="$V" snapshot=1 -- qemu_io -r \
		-c "read -P 0xa5 $A_OFF 4096" "$URI"; then
		pass nbd_snapshot_by_id
	else
		fail nbd_snapshot_by_id "snapshot=1 does not read the snapshot"
	fi
	# writes with nbdkit's own -r are refused too, reads still work
	out=$("${NBDKIT[@]}" -r -U - "$PLUGIN" addr="$SHEEP" vdi="$V" \
		--run "$UNPRELOAD"'qemu-io -f raw -c "write 0 512" "$uri"' 2>&1)
	rc=$?
	if ((rc != 0)) && sdctl_is "$V" 0 512 0; then
		pass nbd_readonly_flag
	else
		fail nbd_readonly_flag "nbdkit -r accepted a write: $out"
	fi
else
	fail nbd_snapshot "sdctl vdi snapshot failed"
fi

# ---- help -----------------------------------------------------------------
help=$("${NBDKIT[@]}" "$PLUGIN" --help 2>&1)
dump=$("${NBDKIT[@]}" "$PLUGIN" --dump-plugin 2>&1)
ok=1
for key in vdi addr fallback snapshot timeout connections lock; do
	grep -q "^$key=" <<<"$help" || { ok=0; echo "help lacks $key=" >&2; }
done
if ((ok)) && grep -q '^thread_model=parallel' <<<"$dump" &&
   grep -q '^magic_config_key=vdi' <<<"$dump"; then
	pass nbd_help_and_dump
else
	fail nbd_help_and_dump "help or --dump-plugin incomplete"
fi

# ---- bad parameters: nbdkit refuses to start with one clear line ----------
# bad_param NAME EXPECTED-TEXT ARGS...
bad_param() {
	local name=$1 want=$2 out rc nerr
	shift 2
	out=$("${NBDKIT[@]}" -U - "$PLUGIN" "$@" \
		--run "${UNPRELOAD}echo SERVED" 2>&1)
	rc=$?
	nerr=$(grep -c 'error:' <<<"$out")
	if ((rc != 0)) && ! grep -q SERVED <<<"$out" && ((nerr == 1)) &&
	   grep -q -F -- "$want" <<<"$out"; then
		pass "nbd_bad_$name"
	else
		fail "nbd_bad_$name" "rc=$rc, wanted one error with '$want': $out"
	fi
}
bad_param missing_vdi "missing vdi=" addr="$SHEEP"
bad_param unknown_key "unknown parameter 'colour'" vdi="$V" addr="$SHEEP" colour=red
bad_param timeout_word "bad timeout" vdi="$V" addr="$SHEEP" timeout=soon
bad_param timeout_zero "bad timeout" vdi="$V" addr="$SHEEP" timeout=0
bad_param connections_zero "bad number of connections" vdi="$V" addr="$SHEEP" connections=0
bad_param connections_big "bad number of connections" vdi="$V" addr="$SHEEP" connections=33
bad_param connections_word "bad number of connections" vdi="$V" addr="$SHEEP" connections=two
bad_param address "bad address 'tcp:127.0.0.1:99999'" vdi="$V" addr=tcp:127.0.0.1:99999
bad_param address_kind "bad address 'nbd:foo'" vdi="$V" addr=nbd:foo
bad_param fallback "bad address 'tcp:'" vdi="$V" addr="$SHEEP" fallback=tcp:
bad_param nine_addrs "at most 8 addresses" vdi="$V" addr="$SHEEP" \
	fallback="$SHEEP" fallback="$SHEEP" fallback="$SHEEP" fallback="$SHEEP" \
	fallback="$SHEEP" fallback="$SHEEP" fallback="$SHEEP" fallback="$SHEEP"
bad_param lock_mode "bad lock mode" vdi="$V" addr="$SHEEP" lock=maybe
bad_param snapshot_id "bad snapshot id" vdi="$V" addr="$SHEEP" snapshot=0
SHEEP_ADDR=nbd:foo bad_param env_addr "\$SHEEP_ADDR: bad address 'nbd:foo'" vdi="$V"
bad_param no_such_vdi "nosuch-$V" vdi="nosuch-$V" addr="$SHEEP"
bad_param no_such_tag "$V" vdi="$V" addr="$SHEEP" snapshot=nosuchtag
bad_param unreachable "$T_TMP/nosock" vdi="$V" addr="unix:$T_TMP/nosock"

exit 0
