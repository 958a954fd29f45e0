//! Request target → safe relative path under the document root.
//!
//! Rules of [`resolve`]:
//! - Origin-form targets (`/a/b?q`) are used as is; absolute-form (`http://host/a`)
//!   is reduced to its path; anything else (`*`, authority-form) is refused.
//! - The query (`?`) and fragment (`#`) are cut off before decoding.
//! - Percent-escapes are decoded exactly once; a `%` not followed by two hex digits is
//!   an error. Since nothing is ever decoded twice, `%252e%252e` becomes the harmless
//!   literal name `%2e%2e`.
//! - After decoding: NUL, backslash and other control characters are refused, `/`
//!   (including a decoded `%2f`) separates segments, empty segments are dropped
//!   (collapsing `//`), and any `.` or `..` segment is refused outright rather than
//!   resolved (browsers remove them before sending, so only probes carry them).
//! - At most [`MAX_SEGMENTS`] segments of at most [`MAX_SEGMENT`] bytes, and at most
//!   [`MAX_PATH`] bytes in all (and what fits in the caller's buffer).
//!
//! The result has no leading slash (`a/b/c.html`, empty for the root), so the kernel
//! opens it relative to the root directory; it cannot name anything above the root
//! unless the tree itself contains symlinks pointing out (the kernel side should open
//! with a no-symlink / beneath-root lookup).

use super::status::StatusCode;
use super::syntax::strip_prefix_ci;
use super::{Full, Writer};

/// Longest resolved path; leaves room for a NUL in a `PATH_MAX` (4096) buffer.
pub const MAX_PATH: usize = 4095;
/// Longest segment (Linux `NAME_MAX`).
pub const MAX_SEGMENT: usize = 255;
/// Most segments in a path.
pub const MAX_SEGMENTS: usize = 64;

/// Why a target cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not origin-form or absolute-form (`*`, `host:port`, relative). (400)
    BadForm,
    /// `%` not followed by two hex digits. (400)
    BadEscape,
    /// A NUL byte, raw or `%00`. (400)
    Nul,
    /// A backslash, raw or `%5c` (a path separator elsewhere). (400)
    Backslash,
    /// Another control character after decoding. (400)
    ControlChar,
    /// A `.` or `..` segment after decoding. (400)
    DotSegment,
    /// Path or one segment too long, or the output buffer too small. (414)
    TooLong,
    /// More than [`MAX_SEGMENTS`] segments. (414)
    TooManySegments,
}

impl PathError {
    pub fn status(self) -> StatusCode {
        match self {
            PathError::TooLong | PathError::TooManySegments => StatusCode::UriTooLong,
            _ => StatusCode::BadRequest,
        }
    }
}

/// A resolved target: the relative path and whether the target ended with `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedPath<'o> {
    /// Decoded segments joined by `/`, no leading or trailing slash; empty = the root.
    pub rel: &'o [u8],
    /// The target (after decoding) ended with `/`; always true for the root. A
    /// directory requested without it should be redirected
    /// ([`super::response::write_redirect_to_dir`]).
    pub trailing_slash: bool,
}

impl ResolvedPath<'_> {
    pub fn is_root(&self) -> bool {
        self.rel.is_empty()
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path of a request target, still encoded: origin-form up to `?`/`#`;
/// absolute-form (`http://host/p`, `https://…`) reduced to its path (`/` when empty).
pub fn path_part(target: &[u8]) -> Result<&[u8], PathError> {
    let after_scheme =
        strip_prefix_ci(target, b"http://").or_else(|| strip_prefix_ci(target, b"https://"));
    let target = match after_scheme {
        Some(after_scheme) => {
            let auth_end = after_scheme
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(after_scheme.len());
            match after_scheme.get(auth_end..) {
                Some(rest) if rest.first() == Some(&b'/') => rest,
                _ => return Ok(b"/"),
            }
        }
        None => target,
    };
    if target.first() != Some(&b'/') {
        return Err(PathError::BadForm);
    }
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    Ok(target.get(..end).unwrap_or(target))
}

/// Decodes percent-escapes of `input` into `out`, returning the decoded length. Only
/// the escapes are checked; see [`resolve`] for a path's rules.
pub fn percent_decode(input: &[u8], out: &mut [u8]) -> Result<usize, PathError> {
    let mut n = 0usize;
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        let b = if b == b'%' { decode_escape(&mut bytes)? } else { b };
        *out.get_mut(n).ok_or(PathError::TooLong)? = b;
        n = n.saturating_add(1);
    }
    Ok(n)
}

fn decode_escape(bytes: &mut core::slice::Iter<'_, u8>) -> Result<u8, PathError> {
    let hi = bytes.next().copied().and_then(hex_val).ok_or(PathError::BadEscape)?;
    let lo = bytes.next().copied().and_then(hex_val).ok_or(PathError::BadEscape)?;
    Ok(hi << 4 | lo)
}

/// Resolves a request target into a relative path written to `out`; see the module
/// documentation for the rules.
pub fn resolve<'o>(target: &[u8], out: &'o mut [u8]) -> Result<ResolvedPath<'o>, PathError> {
    let path = path_part(target)?;
    let limit = out.len().min(MAX_PATH);
    let mut len = 0usize; // bytes of out used
    let mut seg_start = 0usize; // where the current segment starts in out
    let mut in_segment = false;
    let mut segments = 0usize;
    let mut trailing_slash = false;

    let mut bytes = path.iter();
    loop {
        let next = match bytes.next() {
            Some(&b'%') => Some(decode_escape(&mut bytes)?),
            Some(&b) => Some(b),
            None => None,
        };
        match next {
            None | Some(b'/') => {
                if in_segment {
                    let seg = out.get(seg_start..len).unwrap_or(&[]);
                    if seg == b"." || seg == b".." {
                        return Err(PathError::DotSegment);
                    }
                    in_segment = false;
                }
                match next {
                    None => break,
                    _ => trailing_slash = true,
                }
            }
            Some(0) => return Err(PathError::Nul),
            Some(b'\\') => return Err(PathError::Backslash),
            Some(b) if b < 0x20 || b == 0x7f => return Err(PathError::ControlChar),
            Some(b) => {
                trailing_slash = false;
                if !in_segment {
                    segments = segments.saturating_add(1);
                    if segments > MAX_SEGMENTS {
                        return Err(PathError::TooManySegments);
                    }
                    if len > 0 {
                        put(out, limit, &mut len, b'/')?;
                    }
                    seg_start = len;
                    in_segment = true;
                }
                if len.saturating_sub(seg_start) >= MAX_SEGMENT {
                    return Err(PathError::TooLong);
                }
                put(out, limit, &mut len, b)?;
            }
        }
    }
    let out: &'o [u8] = out;
    Ok(ResolvedPath { rel: out.get(..len).unwrap_or(&[]), trailing_slash })
}

fn put(out: &mut [u8], limit: usize, len: &mut usize, b: u8) -> Result<(), PathError> {
    if *len >= limit {
        return Err(PathError::TooLong);
    }
    *out.get_mut(*len).ok_or(PathError::TooLong)? = b;
    *len = len.saturating_add(1);
    Ok(())
}

/// Percent-encodes a file name for use as one path segment in a link: everything but
/// RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`. The result
/// is also safe inside a quoted HTML attribute and cannot start a scheme or an
/// authority. Atomic: on [`Full`] nothing is written.
pub fn encode_path_segment(name: &[u8], w: &mut Writer<'_>) -> Result<(), Full> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mark = w.mark();
    for &b in name {
        let res = if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            w.byte(b)
        } else {
            w.push(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        };
        if res.is_err() {
            w.rollback(mark);
            return res;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(target: &[u8]) -> Result<(Vec<u8>, bool), PathError> {
        let mut out = [0u8; 4096];
        resolve(target, &mut out).map(|r| (r.rel.to_vec(), r.trailing_slash))
    }

    fn ok(target: &[u8]) -> (String, bool) {
        let (p, t) = res(target).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(target)));
        (String::from_utf8(p).unwrap(), t)
    }

    #[test]
    fn plain_paths() {
        assert_eq!(ok(b"/"), ("".into(), true));
        assert_eq!(ok(b"/index.html"), ("index.html".into(), false));
        assert_eq!(ok(b"/a/b/c.html"), ("a/b/c.html".into(), false));
        assert_eq!(ok(b"/dir/"), ("dir".into(), true));
        assert_eq!(ok(b"//a///b//"), ("a/b".into(), true));
        assert_eq!(ok(b"/a/b?x=../../etc#frag"), ("a/b".into(), false));
        assert_eq!(ok(b"/a#x?y"), ("a".into(), false));
        assert_eq!(ok(b"/?q"), ("".into(), true));
        assert_eq!(ok(b"/.hidden/..."), (".hidden/...".into(), false));
        assert_eq!(ok(b"/a..b/c."), ("a..b/c.".into(), false));
        let mut out = [0u8; 16];
        assert!(resolve(b"/", &mut out).unwrap().is_root());
    }

    #[test]
    fn decoding() {
        assert_eq!(ok(b"/a%20b"), ("a b".into(), false));
        assert_eq!(ok(b"/caf%C3%A9/%e2%82%ac"), ("café/€".into(), false));
        assert_eq!(ok(b"/a%2fb"), ("a/b".into(), false));
        assert_eq!(ok(b"/dir%2F"), ("dir".into(), true));
        assert_eq!(ok(b"/100%25"), ("100%".into(), false));
        // Raw UTF-8 (curl sends it unencoded) passes through.
        assert_eq!(ok("/café".as_bytes()), ("café".into(), false));
        for bad in [&b"/%"[..], b"/%2", b"/%zz", b"/%2g", b"/a%%20", b"/%-1"] {
            assert_eq!(res(bad), Err(PathError::BadEscape), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn traversal_attempts() {
        let cases: &[(&[u8], PathError)] = &[
            (b"/..", PathError::DotSegment),
            (b"/../etc/passwd", PathError::DotSegment),
            (b"/a/../../etc/passwd", PathError::DotSegment),
            (b"/a/..", PathError::DotSegment),
            (b"/%2e%2e/etc/passwd", PathError::DotSegment),
            (b"/%2E%2e/etc/passwd", PathError::DotSegment),
            (b"/.%2e/x", PathError::DotSegment),
            (b"/..%2fetc%2fpasswd", PathError::DotSegment),
            (b"/a%2f..%2f..%2fetc", PathError::DotSegment),
            (b"/x/%2f..", PathError::DotSegment),
            (b"/./", PathError::DotSegment),
            (b"/a/./b", PathError::DotSegment),
            (b"/%2e/", PathError::DotSegment),
            (b"/..\\etc", PathError::Backslash),
            (b"/a\\b", PathError::Backslash),
            (b"/..%5cetc", PathError::Backslash),
            (b"/..%5Cetc", PathError::Backslash),
            (b"/a%00.html", PathError::Nul),
            (b"/a\x00", PathError::Nul),
            (b"/a%0d%0aX", PathError::ControlChar),
            (b"/a%7f", PathError::ControlChar),
            (b"http://host/../x", PathError::DotSegment),
            (b"*", PathError::BadForm),
            (b"example.com:80", PathError::BadForm),
            (b"a/b", PathError::BadForm),
            (b"", PathError::BadForm),
            (b"ftp://host/x", PathError::BadForm),
        ];
        for &(target, e) in cases {
            assert_eq!(res(target), Err(e), "{}", String::from_utf8_lossy(target));
            assert_eq!(e.status().code(), 400);
        }
    }

    /// khttpd sizes the output buffer to the target: the result must be the same as
    /// with a full MAX_PATH buffer, whatever the target.
    #[test]
    fn buffer_as_long_as_the_target_is_enough() {
        let long = format!("/{}", "a/".repeat(3000));
        let cases: Vec<&[u8]> = vec![
            b"/", b"//", b"/a", b"/a/", b"//a///b//", b"/a%20b", b"/%2f", b"/%2F%2F", b"/%25",
            b"/caf%C3%A9", b"/../x", b"/%2e%2e/", b"/a%00", b"/a?x=1", b"/#f", b"x", b"",
            b"http://host", b"http://h/x/y?q", b"HTTPS://h:1/a/", long.as_bytes(),
        ];
        for t in cases {
            let mut full = vec![0u8; MAX_PATH];
            let want = resolve(t, &mut full).map(|r| (r.rel.to_vec(), r.trailing_slash));
            let mut small = vec![0u8; t.len().clamp(1, MAX_PATH)];
            let got = resolve(t, &mut small).map(|r| (r.rel.to_vec(), r.trailing_slash));
            assert_eq!(want, got, "{:?}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn double_encoding_is_decoded_once() {
        assert_eq!(ok(b"/%252e%252e/x"), ("%2e%2e/x".into(), false));
        assert_eq!(ok(b"/%252e%252e/"), ("%2e%2e".into(), true));
        assert_eq!(ok(b"/%255c"), ("%5c".into(), false));
        assert_eq!(ok(b"/%2500"), ("%00".into(), false));
    }

    #[test]
    fn absolute_form() {
        assert_eq!(ok(b"http://host/x"), ("x".into(), false));
        assert_eq!(ok(b"HTTP://host:8080/a/b/"), ("a/b".into(), true));
        assert_eq!(ok(b"https://host/x?y"), ("x".into(), false));
        assert_eq!(ok(b"http://host"), ("".into(), true));
        assert_eq!(ok(b"http://host?q=/etc"), ("".into(), true));
        assert_eq!(ok(b"http://user@host/p"), ("p".into(), false));
        assert_eq!(path_part(b"http://host/x?y").unwrap(), b"/x");
        assert_eq!(path_part(b"/a%2fb?c").unwrap(), b"/a%2fb");
    }

    #[test]
    fn limits() {
        let seg = "a".repeat(MAX_SEGMENT);
        assert_eq!(ok(format!("/{seg}").as_bytes()).0.len(), MAX_SEGMENT);
        assert_eq!(res(format!("/{seg}a").as_bytes()), Err(PathError::TooLong));
        // Escapes count after decoding.
        let enc = "%61".repeat(MAX_SEGMENT);
        assert_eq!(ok(format!("/{enc}").as_bytes()).0, seg);

        let many = "/a".repeat(MAX_SEGMENTS);
        assert_eq!(ok(many.as_bytes()).0.len(), 2 * MAX_SEGMENTS - 1);
        let too_many = "/a".repeat(MAX_SEGMENTS + 1);
        assert_eq!(res(too_many.as_bytes()), Err(PathError::TooManySegments));
        assert_eq!(PathError::TooManySegments.status().code(), 414);
        // Empty segments do not count.
        let slashes = "/".repeat(10_000) + "a";
        assert_eq!(ok(slashes.as_bytes()), ("a".into(), false));

        // Total length: 16 segments of 255 plus separators are exactly 4095 bytes.
        let fits: String = (0..16).map(|_| format!("/{seg}")).collect();
        assert_eq!(ok(fits.as_bytes()).0.len(), MAX_PATH);
        assert_eq!(res(format!("{fits}/a").as_bytes()), Err(PathError::TooLong));
        assert_eq!(res(format!("{fits}a").as_bytes()), Err(PathError::TooLong));
        assert_eq!(PathError::TooLong.status().code(), 414);

        // The caller's buffer bounds the output too.
        let mut small = [0u8; 5];
        assert_eq!(resolve(b"/abcde", &mut small).unwrap().rel, b"abcde");
        assert_eq!(resolve(b"/abcdef", &mut small), Err(PathError::TooLong));
        assert_eq!(resolve(b"/ab/cd", &mut small).unwrap().rel, b"ab/cd");
        assert_eq!(resolve(b"/ab/cde", &mut small), Err(PathError::TooLong));
        let mut none = [0u8; 0];
        assert_eq!(resolve(b"/", &mut none).unwrap().rel, b"");
    }

    #[test]
    fn percent_decode_standalone() {
        let mut out = [0u8; 8];
        let n = percent_decode(b"a%41%2f%", &mut out);
        assert_eq!(n, Err(PathError::BadEscape));
        let n = percent_decode(b"a%41%2f", &mut out).unwrap();
        assert_eq!(&out[..n], b"aA/");
        assert_eq!(percent_decode(b"123456789", &mut out), Err(PathError::TooLong));
        assert_eq!(percent_decode(b"", &mut out), Ok(0));
    }

    #[test]
    fn encoding_segments() {
        let enc = |name: &[u8]| {
            let mut buf = [0u8; 256];
            let mut w = Writer::new(&mut buf);
            encode_path_segment(name, &mut w).unwrap();
            String::from_utf8(w.written().to_vec()).unwrap()
        };
        assert_eq!(enc(b"plain-name_1.2~x"), "plain-name_1.2~x");
        assert_eq!(enc(b"a b"), "a%20b");
        assert_eq!(enc(b"<script>\"'&"), "%3Cscript%3E%22%27%26");
        assert_eq!(enc(b"100%"), "100%25");
        assert_eq!(enc(b"a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(enc(b"x:y"), "x%3Ay");
        assert_eq!(enc("café".as_bytes()), "caf%C3%A9");
        assert_eq!(enc(b"\x00\xff"), "%00%FF");
        // Encoding then resolving gives the name back.
        for name in [&b"a b"[..], b"100%", b"caf\xc3\xa9", b"%2e%2e", b"x?y#z", b"semi;colon"] {
            let mut link = b"/".to_vec();
            link.extend_from_slice(enc(name).as_bytes());
            let mut out = [0u8; 256];
            assert_eq!(resolve(&link, &mut out).unwrap().rel, name);
        }
        let mut buf = [0u8; 5];
        let mut w = Writer::new(&mut buf);
        w.byte(b'x').unwrap();
        assert_eq!(encode_path_segment(b"ab c", &mut w), Err(Full));
        assert_eq!(w.written(), b"x");
    }
}
