#!/bin/bash
# Run every test and print the closing line "N passed, N failed, N skipped".
#
# A test is a unit binary (build/test/unit/test_*), an integration program
# (build/test/integration/NAME, built from test/integration/NAME.c, run
# against a sheep by test/integration/run_binary.sh; those whose source
# says "/* itest: driven ... */" are run by a script instead), or a script
# under test/integration/ or test/e2e/ (except run_binary.sh and the
# sourced helpers lib_*.sh and *_common.sh).  Each prints one line per
# check: "PASS: name", "FAIL: name: why" or "SKIP: name: why".  A test that
# exits non-zero without printing a FAIL line counts as one failure.
# TESTS="pattern ..." runs only the tests whose path matches a pattern
# (e.g. build/test/integration/discard, test/integration/io_patterns.sh;
# "test/integration/" matches both kinds).
set -u
cd "$(dirname "$0")/.."
top=$PWD
out=$top/test/out
mkdir -p "$out"

tests=()
for t in build/test/unit/test_*; do
	[[ -x $t && $t != *.c && $t != *.d ]] && tests+=("$t")
done
for t in build/test/integration/*; do
	[[ -x $t && $t != *.d ]] || continue
	grep -q '^/\* itest: driven' "test/integration/${t##*/}.c" 2>/dev/null ||
		tests+=("$t")
done
for t in test/integration/*.sh test/e2e/*.sh; do
	# the integration programs' runner and sourced helpers, not tests
	[[ $t == */run_binary.sh || $(basename "$t") == lib_*.sh ||
	   $t == *_common.sh ]] && continue
	[[ -f $t ]] && tests+=("$t")
done

pass=0 fail=0 skip=0
failed_tests=()
for t in "${tests[@]}"; do
	if [[ -n ${TESTS:-} ]]; then
		match=0
		for p in $TESTS; do [[ $t == *$p* ]] && match=1; done
		((match)) || continue
	fi
	name=${t//\//_}
	log=$out/$name.log
	echo "=== $t"
	start=$SECONDS
	if [[ $t == *.sh ]]; then
		timeout -k 10 "${TEST_TIMEOUT:-900}" bash "$t" >"$log" 2>&1
	elif [[ $t == build/test/integration/* ]]; then
		timeout -k 10 "${TEST_TIMEOUT:-900}" \
			bash test/integration/run_binary.sh "$t" >"$log" 2>&1
	else
		timeout -k 10 "${TEST_TIMEOUT:-900}" "$t" >"$log" 2>&1
	fi
	rc=$?
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	grep -E '^(PASS|FAIL|SKIP): ' "$log" | sed 's/^/    /'
	if ((rc != 0 && f == 0)); then
		echo "    FAIL: $t exited with status $rc (log: $log)"
		tail -n 20 "$log" | sed 's/^/      | /'
		f=1
	elif ((f > 0)); then
		echo "    (log: $log)"
	fi
	if ((p + f + s == 0)); then
		echo "    FAIL: $t ran no check (log: $log)"
		f=1
	fi
	echo "    [$((SECONDS - start))s]"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	((f > 0)) && failed_tests+=("$t")
done

if ((${#failed_tests[@]})); then
	echo "failed: ${failed_tests[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
((fail == 0))
