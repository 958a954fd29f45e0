#!/bin/sh
# Guest tests for kprobe-timer.ko: return probes on khttpd's Rust functions (which
# ftrace and kprobe events cannot see) count and time their calls.
set -u
. "$(dirname "$0")/lib.sh"

KO=/modules/kprobe-timer.ko
HTTPD=/modules/khttpd.ko
PORT=8081
BASE=http://127.0.0.1:$PORT
WWW=/srv/kpt

# The kallsyms name of a khttpd function whose mangled name contains $1.
# The function itself (its mangled name ends with it), not a closure inside it (_RNC...).
sym_of() { awk -v p="$1" '$4 == "[khttpd]" && $3 ~ p"$" && $3 !~ /^(_RNC|__pfx)/ { print $3; exit }' /proc/kallsyms; }
# The result line kprobe-timer printed for symbol $1 since the test began.
result_of() { t_dmesg_new | grep -F "kprobe_timer: $1: " | tail -n 1; }
calls_in() { echo "$1" | sed -n 's/.*: \([0-9]*\) calls,.*/\1/p'; }

setup() {
    rm -rf $WWW; mkdir -p $WWW/dir
    printf 'Hello World!' > $WWW/hello.txt
    for i in 1 2 3; do echo $i > $WWW/dir/f$i.txt; done
    chmod -R a+rX $WWW
    rmmod khttpd 2>/dev/null
    # A long cache ttl: the second listing is a cache hit, however slow the kernel.
    insmod $HTTPD root=$WWW port=$PORT cache_ttl_ms=60000 || t_fail "insmod khttpd"
    t_wait_port $PORT 10 || t_fail "khttpd not listening"
}

test_counts_khttpd_functions() {
    setup
    file=$(sym_of entry_reply); listing=$(sym_of render_listing)
    [ -n "$file" ] && [ -n "$listing" ] || t_fail "entry_reply/render_listing not in /proc/kallsyms"
    insmod $KO symbols="$file,khttpd:$listing" || t_fail "insmod kprobe-timer"
    t_assert_eq "$file,khttpd:$listing" "$(cat /sys/module/kprobe_timer/parameters/symbols)" "symbols parameter"
    for i in 1 2 3 4 5 6 7; do curl -s -o /dev/null $BASE/hello.txt || t_fail "curl $i"; done
    curl -s -o /dev/null $BASE/dir/ || t_fail "curl listing"
    curl -s -o /dev/null $BASE/dir/ || t_fail "curl listing"
    rmmod kprobe_timer || t_fail "rmmod kprobe-timer"
    r=$(result_of "$file"); echo "$r"
    # one answer per request (7 files, 2 listings); the listing is rendered once, the
    # second request is served from the cache
    t_assert_eq 9 "$(calls_in "$r")" "entry_reply calls"
    r=$(result_of "khttpd:$listing"); echo "$r"
    t_assert_eq 1 "$(calls_in "$r")" "render_listing calls"
    echo "$r" | grep -qE ' [1-9][0-9]* ns mean, [1-9][0-9]* ns max, 0 missed$' || t_fail "listing durations: $r"
    # Not counted once unregistered.
    curl -s -o /dev/null $BASE/hello.txt
    rmmod khttpd || t_fail "rmmod khttpd"
}

test_bad_input() {
    insmod $KO 2>/dev/null && { rmmod kprobe_timer; t_fail "insmod without symbols succeeded"; }
    t_dmesg_new | grep -q "no symbols given" || t_fail "no dmesg line for a missing symbols parameter"
    insmod $KO symbols=no_such_function_xyz 2>/dev/null && { rmmod kprobe_timer; t_fail "unknown symbol accepted"; }
    t_dmesg_new | grep -q 'cannot probe "no_such_function_xyz"' || t_fail "no dmesg line naming the unknown symbol"
    insmod $KO symbols=a,b,c,d,e,f,g,h,i 2>/dev/null && { rmmod kprobe_timer; t_fail "9 symbols accepted"; }
    t_dmesg_new | grep -q "at most 8 symbols (got 9)" || t_fail "no dmesg line for too many symbols"
    insmod $KO symbols=__x64_sys_read maxactive=-1 2>/dev/null && { rmmod kprobe_timer; t_fail "negative maxactive accepted"; }
    # A kernel function works too (the read system call: never inlined), and a failing
    # second symbol undoes the first.
    insmod $KO symbols=__x64_sys_read,no_such_function_xyz 2>/dev/null && { rmmod kprobe_timer; t_fail "partly bad list accepted"; }
    insmod $KO symbols=__x64_sys_read || t_fail "insmod on __x64_sys_read"
    read -r line < /proc/version   # the shell reads with read(2); cat would use sendfile
    rmmod kprobe_timer || t_fail "rmmod"
    n=$(calls_in "$(result_of __x64_sys_read)")
    [ "${n:-0}" -ge 1 ] || t_fail "__x64_sys_read not counted (got '$n')"
}

# The probed module goes away first: the kernel disarms the probes; no oops, and the
# timer still unloads and reports.
test_target_unloaded_first() {
    setup
    file=$(sym_of entry_reply)
    insmod $KO symbols="$file" || t_fail "insmod kprobe-timer"
    htstress -k -n 2000 -c 10 -t 1 $BASE/hello.txt > /tmp/kpt.out 2>&1 &
    p=$!
    sleep 1
    t_timeout 60 rmmod khttpd || t_fail "rmmod khttpd with a probe on it"
    wait $p 2>/dev/null
    t_timeout 60 rmmod kprobe_timer || t_fail "rmmod kprobe-timer after its target left"
    r=$(result_of "$file"); echo "$r"
    [ -n "$r" ] || t_fail "no result line"
}

t_run kprobe_timer_counts_khttpd_functions test_counts_khttpd_functions
t_run kprobe_timer_bad_input test_bad_input
t_run kprobe_timer_target_unloaded_first test_target_unloaded_first
t_summary
