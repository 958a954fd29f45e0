#!/usr/bin/env bash
# make run: boot a QEMU guest with the modules loaded and their ports forwarded to this
# machine's localhost, so they can be tried without loading them into your own kernel.
#   scripts/run.sh [KDIR]     env: FWD_KECHO (default 12345), FWD_HTTP (default 8081),
#                             RUN_TIMEOUT (seconds, default none)
# In the guest: a shell on the console; `poweroff` (or Ctrl-A x) leaves.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$KDIR/include/generated/utsrelease.h")
bins=target/x86_64-unknown-linux-gnu/release
adds=(--add scripts/guest:/tests)
setup=""
for ko in kecho/kecho.ko khttpd/khttpd.ko drop-tcp-socket/drop-tcp-socket.ko; do
    if [ -f "$ko" ]; then
        adds+=(--add "$ko:/modules/")
        setup+="insmod /modules/${ko##*/} && echo loaded ${ko##*/}; "
    fi
done
if [ -d demo/www ]; then adds+=(--add demo/www:/www); fi
for b in echo-check bench user-echo-server htstress droptw; do
    [ -x "$bins/$b" ] && adds+=(--add "$bins/$b:/bin/")
done
mkdir -p target/run
img=$(scripts/vm/mkinitramfs.sh --release "$rel" --out target/run/initramfs.cpio.gz "${adds[@]}")
echo "kecho: localhost:${FWD_KECHO:-12345}   khttpd: localhost:${FWD_HTTP:-8081}   (leave with poweroff)"
exec scripts/vm/run.sh --release "$rel" --initrd "$img" --interactive --results target/run/results \
    ${RUN_TIMEOUT:+--timeout "$RUN_TIMEOUT"} \
    --fwd "${FWD_KECHO:-12345}:12345" --fwd "${FWD_HTTP:-8081}:8081" --cmd "$setup"
