//! End-to-end use of the protocol library the way the kernel glue is meant to use it:
//! parse → resolve → status/redirect/304/file (200, 206 or 416)/listing → head → body
//! (chunked, maybe compressed). An in-memory tree stands in for the file system and flate2's raw
//! deflate for the kernel's compressor; a small client decodes what was sent.

use flate2::{Compress, Compression, FlushCompress};
use khttpd::http::compress::{self, Encoding, Framing};
use khttpd::http::conditional::{self, Outcome};
use khttpd::http::etag::ETag;
use khttpd::http::html::{Entry, Listing};
use khttpd::http::parser::{self, Status};
use khttpd::http::response::{self, Body, ContentRange, Head};
use khttpd::http::status::StatusCode;
use khttpd::http::{chunked, mime, path, Writer};
use std::collections::BTreeMap;
use std::io::Read;

const NOW: i64 = 1_700_000_000;
const MTIME: i64 = 1_600_000_000;
/// Inode number of every file in the stand-in tree.
const INO: u64 = 7;
/// Small send buffer, so listings and files span several chunks.
const SEND_BUF: usize = 4096;

enum Node {
    File(Vec<u8>),
    Dir,
}

struct Tree(BTreeMap<Vec<u8>, Node>);

impl Tree {
    fn sample() -> Tree {
        let mut t = BTreeMap::new();
        t.insert(b"".to_vec(), Node::Dir);
        t.insert(b"index.html".to_vec(), Node::File(b"<h1>hello</h1>\n".repeat(200)));
        t.insert(b"logo.png".to_vec(), Node::File(vec![0x89; 3000]));
        t.insert(b"docs".to_vec(), Node::Dir);
        for i in 0..120 {
            t.insert(format!("docs/note <{i}> & more.txt").into_bytes(), Node::File(vec![b'x'; i * 100]));
        }
        t.insert(b"docs/sub".to_vec(), Node::Dir);
        Tree(t)
    }

    fn children(&self, dir: &[u8]) -> Vec<(Vec<u8>, bool, u64)> {
        let prefix = if dir.is_empty() { Vec::new() } else { [dir, b"/"].concat() };
        self.0
            .iter()
            .filter_map(|(k, n)| {
                let name = k.strip_prefix(&prefix[..])?;
                if name.is_empty() || name.contains(&b'/') || k.is_empty() {
                    return None;
                }
                Some(match n {
                    Node::File(d) => (name.to_vec(), false, d.len() as u64),
                    Node::Dir => (name.to_vec(), true, 0),
                })
            })
            .collect()
    }
}

/// Stand-in for the kernel's streaming raw-deflate transform plus our framing.
struct Compressor {
    deflate: Compress,
    framing: Framing,
}

impl Compressor {
    fn new(encoding: Encoding) -> Self {
        Compressor { deflate: Compress::new(Compression::default(), false), framing: Framing::new(encoding) }
    }
    fn feed(&mut self, plain: &[u8], finish: bool) -> Vec<u8> {
        self.framing.update(plain);
        let mut out = Vec::with_capacity(plain.len() + 64);
        if self.deflate.total_in() == 0 && self.deflate.total_out() == 0 {
            out.extend_from_slice(self.framing.header());
        }
        let flush = if finish { FlushCompress::Finish } else { FlushCompress::None };
        let mut input = plain;
        loop {
            let before_in = self.deflate.total_in();
            let mut tmp = Vec::with_capacity(8192);
            let status = self.deflate.compress_vec(input, &mut tmp, flush).unwrap();
            input = &input[(self.deflate.total_in() - before_in) as usize..];
            out.extend_from_slice(&tmp);
            if status == flate2::Status::StreamEnd || (!finish && input.is_empty() && tmp.len() < 8192) {
                break;
            }
        }
        if finish {
            out.extend_from_slice(self.framing.trailer().as_bytes());
        }
        out
    }
}

/// Sends `data` as one or more chunks through a small buffer, framing in place.
fn send_chunked(out: &mut Vec<u8>, data: &[u8]) {
    let mut buf = [0u8; SEND_BUF];
    for piece in data.chunks(SEND_BUF - chunked::HEADROOM - chunked::TAILROOM) {
        let area = chunked::payload_area(&mut buf);
        area[..piece.len()].copy_from_slice(piece);
        let range = chunked::frame_in_place(&mut buf, piece.len()).unwrap();
        out.extend_from_slice(&buf[range]);
    }
}

/// Handles the first request in `input`: returns (bytes consumed, response, keep open),
/// or `None` when more bytes are needed.
fn serve(tree: &Tree, input: &[u8]) -> Option<(usize, Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut head_buf = [0u8; 1024];
    let mut w = Writer::new(&mut head_buf);
    let page = |status, keep_alive, head_only, w: &mut Writer<'_>| {
        response::write_status_page(status, keep_alive, Some(NOW), head_only, w).unwrap()
    };

    let (req, consumed) = match parser::parse(input) {
        Ok(Status::Complete(r, n)) => (r, n),
        Ok(Status::Partial) => return None,
        Err(e) => {
            page(e.status(), false, false, &mut w);
            return Some((input.len(), w.written().to_vec(), false));
        }
    };
    let ka = req.keep_alive();
    let head_only = req.is_head();
    if let Some(status) = req.method().rejection() {
        let open = page(status, ka, false, &mut w);
        return Some((consumed, w.written().to_vec(), open));
    }
    let mut path_buf = [0u8; path::MAX_PATH];
    let resolved = match path::resolve(req.target(), &mut path_buf) {
        Ok(p) => p,
        Err(e) => {
            let open = page(e.status(), ka, head_only, &mut w);
            return Some((consumed, w.written().to_vec(), open));
        }
    };
    let node = tree.0.get(resolved.rel);
    let open = match node {
        None => page(StatusCode::NotFound, ka, head_only, &mut w),
        Some(Node::Dir) if !resolved.trailing_slash => {
            response::write_redirect_to_dir(resolved.rel, ka, Some(NOW), head_only, &mut w).unwrap()
        }
        Some(Node::Dir) => {
            let encoding = compress::negotiate(req.accept_encoding(), true);
            let mut head = Head::new(StatusCode::Ok, Body::streaming(req.version()));
            head.date = Some(NOW);
            head.content_type = Some(mime::HTML_TYPE);
            head.encoding = encoding;
            head.vary_accept_encoding = true;
            head.keep_alive = ka;
            response::write_head(&head, &mut w).unwrap();
            let open = head.keeps_alive();
            out.extend_from_slice(w.written());
            if !head_only {
                let children = tree.children(resolved.rel);
                let mut entries: Vec<Entry<'_>> = children
                    .iter()
                    .map(|(n, d, s)| Entry { name: n, is_dir: *d, size: *s, mtime: MTIME })
                    .collect();
                let mut listing = Listing::new(resolved.rel, &mut entries);
                let mut comp = (encoding != Encoding::Identity).then(|| Compressor::new(encoding));
                let chunked_body = head.body == Body::Chunked;
                while !listing.is_done() {
                    let mut buf = [0u8; SEND_BUF];
                    let area = chunked::payload_area(&mut buf);
                    let mut pw = Writer::new(area);
                    listing.fill(&mut pw).unwrap();
                    let n = pw.len();
                    let data = match comp.as_mut() {
                        Some(c) => c.feed(&buf[chunked::HEADROOM..][..n], listing.is_done()),
                        None if chunked_body => {
                            let r = chunked::frame_in_place(&mut buf, n).unwrap();
                            out.extend_from_slice(&buf[r]);
                            continue;
                        }
                        None => buf[chunked::HEADROOM..][..n].to_vec(),
                    };
                    if chunked_body {
                        send_chunked(&mut out, &data);
                    } else {
                        out.extend_from_slice(&data);
                    }
                }
                if chunked_body {
                    out.extend_from_slice(chunked::LAST_CHUNK);
                }
            }
            return Some((consumed, out, open));
        }
        Some(Node::File(data)) => {
            let size = data.len() as u64;
            let ct = mime::content_type(resolved.rel);
            let compressible = compress::worth_compressing(ct, size);
            // What a 200 would be coded with: its tag is also the one a 304 carries.
            let encoding = compress::negotiate(req.accept_encoding(), compressible);
            let tag = ETag::for_file(INO, size, MTIME, 0, NOW);
            match conditional::evaluate(&req, &tag, MTIME, size, NOW) {
                Outcome::NotModified => {
                    let mut head = Head::new(StatusCode::NotModified, Body::None);
                    head.date = Some(NOW);
                    head.last_modified = Some(MTIME);
                    head.etag = Some(tag.for_encoding(encoding));
                    head.vary_accept_encoding = compressible;
                    head.keep_alive = ka;
                    response::write_head(&head, &mut w).unwrap();
                    head.keeps_alive()
                }
                Outcome::Unsatisfiable => {
                    response::write_range_not_satisfiable(size, ka, Some(NOW), head_only, &mut w).unwrap()
                }
                Outcome::Partial(range) => {
                    // Always the identity representation, with its own tag.
                    let mut head = Head::new(StatusCode::PartialContent, Body::Length(range.len()));
                    head.date = Some(NOW);
                    head.content_type = Some(ct);
                    head.last_modified = Some(MTIME);
                    head.etag = Some(tag);
                    head.accept_ranges = true;
                    head.content_range = Some(ContentRange::Bytes { range, complete_length: size });
                    head.vary_accept_encoding = compressible;
                    head.keep_alive = ka;
                    response::write_head(&head, &mut w).unwrap();
                    out.extend_from_slice(w.written());
                    if !head_only {
                        out.extend_from_slice(&data[range.first as usize..=range.last as usize]);
                    }
                    return Some((consumed, out, head.keeps_alive()));
                }
                Outcome::Full => {
                    let body = if encoding == Encoding::Identity {
                        Body::Length(size)
                    } else {
                        Body::streaming(req.version())
                    };
                    let mut head = Head::new(StatusCode::Ok, body);
                    head.date = Some(NOW);
                    head.content_type = Some(ct);
                    head.last_modified = Some(MTIME);
                    head.etag = Some(tag.for_encoding(encoding));
                    // Ranges are of the identity representation: only offered with it.
                    head.accept_ranges = encoding == Encoding::Identity;
                    head.encoding = encoding;
                    head.vary_accept_encoding = compressible;
                    head.keep_alive = ka;
                    response::write_head(&head, &mut w).unwrap();
                    out.extend_from_slice(w.written());
                    if !head_only {
                        match body {
                            Body::Length(_) => out.extend_from_slice(data),
                            _ => {
                                let mut c = Compressor::new(encoding);
                                let mut z = Vec::new();
                                for (i, part) in data.chunks(1000).enumerate() {
                                    z.extend(c.feed(part, (i + 1) * 1000 >= data.len()));
                                }
                                if body == Body::Chunked {
                                    send_chunked(&mut out, &z);
                                    out.extend_from_slice(chunked::LAST_CHUNK);
                                } else {
                                    out.extend_from_slice(&z);
                                }
                            }
                        }
                    }
                    return Some((consumed, out, head.keeps_alive()));
                }
            }
        }
    };
    out.extend_from_slice(w.written());
    Some((consumed, out, open))
}

/// What a client sees.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Decodes one response from `raw` (framing and content coding); returns it and the
/// bytes it used.
fn decode(raw: &[u8], head_only: bool) -> (Response, usize) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "));
    let status: u16 = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    let mut r = Response { status, headers, body: Vec::new() };
    let mut pos = end;
    if !head_only && status != 304 {
        if let Some(len) = r.header("Content-Length") {
            let len: usize = len.parse().unwrap();
            r.body = raw[pos..pos + len].to_vec();
            pos += len;
        } else if r.header("Transfer-Encoding") == Some("chunked") {
            loop {
                let nl = raw[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
                let size = usize::from_str_radix(std::str::from_utf8(&raw[pos..pos + nl]).unwrap(), 16).unwrap();
                pos += nl + 2;
                if size == 0 {
                    assert_eq!(&raw[pos..pos + 2], b"\r\n");
                    pos += 2;
                    break;
                }
                r.body.extend_from_slice(&raw[pos..pos + size]);
                pos += size;
                assert_eq!(&raw[pos..pos + 2], b"\r\n");
                pos += 2;
            }
        } else {
            assert_eq!(r.header("Connection"), Some("close"));
            r.body = raw[pos..].to_vec();
            pos = raw.len();
        }
        let mut plain = Vec::new();
        match r.header("Content-Encoding") {
            Some("gzip") => {
                flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut plain).unwrap();
                r.body = plain;
            }
            Some("deflate") => {
                flate2::read::ZlibDecoder::new(&r.body[..]).read_to_end(&mut plain).unwrap();
                r.body = plain;
            }
            _ => {}
        }
    }
    (r, pos)
}

fn get(tree: &Tree, request: &str) -> (Response, bool) {
    let (consumed, raw, open) = serve(tree, request.as_bytes()).expect("complete request");
    assert_eq!(consumed, request.len());
    let head_only = request.starts_with("HEAD ");
    let (r, used) = decode(&raw, head_only);
    assert_eq!(used, raw.len(), "response has trailing bytes");
    (r, open)
}

#[test]
fn plain_file() {
    let t = Tree::sample();
    let (r, open) = get(&t, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(open);
    assert_eq!(r.body, b"<h1>hello</h1>\n".repeat(200));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("Last-Modified"), Some("Sun, 13 Sep 2020 12:26:40 GMT"));
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("Server"), Some("khttpd-rs"));
}

#[test]
fn compressed_file() {
    let t = Tree::sample();
    for (ae, coding) in [("gzip", "gzip"), ("deflate", "deflate"), ("gzip;q=0.1, deflate;q=0.9", "deflate")] {
        let (r, _) = get(&t, &format!("GET /index.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {ae}\r\n\r\n"));
        assert_eq!(r.header("Content-Encoding"), Some(coding));
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(r.body, b"<h1>hello</h1>\n".repeat(200));
    }
    // HTTP/1.0: no chunked; the body ends with the connection.
    let (r, open) = get(&t, "GET /index.html HTTP/1.0\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n");
    assert!(!open);
    assert_eq!(r.header("Transfer-Encoding"), None);
    assert_eq!(r.body, b"<h1>hello</h1>\n".repeat(200));
    // Images are sent as they are.
    let (r, _) = get(&t, "GET /logo.png HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.header("Content-Length"), Some("3000"));
}

#[test]
fn conditional_and_head() {
    let t = Tree::sample();
    let (r, open) = get(&t, "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n");
    assert_eq!(r.status, 304);
    assert!(open);
    assert!(r.body.is_empty());
    let (r, _) = get(&t, "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:39 GMT\r\n\r\n");
    assert_eq!(r.status, 200);
    let (r, _) = get(&t, "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("3000"));
    assert!(r.body.is_empty());
}

const INDEX_TAG: &str = "\"7-bb8-5f5e1000-0\"";
const INDEX_TAG_GZIP: &str = "\"7-bb8-5f5e1000-0-gzip\"";

#[test]
fn etags_and_if_none_match() {
    let t = Tree::sample();
    let (r, _) = get(&t, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("ETag"), Some(INDEX_TAG));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let (r, _) = get(&t, "GET /index.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    assert_eq!(r.header("ETag"), Some(INDEX_TAG_GZIP));
    assert_eq!(r.header("Accept-Ranges"), None);
    let (r, _) = get(&t, "GET /logo.png HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("ETag"), Some("\"7-bb8-5f5e1000-0\""));

    // 304 carries the tag a 200 would have had.
    for (ae, inm, tag) in [
        ("", INDEX_TAG, INDEX_TAG),
        ("", "W/\"7-bb8-5f5e1000-0\"", INDEX_TAG),
        ("Accept-Encoding: gzip\r\n", INDEX_TAG_GZIP, INDEX_TAG_GZIP),
        // A cache holding the identity copy may reuse it even if gzip would be sent.
        ("Accept-Encoding: gzip\r\n", INDEX_TAG, INDEX_TAG_GZIP),
        ("", "\"other\", \"7-bb8-5f5e1000-0\"", INDEX_TAG),
    ] {
        let (r, open) = get(&t, &format!("GET /index.html HTTP/1.1\r\nHost: x\r\n{ae}If-None-Match: {inm}\r\n\r\n"));
        assert_eq!(r.status, 304, "{inm}");
        assert!(open);
        assert_eq!(r.header("ETag"), Some(tag));
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
        assert!(r.body.is_empty());
    }
    // `*` mixed with tags is malformed: no match, and If-Modified-Since is not
    // consulted either.
    let (r, _) = get(
        &t,
        "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", *\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let (r, _) = get(
        &t,
        "HEAD /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"nope\"\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let (r, _) = get(&t, "HEAD /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n");
    assert_eq!(r.status, 304);
}

#[test]
fn range_requests() {
    let t = Tree::sample();
    let index = b"<h1>hello</h1>\n".repeat(200);
    let ranged = |range: &str, extra: &str| {
        get(&t, &format!("GET /index.html HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n{extra}\r\n")).0
    };

    for (range, first, last) in [
        ("bytes=0-9", 0, 9),
        ("bytes=2990-", 2990, 2999),
        ("bytes=-15", 2985, 2999),
        ("bytes=100-99999", 100, 2999),
        ("bytes=0-0, 1-1, 2-20", 0, 20),
    ] {
        let r = ranged(range, "");
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("Content-Range").unwrap(), format!("bytes {first}-{last}/3000"));
        assert_eq!(r.header("Content-Length").unwrap(), (last - first + 1).to_string());
        assert_eq!(r.body, &index[first..=last]);
        assert_eq!(r.header("ETag"), Some(INDEX_TAG));
        assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
        assert_eq!(r.header("Last-Modified"), Some("Sun, 13 Sep 2020 12:26:40 GMT"));
        // Compression is not applied to ranges.
        let r = ranged(range, "Accept-Encoding: gzip\r\n");
        assert_eq!(r.status, 206);
        assert_eq!(r.header("Content-Encoding"), None);
        assert_eq!(r.header("ETag"), Some(INDEX_TAG));
        assert_eq!(r.body, &index[first..=last]);
    }

    // Unsatisfiable: 416 with the complete length and the status page.
    let r = ranged("bytes=3000-", "");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */3000"));
    assert!(String::from_utf8(r.body).unwrap().contains("<h1>416 Range Not Satisfiable</h1>"));

    // Ignored: whole file with 200 (and compression when asked for).
    for (range, extra) in [
        ("bytes=0-9, 20-29", ""),
        ("bytes=9-0", ""),
        ("lines=1-2", ""),
        ("bytes=0-9", "If-Range: \"stale\"\r\n"),
        ("bytes=0-9", "If-Range: W/\"7-bb8-5f5e1000-0\"\r\n"),
        ("bytes=3000-", "If-Range: Sun, 13 Sep 2020 12:26:39 GMT\r\n"),
    ] {
        let r = ranged(range, extra);
        assert_eq!(r.status, 200, "{range} {extra}");
        assert_eq!(r.body, index);
        assert_eq!(r.header("Content-Range"), None);
    }
    // If-Range with the gzip variant's tag: that representation is gone from a range
    // point of view, so the whole (compressed) file is sent.
    let r = ranged("bytes=0-9", &format!("If-Range: {INDEX_TAG_GZIP}\r\nAccept-Encoding: gzip\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.body, index);

    // If-Range that matches: the range.
    for validator in [INDEX_TAG, "Sun, 13 Sep 2020 12:26:40 GMT"] {
        let r = ranged("bytes=10-19", &format!("If-Range: {validator}\r\n"));
        assert_eq!(r.status, 206, "{validator}");
        assert_eq!(r.body, &index[10..20]);
    }

    // HEAD ignores Range; a 304 wins over it.
    let (r, _) = get(&t, "HEAD /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("3000"));
    let r = ranged("bytes=0-9", &format!("If-None-Match: {INDEX_TAG}\r\n"));
    assert_eq!(r.status, 304);

    // Empty files: nothing to range over.
    let mut t = Tree::sample();
    t.0.insert(b"empty.txt".to_vec(), Node::File(Vec::new()));
    let (r, _) = get(&t, "GET /empty.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */0"));
    let (r, _) = get(&t, "GET /empty.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("0"));
}

#[test]
fn directory_listing() {
    let t = Tree::sample();
    let (r, _) = get(&t, "GET /docs HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/docs/"));

    for ae in ["", "Accept-Encoding: gzip\r\n", "Accept-Encoding: deflate\r\n"] {
        let (r, open) = get(&t, &format!("GET /docs/ HTTP/1.1\r\nHost: x\r\n{ae}\r\n"));
        assert_eq!(r.status, 200);
        assert!(open);
        let page = String::from_utf8(r.body).unwrap();
        assert!(page.contains("<title>Index of /docs/</title>"));
        assert!(page.contains("<a href=\"../\">../</a>"));
        assert!(page.contains("<a href=\"sub/\">sub/</a>"));
        assert!(page.contains(
            "<a href=\"note%20%3C7%3E%20%26%20more.txt\">note &lt;7&gt; &amp; more.txt</a></td><td class=\"s\">700 B</td>"
        ));
        assert_eq!(page.matches("<tr>").count(), 1 + 1 + 121);
        assert!(page.ends_with("</html>\n"));
    }
    let (r, open) = get(&t, "GET / HTTP/1.0\r\n\r\n");
    assert!(!open);
    assert!(String::from_utf8(r.body).unwrap().contains("<a href=\"docs/\">docs/</a>"));
}

#[test]
fn errors() {
    let t = Tree::sample();
    let cases = [
        ("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 404, true),
        // 400 always closes, even when the request itself was well framed.
        ("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, false),
        ("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, false),
        ("GET /%252e%252e/ HTTP/1.1\r\nHost: x\r\n\r\n", 404, true),
        ("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 405, true),
        ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, true),
        ("GET / HTTP/1.1\r\n\r\n", 400, false),
        ("GET / HTTP/2.0\r\n\r\n", 505, false),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", 413, false),
        ("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501, false),
    ];
    for (req, status, stays_open) in cases {
        let (r, open) = get(&t, req);
        assert_eq!(r.status, status, "{req:?}");
        assert_eq!(open, stays_open, "{req:?}");
        if status == 405 || status == 501 {
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
        assert!(String::from_utf8(r.body).unwrap().contains(&format!("<h1>{status} ")));
    }
}

#[test]
fn pipelined_and_split_input() {
    let t = Tree::sample();
    let stream = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nHEAD /docs/ HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Bytes arrive in odd-sized pieces; the connection buffer keeps the leftovers.
    let mut conn = Vec::new();
    let mut statuses = Vec::new();
    let mut last_open = true;
    for piece in stream.chunks(7) {
        conn.extend_from_slice(piece);
        while let Some((used, raw, open)) = serve(&t, &conn) {
            let head_only = conn.starts_with(b"HEAD ");
            statuses.push(decode(&raw, head_only).0.status);
            conn.drain(..used);
            last_open = open;
        }
    }
    assert_eq!(statuses, vec![200, 200, 404]);
    assert!(!last_open);
    assert!(conn.is_empty());
}
