# sse_exporter: eBPF exporter of HTTP and Server-Sent-Events metrics.
#
#   make            build build/sse_exporter
#   sudo make run   install what is missing, build, run with defaults
#   sudo make test  install what is missing, build, run every test
#   sudo make bench overhead figures, measured in one run

BUILD    ?= build
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC       ?= cc
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD)
LDLIBS   := -lbpf -lelf -lz -lmicrohttpd -lgnutls -lcrypt -lpthread -lm
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
	      -Wno-unused-parameter -Iinclude -Ivmlinux

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

# Pure code: no I/O, no libbpf. Unit tests link against exactly this.
PURE_SRCS := user/http_head.c user/chunked.c user/sse.c user/path_norm.c \
	     user/json_scan.c user/histogram.c user/expo.c user/registry.c \
	     user/label_cap.c user/http_conn.c user/outcome.c \
	     user/strbuf.c user/metrics.c user/proc.c user/config.c user/log.c \
	     user/usage_scan.c user/provider.c user/breaker.c \
	     user/metrics_upstream.c user/correlate.c user/upstream.c user/json_skip.c \
	     user/tentative_write.c user/body_inflate.c user/tls_held.c \
	     user/version.c
PURE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(PURE_SRCS))
ALL_USER  := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(ALL_USER))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all run test unit e2e bench deps clean format check-format FORCE
# skeletons and BPF objects are kept, not deleted as intermediates
.SECONDARY:
all: $(BUILD)/sse_exporter

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard include/*.h bpf/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/user/%.o: user/%.c $(wildcard include/*.h user/*.h) $(SKELS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The version is compiled into one object, rebuilt whenever it changes, so
# that an incremental build does not tell two versions.
$(BUILD)/build_version.h: FORCE | $(BUILD)
	@echo '#define SSE_EXPORTER_VERSION "$(VERSION)"' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/user/version.o: $(BUILD)/build_version.h

$(BUILD)/sse_exporter: $(USER_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ -lcmocka -lm -lz

$(BUILD)/tests/test_web_config: tests/unit/test_web_config.c $(BUILD)/user/web_config.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ -lcmocka -lmicrohttpd -lgnutls -lcrypt

$(BUILD):
	@mkdir -p $(BUILD)/user $(BUILD)/tests

deps:
	scripts/setup.sh

run: deps all
	scripts/mounts.sh
	$(BUILD)/sse_exporter $(ARGS)

unit: $(UNIT_BINS)
	@scripts/run_unit.sh $(UNIT_BINS)

e2e: all
	scripts/mounts.sh
	/usr/bin/python3 tests/e2e/run.py

# Unit tests first: a parser bug shows there, not as an e2e mismatch; then
# the servers against the reference bodies, since the e2e ground truth
# leans on them.
test: deps all $(UNIT_BINS)
	@scripts/run_unit.sh $(UNIT_BINS)
	@scripts/mounts.sh
	/usr/bin/python3 tests/e2e/run.py --selfcheck
	/usr/bin/python3 tests/e2e/run.py

bench: deps all
	scripts/mounts.sh
	/usr/bin/python3 tests/bench/bench.py

format:
	clang-format -i $(wildcard bpf/*.c bpf/*.h include/*.h user/*.c user/*.h tests/unit/*.c)

check-format:
	clang-format --dry-run --Werror $(wildcard bpf/*.c bpf/*.h include/*.h user/*.c user/*.h tests/unit/*.c)

clean:
	rm -rf $(BUILD)
