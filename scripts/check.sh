#!/usr/bin/env bash
# make check: host unit tests and the module layering check (scripts/check-layers.py)
# once, then for each kernel: build, module metadata checks, the kernel crate's
# compile-fail doc tests and the guest test suites in a QEMU VM booting that kernel.
# Ends with one line "N passed, N failed" totalling all of them.
# Besides the logs, $OUT (target/check) keeps results.txt (every PASS/FAIL line counted
# here; the guest suites' own lines are in <release>/guest/guest-results.txt) and
# summary.txt (the counts for the host and per kernel, and the total), which make report reads.
#
#   scripts/check.sh [KDIR...]   default: every kernel build tree found
#                                (scripts/kbuild/find-kdir.sh --all), e.g. Debian 6.1 and 6.12
#   scripts/check.sh --debug     make check-debug: the same on the sanitizer kernel
#                                (KASAN, lockdep, kmemleak...; scripts/debug-kernel/build.sh
#                                builds it once and caches it), without the host tests
#   env SUITES="kecho.sh ..."    guest suites to run (default: all)
#       TESTS=ERE                only the guest tests whose name matches (e.g. 'khttpd_memory|drop_conc')
#       CHECK_HOST=0             skip the host tests and the layers check
#       GUEST_TIMEOUT=SECS       hard limit per guest boot (default 1500; 3600 with --debug)
#       HOSTILE=0                skip the hostile client run (scripts/hostile.sh; runs with
#                                khttpd.sh, HOSTILE_SECS long, default 60)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEBUG=0
if [ "${1:-}" = --debug ]; then
    DEBUG=1; shift
    t=$(date +%s)
    dk=$(scripts/debug-kernel/build.sh) || { echo "check.sh: building the debug kernel failed"; echo "0 passed, 1 failed"; exit 1; }
    echo "debug kernel: $dk (ready after $(( $(date +%s) - t )) s; built in $(cat "$dk/build-seconds") s)"
    KDIRS=("$dk/linux")
    DEBUG_IMAGE=$dk/linux/arch/x86/boot/bzImage
    DEBUG_MODDIR=$dk/modules/lib/modules
elif [ $# -gt 0 ]; then KDIRS=("$@"); else mapfile -t KDIRS < <(scripts/kbuild/find-kdir.sh --all); fi
[ ${#KDIRS[@]} -gt 0 ] || { echo "check.sh: no kernel build tree found (run scripts/setup.sh)" >&2; exit 1; }
SUITES=${SUITES:-kmods-selftest.sh kecho.sh khttpd.sh khttpd-clients.sh drop-tcp-socket.sh kprobe-timer.sh}
OUT=${CHECK_OUT:-$ROOT/target/check$([ $DEBUG = 1 ] && echo -debug)}
rm -rf "$OUT"; mkdir -p "$OUT"
KOS="kecho/kecho.ko khttpd/khttpd.ko drop-tcp-socket/drop-tcp-socket.ko kprobe-timer/kprobe-timer.ko kmods-selftest/kmods-selftest.ko"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; echo "PASS: $1" >> "$OUT/results.txt"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; echo "FAIL: $1" >> "$OUT/results.txt"; }
echo "started: $(date -u '+%Y-%m-%d %H:%M UTC')" > "$OUT/summary.txt"
step() { echo; echo "=== $*  [$(date +%T)]"; }

if [ $DEBUG = 0 ] && [ "${CHECK_HOST:-1}" != 0 ]; then
    step "host unit tests (cargo test)"
    cargo test 2>&1 | tee "$OUT/cargo-test.log" | grep -E '^(test result|error|failures:|---- )' || true
    host_rc=${PIPESTATUS[0]}
    while read -r p f; do
        passed=$((passed + p)); failed=$((failed + f))
    done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$OUT/cargo-test.log")
    if [ "$host_rc" -ne 0 ] && ! grep -q '^test result' "$OUT/cargo-test.log"; then
        fail "cargo test did not run (see $OUT/cargo-test.log)"
    fi
    step "module layers (scripts/check-layers.py: no import cycles)"
    if python3 scripts/check-layers.py > "$OUT/check-layers.log" 2>&1; then
        pass "module layers: no import cycles"
    else
        grep -A4 -E 'CYCLE|Traceback' "$OUT/check-layers.log"
        fail "module layers: import cycles (see $OUT/check-layers.log)"
    fi
    echo "host: $passed passed, $failed failed" >> "$OUT/summary.txt"
fi

# A real HTTP client for the guest: curl with its shared libraries; and the third-party
# tools of khttpd-clients.sh (a missing one skips its test there). GNU wget goes in as
# gnu-wget: the guest's wget is busybox's.
stage=$OUT/stage
scripts/vm/stage-binary.sh "$stage" "$(command -v curl)" || fail "staging curl"
for tool in ab h2load slowhttptest wget; do
    command -v $tool > /dev/null || { echo "note: $tool not installed (scripts/setup.sh): its guest test is skipped"; continue; }
    scripts/vm/stage-binary.sh "$stage" "$(command -v $tool)" || fail "staging $tool"
done
[ -f "$stage/usr/bin/wget" ] && mv "$stage/usr/bin/wget" "$stage/usr/bin/gnu-wget"

check_kernel() {
    local kdir=$1 rel out
    rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
    out=$OUT/$rel
    mkdir -p "$out"
    step "[$rel] build (KDIR=$kdir)"
    # make's own status counts too: its post-link checks (check-no-panic.py: a reachable
    # Rust panic) fail it after the .ko files exist.
    make -s KDIR="$kdir" all 2>&1 | grep -v '^Skipping BTF generation'
    local make_rc=${PIPESTATUS[0]}
    if [ "$make_rc" -ne 0 ] || [ ! -f kecho/kecho.ko ] || ! modinfo -F vermagic kecho/kecho.ko | grep -q "^$rel "; then
        fail "[$rel] build (make exit status $make_rc)"
        return
    fi
    pass "[$rel] build"

    step "[$rel] module metadata"
    local ko m want p
    for ko in $KOS; do
        for field in license author description vermagic; do
            if modinfo -F "$field" "$ko" | grep -q .; then pass "[$rel] modinfo $ko $field"; else fail "[$rel] modinfo $ko $field"; fi
        done
    done
    if modinfo -F name drop-tcp-socket/drop-tcp-socket.ko | grep -qx drop_tcp_socket; then
        pass "[$rel] modinfo drop-tcp-socket name drop_tcp_socket"
    else
        fail "[$rel] modinfo drop-tcp-socket name drop_tcp_socket"
    fi
    for p in "kecho port:.*(ushort)" "kecho backlog:.*(int)" "kecho bench:.*(bool)" \
             "khttpd port:.*(ushort)" "khttpd backlog:.*(int)" "khttpd root:.*(charp)" \
             "khttpd listings:.*(bool)" "khttpd sendfile:.*(bool)" "khttpd timeout_ms:.*(uint)" \
             "khttpd max_active:.*(int)" "khttpd compress:.*(bool)" \
             "khttpd header_timeout_ms:.*(uint)" "khttpd send_timeout_ms:.*(uint)" "khttpd max_connections:.*(uint)" \
             "khttpd uid:.*(uint)" "khttpd gid:.*(uint)" "kecho timeout_ms:.*(uint)" "kecho max_connections:.*(uint)" \
             "kprobe-timer symbols:.*(charp)" "kprobe-timer maxactive:.*(int)"; do
        m=${p%% *}; want=${p#* }
        if modinfo "$m/$m.ko" | grep -q "^parm: *$want"; then pass "[$rel] modinfo $m parm $want"; else fail "[$rel] modinfo $m parm $want"; fi
    done

    step "[$rel] kernel crate doc tests (compile-fail: misuse of safe APIs must not compile)"
    local line
    while IFS= read -r line; do
        case $line in
            PASS:*) pass "[$rel] ${line#PASS: }" ;;
            FAIL:*) fail "[$rel] ${line#FAIL: }" ;;
        esac
    done < <(python3 scripts/kbuild/doctest.py "build/$rel" 2>&1 | tee "$out/doctest.log")
    grep -q '^[0-9]* passed' "$out/doctest.log" || fail "[$rel] doc tests did not run (see $out/doctest.log)"

    local image=/boot/vmlinuz-$rel moddir=/lib/modules vm_args=() guest_env=""
    if [ $DEBUG = 1 ]; then
        image=$DEBUG_IMAGE moddir=$DEBUG_MODDIR
        # KASAN's shadow (1/8), kmemleak's and lockdep's tables need more than 1 GiB.
        # --no-pvh: this kernel does not start through the PVH entry (nothing on the
        # console); booting the bzImage costs a few seconds of decompression. Under TCG
        # its TSC is marked unstable and the TSC-deadline timer never fires (boot hangs
        # in the RCU self-tests): use the LAPIC's own timer.
        # printk.time=1: the guest tests read the kernel log by timestamp.
        vm_args=(--kernel "$image" --mem 2048 --no-pvh --append "tsc=reliable lapic=notscdeadline printk.time=1")
        # KASAN, lockdep and kmemleak make the guest several times slower (8,000
        # requests of khttpd_200_concurrent_clients took over 300 s): a longer limit
        # per test; what the tests assert is unchanged.
        # T_SLOW: suites use smaller counts where a test only needs many of something
        # (the sanitizer kernel serves ~70 requests/s)
        guest_env="T_TIMEOUT=1200 T_SLOW=1 "
    fi
    if [ ! -f "$image" ] || [ ! -d "$moddir/$rel" ]; then
        echo "note: no $image or $moddir/$rel: built only, guest tests skipped for $rel"
        echo "note $rel: no $image or $moddir/$rel: built only, guest tests skipped" >> "$OUT/summary.txt"
        return
    fi
    if [ -n "${TESTS:-}" ]; then
        case $TESTS in *\'*) echo "check.sh: TESTS may not contain a single quote" >&2; exit 2 ;; esac
        guest_env+="T_ONLY='$TESTS' "
    fi
    step "[$rel] guest tests: $SUITES${TESTS:+ (tests matching $TESTS)}"
    local bins=target/x86_64-unknown-linux-gnu/release
    local adds=(--add scripts/guest:/tests --add "$stage:/")
    for ko in $KOS; do
        [ -f "$ko" ] && adds+=(--add "$ko:/modules/")
    done
    for b in echo-check bench user-echo-server htstress droptw tw-maker slowclient khttpd-stat; do
        [ -x "$bins/$b" ] && adds+=(--add "$bins/$b:/bin/")
    done
    local img vm_rc
    # tcp_diag: sock_diag for droptw (a module in Debian kernels).
    if ! img=$(scripts/vm/mkinitramfs.sh --release "$rel" --modules-dir "$moddir" --out "$out/initramfs.cpio.gz" --module tcp_diag --module deflate "${adds[@]}"); then
        fail "[$rel] initramfs"
        return
    fi
    scripts/vm/run.sh --release "$rel" "${vm_args[@]}" --initrd "$img" --results "$out/guest" \
        --timeout "${GUEST_TIMEOUT:-$([ $DEBUG = 1 ] && echo 3600 || echo 1500)}" \
        --cmd "$guest_env/tests/run-all.sh $SUITES"
    vm_rc=$?
    echo "guest exit status: $vm_rc (console log: $out/guest/console.log)"
    if [ -f "$out/guest/guest-results.txt" ]; then
        grep -E '^(PASS|FAIL|SKIP)' "$out/guest/guest-results.txt" | sed "s/^/  [$rel] guest /" || true
        while read -r p f; do
            passed=$((passed + p)); failed=$((failed + f))
        done < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out/guest/guest-results.txt")
    fi
    if [ -s "$out/guest/durations.txt" ]; then
        echo "[$rel] slowest guest tests (seconds; all in $out/guest/durations.txt):"
        sort -rn "$out/guest/durations.txt" | head -n 8 | sed 's/^/    /'
    fi
    # A crash or time-out loses the suites that did not finish: count that as a failure.
    if [ "$vm_rc" -ge 124 ]; then fail "[$rel] guest run ended abnormally (status $vm_rc)"; fi
}

for kdir in "${KDIRS[@]}"; do
    p0=$passed f0=$failed
    check_kernel "$kdir"
    rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
    echo "kernel ${rel:-$kdir}: $((passed - p0)) passed, $((failed - f0)) failed" >> "$OUT/summary.txt"
done

# khttpd against a hostile client from this machine (scripts/hostile.sh), on the last
# kernel checked (its modules are the ones built now); with khttpd's suite only.
if [[ " $SUITES " == *" khttpd.sh "* ]] && [ "${HOSTILE:-1}" != 0 ]; then
    kdir=${KDIRS[${#KDIRS[@]}-1]}
    step "hostile client against khttpd (scripts/hostile.sh, ${HOSTILE_SECS:-60} s)"
    HOSTILE_SECS=${HOSTILE_SECS:-60} HOSTILE_DEBUG=$DEBUG scripts/hostile.sh "$kdir" 2>&1 | tee "$OUT/hostile.log" | grep -E '^(PASS|FAIL)'
    total=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$OUT/hostile.log" | tail -n 1)
    [ -n "$total" ] || total="0 1"
    grep -E '^(PASS|FAIL)' "$OUT/hostile.log" | sed 's/^\(PASS\|FAIL\): /\1: hostile: /' >> "$OUT/results.txt" || true
    passed=$((passed + ${total% *})); failed=$((failed + ${total#* }))
    echo "hostile: $total (passed failed)" >> "$OUT/summary.txt"
fi

echo
echo "$passed passed, $failed failed"
echo "total: $passed passed, $failed failed" >> "$OUT/summary.txt"
[ "$failed" -eq 0 ]
