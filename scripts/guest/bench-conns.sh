#!/bin/sh
# Guest side of `make bench-conns` (started by scripts/bench-conns.sh; not a test suite:
# scripts/check.sh runs only the suites named in SUITES).
#
# C100K: for each target in turn, `conns` opens BENCH_CONNS_COUNT keep-alive connections
# to it (from several 127.0.0.x source addresses, so the ephemeral ports suffice), sends
# one request on each (HTTP GET of a 12-byte file, checked byte for byte; or a 64-byte
# echo, checked) and holds them all. While they are held this script measures memory,
# then stops the server with every connection still open (khttpd, kecho: rmmod; nginx,
# user-echo-server: SIGTERM and wait) and times that; then the client lets go.
#
# Targets (ports): khttpd (8081), nginx (8082, Debian's binary, staged with its
# libraries, configuration nginx-conns.conf), kecho (12345), user-echo (user-echo-server,
# 12346). Both ends of every connection live in this guest: the memory figures hold the
# client's sockets too (its RSS is reported separately, its kernel side is not).
#
# Environment (all optional; scripts/bench-conns.sh passes them on):
#   BENCH_CONNS_COUNT    connections per target (default 100000)
#   BENCH_CONNS_TARGETS  subset of "khttpd nginx kecho user-echo" (that order by default)
#   BENCH_CONNS_SOURCES  source addresses 127.0.0.1..K (default: one per 20,000 connections)
#   BENCH_CONNS_BATCH    connects / requests in flight at once (default 1000)
#   BENCH_CONNS_PAYLOAD  echo bytes per connection (default 64)
#   BENCH_CONNS_SETTLE   seconds between "all answered" and the memory reading (default 2)
#   BENCH_CONNS_ECHO_THREADS  user-echo-server epoll threads (default 2: one per vCPU,
#                        as nginx's workers)
#   BENCH_CONNS_KHTTPD_ARGS, BENCH_CONNS_KECHO_ARGS  extra module parameters
#   BENCH_OUT            output directory (default /results/bench-conns)
#
# Output in BENCH_OUT:
#   runs.jsonl   one JSON object per target: memory before/while held (kB, from
#                /proc/meminfo), TCP sockstat, server and client RSS, the stop (seconds,
#                status), the khttpd/kecho dmesg counts, and conns' own JSON report
#   logs/        per target: conns' stderr, slab caches that grew most (if
#                /proc/slabinfo exists), meminfo snapshots, server logs
#   env.txt      kernel, CPUs, memory, sysctls, module parameters, problems in dmesg
# Exit status: 0 when every target ran and every connection was answered, 1 otherwise.
set -u
# shellcheck source=scripts/guest/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

COUNT=${BENCH_CONNS_COUNT:-100000}
TARGETS=${BENCH_CONNS_TARGETS:-"khttpd nginx kecho user-echo"}
SOURCES=${BENCH_CONNS_SOURCES:-$((COUNT / 20000 + 1))}
BATCH=${BENCH_CONNS_BATCH:-1000}
PAYLOAD=${BENCH_CONNS_PAYLOAD:-64}
SETTLE=${BENCH_CONNS_SETTLE:-2}
ECHO_THREADS=${BENCH_CONNS_ECHO_THREADS:-2}
OUT=${BENCH_OUT:-/results/bench-conns}
WWW=/srv/conns
FILE=/file-12b.bin
NGX=/tmp/nginx
BACKLOG=4096
READY=/tmp/conns.ready
RELEASE=/tmp/conns.release
PROBLEMS="$PROBLEMS|out of memory|oom-kill"

port_of() {
    case $1 in
        khttpd) echo 8081 ;; nginx) echo 8082 ;; kecho) echo 12345 ;; user-echo) echo 12346 ;;
        *) return 1 ;;
    esac
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# /proc/meminfo field in kB.
mem() { awk -v k="$1:" '$1 == k { print $2; exit }' /proc/meminfo; }

# Every figure we compare, as JSON members: "MemFree":123,...
mem_json() {
    awk 'BEGIN { n = split("MemFree MemAvailable Slab SReclaimable SUnreclaim KernelStack PageTables AnonPages Shmem Cached", k, " ")
                 for (i = 1; i <= n; i++) want[k[i] ":"] = k[i] }
         $1 in want { printf "%s\"%s\":%d", (c++ ? "," : ""), want[$1], $2 }' /proc/meminfo
}

# TCP line of /proc/net/sockstat as JSON members (inuse, orphan, tw, alloc, mem pages).
sockstat_json() {
    awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) printf "%s\"%s\":%d", (i > 2 ? "," : ""), $i, $(i + 1) }' /proc/net/sockstat
}

tw_count() { awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

# VmRSS in kB of the processes PIDS (summed; a process that is gone counts 0).
rss_of() {
    t=0
    for p in "$@"; do
        r=$(awk '$1 == "VmRSS:" { print $2 }' /proc/$p/status 2>/dev/null)
        t=$((t + ${r:-0}))
    done
    echo $t
}

# Pids whose comm is NAME.
pids_named() {
    for d in /proc/[0-9]*; do
        [ "$(cat $d/comm 2>/dev/null)" = "$1" ] && echo "${d#/proc/}"
    done
}

# Bytes in each slab cache (active objects x object size): "name bytes" lines.
slab_snapshot() {
    [ -r /proc/slabinfo ] || return 0
    awk 'NR > 2 { print $1, $2 * $4 }' /proc/slabinfo
}

# The caches that grew most between two snapshots, as a JSON array [["name",bytes],...].
slab_growth_json() {
    [ -s "$1" ] && [ -s "$2" ] || { printf '[]'; return; }
    awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) print d, $1 }' "$1" "$2" |
        sort -rn | head -n 12 | awk '{ printf "%s[\"%s\",%d]", (NR > 1 ? "," : "["), $2, $1 } END { if (NR == 0) printf "["; printf "]" }'
}

make_tree() {
    rm -rf "$WWW"; mkdir -p "$WWW"
    printf 'Hello World!' > "$WWW$FILE"
    chmod -R a+rX "$WWW"
}

# Time-wait sockets of the previous target would die during this target's memory
# window and make its delta look smaller: wait (at most 70 s) until few are left.
wait_tw() {
    t0=$(uptime_s)
    i=0
    while [ "$(tw_count)" -gt $((COUNT / 100 + 100)) ] && [ $i -lt 140 ]; do
        sleep 0.5; i=$((i + 1))
    done
    tw_wait=$(elapsed "$t0" "$(uptime_s)")
}

server_pids=""
start_server() {
    case $1 in
        khttpd)
            insmod /modules/khttpd.ko root=$WWW port=8081 backlog=$BACKLOG max_connections=$((COUNT * 2)) \
                timeout_ms=600000 header_timeout_ms=600000 ${BENCH_CONNS_KHTTPD_ARGS:-} || return 1 ;;
        kecho)
            insmod /modules/kecho.ko port=12345 backlog=$BACKLOG max_connections=$((COUNT * 2)) \
                ${BENCH_CONNS_KECHO_ARGS:-} || return 1 ;;
        nginx)
            rm -rf "$NGX"; mkdir -p "$NGX"
            wc=$((COUNT + COUNT / 10 + 1024))
            sed -e "s|@WORKERS@|$(ncpus)|" -e "s|@PREFIX@|$NGX|g" \
                -e "s|@PORT@|8082|" -e "s|@BACKLOG@|$BACKLOG|" -e "s|@ROOT@|$WWW|" \
                -e "s|@CONNS@|$wc|" -e "s|@NOFILE@|$((wc * 2))|" \
                /tests/nginx-conns.conf > "$NGX/nginx.conf"
            cp "$NGX/nginx.conf" "$OUT/nginx.conf"
            nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' \
                > "$OUT/logs/nginx.out" 2>&1 &
            server_pids=$! ;;
        user-echo)
            user-echo-server --port 12346 --backlog $BACKLOG --threads "$ECHO_THREADS" \
                > "$OUT/logs/user-echo.server.log" 2>&1 &
            server_pids=$! ;;
    esac
    wait_port "$(port_of "$1")" 200
}

# The server's own RSS (user-space targets; 0 for the modules).
server_rss() {
    case $1 in
        nginx) rss_of $(pids_named nginx) ;;
        user-echo) rss_of $server_pids ;;
        *) echo 0 ;;
    esac
}

# Stops the server while every connection is held. Sets stop_rc.
stop_server() {
    case $1 in
        khttpd|kecho) rmmod "$1"; stop_rc=$? ;;
        nginx|user-echo)
            kill -TERM $server_pids
            wait $server_pids
            stop_rc=$? ;;
    esac
    server_pids=""
}

run_target() {
    t=$1
    port=$(port_of "$t") || { echo "bench-conns: unknown target '$t'" >&2; return 1; }
    log=$OUT/logs/$t
    wait_tw
    echo "bench-conns: $t: starting (time-wait sockets of the previous target: waited ${tw_wait} s)"
    kmark=$(dmesg | wc -l)
    start_server "$t" || { echo "bench-conns: $t did not start" >&2; return 1; }
    [ -d /sys/module/$t/parameters ] &&
        for p in /sys/module/$t/parameters/*; do echo "$t parameter ${p##*/} = $(cat "$p")"; done >> "$OUT/env.txt"
    sleep 1
    cat /proc/meminfo > "$log.meminfo-before"
    slab_snapshot > "$log.slab-before"
    before=$(mem_json) sock_before=$(sockstat_json) srss_before=$(server_rss "$t")

    case $t in
        khttpd|nginx) mode="--mode http --path $FILE --expect-file $WWW$FILE" ;;
        *) mode="--mode echo --payload $PAYLOAD" ;;
    esac
    rm -f "$READY" "$RELEASE"
    t0=$(uptime_s)
    conns --addr 127.0.0.1:$port --count "$COUNT" --sources "$SOURCES" --batch "$BATCH" $mode \
        --ready-file "$READY" --wait-file "$RELEASE" --json > "$log.json" 2> "$log.conns.log" &
    cpid=$!
    while [ ! -f "$READY" ] && kill -0 $cpid 2>/dev/null; do sleep 0.5; done
    if [ ! -f "$READY" ]; then
        wait $cpid
        echo "bench-conns: $t: conns ended before holding (status $?):" >&2
        cat "$log.conns.log" >&2
        stop_server "$t"
        return 1
    fi
    t_ready=$(uptime_s)
    echo "bench-conns: $t: $(cat "$READY") ($(elapsed "$t0" "$t_ready") s)"
    # Let the last ACKs and frees happen before reading the memory.
    sleep "$SETTLE"
    cat /proc/meminfo > "$log.meminfo-held"
    slab_snapshot > "$log.slab-held"
    held=$(mem_json) sock_held=$(sockstat_json) srss_held=$(server_rss "$t") crss=$(rss_of $cpid)
    slab_top=$(slab_growth_json "$log.slab-before" "$log.slab-held")

    # Stop the server with everything held; SIGUSR1 tells conns this is the moment.
    kill -USR1 $cpid
    s0=$(uptime_s)
    stop_server "$t"
    s1=$(uptime_s)
    stop_s=$(elapsed "$s0" "$s1")
    echo "bench-conns: $t: server stopped in $stop_s s (status $stop_rc)"
    # Give the client a moment to see the closes, then release it.
    sleep 2
    touch "$RELEASE"
    wait $cpid
    crc=$?
    t_end=$(uptime_s)
    cat "$log.conns.log"
    after=$(mem_json)
    dmesg | tail -n +$((kmark + 1)) > "$log.dmesg"
    kmsg=$(grep -E "$t: (stopping|closed)" "$log.dmesg" | sed 's/^\[[^]]*\] *//; s/"/'"'"'/g' | tr '\n' ';')
    cj=$(head -n 1 "$log.json")
    case $cj in "{"*"}") ;; *) cj=null ;; esac
    printf '{"target":"%s","count":%d,"sources":%d,"batch":%d,"settle":%s,"conns_exit":%d,"seconds_to_ready":%s,"seconds_total":%s,' \
        "$t" "$COUNT" "$SOURCES" "$BATCH" "$SETTLE" "$crc" "$(elapsed "$t0" "$t_ready")" "$(elapsed "$t0" "$t_end")" >> "$OUT/runs.jsonl"
    printf '"mem_before":{%s},"mem_held":{%s},"mem_after":{%s},"sockstat_before":{%s},"sockstat_held":{%s},' \
        "$before" "$held" "$after" "$sock_before" "$sock_held" >> "$OUT/runs.jsonl"
    printf '"server_rss_kb_before":%d,"server_rss_kb_held":%d,"client_rss_kb_held":%d,"slab_growth":%s,' \
        "$srss_before" "$srss_held" "$crss" "$slab_top" >> "$OUT/runs.jsonl"
    printf '"stop_seconds":%s,"stop_status":%d,"stop_uptime":%s,"kernel_log":"%s","tw_wait_seconds":%s,"conns":%s}\n' \
        "$stop_s" "$stop_rc" "$s0" "$kmsg" "$tw_wait" "$cj" >> "$OUT/runs.jsonl"
    grep -E "$PROBLEMS" "$log.dmesg" > "$log.problems"
    if [ -s "$log.problems" ]; then
        echo "bench-conns: $t: kernel problems:" >&2
        head -n 20 "$log.problems" >&2
    fi
    [ "$crc" -eq 0 ] && [ "$stop_rc" -eq 0 ]
}

mkdir -p "$OUT/logs" || exit 1
rm -f "$OUT/runs.jsonl" "$OUT"/logs/* "$OUT/nginx.conf"

# Descriptors: the client holds COUNT, a user-space server as many.
nofile=$((COUNT * 2 + 65536))
[ "$(cat /proc/sys/fs/nr_open)" -ge $nofile ] || echo $nofile > /proc/sys/fs/nr_open
[ "$(cat /proc/sys/fs/file-max)" -ge $((nofile * 2)) ] || echo $((nofile * 2)) > /proc/sys/fs/file-max
ulimit -n $nofile || { echo "bench-conns: cannot raise the open-file limit to $nofile" >&2; exit 1; }
echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range
echo 8192 > /proc/sys/net/core/somaxconn
echo 8192 > /proc/sys/net/ipv4/tcp_max_syn_backlog

make_tree
{
    guest_facts
    echo "connections per target: $COUNT from $SOURCES source address(es), $BATCH in flight; targets: $TARGETS"
    echo "http: GET $FILE (12 bytes); echo: $PAYLOAD bytes; settle ${SETTLE} s before the memory reading"
    echo "open-file limit: $(ulimit -n); listen backlog: $BACKLOG (all servers)"
    echo "nginx: $(nginx -v 2>&1)"
    sysctls fs.nr_open fs.file-max net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.ip_local_port_range \
        net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.ipv4.tcp_max_tw_buckets
    echo "kernel command line: $(sed 's/guest.cmd=[^ ]*//' /proc/cmdline)"
    dmesg | grep -E 'TCP established hash table|TCP bind hash table' | sed 's/^\[[^]]*\] */boot: /'
    [ -r /proc/slabinfo ] && echo "slabinfo: yes" || echo "slabinfo: not readable (no per-cache figures)"
    echo "start: $(guest_time)"
} > "$OUT/env.txt"

failed=0
for t in $TARGETS; do
    run_target "$t" || failed=1
    # A target that failed half-way must not hold its port or module.
    case $t in khttpd|kecho) [ -d /sys/module/$t ] && rmmod $t ;; esac
    [ -n "$server_pids" ] && { kill -TERM $server_pids; wait $server_pids; server_pids=""; }
done
{
    echo "end: $(guest_time)"
    echo "kernel problems in dmesg (pattern: $PROBLEMS):"
    cat "$OUT"/logs/*.problems 2>/dev/null | sed 's/^/  /'
    echo "  (end)"
} >> "$OUT/env.txt"
cp "$NGX/error.log" "$OUT/logs/nginx-error.log" 2>/dev/null
exit $failed
