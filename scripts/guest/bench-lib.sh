# shellcheck shell=sh
# bench-lib.sh - what the guest sides of the benchmarks (bench-http.sh, bench-ab.sh,
# bench-echo.sh, bench-conns.sh) and trace-khttpd.sh share: port waits, TCP counters,
# the common env.txt lines, the HTTP benchmarks' tree and nginx. Sourced (busybox ash):
#   . "$(dirname "$0")/bench-lib.sh"
# Helpers keep their scratch variables in _b_*, so that the callers' i, n, t survive.

# Prefix of messages: the script's name unless the caller set one.
bench_name=${bench_name:-$(basename "$0" .sh)}

# Kernel log lines that mean trouble (an ERE; a script may add its own).
# shellcheck disable=SC2034  # read by the callers
PROBLEMS='BUG:|WARNING:|Oops|general protection|refcount_t|list_add corruption|list_del corruption|UBSAN|KASAN|kernel BUG|soft lockup|hung_task|blocked for more than|page allocation failure|Out of memory'

uptime_s() { cut -d' ' -f1 /proc/uptime; }

ncpus() { grep -c ^processor /proc/cpuinfo; }

# "2024-01-31 12:00:00 UTC (guest clock)", for env.txt's start and end lines.
guest_time() { date -u '+%Y-%m-%d %H:%M:%S UTC (guest clock)'; }

# env.txt's first lines: kernel, CPUs, memory.
guest_facts() {
    echo "kernel: $(uname -r) ($(uname -v))"
    echo "cpus: $(ncpus) ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1))"
    echo "memory: $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
}

# "sysctl NAME = value" for every NAME (net.core.somaxconn ...).
sysctls() {
    for _b_s; do
        echo "sysctl $_b_s = $(tr '\t' ' ' < "/proc/sys/$(echo "$_b_s" | tr . /)")"
    done
}

# True if something listens on TCP PORT; /proc/net/tcp state 0A = LISTEN.
listening() {
    awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1; exit }
                                      END { exit !f }' /proc/net/tcp /proc/net/tcp6
}

# Waits until PORT listens, at most TENTHS tenths of a second (default 100).
wait_port() {
    _b_i=0
    while ! listening "$1"; do
        _b_i=$((_b_i + 1))
        [ $_b_i -le "${2:-100}" ] || { echo "$bench_name: nothing listens on port $1" >&2; return 1; }
        sleep 0.1
    done
}

# Server-side ESTABLISHED sockets on PORT.
established_on() {
    awk -v p=":$(printf '%04X' "$1")" '$4 == "01" && substr($2, length($2) - 4) == p { n++ }
                                      END { print n + 0 }' /proc/net/tcp /proc/net/tcp6
}

# Every Tcp and TcpExt counter as "Group:Name value" lines.
tcp_counters() {
    cat /proc/net/snmp /proc/net/netstat | awk '$1 == "Tcp:" || $1 == "TcpExt:" {
        if (!(($1) in hdr)) { hdr[$1] = $0; next }
        n = split(hdr[$1], k); split($0, v); for (i = 2; i <= n; i++) print $1 k[i], v[i] }'
}

# Counters that moved between FILE (tcp_counters output from before) and now, as
# "name delta" lines.
tcp_moved() {
    tcp_counters | awk 'NR == FNR { b[$1] = $2; next } $2 != b[$1] { printf "%s %d\n", $1, $2 - b[$1] }' "$1" -
}

# The counters that say something about errors, as a JSON object, from tcp_moved output.
tcp_json() {
    awk -v keys="$TCP_KEYS" 'BEGIN { n = split(keys, key, " ") }
         { d[$1] = $2 }
         END { printf "{"; for (i = 1; i <= n; i++) { k = key[i]; sub(/^[A-Za-z]*:/, "", k)
                   printf "%s\"%s\":%d", (i > 1 ? "," : ""), k, d[key[i]] + 0 } printf "}" }' "$1"
}
TCP_KEYS="Tcp:AttemptFails Tcp:EstabResets Tcp:OutRsts Tcp:RetransSegs TcpExt:ListenOverflows TcpExt:ListenDrops TcpExt:TCPAbortOnData TcpExt:TCPAbortOnClose TcpExt:TCPAbortOnMemory TcpExt:TCPTimeWaitOverflow TcpExt:SyncookiesSent TcpExt:TCPMemoryPressures TcpExt:PruneCalled TcpExt:RcvPruned"

# TcpExt counter NAME from /proc/net/netstat (a header line, then a value line).
tcpext() {
    awk -v k="$1" '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == k) c = i; h = 1 }
                                     else { print (c ? $c : 0); exit } }' /proc/net/netstat
}

# The words after N, rotated left by N.
rotate() {
    _b_n=$1; shift
    _b_i=0
    while [ $_b_i -lt "$_b_n" ]; do set -- "$@" "$1"; shift; _b_i=$((_b_i + 1)); done
    echo "$@"
}

# --- The HTTP benchmarks' tree and nginx (bench-http.sh, bench-ab.sh) ---
# Globals they read: WWW (the tree's root), BACKLOG (listen backlog), OUT (results),
# and for secs_for DURATION, FILL_RATE, MAX_DURATION.

# Bytes of FILE's body (12b 4k 64k 1m; dir: its listing, about).
bytes_of() {
    case $1 in 12b) echo 12 ;; 4k) echo 4096 ;; 64k) echo 65536 ;; 256k) echo 262144 ;; 1m) echo 1048576 ;; dir) echo 16384 ;; esac
}

# The URL path of FILE.
path_of() {
    case $1 in
        12b) echo /file-12b.bin ;;
        4k) echo /file-4k.bin ;;
        64k) echo /file-64k.bin ;;
        256k) echo /file-256k.bin ;;
        1m) echo /file-1m.bin ;;
        dir) echo /dir/ ;;
        *) return 1 ;;
    esac
}

# The tree every server serves: the files of path_of (random bytes, but 12b) and a
# 200-entry directory (190 small files and 10 subdirectories, no index.html).
make_tree() {
    rm -rf "$WWW"; mkdir -p "$WWW/dir"
    printf 'Hello World!' > "$WWW/file-12b.bin"
    for _b_f in 4k 64k 256k 1m; do
        dd if=/dev/urandom of="$WWW/file-$_b_f.bin" bs="$(bytes_of $_b_f)" count=1 2>/dev/null
    done
    _b_i=0
    while [ $_b_i -lt 190 ]; do
        printf 'entry %d\n' $_b_i > "$WWW/dir/entry-$(printf '%03d' $_b_i).txt"
        _b_i=$((_b_i + 1))
    done
    _b_i=0
    while [ $_b_i -lt 10 ]; do mkdir "$WWW/dir/subdir-$_b_i"; _b_i=$((_b_i + 1)); done
    chmod -R a+rX "$WWW"
}

# Seconds for a run of FILE at CONNS: DURATION, or longer when the cell keeps much data
# in flight. A run counts only the requests that complete before its end; with CONNS x
# SIZE bytes in flight a server that shares its bandwidth fairly completes nothing until
# all of them are nearly done (1,000 x 1 MiB at ~150 MiB/s: 7 s), so a short run would
# measure how unfair a server is, not its throughput. Runs last at least CONNS x SIZE /
# FILL_RATE seconds (several rounds of all connections), at most MAX_DURATION.
secs_for() {
    awk -v d="$DURATION" -v b="$(bytes_of "$1")" -v c="$2" -v r="$FILL_RATE" -v m="$MAX_DURATION" \
        'BEGIN { s = c * b / (r * 1048576); if (s > m) s = m; if (s < d) s = d; printf "%g", s }'
}

# start_nginx NAME PORT: nginx (the template without the lines that start with @OFC@)
# or nginx-cache (with them), in prefix /tmp/NAME on PORT; its configuration is saved
# as $OUT/NAME.conf.
start_nginx() {
    _b_ngx=/tmp/$1
    case $1 in nginx) _b_ofc='/^@OFC@/d' ;; nginx-cache) _b_ofc='s/^@OFC@//' ;; *) return 1 ;; esac
    rm -rf "$_b_ngx"; mkdir -p "$_b_ngx"
    sed -e "$_b_ofc" -e "s|@WORKERS@|$(ncpus)|" -e "s|@PREFIX@|$_b_ngx|g" \
        -e "s|@PORT@|$2|" -e "s|@BACKLOG@|$BACKLOG|" -e "s|@ROOT@|$WWW|" \
        /tests/nginx-bench.conf > "$_b_ngx/nginx.conf"
    cp "$_b_ngx/nginx.conf" "$OUT/$1.conf"
    nginx -p "$_b_ngx/" -c "$_b_ngx/nginx.conf" -e "$_b_ngx/error.log" || return 1
    wait_port "$2"
}

# stop_nginx NAME: asks it to quit and waits (at most 10 s) for its pid file to go.
stop_nginx() {
    _b_ngx=/tmp/$1
    [ -f "$_b_ngx/nginx.pid" ] || return 0
    nginx -p "$_b_ngx/" -c "$_b_ngx/nginx.conf" -e "$_b_ngx/error.log" -s quit
    _b_i=0
    while [ -f "$_b_ngx/nginx.pid" ] && [ $_b_i -lt 100 ]; do sleep 0.1; _b_i=$((_b_i + 1)); done
}
