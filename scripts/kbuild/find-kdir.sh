#!/bin/sh
# Print the default kernel build tree: the running kernel's, else the newest Debian one.
# With --all: every usable build tree (running kernel's first, then Debian's, newest first).
all=0; [ "${1:-}" = --all ] && all=1
found=""
d=/lib/modules/$(uname -r)/build
if [ -f "$d/Makefile" ] && [ -f "$d/.config" ]; then
    [ $all = 1 ] || { echo "$d"; exit 0; }
    found=$(cd "$d" && pwd -P); echo "$d"
fi
for d in $(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V -r); do
    if [ -f "$d/Makefile" ] && [ -f "$d/.config" ]; then
        [ "$(cd "$d" && pwd -P)" = "$found" ] && continue
        echo "$d"
        [ $all = 1 ] || exit 0
    fi
done
