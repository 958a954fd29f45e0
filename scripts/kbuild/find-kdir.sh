#!/bin/sh
# Print the default kernel build tree: the running kernel's, else the newest Debian one.
d=/lib/modules/$(uname -r)/build
if [ -f "$d/Makefile" ]; then echo "$d"; exit 0; fi
for d in $(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V -r); do
  if [ -f "$d/Makefile" ] && [ -f "$d/.config" ]; then echo "$d"; exit 0; fi
done
