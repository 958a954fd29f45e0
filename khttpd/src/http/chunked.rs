//! Chunked transfer coding for bodies of unknown length (RFC 9112 §7.1).
//!
//! A chunk is `hex-size CRLF payload CRLF`; the body ends with `0 CRLF CRLF` (no
//! trailer fields). An empty chunk would end the body early, so every helper here
//! writes nothing for an empty payload.
//!
//! To avoid copying, a caller can render a payload into the middle of its send buffer
//! ([`payload_area`]) and then wrap it where it lies ([`frame_in_place`]).

use super::{Full, Writer};
use core::ops::Range;

/// Ends every chunk's payload.
pub const CHUNK_END: &[u8] = b"\r\n";
/// Ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// Longest chunk header: 16 hex digits (a u64) and CRLF.
pub const MAX_HEADER_LEN: usize = 18;
/// Space [`frame_in_place`] needs before the payload.
pub const HEADROOM: usize = MAX_HEADER_LEN;
/// Space [`frame_in_place`] needs after the payload.
pub const TAILROOM: usize = CHUNK_END.len();

/// Writes the header of a chunk of `len` bytes (`len` in hex, CRLF); nothing when `len`
/// is zero. Follow the payload with [`CHUNK_END`].
pub fn write_chunk_header(len: usize, w: &mut Writer<'_>) -> Result<(), Full> {
    if len == 0 {
        return Ok(());
    }
    let mark = w.mark();
    let res = w.hex(len as u64).and_then(|()| w.push(b"\r\n"));
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

/// Writes a whole chunk (header, payload, CRLF); nothing for an empty payload.
pub fn write_chunk(payload: &[u8], w: &mut Writer<'_>) -> Result<(), Full> {
    if payload.is_empty() {
        return Ok(());
    }
    let mark = w.mark();
    let res = write_chunk_header(payload.len(), w)
        .and_then(|()| w.push(payload))
        .and_then(|()| w.push(CHUNK_END));
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

/// Writes the end of the body.
pub fn write_last_chunk(w: &mut Writer<'_>) -> Result<(), Full> {
    w.push(LAST_CHUNK)
}

/// The part of `buf` where a payload goes for [`frame_in_place`]: after [`HEADROOM`],
/// before [`TAILROOM`]; empty if `buf` is too small.
pub fn payload_area(buf: &mut [u8]) -> &mut [u8] {
    let end = buf.len().saturating_sub(TAILROOM);
    if end <= HEADROOM {
        return &mut [];
    }
    buf.get_mut(HEADROOM..end).unwrap_or(&mut [])
}

/// Frames a payload of `payload_len` bytes already placed at `buf[HEADROOM..]`: writes
/// its header just before it and CRLF just after it, and returns the range of `buf`
/// holding the whole chunk, ready to send. An empty payload gives the empty range `0..0`.
pub fn frame_in_place(buf: &mut [u8], payload_len: usize) -> Result<Range<usize>, Full> {
    if payload_len == 0 {
        return Ok(0..0);
    }
    let payload_end = HEADROOM.checked_add(payload_len).ok_or(Full)?;
    let end = payload_end.checked_add(TAILROOM).ok_or(Full)?;
    if end > buf.len() {
        return Err(Full);
    }
    let mut header = [0u8; MAX_HEADER_LEN];
    let mut w = Writer::new(&mut header);
    write_chunk_header(payload_len, &mut w)?;
    let header = w.into_written();
    let start = HEADROOM.checked_sub(header.len()).ok_or(Full)?;
    super::writer::copy(buf.get_mut(start..HEADROOM).ok_or(Full)?, header);
    super::writer::copy(buf.get_mut(payload_end..end).ok_or(Full)?, CHUNK_END);
    Ok(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal chunked decoder, to check that what we produce decodes to the payloads.
    fn decode(mut s: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let nl = s.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&s[..nl]).ok()?, 16).ok()?;
            s = &s[nl + 2..];
            if size == 0 {
                return (s == b"\r\n").then_some(out);
            }
            out.extend_from_slice(s.get(..size)?);
            s = s.get(size..)?.strip_prefix(b"\r\n")?;
        }
    }

    #[test]
    fn headers() {
        let h = |n: usize| {
            let mut buf = [0u8; 32];
            let mut w = Writer::new(&mut buf);
            write_chunk_header(n, &mut w).unwrap();
            w.written().to_vec()
        };
        assert_eq!(h(0), b"");
        assert_eq!(h(1), b"1\r\n");
        assert_eq!(h(15), b"f\r\n");
        assert_eq!(h(16), b"10\r\n");
        assert_eq!(h(4096), b"1000\r\n");
        assert_eq!(h(0xdead_beef), b"deadbeef\r\n");
        assert_eq!(h(usize::MAX).len(), MAX_HEADER_LEN);
    }

    #[test]
    fn whole_body() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        write_chunk(b"Hello, ", &mut w).unwrap();
        write_chunk(b"", &mut w).unwrap();
        write_chunk(&[b'x'; 20], &mut w).unwrap();
        write_last_chunk(&mut w).unwrap();
        assert_eq!(
            w.written(),
            b"7\r\nHello, \r\n14\r\nxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"
        );
        let mut expect = b"Hello, ".to_vec();
        expect.extend_from_slice(&[b'x'; 20]);
        assert_eq!(decode(w.written()), Some(expect));
    }

    #[test]
    fn chunk_write_is_atomic() {
        let mut buf = [0u8; 10];
        let mut w = Writer::new(&mut buf);
        assert_eq!(write_chunk(b"123456", &mut w), Err(Full));
        assert!(w.is_empty());
        assert_eq!(write_chunk(b"12345", &mut w), Ok(()));
        assert_eq!(w.written(), b"5\r\n12345\r\n");
    }

    #[test]
    fn in_place() {
        for payload_len in [0usize, 1, 15, 16, 255, 256, 1000] {
            let mut buf = vec![0xaau8; HEADROOM + payload_len + TAILROOM + 7];
            let area = payload_area(&mut buf);
            assert_eq!(area.len(), payload_len + 7);
            for (i, b) in area.iter_mut().take(payload_len).enumerate() {
                *b = b'a' + (i % 26) as u8;
            }
            let r = frame_in_place(&mut buf, payload_len).unwrap();
            let mut stream = buf[r].to_vec();
            stream.extend_from_slice(LAST_CHUNK);
            let decoded = decode(&stream).unwrap();
            assert_eq!(decoded.len(), payload_len);
            assert!(decoded.iter().enumerate().all(|(i, &b)| b == b'a' + (i % 26) as u8));
        }
        let mut buf = [0u8; HEADROOM + 4 + TAILROOM];
        assert_eq!(frame_in_place(&mut buf, 5), Err(Full));
        assert_eq!(frame_in_place(&mut buf, usize::MAX), Err(Full));
        assert!(frame_in_place(&mut buf, 4).is_ok());
        assert!(payload_area(&mut [0u8; HEADROOM + TAILROOM]).is_empty());
        assert!(payload_area(&mut [0u8; 3]).is_empty());
    }
}
