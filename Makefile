# ngx_http_broadcast_module: build, run, test, bench.
#
#   make run     install what is missing, build, start the whole stack
#   make stop    stop what `make run` started
#   make cluster / make cluster-stop   the same as a cluster (scripts/cluster.sh)
#   make test    unit tests + integration tests (prove -r t/) + make fuzz-ci
#   make bench   benchmarks, reported against a baseline of the same run
#   make costs   per-message CPU, Redis and MySQL costs (docs/CAPACITY.md)
#   make soak    30 minutes at half the maximum send rate, watched for leaks
#
SHELL        := /bin/bash
.DEFAULT_GOAL := all

NGX_SRC      ?= /usr/share/nginx/src
BUILD        := $(CURDIR)/build
# nginx cannot build from, or into, a path holding ".c" or ".S": such a
# checkout is reached through a dot-free symlink (scripts/module-dir.sh).
MODULE_DIR   := $(shell sh scripts/module-dir.sh '$(CURDIR)')
NGX_BUILD    := $(MODULE_DIR)/build/nginx
MODULE_SO    := $(NGX_BUILD)/ngx_http_broadcast_module.so
PHONE_LIB    := $(BUILD)/libbcphone.a
BIN          := $(BUILD)/bin

PKGS         := libcurl hiredis jansson yajl libmariadb libcrypto libargon2 \
                libpcre2-8
PKG_CFLAGS    = $(shell pkg-config --cflags $(PKGS) libmicrohttpd)
PKG_LIBS      = $(shell pkg-config --libs $(PKGS))
MHD_LIBS      = $(shell pkg-config --libs libmicrohttpd)

# SANITIZE=1 builds the daemons, tools and unit tests with ASan + UBSan.
ifeq ($(SANITIZE),1)
SAN_FLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
endif

# The daemons allocate per transfer and per event (libcurl, hiredis, the
# JSON readers): jemalloc's per-thread caches take 11-12% off the sender's
# CPU in the end-to-end benchmark. Sanitizer builds keep libc's malloc (ASan
# replaces it); MALLOC=libc opts out, e.g. for valgrind (which otherwise
# needs --soname-synonyms=somalloc='*jemalloc*').
ifeq ($(SANITIZE),1)
MALLOC       ?= libc
else
MALLOC       ?= jemalloc
endif
ifeq ($(MALLOC),jemalloc)
MALLOC_LIBS   = $(shell pkg-config --libs jemalloc)
endif

CC           ?= cc
CXX          ?= g++
CSTD         := -std=c11 -D_GNU_SOURCE
WARN         := -Wall -Wextra -Werror
CFLAGS       ?= -O2 -g
ALL_CFLAGS    = $(CSTD) $(WARN) $(CFLAGS) $(SAN_FLAGS) -Icommon $(PKG_CFLAGS)
LDLIBS_ALL    = $(PHONE_LIB) -lphonenumber -lprotobuf -licuuc -lstdc++ $(PKG_LIBS) -lpthread -lm

COMMON_SRCS  := $(wildcard common/bc_*.c)
COMMON_HDRS  := $(wildcard common/bc_*.h)
COMMON_OBJS  := $(COMMON_SRCS:common/%.c=$(BUILD)/common/%.o)
SENDER_SRCS  := $(wildcard sender/*.c)
SENDER_OBJS  := $(SENDER_SRCS:sender/%.c=$(BUILD)/sender/%.o)
SIM_SRCS     := $(wildcard sim/*.c)
SIM_OBJS     := $(SIM_SRCS:sim/%.c=$(BUILD)/sim/%.o)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_BINS    := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
MODULE_SRCS  := $(wildcard ngx_http_broadcast_module.c src/*.c src/*.h) \
                $(COMMON_SRCS) $(COMMON_HDRS) config

.PHONY: all deps module sender sim ctl probe unit test run stop bench costs soak \
        asan clean distclean valgrind

all: module sender sim ctl probe

deps:
	@bash scripts/install-deps.sh

# --- libphonenumber shim (C++), linked into the module and the daemons ----
$(PHONE_LIB): common/bc_phone.cc common/bc_phone.h
	@mkdir -p $(BUILD)/common
	$(CXX) -std=c++17 -O2 -g -fPIC -Wall -Wextra -Werror $(SAN_FLAGS) \
	    -Icommon -c common/bc_phone.cc -o $(BUILD)/common/bc_phone.o
	ar rcs $@ $(BUILD)/common/bc_phone.o

# --- the nginx module, against Debian's nginx-dev with its ABI flags ------
module: $(MODULE_SO)

# nginx's configure lists the module's sources: a file added or removed
# must configure again (the list is rewritten only when it changes)
SRC_LIST     := $(BUILD)/module-sources
$(shell mkdir -p $(BUILD); \
    l='$(sort $(wildcard src/*.c src/*.h common/bc_*.c common/bc_*.h))'; \
    [ "$$(cat $(SRC_LIST) 2>/dev/null)" = "$$l" ] || echo "$$l" > $(SRC_LIST))

$(NGX_BUILD)/Makefile: config $(PHONE_LIB) $(SRC_LIST)
	@mkdir -p $(NGX_BUILD)
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	  --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	  --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	  "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(MODULE_DIR) \
	  --builddir=$(NGX_BUILD) > $(NGX_BUILD)/configure.log

$(MODULE_SO): $(NGX_BUILD)/Makefile $(MODULE_SRCS) $(PHONE_LIB)
	$(MAKE) -s -f $(NGX_BUILD)/Makefile -C $(NGX_SRC) modules

# --- daemons and tools ------------------------------------------------------
$(BUILD)/common/%.o: common/%.c $(COMMON_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/sender/%.o: sender/%.c $(wildcard sender/*.h) $(COMMON_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isender -c $< -o $@

$(BUILD)/sim/%.o: sim/%.c $(wildcard sim/*.h) $(COMMON_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isim -c $< -o $@

sender: $(BIN)/broadcast-sender
$(BIN)/broadcast-sender: $(SENDER_OBJS) $(COMMON_OBJS) $(PHONE_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $(SENDER_OBJS) $(COMMON_OBJS) $(MALLOC_LIBS) \
	    $(LDLIBS_ALL)

ctl: $(BIN)/broadcastctl
CTL_SRCS     := $(wildcard tools/broadcastctl*.c)
$(BIN)/broadcastctl: $(CTL_SRCS) tools/broadcastctl.h $(COMMON_OBJS) $(PHONE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itools -o $@ $(CTL_SRCS) $(COMMON_OBJS) $(LDLIBS_ALL)

sim: $(BIN)/broadcast-sim
$(BIN)/broadcast-sim: $(SIM_OBJS) $(COMMON_OBJS) $(PHONE_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $(SIM_OBJS) $(COMMON_OBJS) $(MALLOC_LIBS) \
	    $(LDLIBS_ALL) $(MHD_LIBS)

# --- tests ------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c tests/unit/bc_unit.h $(COMMON_OBJS) $(PHONE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_OBJS) $(LDLIBS_ALL) -lcmocka

# drives common/bc_rc.c from stdin for t/44-redis-cluster.t (not installed)
probe: $(BIN)/rc_probe
$(BIN)/rc_probe: tests/cluster/rc_probe.c $(COMMON_OBJS) $(PHONE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_OBJS) $(LDLIBS_ALL)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; $$t; done

test: deps all unit
	prove -r t/
	$(MAKE) fuzz-ci

# ASan + UBSan build of everything (module, daemons, tools, unit tests) and
# the whole integration suite against it. Stock nginx is not instrumented, so
# the sanitizer runtime is preloaded into it (BC_NGINX_PRELOAD); its own
# exit-time allocations are not ours to chase (detect_leaks=0 for nginx only).
ASAN_BUILD     := $(CURDIR)/build/asan
ASAN_NGX_BUILD := $(MODULE_DIR)/build/asan/nginx
ASAN_MODULE_SO := $(ASAN_NGX_BUILD)/ngx_http_broadcast_module.so
ASAN_CFLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer \
                  -fno-sanitize-recover=undefined

$(ASAN_NGX_BUILD)/Makefile: config $(PHONE_LIB) $(SRC_LIST)
	@mkdir -p $(ASAN_NGX_BUILD)
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	  --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS) $(ASAN_CFLAGS)" \
	  --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC $(ASAN_CFLAGS)" \
	  "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(MODULE_DIR) \
	  --builddir=$(ASAN_NGX_BUILD) > $(ASAN_NGX_BUILD)/configure.log

$(ASAN_MODULE_SO): $(ASAN_NGX_BUILD)/Makefile $(MODULE_SRCS) $(PHONE_LIB)
	$(MAKE) -s -f $(ASAN_NGX_BUILD)/Makefile -C $(NGX_SRC) modules

asan: deps $(ASAN_MODULE_SO)
	$(MAKE) SANITIZE=1 BUILD=$(ASAN_BUILD) sender sim ctl probe unit
	BC_BUILD=$(ASAN_BUILD) \
	BC_NGINX_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	prove -r t/

# the sender under memcheck through sends, callbacks and SIGTERM
valgrind: deps all
	@bash scripts/valgrind-sender.sh

# --- the stack --------------------------------------------------------------
run: deps all
	@bash scripts/stack.sh start

stop:
	@bash scripts/stack.sh stop

# the stack as a cluster on loopback (scripts/cluster.sh): a Redis Cluster of
# 3 masters and 3 replicas, a MariaDB primary and replica, nginx on PORT and
# PORT+1, three senders, the simulator; state in var/cluster/, where to
# reach it all in var/cluster.env
.PHONY: cluster cluster-stop cluster-bench
cluster: deps all
	@bash scripts/cluster.sh start

cluster-stop:
	@bash scripts/cluster.sh stop

# e2e msgs/s on the cluster with 1, 2 and 3 senders, and on a plain stack
# (bench/cluster-bench.sh); var/bench/cluster.txt
cluster-bench: deps all
	@bash bench/cluster-bench.sh

bench: deps all
	@bash bench/bench.sh

# CPU seconds per 1,000 messages of each process, Redis commands and bytes,
# MySQL rows and bytes per message, on a private stack: var/bench/costs.txt
# (bench/costs.sh; also the part "costs" of make bench)
costs: deps all
	@bash bench/costs.sh

# SOAK_MINUTES (30) at half the measured maximum send rate, sampling RSS,
# fds, latency and queue depth every 30 s; var/soak/report.txt, exit 1 on
# growth (bench/soak.sh). Not part of `make test`.
soak: deps all
	@bash bench/soak.sh

clean:
	rm -rf $(BUILD)

distclean: stop cluster-stop clean
	rm -rf var

# --- fuzzing (libFuzzer, clang-14, ASan + UBSan) ---------------------------
#
#   make fuzz                   build build/fuzz/fuzz_* and run each one
#   make fuzz FUZZ_SECONDS=300  longer runs; crashes land in build/fuzz/artifacts
#   make fuzz-ci                every target FUZZ_CI_SECONDS (20) from a copy
#                               of its corpus, two at a time; fails on a
#                               crash, leak or timeout (part of `make test`)
#
# One row per target: fuzz/fuzz_<name>.c, the common/ sources it tests
# (FUZZ_SRCS_<name>) and its libraries (FUZZ_LIBS_<name>). Seeds are in
# fuzz/corpus/<name>/, dictionaries in fuzz/dict/<name>.dict.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 20
FUZZ_CI_SECONDS ?= 20
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CFLAGS   = $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -Icommon $(PKG_CFLAGS)
FUZZ_NAMES   := form twilio job phone sig_providers multipart csv template \
                route json utf8 media tz crypt
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

SIG_SRCS     := $(wildcard common/bc_sig*.c) common/bc_form.c

FUZZ_SRCS_form          := common/bc_form.c
FUZZ_SRCS_multipart     := common/bc_multipart.c common/bc_addr.c \
                           common/bc_media.c
FUZZ_SRCS_twilio        := $(SIG_SRCS)
FUZZ_LIBS_twilio        := -lcrypto
FUZZ_SRCS_sig_providers := $(SIG_SRCS)
FUZZ_LIBS_sig_providers := -lcrypto
FUZZ_SRCS_job           := common/bc_job.c
FUZZ_LIBS_job           := -ljansson -lyajl
# the libphonenumber shim is C++ built by g++ (not instrumented); the C
# side and the harness are
FUZZ_SRCS_phone         := $(PHONE_LIB)
FUZZ_LIBS_phone         := -lphonenumber -lprotobuf -licuuc -lstdc++
# libcsv as the module's CSV import drives it (the rest is nginx-bound)
FUZZ_LIBS_csv           := -lcsv
FUZZ_SRCS_template      := common/bc_template.c
FUZZ_LIBS_template      := -ljansson
FUZZ_SRCS_route         := common/bc_route.c
FUZZ_SRCS_json          := common/bc_json.c
FUZZ_LIBS_json          := -lyajl -ljansson
FUZZ_SRCS_utf8          := common/bc_utf8.c common/bc_segments.c
FUZZ_SRCS_media         := common/bc_media.c
# fuzz_tz.c includes common/bc_tz.c to reach its static TZif parser
FUZZ_DEPS_tz            := common/bc_tz.c
FUZZ_SRCS_crypt         := common/bc_crypt.c
FUZZ_LIBS_crypt         := -lcrypto

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_field.h $(COMMON_HDRS) \
                    $$(FUZZ_SRCS_$$*) $$(FUZZ_DEPS_$$*)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(FUZZ_LIBS_$*)

.PHONY: fuzz fuzz-build fuzz-ci
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$n $(FUZZ_DIR)/artifacts; \
	  echo "# fuzz_$$n for $(FUZZ_SECONDS)s"; \
	  dict=; [ -f fuzz/dict/$$n.dict ] && dict=-dict=fuzz/dict/$$n.dict; \
	  $(FUZZ_DIR)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=4096 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/fuzz_$$n- \
	    $(FUZZ_DIR)/corpus/$$n fuzz/corpus/$$n; \
	done

fuzz-ci: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_CI_SECONDS) \
	    bash fuzz/ci.sh $(FUZZ_NAMES)

# --- Debian packages (debian/, README "Packages") ---------------------------
#
#   make deb    build/deb/libnginx-mod-http-broadcast_*.deb and
#               build/deb/broadcast-sender_*.deb, built by dpkg-buildpackage
#               in a copy (build/deb/src); again only when a file changed
#
DEB_DIR      := $(BUILD)/deb
# what goes into the packages or their build (not the tests, benchmarks,
# fuzzers: editing those does not rebuild)
DEB_INPUTS   := $(filter-out t/% tests/% bench/% fuzz/%, \
                  $(wildcard $(shell git ls-files --cached --others \
                    --exclude-standard 2>/dev/null | grep -v ' ')))

.PHONY: deb
deb: $(DEB_DIR)/built.stamp

$(DEB_DIR)/built.stamp: $(DEB_INPUTS) packaging/build-deb.sh
	@bash packaging/build-deb.sh $(DEB_DIR)
	@touch $@
