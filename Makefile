# sse_exporter: eBPF exporter of HTTP and Server-Sent-Events metrics.
#
#   make            build build/sse_exporter
#   sudo make run   install what is missing, build, run with defaults
#   sudo make test  install what is missing, build, run every test
#   sudo make bench overhead figures, measured in one run
#   make fuzz       each libFuzzer target for FUZZ_SECONDS
#   sudo make image the container image (podman), and image-test runs it
#   sudo make kernel-test  the exporter booted under other kernels (qemu)

BUILD    ?= build
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC       ?= cc
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
IMAGE    ?= localhost/sse-exporter
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD)
# make unit-san: the unit tests and what they link, in a build of their own
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS   += $(if $(SANITIZE),$(SAN_FLAGS))
# make fuzz: the parsers instrumented for libFuzzer, in a build of their own
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	      -fno-omit-frame-pointer
CFLAGS   += $(if $(FUZZ),$(FUZZ_FLAGS))
LDLIBS   := -lbpf -lelf -lz -lmicrohttpd -lgnutls -lcrypt -lyaml -lpthread -lm
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
	      -Wno-unused-parameter -Iinclude -Ivmlinux

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

# user/ by layer (docs/design.md, "The tree"); includes are written from
# user/, so that a file's layer shows where it includes from.
LAYERS    := core ident kernel track proto llm metrics web
ALL_USER  := $(wildcard user/*.c $(patsubst %,user/%/*.c,$(LAYERS)))
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(ALL_USER))
USER_HDRS := $(wildcard $(patsubst %,user/%/*.h,$(LAYERS)))
objs_of    = $(patsubst user/%.c,$(BUILD)/user/%.o,$(wildcard $(patsubst %,user/%/*.c,$(1))))

# What unit tests link: every layer without libbpf or libmicrohttpd (not
# kernel/ but its kmaps, kconns and klines, through which track/ reaches the kernel's maps;
# not web/, whose web_config has a rule of its own).
UNIT_OBJS := $(call objs_of,core ident track proto llm metrics) $(BUILD)/user/kernel/kmaps.o \
	     $(BUILD)/user/kernel/event_rings.o \
	     $(BUILD)/user/kernel/kconns.o $(BUILD)/user/kernel/klines.o

FORMATTED := $(wildcard bpf/*.c bpf/*.h include/*.h tests/unit/*.c tests/unit/*.h tests/bench/*.c \
			tests/kernel/*.c) \
	     $(wildcard tests/fuzz/*.c tests/fuzz/*.h) \
	     $(ALL_USER) $(USER_HDRS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all run test unit unit-san fuzz fuzz-smoke fuzz-bins e2e bench soak deps image image-test \
	kernel-test clean format check-format check-layers check-tree check-deploy check-rules \
	check-dashboards FORCE
# skeletons and BPF objects are kept, not deleted as intermediates; a
# target whose recipe failed is (an empty skeleton must not count as built)
.SECONDARY:
.DELETE_ON_ERROR:
all: $(BUILD)/sse_exporter

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard include/*.h bpf/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

# The compat build of each object the exporter loads, for kernels that
# lack what the default build uses (bpf/features.bpf.h); the loader picks
# one of the two by probing the kernel.
COMPAT_SRCS  := bpf/conn_track.bpf.c bpf/sock_io.bpf.c bpf/ssl.bpf.c
COMPAT_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%_compat.skel.h,$(COMPAT_SRCS))
$(BUILD)/%.compat.bpf.o: bpf/%.bpf.c $(wildcard include/*.h bpf/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -DSSE_BPF_COMPAT -c $< -o $@

$(BUILD)/%_compat.skel.h: $(BUILD)/%.compat.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_compat_bpf > $@

$(BUILD)/user/%.o: user/%.c $(wildcard include/*.h) $(USER_HDRS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The objects that include a skeleton: the unit tests link none of them, so
# that their builds compile no BPF.
$(BUILD)/user/kernel/loader.o $(BUILD)/user/kernel/tls_attach.o: $(SKELS) $(COMPAT_SKELS)

# The version is compiled into one object, rebuilt whenever it changes, so
# that an incremental build does not tell two versions.
$(BUILD)/build_version.h: FORCE | $(BUILD)
	@echo '#define SSE_EXPORTER_VERSION "$(VERSION)"' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/user/core/version.o: $(BUILD)/build_version.h

# The live page, compiled in as C string literals: each line quoted, its
# backslashes, quotes and question marks (no trigraph) escaped.
$(BUILD)/live_page_html.h: user/web/live_page.html | $(BUILD)
	sed -e 's/[\\"?]/\\&/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
$(BUILD)/user/web/live_page.o: $(BUILD)/live_page_html.h

$(BUILD)/sse_exporter: $(USER_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_DEFS) $^ -o $@ -lcmocka -lm -lz -lgnutls -lpthread

# The catalog test reads docs/metrics.md when it runs, from any directory.
$(BUILD)/tests/test_catalog: TEST_DEFS = -DMETRICS_DOC='"$(CURDIR)/docs/metrics.md"'

$(BUILD)/tests/test_web_config: tests/unit/test_web_config.c $(BUILD)/user/web/web_config.o \
				$(BUILD)/user/web/web_config_yaml.o $(BUILD)/user/core/log.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ -lcmocka -lmicrohttpd -lgnutls -lcrypt -lyaml

# The live page's test compares the page compiled in with its source.
$(BUILD)/tests/test_live_page: tests/unit/test_live_page.c $(BUILD)/user/web/live_page.o \
			       $(BUILD)/user/core/strbuf.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DLIVE_PAGE_SRC='"$(CURDIR)/user/web/live_page.html"' $^ -o $@ -lcmocka

# One libFuzzer target per parser of the wire or of /proc (tests/fuzz/):
# each links what it reads from one archive of the unit tests' objects
# and web_config's. Every tests/fuzz/fuzz_*.c is a target here and in
# make fuzz and make fuzz-smoke.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/bin/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3

$(BUILD)/libparsers.a: $(UNIT_OBJS) $(BUILD)/user/web/web_config.o $(BUILD)/user/web/web_config_yaml.o
	$(AR) rcs $@ $^

$(BUILD)/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(wildcard tests/unit/*.h) \
		     $(BUILD)/libparsers.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(BUILD)/libparsers.a -o $@ \
		-lz -lmicrohttpd -lgnutls -lcrypt -lyaml -lm -lpthread

fuzz-bins:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=$(CLANG) FUZZ=1 $(FUZZ_BINS)

# Each target from its corpus (tests/fuzz/corpus/NAME, plus what earlier
# runs found, in $(BUILD)/fuzz/corpus/NAME), one at a time, niced.
fuzz: fuzz-bins
	@scripts/run_fuzz.sh $(FUZZ_SECONDS) $(BUILD)/fuzz $(FUZZ_BINS)

# make test's share: a few seconds each, so that a parser that crashes or
# breaks its invariant on its corpus or near it fails CI.
fuzz-smoke: fuzz-bins
	@scripts/run_fuzz.sh $(FUZZ_SMOKE_SECONDS) $(BUILD)/fuzz $(FUZZ_BINS)

$(BUILD):
	@mkdir -p $(BUILD)/user $(BUILD)/tests

deps:
	scripts/setup.sh

run: deps all
	scripts/mounts.sh
	$(BUILD)/sse_exporter $(ARGS)

unit: $(UNIT_BINS)
	@scripts/run_unit.sh $(UNIT_BINS)

# The unit tests again under ASan and UBSan: a read past a buffer, a
# misaligned access or an overflow fails them where the plain build passes.
unit-san:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/san SANITIZE=1 unit

e2e: all
	scripts/mounts.sh
	scripts/base_image.sh
	/usr/bin/python3 tests/e2e/run.py

# The layer, tree, manifest, rule and dashboard checks, then unit tests, plain and
# sanitized, and the fuzz targets for a few seconds each: a parser bug
# shows there, not as an e2e mismatch; then the
# servers against the reference bodies, since the e2e ground truth leans
# on them; then the e2e suite, and its groups that stream hardest again
# with every stream counted from copies (run.py --copy-path), so that both
# ways of counting stay exact; last the image (15 s once built, 2 min the
# first time).
COPY_PATH_E2E := go: node: kstream:
test: deps all $(UNIT_BINS)
	@scripts/check_layers.sh
	@scripts/check_tree.sh
	@$(MAKE) --no-print-directory check-deploy
	@$(MAKE) --no-print-directory check-rules
	@$(MAKE) --no-print-directory check-dashboards
	@scripts/run_unit.sh $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit-san
	@$(MAKE) --no-print-directory kernel-test
	@$(MAKE) --no-print-directory fuzz-smoke
	@scripts/mounts.sh
	@scripts/base_image.sh
	/usr/bin/python3 tests/e2e/run.py --selfcheck
	/usr/bin/python3 tests/e2e/run.py
	/usr/bin/python3 tests/e2e/run.py --copy-path $(COPY_PATH_E2E)
	@$(MAKE) --no-print-directory image-test

# The image builds the exporter inside (Containerfile): the host needs
# podman and the base image, not the compiler. Bridge networking (the test
# publishes the exporter's port) needs netavark and iptables.
image:
	scripts/setup.sh podman runc netavark iptables debootstrap
	scripts/base_image.sh
	podman build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest \
		-f Containerfile .

image-test: image
	scripts/mounts.sh
	/usr/bin/python3 tests/e2e/image.py $(IMAGE):$(VERSION)

# The kernel matrix (tests/kernel/): Debian's kernels, in qemu without
# KVM, from an initramfs of the exporter, its libraries and an SSE pair;
# one VM at a time, niced; 5.10 loads the compat build (README,
# "Requirements").
KTEST_INITRAMFS := $(BUILD)/kernels/initramfs.cpio.gz
$(BUILD)/kernel/ssepair: tests/kernel/ssepair.c | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ -lssl -lcrypto

$(KTEST_INITRAMFS): $(BUILD)/sse_exporter $(BUILD)/kernel/ssepair tests/kernel/init \
		    tests/kernel/initramfs.sh
	@mkdir -p $(dir $@)
	tests/kernel/initramfs.sh $@ $(BUILD)/sse_exporter $(BUILD)/kernel/ssepair

kernel-test: all
	scripts/setup.sh qemu-system-x86 busybox-static cpio openssl libssl-dev
	KERNELS=$(BUILD)/kernels scripts/kernel_images.sh
	@$(MAKE) --no-print-directory $(KTEST_INITRAMFS)
	/usr/bin/python3 tests/kernel/run.py --kernels $(BUILD)/kernels

bench: deps all
	scripts/mounts.sh
	/usr/bin/python3 tests/bench/bench.py

# SOAK_MINUTES (10) of steady mixed traffic, checked every minute
soak: deps all
	scripts/mounts.sh
	/usr/bin/python3 tests/soak/soak.py

format:
	clang-format -i $(FORMATTED)

check-layers:
	@scripts/check_layers.sh

check-tree:
	@scripts/check_tree.sh

# deploy/kubernetes without a cluster: kubectl's client side and our own
# checks, then each of those checks shown to fail on a broken copy.
check-deploy:
	@/usr/bin/python3 tests/deploy/check_manifests.py
	@/usr/bin/python3 tests/deploy/test_check_manifests.py

# deploy/prometheus: promtool's check and the rules' unit tests, our own
# checks; then each of those shown to fail on a broken copy, and every
# alert threshold, hold and recorded value shown pinned by a unit test.
check-rules:
	@/usr/bin/python3 tests/deploy/check_rules.py
	@/usr/bin/python3 tests/deploy/test_check_rules.py

# deploy/grafana without Grafana: the JSON is what dashboards.py writes,
# imports (schema, datasource variable, grid, variables), queries only
# metrics docs/metrics.md lists or deploy/prometheus records, draws the
# thresholds of the alerts it names; then each check shown to fail on a
# broken copy. tests/e2e's dashboards: group runs the queries and the
# rules on a real Prometheus.
check-dashboards:
	@/usr/bin/python3 tests/deploy/check_dashboards.py
	@/usr/bin/python3 tests/deploy/test_check_dashboards.py

check-format:
	clang-format --dry-run --Werror $(FORMATTED)

clean:
	rm -rf $(BUILD)
