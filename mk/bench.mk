# mk/bench.mk - `make bench`: the performance comparison of doc/benchmarks.md
# (our module, tgtd's built-in sheepdog store, tgtd's rdwr store on tmpfs,
# the library alone, and the NBD plugin against our module, nbdkit's file
# plugin and nbdkit's null plugin).
# scripts/bench.sh does the work; it needs root for tgtd.  BENCH_TIME
# (seconds per run, default 4), BENCH_RUNS (runs per cell, default 3),
# BENCH_NICE (nice value of everything measured, default 0), BENCH_SIZE_MB
# (VDI and tmpfs file size, default 1024), BENCH_OUT (report, default
# doc/benchmarks.md), BENCH_SCALE_LUS (LUs in the scale section's tgtd,
# default 200, 0 leaves the section out), BENCH_SHEEP_OPTS and SHEEP_ADDR
# tune it (see the script's header).  test/e2e/bench_smoke.sh runs it
# small in make check.

# build/test/tools/iscsi_load needs libiscsi and build/test/tools/nbd_load
# libnbd: see mk/faulttools.mk (without libiscsi-dev or libnbd-dev the tool
# builds as a stub, see its header, so a plain `make` does not need the
# packages; scripts/bench.sh installs them and rebuilds a stub).

bench: all
	@bash scripts/bench.sh

.PHONY: bench
