//! Incremental HTTP/1.x request-head parser.
//!
//! [`parse`] looks at the bytes received so far on a connection. It returns
//! [`Status::Partial`] until a whole head is there, then the [`Request`] and how many
//! bytes it used; the next pipelined request starts right after. The parser keeps no
//! state between calls: the caller keeps the bytes and calls again when more arrive.
//! Each call scans at most about `MAX_REQUEST_LINE + MAX_HEADER_SECTION` bytes, so work
//! per call is bounded whatever the input.
//!
//! Policy decisions (each maps to a status through [`ParseError::status`]):
//! - Lines may end in CRLF or a bare LF; a CR anywhere else is a control character.
//!   Up to `MAX_REQUEST_LINE` bytes of empty lines before a request are skipped
//!   (RFC 9112 §2.2 robustness).
//! - Request line: `method SP target SP version` with single spaces. The method is a
//!   token (case-sensitive, so `get` is [`Method::Other`]); the target is visible ASCII
//!   or bytes ≥ 0x80. Longer than [`MAX_REQUEST_LINE`] → 414, also while incomplete.
//! - Version `HTTP/1.0` or `HTTP/1.1`; `HTTP/1.x` with a higher minor is treated as
//!   1.1 (RFC 9110 §6.2); any other major (`HTTP/0.9`, `HTTP/2.0`) → 505; anything that
//!   is not `HTTP/d.d` → 400.
//! - Headers: `name ":" OWS value OWS`, name a token (no space before the colon), value
//!   without control characters other than HTAB. obs-fold (a line starting with
//!   whitespace) → 400. More than [`MAX_HEADERS`] fields or a header section over
//!   [`MAX_HEADER_SECTION`] bytes → 431.
//! - HTTP/1.1 requires exactly one Host; more than one Host → 400 in any version.
//! - Request bodies are not supported: `Transfer-Encoding` → 501; `Content-Length`
//!   greater than zero → 413; a malformed or conflicting Content-Length → 400. So a
//!   complete request always ends at its head, and `consumed` is exactly where the next
//!   one begins. Every error is fatal for the connection: answer and close, since the
//!   stream can no longer be framed.

use super::compress::AcceptEncoding;
use super::syntax::{is_tchar, trim_ows};
use super::version::Version;
use super::status::StatusCode;

/// Longest request line accepted, without its line end.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest header section (field lines, their line ends and the empty line).
pub const MAX_HEADER_SECTION: usize = 16 * 1024;
/// Most header fields stored per request.
pub const MAX_HEADERS: usize = 32;

/// Request method. Only GET and HEAD are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    Get,
    Head,
    /// Any other valid method token, as sent.
    Other(&'a [u8]),
}

/// Methods defined by RFC 9110 (and PATCH): known, but not allowed here → 405.
const KNOWN_METHODS: &[&[u8]] = &[
    b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];

impl<'a> Method<'a> {
    fn from_token(token: &'a [u8]) -> Self {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            other => Method::Other(other),
        }
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Method::Get => b"GET",
            Method::Head => b"HEAD",
            Method::Other(m) => m,
        }
    }

    /// How to refuse a method we do not serve: 405 for standard methods, 501 for ones
    /// we do not know; `None` for GET and HEAD. Both answers carry `Allow: GET, HEAD`.
    pub fn rejection(&self) -> Option<StatusCode> {
        match *self {
            Method::Get | Method::Head => None,
            Method::Other(m) if KNOWN_METHODS.contains(&m) => Some(StatusCode::MethodNotAllowed),
            Method::Other(_) => Some(StatusCode::NotImplemented),
        }
    }
}

/// Outcome of a successful [`parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole request and the number of bytes it used (including skipped empty lines).
    Complete(T, usize),
    /// The bytes so far are a valid prefix: call again with more.
    Partial,
}

/// Why a request was refused. All are fatal for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed request line: method token, spacing, target characters, or only
    /// empty lines for too long. (400)
    BadRequestLine,
    /// Version is not of the form `HTTP/d.d`. (400)
    BadVersion,
    /// A major version other than 1. (505)
    UnsupportedVersion,
    /// Malformed header field line or control characters in it. (400)
    BadHeader,
    /// Obsolete line folding. (400)
    ObsFold,
    /// HTTP/1.1 request without Host. (400)
    MissingHost,
    /// More than one Host field. (400)
    DuplicateHost,
    /// Content-Length that is not a number, or conflicting values. (400)
    BadContentLength,
    /// Request line over [`MAX_REQUEST_LINE`]. (414)
    UriTooLong,
    /// Header section over [`MAX_HEADER_SECTION`]. (431)
    HeadersTooLarge,
    /// More than [`MAX_HEADERS`] fields. (431)
    TooManyHeaders,
    /// A Transfer-Encoding: request bodies are not supported. (501)
    TransferEncoding,
    /// A non-empty body announced by Content-Length. (413)
    BodyNotAllowed,
}

impl ParseError {
    /// The status to answer with (then close the connection).
    pub fn status(self) -> StatusCode {
        match self {
            ParseError::BadRequestLine
            | ParseError::BadVersion
            | ParseError::BadHeader
            | ParseError::ObsFold
            | ParseError::MissingHost
            | ParseError::DuplicateHost
            | ParseError::BadContentLength => StatusCode::BadRequest,
            ParseError::UnsupportedVersion => StatusCode::HttpVersionNotSupported,
            ParseError::UriTooLong => StatusCode::UriTooLong,
            ParseError::HeadersTooLarge | ParseError::TooManyHeaders => {
                StatusCode::RequestHeaderFieldsTooLarge
            }
            ParseError::TransferEncoding => StatusCode::NotImplemented,
            ParseError::BodyNotAllowed => StatusCode::ContentTooLarge,
        }
    }
}

/// Position of a header's name and value in the parsed buffer. u16 is enough because a
/// head never extends past `2 * MAX_REQUEST_LINE + MAX_HEADER_SECTION` bytes; storing
/// offsets instead of slices keeps [`Request`] small (kernel stacks are small).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    name_start: u16,
    name_len: u16,
    value_start: u16,
    value_len: u16,
}

/// A parsed request head, borrowing from the buffer given to [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    buf: &'a [u8],
    method: Method<'a>,
    target: &'a [u8],
    version: Version,
    spans: [Span; MAX_HEADERS],
    count: usize,
    keep_alive: bool,
    host: Option<&'a [u8]>,
    if_modified_since: Option<&'a [u8]>,
    accept_encoding: AcceptEncoding,
}

impl<'a> Request<'a> {
    pub fn method(&self) -> Method<'a> {
        self.method
    }

    /// True for HEAD: send the head only.
    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }

    /// The request target exactly as sent (see [`super::path::resolve`]).
    pub fn target(&self) -> &'a [u8] {
        self.target
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the connection may stay open after the response: HTTP/1.1 unless a
    /// Connection field lists `close`; HTTP/1.0 only if it lists `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub fn host(&self) -> Option<&'a [u8]> {
        self.host
    }

    /// The first If-Modified-Since value, unparsed.
    pub fn if_modified_since(&self) -> Option<&'a [u8]> {
        self.if_modified_since
    }

    /// If-Modified-Since as unix seconds; `None` when absent or not a valid date (an
    /// invalid date is ignored, RFC 9110 §13.1.3).
    pub fn if_modified_since_time(&self) -> Option<i64> {
        self.if_modified_since.and_then(super::date::parse_http_date)
    }

    /// All Accept-Encoding fields, merged.
    pub fn accept_encoding(&self) -> &AcceptEncoding {
        &self.accept_encoding
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.count
    }

    /// Value of the first field called `name` (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Values of every field called `name` (case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of `name` if exactly one such field is present: `Ok(None)` when there
    /// is none, `Err(())` when there are several.
    fn single(&self, name: &[u8]) -> Result<Option<&'a [u8]>, ()> {
        let mut values = self.header_values(name);
        let first = values.next();
        match values.next() {
            None => Ok(first),
            Some(_) => Err(()),
        }
    }

    /// The Range value, unparsed (see [`super::range::parse`]). Range is not a list
    /// field, so several Range fields cannot form a valid value: they are ignored like
    /// any invalid Range, and this returns `None` (whole representation).
    pub fn range(&self) -> Option<&'a [u8]> {
        self.single(b"range").ok().flatten()
    }

    /// The If-Range value, unparsed (see [`super::conditional`]). Several If-Range
    /// fields are invalid: this then returns an empty value, which matches no
    /// validator, so the Range is ignored (whole representation).
    pub fn if_range(&self) -> Option<&'a [u8]> {
        self.single(b"if-range").unwrap_or(Some(&[]))
    }

    /// Every If-None-Match value, in order; together they form one list (see
    /// [`super::etag::none_match`]).
    pub fn if_none_match(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.header_values(b"if-none-match")
    }

    /// Whether the request has an If-None-Match field (then If-Modified-Since is
    /// ignored, RFC 9110 §13.1.3).
    pub fn has_if_none_match(&self) -> bool {
        self.if_none_match().next().is_some()
    }

    /// Fields in order as (name, value), values without surrounding whitespace.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let buf = self.buf;
        self.spans.iter().take(self.count).map(move |s| {
            (
                slice(buf, s.name_start, s.name_len),
                slice(buf, s.value_start, s.value_len),
            )
        })
    }
}

fn slice(buf: &[u8], start: u16, len: u16) -> &[u8] {
    let start = usize::from(start);
    buf.get(start..start.saturating_add(usize::from(len))).unwrap_or(&[])
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

fn is_value_byte(b: u8) -> bool {
    b == b'\t' || !is_ctl(b)
}

/// Finds the first line in `s`, looking only at its first `window` bytes. Returns the
/// line without its line end and the number of bytes including the line end.
fn find_line(s: &[u8], window: usize) -> Option<(&[u8], usize)> {
    let lf = s.iter().take(window).position(|&b| b == b'\n')?;
    let line = s.get(..lf)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, lf.checked_add(1)?))
}

/// Bytes of an incomplete line, not counting a final CR that may start its line end.
fn pending_len(s: &[u8]) -> usize {
    s.strip_suffix(b"\r").unwrap_or(s).len()
}

/// Rejects an incomplete request line early when what is there can never become valid
/// (binary garbage, a TLS handshake, a bad method token).
fn check_partial_request_line(s: &[u8]) -> Result<(), ParseError> {
    let s = s.strip_suffix(b"\r").unwrap_or(s);
    if s.iter().any(|&b| is_ctl(b)) {
        return Err(ParseError::BadRequestLine);
    }
    let method = match s.iter().position(|&b| b == b' ') {
        Some(0) => return Err(ParseError::BadRequestLine),
        Some(sp) => s.get(..sp).unwrap_or(&[]),
        None => s,
    };
    if method.iter().all(|&b| is_tchar(b)) {
        Ok(())
    } else {
        Err(ParseError::BadRequestLine)
    }
}

fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::UnsupportedVersion),
            }
        }
        _ => Err(ParseError::BadVersion),
    }
}

fn parse_request_line(line: &[u8]) -> Result<(Method<'_>, &[u8], Version), ParseError> {
    if line.iter().any(|&b| is_ctl(b)) {
        return Err(ParseError::BadRequestLine);
    }
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadRequestLine)?;
    let method = line.get(..sp1).ok_or(ParseError::BadRequestLine)?;
    let rest = line.get(sp1.saturating_add(1)..).unwrap_or(&[]);
    let sp2 = rest
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(ParseError::BadRequestLine)?;
    let target = rest.get(..sp2).ok_or(ParseError::BadRequestLine)?;
    let version = rest.get(sp2.saturating_add(1)..).unwrap_or(&[]);
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadRequestLine);
    }
    if target.is_empty() || !target.iter().all(|&b| is_target_byte(b)) {
        return Err(ParseError::BadRequestLine);
    }
    let version = parse_version(version)?;
    Ok((Method::from_token(method), target, version))
}

fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() {
        return Err(ParseError::BadContentLength);
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(ParseError::BadContentLength);
        }
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::BadContentLength)
    })
}

fn to_u16(n: usize) -> Result<u16, ParseError> {
    u16::try_from(n).map_err(|_| ParseError::HeadersTooLarge)
}

/// What the header fields say about the request, gathered while parsing.
#[derive(Default)]
struct Fields<'a> {
    host: Option<&'a [u8]>,
    if_modified_since: Option<&'a [u8]>,
    accept_encoding: AcceptEncoding,
    content_length: Option<u64>,
    transfer_encoding: bool,
    conn_close: bool,
    conn_keep_alive: bool,
}

impl<'a> Fields<'a> {
    fn note(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), ParseError> {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"host") {
            if self.host.is_some() {
                return Err(ParseError::DuplicateHost);
            }
            self.host = Some(value);
        } else if is(b"connection") {
            for option in value.split(|&b| b == b',') {
                let option = trim_ows(option);
                if option.eq_ignore_ascii_case(b"close") {
                    self.conn_close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.conn_keep_alive = true;
                }
            }
        } else if is(b"content-length") {
            let n = parse_content_length(value)?;
            if self.content_length.is_some_and(|old| old != n) {
                return Err(ParseError::BadContentLength);
            }
            self.content_length = Some(n);
        } else if is(b"transfer-encoding") {
            self.transfer_encoding = true;
        } else if is(b"if-modified-since") {
            self.if_modified_since.get_or_insert(value);
        } else if is(b"accept-encoding") {
            self.accept_encoding.add(value);
        }
        Ok(())
    }
}

/// Where the request line starts after the empty lines a client may send before it
/// (RFC 9112 2.2); `None` if they run past the request line limit.
fn skip_empty_lines(buf: &[u8]) -> Option<usize> {
    let mut start = 0usize;
    loop {
        match buf.get(start..) {
            Some([b'\r', b'\n', ..]) => start = start.saturating_add(2),
            Some([b'\n', ..]) => start = start.saturating_add(1),
            _ => return Some(start),
        }
        if start > MAX_REQUEST_LINE {
            return None;
        }
    }
}

/// Whether `buf`, a request [`parse`] refused or that never completed, was sent as
/// `HEAD`: its error response must then have no body (RFC 9110 9.3.2), or the client
/// would read that body as the start of the next response.
pub fn is_head_request(buf: &[u8]) -> bool {
    skip_empty_lines(buf).and_then(|start| buf.get(start..)).is_some_and(|line| line.starts_with(b"HEAD "))
}

/// Parses one request head from the start of `buf`. See the module documentation for
/// the rules; `Ok(Status::Partial)` means every byte so far is acceptable.
pub fn parse(buf: &[u8]) -> Result<Status<Request<'_>>, ParseError> {
    let Some(start) = skip_empty_lines(buf) else {
        return Err(ParseError::BadRequestLine);
    };

    let rest = buf.get(start..).unwrap_or(&[]);
    // Room for the longest line plus CRLF.
    let window = MAX_REQUEST_LINE.saturating_add(2);
    let Some((line, line_total)) = find_line(rest, window) else {
        // No line end within the window: the line is over the limit.
        if rest.len() >= window || pending_len(rest) > MAX_REQUEST_LINE {
            return Err(ParseError::UriTooLong);
        }
        check_partial_request_line(rest)?;
        return Ok(Status::Partial);
    };
    if line.len() > MAX_REQUEST_LINE {
        return Err(ParseError::UriTooLong);
    }
    let (method, target, version) = parse_request_line(line)?;

    let head_start = start.saturating_add(line_total);
    let mut pos = head_start;
    let mut spans = [Span::default(); MAX_HEADERS];
    let mut count = 0usize;
    let mut fields = Fields::default();
    loop {
        let used = pos.saturating_sub(head_start);
        let window = MAX_HEADER_SECTION.saturating_sub(used);
        let rest = buf.get(pos..).unwrap_or(&[]);
        let Some((line, total)) = find_line(rest, window) else {
            // Without a line end in the window, the section is over the limit.
            if rest.len() >= window || used.saturating_add(pending_len(rest)) > MAX_HEADER_SECTION {
                return Err(ParseError::HeadersTooLarge);
            }
            let pending = rest.strip_suffix(b"\r").unwrap_or(rest);
            if pending.iter().any(|&b| !is_value_byte(b)) {
                return Err(ParseError::BadHeader);
            }
            return Ok(Status::Partial);
        };
        let line_start = pos;
        pos = pos.saturating_add(total);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(ParseError::ObsFold);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::BadHeader)?;
        let name = line.get(..colon).unwrap_or(&[]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::BadHeader);
        }
        let raw_value = line.get(colon.saturating_add(1)..).unwrap_or(&[]);
        if !raw_value.iter().all(|&b| is_value_byte(b)) {
            return Err(ParseError::BadHeader);
        }
        let value = trim_ows(raw_value);
        let after_ows = raw_value.iter().skip_while(|&&b| b == b' ' || b == b'\t').count();
        let leading = raw_value.len().saturating_sub(after_ows);
        let value_start = line_start
            .saturating_add(colon)
            .saturating_add(1)
            .saturating_add(leading);
        let slot = spans.get_mut(count).ok_or(ParseError::TooManyHeaders)?;
        *slot = Span {
            name_start: to_u16(line_start)?,
            name_len: to_u16(colon)?,
            value_start: to_u16(value_start)?,
            value_len: to_u16(value.len())?,
        };
        count = count.saturating_add(1);
        fields.note(name, value)?;
    }

    if fields.transfer_encoding {
        return Err(ParseError::TransferEncoding);
    }
    if fields.content_length.unwrap_or(0) > 0 {
        return Err(ParseError::BodyNotAllowed);
    }
    if version == Version::Http11 && fields.host.is_none() {
        return Err(ParseError::MissingHost);
    }
    let keep_alive = !fields.conn_close && (version == Version::Http11 || fields.conn_keep_alive);
    let request = Request {
        buf,
        method,
        target,
        version,
        spans,
        count,
        keep_alive,
        host: fields.host,
        if_modified_since: fields.if_modified_since,
        accept_encoding: fields.accept_encoding,
    };
    Ok(Status::Complete(request, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::compress::Encoding;

    fn complete(buf: &[u8]) -> (Request<'_>, usize) {
        match parse(buf) {
            Ok(Status::Complete(r, n)) => (r, n),
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn err(buf: &[u8]) -> ParseError {
        match parse(buf) {
            Err(e) => e,
            other => panic!("expected an error for {:?}, got {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    const SIMPLE: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n";

    #[test]
    fn refused_head_requests_are_recognised() {
        // HTTP/1.1 without Host: refused, but it was a HEAD (its 400 gets no body).
        let missing_host = b"HEAD /big.bin HTTP/1.1\r\nRange: bytes=0-10\r\n\r\n";
        assert_eq!(err(missing_host), ParseError::MissingHost);
        assert!(is_head_request(missing_host));
        assert!(is_head_request(b"\r\n\nHEAD / HTTP/1.1\r\nX: \x01\r\n\r\n"));
        assert!(is_head_request(b"HEAD /unfinished"));
        for other in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"HEADX / HTTP/1.1", b"HEAD", b"head / HTTP/1.1", b" HEAD /", b""] {
            assert!(!is_head_request(other), "{:?}", String::from_utf8_lossy(other));
        }
        // Empty lines beyond the request line limit: not a request at all.
        let mut long = vec![b'\n'; MAX_REQUEST_LINE + 2];
        long.extend_from_slice(b"HEAD / HTTP/1.1\r\n");
        assert!(!is_head_request(&long));
    }

    #[test]
    fn simple_get() {
        let (r, n) = complete(SIMPLE);
        assert_eq!(n, SIMPLE.len());
        assert_eq!(r.method(), Method::Get);
        assert_eq!(r.method().as_bytes(), b"GET");
        assert_eq!(r.method().rejection(), None);
        assert!(!r.is_head());
        assert_eq!(r.target(), b"/index.html");
        assert_eq!(r.version(), Version::Http11);
        assert!(r.keep_alive());
        assert_eq!(r.host(), Some(&b"example.com"[..]));
        assert_eq!(r.header_count(), 2);
        assert_eq!(r.header(b"user-agent"), Some(&b"test"[..]));
        assert_eq!(r.header(b"USER-AGENT"), Some(&b"test"[..]));
        assert_eq!(r.header(b"accept"), None);
        let all: Vec<_> = r.headers().collect();
        assert_eq!(
            all,
            vec![(&b"Host"[..], &b"example.com"[..]), (&b"User-Agent"[..], &b"test"[..])]
        );
        assert_eq!(r.if_modified_since(), None);
        assert!(!r.accept_encoding().is_present());
    }

    #[test]
    fn head_and_other_methods() {
        let (r, _) = complete(b"HEAD / HTTP/1.0\r\n\r\n");
        assert_eq!(r.method(), Method::Head);
        assert!(r.is_head());
        for (m, status) in [
            (&b"POST"[..], StatusCode::MethodNotAllowed),
            (b"PUT", StatusCode::MethodNotAllowed),
            (b"DELETE", StatusCode::MethodNotAllowed),
            (b"OPTIONS", StatusCode::MethodNotAllowed),
            (b"PATCH", StatusCode::MethodNotAllowed),
            (b"BREW", StatusCode::NotImplemented),
            (b"get", StatusCode::NotImplemented),
            (b"M-SEARCH", StatusCode::NotImplemented),
        ] {
            let mut req = m.to_vec();
            req.extend_from_slice(b" / HTTP/1.0\r\n\r\n");
            let (r, _) = complete(&req);
            assert_eq!(r.method(), Method::Other(m));
            assert_eq!(r.method().as_bytes(), m);
            assert_eq!(r.method().rejection(), Some(status));
        }
    }

    #[test]
    fn pipelined_requests() {
        let buf = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /c HTTP/1.0\nConnection: keep-alive\n\nGET /d";
        let mut off = 0;
        let mut seen = Vec::new();
        loop {
            match parse(&buf[off..]).unwrap() {
                Status::Complete(r, n) => {
                    seen.push((r.method(), r.target().to_vec(), r.keep_alive()));
                    off += n;
                }
                Status::Partial => break,
            }
        }
        assert_eq!(
            seen,
            vec![
                (Method::Get, b"/a".to_vec(), true),
                (Method::Head, b"/b".to_vec(), false),
                (Method::Get, b"/c".to_vec(), true),
            ]
        );
        assert_eq!(&buf[off..], b"GET /d");
    }

    #[test]
    fn byte_by_byte() {
        let req = b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        let mut stream = req.to_vec();
        stream.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        for end in 0..req.len() {
            assert_eq!(parse(&stream[..end]).unwrap(), Status::Partial, "prefix of {end} bytes");
        }
        for end in req.len()..=stream.len() {
            let (r, n) = complete(&stream[..end]);
            assert_eq!(n, req.len());
            assert_eq!(r.target(), b"/x?y=1");
            assert_eq!(r.if_modified_since_time(), Some(784_111_777));
            assert!(r.accept_encoding().accepts(Encoding::Gzip));
        }
    }

    #[test]
    fn lf_line_ends_and_leading_empty_lines() {
        let buf = b"\r\n\nGET / HTTP/1.1\nHost: h\n\n";
        let (r, n) = complete(buf);
        assert_eq!(n, buf.len());
        assert_eq!(r.target(), b"/");
        assert_eq!(r.header(b"host"), Some(&b"h"[..]));
        assert_eq!(parse(b"\r\n\r\n").unwrap(), Status::Partial);
        assert_eq!(parse(b"").unwrap(), Status::Partial);
        assert_eq!(parse(b"\r").unwrap(), Status::Partial);
        let endless = b"\r\n".repeat(MAX_REQUEST_LINE);
        assert_eq!(err(&endless), ParseError::BadRequestLine);
    }

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade , close\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nKeep-Alive: yes\r\n\r\n", false),
        ];
        for &(req, ka) in cases {
            assert_eq!(complete(req).0.keep_alive(), ka, "{}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn header_values_are_trimmed_and_may_be_empty() {
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost:h\r\nX-A: \t a b \t\r\nX-Empty:\r\nX-Sp:   \r\nx-a: second\r\n\r\n");
        assert_eq!(r.header(b"x-a"), Some(&b"a b"[..]));
        assert_eq!(r.header(b"x-empty"), Some(&b""[..]));
        assert_eq!(r.header(b"x-sp"), Some(&b""[..]));
        assert_eq!(r.headers().filter(|(n, _)| n.eq_ignore_ascii_case(b"x-a")).count(), 2);
        assert_eq!(r.host(), Some(&b"h"[..]));
    }

    #[test]
    fn derived_fields() {
        let (r, _) = complete(
            b"GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\nIf-Modified-Since: x\r\nAccept-Encoding: gzip;q=0\r\naccept-encoding: deflate;q=0.5\r\n\r\n",
        );
        assert_eq!(r.if_modified_since(), Some(&b"Sunday, 06-Nov-94 08:49:37 GMT"[..]));
        assert_eq!(r.if_modified_since_time(), Some(784_111_777));
        assert!(!r.accept_encoding().accepts(Encoding::Gzip));
        assert_eq!(r.accept_encoding().q(Encoding::Deflate), 500);
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: yesterday\r\n\r\n");
        assert_eq!(r.if_modified_since_time(), None);
    }

    #[test]
    fn range_and_validator_fields() {
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.range(), None);
        assert_eq!(r.if_range(), None);
        assert!(!r.has_if_none_match());
        assert_eq!(r.if_none_match().count(), 0);

        let (r, _) = complete(
            b"GET / HTTP/1.1\r\nHost: h\r\nrange:  bytes=0-5 \r\nIf-Range: \"abc\"\r\nIf-None-Match: \"a\", \"b\"\r\nX: y\r\nIF-NONE-MATCH: W/\"c\"\r\n\r\n",
        );
        assert_eq!(r.range(), Some(&b"bytes=0-5"[..]));
        assert_eq!(r.if_range(), Some(&b"\"abc\""[..]));
        assert!(r.has_if_none_match());
        let inm: Vec<&[u8]> = r.if_none_match().collect();
        assert_eq!(inm, vec![&b"\"a\", \"b\""[..], &b"W/\"c\""[..]]);
        assert_eq!(r.header_values(b"x").collect::<Vec<_>>(), vec![&b"y"[..]]);

        // An empty If-None-Match is still present.
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match:\r\n\r\n");
        assert!(r.has_if_none_match());
        // Two Range fields: ignored. Two If-Range fields: a value that matches nothing.
        let (r, _) = complete(
            b"GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\nIf-Range: \"a\"\r\nif-range: \"a\"\r\n\r\n",
        );
        assert_eq!(r.range(), None);
        assert_eq!(r.if_range(), Some(&b""[..]));
    }

    #[test]
    fn header_count_limit() {
        let mut req = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..MAX_HEADERS {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut ok = req.clone();
        ok.extend_from_slice(b"\r\n");
        assert_eq!(complete(&ok).0.header_count(), MAX_HEADERS);
        req.extend_from_slice(b"X-Last: v\r\n\r\n");
        assert_eq!(err(&req), ParseError::TooManyHeaders);
        assert_eq!(ParseError::TooManyHeaders.status().code(), 431);
    }

    #[test]
    fn request_line_limit() {
        let line_with_len = |n: usize| {
            let fixed = "GET / HTTP/1.1".len();
            let mut v = b"GET /".to_vec();
            v.extend(std::iter::repeat(b'a').take(n - fixed));
            v.extend_from_slice(b" HTTP/1.1");
            assert_eq!(v.len(), n);
            v
        };
        let mut ok = line_with_len(MAX_REQUEST_LINE);
        ok.extend_from_slice(b"\r\nHost: h\r\n\r\n");
        assert_eq!(complete(&ok).0.target().len(), MAX_REQUEST_LINE - 13);
        let mut long = line_with_len(MAX_REQUEST_LINE + 1);
        long.extend_from_slice(b"\r\nHost: h\r\n\r\n");
        assert_eq!(err(&long), ParseError::UriTooLong);
        let mut bare_lf = line_with_len(MAX_REQUEST_LINE + 1);
        bare_lf.extend_from_slice(b"\n\n");
        assert_eq!(err(&bare_lf), ParseError::UriTooLong);
        // Still incomplete, but already over the limit.
        let mut partial = b"GET /".to_vec();
        partial.resize(MAX_REQUEST_LINE, b'a');
        assert_eq!(parse(&partial).unwrap(), Status::Partial);
        partial.push(b'\r');
        assert_eq!(parse(&partial).unwrap(), Status::Partial);
        partial.pop();
        partial.push(b'a');
        assert_eq!(err(&partial), ParseError::UriTooLong);
        partial.resize(100_000, b'a');
        assert_eq!(err(&partial), ParseError::UriTooLong);
        assert_eq!(ParseError::UriTooLong.status().code(), 414);
    }

    #[test]
    fn header_section_limit() {
        let mut req = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
        let used = b"Host: h\r\nX-Big: ".len();
        // Exactly at the limit: value + CRLF + empty line fill the section.
        req.resize(req.len() + MAX_HEADER_SECTION - used - 4, b'v');
        let mut ok = req.clone();
        ok.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(parse(&ok), Ok(Status::Complete(..))));
        let mut over = req.clone();
        over.extend_from_slice(b"v\r\n\r\n");
        assert_eq!(err(&over), ParseError::HeadersTooLarge);
        // Incomplete but over the limit.
        let mut partial = req.clone();
        partial.extend_from_slice(b"\r\nX: ");
        assert_eq!(err(&partial), ParseError::HeadersTooLarge);
        let mut partial = req;
        partial.extend_from_slice(b"vvvvvvvv");
        assert_eq!(err(&partial), ParseError::HeadersTooLarge);
        assert_eq!(ParseError::HeadersTooLarge.status().code(), 431);
    }

    #[test]
    fn malformed_request_lines() {
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET /  HTTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"GET /\tx HTTP/1.1\r\n\r\n",
            b"GET /\rx HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        ] {
            let e = err(bad);
            assert_eq!(e.status().code(), 400, "{:?} {e:?}", String::from_utf8_lossy(bad));
        }
        // Garbage is refused before a line end arrives.
        assert_eq!(err(b"\x16\x03\x01\x02\x00"), ParseError::BadRequestLine);
        assert_eq!(err(b"G(T /"), ParseError::BadRequestLine);
        assert_eq!(err(b" GET"), ParseError::BadRequestLine);
        assert_eq!(err(b"GET /\x00"), ParseError::BadRequestLine);
        assert_eq!(parse(b"GET /\x80").unwrap(), Status::Partial);
    }

    #[test]
    fn versions() {
        let v = |line: &str| {
            let req = format!("GET / {line}\r\nHost: h\r\n\r\n");
            parse(req.as_bytes()).map(|s| match s {
                Status::Complete(r, _) => r.version(),
                Status::Partial => panic!("partial"),
            })
        };
        assert_eq!(v("HTTP/1.0"), Ok(Version::Http10));
        assert_eq!(v("HTTP/1.1"), Ok(Version::Http11));
        assert_eq!(v("HTTP/1.2"), Ok(Version::Http11));
        assert_eq!(v("HTTP/2.0"), Err(ParseError::UnsupportedVersion));
        assert_eq!(v("HTTP/0.9"), Err(ParseError::UnsupportedVersion));
        assert_eq!(v("HTTP/3.0"), Err(ParseError::UnsupportedVersion));
        assert_eq!(ParseError::UnsupportedVersion.status().code(), 505);
        for bad in ["HTTP/1.10", "http/1.1", "HTTP/11", "HTTP/1", "HTTP/a.b", "HTTPS/1.1", "HTTP/1.1x"] {
            assert_eq!(v(bad), Err(ParseError::BadVersion), "{bad}");
        }
    }

    #[test]
    fn malformed_headers() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", ParseError::ObsFold),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\tfolded\r\n\r\n", ParseError::ObsFold),
            (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[31m\r\n\r\n", ParseError::BadHeader),
            (b"GET / HTTP/1.1\r\n\r\n", ParseError::MissingHost),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ParseError::DuplicateHost),
            (b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", ParseError::DuplicateHost),
        ];
        for &(req, e) in cases {
            assert_eq!(err(req), e, "{}", String::from_utf8_lossy(req));
            assert_eq!(e.status().code(), 400);
        }
        // Control characters are refused before the line is complete.
        assert_eq!(err(b"GET / HTTP/1.1\r\nX: a\x00"), ParseError::BadHeader);
        // Non-ASCII (obs-text) in values is allowed.
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n");
        assert_eq!(r.header(b"x"), Some(&b"caf\xc3\xa9"[..]));
    }

    #[test]
    fn bodies_are_refused() {
        let te = b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(err(te), ParseError::TransferEncoding);
        assert_eq!(ParseError::TransferEncoding.status().code(), 501);
        let cl = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(err(cl), ParseError::BodyNotAllowed);
        assert_eq!(ParseError::BodyNotAllowed.status().code(), 413);
        let (_, n) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(n, 46);
        let (_, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\ncontent-length: 0\r\n\r\n");
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
        ] {
            assert_eq!(err(bad), ParseError::BadContentLength, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn targets_are_kept_raw() {
        for t in [&b"/"[..], b"/a%20b?q=1#f", b"http://host/x", b"*", b"/caf\xc3\xa9", b"/..%2f"] {
            let mut req = b"GET ".to_vec();
            req.extend_from_slice(t);
            req.extend_from_slice(b" HTTP/1.0\r\n\r\n");
            assert_eq!(complete(&req).0.target(), t);
        }
    }

    #[test]
    fn request_stays_small() {
        // Kernel stacks are 16 KiB: the parsed request must stay far below that.
        assert!(core::mem::size_of::<Request<'_>>() <= 512, "{}", core::mem::size_of::<Request<'_>>());
    }
}
