//! Response heads and the small built-in status pages.
//!
//! The status line always says HTTP/1.1 (a server sends its own version, RFC 9110
//! §6.2); the caller picks a body framing the client understands: chunked only for
//! HTTP/1.1 requests, [`Body::UntilClose`] for HTTP/1.0 (see [`Body::streaming`]).
//!
//! Range responses: a 206 head carries `Content-Range: bytes a-b/size` (set
//! [`Head::content_range`]) and the range's length as its Content-Length. A 416 is
//! written whole by [`write_range_not_satisfiable`]: `Content-Range: bytes */size` and,
//! like every other error here, the small HTML status page as its body (its
//! Content-Length is that page's; RFC 9110 §15.5.17 leaves the content open), so a
//! browser shows something sensible too. File responses should say
//! `Accept-Ranges: bytes` ([`Head::accept_ranges`]) and carry their [`ETag`], also on 304
//! (RFC 9110 §15.4.5).

use super::compress::Encoding;
use super::etag::ETag;
use super::range::ByteRange;
use super::status::StatusCode;
use super::version::Version;
use super::{date, path, Full, Writer};

/// Value of the Server header.
pub const SERVER: &str = "khttpd-rs";
/// Methods served, for the Allow header of 405 and 501.
pub const ALLOW: &str = "GET, HEAD";

/// How the body that follows the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `Content-Length: n` (for HEAD: the length a GET would have).
    Length(u64),
    /// `Transfer-Encoding: chunked`; HTTP/1.1 clients only.
    Chunked,
    /// No length; the body ends when the connection closes (forces `Connection: close`).
    UntilClose,
    /// No body and no length header (304).
    None,
}

impl Body {
    /// Framing for a body of unknown length: chunked for HTTP/1.1, until-close for 1.0.
    pub fn streaming(version: Version) -> Body {
        match version {
            Version::Http11 => Body::Chunked,
            Version::Http10 => Body::UntilClose,
        }
    }
}

/// A Content-Range header value (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete_length`, for a 206. The range must lie within the
    /// complete length (as ranges from [`super::range::parse`] do).
    Bytes { range: ByteRange, complete_length: u64 },
    /// `bytes */complete_length`, for a 416.
    Unsatisfied { complete_length: u64 },
}

/// Everything a response head may say. Build with [`Head::new`], adjust fields, then
/// [`write_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    pub status: StatusCode,
    /// Current time for the Date header (unix seconds); `None` omits it.
    pub date: Option<i64>,
    pub content_type: Option<&'a str>,
    pub body: Body,
    pub last_modified: Option<i64>,
    /// Content-Encoding; anything but identity also adds `Vary: Accept-Encoding`.
    pub encoding: Encoding,
    /// Send `Vary: Accept-Encoding` even for identity (the response could have been
    /// compressed for another client).
    pub vary_accept_encoding: bool,
    /// Whether the caller wants to keep the connection; see [`Head::keeps_alive`].
    pub keep_alive: bool,
    /// For redirects to a directory: its decoded relative path (as from
    /// [`path::resolve`]); written as `Location: /seg/ments/`, each segment
    /// percent-encoded, so it can never point to another host.
    pub location_dir: Option<&'a [u8]>,
    /// `ETag: "…"`; for a coded body use the tag of that coding
    /// ([`ETag::for_encoding`]).
    pub etag: Option<ETag>,
    /// `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// Content-Range, for 206 and 416.
    pub content_range: Option<ContentRange>,
}

impl<'a> Head<'a> {
    pub fn new(status: StatusCode, body: Body) -> Self {
        Head {
            status,
            date: None,
            content_type: None,
            body,
            last_modified: None,
            encoding: Encoding::Identity,
            vary_accept_encoding: false,
            keep_alive: false,
            location_dir: None,
            etag: None,
            accept_ranges: false,
            content_range: None,
        }
    }

    /// Whether the connection stays open after this response: the caller's wish,
    /// unless the status or an until-close body forbids it. Close the connection when
    /// this is false.
    pub fn keeps_alive(&self) -> bool {
        self.keep_alive && !self.status.closes_connection() && self.body != Body::UntilClose
    }
}

/// Writes the status line, headers and the empty line; on [`Full`] nothing is written.
pub fn write_head(head: &Head<'_>, w: &mut Writer<'_>) -> Result<(), Full> {
    let mark = w.mark();
    let res = write_head_inner(head, w);
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

fn write_head_inner(head: &Head<'_>, w: &mut Writer<'_>) -> Result<(), Full> {
    w.push(b"HTTP/1.1 ")?;
    w.dec(u64::from(head.status.code()))?;
    w.byte(b' ')?;
    w.push_str(head.status.reason())?;
    w.push(b"\r\n")?;
    if let Some(now) = head.date {
        w.push(b"Date: ")?;
        w.push(&date::DATE_CACHE.get(now))?;
        w.push(b"\r\n")?;
    }
    w.push(b"Server: ")?;
    w.push_str(SERVER)?;
    w.push(b"\r\n")?;
    if let Some(ct) = head.content_type {
        w.push(b"Content-Type: ")?;
        push_header_value(ct.as_bytes(), w)?;
        w.push(b"\r\n")?;
    }
    if let Some(coding) = head.encoding.content_coding() {
        w.push(b"Content-Encoding: ")?;
        w.push_str(coding)?;
        w.push(b"\r\n")?;
    }
    if head.encoding != Encoding::Identity || head.vary_accept_encoding {
        w.push(b"Vary: Accept-Encoding\r\n")?;
    }
    if let Some(t) = head.last_modified {
        w.push(b"Last-Modified: ")?;
        date::write_imf_fixdate(t, w)?;
        w.push(b"\r\n")?;
    }
    if let Some(tag) = &head.etag {
        w.push(b"ETag: ")?;
        w.push(tag.as_bytes())?;
        w.push(b"\r\n")?;
    }
    if head.accept_ranges {
        w.push(b"Accept-Ranges: bytes\r\n")?;
    }
    match head.content_range {
        Some(ContentRange::Bytes { range, complete_length }) => {
            w.push(b"Content-Range: bytes ")?;
            w.dec(range.first)?;
            w.byte(b'-')?;
            w.dec(range.last)?;
            w.byte(b'/')?;
            w.dec(complete_length)?;
            w.push(b"\r\n")?;
        }
        Some(ContentRange::Unsatisfied { complete_length }) => {
            w.push(b"Content-Range: bytes */")?;
            w.dec(complete_length)?;
            w.push(b"\r\n")?;
        }
        None => {}
    }
    match head.body {
        Body::Length(n) => {
            w.push(b"Content-Length: ")?;
            w.dec(n)?;
            w.push(b"\r\n")?;
        }
        Body::Chunked => w.push(b"Transfer-Encoding: chunked\r\n")?,
        Body::UntilClose | Body::None => {}
    }
    if let Some(dir) = head.location_dir {
        w.push(b"Location: /")?;
        let mut first = true;
        for seg in dir.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
            if !first {
                w.byte(b'/')?;
            }
            first = false;
            path::encode_path_segment(seg, w)?;
        }
        if !first {
            w.byte(b'/')?;
        }
        w.push(b"\r\n")?;
    }
    if head.status.needs_allow() {
        w.push(b"Allow: ")?;
        w.push_str(ALLOW)?;
        w.push(b"\r\n")?;
    }
    if head.keeps_alive() {
        w.push(b"Connection: keep-alive\r\n")?;
    } else {
        w.push(b"Connection: close\r\n")?;
    }
    w.push(b"\r\n")
}

/// Copies a caller-supplied header value, dropping control characters so that a bad
/// value can never end the header early.
fn push_header_value(v: &[u8], w: &mut Writer<'_>) -> Result<(), Full> {
    for part in v.split(|&b| b < 0x20 || b == 0x7f) {
        w.push(part)?;
    }
    Ok(())
}

const PAGE_START: &[u8] = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>";
const PAGE_MIDDLE: &[u8] = b"</title></head>\n<body><h1>";
const PAGE_END: &[u8] = b"</h1><hr><address>khttpd-rs</address></body></html>\n";

/// Length of the built-in page body for `status`.
fn page_len(status: StatusCode) -> u64 {
    // "404" + " " + reason, twice.
    let title = 4 + status.reason().len();
    (PAGE_START.len() + PAGE_MIDDLE.len() + PAGE_END.len() + 2 * title) as u64
}

fn write_page_title(status: StatusCode, w: &mut Writer<'_>) -> Result<(), Full> {
    w.dec(u64::from(status.code()))?;
    w.byte(b' ')?;
    w.push_str(status.reason())
}

fn write_page(head: &Head<'_>, head_only: bool, w: &mut Writer<'_>) -> Result<bool, Full> {
    let mark = w.mark();
    let res = (|| {
        write_head_inner(head, w)?;
        if !head_only {
            w.push(PAGE_START)?;
            write_page_title(head.status, w)?;
            w.push(PAGE_MIDDLE)?;
            write_page_title(head.status, w)?;
            w.push(PAGE_END)?;
        }
        Ok(head.keeps_alive())
    })();
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

/// Writes a complete response for `status` with a small HTML body (head only when
/// `head_only`, e.g. for HEAD requests). 405/501 get an Allow header, and statuses that
/// [close the connection](StatusCode::closes_connection) say so. Returns whether the
/// connection stays open. Atomic like every write here.
pub fn write_status_page(
    status: StatusCode,
    keep_alive: bool,
    now: Option<i64>,
    head_only: bool,
    w: &mut Writer<'_>,
) -> Result<bool, Full> {
    let mut head = Head::new(status, Body::Length(page_len(status)));
    head.date = now;
    head.content_type = Some(super::mime::HTML_TYPE);
    head.keep_alive = keep_alive;
    write_page(&head, head_only, w)
}

/// Writes a 301 to the directory `dir` with a trailing slash, for a request naming a
/// directory without one (relative links in its listing need the slash). `dir` is the
/// decoded relative path from [`path::resolve`]. Returns whether the connection stays
/// open.
pub fn write_redirect_to_dir(
    dir: &[u8],
    keep_alive: bool,
    now: Option<i64>,
    head_only: bool,
    w: &mut Writer<'_>,
) -> Result<bool, Full> {
    let status = StatusCode::MovedPermanently;
    let mut head = Head::new(status, Body::Length(page_len(status)));
    head.date = now;
    head.content_type = Some(super::mime::HTML_TYPE);
    head.keep_alive = keep_alive;
    head.location_dir = Some(dir);
    write_page(&head, head_only, w)
}

/// Writes a complete 416 for a representation of `complete_length` bytes:
/// `Content-Range: bytes */complete_length` and the built-in status page (head only when
/// `head_only`; a HEAD never gets a 416 from [`super::conditional::evaluate`], but the
/// parameter keeps this in line with [`write_status_page`]). Returns whether the
/// connection stays open.
pub fn write_range_not_satisfiable(
    complete_length: u64,
    keep_alive: bool,
    now: Option<i64>,
    head_only: bool,
    w: &mut Writer<'_>,
) -> Result<bool, Full> {
    let status = StatusCode::RangeNotSatisfiable;
    let mut head = Head::new(status, Body::Length(page_len(status)));
    head.date = now;
    head.content_type = Some(super::mime::HTML_TYPE);
    head.keep_alive = keep_alive;
    head.content_range = Some(ContentRange::Unsatisfied { complete_length });
    write_page(&head, head_only, w)
}

/// Whether a GET for a file modified at `mtime` may be answered with 304, given the
/// request's If-Modified-Since (already parsed to unix seconds). HTTP dates have
/// one-second resolution, so sub-second mtimes must be truncated by the caller.
/// [`super::conditional::evaluate`] uses this and adds If-None-Match and Range.
pub fn not_modified(mtime: i64, if_modified_since: Option<i64>) -> bool {
    if_modified_since.is_some_and(|ims| mtime <= ims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::status::ALL_STATUSES;

    fn head_text(head: &Head<'_>) -> String {
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        write_head(head, &mut w).unwrap();
        String::from_utf8(w.written().to_vec()).unwrap()
    }

    fn page(status: StatusCode, keep_alive: bool, head_only: bool) -> (String, bool) {
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        let ka = write_status_page(status, keep_alive, Some(784_111_777), head_only, &mut w).unwrap();
        (String::from_utf8(w.written().to_vec()).unwrap(), ka)
    }

    #[test]
    fn full_200_head() {
        let mut h = Head::new(StatusCode::Ok, Body::Length(1234));
        h.date = Some(784_111_777);
        h.content_type = Some("text/html; charset=utf-8");
        h.last_modified = Some(0);
        h.keep_alive = true;
        assert!(h.keeps_alive());
        assert_eq!(
            head_text(&h),
            "HTTP/1.1 200 OK\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Server: khttpd-rs\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Content-Length: 1234\r\n\
             Connection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn compressed_chunked_head() {
        let mut h = Head::new(StatusCode::Ok, Body::Chunked);
        h.content_type = Some("text/css; charset=utf-8");
        h.encoding = Encoding::Gzip;
        h.keep_alive = true;
        let t = head_text(&h);
        assert_eq!(
            t,
            "HTTP/1.1 200 OK\r\nServer: khttpd-rs\r\nContent-Type: text/css; charset=utf-8\r\n\
             Content-Encoding: gzip\r\nVary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        h.encoding = Encoding::Deflate;
        assert!(head_text(&h).contains("Content-Encoding: deflate\r\nVary: Accept-Encoding\r\n"));
        h.encoding = Encoding::Identity;
        assert!(!head_text(&h).contains("Vary"));
        h.vary_accept_encoding = true;
        assert!(head_text(&h).contains("Vary: Accept-Encoding\r\n"));
        assert!(!head_text(&h).contains("Content-Encoding"));
    }

    #[test]
    fn until_close_and_304() {
        let mut h = Head::new(StatusCode::Ok, Body::streaming(Version::Http10));
        h.keep_alive = true;
        assert!(!h.keeps_alive());
        let t = head_text(&h);
        assert!(t.ends_with("Connection: close\r\n\r\n"));
        assert!(!t.contains("Content-Length") && !t.contains("Transfer-Encoding"));
        assert_eq!(Body::streaming(Version::Http11), Body::Chunked);

        let mut h = Head::new(StatusCode::NotModified, Body::None);
        h.keep_alive = true;
        h.last_modified = Some(784_111_777);
        let t = head_text(&h);
        assert!(t.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(!t.contains("Content-Length"));
        assert!(t.contains("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(t.ends_with("Connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn range_and_validator_headers() {
        let tag = ETag::for_file(0x1234, 1000, 1_600_000_000, 5, 1_700_000_000);
        let range = ByteRange { first: 100, last: 199 };
        let mut h = Head::new(StatusCode::PartialContent, Body::Length(range.len()));
        h.content_type = Some("text/plain");
        h.last_modified = Some(784_111_777);
        h.etag = Some(tag);
        h.accept_ranges = true;
        h.content_range = Some(ContentRange::Bytes { range, complete_length: 1000 });
        h.keep_alive = true;
        assert_eq!(
            head_text(&h),
            "HTTP/1.1 206 Partial Content\r\nServer: khttpd-rs\r\nContent-Type: text/plain\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nETag: \"1234-3e8-5f5e1000-5\"\r\n\
             Accept-Ranges: bytes\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        // Extremes.
        let range = ByteRange { first: u64::MAX - 1, last: u64::MAX - 1 };
        h.content_range = Some(ContentRange::Bytes { range, complete_length: u64::MAX });
        assert!(head_text(&h).contains(
            "Content-Range: bytes 18446744073709551614-18446744073709551614/18446744073709551615\r\n"
        ));
        // 304 with a (weak, gzip variant) tag.
        let mut h = Head::new(StatusCode::NotModified, Body::None);
        h.etag = Some(ETag::for_file(1, 2, 3, 4, 0).for_encoding(Encoding::Gzip));
        let t = head_text(&h);
        assert!(t.contains("\r\nETag: W/\"1-2-3-4-gzip\"\r\n"), "{t}");
        assert!(!t.contains("Accept-Ranges") && !t.contains("Content-Range"));
    }

    #[test]
    fn range_not_satisfiable_page() {
        for (len, head_only, ka) in [(0u64, false, true), (12345, false, false), (u64::MAX, true, true)] {
            let mut buf = [0u8; 1024];
            let mut w = Writer::new(&mut buf);
            let open = write_range_not_satisfiable(len, ka, Some(784_111_777), head_only, &mut w).unwrap();
            assert_eq!(open, ka);
            let text = String::from_utf8(w.written().to_vec()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"));
            assert!(head.contains(&format!("\r\nContent-Range: bytes */{len}\r\n")));
            assert!(head.contains("Content-Type: text/html; charset=utf-8"));
            let page_len = page_len(StatusCode::RangeNotSatisfiable);
            assert!(head.contains(&format!("Content-Length: {page_len}\r\n")));
            if head_only {
                assert!(body.is_empty());
            } else {
                assert_eq!(body.len() as u64, page_len);
                assert!(body.contains("<h1>416 Range Not Satisfiable</h1>"));
            }
        }
        // Atomic.
        let mut buf = [0u8; 100];
        let mut w = Writer::new(&mut buf);
        assert_eq!(write_range_not_satisfiable(1, true, None, false, &mut w), Err(Full));
        assert!(w.is_empty());
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let mut h = Head::new(StatusCode::Ok, Body::Length(0));
        h.content_type = Some("text/plain\r\nSet-Cookie: x=1");
        let t = head_text(&h);
        assert!(t.contains("Content-Type: text/plainSet-Cookie: x=1\r\n"));
        assert_eq!(t.matches("\r\n").count(), 6);
    }

    #[test]
    fn status_pages() {
        for s in ALL_STATUSES {
            let (text, ka) = page(s, true, false);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let title = format!("{} {}", s.code(), s.reason());
            assert!(head.starts_with(&format!("HTTP/1.1 {title}\r\n")));
            assert!(head.contains("Content-Type: text/html; charset=utf-8"));
            assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
            assert!(body.contains(&format!("<title>{title}</title>")));
            assert!(body.contains(&format!("<h1>{title}</h1>")));
            assert!(body.contains("<meta charset=\"utf-8\">"));
            assert_eq!(head.contains("Allow: GET, HEAD"), s.needs_allow());
            assert_eq!(ka, !s.closes_connection());
            assert_eq!(head.ends_with("Connection: keep-alive"), ka);
            assert!(head.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT"));
            // HEAD: same head, no body.
            let (head_only, _) = page(s, true, true);
            assert_eq!(head_only, format!("{head}\r\n\r\n"));
        }
        let (t, ka) = page(StatusCode::NotFound, false, false);
        assert!(!ka);
        assert!(t.contains("Connection: close"));
        for s in [400, 408, 413, 414, 431, 500, 503, 505] {
            assert!(StatusCode::from_code(s).unwrap().closes_connection());
        }
        for s in [200, 206, 301, 304, 403, 404, 405, 416, 501] {
            assert!(!StatusCode::from_code(s).unwrap().closes_connection());
        }
    }

    #[test]
    fn redirect_to_dir_is_local_and_encoded() {
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        let ka = write_redirect_to_dir(b"a b/caf\xc3\xa9", true, None, false, &mut w).unwrap();
        assert!(ka);
        let t = String::from_utf8(w.written().to_vec()).unwrap();
        assert!(t.starts_with("HTTP/1.1 301 Moved Permanently\r\n"));
        assert!(t.contains("Location: /a%20b/caf%C3%A9/\r\n"), "{t}");
        // Even odd input cannot produce a protocol-relative or external location.
        for dir in [&b"/evil.com"[..], b"//evil.com", b"evil.com\r\nX: y", b"http://x"] {
            let mut buf = [0u8; 1024];
            let mut w = Writer::new(&mut buf);
            write_redirect_to_dir(dir, true, None, true, &mut w).unwrap();
            let t = String::from_utf8(w.written().to_vec()).unwrap();
            let loc = t.lines().find(|l| l.starts_with("Location: ")).unwrap();
            assert!(loc.starts_with("Location: /") && !loc.starts_with("Location: //"), "{loc}");
            assert_eq!(loc.matches(':').count(), 1, "{loc}");
            assert_eq!(t.matches("\r\n").count(), 7, "{t}");
        }
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        write_redirect_to_dir(b"", true, None, true, &mut w).unwrap();
        assert!(String::from_utf8_lossy(w.written()).contains("Location: /\r\n"));
    }

    #[test]
    fn writes_are_atomic() {
        let mut h = Head::new(StatusCode::Ok, Body::Length(1));
        h.date = Some(0);
        let full = head_text(&h);
        for cap in 0..full.len() {
            let mut buf = vec![0u8; cap + 3];
            let mut w = Writer::new(&mut buf);
            w.push(b"abc").unwrap();
            assert_eq!(write_head(&h, &mut w), Err(Full));
            assert_eq!(w.written(), b"abc");
        }
        let (page_text, _) = page(StatusCode::NotFound, true, false);
        for cap in [0, 10, page_text.len() - 1] {
            let mut buf = vec![0u8; cap];
            let mut w = Writer::new(&mut buf);
            assert_eq!(write_status_page(StatusCode::NotFound, true, Some(784_111_777), false, &mut w), Err(Full));
            assert!(w.is_empty());
        }
    }

    #[test]
    fn conditional_get() {
        assert!(not_modified(100, Some(100)));
        assert!(not_modified(99, Some(100)));
        assert!(!not_modified(101, Some(100)));
        assert!(!not_modified(100, None));
    }
}
