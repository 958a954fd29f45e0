#!/bin/sh
# smoke.sh - proves the VM runner and lib.sh work, using only stock modules.
#
#   /tests/smoke.sh [FAIL_MODE]     or   SMOKE_FAIL=FAIL_MODE /tests/smoke.sh
#
# FAIL_MODE (default: none) adds one deliberately failing test so the
# failure path can be checked end to end:
#   assert   an assertion fails            dmesg    a fake "WARNING:" is logged
#   timeout  a test overruns T_TIMEOUT     exit     a test returns non-zero
set -u
. "$(dirname "$0")/lib.sh"

FAIL_MODE=${1:-${SMOKE_FAIL:-}}

test_module_load() {
    modprobe dummy || t_fail "modprobe dummy"
    [ -d /sys/module/dummy ] || t_fail "/sys/module/dummy missing after load"
    # The module's default numdummies=1 creates dummy0.
    [ -d /sys/class/net/dummy0 ] || t_fail "dummy0 not created"
    ip link set dummy0 up || t_fail "cannot bring dummy0 up"
    rmmod dummy || t_fail "rmmod dummy"
    [ ! -d /sys/module/dummy ] || t_fail "/sys/module/dummy still present after rmmod"
}

test_tun_module() {
    modprobe tun || t_fail "modprobe tun"
    [ -d /sys/module/tun ] || t_fail "/sys/module/tun missing"
    [ -c /dev/net/tun ] || t_fail "/dev/net/tun not created by devtmpfs"
    rmmod tun || t_fail "rmmod tun"
}

test_results_dir() {
    grep -q ' /results 9p ' /proc/mounts || t_fail "/results is not a 9p mount"
    uname -r > /results/smoke.txt || t_fail "cannot write /results/smoke.txt"
    t_assert_eq "$(uname -r)" "$(cat /results/smoke.txt)" "read back"
}

test_network() {
    ip link set lo up
    [ -d /sys/class/net/eth0 ] || t_skip "no eth0 (no virtio-net device)"
    ip -4 addr show dev eth0 | grep -q '10\.0\.2\.15/24' || t_fail "eth0 has no 10.0.2.15/24"
    ip route | grep -q '^default via 10\.0\.2\.2' || t_fail "no default route via 10.0.2.2"
}

test_tcp_listener() {
    mkdir -p /tmp/www
    echo smoke-ok > /tmp/www/index.html
    t_bg httpd -f -p 18080 -h /tmp/www
    t_wait_port 18080 10 || t_fail "httpd did not start listening"
    # busybox wget -T crashes; bound it with t_timeout instead.
    body=$(t_timeout 10 wget -q -O - http://127.0.0.1:18080/index.html) || t_fail "wget failed"
    t_assert_eq smoke-ok "$body" "served page"
}

test_dmesg_scan_quiet() {
    # A harmless kernel message must not trip the scanner.
    echo "<6>smoke: informational line" > /dev/kmsg
    t_dmesg_new | grep -q 'smoke: informational line' || t_fail "t_dmesg_new misses new lines"
}

test_deliberate_failure() {
    case $1 in
        assert) t_assert_eq 1 2 "deliberate assertion" ;;
        dmesg) echo "WARNING: smoke deliberate fake warning" > /dev/kmsg ;;
        timeout) sleep 30 ;;
        exit) return 3 ;;
        *) t_fail "unknown FAIL_MODE '$1'" ;;
    esac
}

t_run module_load test_module_load
t_run tun_module test_tun_module
t_run results_dir test_results_dir
t_run network test_network
t_run tcp_listener test_tcp_listener
t_run dmesg_scan_quiet test_dmesg_scan_quiet
if [ -n "$FAIL_MODE" ]; then
    [ "$FAIL_MODE" = timeout ] && T_TIMEOUT=3
    t_run "deliberate_$FAIL_MODE" test_deliberate_failure "$FAIL_MODE"
    T_TIMEOUT=300
fi
t_summary
