//! Incremental HTTP/1.x response framing.
//!
//! Finds where one response ends (Content-Length, chunked, or close) while the
//! bytes stream in, without keeping the body: only the current header or chunk
//! line is buffered, so memory stays small however big the response is.

use std::fmt;

/// Longest status, header, chunk-size or trailer line we accept.
const MAX_LINE: usize = 16 * 1024;
/// Most header (or trailer) lines in one response.
const MAX_HEADERS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    BadStatusLine,
    BadHeader,
    BadContentLength,
    BadChunkSize,
    BadChunkTerminator,
    LineTooLong,
    TooManyHeaders,
    /// The connection closed before the response was complete.
    Incomplete,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ParseError::BadStatusLine => "malformed status line",
            ParseError::BadHeader => "malformed header line",
            ParseError::BadContentLength => "invalid Content-Length",
            ParseError::BadChunkSize => "invalid chunk size",
            ParseError::BadChunkTerminator => "chunk data not followed by CRLF",
            ParseError::LineTooLong => "line too long",
            ParseError::TooManyHeaders => "too many header lines",
            ParseError::Incomplete => "connection closed before the response was complete",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StatusLine,
    Headers,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    line: Vec<u8>,
    lines: usize,
    status: Option<u16>,
    http11: bool,
    content_length: Option<u64>,
    chunked: bool,
    other_coding: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    until_close: bool,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    pub fn new() -> Self {
        ResponseParser {
            state: State::StatusLine,
            line: Vec::with_capacity(256),
            lines: 0,
            status: None,
            http11: false,
            content_length: None,
            chunked: false,
            other_coding: false,
            conn_close: false,
            conn_keep_alive: false,
            until_close: false,
        }
    }

    /// Ready for the next response on the same connection (keeps the line buffer).
    pub fn reset(&mut self) {
        self.state = State::StatusLine;
        self.line.clear();
        self.reset_headers();
        self.status = None;
        self.until_close = false;
    }

    fn reset_headers(&mut self) {
        self.lines = 0;
        self.http11 = false;
        self.content_length = None;
        self.chunked = false;
        self.other_coding = false;
        self.conn_close = false;
        self.conn_keep_alive = false;
    }

    /// Status code of the (final) response, once its status line is in.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the connection may carry another request after this response
    /// to an HTTP/1.1 request.
    pub fn keep_alive(&self) -> bool {
        if self.until_close || self.conn_close {
            return false;
        }
        self.http11 || self.conn_keep_alive
    }

    /// The same after an HTTP/1.0 request: only an explicit keep-alive keeps
    /// the connection, whatever version the server speaks.
    pub fn keep_alive_http10(&self) -> bool {
        !self.until_close && !self.conn_close && self.conn_keep_alive
    }

    /// Consumes the bytes of `data` that belong to the current response and
    /// returns how many; stops at the end of the response (see `is_complete`).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, ParseError> {
        let mut pos = 0;
        while pos < data.len() {
            match self.state {
                State::Done => break,
                State::UntilClose => pos = data.len(),
                State::Body(left) | State::ChunkData(left) => {
                    let take = left.min((data.len() - pos) as u64);
                    pos += take as usize;
                    let left = left - take;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Done,
                        (State::Body(_), n) => State::Body(n),
                        (_, 0) => State::ChunkEnd,
                        (_, n) => State::ChunkData(n),
                    };
                }
                State::StatusLine
                | State::Headers
                | State::ChunkSize
                | State::ChunkEnd
                | State::Trailers => {
                    let rest = &data[pos..];
                    match rest.iter().position(|&b| b == b'\n') {
                        None => {
                            if self.line.len() + rest.len() > MAX_LINE {
                                return Err(ParseError::LineTooLong);
                            }
                            self.line.extend_from_slice(rest);
                            pos = data.len();
                        }
                        Some(nl) => {
                            if self.line.len() + nl > MAX_LINE {
                                return Err(ParseError::LineTooLong);
                            }
                            pos += nl + 1;
                            // Take the buffer out so the line can be read while
                            // the rest of `self` is updated.
                            let mut buf = std::mem::take(&mut self.line);
                            let res = if buf.is_empty() {
                                self.on_line(strip_cr(&rest[..nl]))
                            } else {
                                buf.extend_from_slice(&rest[..nl]);
                                self.on_line(strip_cr(&buf))
                            };
                            buf.clear();
                            self.line = buf;
                            res?;
                        }
                    }
                }
            }
        }
        Ok(pos)
    }

    /// The peer closed the connection: ends a body delimited by close.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ParseError::Incomplete),
        }
    }

    fn on_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        match self.state {
            State::StatusLine => self.on_status_line(line),
            State::Headers => {
                if line.is_empty() {
                    self.end_of_headers();
                    Ok(())
                } else {
                    self.count_line()?;
                    self.on_header(line)
                }
            }
            State::ChunkSize => {
                let size = parse_chunk_size(line)?;
                self.state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
                Ok(())
            }
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Err(ParseError::BadChunkTerminator);
                }
                self.state = State::ChunkSize;
                Ok(())
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Done;
                    Ok(())
                } else {
                    self.count_line()
                }
            }
            _ => unreachable!("line state"),
        }
    }

    fn count_line(&mut self) -> Result<(), ParseError> {
        self.lines += 1;
        if self.lines > MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        Ok(())
    }

    fn on_status_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let rest = line.strip_prefix(b"HTTP/").ok_or(ParseError::BadStatusLine)?;
        let sp = rest.iter().position(|&b| b == b' ').ok_or(ParseError::BadStatusLine)?;
        let version = &rest[..sp];
        let (major, minor) = match version {
            [ma, b'.', mi] if ma.is_ascii_digit() && mi.is_ascii_digit() => (ma - b'0', mi - b'0'),
            _ => return Err(ParseError::BadStatusLine),
        };
        let code = &rest[sp + 1..];
        if code.len() < 3 || (code.len() > 3 && code[3] != b' ') {
            return Err(ParseError::BadStatusLine);
        }
        let mut status = 0u16;
        for &d in &code[..3] {
            if !d.is_ascii_digit() {
                return Err(ParseError::BadStatusLine);
            }
            status = status * 10 + u16::from(d - b'0');
        }
        if status < 100 {
            return Err(ParseError::BadStatusLine);
        }
        self.reset_headers();
        self.http11 = (major, minor) >= (1, 1);
        self.status = Some(status);
        self.state = State::Headers;
        Ok(())
    }

    fn on_header(&mut self, line: &[u8]) -> Result<(), ParseError> {
        if line[0] == b' ' || line[0] == b'\t' {
            // Obsolete line folding: continues a header we do not care about.
            return Ok(());
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(ParseError::BadHeader)?;
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::BadHeader);
        }
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value).ok_or(ParseError::BadContentLength)?;
            if self.content_length.is_some_and(|old| old != n) {
                return Err(ParseError::BadContentLength);
            }
            self.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding decides the framing.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            if last.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
                self.other_coding = false;
            } else if !last.is_empty() {
                self.chunked = false;
                self.other_coding = true;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    self.conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.conn_keep_alive = true;
                }
            }
        }
        Ok(())
    }

    fn end_of_headers(&mut self) {
        let status = self.status.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): the real one follows.
            self.state = State::StatusLine;
            self.status = None;
            return;
        }
        self.state = if status == 204 || status == 304 {
            State::Done
        } else if self.chunked {
            State::ChunkSize
        } else if self.other_coding {
            self.until_close = true;
            State::UntilClose
        } else {
            match self.content_length {
                Some(0) => State::Done,
                Some(n) => State::Body(n),
                None => {
                    self.until_close = true;
                    State::UntilClose
                }
            }
        };
        // Trailers share the header line budget.
        self.lines = 0;
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    // Chunk extensions (";name=value") are allowed and ignored.
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let digits = line[..end].trim_ascii();
    if digits.is_empty() {
        return Err(ParseError::BadChunkSize);
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        let v = (d as char).to_digit(16).ok_or(ParseError::BadChunkSize)?;
        acc.checked_mul(16)
            .and_then(|a| a.checked_add(u64::from(v)))
            .ok_or(ParseError::BadChunkSize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` in the given pieces; returns total consumed and the parser.
    fn feed_split(data: &[u8], cuts: &[usize]) -> Result<(usize, ResponseParser), ParseError> {
        let mut p = ResponseParser::new();
        let mut start = 0;
        let mut consumed = 0;
        for &end in cuts.iter().chain(std::iter::once(&data.len())) {
            if p.is_complete() {
                break;
            }
            let n = p.feed(&data[start..end])?;
            consumed += n;
            if n < end - start {
                assert!(p.is_complete(), "stopped early without completing");
            }
            start = end;
        }
        Ok((consumed, p))
    }

    #[test]
    fn content_length_every_split() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
        for cut in 0..=resp.len() {
            let (n, p) = feed_split(resp, &[cut]).unwrap();
            assert_eq!(n, resp.len(), "cut {cut}");
            assert!(p.is_complete());
            assert_eq!(p.status(), Some(200));
            assert!(p.keep_alive());
        }
    }

    #[test]
    fn content_length_byte_by_byte() {
        let resp = b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nabc";
        let cuts: Vec<usize> = (1..resp.len()).collect();
        let (n, p) = feed_split(resp, &cuts).unwrap();
        assert_eq!(n, resp.len());
        assert_eq!(p.status(), Some(404));
    }

    #[test]
    fn stops_at_end_and_leaves_next_response() {
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
        let mut two = one.clone();
        two.extend_from_slice(&one);
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(&two).unwrap(), one.len());
        assert!(p.is_complete());
        assert_eq!(p.feed(&two[one.len()..]).unwrap(), 0);
        p.reset();
        assert_eq!(p.feed(&two[one.len()..]).unwrap(), one.len());
        assert!(p.is_complete());
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n";

    #[test]
    fn chunked_every_split() {
        for cut in 0..=CHUNKED.len() {
            let (n, p) = feed_split(CHUNKED, &[cut]).unwrap();
            assert_eq!(n, CHUNKED.len(), "cut {cut}");
            assert!(p.is_complete(), "cut {cut}");
            assert_eq!(p.status(), Some(200));
        }
    }

    #[test]
    fn chunked_every_pair_of_splits() {
        for a in 0..=CHUNKED.len() {
            for b in a..=CHUNKED.len() {
                let (n, p) = feed_split(CHUNKED, &[a, b]).unwrap();
                assert_eq!(n, CHUNKED.len(), "cuts {a} {b}");
                assert!(p.is_complete());
            }
        }
    }

    #[test]
    fn chunked_byte_by_byte_with_trailing_data() {
        let mut data = CHUNKED.to_vec();
        data.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut p = ResponseParser::new();
        let mut consumed = 0;
        for b in data.chunks(1) {
            consumed += p.feed(b).unwrap();
        }
        assert_eq!(consumed, CHUNKED.len());
        assert!(p.is_complete());
    }

    #[test]
    fn chunked_is_not_complete_without_last_chunk() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(resp).unwrap(), resp.len());
        assert!(!p.is_complete());
        assert_eq!(p.eof(), Err(ParseError::Incomplete));
    }

    #[test]
    fn bad_chunk_size() {
        for bad in [&b"zz\r\n"[..], b"\r\n", b"; ext\r\n", b"-1\r\n", b"10000000000000000\r\n"] {
            let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            resp.extend_from_slice(bad);
            let mut p = ResponseParser::new();
            assert_eq!(p.feed(&resp), Err(ParseError::BadChunkSize), "{bad:?}");
        }
    }

    #[test]
    fn bad_chunk_terminator() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(resp), Err(ParseError::BadChunkTerminator));
    }

    #[test]
    fn until_close() {
        let resp = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome body";
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(resp).unwrap(), resp.len());
        assert!(!p.is_complete());
        assert!(!p.keep_alive());
        p.eof().unwrap();
        assert!(p.is_complete());
        assert_eq!(p.status(), Some(200));
    }

    #[test]
    fn connection_header_and_version() {
        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(p.is_complete());
        assert!(!p.keep_alive());

        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(p.keep_alive());

        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(!p.keep_alive());

        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(p.keep_alive());
        assert!(!p.keep_alive_http10());
    }

    #[test]
    fn no_body_statuses_and_interim() {
        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").unwrap();
        assert!(p.is_complete());

        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nContent-Length: 1\r\n\r\nx";
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(resp).unwrap(), resp.len());
        assert!(p.is_complete());
        assert_eq!(p.status(), Some(302));
    }

    #[test]
    fn bad_status_and_headers() {
        for bad in [&b"HTTX/1.1 200 OK\r\n"[..], b"HTTP/1.1 2x0 OK\r\n", b"HTTP/1.1 20\r\n", b"garbage\r\n"] {
            assert_eq!(ResponseParser::new().feed(bad), Err(ParseError::BadStatusLine), "{bad:?}");
        }
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nno colon here\r\n"), Err(ParseError::BadHeader));
        let mut p = ResponseParser::new();
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
            Err(ParseError::BadContentLength)
        );
        let mut p = ResponseParser::new();
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(ParseError::BadContentLength)
        );
    }

    #[test]
    fn status_without_reason_and_overlong_line() {
        let mut p = ResponseParser::new();
        p.feed(b"HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(p.status(), Some(500));
        assert!(p.is_complete());

        let mut p = ResponseParser::new();
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(p.feed(&long), Err(ParseError::LineTooLong));
    }
}
