#!/usr/bin/env bash
# run.sh - boot the Debian guest kernel in QEMU with an initramfs from
# mkinitramfs.sh, run one command in it and exit with that command's status.
#
# Usage:
#   scripts/vm/run.sh --initrd FILE [--release R] [--kernel FILE]
#                     [--cmd GUEST_CMD] [--results DIR] [--timeout SECS]
#                     [--mem MB] [--smp N] [--fwd HOSTPORT:GUESTPORT]...
#                     [--interactive] [--kvm|--tcg] [--append ARGS] [--no-pvh]
#
#   --initrd FILE     initramfs built by scripts/vm/mkinitramfs.sh (required)
#   --release R       kernel release (default: newest with /boot/vmlinuz-R)
#   --kernel FILE     kernel image (default /boot/vmlinuz-R)
#   --cmd GUEST_CMD   shell command run in the guest by /init (sh -c), e.g.
#                     '/tests/smoke.sh' or 'SMOKE_FAIL=assert /tests/smoke.sh'.
#                     In --interactive mode it is a setup step run before the
#                     shell (e.g. 'httpd -p 8081 -h /www').
#   --results DIR     host dir shared read-write with the guest as /results
#                     (9p); default: a new mktemp dir (path printed)
#   --timeout SECS    kill QEMU after SECS (default 600; 0 = none;
#                     default none with --interactive)
#   --mem MB          guest RAM (default 1024)     --smp N  vCPUs (default 2)
#   --fwd H:G         forward 127.0.0.1:H on the host to guest TCP port G
#                     (repeatable; the guest is 10.0.2.15 on QEMU user net)
#   --interactive     shell on the console; 'exit' or 'poweroff' ends it
#   --kvm | --tcg     the accelerator (default: $VM_ACCEL, else TCG with
#                     -cpu max). KVM is opt-in: under nested virtualisation it
#                     can exist, pass a probe, and still run a guest far slower
#                     than TCG (seen on our build machines: minutes to boot)
#   --append ARGS     extra kernel command-line arguments
#   --no-pvh          boot the bzImage itself; by default its vmlinux is
#                     extracted once (target/vm/cache) and booted via QEMU's
#                     PVH entry, which skips ~3-7 s of decompression in TCG
#
# Exit status: the guest command's status (from DIR/exit-code);
#   124  time-out (QEMU killed), 125 the guest died without an exit code
#   (kernel panic, init crash, 9p mount failure), 126 QEMU failed / bad usage.
# DIR afterwards holds console.log (whole serial console), exit-code,
# dmesg.txt (guest kernel log at the end) and whatever the guest wrote.
# A kernel Oops/BUG/WARNING seen on the console or in dmesg.txt is reported
# on stderr but does not change the status (guest tests judge dmesg).
# A guest whose kernel crashes while booting, before init runs the command (no
# "init: running" line), is booted again, up to VM_BOOT_TRIES times in all
# (default 3); the failed boots' consoles are kept as DIR/console.bootN.log.
#
# Example (smoke test: ~7 s under TCG on an idle 2-core host):
#   img=$(scripts/vm/mkinitramfs.sh --add scripts/guest:/tests)
#   scripts/vm/run.sh --initrd "$img" --cmd /tests/smoke.sh --results /tmp/r
# Interactive, guest port 8081 reachable as localhost:18081:
#   scripts/vm/run.sh --initrd "$img" --interactive --fwd 18081:8081
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"
die_usage() { echo "${0##*/}: error: $*" >&2; exit 126; }

release="" kernel="" initrd="" results="" timeout="" mem=1024 smp=2
cmd="" interactive=0 accel=${VM_ACCEL:-tcg} append_extra="" use_pvh=1
fwds=()

while [ $# -gt 0 ]; do
    case $1 in
        --release) release=$2; shift 2 ;;
        --kernel) kernel=$2; shift 2 ;;
        --initrd) initrd=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --fwd) fwds+=("$2"); shift 2 ;;
        --interactive) interactive=1; shift ;;
        --kvm) accel=kvm; shift ;;
        --tcg) accel=tcg; shift ;;
        --cmd) cmd=$2; shift 2 ;;
        --append) append_extra+=" $2"; shift 2 ;;
        --no-pvh) use_pvh=0; shift ;;
        -h|--help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die_usage "unknown option '$1' (see --help)" ;;
    esac
done

[ -n "$initrd" ] || die_usage "--initrd FILE is required (build one with scripts/vm/mkinitramfs.sh)"
[ -r "$initrd" ] || die_usage "cannot read initrd $initrd"
if [ -z "$kernel" ]; then
    [ -n "$release" ] || release=$(vm_default_release)
    kernel=/boot/vmlinuz-$release
fi
[ -r "$kernel" ] || die_usage "cannot read kernel image $kernel"
[ -n "$timeout" ] || { [ $interactive = 1 ] && timeout=0 || timeout=600; }
[[ $timeout =~ ^[0-9]+$ ]] || die_usage "--timeout wants whole seconds"
[ $interactive = 1 ] || [ -n "$cmd" ] || die_usage "--cmd is required unless --interactive"
command -v qemu-system-x86_64 >/dev/null || die_usage "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"

if [ -z "$results" ]; then
    results=$(mktemp -d "${TMPDIR:-/tmp}/vm-results.XXXXXX")
else
    mkdir -p "$results" || die_usage "cannot create $results"
fi
results=$(cd "$results" && pwd)
# Only files this runner and the guest framework own; tests' own files stay.
rm -f "$results/exit-code" "$results/console.log" "$results/console.boot"*.log "$results/dmesg.txt" "$results/guest-results.txt" "$results/durations.txt"

# KVM can exist yet be unusable (e.g. nested virt: QEMU aborts setting MSRs on
# the first vCPU run), so try to actually run a vCPU briefly.
kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    ( ulimit -c 0
      { echo cont; sleep 0.3; echo quit; } | qemu-system-x86_64 -accel kvm -cpu host -m 64 \
          -nodefaults -display none -no-reboot -S -monitor stdio >/dev/null 2>&1 ) 2>/dev/null
}
case $accel in
    auto) if kvm_works; then accel=kvm; else accel=tcg; fi ;;
    kvm) kvm_works || vm_log "warning: KVM probe failed; trying anyway" ;;
    tcg) ;;
    *) die_usage "unknown accelerator '$accel' (VM_ACCEL: kvm, tcg or auto)" ;;
esac
if [ $accel = kvm ]; then accel_args=(-accel kvm -cpu host); else accel_args=(-accel tcg -cpu max); fi

# Under TCG the bzImage's self-decompression costs seconds per boot, so boot
# the uncompressed ELF through QEMU's PVH entry instead (cached per image).
pvh_vmlinux() {
    local k=$1 cache key out off magic dec tmp
    command -v readelf >/dev/null || return 1
    cache="$(vm_repo_root)/target/vm/cache"
    key=$(stat -L -c '%n %s %Y' "$k" | sha256sum | cut -c1-16)
    out="$cache/vmlinux-$key"
    if [ ! -s "$out" ]; then
        mkdir -p "$cache" || return 1
        tmp="$out.tmp.$$"
        for magic in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
            dec=${magic%%:*}
            for off in $(LC_ALL=C grep -obUaP "${magic#*:}" "$k" 2>/dev/null | head -n 3 | cut -d: -f1); do
                case $dec in
                    xz) tail -c +$((off + 1)) "$k" | xz -dc --single-stream > "$tmp" 2>/dev/null ;;
                    zstd) tail -c +$((off + 1)) "$k" | zstd -qdc > "$tmp" 2>/dev/null ;;
                    gzip) tail -c +$((off + 1)) "$k" | gzip -dc > "$tmp" 2>/dev/null ;;
                esac
                [ "$(head -c 4 "$tmp" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] && break 2
            done
        done
        # Xen ELF note 0x12 = PVH entry point; without it QEMU cannot boot the ELF.
        if [ -s "$tmp" ] && readelf -n "$tmp" 2>/dev/null | grep -q '(0x00000012)'; then
            mv "$tmp" "$out"
            ls -1t "$cache"/vmlinux-* 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -f
        else
            rm -f "$tmp"; return 1
        fi
    fi
    echo "$out"
}
boot_kernel=$kernel
if [ $use_pvh = 1 ]; then
    if v=$(pvh_vmlinux "$kernel"); then
        boot_kernel=$v
    else
        vm_log "note: no PVH-bootable vmlinux in $kernel; booting it as is (slower under TCG)"
    fi
fi

hostfwd=""
for f in "${fwds[@]}"; do
    [[ $f =~ ^([0-9]+):([0-9]+)$ ]] || die_usage "--fwd wants HOSTPORT:GUESTPORT, got '$f'"
    hostfwd+=",hostfwd=tcp:127.0.0.1:${BASH_REMATCH[1]}-:${BASH_REMATCH[2]}"
done

# loglevel=5 (after quiet) keeps boot chatter off the console but still shows
# warnings and the Oops header (printed at the default level 4).
append="console=ttyS0 quiet loglevel=5 panic=-1 mitigations=off trace_clock=global"
[ -n "$cmd" ] && append+=" guest.cmd=$(printf '%s' "$cmd" | base64 -w0)"
[ $interactive = 1 ] && append+=" guest.interactive=1"
append+="$append_extra"
[ ${#append} -lt 2000 ] || die_usage "kernel command line too long (guest command too big? put it in a script)"

# Ctrl-C kills QEMU in batch mode; in interactive mode it goes to the guest.
signal=on; [ $interactive = 1 ] && signal=off
qemu=(qemu-system-x86_64 "${accel_args[@]}" -machine q35 -m "$mem" -smp "$smp"
    -nodefaults -display none -no-reboot
    -kernel "$boot_kernel" -initrd "$initrd" -append "$append"
    -chardev "stdio,id=con,mux=on,signal=$signal" -serial chardev:con -mon chardev=con,mode=readline
    -netdev "user,id=net0$hostfwd" -device virtio-net-pci,netdev=net0
    -fsdev "local,id=res,path=$results,security_model=none"
    -device virtio-9p-pci,fsdev=res,mount_tag=results)

vm_log "accel=$accel kernel=$boot_kernel results=$results timeout=${timeout}s${fwds:+ fwd=${fwds[*]}}"
[ $interactive = 1 ] && vm_log "interactive: 'exit' or 'poweroff' in the guest shell ends the VM; Ctrl-A x kills QEMU"

tty_state=""
[ -t 0 ] && tty_state=$(stty -g 2>/dev/null)
start=$(date +%s)
interrupted=0
trap 'interrupted=1' INT   # QEMU exits 0 on SIGINT; remember why it stopped
boot=1
while :; do
    # --foreground keeps QEMU in our process group so it can own the terminal.
    # tee -i: Ctrl-C must not cut the log short.
    if [ $interactive = 1 ] || [ -t 0 ]; then
        timeout --foreground -k 5 "$timeout" "${qemu[@]}" | tee -i "$results/console.log"
    else
        timeout --foreground -k 5 "$timeout" "${qemu[@]}" </dev/null | tee -i "$results/console.log"
    fi
    qrc=${PIPESTATUS[0]}
    # Under TCG the guest kernel now and then oopses while it boots (seen: an int3
    # trap in an IPI handler at ~3 s, before init). If it died before init started the
    # command, nothing of ours ran: boot again, at most VM_BOOT_TRIES times in all.
    [ $interactive = 0 ] && [ "$interrupted" = 0 ] && [ "$qrc" = 0 ] && [ ! -s "$results/exit-code" ] \
        && [ "$boot" -lt "${VM_BOOT_TRIES:-3}" ] \
        && ! grep -q '^init: running' "$results/console.log" \
        && grep -qE 'Oops|Kernel panic|BUG:' "$results/console.log" || break
    mv "$results/console.log" "$results/console.boot$boot.log"
    vm_log "the guest kernel crashed while booting, before init ran the command (console: $results/console.boot$boot.log); booting again"
    boot=$((boot + 1))
done
[ -n "$tty_state" ] && stty "$tty_state" 2>/dev/null
elapsed=$(( $(date +%s) - start ))

console_tail() {
    echo "----- last 50 console lines ($results/console.log) -----" >&2
    tail -n 50 "$results/console.log" | tr -d '\r' >&2
    echo "-----" >&2
}

# Kernel trouble is reported whatever the outcome (after the tail, so it stays visible).
report_problems() {
    local p
    p=$( { tr -d '\r' < "$results/console.log"; cat "$results/dmesg.txt" 2>/dev/null; } \
        | grep -E 'Oops|BUG:|WARNING:|Kernel panic|general protection|Call Trace:' \
        | awk '!seen[$0]++' | head -n 20)
    [ -n "$p" ] || return 0
    vm_log "GUEST KERNEL PROBLEM: Oops/BUG/WARNING/panic seen on the console or in dmesg.txt:"
    printf '%s\n' "$p" | sed 's/^/    /' >&2
}

if [ "$interrupted" = 1 ] || [ "$qrc" = 130 ]; then
    report_problems
    vm_log "interrupted; QEMU stopped after ${elapsed}s"
    exit 130
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    console_tail
    report_problems
    vm_log "TIMEOUT: guest still running after ${timeout}s; QEMU killed"
    exit 124
fi
if [ "$qrc" != 0 ]; then
    console_tail
    report_problems
    vm_log "QEMU failed (status $qrc) after ${elapsed}s"
    [ $accel = tcg ] || vm_log "hint: KVM may be unusable here (e.g. nested virtualisation); retry with --tcg"
    exit 126
fi
if [ ! -s "$results/exit-code" ]; then
    console_tail
    report_problems
    panic=$(tr -d '\r' < "$results/console.log" | grep -m1 'Kernel panic' | sed 's/^\[ *[0-9.]*\] *//')
    if [ -n "$panic" ]; then
        vm_log "GUEST KERNEL PANIC ($panic): guest rebooted (panic=-1 + -no-reboot) without an exit code"
    else
        vm_log "no exit code from the guest: it crashed, lost /results (9p) or powered off early"
    fi
    exit 125
fi
report_problems
rc=$(tr -dc '0-9' < "$results/exit-code")
[ -n "$rc" ] || { vm_log "garbled exit-code file"; exit 125; }
vm_log "guest exit code $rc after ${elapsed}s (console log: $results/console.log)"
exit "$rc"
