# tern — top-level build (firmware style).
#
#   make help                  what is here
#   make <board>_defconfig     start a board's configuration (board/<board>/)
#   make menuconfig            change it; make savedefconfig writes it back
#   make                       build output/<board>/tern
#   make test                  every suite; ends with "N passed, N failed"
#
# The board in use is remembered in output/.board (default x86_64);
# BOARD=name on the command line overrides it for one call.

TOP := $(CURDIR)
KPY := /usr/bin/python3
BOARDS := $(notdir $(wildcard board/*))

-include output/.board
BOARD ?= x86_64
O := output/$(BOARD)
export KCONFIG_CONFIG := $(O)/.config

CONFIG_TARGETS := %_defconfig menuconfig olddefconfig savedefconfig help \
	clean distclean test sizes lint
ifeq ($(filter $(CONFIG_TARGETS),$(MAKECMDGOALS)),)
need_config := 1
endif
ifneq ($(filter all tern,$(MAKECMDGOALS)),)
need_config := 1
endif

Q := $(if $(filter 1,$(V)),,@)
.DEFAULT_GOAL := all
.PHONY: all help menuconfig olddefconfig savedefconfig clean distclean \
	test sizes lint run FORCE

# ---- configuration --------------------------------------------------------

%_defconfig: board/%/defconfig
	@mkdir -p output/$*
	KCONFIG_CONFIG=output/$*/.config $(KPY) -m defconfig --kconfig Kconfig $<
	@echo "BOARD := $*" > output/.board

$(O)/.config:
	@mkdir -p $(O)
	KCONFIG_CONFIG=$@ $(KPY) -m defconfig --kconfig Kconfig board/$(BOARD)/defconfig

menuconfig: $(O)/.config
	$(KPY) -m menuconfig Kconfig

olddefconfig: $(O)/.config
	$(KPY) -m olddefconfig Kconfig

savedefconfig: $(O)/.config
	$(KPY) -m savedefconfig --kconfig Kconfig --out board/$(BOARD)/defconfig
	@echo "wrote board/$(BOARD)/defconfig"

$(O)/auto.conf $(O)/include/config.h $(O)/include/autoconf.h: $(O)/.config Kconfig tools/kconfig/genconfig.py
	$(KPY) tools/kconfig/genconfig.py Kconfig $(O)/.config $(O)
	@touch $(O)/auto.conf

ifdef need_config
include $(O)/auto.conf

# ---- toolchain and dependencies (musl, mbedTLS from Debian sources) -------

include tools/deps.mk

CROSS := $(patsubst "%",%,$(CONFIG_CROSS_COMPILE))
STRIP := $(CROSS)strip
CC := $(TOOLCHAIN_CC)
CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wundef -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-Werror -fno-strict-aliasing -I$(O)/include -Isrc $(TOOLCHAIN_CFLAGS)
LDFLAGS := -pthread
CFLAGS += -pthread
ifeq ($(CONFIG_OPTIMIZE_SIZE),y)
CFLAGS += -Os -ffunction-sections -fdata-sections
LDFLAGS += -Wl,--gc-sections
else
CFLAGS += -O1 -g
endif
ifeq ($(CONFIG_SANITIZE),y)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
CFLAGS += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif
ifeq ($(CONFIG_STATIC),y)
LDFLAGS += -static
endif

# ---- the program ----------------------------------------------------------

include src/build.mk

OBJS := $(addprefix $(O)/obj/,$(obj-y))
LIB_OBJS := $(filter-out $(O)/obj/main.o,$(OBJS))

all: $(O)/tern

$(O)/obj/%.o: src/%.c $(O)/include/config.h $(TOOLCHAIN_DEPS) | $(MBEDTLS_HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(MBEDTLS_CFLAGS) -MMD -MP -c $< -o $@

$(O)/obj/conf/conf_default_text.c: config/default.conf tools/text2c.sh
	@mkdir -p $(dir $@)
	$(Q)sh tools/text2c.sh conf_default_text < $< > $@

$(O)/obj/conf/conf_default_text.o: $(O)/obj/conf/conf_default_text.c $(TOOLCHAIN_DEPS)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/tern.debug: $(OBJS) $(O)/obj/conf/conf_default_text.o $(MBEDTLS_LIBS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(O)/obj/conf/conf_default_text.o $(MBEDTLS_LIBS)

$(O)/tern: $(O)/tern.debug
ifeq ($(CONFIG_SANITIZE),y)
	$(Q)cp $< $@
else
	@echo "  STRIP   $@"
	$(Q)$(STRIP) -o $@ $<
endif

-include $(OBJS:.o=.d)
endif # need_config

sizes: 
	@$(MAKE) --no-print-directory BOARD=$(BOARD) all >/dev/null
	@ls -l $(O)/tern | awk '{printf "tern (stripped): %d bytes (%.1f KiB)\n", $$5, $$5/1024}'
	@size $(O)/tern.debug

# ---- tests ----------------------------------------------------------------

test:
	@sh tests/run.sh

lint:
	@mkdir -p output
	@sh tools/lint.sh

-include tests/build.mk

# ---- housekeeping ---------------------------------------------------------

help:
	@echo "boards: $(BOARDS) (current: $(BOARD))"
	@echo "  make <board>_defconfig  configure for a board"
	@echo "  make menuconfig         change options (output/<board>/.config)"
	@echo "  make olddefconfig       update .config after Kconfig changes"
	@echo "  make savedefconfig      write board/<board>/defconfig back"
	@echo "  make                    build output/<board>/tern"
	@echo "  make run                build and run on the embedded default"
	@echo "  make sizes              size of the stripped binary"
	@echo "  make test               all suites (lint, unit, fuzz replay, integration)"
	@echo "  make lint               format, cppcheck, include layering, name prefixes"
	@echo "  make deps-fetch         fetch and check Debian sources into dl/"
	@echo "  make clean / distclean  remove output/<board> / output and dl"

run: $(O)/tern
	$(O)/tern

clean:
	rm -rf $(O)/obj $(O)/tern $(O)/tern.debug $(O)/tests

distclean:
	rm -rf output dl
