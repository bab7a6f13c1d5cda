# tools/deps.mk - tern's dependencies, built static for the board.
#
# Included by the top Makefile after it has set BOARD and O (output/$(BOARD),
# relative to the top directory) and included $(O)/auto.conf.  Reads
# CONFIG_LIBC_MUSL / CONFIG_LIBC_GLIBC, CONFIG_TARGET_TRIPLE and
# CONFIG_CROSS_COMPILE.  Defines, for the top Makefile:
#
#   TOOLCHAIN_CC      compiler for tern's own code
#   TOOLCHAIN_DEPS    targets that must exist before compiling tern (empty on
#                     a glibc board)
#   TOOLCHAIN_CFLAGS  flags for tern's own code (kernel uapi headers on musl)
#   MBEDTLS_CFLAGS    flags for the files that include mbedTLS headers
#   MBEDTLS_LIBS      libmbedtls.a libmbedx509.a libmbedcrypto.a (targets)
#
# and the phony targets deps-fetch (download every pinned package into dl/)
# and deps-clean (remove this board's dependency builds and sysroot).
#
# Sources are the Debian packages pinned in tools/deps/pins; tools/deps/fetch
# downloads and checks them, tools/deps/unpack extracts them with the Debian
# patches applied.  Builds go to $(O)/build/<name>, musl installs into
# $(O)/sysroot.  Other variables of this file start with DEPS_.

# This file must not change the top Makefile's default goal.
DEPS_DEFAULT_GOAL := $(.DEFAULT_GOAL)

DEPS_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))/deps
DEPS_PINS := $(DEPS_DIR)/pins
DEPS_BUILD := $(O)/build
DEPS_TRIPLE := $(subst ",,$(CONFIG_TARGET_TRIPLE))
DEPS_CROSS := $(subst ",,$(CONFIG_CROSS_COMPILE))
DEPS_NAMES := $(shell sed -n 's/^\([a-z0-9][a-z0-9.+-]*\) .*/\1/p' $(DEPS_PINS))
DEPS_PIN_FILES := $(patsubst %,$(DEPS_BUILD)/%.pin,$(DEPS_NAMES))
DEPS_UNPACKED := $(patsubst %,$(DEPS_BUILD)/%/.tern-unpacked,$(DEPS_NAMES))
DEPS_Q := $(if $(filter 1,$(V)),,@)
# musl's build is long enough to want both cores when make runs without -j.
DEPS_JOBS ?= 2
DEPS_SUBJOBS ?= $(if $(filter -j%,$(MAKEFLAGS)),,-j$(DEPS_JOBS))

# The mbedTLS configuration: <> so that mbedTLS's own include/mbedtls/
# mbedtls_config.h, next to build_info.h, is not found first.
DEPS_MBEDTLS_CONFIG := src/tls/mbedtls_config.h
DEPS_MBEDTLS_DEFINE := -DMBEDTLS_CONFIG_FILE='<mbedtls_config.h>'

ifeq ($(CONFIG_LIBC_MUSL),y)

DEPS_SYSROOT := $(O)/sysroot
DEPS_UAPI := $(DEPS_SYSROOT)/uapi
# Kernel uapi headers from linux-libc-dev: the native ones, or those of the
# cross package (linux-libc-dev-arm64-cross: /usr/aarch64-linux-gnu/include).
# Copied, because adding /usr/include would pull in glibc's headers.
ifeq ($(DEPS_CROSS),)
DEPS_UAPI_SRC ?= /usr/include
DEPS_UAPI_ASM ?= /usr/include/$(shell gcc -print-multiarch)/asm
else
DEPS_UAPI_SRC ?= /usr/$(patsubst %-,%,$(DEPS_CROSS))/include
DEPS_UAPI_ASM ?= $(DEPS_UAPI_SRC)/asm
endif

TOOLCHAIN_CC := $(DEPS_SYSROOT)/bin/musl-gcc
TOOLCHAIN_DEPS := $(TOOLCHAIN_CC) $(DEPS_UAPI)/.stamp
TOOLCHAIN_CFLAGS := -isystem $(DEPS_UAPI)
DEPS_MBEDTLS_CC := $(abspath $(TOOLCHAIN_CC))
DEPS_MBEDTLS_OPT := -Os -ffunction-sections -fdata-sections \
	-isystem $(abspath $(DEPS_UAPI))

else ifeq ($(CONFIG_LIBC_GLIBC),y)

# The host board: unit tests, sanitizers, fuzzers.  The library itself is
# built without sanitizers.
TOOLCHAIN_CC := $(DEPS_CROSS)gcc
TOOLCHAIN_DEPS :=
TOOLCHAIN_CFLAGS :=
DEPS_MBEDTLS_CC := $(DEPS_CROSS)gcc
DEPS_MBEDTLS_OPT := -O1 -g

else
# auto.conf not read yet: make builds it and reads everything again; a
# real auto.conf without either libc is an error.
ifneq ($(wildcard $(O)/auto.conf),)
$(error tools/deps.mk: neither CONFIG_LIBC_MUSL nor CONFIG_LIBC_GLIBC is set in $(O)/auto.conf)
endif
endif

DEPS_MBEDTLS_SRC := $(DEPS_BUILD)/mbedtls
MBEDTLS_LIBS := $(addprefix $(DEPS_MBEDTLS_SRC)/library/, \
	libmbedtls.a libmbedx509.a libmbedcrypto.a)
DEPS_MBEDTLS_CONFIG_DIR := $(patsubst %/,%,$(dir $(DEPS_MBEDTLS_CONFIG)))
# -isystem: tern's warning flags (-Wundef...) are not for mbedTLS's headers.
# mbedTLS's headers: order-only prerequisite of every object that may use them
MBEDTLS_HEADERS := $(DEPS_MBEDTLS_SRC)/.tern-unpacked
MBEDTLS_CFLAGS := -isystem $(DEPS_MBEDTLS_SRC)/include \
	-I$(DEPS_MBEDTLS_CONFIG_DIR) -I$(O)/include $(DEPS_MBEDTLS_DEFINE)
# For the library build, which runs in $(DEPS_MBEDTLS_SRC)/library.
DEPS_MBEDTLS_LIB_CFLAGS := $(DEPS_MBEDTLS_OPT) \
	-I$(abspath $(DEPS_MBEDTLS_CONFIG_DIR)) -I$(abspath $(O)/include) \
	$(DEPS_MBEDTLS_DEFINE)

.PHONY: deps-fetch deps-clean

deps-fetch:
	$(DEPS_Q)$(DEPS_DIR)/fetch $(DEPS_NAMES)

deps-clean:
	@echo "  CLEAN   dependencies of $(BOARD)"
	$(DEPS_Q)rm -rf $(DEPS_SYSROOT) $(foreach s,/ .tmp .log .pin .pin.tmp, \
		$(addsuffix $(s),$(addprefix $(DEPS_BUILD)/,$(DEPS_NAMES))))

# $(DEPS_BUILD)/NAME.pin holds NAME's line of the pins, rewritten only when
# it changes, so a new pin re-extracts and rebuilds that package alone.
# $(DEPS_BUILD)/NAME/.tern-unpacked is the target for NAME's extracted tree.
$(DEPS_PIN_FILES): $(DEPS_BUILD)/%.pin: $(DEPS_PINS)
	$(DEPS_Q)mkdir -p $(@D)
	$(DEPS_Q)awk -v n=$* '$$1 == n' $< > $@.tmp
	$(DEPS_Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(DEPS_UNPACKED): $(DEPS_BUILD)/%/.tern-unpacked: $(DEPS_BUILD)/%.pin
	$(DEPS_Q)$(DEPS_DIR)/unpack $* $(DEPS_BUILD)/$*

# Command-line variables of the top make (BOARD=..., CFLAGS=...) must not
# override the dependencies' own makefiles: empty MAKEOVERRIDES keeps them out
# of the sub-makes' MAKEFLAGS.
ifeq ($(CONFIG_LIBC_MUSL),y)

DEPS_MUSL_SRC := $(DEPS_BUILD)/musl

# CC, AR and RANLIB are explicit: with --target and an empty CROSS_COMPILE,
# musl's configure would look for x86_64-linux-musl-gcc.
$(TOOLCHAIN_CC): MAKEOVERRIDES :=
$(TOOLCHAIN_CC): $(DEPS_MUSL_SRC)/.tern-unpacked
	@echo "  MUSL    $(DEPS_TRIPLE) -> $(DEPS_SYSROOT)"
	$(DEPS_Q)cd $(DEPS_MUSL_SRC) && env -u CFLAGS -u CPPFLAGS -u LDFLAGS \
		./configure --target=$(DEPS_TRIPLE) \
		CROSS_COMPILE=$(DEPS_CROSS) CC=$(DEPS_CROSS)gcc \
		AR=$(DEPS_CROSS)ar RANLIB=$(DEPS_CROSS)ranlib \
		--prefix=$(abspath $(DEPS_SYSROOT)) --disable-shared \
		--enable-wrapper=gcc CFLAGS=-Os > configure.log 2>&1 \
		|| { cat configure.log; exit 1; }
	$(DEPS_Q)$(MAKE) $(DEPS_SUBJOBS) -C $(DEPS_MUSL_SRC) \
		> $(DEPS_MUSL_SRC)/build.log 2>&1 \
		|| { cat $(DEPS_MUSL_SRC)/build.log; exit 1; }
	$(DEPS_Q)$(MAKE) -C $(DEPS_MUSL_SRC) install \
		>> $(DEPS_MUSL_SRC)/build.log 2>&1 \
		|| { cat $(DEPS_MUSL_SRC)/build.log; exit 1; }
	$(DEPS_Q)touch $@

$(DEPS_UAPI)/.stamp: $(DEPS_UAPI_SRC)/linux/version.h
	@echo "  UAPI    $(DEPS_UAPI_SRC) -> $(DEPS_UAPI)"
	$(DEPS_Q)rm -rf $(DEPS_UAPI)
	$(DEPS_Q)mkdir -p $(DEPS_UAPI)
	$(DEPS_Q)cp -RL $(DEPS_UAPI_SRC)/linux $(DEPS_UAPI_SRC)/asm-generic \
		$(DEPS_UAPI)/
	$(DEPS_Q)cp -RL $(DEPS_UAPI_ASM) $(DEPS_UAPI)/asm
	$(DEPS_Q)touch $@

endif

# mbedTLS's makefile does not track headers: clean first, so a changed
# configuration rebuilds every object.
$(MBEDTLS_LIBS): MAKEOVERRIDES :=
$(MBEDTLS_LIBS) &: $(DEPS_MBEDTLS_SRC)/.tern-unpacked $(DEPS_MBEDTLS_CONFIG) \
		$(O)/include/autoconf.h $(TOOLCHAIN_DEPS)
	@echo "  MBEDTLS $(DEPS_MBEDTLS_SRC)"
	$(DEPS_Q)$(MAKE) -s -C $(DEPS_MBEDTLS_SRC)/library clean
	$(DEPS_Q)$(MAKE) -s $(DEPS_SUBJOBS) -C $(DEPS_MBEDTLS_SRC)/library static \
		CC=$(DEPS_MBEDTLS_CC) AR=$(DEPS_CROSS)ar \
		CFLAGS="$(DEPS_MBEDTLS_LIB_CFLAGS)" \
		> $(DEPS_MBEDTLS_SRC)/build.log 2>&1 \
		|| { cat $(DEPS_MBEDTLS_SRC)/build.log; exit 1; }
	$(DEPS_Q)touch $(MBEDTLS_LIBS)

.DEFAULT_GOAL := $(DEPS_DEFAULT_GOAL)
