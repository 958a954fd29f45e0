# demo-image.sh - the demo guest shared by scripts/run.sh and scripts/screenshot.sh
# (sourced, not run; the caller has cd'd to the repository root).
#
#   demo_image KDIR OUT
#
# Builds initramfs OUT holding every module that has been built (kecho, khttpd,
# drop-tcp-socket), the demo web tree demo/www as /www, the guest tests as /tests and
# the static user tools in /bin. Sets:
#   DEMO_REL    kernel release of KDIR (the guest boots /boot/vmlinuz-$DEMO_REL)
#   DEMO_IMG    path of the image (OUT)
#   DEMO_SETUP  guest shell command loading the modules (khttpd with root=/www)

demo_image() {
    local kdir=$1 out=$2 bins=target/x86_64-unknown-linux-gnu/release ko args b
    local adds=(--add scripts/guest:/tests)
    DEMO_REL=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
    [ -n "$DEMO_REL" ] || { echo "demo_image: $kdir is not a configured kernel tree" >&2; return 1; }
    # The image's timestamps are zeroed (reproducible archives): give the demo files
    # the guest's current time so listings and Last-Modified look like a real tree.
    DEMO_SETUP="[ -d /www ] && find /www -exec touch {} +; "
    # khttpd's gzip needs the crypto API's deflate (a module on Debian 6.12).
    DEMO_SETUP+="modprobe deflate 2>/dev/null; "
    for ko in kecho/kecho.ko khttpd/khttpd.ko drop-tcp-socket/drop-tcp-socket.ko; do
        if [ -f "$ko" ]; then
            adds+=(--add "$ko:/modules/")
            args=""
            [ "$ko" = khttpd/khttpd.ko ] && args="root=/www"
            DEMO_SETUP+="insmod /modules/${ko##*/} $args && echo loaded ${ko##*/} $args; "
        fi
    done
    if [ -d demo/www ]; then adds+=(--add demo/www:/www); fi
    for b in echo-check bench user-echo-server htstress droptw; do
        [ -x "$bins/$b" ] && adds+=(--add "$bins/$b:/bin/")
    done
    mkdir -p "$(dirname "$out")"
    DEMO_IMG=$(scripts/vm/mkinitramfs.sh --release "$DEMO_REL" --out "$out" --module deflate "${adds[@]}")
}
