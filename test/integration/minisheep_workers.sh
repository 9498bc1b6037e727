#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# minisheep_workers.sh - minisheep --workers: the thread count it runs
# with (the event loop, the workers, the cluster-operation thread and the
# thread of the reference drops after replies), a bad value refused, and
# with --workers 0 (everything executed in the event loop) the
# concurrent-writes model check and the pattern test still pass.  Only
# against our own minisheep.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

if ! own_sheep; then
	skip "workers" "SHEEP_ADDR is set: minisheep options do not apply"
	exit 0
fi

# a bad value: exit 2 with one line naming the option
out=$("$MINISHEEP" --dir "$T_TMP/bad" --listen "unix:$T_TMP/bad.sock" \
	--workers 257 2>&1)
rc=$?
if ((rc == 2)) && grep -q "bad --workers '257' (0..256)" <<<"$out" &&
   [[ ! -S $T_TMP/bad.sock ]]; then
	pass "workers: 257 refused"
else
	fail "workers: 257 refused" "rc $rc: $out"
fi

# threads of a running minisheep (pid)
threads() { ls "/proc/$1/task" 2>/dev/null | wc -l; }

SHEEP_DIR=$T_TMP/w8 start_minisheep || { fail "workers: start" "default"; exit 1; }
n=$(threads "$SHEEP_PID")
if ((n == 11)); then
	pass "workers: default is the event loop + 8 workers + 2 cluster threads"
else
	fail "workers: default is the event loop + 8 workers + 2 cluster threads" "$n threads"
fi
stop_pid "$SHEEP_PID"

SHEEP_DIR=$T_TMP/w0 start_minisheep --workers 0 ||
	{ fail "workers: start" "--workers 0"; exit 1; }
n=$(threads "$SHEEP_PID")
if ((n == 1)) && grep -q ' 0 workers,' "$T_TMP/minisheep.log"; then
	pass "workers: --workers 0 runs one thread"
else
	fail "workers: --workers 0 runs one thread" "$n threads; log: $(tail -n 1 "$T_TMP/minisheep.log")"
fi
it_run "workers 0: concurrent" "$TOP/build/test/integration/concurrent_writes" \
	"$SHEEP" "$(vdi_name w0conc)"
mkdir -p "$T_TMP/pat"
it_run "workers 0: patterns" "$TOP/build/test/integration/io_patterns" \
	"$SHEEP" "$(vdi_name w0pat)" 0 64 "$T_TMP/pat"
exit $T_FAILED
