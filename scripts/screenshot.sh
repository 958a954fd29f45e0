#!/usr/bin/env bash
# make screenshot: boot the demo guest (as `make run`: kecho, khttpd root=/www serving
# demo/www) in the background, and take headless Chromium screenshots through the
# forwarded port of a directory listing, a nested listing, an HTML page with images and
# CSS, a PNG served on its own and a page that seeks in a video; then check the
# screenshots and the bytes served, and that Chromium seeked in the video (the page's
# own report in the DOM) through HTTP Range requests answered 206 (Chromium's net log).
# Ends with one line "N passed, N failed"; exit status 0 only if nothing failed.
#
#   scripts/screenshot.sh [--update-docs] [KDIR]
#
#   --update-docs   copy the screenshots to docs/screenshots/ (the README's images)
#
# Environment:
#   SHOT_PORT=18081        host port forwarded to the guest's 8081 (must be free)
#   SHOT_DIR=target/screenshot   output: *.png, chromium-*.log, video-dom.html,
#                          video-netlog.json, vm.log, results/
#   SHOT_SIZE=1000,700     browser window (= screenshot) size
#   SHOT_BOOT_WAIT=180     seconds to wait for khttpd to answer after starting QEMU
#   SHOT_GUEST_SECS=300    the guest powers itself off after this many seconds
#   SHOT_CHROME_TIMEOUT=90 seconds allowed per screenshot
#   CHROMIUM=/usr/bin/chromium
#
# Needs Debian's chromium (installed by nobody but you: apt-get install chromium),
# curl and python3; everything else as for `make run`. Not ffmpeg: the video
# (demo/www/media/testsrc.webm) is committed; media/README.txt says how it was made. Nothing is loaded into the
# host's kernel. The guest is stopped at the end, also on failure or Ctrl-C.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

update_docs=0
while [ $# -gt 0 ]; do
    case $1 in
        --update-docs) update_docs=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        -*) echo "screenshot.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "screenshot.sh: $CHROMIUM not found; install Debian's chromium first:" >&2
    echo "    sudo apt-get install chromium" >&2
    exit 2
fi
for tool in curl python3 setsid; do
    command -v "$tool" >/dev/null || { echo "screenshot.sh: $tool not found" >&2; exit 2; }
done

KDIR=${1:-$(scripts/kbuild/find-kdir.sh)}
PORT=${SHOT_PORT:-18081}
OUT=${SHOT_DIR:-$ROOT/target/screenshot}
SIZE=${SHOT_SIZE:-1000,700}
BOOT_WAIT=${SHOT_BOOT_WAIT:-180}
GUEST_SECS=${SHOT_GUEST_SECS:-300}
CHROME_TIMEOUT=${SHOT_CHROME_TIMEOUT:-90}
[[ $SIZE =~ ^([0-9]+),([0-9]+)$ ]] || { echo "screenshot.sh: SHOT_SIZE wants W,H" >&2; exit 2; }
W=${BASH_REMATCH[1]} H=${BASH_REMATCH[2]}
BASE=http://127.0.0.1:$PORT
RES=$OUT/results

for ko in kecho/kecho.ko khttpd/khttpd.ko; do
    [ -f "$ko" ] || { echo "screenshot.sh: $ko not built (run make)" >&2; exit 2; }
done
if ! python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$PORT" 2>/dev/null; then
    echo "screenshot.sh: port $PORT is in use on 127.0.0.1; pick another with SHOT_PORT=" >&2
    exit 2
fi

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }
step() { echo; echo "=== $*  [$(date +%T)]"; }
t0=$(date +%s)

mkdir -p "$OUT"
rm -f "$OUT"/*.png "$OUT"/chromium-*.log "$OUT"/vm.log "$OUT"/body.* "$OUT"/video-*
step "initramfs (as make run)"
. scripts/vm/demo-image.sh
if ! demo_image "$KDIR" "$OUT/initramfs.cpio.gz"; then
    fail "initramfs"
    echo "$passed passed, $failed failed"
    exit 1
fi
# The guest boots KDIR's release: modules built for another kernel would only fail
# in the guest with "invalid module format".
for ko in kecho/kecho.ko khttpd/khttpd.ko; do
    built=$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)
    if [ "$built" != "$DEMO_REL" ]; then
        echo "screenshot.sh: $ko is built for ${built:-an unknown kernel}, but KDIR=$KDIR is $DEMO_REL:" >&2
        echo "    make KDIR=$KDIR, or pass the matching tree: scripts/screenshot.sh /usr/src/linux-headers-$built" >&2
        exit 2
    fi
done

# The guest loads the modules, then waits (bounded) until the host creates
# results/stop, unloads them and powers off. Without khttpd it stops at once.
guest_cmd="${DEMO_SETUP}grep -q '^khttpd ' /proc/modules || { echo 'screenshot: khttpd did not load'; exit 3; }
echo 'screenshot: guest ready'
i=0; while [ ! -e /results/stop ] && [ \$i -lt $GUEST_SECS ]; do sleep 1; i=\$((i + 1)); done
rmmod khttpd && rmmod kecho && echo 'screenshot: modules unloaded'"

vm_pid="" vm_rc="" udd=""
vm_alive() {   # a zombie still answers kill -0, so read the state
    [ -n "$vm_pid" ] && [ -r "/proc/$vm_pid/stat" ] && [ "$(awk '{print $3}' "/proc/$vm_pid/stat" 2>/dev/null)" != Z ]
}
# Stop the guest: ask it to power off (it unloads the modules first), then, if QEMU is
# still there after 30 s, kill the runner's process group (runner, timeout, QEMU, tee).
stop_vm() {
    [ -n "$vm_pid" ] || return 0
    local i
    if vm_alive; then
        touch "$RES/stop" 2>/dev/null
        for i in $(seq 300); do vm_alive || break; sleep 0.1; done
    fi
    if vm_alive; then
        echo "screenshot.sh: guest did not power off; killing QEMU" >&2
        kill -TERM -- "-$vm_pid" 2>/dev/null
        for i in $(seq 50); do vm_alive || break; sleep 0.1; done
        vm_alive && kill -KILL -- "-$vm_pid" 2>/dev/null
    fi
    wait "$vm_pid" 2>/dev/null
    vm_rc=$?
    vm_pid=""
}
cleanup() {
    stop_vm
    # Chromium runs under timeout(1), which kills its whole group; anything left that
    # was started with our profile directory is ours.
    if [ -n "$udd" ]; then
        local p
        for p in $(grep -lsF -- "$udd" /proc/[0-9]*/cmdline | cut -d/ -f3); do
            kill -KILL "$p" 2>/dev/null
        done
        rm -rf "$udd"
    fi
}
trap cleanup EXIT
trap 'echo "screenshot.sh: interrupted" >&2; exit 130' INT TERM

step "boot the guest (khttpd root=/www; 127.0.0.1:$PORT -> guest 8081)"
mkdir -p "$RES"
rm -f "$RES/stop"
# setsid: the runner gets its own process group (a background job of a script is
# never a group leader, so setsid does not fork and $! is that group's id).
setsid scripts/vm/run.sh --release "$DEMO_REL" --initrd "$DEMO_IMG" --results "$RES" \
    --timeout $((GUEST_SECS + 60)) --fwd "$PORT:8081" --cmd "$guest_cmd" \
    </dev/null >"$OUT/vm.log" 2>&1 &
vm_pid=$!

up=0
for i in $(seq $((BOOT_WAIT * 2))); do
    if [ "$(curl --noproxy '*' -s -o /dev/null -m 2 -w '%{http_code}' "$BASE/" 2>/dev/null)" = 200 ]; then
        up=1; break
    fi
    vm_alive || break
    sleep 0.5
done
if [ $up = 1 ]; then
    pass "khttpd answers on $BASE/ after $(( $(date +%s) - t0 )) s"
else
    fail "khttpd did not answer on $BASE/ (see $OUT/vm.log)"
    stop_vm
    tail -n 30 "$OUT/vm.log" | tr -d '\r'
    echo "$passed passed, $failed failed"
    exit 1
fi

step "HTTP checks (curl)"
# get NAME PATH: body to $OUT/body.NAME; prints "status content-type"
get() { curl --noproxy '*' -s -m 20 -o "$OUT/body.$1" -w '%{http_code} %{content_type}' "$BASE$2"; }
# expect NAME TEXT...: every TEXT occurs literally in body.NAME
expect() {
    local name=$1 t; shift
    for t in "$@"; do
        if grep -qF -- "$t" "$OUT/body.$name"; then pass "$name contains $t"; else fail "$name lacks $t"; fi
    done
}
check_get() {   # NAME PATH CONTENT-TYPE-PREFIX
    local r
    r=$(get "$1" "$2")
    case $r in
        "200 $3"*) pass "GET $2: $r" ;;
        *) fail "GET $2: got '$r', want 200 $3" ;;
    esac
}
check_get listing / text/html
expect listing '<title>Index of /</title>' '<a href="docs/">docs/</a>' '<a href="images/">images/</a>' \
    '<a href="hello.txt">hello.txt</a>' '<a href="style.css">style.css</a>' \
    '<a href="app.js">app.js</a>' '<a href="data.json">data.json</a>' \
    '<a href="media/">media/</a>' '<a href="video.html">video.html</a>' '</html>'
check_get nested /docs/deeper/ text/html
expect nested '<title>Index of /docs/deeper/</title>' '<a href="../">../</a>' \
    '<a href="notes.txt">notes.txt</a>' \
    '<a href="a%20%3Cb%3E%20%26%20%22c%22.txt">a &lt;b&gt; &amp; &quot;c&quot;.txt</a>'
check_get page /docs/ text/html
if cmp -s "$OUT/body.page" demo/www/docs/index.html; then pass "/docs/ is docs/index.html"; else fail "/docs/ differs from demo/www/docs/index.html"; fi
check_get css /style.css text/css
check_get svg /images/ring.svg image/svg+xml
check_get logo /images/logo.png image/png
if cmp -s "$OUT/body.logo" demo/www/images/logo.png; then
    pass "/images/logo.png is byte-identical to demo/www/images/logo.png"
else
    fail "/images/logo.png differs from demo/www/images/logo.png ($(stat -c %s "$OUT/body.logo" 2>/dev/null) vs $(stat -c %s demo/www/images/logo.png) bytes)"
fi
VIDEO=/media/testsrc.webm
VIDEO_SIZE=$(stat -c %s "demo/www$VIDEO")
check_get video "$VIDEO" video/webm
if cmp -s "$OUT/body.video" "demo/www$VIDEO"; then
    pass "$VIDEO is byte-identical to demo/www$VIDEO ($VIDEO_SIZE bytes)"
else
    fail "$VIDEO differs from demo/www$VIDEO ($(stat -c %s "$OUT/body.video" 2>/dev/null) vs $VIDEO_SIZE bytes)"
fi

step "screenshots (headless $("$CHROMIUM" --version 2>/dev/null), ${W}x$H)"
# One temporary directory for every Chromium profile of this run (cleanup kills what
# names it and removes it): shots/ for the screenshots, video/ for the seek check.
udd=$(mktemp -d "${TMPDIR:-/tmp}/screenshot-chromium.XXXXXX")
chrome() {   # PROFILE ARGS...: headless Chromium with a profile under $udd, bounded
    local profile=$1; shift
    timeout -k 5 "$CHROME_TIMEOUT" "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --no-default-browser-check --disable-background-networking \
        --disable-component-update --disable-sync --no-proxy-server --hide-scrollbars \
        --force-device-scale-factor=1 --user-data-dir="$udd/$profile" --window-size="$SIZE" \
        "$@" </dev/null
}
# video.html gives itself 30 s (of the page's time) to seek, then reports a failure;
# with a longer virtual-time budget Chromium dumps or shoots the page only once it has
# its final answer. Virtual time stands still while a request is in flight and runs
# fast when the page is idle, so this takes about a second of real time.
VIDEO_BUDGET=40000
shoot() {   # NAME PATH [CHROMIUM-ARGS...]
    local name=$1 path=$2 s=$(date +%s) rc
    shift 2
    chrome shots "$@" --screenshot="$OUT/$name.png" "$BASE$path" >"$OUT/chromium-$name.log" 2>&1
    rc=$?
    if [ $rc = 0 ] && [ -s "$OUT/$name.png" ]; then
        pass "screenshot $path -> $name.png ($(( $(date +%s) - s )) s)"
    else
        fail "screenshot $path: chromium status $rc (see $OUT/chromium-$name.log)"
    fi
}
shoot listing /
shoot nested-listing /docs/deeper/
shoot page /docs/
shoot logo /images/logo.png
shoot video /video.html --virtual-time-budget=$VIDEO_BUDGET

step "seeking in a video (video.html: the DOM and Chromium's net log)"
# A fresh profile (no cached copy of the video), its DOM after the page seeked to 5 s
# in media/testsrc.webm, and every HTTP exchange in Chromium's net log. The page alone
# does not prove that ranges were used: Chromium also seeks in a resource answered 200
# with "Accept-Ranges: bytes". The net log shows what was sent and answered.
s=$(date +%s)
chrome video --virtual-time-budget=$VIDEO_BUDGET --log-net-log="$OUT/video-netlog.json" \
    --dump-dom "$BASE/video.html" >"$OUT/video-dom.html" 2>"$OUT/chromium-video-dom.log"
rc=$?
if [ $rc = 0 ] && grep -qF '</html>' "$OUT/video-dom.html"; then
    pass "DOM of /video.html after the seek -> video-dom.html ($(( $(date +%s) - s )) s)"
else
    fail "DOM of /video.html: chromium status $rc (see $OUT/chromium-video-dom.log)"
fi
result=$(sed -n 's:.*<p id="result">\([^<]*\)</p>.*:\1:p' "$OUT/video-dom.html" | head -n 1)
# The file is 8.0 s long and has a keyframe at 5 s; readyState >= 2: the frame there
# was decoded (the page reports "seeked" with anything else as a failure).
if [[ $result =~ ^seeked\ to\ 5\.0,\ readyState\ [234],\ duration\ 8\.0$ ]]; then
    pass "video.html reports: $result"
else
    fail "video.html reports: ${result:-(no #result in the DOM)}"
fi

# An embedded checker's output: its PASS/FAIL lines are shown, and its last line
# "<tag>-checks PASSED FAILED" is added to the counts (a checker that died without it fails).
add_checker_counts() {
    local tag=$1 out=$2 what=$3 p f
    printf '%s\n' "$out" | grep -v "^$tag-checks "
    if read -r _ p f < <(printf '%s\n' "$out" | grep "^$tag-checks "); then
        passed=$((passed + p)); failed=$((failed + f))
    else
        fail "$what did not finish"
    fi
}

# Pairs each request the net log shows for the video with its response, prints them,
# and checks: the video was asked for, some request for it carried "Range: bytes=" and
# was answered 206 with a Content-Range over the whole file's size, and every answer
# for it was a 206 (a 200 would mean the range was ignored).
net_out=$(python3 - "$OUT/video-netlog.json" "$VIDEO" "$VIDEO_SIZE" 2>&1 <<'EOF'
import json, re, sys
path, target, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

passed = failed = 0
def check(ok, what):
    global passed, failed
    print(('PASS: ' if ok else 'FAIL: ') + what)
    if ok: passed += 1
    else: failed += 1

def run():
    try:
        log = json.load(open(path))
        kinds = log['constants']['logEventTypes']
        events = log['events']
    except (OSError, ValueError, KeyError, TypeError) as e:
        check(False, 'net log %s: %s' % (path, e))
        return
    send = kinds.get('HTTP_TRANSACTION_SEND_REQUEST_HEADERS')
    recv = kinds.get('HTTP_TRANSACTION_READ_RESPONSE_HEADERS')
    if send is None or recv is None:
        check(False, 'net log has no HTTP_TRANSACTION_{SEND_REQUEST,READ_RESPONSE}_HEADERS events')
        return
    # Within one source (a URL request) a transaction's request headers come before
    # its response headers; a request cancelled before its answer stays unpaired.
    asked, pairs = {}, []
    for e in events:
        src = e.get('source', {}).get('id')
        p = e.get('params') or {}
        if e.get('type') == send:
            line = p.get('line', '').split()
            if len(line) >= 2 and line[1] == target:
                asked[src] = (' '.join(line[:2]), p.get('headers', []))
        elif e.get('type') == recv and src in asked:
            pairs.append(asked.pop(src) + (p.get('headers', []),))
    def header(headers, name):
        for h in headers:
            k, _, v = h.partition(':')
            if k.strip().lower() == name:
                return v.strip()
        return None
    good = 0
    for line, req, resp in pairs:
        status = resp[0] if resp else '(no status line)'
        rng, crange = header(req, 'range'), header(resp, 'content-range')
        print('  %s, Range: %s -> %s, Content-Range: %s, Accept-Ranges: %s'
              % (line, rng, status, crange, header(resp, 'accept-ranges')))
        m = re.match(r'bytes (\d+)-(\d+)/(\d+)$', crange or '')
        if (rng or '').startswith('bytes=') and re.match(r'HTTP/1\.[01] 206 ', status) \
                and m and int(m.group(3)) == size and int(m.group(1)) <= int(m.group(2)) < size:
            good += 1
    for src, (line, req) in asked.items():
        print('  %s, Range: %s -> (no response in the log)' % (line, header(req, 'range')))
    check(len(pairs) > 0, 'the net log shows %d answered request(s) for %s' % (len(pairs), target))
    check(good > 0, '%d request(s) for %s carried "Range: bytes=" and got 206 with Content-Range .../%d'
          % (good, target, size))
    other = [r[0] if r else '(none)' for _, _, r in pairs if not (r and re.match(r'HTTP/1\.[01] 206 ', r[0]))]
    check(pairs and not other, 'every answer for %s was a 206%s'
          % (target, ' (also: %s)' % ', '.join(other) if other else ''))

run()
print('netlog-checks %d %d' % (passed, failed))
EOF
)
add_checker_counts netlog "$net_out" "net log checker"

step "screenshot contents"
# Decodes the PNGs (stdlib only) and checks: size, not blank (many colours, not one
# flat colour), and for the image and the page that demo/www/images/logo.png appears
# pixel for pixel at 1:1, and on the page that the CSS heading colour (#b7410e) is
# used above the images and the SVG ring beside the logo is drawn in it; on the video
# page that a frame of the test pattern is drawn (its yellow bar, 60x240 or more
# pixels of the 480x360 picture, in nothing else there).
png_out=$(python3 - "$W" "$H" demo/www/images/logo.png "$OUT" 2>&1 <<'EOF'
import struct, sys, zlib
W, H, logo_path, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def decode(path):
    """8-bit non-interlaced PNG -> (width, height, rows of RGB bytes)."""
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    pos, idat, plte = 8, [], b''
    while pos < len(data):
        n, typ = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(typ + body) != struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])[0]:
            raise ValueError('bad CRC in %r chunk' % typ)
        if typ == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
        elif typ == b'PLTE':
            plte = body
        elif typ == b'IDAT':
            idat.append(body)
        elif typ == b'IEND':
            break
        pos += 12 + n
    if depth != 8 or interlace or ctype not in (0, 2, 3, 4, 6):
        raise ValueError('unsupported PNG (depth %d, colour type %d, interlace %d)' % (depth, ctype, interlace))
    bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b''.join(idat))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise ValueError('image data has %d bytes, want %d' % (len(raw), h * (stride + 1)))
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif f == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        elif f == 3:
            for i in range(stride):
                cur[i] = (cur[i] + ((cur[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif f != 0:
            raise ValueError('bad filter type %d in row %d' % (f, y))
        rows.append(bytes(cur))
        prev = cur
    def rgb(r):   # (alpha is ignored: screenshots are opaque)
        if ctype == 2:
            return r
        o = bytearray(w * 3)
        if ctype == 6:
            o[0::3], o[1::3], o[2::3] = r[0::4], r[1::4], r[2::4]
        elif ctype == 3:
            for i, k in enumerate(r):
                o[3 * i:3 * i + 3] = plte[3 * k:3 * k + 3]
        else:
            g = r[0::bpp]
            o[0::3], o[1::3], o[2::3] = g, g, g
        return bytes(o)
    return w, h, [rgb(r) for r in rows]

def find(rows, w, sub):
    """Top-left (x, y) where image sub (rows) appears exactly in rows, else None."""
    sw = len(sub[0]) // 3
    for y in range(len(rows) - len(sub) + 1):
        x = rows[y].find(sub[0])
        while x >= 0:
            if x % 3 == 0 and all(rows[y + k][x:x + 3 * sw] == sub[k] for k in range(1, len(sub))):
                return x // 3, y
            x = rows[y].find(sub[0], x + 1)
    return None

def count(rows, colour, x0=0, x1=None, y0=0, y1=None):
    n = 0
    for r in rows[y0:y1]:
        seg = r[3 * x0:3 * x1 if x1 is not None else None]
        n += sum(1 for i in range(0, len(seg), 3) if seg[i:i + 3] == colour)
    return n

passed = failed = 0
def check(ok, what):
    global passed, failed
    print(('PASS: ' if ok else 'FAIL: ') + what)
    if ok: passed += 1
    else: failed += 1

_, lh, logo = decode(logo_path)
RUST = bytes.fromhex('b7410e')
for name in ('listing', 'nested-listing', 'page', 'logo', 'video'):
    path = '%s/%s.png' % (out, name)
    try:
        w, h, rows = decode(path)
    except (OSError, ValueError, zlib.error) as e:
        check(False, '%s.png: %s' % (name, e))
        continue
    check((w, h) == (W, H), '%s.png is a valid PNG of %dx%d (want %dx%d)' % (name, w, h, W, H))
    hist = {}
    for r in rows:
        for i in range(0, len(r), 3):
            c = r[i:i + 3]
            hist[c] = hist.get(c, 0) + 1
    bg, nbg = max(hist.items(), key=lambda kv: kv[1])
    other = w * h - nbg
    check(len(hist) >= 8 and other >= 2000,
          '%s.png is not blank: %d colours, %d pixels differ from the background #%s'
          % (name, len(hist), other, bg.hex()))
    if name in ('page', 'logo'):
        at = find(rows, w, logo)
        check(at is not None, '%s.png shows logo.png pixel for pixel%s' % (name, ' at %d,%d' % at if at else ''))
        if name == 'logo' and at:
            cx, cy = (w - 128) // 2, (h - lh) // 2
            check(abs(at[0] - cx) <= 1 and abs(at[1] - cy) <= 1, 'logo.png is centred (%d,%d)' % at)
        if name == 'page' and at:
            x, y = at
            above = count(rows, RUST, y1=y)
            beside = count(rows, RUST, x0=x + 128, y0=y, y1=y + lh)
            check(above >= 100, 'page.png: %d heading pixels in #b7410e above the images (style.css applied)' % above)
            check(beside >= 1000, 'page.png: %d pixels of the #b7410e SVG ring beside the logo (ring.svg drawn)' % beside)
    if name == 'video':
        yellow = sum(1 for r in rows for i in range(0, len(r), 3)
                     if r[i] >= 200 and r[i + 1] >= 200 and r[i + 2] <= 60)
        check(yellow >= 60 * 240, 'video.png: %d yellow pixels (a frame of testsrc.webm is drawn)' % yellow)
print('png-checks %d %d' % (passed, failed))
EOF
)
add_checker_counts png "$png_out" "PNG checker"

step "stop the guest"
stop_vm
if [ "$vm_rc" = 0 ] && grep -q 'screenshot: modules unloaded' "$RES/console.log" 2>/dev/null; then
    pass "guest powered off cleanly after rmmod khttpd kecho"
else
    fail "guest did not end cleanly (runner status $vm_rc; see $OUT/vm.log)"
fi
if grep -q 'GUEST KERNEL PROBLEM' "$OUT/vm.log"; then
    fail "guest kernel Oops/BUG/WARNING (see $OUT/vm.log)"
    grep -A20 'GUEST KERNEL PROBLEM' "$OUT/vm.log"
else
    pass "no Oops/BUG/WARNING in the guest kernel log"
fi

if [ $update_docs = 1 ] && [ $failed = 0 ]; then
    mkdir -p docs/screenshots
    cp "$OUT"/{listing,nested-listing,page,logo,video}.png docs/screenshots/
    echo "copied the screenshots to docs/screenshots/"
fi
echo
echo "screenshots in $OUT/ ($(( $(date +%s) - t0 )) s in all)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
