#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run_fuzzers.sh SECONDS NAME... - run each built harness build/fuzz/fuzz_NAME
# for SECONDS with libFuzzer, one after the other (the machine has 2 cores).
# New corpus entries go to build/fuzz/corpus/NAME (the committed seeds in
# test/fuzz/corpus/NAME are only read); every crash, leak, timeout or OOM
# input is copied to test/fuzz/regress/NAME-<kind>-<hash> so the regression
# replay in `make check` keeps running it.  Prints one summary line per
# harness and exits non-zero if any harness found something.
set -u
cd "$(dirname "$0")/../.."
secs=$1
shift
out=build/fuzz
status=0

for name in "$@"; do
	bin=$out/fuzz_$name
	corpus=$out/corpus/$name
	art=$out/artifacts/$name
	log=$out/$name.log
	mkdir -p "$corpus" "$art"
	opts=(-max_total_time="$secs" -timeout=30 -rss_limit_mb=2048
	      -print_final_stats=1 -artifact_prefix="$art/")
	case $name in
	reply) opts+=(-max_len=20000) ;;
	inode) opts+=(-max_len=4700) ;;
	esac
	[[ -f test/fuzz/$name.dict ]] && opts+=(-dict="test/fuzz/$name.dict")
	echo "=== fuzz_$name for ${secs}s (log: $log)"
	start=$SECONDS
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		"$bin" "${opts[@]}" "$corpus" "test/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	found=0
	for f in "$art"/*; do
		[[ -f $f ]] || continue
		base=$(basename "$f")
		cp "$f" "test/fuzz/regress/$name-$base"
		echo "    FOUND: test/fuzz/regress/$name-$base"
		found=$((found + 1))
	done
	if ((rc != 0 || found)); then
		echo "    fuzz_$name: exit $rc, $found finding(s); see $log"
		grep -m3 -E 'ERROR|fuzz invariant|runtime error' "$log" | sed 's/^/      | /'
		status=1
	fi
	echo "    fuzz_$name: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files, $((SECONDS - start))s"
done
exit $status
