# mk/check-long.mk - `make check-long`: the long fault runs that do not fit
# in make check.  fault_kill9 with 50 kill -9 / restart cycles of the sheep
# under a verified write load (make check runs 5).
# FAULT_KILL9_CYCLES=N overrides the count.
FAULT_KILL9_CYCLES ?= 50

check-long: all
	@FAULT_KILL9_CYCLES=$(FAULT_KILL9_CYCLES) TESTS=fault_kill9 \
		bash test/run-tests.sh

.PHONY: check-long
