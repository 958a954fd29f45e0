# shellcheck shell=sh
# bench-lib.sh - what the guest sides of the benchmarks (bench-http.sh, bench-echo.sh,
# bench-conns.sh) and trace-khttpd.sh share: port waits, TCP counters, the common
# env.txt lines. Sourced (busybox ash):
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
