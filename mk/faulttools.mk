# mk/faulttools.mk - link build/test/tools/iscsi_verify (the fault tests'
# iSCSI initiator), build/test/tools/iscsi_load (the benchmark's) and
# build/test/tools/iscsi_lun_sweep (the scale test's) with libiscsi.  Without libiscsi-dev a stub is built instead that exits 77,
# and the tests that need it report SKIP.  Likewise
# build/test/tools/nbd_load (the benchmark's NBD load generator) with
# libnbd: without libnbd-dev it builds as a stub that exits 3.
#
# Whether libiscsi was there is recorded in build/test/tools/.libiscsi,
# which is rewritten only when the answer changes: a tool built as a stub
# before `make check` installed libiscsi-dev (make demo does that) is
# rebuilt.  Whether libnbd was there is recorded in build/test/tools/.libnbd
# the same way.
LIBISCSI := $(if $(wildcard /usr/include/iscsi/iscsi.h),yes,no)
LIBNBD := $(if $(wildcard /usr/include/libnbd.h),yes,no)

$(B)/test/tools/.libiscsi: FORCE
	@mkdir -p $(@D)
	@echo $(LIBISCSI) | cmp -s - $@ 2>/dev/null || echo $(LIBISCSI) >$@

$(B)/test/tools/.libnbd: FORCE
	@mkdir -p $(@D)
	@echo $(LIBNBD) | cmp -s - $@ 2>/dev/null || echo $(LIBNBD) >$@

$(B)/test/tools/nbd_load: $(B)/test/tools/.libnbd

ifeq ($(LIBNBD),yes)
TOOL_LDLIBS_nbd_load := -lnbd
endif

$(B)/test/tools/iscsi_verify $(B)/test/tools/iscsi_load \
$(B)/test/tools/iscsi_lun_sweep $(B)/test/tools/iscsi_ua: $(B)/test/tools/.libiscsi

ifeq ($(LIBISCSI),yes)
TOOL_LDLIBS_iscsi_verify := -liscsi
TOOL_LDLIBS_iscsi_load := -liscsi
TOOL_LDLIBS_iscsi_lun_sweep := -liscsi
TOOL_LDLIBS_iscsi_ua := -liscsi
else
$(B)/test/tools/iscsi_verify: test/tools/iscsi_verify.c $(LIB)
	@mkdir -p $(@D) $(OBJ)/$(<D)
	$(CC) $(ALL_CFLAGS) -MF $(OBJ)/$(<:.c=.d) -MT $@ -DISCSI_VERIFY_STUB \
		-o $@ $< $(LDLIBS)
endif

.PHONY: FORCE
FORCE:
