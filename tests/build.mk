# tests/build.mk — unit tests, fuzz replay runners and libFuzzer binaries.
#
# Included at the end of the top Makefile, which has set O, CC, CFLAGS,
# LDFLAGS, LIB_OBJS, MBEDTLS_LIBS and the rule for $(O)/obj/%.o. Targets:
#
#   unit-bins         $(O)/tests/unit/test_<module>, one cmocka program per
#                     tests/unit/test_<module>.c (host board: glibc + ASan)
#   fuzz-replay-bins  $(O)/tests/fuzz/replay_<name>, each harness
#                     tests/fuzz/fuzz_<name>.c with tests/fuzz/replay_main.c
#   fuzz              $(O)/tests/fuzz/fuzz_<name>, real libFuzzer binaries
#                     (clang-14); not part of make test
#   fuzz-run          run every fuzzer FUZZ_TIME seconds (default 60) on a
#                     work corpus seeded from tests/fuzz/corpus/<name>
#
# tests/run-unit.sh $(O) runs the unit programs and replay runners and ends
# with "unit: N passed, N failed".
#
# Tern's objects go into one archive so that each program takes only the
# objects it needs. Variables of this file start with TESTS_.

TESTS_O := $(O)/tests
TESTS_UNIT_MODULES := $(patsubst tests/unit/test_%.c,%, \
	$(wildcard tests/unit/test_*.c))
TESTS_UNIT_BINS := $(addprefix $(TESTS_O)/unit/test_,$(TESTS_UNIT_MODULES))
TESTS_UNIT_HELPERS := $(TESTS_O)/unit/tu.o
TESTS_FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%, \
	$(wildcard tests/fuzz/fuzz_*.c))
TESTS_REPLAY_BINS := $(addprefix $(TESTS_O)/fuzz/replay_,$(TESTS_FUZZ_NAMES))
TESTS_FUZZ_BINS := $(addprefix $(TESTS_O)/fuzz/fuzz_,$(TESTS_FUZZ_NAMES))
TESTS_LIB := $(TESTS_O)/libtern.a
# the embedded default configuration, once the config parser needs it
TESTS_CONF_TEXT := $(if $(wildcard config/default.conf src/conf/*.c), \
	$(O)/obj/conf/conf_default_text.o)
TESTS_CFLAGS = $(CFLAGS) -Itests/unit -Itests/fuzz

.PHONY: unit-bins fuzz-replay-bins fuzz fuzz-run tests-check-board

unit-bins: tests-check-board $(TESTS_UNIT_BINS)
fuzz-replay-bins: tests-check-board $(TESTS_REPLAY_BINS)
fuzz: tests-check-board $(TESTS_FUZZ_BINS)

# cmocka and the sanitizers need glibc: the host board.
tests-check-board:
	@if [ "$(CONFIG_LIBC_GLIBC)" != y ]; then \
		echo "tests: build them on the host board (make BOARD=host ...)" >&2; \
		exit 1; \
	fi

$(TESTS_LIB): $(LIB_OBJS) $(TESTS_CONF_TEXT)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(TESTS_O)/unit/%.o: tests/unit/%.c $(O)/include/config.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(TESTS_CFLAGS) -MMD -MP -c $< -o $@

$(TESTS_UNIT_BINS): $(TESTS_O)/unit/test_%: $(TESTS_O)/unit/test_%.o \
		$(TESTS_UNIT_HELPERS) \
		$(TESTS_LIB) $(MBEDTLS_LIBS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TESTS_UNIT_HELPERS) \
		-Wl,--start-group $(TESTS_LIB) $(MBEDTLS_LIBS) -Wl,--end-group \
		-lcmocka

$(TESTS_O)/fuzz/%.o: tests/fuzz/%.c $(O)/include/config.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(TESTS_CFLAGS) -MMD -MP -c $< -o $@

$(TESTS_REPLAY_BINS): $(TESTS_O)/fuzz/replay_%: $(TESTS_O)/fuzz/fuzz_%.o \
		$(TESTS_O)/fuzz/replay_main.o $(TESTS_LIB) $(MBEDTLS_LIBS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TESTS_O)/fuzz/replay_main.o \
		-Wl,--start-group $(TESTS_LIB) $(MBEDTLS_LIBS) -Wl,--end-group

-include $(wildcard $(TESTS_O)/unit/*.d $(TESTS_O)/fuzz/*.d)

# ---- libFuzzer (clang-14) ---------------------------------------------------
#
# Each fuzzer compiles the src/ files it needs directly with clang, so the
# whole program carries the fuzzer's coverage instrumentation.

TESTS_FUZZ_CC := clang-14
TESTS_FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(O)/include -Isrc -Itests/fuzz
TESTS_FUZZ_CORE = $(wildcard src/core/*.c)
TESTS_FUZZ_SMTP = src/smtp/smtp_reply.c $(TESTS_FUZZ_CORE)
TESTS_FUZZ_SRC_cmd = src/smtp/smtp_cmd.c src/smtp/smtp_path.c \
	src/smtp/smtp_param.c $(TESTS_FUZZ_SMTP)
TESTS_FUZZ_SRC_data = src/smtp/smtp_data.c $(TESTS_FUZZ_SMTP)
TESTS_FUZZ_SRC_conf = $(wildcard src/conf/conf_*.c) src/net/net_sock.c \
	$(O)/obj/conf/conf_default_text.c $(TESTS_FUZZ_CORE)
TESTS_FUZZ_SRC_dns = src/route/dnsc_msg.c src/route/dnsc_cache.c $(TESTS_FUZZ_CORE)
TESTS_FUZZ_SRC_mime = src/dsn/mime_scan.c src/dsn/mime_enc.c \
	src/dsn/mime_conv.c $(TESTS_FUZZ_CORE)
TESTS_FUZZ_SRC_userdb = $(wildcard src/sasl/*.c) \
	src/tls/tls_crypto.c \
	src/tls/tls_entropy.c $(TESTS_FUZZ_CORE)
TESTS_FUZZ_SRC_sasl = $(TESTS_FUZZ_SRC_userdb)
# mbedTLS for the harnesses that need it (headers and the host's libraries)
TESTS_FUZZ_EXTRA_userdb = $(MBEDTLS_CFLAGS) $(MBEDTLS_LIBS)
TESTS_FUZZ_EXTRA_sasl = $(TESTS_FUZZ_EXTRA_userdb)

define tests_fuzz_rule
$(TESTS_O)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $$(TESTS_FUZZ_SRC_$(1)) \
		$(O)/include/config.h
	@mkdir -p $$(@D)
	@echo "  FUZZ    $$@"
	$(Q)$(TESTS_FUZZ_CC) $(TESTS_FUZZ_CFLAGS) -o $$@ tests/fuzz/fuzz_$(1).c \
		$$(filter %.c,$$(TESTS_FUZZ_SRC_$(1))) $$(TESTS_FUZZ_EXTRA_$(1))
endef
$(foreach n,$(TESTS_FUZZ_NAMES),$(eval $(call tests_fuzz_rule,$(n))))

FUZZ_TIME ?= 60
fuzz-run: fuzz
	@for n in $(TESTS_FUZZ_NAMES); do \
		w=$(TESTS_O)/fuzz/work/$$n; mkdir -p $$w $(TESTS_O)/fuzz/crash; \
		d=; [ -f tests/fuzz/fuzz_$$n.dict ] && d=-dict=tests/fuzz/fuzz_$$n.dict; \
		echo "fuzz_$$n: $(FUZZ_TIME) s"; \
		$(TESTS_O)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_TIME) \
			-max_len=4096 -print_final_stats=1 $$d \
			-artifact_prefix=$(TESTS_O)/fuzz/crash/$$n- \
			$$w tests/fuzz/corpus/$$n 2>$(TESTS_O)/fuzz/work/$$n.log; \
		tail -n 12 $(TESTS_O)/fuzz/work/$$n.log; \
	done
