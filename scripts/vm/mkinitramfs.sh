#!/usr/bin/env bash
# mkinitramfs.sh - build the QEMU guest initramfs (gzip'd newc cpio).
#
# Usage:
#   scripts/vm/mkinitramfs.sh [--release R] [--out FILE] [--add SRC:DST]...
#                             [--module NAME]... [--modules-dir DIR]
#                             [--busybox PATH] [--init FILE] [--no-cache]
#
#   --release R        guest kernel release (default: newest R having both
#                      /boot/vmlinuz-R and DIR/R/modules.dep)
#   --out FILE         output (default: target/vm/initramfs-R.cpio.gz)
#   --add SRC:DST      copy a host file or directory into the image at DST
#                      (repeatable). A directory's contents go into DST; a
#                      file goes to DST, or into DST if DST ends in '/'.
#   --module NAME      extra stock module to ship, with its dependencies
#                      (repeatable; the built-in set is listed below)
#   --modules-dir DIR  module trees root (default /lib/modules; uses DIR/R)
#   --busybox PATH     static busybox (default /bin/busybox)
#   --init FILE        guest /init (default scripts/vm/init)
#   --no-cache         rebuild the busybox+modules base archive
#
# Example:
#   scripts/vm/mkinitramfs.sh --add scripts/guest:/tests \
#       --add target/x86_64-linux-kernel/kecho.ko:/modules/ --out /tmp/t.cpio.gz
#
# Always shipped: busybox (+ applet links), /init, and the stock modules
# virtio_pci virtio_net 9pnet_virtio 9p dummy tun (+ deps from modules.dep,
# decompressed if the release uses .ko.xz/.ko.zst/.ko.gz), with a matching
# modules.dep so `modprobe NAME` works in the guest. Prints the output path.
#
# Speed/caching: the busybox+modules part is cached as its own gzip'd cpio
# under target/vm/cache (keyed on its inputs); the small overlay (init and
# --add files) is rebuilt each time and appended (the kernel unpacks
# concatenated archives). Timestamps are zeroed so identical inputs give a
# byte-identical image, and FILE is left untouched when nothing changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

# Bump when the base layout changes so stale caches are not reused.
BASE_VERSION=1
DEFAULT_MODULES=(virtio_pci virtio_net 9pnet_virtio 9p dummy tun)

release="" out="" moddir=/lib/modules busybox=/bin/busybox init="$HERE/init"
use_cache=1
adds=() mods=("${DEFAULT_MODULES[@]}")

while [ $# -gt 0 ]; do
    case $1 in
        --release) release=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --add) adds+=("$2"); shift 2 ;;
        --module) mods+=("$2"); shift 2 ;;
        --modules-dir) moddir=$2; shift 2 ;;
        --busybox) busybox=$2; shift 2 ;;
        --init) init=$2; shift 2 ;;
        --no-cache) use_cache=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) vm_die "unknown option '$1' (see --help)" ;;
    esac
done

[ -n "$release" ] || release=$(vm_default_release "$moddir")
kdir="$moddir/$release"
[ -r "$kdir/modules.dep" ] || vm_die "no $kdir/modules.dep (wrong --release or --modules-dir?)"
[ -x "$busybox" ] || vm_die "busybox not found at $busybox (apt-get install busybox-static)"
[ -r "$init" ] || vm_die "init script not found: $init"
for t in cpio gzip; do command -v $t >/dev/null || vm_die "'$t' is required"; done
root=$(vm_repo_root)
[ -n "$out" ] || out="$root/target/vm/initramfs-$release.cpio.gz"
cache_dir="$root/target/vm/cache"
mkdir -p "$(dirname "$out")" "$cache_dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/mkinitramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

reproducible=()
cpio --help 2>/dev/null | grep -q -- --reproducible && reproducible=(--reproducible)

# Archive the current directory deterministically (sorted, mtime 0, root-owned).
pack() {
    find . -mindepth 1 -exec touch -h -d @0 {} +
    find . -mindepth 1 | LC_ALL=C sort \
        | cpio --quiet -o -H newc -R 0:0 "${reproducible[@]}" | gzip -n -6
}

# ---- module dependency resolution (modules.dep, no host modprobe needed) ----
declare -A mod_path mod_deps builtin seen
modname() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }
while IFS= read -r line; do
    key=${line%%:*}; b=${key##*/}; b=${b%%.ko*}; b=${b//-/_}
    mod_path[$b]=$key
    mod_deps[$b]=${line#*:}
done < "$kdir/modules.dep"
if [ -r "$kdir/modules.builtin" ]; then
    while IFS= read -r line; do b=${line##*/}; b=${b%%.ko*}; builtin[${b//-/_}]=1; done < "$kdir/modules.builtin"
fi

order=()   # dependencies before dependents
visit() {
    local n=$1 d
    [ -z "${seen[$n]:-}" ] || return 0
    seen[$n]=1
    for d in ${mod_deps[$n]}; do visit "$(modname "$d")"; done
    order+=("$n")
}
builtins=()
for m in "${mods[@]}"; do
    n=${m//-/_}
    if [ -n "${mod_path[$n]:-}" ]; then visit "$n"
    elif [ -n "${builtin[$n]:-}" ]; then builtins+=("$n")
    else vm_die "module '$m' not found in $kdir (neither in modules.dep nor modules.builtin)"
    fi
done

# ---- base archive: busybox + modules (cached) ----
key_src=$(
    echo "v$BASE_VERSION $release ${order[*]}"
    stat -L -c '%n %s %Y' "$busybox" "$kdir/modules.dep"
    for n in "${order[@]}"; do stat -L -c '%n %s %Y' "$kdir/${mod_path[$n]}"; done
)
key=$(printf '%s\n' "$key_src" | sha256sum | cut -c1-16)
base="$cache_dir/base-$release-$key.cpio.gz"

if [ "$use_cache" = 0 ] || [ ! -s "$base" ]; then
    st="$work/base"
    mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,mnt,results,lib/modules/$release}
    cp "$busybox" "$st/bin/busybox"
    chmod 755 "$st/bin/busybox"
    for a in $("$busybox" --list-full); do
        [ -e "$st/$a" ] || ln -s /bin/busybox "$st/$a"
    done
    # Minimal identity files so id/whoami/ls -l behave.
    echo 'root:x:0:0:root:/root:/bin/sh' > "$st/etc/passwd"
    echo 'root:x:0:' > "$st/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost\n' > "$st/etc/hosts"

    mst="$st/lib/modules/$release"
    : > "$mst/modules.dep"
    for n in "${order[@]}"; do
        rel=${mod_path[$n]}
        src="$kdir/$rel"
        dst_rel=${rel%.ko*}.ko   # busybox insmod may not handle compressed modules
        mkdir -p "$(dirname "$mst/$dst_rel")"
        case $rel in
            *.ko) cp "$src" "$mst/$dst_rel" ;;
            *.ko.xz) xz -dc "$src" > "$mst/$dst_rel" ;;
            *.ko.zst) zstd -qdc "$src" > "$mst/$dst_rel" ;;
            *.ko.gz) gzip -dc "$src" > "$mst/$dst_rel" ;;
            *) vm_die "unsupported module file: $src" ;;
        esac
        deps=""
        for d in ${mod_deps[$n]}; do deps+=" ${d%.ko*}.ko"; done
        echo "$dst_rel:$deps" >> "$mst/modules.dep"
    done
    [ -r "$kdir/modules.builtin" ] && cp "$kdir/modules.builtin" "$mst/"
    (cd "$st" && pack) > "$base.tmp.$$"
    mv "$base.tmp.$$" "$base"
    # Keep only a few old bases around.
    ls -1t "$cache_dir"/base-*.cpio.gz 2>/dev/null | tail -n +6 | xargs -r rm -f
fi

# ---- overlay: /init and caller files (rebuilt every time; small) ----
ov="$work/overlay"
mkdir -p "$ov"
cp "$init" "$ov/init"
chmod 755 "$ov/init"
for spec in "${adds[@]}"; do
    src=${spec%:*} dst=${spec##*:}
    [ "$src" != "$spec" ] && [ -n "$src" ] && [ -n "$dst" ] || vm_die "--add wants SRC:DST, got '$spec'"
    case $dst in /*) ;; *) vm_die "--add destination must be absolute: '$dst'" ;; esac
    [ -e "$src" ] || vm_die "--add source does not exist: $src"
    if [ -d "$src" ]; then
        mkdir -p "$ov$dst"
        cp -a "$src/." "$ov$dst/"
    else
        case $dst in */) mkdir -p "$ov$dst"; dst="$dst${src##*/}" ;; *) mkdir -p "$(dirname "$ov$dst")" ;; esac
        cp -L --preserve=mode "$src" "$ov$dst"
    fi
done
(cd "$ov" && pack) > "$work/overlay.cpio.gz"

cat "$base" "$work/overlay.cpio.gz" > "$work/out.cpio.gz"
if cmp -s "$work/out.cpio.gz" "$out" 2>/dev/null; then
    :   # unchanged: keep the old mtime so make-style callers skip work
else
    mv "$work/out.cpio.gz" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
fi
[ ${#builtins[@]} -eq 0 ] || vm_log "built into $release (nothing to ship): ${builtins[*]}"
echo "$out"
