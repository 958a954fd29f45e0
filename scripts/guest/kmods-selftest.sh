#!/bin/sh
# Guest tests for the kernel crate itself: kmods-selftest.ko runs its run-time tests of
# the safe APIs at insmod (see kmods-selftest/src/lib.rs); each becomes a test here.
set -u
. "$(dirname "$0")/lib.sh"

KO=/modules/kmods-selftest.ko
OUT=/tmp/kmods-selftest.dmesg

test_load() {
    insmod $KO || t_fail "insmod kmods-selftest"
    t_dmesg_new | grep 'kmods_selftest: ' > $OUT
    cat $OUT
    rmmod kmods_selftest || t_fail "rmmod kmods-selftest"
    grep -qE 'kmods_selftest: [0-9]+ passed, 0 failed$' $OUT || t_fail "the module reported failures or no total"
}

# One test per selftest, named after it, judged from the lines test_load saved.
test_case() {
    grep -q "kmods_selftest: PASS $1\$" $OUT || t_fail "$(grep "kmods_selftest: FAIL $1" $OUT || echo "no result for $1")"
}

t_run kmods_selftest_load_and_unload test_load
for t in arc_list_reused_address thread_returns_at_once thread_stopped_at_once \
         spinlock_two_threads work_item_runs read_dir_root timer_fires_once timer_cancel_and_init; do
    t_run "kmods_selftest_$t" test_case "$t"
done
t_summary
