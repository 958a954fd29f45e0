#!/usr/bin/env python3
"""Hostile HTTP client for khttpd: malformed, mutated, pipelined and abandoned requests.

    scripts/hostile-http.py HOST PORT TREE [--seconds N] [--threads N] [--seed N]

TREE is a local copy of the served tree (the files and their bytes the server should
send; a file named SECRET next to TREE's root holds bytes that must never be served).
Every response read is checked: well-formed framing (status line, Content-Length or
chunked), a 200/206 for a known file carries exactly that file's bytes (gzip/deflate
decoded), no response contains the secret. Between rounds the server must still answer
a plain request. Prints one line per finding and "hostile: N requests, N findings";
exit status 1 if there were findings. Pure standard library, so it runs anywhere.
"""
import argparse
import gzip
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib
from urllib.parse import quote

findings = []
findings_lock = threading.Lock()
counts = {"requests": 0, "responses": 0, "closed": 0}


def shown(req):
    """A request for a finding: whole up to 1 KiB, else its length, start and end."""
    if len(req) <= 1024:
        return repr(req)
    return "%d bytes: %r ... %r" % (len(req), req[:400], req[-400:])


def finding(msg):
    with findings_lock:
        if len(findings) < 200:
            findings.append(msg)
            print("FINDING:", msg, flush=True)


class Tree:
    def __init__(self, root):
        self.files = {}
        self.dirs = []
        for d, subdirs, names in os.walk(root):
            rel = "/" + os.path.relpath(d, root).replace(os.sep, "/")
            rel = "/" if rel == "/." else rel + "/"
            self.dirs.append(rel)
            for n in names:
                p = os.path.join(d, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        self.files[rel + n] = f.read()
        secret = os.path.join(os.path.dirname(os.path.abspath(root)), "SECRET")
        with open(secret, "rb") as f:
            self.secret = f.read().strip()


class Response:
    def __init__(self, status, headers, body, raw_head):
        self.status, self.headers, self.body, self.raw_head = status, headers, body, raw_head

    def h(self, name):
        return self.headers.get(name.lower())


class Conn:
    """A client connection with a read buffer and a response parser."""

    def __init__(self, host, port, timeout=10.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.eof = False
        self.responses = 0

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            d = self.s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_response(self, head_request=False):
        """One response, or None if the server closed first. Raises ValueError on bad framing."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("response head over 64 KiB")
            if not self._fill():
                if self.buf:
                    raise ValueError("connection closed inside a response head: %r" % self.buf[:200])
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
            raise ValueError("bad status line %r" % lines[0][:200])
        status = int(parts[1])
        headers = {}
        for ln in lines[1:]:
            if b":" not in ln:
                raise ValueError("header line without colon %r" % ln[:200])
            k, v = ln.split(b":", 1)
            k = k.decode("latin-1").lower()
            if k in headers and k in ("content-length", "transfer-encoding", "content-range"):
                raise ValueError("duplicate %s" % k)
            headers[k] = v.strip().decode("latin-1")
        body = b""
        no_body = head_request or status in (204, 304) or 100 <= status < 200
        if no_body:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            if "content-length" in headers:
                raise ValueError("both Content-Length and chunked")
            body = self._read_chunked()
        elif "content-length" in headers:
            cl = headers["content-length"]
            if not cl.isdigit():
                raise ValueError("bad Content-Length %r" % cl)
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill():
                    raise ValueError("closed after %d of %d body bytes (status %d)" % (len(self.buf), n, status))
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            raise ValueError("response %d without Content-Length or chunked framing" % status)
        counts["responses"] += 1
        self.responses += 1
        return Response(status, headers, body, head)

    def _read_chunked(self):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    raise ValueError("closed inside chunked framing")
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in self.buf:
                    if not self._fill():
                        raise ValueError("closed inside chunked trailer")
                # trailers: read until empty line
                while True:
                    t, self.buf = self.buf.split(b"\r\n", 1)
                    if t == b"":
                        return body
                    while b"\r\n" not in self.buf:
                        if not self._fill():
                            raise ValueError("closed inside chunked trailer")
            while len(self.buf) < size + 2:
                if not self._fill():
                    raise ValueError("closed inside a chunk")
            body += self.buf[:size]
            if self.buf[size:size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self.buf = self.buf[size + 2:]

    def close(self, reset=False):
        try:
            if reset:
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.s.close()
        except OSError:
            pass


def decode(resp):
    enc = (resp.h("content-encoding") or "").lower()
    if enc == "gzip":
        return gzip.decompress(resp.body)
    if enc == "deflate":
        return zlib.decompress(resp.body)
    if enc:
        raise ValueError("unknown Content-Encoding %r" % enc)
    return resp.body


def check(tree, path, resp, what, head=False):
    """Checks one response to a request for `path` (None: the target is unknown)."""
    if tree.secret and (tree.secret in resp.body or tree.secret in resp.raw_head):
        finding("%s: response carries the secret (status %d)" % (what, resp.status))
    if path is None or path not in tree.files or head:
        return
    want = tree.files[path]
    if resp.status == 200:
        try:
            got = decode(resp)
        except Exception as e:  # noqa: BLE001 - any decode failure is a finding
            finding("%s: %s: body does not decode: %s" % (what, path, e))
            return
        if got != want:
            finding("%s: %s: 200 body differs from the file (%d bytes, want %d)" % (what, path, len(got), len(want)))
    elif resp.status == 206:
        cr = resp.h("content-range") or ""
        try:
            unit, rest = cr.split(" ", 1)
            rng, total = rest.split("/")
            a, b = (int(x) for x in rng.split("-"))
        except ValueError:
            finding("%s: %s: 206 with bad Content-Range %r" % (what, path, cr))
            return
        if unit != "bytes" or int(total) != len(want) or resp.body != want[a:b + 1]:
            finding("%s: %s: 206 %s body differs (%d bytes)" % (what, path, cr, len(resp.body)))


# ---- request generators -------------------------------------------------------------

ENCODINGS = ["", "gzip", "deflate", "gzip;q=0", "br", "gzip, deflate", "*", "identity;q=0",
             "gzip;q=0.5, deflate;q=0.9", "GZIP", "x" * 300, "gzip;q=1.5", "gzip;q=-1", ";", ",,,"]
RANGES = ["bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-0", "bytes=5-2", "bytes=0-99999999999999999999",
          "bytes=18446744073709551615-", "bytes=-18446744073709551616", "bytes=1-1,3-3", "bytes=0-1,1-2,2-3",
          "bytes=" + ",".join("%d-%d" % (i, i) for i in range(40)), "bytes= 0 - 5", "bytes=0-5,", "bytes=,",
          "pages=1-2", "bytes=-", "bytes=9-9223372036854775807", "bytes=0-0,-1", "bytes=3-", "bytes=100000-"]
TRAVERSALS = ["/../SECRET", "/..%2fSECRET", "/%2e%2e/SECRET", "/%2E%2E%2FSECRET", "/a/../../SECRET",
              "/./../SECRET", "/..\\SECRET", "/%5c..%5cSECRET", "/%00/../SECRET", "/link-out", "/link-out/",
              "//../SECRET", "/..;/SECRET", "/%252e%252e/SECRET", "http://x/../SECRET", "/%c0%ae%c0%ae/SECRET",
              "/dir/../../SECRET", "/.%2e/SECRET", "/%2e./SECRET", "/....//SECRET", "/secret-link",
              "/dir/%2e%2e/%2e%2e/SECRET"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "get", "GeT", "G ET",
           "BREW", "X" * 100, ""]
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.10", "HTTP/1", "http/1.1", "HTTP/9.9",
            "HTTP/1.1 ", "HTTP/11", "HTTP/-1.1", "HTTP/1.1\x00"]


def plain(path, method="GET", version="HTTP/1.1", extra=""):
    return ("%s %s %s\r\nHost: k\r\n%s\r\n" % (method, path, version, extra)).encode("latin-1")


def random_valid(rng, tree):
    path = rng.choice(list(tree.files) + tree.dirs)
    extra = ""
    if rng.random() < 0.4:
        extra += "Accept-Encoding: %s\r\n" % rng.choice(ENCODINGS)
    if rng.random() < 0.3:
        extra += "Range: %s\r\n" % rng.choice(RANGES + ["bytes=%d-%d" % (rng.randrange(0, 70000), rng.randrange(0, 70000))])
    if rng.random() < 0.1:
        extra += "If-None-Match: %s\r\n" % rng.choice(['"x"', "*", 'W/"a", "b"', '"', "", "," * 100])
    if rng.random() < 0.1:
        extra += "If-Modified-Since: %s\r\n" % rng.choice(["Thu, 01 Jan 1970 00:00:00 GMT", "garbage",
                                                          "Sun, 06 Nov 2094 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"])
    if rng.random() < 0.1:
        extra += "If-Range: %s\r\n" % rng.choice(['"x"', "Thu, 01 Jan 1970 00:00:00 GMT", "W/\"y\""])
    method = "HEAD" if rng.random() < 0.1 else "GET"
    return path, method, plain(quote(path), method, extra=extra)


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[i:i] = bytes(rng.choice([b"\r", b"\n", b"\x00", b" ", b":", b"%", b"/", b"..", b"\r\n", b"\xff"]))
        elif op == 2 and data:
            del data[i:i + rng.randrange(1, 8)]
        elif op == 3:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        elif op == 4:
            data[i:i] = b"X-Long: " + b"a" * rng.choice([100, 8000, 17000]) + b"\r\n"
        else:
            data[i:i] = data[:rng.randrange(len(data) + 1)]
    return bytes(data)


SPECIAL = [
    b"GET / HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"GET / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1\nHost: k\n\n",
    b"GET / HTTP/1.1\rHost: k\r\r",
    b"GET / HTTP/1.1\r\nHost: k\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost k\r\n\r\n",
    b"GET / HTTP/1.1\r\nHo st: k\r\n\r\n",
    b"\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET  /  HTTP/1.1\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000 + b"\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\n\r\n",
    b"CONNECT k:443 HTTP/1.1\r\n\r\n",
    b"GET http://k/small.txt HTTP/1.1\r\n\r\n",
    b"GET k/small.txt HTTP/1.1\r\n\r\n",
    b"GET /small.txt?x=%00 HTTP/1.1\r\n\r\n",
    b"GET /small.txt#frag HTTP/1.1\r\n\r\n",
    b"GET /%zz HTTP/1.1\r\n\r\n",
    b"GET /% HTTP/1.1\r\n\r\n",
    b"GET /%f HTTP/1.1\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),
    b"GET / HTTP/1.1\r\nConnection: close, keep-alive, upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    b"HEAD /big.bin HTTP/1.1\r\nRange: bytes=0-10\r\n\r\n",
    b"GET /big.bin HTTP/1.1\r\nRange: bytes=0-0\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /text.txt HTTP/1.1\r\nAccept-Encoding: gzip\r\nRange: bytes=10-20\r\n\r\n",
]


def with_host(req):
    """The same request with a Host field after its first line (HTTP/1.1 requires one)."""
    i = req.find(b"\r\n")
    if i < 0 or b"\nHost:" in req:
        return req
    return req[:i + 2] + b"Host: k\r\n" + req[i + 2:]


SPECIAL += [with_host(r) for r in SPECIAL if with_host(r) != r]


# ---- workers ------------------------------------------------------------------------

def health(args, tree):
    """The server still serves a file correctly; returns True if so."""
    path = sorted(tree.files)[0]
    try:
        c = Conn(args.host, args.port)
        c.send(plain(quote(path), extra="Connection: close\r\n"))
        r = c.read_response()
        c.close()
    except (OSError, ValueError) as e:
        finding("health: %s" % e)
        return False
    if r is None or r.status != 200 or r.body != tree.files[path]:
        finding("health: %s answered %s" % (path, None if r is None else r.status))
        return False
    return True


def padded(path, total, headers=1):
    """A valid GET for `path` padded by `headers` X-Pad fields to `total` bytes (or
    the least it can be)."""
    fields = ["X-Pad%d: p\r\n" % i for i in range(headers)]
    short = total - len(plain(quote(path), extra="".join(fields)))
    if short > 0:
        each, extra = divmod(short, headers)
        fields = ["X-Pad%d: p%s\r\n" % (i, "p" * (each + (extra if i == 0 else 0))) for i in range(headers)]
    return plain(quote(path), extra="".join(fields))


def boundary_session(c, tree, rng):
    """Requests sized around the server's buffer sizes and limits (2, 4, 8 and 16 KiB,
    32 fields), each followed in the same send by a plain request, so that buffer
    growth and the consumption of a request's bytes are exercised."""
    path = rng.choice(list(tree.files))
    total = rng.choice([2046, 2047, 2048, 2049, 2050, 4095, 4096, 4097, 8190, 8192, 8194,
                        16382, 16384, 16386, 16600, 24576, 24600, 25000])
    headers = rng.choice([1, 1, 1, 30, 31, 32, 33])
    first = padded(path, total, headers)
    second_path = rng.choice(list(tree.files))
    data = first + plain(quote(second_path))
    while data:
        k = rng.choice([len(data), 1, 7, 1000, 2048, 4096])
        c.send(data[:k])
        data = data[k:]
    counts["requests"] += 2
    r = c.read_response()
    if r is None:
        finding("boundary %d bytes, %d fields: closed without a response" % (len(first), headers))
        return
    check(tree, path, r, "boundary %d bytes, %d fields" % (len(first), headers))
    if r.status == 200:
        r2 = c.read_response()
        if r2 is None:
            finding("boundary %d bytes, %d fields: no response to the request after it" % (len(first), headers))
            return
        check(tree, second_path, r2, "after a %d-byte request" % len(first))
        if r2.status != 200:
            finding("after a %d-byte request with %d fields: %d" % (len(first), headers, r2.status))
    elif r.status not in (414, 431, 400):
        finding("boundary %d bytes, %d fields: status %d" % (len(first), headers, r.status))


def one_session(args, tree, rng):
    """One connection: a random plan of requests, some pipelined, some hostile."""
    kind = rng.randrange(11)
    c = Conn(args.host, args.port, timeout=args.timeout)
    req = b""
    try:
        if kind <= 3:
            # keep-alive series, some pipelined
            batch = [random_valid(rng, tree) for _ in range(rng.randrange(1, 12))]
            if rng.random() < 0.5:
                data = req = b"".join(b for _, _, b in batch)
                # send in random pieces
                while data:
                    k = rng.randrange(1, len(data) + 1)
                    c.send(data[:k])
                    data = data[k:]
                for path, method, _ in batch:
                    counts["requests"] += 1
                    r = c.read_response(head_request=(method == "HEAD"))
                    if r is None:
                        finding("pipelined %s %s: closed without a response" % (method, path))
                        break
                    check(tree, path, r, "pipelined", head=(method == "HEAD"))
            else:
                for path, method, req in batch:
                    counts["requests"] += 1
                    c.send(req)
                    r = c.read_response(head_request=(method == "HEAD"))
                    if r is None:
                        finding("keep-alive %s %s: closed without a response" % (method, path))
                        break
                    check(tree, path, r, "keep-alive", head=(method == "HEAD"))
                    if (r.h("connection") or "").lower() == "close":
                        break
        elif kind == 4:
            path = rng.choice(TRAVERSALS)
            counts["requests"] += 1
            req = plain(path)
            c.send(req)
            r = c.read_response()
            if r is not None:
                check(tree, None, r, "traversal %s" % path)
                if r.status == 200 and path not in tree.files and not path.endswith("/"):
                    # 200 for a traversal path is only right if it names a served file
                    finding("traversal %s: 200 (%d bytes)" % (path, len(r.body)))
        elif kind == 5:
            req = rng.choice(SPECIAL)
            counts["requests"] += 1
            c.send(req)
            c.s.shutdown(socket.SHUT_WR) if rng.random() < 0.3 else None
            while True:
                r = c.read_response(head_request=req.startswith(b"HEAD"))
                if r is None:
                    break
                check(tree, None, r, "special")
        elif kind == 6:
            path, method, req = random_valid(rng, tree)
            req = mutate(rng, req.replace(b"HEAD ", b"GET ", 1))
            counts["requests"] += 1
            c.send(req)
            if rng.random() < 0.5:
                c.s.shutdown(socket.SHUT_WR)
            for _ in range(3):
                r = c.read_response()
                if r is None:
                    break
                check(tree, None, r, "mutated")
        elif kind == 7:
            # abandon: partial request or mid-response, maybe with a reset
            path, method, req = random_valid(rng, tree)
            counts["requests"] += 1
            if rng.random() < 0.5:
                c.send(req[:rng.randrange(len(req))])
            else:
                c.send(req)
                c.s.recv(rng.choice([1, 100, 5000]))
            c.close(reset=rng.random() < 0.5)
            return
        elif kind == 8:
            # method / version matrix
            m = rng.choice(METHODS)
            v = rng.choice(VERSIONS)
            path = rng.choice(list(tree.files))
            counts["requests"] += 1
            req = ("%s %s %s\r\nHost: k\r\n\r\n" % (m, quote(path), v)).encode("latin-1")
            c.send(req)
            r = c.read_response(head_request=(m == "HEAD"))
            if r is not None:
                check(tree, path if m == "GET" and v in ("HTTP/1.1", "HTTP/1.0") else None, r, "matrix %s %s" % (m, v))
        elif kind == 10:
            boundary_session(c, tree, rng)
        else:
            # a big file read slowly by a small window, then closed early
            path = max(tree.files, key=lambda p: len(tree.files[p]))
            counts["requests"] += 1
            c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.send(plain(quote(path)))
            got = 0
            for _ in range(rng.randrange(1, 20)):
                d = c.s.recv(4096)
                if not d:
                    break
                got += len(d)
                time.sleep(0.01)
            c.close(reset=rng.random() < 0.5)
            return
    except ValueError as e:
        finding("session kind %d: %s; request %s" % (kind, e, shown(req)))
    except socket.timeout:
        finding("session kind %d: no answer within %g s (%d responses read, %d bytes unparsed); request %s"
                % (kind, args.timeout, c.responses, len(c.buf), shown(req)))
    except OSError:
        counts["closed"] += 1
    finally:
        c.close()


def worker(args, tree, seed, deadline):
    rng = random.Random(seed)
    while time.time() < deadline:
        try:
            one_session(args, tree, rng)
        except OSError:
            counts["closed"] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("tree")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20, help="seconds to wait for a response (above header_timeout_ms)")
    args = ap.parse_args()
    tree = Tree(args.tree)
    if not health(args, tree):
        print("hostile: the server does not answer a plain request")
        return 1
    end = time.time() + args.seconds
    rounds = 0
    while time.time() < end:
        rounds += 1
        deadline = min(end, time.time() + 15)
        ts = [threading.Thread(target=worker, args=(args, tree, args.seed * 1000 + rounds * 100 + i, deadline))
              for i in range(args.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if not health(args, tree):
            break
    print("hostile: %d requests, %d responses, %d closed early, %d findings"
          % (counts["requests"], counts["responses"], counts["closed"], len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
