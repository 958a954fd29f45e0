#!/bin/sh
# Guest tests for drop-tcp-socket.ko (run inside the VM by scripts/check.sh).
#
# Sockets come from tw-maker (TIME_WAIT by active close on loopback, held ESTABLISHED
# pairs, half-closed FIN_WAIT2/CLOSE_WAIT pairs; it checks the held connections after a
# go file appears). Results are checked three ways: sock_diag (droptw --list),
# /proc/net/tcp{,6} and the module's kernel log lines.
set -u
. "$(dirname "$0")/lib.sh"

KO=/modules/drop-tcp-socket.ko
PROC=/proc/net/drop_tcp_sock

modprobe tcp_diag 2>/dev/null   # sock_diag for droptw (a module in Debian kernels)

# Earlier suites can leave thousands of TIME_WAIT sockets behind, and a namespace keeps
# at most tcp_max_tw_buckets of them (half the established hash: 4096 in the guest);
# beyond that the kernel closes sockets without TIME_WAIT, so ours would never get it.
echo "TIME_WAIT sockets at start: $(cat /proc/net/tcp /proc/net/tcp6 | awk '$4 == "06"' | wc -l)" \
    "(tcp_max_tw_buckets $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets))"
echo 262144 > /proc/sys/net/ipv4/tcp_max_tw_buckets

load() {
    # A failed earlier test may have left it loaded.
    [ ! -d /sys/module/drop_tcp_socket ] || rmmod drop_tcp_socket
    insmod "$KO" || { t_fail "insmod $KO"; return 1; }; [ -e "$PROC" ] || t_fail "no $PROC after insmod"; }
unload() { t_timeout 60 rmmod drop_tcp_socket || t_fail "rmmod failed or hung"; }

# mk ARGS...: run `tw-maker make ARGS` in the background until its sockets are ready;
# its output is in $T/out, the listener port in $PORT. mk_check: let it check the held
# connections and the listener, and wait for it.
mk() {
    T=${T:-$(mktemp -d)}
    rm -f "$T/ready" "$T/go"
    tw-maker make "$@" --ready "$T/ready" --go "$T/go" > "$T/out" 2>&1 &
    MK=$!
    i=0
    while [ ! -f "$T/ready" ]; do
        if ! kill -0 "$MK" 2>/dev/null || [ $i -ge 1200 ]; then
            cat "$T/out"
            t_fail "tw-maker make $* did not get ready"
        fi
        i=$((i + 1))
        sleep 0.1
    done
    PORT=$(sed -n 's/^listen .*:\([0-9]*\)$/\1/p' "$T/out")
    [ -n "$PORT" ] || t_fail "no listener port in tw-maker output"
}
mk_check() {
    touch "$T/go"
    wait "$MK" || { cat "$T/out"; t_fail "tw-maker exited with an error"; }
    cat "$T/out"
}
# tuples TAG: the tuples tw-maker printed with that tag, one per line.
tuples() { sed -n "s/^$1 //p" "$T/out"; }
nth() { tuples "$1" | sed -n "${2}p"; }

# count FILE STATE FIELD PORT: sockets in /proc/net/tcp-style FILE in STATE (hex) whose
# local (FIELD 2) or remote (FIELD 3) port is PORT.
count() {
    awk -v st="$2" -v f="$3" -v p=":$(printf '%04X' "$4")" \
        'NR > 1 && $4 == st && substr($f, length($f) - 4) == p { n++ } END { print n + 0 }' "$1"
}
# hexaddr ADDR:PORT (IPv4) -> the /proc/net/tcp form, e.g. 0100007F:1F90.
hexaddr() {
    ip=${1%:*} port=${1##*:}
    set -- $(echo "$ip" | tr . ' ')
    printf '%02X%02X%02X%02X:%04X' "$4" "$3" "$2" "$1" "$port"
}
# state4 "LOCAL REMOTE": the /proc/net/tcp state of an IPv4 tuple, or "gone".
state4() {
    l=$(hexaddr "${1% *}") r=$(hexaddr "${1#* }")
    awk -v l="$l" -v r="$r" 'NR > 1 && $2 == l && $3 == r { s = $4 } END { print (s == "" ? "gone" : s) }' /proc/net/tcp
}
# listed ARGS...: how many sockets droptw --list ARGS reports (sock_diag).
listed() { droptw --list "$@" | wc -l; }
# logged ERE: the kernel log since the last t_dmesg_mark has a matching line.
logged() { t_dmesg_new | grep -E -q -- "$1"; }
# w DATA: one write(2) of DATA to the proc file; prints tw-maker's `write ...` line.
w() { tw-maker write --data "$1"; }

test_proc_file() {
    load
    t_assert_eq "-rw-------" "$(ls -l "$PROC" | cut -c1-10)" "mode of $PROC"
    if cat "$PROC" >/dev/null 2>"$T/err"; then t_fail "reading $PROC succeeded"; fi
    grep -q "Operation not permitted" "$T/err" || { cat "$T/err"; t_fail "read not refused with EPERM"; }
    t_assert_eq "write ok 0" "$(w '')" "empty write"
    t_assert_eq "write ok 4" "$(w "$(printf ' \n\t ')")" "blank write"
    dmesg | grep -q "drop_tcp_socket: loaded" || t_fail "no load message"
    unload
    [ ! -e "$PROC" ] || t_fail "$PROC still there after rmmod"
}

test_needs_net_admin() {
    load
    # Root of a new user namespace owns the file's uid but has no CAP_NET_ADMIN over
    # the initial network namespace ...
    t_assert_eq "write error EPERM" "$(unshare -U -r tw-maker write --data '127.0.0.1:1 127.0.0.1:2')" \
        "write without CAP_NET_ADMIN over the namespace"
    # ... but it has over a network namespace it creates.
    t_assert_eq "write ok 23" "$(unshare -U -r -n tw-maker write --data '127.0.0.1:1 127.0.0.1:2')" \
        "write in a namespace of one's own user namespace"
    unload
}

test_timewait_droptw() {
    load
    mk --time-wait 300 --established 4
    t_assert_eq 300 "$(count /proc/net/tcp 06 3 "$PORT")" "TIME_WAIT sockets in /proc/net/tcp before"
    t_assert_eq 300 "$(listed --dport "$PORT")" "TIME_WAIT sockets listed by droptw before"
    t_dmesg_mark
    out=$(droptw --dport "$PORT") || { echo "$out"; t_fail "droptw failed (status $?)"; }
    echo "droptw: $out"
    t_assert_eq "dropped 300 of 300 (0 still present)" "$out" "droptw report"
    t_assert_eq 0 "$(count /proc/net/tcp 06 3 "$PORT")" "TIME_WAIT sockets in /proc/net/tcp after"
    t_assert_eq 0 "$(listed --dport "$PORT")" "TIME_WAIT sockets listed by droptw after"
    logged "300 tuple\(s\): 300 TIME_WAIT dropped, 0 closed, 0 skipped, 0 not found" || t_fail "no summary line for 300 drops"
    # Untouched: the listener and both ends of the 4 established connections.
    t_assert_eq 1 "$(count /proc/net/tcp 0A 2 "$PORT")" "listener"
    t_assert_eq 4 "$(count /proc/net/tcp 01 2 "$PORT")" "established (server side)"
    t_assert_eq 4 "$(count /proc/net/tcp 01 3 "$PORT")" "established (client side)"
    mk_check
    t_assert_eq 4 "$(grep -c '^check est .* ok$' "$T/out")" "established connections still exchange data"
    grep -q '^check listener ok$' "$T/out" || t_fail "listener does not accept"
    unload
}

test_timewait_echo() {
    load
    mk --time-wait 6
    t1=$(nth tw 1) t2=$(nth tw 2) t3=$(nth tw 3) t4=$(nth tw 4) t5=$(nth tw 5) t6=$(nth tw 6)
    t_assert_eq 06 "$(state4 "$t1")" "first tuple before"
    t_dmesg_mark
    echo "$t1" > "$PROC" || t_fail "echo of one tuple failed"
    t_assert_eq gone "$(state4 "$t1")" "echoed tuple"
    t_assert_eq 06 "$(state4 "$t2")" "other tuple untouched"
    logged "1 tuple\(s\): 1 TIME_WAIT dropped" || t_fail "no summary line"
    # Several tuples in one write, any whitespace, the last without a newline.
    echo "$t2	$t3 $t4" > "$PROC" || t_fail "echo of three tuples failed"
    echo -n "$t5" > "$PROC" || t_fail "echo -n of a tuple failed"
    for t in "$t2" "$t3" "$t4" "$t5"; do t_assert_eq gone "$(state4 "$t")" "$t"; done
    t_assert_eq 06 "$(state4 "$t6")" "last tuple untouched"
    # The same tuple again: no socket any more, the write still succeeds.
    t_dmesg_mark
    echo "$t1" > "$PROC" || t_fail "repeated tuple failed the write"
    logged "no socket for $t1" || t_fail "repeated tuple not reported"
    echo "$t6" > "$PROC"
    t_assert_eq 0 "$(count /proc/net/tcp 06 3 "$PORT")" "all gone"
    mk_check
    unload
}

test_ipv6() {
    load
    mk --addr ::1 --time-wait 20 --established 2
    t_assert_eq 20 "$(count /proc/net/tcp6 06 3 "$PORT")" "IPv6 TIME_WAIT before"
    t1=$(nth tw 1)
    case $t1 in "[::1]:"*) ;; *) t_fail "unexpected tuple $t1" ;; esac
    t_dmesg_mark
    echo "$t1" > "$PROC" || t_fail "echo of an IPv6 tuple failed"
    t_assert_eq 19 "$(count /proc/net/tcp6 06 3 "$PORT")" "after one IPv6 tuple"
    logged "1 TIME_WAIT dropped" || t_fail "no summary line"
    out=$(droptw -6 --dport "$PORT")
    t_assert_eq "dropped 19 of 19 (0 still present)" "$out" "droptw -6 report"
    t_assert_eq 0 "$(count /proc/net/tcp6 06 3 "$PORT")" "IPv6 TIME_WAIT after"
    t_assert_eq 0 "$(listed -6 --dport "$PORT")" "droptw -6 --list after"
    mk_check
    t_assert_eq 2 "$(grep -c '^check est .* ok$' "$T/out")" "IPv6 established untouched"
    grep -q '^check listener ok$' "$T/out" || t_fail "IPv6 listener does not accept"
    unload
}

test_ipv4_mapped() {
    load
    # IPv6 sockets talking IPv4: the kernel hashes them as IPv4.
    mk --addr ::ffff:127.0.0.1 --time-wait 3
    t1=$(nth tw 1) t2=$(nth tw 2)
    case $t1 in "[::ffff:127.0.0.1]:"*) ;; *) t_fail "unexpected tuple $t1" ;; esac
    t_assert_eq 3 "$(count /proc/net/tcp6 06 3 "$PORT")" "mapped TIME_WAIT before"
    t_dmesg_mark
    echo "$t1" > "$PROC" || t_fail "mapped tuple write failed"
    t_assert_eq 2 "$(count /proc/net/tcp6 06 3 "$PORT")" "after the mapped form"
    # The same socket named in plain IPv4 form.
    plain=$(echo "$t2" | sed 's/\[::ffff:\([0-9.]*\)\]/\1/g')
    echo "$plain" > "$PROC" || t_fail "plain IPv4 write failed"
    t_assert_eq 1 "$(count /proc/net/tcp6 06 3 "$PORT")" "after the IPv4 form"
    t_assert_eq 2 "$(t_dmesg_new | grep -c '1 TIME_WAIT dropped')" "two drops logged"
    droptw --dport "$PORT" >/dev/null || t_fail "droptw on a mapped socket"
    t_assert_eq 0 "$(count /proc/net/tcp6 06 3 "$PORT")" "mapped TIME_WAIT after droptw"
    mk_check
    unload
}

# refused TOKEN-ERE REASON-ERE DATA: a write of a valid tuple followed by DATA is
# refused with EINVAL, logged naming the token, and applies nothing.
refused() {
    t_dmesg_mark
    r=$(w "$good
$3")
    t_assert_eq "write error EINVAL" "$r" "write of '$3'"
    logged "write refused, nothing applied: $1: .*$2" || { t_dmesg_new; t_fail "no log line for '$3'"; }
    t_assert_eq 06 "$(state4 "$good")" "valid tuple before '$3' was applied"
}

test_malformed() {
    load
    mk --time-wait 2
    good=$(nth tw 1)
    refused 'token 2 "1\.2\.3\.4:0"' 'port out of range' "1.2.3.4:0 1.2.3.4:5"
    refused 'token 2 "01\.2\.3\.4:5"' 'malformed IPv4' "01.2.3.4:5 1.2.3.4:5"
    refused 'token 2 "::1:80"' 'must be bracketed' "::1:80 [::1]:80"
    refused 'token 3 "\[::1\]:80"' 'families differ' "1.2.3.4:5 [::1]:80"
    refused 'token 2 "9\.9\.9\.9:9"' 'odd token count' "9.9.9.9:9"
    refused 'token 2 "\[fe80::1%eth0\]:80"' 'zone ids' "[fe80::1%eth0]:80 [::1]:1"
    refused 'token 3 "localhost"' 'missing :port' "1.2.3.4:5 localhost"
    refused 'token 2 "1\.2\.3\.4:80\\x01\\x1b\[1m\\x22"' 'not a plain decimal' "$(printf '1.2.3.4:80\001\033[1m" 1.2.3.4:5')"
    long=$(head -c 200 /dev/zero | tr '\0' x)
    refused 'token 2 "x{64}\.\.\."' 'token too long' "$long 1.2.3.4:5"
    # A bad token before the good tuple: same outcome.
    t_dmesg_mark
    t_assert_eq "write error EINVAL" "$(w "1.2.3.4:5 1.2.3.4:0
$good")" "bad token first"
    logged 'token 1 "1\.2\.3\.4:0"' || t_fail "bad first tuple not named"
    t_assert_eq 06 "$(state4 "$good")" "valid tuple after a bad one was applied"
    # Nothing was dropped by any refused write; now drop it for real.
    t_assert_eq "write ok ${#good}" "$(w "$good")" "valid write"
    t_assert_eq gone "$(state4 "$good")" "valid tuple"
    mk_check
    unload
}

test_oversized() {
    load
    mk --time-wait 2
    good=$(nth tw 1)
    # The good tuple padded with spaces to 65537 bytes, then to 65536.
    printf '%s\n' "$good" > "$T/big"
    pad=$((65537 - ${#good} - 1))
    head -c "$pad" /dev/zero | tr '\0' ' ' >> "$T/big"
    t_assert_eq 65537 "$(wc -c < "$T/big")" "test file size"
    t_assert_eq "write error EFBIG" "$(tw-maker write --file "$T/big")" "65537-byte write"
    if dd if="$T/big" of="$PROC" bs=65537 count=1 2>"$T/dd.err"; then t_fail "dd of 65537 bytes succeeded"; fi
    grep -q "File too large" "$T/dd.err" || { cat "$T/dd.err"; t_fail "dd error is not EFBIG"; }
    t_assert_eq "write error EFBIG" "$(tw-maker write --bad-pointer 65537)" "oversized bad buffer (size checked first)"
    t_assert_eq 06 "$(state4 "$good")" "tuple in a refused oversized write"
    truncate -s 65536 "$T/big"
    t_assert_eq "write ok 65536" "$(tw-maker write --file "$T/big")" "65536-byte write"
    t_assert_eq gone "$(state4 "$good")" "tuple in a 65536-byte write"
    mk_check
    unload
}

test_bad_buffer() {
    load
    t_assert_eq "write error EFAULT" "$(tw-maker write --bad-pointer 100)" "unmapped buffer"
    t_assert_eq "write ok 0" "$(tw-maker write --bad-pointer 0)" "empty write at a bad address"
    unload
}

test_unmatched() {
    load
    t_dmesg_mark
    t_assert_eq "write ok 23" "$(w "127.0.0.1:1 127.0.0.1:2")" "unmatched tuple"
    logged "no socket for 127\.0\.0\.1:1 127\.0\.0\.1:2" || t_fail "unmatched tuple not logged"
    logged "1 tuple\(s\): 0 TIME_WAIT dropped, 0 closed, 0 skipped, 1 not found" || t_fail "no summary line"
    # 40 unmatched in one write: 16 lines, then a count.
    t_dmesg_mark
    data=$(for i in $(seq 1 40); do echo "10.0.0.1:$i 10.0.0.2:$i"; done)
    w "$data" | grep -q "^write ok" || t_fail "40 unmatched tuples"
    t_assert_eq 16 "$(t_dmesg_new | grep -c 'no socket for 10\.0\.0\.1')" "detail lines per write"
    logged "40 tuple\(s\): 0 TIME_WAIT dropped, 0 closed, 0 skipped, 40 not found; 24 more tuple line\(s\) not shown" ||
        t_fail "capped summary missing"
    unload
}

test_listener_untouched() {
    load
    mk --established 2
    t_dmesg_mark
    for remote in 127.0.0.1:1 127.0.0.1:"$PORT" 127.0.0.2:40000; do
        echo "127.0.0.1:$PORT $remote" > "$PROC" || t_fail "write naming the listener"
        logged "no socket for 127\.0\.0\.1:$PORT $remote" || t_fail "listener tuple with $remote was matched"
    done
    echo "0.0.0.0:$PORT 127.0.0.1:1" > "$PROC"
    t_assert_eq 1 "$(count /proc/net/tcp 0A 2 "$PORT")" "listener still listening"
    mk_check
    t_assert_eq 2 "$(grep -c '^check est .* ok$' "$T/out")" "established connections"
    grep -q '^check listener ok$' "$T/out" || t_fail "listener does not accept after the writes"
    unload
}

test_other_states() {
    load
    old=$(cat /proc/sys/net/ipv4/tcp_fin_timeout)
    # Keeps orphaned FIN_WAIT2 sockets as full sockets (not TIME_WAIT ones) for a while.
    echo 120 > /proc/sys/net/ipv4/tcp_fin_timeout
    mk --established 3 --half-closed 2
    e1=$(nth est 1) s1=$(nth est-srv 1) f1=$(nth fw2 1) c1=$(nth cw 1) f2=$(nth fw2 2) c2=$(nth cw 2)
    t_assert_eq 05 "$(state4 "$f1")" "FIN_WAIT2 before"
    t_dmesg_mark
    echo "$e1 $c2 $f1" > "$PROC" || t_fail "write of three live connections"
    logged "closed $e1 \(was ESTABLISHED\) without a reset" || t_fail "established close not logged"
    logged "closed $c2 \(was CLOSE-WAIT\) without a reset" || t_fail "CLOSE_WAIT close not logged"
    logged "closed $f1 \(was FIN-WAIT-2\) without a reset" || t_fail "FIN_WAIT2 (orphan) close not logged"
    logged "3 tuple\(s\): 0 TIME_WAIT dropped, 3 closed, 0 skipped, 0 not found" || t_fail "no summary"
    t_assert_eq gone "$(state4 "$e1")" "closed established socket"
    t_assert_eq gone "$(state4 "$f1")" "closed orphan"
    t_assert_eq gone "$(state4 "$c2")" "closed CLOSE_WAIT socket"
    # No reset was sent: the peers are still in their states.
    t_assert_eq 01 "$(state4 "$s1")" "peer of the closed established socket"
    t_assert_eq 08 "$(state4 "$c1")" "peer of the closed orphan"
    t_assert_eq 05 "$(state4 "$f2")" "peer of the closed CLOSE_WAIT socket"
    mk_check
    grep -q "^check est $e1 error client write ECONNABORTED$" "$T/out" || t_fail "owner of the closed socket did not see ECONNABORTED"
    t_assert_eq 2 "$(grep -c '^check est .* ok$' "$T/out")" "other established connections"
    grep -q "^check cw $c2 error server write ECONNABORTED$" "$T/out" || t_fail "CLOSE_WAIT owner did not see ECONNABORTED"
    grep -q "^check cw $c1 ok$" "$T/out" || t_fail "untouched CLOSE_WAIT socket"
    grep -q '^check listener ok$' "$T/out" || t_fail "listener"
    echo "$old" > /proc/sys/net/ipv4/tcp_fin_timeout
    unload
}

test_netns() {
    load
    # A namespace with its own established hash table (tcp_child_ehash_entries): the
    # module must look sockets up in the namespace's table, not the global one.
    old=$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries)
    echo 128 > /proc/sys/net/ipv4/tcp_child_ehash_entries
    mk --time-wait 3
    outer=$(nth tw 1)
    cat > "$T/inner.sh" <<EOF
set -u
ip link set lo up
readlink /proc/self/ns/net | tr -dc 0-9 > "$T/inum"
[ -e $PROC ] || { echo "no $PROC in the new namespace"; exit 1; }
[ "\$(grep -c . /proc/net/tcp)" = 1 ] || { echo "new namespace is not empty"; exit 1; }
echo "$outer" > $PROC || { echo "write of the outer tuple failed"; exit 1; }
tw-maker make --time-wait 10 > "$T/inner.out" || { cat "$T/inner.out"; exit 1; }
n=\$(awk 'NR > 1 && \$4 == "06"' /proc/net/tcp | wc -l)
[ "\$n" = 10 ] || { echo "expected 10 TIME_WAIT inside, got \$n"; exit 1; }
out=\$(droptw) || { echo "droptw: \$out"; exit 1; }
echo "inner droptw: \$out"
[ "\$out" = "dropped 10 of 10 (0 still present)" ] || exit 1
n=\$(awk 'NR > 1 && \$4 == "06"' /proc/net/tcp | wc -l)
[ "\$n" = 0 ] || { echo "\$n TIME_WAIT left inside"; exit 1; }
EOF
    t_dmesg_mark
    unshare -n sh "$T/inner.sh" || { echo 0 > /proc/sys/net/ipv4/tcp_child_ehash_entries; t_fail "inside the new namespace"; }
    echo "$old" > /proc/sys/net/ipv4/tcp_child_ehash_entries
    inum=$(cat "$T/inum")
    outer_inum=$(readlink /proc/self/ns/net | tr -dc 0-9)
    [ -n "$inum" ] && [ "$inum" != "$outer_inum" ] || t_fail "namespace ids '$inum' '$outer_inum'"
    logged "netns $inum: no socket for $outer" || t_fail "outer tuple was not looked up in the inner namespace only"
    logged "netns $inum: 10 tuple\(s\): 10 TIME_WAIT dropped" || t_fail "inner drops not logged with the inner namespace"
    t_assert_eq 06 "$(state4 "$outer")" "outer socket touched by the inner namespace's file"
    echo "$outer" > "$PROC"
    t_assert_eq gone "$(state4 "$outer")" "outer socket via the outer file"
    logged "netns $outer_inum: 1 tuple\(s\): 1 TIME_WAIT dropped" || t_fail "outer drop not logged with the outer namespace"
    mk_check
    # A namespace that exists before insmod gets the file too, and loses it at rmmod.
    unload
    unshare -n sleep 600 &
    holder=$!
    i=0
    while [ "$(readlink /proc/$holder/ns/net | tr -dc 0-9)" = "$outer_inum" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ ! -e /proc/$holder/net/drop_tcp_sock ] || t_fail "file in a namespace before insmod"
    load
    [ -e /proc/$holder/net/drop_tcp_sock ] || t_fail "no file in the namespace that existed before insmod"
    t_assert_eq "write ok 23" "$(tw-maker write --path /proc/$holder/net/drop_tcp_sock --data '127.0.0.1:1 127.0.0.1:2')" "write to the other namespace's file"
    unload
    [ ! -e /proc/$holder/net/drop_tcp_sock ] || t_fail "file left in the namespace after rmmod"
    # The namespace goes away while the module is loaded: its file is removed quietly.
    load
    kill $holder; wait $holder 2>/dev/null
    for i in $(seq 1 5); do unshare -n true || t_fail "namespace creation with the module loaded"; done
    # rmmod while they are being dismantled (by a kernel worker) must be fine too.
    unload
}

test_rmmod_open_writer() {
    load
    T=${T:-$(mktemp -d)}
    tw-maker write --data "127.0.0.1:1 127.0.0.1:2" --ready "$T/r1" --go "$T/g1" > "$T/w1" 2>&1 &
    writer=$!
    # The same with a shell holding the file open.
    ( exec 3>"$PROC"; touch "$T/r2"; while [ ! -f "$T/g2" ]; do sleep 0.1; done
      if echo "127.0.0.1:1 127.0.0.1:2" >&3; then echo "shell write ok"; else echo "shell write failed"; fi ) > "$T/w2" 2>&1 &
    shell=$!
    i=0
    while { [ ! -f "$T/r1" ] || [ ! -f "$T/r2" ]; } && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$T/r1" ] && [ -f "$T/r2" ] || t_fail "writers did not open the file"
    unload
    [ ! -d /sys/module/drop_tcp_socket ] || t_fail "module still loaded"
    touch "$T/g1" "$T/g2"
    wait $writer; wait $shell
    cat "$T/w1" "$T/w2"
    t_assert_eq "write error EIO" "$(cat "$T/w1")" "write through a file opened before rmmod"
    grep -q "shell write failed" "$T/w2" || t_fail "shell write after rmmod did not fail"
    # Loading again gives a working file.
    load
    t_assert_eq "write ok 23" "$(w '127.0.0.1:1 127.0.0.1:2')" "write after reload"
    unload
}

test_concurrent_writers() {
    load
    mk --time-wait 400 --established 2
    tuples tw > "$T/all"
    for k in 0 1 2 3; do awk -v k=$k 'NR % 4 == k' "$T/all" > "$T/part$k"; done
    t_dmesg_mark
    pids=""
    for k in 0 1 2 3; do
        tw-maker write --file "$T/part$k" > "$T/res$k" &
        pids="$pids $!"
    done
    # A fifth writer drops nothing but writes at the same time.
    for j in $(seq 1 20); do w "127.0.0.1:1 127.0.0.1:2" >/dev/null; done &
    pids="$pids $!"
    for p in $pids; do wait $p; done
    for k in 0 1 2 3; do grep -q "^write ok" "$T/res$k" || { cat "$T/res$k"; t_fail "writer $k"; }; done
    t_assert_eq 0 "$(count /proc/net/tcp 06 3 "$PORT")" "TIME_WAIT left after 4 concurrent writers"
    total=$(t_dmesg_new | sed -n 's/.* tuple(s): \([0-9]*\) TIME_WAIT dropped.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
    if [ "$total" != 400 ]; then
        # What became of the tuples not dropped: listed twice, or gone before the writes?
        echo "tuples listed: $(wc -l < "$T/all"), distinct: $(sort -u "$T/all" | wc -l)"
        t_dmesg_new | grep -E "no socket for|tuple\(s\)"
        grep -v '^\(tw\|est\|est-srv\) ' "$T/out"
    fi
    t_assert_eq 400 "$total" "TIME_WAIT drops summed over the writes"
    mk_check
    t_assert_eq 2 "$(grep -c '^check est .* ok$' "$T/out")" "established connections"
    unload
}

test_load_unload_cycles() {
    i=1
    while [ $i -le 20 ]; do
        load || return 1
        t_assert_eq "write ok 23" "$(w '127.0.0.1:1 127.0.0.1:2')" "write in cycle $i"
        unload || return 1
        i=$((i + 1))
    done
}

T=$(mktemp -d)
t_run drop_proc_file test_proc_file
t_run drop_needs_net_admin test_needs_net_admin
t_run drop_timewait_droptw test_timewait_droptw
t_run drop_timewait_echo test_timewait_echo
t_run drop_ipv6 test_ipv6
t_run drop_ipv4_mapped test_ipv4_mapped
t_run drop_malformed_all_or_none test_malformed
t_run drop_oversized_write test_oversized
t_run drop_bad_buffer test_bad_buffer
t_run drop_unmatched_tuples test_unmatched
t_run drop_listener_untouched test_listener_untouched
t_run drop_other_states_no_reset test_other_states
t_run drop_netns test_netns
t_run drop_rmmod_open_writer test_rmmod_open_writer
t_run drop_concurrent_writers test_concurrent_writers
t_run drop_load_unload_cycles test_load_unload_cycles
rmmod drop_tcp_socket 2>/dev/null
t_summary
