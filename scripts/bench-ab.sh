#!/usr/bin/env bash
# make bench-ab: khttpd variants (builds or parameters) against each other, and against
# nginx with open_file_cache, in one QEMU guest boot: is a change faster, and where?
#   BENCH_AB="new=khttpd/khttpd.ko;old=../old/khttpd/khttpd.ko" scripts/bench-ab.sh [KDIR]
#
# Under TCG only ratios between servers measured in one boot mean anything, and a
# single run of a cell varies by 5-10 %: this runs every variant ROUNDS times per cell,
# the order of the servers rotating (see scripts/guest/bench-ab.sh), and reports the
# pooled req/s and each server's spread.
#
# Environment:
#   BENCH_AB           the variants, ';'-separated, each NAME=MODULE [PARAMETERS...]:
#                      a khttpd.ko built for KDIR (e.g. from a git worktree of another
#                      commit) and khttpd parameters for it; the same module may appear
#                      under several names with different parameters. The first variant
#                      is compared with each other server. Required.
#   BENCH_AB_CELLS     "MODE:FILE:CONNS ..." (MODE close = HTTP/1.0 or keepalive; FILE
#                      12b 4k 64k 256k 1m dir), default "close:12b:1 keepalive:12b:20"
#   BENCH_AB_ROUNDS    runs per server and cell, default 4
#   BENCH_AB_DURATION  seconds per run, default 3
#   BENCH_AB_NGINX     1 (default): nginx-cache runs as the reference; 0: not
#   BENCH_AB_OUT       results root, default bench/results/ab
#   BENCH_TIMEOUT, BENCH_ACCEL, BENCH_MEM   as for bench-http
#
# Results: $BENCH_AB_OUT/<UTC date>-<kernel release>-<tcg|kvm>/ with summary.md (req/s
# per cell and server with every ratio to the first variant, then each server's runs:
# lowest-highest (mean), in req/s and in MiB/s received), runs.jsonl (with the TCP
# counters that moved in each run), cells.csv, logs/,
# env.txt, console.log, dmesg.txt; and $BENCH_AB_OUT/latest pointing at it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/bench-host.sh
. scripts/lib/bench-host.sh
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
RESULTS=${BENCH_AB_OUT:-$ROOT/bench/results/ab}
[ -n "${BENCH_AB:-}" ] || bench_die 'BENCH_AB is not set (e.g. BENCH_AB="new=khttpd/khttpd.ko;old=/path/to/old/khttpd.ko")'

bench_release "$KDIR"
bench_need "$bins/htstress" "$bins/bench-http-report"
bench_nginx
bench_workdir bench-ab
mkdir -p "$work/ab"
variants="" names=""
IFS=';' read -ra specs <<< "$BENCH_AB"
for spec in "${specs[@]}"; do
    spec=$(echo "$spec" | sed 's/^ *//; s/ *$//')
    [ -n "$spec" ] || continue
    name=${spec%%=*} rest=${spec#*=}
    ko=${rest%% *} params=""
    [ "$ko" = "$rest" ] || params=${rest#* }
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ && $name != nginx-cache ]] || bench_die "bad variant name '$name' in '$spec'"
    [ "$name" != "$spec" ] || bench_die "variant '$spec' is not NAME=MODULE [PARAMETERS]"
    [ ! -e "$work/ab/$name.ko" ] || bench_die "variant name '$name' given twice"
    bench_need "$ko"
    modinfo -F vermagic "$ko" | grep -q "^$rel " || bench_die "$ko is not built for $rel"
    cp "$ko" "$work/ab/$name.ko"
    variants+="${variants:+;}$name $params"
    names+="${names:+,}$name"
done
[ -n "$names" ] || bench_die "no variant in BENCH_AB"

scripts/vm/stage-binary.sh "$work/stage" "$nginx"
bench_initramfs --add "$work/ab:/modules/ab" --add "$work/stage:/" --add "$bins/htstress:/bin/"
BENCH_AB_VARIANTS=$variants
cmd=""
bench_cmd_vars BENCH_AB_VARIANTS BENCH_AB_CELLS BENCH_AB_ROUNDS BENCH_AB_DURATION BENCH_AB_NGINX
cmd+=" BENCH_OUT=/results/bench-ab /tests/bench-ab.sh"
bench_vm 3600 --mem "${BENCH_MEM:-2048}"
[ -s "$work/guest/bench-ab/runs.jsonl" ] || bench_no_results
bench_publish "$work/guest/bench-ab"
bench_env_host --load

servers=$names
[ "${BENCH_AB_NGINX:-1}" != 1 ] || servers+=",nginx-cache"
if [[ $servers == *,* ]]; then
    "$bins/bench-http-report" --runs "$dest/runs.jsonl" --csv "$dest/cells.csv" --servers "$servers" > "$dest/table.md"
else
    echo "(one server: no comparison)" > "$dest/table.md"
fi
{
    echo "# khttpd variants"
    echo
    echo "Kernel $rel, $(date -u -d "@$start" '+%Y-%m-%d %H:%M UTC'), QEMU $accel, 2 vCPUs; ${BENCH_AB_ROUNDS:-4}"
    echo "round(s) per server and cell, the order rotating. Variants (NAME MODULE PARAMETERS):"
    echo
    for spec in "${specs[@]}"; do echo "- \`$(echo "$spec" | sed 's/^ *//')\`"; done
    echo
    cat "$dest/table.md"
    echo
    echo "## Spread: each server's runs, lowest-highest (mean) req/s"
    echo
    python3 - "$dest/runs.jsonl" "$servers" <<'EOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
servers = sys.argv[2].split(",")
cells = []
for r in runs:
    k = (r["mode"], r["file"], r["conc"])
    if k not in cells:
        cells.append(k)
def table(field, digits):
    print("| mode | file | conns | " + " | ".join(servers) + " |")
    print("| --- | --- | ---: |" + " ---: |" * len(servers))
    for k in cells:
        row = []
        for s in servers:
            v = [r["htstress"][field] for r in runs if (r["mode"], r["file"], r["conc"]) == k
                 and r["server"] == s and r.get("htstress") and field in r["htstress"]]
            row.append(f"{min(v):.{digits}f}-{max(v):.{digits}f} ({sum(v) / len(v):.{digits}f})" if v else "-")
        print(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(row) + " |")
table("rps", 0)
print()
print("MiB/s received by the client (every byte read, of unfinished responses too):")
print()
table("mib_per_second", 1)
EOF
    echo
    echo "Kernel problems in the guest's log: $(grep -cE 'BUG:|WARNING:|Oops|KASAN|refcount_t|soft lockup|blocked for more than' "$dest/dmesg.txt" 2>/dev/null || true)."
    echo "Wall time of the guest run: ${elapsed}s (guest status $vm_rc)."
} > "$dest/summary.md"
rm -f "$dest/table.md"
bench_finish "$dest/summary.md"
