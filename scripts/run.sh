#!/usr/bin/env bash
# make run: boot a QEMU guest with the modules loaded and their ports forwarded to this
# machine's localhost, so they can be tried without loading them into your own kernel.
#   scripts/run.sh [KDIR]     env: FWD_KECHO (default 12345), FWD_HTTP (default 8081),
#                             RUN_TIMEOUT (seconds, default none)
# khttpd serves the demo tree (demo/www) from /www. In the guest: a shell on the
# console; `poweroff` (or Ctrl-A x) leaves.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
. scripts/vm/demo-image.sh
demo_image "$KDIR" target/run/initramfs.cpio.gz
echo "kecho: localhost:${FWD_KECHO:-12345}   khttpd: http://localhost:${FWD_HTTP:-8081}/   (leave with poweroff)"
exec scripts/vm/run.sh --release "$DEMO_REL" --initrd "$DEMO_IMG" --interactive --results target/run/results \
    ${RUN_TIMEOUT:+--timeout "$RUN_TIMEOUT"} \
    --fwd "${FWD_KECHO:-12345}:12345" --fwd "${FWD_HTTP:-8081}:8081" --cmd "$DEMO_SETUP"
