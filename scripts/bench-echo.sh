#!/usr/bin/env bash
# make bench-echo: kecho against user-echo-server, in one QEMU guest boot.
#   scripts/bench-echo.sh [KDIR]
#
# Targets (all in the same guest, so they share its CPUs and its noise):
#   kecho        kecho.ko, default unbound CMWQ queue          port 12345
#   kecho-percpu kecho.ko per_cpu=1: a listener and accept thread per CPU, bound queue
#                                                               port 12345 (module reloaded)
#   kecho-bound  kecho.ko bench=1, bound queue, one accept thread (only if asked for)
#   user-1t      user-echo-server, one epoll thread             port 12346
#   user-2t      user-echo-server --threads 2 (the guest has 2 vCPUs)   port 12347
# measured by `bench` (N connections start together, each times one 13-byte echo) at
# each concurrency of the plan; the targets take turns in chunks of rounds (see
# scripts/guest/bench-echo.sh).
#
# Environment:
#   BENCH_PLAN     "CONNS:ROUNDS ..."  default "1:200 100:20 1000:10"
#   BENCH_REPS     chunks per concurrency, default 5
#   BENCH_TARGETS  default "kecho kecho-percpu user-1t user-2t"; kecho-bound may be added
#   BENCH_BACKLOG  listen backlog given to every server (default: theirs, 128)
#   BENCH_ECHO_OUT results root, default bench/results/echo
#   BENCH_TIMEOUT  guest time-out in seconds, default 1800
#   BENCH_ACCEL    --kvm or --tcg to force the accelerator (default: run.sh decides)
#
# Results: $BENCH_ECHO_OUT/<UTC date>-<kernel release>-<tcg|kvm>/ with
#   summary.md            concurrency x target: median, p99, mean, errors, ratio to user-1t
#   echo-n<N>.csv         raw samples (target,round,conn,us)
#   echo-n<N>.png/.svg    per-connection mean latency, one line per target (drawn here
#                         from the CSV with bench --plot-from)
#   runs.tsv, logs/, env.txt, console.log, dmesg.txt   what the guest did
# and $BENCH_ECHO_OUT/latest pointing at it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/bench-host.sh
. scripts/lib/bench-host.sh
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
PLAN=${BENCH_PLAN:-"1:200 100:20 1000:10"}
REPS=${BENCH_REPS:-5}
TARGETS=${BENCH_TARGETS:-"kecho kecho-percpu user-1t user-2t"}
RESULTS=${BENCH_ECHO_OUT:-$ROOT/bench/results/echo}

bench_release "$KDIR"
bench_need kecho/kecho.ko "$bins/bench" "$bins/user-echo-server"
for w in $PLAN; do
    [[ $w =~ ^[0-9]+:[0-9]+$ ]] || { echo "bench-echo: bad BENCH_PLAN entry '$w' (want CONNS:ROUNDS)" >&2; exit 2; }
done

bench_workdir bench-echo
bench_initramfs --add kecho/kecho.ko:/modules/ --add "$bins/bench:/bin/" --add "$bins/user-echo-server:/bin/"

cmd="BENCH_PLAN='$PLAN' BENCH_REPS='$REPS' BENCH_TARGETS='$TARGETS' BENCH_BACKLOG='${BENCH_BACKLOG:-}'"
cmd+=" BENCH_OUT=/results/bench-echo /tests/bench-echo.sh"
bench_vm 1800
[ -f "$work/guest/bench-echo/runs.tsv" ] || bench_no_results
bench_publish "$work/guest/bench-echo"
bench_env_host

# Charts and statistics from the CSVs, with bench's own percentile definition.
for step in $PLAN; do
    n=${step%%:*}
    csv=$dest/echo-n$n.csv
    [ -f "$csv" ] || continue
    "$bins/bench" --plot-from "$csv" \
        --title "echo latency, $n concurrent connection$([ "$n" = 1 ] || echo s) ($rel, $accel)" \
        --plot "$dest/echo-n$n.png" --svg "$dest/echo-n$n.svg" > "$dest/echo-n$n.stats"
done

# summary.md: one row per concurrency and target.
{
    echo "# kecho vs user-echo-server"
    echo
    echo "Kernel $rel, $(date -u -d "@$start" '+%Y-%m-%d %H:%M UTC'), QEMU $accel, 2 vCPUs;"
    echo "plan $PLAN (connections:rounds), rounds in $REPS alternating chunks;"
    echo "listen backlog ${BENCH_BACKLOG:-128, the default of both servers}."
    echo "Latency: one 13-byte message, send to complete echo, in microseconds."
    echo "÷ user-1t, ÷ user-2t: this target's median divided by that server's median at the"
    echo "same concurrency (below 1: faster than it). overflows, bad cookies: the kernel's"
    echo "accept-queue overflows and rejected SYN-cookie ACKs (the kernel answers them with RST)"
    echo "counted during that target's runs (TcpExt ListenOverflows, SyncookiesFailed)."
    echo
    echo "| connections | target | samples | median us | p99 us | mean us | errors | ÷ user-1t | ÷ user-2t | overflows | bad cookies |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for step in $PLAN; do
        n=${step%%:*}
        [ -f "$dest/echo-n$n.stats" ] || continue
        # stats: "target T: samples S" then "  latency us: min a, median b, p99 c, max d, mean e"
        awk -v n="$n" -v runs="$dest/runs.tsv" '
            function ratio(t, b) { return (med[b] > 0 && med[t] != "") ? sprintf("%.2f", med[t] / med[b]) : "-" }
            BEGIN {
                # runs.tsv: conns chunk target ok errors kinds; chunk 0 runs in BENCH_TARGETS order.
                while ((getline l < runs) > 0) {
                    split(l, f, "\t")
                    if (f[1] != n) continue
                    if (!(f[3] in err)) order[++k] = f[3]
                    err[f[3]] += f[5]
                    ovf[f[3]] += f[7]
                    bad[f[3]] += f[9]
                    m = f[6] == "-" ? 0 : split(f[6], kk, ",")
                    for (j = 1; j <= m; j++) {
                        split(kk[j], kv, "=")
                        if (!((f[3], kv[1]) in ks)) klist[f[3]] = klist[f[3]] " " kv[1]
                        ks[f[3], kv[1]] += kv[2]
                    }
                }
            }
            /^target / { t = $2; sub(/:$/, "", t); samples[t] = $4 }
            /latency us: min/ { gsub(/,/, ""); med[t] = $6; p99[t] = $8; mean[t] = $12 }
            END {
                for (i = 1; i <= k; i++) {
                    t = order[i]
                    e = err[t] + 0
                    m = split(klist[t], kk, " ")
                    for (j = 1; j <= m; j++) e = e (j == 1 ? " (" : ", ") kk[j] " " ks[t, kk[j]] (j == m ? ")" : "")
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, t, samples[t] + 0,
                        med[t] == "" ? "-" : med[t], p99[t] == "" ? "-" : p99[t],
                        mean[t] == "" ? "-" : mean[t], e, ratio(t, "user-1t"), ratio(t, "user-2t"), ovf[t] + 0, bad[t] + 0
                }
            }' "$dest/echo-n$n.stats"
    done
    echo
    echo "Per-run counts: runs.tsv and logs/. Wall time of the guest run: ${elapsed}s."
} > "$dest/summary.md"
bench_finish "$dest/summary.md"
