#!/bin/sh
# Guest tests: khttpd against third-party HTTP tools (Debian's builds, staged with
# their libraries by scripts/check.sh): ApacheBench (ab), h2load in HTTP/1.1 mode
# (pipelining), GNU wget mirroring the listings, and slowhttptest's slowloris and
# slow-read attacks. Each test checks what the tool reports and that khttpd answers a
# probe while and after it runs, drains its connections and unloads. A tool that is not
# installed skips its test (scripts/setup.sh installs them all).
set -u
. "$(dirname "$0")/lib.sh"

KO=/modules/khttpd.ko
PORT=8081
BASE=http://127.0.0.1:$PORT
WWW=/srv/clients
# Many clients at once: more descriptors than the default 1024.
ulimit -n 65536 2>/dev/null
# A module on 6.12, built in on 6.1 (the guest's busybox modprobe has no crypto-* aliases
# for the crypto API to load it on demand).
modprobe deflate 2>/dev/null

make_tree() {
    rm -rf $WWW; mkdir -p $WWW/tree/deeper $WWW/tree/empty "$WWW/tree/with space"
    printf 'Hello World!' > $WWW/hello.txt
    head -c 100000 /dev/urandom > $WWW/100k.bin
    head -c 2000000 /dev/urandom > $WWW/2m.bin
    i=0; while [ $i -lt 1000 ]; do echo "line $i: the quick brown fox jumps over the lazy dog"; i=$((i + 1)); done > $WWW/words.txt
    # Names a listing must link to correctly. Not '%' followed by two hex digits: wget
    # decodes such an escape a second time (it asks for "a%41" when the link says
    # "a%2541"), whatever the server.
    for n in 'a b.txt' 'amp&x.txt' 'hash#x.txt' 'q?x.txt' "quo'te\"s.txt" '<script>x<' \
             'plus+x.txt' 'semi;x.txt' 'pct%zz.txt' "caf$(printf '\303\251').txt" '-dash' '.hidden'; do
        echo "name $n" > "$WWW/tree/$n"
    done
    head -c 50000 /dev/urandom > $WWW/tree/deeper/50k.bin
    echo "in a space" > "$WWW/tree/with space/f.txt"
    chmod -R a+rX $WWW
}

load() { rmmod khttpd 2>/dev/null; insmod "$KO" root=$WWW "$@" || { t_fail "insmod $*"; return 1; }; t_wait_port $PORT 10 || t_fail "no listener on $PORT"; }
unload() { t_timeout 60 rmmod khttpd || t_fail "rmmod khttpd failed or hung"; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/khttpd; }
need() { command -v "$1" > /dev/null || t_skip "$1 is not installed (scripts/setup.sh installs it)"; }

# A fresh HTTP/1.0 request gets the whole file within 15 s.
probe() {
    got=$(curl -s -m 15 -0 $BASE/hello.txt) || t_fail "probe${1:+ ($1)}: no answer within 15 s"
    t_assert_eq 'Hello World!' "$got" "probe${1:+ ($1)}"
}

# After the clients are gone, khttpd's connections drain to none within SECS.
drained() {
    i=0
    while [ "$(stat_of connections_open)" != 0 ]; do
        [ $i -ge "$1" ] && { cat /proc/net/khttpd; t_fail "$(stat_of connections_open) connection(s) still open $1 s after the client ended"; }
        sleep 1; i=$((i + 1))
    done
}

# ab's report: N complete, none failed, none non-2xx, every body LEN bytes.
ab_ok() {
    local r=$1 want=$2 bytes=$3
    echo "$r" | grep -q "^Complete requests: *$want$" || { echo "$r"; t_fail "ab: not $want complete requests"; }
    echo "$r" | grep -q "^Failed requests: *0$" || { echo "$r"; t_fail "ab: failed requests"; }
    echo "$r" | grep -q "^Non-2xx responses:" && { echo "$r"; t_fail "ab: non-2xx responses"; }
    echo "$r" | grep -q "^Document Length: *$bytes bytes$" || { echo "$r"; t_fail "ab: document length is not $bytes"; }
    echo "$r" | grep -E "^(Document Path|Complete requests|Requests per second)"
}

# slowhttptest's report without its colours.
plain() { tr -d '\033' < "$1" | sed 's/\[[0-9;]*m//g'; }

test_ab() {
    need ab
    # A long idle limit: connections must go when ab closes them, not when idle.
    load timeout_ms=60000
    n=2000 c=50; [ "${T_SLOW:-0}" = 1 ] && n=300 c=10
    ab_ok "$(ab -n $n -c $c $BASE/hello.txt 2>&1)" $n 12
    ab_ok "$(ab -k -n $n -c $c $BASE/100k.bin 2>&1)" $n 100000
    # ab has closed its keep-alive connections: each close is seen at once (the
    # client's FIN runs the work), not 60 s later.
    drained 4
    ab_ok "$(ab -k -n $((n / 10)) -c 5 $BASE/2m.bin 2>&1)" $((n / 10)) 2000000
    # HEAD: the head says the length, no body follows (ab reads 0 bytes of document).
    ab_ok "$(ab -i -n $((n / 2)) -c $c $BASE/words.txt 2>&1)" $((n / 2)) 0
    # Compressed: every response the same gzip body, shorter than the file.
    out=$(ab -n $((n / 2)) -c $c -H 'Accept-Encoding: gzip' $BASE/words.txt 2>&1)
    len=$(echo "$out" | sed -n 's/^Document Length: *\([0-9]*\) bytes$/\1/p')
    [ -n "$len" ] && [ "$len" -lt "$(wc -c < $WWW/words.txt)" ] || { echo "$out"; t_fail "ab with gzip: body not compressed ($len bytes)"; }
    ab_ok "$out" $((n / 2)) "$len"
    # 1,000 keep-alive clients at once.
    [ "${T_SLOW:-0}" = 1 ] || ab_ok "$(ab -k -n 10000 -c 1000 $BASE/hello.txt 2>&1)" 10000 12
    # A body is refused (413) and the connection closed; ab counts the responses.
    out=$(ab -n 100 -c 5 -p $WWW/hello.txt $BASE/hello.txt 2>&1)
    echo "$out" | grep -q "^Complete requests: *100$" || { echo "$out"; t_fail "ab POST: not 100 answers"; }
    echo "$out" | grep -q "^Non-2xx responses: *100$" || { echo "$out"; t_fail "ab POST: not 100 refusals"; }
    probe
    drained 20
    unload
}

# h2load's HTTP/1.1 client pipelines up to -m requests on each connection.
test_h2load_pipelined() {
    need h2load
    load
    n=5000 c=20; [ "${T_SLOW:-0}" = 1 ] && n=500 c=5
    for args in "-n $n -c $c -m 10 $BASE/hello.txt" "-n $((n / 5)) -c $c -m 4 $BASE/100k.bin" \
                "-n $((n / 20)) -c 4 -m 2 $BASE/2m.bin"; do
        # shellcheck disable=SC2086
        out=$(h2load --h1 $args 2>&1)
        set -- $args; want=$2
        echo "$out" | grep -q "^requests: $want total, $want started, $want done, $want succeeded, 0 failed, 0 errored, 0 timeout$" ||
            { echo "$out"; t_fail "h2load $args: not all $want requests succeeded"; }
        echo "$out" | grep -q "^status codes: $want 2xx, 0 3xx, 0 4xx, 0 5xx$" || { echo "$out"; t_fail "h2load $args: not all 2xx"; }
        echo "$out" | grep -E "^(finished in|requests:)"
    done
    probe
    drained 20
    unload
}

# GNU wget follows every link of the listings; the copy must equal the tree.
test_wget_mirror() {
    need gnu-wget
    load
    rm -rf /tmp/mirror; mkdir -p /tmp/mirror
    (cd /tmp/mirror && gnu-wget -q -r -np -nH -e robots=off -t 1 -T 30 $BASE/tree/) || t_fail "wget -r: exit status $?"
    # The listings are saved as index.html; no file of the tree is named so.
    (cd /tmp/mirror/tree && find . -type f ! -name index.html | sort) > /tmp/mirror.list
    (cd $WWW/tree && find . -type f | sort) > /tmp/tree.list
    diff /tmp/tree.list /tmp/mirror.list || t_fail "the mirror's files differ from the tree's (above: - missing, + extra)"
    while IFS= read -r f; do
        cmp -s "$WWW/tree/$f" "/tmp/mirror/tree/$f" || t_fail "mirrored $f differs from the file"
    done < /tmp/tree.list
    echo "$(wc -l < /tmp/tree.list) files mirrored through $(find /tmp/mirror -name index.html | wc -l) listings"
    unload
}

# slowhttptest -H: connections send their head a line every 2 s and never finish it.
# Trickling does not extend header_timeout_ms: each gets 408 and is closed.
test_slowloris() {
    need slowhttptest
    load header_timeout_ms=3000
    c=300; [ "${T_SLOW:-0}" = 1 ] && c=50
    t_dmesg_mark
    slowhttptest -H -c $c -r 100 -i 2 -l 40 -p 10 -u $BASE/hello.txt -o /tmp/slowloris > /tmp/slowloris.out 2>&1 &
    pid=$!
    sleep 5
    open=$(stat_of connections_open)
    echo "5 s into the attack: $open connection(s) open"
    probe "during the attack"
    wait $pid
    plain /tmp/slowloris.out | grep -E '^(pending|connected|error|closed|Exit status)' | tail -5
    # slowhttptest stops early once khttpd has closed every connection of its.
    plain /tmp/slowloris.out | grep -q "No open connections left" ||
        t_fail "slowhttptest still had connections open when it stopped"
    timed_out=$(stat_of responses_4xx)
    [ "$timed_out" -ge $((c / 2)) ] || t_fail "only $timed_out 4xx responses (408 expected for the $c trickling heads)"
    probe "after the attack"
    drained 10
    unload
}

# slowhttptest -X: clients with a tiny receive window read a large file a few bytes
# at a time. They make progress, so they are served (slowly); the server stays
# available, and their connections go when they do.
test_slow_read() {
    need slowhttptest
    load
    c=200; [ "${T_SLOW:-0}" = 1 ] && c=40
    slowhttptest -X -c $c -r 100 -w 1 -y 4 -n 3 -z 16 -k 10 -l 20 -p 10 -u $BASE/2m.bin -o /tmp/slowread > /tmp/slowread.out 2>&1 &
    pid=$!
    sleep 8
    open=$(stat_of connections_open)
    echo "8 s into the attack: $open connection(s) open, $(stat_of writing) writing"
    [ "$open" -ge 10 ] || t_fail "only $open connection(s) open: the slow readers did not connect"
    probe "during the attack"
    wait $pid
    plain /tmp/slowread.out | grep -E '^(pending|connected|error|closed|service available|Exit status)' | tail -6
    probe "after the attack"
    drained 20
    unload
}

make_tree
t_run khttpd_clients_ab test_ab
t_run khttpd_clients_h2load_pipelined test_h2load_pipelined
t_run khttpd_clients_wget_mirror test_wget_mirror
t_run khttpd_clients_slowloris test_slowloris
t_run khttpd_clients_slow_read test_slow_read
rmmod khttpd 2>/dev/null
t_summary
