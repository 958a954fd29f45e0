#!/usr/bin/env bash
# make bench-conns: C100K. 100,000 concurrent keep-alive connections to each server, in
# one QEMU guest boot.
#   scripts/bench-conns.sh [KDIR]
#
# In the guest (scripts/guest/bench-conns.sh), for each target in turn: `conns` opens
# BENCH_CONNS_COUNT connections (from 127.0.0.1..K, so the ephemeral ports suffice),
# sends one request on each and checks every answer (HTTP: 200, Content-Length and the
# 12-byte body; echo: the 64 bytes back), then holds them all; meanwhile the guest script
# reads /proc/meminfo (and /proc/slabinfo) and stops the server with every connection
# open (khttpd, kecho: rmmod; nginx, user-echo-server: SIGTERM and wait).
#   khttpd     khttpd.ko root=... max_connections=2xN timeout_ms=header_timeout_ms=600000   port 8081
#   nginx      Debian's nginx, worker_connections N+10%, worker_rlimit_nofile  port 8082
#   kecho      kecho.ko max_connections=2xN                                port 12345
#   user-echo  user-echo-server --threads 2                                port 12346
# Parameters a module does not have (yet) are ignored by the kernel with a warning.
#
# Environment:
#   BENCH_CONNS_COUNT    connections per target, default 100000
#   BENCH_CONNS_TARGETS  default "khttpd nginx kecho user-echo"
#   BENCH_CONNS_SOURCES, BENCH_CONNS_BATCH, BENCH_CONNS_PAYLOAD, BENCH_CONNS_SETTLE,
#   BENCH_CONNS_ECHO_THREADS, BENCH_CONNS_KHTTPD_ARGS, BENCH_CONNS_KECHO_ARGS
#                        see scripts/guest/bench-conns.sh
#   BENCH_MEM            guest memory in MB, default 2048: at 100,000 connections the
#                        hungriest target (kecho) holds ~1.2 GB with both ends of every
#                        connection in the guest (see docs/bench-conns/README.md)
#   BENCH_CONNS_THASH    TCP established-hash entries (kernel parameter thash_entries),
#                        default 262144: the default table of a 2 GB guest is far
#                        smaller than 200,000 sockets; empty: the kernel's default
#   BENCH_CONNS_SLAB_NOMERGE  1 (default): boot with slab_nomerge, so that every slab
#                        cache in the per-cache figures is itself, not a same-sized cache
#                        it was merged with; 0: the kernel's default merging
#   BENCH_CONNS_OUT      results root, default bench/results/conns
#   BENCH_TIMEOUT        guest time-out in seconds, default 5400
#   BENCH_ACCEL          --kvm or --tcg to force the accelerator (default: run.sh decides)
#
# Results: $BENCH_CONNS_OUT/<UTC date>-<kernel release>-<tcg|kvm>/ with
#   summary.md           per target: connect rate, time to answer all, memory per
#                        connection, server stop time, what the client saw
#   runs.jsonl, env.txt, nginx.conf, logs/, console.log, dmesg.txt   what the guest did
#   host-load.txt        the host's load average every 10 s during the run
# and $BENCH_CONNS_OUT/latest pointing at it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/bench-host.sh
. scripts/lib/bench-host.sh
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
COUNT=${BENCH_CONNS_COUNT:-100000}
TARGETS=${BENCH_CONNS_TARGETS:-"khttpd nginx kecho user-echo"}
RESULTS=${BENCH_CONNS_OUT:-$ROOT/bench/results/conns}
MEM=${BENCH_MEM:-2048}
THASH=${BENCH_CONNS_THASH-262144}
NOMERGE=${BENCH_CONNS_SLAB_NOMERGE:-1}

bench_release "$KDIR"
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || bench_die "bad BENCH_CONNS_COUNT '$COUNT'"
[[ $MEM =~ ^[1-9][0-9]*$ ]] || bench_die "bad BENCH_MEM '$MEM'"
for t in $TARGETS; do
    case $t in khttpd|nginx|kecho|user-echo) ;; *) bench_die "unknown target '$t'" ;; esac
done
bench_need khttpd/khttpd.ko kecho/kecho.ko "$bins/conns" "$bins/user-echo-server"
bench_nginx

# kecho has no idle time-out today; should it get one, hold the connections through it.
kecho_args=${BENCH_CONNS_KECHO_ARGS:-}
if /sbin/modinfo -F parm kecho/kecho.ko 2>/dev/null | grep -q '^timeout_ms:'; then
    kecho_args="timeout_ms=600000 $kecho_args"
fi

bench_workdir bench-conns
scripts/vm/stage-binary.sh "$work/stage" "$nginx"
bench_initramfs --add khttpd/khttpd.ko:/modules/ --add kecho/kecho.ko:/modules/ \
    --add "$work/stage:/" --add "$bins/conns:/bin/" --add "$bins/user-echo-server:/bin/"

cmd="BENCH_CONNS_COUNT='$COUNT' BENCH_CONNS_TARGETS='$TARGETS'"
bench_cmd_vars BENCH_CONNS_SOURCES BENCH_CONNS_BATCH BENCH_CONNS_PAYLOAD BENCH_CONNS_SETTLE \
    BENCH_CONNS_ECHO_THREADS BENCH_CONNS_KHTTPD_ARGS
[ -z "$kecho_args" ] || cmd+=" BENCH_CONNS_KECHO_ARGS='$kecho_args'"
cmd+=" BENCH_OUT=/results/bench-conns /tests/bench-conns.sh"
append=()
[ -z "$THASH" ] || append+=(--append "thash_entries=$THASH")
[ "$NOMERGE" = 0 ] || append+=(--append slab_nomerge)
# The host's load while the guest runs (other jobs slow an emulated guest down): a
# sample every 10 s, summarised in summary.md.
( while :; do echo "$(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done ) > "$work/host-load.txt" &
sampler=$!
bench_vm 5400 --mem "$MEM" "${append[@]}"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
[ -s "$work/guest/bench-conns/runs.jsonl" ] || bench_no_results
bench_publish "$work/guest/bench-conns" "$work/host-load.txt"
load=$(awk '{ if (n++ == 0 || $2 < lo) lo = $2; if ($2 > hi) hi = $2 } END { if (n) printf "%.2f to %.2f (%d samples)", lo, hi, n }' "$work/host-load.txt")
bench_env_host --load "guest memory ${MEM} MB"

python3 scripts/bench-conns-report.py --runs "$dest/runs.jsonl" --env "$dest/env.txt" --dmesg "$dest/dmesg.txt" \
    --title "C100K: $COUNT connections per server ($rel, QEMU $accel, 2 vCPUs, ${MEM} MB)" \
    --footer "Wall time of the guest run: ${elapsed}s (guest status $vm_rc). Host load average (1 min) during the run: ${load:-not sampled}, every 10 s in host-load.txt: under TCG a busier host slows every target down, so compare targets only within a run and mind the load." > "$dest/summary.md"
bench_finish "$dest/summary.md"
