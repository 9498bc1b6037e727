#!/bin/bash
# bench_smoke.sh - `make bench` (scripts/bench.sh) end to end on a small
# scale: 1 s per cell, one run, 16 MiB VDIs, a scale section of 20 LUs, on
# its own minisheep (or on $SHEEP_ADDR, as make bench does; it deletes its
# VDIs again).  Checks the shape of what it writes, not its numbers (no
# timed assertion): every path measured every workload with some I/O,
# nbdkit's null plugin and its nbd plugin in front of a null server their
# four workloads each, the CPU bound of a zero-cost plugin has its two
# rows of numbers (none on an external sheep), the ratio table has every
# column (NBD plugin/ours and, for QD1, latency NBD/ours among them), the
# target table every row (the NBD/ours and NBD/library ones among
# them), the scale tables have their rows
# with numbers and tgtd had sockets into the sheep after I/O on the LUs
# and none without LUs, the chart is a PNG, the generated block replaced the old one
# between the markers while the hand-written text around it stayed, the
# committed doc/benchmarks.md was not touched, and nothing it started is
# left running.  A bad BENCH_SIZE_MB or BENCH_SCALE_LUS is refused before
# anything starts.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

tgt_require bench
if ! command -v gnuplot >/dev/null; then
	skip "bench" "gnuplot is not installed (scripts/install-deps.sh test)"
	exit 0
fi

[[ -n ${SHEEP_ADDR:-} ]] && builtin_require "bench" "$SHEEP_ADDR"

BENCH=$TOP/scripts/bench.sh
OUT=$T_TMP/bench.md
PATHS=7		# ours thread builtin rdwr lib nbd nbdfile
WORKLOADS=8
NULL_WORKLOADS=4	# nbdkit's null plugin and nbd plugin -> null: 4K rand read/write QD1/QD32
SCALE_LUS=20
SCALE_CELLS=6	# rr16x2 rr1x32 rw16x2 rw1x32 q1n q1a
TARGETS=27	# 8 iSCSI, 8 NBD plugin/file, 6 NBD/ours and NBD/library, 5 scale

# ---- a bad size or LU count is refused at once ----------------------------
# one line, naming the value: refused_in_one_line VAR VALUE
refused_in_one_line() {
	if env "$1=$2" bash "$BENCH" >"$T_TMP/bad.out" 2>&1; then
		echo "exit 0"
		return 1
	fi
	[[ $(wc -l <"$T_TMP/bad.out") == 1 ]] &&
		grep -q "$1 '$2'" "$T_TMP/bad.out" && return 0
	head -3 "$T_TMP/bad.out"
	return 1
}
check "bad-size-refused" refused_in_one_line BENCH_SIZE_MB 1x
check "bad-scale-lus-refused" refused_in_one_line BENCH_SCALE_LUS 8

# ---- one small run ----------------------------------------------------------
# an existing report: the block between the markers is replaced, the rest kept
cat >"$OUT" <<'EOF'
# hand-written head
<!-- bench:begin (old) -->
OLD GENERATED LINE
<!-- bench:end -->
hand-written tail
EOF
# processes named $1 that the benchmark started and left running: they
# inherit BENCH_SMOKE_MARK (other test runs on the box do not count)
MARK=$$-$RANDOM$RANDOM
export BENCH_SMOKE_MARK=$MARK
procs() {
	local p n=0
	for p in $(pgrep -x "$1"); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "BENCH_SMOKE_MARK=$MARK" && n=$((n + 1))
	done
	echo "$n"
}
before="$(procs tgtd) $(procs minisheep) $(procs nbdkit)"
doc_sum=$(cat "$TOP/doc/benchmarks.md" "$TOP/doc/benchmarks.png" | md5sum)

run_bench() {
	BENCH_TIME=1 BENCH_RUNS=1 BENCH_SIZE_MB=16 BENCH_SCALE_LUS=$SCALE_LUS \
		BENCH_OUT="$OUT" bash "$BENCH" >"$T_TMP/bench.out" 2>"$T_TMP/bench.err" &&
		return 0
	tail -5 "$T_TMP/bench.err"
	return 1
}
check "bench-runs" run_bench || exit 1

spliced() {
	[[ $(head -1 "$OUT") == "# hand-written head" &&
	   $(tail -1 "$OUT") == "hand-written tail" ]] &&
		! grep -q "OLD GENERATED LINE" "$OUT" &&
		[[ $(grep -c '^<!-- bench:begin' "$OUT") == 1 &&
		   $(grep -c '^<!-- bench:end' "$OUT") == 1 ]] && return 0
	head -3 "$OUT" | tr '\n' ' '
	return 1
}
check "block-spliced" spliced
check "size-reported" has_lines "$OUT" "VDIs and the ceiling file are 16 MiB"

# the per-path tables: "### title" then rows "| workload | IOPS | ..."
rows=$(awk '/^### / { t = $0 } t !~ /Ratios|Targets|Scale|null plugin|CPU bound/ && /^\| (4K|1M) / {
		split($0, f, "|"); print f[3] + 0 }' "$OUT")
nrows=$(grep -c . <<<"$rows")
nzero=$(grep -cx '0' <<<"$rows")
check "every-path-every-workload" want "$nrows:$nzero" == "$((PATHS * WORKLOADS)):0" \
	"$nrows rows (want $((PATHS * WORKLOADS))), $nzero with 0 IOPS"
# nbdkit's null plugin, then its nbd plugin in front of a null server:
# their four workloads each with IOPS, numbers everywhere (the sheep column
# "-" for the null plugin alone, the null server's CPU for the other)
nulls=$(awk '/^### / { on = /null plugin/; next } on && /^\| 4K /' "$OUT")
bad=$(awk -F'|' 'NF != 11 || $4 + 0 <= 0 { print; next }
	$3 == " null plugin " && $9 != " - " { print; next }
	$3 == " nbd plugin -> null plugin " && $9 !~ /^ [0-9]+(\.[0-9]+)? $/ { print; next }
	$3 != " null plugin " && $3 != " nbd plugin -> null plugin " { print; next }
	{ for (i = 4; i <= 10; i++) if (i != 9 && $i !~ /^ [0-9]+(\.[0-9]+)? $/) { print; next } }' \
	<<<"$nulls")
n=$(grep -c . <<<"$nulls")
check "null-plugin-table" want "$n:$bad" == "$((2 * NULL_WORKLOADS)):" "$n rows; bad: ${bad:0:200}"
# the CPU bound of a plugin that costs nothing (minisheep's CPU is known):
# the QD32 random read and write rows, numbers in every cell
bound=$(awk '/^### / { on = /CPU bound/; next } on && /^\| 4K /' "$OUT")
bad=$(awk -F'|' 'NF != 7 { print; next }
	{ for (i = 3; i <= 6; i++) if ($i !~ /^ [0-9]+(\.[0-9]+)? $/) { print; next } }' \
	<<<"$bound")
n=$(grep -c . <<<"$bound")
if [[ -n ${SHEEP_ADDR:-} ]]; then
	check "cpu-bound-table" want "$n" == 0 "$n rows without minisheep's CPU"
else
	check "cpu-bound-table" want "$n:$bad" == "2:" "$n rows; bad: ${bad:0:200}"
fi
# the ratio table: 8 ratio columns, ratios or "-"; the last two are NBD
# plugin/ours (a ratio in every row) and latency NBD/ours (a ratio in the
# QD1 rows, "-" in the others)
check "ratio-columns" has_lines "$OUT" \
	'^\| workload \| ours/built-in .*\| NBD plugin/file \| NBD plugin/ours \| latency NBD/ours \|$'
ratios=$(awk '/^### Ratios/ { on = 1; next } /^### / { on = 0 }
	on && /^\| (4K|1M) /' "$OUT")
bad=$(awk -F'|' 'NF != 11 { print; next }
	{ for (i = 3; i <= 10; i++) {
		v = $i; gsub(/ /, "", v)
		if (v != "-" && v !~ /^[0-9]+\.[0-9][0-9]$/) { print; next } } }
	$9 !~ /^ [0-9]+\.[0-9][0-9] $/ { print; next }
	($2 ~ /QD1 $/) != ($10 ~ /^ [0-9]+\.[0-9][0-9] $/) { print }' <<<"$ratios")
n=$(grep -c . <<<"$ratios")
check "ratio-table" want "$n:$bad" == "$WORKLOADS:" "$n rows; bad: ${bad:0:200}"
targets=$(awk '/^### Targets/ { on = 1; next } /^### |^!\[/ { on = 0 }
	on && /^\| [A-Z0-9]/ && !/^\| target/' "$OUT")
n=$(grep -c . <<<"$targets")
odd=$(grep -vcE '\| (yes|\*\*no\*\*) \|$' <<<"$targets")
check "target-table" want "$n:$odd" == "$TARGETS:0" "$n rows"
nbd_targets() {
	local t
	for t in "4K rand read QD32, NBD/ours \| >= 1.3" \
		"4K rand write QD32, NBD/ours \| >= 1.3" \
		"4K rand read QD1 latency, NBD/ours \| <= 1" \
		"4K rand write QD1 latency, NBD/ours \| <= 1" \
		"4K rand read QD32, NBD/library \| >= 0.7" \
		"4K rand write QD32, NBD/library \| >= 0.7"; do
		grep -qE "^\| NBD $t \| [0-9]+\.[0-9][0-9] \| " <<<"$targets" && continue
		echo "no target row 'NBD $t' with a ratio"
		return 1
	done
}
check "nbd-iscsi-targets" nbd_targets

# the scale section: resources with 0 LUs, N idle LUs, N LUs after I/O and
# per LU (all numbers), sockets into the sheep after I/O and none without
# LUs, two IOPS ratios, one p99 ratio
scale=$(awk '/^### Scale/ { on = 1; next } /^### / { on = 0 } on && /^\| /' "$OUT")
res=$(awk -F'|' -v n="$SCALE_LUS" '$2 ~ "^ (0|" n "|" n " after I/O|per LU) $" {
		ok = 1
		for (i = 3; i <= 6; i++) if ($i !~ /^ [0-9]+(\.[0-9]+)? $/) ok = 0
		l = $2; gsub(/^ | $/, "", l); printf "%s%s,", l, ok ? "" : "?" }' \
	<<<"$scale")
check "scale-resources" want "$res" == "0,$SCALE_LUS,$SCALE_LUS after I/O,per LU," \
	"rows: $res"
socks=$(awk -F'|' -v n="$SCALE_LUS" '$2 ~ "^ (0|" n " after I/O) $" {
		printf "%s ", ($5 + 0 > 0) }' <<<"$scale")
check "scale-sheep-sockets" want "$socks" == "0 1 " \
	"sockets into the sheep (0 LUs, $SCALE_LUS LUs after I/O) > 0: $socks"
fair=$(awk -F'|' '/^\| 4K rand (read|write)/ {
		v = $5; gsub(/ /, "", v); printf "%s ", v ~ /^[0-9]+\.[0-9][0-9]$/ }' \
	<<<"$scale")
check "scale-fairness" want "$fair" == "1 1 1 " "ratios: ${scale:0:400}"
check "scale-lu-create" has_lines "$OUT" "Creating one LU took [0-9.]+ ms"

raw=$(awk '/^Raw runs/ { on = 1; next } on && /^[a-z]+ +[a-z0-9]+ +1 /' "$OUT")
n=$(grep -c . <<<"$raw")
check "raw-runs" want "$n" -eq $((PATHS * WORKLOADS + 2 * NULL_WORKLOADS + SCALE_CELLS)) "$n lines"
check "chart-png" want "$(head -c 8 "${OUT%.md}.png" | od -An -tx1 | tr -d ' \n')" \
	== 89504e470d0a1a0a "${OUT%.md}.png is not a PNG"

check "committed-report-untouched" \
	want "$(cat "$TOP/doc/benchmarks.md" "$TOP/doc/benchmarks.png" | md5sum)" \
	== "$doc_sum" "doc/benchmarks.md or .png changed"
after="$(procs tgtd) $(procs minisheep) $(procs nbdkit)"
check "nothing-left-running" want "$after" == "$before" \
	"tgtd/minisheep/nbdkit: $before -> $after"
exit $T_FAILED
