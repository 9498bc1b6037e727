#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run_asan_suite.sh DIR CFLAGS TESTS - copy the source tree into DIR, build
# everything there with the sanitizer CFLAGS and run the TESTS subset of
# test/run-tests.sh with leak detection on.  Sanitizer reports of every
# process land in DIR/reports/ (log_path), so reports of processes whose
# output a test throws away are kept; each is summarised at the end.
# Exits non-zero if the suite failed or any report was written.
set -u
cd "$(dirname "$0")/../.."
dir=$1 cflags=$2 tests=$3
top=$PWD

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
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$rep/asan:log_exe_name=1"
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
