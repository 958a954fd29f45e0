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
# TRACE_BUF_KB, TRACE_KHTTPD_ARGS (see the guest script), TRACE_OUT (results root), BENCH_ACCEL
# (--kvm/--tcg), BENCH_TIMEOUT (seconds).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/bench-host.sh
. scripts/lib/bench-host.sh
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
RESULTS=${TRACE_OUT:-$ROOT/bench/results/trace}

bench_release "$KDIR"
bench_need khttpd/khttpd.ko kprobe-timer/kprobe-timer.ko "$bins/htstress" "$bins/kprof"
for ko in khttpd/khttpd.ko kprobe-timer/kprobe-timer.ko; do
    modinfo -F vermagic $ko | grep -q "^$rel " || bench_die "$ko is not built for $rel (make KDIR=$KDIR)"
done

bench_workdir trace
bench_initramfs --add khttpd/khttpd.ko:/modules/ --add kprobe-timer/kprobe-timer.ko:/modules/ \
    --add "$bins/htstress:/bin/" --add "$bins/kprof:/bin/"

cmd=""
bench_cmd_vars --set TRACE_LOADS TRACE_SECS TRACE_DEPTH TRACE_DEEP_FILTER TRACE_COUNTS TRACE_FREQ \
    TRACE_BUF_KB TRACE_MAXACTIVE TRACE_KHTTPD_ARGS
cmd+="${cmd:+ }TRACE_OUT=/results/trace /tests/trace-khttpd.sh"
bench_vm 900 --mem 2048
ls "$work"/guest/trace/depth1-*.fgraph.gz >/dev/null 2>&1 || bench_no_results "recorded nothing"
bench_publish "$work/guest/trace"
bench_env_host
python3 scripts/trace-report.py "$dest" > "$dest/report.md"
bench_finish "$dest/report.md" "report in $dest/report.md"
