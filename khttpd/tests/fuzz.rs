//! Fuzz-style robustness tests: random and mutated inputs for every entry point that
//! sees network data or caller data. The library must never panic (the tests run with
//! overflow checks on), and its results must satisfy basic invariants.
//!
//! Deterministic: a fixed-seed PRNG, so a failure reproduces.

use khttpd::http::compress::{negotiate, AcceptEncoding, Encoding, Framing};
use khttpd::http::conditional::{self, Outcome};
use khttpd::http::etag::{self, ETag};
use khttpd::http::html::{self, Entry, Listing};
use khttpd::http::parser::{self, Method, Status};
use khttpd::http::path;
use khttpd::http::range::{self, ByteRange, Ranges, MAX_RANGES};
use khttpd::http::response::{self, Body, ContentRange, Head};
use khttpd::http::status::StatusCode;
use khttpd::http::{chunked, date, mime, Writer};

use testrng::Rng;

/// HTTP-minded draws on top of the shared test generator.
trait HttpFuzz {
    fn bytes(&mut self, max_len: usize) -> Vec<u8>;
    fn byte(&mut self) -> u8;
    fn mutate_one(&mut self, samples: &[&[u8]]) -> Vec<u8>;
    fn mutate(&mut self, input: &[u8]) -> Vec<u8>;
}

impl HttpFuzz for Rng {
    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.byte()).collect()
    }
    /// Bytes biased towards the ones that matter to HTTP parsers.
    fn byte(&mut self) -> u8 {
        const INTERESTING: &[u8] = b"\r\n \t:/%.?#\\\x00\x7f\xff\xc3\xa9,;=\"'<>&0123456789aAfFgG";
        if self.chance(2) {
            *self.pick(INTERESTING)
        } else {
            self.next() as u8
        }
    }
    /// A random sample with random edits.
    fn mutate_one(&mut self, samples: &[&[u8]]) -> Vec<u8> {
        let base = *self.pick(samples);
        self.mutate(base)
    }
    /// Applies a few random edits.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(v.len() + 1);
            match self.below(6) {
                0 if at < v.len() => v[at] = self.byte(),
                1 => v.insert(at, self.byte()),
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => v.truncate(at),
                4 => {
                    // Duplicate a slice (repeats headers, escapes, separators).
                    let len = self.below(16);
                    let end = (at + len).min(v.len());
                    let piece = v[at..end].to_vec();
                    let to = self.below(v.len() + 1);
                    v.splice(to..to, piece);
                }
                _ => {
                    let b = self.byte();
                    let n = self.below(8);
                    v.splice(at..at, std::iter::repeat(b).take(n));
                }
            }
        }
        v
    }
}

const SEED: u64 = 0x1234_5678_9ABC_DEF1;

const REQUESTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /a/b%20c.html?x=1 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip;q=0.5, deflate, *;q=0\r\nConnection: keep-alive, Upgrade\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    b"HEAD /x HTTP/1.0\nConnection: keep-alive\n\n",
    b"\r\nGET http://host/%2e%2e/x HTTP/1.1\r\nHost: host\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=0-99, 200-\r\nIf-Range: \"1-2-3-4\"\r\nIf-None-Match: \"a\", W/\"b\"\r\n\r\n",
];

/// Checks what a successful parse promises.
fn check_request(buf: &[u8], req: &parser::Request<'_>, consumed: usize) {
    assert!(consumed > 0 && consumed <= buf.len());
    let range = buf.as_ptr_range();
    let inside = |s: &[u8]| {
        let r = s.as_ptr_range();
        s.is_empty() || (r.start >= range.start && r.end <= range.end)
    };
    assert!(inside(req.target()));
    assert!(!req.target().is_empty());
    assert!(req.header_count() <= parser::MAX_HEADERS);
    for (n, v) in req.headers() {
        assert!(inside(n) && inside(v));
        assert!(!n.is_empty());
        assert!(!v.contains(&b'\r') && !v.contains(&b'\n'));
    }
    let _ = req.if_modified_since_time();
    let _ = (req.range(), req.if_range(), req.has_if_none_match(), req.if_none_match().count());
    let _ = negotiate(req.accept_encoding(), true);
    let _ = req.method().rejection();
    // Every strict prefix of a complete request is merely incomplete: early
    // rejection never refuses what would have been valid.
    for cut in [0, consumed / 3, consumed / 2, consumed - 1] {
        assert_eq!(parser::parse(&buf[..cut]), Ok(Status::Partial));
    }
}

fn run_parse(buf: &[u8]) {
    let mut off = 0;
    // Pipelined: keep parsing what follows each complete request.
    for _ in 0..8 {
        match parser::parse(&buf[off..]) {
            Ok(Status::Complete(req, n)) => {
                check_request(&buf[off..], &req, n);
                off += n;
            }
            Ok(Status::Partial) => break,
            Err(e) => {
                let _ = e.status();
                break;
            }
        }
    }
}

#[test]
fn parser_never_panics() {
    let mut rng = Rng::new(SEED);
    for _ in 0..20_000 {
        let buf = rng.bytes(200);
        run_parse(&buf);
    }
    for _ in 0..30_000 {
        let buf = rng.mutate_one(REQUESTS);
        run_parse(&buf);
    }
    // Large inputs around the limits.
    for _ in 0..40 {
        let mut buf = b"GET /".to_vec();
        let n = rng.below(30_000);
        buf.extend((0..n).map(|_| if rng.chance(300) { b'\n' } else { b'a' }));
        run_parse(&buf);
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for _ in 0..rng.below(60) {
            buf.extend_from_slice(b"X: ");
            buf.extend(std::iter::repeat(b'v').take(rng.below(2000)));
            buf.extend_from_slice(if rng.chance(2) { b"\r\n" } else { b"\n" });
        }
        if rng.chance(2) {
            buf.extend_from_slice(b"\r\n");
        }
        run_parse(&buf);
    }
}

#[test]
fn parser_byte_by_byte_agrees_with_one_shot() {
    let mut rng = Rng::new(SEED ^ 1);
    for _ in 0..300 {
        let buf = rng.mutate_one(REQUESTS);
        let whole = parser::parse(&buf);
        // Feeding the same bytes one at a time: the first non-Partial answer must be
        // the same as parsing everything at once, unless it came from a prefix error.
        let mut first = None;
        for end in 0..=buf.len() {
            let r = parser::parse(&buf[..end]);
            if r != Ok(Status::Partial) {
                first = Some((end, r));
                break;
            }
        }
        match (first, &whole) {
            (None, w) => assert_eq!(*w, Ok(Status::Partial)),
            (Some((_, Ok(Status::Complete(_, n1)))), Ok(Status::Complete(_, n2))) => assert_eq!(n1, *n2),
            (Some((_, Err(_))), Err(_)) => {}
            (Some((end, r)), w) => panic!("prefix {end} gave {r:?}, whole gave {w:?}"),
        }
    }
}

const TARGETS: &[&[u8]] = &[
    b"/",
    b"/a/b/c.html",
    b"/%2e%2e/%2E%2e/x",
    b"/%252e%252e/",
    b"/..%2f..%5c",
    b"http://host/x?y#z",
    b"/caf%C3%A9//dir/",
    b"/a%00b",
];

fn check_path(target: &[u8]) {
    let mut out = vec![0u8; 1 + target.len() % 300];
    match path::resolve(target, &mut out) {
        Ok(r) => {
            assert!(r.rel.len() <= path::MAX_PATH);
            assert!(!r.rel.starts_with(b"/") && !r.rel.ends_with(b"/"));
            assert!(!r.rel.contains(&0) && !r.rel.contains(&b'\\'));
            assert!(r.rel.iter().all(|&b| b >= 0x20 && b != 0x7f));
            let segs: Vec<&[u8]> = r.rel.split(|&b| b == b'/').collect();
            if !r.rel.is_empty() {
                assert!(segs.len() <= path::MAX_SEGMENTS);
                for s in segs {
                    assert!(!s.is_empty() && s != b"." && s != b"..");
                    assert!(s.len() <= path::MAX_SEGMENT);
                }
            }
        }
        Err(e) => {
            let code = e.status().code();
            assert!(code == 400 || code == 414);
        }
    }
    let _ = path::path_part(target);
    let mut dec = vec![0u8; target.len() % 50];
    let _ = path::percent_decode(target, &mut dec);
    let mut buf = vec![0u8; target.len() % 40];
    let mut w = Writer::new(&mut buf);
    if path::encode_path_segment(target, &mut w).is_ok() {
        assert!(w.written().iter().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(b)));
    }
}

#[test]
fn path_never_panics() {
    let mut rng = Rng::new(SEED ^ 2);
    for _ in 0..20_000 {
        check_path(&rng.bytes(100));
    }
    for _ in 0..40_000 {
        let t = rng.mutate_one(TARGETS);
        check_path(&t);
    }
}

#[test]
fn dates_never_panic() {
    let mut rng = Rng::new(SEED ^ 3);
    let samples: &[&[u8]] = &[
        b"Sun, 06 Nov 1994 08:49:37 GMT",
        b"Sunday, 06-Nov-94 08:49:37 GMT",
        b"Sun Nov  6 08:49:37 1994",
    ];
    for _ in 0..50_000 {
        let s = if rng.chance(4) { rng.bytes(40) } else { rng.mutate_one(samples) };
        if let Some(t) = date::parse_http_date(&s) {
            assert!((date::MIN_TIME..=date::MAX_TIME + 1).contains(&t));
        }
    }
    for _ in 0..20_000 {
        let t = rng.next() as i64;
        let s = date::imf_fixdate(t);
        let back = date::parse_http_date(&s).unwrap();
        assert_eq!(back, t.clamp(date::MIN_TIME, date::MAX_TIME));
        let mut buf = [0u8; 20];
        let mut w = Writer::new(&mut buf[..rng.below(21)]);
        let _ = date::write_short(t, &mut w);
    }
}

#[test]
fn small_parsers_never_panic() {
    let mut rng = Rng::new(SEED ^ 4);
    let ae_samples: &[&[u8]] = &[b"gzip;q=0.5, deflate;q=1.0, *;q=0", b"x-gzip, identity;q=0.001"];
    for _ in 0..30_000 {
        let v = if rng.chance(3) { rng.bytes(60) } else { rng.mutate_one(ae_samples) };
        let ae = AcceptEncoding::parse(&v);
        for e in [Encoding::Identity, Encoding::Gzip, Encoding::Deflate] {
            assert!(ae.q(e) <= 1000);
        }
        let _ = negotiate(&ae, rng.chance(2));
        let name = rng.bytes(30);
        let ct = mime::content_type(&name);
        assert!(!ct.is_empty());
        let _ = khttpd::http::compress::is_compressible(std::str::from_utf8(&v).unwrap_or(""));
    }
}

#[test]
fn html_never_panics_and_stays_well_formed() {
    let mut rng = Rng::new(SEED ^ 5);
    for round in 0..400 {
        let names: Vec<Vec<u8>> = (0..rng.below(30)).map(|_| rng.bytes(40)).collect();
        let mut entries: Vec<Entry<'_>> = names
            .iter()
            .map(|n| Entry {
                name: n,
                is_dir: rng.chance(3),
                size: rng.next() >> rng.below(64),
                mtime: rng.next() as i64,
            })
            .collect();
        let dir = rng.bytes(if round % 50 == 0 { 5000 } else { 60 });
        let cap = html::MIN_FILL_BUFFER + rng.below(3000);
        let mut listing = Listing::new(&dir, &mut entries);
        let mut page = Vec::new();
        let mut rounds = 0;
        while !listing.is_done() {
            let mut buf = vec![0u8; cap];
            let mut w = Writer::new(&mut buf);
            listing.fill(&mut w).unwrap();
            assert!(!w.is_empty() || listing.is_done());
            page.extend_from_slice(w.written());
            rounds += 1;
            assert!(rounds < 10_000);
        }
        let page = String::from_utf8(page).expect("listing is UTF-8");
        // Names and the path only ever appear escaped: the only tags are ours.
        let tags = page.matches('<').count();
        let rows = page.matches("<tr>").count();
        assert!(tags >= rows);
        for tag in page.split('<').skip(1) {
            let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '!').collect();
            assert!(
                [
                    "!DOCTYPE", "html", "head", "meta", "title", "/title", "style", "/style", "/head", "body", "h1",
                    "/h1", "table", "thead", "tr", "th", "/th", "/tr", "/thead", "tbody", "td", "a", "/a", "/td",
                    "/tbody", "/table", "hr", "address", "/address", "/body", "/html"
                ]
                .contains(&name.as_str()),
                "unexpected tag {name:?}"
            );
        }
        // Random small buffers for the atomic pieces.
        for e in &entries {
            let mut buf = vec![0u8; rng.below(300)];
            let mut w = Writer::new(&mut buf);
            let _ = html::render_entry(e, &mut w);
            let mut w = Writer::new(&mut buf);
            let _ = html::escape(e.name, &mut w);
        }
        let mut buf = vec![0u8; rng.below(3000)];
        let mut w = Writer::new(&mut buf);
        let _ = html::render_header(&dir, &mut w);
        let mut w = Writer::new(&mut buf);
        let _ = html::write_size(rng.next(), &mut w);
    }
}

#[test]
fn responses_never_panic_nor_split_headers() {
    let mut rng = Rng::new(SEED ^ 6);
    let statuses: Vec<StatusCode> = [200, 206, 301, 304, 400, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 503, 505]
        .iter()
        .map(|&c| StatusCode::from_code(c).unwrap())
        .collect();
    for _ in 0..20_000 {
        let status = *rng.pick(&statuses);
        let dir = rng.bytes(40);
        let ct_bytes = rng.bytes(30);
        let ct = String::from_utf8_lossy(&ct_bytes).into_owned();
        let body = match rng.below(4) {
            0 => Body::Length(rng.next()),
            1 => Body::Chunked,
            2 => Body::UntilClose,
            _ => Body::None,
        };
        let mut head = Head::new(status, body);
        head.date = rng.chance(2).then(|| rng.next() as i64);
        head.last_modified = rng.chance(2).then(|| rng.next() as i64);
        head.content_type = rng.chance(2).then_some(ct.as_str());
        head.encoding = *rng.pick(&[Encoding::Identity, Encoding::Gzip, Encoding::Deflate]);
        head.keep_alive = rng.chance(2);
        head.location_dir = rng.chance(3).then_some(&dir[..]);
        head.etag = rng.chance(2).then(|| random_etag(&mut rng));
        head.accept_ranges = rng.chance(2);
        head.content_range = match rng.below(3) {
            0 => None,
            1 => Some(ContentRange::Unsatisfied { complete_length: rng.next() }),
            _ => {
                let (a, b) = (rng.next(), rng.next());
                let range = ByteRange { first: a.min(b), last: a.max(b) };
                Some(ContentRange::Bytes { range, complete_length: range.last.saturating_add(1) })
            }
        };
        let mut buf = vec![0u8; rng.below(900)];
        let mut w = Writer::new(&mut buf);
        if response::write_head(&head, &mut w).is_ok() {
            let text = w.written();
            assert!(text.ends_with(b"\r\n\r\n"));
            // Every line is a header; no stray CR or LF from caller data.
            let crlf = text.windows(2).filter(|p| p == b"\r\n").count();
            let cr = text.iter().filter(|&&b| b == b'\r').count();
            let lf = text.iter().filter(|&&b| b == b'\n').count();
            assert!(crlf == cr && crlf == lf);
            for line in text.split(|&b| b == b'\n').skip(1) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                assert!(line.is_empty() || line.contains(&b':'));
            }
        } else {
            assert!(w.is_empty());
        }
        let mut w = Writer::new(&mut buf);
        let _ = response::write_status_page(status, rng.chance(2), Some(rng.next() as i64), rng.chance(2), &mut w);
        let mut w = Writer::new(&mut buf);
        let _ = response::write_redirect_to_dir(&dir, true, None, false, &mut w);
        let mut w = Writer::new(&mut buf);
        if response::write_range_not_satisfiable(rng.next(), rng.chance(2), None, rng.chance(2), &mut w).is_err() {
            assert!(w.is_empty());
        }
    }
}

#[test]
fn framing_and_chunks_never_panic() {
    let mut rng = Rng::new(SEED ^ 7);
    for _ in 0..5_000 {
        let mut f = Framing::new(*rng.pick(&[Encoding::Identity, Encoding::Gzip, Encoding::Deflate]));
        for _ in 0..rng.below(5) {
            f.update(&rng.bytes(300));
        }
        assert!(f.trailer().as_bytes().len() <= 8);
        let mut buf = vec![0u8; rng.below(200)];
        let len = rng.below(250);
        if let Ok(r) = chunked::frame_in_place(&mut buf, len) {
            assert!(r.end <= buf.len());
        }
        let area_len = chunked::payload_area(&mut buf).len();
        assert!(area_len <= buf.len());
        let mut w = Writer::new(&mut buf);
        let _ = chunked::write_chunk(&rng.bytes(100), &mut w);
        let _ = chunked::write_chunk_header(rng.next() as usize, &mut w);
    }
}

/// A number for a range spec: small, near a size, near u64::MAX, or very long.
fn range_number(rng: &mut Rng, size: u64) -> String {
    match rng.below(6) {
        0 => rng.below(20).to_string(),
        1 => size.saturating_add(rng.below(5) as u64).saturating_sub(2).to_string(),
        2 => (rng.next() % size.saturating_add(1).max(1)).to_string(),
        3 => (u64::MAX - rng.below(3) as u64).to_string(),
        4 => format!("{}{}", "0".repeat(rng.below(4)), rng.below(1000)),
        _ => (0..1 + rng.below(30)).map(|_| (b'0' + rng.below(10) as u8) as char).collect(),
    }
}

/// A Range value from the grammar, with some deliberate mistakes.
fn range_value(rng: &mut Rng, size: u64) -> String {
    let mut v = String::new();
    if rng.chance(4) {
        v.push_str(rng.pick(&[" ", "\t", "  "]));
    }
    v.push_str(if rng.chance(8) {
        rng.pick(&["items", "byte", "", "bytes ", "bytesx"])
    } else {
        rng.pick(&["bytes", "bytes", "bytes", "BYTES", "Bytes"])
    });
    if !rng.chance(30) {
        v.push('=');
    }
    let n = match rng.below(4) {
        0 => rng.below(3),
        1 => MAX_RANGES + rng.below(3) - 1,
        _ => 1 + rng.below(5),
    };
    for i in 0..n {
        if i > 0 || rng.chance(8) {
            v.push_str(rng.pick(&[",", ",", ", ", " , ", ",,", "\t,", ", ,"]));
        }
        match rng.below(40) {
            // Two arbitrary numbers: often last < first (invalid).
            0..=2 => {
                let a = range_number(rng, size);
                let b = range_number(rng, size);
                v.push_str(&format!("{a}-{b}"));
            }
            3..=8 => v.push_str(&format!("{}-", range_number(rng, size))),
            9..=14 => v.push_str(&format!("-{}", range_number(rng, size))),
            15 => v.push_str(rng.pick(&["-", "--1", "a-b", "1 -2", "1- 2", "x", "1-2-3", "+1-", ""])),
            // first <= last, around the size.
            _ => {
                let a = match rng.below(3) {
                    0 => rng.below(100) as u64,
                    1 => rng.next() % size.saturating_add(1).max(1),
                    _ => size.saturating_sub(rng.below(50) as u64),
                };
                let d = match rng.below(3) {
                    0 => rng.below(50) as u64,
                    1 => rng.next() % size.saturating_add(1).max(1),
                    _ => rng.next(),
                };
                v.push_str(&format!("{a}-{}", a.saturating_add(d)));
            }
        }
    }
    if rng.chance(4) {
        v.push_str(rng.pick(&[" ", ",", "\t", " ,"]));
    }
    v
}

/// An independent, allocation-happy model of `range::parse`, with u128 numbers: which
/// bytes the satisfiable ranges cover, then how many disjoint runs that is.
fn range_model(v: &str, size: u64) -> Option<Ranges> {
    let v = v.trim_matches([' ', '\t']);
    let Some((unit, set)) = v.split_once('=') else { return Some(Ranges::Ignore) };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Some(Ranges::Ignore);
    }
    let specs: Vec<&str> = set.split(',').map(|e| e.trim_matches([' ', '\t'])).filter(|e| !e.is_empty()).collect();
    if specs.is_empty() {
        return Some(Ranges::Ignore);
    }
    let num = |t: &str| -> Option<Option<u128>> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None; // syntax error
        }
        Some(t.parse::<u128>().ok()) // None: too long for the model
    };
    let size = u128::from(size);
    let mut runs: Vec<(u128, u128)> = Vec::new();
    let mut empty_whole = false;
    for (i, spec) in specs.into_iter().enumerate() {
        // Specs are examined in order; past MAX_RANGES the answer is the whole.
        if i == MAX_RANGES {
            return Some(Ranges::Multiple);
        }
        if let Some(n) = spec.strip_prefix('-') {
            let Some(n) = num(n) else { return Some(Ranges::Ignore) };
            let n = n?;
            if n > 0 && size == 0 {
                empty_whole = true;
            } else if n > 0 {
                runs.push((size - n.min(size), size - 1));
            }
        } else {
            let Some((a, b)) = spec.split_once('-') else { return Some(Ranges::Ignore) };
            let Some(a) = num(a) else { return Some(Ranges::Ignore) };
            let a = a?;
            let b = if b.is_empty() {
                None
            } else {
                let Some(b) = num(b) else { return Some(Ranges::Ignore) };
                let b = b?;
                if b < a {
                    return Some(Ranges::Ignore);
                }
                Some(b)
            };
            if a < size {
                runs.push((a, b.unwrap_or(u128::MAX).min(size - 1)));
            }
        }
    }
    if empty_whole {
        return Some(Ranges::Ignore);
    }
    runs.sort();
    let mut merged: Vec<(u128, u128)> = Vec::new();
    for (a, b) in runs {
        match merged.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Some(match merged.as_slice() {
        [] => Ranges::Unsatisfiable,
        [(a, b)] => Ranges::Single(ByteRange { first: *a as u64, last: *b as u64 }),
        _ => Ranges::Multiple,
    })
}

fn random_size(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => 1 + rng.below(3) as u64,
        2 => rng.below(2000) as u64,
        3 => u64::MAX - rng.below(2) as u64,
        _ => rng.next() >> rng.below(64),
    }
}

fn check_ranges(value: &[u8], size: u64) -> Ranges {
    let got = range::parse(value, size);
    if let Ranges::Single(r) = got {
        assert!(r.first <= r.last && r.last < size, "{r:?} size {size} for {:?}", String::from_utf8_lossy(value));
        assert!(r.len() >= 1 && r.len() <= size);
    }
    if size == 0 {
        assert!(matches!(got, Ranges::Ignore | Ranges::Unsatisfiable | Ranges::Multiple));
    }
    got
}

#[test]
fn ranges_never_panic_and_agree_with_a_model() {
    let mut rng = Rng::new(SEED ^ 8);
    let samples: &[&[u8]] = &[b"bytes=0-499", b"bytes=-500", b"bytes=9500-", b"bytes=0-0,-1", b"bytes=500-600,601-999"];
    let mut compared = 0;
    let mut seen = [0usize; 4];
    for _ in 0..60_000 {
        let size = random_size(&mut rng);
        let value = match rng.below(5) {
            0 => rng.bytes(60),
            1 => rng.mutate_one(samples),
            _ => range_value(&mut rng, size).into_bytes(),
        };
        let got = check_ranges(&value, size);
        seen[match got {
            Ranges::Ignore => 0,
            Ranges::Single(_) => 1,
            Ranges::Multiple => 2,
            Ranges::Unsatisfiable => 3,
        }] += 1;
        if let Some(want) = std::str::from_utf8(&value).ok().and_then(|v| range_model(v, size)) {
            assert_eq!(got, want, "{:?} size {size}", String::from_utf8_lossy(&value));
            compared += 1;
        }
    }
    // The generator reaches every outcome, and the model judged most inputs.
    assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    assert!(compared > 40_000, "{compared}");
    // Long values: linear work, bounded examination.
    for _ in 0..50 {
        let mut v = b"bytes=".to_vec();
        for _ in 0..rng.below(5000) {
            v.extend_from_slice(rng.pick(&[&b","[..], b" ", b"1-2", b"-3", b"x"]));
        }
        check_ranges(&v, rng.next());
    }
}

fn random_etag(rng: &mut Rng) -> ETag {
    let ino = rng.next() >> rng.below(64);
    let size = rng.next() >> rng.below(64);
    let mtime = rng.next() as i64 >> rng.below(64);
    let now = if rng.chance(3) { mtime.saturating_add(rng.below(4) as i64 - 1) } else { rng.next() as i64 };
    let tag = ETag::for_file(ino, size, mtime, rng.next() as u32, now);
    match rng.below(3) {
        0 => tag.for_encoding(Encoding::Gzip),
        1 => tag.for_encoding(Encoding::Deflate),
        _ => tag,
    }
}

#[test]
fn etags_never_panic_and_match_themselves() {
    let mut rng = Rng::new(SEED ^ 9);
    let samples: &[&[u8]] = &[b"\"a\", W/\"b\"", b"*", b"W/\"1-2-3-4\", \"1-2-3-4-gzip\"", b" , \"x,y\" ,"];
    for _ in 0..30_000 {
        let ino = rng.next() >> rng.below(64);
        let size = rng.next() >> rng.below(64);
        let mtime = rng.next() as i64 >> rng.below(64);
        let nsec = rng.next() as u32;
        let now = if rng.chance(2) { mtime.saturating_add(rng.below(5) as i64 - 2) } else { rng.next() as i64 };
        let tag = ETag::for_file(ino, size, mtime, nsec, now);
        let bytes = tag.as_bytes();
        assert!(bytes.len() <= etag::MAX_LEN);
        assert!(bytes.ends_with(b"\"") && tag.opaque().starts_with(b"\""));
        assert!(bytes.iter().all(|&b| b.is_ascii_graphic()));
        assert_eq!(tag.is_weak(), now.saturating_sub(mtime) < 2);
        // A tag matches itself: weakly always, strongly when strong.
        assert!(etag::none_match([bytes], &tag));
        assert!(etag::none_match([tag.opaque()], &tag));
        assert_eq!(etag::strong_match(bytes, &tag), !tag.is_weak());
        assert!(etag::looks_like_entity_tag(bytes));
        // Variants: If-None-Match accepts them, If-Range does not.
        for enc in [Encoding::Gzip, Encoding::Deflate] {
            let v = tag.for_encoding(enc);
            assert_ne!(v, tag);
            assert_eq!(v.is_weak(), tag.is_weak());
            assert!(v.as_bytes().len() <= etag::MAX_LEN);
            assert!(etag::none_match([v.as_bytes()], &tag));
            assert!(!etag::strong_match(v.as_bytes(), &tag));
        }
        // In a list with others.
        let other = random_etag(&mut rng);
        let list = [other.as_bytes(), b", ", bytes].concat();
        assert!(etag::none_match([&list[..]], &tag));
        let bad = [&list[..], b", junk"].concat();
        assert!(!etag::none_match([&bad[..]], &tag));
        // A different file's tag does not match (unless the inputs collide).
        if other.opaque() != tag.opaque() && !other.opaque().starts_with(&tag.opaque()[..tag.opaque().len() - 1]) {
            assert!(!etag::none_match([other.as_bytes()], &tag));
        }
        // Random and mutated field values.
        let v = if rng.chance(2) { rng.bytes(60) } else { rng.mutate_one(samples) };
        let w = rng.mutate(bytes);
        let _ = etag::none_match([&v[..], &w[..]], &tag);
        let _ = etag::strong_match(&w, &tag);
        let _ = etag::looks_like_entity_tag(&v);
        let _ = conditional::if_range_matches(&w, &tag, mtime, now);
        let _ = conditional::if_range_matches(&v, &tag, mtime, now);
    }
}

const CONDITIONAL_REQUESTS: &[&[u8]] = &[
    b"GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=0-99\r\n\r\n",
    b"GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=-5, 0-0\r\nIf-Range: \"1-3e8-5f5e1000-0\"\r\n\r\n",
    b"GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=10-\r\nIf-Range: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n",
    b"HEAD /f HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\", W/\"1-3e8-5f5e1000-0\"\r\nRange: bytes=1-2\r\n\r\n",
    b"GET /f HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n",
    b"GET /f HTTP/1.0\r\nIf-Modified-Since: Sun, 13 Sep 2020 12:26:40 GMT\r\nRange: bytes=5000-\r\n\r\n",
];

#[test]
fn conditional_never_panics_and_keeps_its_promises() {
    let mut rng = Rng::new(SEED ^ 10);
    let mut seen = [0usize; 4];
    for _ in 0..40_000 {
        let buf = rng.mutate_one(CONDITIONAL_REQUESTS);
        let Ok(Status::Complete(req, _)) = parser::parse(&buf) else { continue };
        let size = if rng.chance(2) { 1000 } else { random_size(&mut rng) };
        let mtime = if rng.chance(2) { 1_600_000_000 } else { rng.next() as i64 };
        let now = if rng.chance(2) { 1_700_000_000 } else { rng.next() as i64 };
        let tag = if rng.chance(2) { ETag::for_file(1, size, mtime, 0, now) } else { random_etag(&mut rng) };
        let out = conditional::evaluate(&req, &tag, mtime, size, now);
        let get = req.method() == Method::Get;
        match out {
            Outcome::NotModified => {
                assert!(get || req.is_head());
                assert!(req.has_if_none_match() || req.if_modified_since_time().is_some());
                seen[0] += 1;
            }
            Outcome::Full => seen[1] += 1,
            Outcome::Partial(r) => {
                assert!(get && req.range().is_some());
                assert!(r.first <= r.last && r.last < size);
                assert_eq!(range::parse(req.range().unwrap(), size), Ranges::Single(r));
                seen[2] += 1;
            }
            Outcome::Unsatisfiable => {
                assert!(get && req.range().is_some());
                assert_eq!(range::parse(req.range().unwrap(), size), Ranges::Unsatisfiable);
                seen[3] += 1;
            }
        }
        let _ = out.status();
    }
    assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
}
