# shellcheck shell=bash
# bench-host.sh - the host side that scripts/bench-{http,echo,conns}.sh and
# scripts/trace.sh share: kernel release, initramfs, the guest run, the result folder.
# Sourced (bash), from the repository root, after `set -euo pipefail`; each function
# says which globals it sets.

# Prefix of every message: the script's name unless the caller set one.
bench_name=${bench_name:-$(basename "$0" .sh)}
# shellcheck disable=SC2034  # the callers' build outputs
bins=target/x86_64-unknown-linux-gnu/release

bench_die() { echo "$bench_name: $*" >&2; exit 2; }

# rel: the kernel release the headers in KDIR were made for.
bench_release() {
    rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$1/include/generated/utsrelease.h")
    [ -n "$rel" ] || bench_die "no kernel release in $1"
}

# Every FILE exists (modules, user tools: made by `make`).
bench_need() {
    local f
    for f; do [ -e "$f" ] || bench_die "$f missing: run make first"; done
}

# nginx: Debian's nginx binary.
bench_nginx() {
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$nginx" ] || bench_die "nginx not found (apt-get install nginx-light; scripts/setup.sh does)"
}

# work: target/NAME, emptied (one run's files at a time).
bench_workdir() {
    work=$ROOT/target/$1
    rm -rf "$work"; mkdir -p "$work"
}

# img: an initramfs with the guest scripts in /tests and whatever ARGS (--add ...) add.
bench_initramfs() {
    img=$(scripts/vm/mkinitramfs.sh --release "$rel" --out "$work/initramfs.cpio.gz" \
        --add scripts/guest:/tests "$@")
}

# Appends VAR='value' to cmd for every VAR that is not empty; with --set, for every
# VAR that is set (empty can mean something). The guest's command line carries the
# settings: run.sh base64-encodes it.
bench_cmd_vars() {
    local v set=0
    [ "${1:-}" != --set ] || { set=1; shift; }
    for v; do
        if [ $set = 1 ]; then [ -n "${!v+x}" ] || continue; else [ -n "${!v:-}" ] || continue; fi
        cmd+="${cmd:+ }$v='${!v}'"
    done
}

# Boots the guest: run.sh with rel, img, results in $work/guest, the time-out
# BENCH_TIMEOUT (default TIMEOUT), BENCH_ACCEL, then ARGS and --cmd "$cmd"; the output
# is also kept in $work/run.log. Sets start, stamp_date, vm_rc, elapsed and accel
# (kvm, tcg, or unknown).
bench_vm() {
    local timeout=$1
    shift
    start=$(date +%s)
    stamp_date=$(date -u +%Y%m%d-%H%M%S)
    set +e
    # BENCH_ACCEL is a flag or nothing: unquoted on purpose.
    # shellcheck disable=SC2086
    scripts/vm/run.sh --release "$rel" --initrd "$img" --results "$work/guest" \
        --timeout "${BENCH_TIMEOUT:-$timeout}" ${BENCH_ACCEL:-} "$@" --cmd "$cmd" 2>&1 | tee "$work/run.log"
    vm_rc=${PIPESTATUS[0]}
    set -e
    elapsed=$(( $(date +%s) - start ))
    accel=$(sed -n 's/^run.sh: accel=\([a-z]*\) .*/\1/p' "$work/run.log" | head -n 1)
    accel=${accel:-unknown}
}

# Stops the script when the guest left nothing usable (WHAT: "produced no results").
# shellcheck disable=SC2120  # WHAT is optional
bench_no_results() {
    echo "$bench_name: the guest ${1:-produced no results} (status $vm_rc); see $work/guest/console.log" >&2
    exit 1
}

# dest: $RESULTS/<UTC date>-<release>-<accel>, with the guest's folder SRC, its console
# and kernel log, and FILE...
bench_publish() {
    local src=$1
    shift
    dest=$RESULTS/$stamp_date-$rel-$accel
    mkdir -p "$dest"
    cp -r "$src"/. "$dest"/
    cp "$work/guest/console.log" "$work/guest/dmesg.txt" "$@" "$dest"/ 2>/dev/null || true
}

# The host's line in $dest/env.txt. --load: also the CPU model and the load average
# (a busy host slows a TCG guest); EXTRA goes before the guest status.
# shellcheck disable=SC2120  # both are optional
bench_env_host() {
    local cpus extra=""
    cpus="$(nproc) CPUs"
    if [ "${1:-}" = --load ]; then
        cpus+=" ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at the end of the run $(cut -d' ' -f1-3 /proc/loadavg)"
        shift
    fi
    [ -z "${1:-}" ] || extra="$1, "
    echo "host: $(uname -r), $cpus, accel $accel, ${extra}guest status $vm_rc, wall time ${elapsed}s" >> "$dest/env.txt"
}

# Points $RESULTS/latest at dest, shows REPORT and exits with the guest's status.
# WHAT: where the results are (default "results in $dest").
bench_finish() {
    ln -sfn "$(basename "$dest")" "$RESULTS/latest"
    cat "$1"
    echo
    echo "$bench_name: ${2:-results in $dest} (latest: $RESULTS/latest), ${elapsed}s, guest status $vm_rc"
    exit "$vm_rc"
}
