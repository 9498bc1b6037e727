# bs_sheepdog - plain GNU make, builds in place.
#
#   make            library, sdctl, minisheep, module, plugin, tests
#   make check      build and run every test; ends with "N passed, N failed"
#   make demo       minisheep + VDI + tgtd with the module on 127.0.0.1:3260
#   make demo-stop  stop what the demo started
#   make install    module (and sdctl) under $(DESTDIR)

CC	?= gcc
CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Werror
ALL_CFLAGS := -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -fno-strict-aliasing -D_GNU_SOURCE \
	-pthread -Iusr/lib/include -Iusr/lib -MMD -MP $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS	:= -pthread
# Hardening (Debian's defaults); fortify needs optimisation.
HARDEN	:= -fstack-protector-strong \
	$(if $(filter -O0,$(CFLAGS) $(EXTRA_CFLAGS)),,-D_FORTIFY_SOURCE=2)
ALL_CFLAGS += $(HARDEN)
LDFLAGS	?= -Wl,-z,relro -Wl,-z,now

PREFIX	?= /usr
BSDIR	?= /usr/lib/tgt/backing-store

LIB_SRCS	:= $(sort $(wildcard usr/lib/sd_*.c))
LIB_OBJS	:= $(LIB_SRCS:.c=.o)
LIB		:= usr/lib/libsheepdog.a

SDCTL_SRCS	:= $(sort $(wildcard usr/sdctl*.c))
MODULE_SRCS	:= $(sort $(wildcard usr/bs_sheepdog*.c))
PLUGIN_SRCS	:= $(sort $(wildcard usr/nbdkit_sheepdog*.c))
MINISHEEP_SRCS	:= $(sort $(wildcard test/minisheep/*.c))
UNIT_SRCS	:= $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS	:= $(UNIT_SRCS:.c=)
ITEST_SRCS	:= $(sort $(wildcard test/integration/*.c))
ITEST_BINS	:= $(ITEST_SRCS:.c=)
TOOL_SRCS	:= $(sort $(wildcard test/tools/*.c))
TOOL_BINS	:= $(TOOL_SRCS:.c=)

PROGS := $(if $(SDCTL_SRCS),usr/sdctl) \
	 $(if $(MINISHEEP_SRCS),test/minisheep/minisheep) \
	 $(if $(MODULE_SRCS),usr/bs_sheepdog.so) \
	 $(if $(PLUGIN_SRCS),usr/nbdkit-sheepdog-plugin.so)

all: $(LIB) $(PROGS) $(UNIT_BINS) $(ITEST_BINS) $(TOOL_BINS)

%.o: %.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

usr/sdctl: $(SDCTL_SRCS:.c=.o) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test/minisheep/minisheep: $(MINISHEEP_SRCS:.c=.o) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The module: everything hidden except register_bs_module; tgtd's symbols
# stay undefined and are resolved when tgtd dlopens it.
usr/bs_sheepdog.so: $(MODULE_SRCS:.c=.o) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $^ $(LDLIBS)

usr/nbdkit-sheepdog-plugin.so: $(PLUGIN_SRCS:.c=.o) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $^ $(LDLIBS)

# Unit tests include the source under test and stub its neighbours
# (SPDK style); the library archive supplies whatever they do not stub.
test/unit/%: test/unit/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -Itest/unit -o $@ $< $(LIB) $(LDLIBS)

test/integration/%: test/integration/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -Itest/unit -o $@ $< $(LIB) $(LDLIBS)

test/tools/%: test/tools/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -Itest/unit -o $@ $< $(LIB) $(LDLIBS) $(TOOL_LDLIBS_$(notdir $@))

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
	$(if $(MODULE_SRCS),install -m 0644 usr/bs_sheepdog.so $(DESTDIR)$(BSDIR)/bs_sheepdog.so)
	install -m 0755 usr/sdctl $(DESTDIR)$(PREFIX)/bin/sdctl

clean:
	rm -f usr/*.o usr/*.d usr/*.so usr/sdctl \
		usr/lib/*.o usr/lib/*.d usr/lib/*.a \
		test/minisheep/*.o test/minisheep/*.d test/minisheep/minisheep \
		test/unit/*.d $(UNIT_BINS) test/integration/*.d $(ITEST_BINS) \
		test/tools/*.d $(TOOL_BINS)

.PHONY: all check demo demo-stop install clean

-include $(wildcard usr/*.d usr/lib/*.d test/*/*.d)

# Feature fragments (bench, vm, fuzz, asan, deb): one file per feature.
include $(wildcard mk/*.mk)
