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
	((rc == 0)) && ! grep -q -i -E 'fail|error' <<<"$out" && return 0
	echo "$out"
	return 1
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
check nbd_qemu_io_patterns serve vdi="$V" -- qemu_io \
	-c "write -P 0xa5 $A_OFF $A_LEN" \
	-c "write -f -P 0x5a $B_OFF $B_LEN" \
	-c "read -P 0xa5 $A_OFF $A_LEN" \
	-c "read -P 0x5a $B_OFF $B_LEN" \
	-c "read -P 0 $((A_OFF - 512)) 512" \
	-c "read -P 0 $((A_OFF + A_LEN)) 512" \
	"$URI"
sees_patterns() {
	sdctl_is "$V" "$A_OFF" "$A_LEN" 245 &&
		sdctl_is "$V" "$B_OFF" "$B_LEN" 132 &&
		sdctl_is "$V" $((A_OFF - 512)) 512 0 &&
		sdctl_is "$V" $((A_OFF + A_LEN)) 512 0 &&
		sdctl_is "$V" $((B_OFF + B_LEN)) 4096 0 && return 0
	echo "sdctl vdi read does not show what qemu-io wrote"
	return 1
}
check nbd_sdctl_sees_patterns sees_patterns

# ---- export properties ----------------------------------------------------
serve vdi="$V" -- nbdinfo "$URI" >"$T_TMP/info" 2>&1
check nbd_export_info has_lines "$T_TMP/info" "export-size: $SIZE" \
	'can_multi_conn: true' 'is_read_only: false' 'can_fua: true' \
	'can_trim: true' 'can_zero: true' 'block_size_minimum: 512$' \
	"block_size_preferred: $OBJ\$" 'block_size_maximum: 33554432$'

# ---- allocation map -------------------------------------------------------
# nbdinfo --map lines: START LENGTH TYPE DESCRIPTION (type 0 data, 3 hole)
map_of() { serve "$@" -- nbdinfo --map "$URI" | awk '{print $1, $2, $3}' | tr '\n' ';'; }
want="0 $((2 * OBJ)) 0;$((2 * OBJ)) $OBJ 3;$((3 * OBJ)) $((2 * OBJ)) 0;$((5 * OBJ)) $((SIZE - 5 * OBJ)) 3;"
got=$(map_of vdi="$V")
check nbd_map_holes_and_data want "$got" == "$want" "map '$got', expected '$want'"

# ---- nbdcopy out to a file and back into another VDI ---------------------
IMG=$T_TMP/img.raw IMG2=$T_TMP/img2.raw
if serve vdi="$V" -- nbdcopy --connections=4 "$URI" "$IMG" &&
   serve vdi="$V2" -- nbdcopy "$IMG" "$URI" &&
   serve vdi="$V2" -- nbdcopy "$URI" "$IMG2"; then
	s1=$(sha256sum <"$IMG") s2=$(sha256sum <"$IMG2")
	copies_equal() {
		[[ $(stat -c %s "$IMG") == "$SIZE" && $s1 == "$s2" ]] &&
			cmp -s <(tail -c +$((A_OFF + 1)) "$IMG" | head -c "$A_LEN") \
				<(pattern 245 "$A_LEN") && return 0
		echo "copies differ or lack the data ($s1 / $s2)"
		return 1
	}
	check nbd_nbdcopy_roundtrip copies_equal
	check nbd_nbdcopy_target_on_sheep sdctl_is "$V2" "$B_OFF" "$B_LEN" 132
else
	fail nbd_nbdcopy_roundtrip "nbdcopy failed"
fi

# ---- trim -----------------------------------------------------------------
# whole object 1 (holds A's tail) and 512 bytes of B's head in object 3
check nbd_trim_reads_zeros serve vdi="$V" -- qemu_io -d unmap \
	-c "discard $OBJ $OBJ" \
	-c "discard $B_OFF 512" \
	-c "read -P 0 $OBJ $OBJ" \
	-c "read -P 0 $B_OFF 512" \
	-c "read -P 0xa5 $A_OFF 4096" \
	-c "read -P 0x5a $((B_OFF + 512)) $((B_LEN - 512))" \
	"$URI"
trimmed_on_sheep() {
	sdctl_is "$V" "$OBJ" 4096 0 && sdctl_is "$V" "$B_OFF" 512 0 &&
		sdctl_is "$V" "$A_OFF" 4096 245 && return 0
	echo "sdctl vdi read after trim is not zeros"
	return 1
}
check nbd_trim_on_sheep trimmed_on_sheep
want="0 $OBJ 0;$OBJ $((2 * OBJ)) 3;$((3 * OBJ)) $((2 * OBJ)) 0;$((5 * OBJ)) $((SIZE - 5 * OBJ)) 3;"
got=$(map_of vdi="$V")
check nbd_trim_deallocates want "$got" == "$want" "map '$got', expected '$want'"

# ---- $SHEEP_ADDR is the default address ------------------------------------
out=$(SHEEP_ADDR=$SHEEP "${NBDKIT[@]}" -U - "$PLUGIN" vdi="$V" \
	--run "$UNPRELOAD"'nbdinfo --size "$uri"' 2>&1)
check nbd_sheep_addr_env want "$?:$out" == "0:$SIZE" \
	"without addr=, \$SHEEP_ADDR was not used: $out"

# ---- several addr=: the first is dead, the next one serves -----------------
out=$("${NBDKIT[@]}" -U - "$PLUGIN" vdi="$V" \
	addr="unix:$T_TMP/no-such-sheep.sock" addr="$SHEEP" \
	--run "$UNPRELOAD"'nbdinfo --size "$uri"' 2>&1)
check nbd_addr_failover want "$?:$out" == "0:$SIZE" \
	"second addr= was not used after the first failed: $out"

# ---- locking ----------------------------------------------------------------
# second_open ARGS: another nbdkit on the same VDI; prints its output
second_open() {
	"${NBDKIT[@]}" -U - "$PLUGIN" addr="$SHEEP" vdi="$V" "$@" \
		--run "${UNPRELOAD}true" 2>&1
}
if own_sheep; then
	check nbd_lock_excludes_second_server \
		fails_saying "VDI '$V' is already locked by pid" \
		serve vdi="$V" -- second_open
	# on the same host the refusal names the live holder's pid
	check nbd_lock_none serve vdi="$V" lock=none -- second_open lock=normal
	# the lock is gone once nbdkit has exited
	served_then_open() { serve vdi="$V" -- true && second_open; }
	check nbd_lock_released served_then_open
else
	skip nbd_lock "external sheep may not lock"
fi

# ---- read-only snapshot export ------------------------------------------
if sdctl vdi snapshot -s snap1 "$V"; then
	# change the working VDI after the snapshot
	serve vdi="$V" -- qemu_io -c "write -P 0x77 $A_OFF 4096" "$URI" ||
		fail nbd_write_after_snapshot "qemu-io write to working VDI failed"
	old_and_new() {
		serve vdi="$V" snapshot=snap1 -- qemu_io -r \
			-c "read -P 0xa5 $A_OFF 4096" \
			-c "read -P 0x5a $((B_OFF + 512)) $((B_LEN - 512))" "$URI" &&
			serve vdi="$V" -- qemu_io -r -c "read -P 0x77 $A_OFF 4096" "$URI"
	}
	check nbd_snapshot_reads_old_data old_and_new
	out=$(serve vdi="$V" snapshot=snap1 -- \
		qemu-io -f raw -c "write -P 0x11 $A_OFF 512" "$URI" 2>&1)
	rc=$?
	info=$(serve vdi="$V" snapshot=snap1 -- nbdinfo "$URI" 2>&1)
	refused() {
		((rc != 0)) && grep -q 'is_read_only: true' <<<"$info" &&
			sdctl_is "$V" "$A_OFF" 512 245 -s snap1 && return 0
		echo "rc=$rc: $out / $(tr '\n\t' '  ' <<<"$info")"
		return 1
	}
	check nbd_snapshot_refuses_writes refused
	# the same snapshot by id (the first snapshot of a VDI has id 1)
	check nbd_snapshot_by_id serve vdi="$V" snapshot=1 -- qemu_io -r \
		-c "read -P 0xa5 $A_OFF 4096" "$URI"
	# writes with nbdkit's own -r are refused too, reads still work
	out=$("${NBDKIT[@]}" -r -U - "$PLUGIN" addr="$SHEEP" vdi="$V" \
		--run "$UNPRELOAD"'qemu-io -f raw -c "write 0 512" "$uri"' 2>&1)
	rc=$?
	check nbd_readonly_flag want "$((rc != 0)):$(sdctl_is "$V" 0 512 0 && echo zeros)" \
		== "1:zeros" "nbdkit -r accepted a write: $out"
else
	fail nbd_snapshot "sdctl vdi snapshot failed"
fi

# ---- help -----------------------------------------------------------------
help=$("${NBDKIT[@]}" "$PLUGIN" --help 2>&1)
dump=$("${NBDKIT[@]}" "$PLUGIN" --dump-plugin 2>&1)
echo "$help" >"$T_TMP/help"
echo "$dump" >"$T_TMP/dump"
help_and_dump() {
	has_lines "$T_TMP/help" ^vdi= ^addr= ^fallback= ^snapshot= ^timeout= \
		^connections= ^lock= &&
		has_lines "$T_TMP/dump" '^thread_model=parallel' \
			'^magic_config_key=vdi'
}
check nbd_help_and_dump help_and_dump

# ---- bad parameters: nbdkit refuses to start with one clear line ----------
# bad_param NAME EXPECTED-TEXT ARGS...
bad_param() {
	local name=$1 want=$2 out rc nerr
	shift 2
	out=$("${NBDKIT[@]}" -U - "$PLUGIN" "$@" \
		--run "${UNPRELOAD}echo SERVED" 2>&1)
	rc=$?
	nerr=$(grep -c 'error:' <<<"$out")
	check "nbd_bad_$name" one_error "$rc" "$nerr" "$want" "$out"
}
# one_error RC NERR WANT OUT: refused (not served) with one error line
# holding WANT
one_error() {
	(($1 != 0 && $2 == 1)) && ! grep -q SERVED <<<"$4" &&
		grep -q -F -- "$3" <<<"$4" && return 0
	echo "rc=$1, wanted one error with '$3': $4"
	return 1
}
bad_param missing_vdi "missing vdi=" addr="$SHEEP"
bad_param unknown_key "unknown parameter 'colour'" vdi="$V" addr="$SHEEP" colour=red
bad_param timeout_word "bad timeout" vdi="$V" addr="$SHEEP" timeout=soon
bad_param timeout_zero "bad timeout" vdi="$V" addr="$SHEEP" timeout=0
bad_param connections_zero "bad number of connections" vdi="$V" addr="$SHEEP" connections=0
bad_param connections_big "bad number of connections" vdi="$V" addr="$SHEEP" connections=65
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
