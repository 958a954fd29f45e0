//! Parser for what user space writes to `/proc/net/drop_tcp_sock`.
//!
//! # Write format
//!
//! A write is a sequence of tokens separated by ASCII whitespace (space, `\t`,
//! `\n`, `\r`, vertical tab, form feed; any amount, leading and trailing
//! allowed). Tokens pair up as `LOCAL REMOTE` tuples:
//!
//! ```text
//! 127.0.0.1:41234 127.0.0.1:8081
//! [::1]:41234 [::1]:8081
//! ```
//!
//! * IPv4: `a.b.c.d:port`, four decimal octets 0..=255. Leading zeros are
//!   refused (`01.2.3.4`): `inet_aton` reads them as octal, so they are
//!   ambiguous.
//! * IPv6: `[addr]:port`, any RFC 4291 text form (`::` once, 1-4 hex digits
//!   per group, either case, an embedded IPv4 tail such as `::ffff:1.2.3.4`).
//!   Brackets are required: `::1:80` could be read two ways. Zone ids
//!   (`%eth0`) are refused.
//! * port: decimal 1..=65535, no leading zeros, no sign.
//! * both addresses of a tuple must be of the same family (an IPv4-mapped
//!   IPv6 address counts as IPv6).
//! * the last tuple needs no trailing whitespace.
//! * one NUL byte at the very end of the write is ignored (so a C string
//!   written with its terminator works); a NUL anywhere else is part of a
//!   token and makes it malformed.
//!
//! # Write semantics (the module's contract)
//!
//! * A write holds whole tuples: a tuple is never split across two writes
//!   (each write is parsed on its own, so a split tuple is malformed or, if
//!   split between its two addresses, an odd token count).
//! * A write is parsed completely by [`validate`] before anything is dropped:
//!   any malformed token fails the whole write with `EINVAL` and nothing from
//!   it is applied. The [`TupleError`] names the token (index and bytes).
//! * A write larger than [`MAX_WRITE`] bytes is refused (`EFBIG`) unread.
//!
//! Everything here is `no_std`, allocation-free, linear in the input and
//! free of panicking operations on input data.

use core::fmt;

/// Largest single write the module accepts, in bytes. Writers batch their
/// tuples so that every write is at most this long.
pub const MAX_WRITE: usize = 65536;

/// Longest token accepted. The longest valid one,
/// `[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535`, is 53 bytes.
pub const MAX_TOKEN_LEN: usize = 64;

/// Longest line a writer produces for one tuple: two maximal tokens, a
/// separator and a newline.
pub const MAX_TUPLE_LINE: usize = 2 * 53 + 2;

/// The socket address type, shared with the kernel crate and the tools.
pub use netaddr::SocketAddr;

/// One `LOCAL REMOTE` tuple: the socket's own address and its peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// The socket's local address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// Why a token (or a write) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The write is longer than [`MAX_WRITE`]; no token is named.
    WriteTooLarge,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    TokenTooLong,
    /// No `:port` (or nothing after the `:`).
    MissingPort,
    /// The port is not plain decimal (sign, other characters, leading zero).
    BadPort,
    /// The port is 0 or above 65535.
    PortOutOfRange,
    /// Not a valid dotted-quad IPv4 address.
    BadIpv4,
    /// Not a valid IPv6 address inside the brackets.
    BadIpv6,
    /// An IPv6 address without brackets.
    UnbracketedIpv6,
    /// `[` without a matching `]`.
    UnclosedBracket,
    /// An IPv6 zone id (`%eth0`).
    ZoneId,
    /// The last address has no partner (odd number of tokens).
    MissingRemote,
    /// Local and remote addresses are of different families.
    FamilyMismatch,
}

impl Reason {
    /// Short human description, without needing `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::WriteTooLarge => "write larger than 65536 bytes",
            Reason::TokenTooLong => "token too long",
            Reason::MissingPort => "missing :port",
            Reason::BadPort => "port is not a plain decimal number",
            Reason::PortOutOfRange => "port out of range 1..65535",
            Reason::BadIpv4 => "malformed IPv4 address (a.b.c.d, no leading zeros)",
            Reason::BadIpv6 => "malformed IPv6 address",
            Reason::UnbracketedIpv6 => "IPv6 address must be bracketed: [addr]:port",
            Reason::UnclosedBracket => "missing ']'",
            Reason::ZoneId => "IPv6 zone ids (%...) are not supported",
            Reason::MissingRemote => "last tuple has no remote address (odd token count)",
            Reason::FamilyMismatch => "local and remote address families differ",
        }
    }
}

/// A refused token: its position in the write and the reason.
///
/// `index` counts tokens from 0 within the write; `start..end` is the
/// token's byte range in the buffer given to the parser. For
/// [`Reason::WriteTooLarge`] the range is the whole buffer and `index` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TupleError {
    /// Token number, from 0.
    pub index: usize,
    /// First byte of the token.
    pub start: usize,
    /// One past the last byte of the token.
    pub end: usize,
    /// What is wrong with it.
    pub reason: Reason,
}

impl TupleError {
    /// The offending token's bytes within `buf` (the buffer that was parsed);
    /// empty if `buf` is not that buffer.
    pub fn token<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }
}

/// Iterator over the tuples of one write; see [`tuples`].
///
/// Yields `Ok` tuples in order; on the first malformed token it yields one
/// `Err` and then ends.
#[derive(Clone, Debug)]
pub struct Tuples<'a> {
    buf: &'a [u8],
    pos: usize,
    index: usize,
    failed: bool,
}

/// Iterates over the tuples in `buf`. No size limit is applied here; the
/// module's gate is [`validate`].
pub fn tuples(buf: &[u8]) -> Tuples<'_> {
    // One terminating NUL is tolerated (C string written with its NUL).
    let buf = match buf.split_last() {
        Some((0, head)) => head,
        _ => buf,
    };
    Tuples {
        buf,
        pos: 0,
        index: 0,
        failed: false,
    }
}

/// Checks a whole write: `Ok(number of tuples)` if every token is valid,
/// else the first error. Refuses buffers over [`MAX_WRITE`]
/// ([`Reason::WriteTooLarge`]). For buffers within the limit, `Ok(n)` means
/// [`tuples`] yields exactly `n` `Ok`s and no error, and `Err(e)` means it
/// yields `e` as its first error.
pub fn validate(buf: &[u8]) -> Result<usize, TupleError> {
    if buf.len() > MAX_WRITE {
        return Err(TupleError {
            index: 0,
            start: 0,
            end: buf.len(),
            reason: Reason::WriteTooLarge,
        });
    }
    let mut n = 0usize;
    for t in tuples(buf) {
        t?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

/// Parses a single `addr:port` / `[addr]:port` token.
pub fn parse_sockaddr(tok: &[u8]) -> Result<SocketAddr, Reason> {
    if tok.len() > MAX_TOKEN_LEN {
        return Err(Reason::TokenTooLong);
    }
    if let Some(rest) = tok.strip_prefix(b"[") {
        let close = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(Reason::UnclosedBracket)?;
        let addr = rest.get(..close).ok_or(Reason::BadIpv6)?;
        let after = rest.get(close.saturating_add(1)..).unwrap_or(&[]);
        if addr.contains(&b'%') {
            return Err(Reason::ZoneId);
        }
        let ip = parse_ipv6(addr).ok_or(Reason::BadIpv6)?;
        let port = after.strip_prefix(b":").ok_or(Reason::MissingPort)?;
        Ok(SocketAddr::V6(ip, parse_port(port)?))
    } else {
        let colon = tok
            .iter()
            .rposition(|&b| b == b':')
            .ok_or(Reason::MissingPort)?;
        let addr = tok.get(..colon).unwrap_or(&[]);
        let port = tok.get(colon.saturating_add(1)..).unwrap_or(&[]);
        if addr.contains(&b':') {
            return Err(if addr.contains(&b'%') {
                Reason::ZoneId
            } else {
                Reason::UnbracketedIpv6
            });
        }
        let ip = parse_ipv4(addr).ok_or(Reason::BadIpv4)?;
        Ok(SocketAddr::V4(ip, parse_port(port)?))
    }
}

/// Parses a whole dotted-quad IPv4 address (no port).
pub fn parse_ipv4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for slot in out.iter_mut() {
        *slot = parse_octet(parts.next()?)?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(out),
    }
}

/// Parses a whole IPv6 address in RFC 4291 text form (no brackets, no port,
/// no zone id).
pub fn parse_ipv6(s: &[u8]) -> Option<[u8; 16]> {
    let mut groups = [0u16; 8];
    let mut n = 0usize; // groups parsed so far
    let mut gap: Option<usize> = None; // where "::" sits among them
    let mut rest = s;
    if let Some(r) = rest.strip_prefix(b"::") {
        gap = Some(0);
        rest = r;
    }
    if !rest.is_empty() {
        loop {
            let end = rest
                .iter()
                .position(|&b| b == b':')
                .unwrap_or(rest.len());
            let piece = rest.get(..end)?;
            let after = rest.get(end..)?;
            if piece.contains(&b'.') {
                // An IPv4 tail only as the last 32 bits.
                if !after.is_empty() {
                    return None;
                }
                let [a, b, c, d] = parse_ipv4(piece)?;
                *groups.get_mut(n)? = u16::from_be_bytes([a, b]);
                *groups.get_mut(n.checked_add(1)?)? = u16::from_be_bytes([c, d]);
                n = n.checked_add(2)?;
                break;
            }
            *groups.get_mut(n)? = parse_hex_group(piece)?;
            n = n.checked_add(1)?;
            match after {
                [] => break,
                [b':', b':'] => {
                    if gap.is_some() {
                        return None;
                    }
                    gap = Some(n);
                    break;
                }
                [b':', b':', tail @ ..] => {
                    if gap.is_some() {
                        return None;
                    }
                    gap = Some(n);
                    rest = tail;
                }
                [b':', tail @ ..] if !tail.is_empty() => rest = tail,
                _ => return None,
            }
        }
    }
    let mut full = [0u16; 8];
    match gap {
        None if n == 8 => full = groups,
        // "::" stands for at least one zero group.
        Some(g) if n < 8 => {
            let head = groups.get(..g)?;
            let tail = groups.get(g..n)?;
            for (d, s) in full.iter_mut().zip(head) {
                *d = *s;
            }
            for (d, s) in full.iter_mut().rev().zip(tail.iter().rev()) {
                *d = *s;
            }
        }
        _ => return None,
    }
    let mut out = [0u8; 16];
    for (pair, g) in out.chunks_exact_mut(2).zip(full) {
        if let [hi, lo] = pair {
            [*hi, *lo] = g.to_be_bytes();
        }
    }
    Some(out)
}

fn parse_octet(s: &[u8]) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || (s.len() > 1 && s.first() == Some(&b'0')) {
        return None;
    }
    let mut v = 0u16;
    for &b in s {
        v = v.checked_mul(10)?.checked_add(u16::from(digit(b)?))?;
    }
    u8::try_from(v).ok()
}

const fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        _ => None,
    }
}

fn parse_hex_group(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    let mut v = 0u16;
    for &b in s {
        let d = match b {
            b'0'..=b'9' => b.wrapping_sub(b'0'),
            b'a'..=b'f' => b.wrapping_sub(b'a' - 10),
            b'A'..=b'F' => b.wrapping_sub(b'A' - 10),
            _ => return None,
        };
        v = v.checked_mul(16)?.checked_add(u16::from(d))?;
    }
    Some(v)
}

fn parse_port(s: &[u8]) -> Result<u16, Reason> {
    if s.is_empty() {
        return Err(Reason::MissingPort);
    }
    if s.len() > 1 && s.first() == Some(&b'0') {
        return Err(Reason::BadPort);
    }
    // Saturates on absurd lengths; anything above 65535 is out of range.
    let mut v = 0u32;
    for &b in s {
        let d = digit(b).ok_or(Reason::BadPort)?;
        v = v.saturating_mul(10).saturating_add(u32::from(d));
    }
    match u16::try_from(v) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Reason::PortOutOfRange),
    }
}

const fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

struct Token<'a> {
    index: usize,
    start: usize,
    end: usize,
    bytes: &'a [u8],
}

impl Token<'_> {
    fn error(&self, reason: Reason) -> TupleError {
        TupleError {
            index: self.index,
            start: self.start,
            end: self.end,
            reason,
        }
    }
}

impl<'a> Tuples<'a> {
    fn next_token(&mut self) -> Option<Token<'a>> {
        let buf = self.buf;
        let rest = buf.get(self.pos..)?;
        let Some(skip) = rest.iter().position(|&b| !is_sep(b)) else {
            self.pos = buf.len();
            return None;
        };
        let start = self.pos.saturating_add(skip);
        let tail = buf.get(start..)?;
        let len = tail.iter().position(|&b| is_sep(b)).unwrap_or(tail.len());
        let end = start.saturating_add(len);
        let tok = Token {
            index: self.index,
            start,
            end,
            bytes: buf.get(start..end)?,
        };
        self.pos = end;
        self.index = self.index.saturating_add(1);
        Some(tok)
    }

    fn next_tuple(&mut self) -> Option<Result<Tuple, TupleError>> {
        let lt = self.next_token()?;
        let local = match parse_sockaddr(lt.bytes) {
            Ok(a) => a,
            Err(r) => return Some(Err(lt.error(r))),
        };
        let Some(rt) = self.next_token() else {
            return Some(Err(lt.error(Reason::MissingRemote)));
        };
        let remote = match parse_sockaddr(rt.bytes) {
            Ok(a) => a,
            Err(r) => return Some(Err(rt.error(r))),
        };
        if !local.same_family(&remote) {
            return Some(Err(rt.error(Reason::FamilyMismatch)));
        }
        Some(Ok(Tuple { local, remote }))
    }
}

impl Iterator for Tuples<'_> {
    type Item = Result<Tuple, TupleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_tuple();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

impl core::iter::FusedIterator for Tuples<'_> {}

/// `LOCAL REMOTE`, one tuple as the module reads it (no newline).
impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.local, self.remote)
    }
}



/// Shows untrusted bytes (a refused token) safely in one log line; see [`escaped`].
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    max: usize,
}

/// Displays `bytes` with printable ASCII as is and everything else (control bytes,
/// non-ASCII, `"` and `\`) as `\xNN`, so the text cannot break or forge log lines. At
/// most `max` bytes are shown; a longer input ends in `...`.
pub fn escaped(bytes: &[u8], max: usize) -> Escaped<'_> {
    Escaped { bytes, max }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.bytes.get(..self.max).unwrap_or(self.bytes);
        for &b in shown {
            if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if shown.len() < self.bytes.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn v4(s: &str, p: u16) -> SocketAddr {
        SocketAddr::V4(s.parse::<Ipv4Addr>().unwrap().octets(), p)
    }

    fn v6(s: &str, p: u16) -> SocketAddr {
        SocketAddr::V6(s.parse::<Ipv6Addr>().unwrap().octets(), p)
    }

    fn all(buf: &[u8]) -> Result<Vec<Tuple>, TupleError> {
        tuples(buf).collect()
    }

    fn one(tok: &str) -> Result<SocketAddr, Reason> {
        parse_sockaddr(tok.as_bytes())
    }

    #[track_caller]
    fn rejects(buf: &str, index: usize, token: &str, reason: Reason) {
        let e = validate(buf.as_bytes()).unwrap_err();
        assert_eq!(e.reason, reason, "{buf:?}: {}", e.reason.as_str());
        assert_eq!(e.index, index, "{buf:?}");
        assert_eq!(e.token(buf.as_bytes()), token.as_bytes(), "{buf:?}");
        // The iterator reports the same error.
        assert_eq!(tuples(buf.as_bytes()).find_map(Result::err), Some(e));
    }

    #[test]
    fn echo_example() {
        let buf = b"127.0.0.1:41234 127.0.0.1:8081\n";
        assert_eq!(validate(buf), Ok(1));
        assert_eq!(
            all(buf).unwrap(),
            [Tuple {
                local: v4("127.0.0.1", 41234),
                remote: v4("127.0.0.1", 8081)
            }]
        );
    }

    #[test]
    fn last_tuple_without_newline() {
        let buf = b"10.0.0.1:1 10.0.0.2:2\n10.0.0.3:3 10.0.0.4:65535";
        let t = all(buf).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].local, v4("10.0.0.3", 3));
        assert_eq!(t[1].remote, v4("10.0.0.4", 65535));
    }

    #[test]
    fn any_whitespace_separates() {
        let buf = b"  \t1.1.1.1:1\t2.2.2.2:2\r\n3.3.3.3:3\n\n 4.4.4.4:4\x0b[::1]:5\x0c[::2]:6 \r\n";
        let t = all(buf).unwrap();
        assert_eq!(validate(buf), Ok(3));
        assert_eq!(t[0].remote, v4("2.2.2.2", 2));
        assert_eq!(t[1].local, v4("3.3.3.3", 3));
        assert_eq!(t[1].remote, v4("4.4.4.4", 4));
        assert_eq!(t[2].local, v6("::1", 5));
        assert_eq!(t[2].remote, v6("::2", 6));
    }

    #[test]
    fn empty_and_blank_writes() {
        assert_eq!(validate(b""), Ok(0));
        assert_eq!(validate(b" \n\t\r\n"), Ok(0));
        assert_eq!(validate(b"\0"), Ok(0));
        assert_eq!(tuples(b"\n").next(), None);
    }

    #[test]
    fn ipv6_forms() {
        for (tok, ip, port) in [
            ("[::1]:80", "::1", 80),
            ("[fe80::1]:1", "fe80::1", 1),
            ("[2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334", 443),
            ("[::ffff:127.0.0.1]:8081", "::ffff:127.0.0.1", 8081),
            ("[1:2:3:4:5:6:7:8]:9", "1:2:3:4:5:6:7:8", 9),
            ("[::]:1", "::", 1),
            ("[1::]:1", "1::", 1),
            ("[1:2:3:4:5:6:7::]:1", "1:2:3:4:5:6:7:0", 1),
            ("[::2:3:4:5:6:7:8]:1", "0:2:3:4:5:6:7:8", 1),
            ("[1:2:3:4:5:6::8]:1", "1:2:3:4:5:6:0:8", 1),
            ("[2001:DB8:0:0:0:0:0:1]:1", "2001:db8::1", 1),
            ("[0000:0000:0000:0000:0000:0000:0000:0001]:2", "::1", 2),
            ("[::1.2.3.4]:1", "::102:304", 1),
            ("[64:ff9b::192.0.2.33]:1", "64:ff9b::c000:221", 1),
            ("[1:2:3:4:5:6:1.2.3.4]:1", "1:2:3:4:5:6:102:304", 1),
            (
                "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                65535,
            ),
        ] {
            assert_eq!(one(tok), Ok(v6(ip, port)), "{tok}");
        }
        let buf = b"[::ffff:127.0.0.1]:41234 [::ffff:127.0.0.1]:8081";
        assert_eq!(validate(buf), Ok(1));
    }

    #[test]
    fn ipv4_forms() {
        assert_eq!(one("0.0.0.0:1"), Ok(v4("0.0.0.0", 1)));
        assert_eq!(one("255.255.255.255:65535"), Ok(v4("255.255.255.255", 65535)));
        assert_eq!(one("10.0.100.200:8080"), Ok(v4("10.0.100.200", 8080)));
    }

    #[test]
    fn malformed_tokens() {
        use Reason::*;
        for (tok, reason) in [
            ("1.2.3:4", BadIpv4),
            ("1.2.3.4.5:6", BadIpv4),
            ("256.1.1.1:1", BadIpv4),
            ("1.2.3.-4:1", BadIpv4),
            ("1..3.4:1", BadIpv4),
            (" 1.2.3.4:1", BadIpv4),
            ("1.2.3.4", MissingPort),
            ("1.2.3.4:", MissingPort),
            ("localhost", MissingPort),
            ("1.2.3.4:65536", PortOutOfRange),
            ("1.2.3.4:99999999999999999999", PortOutOfRange),
            ("1.2.3.4:0", PortOutOfRange),
            ("1.2.3.4:00", BadPort),
            ("1.2.3.4:080", BadPort),
            ("1.2.3.4:+80", BadPort),
            ("1.2.3.4:8a", BadPort),
            ("1.2.3.4:80\0", BadPort),
            ("01.2.3.4:5", BadIpv4),
            ("1.2.3.04:5", BadIpv4),
            ("[::1]80", MissingPort),
            ("[::1]", MissingPort),
            ("[::1]:", MissingPort),
            ("[::1]:0", PortOutOfRange),
            ("[::1:80", UnclosedBracket),
            ("::1:80", UnbracketedIpv6),
            ("fe80::1", UnbracketedIpv6),
            ("fe80::1%eth0:80", ZoneId),
            ("[fe80::1%eth0]:80", ZoneId),
            ("[fe80::1%2]:80", ZoneId),
            ("[1::2::3]:4", BadIpv6),
            ("[:::]:4", BadIpv6),
            ("[:1::]:4", BadIpv6),
            ("[1::2:]:4", BadIpv6),
            ("[1:2:3:4:5:6:7:8:9]:4", BadIpv6),
            ("[1:2:3:4:5:6:7]:4", BadIpv6),
            ("[1:2:3:4:5:6:7:8::]:4", BadIpv6),
            ("[::1:2:3:4:5:6:7:8]:4", BadIpv6),
            ("[12345::]:4", BadIpv6),
            ("[g::]:4", BadIpv6),
            ("[]:4", BadIpv6),
            ("[1.2.3.4]:4", BadIpv6),
            ("[::1.2.3.4:5]:4", BadIpv6),
            ("[::01.2.3.4]:4", BadIpv6),
            ("[1:2:3:4:5:6:7:1.2.3.4]:4", BadIpv6),
            ("[::1]]:4", MissingPort),
            ("[[::1]:4", BadIpv6),
        ] {
            assert_eq!(one(tok), Err(reason), "{tok:?}");
        }
        let long = "1".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(one(&long), Err(TokenTooLong));
    }

    #[test]
    fn errors_name_the_token() {
        use Reason::*;
        rejects("1.2.3:4 1.2.3.4:5", 0, "1.2.3:4", BadIpv4);
        rejects("1.2.3.4:5 1.2.3.4:0", 1, "1.2.3.4:0", PortOutOfRange);
        rejects(
            "1.1.1.1:1 2.2.2.2:2\n3.3.3.3:3 [::1]:4\n",
            3,
            "[::1]:4",
            FamilyMismatch,
        );
        rejects("[::1]:4 3.3.3.3:3", 1, "3.3.3.3:3", FamilyMismatch);
        rejects("[::ffff:1.2.3.4]:4 1.2.3.4:3", 1, "1.2.3.4:3", FamilyMismatch);
        // Odd token count: the last (lonely) token is named.
        rejects("1.1.1.1:1 2.2.2.2:2 3.3.3.3:3", 2, "3.3.3.3:3", MissingRemote);
        rejects("1.1.1.1:1 2.2.2.2:2\n3.3.3.3:3\n", 2, "3.3.3.3:3", MissingRemote);
        rejects("\t[::1]:9\r\n", 0, "[::1]:9", MissingRemote);
        // A malformed lonely token is reported as malformed, not as missing.
        rejects("1.1.1.1:1 2.2.2.2:2 x", 2, "x", MissingPort);
        rejects("1.1.1.1:1\t[::1]80", 1, "[::1]80", MissingPort);
    }

    #[test]
    fn error_byte_ranges() {
        let buf = b"  1.1.1.1:1 \t 2.2.2.2:2x\n";
        let e = validate(buf).unwrap_err();
        assert_eq!((e.index, e.start, e.end), (1, 14, 24));
        assert_eq!(e.token(buf), b"2.2.2.2:2x");
        assert_eq!(e.reason, Reason::BadPort);
        assert_eq!(e.token(b"short"), b"");
    }

    #[test]
    fn all_or_none_first_pass() {
        // Good tuples before the bad token: validate fails, so the module
        // applies nothing; the iterator shows the good ones then stops.
        let buf = b"1.1.1.1:1 2.2.2.2:2\n3.3.3.3:3 4.4.4.4:4\n5.5.5.5:5 6.6.6.6:66666\n7.7.7.7:7 8.8.8.8:8\n";
        let e = validate(buf).unwrap_err();
        assert_eq!((e.index, e.reason), (5, Reason::PortOutOfRange));
        let mut it = tuples(buf);
        assert!(matches!(it.next(), Some(Ok(_))));
        assert!(matches!(it.next(), Some(Ok(_))));
        assert_eq!(it.next(), Some(Err(e)));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn nul_bytes() {
        // One trailing NUL is a terminator.
        assert_eq!(validate(b"1.1.1.1:1 2.2.2.2:2\0"), Ok(1));
        assert_eq!(validate(b"1.1.1.1:1 2.2.2.2:2\n\0"), Ok(1));
        // Anywhere else it is part of a token.
        let e = validate(b"1.1.1.1:1 2.2.2.2:2\0\0").unwrap_err();
        assert_eq!((e.index, e.reason), (1, Reason::BadPort));
        let e = validate(b"1.1.1.1:1\0 2.2.2.2:2").unwrap_err();
        assert_eq!((e.index, e.reason), (0, Reason::BadPort));
        let e = validate(b"1.1.1.1:1 2.2.2.2:2\n\0\n").unwrap_err();
        assert_eq!((e.index, e.reason), (2, Reason::MissingPort));
    }

    #[test]
    fn write_size_limit() {
        assert_eq!(MAX_WRITE, 65536);
        let line = "255.255.255.255:65535 255.255.255.255:65535\n";
        let mut buf = line.repeat(MAX_WRITE / line.len()).into_bytes();
        let n = buf.len() / line.len();
        buf.resize(MAX_WRITE, b' ');
        assert_eq!(validate(&buf), Ok(n));
        buf.push(b'\n');
        let e = validate(&buf).unwrap_err();
        assert_eq!(e.reason, Reason::WriteTooLarge);
        assert_eq!((e.index, e.start, e.end), (0, 0, MAX_WRITE + 1));
        // The iterator itself has no limit.
        assert_eq!(tuples(&buf).count(), n);
    }

    #[test]
    fn longest_line_fits_constant() {
        let a = SocketAddr::V6([0xff; 16], 65535);
        let b = SocketAddr::V6([0xfe; 16], 65535);
        let line = Tuple { local: a, remote: b }.to_string();
        assert!(line.len() < MAX_TUPLE_LINE);
        let tok = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535";
        assert_eq!(2 * tok.len() + 2, MAX_TUPLE_LINE);
        assert!(tok.len() <= MAX_TOKEN_LEN);
    }

    #[test]
    fn display_round_trips_and_matches_std() {
        for (addr, text) in [
            (v4("127.0.0.1", 8081), "127.0.0.1:8081"),
            (v6("::1", 80), "[::1]:80"),
            (v6("::", 1), "[::]:1"),
            (v6("::ffff:127.0.0.1", 8081), "[::ffff:127.0.0.1]:8081"),
            (v6("2001:db8:0:0:1:0:0:1", 1), "[2001:db8::1:0:0:1]:1"),
            (v6("2001:db8:0:1:1:1:1:1", 1), "[2001:db8:0:1:1:1:1:1]:1"),
            (v6("1:0:0:2:0:0:0:3", 1), "[1:0:0:2::3]:1"),
            (v6("1:2:3:4:5:6:7:8", 9), "[1:2:3:4:5:6:7:8]:9"),
        ] {
            assert_eq!(addr.to_string(), text);
            assert_eq!(one(text), Ok(addr));
        }
        let t = Tuple {
            local: v4("1.2.3.4", 5),
            remote: v4("6.7.8.9", 10),
        };
        assert_eq!(t.to_string(), "1.2.3.4:5 6.7.8.9:10");
    }

    #[test]
    fn escaped_tokens_are_safe_to_log() {
        assert_eq!(escaped(b"1.2.3.4:0", 64).to_string(), "1.2.3.4:0");
        assert_eq!(escaped(b"a\"b\\c", 64).to_string(), "a\\x22b\\x5cc");
        assert_eq!(escaped(b"\0\x1b[31m\xff", 64).to_string(), "\\x00\\x1b[31m\\xff");
        assert_eq!(escaped(b"abcdef", 3).to_string(), "abc...");
        assert_eq!(escaped(b"abc", 3).to_string(), "abc");
        assert_eq!(escaped(b"", 3).to_string(), "");
        let long = vec![b'x'; 100_000];
        assert_eq!(escaped(&long, 48).to_string().len(), 51);
    }

    use testrng::Rng;

    fn random_v6(rng: &mut Rng) -> [u8; 16] {
        let mut ip = [0u8; 16];
        for pair in ip.chunks_mut(2) {
            // Many zero groups so "::" compression gets exercised.
            if rng.below(3) != 0 {
                pair[0] = rng.next() as u8;
                pair[1] = rng.next() as u8;
            }
        }
        if rng.below(5) == 0 {
            ip[..10].fill(0);
            ip[10] = 0xff;
            ip[11] = 0xff;
        }
        ip
    }

    fn random_addr(rng: &mut Rng, want_v4: bool) -> SocketAddr {
        let port = 1 + rng.below(65535) as u16;
        if want_v4 {
            SocketAddr::V4((rng.next() as u32).to_be_bytes(), port)
        } else {
            SocketAddr::V6(random_v6(rng), port)
        }
    }

    /// Checks the invariants that must hold for any input.
    fn check(buf: &[u8]) {
        let items: Vec<_> = tuples(buf).collect();
        let errs = items.iter().filter(|r| r.is_err()).count();
        assert!(errs <= 1);
        if errs == 1 {
            assert!(items.last().unwrap().is_err(), "error is the last item");
        }
        if buf.len() <= MAX_WRITE {
            match validate(buf) {
                Ok(n) => {
                    assert_eq!(errs, 0);
                    assert_eq!(n, items.len());
                }
                Err(e) => assert_eq!(items.last(), Some(&Err(e))),
            }
        }
        let mut out = String::new();
        for item in &items {
            match item {
                Ok(t) => {
                    assert!(t.local.same_family(&t.remote));
                    // Re-formatting parses back to the same tuple.
                    let s = t.to_string();
                    assert_eq!(all(s.as_bytes()).unwrap(), [*t]);
                    out.push_str(&s);
                    out.push('\n');
                }
                Err(e) => {
                    assert!(e.start < e.end && e.end <= buf.len());
                    let tok = e.token(buf);
                    assert!(!tok.iter().any(|&b| is_sep(b)));
                    assert!(!e.reason.as_str().is_empty());
                }
            }
        }
        // The good prefix re-serialised is itself a valid write.
        assert_eq!(validate(out.as_bytes()), Ok(items.len() - errs));
    }

    #[test]
    fn fuzz_random_bytes() {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"0123456789abcdefABCDEFxyz:::...[[]]%%  \t\n\r\x0b\x0c\0-+/";
        for _ in 0..20_000 {
            let len = rng.below(120);
            let buf: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
            check(&buf);
        }
        for _ in 0..2_000 {
            let len = rng.below(300);
            let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check(&buf);
        }
    }

    #[test]
    fn fuzz_mutated_valid_writes() {
        let mut rng = Rng::new(0x1234_5678_9abc_def1);
        let seps: [&[u8]; 6] = [b" ", b"\t", b"\n", b"\r\n", b"  ", b"\x0c"];
        for _ in 0..5_000 {
            let mut want = Vec::new();
            let mut buf = Vec::new();
            for _ in 0..rng.below(6) {
                let fam = rng.below(2) == 0;
                let t = Tuple {
                    local: random_addr(&mut rng, fam),
                    remote: random_addr(&mut rng, fam),
                };
                want.push(t);
                buf.extend_from_slice(t.local.to_string().as_bytes());
                buf.extend_from_slice(rng.pick(&seps));
                buf.extend_from_slice(t.remote.to_string().as_bytes());
                buf.extend_from_slice(rng.pick(&seps));
            }
            if rng.below(2) == 0 {
                // Last tuple without trailing whitespace.
                while buf.last().is_some_and(|&b| is_sep(b)) {
                    buf.pop();
                }
            }
            assert_eq!(all(&buf).unwrap(), want);
            assert_eq!(validate(&buf), Ok(want.len()));
            check(&buf);
            // Mutate: flip, insert or delete a few bytes.
            let mut m = buf.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(m.len() + 1);
                let byte = *rng.pick(b"0129af:.[]% \n\0x");
                match rng.below(3) {
                    0 if at < m.len() => m[at] = byte,
                    1 => m.insert(at, byte),
                    _ if at < m.len() => {
                        m.remove(at);
                    }
                    _ => {}
                }
            }
            check(&m);
        }
    }

    /// Our address parsers agree with std's (which follow the same RFC
    /// grammar and also refuse octal-looking IPv4 octets).
    #[test]
    fn fuzz_addresses_against_std() {
        let mut rng = Rng::new(0xdead_beef_cafe_f00d);
        let pieces = ["0", "1", "ff", "FFFF", "12345", "", ":", "::", ".", "1.2.3.4", "01", "255", "256", "g"];
        let (mut ok6, mut ok4) = (0, 0);
        for _ in 0..50_000 {
            let mut s = String::new();
            for _ in 0..rng.below(12) {
                s.push_str(rng.pick(&pieces));
                if rng.below(2) == 0 {
                    s.push(':');
                }
            }
            let r6 = parse_ipv6(s.as_bytes());
            assert_eq!(r6, s.parse::<Ipv6Addr>().ok().map(|a| a.octets()), "{s:?}");
            ok6 += usize::from(r6.is_some());
            let d = s.replace(':', ".");
            let r4 = parse_ipv4(d.as_bytes());
            assert_eq!(r4, d.parse::<Ipv4Addr>().ok().map(|a| a.octets()), "{d:?}");
            ok4 += usize::from(r4.is_some());
        }
        // The generator must reach the accepting paths too.
        assert!(ok6 > 100 && ok4 > 100, "ok6={ok6} ok4={ok4}");
        for _ in 0..20_000 {
            let ip = random_v6(&mut rng);
            let std_text = Ipv6Addr::from(ip).to_string();
            assert_eq!(parse_ipv6(std_text.as_bytes()), Some(ip), "{std_text}");
            let ours = SocketAddr::V6(ip, 1).to_string();
            // Same text as std, which also follows RFC 5952.
            assert_eq!(ours, format!("[{std_text}]:1"));
        }
    }
}
