# SPDX-License-Identifier: GPL-2.0-or-later
# itest.bash - sourced by the integration drivers after test/lib.sh:
# it_run NAME CMD... runs a test program under a time limit (IT_TIMEOUT,
# default 120 s) so a hang becomes one FAIL line instead of a stuck suite.
# Returns the program's status.
it_run() {
	local name=$1 rc
	shift
	timeout -k 5 "${IT_TIMEOUT:-120}" "$@"
	rc=$?
	if ((rc == 124 || rc == 137)); then
		fail "$name: finished in time" "killed after ${IT_TIMEOUT:-120} s (hang?): $*"
	elif ((rc != 0)); then
		T_FAILED=1
	fi
	return $rc
}
