//! Conditional and range requests together: one call, [`evaluate`], decides what a GET
//! or HEAD for a file gets.
//!
//! Order of evaluation (RFC 9110 §13.2.2), for a file that would otherwise be sent
//! whole with 200 (call it only then: preconditions are ignored for other outcomes,
//! §13.2.1):
//! 1. If-None-Match, when present (even empty or malformed): a match (weak comparison,
//!    any content coding variant, or `*`; see [`etag::none_match`]) gives 304 for GET
//!    and HEAD. If-Modified-Since is then ignored (§13.1.3).
//! 2. Otherwise If-Modified-Since: Last-Modified not after it gives 304; an invalid
//!    date is ignored.
//! 3. Range, for GET only (§14.2: range handling is defined for GET alone, so a HEAD
//!    gets the 200 head). With If-Range, the Range is used only when the validator
//!    matches; otherwise it is ignored and the whole file is sent (200):
//!    - an entity-tag must equal the current identity tag by strong comparison (a weak
//!      tag on either side never matches; see [`etag::strong_match`]);
//!    - an HTTP-date must be the same instant as Last-Modified (any of the three date
//!      formats), and Last-Modified must be at least one second before `now`. A client
//!      may only send a date it holds as a strong validator (§8.8.2.2: its copy's Date
//!      was at least a second after Last-Modified); a modification time less than a
//!      second old cannot be one, so such a date never matches;
//!    - anything else (garbage, several If-Range fields) matches nothing.
//!
//!    Then [`range::parse`] decides: one range (possibly coalesced) gives 206, none
//!    satisfiable gives 416, anything else the whole file.
//!
//! If-Match and If-Unmodified-Since are not evaluated (khttpd serves read-only GET and
//! HEAD). If-Range without Range is ignored.
//!
//! Content codings and ranges: a 206 or 416 is always about the identity
//! representation (the file's bytes and size), never a compressed one. A compressed
//! body's bytes depend on the compressor, and its tag differs from the identity tag
//! ([`ETag::for_encoding`]), so a range of it could not be validated with If-Range.
//! So when [`evaluate`] returns [`Outcome::Partial`] or [`Outcome::Unsatisfiable`],
//! send the identity body with the identity tag; compress only for [`Outcome::Full`].

use super::etag::{self, ETag};
use super::parser::{Method, Request};
use super::range::{self, ByteRange, Ranges};
use super::response;
use super::status::StatusCode;

/// What to send for a GET or HEAD of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 304, no body. Carry the ETag (and Last-Modified) a 200 would have.
    NotModified,
    /// 200 with the whole representation (compressed if negotiated).
    Full,
    /// 206 with `Content-Range: bytes first-last/size` and this range of the identity
    /// representation; Content-Length is [`ByteRange::len`].
    Partial(ByteRange),
    /// 416 with `Content-Range: bytes */size` (see
    /// [`response::write_range_not_satisfiable`]).
    Unsatisfiable,
}

impl Outcome {
    /// The status line to send.
    pub fn status(self) -> StatusCode {
        match self {
            Outcome::NotModified => StatusCode::NotModified,
            Outcome::Full => StatusCode::Ok,
            Outcome::Partial(_) => StatusCode::PartialContent,
            Outcome::Unsatisfiable => StatusCode::RangeNotSatisfiable,
        }
    }
}

/// Decides the answer to `req` (GET or HEAD) for a file whose identity representation
/// has tag `etag`, Last-Modified `last_modified` (unix seconds, as sent in the
/// header) and `size` bytes, at time `now` (unix seconds). See the module
/// documentation for the rules. Pure and bounded: a few passes over the relevant
/// header values.
pub fn evaluate(req: &Request<'_>, etag: &ETag, last_modified: i64, size: u64, now: i64) -> Outcome {
    let method = req.method();
    if method != Method::Get && method != Method::Head {
        return Outcome::Full;
    }
    if req.has_if_none_match() {
        if etag::none_match(req.if_none_match(), etag) {
            return Outcome::NotModified;
        }
    } else if response::not_modified(last_modified, req.if_modified_since_time()) {
        return Outcome::NotModified;
    }
    if method != Method::Get {
        return Outcome::Full;
    }
    let Some(range_value) = req.range() else { return Outcome::Full };
    if let Some(validator) = req.if_range() {
        if !if_range_matches(validator, etag, last_modified, now) {
            return Outcome::Full;
        }
    }
    match range::parse(range_value, size) {
        Ranges::Single(r) => Outcome::Partial(r),
        Ranges::Unsatisfiable => Outcome::Unsatisfiable,
        Ranges::Ignore | Ranges::Multiple => Outcome::Full,
    }
}

/// Whether an If-Range validator matches the current representation (RFC 9110
/// §13.1.5), so that the Range applies.
pub fn if_range_matches(value: &[u8], etag: &ETag, last_modified: i64, now: i64) -> bool {
    if etag::looks_like_entity_tag(value) {
        return etag::strong_match(value, etag);
    }
    match super::date::parse_http_date(value) {
        Some(t) => t == last_modified && now.saturating_sub(last_modified) >= 1,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::compress::Encoding;
    use crate::http::parser::{self, Status};

    const MTIME: i64 = 1_600_000_000;
    const MTIME_IMF: &str = "Sun, 13 Sep 2020 12:26:40 GMT";
    const NOW: i64 = 1_700_000_000;
    const SIZE: u64 = 1000;
    const TAG: &str = "\"7-3e8-5f5e1000-0\"";

    fn tag() -> ETag {
        ETag::for_file(7, SIZE, MTIME, 0, NOW)
    }

    fn eval_with(method: &str, headers: &str, etag: &ETag, size: u64, now: i64) -> Outcome {
        let req = format!("{method} /f HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        match parser::parse(req.as_bytes()) {
            Ok(Status::Complete(r, _)) => evaluate(&r, etag, MTIME, size, now),
            other => panic!("{req:?}: {other:?}"),
        }
    }

    fn eval(method: &str, headers: &str) -> Outcome {
        eval_with(method, headers, &tag(), SIZE, NOW)
    }

    fn part(first: u64, last: u64) -> Outcome {
        Outcome::Partial(ByteRange { first, last })
    }

    #[test]
    fn tag_under_test() {
        assert_eq!(tag().as_bytes(), TAG.as_bytes());
    }

    #[test]
    fn table() {
        use Outcome::*;
        let imf = MTIME_IMF;
        let before = "Sun, 13 Sep 2020 12:26:39 GMT";
        let gz = "\"7-3e8-5f5e1000-0-gzip\"";
        let cases: Vec<(&str, String, Outcome)> = vec![
            // Plain.
            ("GET", String::new(), Full),
            ("HEAD", String::new(), Full),
            // If-None-Match.
            ("GET", format!("If-None-Match: {TAG}\r\n"), NotModified),
            ("HEAD", format!("If-None-Match: {TAG}\r\n"), NotModified),
            ("GET", format!("If-None-Match: W/{TAG}\r\n"), NotModified),
            ("GET", format!("If-None-Match: {gz}\r\n"), NotModified),
            ("GET", "If-None-Match: *\r\n".into(), NotModified),
            ("GET", format!("If-None-Match: \"x\"\r\nIf-None-Match: {TAG}\r\n"), NotModified),
            ("GET", "If-None-Match: \"x\"\r\n".into(), Full),
            // If-None-Match present: If-Modified-Since is ignored, even when the list is
            // empty or malformed.
            ("GET", format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {imf}\r\n"), Full),
            ("GET", format!("If-None-Match: {TAG} junk\r\nIf-Modified-Since: {imf}\r\n"), Full),
            ("GET", format!("If-None-Match:\r\nIf-Modified-Since: {imf}\r\n"), Full),
            ("GET", format!("If-Modified-Since: {imf}\r\nIf-None-Match: {TAG}\r\n"), NotModified),
            // If-Modified-Since alone.
            ("GET", format!("If-Modified-Since: {imf}\r\n"), NotModified),
            ("HEAD", format!("If-Modified-Since: {imf}\r\n"), NotModified),
            ("GET", "If-Modified-Since: Sun, 13 Sep 2020 12:26:41 GMT\r\n".into(), NotModified),
            ("GET", format!("If-Modified-Since: {before}\r\n"), Full),
            ("GET", "If-Modified-Since: yesterday\r\n".into(), Full),
            // Range.
            ("GET", "Range: bytes=0-99\r\n".into(), part(0, 99)),
            ("GET", "Range: bytes=-100\r\n".into(), part(900, 999)),
            ("GET", "Range: bytes=990-5000\r\n".into(), part(990, 999)),
            ("GET", "Range: bytes=0-9, 10-19\r\n".into(), part(0, 19)),
            ("GET", "Range: bytes=0-9, 20-29\r\n".into(), Full),
            ("GET", "Range: bytes=1000-\r\n".into(), Unsatisfiable),
            ("GET", "Range: bytes=9-0\r\n".into(), Full),
            ("GET", "Range: pages=1-2\r\n".into(), Full),
            ("GET", "Range: bytes=0-1\r\nRange: bytes=0-1\r\n".into(), Full),
            // Range is for GET only.
            ("HEAD", "Range: bytes=0-99\r\n".into(), Full),
            ("HEAD", "Range: bytes=1000-\r\n".into(), Full),
            // A 304 wins over a Range.
            ("GET", format!("Range: bytes=0-99\r\nIf-None-Match: {TAG}\r\n"), NotModified),
            ("GET", format!("Range: bytes=1000-\r\nIf-Modified-Since: {imf}\r\n"), NotModified),
            ("GET", format!("Range: bytes=0-99\r\nIf-None-Match: \"x\"\r\n"), part(0, 99)),
            ("GET", format!("Range: bytes=0-99\r\nIf-Modified-Since: {before}\r\n"), part(0, 99)),
            // If-Range with an entity-tag: strong comparison with the identity tag.
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {TAG}\r\n"), part(0, 99)),
            ("GET", format!("Range: bytes=1000-\r\nIf-Range: {TAG}\r\n"), Unsatisfiable),
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: W/{TAG}\r\n"), Full),
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {gz}\r\n"), Full),
            ("GET", "Range: bytes=0-99\r\nIf-Range: \"x\"\r\n".into(), Full),
            ("GET", "Range: bytes=1000-\r\nIf-Range: \"x\"\r\n".into(), Full),
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {TAG}, \"x\"\r\n"), Full),
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {TAG}\r\nIf-Range: {TAG}\r\n"), Full),
            // If-Range with a date: the same instant as Last-Modified, in any format.
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {imf}\r\n"), part(0, 99)),
            ("GET", "Range: bytes=0-99\r\nIf-Range: Sunday, 13-Sep-20 12:26:40 GMT\r\n".into(), part(0, 99)),
            ("GET", "Range: bytes=0-99\r\nIf-Range: Sun Sep 13 12:26:40 2020\r\n".into(), part(0, 99)),
            ("GET", format!("Range: bytes=0-99\r\nIf-Range: {before}\r\n"), Full),
            ("GET", "Range: bytes=0-99\r\nIf-Range: Sun, 13 Sep 2020 12:26:41 GMT\r\n".into(), Full),
            ("GET", "Range: bytes=0-99\r\nIf-Range: soon\r\n".into(), Full),
            ("GET", "Range: bytes=0-99\r\nIf-Range:\r\n".into(), Full),
            // If-Range without Range changes nothing.
            ("GET", "If-Range: \"x\"\r\n".into(), Full),
            ("HEAD", format!("If-Range: {TAG}\r\nRange: bytes=0-1\r\n"), Full),
            // Other methods never get here (they are refused first): always Full.
            ("POST", format!("If-None-Match: *\r\nRange: bytes=0-1\r\n"), Full),
        ];
        for (method, headers, want) in cases {
            assert_eq!(eval(method, &headers), want, "{method} {headers:?}");
        }
    }

    #[test]
    fn fresh_files() {
        // Modified less than two seconds ago: a weak tag, which If-Range never matches
        // but If-None-Match does.
        for now in [MTIME, MTIME + 1] {
            let weak = ETag::for_file(7, SIZE, MTIME, 0, now);
            assert!(weak.is_weak());
            let r = |h: &str| eval_with("GET", h, &weak, SIZE, now);
            assert_eq!(r(&format!("Range: bytes=0-1\r\nIf-Range: {TAG}\r\n")), Outcome::Full);
            assert_eq!(r(&format!("Range: bytes=0-1\r\nIf-Range: W/{TAG}\r\n")), Outcome::Full);
            assert_eq!(r(&format!("If-None-Match: {TAG}\r\n")), Outcome::NotModified);
            assert_eq!(r(&format!("If-None-Match: W/{TAG}\r\n")), Outcome::NotModified);
            assert_eq!(r("Range: bytes=0-1\r\n"), part(0, 1));
        }
        // A date validator is usable once Last-Modified is a second old.
        let ir = format!("Range: bytes=0-1\r\nIf-Range: {MTIME_IMF}\r\n");
        assert_eq!(eval_with("GET", &ir, &tag(), SIZE, MTIME), Outcome::Full);
        assert_eq!(eval_with("GET", &ir, &tag(), SIZE, MTIME - 100), Outcome::Full);
        assert_eq!(eval_with("GET", &ir, &tag(), SIZE, MTIME + 1), part(0, 1));
    }

    #[test]
    fn empty_and_tiny_files() {
        let t = ETag::for_file(7, 0, MTIME, 0, NOW);
        let r = |h: &str, size| eval_with("GET", h, &t, size, NOW);
        assert_eq!(r("Range: bytes=0-\r\n", 0), Outcome::Unsatisfiable);
        assert_eq!(r("Range: bytes=0-0\r\n", 0), Outcome::Unsatisfiable);
        assert_eq!(r("Range: bytes=-1\r\n", 0), Outcome::Full);
        assert_eq!(r("Range: bytes=-0\r\n", 0), Outcome::Unsatisfiable);
        assert_eq!(r("Range: bytes=0-\r\n", 1), part(0, 0));
        assert_eq!(r("Range: bytes=-5\r\n", 1), part(0, 0));
        assert_eq!(r("Range: bytes=1-\r\n", 1), Outcome::Unsatisfiable);
    }

    #[test]
    fn statuses() {
        assert_eq!(Outcome::NotModified.status().code(), 304);
        assert_eq!(Outcome::Full.status().code(), 200);
        assert_eq!(part(0, 0).status().code(), 206);
        assert_eq!(Outcome::Unsatisfiable.status().code(), 416);
    }

    #[test]
    fn if_range_directly() {
        let t = tag();
        assert!(if_range_matches(TAG.as_bytes(), &t, MTIME, NOW));
        assert!(if_range_matches(MTIME_IMF.as_bytes(), &t, MTIME, NOW));
        assert!(!if_range_matches(MTIME_IMF.as_bytes(), &t, MTIME + 1, NOW));
        assert!(!if_range_matches(b"", &t, MTIME, NOW));
        assert!(!if_range_matches(b"W/", &t, MTIME, NOW));
        assert!(!if_range_matches(MTIME_IMF.as_bytes(), &t, MTIME, i64::MIN));
        assert!(if_range_matches(MTIME_IMF.as_bytes(), &t, MTIME, i64::MAX));
        // The coded variant's tag is not the identity representation's.
        let g = t.for_encoding(Encoding::Gzip);
        assert!(!if_range_matches(g.as_bytes(), &t, MTIME, NOW));
    }
}
