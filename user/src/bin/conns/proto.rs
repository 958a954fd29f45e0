//! The pure parts of `conns`: which source address a connection binds, the request
//! it sends, and the checks of what comes back (an HTTP/1.1 200 with a complete body
//! of the announced length, or the echo of the payload). No I/O here: everything is
//! fed byte slices, so it is unit-tested on the host.

use std::fmt;
use std::net::Ipv4Addr;

/// Longest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// The source address of connection `i` with `sources` addresses in rotation:
/// 127.0.0.1, 127.0.0.2, ..., 127.0.0.`sources`, then 127.0.0.1 again.
pub fn source_addr(i: u64, sources: u8) -> Ipv4Addr {
    let k = u64::from(sources.max(1));
    Ipv4Addr::new(127, 0, 0, 1 + (i % k) as u8)
}

/// The request every HTTP connection sends: HTTP/1.1, so the connection stays open.
pub fn http_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// Byte `off` of the echo payload of connection `conn`: different for every
/// connection (an echo that lands on the wrong connection is caught), not text.
pub fn payload_byte(conn: u64, off: u64) -> u8 {
    (conn.wrapping_mul(2_654_435_761).wrapping_add(off.wrapping_mul(7)) % 251) as u8
}

/// Fills `buf` with the payload of `conn` starting at byte `off`.
pub fn payload_into(conn: u64, off: u64, buf: &mut [u8]) {
    for (j, b) in buf.iter_mut().enumerate() {
        *b = payload_byte(conn, off + j as u64);
    }
}

/// Why an answer was not the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// The status line is not `HTTP/1.1 200 ...` (the line as received, shortened).
    Status(String),
    HeadTooLong,
    BadHeader,
    NoContentLength,
    BadContentLength,
    /// `Transfer-Encoding` (chunked): not what a static file should get.
    Chunked,
    /// `Connection: close` on a keep-alive request: the server will not hold it.
    ConnectionClose,
    /// Content-Length differs from the expected body's length.
    Length { announced: u64, expected: u64 },
    /// The body (or echo) differs from the expected bytes at this offset.
    Mismatch { offset: u64 },
    /// More bytes than one response (or one echo) holds.
    Extra,
    /// The connection ended before the answer was complete (bytes so far).
    Incomplete(u64),
}

impl Bad {
    /// A short, stable name for counting kinds of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Bad::Status(_) => "status",
            Bad::HeadTooLong => "head_too_long",
            Bad::BadHeader => "bad_header",
            Bad::NoContentLength => "no_content_length",
            Bad::BadContentLength => "bad_content_length",
            Bad::Chunked => "chunked",
            Bad::ConnectionClose => "connection_close",
            Bad::Length { .. } => "length",
            Bad::Mismatch { .. } => "mismatch",
            Bad::Extra => "extra_bytes",
            Bad::Incomplete(_) => "incomplete",
        }
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Status(s) => write!(f, "status line is not HTTP/1.1 200: {s:?}"),
            Bad::HeadTooLong => write!(f, "response head longer than {MAX_HEAD} bytes"),
            Bad::BadHeader => f.write_str("malformed header line"),
            Bad::NoContentLength => f.write_str("no Content-Length"),
            Bad::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            Bad::Chunked => f.write_str("Transfer-Encoding in the response (a file should have a Content-Length)"),
            Bad::ConnectionClose => f.write_str("Connection: close on a keep-alive request"),
            Bad::Length { announced, expected } => {
                write!(f, "Content-Length {announced}, expected body has {expected} bytes")
            }
            Bad::Mismatch { offset } => write!(f, "wrong byte at offset {offset}"),
            Bad::Extra => f.write_str("more bytes than one answer"),
            Bad::Incomplete(n) => write!(f, "connection ended after {n} bytes of the answer"),
        }
    }
}

/// Whether an answer is complete after the bytes fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

/// Checks one HTTP/1.1 response as it streams in. Only the head is buffered; the
/// body is counted (and compared with `expect` when given) without being kept.
#[derive(Debug, Default)]
pub struct HttpCheck {
    head: Vec<u8>,
    /// Body length once the head is parsed.
    length: Option<u64>,
    body: u64,
}

impl HttpCheck {
    pub fn new() -> HttpCheck {
        HttpCheck::default()
    }

    /// Bytes received so far (head and body).
    pub fn received(&self) -> u64 {
        self.head.len() as u64 + self.body
    }

    /// Feeds the next bytes of the connection. `expect`: the body the server must send.
    pub fn feed(&mut self, data: &[u8], expect: Option<&[u8]>) -> Result<Progress, Bad> {
        if self.length.is_none() {
            // Look for the blank line, also across the boundary of the previous piece.
            let from = self.head.len().saturating_sub(3);
            self.head.extend_from_slice(data);
            let Some(end) = find(&self.head[from..], b"\r\n\r\n").map(|i| from + i + 4) else {
                return if self.head.len() > MAX_HEAD { Err(Bad::HeadTooLong) } else { Ok(Progress::More) };
            };
            if end > MAX_HEAD {
                return Err(Bad::HeadTooLong);
            }
            let len = parse_head(&self.head[..end])?;
            if let Some(e) = expect {
                if len != e.len() as u64 {
                    return Err(Bad::Length { announced: len, expected: e.len() as u64 });
                }
            }
            // What followed the head is the start of the body; keep the head only.
            let rest = self.head.split_off(end);
            self.head.shrink_to_fit();
            self.length = Some(len);
            return self.feed_body(&rest, expect);
        }
        self.feed_body(data, expect)
    }

    fn feed_body(&mut self, data: &[u8], expect: Option<&[u8]>) -> Result<Progress, Bad> {
        let len = self.length.unwrap_or(0);
        let left = len - self.body;
        if data.len() as u64 > left {
            return Err(Bad::Extra);
        }
        if let Some(e) = expect {
            let at = self.body as usize;
            if let Some(i) = data.iter().zip(&e[at..]).position(|(a, b)| a != b) {
                return Err(Bad::Mismatch { offset: self.body + i as u64 });
            }
        }
        self.body += data.len() as u64;
        Ok(if self.body == len { Progress::Done } else { Progress::More })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a complete response head (through the blank line): the status must be
/// `HTTP/1.1 200`, the body framed by one Content-Length, the connection kept.
/// Returns the body length.
pub fn parse_head(head: &[u8]) -> Result<u64, Bad> {
    let text = head.strip_suffix(b"\r\n\r\n").ok_or(Bad::BadHeader)?;
    let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next().unwrap_or_default();
    let ok = status
        .strip_prefix(b"HTTP/1.1 200")
        .is_some_and(|rest| rest.is_empty() || rest[0] == b' ');
    if !ok {
        let shown: String = String::from_utf8_lossy(status).chars().take(80).collect();
        return Err(Bad::Status(shown));
    }
    let mut length = None;
    for line in lines {
        let colon = line.iter().position(|&b| b == b':').ok_or(Bad::BadHeader)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(Bad::BadHeader);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value).ok().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            let v: u64 = v.and_then(|v| v.parse().ok()).ok_or(Bad::BadContentLength)?;
            if length.is_some_and(|l| l != v) {
                return Err(Bad::BadContentLength);
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Bad::Chunked);
        } else if name.eq_ignore_ascii_case(b"connection")
            && value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(b"close"))
        {
            return Err(Bad::ConnectionClose);
        }
    }
    length.ok_or(Bad::NoContentLength)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Checks the echo of connection `conn`'s payload of `len` bytes as it comes back.
#[derive(Debug)]
pub struct EchoCheck {
    conn: u64,
    len: u64,
    got: u64,
}

impl EchoCheck {
    pub fn new(conn: u64, len: u64) -> EchoCheck {
        EchoCheck { conn, len, got: 0 }
    }

    pub fn received(&self) -> u64 {
        self.got
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, Bad> {
        if data.len() as u64 > self.len - self.got {
            return Err(Bad::Extra);
        }
        for (j, &b) in data.iter().enumerate() {
            let off = self.got + j as u64;
            if b != payload_byte(self.conn, off) {
                return Err(Bad::Mismatch { offset: off });
            }
        }
        self.got += data.len() as u64;
        Ok(if self.got == self.len { Progress::Done } else { Progress::More })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";

    #[test]
    fn sources_rotate() {
        assert_eq!(source_addr(0, 1), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_addr(7, 1), Ipv4Addr::new(127, 0, 0, 1));
        let got: Vec<u8> = (0..9).map(|i| source_addr(i, 4).octets()[3]).collect();
        assert_eq!(got, [1, 2, 3, 4, 1, 2, 3, 4, 1]);
        assert_eq!(source_addr(253, 254), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(source_addr(254, 254), Ipv4Addr::new(127, 0, 0, 1));
        // 0 behaves as 1 rather than dividing by zero.
        assert_eq!(source_addr(5, 0), Ipv4Addr::new(127, 0, 0, 1));
    }

    #[test]
    fn request() {
        assert_eq!(http_request("/a.txt"), b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn whole_response_at_once() {
        let mut c = HttpCheck::new();
        assert_eq!(c.feed(OK, Some(b"hello")), Ok(Progress::Done));
        let mut c = HttpCheck::new();
        assert_eq!(c.feed(OK, None), Ok(Progress::Done));
        assert_eq!(c.received(), OK.len() as u64);
    }

    #[test]
    fn response_byte_by_byte() {
        let mut c = HttpCheck::new();
        for (i, b) in OK.iter().enumerate() {
            let p = c.feed(std::slice::from_ref(b), Some(b"hello")).unwrap();
            assert_eq!(p == Progress::Done, i == OK.len() - 1, "at byte {i}");
        }
    }

    #[test]
    fn empty_body_is_done_with_the_head() {
        let mut c = HttpCheck::new();
        assert_eq!(c.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", None), Ok(Progress::Done));
    }

    #[test]
    fn bad_responses() {
        let feed = |r: &[u8], e: Option<&[u8]>| HttpCheck::new().feed(r, e);
        assert_eq!(feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", None),
                   Err(Bad::Status("HTTP/1.1 404 Not Found".into())));
        assert!(matches!(feed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", None), Err(Bad::Status(_))));
        assert!(matches!(feed(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", None), Err(Bad::Status(_))));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\n\r\n", None), Err(Bad::NoContentLength));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", None), Err(Bad::BadContentLength));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", None), Err(Bad::BadContentLength));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", None),
                   Err(Bad::BadContentLength));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length:1\r\n\r\nx", None),
                   Ok(Progress::Done));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", None), Err(Bad::Chunked));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n", None),
                   Err(Bad::ConnectionClose));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n", None), Err(Bad::BadHeader));
        assert_eq!(feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", None), Err(Bad::Extra));
        assert_eq!(feed(OK, Some(b"hellO")), Err(Bad::Mismatch { offset: 4 }));
        assert_eq!(feed(OK, Some(b"hello!")), Err(Bad::Length { announced: 5, expected: 6 }));
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(feed(&long, None), Err(Bad::HeadTooLong));
    }

    #[test]
    fn head_split_inside_the_blank_line() {
        let mut c = HttpCheck::new();
        let (a, b) = OK.split_at(OK.iter().position(|&x| x == b'h').unwrap() - 2);
        assert_eq!(c.feed(a, None), Ok(Progress::More));
        assert_eq!(c.feed(b, None), Ok(Progress::Done));
    }

    #[test]
    fn echo_roundtrip() {
        let mut buf = vec![0u8; 100];
        payload_into(3, 0, &mut buf);
        let mut c = EchoCheck::new(3, 100);
        assert_eq!(c.feed(&buf[..40]), Ok(Progress::More));
        assert_eq!(c.feed(&buf[40..]), Ok(Progress::Done));
        assert_eq!(c.received(), 100);
        // Another connection's payload is caught.
        let mut other = vec![0u8; 100];
        payload_into(4, 0, &mut other);
        assert_ne!(buf, other);
        assert!(matches!(EchoCheck::new(3, 100).feed(&other), Err(Bad::Mismatch { .. })));
        // Continuing at an offset gives the same bytes.
        let mut tail = vec![0u8; 60];
        payload_into(3, 40, &mut tail);
        assert_eq!(&tail[..], &buf[40..]);
        let mut c = EchoCheck::new(3, 10);
        assert_eq!(c.feed(&buf[..11]), Err(Bad::Extra));
    }
}
