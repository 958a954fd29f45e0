#!/usr/bin/env bash
# scripts/hostile.sh [KDIR]: khttpd against a hostile client (make hostile).
#
# Boots a QEMU guest (the kernel of KDIR, or the sanitizer kernel with HOSTILE_DEBUG=1)
# that serves a small tree with khttpd, its port forwarded to this machine, and runs
# scripts/hostile-http.py from here for HOSTILE_SECS seconds (default 120): pipelined,
# mutated, malformed and abandoned requests, path traversal, ranges, encodings. Every
# response is checked (framing; a file's bytes exactly; the secret beside the root, a
# symlink to it and a 0600 copy inside the root never served). Before that, inside the
# guest, `slowclient flood` sends pipelined requests it never reads, then resets or
# closes, in rounds, and after every round a fresh request must be answered. (Floods
# through QEMU's user-mode network crash QEMU, so the flood runs beside the server; and
# it runs first, not alongside: the TCP memory pressure it causes once left a FIN of
# the guest's to the forwarded client unacknowledged for minutes, which the client
# would report as a server that never closed.) Then khttpd is unloaded and the guest's
# kernel log is checked for warnings, oopses and sanitizer reports.
# Prints "N passed, N failed" last; results in target/hostile/.
#
# Environment: HOSTILE_SECS, HOSTILE_THREADS (default 8), HOSTILE_SEED (default 1),
# HOSTILE_DEBUG=1 (sanitizer kernel, scripts/debug-kernel/build.sh; its .ko files are
# built in place, so run `make` again afterwards), HOSTILE_PORT (host port, 18091),
# KHTTPD_ARGS (extra khttpd parameters), HOSTILE_FLOOD_SECS (in-guest flood, default
# 30; 0: none).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${HOSTILE_SECS:-120}
PORT=${HOSTILE_PORT:-18091}
STOP_PORT=$((PORT + 1))
OUT=$ROOT/target/hostile
rm -rf "$OUT"; mkdir -p "$OUT"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }
finish() { echo "$passed passed, $failed failed"; exit $([ $failed = 0 ] && echo 0 || echo 1); }

vm_args=(--mem 2048)
if [ "${HOSTILE_DEBUG:-0}" = 1 ]; then
    dk=$(scripts/debug-kernel/build.sh) || { fail "building the sanitizer kernel"; finish; }
    KDIR=$dk/linux
    vm_args+=(--kernel "$dk/linux/arch/x86/boot/bzImage" --no-pvh
              --append "tsc=reliable lapic=notscdeadline printk.time=1")
    moddir=(--modules-dir "$dk/modules/lib/modules")
    secs_up=600 answer_s=60 probe_s=120
else
    KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
    moddir=()
    secs_up=120 answer_s=20 probe_s=30
fi
flood_secs=${HOSTILE_FLOOD_SECS:-30}
secs_up=$((secs_up + flood_secs))
bins=target/x86_64-unknown-linux-gnu/release
if [ "$flood_secs" != 0 ] && [ ! -x $bins/slowclient ]; then
    RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release -p user --target x86_64-unknown-linux-gnu --bin slowclient \
        || { fail "build slowclient"; finish; }
fi
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$KDIR/include/generated/utsrelease.h")
if ! modinfo -F vermagic khttpd/khttpd.ko 2>/dev/null | grep -q "^$rel "; then
    make -s KDIR="$KDIR" modules || { fail "build khttpd for $rel"; finish; }
fi

# The served tree, and beside it (outside the root) the secret no response may carry.
tree=$OUT/tree
mkdir -p "$tree/www/dir/sub" "$tree/www/site"
python3 - "$tree" <<'EOF'
import random, sys
t = sys.argv[1]
r = random.Random(5)
words = ["alpha", "beta", "gamma", "kernel", "rust", "socket", "page"]
files = {
    "small.txt": b"hello world\n",
    "text.txt": " ".join(r.choice(words) for _ in range(8000)).encode(),
    "mid.bin": bytes(r.randrange(256) for _ in range(4096)),
    "edge16k.bin": bytes(r.randrange(256) for _ in range(16384)),
    "big.bin": bytes(r.randrange(256) for _ in range(300000)),
    "style.css": b"body{color:red}\n" * 100,
    "dir/a.txt": b"a" * 300,
    "dir/sub/b.json": b'{"k": 1}\n' * 50,
    "site/index.html": b"<html>" + b"x" * 1000 + b"</html>",
    "name with space & <tag>.txt": b"odd name\n",
}
for name, data in files.items():
    with open(f"{t}/www/{name}", "wb") as f:
        f.write(data)
with open(f"{t}/SECRET", "w") as f:
    f.write("SECRET-%08x-never-served\n" % r.getrandbits(32))
EOF
cat > "$tree/guest.sh" <<'EOF'
#!/bin/sh
# In the root: a symlink to the secret, one out of the root, and a copy only root may read.
ln -s /srv/SECRET /srv/www/secret-link
ln -s /srv /srv/www/link-out
cp /srv/SECRET /srv/www/private.txt
chmod 755 /srv /srv/www; chmod -R o+rX /srv/www; chmod 600 /srv/www/private.txt
modprobe deflate 2>/dev/null
insmod /modules/khttpd.ko root=/srv/www $KHTTPD_ARGS || echo "INSMOD FAILED"
if [ "$FLOOD_SECS" != 0 ]; then
    ulimit -n 4096
    slowclient flood --addr 127.0.0.1:8081 --secs "$FLOOD_SECS" --threads 2 --probe /small.txt \
        --target /big.bin --target /text.txt --target /dir/ --target /edge16k.bin --target /site/ \
        --probe-timeout "$PROBE_S" > /results/flood.txt 2>&1
    echo "exit: $?" >> /results/flood.txt
fi
echo READY
nc -l -p 9999 > /dev/null
cat /proc/net/khttpd > /results/stats.txt 2>&1
rmmod khttpd && echo "RMMOD OK"
if [ -e /sys/kernel/debug/kmemleak ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null && [ -e /sys/kernel/debug/kmemleak ]; then
    echo scan > /sys/kernel/debug/kmemleak; sleep 5; echo scan > /sys/kernel/debug/kmemleak
    cat /sys/kernel/debug/kmemleak > /results/kmemleak.txt
fi
dmesg > /results/dmesg.txt
EOF
chmod +x "$tree/guest.sh"
img=$(scripts/vm/mkinitramfs.sh --release "$rel" "${moddir[@]}" --out "$OUT/initramfs.cpio.gz" --module deflate \
    --add "$tree/www:/srv/www" --add "$tree/SECRET:/srv/SECRET" --add "$tree/guest.sh:/hostile/" \
    --add khttpd/khttpd.ko:/modules/ --add $bins/slowclient:/bin/) || { fail "initramfs"; finish; }

scripts/vm/run.sh --release "$rel" "${vm_args[@]}" --initrd "$img" --results "$OUT/guest" \
    --timeout $((SECS * 3 + secs_up + 600)) --fwd "$PORT:8081" --fwd "$STOP_PORT:9999" \
    --cmd "KHTTPD_ARGS='${KHTTPD_ARGS:-}' FLOOD_SECS=$flood_secs PROBE_S=$probe_s /hostile/guest.sh" > "$OUT/vm.log" 2>&1 &
vm=$!
up=0
for _ in $(seq "$secs_up"); do
    if grep -q '^READY' "$OUT/guest/console.log" 2>/dev/null &&
        curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/small.txt" 2>/dev/null | grep -q 200; then
        up=1; break
    fi
    kill -0 $vm 2>/dev/null || break
    sleep 1
done
if [ $up = 1 ]; then
    pass "khttpd answers in the guest ($rel)"
    if python3 scripts/hostile-http.py 127.0.0.1 "$PORT" "$tree/www" --seconds "$SECS" \
        --threads "${HOSTILE_THREADS:-8}" --seed "${HOSTILE_SEED:-1}" --timeout $answer_s > "$OUT/hostile.log" 2>&1; then
        pass "hostile client: $(tail -1 "$OUT/hostile.log")"
    else
        grep '^FINDING' "$OUT/hostile.log" | sort | uniq -c | sort -rn | head -20
        fail "hostile client: $(tail -1 "$OUT/hostile.log") (see $OUT/hostile.log)"
    fi
else
    fail "khttpd did not answer in the guest (see $OUT/vm.log)"
fi
# Let the guest go on: unload, save the log, power off.
python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10).close()" \
    "$STOP_PORT" 2>/dev/null || true
wait $vm || true
if [ "$flood_secs" != 0 ]; then
    f=$OUT/guest/flood.txt
    if [ -f "$f" ] && grep -q '^exit: 0$' "$f" && grep -q '^probes failed: 0$' "$f"; then
        pass "in-guest flood: $(grep -E '^(rounds|connections|resets|probes ok|probe answers before the 200):' "$f" | tr '\n' ' ')"
    else
        [ -f "$f" ] && grep -E '^(probe failed|probes|exit)' "$f" | head -10
        fail "in-guest flood: a request after a round went unanswered (see $f)"
    fi
fi
if grep -q "RMMOD OK" "$OUT/guest/console.log" 2>/dev/null; then pass "rmmod after the hostile client"; else fail "rmmod after the hostile client"; fi
if [ -f "$OUT/guest/dmesg.txt" ]; then
    # The guest test suites' pattern (scripts/guest/lib.sh), so both judge a log alike.
    pattern=$(sed -n "s/^T_DMESG_PATTERN=\${T_DMESG_PATTERN:-'\(.*\)'}\$/\1/p" scripts/guest/lib.sh)
    bad=$(grep -E "$pattern" "$OUT/guest/dmesg.txt" | head -5 || true)
    if [ -z "$bad" ]; then pass "kernel log clean"; else echo "$bad"; fail "kernel log: warnings or reports (see $OUT/guest/dmesg.txt)"; fi
    grep -E 'khttpd: (stopping|cache)' "$OUT/guest/dmesg.txt" || true
    if [ -f "$OUT/guest/kmemleak.txt" ]; then
        if grep -q khttpd "$OUT/guest/kmemleak.txt"; then fail "kmemleak: objects allocated by khttpd leaked (see $OUT/guest/kmemleak.txt)"
        else pass "kmemleak: nothing of khttpd's leaked"; fi
    fi
else
    fail "no kernel log from the guest"
fi
finish
