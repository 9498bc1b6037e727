#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# hostlock.sh - VDI locks left by a dead gateway: the library's takeover on
# the same host (build/test/integration/hostlock suite, see hostlock.c) and
# `sdctl vdi unlock` against a minisheep started with --lock: a lock left
# by a process killed with -9 is released (exit 0, one line on stdout) and
# the VDI opens again; an unlocked or missing VDI fails with one line; a
# live holder on this host is refused unless -f; a shared lock is released
# only for the sheep node sdctl talks to.  Needs minisheep (locks are
# counted per client process there); skipped with SHEEP_ADDR.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

it_bin hostlock hostlock
it_own_minisheep hostlock "needs a locking minisheep (SHEEP_ADDR set)" --lock
it_run "hostlock" "$BIN" "$SHEEP" "$(vdi_name hl)" suite

# ---- sdctl vdi unlock ------------------------------------------------------
OUT=$T_TMP/out
ERR=$T_TMP/err
sdctl() { "$SDCTL" -a "$SHEEP" "$@" >"$OUT" 2>"$ERR"; }
one_error() {	# NAME REGEX: exit 1, one stderr line matching
	local lines
	lines=$(wc -l <"$ERR")
	if ((RC == 1 && lines == 1)) && grep -qE "^sdctl: .*$2" "$ERR"; then
		pass "$1"
	else
		fail "$1" "exit $RC, stderr: $(cat "$ERR")"
	fi
}
V=$(vdi_name unlock)
check "sdctl unlock: create" "$SDCTL" -a "$SHEEP" vdi create "$V" 64M

sdctl vdi unlock "$V"; RC=$?
one_error "sdctl unlock: not locked" "VDI '$V' is not locked"
sdctl vdi unlock "nosuch-$V"; RC=$?
one_error "sdctl unlock: missing VDI" "nosuch-$V.*No VDI found"

# a gateway killed -9 on "another host" (its own lock directory)
SHEEP_LOCK_DIR=$T_TMP/locks-other "$BIN" "$SHEEP" "$V" crash ||
	fail "sdctl unlock: crash helper" "exit $?"
if "$BIN" "$SHEEP" "$V" hold </dev/null >"$T_TMP/hold.out" 2>&1; then
	fail "sdctl unlock: the dead lock keeps others out" "opened"
else
	pass "sdctl unlock: the dead lock keeps others out"
fi
sdctl vdi unlock "$V"; RC=$?
if ((RC == 0)) && [[ $(wc -l <"$OUT") == 1 ]] &&
   grep -q "released the normal lock of VDI '$V'" "$OUT"; then
	pass "sdctl unlock: releases a dead gateway's lock"
else
	fail "sdctl unlock: releases a dead gateway's lock" "exit $RC: $(cat "$OUT" "$ERR")"
fi
if "$BIN" "$SHEEP" "$V" hold </dev/null >"$T_TMP/hold.out" 2>&1; then
	pass "sdctl unlock: the VDI opens again"
else
	fail "sdctl unlock: the VDI opens again" "$(cat "$T_TMP/hold.out")"
fi

# a live holder on this host: refused, -f releases anyway
coproc HOLD { exec "$BIN" "$SHEEP" "$V" hold; }
hold_pid=$HOLD_PID hold_in=${HOLD[1]}
read -r -t 10 word pid <&"${HOLD[0]}"
if [[ $word != HOLD ]]; then
	fail "sdctl unlock: live holder started" "no HOLD line"
else
	sdctl vdi unlock "$V"; RC=$?
	one_error "sdctl unlock: refused while pid $pid holds it" "in use by pid $pid on this host"
	sdctl vdi unlock -f "$V"; RC=$?
	if ((RC == 0)); then
		pass "sdctl unlock -f: releases a live holder's lock"
	else
		fail "sdctl unlock -f: releases a live holder's lock" "$(cat "$ERR")"
	fi
fi
exec {hold_in}>&-
wait "$hold_pid" 2>/dev/null

# usage errors: exit 2
"$SDCTL" -a "$SHEEP" vdi unlock >/dev/null 2>&1; RC=$?
((RC == 2)) && pass "sdctl unlock: missing NAME is a usage error" ||
	fail "sdctl unlock: missing NAME is a usage error" "exit $RC"
exit $T_FAILED
