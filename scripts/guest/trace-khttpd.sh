#!/bin/sh
# Guest side of scripts/trace.sh: where khttpd spends its time (not a test suite).
#
# Loads khttpd, then for every load of TRACE_LOADS runs htstress once per phase:
#   plain    no tracing: the request rate to compare the other phases with
#   profile  kprof: CPU-clock samples with kernel call chains on every CPU (perf
#            events), so khttpd's own Rust functions show up with their share of the
#            CPU, self and inclusive, next to the kernel functions they call
#   counts   kprof: exact call counts of up to 4 of khttpd's Rust functions
#            (TRACE_COUNTS) with hardware execution breakpoints (slow under TCG)
#   kprobes  kprobe-timer.ko: return probes on the same Rust functions: calls and
#            wall-clock duration per call (mean, longest)
#   depth1   function_graph on the kernel functions khttpd calls (set_ftrace_filter =
#            set_graph_function = those functions, max_graph_depth 1: only they are
#            hooked, so the overhead stays small): calls and durations
#   depth    function_graph below the same functions with max_graph_depth TRACE_DEPTH
#            (default 5) and the kernel's networking, VFS, LSM, memory and copy
#            functions hooked (TRACE_DEEP_FILTER): where inside them the time goes
#            (slow; compare shares within a function, not absolute times)
# Why kprobe-timer.ko and not kprobe events: rustc emits no __fentry__ call, so the
# Rust functions have no ftrace location, and kernels without
# CONFIG_KPROBE_EVENTS_ON_NOTRACE (Debian's) refuse kprobe *events* on them ("Could not
# probe notrace function"; env.txt records the attempt). register_kretprobe, which
# kprobe-timer calls from the kernel, has no such restriction; nor do perf sampling
# and hardware breakpoints.
#
# Environment:
#   TRACE_LOADS  "MODE:FILE:CONNS ..." with MODE keepalive|close, FILE 12b|64k|1m|dir
#                (default "keepalive:12b:20 close:12b:20 keepalive:1m:4 keepalive:dir:4")
#   TRACE_SECS   seconds per htstress run (default 2)
#   TRACE_DEPTH  max_graph_depth of the depth runs (default 5; 0 skips them)
#   TRACE_DEEP_FILTER  set_ftrace_filter globs for the depth runs (default: networking,
#                VFS, LSM, memory and copy functions; empty: every function)
#   TRACE_COUNTS up to 4 name patterns for the counts phase
#                (default "run_work entry_reply render_listing lookup_beneath"; empty skips)
#   TRACE_FREQ   samples per second and CPU in the profile phase (default 1000)
#   TRACE_MAXACTIVE  calls of one function timed at once in the kprobes phase
#                (default 1024; more are counted as missed)
#   TRACE_BUF_KB ring buffer per CPU in KiB (default 32768)
#   TRACE_KHTTPD_ARGS  extra khttpd parameters, e.g. "defer_accept_s=0 cache=0"
#   TRACE_OUT    output directory (default /results/trace)
# Output in TRACE_OUT: loads.txt (the loads in order), <phase>-<load>.json (htstress
# --json), profile-/counts-<load>.kprof.json (kprof), depth1-/depth-<load>.fgraph.gz
# (function_graph text) and .stats (ring buffer statistics: overruns mean lost
# events), functions.txt (traced kernel functions; missing ones are listed), env.txt.
# The host (scripts/trace-report.py) turns them into report.md.
set -u
bench_name=trace
# shellcheck source=scripts/guest/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

LOADS=${TRACE_LOADS:-"keepalive:12b:20 close:12b:20 keepalive:1m:4 keepalive:dir:4"}
SECS=${TRACE_SECS:-2}
DEPTH=${TRACE_DEPTH:-5}
BUF_KB=${TRACE_BUF_KB:-32768}
COUNTS=${TRACE_COUNTS-"run_work entry_reply render_listing lookup_beneath"}
FREQ=${TRACE_FREQ:-1000}
MAXACTIVE=${TRACE_MAXACTIVE:-1024}
DEEP_FILTER=${TRACE_DEEP_FILTER-"*sock* *tcp* *inet* ip_* __ip_* *skb* sk_* __sk_* *_sk *dev_queue* *xmit* *rcv* *recv* *sendmsg* *msg* security_* apparmor_* aa_* tomoyo_* bpf_lsm_* vfs_* *path* *dentry* dput d_* *walk* *lookup* *name* *getattr* *fillattr* *open* *file* shmem_* *folio* *page* *read* *iter* *copy* kmem_* *kmalloc* kfree *alloc* *free* *queue_work* *work_on insert_work mntput* mntget* *lock_sock* release_sock *atime* iterate_dir dcache_readdir scan_positives filldir* handle_softirqs net_rx_action __napi_poll process_backlog"}
OUT=${TRACE_OUT:-/results/trace}
KO=/modules/khttpd.ko
TIMER_KO=/modules/kprobe-timer.ko
WWW=/srv/trace
PORT=8081
T=/sys/kernel/tracing
# Kernel functions khttpd calls (see `nm -u khttpd.ko`), and the C helper through which
# it queues its work items (C, so ftrace sees it; its child is queue_work_on).
FUNCS="kernel_recvmsg kernel_sendmsg kernel_read vfs_path_lookup dentry_open vfs_getattr iterate_dir
       fput sock_release kernel_sock_shutdown kernel_accept path_put rust_helper_queue_work"
w() { printf '%s\n' "$2" > "$T/$1" 2>/dev/null || { echo "trace: cannot write '$2' to $T/$1" >&2; return 1; }; }

mkdir -p "$OUT" || exit 1
rm -f "$OUT"/*
[ -f "$T/available_tracers" ] || mount -t tracefs tracefs "$T" 2>/dev/null
grep -qw function_graph "$T/available_tracers" 2>/dev/null || { echo "trace: no function_graph tracer in $T" >&2; exit 1; }
ulimit -n 65536 2>/dev/null

make_tree
# shellcheck disable=SC2086 # parameters, split on purpose
insmod "$KO" root=$WWW port=$PORT ${TRACE_KHTTPD_ARGS:-} || { echo "trace: insmod failed" >&2; exit 1; }
wait_port $PORT || exit 1

# kallsyms names of the TRACE_COUNTS functions, for kprobe-timer: the function itself,
# not its closures (_RNC...), the shortest name when generic instances differ.
timer_syms=""
: > "$OUT/kprobe-symbols.txt"
for pat in $COUNTS; do
    s=$(awk -v p="$pat" '$4 == "[khttpd]" && $3 ~ p && $3 !~ /^_RNC/ { print length($3), $3 }' /proc/kallsyms |
        sort -n | head -n 1 | cut -d' ' -f2)
    [ -n "$s" ] || continue
    echo "$pat $s" >> "$OUT/kprobe-symbols.txt"
    timer_syms="$timer_syms${timer_syms:+,}$s"
done

# Reset the tracer to a known state.
w tracing_on 0; w current_tracer nop; : > "$T/set_ftrace_filter"; : > "$T/set_graph_function"
: > "$T/trace"; w buffer_size_kb "$BUF_KB"

# The kernel functions that exist and can be traced here.
: > "$OUT/functions.txt"
traced=""
for f in $FUNCS; do
    if grep -q "^$f\( \|$\)" "$T/available_filter_functions"; then
        traced="$traced $f"; echo "$f" >> "$OUT/functions.txt"
    else
        echo "$f (not traceable on this kernel)" >> "$OUT/functions.txt"
    fi
done

# A kprobe event on a Rust function, to record whether this kernel allows it.
sym=$(awk '$4 == "[khttpd]" && $3 ~ /9workqueue8run_work/ { print $3; exit }' /proc/kallsyms)
if [ -n "$sym" ] && echo "p:khttpd_test/run_work khttpd:$sym" >> "$T/kprobe_events" 2>/dev/null; then
    kprobe_note="a kprobe event on run_work was accepted (this kernel allows kprobes on notrace functions)"
    echo "-:khttpd_test/run_work" >> "$T/kprobe_events"
else
    kprobe_note="a kprobe event on run_work was refused: $(dmesg | grep -o 'Could not probe notrace function' | tail -n 1)"
fi

{
    echo "kernel: $(uname -r) ($(uname -v))"
    echo "cpus: $(ncpus) ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1))"
    echo "loads: $LOADS; $SECS s per run; depth $DEPTH; buffer ${BUF_KB} KiB per CPU; sampling $FREQ Hz; counted: ${COUNTS:-none}"
    echo "kprobes: $kprobe_note"
    echo "trace clock: $(cat $T/trace_clock)"
    echo "start: $(guest_time)"
} > "$OUT/env.txt"

run_load() {
    phase=$1 mode=$2 file=$3 conns=$4
    ka=""; [ "$mode" = keepalive ] && ka=-k
    t=1 c=$conns
    [ "$conns" -ge 2 ] && [ $((conns % 2)) -eq 0 ] && t=2 c=$((conns / 2))
    tag=$phase-$mode-$file-c$conns
    set -- htstress $ka -t $t -c $c --duration "$SECS" --json "http://127.0.0.1:$PORT$(path_of "$file")"
    case $phase in
        profile) set -- kprof --freq "$FREQ" --json "$OUT/$tag.kprof.json" -- "$@" ;;
        kprobes)
            insmod "$TIMER_KO" symbols="$timer_syms" maxactive="$MAXACTIVE" || { echo "trace: insmod kprobe-timer failed" >&2; return 1; }
            mark=$(dmesg | tail -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p') ;;
        counts)
            cargs=""
            for p in $COUNTS; do cargs="$cargs --count $p"; done
            set -- kprof --freq 0 --json "$OUT/$tag.kprof.json" $cargs -- "$@" ;;
        depth1|depth)
            : > "$T/trace"
            w tracing_on 1
            echo "load $tag" > "$T/trace_marker" ;;
    esac
    "$@" > "$OUT/$tag.json" 2> "$OUT/$tag.err"
    w tracing_on 0
    if [ "$phase" = kprobes ]; then
        rmmod kprobe_timer
        # "SYMBOL: N calls, T ns total, M ns mean, X ns max, K missed" per function
        dmesg | awk -v m="${mark:-0}" 'match($0, /^\[ *[0-9.]+\]/) { ts = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
                                        ts > m + 0 && /kprobe_timer: .*calls,/ { sub(/^.*kprobe_timer: /, ""); print }' \
            > "$OUT/$tag.kprobes.txt"
    fi
    echo "$tag: $(sed -n 's/.*"requests":\([0-9]*\).*"rps":\([0-9]*\).*/\1 requests, \2 req\/s/p' "$OUT/$tag.json")"
    case $phase in
        depth1|depth)
            cat "$T"/per_cpu/cpu*/stats > "$OUT/$tag.stats"
            gzip -c "$T/trace" > "$OUT/$tag.fgraph.gz"
            : > "$T/trace" ;;
    esac
}

w options/funcgraph-proc 1
w options/funcgraph-tail 1
w options/funcgraph-irqs 0
w options/funcgraph-overhead 1
w options/sleep-time 0        # durations without the time a task is scheduled out
failed=0
for load in $LOADS; do
    mode=${load%%:*} rest=${load#*:}; file=${rest%%:*} conns=${rest#*:}
    path_of "$file" > /dev/null || { echo "trace: bad load '$load'" >&2; failed=1; continue; }
    echo "$mode-$file-c$conns" >> "$OUT/loads.txt"

    run_load plain "$mode" "$file" "$conns"
    [ "$FREQ" -gt 0 ] && run_load profile "$mode" "$file" "$conns"
    [ -n "$COUNTS" ] && run_load counts "$mode" "$file" "$conns"
    [ -n "$timer_syms" ] && [ -f "$TIMER_KO" ] && run_load kprobes "$mode" "$file" "$conns"

    # Only the listed functions hooked; each is a root and a leaf.
    w current_tracer nop
    echo "$traced" | tr ' ' '\n' | grep . > "$T/set_ftrace_filter"
    echo "$traced" | tr ' ' '\n' | grep . > "$T/set_graph_function"
    w max_graph_depth 1
    w current_tracer function_graph
    run_load depth1 "$mode" "$file" "$conns"

    if [ "$DEPTH" -gt 0 ]; then
        w current_tracer nop
        # Hook the kernel's networking, VFS, security, memory and copy functions, not
        # everything: with every function hooked a TCG guest once made no progress for
        # ten minutes after an HTTP/1.0 load. TRACE_DEEP_FILTER="" hooks all.
        : > "$T/set_ftrace_filter"
        set -f   # the globs are for ftrace, not for the shell
        for g in $DEEP_FILTER; do echo "$g" >> "$T/set_ftrace_filter" 2>/dev/null; done
        set +f
        echo "$traced" | tr ' ' '\n' | grep . >> "$T/set_ftrace_filter"
        deep_hooked=$(grep -vc '^#' "$T/set_ftrace_filter")
        w max_graph_depth "$DEPTH"
        w current_tracer function_graph
        run_load depth "$mode" "$file" "$conns"
    fi
    w current_tracer nop
done

rmmod khttpd || failed=1
{
    echo "deep runs: ${deep_hooked:-every} functions hooked (filter: ${DEEP_FILTER:-none})"
    echo "end: $(guest_time)"
    echo "khttpd log:"; dmesg | grep khttpd | sed 's/^/  /'
} >> "$OUT/env.txt"
exit $failed
