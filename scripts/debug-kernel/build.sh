#!/usr/bin/env bash
# build.sh - build (once) the sanitizer kernel that make check-debug boots: Debian's own
# 6.1 LTS source (package linux-source-6.1) configured with debug.config beside this
# script (KASAN, lockdep, kmemleak, KFENCE, debug objects/lists, atomic-sleep checks).
#
# Usage: scripts/debug-kernel/build.sh [--print-dir]
#
# The result is cached outside the work tree, keyed by the source package's version and
# the hash of debug.config and this script: $KMODS_CACHE/debug-kernel/<version>-<hash>/
# (KMODS_CACHE defaults to /var/cache/kmods). A second run with the same key does
# nothing. The directory holds:
#   linux/            the configured and built tree: KDIR for our modules
#   linux/arch/x86/boot/bzImage, linux/vmlinux (PVH-bootable)
#   modules/lib/modules/<release>/  modules.dep etc. (everything the guest needs is built in)
#   build.log, build-seconds
# Prints the cache directory on stdout (the only thing it prints there).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "debug-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

tarball=/usr/src/linux-source-6.1.tar.xz
[ -r "$tarball" ] || die "$tarball not found: install the package linux-source-6.1 (scripts/setup.sh does)"
version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || die "linux-source-6.1 is not installed"
key=$(cat "$HERE/debug.config" "$HERE/build.sh" | sha256sum | cut -c1-12)
cache=${KMODS_CACHE:-/var/cache/kmods}/debug-kernel
dir=$cache/$version-$key
mkdir -p "$cache"

exec 9>"$cache/.lock"
flock 9   # one build at a time; a second caller waits and then finds it done
if [ -e "$dir/.done" ]; then
    echo "$dir"
    exit 0
fi

log "building the debug kernel $version (config $key) into $dir; this takes a while"
start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir"
tar -C "$dir" -xf "$tarball"
mv "$dir"/linux-source-6.1 "$dir/linux"
cd "$dir/linux"
cp "$HERE/debug.config" "$dir/debug.config"
{
    cat "$dir/debug.config"
    echo 'CONFIG_LOCALVERSION="-kmods-debug"'
    echo '# CONFIG_LOCALVERSION_AUTO is not set'
} > "$dir/allno.config"
make -s KCONFIG_ALLCONFIG="$dir/allno.config" allnoconfig >"$dir/build.log" 2>&1 \
    || { tail -30 "$dir/build.log" >&2; die "allnoconfig failed"; }

# Every option debug.config asks for must have survived Kconfig's dependency rules.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$dir/debug.config" | while IFS= read -r line; do
    grep -qxF "$line" .config || echo "$line"
done)
[ -z "$missing" ] || die "Kconfig dropped these (a dependency is missing from debug.config):
$missing"

jobs=$(nproc)
if ! make -j"$jobs" bzImage modules >>"$dir/build.log" 2>&1; then
    grep -E 'error|Error' "$dir/build.log" | head -20 >&2
    die "kernel build failed (log: $dir/build.log)"
fi
make -s INSTALL_MOD_PATH="$dir/modules" modules_install >>"$dir/build.log" 2>&1 \
    || die "modules_install failed (log: $dir/build.log)"
echo $(( $(date +%s) - start )) > "$dir/build-seconds"
touch "$dir/.done"
log "built in $(cat "$dir/build-seconds") s: $(cat include/config/kernel.release)"
# Keep only this build: older keys are dead weight (a few GB each).
for old in "$cache"/*/; do
    [ "${old%/}" = "$dir" ] || rm -rf "$old"
done
echo "$dir"
