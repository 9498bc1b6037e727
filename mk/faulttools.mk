# mk/faulttools.mk - link test/tools/iscsi_verify (the fault tests' iSCSI
# initiator) with libiscsi.  Without libiscsi-dev a stub is built instead
# that exits 77, and the tests that need it report SKIP.
ifneq ($(wildcard /usr/include/iscsi/iscsi.h),)
TOOL_LDLIBS_iscsi_verify := -liscsi
else
test/tools/iscsi_verify: test/tools/iscsi_verify.c $(LIB)
	$(CC) $(ALL_CFLAGS) -DISCSI_VERIFY_STUB -o $@ $< $(LDLIBS)
endif
