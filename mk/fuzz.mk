# mk/fuzz.mk - libFuzzer harnesses (test/fuzz/fuzz_*.c), built with clang.
#
#   make fuzz [FUZZ_SECONDS=60]   build every harness, run each for
#                                 FUZZ_SECONDS; each crash is copied to
#                                 test/fuzz/regress/<harness>-<kind>-<hash>
#   make fuzz-build               only build them (build/fuzz/fuzz_<name>)
#   make fuzz-clean
#
# The library is compiled again with clang, coverage instrumentation and
# ASan+UBSan into build/fuzz/obj; the grown corpora and the artifacts stay
# under build/fuzz.  test/unit/test_fuzz_regress.c replays the seeds and
# the saved findings in `make check` without clang.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_DIR	:= build/fuzz
FUZZ_NAMES	:= $(patsubst test/fuzz/fuzz_%.c,%,$(sort $(wildcard test/fuzz/fuzz_*.c)))
FUZZ_BINS	:= $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -std=gnu11 -g -O1 -Wall -Wextra -fno-strict-aliasing \
		   -D_GNU_SOURCE -pthread -Iusr/lib/include -Iusr/lib $(FUZZ_SAN)
FUZZ_LIB_OBJS	:= $(patsubst usr/lib/%.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS))
FUZZ_LIB	:= $(FUZZ_DIR)/libsheepdog.a

$(FUZZ_DIR)/obj/%.o: usr/lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: test/fuzz/fuzz_%.c test/fuzz/fuzz_check.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@bash test/fuzz/run_fuzzers.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-clean:
	rm -rf $(FUZZ_DIR)

.PHONY: fuzz fuzz-build fuzz-clean
.SECONDARY: $(FUZZ_LIB_OBJS)

-include $(wildcard $(FUZZ_DIR)/obj/*.d)
