# lib.sh - tiny test framework for guest test scripts (busybox ash).
#
#   . "$(dirname "$0")/lib.sh"
#   test_foo() { insmod /modules/foo.ko || t_fail "insmod"; t_assert_eq 1 "$(cat /x)" "x value"; }
#   t_run foo test_foo [ARGS...]
#   t_summary            # last command: exit status = failures present
#
# t_run runs the function in a subshell with its output captured (shown on
# failure, or always with T_VERBOSE=1; also kept in /results/logs/NAME.log) and its
# wall time appended to /results/durations.txt ("SECS SUITE NAME").
# A test fails if it returns non-zero, calls t_fail, times out (T_TIMEOUT
# seconds, default 300, 0 = none) or if the kernel log gained a line matching
# T_DMESG_PATTERN while it ran (lines matching T_DMESG_IGNORE, an ERE, are
# exempt). t_skip "why" ends a test as skipped. On a failure the whole kernel log of
# the test is shown (full sanitizer reports, not just their first line).
#
# Kernels with kmemleak (make check-debug): leaks found before the suite are cleared;
# every `rmmod` in a test that removes a module is followed by a kmemleak scan (not
# under t_timeout, which runs the rmmod program itself), and t_summary waits out
# kmemleak's minimum object age (5 s) and scans again. A suspected leak fails the test
# (or the suite, as "NAME kmemleak") and is printed in full.
#
# Helpers: t_fail MSG, t_skip MSG, t_assert CMD..., t_assert_eq EXP ACT [MSG],
# t_wait_port PORT [SECS], t_timeout SECS CMD... (124 on time-out),
# t_bg CMD... (background process killed when the test ends),
# t_dmesg_mark / t_dmesg_new (kernel log lines since the mark).
# T_ONLY (an ERE): run only the tests whose name matches it (others are not counted).
# Safe under `set -u` and `set -e` in the calling script.

T_RESULTS_DIR=${T_RESULTS_DIR:-/results}
T_TIMEOUT=${T_TIMEOUT:-300}
T_VERBOSE=${T_VERBOSE:-0}
# BUG: covers KASAN, KFENCE and "sleeping function called from invalid context"; WARNING:
# covers lockdep ("possible circular locking", "suspicious RCU usage"...) and ODEBUG.
T_DMESG_PATTERN=${T_DMESG_PATTERN:-'BUG:|WARNING:|Oops|general protection|refcount_t|list_add corruption|list_del corruption|UBSAN|KASAN|KFENCE|kernel BUG|soft lockup|hung_task|blocked for more than|ODEBUG|invalid context|lock held when returning|inconsistent lock state|suspected memory leak'}
# Exempt by default: kmemleak's own scan thread waiting (hung-task report) while the
# scan a test asked for holds kmemleak's lock; a scan of a 2 GiB guest under TCG can
# take over 30 s (seen on a slow host), and that thread is not ours. Any other task's
# hung-task line still fails the test.
T_DMESG_IGNORE=${T_DMESG_IGNORE:-'INFO: task kmemleak:[0-9]+ blocked for more than|hung_task_timeout_secs" disables this message'}
T_SUITE=${T_SUITE:-${0##*/}}

_t_pass=0
_t_fail=0
_t_skip=0
_t_in_test=0
_t_mark=0
_t_tmp=$(mktemp -d /tmp/t-lib.XXXXXX)
: > "$_t_tmp/list"

T_KMEMLEAK=/sys/kernel/debug/kmemleak
[ -e $T_KMEMLEAK ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
_t_has_kmemleak=0
[ -w $T_KMEMLEAK ] && _t_has_kmemleak=1
_t_kmemleak() { [ "$_t_has_kmemleak" = 1 ]; }
# Forget leaks suspected before this suite (boot, earlier suites: already judged).
_t_kmemleak && { echo scan > $T_KMEMLEAK; echo clear > $T_KMEMLEAK; } 2>/dev/null

# Scans for leaks now; prints and records any found (then clears them, so each leak is
# reported once). Status 1 if there were any. A no-op without kmemleak.
t_kmemleak_scan() {
    _t_kmemleak || return 0
    echo scan > $T_KMEMLEAK 2>/dev/null
    _t_leaks=$(cat $T_KMEMLEAK 2>/dev/null)
    [ -n "$_t_leaks" ] || return 0
    echo clear > $T_KMEMLEAK 2>/dev/null
    printf 'kmemleak: suspected leaks (%s):\n%s\n' "$1" "$_t_leaks" | tee -a "$_t_tmp/leaks"
    return 1
}

# Every rmmod that removed a module is followed by a leak scan (what the module freed,
# or did not). A failed one (the usual "unload whatever is left" before an insmod) freed
# nothing: no scan, which under TCG takes 10-15 s of a 2 GiB guest.
rmmod() {
    _t_rm=0
    command rmmod "$@" || _t_rm=$?
    [ "$_t_rm" != 0 ] || t_kmemleak_scan "after rmmod $*" >&2
    return $_t_rm
}

# Kernel log timestamp (seconds) of the newest line; lines after it are "new".
# Timestamps survive ring-buffer wrap, unlike line counts.
_t_dmesg_last_ts() {
    dmesg | awk 'match($0, /^\[ *[0-9]+\.[0-9]+\]/) { ts = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
                 END { printf "%.6f\n", ts + 0 }'
}

t_dmesg_mark() { _t_mark=$(_t_dmesg_last_ts); }

# Kernel log lines newer than the mark (untimestamped lines follow their predecessor).
t_dmesg_new() {
    dmesg | awk -v m="${1:-$_t_mark}" 'match($0, /^\[ *[0-9]+\.[0-9]+\]/) { ts = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
                                       ts > m + 0 { print }'
}

t_fail() {
    if [ "$_t_in_test" = 1 ]; then
        echo "$*" >> "$_t_tmp/reason"
        echo "t_fail: $*" >&2
        exit 1
    fi
    # Outside t_run: count it so t_summary still reports failure.
    echo "FAIL: ${T_SUITE} ($*)"
    echo "FAIL: ${T_SUITE} ($*)" >> "$_t_tmp/list"
    _t_fail=$((_t_fail + 1))
    return 1
}

t_skip() {
    [ "$_t_in_test" = 1 ] || { echo "t_skip: only valid inside t_run" >&2; return 1; }
    echo "$*" > "$_t_tmp/skip"
    exit 0
}

t_assert() {
    "$@" || t_fail "command failed (status $?): $*"
}

t_assert_eq() {
    [ "$1" = "$2" ] || t_fail "${3:-values differ}: expected '$1', got '$2'"
}

# Map busybox timeout's 143 (SIGTERM) to the conventional 124.
t_timeout() {
    _t_s=$1; shift
    _t_r=0
    timeout "$_t_s" "$@" || _t_r=$?
    [ "$_t_r" = 143 ] && _t_r=124
    return "$_t_r"
}

# True if something listens on TCP PORT (v4 or v6); /proc/net/tcp state 0A = LISTEN.
_t_listening() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

t_wait_port() {
    _t_end=$(( $(date +%s) + ${2:-10} ))
    while ! _t_listening "$1"; do
        if [ "$(date +%s)" -ge "$_t_end" ]; then
            echo "t_wait_port: nothing listening on port $1 after ${2:-10}s" >&2
            return 1
        fi
        sleep 0.1
    done
}

t_bg() {
    "$@" </dev/null &
    echo $! >> "$_t_tmp/bg"
}

# PID and all its descendants, parents first (walks /proc; no pkill needed).
_t_tree() {
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v root="$1" '
            NF { s = $0; sub(/.*\) /, "", s); split(s, a, " "); kids[a[2]] = kids[a[2]] " " $1 }
            END {
                q[1] = root; n = 1
                for (i = 1; i <= n; i++) {
                    print q[i]; c = split(kids[q[i]], k, " ")
                    for (j = 1; j <= c; j++) q[++n] = k[j]
                }
            }'
}

_t_kill_tree() {
    _t_pids=$(_t_tree "$1")
    # Stop first so nothing forks new children while we kill.
    kill -STOP $_t_pids 2>/dev/null
    kill -KILL $_t_pids 2>/dev/null
}

_t_safe_name() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

t_run() {
    _t_name=$1
    _t_fn=${2:-$1}
    [ $# -ge 2 ] && shift 2 || shift $#
    if [ -n "${T_ONLY:-}" ] && ! printf '%s\n' "$_t_name" | grep -q -E -- "$T_ONLY"; then
        return 0
    fi
    rm -f "$_t_tmp/reason" "$_t_tmp/skip" "$_t_tmp/bg" "$_t_tmp/timedout" "$_t_tmp/leaks"
    echo "RUN:  $_t_name"
    _t_t0=$(date +%s)
    t_dmesg_mark
    _t_start_mark=$_t_mark
    (
        _t_in_test=1
        T_NAME=$_t_name
        "$_t_fn" "$@"
    ) </dev/null > "$_t_tmp/out" 2>&1 &
    _t_pid=$!
    _t_wd=""
    if [ "${T_TIMEOUT:-0}" -gt 0 ] 2>/dev/null; then
        (
            sleep "$T_TIMEOUT"
            echo "timed out after ${T_TIMEOUT}s" > "$_t_tmp/timedout"
            _t_kill_tree "$_t_pid"
        ) </dev/null >/dev/null 2>&1 &
        _t_wd=$!
    fi
    _t_rc=0
    wait "$_t_pid" || _t_rc=$?
    [ -n "$_t_wd" ] && _t_kill_tree "$_t_wd"
    if [ -s "$_t_tmp/bg" ]; then
        for _t_p in $(cat "$_t_tmp/bg"); do _t_kill_tree "$_t_p"; done
    fi

    _t_reason=""
    if [ -s "$_t_tmp/timedout" ]; then
        _t_reason=$(cat "$_t_tmp/timedout")
    elif [ -s "$_t_tmp/reason" ]; then
        _t_reason=$(head -n 1 "$_t_tmp/reason")
    elif [ "$_t_rc" != 0 ]; then
        _t_reason="exit status $_t_rc"
    fi

    # Kernel trouble fails the test even if the test itself passed.
    _t_hits=$(t_dmesg_new "$_t_start_mark" | grep -E -- "$T_DMESG_PATTERN" |
        { if [ -n "$T_DMESG_IGNORE" ]; then grep -v -E -- "$T_DMESG_IGNORE"; else cat; fi; } || true)
    if [ -n "$_t_hits" ]; then
        _t_first=$(printf '%s\n' "$_t_hits" | head -n 1 | sed 's/^\[ *[0-9.]*\] *//')
        _t_reason="${_t_reason:+$_t_reason; }kernel log: $_t_first"
    fi
    if [ -s "$_t_tmp/leaks" ]; then
        _t_reason="${_t_reason:+$_t_reason; }kmemleak: $(grep -c '^unreferenced object' "$_t_tmp/leaks") suspected leak(s)"
    fi

    if [ -n "$_t_reason" ]; then
        _t_fail=$((_t_fail + 1))
        _t_line="FAIL: $_t_name ($_t_reason)"
    elif [ -f "$_t_tmp/skip" ]; then
        _t_skip=$((_t_skip + 1))
        _t_line="SKIP: $_t_name ($(cat "$_t_tmp/skip"))"
    else
        _t_pass=$((_t_pass + 1))
        _t_line="PASS: $_t_name"
    fi
    echo "$_t_line"
    echo "$_t_line" >> "$_t_tmp/list"
    if [ -n "$_t_reason" ] || [ "$T_VERBOSE" = 1 ]; then
        tail -n 100 "$_t_tmp/out" | sed 's/^/    | /'
    fi
    if [ -n "$_t_hits" ]; then
        echo "    kernel log lines matching the failure patterns:"
        printf '%s\n' "$_t_hits" | head -n 40 | sed 's/^/    ! /'
        echo "    the test's whole kernel log (reports in full):"
        t_dmesg_new "$_t_start_mark" | tail -n 600 | sed 's/^/    ! /'
    fi
    if [ -s "$_t_tmp/leaks" ]; then
        sed 's/^/    ! /' "$_t_tmp/leaks"
    fi
    if [ -d "$T_RESULTS_DIR" ] && mkdir -p "$T_RESULTS_DIR/logs" 2>/dev/null; then
        # Where the suite's time goes (check.sh prints the slowest tests).
        echo "$(( $(date +%s) - _t_t0 )) $T_SUITE $_t_name" >> "$T_RESULTS_DIR/durations.txt"
        {
            cat "$_t_tmp/out"
            [ -z "$_t_hits" ] || { echo "--- kernel log lines matching failure patterns:"; printf '%s\n' "$_t_hits";
                                   echo "--- the test's whole kernel log:"; t_dmesg_new "$_t_start_mark"; }
            [ ! -s "$_t_tmp/leaks" ] || { echo "--- kmemleak:"; cat "$_t_tmp/leaks"; }
            echo "--- $_t_line"
        } > "$T_RESULTS_DIR/logs/$(_t_safe_name "$_t_name").log" 2>/dev/null
    fi
    return 0
}

t_summary() {
    # Leaks younger than kmemleak's minimum age (5 s) are not reported yet: wait, then
    # scan twice (an object whose contents changed since the last scan is not reported).
    if _t_kmemleak; then
        rm -f "$_t_tmp/leaks"
        sleep 6
        echo scan > $T_KMEMLEAK 2>/dev/null
        if ! t_kmemleak_scan "end of suite $T_SUITE"; then
            _t_fail=$((_t_fail + 1))
            echo "FAIL: $T_SUITE kmemleak ($(grep -c '^unreferenced object' "$_t_tmp/leaks") suspected leak(s), printed above)"
            echo "FAIL: $T_SUITE kmemleak" >> "$_t_tmp/list"
        else
            _t_pass=$((_t_pass + 1))
            echo "PASS: $T_SUITE kmemleak"
            echo "PASS: $T_SUITE kmemleak" >> "$_t_tmp/list"
        fi
    fi
    _t_sum="$_t_pass passed, $_t_fail failed"
    echo "$_t_sum"
    [ "$_t_skip" = 0 ] || echo "$_t_skip skipped"
    if [ -d "$T_RESULTS_DIR" ]; then
        {
            echo "== $T_SUITE"
            echo "$_t_sum"
            [ "$_t_skip" = 0 ] || echo "$_t_skip skipped"
            cat "$_t_tmp/list"
        } >> "$T_RESULTS_DIR/guest-results.txt" 2>/dev/null
    fi
    rm -rf "$_t_tmp"
    [ "$_t_fail" = 0 ]
}
