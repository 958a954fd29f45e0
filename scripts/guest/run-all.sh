#!/bin/sh
# Runs the given guest test suites in order (default: every *.sh suite here);
# exit status non-zero if any failed. Each suite appends to /results/guest-results.txt.
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- kmods-selftest.sh kecho.sh khttpd.sh khttpd-clients.sh drop-tcp-socket.sh kprobe-timer.sh
rc=0
for s in "$@"; do
    echo "===== suite $s"
    sh "./$s" || rc=1
done
exit $rc
