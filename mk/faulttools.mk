# mk/faulttools.mk - link build/test/tools/iscsi_verify (the fault tests'
# iSCSI initiator), build/test/tools/iscsi_load (the benchmark's) and
# build/test/tools/iscsi_lun_sweep (the scale test's) with libiscsi.  Without libiscsi-dev a stub is built instead that exits 77,
# and the tests that need it report SKIP.
#
# Whether libiscsi was there is recorded in build/test/tools/.libiscsi,
# which is rewritten only when the answer changes: a tool built as a stub
# before `make check` installed libiscsi-dev (make demo does that) is
# rebuilt.
LIBISCSI := $(if $(wildcard /usr/include/iscsi/iscsi.h),yes,no)

$(B)/test/tools/.libiscsi: FORCE
	@mkdir -p $(@D)
	@echo $(LIBISCSI) | cmp -s - $@ 2>/dev/null || echo $(LIBISCSI) >$@

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
