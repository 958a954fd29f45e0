#!/usr/bin/env bash
# make check: build, host unit tests, module metadata checks, then the guest test suites
# in a QEMU VM. Ends with one line "N passed, N failed" totalling all of them.
#   scripts/check.sh [KDIR]        (env SUITES="kecho.sh ..." to pick guest suites)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
SUITES=${SUITES:-kecho.sh khttpd.sh drop-tcp-socket.sh}
OUT=${CHECK_OUT:-$ROOT/target/check}
rm -rf "$OUT"; mkdir -p "$OUT"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }
step() { echo; echo "=== $*  [$(date +%T)]"; }

step "build (KDIR=$KDIR)"
if ! make -s KDIR="$KDIR" all; then
    fail "build"
    echo "$passed passed, $failed failed"
    exit 1
fi
pass "build"

step "host unit tests (cargo test)"
cargo test 2>&1 | tee "$OUT/cargo-test.log" | grep -E '^(test result|error|failures:|---- )' || true
host_rc=${PIPESTATUS[0]}
while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$OUT/cargo-test.log")
if [ "$host_rc" -ne 0 ] && ! grep -q '^test result' "$OUT/cargo-test.log"; then
    fail "cargo test did not run (see $OUT/cargo-test.log)"
fi

step "module metadata"
for ko in kecho/kecho.ko khttpd/khttpd.ko drop-tcp-socket/drop-tcp-socket.ko; do
    info=$(modinfo "$ko")
    for field in license author description vermagic; do
        if echo "$info" | grep -q "^$field: *[^ ]"; then pass "modinfo $ko $field"; else fail "modinfo $ko $field"; fi
    done
done
if modinfo -F name drop-tcp-socket/drop-tcp-socket.ko | grep -qx drop_tcp_socket; then
    pass "modinfo drop-tcp-socket name drop_tcp_socket"
else
    fail "modinfo drop-tcp-socket name drop_tcp_socket"
fi
for p in "kecho port:.*(ushort)" "kecho backlog:.*(int)" "kecho bench:.*(bool)" \
         "khttpd port:.*(ushort)" "khttpd backlog:.*(int)" "khttpd root:.*(charp)" "khttpd listings:.*(bool)"; do
    m=${p%% *}; want=${p#* }
    if modinfo "$m/$m.ko" | grep -q "^parm: *$want"; then pass "modinfo $m parm $want"; else fail "modinfo $m parm $want"; fi
done

step "guest tests: $SUITES"
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$KDIR/include/generated/utsrelease.h")
bins=target/x86_64-unknown-linux-gnu/release
adds=(--add scripts/guest:/tests)
for ko in kecho/kecho.ko khttpd/khttpd.ko drop-tcp-socket/drop-tcp-socket.ko; do
    [ -f "$ko" ] && adds+=(--add "$ko:/modules/")
done
for b in echo-check bench user-echo-server htstress droptw tw-maker; do
    [ -x "$bins/$b" ] && adds+=(--add "$bins/$b:/bin/")
done
# A real HTTP client for the guest: curl with its shared libraries.
rm -rf "$OUT/stage" && scripts/vm/stage-binary.sh "$OUT/stage" "$(command -v curl)" && adds+=(--add "$OUT/stage:/")
# tcp_diag: sock_diag for droptw (a module in Debian kernels).
img=$(scripts/vm/mkinitramfs.sh --release "$rel" --out "$OUT/initramfs.cpio.gz" --module tcp_diag "${adds[@]}") || { fail "initramfs"; img=; }
if [ -n "$img" ]; then
    scripts/vm/run.sh --release "$rel" --initrd "$img" --results "$OUT/guest" --timeout "${GUEST_TIMEOUT:-1500}" \
        --cmd "/tests/run-all.sh $SUITES"
    vm_rc=$?
    echo "guest exit status: $vm_rc (console log: $OUT/guest/console.log)"
    if [ -f "$OUT/guest/guest-results.txt" ]; then
        grep -E '^(PASS|FAIL|SKIP)' "$OUT/guest/guest-results.txt" | sed 's/^/  guest /' || true
        while read -r p f; do
            passed=$((passed + p)); failed=$((failed + f))
        done < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$OUT/guest/guest-results.txt")
    fi
    # A crash or time-out loses the suites that did not finish: count that as a failure.
    if [ "$vm_rc" -ge 124 ]; then fail "guest run ended abnormally (status $vm_rc)"; fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
