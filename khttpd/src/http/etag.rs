//! Entity tags (RFC 9110 §8.8.3) for files, and their comparison with the tags a
//! client sends in If-None-Match (§13.1.2) and If-Range (§13.1.5).
//!
//! Policy decisions:
//! - A file's tag is `"<ino>-<size>-<mtime s>-<mtime ns>"`, each number in lower-case
//!   hex (the seconds as their 64-bit two's complement, so times before 1970 work
//!   too), in a fixed buffer of [`MAX_LEN`] bytes: [`ETag::for_file`]. Same inode, size
//!   and modification time means same bytes, which is what a strong validator needs in
//!   practice (like other file servers, a rewrite to the same size within one
//!   file-system timestamp tick goes unnoticed).
//! - That tick is the weak spot, so a file modified less than two seconds before `now`
//!   (or in the future) gets a *weak* tag, `W/"…"`: it may still change without its
//!   tag changing. Weak tags still work for If-None-Match (weak comparison); If-Range
//!   needs a strong match, so a range request on such a fresh file is answered with the
//!   whole file (safe). Once the file has settled the tag becomes strong; weak
//!   comparison treats the two as equal, so caches keep validating.
//! - Content codings are different representations with different bytes, so each gets
//!   its own tag ([`ETag::for_encoding`]): `"…-gzip"`, `"…-deflate"`.
//! - If-None-Match ([`none_match`]) uses weak comparison (the `W/` prefix is ignored on
//!   both sides) and matches a listed tag against the identity tag *or* any content
//!   coding variant of it: each is a current representation of the file, so a cache
//!   holding any of them may reuse it. `*` matches (the file exists). Multiple fields
//!   form one list. A malformed list (bad quoting, a stray token, `*` mixed with tags)
//!   is treated as matching nothing, so the full response is sent: never a wrong 304.
//! - If-Range ([`strong_match`]) must be exactly one strong entity-tag equal to the
//!   current identity tag (strong comparison: neither side weak).

use super::compress::Encoding;
use super::syntax::{skip_ows, trim_ows};
use super::Writer;

/// Room for the longest tag: `W/` + quotes + three 16-digit and one 8-digit hex
/// numbers with their dashes (63 bytes), plus a content coding suffix.
pub const MAX_LEN: usize = 80;

/// Content codings that have their own tag variant.
const CODINGS: [Encoding; 2] = [Encoding::Gzip, Encoding::Deflate];

/// A validator in its header form: `"…"` or `W/"…"`, always well-formed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ETag {
    buf: [u8; MAX_LEN],
    len: u8,
}

impl core::fmt::Debug for ETag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ETag({})", core::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

impl ETag {
    /// Builds a tag by running `write` on an empty buffer. Everything written here is
    /// far below [`MAX_LEN`]; if it ever did not fit, the result is `W/""`, which
    /// matches nothing we generate.
    fn build(write: impl FnOnce(&mut Writer<'_>) -> Result<(), super::Full>) -> ETag {
        let mut buf = [0u8; MAX_LEN];
        let mut w = Writer::new(&mut buf);
        let len = match write(&mut w) {
            Ok(()) => w.len(),
            Err(_) => {
                w.clear();
                let _ = w.push(b"W/\"\"");
                w.len()
            }
        };
        ETag { buf, len: u8::try_from(len).unwrap_or(0) }
    }

    /// The tag of a regular file, from its inode number, size and modification time
    /// (seconds and nanoseconds). `now` (unix seconds) decides strength: weak while the
    /// file was modified less than two seconds ago (see the module documentation).
    pub fn for_file(ino: u64, size: u64, mtime_sec: i64, mtime_nsec: u32, now: i64) -> ETag {
        let weak = now.saturating_sub(mtime_sec) < 2;
        ETag::build(|w| {
            if weak {
                w.push(b"W/")?;
            }
            w.byte(b'"')?;
            w.hex(ino)?;
            w.byte(b'-')?;
            w.hex(size)?;
            w.byte(b'-')?;
            w.hex(mtime_sec as u64)?;
            w.byte(b'-')?;
            w.hex(u64::from(mtime_nsec))?;
            w.byte(b'"')
        })
    }

    /// The whole tag as sent in an ETag header: `"…"` or `W/"…"`.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether this is a weak tag.
    pub fn is_weak(&self) -> bool {
        self.as_bytes().starts_with(b"W/")
    }

    /// The quoted part, without any `W/`.
    pub fn opaque(&self) -> &[u8] {
        let b = self.as_bytes();
        b.strip_prefix(b"W/").unwrap_or(b)
    }

    /// The tag of this representation sent with content coding `enc`: the same tag for
    /// identity, otherwise `-<coding>` appended inside the quotes (`"…-gzip"`), same
    /// strength.
    pub fn for_encoding(&self, enc: Encoding) -> ETag {
        let Some(coding) = enc.content_coding() else { return *self };
        let b = self.as_bytes();
        let open = b.strip_suffix(b"\"").unwrap_or(b);
        ETag::build(|w| {
            w.push(open)?;
            w.byte(b'-')?;
            w.push_str(coding)?;
            w.byte(b'"')
        })
    }

    /// Whether the quoted tag `opaque` (from a request) is this tag's or one of its
    /// content coding variants', ignoring strength.
    fn opaque_is_variant(&self, opaque: &[u8]) -> bool {
        let ours = self.opaque();
        if opaque == ours {
            return true;
        }
        let stem = ours.strip_suffix(b"\"").unwrap_or(ours);
        let Some(tail) = opaque.strip_prefix(stem).and_then(|t| t.strip_suffix(b"\"")) else {
            return false;
        };
        let Some(coding) = tail.strip_prefix(b"-") else { return false };
        CODINGS
            .iter()
            .any(|e| e.content_coding().is_some_and(|c| c.as_bytes() == coding))
    }
}

/// RFC 9110 etagc: `!`, `#`..`~`, or obs-text.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

/// An entity-tag at the very start of `s`: (weak, quoted opaque-tag, what follows).
fn entity_tag(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let inner = s.strip_prefix(b"\"")?;
    let close = inner.iter().position(|&b| b == b'"')?;
    if !inner.get(..close)?.iter().all(|&b| is_etagc(b)) {
        return None;
    }
    let end = close.checked_add(2)?;
    Some((weak, s.get(..end)?, s.get(end..)?))
}

/// Calls `f(weak, opaque)` for each entity-tag of a `#entity-tag` list (empty elements
/// allowed). `Err` when the list is malformed; `f` may have been called for the tags
/// before the error.
fn for_each_tag(value: &[u8], mut f: impl FnMut(bool, &[u8])) -> Result<(), ()> {
    let mut s = value;
    loop {
        // OWS and empty list elements.
        let n = s.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b',')).count();
        s = s.get(n..).unwrap_or(&[]);
        if s.is_empty() {
            return Ok(());
        }
        let (weak, opaque, rest) = entity_tag(s).ok_or(())?;
        f(weak, opaque);
        let rest = skip_ows(rest);
        match rest.first() {
            None => return Ok(()),
            Some(b',') => s = rest,
            Some(_) => return Err(()),
        }
    }
}

/// Whether the If-None-Match field values `fields` (all such fields of the request, in
/// order; they form one list) match the current file, whose identity tag is `current`:
/// `*`, or a listed tag weakly equal to `current` or a content coding variant of it.
/// `true` means the condition is false: answer GET/HEAD with 304. A malformed list
/// never matches. Work is linear in the length of the values.
pub fn none_match<'v>(fields: impl IntoIterator<Item = &'v [u8]>, current: &ETag) -> bool {
    let mut stars = 0usize;
    let mut tags = 0usize;
    let mut matched = false;
    for value in fields {
        let value = trim_ows(value);
        if value == b"*" {
            stars = stars.saturating_add(1);
            continue;
        }
        let ok = for_each_tag(value, |_weak, opaque| {
            tags = tags.saturating_add(1);
            matched |= current.opaque_is_variant(opaque);
        });
        if ok.is_err() {
            return false;
        }
    }
    match (stars, tags) {
        (0, _) => matched,
        // `*` must be the whole field value: alone, once.
        (1, 0) => true,
        _ => false,
    }
}

/// If-Range with an entity-tag: whether `value` is exactly one strong entity-tag equal
/// to `current`, which must be strong too (RFC 9110 §8.8.3.2 strong comparison).
pub fn strong_match(value: &[u8], current: &ETag) -> bool {
    match entity_tag(trim_ows(value)) {
        Some((false, opaque, [])) => !current.is_weak() && opaque == current.opaque(),
        _ => false,
    }
}

/// Whether `value` has the form of an entity-tag rather than an HTTP-date (starts with
/// `"` or `W/`), for telling the two kinds of If-Range validator apart.
pub fn looks_like_entity_tag(value: &[u8]) -> bool {
    let v = trim_ows(value);
    v.starts_with(b"\"") || v.starts_with(b"W/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strong tag: modified long before `now`.
    fn strong() -> ETag {
        ETag::for_file(0x1234, 1000, 1_600_000_000, 5, 1_700_000_000)
    }

    const STRONG: &str = "\"1234-3e8-5f5e1000-5\"";

    fn s(t: &ETag) -> &str {
        core::str::from_utf8(t.as_bytes()).unwrap()
    }

    #[test]
    fn formats_file_tags() {
        let t = strong();
        assert_eq!(s(&t), STRONG);
        assert!(!t.is_weak());
        assert_eq!(t.opaque(), STRONG.as_bytes());
        assert_eq!(s(&ETag::for_file(0, 0, 0, 0, 100)), "\"0-0-0-0\"");
        assert_eq!(
            s(&ETag::for_file(u64::MAX, u64::MAX, -1, u32::MAX, i64::MAX)),
            "\"ffffffffffffffff-ffffffffffffffff-ffffffffffffffff-ffffffff\""
        );
        // The longest tag, in its longest variant, fits.
        let long = ETag::for_file(u64::MAX, u64::MAX, -1, u32::MAX, -10);
        assert!(long.is_weak());
        for e in [Encoding::Identity, Encoding::Gzip, Encoding::Deflate] {
            let v = long.for_encoding(e);
            assert!(v.as_bytes().len() < MAX_LEN);
            assert!(v.as_bytes().ends_with(b"\""));
            assert!(v.is_weak());
        }
        // Every input changes the tag.
        let base = strong();
        for other in [
            ETag::for_file(0x1235, 1000, 1_600_000_000, 5, 1_700_000_000),
            ETag::for_file(0x1234, 1001, 1_600_000_000, 5, 1_700_000_000),
            ETag::for_file(0x1234, 1000, 1_600_000_001, 5, 1_700_000_000),
            ETag::for_file(0x1234, 1000, 1_600_000_000, 6, 1_700_000_000),
        ] {
            assert_ne!(other, base);
        }
        assert_eq!(format!("{:?}", base), format!("ETag({STRONG})"));
    }

    #[test]
    fn fresh_files_get_weak_tags() {
        let mtime = 1_000_000;
        let cases = [(mtime - 5, true), (mtime, true), (mtime + 1, true), (mtime + 2, false), (mtime + 100, false)];
        for (now, weak) in cases {
            let t = ETag::for_file(1, 2, mtime, 0, now);
            assert_eq!(t.is_weak(), weak, "now {now}");
            assert_eq!(t.as_bytes().starts_with(b"W/\""), weak);
            assert_eq!(t.opaque(), b"\"1-2-f4240-0\"");
        }
        assert!(ETag::for_file(1, 2, i64::MIN, 0, i64::MAX).as_bytes().starts_with(b"\""));
        assert!(ETag::for_file(1, 2, i64::MAX, 0, i64::MIN).is_weak());
    }

    #[test]
    fn coding_variants() {
        let t = strong();
        assert_eq!(t.for_encoding(Encoding::Identity), t);
        assert_eq!(s(&t.for_encoding(Encoding::Gzip)), "\"1234-3e8-5f5e1000-5-gzip\"");
        assert_eq!(s(&t.for_encoding(Encoding::Deflate)), "\"1234-3e8-5f5e1000-5-deflate\"");
        let w = ETag::for_file(1, 2, 3, 4, 0);
        assert_eq!(s(&w.for_encoding(Encoding::Gzip)), "W/\"1-2-3-4-gzip\"");
    }

    #[test]
    fn if_none_match() {
        let t = strong();
        let cases: &[(&[&str], bool)] = &[
            (&[STRONG], true),
            (&["W/\"1234-3e8-5f5e1000-5\""], true),
            (&["\"1234-3e8-5f5e1000-5-gzip\""], true),
            (&["W/\"1234-3e8-5f5e1000-5-deflate\""], true),
            (&["\"a\", \"1234-3e8-5f5e1000-5\""], true),
            (&["\"a\",W/\"1234-3e8-5f5e1000-5\" , \"b\""], true),
            (&["\"a\"", "\"1234-3e8-5f5e1000-5\""], true),
            (&[", ,\"1234-3e8-5f5e1000-5\",,"], true),
            (&["*"], true),
            (&[" * "], true),
            (&["*", ""], true),
            // No match.
            (&["\"a\""], false),
            (&["\"a\", \"b\""], false),
            (&["\"1234-3e8-5f5e1000-6\""], false),
            (&["\"1234-3e8-5f5e1000-5-br\""], false),
            (&["\"1234-3e8-5f5e1000-5-\""], false),
            (&["\"1234-3e8-5f5e1000-5-gzip-gzip\""], false),
            (&["\"1234-3e8-5f5e1000\""], false),
            (&["\"\""], false),
            (&[""], false),
            (&[], false),
            // The W/ prefix is case-sensitive.
            (&["w/\"1234-3e8-5f5e1000-5\""], false),
            // Malformed lists match nothing, even with our tag in them.
            (&["1234-3e8-5f5e1000-5"], false),
            (&["\"1234-3e8-5f5e1000-5\" junk"], false),
            (&["\"1234-3e8-5f5e1000-5\"\"x\""], false),
            (&["\"x\" \"1234-3e8-5f5e1000-5\""], false),
            (&["\"1234-3e8-5f5e1000-5\", \"unterminated"], false),
            (&["\"1234-3e8-5f5e1000-5\"", "bad"], false),
            (&["W/ \"1234-3e8-5f5e1000-5\""], false),
            (&["\"a b\", \"1234-3e8-5f5e1000-5\""], false),
            (&["*, \"1234-3e8-5f5e1000-5\""], false),
            (&["*", "\"1234-3e8-5f5e1000-5\""], false),
            (&["*", "*"], false),
            (&["**"], false),
        ];
        for &(fields, want) in cases {
            let got = none_match(fields.iter().map(|f| f.as_bytes()), &t);
            assert_eq!(got, want, "{fields:?}");
        }
        // A weak current tag matches under weak comparison.
        let w = ETag::for_file(1, 2, 3, 4, 0);
        assert!(none_match([&b"\"1-2-3-4\""[..]], &w));
        assert!(none_match([&b"W/\"1-2-3-4\""[..]], &w));
        // Tags may contain commas and obs-text.
        let odd: &[u8] = b"\"a,b\", \"caf\xc3\xa9\", \"!#~\", \"1234-3e8-5f5e1000-5\"";
        assert!(none_match([odd], &t));
    }

    #[test]
    fn if_range_tags() {
        let t = strong();
        let cases: &[(&str, bool)] = &[
            (STRONG, true),
            (" \"1234-3e8-5f5e1000-5\"\t", true),
            ("W/\"1234-3e8-5f5e1000-5\"", false),
            ("\"1234-3e8-5f5e1000-5-gzip\"", false),
            ("\"1234-3e8-5f5e1000-5\", \"a\"", false),
            ("\"1234-3e8-5f5e1000-5\" x", false),
            ("\"1234-3e8-5f5e1000-6\"", false),
            ("1234-3e8-5f5e1000-5", false),
            ("*", false),
            ("", false),
        ];
        for &(v, want) in cases {
            assert_eq!(strong_match(v.as_bytes(), &t), want, "{v:?}");
        }
        // A weak current tag never matches strongly.
        let w = ETag::for_file(1, 2, 3, 4, 0);
        assert!(!strong_match(b"\"1-2-3-4\"", &w));
        assert!(!strong_match(b"W/\"1-2-3-4\"", &w));
        // Variants are strong when the base is.
        let g = t.for_encoding(Encoding::Gzip);
        assert!(strong_match(b"\"1234-3e8-5f5e1000-5-gzip\"", &g));
    }

    #[test]
    fn validator_kinds() {
        assert!(looks_like_entity_tag(b"\"x\""));
        assert!(looks_like_entity_tag(b" W/\"x\""));
        assert!(!looks_like_entity_tag(b"Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(!looks_like_entity_tag(b""));
    }
}
