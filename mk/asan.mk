# mk/asan.mk - `make check-asan`: the unit and integration suites with
# AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer).
#
# The source tree (tracked and untracked, not ignored files) is copied to
# build/asan and built there with the sanitizers in CFLAGS, which the top
# Makefile uses for compiling and linking alike.  Sanitizer reports of
# every process (including minisheep, whose stderr the tests discard) go
# to build/asan/reports/; the run fails if any report was written.
# ASAN_TESTS holds run-tests.sh path patterns (a bare "unit" would also
# match test/e2e/systemd_unit.sh).  The e2e suite is not run: tgtd and nbdkit are not built with ASan, and
# the module would need libasan preloaded into them.

ASAN_DIR	:= build/asan
ASAN_TESTS	?= test/unit/ test/integration/
ASAN_CFLAGS	:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined

check-asan:
	@bash test/fuzz/run_asan_suite.sh "$(ASAN_DIR)" "$(ASAN_CFLAGS)" "$(ASAN_TESTS)"

.PHONY: check-asan
