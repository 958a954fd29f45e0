# kmods-rs: Rust kernel modules for stock kernels built without CONFIG_RUST.
#
#   make                 build every module for KDIR, and the user-space tools
#   make KDIR=/path      build against another kernel build tree
#   make check           host unit tests + guest tests in a QEMU VM, for every kernel
#   make check-debug     the guest tests on a sanitizer kernel (KASAN, lockdep, kmemleak,
#                        KFENCE...), built once from Debian's 6.1 source and cached
#   make debug-kernel    only build (or find in the cache) that kernel; prints its dir
#   make hostile         khttpd in a VM against a hostile HTTP client run from here (also
#                        part of make check); HOSTILE_DEBUG=1 on the sanitizer kernel
#   make run             boot a VM with the modules loaded, ports forwarded to localhost
#   make screenshot      headless Chromium screenshots of khttpd (opt-in: needs chromium)
#   make bench           every benchmark: bench-http, bench-echo, then bench-conns (see README)
#   make bench-http      khttpd vs nginx in one QEMU guest -> bench/results/http/
#   make bench-ab        khttpd builds/parameters against each other (BENCH_AB=...) -> bench/results/ab/
#   make bench-echo      kecho vs user-echo-server in one QEMU guest -> bench/results/echo/
#   make bench-conns     C100K: 100,000 held connections per server, one QEMU guest -> bench/results/conns/
#   make trace           where khttpd spends its time (ftrace, perf) -> bench/results/trace/
#   make report          the latest results of the above in one report -> target/report/
#                        (report.md with its charts, report.html); runs what is missing
#                        (check, bench-echo, bench-http, trace) unless REPORT_RUN_MISSING=0
#
# KDIR defaults to the running kernel's build tree when it exists, else the newest
# Debian linux-headers tree under /usr/src.

KDIR ?= $(shell scripts/kbuild/find-kdir.sh)
ifeq ($(KDIR),)
$(error no kernel build tree found: install linux-headers for your kernel or pass KDIR=)
endif
KREL := $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
ifeq ($(KREL),)
$(error $(KDIR) is not a configured kernel build tree)
endif

ROOT := $(CURDIR)
BUILD := $(ROOT)/build/$(KREL)
TARGET_JSON := $(BUILD)/x86_64-linux-kernel.json
BINDINGS := $(BUILD)/bindings_generated.rs
CARGO ?= cargo
HOST_TARGET := x86_64-unknown-linux-gnu
USER_BIN := $(ROOT)/target/$(HOST_TARGET)/release

# module dir -> cargo package, staticlib name, features
# Modules built by default (one directory and crate each).
MODULES ?= kecho khttpd drop-tcp-socket kprobe-timer kmods-selftest
crate_of = $(subst -,_,$(1))
features_kecho :=
features_khttpd := --features kmod
features_drop-tcp-socket := --features kmod
features_kprobe-timer :=
features_kmods-selftest :=

RUST_SRCS := $(shell find kernel bindings macros netaddr common $(MODULES) -name '*.rs' -o -name 'Cargo.toml' | grep -v '/target/') Cargo.toml kernel/helpers/helpers.h bindings/wrapper.h

.PHONY: all modules user check check-debug hostile debug-kernel screenshot test-host test-guest run bench bench-http bench-ab bench-echo bench-conns trace report clean distclean info
all: modules user

info:
	@echo "KDIR  = $(KDIR)"; echo "KREL  = $(KREL)"; echo "BUILD = $(BUILD)"

$(BUILD)/.probed: scripts/kbuild/probe.py $(KDIR)/.config
	@mkdir -p $(BUILD)
	python3 scripts/kbuild/probe.py $(KDIR) $(BUILD)
	@touch $@

$(BINDINGS): $(BUILD)/.probed bindings/wrapper.h kernel/helpers/helpers.h scripts/kbuild/bindgen.sh
	scripts/kbuild/bindgen.sh $(KDIR) $(BUILD)

# One cargo invocation per module: a staticlib holding the crate, core and alloc as one
# LTO object, compiled with flags derived from the kernel (see probe.py).
$(BUILD)/%.rust.o: $(BINDINGS) $(RUST_SRCS) scripts/kbuild/rust-object.sh
	env RUSTC_BOOTSTRAP=1 KMODS_BINDINGS=$(BINDINGS) CARGO_TARGET_DIR=$(BUILD)/target \
	    RUSTFLAGS="$$(tr '\n' ' ' < $(BUILD)/rustflags.txt)" \
	    $(CARGO) rustc -q -p $* --lib --crate-type staticlib --profile kernel $(features_$*) \
	    --target $(TARGET_JSON) -Zbuild-std=core,alloc -Zjson-target-spec
	scripts/kbuild/rust-object.sh $(BUILD)/target/x86_64-linux-kernel/kernel/lib$(call crate_of,$*).a $@

modules: $(foreach m,$(MODULES),$(BUILD)/$(m).rust.o)
	$(MAKE) -C $(KDIR) M=$(ROOT) KMODS_BUILD=$(BUILD) KMODS_MODULES="$(MODULES)" modules
	@scripts/kbuild/check-modules.sh $(KDIR) $(foreach m,$(MODULES),$(m)/$(m).ko)
	@scripts/kbuild/check-no-panic.py $(foreach m,$(MODULES),$(BUILD)/$(m).rust.o)
	@echo "built: $(foreach m,$(MODULES),$(m)/$(m).ko) for $(KREL)"

# Statically linked, so they can be copied into the VM's initramfs as they are.
user:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build -q --release -p user --target $(HOST_TARGET)

# Unit tests, then the check that no module imports one that imports it back.
test-host:
	$(CARGO) test -q
	python3 scripts/check-layers.py

# Every installed kernel (Debian 6.1 and 6.12 after scripts/setup.sh), or only KDIR when
# it is given on the command line.
check:
	scripts/check.sh $(if $(filter command line environment,$(origin KDIR)),$(KDIR))

# The sanitizer kernel's tree is KDIR there (see scripts/debug-kernel/build.sh).
check-debug:
	scripts/check.sh --debug

debug-kernel:
	@scripts/debug-kernel/build.sh

run: all
	scripts/run.sh $(KDIR)

hostile: all
	scripts/hostile.sh $(KDIR)

# Opt-in (needs Debian's chromium): screenshots of khttpd through make run's forward.
screenshot: all
	scripts/screenshot.sh $(KDIR)

# Benchmarks run in the QEMU guest, never on this machine. bench runs every benchmark,
# one after the other (each boots its own guest; they must not share the CPUs).
bench: all
	scripts/bench-http.sh $(KDIR); rc=$$?; scripts/bench-echo.sh $(KDIR) || rc=$$?; \
	scripts/bench-conns.sh $(KDIR) || rc=$$?; exit $$rc

bench-http: all
	scripts/bench-http.sh $(KDIR)

bench-ab: all
	scripts/bench-ab.sh $(KDIR)

bench-echo: all
	scripts/bench-echo.sh $(KDIR)

bench-conns: all
	scripts/bench-conns.sh $(KDIR)

trace: all
	scripts/trace.sh $(KDIR)

# One report of this machine's latest results (scripts/report.sh: options in the
# environment, REPORT_*). What it runs for missing results goes through this Makefile,
# with KDIR only when it is given here.
report:
	MAKE="$(MAKE)" REPORT_KDIR="$(if $(filter command line environment,$(origin KDIR)),$(KDIR))" scripts/report.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(ROOT) KMODS_BUILD=$(BUILD) KMODS_MODULES="$(MODULES)" clean
	rm -rf build

distclean: clean
	$(CARGO) clean
