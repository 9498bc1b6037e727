# mk/asan.mk - `make check-asan`: the unit, integration and tgtd/nbdkit
# end-to-end suites with AddressSanitizer + UndefinedBehaviorSanitizer (and
# LeakSanitizer).
#
# The source tree (tracked and untracked, not ignored files) is copied to
# build/asan and built there with the sanitizers in CFLAGS, which the top
# Makefile uses for compiling and linking alike: the library, sdctl, the
# tgt module, the nbdkit plugin, minisheep and the test programs.  The
# stock tgtd and nbdkit load the sanitized module and plugin with the
# compiler's libasan preloaded (see test/fuzz/run_asan_suite.sh).
# Sanitizer reports of every process (including minisheep, tgtd and
# nbdkit, whose output the tests mostly discard) go to build/asan/reports/;
# the run fails if any report was written.  ASAN_TESTS holds run-tests.sh
# path patterns (a bare "unit" would also match test/e2e/systemd_unit.sh).
# Left out: test/e2e/systemd_unit.sh starts nbdkit without the preload
# hook, and test/e2e/deb_install.sh tests the installed, unsanitized files.

ASAN_DIR	:= build/asan
ASAN_TESTS	?= test/unit/ test/integration/ test/e2e/tgt_ \
		   test/e2e/nbd_ test/e2e/fault_
ASAN_CFLAGS	:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined

check-asan:
	@bash test/fuzz/run_asan_suite.sh "$(ASAN_DIR)" "$(ASAN_CFLAGS)" "$(ASAN_TESTS)"

.PHONY: check-asan
