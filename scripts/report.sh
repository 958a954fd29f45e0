#!/usr/bin/env bash
# make report: this machine's latest results in one report, for handing in or comparing.
#   scripts/report.sh [--no-run] [--out DIR]
#
# Gathers the latest results of make check (target/check), make bench-http, make
# bench-echo, make bench-conns and make trace (bench/results/*/latest) and writes
#   target/report/report.md     environment, test summary, each benchmark's table and
#                               chart, the trace analysis, a caption per section; the
#                               charts (PNG, else SVG) and trace-report.md beside it
#   target/report/report.html   the same in one file that opens offline (CSS inline,
#                               images as base64 data: URIs, no external reference)
# (scripts/report.py writes them). Results measured under TCG (QEMU's emulated CPU) are
# marked as such at the top and in their sections.
#
# A missing result of make check, bench-echo, bench-http or trace is produced first by
# running that make target (each boots its own QEMU guest, one after the other: ~20 min
# per kernel for the tests, ~8, ~15 and ~3 min for the others under TCG). bench-conns and
# make check-debug are only reported when they exist (C100K needs a 2 GB guest; the
# sanitizer kernel takes an hour to build). Nothing is re-run when it exists: run its
# make target for fresher figures, then make report.
#
#   --no-run                 only report what exists; the report names what is missing
#                            and the command that produces it
#   --out DIR                where to write (default target/report)
# Environment:
#   REPORT_RUN_MISSING=0     the same as --no-run
#   REPORT_OUT               the same as --out
#   REPORT_CHECK_DIR         make check's folder (default target/check)
#   REPORT_CHECK_DEBUG_DIR   make check-debug's (default target/check-debug)
#   REPORT_HTTP_DIR, REPORT_ECHO_DIR, REPORT_CONNS_DIR, REPORT_TRACE_DIR
#                            result folders (default bench/results/<name>/latest), e.g.
#                            REPORT_HTTP_DIR=docs/bench-http for the results in docs/.
#                            A folder given here is never filled by running anything.
#   REPORT_KDIR              KDIR for the make targets it runs (make report KDIR=... sets
#                            it; without it make check tests every installed kernel)
set -uo pipefail
here=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# Paths given relative are relative to where the command was typed.
abs() { case $1 in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }

run_missing=${REPORT_RUN_MISSING:-1}
out=${REPORT_OUT:-$ROOT/target/report}
while [ $# -gt 0 ]; do
    case $1 in
        --no-run) run_missing=0; shift ;;
        --out) out=${2:?--out needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "report: unknown argument '$1' (--no-run, --out DIR)" >&2; exit 2 ;;
    esac
done
out=$(abs "$out")
case $run_missing in 0|1) ;; *) echo "report: REPORT_RUN_MISSING is 0 or 1 (got '$run_missing')" >&2; exit 2 ;; esac

# key, folder, the file that makes it a result, the make target, and whether the folder
# is the default one (only then does running the target fill it)
declare -A dir own
set_dir() { # key env-var default
    if [ -n "${!2:-}" ]; then dir[$1]=$(abs "${!2}"); own[$1]=0; else dir[$1]=$3; own[$1]=1; fi
}
set_dir check REPORT_CHECK_DIR "$ROOT/target/check"
set_dir check-debug REPORT_CHECK_DEBUG_DIR "$ROOT/target/check-debug"
set_dir http REPORT_HTTP_DIR "$ROOT/bench/results/http/latest"
set_dir echo REPORT_ECHO_DIR "$ROOT/bench/results/echo/latest"
set_dir conns REPORT_CONNS_DIR "$ROOT/bench/results/conns/latest"
set_dir trace REPORT_TRACE_DIR "$ROOT/bench/results/trace/latest"

have() {
    local d=${dir[$1]}
    case $1 in
        check|check-debug) [ -f "$d/summary.txt" ] || [ -f "$d/cargo-test.log" ] ;;
        trace) [ -f "$d/report.md" ] ;;
        *) [ -f "$d/summary.md" ] ;;
    esac
}

ran=()
for key in check echo http trace; do
    have "$key" && continue
    target=$([ "$key" = check ] && echo check || { [ "$key" = trace ] && echo trace || echo "bench-$key"; })
    [ "$run_missing" = 1 ] && [ "${own[$key]}" = 1 ] || continue
    echo "report: no $target results in ${dir[$key]#"$ROOT"/}: running make $target first (REPORT_RUN_MISSING=0 or --no-run to skip)" >&2
    ${MAKE:-make} -C "$ROOT" "$target" ${REPORT_KDIR:+KDIR="$REPORT_KDIR"}
    status=$?
    echo "report: make $target ended with status $status" >&2
    ran+=(--ran "$key=$status")
done

args=()
for key in check check-debug http echo conns trace; do
    args+=("--$key" "${dir[$key]}")
done
exec python3 "$ROOT/scripts/report.py" --out "$out" --run-missing "$run_missing" "${args[@]}" "${ran[@]}"
