# bs_sheepdog - plain GNU make; everything it builds goes under build/.
#
#   make            library, sdctl, minisheep, module, plugin, tests
#   make check      build and run every test; ends with "N passed, N failed"
#   make demo       minisheep + VDI + tgtd with the module on 127.0.0.1:3260
#   make demo-stop  stop what the demo started
#   make install    module (and sdctl) under $(DESTDIR)
#   make clean      remove build/
#
# build/obj/           objects and dependency files, by source path
# build/lib/           libsheepdog.a, bs_sheepdog.so (tgt module),
#                      nbdkit-sheepdog-plugin.so (nbdkit plugin)
# build/bin/           sdctl, minisheep
# build/test/unit/     unit test programs (test/unit/test_*.c)
# build/test/integration/  library test programs (test/integration/*.c)
# build/test/tools/    load generators and checkers (test/tools/*.c)
# build/deb/ (make deb), build/fuzz/ (make fuzz), build/asan/ (make
# check-asan), build/vm/ (make check-vm): see mk/.

CC	?= gcc
CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Werror
# The library's public headers (usr/lib/include) are on every include path,
# its internal ones (usr/lib) on all but the front ends': sdctl, the module
# and the plugin see only sheepdog.h and its companions.
INC	:= -Iusr/lib/include -Iusr/lib
ALL_CFLAGS = -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -fno-strict-aliasing -D_GNU_SOURCE \
	-pthread $(INC) -MMD -MP $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS	:= -pthread
# Hardening (Debian's defaults); fortify needs optimisation.
HARDEN	:= -fstack-protector-strong \
	$(if $(filter -O0,$(CFLAGS) $(EXTRA_CFLAGS)),,-D_FORTIFY_SOURCE=2)
ALL_CFLAGS += $(HARDEN)
LDFLAGS	?= -Wl,-z,relro -Wl,-z,now

PREFIX	?= /usr
BSDIR	?= /usr/lib/tgt/backing-store

B	:= build
OBJ	:= $(B)/obj
# build/obj/DIR/NAME.o of each DIR/NAME.c
objs	= $(patsubst %.c,$(OBJ)/%.o,$(1))

LIB_SRCS	:= $(sort $(wildcard usr/lib/sd_*.c))
LIB		:= $(B)/lib/libsheepdog.a

SDCTL_SRCS	:= $(sort $(wildcard usr/sdctl*.c))
MODULE_SRCS	:= $(sort $(wildcard usr/bs_sheepdog*.c))
PLUGIN_SRCS	:= $(sort $(wildcard usr/nbdkit_sheepdog*.c))
# minisheep also gets the listening sockets the library does not have
MINISHEEP_SRCS	:= $(sort $(wildcard test/minisheep/*.c)) test/common/sd_listen.c
UNIT_SRCS	:= $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS	:= $(patsubst %.c,$(B)/%,$(UNIT_SRCS))
ITEST_SRCS	:= $(sort $(wildcard test/integration/*.c))
ITEST_BINS	:= $(patsubst %.c,$(B)/%,$(ITEST_SRCS))
TOOL_SRCS	:= $(sort $(wildcard test/tools/*.c))
TOOL_BINS	:= $(patsubst %.c,$(B)/%,$(TOOL_SRCS))

SDCTL		:= $(B)/bin/sdctl
MINISHEEP	:= $(B)/bin/minisheep
MODULE		:= $(B)/lib/bs_sheepdog.so
PLUGIN		:= $(B)/lib/nbdkit-sheepdog-plugin.so

PROGS := $(if $(SDCTL_SRCS),$(SDCTL)) \
	 $(if $(MINISHEEP_SRCS),$(MINISHEEP)) \
	 $(if $(MODULE_SRCS),$(MODULE)) \
	 $(if $(PLUGIN_SRCS),$(PLUGIN))

all: $(LIB) $(PROGS) $(UNIT_BINS) $(ITEST_BINS) $(TOOL_BINS)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

FRONT_OBJS	:= $(call objs,$(SDCTL_SRCS) $(MODULE_SRCS) $(PLUGIN_SRCS))
$(FRONT_OBJS): INC := -Iusr/lib/include

$(LIB): $(call objs,$(LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(SDCTL): $(call objs,$(SDCTL_SRCS)) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(MINISHEEP): $(call objs,$(MINISHEEP_SRCS)) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The module: everything hidden except register_bs_module; tgtd's symbols
# stay undefined and are resolved when tgtd dlopens it.
$(MODULE): $(call objs,$(MODULE_SRCS)) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $^ $(LDLIBS)

$(PLUGIN): $(call objs,$(PLUGIN_SRCS)) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $^ $(LDLIBS)

# A test program is compiled and linked from its one source file; its
# dependency file goes to build/obj like the others.
define TEST_LINK
@mkdir -p $(@D) $(OBJ)/$(<D)
$(CC) $(ALL_CFLAGS) -MF $(OBJ)/$(<:.c=.d) -MT $@ -Itest/unit -o $@ $< \
	$(LIB) $(LDLIBS) $(TOOL_LDLIBS_$(notdir $@))
endef

# Unit tests include the source under test and stub its neighbours
# (SPDK style); the library archive supplies whatever they do not stub.
$(B)/test/unit/%: test/unit/%.c $(LIB)
	$(TEST_LINK)

$(B)/test/integration/%: test/integration/%.c $(LIB)
	$(TEST_LINK)

$(B)/test/tools/%: test/tools/%.c $(LIB)
	$(TEST_LINK)

# Both install what is missing first (as root), then build.
check:
	@bash scripts/install-deps.sh test
	@$(MAKE) --no-print-directory all
	@bash test/run-tests.sh

demo:
	@bash scripts/install-deps.sh demo
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

demo-stop:
	@bash scripts/demo.sh stop

install: all
	install -d $(DESTDIR)$(BSDIR) $(DESTDIR)$(PREFIX)/bin
	$(if $(MODULE_SRCS),install -m 0644 $(MODULE) $(DESTDIR)$(BSDIR)/bs_sheepdog.so)
	install -m 0755 $(SDCTL) $(DESTDIR)$(PREFIX)/bin/sdctl

clean:
	rm -rf $(B)

.PHONY: all check demo demo-stop install clean

-include $(wildcard $(OBJ)/usr/*.d $(OBJ)/usr/lib/*.d $(OBJ)/test/*/*.d)

# Feature fragments (bench, vm, fuzz, asan, deb): one file per feature.
include $(wildcard mk/*.mk)
