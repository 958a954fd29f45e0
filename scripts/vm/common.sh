# Shared helpers for scripts/vm/*.sh (sourced, not run).

vm_die() { echo "${0##*/}: error: $*" >&2; exit 2; }
vm_log() { echo "${0##*/}: $*" >&2; }

# Newest release that has both a kernel image and a module tree; the host's
# running kernel is irrelevant (the guest boots the packaged Debian kernel).
vm_default_release() {
    local moddir=${1:-/lib/modules} r best=""
    for r in $(ls -1 "$moddir" 2>/dev/null | sort -V); do
        [ -e "/boot/vmlinuz-$r" ] && [ -e "$moddir/$r/modules.dep" ] && best=$r
    done
    [ -n "$best" ] || vm_die "no release with /boot/vmlinuz-R and $moddir/R/modules.dep; install linux-image-amd64 or pass --release"
    echo "$best"
}

# Repository root (scripts/vm/../..), used for the default cache/output dirs.
vm_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }
