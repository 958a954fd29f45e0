#!/bin/sh
# Guest side of `make bench-echo` (started by scripts/bench-echo.sh; not a test suite:
# scripts/check.sh runs only the suites named in SUITES).
#
# kecho (default unbound queue, bench=1 bound queue, per_cpu=1 a listener per CPU and a
# bound queue) against user-echo-server
# (1 and 2 epoll threads), all in this one guest, measured by `bench` at each
# concurrency. For every concurrency the rounds are split into BENCH_REPS chunks and
# the targets take turns chunk by chunk, the order rotating each time, so that slow
# phases of a noisy host hit every target alike.
#
# Environment (all optional):
#   BENCH_PLAN     "CONNS:ROUNDS ..." (default "1:200 100:20 1000:10")
#   BENCH_REPS     chunks per concurrency (default 5; each ROUNDS must divide by it)
#   BENCH_TARGETS  subset of "kecho kecho-bound kecho-percpu user-1t user-2t" (that
#                  order; default all but kecho-bound)
#   BENCH_OUT      output directory (default /results/bench-echo)
#   BENCH_BACKLOG  listen backlog for every server (default: theirs, 128)
#
# Output in BENCH_OUT:
#   echo-n<CONNS>.csv  every successful sample, bench's CSV format, all targets; the
#                      round column counts over the chunks (chunk * rounds_per_chunk + r)
#   runs.tsv           one line per bench run: conns chunk target ok errors error_kinds
#                      listen_overflows syncookies_sent syncookies_failed (the kernel's
#                      TcpExt counters, increase during the run: accept queue full, SYN
#                      cookies sent, cookie ACKs rejected, which the kernel answers with RST)
#   logs/              bench's output per run, and every TCP/TcpExt counter that moved
#   env.txt            kernel, CPUs, memory, start and end times, module parameters
# Exit status: 0 when every run completed (errors are counted, not fatal), 1 otherwise.
set -u
# shellcheck source=scripts/guest/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

PLAN=${BENCH_PLAN:-"1:200 100:20 1000:10"}
REPS=${BENCH_REPS:-5}
TARGETS=${BENCH_TARGETS:-"kecho kecho-percpu user-1t user-2t"}
OUT=${BENCH_OUT:-/results/bench-echo}
BACKLOG=${BENCH_BACKLOG:-}
KO=/modules/kecho.ko
KPORT=12345

port_of() {
    case $1 in
        kecho|kecho-bound|kecho-percpu) echo $KPORT ;;
        user-1t) echo 12346 ;;
        user-2t) echo 12347 ;;
        *) echo "bench-echo: unknown target '$1'" >&2; return 1 ;;
    esac
}

# The loaded kecho mode: none, kecho, kecho-bound or kecho-percpu.
kecho_mode=none
kecho_load() {
    [ "$kecho_mode" = "$1" ] && return 0
    if [ "$kecho_mode" != none ]; then
        rmmod kecho || return 1
        kecho_mode=none
    fi
    case $1 in
        kecho) insmod "$KO" port=$KPORT ${BACKLOG:+backlog=$BACKLOG} || return 1 ;;
        kecho-bound) insmod "$KO" port=$KPORT bench=1 ${BACKLOG:+backlog=$BACKLOG} || return 1 ;;
        kecho-percpu) insmod "$KO" port=$KPORT per_cpu=1 ${BACKLOG:+backlog=$BACKLOG} || return 1 ;;
    esac
    kecho_mode=$1
    wait_port $KPORT
}

mkdir -p "$OUT/logs" || exit 1
rm -f "$OUT"/echo-n*.csv "$OUT/runs.tsv" "$OUT"/logs/*
# bench opens CONNS sockets, the servers as many; the initramfs default limit is 1024.
ulimit -n 65536 2>/dev/null || ulimit -n 4096

{
    guest_facts
    echo "plan: $PLAN; chunks: $REPS; targets: $TARGETS; backlog: ${BACKLOG:-server default}"
    echo "start: $(guest_time)"
} > "$OUT/env.txt"

pids=""
for t in $TARGETS; do
    case $t in
        user-1t) user-echo-server --port 12346 ${BACKLOG:+--backlog $BACKLOG} > "$OUT/logs/user-1t.server.log" 2>&1 & pids="$pids $!" ;;
        user-2t) user-echo-server --port 12347 --threads 2 ${BACKLOG:+--backlog $BACKLOG} > "$OUT/logs/user-2t.server.log" 2>&1 & pids="$pids $!" ;;
    esac
done
for t in $TARGETS; do
    case $t in user-*) wait_port "$(port_of $t)" || exit 1 ;; esac
done

failed=0
start_all=$(date +%s)
for step in $PLAN; do
    conns=${step%%:*} rounds=${step#*:}
    per=$((rounds / REPS))
    if [ $per -lt 1 ] || [ $((per * REPS)) -ne "$rounds" ]; then
        echo "bench-echo: $rounds rounds do not split into $REPS chunks" >&2
        failed=1; continue
    fi
    csv=$OUT/echo-n$conns.csv
    echo "target,round,conn,us" > "$csv"
    rep=0
    while [ $rep -lt "$REPS" ]; do
        for t in $(rotate $((rep % $(echo $TARGETS | wc -w))) $TARGETS); do
            case $t in kecho*) kecho_load "$t" || { echo "bench-echo: cannot load $t" >&2; failed=1; continue; } ;; esac
            log=$OUT/logs/n$conns-c$rep-$t.log
            t0=$(date +%s) lo0=$(tcpext ListenOverflows) sc0=$(tcpext SyncookiesSent) sf0=$(tcpext SyncookiesFailed)
            tcp_counters > /tmp/tcp.before
            bench --target "$t=127.0.0.1:$(port_of $t)" -n "$conns" -r "$per" --allow-errors \
                --csv /tmp/run.csv > "$log" 2>&1
            rc=$?
            {
                echo "exit status $rc, $(( $(date +%s) - t0 )) s"
                echo "TCP counters that changed during the run:"
                tcp_moved /tmp/tcp.before | awk '{ printf "  %s %+d\n", $1, $2 }'
            } >> "$log"
            [ $rc -eq 0 ] || failed=1
            # Rounds continue across chunks so (round, conn) stays unique per target.
            tail -n +2 /tmp/run.csv 2>/dev/null |
                awk -F, -v OFS=, -v off=$((rep * per)) '{ $2 += off; print }' >> "$csv"
            ok=$(sed -n 's/.* ok \([0-9]*\), errors \([0-9]*\)$/\1/p' "$log")
            err=$(sed -n 's/.* ok \([0-9]*\), errors \([0-9]*\)$/\2/p' "$log")
            kinds=$(sed -n 's/^  error \(.*\): \([0-9]*\)$/\1=\2/p' "$log" | tr ' \n' '_,' | sed 's/,$//')
            lo=$(( $(tcpext ListenOverflows) - lo0 )) sc=$(( $(tcpext SyncookiesSent) - sc0 ))
            sf=$(( $(tcpext SyncookiesFailed) - sf0 ))
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$conns" "$rep" "$t" "${ok:-0}" \
                "${err:-$((conns * per))}" "${kinds:--}" "$lo" "$sc" "$sf" >> "$OUT/runs.tsv"
            echo "n=$conns chunk $rep $t: ok ${ok:-?} errors ${err:-?} overflows $lo cookies $sc/$sf failed" \
                "($(sed -n 's/^  latency us: //p' "$log"))"
        done
        rep=$((rep + 1))
    done
done
echo "bench-echo: all runs took $(( $(date +%s) - start_all )) s"
# Every client has closed by now: what is still ESTABLISHED on a server port was left
# behind (seen after SYN-cookie handshakes when the accept queue overflowed).
sleep 1
{
    echo "server-side ESTABLISHED sockets left after all runs (clients all closed):"
    for t in $TARGETS; do
        case $t in user-*) echo "  $t, port $(port_of $t): $(established_on $(port_of $t))" ;; esac
    done
    echo "  kecho: the module is reloaded between chunks; its 'still open' counts at rmmod are in the log below"
    echo "TcpExt totals: ListenOverflows $(tcpext ListenOverflows), SyncookiesSent $(tcpext SyncookiesSent)," \
        "SyncookiesRecv $(tcpext SyncookiesRecv), SyncookiesFailed $(tcpext SyncookiesFailed)"
} >> "$OUT/env.txt"

for p in $pids; do kill "$p"; done
for p in $pids; do wait "$p"; done
[ "$kecho_mode" = none ] || rmmod kecho || failed=1
{
    echo "end: $(guest_time)"
    echo "kecho log:"
    dmesg | grep 'kecho' | sed 's/^/  /'
} >> "$OUT/env.txt"
exit $failed
