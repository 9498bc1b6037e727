#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run_asan_suite.sh DIR CFLAGS TESTS - copy the source tree into DIR, build
# everything there (library, sdctl, tgt module, nbdkit plugin, minisheep,
# unit tests) with the sanitizer CFLAGS and run the TESTS subset of
# test/run-tests.sh with leak detection on.
#
# The stock tgtd and nbdkit are not sanitized: the tests start them with
# the compiler's libasan preloaded (T_PRELOAD, the hook in test/lib.sh)
# so that they can load the sanitized module and plugin; a module or
# plugin bug stops tgtd or nbdkit with a report.
# Their ASAN_OPTIONS (T_PRELOAD_ASAN_OPTIONS) turn leak detection off, as
# LeakSanitizer would report the allocations of tgtd and nbdkit themselves
# at exit; every other process checks for leaks.
#
# Sanitizer reports of every process land in DIR/reports/ (log_path), so
# reports of processes whose output a test throws away are kept; each is
# summarised at the end.  Exits non-zero if the suite failed or any report
# was written.
set -u
cd "$(dirname "$0")/../.."
dir=$1 cflags=$2 tests=$3
top=$PWD

libasan=$("${CC:-gcc}" -print-file-name=libasan.so)
if [[ ! -f $libasan ]]; then
	echo "check-asan: ${CC:-gcc} has no libasan.so to preload into tgtd/nbdkit"
	exit 1
fi

echo "=== copying the tree to $dir"
rm -rf "$dir"
mkdir -p "$dir"
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
	tar --null -T - -cf - | tar -xf - -C "$dir" || exit 1

echo "=== building with: $cflags"
start=$SECONDS
make -C "$dir" -j2 all CFLAGS="$cflags" >"$dir/build.log" 2>&1 || {
	tail -n 30 "$dir/build.log"
	echo "check-asan: build failed (log: $dir/build.log)"
	exit 1
}
echo "    built in $((SECONDS - start))s"

rep=$top/$dir/reports
mkdir -p "$rep"
asan="halt_on_error=1:abort_on_error=0:log_path=$rep/asan:log_exe_name=1"
export ASAN_OPTIONS="detect_leaks=1:$asan"
export T_PRELOAD=$libasan
# tgtd and nbdkit: no leak detection (see above) and a quarantine of
# 2 MiB instead of 256, which still holds the last few dozen LU open/close
# cycles of tgtd (some 50 KiB each) but is full before tgt_lu_cycle.sh
# starts measuring; its RSS then grows by about 1 KiB a cycle from ASan's
# bookkeeping, so that test allows 4 MiB over 1000 cycles (a 4 KiB leak a
# cycle fails it).
export T_PRELOAD_ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=2:$asan"
export LU_CYCLE_RSS_KB=4096
# ASan's redzones and allocator metadata make each idle LU of the scale
# phase take about 45 KiB instead of 30: the 40 KiB target is the normal
# build's (make check); here only a gross leak should fail
export LU_SCALE_LU_BYTES=81920
# A preloaded libasan initialises itself at its first intercepted call.
# In nbdkit that is the malloc in libp11-kit's constructor, made with
# glibc's locale lock held: the lock comes out corrupted and nbdkit hangs
# at exit once anything has called strerror.  With P11_KIT_DEBUG set (to
# anything) libp11-kit compares strings first, which initialises libasan.
export P11_KIT_DEBUG=none
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$rep/ubsan:log_exe_name=1"
export LSAN_OPTIONS="report_objects=0"

echo "=== running TESTS=\"$tests\" in $dir"
start=$SECONDS
TESTS="$tests" bash "$dir/test/run-tests.sh"
rc=$?
echo "    suite ran in $((SECONDS - start))s, exit $rc"

nrep=0
for f in "$rep"/*; do
	[[ -f $f ]] || continue
	nrep=$((nrep + 1))
	echo "--- sanitizer report $f"
	grep -E 'ERROR: |SUMMARY: |runtime error|Direct leak|Indirect leak' "$f" | head -n 8 | sed 's/^/    /'
	grep -m 6 -E '^    #[0-9]+ .* in ' "$f" | sed 's/^/    /'
done
echo "check-asan: suite exit $rc, $nrep sanitizer report(s) in $rep"
((rc == 0 && nrep == 0))
