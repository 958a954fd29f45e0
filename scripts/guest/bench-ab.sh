#!/bin/sh
# Guest side of `make bench-ab` (started by scripts/bench-ab.sh; not a test suite).
#
# Compares khttpd variants (builds and/or parameters) with each other in one boot, with
# nginx-cache (nginx with open_file_cache, as in bench-http) as the common reference.
# Only one khttpd can be loaded at a time, so every run of a variant loads it, warms
# its cache and unloads it after. The order of the servers rotates from round to round
# and cell to cell, so each goes first, and follows each other, about equally often.
#
# Environment (scripts/bench-ab.sh sets them):
#   BENCH_AB_VARIANTS  "NAME ARGS...;NAME ARGS..." (module /modules/ab/NAME.ko, loaded
#                      with root, port and backlog, then ARGS)
#   BENCH_AB_CELLS     "MODE:FILE:CONNS ..." (MODE close or keepalive; FILE 12b 4k 64k
#                      256k 1m dir)
#   BENCH_AB_ROUNDS    runs per server and cell (default 4)
#   BENCH_AB_DURATION  seconds per run (default 3; longer with much data in flight, see
#                      secs_for in bench-lib.sh)
#   BENCH_AB_NGINX     1 (default): nginx-cache runs too; 0: the variants only
#   BENCH_HTTP_THREADS htstress threads for concurrency > 1 (default 2)
#   BENCH_OUT          output directory (default /results/bench-ab)
# Output in BENCH_OUT: runs.jsonl (one object per run, as bench-http's, the server being
# the variant's name), nginx-cache.conf, logs/ (one per run), env.txt.
set -u
# shellcheck source=scripts/guest/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

VARIANTS=${BENCH_AB_VARIANTS:?BENCH_AB_VARIANTS is not set}
CELLS=${BENCH_AB_CELLS:-"close:12b:1 keepalive:12b:20"}
ROUNDS=${BENCH_AB_ROUNDS:-4}
DURATION=${BENCH_AB_DURATION:-3}
NGINX=${BENCH_AB_NGINX:-1}
THREADS=${BENCH_HTTP_THREADS:-2}
OUT=${BENCH_OUT:-/results/bench-ab}
FILL_RATE=16
MAX_DURATION=60
BACKLOG=1024
WWW=/srv/bench
KPORT=8081
CPORT=8083

mkdir -p "$OUT/logs" || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n 8192
echo "10000 65535" > /proc/sys/net/ipv4/ip_local_port_range

# The variants' names, in the given order, and each one's parameters.
names=""
args_of() {
    echo "$VARIANTS" | tr ';' '\n' | awk -v n="$1" '{ sub(/^ +/, "") } $1 == n { $1 = ""; sub(/^ /, ""); print; exit }'
}
for n in $(echo "$VARIANTS" | tr ';' '\n' | awk '{ print $1 }'); do
    [ -f "/modules/ab/$n.ko" ] || { echo "bench-ab: no module for variant '$n'" >&2; exit 1; }
    names="$names $n"
done
servers=$names
[ "$NGINX" = 1 ] && servers="$servers nginx-cache"
nservers=$(echo $servers | wc -w)

{
    guest_facts
    echo "variants:"
    echo "$VARIANTS" | tr ';' '\n' | sed 's/^ */  /'
    echo "cells: $CELLS; $ROUNDS round(s), $DURATION s per run; htstress threads $THREADS"
    [ "$NGINX" = 1 ] && echo "nginx: $(nginx -v 2>&1)"
    echo "start: $(guest_time)"
} > "$OUT/env.txt"

make_tree
if [ "$NGINX" = 1 ]; then
    start_nginx nginx-cache $CPORT || { echo "bench-ab: nginx-cache did not start" >&2; exit 1; }
fi

# up SERVER: load the variant (nothing for nginx-cache); the caller warms it.
up() {
    [ "$1" = nginx-cache ] && return 0
    # shellcheck disable=SC2046 # the variant's parameters, split on purpose
    insmod "/modules/ab/$1.ko" root=$WWW port=$KPORT backlog=$BACKLOG $(args_of "$1") ||
        { echo "bench-ab: insmod $1 failed" >&2; return 1; }
    wait_port $KPORT
}
down() {
    [ "$1" = nginx-cache ] && return 0
    rmmod khttpd || { echo "bench-ab: rmmod khttpd ($1) failed" >&2; return 1; }
}

seq_no=0
failed=0
slot=0
round=0
while [ $round -lt "$ROUNDS" ]; do
    for cell in $CELLS; do
        mode=${cell%%:*} rest=${cell#*:}
        file=${rest%%:*} conns=${rest#*:}
        path=$(path_of "$file") || { echo "bench-ab: unknown file in '$cell'" >&2; exit 1; }
        case $mode in close) ka="" ;; keepalive) ka=-k ;; *) echo "bench-ab: unknown mode in '$cell'" >&2; exit 1 ;; esac
        if [ "$conns" -ge "$THREADS" ] && [ $((conns % THREADS)) -eq 0 ]; then
            t=$THREADS c=$((conns / THREADS))
        else
            t=1 c=$conns
        fi
        secs=$(secs_for "$file" "$conns")
        # Rotate by the slot; every other slot also reversed, so that each server
        # follows each other one as often as it precedes it.
        order=$(rotate $((slot % nservers)) $servers)
        [ $((slot / nservers % 2)) -eq 1 ] && order=$(echo "$order" | tr ' ' '\n' | sed '1!G;h;$!d' | tr '\n' ' ')
        slot=$((slot + 1))
        for s in $order; do
            port=$KPORT; [ "$s" = nginx-cache ] && port=$CPORT
            up "$s" || { failed=1; continue; }
            url=http://127.0.0.1:$port$path
            wget -q -O /dev/null "$url"; wget -q -O /dev/null "$url"
            seq_no=$((seq_no + 1))
            log=$OUT/logs/$mode-$file-c$conns-r$round-$s.log
            set -- htstress $ka -t $t -c $c --duration "$secs" --json --cpu "$url"
            echo "$*" > "$log"
            tcp_counters > /tmp/tcp.before
            "$@" > /tmp/run.json 2>> "$log"
            rc=$?
            tcp_moved /tmp/tcp.before > /tmp/tcp.moved
            cat /tmp/run.json >> "$log"
            { echo "TCP counters that changed during the run:"; sed 's/^/  /' /tmp/tcp.moved; } >> "$log"
            js=$(head -n 1 /tmp/run.json)
            case $js in "{"*"}") ;; *) js=null; failed=1 ;; esac
            printf '{"server":"%s","file":"%s","mode":"%s","conc":%d,"threads":%d,"rep":%d,"seq":%d,"duration":%s,"exit":%d,"tcp":%s,"htstress":%s}\n' \
                "$s" "$file" "$mode" "$conns" "$t" "$round" "$seq_no" "$secs" "$rc" "$(tcp_json /tmp/tcp.moved)" "$js" >> "$OUT/runs.jsonl"
            rps=$(echo "$js" | sed -n 's/.*"rps":\([0-9]*\).*/\1/p')
            echo "[$seq_no] round $round $mode $file c=$conns $s: ${rps:-?} req/s"
            down "$s" || failed=1
        done
    done
    round=$((round + 1))
done

[ "$NGINX" = 1 ] && stop_nginx nginx-cache
{
    echo "end: $(guest_time)"
    echo "kernel problems in dmesg (pattern: $PROBLEMS):"
    dmesg | grep -E "$PROBLEMS" | sed 's/^/  /'
    echo "  (end)"
} >> "$OUT/env.txt"
dmesg | grep -qE "$PROBLEMS" && failed=1
exit $failed
