#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/bench.sh - `make bench`: one run of the performance comparison
# written into doc/benchmarks.md and doc/benchmarks.png.
#
# It starts minisheep on tmpfs with --nosync (or uses $SHEEP_ADDR), creates
# two 1 GiB VDIs and a 1 GiB tmpfs file (BENCH_SIZE_MB) and fills all
# three, then runs the same eight workloads (4 KiB random read/write at
# QD1 and QD32 over the whole disk, the same at QD32 on one 4 MiB object,
# 1 MiB sequential read/write at QD8) against seven paths:
#   ours      stock tgtd + build/lib/bs_sheepdog.so       (build/test/tools/iscsi_load)
#   thread    the same with bsopts loop=thread (the library's own I/O thread
#             instead of tgtd's main loop)
#   builtin   the same tgtd with an empty module dir, i.e. its own sheepdog
#   rdwr      the same tgtd, rdwr store on the tmpfs file  (the ceiling)
#   lib       the library alone                      (build/test/tools/sd_load)
#   nbd       nbdkit + build/lib/nbdkit-sheepdog-plugin.so (build/test/tools/nbd_load)
#   nbdfile   nbdkit's file plugin on the tmpfs file       (build/test/tools/nbd_load)
# ours, nbd and lib use the same VDI, and are measured in turn (each run of
# each workload on ours, lib, nbd, then the next run); iscsi_load, nbd_load
# and sd_load run the same workload (test/tools/load_common.h).  Then
# nbdkit's null plugin (path nbdnull, what nbdkit and nbd_load cost with no
# store at all) and nbdkit's nbd plugin in front of a second nbdkit null
# (path nbdfwd, what nbdkit gives a plugin that waits for a server's
# replies) run the four 4 KiB QD1/QD32 random workloads only, reported in a
# small table of their own; from the CPU columns the report also bounds
# what a plugin that costs nothing could reach at QD32 on this box
# (minisheep only).  Each cell runs $BENCH_RUNS times (3) for $BENCH_TIME
# seconds (4); the run with the median IOPS is shown.  CPU per request of
# the load generator, of the server in between (tgtd or nbdkit) and of
# minisheep come from utime+stime deltas over each run.  Everything it
# starts is stopped by pid.
#
# The scale section then starts one more tgtd with our module and
# BENCH_SCALE_LUS LUs (200; 1000 is the issue's count) on as many VDIs of
# the same sheep, and reports tgtd's threads, fds, sockets into the sheep
# and RSS with 0 LUs, with N idle LUs (before any I/O) and with N LUs after
# the fairness runs, the mean time of one `tgtadm --op new`, the IOPS of 16 LUs at QD2 each against one LU at
# QD32 (4 KiB random read and write on the first 16 MiB of each LU,
# filled first), and the p99 latency of a QD1 LU next to a QD32 LU against
# the same LU alone (build/test/tools/iscsi_load --lun, one session per LU).
#
# Environment: BENCH_TIME, BENCH_RUNS, BENCH_NICE (default 0), BENCH_OUT
# (default doc/benchmarks.md; the chart goes next to it as .png),
# BENCH_SIZE_MB (size of the VDIs and the tmpfs file, default 1024, at
# least 8; test/e2e/bench_smoke.sh uses a small one),
# BENCH_SCALE_LUS (LUs of the scale section, 0 to leave it out, else at
# least 16),
# BENCH_SHEEP_OPTS (more minisheep options, e.g. "--workers 0"),
# SHEEP_ADDR (external sheep: then no minisheep CPU column).
source "$(dirname "$0")/../test/lib.sh"
source "$TOP/test/lib_tgt.sh"
cd "$TOP" || exit 1

BENCH_TIME=${BENCH_TIME:-4}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_OUT=${BENCH_OUT:-$TOP/doc/benchmarks.md}
BENCH_PNG=${BENCH_OUT%.md}.png
BENCH_SIZE_MB=${BENCH_SIZE_MB:-1024}
BENCH_SCALE_LUS=${BENCH_SCALE_LUS:-200}
HOT=$((4 * 1024 * 1024))
ISCSI_LOAD=$TOP/build/test/tools/iscsi_load
SD_LOAD=$TOP/build/test/tools/sd_load
NBD_LOAD=$TOP/build/test/tools/nbd_load
PLUGIN=$TOP/build/lib/nbdkit-sheepdog-plugin.so
HZ=$(getconf CLK_TCK)

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

[[ $BENCH_SIZE_MB =~ ^[0-9]+$ ]] && ((BENCH_SIZE_MB >= 8)) ||
	die "BENCH_SIZE_MB '$BENCH_SIZE_MB': a number of MiB, at least 8"
SIZE=$((BENCH_SIZE_MB * 1024 * 1024))
if ((BENCH_SIZE_MB % 1024)); then SIZE_STR="$BENCH_SIZE_MB MiB"
else SIZE_STR="$((BENCH_SIZE_MB / 1024)) GiB"; fi
[[ $BENCH_SCALE_LUS =~ ^[0-9]+$ ]] &&
	((BENCH_SCALE_LUS == 0 || BENCH_SCALE_LUS >= 16)) ||
	die "BENCH_SCALE_LUS '$BENCH_SCALE_LUS': 0 (no scale section) or at least 16"
# the scale section's fairness runs: the first 16 MiB of each LU (or all)
SCALE_RANGE=$((SIZE < 16 << 20 ? SIZE : 16 << 20))

# ---- requirements --------------------------------------------------------

((EUID == 0)) || die "needs root (tgtd runs in a private mount namespace)"
# BENCH_NICE=-10 favours the measured processes (all inherit it) when the
# box is shared with other work; recorded in the report
BENCH_NICE=${BENCH_NICE:-0}
renice -n "$BENCH_NICE" -p $$ >/dev/null || die "renice $BENCH_NICE failed"

ensure_packages() {
	local want=(tgt nbdkit gnuplot-nox libiscsi-dev libnbd-dev)
	local missing=() p
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}
ensure_packages
# iscsi_load and nbd_load are stubs when they were built before
# libiscsi-dev and libnbd-dev were installed
for f in "$ISCSI_LOAD" "$NBD_LOAD"; do
	"$f" --help >/dev/null 2>&1 && continue
	rm -f "$f"
	make -s "${f#"$TOP"/}" >&2 || die "cannot build ${f##*/}"
done
for f in "$ISCSI_LOAD" "$SD_LOAD" "$NBD_LOAD" "$SDCTL" "$PLUGIN" "$MINISHEEP" "$TGT_MODULE"; do
	[[ -x $f || -f $f ]] || die "$f is not built (run make)"
done
unshare -m --propagation private true 2>/dev/null ||
	die "cannot create a mount namespace"
mkdir -p "$TGT_BS_DIR"

# ---- the store: minisheep on tmpfs, two filled VDIs, a filled file -------

BENCH_TMP=$(mktemp -d /dev/shm/sdbench.XXXXXX) || die "no tmpfs in /dev/shm"
on_exit rm -rf "$BENCH_TMP"
if [[ -z ${SHEEP_ADDR:-} ]]; then
	SHEEP_DIR=$BENCH_TMP/sheep
	# shellcheck disable=SC2086 # options are words
	start_minisheep --nosync ${BENCH_SHEEP_OPTS:-} ||
		die "cannot start minisheep"
	STORE="minisheep on tmpfs (--nosync${BENCH_SHEEP_OPTS:+ $BENCH_SHEEP_OPTS}), unix socket"
else
	SHEEP=$SHEEP_ADDR
	SHEEP_PID=
	if ! builtin_reaches "$SHEEP"; then
		die "SHEEP_ADDR $SHEEP: tgtd's built-in sheepdog store cannot connect to ports above 9999; use a sheep on a lower port"
	fi
	STORE="external sheep at $SHEEP_ADDR"
fi
VDI_OURS=$(vdi_name bench-ours)
VDI_BUILTIN=$(vdi_name bench-builtin)
CEILING=$BENCH_TMP/ceiling.img

for v in "$VDI_OURS" "$VDI_BUILTIN"; do
	"$SDCTL" -a "$SHEEP" vdi create "$v" "$SIZE" >&2 ||
		die "cannot create VDI $v"
	say "filling $v"
	"$SD_LOAD" --once -m write -b 1M -q 8 "$SHEEP" "$v" >/dev/null ||
		die "cannot fill VDI $v"
done
say "filling the tmpfs file"
head -c "$SIZE" /dev/zero | tr '\0' '\245' >"$CEILING" ||
	die "cannot fill $CEILING"

# ---- measuring -----------------------------------------------------------

# name mode bs qd range
WORKLOADS=(
	"rr1 randread 4096 1 0"
	"rw1 randwrite 4096 1 0"
	"rr32 randread 4096 32 0"
	"rw32 randwrite 4096 32 0"
	"hr32 randread 4096 32 $HOT"
	"hw32 randwrite 4096 32 $HOT"
	"sr8 read 1048576 8 0"
	"sw8 write 1048576 8 0"
)
declare -A WL_TITLE=(
	[rr1]="4K rand read QD1" [rw1]="4K rand write QD1"
	[rr32]="4K rand read QD32" [rw32]="4K rand write QD32"
	[hr32]="4K hot read QD32" [hw32]="4K hot write QD32"
	[sr8]="1M seq read QD8" [sw8]="1M seq write QD8"
)
RESULTS=$T_TMP/results.tsv	# path wl rep iops mibps lat_us cli srv sheep p99_us
: >"$RESULTS"

# utime+stime of a pid in clock ticks (empty pid: 0)
cpu_ticks() {
	local pid=$1 stat
	[[ -n $pid ]] || { echo 0; return; }
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}

# minisheep's pid while measuring a path that uses it, else empty
SUITE_SHEEP=
# the workloads run_suite runs: names of WORKLOADS, empty for all
SUITE_ONLY=

# run_one PATH WL REP SERVER_PID CMD...: CMD prints iscsi_load's line
run_one() {
	local path=$1 wl=$2 rep=$3 spid=$4 out=$T_TMP/run.out tfile=$T_TMP/run.time
	shift 4
	local s0 s1 k0 k1 line ios iops mibps lat p99 cli
	s0=$(cpu_ticks "$spid")
	k0=$(cpu_ticks "$SUITE_SHEEP")
	if ! { TIMEFORMAT='%U %S'; time "$@" >"$out" 2>"$T_TMP/run.err"; } \
		2>"$tfile"; then
		say "$path $wl run $rep failed: $(head -c 300 "$T_TMP/run.err")"
		return 1
	fi
	s1=$(cpu_ticks "$spid")
	k1=$(cpu_ticks "$SUITE_SHEEP")
	line=$(tail -n 1 "$out")
	ios=$(sed -n 's/.* ios=\([0-9]*\).*/\1/p' <<<"$line")
	iops=$(sed -n 's/.* iops=\([0-9.]*\).*/\1/p' <<<"$line")
	mibps=$(sed -n 's/.* mibps=\([0-9.]*\).*/\1/p' <<<"$line")
	lat=$(sed -n 's/.* lat_us=\([0-9.]*\).*/\1/p' <<<"$line")
	p99=$(sed -n 's/.* p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
	[[ -n $ios && $ios -gt 0 ]] || {
		say "$path $wl run $rep: no result: $line"
		return 1
	}
	cli=$(awk '{ print $1 + $2 }' "$tfile")
	awk -v p="$path" -v w="$wl" -v r="$rep" -v ios="$ios" -v iops="$iops" \
		-v mb="$mibps" -v lat="$lat" -v p99="${p99:--}" -v cli="$cli" -v hz="$HZ" \
		-v s="$((s1 - s0))" -v k="$((k1 - k0))" -v spid="$spid" \
		-v own="$SUITE_SHEEP" 'BEGIN {
		printf "%s\t%s\t%s\t%.1f\t%.2f\t%.1f\t%.2f\t%s\t%s\t%s\n", p, w, r,
			iops, mb, lat, cli * 1e6 / ios,
			spid == "" ? "-" : sprintf("%.2f", s * 1e6 / hz / ios),
			own == "" ? "-" : sprintf("%.2f", k * 1e6 / hz / ios), p99 }' \
		>>"$RESULTS"
	say "$(tail -n 1 "$RESULTS")"
}

# iscsi_load / sd_load / nbd_load over every workload (or SUITE_ONLY's):
# run_suite PATH SERVER_PID TOOL ARGS... [-- PATH SERVER_PID TOOL ARGS...]...
# With several paths, each run of each workload goes through the paths in
# turn, so that the box's drift over minutes falls on all of them alike.
run_suite() {
	local -a specs=() cur=() s
	local w name mode bs qd range rep i n
	while (($#)); do
		if [[ $1 == -- ]]; then
			specs+=("${#cur[@]}" "${cur[@]}")
			cur=()
		else
			cur+=("$1")
		fi
		shift
	done
	specs+=("${#cur[@]}" "${cur[@]}")
	for w in "${WORKLOADS[@]}"; do
		read -r name mode bs qd range <<<"$w"
		[[ -z $SUITE_ONLY || " $SUITE_ONLY " == *" $name "* ]] || continue
		for ((rep = 1; rep <= BENCH_RUNS; rep++)); do
			for ((i = 0; i < ${#specs[@]}; i += n + 1)); do
				n=${specs[i]}
				s=("${specs[@]:i+1:n}")
				run_one "${s[0]}" "$name" "$rep" "${s[1]}" "${s[2]}" \
					-m "$mode" -b "$bs" -q "$qd" -r "$range" \
					-t "$BENCH_TIME" -s "$rep" "${s[@]:3}"
			done
		done
	done
}

on_exit nbdkit_stop

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

NBD_SOCK=$BENCH_TMP/nbd.sock
NBD_URI="nbd+unix:///?socket=$NBD_SOCK"

say "in turn: tgtd with our module, the library alone, nbdkit + our plugin"
mkdir -p "$TGT_BS_DIR"	# other tests (package install/remove) may drop it
tgt_start || die "cannot start tgtd"
tgt_target 1 iqn.2026-11.org.sheepdog:bench-ours || die "target 1"
tgt_lu 1 1 "$SHEEP:$VDI_OURS" sheepdog || die "LU ours: $(cat "$TGT_OUT")"
tgt_target 2 iqn.2026-11.org.sheepdog:bench-rdwr || die "target 2"
tgt_lu 2 1 "$CEILING" rdwr || die "LU rdwr: $(cat "$TGT_OUT")"
tgtadm_c --mode system --op show | grep -q 'sheepdog (bsoflags' ||
	die "tgtd did not load our module"
# lock=none: tgtd has the VDI open (lock=normal) at the same time
nbdkit_start "$NBD_SOCK" "$PLUGIN" addr="$SHEEP" vdi="$VDI_OURS" lock=none ||
	die "cannot start nbdkit with our plugin"
SUITE_SHEEP=${SHEEP_PID:-}
run_suite ours "$TGT_PID" "$ISCSI_LOAD" \
	"$(tgt_url iqn.2026-11.org.sheepdog:bench-ours 1)" -- \
	lib "" "$SD_LOAD" "$SHEEP" "$VDI_OURS" -- \
	nbd "$NBD_PID" "$NBD_LOAD" "$NBD_URI"
SUITE_SHEEP=
nbdkit_stop
say "tgtd's rdwr store (ceiling)"
run_suite rdwr "$TGT_PID" "$ISCSI_LOAD" \
	"$(tgt_url iqn.2026-11.org.sheepdog:bench-rdwr 1)"
tgt_stop

# sheep_path NAME TGT_MODE VDI [BSOPTS]: a tgtd of its own (tgt_start
# TGT_MODE) with one sheepdog LU on VDI, measured as path NAME
sheep_path() {
	local name=$1 mode=$2 vdi=$3 bsopts=${4:-}
	local iqn=iqn.2026-11.org.sheepdog:bench-$name
	mkdir -p "$TGT_BS_DIR"
	tgt_start "$mode" || die "cannot start tgtd ($mode)"
	tgt_target 1 "$iqn" || die "target 1"
	tgt_lu 1 1 "$SHEEP:$vdi" sheepdog "$bsopts" ||
		die "LU $name: $(cat "$TGT_OUT")"
	SUITE_SHEEP=${SHEEP_PID:-}
	run_suite "$name" "$TGT_PID" "$ISCSI_LOAD" "$(tgt_url "$iqn" 1)"
	tgt_stop
}

say "tgtd with our module, loop=thread"
sheep_path thread module "$VDI_OURS" loop=thread

say "tgtd with its built-in sheepdog store"
sheep_path builtin builtin "$VDI_BUILTIN"

say "NBD: nbdkit file plugin on tmpfs"
nbdkit_start "$NBD_SOCK" file file="$CEILING" ||
	die "cannot start nbdkit file"
SUITE_SHEEP=
run_suite nbdfile "$NBD_PID" "$NBD_LOAD" "$NBD_URI"
nbdkit_stop

# the 4 KiB QD1/QD32 random workloads, the null plugin's table
NULL_WORKLOADS="rr1 rw1 rr32 rw32"
say "NBD: nbdkit null plugin (nbdkit's own ceiling)"
nbdkit_start "$NBD_SOCK" null size="$SIZE" ||
	die "cannot start nbdkit null"
SUITE_ONLY=$NULL_WORKLOADS
run_suite nbdnull "$NBD_PID" "$NBD_LOAD" "$NBD_URI"
nbdkit_stop

# nbdkit's own nbd plugin in front of a second nbdkit null: what nbdkit
# gives a plugin that waits for another server's replies, when that server
# costs nothing (its CPU goes into the sheep column)
say "NBD: nbdkit nbd plugin -> nbdkit null (a waiting plugin's ceiling)"
FWD_SOCK=$BENCH_TMP/fwd.sock
nbdkit -f -U "$FWD_SOCK" --exit-with-parent null size="$SIZE" 2>/dev/null &
FWD_PID=$!
on_exit stop_var_pid FWD_PID
wait_for_socket "$FWD_SOCK" || die "cannot start the null server behind nbdkit nbd"
nbdkit_start "$NBD_SOCK" nbd socket="$FWD_SOCK" ||
	die "cannot start nbdkit nbd"
SUITE_SHEEP=$FWD_PID
run_suite nbdfwd "$NBD_PID" "$NBD_LOAD" "$NBD_URI"
SUITE_SHEEP=
SUITE_ONLY=
nbdkit_stop
stop_var_pid FWD_PID

# ---- scale: one tgtd with BENCH_SCALE_LUS LUs ----------------------------

# sockets of process $1 connected to the sheep at $SHEEP: for a unix
# address the process's unix sockets whose peer is bound to that path (ss
# lists an accepted socket under its listener's path), for tcp:HOST:PORT
# its established TCP connections to HOST:PORT (numeric HOST)
sheep_sockets() {
	local pid=$1
	if [[ $SHEEP == unix:* ]]; then
		ss -xanp | awk -v pid="pid=$pid," -v path="${SHEEP#unix:}" '
			{ addr[$6] = $5 }
			index($0, pid) { peer[$8]++ }
			END { for (i in peer) if (addr[i] == path) n += peer[i]
				print n + 0 }'
	else
		ss -tanp state established | awk -v pid="pid=$pid," \
			-v dst="${SHEEP#tcp:}" 'index($0, pid) && $4 == dst { n++ }
			END { print n + 0 }'
	fi
}

# tgtd's resources now: "threads fds sheep-sockets rss-KiB" in SCALE_AT[$1]
declare -A SCALE_AT
scale_sample() {
	local st=/proc/$TGT_PID
	SCALE_AT[$1]="$(ls "$st/task" | wc -l) $(ls "$st/fd" | wc -l)"
	SCALE_AT[$1]+=" $(sheep_sockets "$TGT_PID")"
	SCALE_AT[$1]+=" $(awk '/^VmRSS:/ { print $2 }' "$st/status")"
}

# iscsi_load's line of LUN $1 of a run of several: lun_line LUN CMD...
lun_line() {
	local lun=$1
	shift
	"$@" >"$T_TMP/luns.out" || return 1
	grep "^lun=$lun " "$T_TMP/luns.out"
}

# the scale cells: name, iscsi_load's mode and --lun options
SCALE_CELLS=(
	"rr16x2 randread --lun 1-16:2" "rr1x32 randread --lun 1:32"
	"rw16x2 randwrite --lun 1-16:2" "rw1x32 randwrite --lun 1:32"
	"q1n randread --lun 1:1 --lun 2:32" "q1a randread --lun 1:1"
)
SCALE_MS=
scale_section() {
	local n=$BENCH_SCALE_LUS iqn=iqn.2026-11.org.sheepdog:bench-scale
	local i t0 t1 url c name mode rest rep
	local -a pre opts vdis=()
	say "scale: one tgtd, $n LUs"
	for ((i = 1; i <= n; i++)); do
		vdis[i]=$(vdi_name "scale$i")
		"$SDCTL" -a "$SHEEP" vdi create "${vdis[i]}" "$SIZE" >&2 ||
			die "cannot create VDI ${vdis[i]}"
	done
	for ((i = 1; i <= 16; i++)); do
		"$SD_LOAD" --once -m write -b 1M -q 8 -r "$SCALE_RANGE" \
			"$SHEEP" "${vdis[i]}" >/dev/null ||
			die "cannot fill VDI ${vdis[i]}"
	done
	mkdir -p "$TGT_BS_DIR"
	tgt_start || die "cannot start tgtd"
	tgt_target 1 "$iqn" || die "target 1"
	scale_sample 0
	t0=$(date +%s%N)
	for ((i = 1; i <= n; i++)); do
		tgtadm_c --lld iscsi --mode logicalunit --op new --tid 1 \
			--lun "$i" --bstype sheepdog \
			--backing-store "$SHEEP:${vdis[i]}" >"$TGT_OUT" 2>&1 ||
			die "LU $i: $(cat "$TGT_OUT")"
	done
	t1=$(date +%s%N)
	tgtd_alive || die "tgtd died creating $n LUs"
	SCALE_MS=$(awk -v t="$((t1 - t0))" -v n="$n" \
		'BEGIN { printf "%.2f", t / 1e6 / n }')
	scale_sample "$n"
	say "scale: 0 LUs: ${SCALE_AT[0]}; $n LUs: ${SCALE_AT[$n]}" \
		"(threads fds sheep-sockets RSS-KiB); $SCALE_MS ms per LU"
	url=$(tgt_url "$iqn" 1)
	SUITE_SHEEP=${SHEEP_PID:-}
	# round by round, so that the two sides of each ratio run close in time
	for ((rep = 1; rep <= BENCH_RUNS; rep++)); do
		for c in "${SCALE_CELLS[@]}"; do
			read -r name mode rest <<<"$c"
			read -ra opts <<<"$rest"
			pre=()
			# the QD1 LU's own line, not the aggregate
			[[ $name == q1n ]] && pre=(lun_line 1)
			run_one scale "$name" "$rep" "$TGT_PID" "${pre[@]}" \
				"$ISCSI_LOAD" "${opts[@]}" -m "$mode" \
				-r "$SCALE_RANGE" -t "$BENCH_TIME" -s "$rep" "$url"
		done
	done
	SUITE_SHEEP=
	scale_sample io
	tgt_stop
}
if ((BENCH_SCALE_LUS)); then
	scale_section
fi

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
say "measured in $((T_END - T_START)) s"

# ---- report --------------------------------------------------------------

# median run by IOPS of every cell: path wl iops mibps lat cli srv sheep p99
MEDIANS=$T_TMP/medians.tsv
sort -t $'\t' -k1,1 -k2,2 -k4,4g "$RESULTS" | awk -F '\t' '
	{ key = $1 "\t" $2; n[key]++; row[key, n[key]] = $0; keys[key] = 1 }
	END {
		for (k in keys) {
			split(row[k, int((n[k] + 1) / 2)], f, "\t")
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f[1], f[2],
				f[4], f[5], f[6], f[7], f[8], f[9], f[10]
		}
	}' >"$MEDIANS"

get() {	# get PATH WL FIELD(iops|mibps|lat|cli|srv|sheep|p99)
	awk -F '\t' -v p="$1" -v w="$2" -v f="$3" '
		$1 == p && $2 == w {
			i = 8
			if (f == "iops") i = 3; else if (f == "mibps") i = 4
			if (f == "lat") i = 5; else if (f == "cli") i = 6
			if (f == "srv") i = 7; else if (f == "p99") i = 9
			print $i; found = 1 }
		END { if (!found) print "" }' "$MEDIANS"
}
ratio() {	# ratio A B: A/B with 2 decimals, "-" when either is missing
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) print "-"
		else printf "%.2f", a / b }'
}

PATHS=(ours thread builtin rdwr lib nbd nbdfile)

# the scale section's numbers: SCALE_0, SCALE_N and SCALE_IO (threads fds
# sheep-sockets rss-KiB with 0 LUs, N idle LUs, N LUs after the fairness
# runs), SCALE_PER (idle N against 0, per LU)
if ((BENCH_SCALE_LUS)); then
	read -ra SCALE_0 <<<"${SCALE_AT[0]}"
	read -ra SCALE_N <<<"${SCALE_AT[$BENCH_SCALE_LUS]}"
	read -ra SCALE_IO <<<"${SCALE_AT[io]}"
	for i in 0 1 2 3; do
		SCALE_PER[i]=$(awk -v a="${SCALE_0[i]}" -v b="${SCALE_N[i]}" \
			-v n="$BENCH_SCALE_LUS" -v d="$((i == 3 ? 1 : 2))" \
			'BEGIN { printf "%.*f", d, (b - a) / n }')
	done
fi

# the scale section of the report: resources at 0 and N LUs, fairness
scale_report() {
	local n=$BENCH_SCALE_LUS
	echo "### Scale: one tgtd with $n LUs"
	echo
	echo "tgtd with our module; target 1 with LUs 1..$n on $n VDIs of $SIZE_STR on the same store."
	echo "Resources of tgtd with the target and no LU, with all $n LUs created and idle (before any"
	echo "I/O; the per-LU row compares these two), and again after the fairness runs below;"
	echo "sockets into the sheep are tgtd's sockets connected to the sheep's address (ss)."
	echo "Creating one LU took $SCALE_MS ms (mean wall time of one \`tgtadm --op new\`, tgtadm's own start included)."
	echo
	echo "| LUs | tgtd threads | tgtd fds | sockets into the sheep | tgtd RSS (KiB) |"
	echo "|---|---:|---:|---:|---:|"
	echo "| 0 | ${SCALE_0[0]} | ${SCALE_0[1]} | ${SCALE_0[2]} | ${SCALE_0[3]} |"
	echo "| $n | ${SCALE_N[0]} | ${SCALE_N[1]} | ${SCALE_N[2]} | ${SCALE_N[3]} |"
	echo "| $n after I/O | ${SCALE_IO[0]} | ${SCALE_IO[1]} | ${SCALE_IO[2]} | ${SCALE_IO[3]} |"
	echo "| per LU | ${SCALE_PER[0]} | ${SCALE_PER[1]} | ${SCALE_PER[2]} | ${SCALE_PER[3]} |"
	echo
	echo "Fairness, with all $n LUs present: 4 KiB random I/O on the first $((SCALE_RANGE >> 20)) MiB"
	echo "of each LU (written before), one iSCSI session per LU (iscsi_load --lun); medians by IOPS."
	echo
	echo "| workload | 16 LUs at QD2 each (IOPS) | 1 LU at QD32 (IOPS) | 16 LUs / 1 LU |"
	echo "|---|---:|---:|---:|"
	printf '| 4K rand read | %s | %s | %s |\n' "$(get scale rr16x2 iops)" \
		"$(get scale rr1x32 iops)" "$(scale_ratio r)"
	printf '| 4K rand write | %s | %s | %s |\n' "$(get scale rw16x2 iops)" \
		"$(get scale rw1x32 iops)" "$(scale_ratio w)"
	echo
	echo "| workload | QD1 LU p99 alone (us) | p99 next to a QD32 LU (us) | next to / alone |"
	echo "|---|---:|---:|---:|"
	printf '| 4K rand read QD1 | %s | %s | %s |\n' "$(get scale q1a p99)" \
		"$(get scale q1n p99)" \
		"$(ratio "$(get scale q1n p99)" "$(get scale q1a p99)")"
	echo
}
# no WL FIELD(iops|lat): the NBD path's FIELD over the ours path's
no() { ratio "$(get nbd "$1" "$2")" "$(get ours "$1" "$2")"; }
# max A B ADD: the larger of A and B, plus ADD
max() { echo $(($1 > $2 ? $1 + $3 : $2 + $3)); }
# scale_ratio r|w: IOPS of 16 LUs at QD2 over one LU at QD32
scale_ratio() { ratio "$(get scale "r${1}16x2" iops)" "$(get scale "r${1}1x32" iops)"; }
# cpu_bound WL: the cells of the zero-cost plugin bound (see the report)
cpu_bound() {
	awk -v g="$(get nbd "$1" cli)" -v s="$(get nbdnull "$1" srv)" \
		-v k="$(get nbd "$1" sheep)" -v l="$(get lib "$1" iops)" \
		-v n="$(nproc)" 'BEGIN {
		if (g == "" || s == "" || k == "" || l == "" || g + s + k == 0 ||
		    l + 0 == 0) { print "- | - | - | -"; exit }
		t = g + s + k
		printf "%.1f | %.0f | %s | %.2f", t, n * 1e6 / t, l, n * 1e6 / t / l }'
}
declare -A PATH_TITLE=(
	[ours]="iSCSI: tgtd + our module" [thread]="iSCSI: tgtd + our module, loop=thread"
	[builtin]="iSCSI: tgtd built-in sheepdog"
	[rdwr]="iSCSI: tgtd rdwr on tmpfs (ceiling)" [lib]="library alone (sd_load)"
	[nbd]="NBD: nbdkit + our plugin" [nbdfile]="NBD: nbdkit file on tmpfs (ceiling)"
)

GEN=$T_TMP/generated.md
{
	echo "<!-- bench:begin (generated by scripts/bench.sh; edit outside these markers) -->"
	echo
	echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
		"$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')," \
		"kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
	echo "Store: $STORE; VDIs and the ceiling file are $SIZE_STR and completely"
	echo "written before measuring. tgtd $(dpkg-query -W -f='${Version}' tgt 2>/dev/null)," \
		"nbdkit $(nbdkit --version | awk '{ print $2 }'), libnbd $(dpkg-query -W -f='${Version}' libnbd0 2>/dev/null)."
	echo "Each cell: median (by IOPS) of $BENCH_RUNS runs of $BENCH_TIME s; the whole measurement took $((T_END - T_START)) s"
	echo "(load average before: $LOAD_START, after: $LOAD_END; other work on the box skews results;"
	echo "the measured processes ran at nice $BENCH_NICE)."
	echo
	echo "CPU columns are microseconds of CPU (user+system) per request:"
	echo "**gen** the load generator (iscsi_load, sd_load or nbd_load), **srv** the server"
	echo "in between (tgtd with all its threads, or nbdkit), **sheep** minisheep."
	echo
	for p in "${PATHS[@]}"; do
		echo "### ${PATH_TITLE[$p]}"
		echo
		echo "| workload | IOPS | MiB/s | mean lat (us) | gen CPU/req | srv CPU/req | sheep CPU/req |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		for w in "${WORKLOADS[@]}"; do
			read -r name _ <<<"$w"
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
				"${WL_TITLE[$name]}" "$(get "$p" "$name" iops)" \
				"$(get "$p" "$name" mibps)" "$(get "$p" "$name" lat)" \
				"$(get "$p" "$name" cli)" "$(get "$p" "$name" srv)" \
				"$(get "$p" "$name" sheep)"
		done
		echo
	done
	echo "### NBD: nbdkit null plugin (nbdkit's own ceiling)"
	echo
	echo "nbdkit's \`null\` plugin ($SIZE_STR, no data kept) driven by nbd_load like the NBD paths: what"
	echo "nbdkit and the client cost per request with no store behind them.  Second, nbdkit's own"
	echo "\`nbd\` plugin in front of another nbdkit null (**sheep** column: that null server): the"
	echo "ceiling of a plugin that waits for a server's replies, as ours waits for sheep's, when the"
	echo "server costs nothing."
	echo
	echo "| workload | server | IOPS | mean lat (us) | p99 lat (us) | gen CPU/req | srv CPU/req | sheep CPU/req | NBD plugin/it |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for p in nbdnull nbdfwd; do
		srv="null plugin"
		[[ $p == nbdfwd ]] && srv="nbd plugin -> null plugin"
		for name in $NULL_WORKLOADS; do
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
				"${WL_TITLE[$name]}" "$srv" \
				"$(get "$p" "$name" iops)" "$(get "$p" "$name" lat)" \
				"$(get "$p" "$name" p99)" "$(get "$p" "$name" cli)" \
				"$(get "$p" "$name" srv)" "$(get "$p" "$name" sheep)" \
				"$(ratio "$(get nbd "$name" iops)" "$(get "$p" "$name" iops)")"
		done
	done
	echo
	if [[ $(get nbd rr32 sheep) != - ]]; then
		echo "### NBD: CPU bound of a plugin that costs nothing"
		echo
		echo "At QD32 the $(nproc) CPUs are busy.  Per request, nbd_load (NBD path) + nbdkit with the null"
		echo "plugin + minisheep (NBD path) need the CPU below before any plugin runs; with every CPU busy"
		echo "that sum allows at most the IOPS shown, against the library alone (sd_load)."
		echo
		echo "| workload | gen + nbdkit null + sheep (us/req) | at most (IOPS) | library alone (IOPS) | at most / library |"
		echo "|---|---:|---:|---:|---:|"
		for name in rr32 rw32; do
			printf '| %s | %s |\n' "${WL_TITLE[$name]}" "$(cpu_bound "$name")"
		done
		echo
	fi
	echo "### Ratios"
	echo
	echo "IOPS ratios (for QD1 also the mean-latency ratios ours/built-in and NBD/ours; lower is better)."
	echo "NBD plugin/ours is the NBD export (nbdkit + our plugin, nbd_load) over the iSCSI export"
	echo "(tgtd + our module, iscsi_load): the same VDI, the same workload."
	echo
	echo "| workload | ours/built-in | loop=thread/built-in | ours/rdwr | ours/library | latency ours/built-in | NBD plugin/file | NBD plugin/ours | latency NBD/ours |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for w in "${WORKLOADS[@]}"; do
		read -r name _ <<<"$w"
		o=$(get ours "$name" iops)
		l=-
		nl=-
		if [[ $name == ?w1 || $name == ?r1 ]]; then
			l=$(ratio "$(get ours "$name" lat)" "$(get builtin "$name" lat)")
			nl=$(no "$name" lat)
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${WL_TITLE[$name]}" \
			"$(ratio "$o" "$(get builtin "$name" iops)")" \
			"$(ratio "$(get thread "$name" iops)" "$(get builtin "$name" iops)")" \
			"$(ratio "$o" "$(get rdwr "$name" iops)")" \
			"$(ratio "$o" "$(get lib "$name" iops)")" "$l" \
			"$(ratio "$(get nbd "$name" iops)" "$(get nbdfile "$name" iops)")" \
			"$(no "$name" iops)" "$nl"
	done
	echo
	if ((BENCH_SCALE_LUS)); then
		scale_report
	fi
	echo "### Targets from the issue"
	echo
	echo "| target | wanted | measured | met |"
	echo "|---|---|---:|---|"
	target() {	# target TITLE OP WANT VALUE
		local met
		met=$(awk -v v="$4" -v w="$3" -v op="$2" 'BEGIN {
			if (v == "-") print "n/a"
			else if (op == ">=") print (v + 0 >= w + 0) ? "yes" : "**no**"
			else print (v + 0 <= w + 0) ? "yes" : "**no**" }')
		printf '| %s | %s %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$met"
	}
	ib() { ratio "$(get ours "$1" iops)" "$(get builtin "$1" iops)"; }
	lb() { ratio "$(get ours "$1" lat)" "$(get builtin "$1" lat)"; }
	nf() { ratio "$(get nbd "$1" iops)" "$(get nbdfile "$1" iops)"; }
	nli() { ratio "$(get nbd "$1" iops)" "$(get lib "$1" iops)"; }
	target "4K rand read QD32, ours/built-in" ">=" 1.5 "$(ib rr32)"
	target "4K rand write QD32, ours/built-in" ">=" 2 "$(ib rw32)"
	target "4K rand read QD1 latency, ours/built-in" "<=" 0.8 "$(lb rr1)"
	target "4K rand write QD1 latency, ours/built-in" "<=" 0.8 "$(lb rw1)"
	target "4K hot read QD32, ours/built-in" ">=" 4 "$(ib hr32)"
	target "4K hot write QD32, ours/built-in" ">=" 4 "$(ib hw32)"
	target "1M seq read QD8, ours/built-in" ">=" 1.3 "$(ib sr8)"
	target "1M seq write QD8, ours/built-in" ">=" 1.5 "$(ib sw8)"
	for w in "${WORKLOADS[@]}"; do
		read -r name _ <<<"$w"
		target "NBD ${WL_TITLE[$name]}, plugin/file" ">=" 0.6 "$(nf "$name")"
	done
	target "NBD 4K rand read QD32, NBD/ours" ">=" 1.3 "$(no rr32 iops)"
	target "NBD 4K rand write QD32, NBD/ours" ">=" 1.3 "$(no rw32 iops)"
	target "NBD 4K rand read QD1 latency, NBD/ours" "<=" 1 "$(no rr1 lat)"
	target "NBD 4K rand write QD1 latency, NBD/ours" "<=" 1 "$(no rw1 lat)"
	target "NBD 4K rand read QD32, NBD/library" ">=" 0.7 "$(nli rr32)"
	target "NBD 4K rand write QD32, NBD/library" ">=" 0.7 "$(nli rw32)"
	if ((BENCH_SCALE_LUS)); then
		n=$BENCH_SCALE_LUS
		# idle or after I/O, whichever is more
		target "Scale, $n LUs: tgtd threads besides the main one" "<=" 16 \
			"$(max "${SCALE_N[0]}" "${SCALE_IO[0]}" -1)"
		target "Scale, $n LUs: sockets into the sheep" "<=" 64 \
			"$(max "${SCALE_N[2]}" "${SCALE_IO[2]}" 0)"
		target "Scale: tgtd RSS per idle LU (KiB)" "<=" 40 "${SCALE_PER[3]}"
		target "Scale: 4K rand read, 16 LUs at QD2 / 1 LU at QD32" ">=" 0.9 \
			"$(scale_ratio r)"
		target "Scale: 4K rand write, 16 LUs at QD2 / 1 LU at QD32" ">=" 0.9 \
			"$(scale_ratio w)"
	fi
	echo
	echo "![chart](benchmarks.png)"
	echo
	echo "Raw runs (path, workload, run, IOPS, MiB/s, mean latency us, gen/srv/sheep CPU us per request, p99 latency us;"
	echo "nbdnull: nbdkit's null plugin; nbdfwd: nbdkit's nbd plugin in front of nbdkit null; scale: rr16x2/rw16x2 16 LUs at QD2, rr1x32/rw1x32 one LU at QD32,"
	echo "q1n/q1a the QD1 LU next to a QD32 LU/alone, q1n's IOPS, latencies and CPU per request counting the QD1 LU's requests only):"
	echo
	echo '```'
	sort -t $'\t' -k1,1 -k2,2 -k3,3n "$RESULTS" | column -t -s $'\t'
	echo '```'
	echo
	echo "<!-- bench:end -->"
} >"$GEN"

# splice the generated block into BENCH_OUT, keeping the hand-written text
if [[ -f $BENCH_OUT ]] && grep -q '^<!-- bench:begin' "$BENCH_OUT" &&
	grep -q '^<!-- bench:end' "$BENCH_OUT"; then
	awk -v gen="$GEN" '
		/^<!-- bench:begin/ { while ((getline l < gen) > 0) print l; skip = 1; next }
		/^<!-- bench:end/ { skip = 0; next }
		!skip' "$BENCH_OUT" >"$T_TMP/out.md"
else
	{
		echo "# Benchmarks"
		echo
		echo "Generated by \`make bench\` (scripts/bench.sh)."
		echo
		cat "$GEN"
	} >"$T_TMP/out.md"
fi
cp "$T_TMP/out.md" "$BENCH_OUT"

# chart: 4K IOPS (left) and 1M MiB/s (middle), one bar per path; the NBD
# export over the iSCSI one (NBD plugin/ours) per 4K workload (right)
DAT=$T_TMP/chart.dat
RDAT=$T_TMP/ratio.dat
{
	printf 'wl'
	for p in "${PATHS[@]}"; do printf '\t%s' "$p"; done
	echo
	for w in "${WORKLOADS[@]}"; do
		read -r name _ <<<"$w"
		printf '"%s"' "${WL_TITLE[$name]}"
		for p in "${PATHS[@]}"; do
			if [[ $name == s?8 ]]; then
				v=$(get "$p" "$name" mibps)
			else
				v=$(get "$p" "$name" iops)
			fi
			printf '\t%s' "${v:-0}"
		done
		echo
	done
} >"$DAT"
{
	echo "wl	NBD/ours"
	for w in "${WORKLOADS[@]}"; do
		read -r name _ <<<"$w"
		[[ $name == s?8 ]] && continue
		v=$(no "$name" iops)
		printf '"%s"\t%s\n' "${WL_TITLE[$name]#4K }" "${v/-/0}"
	done
} >"$RDAT"
gnuplot >&2 <<EOF || say "gnuplot failed; no chart"
set terminal pngcairo size 1700,560 font ",10" noenhanced
set output "$BENCH_PNG"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left font ",9"
set grid ytics
set xtics rotate by -20 scale 0
set multiplot layout 1,2 title "bs_sheepdog benchmarks, $(date -u +%Y-%m-%d), $(nproc) CPUs, $BENCH_TIME s runs, median of $BENCH_RUNS"
set size 0.6,0.95
set origin 0,0
set ylabel "IOPS (4 KiB)"
plot for [i=2:$((${#PATHS[@]} + 1))] "$DAT" every ::0::5 using i:xtic(1) title columnheader(i)
set size 0.2,0.95
set origin 0.6,0
set ylabel "MiB/s (1 MiB)"
set key off
plot for [i=2:$((${#PATHS[@]} + 1))] "$DAT" every ::6::7 using i:xtic(1) title columnheader(i)
set size 0.2,0.95
set origin 0.8,0
set ylabel "NBD plugin / ours (IOPS, 4 KiB)"
set yrange [0:*]
set xtics rotate by -45
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
plot "$RDAT" using 2:xtic(1) linecolor rgb "#4060a0"
unset multiplot
EOF
say "wrote $BENCH_OUT and $BENCH_PNG"
