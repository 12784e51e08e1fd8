# SPDX-License-Identifier: MIT
# zcfs build.  `make` builds build/zcfs; `make test` runs every test;
# `make test-asan` the same with ASan + UBSan in build-asan/; `make
# coverage` runs them on a gcc --coverage build in build-cov/ and prints
# line and branch coverage per folder of src/.

BUILD   ?= build
CC      ?= cc
PKGS    := fuse3 sqlite3 libmicrohttpd
WERROR  ?= $(if $(CI),-Werror,)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
           -Iinclude -Isrc -pthread -MMD -MP
LDLIBS  := -lisal -lcrypto -lpthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
# gcov counters (make coverage); -O0 keeps lines and branches as written.
ifeq ($(COV),1)
CFLAGS  += --coverage -O0
LDFLAGS += --coverage
endif

DEPS_OK := $(BUILD)/.deps-ok
# pkg-config only answers once the packages are there: ask lazily.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/cli/main.o
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Helper programs the mount cases run (not unit tests: run.sh runs those).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

# keep test objects between runs
.SECONDARY:

.PHONY: all run test test-asan coverage unit tools install clean fuzz deps bench
all: $(BUILD)/zcfs

deps: $(DEPS_OK)
$(DEPS_OK): scripts/install-deps.sh
	@mkdir -p $(BUILD)
	@scripts/install-deps.sh
	@touch $@

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libzcfs.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/zcfs: $(MAIN_OBJ) $(BUILD)/libzcfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libzcfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

unit: $(UNIT_BIN)

# One source file each, with the project's library (CRC32C, whole I/O).
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libzcfs.a | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libzcfs.a $(PKG_LIBS) $(LDLIBS)

tools: $(TOOL_BIN)

test: $(BUILD)/zcfs $(UNIT_BIN) tools
	@tests/run.sh $(BUILD)

# test builds the tools of build-asan too.
test-asan:
	$(MAKE) BUILD=build-asan SAN=1 test

# Not part of `make test`: the daemons and the mount write their counters
# when they exit (SIGTERM, an unmount), a process killed with -9 loses its
# own.  Counters of an earlier run are removed first.  ZCFS_TEST_FILTER
# narrows the tests as for `make test`; the summary covers what ran.
COV_BUILD ?= build-cov
coverage:
	$(MAKE) BUILD=$(COV_BUILD) COV=1 $(COV_BUILD)/zcfs unit tools
	find $(COV_BUILD) -name '*.gcda' -delete
	-tests/run.sh $(COV_BUILD)
	tests/coverage.sh $(COV_BUILD)

run: $(BUILD)/zcfs
	$(BUILD)/zcfs up --dir ./zcfs-data --mount ./zcfs-mnt

# The binary, the systemd units (contrib/systemd, their ExecStart pointed
# at BINDIR) and example configuration files.  systemd reads units from
# PREFIX/lib/systemd/system for PREFIX /usr and /usr/local.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR  ?= $(PREFIX)/share/doc/zcfs
install: $(BUILD)/zcfs
	install -D -m 0755 $(BUILD)/zcfs $(DESTDIR)$(BINDIR)/zcfs
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	for u in contrib/systemd/*.service; do \
		sed 's|/usr/local/bin/zcfs|$(BINDIR)/zcfs|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 0644 contrib/systemd/*.conf.example $(DESTDIR)$(DOCDIR)/
	@echo "installed $(BINDIR)/zcfs, units in $(UNITDIR) (systemctl daemon-reload)," \
	      "examples in $(DOCDIR)"

# libFuzzer target for the decoders of what peers send (clang): frame
# headers, wire blocks, capabilities, the handshake, the RPC receiver.
FUZZ_SECONDS ?= 30
FUZZ_SRC := tests/fuzz/fuzz_frame.c src/rpc/frame.c src/rpc/client.c src/common/wire.c \
	    src/common/auth.c src/common/util.c src/common/log.c
fuzz: | $(DEPS_OK)
	@mkdir -p build-fuzz/corpus
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	  -Iinclude -Isrc $(FUZZ_SRC) -o build-fuzz/fuzz_frame -lcrypto -lpthread
	build-fuzz/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build-fuzz/corpus

bench: $(BUILD)/zcfs
	bench/run.sh

clean:
	rm -rf build build-asan build-fuzz build-cov

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
