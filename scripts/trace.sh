#!/usr/bin/env bash
# scripts/trace.sh [KDIR]: where khttpd spends its time, traced in a QEMU guest.
#
# Boots its own guest (the kernel of KDIR, like make bench; it does not attach to a
# running one), loads khttpd and, while htstress loads it, records per load (see
# scripts/guest/trace-khttpd.sh):
#   - a CPU profile with kernel call chains (kprof: perf sampling), so khttpd's Rust
#     functions appear with their share of the CPU, self and inclusive
#   - exact call counts of khttpd's Rust functions (kprof: hardware breakpoints on
#     run_work<Conn<Http>>, entry_reply, render_listing, lookup_beneath)
#   - function_graph over the kernel functions khttpd calls (kernel_recvmsg,
#     kernel_sendmsg, kernel_read, vfs_path_lookup, dentry_open, vfs_getattr,
#     iterate_dir, fput, sock_release, kernel_sock_shutdown, kernel_accept, path_put,
#     and queue_work through khttpd's C helper), once at depth 1 (calls and on-CPU
#     durations, small overhead) and once at depth TRACE_DEPTH with the kernel's
#     networking, VFS, LSM, memory and copy functions hooked (what they spend it on)
# kprobe events cannot be used on the Rust functions: they have no __fentry__ call
# (rustc has no -mfentry), and Debian's kernels (no CONFIG_KPROBE_EVENTS_ON_NOTRACE)
# refuse kprobe events on functions without one; the guest records that refusal.
# The summary (scripts/trace-report.py) goes to
#   bench/results/trace/<UTC date>-<kernel release>-<tcg|kvm>/report.md
# next to the raw traces (*.fgraph.gz), kprof's and htstress's JSON, console.log and
# dmesg.txt; bench/results/trace/latest points at the newest. `make` first. ~3 min
# under TCG.
#
# Environment: TRACE_LOADS, TRACE_SECS, TRACE_DEPTH, TRACE_DEEP_FILTER, TRACE_COUNTS, TRACE_FREQ, TRACE_MAXACTIVE,
# TRACE_BUF_KB (see the guest script), TRACE_OUT (results root), BENCH_ACCEL
# (--kvm/--tcg), BENCH_TIMEOUT (seconds).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
RESULTS=${TRACE_OUT:-$ROOT/bench/results/trace}
bins=target/x86_64-unknown-linux-gnu/release

rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$KDIR/include/generated/utsrelease.h")
[ -n "$rel" ] || { echo "trace: no kernel release in $KDIR" >&2; exit 2; }
for f in khttpd/khttpd.ko kprobe-timer/kprobe-timer.ko "$bins/htstress" "$bins/kprof"; do
    [ -e "$f" ] || { echo "trace: $f missing: run make first" >&2; exit 2; }
done
for ko in khttpd/khttpd.ko kprobe-timer/kprobe-timer.ko; do
    modinfo -F vermagic $ko | grep -q "^$rel " ||
        { echo "trace: $ko is not built for $rel (make KDIR=$KDIR)" >&2; exit 2; }
done

work=$ROOT/target/trace
rm -rf "$work"; mkdir -p "$work"
img=$(scripts/vm/mkinitramfs.sh --release "$rel" --out "$work/initramfs.cpio.gz" \
    --add scripts/guest:/tests --add khttpd/khttpd.ko:/modules/ --add kprobe-timer/kprobe-timer.ko:/modules/ --add "$bins/htstress:/bin/" --add "$bins/kprof:/bin/")

cmd=""
for v in TRACE_LOADS TRACE_SECS TRACE_DEPTH TRACE_DEEP_FILTER TRACE_COUNTS TRACE_FREQ TRACE_BUF_KB TRACE_MAXACTIVE; do
    [ -z "${!v+set}" ] || cmd+="$v='${!v}' "
done
cmd+="TRACE_OUT=/results/trace /tests/trace-khttpd.sh"
start=$(date +%s)
stamp_date=$(date -u +%Y%m%d-%H%M%S)
set +e
scripts/vm/run.sh --release "$rel" --initrd "$img" --results "$work/guest" --mem 2048 \
    --timeout "${BENCH_TIMEOUT:-900}" ${BENCH_ACCEL:-} --cmd "$cmd" 2>&1 | tee "$work/run.log"
vm_rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))
accel=$(sed -n 's/^run.sh: accel=\([a-z]*\) .*/\1/p' "$work/run.log" | head -n 1)
src=$work/guest/trace
if ! ls "$src"/depth1-*.fgraph.gz >/dev/null 2>&1; then
    echo "trace: the guest recorded nothing (status $vm_rc); see $work/guest/console.log" >&2
    exit 1
fi
dest=$RESULTS/$stamp_date-$rel-${accel:-unknown}
mkdir -p "$dest"
cp -r "$src"/. "$dest"/
cp "$work/guest/console.log" "$work/guest/dmesg.txt" "$dest"/ 2>/dev/null || true
echo "host: $(uname -r), $(nproc) CPUs, accel ${accel:-unknown}, guest status $vm_rc, wall time ${elapsed}s" >> "$dest/env.txt"
python3 scripts/trace-report.py "$dest" > "$dest/report.md"
ln -sfn "$(basename "$dest")" "$RESULTS/latest"
cat "$dest/report.md"
echo
echo "trace: report in $dest/report.md (latest: $RESULTS/latest), ${elapsed}s, guest status $vm_rc"
exit "$vm_rc"
