#!/usr/bin/env bash
# make bench-http: khttpd against nginx, side by side, in one QEMU guest boot.
#   scripts/bench-http.sh [KDIR]
#
# In the guest (scripts/guest/bench-http.sh) three servers serve the same tmpfs tree:
#   khttpd       khttpd.ko, port 8081
#   nginx        Debian's nginx (staged with its libraries), port 8082, configuration
#                scripts/guest/nginx-bench.conf: sendfile, no access log, one worker per
#                vCPU, long keep-alive, autoindex
#   nginx-cache  the same nginx binary and configuration plus open_file_cache
#                (max=10000 inactive=60s, _valid 60s, _min_uses 1, _errors on), as a
#                user tuning nginx for static files would set it; port 8083, its own
#                prefix, workers and error log
# htstress loads each in turn for every cell: file (12 bytes, 4 KiB, 64 KiB, 1 MiB, a
# 200-entry directory listing) x concurrency (1, 20, 100, 1000) x keep-alive off
# (HTTP/1.0, a connection per request) / on (-k), the order of the servers changing from
# cell to cell through all six orders (each server first, second and last equally
# often). Then htstress and wrk load each server with the same file, keep-alive, and
# their CPU time is compared (is the client the bottleneck?).
#
# Environment:
#   BENCH_HTTP_PLAN      full (default): every cell (5 files x 4 concurrencies x 2 modes)
#                        once per server, 3 s per run (longer for 1 MiB at 100 and 1,000
#                        connections, see secs_for in the guest script); ~15 min under TCG
#                        quick: 12 B, 64 KiB and the listing at 1, 100 and 1,000
#                        connections, 2 s per run; ~4 min, for trying changes
#                        long: every cell twice per server (another order), 5 s per run
#   BENCH_HTTP_FILES, BENCH_HTTP_CONNS, BENCH_HTTP_MODES, BENCH_HTTP_DURATION,
#   BENCH_HTTP_REPS, BENCH_HTTP_THREADS, BENCH_HTTP_WRK, BENCH_HTTP_WRK_FILE,
#   BENCH_HTTP_WRK_DURATION, BENCH_HTTP_BACKLOG, BENCH_HTTP_FILL_RATE,
#   BENCH_HTTP_MAX_DURATION
#                        override single parts of the plan (see scripts/guest/bench-http.sh)
#   BENCH_HTTP_KHTTPD_ARGS  extra khttpd parameters, e.g. "max_active=16 sendfile=0"
#   BENCH_HTTP_OUT       results root, default bench/results/http
#   BENCH_TIMEOUT        guest time-out in seconds, default 3600
#   BENCH_ACCEL          --kvm or --tcg to force the accelerator (default: run.sh decides)
#   BENCH_MEM            guest memory in MB, default 2048 (1,000 connections x 1 MiB
#                        responses in flight need socket memory)
#
# Results: $BENCH_HTTP_OUT/<UTC date>-<kernel release>-<tcg|kvm>/ with
#   summary.md           req/s, p99 and errors per cell and server; khttpd/nginx and
#                        khttpd/nginx-cache per cell, nginx-cache/nginx; htstress vs wrk
#   http.png, http.svg   req/s per concurrency, a bar per server, one panel per file and
#                        keep-alive mode (drawn here with bench-http-report)
#   cells.csv            the table as CSV, a row per cell and server; runs.jsonl,
#                        wrk.jsonl: raw results per run
#   nginx.conf, nginx-cache.conf   the two nginx configurations as run
#   env.txt, sizes.tsv, logs/, console.log, dmesg.txt   what the guest did
# and $BENCH_HTTP_OUT/latest pointing at it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/bench-host.sh
. scripts/lib/bench-host.sh
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
PLAN=${BENCH_HTTP_PLAN:-full}
RESULTS=${BENCH_HTTP_OUT:-$ROOT/bench/results/http}

files="12b 4k 64k 1m dir" conns="1 20 100 1000" wrk_conns="20 100"
case $PLAN in
    full) duration=3 reps=1 ;;
    quick) duration=2 reps=1 files="12b 64k dir" conns="1 100 1000" wrk_conns=100 ;;
    long) duration=5 reps=2 ;;
    *) echo "bench-http: BENCH_HTTP_PLAN is full, quick or long (got '$PLAN')" >&2; exit 2 ;;
esac
FILES=${BENCH_HTTP_FILES:-$files}
CONNS=${BENCH_HTTP_CONNS:-$conns}
MODES=${BENCH_HTTP_MODES:-"close keepalive"}
DURATION=${BENCH_HTTP_DURATION:-$duration}
REPS=${BENCH_HTTP_REPS:-$reps}
WRK=${BENCH_HTTP_WRK-$wrk_conns}

bench_release "$KDIR"
bench_need khttpd/khttpd.ko "$bins/htstress" "$bins/bench-http-report"
bench_nginx
wrk=$(command -v wrk || true)
[ -n "$wrk" ] || bench_die "wrk not found (apt-get install wrk; scripts/setup.sh does)"
for v in "$DURATION" "$REPS"; do
    [[ $v =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench-http: bad duration or repetitions '$v'" >&2; exit 2; }
done
for n in $CONNS $WRK; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-http: bad concurrency '$n'" >&2; exit 2; }
done

bench_workdir bench-http
# nginx and wrk are dynamically linked: copy them with their libraries.
scripts/vm/stage-binary.sh "$work/stage" "$nginx" "$wrk"
bench_initramfs --add khttpd/khttpd.ko:/modules/ --add "$work/stage:/" --add "$bins/htstress:/bin/"

cmd="BENCH_HTTP_FILES='$FILES' BENCH_HTTP_CONNS='$CONNS' BENCH_HTTP_MODES='$MODES'"
cmd+=" BENCH_HTTP_DURATION='$DURATION' BENCH_HTTP_REPS='$REPS' BENCH_HTTP_WRK='$WRK'"
bench_cmd_vars BENCH_HTTP_THREADS BENCH_HTTP_WRK_FILE BENCH_HTTP_WRK_DURATION BENCH_HTTP_BACKLOG \
    BENCH_HTTP_FILL_RATE BENCH_HTTP_MAX_DURATION BENCH_HTTP_KHTTPD_ARGS
cmd+=" BENCH_OUT=/results/bench-http /tests/bench-http.sh"
bench_vm 3600 --mem "${BENCH_MEM:-2048}"
[ -s "$work/guest/bench-http/runs.jsonl" ] || bench_no_results
bench_publish "$work/guest/bench-http"
bench_env_host --load

# Anything the kernel complained about, and khttpd's own lines, go into the summary.
problems=$(grep -E 'BUG:|WARNING:|Oops|general protection|refcount_t|list_(add|del) corruption|UBSAN|KASAN|soft lockup|hung_task|blocked for more than|page allocation failure|Out of memory|khttpd' \
    "$dest/dmesg.txt" 2>/dev/null || true)

"$bins/bench-http-report" --runs "$dest/runs.jsonl" --clients "$dest/wrk.jsonl" \
    --csv "$dest/cells.csv" --plot "$dest/http.png" --svg "$dest/http.svg" \
    --servers khttpd,nginx,nginx-cache \
    --title "khttpd vs nginx and nginx with open_file_cache, req/s ($rel, $accel, 2 vCPUs)" > "$dest/table.md"
{
    echo "# khttpd vs nginx"
    echo
    echo "Kernel $rel, $(date -u -d "@$start" '+%Y-%m-%d %H:%M UTC'), QEMU $accel, 2 vCPUs shared by"
    echo "servers and client; plan $PLAN: $DURATION s per htstress run, $REPS run(s) per server and cell,"
    echo "the order of the servers changing from cell to cell (and between repetitions) through"
    echo "all six orders; listen backlog ${BENCH_HTTP_BACKLOG:-1024} for all. Servers: khttpd; nginx"
    echo "(nginx.conf); nginx-cache, the same nginx with open_file_cache max=10000 inactive=60s,"
    echo "open_file_cache_valid 60s, open_file_cache_min_uses 1, open_file_cache_errors on"
    echo "(nginx-cache.conf). close: HTTP/1.0, one request per connection; keep-alive: HTTP/1.1,"
    echo "htstress -k. req/s: all requests of the cell's runs divided by their seconds; p99: the"
    echo "mean of the runs' 99th percentiles (milliseconds in the tables); errors: bad responses"
    echo "+ socket errors; khttpd/nginx, khttpd/nginx-cache: khttpd's req/s divided by that"
    echo "server's (above 1: khttpd is faster)."
    echo
    cat "$dest/table.md"
    echo
    echo "## Kernel log"
    echo
    if [ -n "$problems" ]; then
        echo '```'
        echo "$problems"
        echo '```'
    else
        echo "No khttpd lines and no problem reports in dmesg."
    fi
    echo
    echo "Wall time of the guest run: ${elapsed}s (guest status $vm_rc)."
} > "$dest/summary.md"
rm -f "$dest/table.md"
bench_finish "$dest/summary.md"
