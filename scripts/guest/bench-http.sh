#!/bin/sh
# Guest side of `make bench-http` (started by scripts/bench-http.sh; not a test suite:
# scripts/check.sh runs only the suites named in SUITES).
#
# Three servers serve the same tree from the same tmpfs: khttpd.ko (port 8081), and
# Debian's nginx binary (staged with its libraries) twice, from one template
# (/tests/nginx-bench.conf): "nginx" (port 8082, the plain configuration) and
# "nginx-cache" (port 8083, the same plus open_file_cache max=10000 inactive=60s,
# open_file_cache_valid 60s, open_file_cache_min_uses 1, open_file_cache_errors on: nginx
# as a user would tune it for static files). Each has its own prefix directory, pid,
# error log and workers. htstress drives each server in turn for every cell of the plan
# (file x concurrency x keep-alive off/on). The order changes from one cell (and
# repetition) to the next, cycling through all six orders of the three servers (khttpd
# nginx nginx-cache | nginx nginx-cache khttpd | nginx-cache khttpd nginx | khttpd
# nginx-cache nginx | ...), so every server goes first, second and last equally often and
# follows each other server equally often: a slow phase of the noisy host hits all.
# Then htstress and wrk load each server with the same file in keep-alive mode and their
# own CPU time is measured alike (the shell's cutime/cstime after waiting for the
# client), to show whether the client is the bottleneck.
#
# Environment (all optional; scripts/bench-http.sh sets them from the plan):
#   BENCH_HTTP_FILES     cells' files: any of 12b 4k 64k 1m dir (default: all)
#   BENCH_HTTP_CONNS     concurrencies (default "1 20 100 1000")
#   BENCH_HTTP_MODES     close (HTTP/1.0, one request per connection) and/or keepalive (-k)
#   BENCH_HTTP_DURATION  seconds per htstress run (default 3), or longer for cells with
#                        much data in flight (see secs_for; BENCH_HTTP_FILL_RATE MiB/s,
#                        default 16, and BENCH_HTTP_MAX_DURATION, default 60 s)
#   BENCH_HTTP_REPS      runs per server and cell (default 1)
#   BENCH_HTTP_THREADS   htstress threads for concurrency > 1 (default 2; -c = conns/threads)
#   BENCH_HTTP_WRK       concurrencies for htstress vs wrk (default "100"; empty: skip)
#   BENCH_HTTP_WRK_FILE  file for that comparison (default 12b)
#   BENCH_HTTP_WRK_DURATION  whole seconds per client run (default 5)
#   BENCH_HTTP_BACKLOG   listen backlog of all servers (default 1024)
#   BENCH_OUT            output directory (default /results/bench-http)
#
# Output in BENCH_OUT:
#   runs.jsonl   one JSON object per htstress run: server file mode conc rep seq exit,
#                tcp (kernel TCP counters' increase during the run), htstress (its --json
#                --cpu output, or null)
#   wrk.jsonl    one object per client run of the htstress-vs-wrk comparison
#   sizes.tsv    server, file, bytes of the response body (every server's file bodies
#                are compared with khttpd's)
#   nginx.conf, nginx-cache.conf   the configurations the two nginx servers ran with
#   logs/        per run (<mode>-<file>-c<conns>-r<rep>-<server>.log): the command, its
#                stderr, every TCP counter that moved, each server's sockets by state
#                before and after; the error log of each nginx (nginx-error.log,
#                nginx-cache-error.log); every server's listing; wrk's text output
#   env.txt      kernel, CPUs, memory, plan, sysctls, start/end, khttpd's dmesg lines,
#                problems found in dmesg
# Exit status: 0 when every run completed (errors are counted, not fatal), 1 otherwise.
set -u
# shellcheck source=scripts/guest/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

FILES=${BENCH_HTTP_FILES:-"12b 4k 64k 1m dir"}
CONNS=${BENCH_HTTP_CONNS:-"1 20 100 1000"}
MODES=${BENCH_HTTP_MODES:-"close keepalive"}
DURATION=${BENCH_HTTP_DURATION:-3}
REPS=${BENCH_HTTP_REPS:-1}
THREADS=${BENCH_HTTP_THREADS:-2}
WRK_CONNS=${BENCH_HTTP_WRK-100}
WRK_FILE=${BENCH_HTTP_WRK_FILE:-12b}
WRK_DURATION=${BENCH_HTTP_WRK_DURATION:-5}
BACKLOG=${BENCH_HTTP_BACKLOG:-1024}
FILL_RATE=${BENCH_HTTP_FILL_RATE:-16}
MAX_DURATION=${BENCH_HTTP_MAX_DURATION:-60}
OUT=${BENCH_OUT:-/results/bench-http}
KO=/modules/khttpd.ko
WWW=/srv/bench
SERVERS="khttpd nginx nginx-cache"
KPORT=8081
NPORT=8082
CPORT=8083

port_of() { case $1 in khttpd) echo $KPORT ;; nginx) echo $NPORT ;; nginx-cache) echo $CPORT ;; esac; }

# The order of the servers for the N-th cell or repetition: all six orders in turn.
order_of() {
    case $(($1 % 6)) in
        0) echo "khttpd nginx nginx-cache" ;;
        1) echo "nginx nginx-cache khttpd" ;;
        2) echo "nginx-cache khttpd nginx" ;;
        3) echo "khttpd nginx-cache nginx" ;;
        4) echo "nginx-cache nginx khttpd" ;;
        5) echo "nginx khttpd nginx-cache" ;;
    esac
}


# Server-side sockets on PORT by TCP state, e.g. "ESTABLISHED 3, TIME_WAIT 120".
socket_states() {
    awk -v p=":$(printf '%04X' "$1")" 'BEGIN { m = split("ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING", v, " ")
                                               for (i = 1; i <= m; i++) name[sprintf("%02X", i)] = v[i] }
        NR > 1 && substr($2, length($2) - 4) == p { n[name[$4]]++ }
        END { for (s in n) printf "%s%s %d", (k++ ? ", " : ""), s, n[s]; if (!k) printf "none" }' /proc/net/tcp /proc/net/tcp6
}

# socket_states for every server, "khttpd port: ...; nginx port: ...; nginx-cache port: ...".
all_socket_states() {
    sep=""
    for sv in $SERVERS; do printf '%s%s port: %s' "$sep" "$sv" "$(socket_states "$(port_of $sv)")"; sep="; "; done
}

# One htstress run against SERVER: appends a line to runs.jsonl.
seq_no=0
run_one() {
    server=$1 file=$2 mode=$3 conns=$4 rep=$5
    seq_no=$((seq_no + 1))
    url=http://127.0.0.1:$(port_of "$server")$(path_of "$file")
    if [ "$conns" -ge "$THREADS" ] && [ $((conns % THREADS)) -eq 0 ]; then
        t=$THREADS c=$((conns / THREADS))
    else
        t=1 c=$conns
    fi
    ka=""; [ "$mode" = keepalive ] && ka=-k
    log=$OUT/logs/$mode-$file-c$conns-r$rep-$server.log
    secs=$(secs_for "$file" "$conns")
    set -- htstress $ka -t $t -c $c --duration "$secs" --json --cpu "$url"
    {
        echo "$*"
        echo "server sockets before: $(all_socket_states)"
    } > "$log"
    tcp_counters > /tmp/tcp.before
    t0=$(uptime_s)
    "$@" > /tmp/run.json 2> /tmp/run.err
    rc=$?
    t1=$(uptime_s)
    tcp_moved /tmp/tcp.before > /tmp/tcp.moved
    {
        echo "exit status $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
        cat /tmp/run.json /tmp/run.err
        echo "TCP counters that changed during the run:"
        sed 's/^/  /' /tmp/tcp.moved
        echo "server sockets after: $(all_socket_states)"
    } >> "$log"
    js=$(head -n 1 /tmp/run.json)
    ok=$rc
    case $js in "{"*"}") ;; *) js=null; ok=1 ;; esac
    printf '{"server":"%s","file":"%s","mode":"%s","conc":%d,"threads":%d,"rep":%d,"seq":%d,"duration":%s,"exit":%d,"tcp":%s,"htstress":%s}\n' \
        "$server" "$file" "$mode" "$conns" "$t" "$rep" "$seq_no" "$secs" "$rc" "$(tcp_json /tmp/tcp.moved)" "$js" >> "$OUT/runs.jsonl"
    rps=$(echo "$js" | sed -n 's/.*"rps":\([0-9]*\).*/\1/p')
    p99=$(echo "$js" | sed -n 's/.*"p99":\([0-9]*\).*/\1/p')
    errs=$(echo "$js" | sed -n 's/.*"bad":\([0-9]*\).*"socket_errors":\([0-9]*\).*/bad \1, socket errors \2/p')
    echo "[$seq_no] $mode $file c=$conns ${secs}s $server: ${rps:-?} req/s, p99 ${p99:-?} us, ${errs:-no result}"
    [ "$ok" -eq 0 ]
}

# Seconds of CPU a waited-for child used: run "$@" in a shell that reads its own
# cutime + cstime (fields 16, 17 of /proc/self/stat, in USER_HZ = 100 ticks) after the
# wait. Works for any client, whether or not it measures itself. Output of "$@" goes to
# file $CPU_OUT; prints the seconds.
child_cpu() {
    sh -c '"$@" > "$CPU_OUT" 2>&1; rc=$?; read -r s < /proc/$$/stat; echo "$rc ${s#*) }"' sh "$@" |
        awk '{ printf "%d %.2f\n", $1, ($15 + $16) / 100 }'
}

# Latency string of wrk ("812.00us", "1.50ms", "2.00s") in microseconds.
wrk_us() {
    awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]*/, "", u); x = v + 0
        printf "%.1f", u == "us" ? x : u == "ms" ? x * 1000 : u == "s" ? x * 1e6 : u == "m" ? x * 6e7 : -1 }'
}

# htstress vs wrk against SERVER, FILE, keep-alive, CONNS connections.
compare_clients() {
    server=$1 conns=$2 first=$3
    url=http://127.0.0.1:$(port_of "$server")$(path_of "$WRK_FILE")
    t=$THREADS; [ "$conns" -ge "$t" ] || t=1
    if [ "$first" = wrk ]; then order="wrk htstress"; else order="htstress wrk"; fi
    for tool in $order; do
        log=$OUT/logs/clients-$server-c$conns-$tool.log
        export CPU_OUT=/tmp/client.out
        case $tool in
            wrk)
                set -- wrk -t "$t" -c "$conns" -d "${WRK_DURATION}s" --latency "$url" ;;
            htstress)
                set -- htstress -k -t "$t" -c $((conns / t)) --duration "$WRK_DURATION" --json --cpu "$url" ;;
        esac
        r=$(child_cpu "$@")
        rc=${r% *} cpu=${r#* }
        { echo "$*"; echo "exit status $rc, cpu $cpu s (cutime+cstime)"; cat /tmp/client.out; } > "$log"
        case $tool in
            wrk)
                reqs=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*[a-z]*\),.*/\1/p' /tmp/client.out)
                secs=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)\([a-z]*\),.*/\2 \3/p' /tmp/client.out |
                       awk '{ print $2 == "m" ? $1 * 60 : $2 == "ms" ? $1 / 1000 : $1 }')
                p99=$(sed -n 's/^ *99% *\([0-9.]*[a-z]*\).*/\1/p' /tmp/client.out)
                p99=$(wrk_us "${p99:-0x}")
                errs=$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' /tmp/client.out)
                own=null ;;
            htstress)
                js=$(head -n 1 /tmp/client.out)
                reqs=$(echo "$js" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
                secs=$(echo "$js" | sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p')
                p99=$(echo "$js" | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
                errs=$(echo "$js" | sed -n 's/.*"bad":\([0-9]*\).*"socket_errors":\([0-9]*\).*/\1 \2/p' | awk '{ print $1 + $2 }')
                own=$(echo "$js" | sed -n 's/.*"cpu_seconds":\([0-9.e+-]*\).*/\1/p') ;;
        esac
        printf '{"tool":"%s","server":"%s","file":"%s","conc":%d,"threads":%d,"exit":%d,"requests":%d,"seconds":%s,"p99_us":%s,"errors":%d,"cpu_seconds":%s,"own_cpu_seconds":%s}\n' \
            "$tool" "$server" "$WRK_FILE" "$conns" "$t" "$rc" "${reqs:-0}" "${secs:-0}" "${p99:-0}" "${errs:-0}" "$cpu" "${own:-null}" >> "$OUT/wrk.jsonl"
        echo "clients: $server c=$conns $tool: ${reqs:-?} requests in ${secs:-?} s, client cpu $cpu s, p99 ${p99:-?} us"
    done
}

mkdir -p "$OUT/logs" || exit 1
rm -f "$OUT/runs.jsonl" "$OUT/wrk.jsonl" "$OUT/sizes.tsv" "$OUT"/*.conf "$OUT"/logs/*
# 1,000 connections per client and as many per server.
ulimit -n 65536 2>/dev/null || ulimit -n 8192
# HTTP/1.0 runs open a connection per request: a wide ephemeral range, so the client's
# ports do not collide with the server's TIME_WAIT sockets as soon.
echo "10000 65535" > /proc/sys/net/ipv4/ip_local_port_range
failed=0

for f in $FILES; do path_of "$f" > /dev/null || { echo "bench-http: unknown file '$f'" >&2; exit 1; }; done
for m in $MODES; do case $m in close|keepalive) ;; *) echo "bench-http: unknown mode '$m'" >&2; exit 1 ;; esac; done

{
    guest_facts
    echo "plan: files $FILES; concurrencies $CONNS; modes $MODES; $DURATION s per run (longer with much data in flight: up to $MAX_DURATION s at $FILL_RATE MiB/s); $REPS run(s) per server and cell; htstress threads $THREADS"
    echo "clients comparison: concurrencies ${WRK_CONNS:-none}, file $WRK_FILE, $WRK_DURATION s per run"
    echo "servers: khttpd port $KPORT, nginx port $NPORT, nginx-cache port $CPORT (nginx + open_file_cache)"
    echo "listen backlog: $BACKLOG (all servers)"
    echo "nginx: $(nginx -v 2>&1)"
    echo "wrk: $(wrk -v 2>&1 | head -n 1)"
    sysctls net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse \
        net.ipv4.tcp_max_tw_buckets net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem
    echo "start: $(guest_time)"
} > "$OUT/env.txt"

make_tree
for s in nginx nginx-cache; do
    start_nginx $s "$(port_of $s)" || { echo "bench-http: $s did not start" >&2; cat "/tmp/$s/error.log" >&2; exit 1; }
done
insmod "$KO" root=$WWW port=$KPORT backlog=$BACKLOG ${BENCH_HTTP_KHTTPD_ARGS:-} || { echo "bench-http: insmod khttpd failed" >&2; exit 1; }
wait_port $KPORT || exit 1

# All servers must send the same bodies (the listings differ by design).
for f in $(echo $FILES $WRK_FILE | tr ' ' '\n' | awk '!seen[$0]++'); do
    for s in $SERVERS; do
        rm -f /tmp/body.$s
        n=$(wget -q -O /tmp/body.$s "http://127.0.0.1:$(port_of $s)$(path_of $f)" && wc -c < /tmp/body.$s)
        printf '%s\t%s\t%s\n' "$s" "$f" "${n:-failed}" >> "$OUT/sizes.tsv"
        if [ "$f" != dir ] && [ $s != khttpd ] && ! cmp -s /tmp/body.khttpd /tmp/body.$s; then
            echo "bench-http: khttpd and $s send different bodies for $f" >&2
            failed=1
        fi
    done
done
for s in $SERVERS; do wget -q -O "$OUT/logs/listing-$s.html" "http://127.0.0.1:$(port_of $s)/dir/"; done

start_all=$(uptime_s)
slot=0
for mode in $MODES; do
    for file in $FILES; do
        for conns in $CONNS; do
            rep=0
            while [ $rep -lt "$REPS" ]; do
                for s in $(order_of $slot); do run_one "$s" "$file" "$mode" "$conns" "$rep" || failed=1; done
                slot=$((slot + 1))
                rep=$((rep + 1))
            done
        done
    done
done
echo "bench-http: matrix took $(awk -v a="$start_all" -v b="$(uptime_s)" 'BEGIN { printf "%.0f", b - a }') s"

i=0
for conns in $WRK_CONNS; do
    for s in $SERVERS; do
        if [ $((i % 2)) -eq 0 ]; then first=htstress; else first=wrk; fi
        compare_clients "$s" "$conns" "$first" || failed=1
        i=$((i + 1))
    done
done
echo "bench-http: all runs took $(awk -v a="$start_all" -v b="$(uptime_s)" 'BEGIN { printf "%.0f", b - a }') s"

sleep 1
{
    echo "server sockets 1 s after all runs: $(all_socket_states)"
    echo "(the ones neither listening nor in TIME_WAIT are in logs/leftover-sockets.txt)"
} >> "$OUT/env.txt"
# Sockets of any server that outlived the runs (inode 0: orphaned, the server let go).
awk -v ports=":$(printf '%04X' $KPORT) :$(printf '%04X' $NPORT) :$(printf '%04X' $CPORT)" \
    'BEGIN { n = split(ports, p, " "); for (i = 1; i <= n; i++) ours[p[i]] = 1 }
     NR == 1 || ((substr($2, length($2) - 4) in ours) && $4 != "0A" && $4 != "06")' \
    /proc/net/tcp /proc/net/tcp6 > "$OUT/logs/leftover-sockets.txt"
for s in nginx nginx-cache; do
    stop_nginx $s
    cp "/tmp/$s/error.log" "$OUT/logs/$s-error.log" 2>/dev/null
done
rmmod khttpd || { echo "bench-http: rmmod khttpd failed" >&2; failed=1; }
{
    echo "end: $(guest_time)"
    echo "khttpd log:"
    dmesg | grep 'khttpd' | sed 's/^/  /'
    echo "kernel problems in dmesg (pattern: $PROBLEMS):"
    dmesg | grep -E "$PROBLEMS" | sed 's/^/  /'
    echo "  (end)"
} >> "$OUT/env.txt"
exit $failed
