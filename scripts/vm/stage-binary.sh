#!/usr/bin/env bash
# Copy a dynamically linked host program and the shared libraries it needs into a
# staging root, for the guest initramfs:  stage-binary.sh DESTROOT /usr/bin/curl ...
set -euo pipefail
dest=$1; shift
for bin in "$@"; do
    [ -x "$bin" ] || { echo "stage-binary.sh: $bin not found" >&2; exit 1; }
    mkdir -p "$dest$(dirname "$bin")"
    cp -L "$bin" "$dest$bin"
    ldd "$bin" | awk '/=>/ { print $3 } /^[ \t]*\/.*ld-linux/ { print $1 }' | while read -r lib; do
        [ -n "$lib" ] && [ -f "$lib" ] || continue
        mkdir -p "$dest$(dirname "$lib")"
        cp -Lu "$lib" "$dest$lib"
    done
done
