#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd_load.sh - build/test/tools/nbd_load (the benchmark's NBD load
# generator) against nbdkit with our plugin on a 16 MiB VDI: one --once
# pass of 1 MiB writes fills the VDI (exactly 16 requests, and sdctl reads
# the slots' non-zero pattern back), 1 s of 4 KiB random reads and a short
# random write run over the first 1 MiB print load_common.h's result line
# with every field and some I/O; the failures each end with one error line
# and exit status 1: a bad URI, a server that cannot be reached, a command
# the server fails (nbdkit's error filter), a write to a read-only export
# and the server going away in the middle of a run.
source "$(dirname "$0")/../lib.sh"

PLUGIN=${NBD_PLUGIN:-$TOP/build/lib/nbdkit-sheepdog-plugin.so}
NBD_LOAD=$TOP/build/test/tools/nbd_load
MIB=1048576
SIZE=$((16 * MIB))

if ! command -v nbdkit >/dev/null; then
	skip nbd_load "missing: nbdkit"
	exit 0
fi
if ! "$NBD_LOAD" --help >/dev/null 2>&1; then
	skip nbd_load "nbd_load is a stub: install libnbd-dev and rebuild"
	exit 0
fi
if [[ ! -f $PLUGIN || ! -x $SDCTL ]]; then
	fail nbd_load "build first: $PLUGIN and $SDCTL are needed"
	exit 1
fi
sheep_addr || { fail nbd_load "cannot start minisheep"; exit 1; }

VDI=$(vdi_name nbdload)
SOCK=$T_TMP/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
check "create" "$SDCTL" -a "$SHEEP" vdi create "$VDI" "$SIZE"
on_exit nbdkit_stop
if ! nbdkit_start "$SOCK" "$PLUGIN" addr="$SHEEP" vdi="$VDI"; then
	fail nbd_load "cannot start nbdkit"
	exit 1
fi

# result_line MODE BS QD RANGE IOS ARGS...: nbd_load ARGS... prints one line
# on stdout, nothing on stderr, with every field of load_common.h's line in
# order, the given mode, bs, qd and range, and IOS ios (a number) or, for
# IOS "+", more than 0
result_line() {
	local mode=$1 bs=$2 qd=$3 range=$4 ios=$5 line n re got
	shift 5
	"$NBD_LOAD" "$@" >"$T_TMP/load.out" 2>"$T_TMP/load.err" || {
		echo "exit $?: $(cat "$T_TMP/load.err")"
		return 1
	}
	[[ -s $T_TMP/load.err ]] && { echo "stderr: $(cat "$T_TMP/load.err")"; return 1; }
	[[ $(wc -l <"$T_TMP/load.out") == 1 ]] || { echo "not one line:"; cat "$T_TMP/load.out"; return 1; }
	line=$(cat "$T_TMP/load.out")
	n='[0-9]+(\.[0-9]+)?'
	re="^mode=$mode bs=$bs qd=$qd range=$range secs=$n ios=[0-9]+ iops=$n"
	re+=" mibps=$n lat_us=$n p50_us=$n p99_us=$n p999_us=$n\$"
	[[ $line =~ $re ]] || { echo "unexpected line: $line"; return 1; }
	got=${line#* ios=}
	got=${got%% *}
	if [[ $ios == + ]]; then
		want "$got" -gt 0 "ios=$got"
	else
		want "$got" -eq "$ios" "ios=$got, wanted $ios"
	fi
}
check "fill-once" result_line write $MIB 4 $SIZE 16 \
	--once -m write -b 1M -q 4 "$URI"
# every byte the fill wrote is one slot's pattern (0x3c ^ slot, slots 0..3)
filled() {
	local bad
	bad=$("$SDCTL" -a "$SHEEP" vdi read "$VDI" 0 "$SIZE" | od -An -v -tx1 |
		tr -s ' ' '\n' | grep -v '^$' | sort -u | grep -vxE '3c|3d|3e|3f')
	want "$bad" == "" "bytes other than the fill pattern: $(head -c 60 <<<"$bad")"
}
check "fill-reached-the-vdi" filled
check "randread-1s" result_line randread 4096 8 $SIZE + -t 1 -q 8 "$URI"
check "randwrite-range" result_line randwrite 4096 2 $MIB + \
	-m randwrite -q 2 -r 1M -t 0.3 -s 7 "$URI"

# error_result RC PATTERN: nbd_load's exit status RC was 1, it wrote
# nothing to $T_TMP/bad.out (its stdout) and one line matching PATTERN to
# $T_TMP/bad.err (its stderr)
error_result() {
	[[ $1 == 1 && ! -s $T_TMP/bad.out && $(wc -l <"$T_TMP/bad.err") == 1 ]] &&
		grep -qE -- "$2" "$T_TMP/bad.err" && return 0
	echo "exit $1; stdout: $(head -c 200 "$T_TMP/bad.out"); stderr: $(head -c 300 "$T_TMP/bad.err")"
	return 1
}
# one_error_line PATTERN ARGS...: nbd_load ARGS... fails that way
one_error_line() {
	local pat=$1 rc=0
	shift
	"$NBD_LOAD" "$@" >"$T_TMP/bad.out" 2>"$T_TMP/bad.err" || rc=$?
	error_result "$rc" "$pat"
}
check "bad-uri" one_error_line "^nbd_load: cannot connect to 'nosuch://x'" \
	-t 1 "nosuch://x"
check "no-server" one_error_line "^nbd_load: cannot connect to .*nothere" \
	-t 1 "nbd+unix:///?socket=$T_TMP/nothere.sock"
check "bad-value-refused" fails_saying "bad value '0' for -q" \
	"$NBD_LOAD" -q 0 "$URI"
nbdkit_stop

if nbdkit_start "$SOCK" --filter=error "$PLUGIN" addr="$SHEEP" vdi="$VDI" \
	error-pread-rate=1 error-pread=EIO; then
	check "server-error" one_error_line "^nbd_load: read failed: Input/output error" \
		-q 4 -t 1 "$URI"
	nbdkit_stop
else
	fail "server-error" "cannot start nbdkit with the error filter"
fi

if nbdkit_start "$SOCK" -r "$PLUGIN" addr="$SHEEP" vdi="$VDI"; then
	check "read-only-export" one_error_line "^nbd_load: cannot queue a command: .*write" \
		-m randwrite -t 1 "$URI"
	nbdkit_stop
else
	fail "read-only-export" "cannot start nbdkit -r"
fi

# the server goes away 0.5 s into a 10 s run
server_gone() {
	local pid rc=0
	"$NBD_LOAD" -q 8 -t 10 "$URI" >"$T_TMP/bad.out" 2>"$T_TMP/bad.err" &
	pid=$!
	sleep 0.5
	nbdkit_stop
	wait "$pid" || rc=$?
	error_result "$rc" "^nbd_load: "
}
if nbdkit_start "$SOCK" "$PLUGIN" addr="$SHEEP" vdi="$VDI"; then
	check "server-gone" server_gone
else
	fail "server-gone" "cannot start nbdkit"
fi
exit $T_FAILED
